//! Best so far (the fastest trials that meet the threshold, each with the
//! parameter it tested, tok/s as mean ± the half-width of its 95 %
//! interval, accuracy too where there is room) and the current group's
//! candidates against the group's base value.

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

/// A mean with the half-width of its 95 % interval, `5202.7±52.7`, or the
/// mean alone when there is no interval (one run, an old record).
pub fn pm(mean: Option<f64>, ci: Option<f64>, prec: usize) -> String {
    match (mean, ci) {
        (Some(m), Some(c)) => format!("{m:.prec$}±{c:.prec$}"),
        (m, _) => fig(m, prec),
    }
}

/// Draws the best-so-far table. Columns by worth when the panel is narrow:
/// tok/s ± and what was tested always, accuracy ± where room allows
/// (before the seconds per eval, which go first).
pub fn draw_best(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    let evals: Vec<(autotune::EvalSummary, String)> = s
        .best
        .iter()
        .map(|r| (r.eval.clone().unwrap_or_default(), tested(r, s)))
        .collect();
    let width = |f: &dyn Fn(&autotune::EvalSummary) -> String, min: usize| {
        evals
            .iter()
            .map(|(e, _)| f(e).chars().count())
            .max()
            .unwrap_or(0)
            .max(min) as u16
    };
    let tps_w = width(&|e| pm(e.avg_total_tps, e.ci95_total_tps, 1), 7);
    let acc_pm_w = width(&|e| pm(e.avg_accuracy, e.ci95_accuracy, 4), 6);
    let tested_w = evals
        .iter()
        .map(|(_, x)| x.chars().count())
        .max()
        .unwrap_or(6) as u16;
    let inner = area.width.saturating_sub(2);
    let (acc_ci, secs) = if acc_pm_w == 6 {
        (false, true)
    } else if acc_pm_w + tps_w + 5 + tested_w + 3 <= inner {
        (true, true)
    } else if acc_pm_w + tps_w + tested_w + 2 <= inner {
        (true, false)
    } else {
        (false, true)
    };
    let mut head = vec!["acc", "tok/s"];
    let mut widths = vec![
        Constraint::Length(if acc_ci { acc_pm_w } else { 6 }),
        Constraint::Length(tps_w),
    ];
    if secs {
        head.push("secs");
        widths.push(Constraint::Length(5));
    }
    head.push("tested");
    widths.push(Constraint::Fill(1));
    let header = Row::new(head).style(t.style(Role::Title));
    let rows: Vec<Row> = evals
        .into_iter()
        .enumerate()
        .map(|(i, (e, what))| {
            let style = if i == 0 {
                t.style(Role::Good)
            } else {
                ratatui::style::Style::new()
            };
            let mut cells = vec![
                Cell::from(if acc_ci {
                    pm(e.avg_accuracy, e.ci95_accuracy, 4)
                } else {
                    fig(e.avg_accuracy, 4)
                }),
                Cell::from(pm(e.avg_total_tps, e.ci95_total_tps, 1)),
            ];
            if secs {
                cells.push(Cell::from(fig(e.avg_total_time_s, 2)));
            }
            cells.push(Cell::from(what));
            Row::new(cells).style(style)
        })
        .collect();
    let title = format!("best so far (acc ≥ {:.3}), fastest first", s.threshold);
    let table = Table::new(rows, widths)
        .header(header)
        .block(block(&title, false, t));
    f.render_widget(table, area);
}

/// Draws the current group's candidates with their results and the change
/// in tok/s against the group's base value (its first).
pub fn draw_group(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    // Values running now (several with several slots).
    let running: Vec<&str> = s
        .running
        .values()
        .filter(|tr| tr.param == s.group.param)
        .map(|tr| tr.value.as_str())
        .collect();
    let current = |v: &str| running.contains(&v);
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
            let marker = if current(v) { "▶" } else { " " };
            let status =
                r.map(|r| r.status.as_str())
                    .unwrap_or(if current(v) { "running" } else { "" });
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
