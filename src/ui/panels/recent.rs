//! Recent trials, newest first, with status colours.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table};

use super::block;
use crate::ui::state::{Focus, LiveState};
use crate::ui::theme::{Role, Theme};
use autotune::fig;

/// Draws the recent trials.
pub fn draw(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    let rows: Vec<Row> = s
        .recent
        .iter()
        .rev()
        .skip(s.recent_scroll.min(s.recent.len().saturating_sub(1)))
        .map(|r| {
            let rec = &r.record;
            let status = if r.reused {
                format!("{}*", rec.status)
            } else {
                rec.status.to_string()
            };
            Row::new(vec![
                Cell::from(format!("{:>3}", r.ordinal)),
                Cell::from(Span::styled(status, t.status(rec.status.as_str()))),
                Cell::from(fig(rec.avg_accuracy(), 4)),
                Cell::from(fig(rec.avg_total_tps(), 1)),
                Cell::from(Span::styled(r.value.as_str(), t.style(Role::Accent))),
                Cell::from(r.param.as_str()),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(3),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(10),
            Constraint::Min(8),
        ],
    )
    .header(Row::new(["#", "status", "acc", "tok/s", "value", "param"]).style(t.style(Role::Title)))
    .block(block(
        "recent trials (* reused from the results file)",
        s.focus == Focus::Recent,
        t,
    ));
    f.render_widget(table, area);
}
