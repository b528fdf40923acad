//! The slot list (several slots only): one row per slot with its trial's
//! plan position, devices, parameter and value, phase and time, the
//! selected slot marked. The trial panel and the log below show the
//! selected slot; `s` skips its trial.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table};

use super::recent::{elide_middle, joint_move};
use super::{block, hms};
use crate::ui::state::{Focus, LiveState};
use crate::ui::theme::{Role, Theme};
use autotune::TrialPhase;

/// A phase in a few words, for a table cell.
pub fn phase_short(p: Option<&TrialPhase>) -> String {
    match p {
        None => "preparing".into(),
        Some(TrialPhase::PortBusy { attempt, .. }) => format!("port busy ({attempt})"),
        Some(TrialPhase::Starting { .. }) => "starting".into(),
        Some(TrialPhase::Ready { .. }) => "ready".into(),
        Some(TrialPhase::Eval { run, of, .. }) if run > of => format!("eval {run} (extra)"),
        Some(TrialPhase::Eval { run, of, .. }) => format!("eval {run}/{of}"),
        Some(TrialPhase::Stopping) => "stopping".into(),
    }
}

/// Rows the slot list wants: one per slot and the borders, at most `max`.
pub fn height(s: &LiveState, max: u16) -> u16 {
    (s.slots as u16 + 2).min(max)
}

/// Draws the slot list.
pub fn draw(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme, now: Instant) {
    let focused = s.focus == Focus::Slots;
    let title = format!(
        "slots: {}/{} busy{}",
        s.running.len(),
        s.slots,
        if focused {
            "  (↑↓ or 0-9 pick, s skips its trial)"
        } else {
            ""
        }
    );
    let dev_w = s
        .running
        .values()
        .filter_map(|tr| tr.devices.as_ref().map(|d| d.chars().count() + 4))
        .max();
    // Slot, devices, ordinal, phase, time and the gaps: the rest is for
    // `PARAM = value`, the name cut in the middle so the value stays whole
    // (a joint move's names shortened to their initials).
    let fixed = 3 + dev_w.map_or(0, |w| w.max(3) + 1) + 5 + 14 + 6 + 5;
    let testing_w = (area.width as usize).saturating_sub(2 + fixed);
    // Keep the selected slot in view when there are more than rows.
    let rows_room = area.height.saturating_sub(2) as usize;
    let first = s.selected.saturating_sub(rows_room.saturating_sub(1));
    let rows: Vec<Row> = (first..s.slots)
        .take(rows_room)
        .map(|n| {
            let sel = n == s.selected;
            let mark = if sel { "▶" } else { " " };
            let mut cells = vec![Cell::from(Span::styled(
                format!("{mark}{n:>2}"),
                if sel {
                    t.style(Role::Accent)
                } else {
                    t.style(Role::Dim)
                },
            ))];
            let Some(tr) = s.running.get(&n) else {
                if dev_w.is_some() {
                    cells.push(Cell::from(""));
                }
                cells.push(Cell::from(""));
                cells.push(Cell::from(Span::styled("idle", t.style(Role::Dim))));
                return Row::new(cells);
            };
            if dev_w.is_some() {
                cells.push(Cell::from(Span::styled(
                    tr.devices
                        .as_ref()
                        .map(|d| format!("dev {d}"))
                        .unwrap_or_default(),
                    t.style(Role::Dim),
                )));
            }
            cells.push(Cell::from(Span::styled(
                format!("#{}", tr.ordinal),
                t.style(Role::Dim),
            )));
            let testing = match tr.name_value() {
                Some((name, value)) => vec![
                    Span::raw(format!(
                        "{} = ",
                        elide_middle(name, testing_w.saturating_sub(value.chars().count() + 3))
                    )),
                    Span::styled(value.to_string(), t.style(Role::Accent)),
                ],
                None if tr.changes.is_base() => vec![Span::styled("base", t.style(Role::Accent))],
                None => joint_move(tr.changes.pairs(), testing_w, t),
            };
            cells.push(Cell::from(ratatui::text::Line::from(testing)));
            cells.push(Cell::from(Span::styled(
                phase_short(tr.phase.as_ref()),
                t.style(Role::Good),
            )));
            cells.push(Cell::from(hms(now
                .saturating_duration_since(tr.started)
                .as_secs_f64())));
            Row::new(cells)
        })
        .collect();
    // No header row: every row reads on its own, and rows are scarce.
    let mut widths = vec![Constraint::Length(3)];
    if let Some(w) = dev_w {
        widths.push(Constraint::Length((w as u16).max(3)));
    }
    widths.extend([
        Constraint::Length(5),
        Constraint::Fill(1),
        Constraint::Length(14),
        Constraint::Length(6),
    ]);
    let table = Table::new(rows, widths).block(block(&title, focused, t));
    f.render_widget(table, area);
}
