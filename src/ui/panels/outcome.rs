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
        .chain([&format!("  {HINT}")])
        .map(|l| l.chars().count().saturating_sub(2).div_ceil(w).max(1))
        .sum();
    (rows as u16 + 2).min(22)
}

/// The hint under the outcome.
const HINT: &str = "e copies the winner as export lines · q quits (this is printed again after)";

/// The panel's lines (less the title) that fit `rows` rows of `width`:
/// all of them when they fit; else the hint goes (the footer has the
/// keys), then the winner's changed parameters are cut to what fits, with
/// a line saying how many more are in the best params file, so the
/// figures and the files' paths stay in view.
pub fn fitted(s: &RunSummary, width: u16, rows: u16) -> Vec<String> {
    let w = width.saturating_sub(2).max(1) as usize;
    let used = |ls: &[String]| -> usize {
        ls.iter()
            .map(|l| l.chars().count().saturating_sub(2).div_ceil(w).max(1))
            .sum()
    };
    let rows = rows as usize;
    let mut lines: Vec<String> = s.lines().into_iter().skip(1).collect();
    lines.push(format!("  {HINT}"));
    if used(&lines) <= rows {
        return lines;
    }
    lines.pop();
    let over = used(&lines).saturating_sub(rows);
    let changed: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("    "))
        .collect();
    if over > 0 && changed.len() > 1 {
        // Keep what fits and one line for the rest.
        let keep = changed.len().saturating_sub(over + 1);
        let more = changed.len() - keep;
        let (first, last) = (changed[keep], changed[changed.len() - 1]);
        lines.splice(
            first..=last,
            [format!(
                "    … {more} more changed (all in the best params file, and printed after q)"
            )],
        );
    }
    lines
}

/// Draws the outcome.
pub fn draw(f: &mut Frame, area: Rect, s: &RunSummary, t: &Theme) {
    let title = s
        .lines()
        .first()
        .map(|l| l.trim_start_matches("autotune: ").to_string())
        .unwrap_or_default();
    let lines = fitted(s, area.width, area.height.saturating_sub(2));
    let role = match s.outcome {
        Outcome::Done => Role::Good,
        Outcome::Aborted => Role::Warn,
        _ => Role::Bad,
    };
    let out: Vec<Line> = lines
        .iter()
        .map(|l| {
            let body = l.strip_prefix("  ").unwrap_or(l);
            let style = if body.starts_with("gain:") {
                match s.beyond_noise() {
                    Some(true) if s.gain_pct.is_some_and(|g| g.0 > 0.0) => t.style(Role::Good),
                    Some(true) => t.style(Role::Bad),
                    _ => t.style(Role::Warn),
                }
            } else if body.starts_with("  …") || body == HINT {
                t.style(Role::Dim)
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
    let b = block(&title, true, t).border_style(t.style(role));
    f.render_widget(
        Paragraph::new(out).wrap(Wrap { trim: false }).block(b),
        area,
    );
}
