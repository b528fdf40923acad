//! The live screen's loop: engine events, notifier messages, keys and a
//! clock tick update the state; the screen is redrawn after each. The
//! terminal is restored on exit, on error and (by ratatui's hook) on panic.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::keys::action_for;
use super::panels;
use super::state::LiveState;
use super::theme::Theme;
use autotune::{Command, Event};

/// Runs the live screen until the user quits (or a signal ended the run).
pub async fn run(
    mut events: mpsc::UnboundedReceiver<Arc<Event>>,
    mut notices: mpsc::UnboundedReceiver<crate::alerts::Notice>,
    commands: mpsc::UnboundedSender<Command>,
) -> std::io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let result = event_loop(&mut terminal, &mut events, &mut notices, &commands).await;
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
) -> std::io::Result<()> {
    let theme = Theme::from_env();
    let mut state = LiveState::default();
    let mut keys = EventStream::new();
    // The clock and the log tail; 4 Hz keeps an idle screen cheap.
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut events_open, mut notices_open) = (true, true);
    loop {
        terminal.draw(|f| panels::draw(f, &state, &theme))?;
        if state.quit {
            return Ok(());
        }
        tokio::select! {
            e = events.recv(), if events_open => match e {
                Some(e) => {
                    state.update(&e);
                    // Take whatever else is queued before drawing again.
                    while let Ok(e) = events.try_recv() {
                        state.update(&e);
                    }
                }
                None => events_open = false,
            },
            n = notices.recv(), if notices_open => match n {
                Some(n) => state.message(n.to_string(), true),
                None => notices_open = false,
            },
            k = keys.next() => match k {
                Some(Ok(TermEvent::Key(k))) if k.kind == KeyEventKind::Press => {
                    if let Some(a) = action_for(k) {
                        let page = terminal.size()?.height as usize / 2;
                        if let Some(c) = state.apply(a, page) {
                            let _ = commands.send(c);
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            _ = tick.tick() => {
                state.log.poll();
            }
        }
    }
}
