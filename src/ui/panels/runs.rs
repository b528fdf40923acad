//! Sparklines: accuracy and total TPS per eval run of the current trial, and
//! the trend over recent trials, with bars under the threshold in red.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline, SparklineBar};

use super::block;
use crate::ui::state::LiveState;
use crate::ui::theme::{Role, Theme};

/// Bars for accuracies: scaled from just under the threshold so small
/// differences show; bars under the threshold styled as bad.
pub fn acc_bars(values: &[Option<f64>], threshold: f64, t: &Theme) -> Vec<SparklineBar> {
    let lo = values
        .iter()
        .flatten()
        .cloned()
        .fold(threshold - 0.01, f64::min)
        - 0.002;
    values
        .iter()
        .map(|v| match v {
            Some(a) => {
                let bar = SparklineBar::from(((a - lo).max(0.0) * 10_000.0) as u64 + 1);
                bar.style(Some(if *a < threshold {
                    t.style(Role::Bad)
                } else {
                    t.style(Role::Good)
                }))
            }
            None => SparklineBar::from(None),
        })
        .collect()
}

/// Bars for throughput, scaled from 90% of the smallest value.
pub fn tps_bars(values: &[Option<f64>]) -> Vec<SparklineBar> {
    let lo = values
        .iter()
        .flatten()
        .cloned()
        .fold(f64::INFINITY, f64::min)
        * 0.9;
    values
        .iter()
        .map(|v| SparklineBar::from(v.map(|x| (x - lo).max(0.0) as u64 + 1)))
        .collect()
}

fn fmt_last(v: &[Option<f64>], prec: usize) -> String {
    v.iter()
        .rev()
        .flatten()
        .next()
        .map(|x| format!("{x:.prec$}"))
        .unwrap_or_else(|| "-".into())
}

/// Draws the runs and trend panel.
pub fn draw(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    let b = block("runs & trend", false, t);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let runs: Vec<(Option<f64>, Option<f64>)> = s
        .trial
        .as_ref()
        .map(|tr| {
            tr.runs
                .iter()
                .map(|r| {
                    r.measured
                        .as_ref()
                        .map(|m| {
                            (
                                if r.ok { m.accuracy } else { None },
                                if r.ok { m.total_tps } else { None },
                            )
                        })
                        .unwrap_or((None, None))
                })
                .collect()
        })
        .unwrap_or_default();
    let trend: Vec<(Option<f64>, Option<f64>)> = s
        .recent
        .iter()
        .filter(|r| !r.reused)
        .map(|r| {
            (
                r.record.avg_accuracy(),
                if r.record.status == "ok" {
                    r.record.avg_total_tps()
                } else {
                    None
                },
            )
        })
        .collect();
    let rows = if inner.height >= 4 { 2 } else { 1 };
    let areas =
        Layout::vertical(vec![Constraint::Length(inner.height / rows); rows as usize]).split(inner);
    let row = |f: &mut Frame, a: Rect, label: &str, data: &[(Option<f64>, Option<f64>)]| {
        let [la, acc_a, ta, tps_a] = Layout::horizontal([
            Constraint::Length(7),
            Constraint::Percentage(50),
            Constraint::Length(7),
            Constraint::Min(4),
        ])
        .areas(a);
        let accs: Vec<Option<f64>> = data.iter().map(|d| d.0).collect();
        let tpss: Vec<Option<f64>> = data.iter().map(|d| d.1).collect();
        let w = acc_a.width.saturating_sub(10) as usize;
        let start = accs.len().saturating_sub(w.max(1));
        f.render_widget(
            Paragraph::new(vec![
                Line::from(Span::styled(label.to_string(), t.style(Role::Title))),
                Line::from(Span::styled("acc", t.style(Role::Dim))),
            ]),
            la,
        );
        let [spark_a, num_a] =
            Layout::horizontal([Constraint::Min(1), Constraint::Length(10)]).areas(acc_a);
        f.render_widget(
            Sparkline::default().data(acc_bars(&accs[start..], s.threshold, t)),
            spark_a,
        );
        f.render_widget(
            Paragraph::new(vec![
                Line::raw(fmt_last(&accs, 4)),
                Line::from(Span::styled(
                    format!("thr {:.3}", s.threshold),
                    t.style(Role::Dim),
                )),
            ]),
            num_a,
        );
        f.render_widget(
            Paragraph::new(vec![
                Line::raw(""),
                Line::from(Span::styled("tok/s", t.style(Role::Dim))),
            ]),
            ta,
        );
        let [spark_b, num_b] =
            Layout::horizontal([Constraint::Min(1), Constraint::Length(9)]).areas(tps_a);
        let start = tpss.len().saturating_sub(spark_b.width.max(1) as usize);
        f.render_widget(
            Sparkline::default()
                .style(t.style(Role::Accent))
                .data(tps_bars(&tpss[start..])),
            spark_b,
        );
        f.render_widget(Paragraph::new(fmt_last(&tpss, 1)), num_b);
    };
    row(f, areas[0], "runs", &runs);
    if rows == 2 {
        row(f, areas[1], "trend", &trend);
    }
}
