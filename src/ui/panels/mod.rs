//! The live screen's layout and its panels, one module each. Drawing only
//! reads the state.

pub mod best;
pub mod footer;
pub mod header;
pub mod log;
pub mod outcome;
pub mod overlay;
pub mod recent;
pub mod runs;
pub mod trial;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Block, BorderType, Borders};

use std::time::Instant;

use super::state::{LiveState, Viewport};
use super::theme::{Role, Theme};

/// A bordered block with a title, highlighted when focused.
pub fn block<'a>(title: &'a str, focused: bool, t: &Theme) -> Block<'a> {
    Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(if focused {
            t.style(Role::Focus)
        } else {
            t.style(Role::Dim)
        })
        .title(ratatui::text::Span::styled(
            format!(" {title} "),
            t.style(Role::Title),
        ))
}

/// Minutes and seconds (or hours) of a duration in seconds.
pub fn hms(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The smallest terminal the live screen is drawn in; below it a message
/// says so instead of empty boxes.
pub const MIN_SIZE: (u16, u16) = (80, 24);

/// Where each panel goes at a given terminal size. Wide terminals get two
/// columns (trial, runs and log on the left; best, group and recent trials
/// on the right); narrow ones stack the panels and leave out the group and
/// the recent list. Once the run ended, the outcome takes the place of the
/// current trial and the runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Areas {
    /// Two header lines.
    pub header: Rect,
    /// The current trial (while running).
    pub trial: Option<Rect>,
    /// Runs and trend (while running).
    pub runs: Option<Rect>,
    /// The outcome (once ended).
    pub outcome: Option<Rect>,
    /// The service log (with a failure pinned on top).
    pub log: Rect,
    /// Best so far.
    pub best: Rect,
    /// The current group.
    pub group: Option<Rect>,
    /// The recent trials.
    pub recent: Option<Rect>,
    /// The message line.
    pub message: Rect,
    /// The key footer.
    pub footer: Rect,
}

/// The layout of the screen `area` for the state `s`.
pub fn areas(area: Rect, s: &LiveState) -> Areas {
    let [header, body, message, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(8),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let mut a = Areas {
        header,
        message,
        footer,
        ..Default::default()
    };
    let outcome_h = |w: u16| s.summary.as_ref().map_or(0, |x| outcome::height(x, w));
    if area.width >= 110 {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(52), Constraint::Percentage(48)])
                .areas(body);
        if s.summary.is_some() {
            let [o, l] =
                Layout::vertical([Constraint::Length(outcome_h(left.width)), Constraint::Min(4)])
                    .areas(left);
            (a.outcome, a.log) = (Some(o), l);
        } else {
            let [tr, ru, l] = Layout::vertical([
                Constraint::Length(9),
                Constraint::Length(6),
                Constraint::Min(4),
            ])
            .areas(left);
            (a.trial, a.runs, a.log) = (Some(tr), Some(ru), l);
        }
        let best_h = (s.best.len() as u16 + 3).clamp(4, 13);
        let group_h = (s.group.values.len() as u16 + 3).clamp(4, 10);
        let [b, g, r] = Layout::vertical([
            Constraint::Length(best_h),
            Constraint::Length(group_h),
            Constraint::Min(3),
        ])
        .areas(right);
        (a.best, a.group, a.recent) = (b, Some(g), Some(r));
    } else if s.summary.is_some() {
        let [o, l, b] = Layout::vertical([
            Constraint::Length(outcome_h(body.width)),
            Constraint::Min(3),
            Constraint::Length(5),
        ])
        .areas(body);
        (a.outcome, a.log, a.best) = (Some(o), l, b);
    } else {
        let [tr, ru, l, b] = Layout::vertical([
            Constraint::Length(5),
            Constraint::Length(4),
            Constraint::Min(3),
            Constraint::Length(6),
        ])
        .areas(body);
        (a.trial, a.runs, a.log, a.best) = (Some(tr), Some(ru), l, b);
    }
    a
}

/// Rows the scrollable panels show in a terminal of `area`.
pub fn viewport(area: Rect, s: &LiveState) -> Viewport {
    let a = areas(area, s);
    Viewport {
        log_rows: log::split(a.log, s).1.height.saturating_sub(2) as usize,
        recent_rows: a.recent.map_or(1, |r| r.height.saturating_sub(3) as usize),
    }
}

/// Draws the whole screen as it is at `now`.
pub fn draw(f: &mut Frame, s: &LiveState, t: &Theme, now: Instant) {
    let area = f.area();
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        too_small(f, area, s, t, now);
        return;
    }
    let a = areas(area, s);
    header::draw(f, a.header, s, t, now);
    if let Some(r) = a.trial {
        trial::draw(f, r, s, t, now);
    }
    if let Some(r) = a.runs {
        runs::draw(f, r, s, t);
    }
    if let (Some(r), Some(sum)) = (a.outcome, &s.summary) {
        outcome::draw(f, r, sum, t);
    }
    log::draw(f, a.log, s, t);
    best::draw_best(f, a.best, s, t);
    if let Some(r) = a.group {
        best::draw_group(f, r, s, t);
    }
    if let Some(r) = a.recent {
        recent::draw(f, r, s, t);
    }
    footer::draw_message(f, a.message, s, t);
    footer::draw(f, a.footer, s, t);
    overlay::draw(f, area, s, t);
}

/// Below [`MIN_SIZE`]: says so, with the one line that matters and the
/// keys that still work.
fn too_small(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme, now: Instant) {
    use ratatui::text::{Line, Span};
    use ratatui::widgets::{Paragraph, Wrap};
    let state = match (&s.summary, &s.trial) {
        (Some(sum), _) => sum.lines().first().cloned().unwrap_or_default(),
        (None, Some(tr)) => format!(
            "trial {}/{}: {} = {}",
            tr.ordinal, s.total, tr.param, tr.value
        ),
        (None, None) => format!("trials {}/{}", s.done, s.total),
    };
    let lines = vec![
        Line::from(Span::styled(
            format!(
                "terminal too small: {}x{}, the live screen needs {}x{}",
                area.width, area.height, MIN_SIZE.0, MIN_SIZE.1
            ),
            t.style(Role::Warn),
        )),
        Line::raw(format!("elapsed {}  {state}", hms(s.elapsed(now).as_secs_f64()))),
        Line::from(Span::styled(
            if s.running() {
                "the run goes on; enlarge the window, or q to quit"
            } else {
                "q quits (the outcome is printed after)"
            },
            t.style(Role::Dim),
        )),
    ];
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
    overlay::draw(f, area, s, t);
}

/// A rectangle of at most `w` x `h` centred in `r`.
pub fn centered(r: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(r.width);
    let h = h.min(r.height);
    Rect::new(r.x + (r.width - w) / 2, r.y + (r.height - h) / 2, w, h)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use autotune::default_params;
    use autotune::{EvalRun, EvalSummary, Measured, Record};
    use autotune::{Event, TrialPhase};

    fn screen(s: &LiveState, w: u16, h: u16, t: Theme) -> (String, ratatui::buffer::Buffer) {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        term.draw(|f| draw(f, s, &t)).unwrap();
        let buf = term.backend().buffer().clone();
        let text = (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n");
        (text, buf)
    }

    fn running_state() -> LiveState {
        let mut s = LiveState::default();
        s.update(&Event::RunStarted {
            repo: "/srv/model".into(),
            results: "/srv/model/tune_results.jsonl".into(),
            total_estimate: 55,
            existing_records: 0,
            base: default_params(),
            threshold: 0.88,
            best_seen_tps: None,
        });
        s.update(&Event::GroupStarted {
            param: "VLLM_MAX_NUM_SEQS".into(),
            values: vec!["1024".into(), "512".into(), "768".into()],
            group: 3,
            groups: 17,
        });
        let mut params = default_params();
        params.insert("VLLM_MAX_NUM_SEQS".into(), "1024".into());
        let done = Arc::new(Record {
            trial_key: "k1".into(),
            status: "ok".into(),
            param_under_test: Some("VLLM_MAX_NUM_SEQS".into()),
            params: params.clone(),
            eval: Some(EvalSummary {
                avg_accuracy: Some(0.8871),
                avg_total_tps: Some(5123.4),
                avg_answer_tps: Some(4100.0),
                avg_total_time_s: Some(1.75),
                ..Default::default()
            }),
            ..Default::default()
        });
        s.update(&Event::TrialFinished {
            ordinal: 9,
            record: done,
        });
        params.insert("VLLM_MAX_NUM_SEQS".into(), "512".into());
        s.update(&Event::TrialStarted {
            ordinal: 10,
            index: 12,
            param: "VLLM_MAX_NUM_SEQS".into(),
            value: "512".into(),
            base_value: Some("1024".into()),
            params,
            key: "k2".into(),
            log_path: "/nonexistent/trial_00012.log".into(),
        });
        s.update(&Event::Phase(TrialPhase::Eval {
            run: 2,
            of: 5,
            timeout_s: 420.0,
        }));
        s.update(&Event::EvalRunFinished(EvalRun {
            i: 1,
            ok: true,
            measured: Some(Measured {
                accuracy: Some(0.8866),
                total_tps: Some(5010.0),
                ..Default::default()
            }),
            ..Default::default()
        }));
        s.log
            .lines
            .push_back("INFO:     Uvicorn running on http://127.0.0.1:8000".into());
        s
    }

    #[test]
    fn wide_screen_shows_trial_log_sparklines_best_and_keys() {
        let s = running_state();
        let (text, _) = screen(&s, 140, 40, Theme { color: true });
        for needle in [
            "VLLM_MAX_NUM_SEQS = 512",
            "(base 1024)",
            "eval run 2/5",
            "Uvicorn running",
            "best so far",
            "5123.4",
            "group 3/17 VLLM_MAX_NUM_SEQS",
            "recent trials",
            "trials 1/55",
            "thr 0.880",
            "s skip",
            "? help",
        ] {
            assert!(text.contains(needle), "{needle:?} not on screen:\n{text}");
        }
    }

    #[test]
    fn small_screen_still_shows_the_essentials() {
        let s = running_state();
        let (text, _) = screen(&s, 80, 24, Theme { color: true });
        for needle in [
            "VLLM_MAX_NUM_SEQS = 512",
            "Uvicorn running",
            "5123.4",
            "s skip",
        ] {
            assert!(text.contains(needle), "{needle:?} not on screen:\n{text}");
        }
        // Tiny terminals do not panic.
        screen(&s, 20, 5, Theme { color: true });
    }

    #[test]
    fn no_color_uses_no_colours() {
        let s = running_state();
        let (_, buf) = screen(&s, 140, 40, Theme { color: false });
        for cell in buf.content() {
            assert_eq!(cell.fg, ratatui::style::Color::Reset);
            assert_eq!(cell.bg, ratatui::style::Color::Reset);
        }
    }

    #[test]
    fn confirm_and_help_overlays() {
        let mut s = running_state();
        s.apply(crate::ui::keys::Action::Abort, 10);
        let (text, _) = screen(&s, 140, 40, Theme { color: true });
        assert!(text.contains("Abort the run?"));
        s.apply(crate::ui::keys::Action::Cancel, 10);
        s.apply(crate::ui::keys::Action::Help, 10);
        let (text, _) = screen(&s, 140, 40, Theme { color: true });
        assert!(text.contains("skip the running trial"), "{text}");
    }
}
