//! The live screen's loop: engine events, notifier messages, keys and a
//! clock tick update the state; the screen is redrawn after each. This is
//! the one place that reads the clock and the service log (and writes the
//! clipboard sequence): the state and the drawing get `now` and the lines.
//! The terminal is restored on exit, on error and (by ratatui's hook) on
//! panic.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::keys::action_for;
use super::logtail::LogTail;
use super::panels;
use super::state::LiveState;
use super::theme::Theme;
use autotune::{Command, Event};

/// Runs the live screen of a run with `slots` slots until the user quits
/// (or a signal ended the run).
pub async fn run(
    mut events: mpsc::UnboundedReceiver<Arc<Event>>,
    mut notices: mpsc::UnboundedReceiver<crate::alerts::Notice>,
    commands: mpsc::UnboundedSender<Command>,
    slots: usize,
) -> std::io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let result = event_loop(&mut terminal, &mut events, &mut notices, &commands, slots).await;
    super::leave_terminal(terminal, result.is_ok());
    // Let the engine's last events reach the other consumers.
    while events.recv().await.is_some() {}
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    events: &mut mpsc::UnboundedReceiver<Arc<Event>>,
    notices: &mut mpsc::UnboundedReceiver<crate::alerts::Notice>,
    commands: &mpsc::UnboundedSender<Command>,
    slots: usize,
) -> std::io::Result<()> {
    let theme = Theme::from_env();
    let mut state = LiveState::with_slots(Instant::now(), slots);
    let mut tail = LogTail::default();
    let mut keys = EventStream::new();
    // The clock and the log tail; 4 Hz keeps an idle screen cheap.
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut events_open, mut notices_open) = (true, true);
    loop {
        let now = Instant::now();
        terminal.draw(|f| panels::draw(f, &state, &theme, now))?;
        if let Some(text) = state.clipboard.take() {
            // After the draw, so the sequence is not split by one.
            let seq = super::osc52::for_terminal(&text, super::osc52::in_tmux());
            let mut out = std::io::stdout();
            out.write_all(seq.as_bytes())?;
            out.flush()?;
        }
        if state.quit {
            return Ok(());
        }
        tokio::select! {
            e = events.recv(), if events_open => match e {
                Some(e) => {
                    on_event(&mut state, &mut tail, &e);
                    // Take whatever else is queued before drawing again.
                    while let Ok(e) = events.try_recv() {
                        on_event(&mut state, &mut tail, &e);
                    }
                }
                None => events_open = false,
            },
            n = notices.recv(), if notices_open => match n {
                Some(n) => state.message(n.to_string(), true, Instant::now()),
                None => notices_open = false,
            },
            k = keys.next() => match k {
                Some(Ok(TermEvent::Key(k))) if k.kind == KeyEventKind::Press => {
                    if let Some(a) = action_for(k) {
                        let size = terminal.size()?;
                        let view = panels::viewport(ratatui::layout::Rect::new(0, 0, size.width, size.height), &state);
                        if let Some(c) = state.apply(a, view, Instant::now()) {
                            let _ = commands.send(c);
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            _ = tick.tick() => read_log(&mut state, &mut tail),
        }
    }
}

/// Applies an event, reading the log around it: what the old trial wrote
/// last before the state moves on, and the new trial's file after. (Keys
/// that pick another slot change the followed file too: the next tick
/// reads it from its start.)
fn on_event(state: &mut LiveState, tail: &mut LogTail, e: &Event) {
    if matches!(e, Event::TrialFinished { .. }) {
        read_log(state, tail);
    }
    state.update(e, Instant::now());
    read_log(state, tail);
}

/// Follows the file the state names and hands it what was appended.
fn read_log(state: &mut LiveState, tail: &mut LogTail) {
    let Some(path) = state.log_path.as_deref() else {
        return;
    };
    if tail.path() != Some(path) {
        tail.follow(path);
    }
    let lines = tail.poll();
    let skipped = std::mem::take(&mut tail.skipped_bytes);
    if !lines.is_empty() || skipped > 0 {
        state.push_log(lines, skipped);
    }
}
