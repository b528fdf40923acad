//! Best so far (the fastest trials that meet the threshold, each with the
//! parameter it tested) and the current group's candidates against the
//! group's base value.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table};

use super::block;
use crate::ui::state::LiveState;
use crate::ui::theme::{Role, Theme};
use autotune::{Record, fig};

/// What a record tested, as `PARAM=value` (or the params that differ from
/// the run's start when it tested none).
pub fn tested(r: &Record, s: &LiveState) -> String {
    match (&r.param_under_test, r.value_under_test()) {
        (Some(p), Some(v)) if !p.is_empty() => format!("{p}={v}"),
        _ => {
            let d: Vec<String> = r
                .params
                .iter()
                .filter(|(k, v)| s.base.get(*k) != Some(*v))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if d.is_empty() {
                "the start".into()
            } else {
                d.join(" ")
            }
        }
    }
}

/// Draws the best-so-far table.
pub fn draw_best(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    let header = Row::new(["acc", "tok/s", "secs", "tested"]).style(t.style(Role::Title));
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
                Cell::from(fig(e.avg_total_time_s, 2)),
                Cell::from(tested(r, s)),
            ])
            .style(style)
        })
        .collect();
    let title = format!("best so far (acc ≥ {:.3}), fastest first", s.threshold);
    let table = Table::new(
        rows,
        [
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(5),
            Constraint::Fill(1),
        ],
    )
    .header(header)
    .block(block(&title, false, t));
    f.render_widget(table, area);
}

/// Draws the current group's candidates with their results and the change
/// in tok/s against the group's base value (its first).
pub fn draw_group(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    let current = s.trial.as_ref().map(|tr| tr.value.as_str());
    let base_tps = s
        .group
        .values
        .first()
        .and_then(|v| s.group.results.get(v))
        .filter(|r| r.status == "ok")
        .and_then(|r| r.avg_total_tps());
    let value_w = s
        .group
        .values
        .iter()
        .map(|v| v.chars().count())
        .max()
        .unwrap_or(5)
        .max(5) as u16
        + 2;
    let rows: Vec<Row> = s
        .group
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| {
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
            let tps = r
                .filter(|r| r.status == "ok")
                .and_then(|r| r.avg_total_tps());
            let delta = match (i, tps, base_tps) {
                (0, Some(_), _) => "base".to_string(),
                (_, Some(x), Some(b)) if b > 0.0 => format!("{:+.1}%", (x / b - 1.0) * 100.0),
                _ => String::new(),
            };
            Row::new(vec![
                Cell::from(format!("{marker} {v}")),
                Cell::from(Span::styled(status.to_string(), t.status(status))),
                Cell::from(Span::styled(
                    fig(r.and_then(|r| r.avg_accuracy()), 4),
                    acc_style,
                )),
                Cell::from(fig(r.and_then(|r| r.avg_total_tps()), 1)),
                Cell::from(delta),
            ])
        })
        .collect();
    let title = format!("group {}: {}", s.group.label, s.group.param);
    let table = Table::new(
        rows,
        [
            Constraint::Length(value_w),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(7),
        ],
    )
    .header(Row::new(["value", "status", "acc", "tok/s", "vs base"]).style(t.style(Role::Title)))
    .block(block(&title, false, t));
    f.render_widget(table, area);
}
