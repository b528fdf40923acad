//! The live screen's state and its pure updates: from engine events
//! ([`LiveState::update`]) and from key actions ([`LiveState::apply`], which
//! returns the command to send to the engine, if any).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use autotune::{Command, Event, Outcome, TrialPhase};
use autotune::{EvalRun, Record};
use autotune::{Params, default_params};

use super::keys::Action;
use super::logtail::LogTail;

/// Panels that take focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The service log.
    Log,
    /// The recent trials.
    Recent,
}

/// A question waiting for y/n.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// Abort the run?
    Abort,
    /// Quit (and abort)?
    Quit,
}

/// The running trial.
#[derive(Debug, Clone)]
pub struct CurrentTrial {
    /// Position in the plan.
    pub ordinal: usize,
    /// Log number.
    pub index: u32,
    /// Parameter under test.
    pub param: String,
    /// Its value.
    pub value: String,
    /// The base value it replaces.
    pub base_value: Option<String>,
    /// All params.
    pub params: Params,
    /// Where it is.
    pub phase: Option<TrialPhase>,
    /// Since when.
    pub phase_since: Instant,
    /// Eval runs so far.
    pub runs: Vec<EvalRun>,
    /// When it started.
    pub started: Instant,
}

/// The current parameter group.
#[derive(Debug, Clone, Default)]
pub struct GroupView {
    /// Parameter.
    pub param: String,
    /// Values, base first.
    pub values: Vec<String>,
    /// Results so far by value.
    pub results: BTreeMap<String, Arc<Record>>,
    /// "3/17".
    pub label: String,
}

/// A finished trial in the history.
#[derive(Debug, Clone)]
pub struct Recent {
    /// Position in the plan.
    pub ordinal: usize,
    /// Its record.
    pub record: Arc<Record>,
    /// Taken from the results file rather than run.
    pub reused: bool,
    /// The parameter of the group it counted in.
    pub param: String,
    /// Its value there.
    pub value: String,
}

/// Everything the live screen shows.
#[derive(Debug)]
pub struct LiveState {
    /// The repo.
    pub repo: String,
    /// The results file.
    pub results: String,
    /// Accuracy threshold.
    pub threshold: f64,
    /// When the screen started.
    pub started: Instant,
    /// Planned trials.
    pub total: usize,
    /// Trials done (run or reused).
    pub done: usize,
    /// Trials run by status in this session.
    pub counts: BTreeMap<String, usize>,
    /// Paused after the current trial.
    pub paused: bool,
    /// An abort was asked for.
    pub aborting: bool,
    /// Quit once the engine has stopped.
    pub quit_when_done: bool,
    /// How the run ended.
    pub outcome: Option<Outcome>,
    /// The running trial.
    pub trial: Option<CurrentTrial>,
    /// The current group.
    pub group: GroupView,
    /// Best qualifying trials, fastest first.
    pub best: Vec<Arc<Record>>,
    /// Finished trials, newest last.
    pub recent: VecDeque<Recent>,
    /// Messages, newest last: (time, text, is a warning).
    pub messages: VecDeque<(String, String, bool)>,
    /// The service log.
    pub log: LogTail,
    /// Lines scrolled up from the bottom of the log.
    pub log_scroll: usize,
    /// Rows scrolled in the recent list.
    pub recent_scroll: usize,
    /// Focused panel.
    pub focus: Focus,
    /// Help shown.
    pub help: bool,
    /// A pending question.
    pub confirm: Option<Confirm>,
    /// Leave the screen now.
    pub quit: bool,
    /// Built-in defaults, to show which params differ.
    pub defaults: Params,
}

const RECENT_CAP: usize = 200;
const BEST_CAP: usize = 10;

impl Default for LiveState {
    fn default() -> Self {
        LiveState {
            repo: String::new(),
            results: String::new(),
            threshold: 0.88,
            started: Instant::now(),
            total: 0,
            done: 0,
            counts: BTreeMap::new(),
            paused: false,
            aborting: false,
            quit_when_done: false,
            outcome: None,
            trial: None,
            group: GroupView::default(),
            best: Vec::new(),
            recent: VecDeque::new(),
            messages: VecDeque::new(),
            log: LogTail::default(),
            log_scroll: 0,
            recent_scroll: 0,
            focus: Focus::Log,
            help: false,
            confirm: None,
            quit: false,
            defaults: default_params(),
        }
    }
}

fn now_hms() -> String {
    chrono::Local::now().format("%H:%M:%S").to_string()
}

impl LiveState {
    /// Adds a message line.
    pub fn message(&mut self, text: impl Into<String>, warning: bool) {
        self.messages.push_back((now_hms(), text.into(), warning));
        while self.messages.len() > 50 {
            self.messages.pop_front();
        }
    }

    fn consider_best(&mut self, r: &Arc<Record>) {
        if !r.qualifies(self.threshold) || self.best.iter().any(|b| b.trial_key == r.trial_key) {
            return;
        }
        self.best.push(r.clone());
        self.best.sort_by(|a, b| {
            b.avg_total_tps()
                .partial_cmp(&a.avg_total_tps())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        self.best.truncate(BEST_CAP);
    }

    fn push_recent(&mut self, ordinal: usize, record: Arc<Record>, reused: bool) {
        // A reused record may come from another group: what counts here is
        // its value of this group's parameter.
        let param = if reused {
            self.group.param.clone()
        } else {
            record.param_under_test.clone().unwrap_or_default()
        };
        let value = record.params.get(&param).cloned().unwrap_or_default();
        if param == self.group.param {
            self.group.results.insert(value.clone(), record.clone());
        }
        self.consider_best(&record);
        self.done += 1;
        self.recent.push_back(Recent {
            ordinal,
            record,
            reused,
            param,
            value,
        });
        while self.recent.len() > RECENT_CAP {
            self.recent.pop_front();
        }
    }

    /// Applies an engine event.
    pub fn update(&mut self, e: &Event) {
        match e {
            Event::RunStarted {
                repo,
                results,
                total_estimate,
                threshold,
                existing_records,
                ..
            } => {
                self.repo = repo.display().to_string();
                self.results = results.display().to_string();
                self.total = *total_estimate;
                self.threshold = *threshold;
                self.message(format!("run started: {total_estimate} trials planned, {existing_records} records already in the results file"), false);
            }
            Event::GroupStarted {
                param,
                values,
                group,
                groups,
            } => {
                self.group = GroupView {
                    param: param.clone(),
                    values: values.clone(),
                    results: BTreeMap::new(),
                    label: format!("{group}/{groups}"),
                };
            }
            Event::TrialReused {
                ordinal, record, ..
            } => self.push_recent(*ordinal, record.clone(), true),
            Event::TrialStarted {
                ordinal,
                index,
                param,
                value,
                base_value,
                params,
                log_path,
                ..
            } => {
                self.trial = Some(CurrentTrial {
                    ordinal: *ordinal,
                    index: *index,
                    param: param.clone(),
                    value: value.clone(),
                    base_value: base_value.clone(),
                    params: params.clone(),
                    phase: None,
                    phase_since: Instant::now(),
                    runs: Vec::new(),
                    started: Instant::now(),
                });
                self.log.follow(log_path);
                self.log_scroll = 0;
            }
            Event::Phase { phase: p, .. } => {
                if let Some(t) = self.trial.as_mut() {
                    t.phase = Some(p.clone());
                    t.phase_since = Instant::now();
                }
            }
            Event::EvalRunFinished { run, .. } => {
                if let Some(t) = self.trial.as_mut() {
                    t.runs.push(run.clone());
                }
            }
            Event::TrialFinished { ordinal, record } => {
                *self.counts.entry(record.status.to_string()).or_default() += 1;
                self.push_recent(*ordinal, record.clone(), false);
                self.trial = None;
                self.log.poll();
            }
            Event::GroupBest { param, winner, .. } => match winner {
                Some(w) => self.message(
                    format!(
                        "{param}: best {} at {:.1} tok/s",
                        w.params.get(param).map(String::as_str).unwrap_or("?"),
                        w.avg_total_tps().unwrap_or(0.0)
                    ),
                    false,
                ),
                None => self.message(
                    format!("{param}: no value met the threshold; base unchanged"),
                    true,
                ),
            },
            Event::NewBest { record, .. } => self.message(
                format!(
                    "new best {:.1} tok/s with {}={}",
                    record.avg_total_tps().unwrap_or(0.0),
                    record.param_under_test.as_deref().unwrap_or("?"),
                    record.value_under_test().unwrap_or("?")
                ),
                false,
            ),
            Event::Paused(p) if *p == self.paused => {}
            Event::Paused(p) => {
                self.paused = *p;
                self.message(
                    if *p {
                        "paused: waiting after the current trial (p resumes)"
                    } else {
                        "resumed"
                    },
                    false,
                );
            }
            Event::Warning(w) => self.message(w.clone(), true),
            Event::RunFinished { outcome, .. } => {
                self.outcome = Some(outcome.clone());
                self.trial = None;
                self.aborting = false;
                let text = match outcome {
                    Outcome::Done => "done: every group explored; q quits".to_string(),
                    Outcome::Aborted => "aborted: the service was stopped; q quits".to_string(),
                    Outcome::Interrupted(s) => format!("interrupted by signal {s}"),
                    Outcome::Error(m) => format!("error: {m}"),
                };
                let warn = !matches!(outcome, Outcome::Done);
                self.message(text, warn);
                // A signal ends the program, not just the run.
                if self.quit_when_done || matches!(outcome, Outcome::Interrupted(_)) {
                    self.quit = true;
                }
            }
        }
    }

    /// Whether the engine still runs.
    pub fn running(&self) -> bool {
        self.outcome.is_none()
    }

    /// Applies a key action; returns the command for the engine, if any.
    pub fn apply(&mut self, a: Action, page: usize) -> Option<Command> {
        if let Some(c) = self.confirm {
            return match a {
                Action::Confirm => {
                    self.confirm = None;
                    if c == Confirm::Quit {
                        self.quit_when_done = true;
                    }
                    if self.running() {
                        self.aborting = true;
                        self.message("aborting: stopping the service...", true);
                        Some(Command::Abort)
                    } else {
                        self.quit = self.quit_when_done;
                        None
                    }
                }
                Action::Cancel | Action::Quit if a == Action::Cancel || c == Confirm::Abort => {
                    self.confirm = None;
                    None
                }
                _ => None,
            };
        }
        match a {
            Action::Skip if self.running() && self.trial.is_some() => {
                self.message("skip: stopping the running trial", false);
                Some(Command::Skip)
            }
            Action::Skip => None,
            Action::Abort if self.running() && !self.aborting => {
                self.confirm = Some(Confirm::Abort);
                None
            }
            Action::Abort => None,
            Action::Pause if self.running() => Some(Command::TogglePause),
            Action::Pause => None,
            Action::Quit => {
                if self.running() {
                    self.confirm = Some(Confirm::Quit);
                } else {
                    self.quit = true;
                }
                None
            }
            Action::Confirm => None,
            Action::Cancel => {
                self.help = false;
                None
            }
            Action::Help => {
                self.help = !self.help;
                None
            }
            Action::FocusNext => {
                self.focus = match self.focus {
                    Focus::Log => Focus::Recent,
                    Focus::Recent => Focus::Log,
                };
                None
            }
            Action::Follow => {
                self.log_scroll = 0;
                self.focus = Focus::Log;
                None
            }
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Home
            | Action::End => {
                let (max, pos) = match self.focus {
                    Focus::Log => (self.log.lines.len(), &mut self.log_scroll),
                    Focus::Recent => (self.recent.len(), &mut self.recent_scroll),
                };
                *pos = match a {
                    Action::Up => (*pos + 1).min(max),
                    Action::Down => pos.saturating_sub(1),
                    Action::PageUp => (*pos + page.max(1)).min(max),
                    Action::PageDown => pos.saturating_sub(page.max(1)),
                    Action::Home => max,
                    _ => 0,
                };
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autotune::EvalSummary;

    fn rec(key: &str, status: &str, acc: f64, tps: f64) -> Arc<Record> {
        let mut params = default_params();
        params.insert("MAX_NEW_TOKENS".into(), key.into());
        Arc::new(Record {
            trial_key: key.into(),
            status: status.into(),
            param_under_test: Some("MAX_NEW_TOKENS".into()),
            params,
            eval: Some(EvalSummary {
                avg_accuracy: Some(acc),
                avg_total_tps: Some(tps),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    #[test]
    fn best_table_keeps_qualifying_trials_fastest_first() {
        let mut s = LiveState::default();
        s.update(&Event::GroupStarted {
            param: "MAX_NEW_TOKENS".into(),
            values: vec!["64".into(), "48".into()],
            group: 1,
            groups: 1,
        });
        s.update(&Event::TrialFinished {
            ordinal: 1,
            record: rec("64", "ok", 0.89, 100.0),
        });
        s.update(&Event::TrialFinished {
            ordinal: 2,
            record: rec("48", "ok", 0.87, 900.0),
        });
        s.update(&Event::TrialReused {
            ordinal: 3,
            param: "MAX_NEW_TOKENS".into(),
            value: "32".into(),
            record: rec("32", "ok", 0.9, 300.0),
        });
        let tps: Vec<f64> = s.best.iter().map(|r| r.avg_total_tps().unwrap()).collect();
        assert_eq!(tps, [300.0, 100.0]);
        assert_eq!(s.done, 3);
        assert_eq!(s.counts.get("ok"), Some(&2));
        assert_eq!(s.group.results.len(), 3);
    }

    #[test]
    fn abort_needs_confirmation_and_quit_waits_for_the_engine() {
        let mut s = LiveState::default();
        assert_eq!(s.apply(Action::Abort, 10), None);
        assert_eq!(s.confirm, Some(Confirm::Abort));
        assert_eq!(s.apply(Action::Cancel, 10), None);
        assert_eq!(s.confirm, None);
        s.apply(Action::Abort, 10);
        assert_eq!(s.apply(Action::Confirm, 10), Some(Command::Abort));
        assert!(s.aborting && !s.quit);
        // Quit while running: confirm, abort, and leave once the engine ends.
        let mut s = LiveState::default();
        s.apply(Action::Quit, 10);
        assert_eq!(s.apply(Action::Confirm, 10), Some(Command::Abort));
        assert!(!s.quit);
        s.update(&Event::RunFinished {
            outcome: Outcome::Aborted,
            best: Params::new(),
            summary: std::sync::Arc::new(autotune::RunSummary::bare(
                Outcome::Aborted,
                &Params::new(),
            )),
        });
        assert!(s.quit);
        // After the run: q quits at once.
        let mut s = LiveState::default();
        s.update(&Event::RunFinished {
            outcome: Outcome::Done,
            best: Params::new(),
            summary: std::sync::Arc::new(autotune::RunSummary::bare(Outcome::Done, &Params::new())),
        });
        s.apply(Action::Quit, 10);
        assert!(s.quit);
    }

    #[test]
    fn skip_only_while_a_trial_runs() {
        let mut s = LiveState::default();
        assert_eq!(s.apply(Action::Skip, 10), None);
        s.update(&Event::TrialStarted {
            slot: 0,
            devices: None,
            ordinal: 1,
            index: 1,
            param: "A".into(),
            value: "1".into(),
            base_value: None,
            params: Params::new(),
            key: "A=1".into(),
            log_path: "/nonexistent".into(),
        });
        assert_eq!(s.apply(Action::Skip, 10), Some(Command::Skip));
        assert_eq!(s.apply(Action::Pause, 10), Some(Command::TogglePause));
    }

    #[test]
    fn scrolling_is_bounded_and_follow_resets() {
        let mut s = LiveState::default();
        for i in 0..30 {
            s.log.lines.push_back(format!("l{i}"));
        }
        s.apply(Action::PageUp, 10);
        s.apply(Action::PageUp, 10);
        s.apply(Action::PageUp, 10);
        s.apply(Action::PageUp, 10);
        assert_eq!(s.log_scroll, 30);
        s.apply(Action::Down, 10);
        assert_eq!(s.log_scroll, 29);
        s.apply(Action::Follow, 10);
        assert_eq!(s.log_scroll, 0);
    }
}
