//! Header: repo, results file, state (paused, aborting, done...), elapsed
//! time (stopped at the end of the run), progress against the search's
//! budget (trials, the share spent; GPU time on a wide screen) with the
//! counts by outcome that add up to it (reused records included, each
//! once), the time left at most, and the accuracy bar. With several slots: how many are busy now and the
//! utilisation over the run so far (busy slot-time / slot-time).

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::hms;
use crate::ui::state::LiveState;
use crate::ui::theme::{Role, Theme};

/// Width of a line of spans in cells (as characters: the header holds no
/// wide ones).
fn width(spans: &[Span]) -> usize {
    spans.iter().map(|s| s.content.chars().count()).sum()
}

/// Draws the header. When its second line does not fit (many kinds of
/// outcome, several slots, a narrow terminal) the accuracy bar moves up
/// in place of the results file's name (the repo shortened in the middle
/// to make room), the labels shorten, and what still does not fit ends in
/// `…`: the bar is never cut.
pub fn draw(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme, now: Instant) {
    let cols = area.width as usize;
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
    let bar = s.bar_text();
    let bottom_of = |short: bool| {
        let elapsed = hms(s.elapsed(now).as_secs_f64());
        let mut bottom = vec![Span::raw(if short {
            format!(" {elapsed}  ")
        } else {
            format!(" elapsed {elapsed}  ")
        })];
        if s.multi() {
            let util = s
                .utilisation(now)
                .map(|u| format!("{:.0}%", u * 100.0))
                .unwrap_or_default();
            let (busy, n) = (s.running.len(), s.slots);
            bottom.push(Span::styled(
                if short {
                    format!("slots {busy}/{n} {util}  ")
                } else if util.is_empty() {
                    format!("slots {busy}/{n} busy  ")
                } else {
                    format!("slots {busy}/{n} busy, util {util}  ")
                },
                t.style(Role::Title),
            ));
        }
        bottom.push(Span::styled(s.trials_text(), t.style(Role::Accent)));
        // The engine's counts: each trial once, reused records included.
        let counts = s.progress.as_ref().map(|(p, _)| &p.counts);
        if counts.is_some_and(|c| !c.is_empty()) {
            bottom.push(Span::styled(":", t.style(Role::Dim)));
        }
        for (k, n) in counts.into_iter().flat_map(|c| c.iter()) {
            bottom.push(Span::raw(" "));
            bottom.push(Span::styled(format!("{k} {n}"), t.status(k)));
        }
        if let Some(left) = s.left_text(now) {
            bottom.push(Span::styled(format!("  {left}"), t.style(Role::Accent)));
        }
        // What the run took once it ended; against its bound before.
        let gpu = s.progress.as_ref().and_then(|(p, _)| match s.outcome {
            Some(_) => Some(format!("GPU {}", autotune::short_s(p.gpu_s))),
            None => p.gpu_text(),
        });
        if !short
            && area.width >= 120
            && let Some(g) = gpu
        {
            bottom.push(Span::styled(format!(", {g}"), t.style(Role::Dim)));
        }
        bottom
    };
    let results = format!("results {}", s.results.rsplit('/').next().unwrap_or(""));
    let mut bottom = bottom_of(false);
    let bar_below = width(&bottom) + 2 + bar.chars().count() <= cols;
    // The top line: the repo, then the results file's name or (when the
    // bar moved up) the bar, then the state.
    let label = state.map(|(l, _)| format!("  [{l}]")).unwrap_or_default();
    let second = if bar_below { &results } else { &bar };
    let room = cols.saturating_sub(10 + 2 + second.chars().count() + label.chars().count());
    let repo = super::recent::elide_middle(&s.repo, room);
    let mut top = vec![
        Span::styled(" autotune ", t.style(Role::Title)),
        Span::raw(format!("{repo}  ")),
        Span::styled(second.clone(), t.style(Role::Dim)),
    ];
    if let Some((l, role)) = state {
        top.push(Span::raw("  "));
        top.push(Span::styled(format!("[{l}]"), t.style(role)));
    }
    if bar_below {
        bottom.push(Span::styled(format!("  {bar}"), t.style(Role::Dim)));
    } else {
        if width(&bottom) > cols {
            bottom = bottom_of(true);
        }
        if width(&bottom) > cols {
            // Cut at the last whole span that fits, and say so.
            let mut used = 0;
            let keep = bottom
                .iter()
                .take_while(|sp| {
                    used += sp.content.chars().count();
                    used < cols
                })
                .count();
            bottom.truncate(keep);
            bottom.push(Span::styled("…", t.style(Role::Dim)));
        }
    }
    f.render_widget(
        Paragraph::new(vec![Line::from(top), Line::from(bottom)]),
        area,
    );
}
