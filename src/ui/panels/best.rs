//! Best so far (the fastest trials that meet the threshold, with the params
//! that differ from the defaults) and the current group's candidates.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table};

use super::block;
use crate::ui::state::LiveState;
use crate::ui::theme::{Role, Theme};
use autotune::{Record, fig};

/// Params of a record that differ from the defaults, as `K=v` text.
pub fn differing(r: &Record, s: &LiveState) -> String {
    r.params
        .iter()
        .filter(|(k, v)| s.defaults.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Draws the best-so-far table.
pub fn draw_best(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    let header = Row::new(["acc", "tok/s", "answer", "time", "differs from defaults"])
        .style(t.style(Role::Title));
    let rows: Vec<Row> = s
        .best
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let e = r.eval.clone().unwrap_or_default();
            let style = if i == 0 {
                t.style(Role::Good)
            } else {
                ratatui::style::Style::new()
            };
            Row::new(vec![
                Cell::from(fig(e.avg_accuracy, 4)),
                Cell::from(fig(e.avg_total_tps, 1)),
                Cell::from(fig(e.avg_answer_tps, 1)),
                Cell::from(fig(e.avg_total_time_s, 2)),
                Cell::from(differing(r, s)),
            ])
            .style(style)
        })
        .collect();
    let title = format!("best so far (acc ≥ {:.3})", s.threshold);
    let table = Table::new(
        rows,
        [
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Min(10),
        ],
    )
    .header(header)
    .block(block(&title, false, t));
    f.render_widget(table, area);
}

/// Draws the current group's candidates with their results.
pub fn draw_group(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    let current = s.trial.as_ref().map(|tr| tr.value.as_str());
    let rows: Vec<Row> = s
        .group
        .values
        .iter()
        .map(|v| {
            let r = s.group.results.get(v);
            let marker = if Some(v.as_str()) == current {
                "▶"
            } else {
                " "
            };
            let status = r
                .map(|r| r.status.as_str())
                .unwrap_or(if Some(v.as_str()) == current {
                    "running"
                } else {
                    ""
                });
            let acc_style = match r.and_then(|r| r.avg_accuracy()) {
                Some(a) if a < s.threshold => t.style(Role::Bad),
                _ => ratatui::style::Style::new(),
            };
            Row::new(vec![
                Cell::from(format!("{marker} {v}")),
                Cell::from(Span::styled(status.to_string(), t.status(status))),
                Cell::from(Span::styled(
                    fig(r.and_then(|r| r.avg_accuracy()), 4),
                    acc_style,
                )),
                Cell::from(fig(r.and_then(|r| r.avg_total_tps()), 1)),
            ])
        })
        .collect();
    let title = format!("group {} {}", s.group.label, s.group.param);
    let table = Table::new(
        rows,
        [
            Constraint::Min(12),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(8),
        ],
    )
    .header(Row::new(["value", "status", "acc", "tok/s"]).style(t.style(Role::Title)))
    .block(block(&title, false, t));
    f.render_widget(table, area);
}
