//! The outcome of the run, in place of the current trial once the run has
//! ended (done, aborted, interrupted, error): the winner against the start,
//! the gain and whether it is beyond noise, trials by outcome, GPU time and
//! the files. The same lines are printed to the terminal after `q`.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::block;
use crate::ui::theme::{Role, Theme};
use autotune::{Outcome, RunSummary};

/// Rows the panel wants at `width`: the summary's lines less its first
/// (the title) as wrapped, the hint, and the borders.
pub fn height(s: &RunSummary, width: u16) -> u16 {
    let w = width.saturating_sub(2).max(1) as usize;
    let rows: usize = s
        .lines()
        .iter()
        .skip(1)
        .map(|l| l.chars().count().saturating_sub(2).div_ceil(w).max(1))
        .sum();
    (rows as u16 + 1 + 2).min(22)
}

/// Draws the outcome.
pub fn draw(f: &mut Frame, area: Rect, s: &RunSummary, t: &Theme) {
    let lines = s.lines();
    let title = lines
        .first()
        .map(|l| l.trim_start_matches("autotune: ").to_string())
        .unwrap_or_default();
    let role = match s.outcome {
        Outcome::Done => Role::Good,
        Outcome::Aborted => Role::Warn,
        _ => Role::Bad,
    };
    let mut out: Vec<Line> = lines
        .iter()
        .skip(1)
        .map(|l| {
            let body = l.strip_prefix("  ").unwrap_or(l);
            let style = if body.starts_with("gain:") {
                match s.beyond_noise() {
                    Some(true) if s.gain_pct.is_some_and(|g| g.0 > 0.0) => t.style(Role::Good),
                    Some(true) => t.style(Role::Bad),
                    _ => t.style(Role::Warn),
                }
            } else if body.starts_with("  ") {
                // The winner's changed parameters.
                t.style(Role::Accent)
            } else if body.starts_with("best params:") || body.starts_with("results:") {
                t.style(Role::Dim)
            } else {
                ratatui::style::Style::new()
            };
            Line::from(Span::styled(body.to_string(), style))
        })
        .collect();
    out.push(Line::from(Span::styled(
        "e copies the winner as export lines · q quits (this is printed again after)",
        t.style(Role::Dim),
    )));
    let b = block(&title, true, t).border_style(t.style(role));
    f.render_widget(
        Paragraph::new(out).wrap(Wrap { trim: false }).block(b),
        area,
    );
}
