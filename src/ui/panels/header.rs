//! Header: repo, results file, elapsed time, progress, counts by status,
//! threshold, and paused/aborting state.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::hms;
use crate::ui::state::LiveState;
use crate::ui::theme::{Role, Theme};

/// Draws the header.
pub fn draw(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
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
            Some(_) => Some(("STOPPED", Role::Bad)),
            None => None,
        }
    };
    if let Some((label, role)) = state {
        top.push(Span::raw("  "));
        top.push(Span::styled(format!("[{label}]"), t.style(role)));
    }
    let mut bottom = vec![
        Span::raw(format!(
            " elapsed {}  ",
            hms(s.started.elapsed().as_secs_f64())
        )),
        Span::styled(
            format!("trials {}/{}", s.done, s.total),
            t.style(Role::Accent),
        ),
        Span::raw("  "),
    ];
    for (k, n) in &s.counts {
        bottom.push(Span::styled(format!("{k} {n}"), t.status(k)));
        bottom.push(Span::raw("  "));
    }
    bottom.push(Span::styled(
        format!("threshold {:.3}", s.threshold),
        t.style(Role::Dim),
    ));
    f.render_widget(
        Paragraph::new(vec![Line::from(top), Line::from(bottom)]),
        area,
    );
}
