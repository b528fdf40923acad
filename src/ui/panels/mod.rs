//! The live screen's layout and its panels, one module each. Drawing only
//! reads the state.

pub mod beliefs;
pub mod best;
pub mod footer;
pub mod header;
pub mod log;
pub mod outcome;
pub mod overlay;
pub mod recent;
pub mod runs;
pub mod slots;
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

/// `text` broken into lines of at most `w` characters, at spaces where
/// it can (a word longer than a line is cut).
pub fn wrap(text: &str, w: usize) -> Vec<String> {
    let w = w.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let (n, len) = (line.chars().count(), word.chars().count());
        if n > 0 && n + 1 + len > w {
            lines.push(std::mem::take(&mut line));
        } else if n > 0 {
            line.push(' ');
        }
        let mut word: Vec<char> = word.chars().collect();
        while word.len() > w {
            lines.push(word.drain(..w).collect());
        }
        line.extend(word);
    }
    lines.push(line);
    lines
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
/// the recent list. With several slots the slot list comes first on the
/// left (on a narrow screen it replaces the trial and the runs: one row per
/// slot says more than one slot's details). Once the run ended, the outcome
/// takes the place of the slots, the current trial and the runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Areas {
    /// Two header lines.
    pub header: Rect,
    /// The slot list (several slots, while running).
    pub slots: Option<Rect>,
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
        Constraint::Length(footer::message_rows(s, area.width)),
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
            let [o, l] = Layout::vertical([
                Constraint::Length(outcome_h(left.width)),
                Constraint::Min(4),
            ])
            .areas(left);
            (a.outcome, a.log) = (Some(o), l);
        } else if s.multi() {
            let [sl, tr, ru, l] = Layout::vertical([
                Constraint::Length(slots::height(s, 11)),
                Constraint::Length(9),
                Constraint::Length(6),
                Constraint::Min(4),
            ])
            .areas(left);
            (a.slots, a.trial, a.runs, a.log) = (Some(sl), Some(tr), Some(ru), l);
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
        // The outcome first: when it and a log of 3 rows do not fit, the
        // log goes (the run is over) and the best table keeps its winner.
        let want = outcome_h(body.width);
        let [o, l, b] = if want + 3 + 5 <= body.height {
            Layout::vertical([
                Constraint::Length(want),
                Constraint::Min(3),
                Constraint::Length(5),
            ])
            .areas(body)
        } else {
            let o = want.min(body.height.saturating_sub(4));
            Layout::vertical([
                Constraint::Length(o),
                Constraint::Length(0),
                Constraint::Min(4),
            ])
            .areas(body)
        };
        (a.outcome, a.log, a.best) = (Some(o), l, b);
    } else if s.multi() {
        let [sl, l, b] = Layout::vertical([
            Constraint::Length(slots::height(s, 7)),
            Constraint::Min(3),
            Constraint::Length(6),
        ])
        .areas(body);
        (a.slots, a.log, a.best) = (Some(sl), l, b);
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
        recent_rows: a.recent.map_or(0, |r| r.height.saturating_sub(3) as usize),
        help_max: overlay::help_max(area, s),
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
    if let Some(r) = a.slots {
        slots::draw(f, r, s, t, now);
    }
    if let Some(r) = a.trial {
        trial::draw(f, r, s, t, now);
    }
    if let Some(r) = a.runs {
        runs::draw(f, r, s, t);
    }
    if let (Some(r), Some(sum)) = (a.outcome, &s.summary) {
        outcome::draw(f, r, sum, t);
    }
    if a.log.height > 0 {
        log::draw(f, a.log, s, t);
    }
    best::draw_best(f, a.best, s, t);
    if let Some(r) = a.group {
        // The pooled search has no groups: its model's beliefs instead.
        match &s.beliefs {
            Some(b) => beliefs::draw(f, r, s, b, t),
            None => best::draw_group(f, r, s, t),
        }
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
    let state = match (&s.summary, s.trial()) {
        (Some(sum), _) => sum.lines().first().cloned().unwrap_or_default(),
        (None, _) if s.multi() => format!(
            "{}, {} of {} slots busy",
            s.progress_text(now),
            s.running.len(),
            s.slots
        ),
        (None, Some(tr)) => format!(
            "{}: trial {}: {}",
            s.progress_text(now),
            tr.ordinal,
            tr.testing()
        ),
        (None, None) => s.progress_text(now),
    };
    let lines = vec![
        Line::from(Span::styled(
            format!(
                "terminal too small: {}x{}, the live screen needs {}x{}",
                area.width, area.height, MIN_SIZE.0, MIN_SIZE.1
            ),
            t.style(Role::Warn),
        )),
        Line::raw(format!(
            "elapsed {}  {state}",
            hms(s.elapsed(now).as_secs_f64())
        )),
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

/// Snapshot tests shared by the live screen and browse: a screen's text
/// compared with a file under `src/ui/snapshots/` (written instead with
/// `UPDATE_SNAPSHOTS=1`).
#[cfg(test)]
pub mod snap {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;

    /// Draws with `draw` on a `w` x `h` test terminal; the text and buffer.
    pub fn render(w: u16, h: u16, draw: impl FnOnce(&mut ratatui::Frame)) -> (String, Buffer) {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        term.draw(draw).unwrap();
        let buf = term.backend().buffer().clone();
        let text = (0..h)
            .map(|y| {
                let line: String = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
                line.trim_end().to_string()
            })
            .collect::<Vec<_>>()
            .join("\n");
        (text, buf)
    }

    /// Asserts that `text` is the snapshot `name`.
    pub fn assert_snapshot(name: &str, text: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/ui/snapshots")
            .join(format!("{name}.txt"));
        let text = format!("{text}\n");
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
            return;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "no snapshot {} (run with UPDATE_SNAPSHOTS=1 to write it); the screen:\n{text}",
                path.display()
            )
        });
        if want != text {
            let diff: Vec<String> = want
                .lines()
                .zip(text.lines())
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(i, (a, b))| format!("line {}:\n- {a}\n+ {b}", i + 1))
                .collect();
            panic!(
                "snapshot {name} differs ({} lines vs {}):\n{}\nthe screen:\n{text}",
                want.lines().count(),
                text.lines().count(),
                diff.join("\n")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::snap::{assert_snapshot, render};
    use super::*;
    use crate::ui::keys::Action;
    use autotune::default_params;
    use autotune::{EvalRun, EvalSummary, Measured, Outcome, Record, RunSummary};
    use autotune::{Event, TrialPhase};

    const VIEW: Viewport = Viewport {
        log_rows: 10,
        recent_rows: 10,
        help_max: 0,
    };

    /// A trial's end as the engine tells it: its progress first, with the
    /// trial counted.
    fn told(s: &mut LiveState, e: &Event, at: Instant) {
        let Event::TrialFinished { record, .. } = e else {
            unreachable!("a trial's end")
        };
        let mut p = s
            .progress
            .as_ref()
            .map(|(p, _)| p.clone())
            .unwrap_or(autotune::Progress {
                trials: s.done,
                trials_at_most: s.total,
                ..Default::default()
            });
        p.trials = p.trials.max(s.done + 1);
        p.trials_at_most = p.trials_at_most.max(p.trials);
        p.fraction = p.fraction.max(p.trials as f64 / p.trials_at_most as f64);
        p.counts.add(&record.status.to_string());
        s.update(&Event::Progress(p), at);
        s.update(e, at);
    }

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    fn screen(
        s: &LiveState,
        w: u16,
        h: u16,
        t: Theme,
        now: Instant,
    ) -> (String, ratatui::buffer::Buffer) {
        render(w, h, |f| draw(f, s, &t, now))
    }

    fn record(param: &str, value: &str, status: &str, acc: f64, tps: f64) -> Arc<Record> {
        let mut params = default_params();
        params.insert(param.into(), value.into());
        Arc::new(Record {
            trial_key: format!("{param}={value}"),
            status: status.into(),
            param_under_test: Some(param.into()),
            params,
            eval: (status == "ok").then(|| EvalSummary {
                avg_accuracy: Some(acc),
                avg_total_tps: Some(tps),
                avg_answer_tps: Some(tps * 0.8),
                avg_total_time_s: Some(1.75),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    /// A run at its 10th trial, started at `t0`; the trial starts at 100 s.
    fn running_state(t0: Instant) -> LiveState {
        let mut s = LiveState::new(t0);
        s.update(
            &Event::RunStarted {
                repo: "/srv/model".into(),
                results: "/srv/model/tune_results.jsonl".into(),
                total_estimate: 55,
                existing_records: 0,
                base: default_params(),
                best_seen_tps: None,
                choice: None,
                setup: None,
                goal: autotune::Goal::default_for(0.88),
                policy: None,
                slots: 1,
            },
            t0,
        );
        s.update(
            &Event::GroupStarted {
                param: "VLLM_MAX_NUM_BATCHED_TOKENS".into(),
                values: vec!["131072".into(), "65536".into(), "196608".into()],
                group: 2,
                groups: 17,
                stage: autotune::Stage::Pass(1),
                budget_left: None,
            },
            secs(t0, 10),
        );
        s.update(
            &Event::TrialReused {
                ordinal: 4,
                changes: autotune::Changes::one("VLLM_MAX_NUM_BATCHED_TOKENS", "131072"),
                record: record("GPU_MEMORY_UTILIZATION", "0.98", "ok", 0.8878, 5076.5),
            },
            secs(t0, 10),
        );
        told(
            &mut s,
            &Event::TrialFinished {
                ordinal: 5,
                record: record("VLLM_MAX_NUM_BATCHED_TOKENS", "65536", "ok", 0.8852, 4819.3),
            },
            secs(t0, 40),
        );
        told(
            &mut s,
            &Event::TrialFinished {
                ordinal: 6,
                record: record(
                    "VLLM_MAX_NUM_BATCHED_TOKENS",
                    "196608",
                    "ok",
                    0.8859,
                    5202.7,
                ),
            },
            secs(t0, 70),
        );
        let mut params = default_params();
        params.insert("VLLM_MAX_NUM_SEQS".into(), "512".into());
        s.update(
            &Event::GroupStarted {
                param: "VLLM_MAX_NUM_SEQS".into(),
                values: vec!["1024".into(), "512".into(), "768".into()],
                group: 3,
                groups: 17,
                stage: autotune::Stage::Pass(1),
                budget_left: None,
            },
            secs(t0, 99),
        );
        s.update(
            &Event::TrialStarted {
                slot: 0,
                devices: None,
                ordinal: 10,
                index: 8,
                changes: autotune::Changes::one("VLLM_MAX_NUM_SEQS", "512"),
                base_value: Some("1024".into()),
                params,
                key: "k2".into(),
                log_path: "/srv/model/tune_server_logs/trial_00008.log".into(),
                recheck: false,
            },
            secs(t0, 100),
        );
        // 4 trials of the budget's 138 handed out (one reused, one
        // running), 134 left at 210 s each.
        s.update(
            &Event::Progress(autotune::Progress {
                trials: 4,
                trials_at_most: 138,
                fraction: 4.0 / 138.0,
                gpu_s: 420.0,
                gpu_s_at_most: Some(420.0 + 134.0 * 210.0),
                budget_nominal_s: None,
                eta_s: Some(134.0 * 210.0),
                counts: [("ok", 2), ("reused", 1)].into(),
            }),
            secs(t0, 100),
        );
        s.push_log(
            [
                "[sim] loading model weights...".to_string(),
                "INFO:     Uvicorn running on http://127.0.0.1:8000".into(),
            ],
            0,
        );
        s
    }

    fn in_eval(t0: Instant) -> LiveState {
        let mut s = running_state(t0);
        s.update(
            &Event::Phase {
                slot: 0,
                phase: TrialPhase::Eval {
                    run: 2,
                    of: 3,
                    timeout_s: 420.0,
                },
            },
            secs(t0, 120),
        );
        s.update(
            &Event::EvalRunFinished {
                slot: 0,
                run: EvalRun {
                    i: 1,
                    ok: true,
                    measured: Some(Measured {
                        accuracy: Some(0.8866),
                        total_tps: Some(5010.0),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            },
            secs(t0, 120),
        );
        s
    }

    fn finished(t0: Instant) -> LiveState {
        let mut s = in_eval(t0);
        let mut start = default_params();
        start.insert("GPU_MEMORY_UTILIZATION".into(), "0.97".into());
        let mut best = default_params();
        best.insert("VLLM_MAX_NUM_BATCHED_TOKENS".into(), "196608".into());
        let mut summary = RunSummary::bare(Outcome::Done, &best);
        summary.start = start;
        summary.changed = vec![
            (
                "GPU_MEMORY_UTILIZATION".into(),
                Some("0.97".into()),
                "0.98".into(),
            ),
            (
                "VLLM_MAX_NUM_BATCHED_TOKENS".into(),
                Some("131072".into()),
                "196608".into(),
            ),
        ];
        summary.best_measure = Some(autotune::Measure {
            accuracy: (0.8859, Some(0.0019)),
            tps: (5202.7, Some(52.7)),
            runs: 3,
            ..Default::default()
        });
        summary.start_measure = Some(autotune::Measure {
            accuracy: (0.8856, Some(0.0041)),
            tps: (5001.0, Some(139.3)),
            runs: 3,
            ..Default::default()
        });
        summary.gain_pct = Some((4.0, Some(3.0)));
        summary.counts = [("ok", 2), ("reused", 1)].into();
        summary.gpu_s = 95.0;
        summary.files = autotune::Files {
            results: "/srv/model/tune_results.jsonl".into(),
            best: "/srv/model/best_params.json".into(),
            status: "/srv/model/tune_status.json".into(),
            logs: "/srv/model/tune_server_logs".into(),
            report: Some("/srv/model/tune_report.html".into()),
        };
        s.update(
            &Event::RunFinished {
                outcome: Outcome::Done,
                best,
                summary: Arc::new(summary),
            },
            secs(t0, 150),
        );
        s
    }

    fn crashed(t0: Instant) -> LiveState {
        let mut s = running_state(t0);
        let mut crash = (*record("VLLM_MAX_NUM_SEQS", "512", "crashed", 0.0, 0.0)).clone();
        crash.exit_code = Some(1);
        crash.startup_s = Some(0.3);
        crash.health = Some("exited during start-up with code 1".into());
        crash.server_log = Some("tune_server_logs/trial_00008.log".into());
        crash.trial_index = Some(8);
        crash.extra.insert(
            "log_tail".into(),
            serde_json::json!([
                "[sim] engine core worker pid=22719",
                "[sim] loading model weights...",
                "[sim] torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.20 GiB (GPU 0; 23.6 GiB total)"
            ]),
        );
        told(
            &mut s,
            &Event::TrialFinished {
                ordinal: 10,
                record: Arc::new(crash),
            },
            secs(t0, 101),
        );
        // The next trial starts at once: the crash stays readable.
        let mut params = default_params();
        params.insert("VLLM_MAX_NUM_SEQS".into(), "768".into());
        s.update(
            &Event::TrialStarted {
                slot: 0,
                devices: None,
                ordinal: 11,
                index: 9,
                changes: autotune::Changes::one("VLLM_MAX_NUM_SEQS", "768"),
                base_value: Some("1024".into()),
                params,
                key: "k3".into(),
                log_path: "/srv/model/tune_server_logs/trial_00009.log".into(),
                recheck: false,
            },
            secs(t0, 101),
        );
        s.update(
            &Event::Phase {
                slot: 0,
                phase: TrialPhase::Starting {
                    pgid: 1,
                    timeout_s: 600.0,
                },
            },
            secs(t0, 101),
        );
        s
    }

    /// Every phase of a trial, the end, a crash and the help, at 80x24 and
    /// 140x40: the whole screen as the user sees it.
    #[test]
    fn snapshots_of_every_phase_the_end_a_crash_and_help() {
        let t0 = Instant::now();
        let phases: Vec<(&str, TrialPhase)> = vec![
            (
                "port_busy",
                TrialPhase::PortBusy {
                    attempt: 2,
                    retries: 6,
                    wait_s: 10.0,
                    holder: Some("pid 4242 (python3 -m http.server 8000)".into()),
                },
            ),
            (
                "starting",
                TrialPhase::Starting {
                    pgid: 1,
                    timeout_s: 600.0,
                },
            ),
            (
                "ready",
                TrialPhase::Ready {
                    startup_s: 41.5,
                    health: "200 OK".into(),
                },
            ),
            (
                "eval",
                TrialPhase::Eval {
                    run: 2,
                    of: 3,
                    timeout_s: 420.0,
                },
            ),
            ("stopping", TrialPhase::Stopping),
        ];
        for (w, h) in [(80u16, 24u16), (140, 40)] {
            for (name, p) in &phases {
                let mut s = running_state(t0);
                s.update(
                    &Event::Phase {
                        slot: 0,
                        phase: p.clone(),
                    },
                    secs(t0, 130),
                );
                let (text, _) = screen(&s, w, h, Theme { color: true }, secs(t0, 135));
                assert_snapshot(&format!("live_{name}_{w}x{h}"), &text);
            }
            let s = finished(t0);
            let (text, _) = screen(&s, w, h, Theme { color: true }, secs(t0, 9999));
            assert_snapshot(&format!("live_done_{w}x{h}"), &text);
            let s = crashed(t0);
            let (text, _) = screen(&s, w, h, Theme { color: true }, secs(t0, 102));
            assert_snapshot(&format!("live_crash_{w}x{h}"), &text);
            let mut s = in_eval(t0);
            s.apply(Action::Help, VIEW, secs(t0, 130));
            let (text, _) = screen(&s, w, h, Theme { color: true }, secs(t0, 130));
            assert_snapshot(&format!("live_help_{w}x{h}"), &text);
        }
        let s = in_eval(t0);
        let (text, _) = screen(&s, 60, 15, Theme { color: true }, secs(t0, 130));
        assert_snapshot("live_too_small_60x15", &text);
    }

    /// A record of `param=value` (on the defaults) as the noise-aware
    /// search writes it: one eval run per accuracy, all at `tps` ± 1 %, the
    /// runs past `ok` failed (a partial trial).
    fn runs_record(
        param: &str,
        value: &str,
        status: &str,
        acc: &[f64],
        ok: usize,
        tps: f64,
    ) -> Arc<Record> {
        let runs: Vec<EvalRun> = acc
            .iter()
            .enumerate()
            .map(|(i, a)| EvalRun {
                i: i as u32 + 1,
                ok: i < ok,
                measured: (i < ok).then(|| Measured {
                    accuracy: Some(*a),
                    total_tps: Some(tps * (1.0 + 0.01 * (i as f64 - 1.0))),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        let mut params = default_params();
        params.insert(param.into(), value.into());
        let mut eval = autotune::summarize(runs);
        eval.avg_total_time_s = Some(1.9);
        Arc::new(Record {
            trial_key: autotune::trial_key(&params),
            status: status.into(),
            param_under_test: Some(param.into()),
            params,
            eval: (status == "ok" || status == "partial" || status == "pruned").then_some(eval),
            ..Default::default()
        })
    }

    /// A longer search under the noise-aware policy, 5 minutes in: five
    /// groups done, twelve trials faster than the start the search did not
    /// take (so the start, its choice, ranks 13th), every kind of outcome
    /// in the counts, a long pruned reason as the last message, and the
    /// start re-measured now as a close call of group 6.
    fn longer_search(t0: Instant) -> LiveState {
        let mut s = LiveState::new(t0);
        s.update(
            &Event::RunStarted {
                repo: "/srv/model".into(),
                results: "/srv/model/tune_results.jsonl".into(),
                total_estimate: 55,
                existing_records: 0,
                base: default_params(),
                best_seen_tps: None,
                choice: None,
                setup: None,
                goal: autotune::Goal::default_for(0.88),
                policy: Some(autotune::NoisePolicy::default()),
                slots: 1,
            },
            t0,
        );
        let acc = [0.886, 0.888, 0.887];
        let groups: [(&str, &[&str]); 6] = [
            ("GPU_MEMORY_UTILIZATION", &["0.97", "0.98", "0.99"]),
            (
                "VLLM_MAX_NUM_BATCHED_TOKENS",
                &["131072", "65536", "98304", "196608", "262144"],
            ),
            ("VLLM_MAX_NUM_SEQS", &["1024", "512", "768", "1536"]),
            ("MAX_MODEL_LEN", &["1024", "768", "1536", "2048"]),
            ("STOP_ON_DOUBLE_NEWLINE", &["0", "1"]),
            ("OUTPUT_MAX_SENTENCES", &["6", "3", "4"]),
        ];
        let start = runs_record("GPU_MEMORY_UTILIZATION", "0.97", "ok", &acc, 3, 5000.0);
        let (mut ordinal, mut tps) = (0usize, 5100.0);
        for (g, (param, values)) in groups.iter().enumerate() {
            s.update(
                &Event::GroupStarted {
                    param: param.to_string(),
                    values: values.iter().map(|v| v.to_string()).collect(),
                    group: g + 1,
                    groups: 17,
                    stage: autotune::Stage::Pass(1),
                    budget_left: None,
                },
                secs(t0, 50 * g as u64),
            );
            for (i, v) in values.iter().enumerate() {
                ordinal += 1;
                let at = secs(t0, 50 * g as u64 + 5 * i as u64);
                if i == 0 && g > 0 {
                    s.update(
                        &Event::TrialReused {
                            ordinal,
                            changes: autotune::Changes::one(param.to_string(), v.to_string()),
                            record: start.clone(),
                        },
                        at,
                    );
                    continue;
                }
                let status = match (param, *v) {
                    (_, "0.99") => "crashed",
                    (_, "1536") if g == 2 => "timeout",
                    (_, "768") if g == 3 => "pruned",
                    _ => "ok",
                };
                let record = if i == 0 {
                    start.clone()
                } else {
                    tps += 23.0;
                    runs_record(param, v, status, &acc, 3, tps)
                };
                if g == 5 && i > 0 {
                    break;
                }
                told(&mut s, &Event::TrialFinished { ordinal, record }, at);
            }
        }
        // The last trial was pruned, with a reason wider than 80 columns.
        let mut pruned =
            (*runs_record("OUTPUT_MAX_SENTENCES", "3", "pruned", &acc, 2, 4852.2)).clone();
        pruned.total_s = Some(31.0);
        pruned.reason = Some(
            "4852.2 tok/s after 2 runs: at most 4911.0 at 95 % confidence, under the group's leader 5057.2"
                .into(),
        );
        told(
            &mut s,
            &Event::TrialFinished {
                ordinal: ordinal + 1,
                record: Arc::new(pruned),
            },
            secs(t0, 280),
        );
        // The start, the search's choice, measured again as a close call.
        s.update(
            &Event::TrialStarted {
                slot: 0,
                devices: None,
                ordinal: ordinal + 2,
                index: ordinal as u32 + 2,
                changes: autotune::Changes::one("OUTPUT_MAX_SENTENCES", "6"),
                base_value: Some("6".into()),
                params: default_params(),
                key: autotune::trial_key(&default_params()),
                log_path: "/srv/model/tune_server_logs/trial_00022.log".into(),
                recheck: false,
            },
            secs(t0, 285),
        );
        s.update(
            &Event::Phase {
                slot: 0,
                phase: TrialPhase::Eval {
                    run: 2,
                    of: 3,
                    timeout_s: 420.0,
                },
            },
            secs(t0, 295),
        );
        s.push_log((1..=30).map(|i| format!("INFO:     request {i} served")), 0);
        s
    }

    /// A longer search at 80x24 and 140x40: the search's choice (`▶`)
    /// stays in the best table while it is re-measured, however many
    /// faster rows it did not take stand above it.
    #[test]
    fn snapshots_of_a_longer_search() {
        let t0 = Instant::now();
        for (w, h) in [(80u16, 24u16), (140, 40)] {
            let s = longer_search(t0);
            assert!(s.chosen().is_some(), "the start is the search's choice");
            let (text, _) = screen(&s, w, h, Theme { color: true }, secs(t0, 300));
            assert_snapshot(&format!("live_long_{w}x{h}"), &text);
            assert!(
                text.contains("▶ GPU_MEMORY_UTILIZATION=0.97"),
                "the choice's row at {w}x{h}:\n{text}"
            );
            assert!(
                text.contains("faster not shown"),
                "the rows left out at {w}x{h}:\n{text}"
            );
            // Nothing essential cut: the bar in the header, the whole
            // pruned reason in the message line.
            let header: String = text.lines().take(2).collect::<Vec<_>>().join("\n");
            assert!(header.contains("bar: acc ≥ 0.880"), "at {w}x{h}:\n{text}");
            assert!(header.contains("timeout 1"), "at {w}x{h}:\n{text}");
            let message: String = text
                .lines()
                .skip_while(|l| !l.contains("4:40 trial 21 pruned"))
                .take_while(|l| !l.contains("s skip"))
                .collect();
            assert!(
                message.contains("under the group's leader 5057.2"),
                "at {w}x{h}:\n{text}"
            );
        }
    }

    /// The help at 80x24 and 140x40: every description whole (wrapped);
    /// where it does not fit it says how much more there is and scrolls.
    #[test]
    fn snapshots_of_the_help_scrolled() {
        let t0 = Instant::now();
        for (w, h) in [(80u16, 24u16), (140, 40)] {
            let mut s = in_eval(t0);
            let view = viewport(Rect::new(0, 0, w, h), &s);
            s.apply(Action::Help, view, t0);
            let (text, _) = screen(&s, w, h, Theme { color: true }, secs(t0, 130));
            let joined: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                joined.contains("works in tmux and over ssh)"),
                "at {w}x{h}:\n{text}"
            );
            if view.help_max == 0 {
                assert!(text.contains("Headless runs take SIGUSR1"), "{text}");
                continue;
            }
            assert!(
                text.contains(&format!("↓ {} more", view.help_max)),
                "at {w}x{h}:\n{text}"
            );
            s.apply(Action::End, view, t0);
            let (text, _) = screen(&s, w, h, Theme { color: true }, secs(t0, 130));
            assert_snapshot(&format!("live_help_end_{w}x{h}"), &text);
            assert!(
                text.contains("Headless runs take SIGUSR1") && text.contains("↑ "),
                "at {w}x{h}:\n{text}"
            );
            assert_eq!(s.log_scroll, 0, "the keys scrolled the help, not the log");
        }
    }

    /// An abort after six changes at 80x24 and 140x40: the outcome keeps
    /// the figures and every file's path in view (changes it cannot show
    /// are counted, all are in the best params file).
    #[test]
    fn snapshots_of_an_abort_with_many_changes() {
        let t0 = Instant::now();
        for (w, h) in [(80u16, 24u16), (140, 40)] {
            let mut s = finished(t0);
            let mut sum = (**s.summary.as_ref().unwrap()).clone();
            sum.outcome = Outcome::Aborted;
            for (k, from, to) in [
                ("VLLM_MAX_NUM_SEQS", "1024", "768"),
                ("STOP_ON_DOUBLE_NEWLINE", "0", "1"),
                ("OUTPUT_MAX_SENTENCES", "6", "4"),
                ("FREQUENCY_PENALTY", "0.1", "0.00"),
            ] {
                sum.changed.push((k.into(), Some(from.into()), to.into()));
            }
            for (k, n) in [("pruned", 12), ("crashed", 1), ("reused", 9)] {
                (0..n).for_each(|_| sum.counts.add(k));
            }
            s.summary = Some(Arc::new(sum));
            s.outcome = Some(Outcome::Aborted);
            s.message(
                "aborted: the service was stopped; q quits",
                true,
                secs(t0, 150),
            );
            let (text, _) = screen(&s, w, h, Theme { color: true }, secs(t0, 9999));
            assert_snapshot(&format!("live_aborted_{w}x{h}"), &text);
            for needle in [
                "gain:",
                "best params: /srv/model/best_params.json",
                "report:  /srv/model/tune_report.html",
                "results: /srv/model/tune_results.jsonl",
                "[ABORTED]",
                "bar: acc ≥ 0.880",
            ] {
                assert!(text.contains(needle), "{needle:?} at {w}x{h}:\n{text}");
            }
        }
    }

    /// The start re-measured (the trial [`longer_search`] runs) ends and
    /// trial 23 starts with its own log.
    fn next_trial(s: &mut LiveState, t0: Instant) {
        let acc = [0.886, 0.888, 0.887];
        let mut again =
            (*runs_record("GPU_MEMORY_UTILIZATION", "0.97", "ok", &acc, 3, 5010.0)).clone();
        again.extra.insert("recheck".into(), true.into());
        told(
            s,
            &Event::TrialFinished {
                ordinal: 22,
                record: Arc::new(again),
            },
            secs(t0, 310),
        );
        let mut params = default_params();
        params.insert("OUTPUT_MAX_SENTENCES".into(), "4".into());
        s.update(
            &Event::TrialStarted {
                slot: 0,
                devices: None,
                ordinal: 23,
                index: 23,
                changes: autotune::Changes::one("OUTPUT_MAX_SENTENCES", "4"),
                base_value: Some("6".into()),
                params,
                key: "k23".into(),
                log_path: "/srv/model/tune_server_logs/trial_00023.log".into(),
                recheck: false,
            },
            secs(t0, 311),
        );
    }

    /// After Tab the recent trials scroll, newest at the top: End shows
    /// the oldest and the title says how many newer ones are above and
    /// how to come back; a trial that ends does not move the view; Home
    /// follows again. At 80x24 there is no list: Tab leaves the log.
    #[test]
    fn snapshots_of_scrolled_recent_trials() {
        let t0 = Instant::now();
        let mut s = longer_search(t0);
        let view = viewport(Rect::new(0, 0, 80, 24), &s);
        s.apply(Action::FocusNext, view, t0);
        assert_eq!(s.focus, crate::ui::state::Focus::Log, "no list at 80x24");
        let view = viewport(Rect::new(0, 0, 140, 40), &s);
        s.apply(Action::FocusNext, view, t0);
        assert_eq!(s.focus, crate::ui::state::Focus::Recent);
        s.apply(Action::End, view, t0);
        let (text, _) = screen(&s, 140, 40, Theme { color: true }, secs(t0, 300));
        assert_snapshot("live_long_recent_end_140x40", &text);
        let above = s.recent_scroll;
        assert!(above > 0, "{text}");
        assert!(
            text.contains(&format!("↑ {above} newer · Home")),
            "{above} newer:\n{text}"
        );
        assert!(text.contains("│    1 ok "), "the oldest in view:\n{text}");
        // ↓ at the bottom stays; ↑ goes a row towards the newest.
        s.apply(Action::Down, view, t0);
        assert_eq!(s.recent_scroll, above);
        s.apply(Action::Up, view, t0);
        assert_eq!(s.recent_scroll, above - 1);
        // A trial that ends adds a row above, not in view.
        next_trial(&mut s, t0);
        let (text, _) = screen(&s, 140, 40, Theme { color: true }, secs(t0, 320));
        assert!(text.contains(&format!("↑ {above} newer")), "{text}");
        assert!(text.contains("│    2 ok "), "{text}");
        // Home: the newest at the top, no mark.
        s.apply(Action::Home, view, t0);
        let (text, _) = screen(&s, 140, 40, Theme { color: true }, secs(t0, 320));
        assert!(!text.contains(" newer · Home"), "{text}");
        assert!(text.contains("│   22 ok+ "), "{text}");
    }

    /// A log the user scrolled up stays in view when a new trial starts:
    /// its title says it does not follow and names the newer log; End
    /// follows again, in the new trial's log.
    #[test]
    fn snapshots_of_a_held_log() {
        let t0 = Instant::now();
        for (w, h) in [(80u16, 24u16), (140, 40)] {
            let mut s = longer_search(t0);
            let view = viewport(Rect::new(0, 0, w, h), &s);
            s.apply(Action::PageUp, view, t0);
            let up = s.log_scroll;
            assert!(up > 0);
            next_trial(&mut s, t0);
            let (text, _) = screen(&s, w, h, Theme { color: true }, secs(t0, 320));
            assert_snapshot(&format!("live_long_log_held_{w}x{h}"), &text);
            assert!(
                text.contains(&format!(
                    "trial_00022.log  [scrolled {up} up · End follows trial_00023.log]"
                )),
                "at {w}x{h}:\n{text}"
            );
            s.apply(Action::End, viewport(Rect::new(0, 0, w, h), &s), t0);
            let (text, _) = screen(&s, w, h, Theme { color: true }, secs(t0, 320));
            assert!(
                text.contains("trial_00023.log  [following]"),
                "at {w}x{h}:\n{text}"
            );
        }
    }

    /// The first group, its base partial (one of its three eval runs
    /// failed), a value measured against it and one running; and the same
    /// with a crashed base.
    fn partial_base(t0: Instant, base_status: &str) -> LiveState {
        let mut s = LiveState::new(t0);
        s.update(
            &Event::RunStarted {
                repo: "/srv/model".into(),
                results: "/srv/model/tune_results.jsonl".into(),
                total_estimate: 55,
                existing_records: 0,
                base: default_params(),
                best_seen_tps: None,
                choice: None,
                setup: None,
                goal: autotune::Goal::default_for(0.88),
                policy: None,
                slots: 1,
            },
            t0,
        );
        let p = "GPU_MEMORY_UTILIZATION";
        s.update(
            &Event::GroupStarted {
                param: p.into(),
                values: vec!["0.97".into(), "0.98".into(), "0.99".into()],
                group: 1,
                groups: 17,
                stage: autotune::Stage::Pass(1),
                budget_left: None,
            },
            secs(t0, 100),
        );
        let acc = [0.886, 0.888, 0.887];
        let base = runs_record(p, "0.97", base_status, &acc, 2, 5000.0);
        told(
            &mut s,
            &Event::TrialFinished {
                ordinal: 1,
                record: base,
            },
            secs(t0, 110),
        );
        told(
            &mut s,
            &Event::TrialFinished {
                ordinal: 2,
                record: runs_record(p, "0.98", "ok", &acc, 3, 5100.0),
            },
            secs(t0, 120),
        );
        let mut params = default_params();
        params.insert(p.into(), "0.99".into());
        s.update(
            &Event::TrialStarted {
                slot: 0,
                devices: None,
                ordinal: 3,
                index: 3,
                changes: autotune::Changes::one(p, "0.99"),
                base_value: Some("0.97".into()),
                params,
                key: "k".into(),
                log_path: "/srv/model/tune_server_logs/trial_00003.log".into(),
                recheck: false,
            },
            secs(t0, 125),
        );
        s
    }

    /// "vs base" against a partial base: the comparison with what it
    /// measured; against a base without a figure, a word for why not.
    #[test]
    fn snapshot_of_a_partial_base() {
        let t0 = Instant::now();
        let s = partial_base(t0, "partial");
        let (text, _) = screen(&s, 140, 40, Theme { color: true }, secs(t0, 130));
        assert_snapshot("live_partial_base_140x40", &text);
        let row = |text: &str, v: &str| {
            text.lines()
                .find(|l| l.contains(&format!("  {v}  ")) && l.contains("0.887"))
                .unwrap_or_else(|| panic!("no row {v}:\n{text}"))
                .to_string()
        };
        assert!(row(&text, "0.97").contains("partial"), "{text}");
        assert!(row(&text, "0.97").contains("base"), "{text}");
        // 5100 against the base's 4975 over its two ok runs.
        assert!(row(&text, "0.98").contains("+2.5%"), "{text}");
        let s = partial_base(t0, "crashed");
        let (text, _) = screen(&s, 140, 40, Theme { color: true }, secs(t0, 130));
        assert!(row(&text, "0.98").contains("base crashed"), "{text}");
    }

    /// A record with 95 % half-widths, as the noise-aware search writes.
    fn with_ci(r: Arc<Record>, acc_ci: f64, tps_ci: f64) -> Arc<Record> {
        let mut r = (*r).clone();
        if let Some(e) = r.eval.as_mut() {
            e.ci95_accuracy = Some(acc_ci);
            e.ci95_total_tps = Some(tps_ci);
        }
        Arc::new(r)
    }

    /// A run with 4 slots (devices 0-3), all busy in group 3 at 130 s: one
    /// starting, one ready, one in eval, one in a close call's extra run;
    /// a trial of the group was pruned and the best table has intervals.
    fn four_slots(t0: Instant) -> LiveState {
        let mut s = LiveState::with_slots(t0, 4);
        s.update(
            &Event::RunStarted {
                repo: "/srv/model".into(),
                results: "/srv/model/tune_results.jsonl".into(),
                total_estimate: 55,
                existing_records: 0,
                base: default_params(),
                best_seen_tps: None,
                choice: None,
                setup: None,
                goal: autotune::Goal::default_for(0.88),
                policy: None,
                slots: 4,
            },
            t0,
        );
        told(
            &mut s,
            &Event::TrialFinished {
                ordinal: 1,
                record: with_ci(
                    record("GPU_MEMORY_UTILIZATION", "0.97", "ok", 0.8868, 5010.2),
                    0.0010,
                    92.2,
                ),
            },
            secs(t0, 20),
        );
        let p = "VLLM_MAX_NUM_BATCHED_TOKENS";
        told(
            &mut s,
            &Event::TrialFinished {
                ordinal: 2,
                record: {
                    // A close call measured again: pooled runs, a mark.
                    let mut r = (*with_ci(
                        record("GPU_MEMORY_UTILIZATION", "0.98", "ok", 0.8862, 5057.2),
                        0.0016,
                        74.9,
                    ))
                    .clone();
                    r.extra.insert("recheck".into(), true.into());
                    Arc::new(r)
                },
            },
            secs(t0, 30),
        );
        s.update(
            &Event::GroupStarted {
                param: p.into(),
                values: ["131072", "65536", "98304", "196608", "262144", "327680"]
                    .map(String::from)
                    .to_vec(),
                group: 2,
                groups: 17,
                stage: autotune::Stage::Pass(1),
                budget_left: None,
            },
            secs(t0, 40),
        );
        let mut pruned = (*record(p, "65536", "ok", 0.8874, 4852.2)).clone();
        pruned.status = autotune::Status::Pruned;
        pruned.total_s = Some(31.0);
        pruned.server_log = Some("tune_server_logs/trial_00004.log".into());
        pruned.reason = Some(
            "4852.2 tok/s after 2 runs: at most 4911.0 at 95 % confidence, under the group's leader 5057.2"
                .into(),
        );
        let values = ["98304", "196608", "262144", "327680"];
        for (slot, v) in values.iter().enumerate() {
            let mut params = default_params();
            params.insert(p.into(), v.to_string());
            s.update(
                &Event::TrialStarted {
                    slot,
                    devices: Some(slot.to_string()),
                    ordinal: 6 + slot,
                    index: 5 + slot as u32,
                    changes: autotune::Changes::one(p, v.to_string()),
                    base_value: Some("131072".into()),
                    params,
                    key: format!("k{slot}"),
                    log_path: format!("/srv/model/tune_server_logs/trial_{:05}.log", 5 + slot)
                        .into(),
                    recheck: false,
                },
                secs(t0, 50 + 10 * slot as u64),
            );
        }
        told(
            &mut s,
            &Event::TrialFinished {
                ordinal: 5,
                record: Arc::new(pruned),
            },
            secs(t0, 60),
        );
        let phases = [
            TrialPhase::Eval {
                run: 3,
                of: 5,
                timeout_s: 420.0,
            },
            TrialPhase::Eval {
                run: 6,
                of: 5,
                timeout_s: 420.0,
            },
            TrialPhase::Ready {
                startup_s: 41.5,
                health: "200 OK".into(),
            },
            TrialPhase::Starting {
                pgid: 1,
                timeout_s: 600.0,
            },
        ];
        for (slot, phase) in phases.into_iter().enumerate() {
            s.update(&Event::Phase { slot, phase }, secs(t0, 120));
        }
        s.update(
            &Event::EvalRunFinished {
                slot: 0,
                run: EvalRun {
                    i: 1,
                    ok: true,
                    measured: Some(Measured {
                        accuracy: Some(0.8866),
                        total_tps: Some(5110.0),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            },
            secs(t0, 100),
        );
        s.push_log(
            [
                "[sim] CUDA_VISIBLE_DEVICES=0".to_string(),
                "INFO:     Uvicorn running on http://127.0.0.1:8000".into(),
            ],
            0,
        );
        s
    }

    /// Four slots at 80x24 and 140x40: a row per slot, the selected one's
    /// trial and log, utilisation, the pruned reason, intervals.
    #[test]
    fn snapshots_of_four_slots() {
        let t0 = Instant::now();
        for (w, h) in [(80u16, 24u16), (140, 40)] {
            let s = four_slots(t0);
            let (text, _) = screen(&s, w, h, Theme { color: true }, secs(t0, 130));
            assert_snapshot(&format!("live_slots4_{w}x{h}"), &text);
            for needle in [
                "slots: 4/4 busy",
                "dev 0",
                "dev 3",
                "#6",
                "#9",
                "eval 3/5",
                "eval 6 (extra)",
                "starting",
                "= 327680",
                "5057.2±74.9",
                "trial_00005.log",
                "S skip all",
            ] {
                assert!(text.contains(needle), "{needle:?} not at {w}x{h}:\n{text}");
            }
            // Busy slot-time over 4 slots × 130 s: (80+70+60+50)/520 = 50 %.
            assert!(
                text.contains("slots 4/4 busy, util 50%"),
                "utilisation at {w}x{h}:\n{text}"
            );
        }
        let s = four_slots(t0);
        let (text, _) = screen(&s, 140, 40, Theme { color: true }, secs(t0, 130));
        for needle in [
            "slot 0 · devices 0",
            "eval run 3/5",
            "pruned: trial 5",
            "under the group's leader 5057.2",
            "0.8862±0.0016",
            "2 ok+",
            "+ re-measured",
        ] {
            assert!(text.contains(needle), "{needle:?} not on screen:\n{text}");
        }
        // Picking slot 1 shows its trial, its close call and its log.
        let mut s = four_slots(t0);
        s.apply(Action::Slot(1), VIEW, secs(t0, 130));
        let (text, _) = screen(&s, 140, 40, Theme { color: true }, secs(t0, 130));
        assert!(
            text.contains("slot 1 · devices 1")
                && text.contains("eval run 6 (close call, 5 planned)")
                && text.contains("trial_00006.log"),
            "{text}"
        );
        let (_, buf) = screen(&s, 140, 40, Theme { color: false }, secs(t0, 130));
        assert!(
            buf.content()
                .iter()
                .all(|c| c.fg == ratatui::style::Color::Reset)
        );
    }

    /// A pooled run: the group panel's place shows what the model
    /// believes (its best guess, each parameter's best other value, marked
    /// under the bar), and recent trials name their phase and changes.
    #[test]
    fn a_pooled_run_shows_what_its_model_believes() {
        use autotune::{Beliefs, Figure, LevelEffect, ParamBelief};
        let t0 = Instant::now();
        let mut s = running_state(t0);
        let fig = |value, half| Figure { value, half };
        let b = Beliefs {
            params: vec![ParamBelief {
                name: "MAX_NEW_TOKENS".into(),
                winner: "48".into(),
                levels: vec![
                    LevelEffect {
                        value: "32".into(),
                        objective: fig(6.8, 2.0),
                        constraint: fig(-0.0289, 0.0027),
                        runs: 23,
                    },
                    LevelEffect {
                        value: "64".into(),
                        objective: fig(-5.2, 2.1),
                        constraint: fig(0.0034, 0.0031),
                        runs: 18,
                    },
                ],
            }],
            guess: Some((
                vec![("STOP_ON_DOUBLE_NEWLINE".into(), "1".into())],
                fig(3.6, 1.4),
            )),
            runs: 203,
            winner_constraint: fig(0.8851, 0.002),
        };
        s.update(&Event::Beliefs(std::sync::Arc::new(b)), secs(t0, 120));
        // A pooled trial: its phase under test, no parameter of that name.
        let mut rec = (*record("sampling", "", "ok", 0.8790, 5837.5)).clone();
        rec.params.remove("sampling");
        rec.params.insert("MAX_NEW_TOKENS".into(), "48".into());
        told(
            &mut s,
            &Event::TrialFinished {
                ordinal: 12,
                record: std::sync::Arc::new(rec),
            },
            secs(t0, 125),
        );
        let (text, _) = screen(&s, 140, 40, Theme { color: false }, secs(t0, 126));
        for want in [
            "what the model believes (203 runs)",
            "best guess +3.6 ± 1.4 % (uncertified): STOP_ON_DOUBLE_NEWLINE=1",
            "MAX_NEW_TOKENS=48 → 32: +6.8 ± 2.0 %, acc 0.8562 under the bar",
            "sampling: ",
        ] {
            assert!(text.contains(want), "{want:?} missing:\n{text}");
        }
        assert!(!text.contains("sampling="), "{text}");
    }

    /// A close call's re-measure of the incumbent says so: it is not a
    /// candidate, though its value is the base's.
    #[test]
    fn a_re_measure_of_the_incumbent_says_so() {
        let t0 = Instant::now();
        let mut s = running_state(t0);
        let mut params = default_params();
        params.insert("VLLM_MAX_NUM_SEQS".into(), "1024".into());
        s.update(
            &Event::TrialStarted {
                slot: 0,
                devices: None,
                ordinal: 11,
                index: 9,
                changes: autotune::Changes::one("VLLM_MAX_NUM_SEQS", "1024"),
                base_value: Some("1024".into()),
                params,
                key: "k3".into(),
                log_path: "/srv/model/tune_server_logs/trial_00009.log".into(),
                recheck: true,
            },
            secs(t0, 130),
        );
        let (text, _) = screen(&s, 140, 40, Theme { color: false }, secs(t0, 131));
        // Wrapped at the panel's width.
        let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains("(re-measure of"), "{text}");
        assert!(text.contains("the incumbent: a close call)"), "{text}");
        assert!(!text.contains("(the base value)"), "{text}");
    }

    #[test]
    fn wide_screen_shows_trial_log_trend_best_and_keys() {
        let t0 = Instant::now();
        let s = in_eval(t0);
        let (text, _) = screen(&s, 140, 40, Theme { color: true }, secs(t0, 135));
        for needle in [
            "trial 10 (log trial_00008)",
            "VLLM_MAX_NUM_SEQS = 512",
            "(base 1024)",
            "eval run 2/3  0:15 / 7:00",
            "Uvicorn running",
            "best so far",
            "5202.7",
            // The column that matters: what each best trial tested.
            "VLLM_MAX_NUM_BATCHED_TOKENS=196608",
            "group 3/17 pass 1: VLLM_MAX_NUM_SEQS",
            "recent trials",
            // Progress against the budget, with the counts by outcome
            // (reused included) and the time left at most.
            "trials 4/≤138 2%: ok 2 reused 1  ≤7h48m left",
            "elapsed 2:15",
            "0.8852–0.8859",
            "s skip",
            "? help",
        ] {
            assert!(text.contains(needle), "{needle:?} not on screen:\n{text}");
        }
    }

    #[test]
    fn the_footer_follows_the_state_and_fits_80_columns() {
        let t0 = Instant::now();
        let mut s = in_eval(t0);
        let footer = |s: &LiveState| {
            let (text, _) = screen(s, 80, 24, Theme { color: true }, secs(t0, 130));
            text.lines().last().unwrap().to_string()
        };
        let f = footer(&s);
        assert!(
            f.contains("s skip") && f.contains("p pause") && f.trim_end().ends_with("? help"),
            "{f}"
        );
        s.update(&Event::Paused(true), secs(t0, 130));
        assert!(footer(&s).contains("p resume"), "{}", footer(&s));
        let s = finished(t0);
        let f = footer(&s);
        assert!(
            !f.contains("skip") && !f.contains("abort") && !f.contains("pause"),
            "{f}"
        );
        assert!(
            f.contains("e export") && f.contains("q quit") && f.contains("? help"),
            "{f}"
        );
    }

    #[test]
    fn the_end_shows_the_outcome_and_the_clock_stops() {
        let t0 = Instant::now();
        let s = finished(t0);
        let (a, _) = screen(&s, 140, 40, Theme { color: true }, secs(t0, 200));
        let (b, _) = screen(&s, 140, 40, Theme { color: true }, secs(t0, 9999));
        assert_eq!(a, b, "nothing moves after the end");
        for needle in [
            "[DONE]",
            "search finished",
            "VLLM_MAX_NUM_BATCHED_TOKENS=196608   (was 131072)",
            "+4.0 ± 3.0%, beyond noise",
            "elapsed 2:30",
            "best_params.json",
        ] {
            assert!(a.contains(needle), "{needle:?} not on screen:\n{a}");
        }
    }

    #[test]
    fn scrolling_the_log_stops_at_its_first_line_on_screen() {
        let t0 = Instant::now();
        let mut s = in_eval(t0);
        s.push_log((0..40).map(|i| format!("line {i}")), 0);
        let area = Rect::new(0, 0, 140, 40);
        let view = viewport(area, &s);
        for _ in 0..5 {
            s.apply(Action::PageUp, view, secs(t0, 130));
        }
        let (text, _) = screen(&s, 140, 40, Theme { color: true }, secs(t0, 130));
        // The first line is on the panel's first row, no empty rows below it.
        let rows: Vec<&str> = text.lines().filter(|l| l.contains("│")).collect();
        let first = rows
            .iter()
            .position(|l| l.contains("[sim] loading model weights"))
            .unwrap();
        assert!(rows[first + 1].contains("Uvicorn running"), "{text}");
        assert!(
            text.contains(&format!("[scrolled {} up", s.log_scroll)),
            "{text}"
        );
        assert_eq!(s.log_scroll, 42 - view.log_rows);
    }

    #[test]
    fn small_screen_still_shows_the_essentials() {
        let t0 = Instant::now();
        let s = in_eval(t0);
        let (text, _) = screen(&s, 80, 24, Theme { color: true }, secs(t0, 130));
        for needle in [
            "VLLM_MAX_NUM_SEQS = 512",
            "Uvicorn running",
            "5202.7",
            "s skip",
        ] {
            assert!(text.contains(needle), "{needle:?} not on screen:\n{text}");
        }
        // Tiny terminals say so, and do not panic.
        let (text, _) = screen(&s, 20, 5, Theme { color: true }, secs(t0, 130));
        assert!(text.contains("terminal"), "{text}");
    }

    #[test]
    fn no_color_uses_no_colours() {
        let t0 = Instant::now();
        for s in [in_eval(t0), crashed(t0), finished(t0)] {
            let (_, buf) = screen(&s, 140, 40, Theme { color: false }, secs(t0, 130));
            for cell in buf.content() {
                assert_eq!(cell.fg, ratatui::style::Color::Reset);
                assert_eq!(cell.bg, ratatui::style::Color::Reset);
            }
        }
    }

    #[test]
    fn confirm_and_help_overlays() {
        let t0 = Instant::now();
        let mut s = in_eval(t0);
        s.apply(Action::Abort, VIEW, t0);
        let (text, _) = screen(&s, 140, 40, Theme { color: true }, t0);
        assert!(text.contains("Abort the run?"));
        s.apply(Action::Cancel, VIEW, t0);
        s.apply(Action::Help, VIEW, t0);
        let (text, _) = screen(&s, 140, 40, Theme { color: true }, t0);
        assert!(text.contains("skip the running trial"), "{text}");
    }
}
