//! The running trial: its place in the plan and its log file, the
//! parameter under test and how it differs from the base, the phase with
//! its elapsed time against the limit, and the trial's params (those
//! differing from the defaults highlighted).

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{block, hms};
use crate::ui::state::LiveState;
use crate::ui::theme::{Role, Theme};
use autotune::TrialPhase;

/// The phase as text with elapsed / limit.
pub fn phase_text(p: Option<&TrialPhase>, since: f64) -> (String, Option<f64>) {
    match p {
        None => ("preparing".into(), None),
        Some(TrialPhase::PortBusy {
            attempt,
            retries,
            wait_s,
            holder,
        }) => (
            format!(
                "port busy: wait {attempt}/{retries}, {} / {}{}",
                hms(since),
                hms(*wait_s),
                holder
                    .as_deref()
                    .map(|h| format!(", held by {}", crate::ui::printable(h)))
                    .unwrap_or_default()
            ),
            Some(since / wait_s.max(0.001)),
        ),
        Some(TrialPhase::Starting { timeout_s, .. }) => (
            format!("starting {} / {}", hms(since), hms(*timeout_s)),
            Some(since / timeout_s.max(0.001)),
        ),
        Some(TrialPhase::Ready { startup_s, .. }) => (format!("ready after {startup_s:.1}s"), None),
        // A close call gets runs beyond the planned ones.
        Some(TrialPhase::Eval { run, of, timeout_s }) if run > of => (
            format!(
                "eval run {run} (close call, {of} planned)  {} / {}",
                hms(since),
                hms(*timeout_s)
            ),
            Some(since / timeout_s.max(0.001)),
        ),
        Some(TrialPhase::Eval { run, of, timeout_s }) => (
            format!("eval run {run}/{of}  {} / {}", hms(since), hms(*timeout_s)),
            Some(since / timeout_s.max(0.001)),
        ),
        Some(TrialPhase::Stopping) => ("stopping the service".into(), None),
    }
}

/// The eval runs so far as `runs: 0.8866/5010 ✗`.
fn runs_text(tr: &crate::ui::state::CurrentTrial) -> String {
    if tr.runs.is_empty() {
        return String::new();
    }
    let runs: Vec<String> = tr
        .runs
        .iter()
        .map(|r| match (&r.measured, r.ok) {
            (Some(m), true) => format!(
                "{}/{}",
                autotune::fig(m.accuracy, 4),
                autotune::fig(m.total_tps, 0)
            ),
            _ => "failed".into(),
        })
        .collect();
    format!("   runs (acc/tok/s): {}", runs.join("  "))
}

/// Draws the current trial panel.
pub fn draw(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme, now: Instant) {
    let title = match s.trial() {
        _ if !s.multi() => "current trial".to_string(),
        Some(tr) => match &tr.devices {
            Some(d) => format!("slot {} · devices {d}", s.selected),
            None => format!("slot {}", s.selected),
        },
        None => format!("slot {}", s.selected),
    };
    let b = block(&title, false, t);
    let Some(tr) = s.trial() else {
        let text = if s.outcome.is_some() {
            "the run has ended"
        } else if s.paused {
            "paused between trials (p resumes)"
        } else if s.multi() {
            "idle: no trial in this slot now"
        } else {
            "between trials"
        };
        f.render_widget(
            Paragraph::new(Span::styled(text, t.style(Role::Dim))).block(b),
            area,
        );
        return;
    };
    let since = now.saturating_duration_since(tr.phase_since).as_secs_f64();
    let (phase, frac) = phase_text(tr.phase.as_ref(), since);
    let mut head = vec![
        Span::styled(format!("trial {} ", tr.ordinal), t.style(Role::Title)),
        Span::styled(format!("(log trial_{:05})  ", tr.index), t.style(Role::Dim)),
        Span::styled(tr.testing(), t.style(Role::Accent)),
    ];
    match (&tr.base_value, tr.changes.single()) {
        // Not a candidate: the incumbent measured again to settle a close
        // call.
        _ if tr.recheck => head.push(Span::styled(
            "  (re-measure of the incumbent: a close call)",
            t.style(Role::Warn),
        )),
        (Some(b), Some((_, v))) if b != v => head.push(Span::raw(format!("  (base {b})"))),
        (Some(_), Some(_)) => head.push(Span::styled("  (the base value)", t.style(Role::Dim))),
        (None, Some(_)) => head.push(Span::styled("  (new parameter)", t.style(Role::Dim))),
        // A joint move names its values; the base and a pooled search's
        // point replace no one value.
        (_, None) => {}
    }
    let role = match frac {
        Some(x) if x > 0.8 => Role::Bad,
        Some(x) if x > 0.5 => Role::Warn,
        _ => Role::Good,
    };
    let bar = frac.map(|x| {
        let w = 20usize;
        let filled = ((x.clamp(0.0, 1.0)) * w as f64).round() as usize;
        format!("  [{}{}]", "█".repeat(filled), "·".repeat(w - filled))
    });
    let mut lines = vec![
        Line::from(head),
        Line::from(vec![
            Span::raw("phase: "),
            Span::styled(phase, t.style(role)),
            Span::styled(bar.unwrap_or_default(), t.style(role)),
        ]),
        Line::from(Span::styled(
            format!(
                "trial time {}{}",
                hms(now.saturating_duration_since(tr.started).as_secs_f64()),
                runs_text(tr)
            ),
            t.style(Role::Dim),
        )),
    ];
    if area.height < 7 {
        // The narrow layout: the phase line matters more than the time.
        lines.remove(2);
    }
    let mut params: Vec<Span> = Vec::new();
    for (k, v) in &tr.params {
        let style = if tr.changes.sets(k) {
            t.style(Role::Accent)
        } else if s.defaults.get(k) != Some(v) {
            t.style(Role::Warn)
        } else {
            t.style(Role::Dim)
        };
        params.push(Span::styled(format!("{k}={v}"), style));
        params.push(Span::raw(" "));
    }
    lines.push(Line::from(params));
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(b),
        area,
    );
}
