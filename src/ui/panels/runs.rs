//! Runs and trend: accuracy and tok/s per eval run of the current trial and
//! over the recent trials, one labelled line each, as a spark line with its
//! scale (the lowest and highest value drawn) and the last value. Accuracy
//! marks under the bar are drawn as `×` (and red where colour is on), so
//! they read without colour too.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::block;
use crate::ui::state::LiveState;
use crate::ui::theme::{Role, Theme};

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The spark character of `v` on the scale `lo..=hi`.
pub fn spark(v: f64, lo: f64, hi: f64) -> char {
    if hi <= lo {
        return BARS[3];
    }
    let x = ((v - lo) / (hi - lo) * 7.0).round().clamp(0.0, 7.0);
    BARS[x as usize]
}

/// One line: `label  metric  ▂▅█×▆   lo–hi   last v`, the spark cut to
/// the last values that fit in `width`.
fn metric_line<'a>(
    label: &'a str,
    metric: &'a str,
    values: &[Option<f64>],
    prec: usize,
    under: Option<f64>,
    width: usize,
    t: &Theme,
) -> Line<'a> {
    let known: Vec<f64> = values.iter().flatten().copied().collect();
    let mut spans = vec![
        Span::styled(format!("{label:<11}"), t.style(Role::Title)),
        Span::styled(format!("{metric:<6}"), t.style(Role::Dim)),
    ];
    if known.is_empty() {
        spans.push(Span::styled("no figures yet", t.style(Role::Dim)));
        return Line::from(spans);
    }
    let lo = known.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = known.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let scale = format!("  {lo:.prec$}–{hi:.prec$}");
    let last = format!("  last {:.prec$}", known[known.len() - 1]);
    let room = width.saturating_sub(17 + scale.chars().count() + last.chars().count());
    let shown = &values[values.len().saturating_sub(room.max(1))..];
    for v in shown {
        spans.push(match v {
            Some(x) if under.is_some_and(|u| *x < u) => Span::styled("×", t.style(Role::Bad)),
            Some(x) => Span::styled(spark(*x, lo, hi).to_string(), t.style(Role::Good)),
            None => Span::styled("·", t.style(Role::Dim)),
        });
    }
    spans.push(Span::styled(scale, t.style(Role::Dim)));
    spans.push(Span::raw(last));
    Line::from(spans)
}

/// Draws the runs and trend panel.
pub fn draw(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    let title = match s.acc_bar {
        Some(b) => format!("runs & trend (× under acc {b:.3}, · failed)"),
        None => "runs & trend (· failed)".to_string(),
    };
    let b = block(&title, false, t);
    let inner = b.inner(area);
    let w = inner.width as usize;
    let (run_acc, run_tps): (Vec<Option<f64>>, Vec<Option<f64>>) = s
        .trial()
        .map(|tr| {
            tr.runs
                .iter()
                .map(|r| match (&r.measured, r.ok) {
                    (Some(m), true) => (m.accuracy, m.total_tps),
                    _ => (None, None),
                })
                .unzip()
        })
        .unwrap_or_default();
    let (trend_acc, trend_tps): (Vec<Option<f64>>, Vec<Option<f64>>) = s
        .recent
        .iter()
        .filter(|r| !r.reused)
        .map(|r| {
            (
                r.record.avg_accuracy(),
                (r.record.status == "ok")
                    .then(|| r.record.avg_total_tps())
                    .flatten(),
            )
        })
        .unzip();
    let n = trend_acc.len();
    let trend_label = format!("trend ({n})");
    let th = s.acc_bar;
    let mut lines = Vec::new();
    if inner.height >= 4 {
        lines.push(metric_line("this trial", "acc", &run_acc, 4, th, w, t));
        lines.push(metric_line("", "tok/s", &run_tps, 0, None, w, t));
    }
    lines.push(metric_line(&trend_label, "acc", &trend_acc, 4, th, w, t));
    lines.push(metric_line("", "tok/s", &trend_tps, 0, None, w, t));
    f.render_widget(Paragraph::new(lines).block(b), area);
}
