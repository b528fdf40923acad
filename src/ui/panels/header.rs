//! Header: repo, results file, state (paused, aborting, done...), elapsed
//! time (stopped at the end of the run), progress in plan positions with
//! the counts by outcome that add up to it (reused trials included), and
//! the accuracy bar. With several slots: how many are busy now and the
//! utilisation over the run so far (busy slot-time / slot-time).

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::hms;
use crate::ui::state::LiveState;
use crate::ui::theme::{Role, Theme};

/// Draws the header.
pub fn draw(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme, now: Instant) {
    let mut top = vec![
        Span::styled(" autotune ", t.style(Role::Title)),
        Span::raw(format!("{}  ", s.repo)),
        Span::styled(
            format!("results {}", s.results.rsplit('/').next().unwrap_or("")),
            t.style(Role::Dim),
        ),
    ];
    let state = if s.aborting {
        Some(("ABORTING", Role::Bad))
    } else if s.paused {
        Some(("PAUSED", Role::Warn))
    } else {
        match &s.outcome {
            Some(autotune::Outcome::Done) => Some(("DONE", Role::Good)),
            Some(autotune::Outcome::Aborted) => Some(("ABORTED", Role::Warn)),
            Some(autotune::Outcome::Interrupted(_)) => Some(("INTERRUPTED", Role::Bad)),
            Some(autotune::Outcome::Error(_)) => Some(("ERROR", Role::Bad)),
            Some(autotune::Outcome::Environment(_)) => Some(("STOPPED: ENVIRONMENT", Role::Bad)),
            None => None,
        }
    };
    if let Some((label, role)) = state {
        top.push(Span::raw("  "));
        top.push(Span::styled(format!("[{label}]"), t.style(role)));
    }
    let mut bottom = vec![Span::raw(format!(
        " elapsed {}  ",
        hms(s.elapsed(now).as_secs_f64())
    ))];
    if s.multi() {
        let util = s
            .utilisation(now)
            .map(|u| format!(", util {:.0}%", u * 100.0))
            .unwrap_or_default();
        bottom.push(Span::styled(
            format!("slots {}/{} busy{util}  ", s.running.len(), s.slots),
            t.style(Role::Title),
        ));
    }
    bottom.push(Span::styled(s.trials_text(), t.style(Role::Accent)));
    if !s.counts.is_empty() {
        bottom.push(Span::styled(":", t.style(Role::Dim)));
    }
    for (k, n) in &s.counts {
        bottom.push(Span::raw(" "));
        bottom.push(Span::styled(format!("{k} {n}"), t.status(k)));
    }
    if let Some(left) = s.left_text(now) {
        bottom.push(Span::styled(format!("  {left}"), t.style(Role::Accent)));
    }
    if area.width >= 120
        && let Some(g) = s.progress.as_ref().and_then(|(p, _)| p.gpu_text())
    {
        bottom.push(Span::styled(format!(", {g}"), t.style(Role::Dim)));
    }
    bottom.push(Span::styled(
        format!("  bar: acc ≥ {:.3}", s.threshold),
        t.style(Role::Dim),
    ));
    f.render_widget(
        Paragraph::new(vec![Line::from(top), Line::from(bottom)]),
        area,
    );
}
