//! The browse screen's loop: keys, and changes to the file (notify on its
//! directory, so creation, appends and replacement are all seen, with a
//! slow poll as a fallback).

use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::{Event as TermEvent, EventStream, KeyCode, KeyEventKind};
use futures_util::StreamExt;
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::keys::{Action, action_for};
use super::model::Model;
use super::state::{BrowseState, Mode};
use super::view;
use crate::ui::theme::Theme;

/// Opens the browse screen on `path`. A missing file is an error unless
/// `follow` (then the screen waits for it). Returns the exit status.
pub fn run(path: PathBuf, threshold: f64, follow: bool) -> i32 {
    if !path.exists() && !follow {
        eprintln!(
            "autotune: error: {}: no such results file (use --follow to wait for it)",
            path.display()
        );
        return 2;
    }
    if path.is_dir() {
        eprintln!(
            "autotune: error: {}: is a directory, not a results file",
            path.display()
        );
        return 2;
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        eprintln!(
            "autotune: error: browse needs a terminal on stdout (for a summary, use `autotune report` or `autotune best`)"
        );
        return 2;
    }
    let model = match Model::load(&path) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("autotune: error: cannot read {}: {e}", path.display());
            return 2;
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The run's declared goal, recorded beside the file, says what "best"
    // is and which figures matter.
    let state = BrowseState::new(model, threshold).with_goal(crate::report::recorded_goal(&path));
    match rt.block_on(screen(state)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("autotune: error: {e}");
            1
        }
    }
}

async fn screen(mut s: BrowseState) -> std::io::Result<()> {
    let (tx, mut changes) = mpsc::unbounded_channel::<()>();
    let target = std::path::absolute(&s.model.path)?;
    let name = target.file_name().map(|n| n.to_os_string());
    let dir = target
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res
            && ev
                .paths
                .iter()
                .any(|p| p.file_name().map(|n| n.to_os_string()) == name)
        {
            let _ = tx.send(());
        }
    })
    .ok();
    let watching = watcher
        .as_mut()
        .is_some_and(|w| w.watch(&dir, RecursiveMode::NonRecursive).is_ok());
    if !watching {
        s.message = Some(format!(
            "cannot watch {}; checking for changes every second",
            dir.display()
        ));
    }
    let mut terminal = ratatui::try_init()?;
    let theme = Theme::from_env();
    let mut keys = EventStream::new();
    let mut poll = tokio::time::interval(Duration::from_secs(1));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let result = loop {
        if let Err(e) = terminal.draw(|f| view::draw(f, &s, &theme)) {
            break Err(e);
        }
        if let Some(text) = s.clipboard.take() {
            use std::io::Write;
            let seq = crate::ui::osc52::for_terminal(&text, crate::ui::osc52::in_tmux());
            let mut out = std::io::stdout();
            if let Err(e) = out.write_all(seq.as_bytes()).and_then(|_| out.flush()) {
                break Err(e);
            }
        }
        if s.quit {
            break Ok(());
        }
        tokio::select! {
            k = keys.next() => match k {
                Some(Ok(TermEvent::Key(k))) if k.kind == KeyEventKind::Press => {
                    let size = terminal.size().unwrap_or(ratatui::layout::Size::new(80, 24));
                    let page = (size.height as usize).saturating_sub(6).max(1);
                    let help_max = super::view::help_max(ratatui::layout::Rect::new(0, 0, size.width, size.height));
                    on_key(&mut s, k, page, help_max);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break Err(e),
                None => break Ok(()),
            },
            Some(()) = changes.recv() => {
                // Coalesce a burst of writes into one read.
                tokio::time::sleep(Duration::from_millis(50)).await;
                while changes.try_recv().is_ok() {}
                s.refresh();
            }
            _ = poll.tick() => { s.refresh(); }
        }
    };
    crate::ui::leave_terminal(terminal, result.is_ok());
    result
}

/// Applies a key press (`page`: rows a page moves).
pub fn on_key(s: &mut BrowseState, k: crossterm::event::KeyEvent, page: usize, help_max: usize) {
    if s.sort_menu {
        // The menu takes a column's key; anything else closes it.
        s.sort_menu = false;
        if let KeyCode::Char(c) = k.code
            && let Some(col) = s.cols().into_iter().find(|x| x.key() == c)
        {
            s.sort_by(col);
        }
        return;
    }
    if s.editing {
        match k.code {
            KeyCode::Enter => s.editing = false,
            KeyCode::Esc => {
                s.editing = false;
                s.text_filter.clear();
                s.rebuild();
            }
            KeyCode::Backspace => {
                s.text_filter.pop();
                s.rebuild();
            }
            KeyCode::Char(c) => {
                s.text_filter.push(c);
                s.rebuild();
            }
            _ => {}
        }
        return;
    }
    let Some(a) = action_for(k) else { return };
    s.message = None;
    if s.help {
        // The help scrolls where it does not fit; any other key closes it.
        let pos = s.help_scroll;
        let to = match a {
            Action::Up => Some(pos.saturating_sub(1)),
            Action::Down => Some(pos + 1),
            Action::PageUp => Some(pos.saturating_sub(page)),
            Action::PageDown => Some(pos + page),
            Action::Home => Some(0),
            Action::End => Some(help_max),
            _ => None,
        };
        if let Some(to) = to {
            s.help_scroll = to.min(help_max);
            return;
        }
        s.help = false;
        s.help_scroll = 0;
        if a != Action::Quit {
            return;
        }
    }
    if let Mode::Log { lines, scroll, .. } = &mut s.mode {
        let max = lines.len();
        match a {
            Action::Up => *scroll = (*scroll + 1).min(max),
            Action::Down => *scroll = scroll.saturating_sub(1),
            Action::PageUp => *scroll = (*scroll + page).min(max),
            Action::PageDown => *scroll = scroll.saturating_sub(page),
            Action::Home => *scroll = max,
            Action::End => *scroll = 0,
            Action::Back => s.mode = Mode::Table,
            Action::Quit => s.quit = true,
            Action::Help => s.help = true,
            _ => {}
        }
        return;
    }
    match a {
        Action::Quit => s.quit = true,
        Action::Up => s.move_by(-1),
        Action::Down => s.move_by(1),
        Action::PageUp => s.move_by(-(page as isize)),
        Action::PageDown => s.move_by(page as isize),
        Action::Home => s.move_by(isize::MIN / 2),
        Action::End => s.move_by(isize::MAX / 2),
        Action::Open => s.open_detail(),
        Action::Log => s.open_log(),
        Action::Chart => s.open_chart(),
        Action::Sort => {
            s.mode = Mode::Table;
            s.sort_menu = true;
        }
        Action::Copy => s.copy_detail(),
        Action::CopyBest => s.copy_best(),
        Action::Reverse => s.reverse(),
        Action::StatusFilter => s.next_status_filter(),
        Action::TextFilter => {
            s.mode = Mode::Table;
            s.editing = true;
        }
        Action::Best => {
            s.mode = Mode::Table;
            s.jump_best();
        }
        Action::Back if s.mode == Mode::Table && s.filtered() => s.clear_filters(),
        Action::Back => s.mode = Mode::Table,
        Action::Help => s.help = true,
    }
    // Moving in the detail or chart view follows the selection.
    if matches!(
        a,
        Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::Home | Action::End
    ) {
        match &s.mode {
            Mode::Detail(_) => s.open_detail(),
            Mode::Chart(_) => s.open_chart(),
            _ => {}
        }
    }
}
