//! The key table: every key the live screen takes, in one place, with the
//! label shown in the footer and the help.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Skip the running trial (of the selected slot).
    Skip,
    /// Skip every running trial (several slots).
    SkipAll,
    /// Show slot N (several slots): its trial and its log.
    Slot(u8),
    /// Abort the run (asks to confirm).
    Abort,
    /// Pause after the current trial / resume.
    Pause,
    /// Quit (asks to confirm while the run goes on).
    Quit,
    /// Answer yes to a question.
    Confirm,
    /// Answer no, close help.
    Cancel,
    /// Scroll up a line.
    Up,
    /// Scroll down a line.
    Down,
    /// Scroll up a page.
    PageUp,
    /// Scroll down a page.
    PageDown,
    /// Scroll to the top.
    Home,
    /// Scroll to the bottom.
    End,
    /// Follow the log again.
    Follow,
    /// Move focus to the next panel.
    FocusNext,
    /// Show or hide help.
    Help,
    /// Copy the winner (or the best so far) as `export K=V` lines.
    Copy,
}

/// The live screen's keys; an empty label keeps a key out of the footer
/// (it is still in the help).
pub const BINDINGS: &Table<Action> = &[
    (
        KeyCode::Char('s'),
        KeyModifiers::NONE,
        Action::Skip,
        "s skip",
        "skip the running trial (recorded `skipped`)",
    ),
    (
        KeyCode::Char('S'),
        KeyModifiers::NONE,
        Action::SkipAll,
        "S skip all",
        "skip every running trial (several slots)",
    ),
    (
        KeyCode::Char('0'),
        KeyModifiers::NONE,
        Action::Slot(0),
        "",
        "0-9: show that slot's trial and log (↑↓ on the slot list too)",
    ),
    (
        KeyCode::Char('a'),
        KeyModifiers::NONE,
        Action::Abort,
        "a abort",
        "abort the run (confirm with y)",
    ),
    (
        KeyCode::Char('p'),
        KeyModifiers::NONE,
        Action::Pause,
        "p pause",
        "pause after this trial / resume",
    ),
    (
        KeyCode::Char('e'),
        KeyModifiers::NONE,
        Action::Copy,
        "e export",
        "copy the winner (the best so far while running) to the clipboard as `export K=V` lines (OSC 52; works in tmux and over ssh)",
    ),
    (
        KeyCode::Char('q'),
        KeyModifiers::NONE,
        Action::Quit,
        "q quit",
        "quit (aborts first while running)",
    ),
    (
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
        Action::Quit,
        "",
        "quit",
    ),
    (
        KeyCode::Char('y'),
        KeyModifiers::NONE,
        Action::Confirm,
        "",
        "yes",
    ),
    (
        KeyCode::Char('n'),
        KeyModifiers::NONE,
        Action::Cancel,
        "",
        "no",
    ),
    (
        KeyCode::Esc,
        KeyModifiers::NONE,
        Action::Cancel,
        "",
        "close",
    ),
    (
        KeyCode::Up,
        KeyModifiers::NONE,
        Action::Up,
        "↑↓ PgUp/Dn scroll",
        "scroll up: older log lines; newer recent trials",
    ),
    (
        KeyCode::Down,
        KeyModifiers::NONE,
        Action::Down,
        "",
        "scroll down: newer log lines; older recent trials",
    ),
    (
        KeyCode::Char('k'),
        KeyModifiers::NONE,
        Action::Up,
        "",
        "as ↑",
    ),
    (
        KeyCode::Char('j'),
        KeyModifiers::NONE,
        Action::Down,
        "",
        "as ↓",
    ),
    (
        KeyCode::PageUp,
        KeyModifiers::NONE,
        Action::PageUp,
        "",
        "a page up",
    ),
    (
        KeyCode::PageDown,
        KeyModifiers::NONE,
        Action::PageDown,
        "",
        "a page down",
    ),
    (
        KeyCode::Home,
        KeyModifiers::NONE,
        Action::Home,
        "",
        "to the top: the log's first line; the newest recent trial",
    ),
    (
        KeyCode::End,
        KeyModifiers::NONE,
        Action::End,
        "",
        "to the bottom: the log follows again; the oldest recent trial",
    ),
    (
        KeyCode::Char('f'),
        KeyModifiers::NONE,
        Action::Follow,
        "f follow",
        "follow the log again (the running trial's newest lines)",
    ),
    (
        KeyCode::Tab,
        KeyModifiers::NONE,
        Action::FocusNext,
        "Tab focus",
        "move focus: the log, the recent trials (wide screens), the slots; keys scroll the focused one",
    ),
    (
        KeyCode::Char('?'),
        KeyModifiers::NONE,
        Action::Help,
        "? help",
        "this help",
    ),
];

/// A key table: `(key, modifiers, action, footer label, description)`.
pub type Table<A> = [(KeyCode, KeyModifiers, A, &'static str, &'static str)];

/// The action a table gives a key press (Shift is ignored: `?` is Shift-/).
pub fn lookup<A: Copy>(table: &Table<A>, k: KeyEvent) -> Option<A> {
    let mods = k.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
    table
        .iter()
        .find(|(code, m, ..)| *code == k.code && *m == mods)
        .map(|(_, _, a, ..)| *a)
}

/// The action of a key press on the live screen (a digit picks that slot:
/// one table row stands for all ten).
pub fn action_for(k: KeyEvent) -> Option<Action> {
    match k.code {
        KeyCode::Char(c @ '0'..='9') if k.modifiers.is_empty() => {
            Some(Action::Slot(c as u8 - b'0'))
        }
        _ => lookup(BINDINGS, k),
    }
}

/// The footer line of a table: the labelled keys `offered` says do
/// something now, with `relabel` changing a label to fit the state (e.g.
/// `p resume` while paused). Keys that do not fit in `width` are left out
/// from the end, but the last one (`? help`, which lists them all) stays.
pub fn footer<A: Copy>(
    table: &Table<A>,
    offered: impl Fn(A) -> bool,
    relabel: impl Fn(A, &'static str) -> &'static str,
    width: u16,
    t: &super::theme::Theme,
) -> ratatui::text::Line<'static> {
    use super::theme::Role;
    use ratatui::text::Span;
    let labels: Vec<&'static str> = table
        .iter()
        .filter(|b| !b.3.is_empty() && offered(b.2))
        .map(|b| relabel(b.2, b.3))
        .collect();
    let Some((last, rest)) = labels.split_last() else {
        return ratatui::text::Line::default();
    };
    let w = |l: &str| l.chars().count() + 2;
    let mut room = (width as usize).saturating_sub(1 + w(last));
    let mut shown: Vec<&str> = Vec::new();
    for l in rest {
        if w(l) > room {
            break;
        }
        room -= w(l);
        shown.push(l);
    }
    shown.push(last);
    let mut spans = vec![Span::raw(" ")];
    for label in shown {
        let (key, what) = label.split_once(' ').unwrap_or((label, ""));
        spans.push(Span::styled(key, t.style(Role::Accent)));
        spans.push(Span::styled(format!(" {what}  "), t.style(Role::Dim)));
    }
    ratatui::text::Line::from(spans)
}

/// The help lines of a table in `width` columns: every key with its
/// description, wrapped under itself.
pub fn help<A>(
    table: &Table<A>,
    width: usize,
    t: &super::theme::Theme,
) -> Vec<ratatui::text::Line<'static>> {
    use super::theme::Role;
    use ratatui::text::{Line, Span};
    let mut out = Vec::new();
    for (code, mods, _, _, desc) in table {
        let key = if mods.contains(KeyModifiers::CONTROL) {
            format!("Ctrl-{code}")
        } else {
            code.to_string()
        };
        let text = crate::ui::panels::wrap(desc, width.saturating_sub(12));
        for (i, l) in text.into_iter().enumerate() {
            let key = if i == 0 { key.as_str() } else { "" };
            out.push(Line::from(vec![
                Span::styled(format!("{key:>10}  "), t.style(Role::Accent)),
                Span::raw(l),
            ]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lookup() {
        assert_eq!(
            action_for(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::NONE)),
            Some(Action::Skip)
        );
        assert_eq!(
            action_for(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            action_for(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::SHIFT)),
            Some(Action::Help)
        );
        assert_eq!(
            action_for(KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE)),
            None
        );
        // S is skip-all (Shift does not turn it into s), digits pick slots.
        assert_eq!(
            action_for(KeyEvent::new(KeyCode::Char('S'), KeyModifiers::SHIFT)),
            Some(Action::SkipAll)
        );
        assert_eq!(
            action_for(KeyEvent::new(KeyCode::Char('3'), KeyModifiers::NONE)),
            Some(Action::Slot(3))
        );
    }
}
