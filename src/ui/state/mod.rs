//! The live screen's state and its pure updates: from engine events
//! ([`LiveState::update`]), from key actions ([`LiveState::apply`], which
//! returns the command to send to the engine, if any) and from the log
//! lines the app loop read ([`LiveState::push_log`]). Every update takes
//! `now` as an argument: nothing here reads a clock or a file, so a test can
//! replay a run and draw it exactly.

mod events;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use autotune::{BestRule, Command, Event, Outcome, RunSummary, TrialPhase, trial_key};
use autotune::{Changes, Params, default_params};
use autotune::{EvalRun, Record};

use super::keys::Action;

/// Lines of the service log kept.
pub const LOG_LINES: usize = 2000;

/// Panels that take focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The slot list (several slots only): ↑/↓ pick a slot.
    Slots,
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

/// A running trial (one per busy slot).
#[derive(Debug, Clone)]
pub struct CurrentTrial {
    /// Its devices (`--gpus`), if any.
    pub devices: Option<String>,
    /// Position in the plan (what `trial 12` counts).
    pub ordinal: usize,
    /// Log number (`trial_00011.log`).
    pub index: u32,
    /// What it changes from its base.
    pub changes: Changes,
    /// The base's value of the one parameter it changes, if any.
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
    /// A close call's re-measure of the incumbent.
    pub recheck: bool,
    pub started: Instant,
}

impl CurrentTrial {
    /// What it tests as `NAME = value`: its one parameter and value, or a
    /// pooled search's phase and what its point sets; `None` for a joint
    /// move and the base (said pair by pair).
    pub fn name_value(&self) -> Option<(&str, &str)> {
        self.changes.single().or(self.changes.as_point())
    }

    /// What it tests, in words: `NAME = value`, else its changes as a
    /// reader says them (`A=4, B=48`, `base`).
    pub fn testing(&self) -> String {
        match self.name_value() {
            Some((n, v)) => format!("{n} = {v}"),
            None => self.changes.describe(),
        }
    }
}

/// A trial that crashed, timed out or failed, kept on screen with its
/// reason and last log lines until a later trial succeeds, so a failure
/// that takes 0.3 s can still be read.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Position in the plan.
    pub ordinal: usize,
    /// Its record.
    pub record: Arc<Record>,
    /// One line: what happened and why.
    pub headline: String,
    /// The log lines that tell why (from the record's `log_tail`, else the
    /// tail the screen had read).
    pub tail: Vec<String>,
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

impl GroupView {
    /// Whether this is a refinement round: its values are joint moves
    /// (`4+48`) and `base`, so a trial is matched to it by value.
    pub fn is_joint_round(&self) -> bool {
        self.values.iter().any(|v| v == "base")
    }

    /// Whether a record of `param` at `value` (its texts) belongs to this
    /// group.
    pub fn holds(&self, param: &str, value: &str) -> bool {
        param == self.param
            || (self.is_joint_round()
                && !value.is_empty()
                && self.values.iter().any(|v| v == value))
    }

    /// The value of this group a running trial that makes `changes`
    /// stands at, if it belongs here: its value of the group's parameter;
    /// in a refinement round, its move as the round lists it (as the
    /// records say it: `4+48`, `base`).
    pub fn value_of(&self, changes: &Changes) -> Option<String> {
        if let Some((p, v)) = changes.single()
            && p == self.param
        {
            return Some(v.to_string());
        }
        let v = changes.value_text();
        (self.is_joint_round() && self.values.contains(&v)).then_some(v)
    }
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

/// Rows the scrollable panels show at the current terminal size, so that
/// scrolling stops at the first line instead of running into empty space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Viewport {
    /// Rows of the log panel.
    pub log_rows: usize,
    /// Rows of the recent-trials list (0: not on screen, Tab skips it).
    pub recent_rows: usize,
    /// Rows the help scrolls at most (0: it fits).
    pub help_max: usize,
}

/// Everything the live screen shows.
#[derive(Debug)]
pub struct LiveState {
    /// The repo.
    pub repo: String,
    /// The results file.
    pub results: String,
    /// Accuracy threshold.
    pub acc_bar: Option<f64>,
    /// The run's declared goal when it is not today's: the best table
    /// ranks by it and shows its metrics by name.
    pub goal: Option<autotune::Goal>,
    /// When the screen started.
    pub started: Instant,
    /// When the run ended (the elapsed time stops there).
    pub ended: Option<Instant>,
    /// Planned trials.
    pub total: usize,
    /// Trials done (run or reused).
    pub done: usize,
    /// What the pooled search's model believes (its runs only).
    pub beliefs: Option<Arc<autotune::Beliefs>>,
    /// How far the run is against its budget, and when that was said.
    pub progress: Option<(autotune::Progress, Instant)>,
    /// Paused after the current trial.
    pub paused: bool,
    /// An abort was asked for.
    pub aborting: bool,
    /// Quit once the engine has stopped.
    pub quit_when_done: bool,
    /// How the run ended.
    pub outcome: Option<Outcome>,
    /// What the run achieved (once it ended).
    pub summary: Option<Arc<RunSummary>>,
    /// Slots of the run (trials that may run at once).
    pub slots: usize,
    /// The running trials by slot.
    pub running: BTreeMap<usize, CurrentTrial>,
    /// The slot shown in the trial panel and the log, and that `s` skips.
    pub selected: usize,
    /// The user picked the slot: the selection no longer moves by itself
    /// (until then it moves off an idle slot to a trial that starts).
    pub picked: bool,
    /// Each slot's last service log, so an idle slot still shows what its
    /// last trial wrote (a crash in slot 2 stays readable there).
    pub last_log: BTreeMap<usize, PathBuf>,
    /// Slot-seconds of trials that ended (for the utilisation).
    pub busy_s: f64,
    /// The last failed trial, until a later one succeeds.
    pub failure: Option<Failure>,
    /// The current group.
    pub group: GroupView,
    /// Best qualifying trials, fastest first: those [`LiveState::rule`]
    /// admits among [`LiveState::candidates`], all of them (the table
    /// shows the first and always the search's choice, whatever its rank).
    pub best: Vec<Arc<Record>>,
    /// Every trial meeting the bar by its means (the latest record of each
    /// configuration): the noise learned later may admit or refuse each.
    pub candidates: Vec<Arc<Record>>,
    /// What may be shown as the best, as the search sees it: its goal, its
    /// noise policy and noise, its incumbent.
    pub rule: BestRule,
    /// Finished trials, newest last.
    pub recent: VecDeque<Recent>,
    /// Messages, newest last: (time into the run, text, is a warning).
    pub messages: VecDeque<(Duration, String, bool)>,
    /// The service log being followed (the app loop reads it).
    pub log_path: Option<PathBuf>,
    /// Its last lines, oldest first.
    pub log_lines: VecDeque<String>,
    /// Bytes of it skipped because they came too fast to show.
    pub log_skipped: u64,
    /// Lines scrolled up from the bottom of the log.
    pub log_scroll: usize,
    /// The log follows: new lines and a new trial's log come into view.
    /// Scrolling up stops it (the view stays where the user put it, also
    /// when a new trial starts) until End or `f`.
    pub log_follow: bool,
    /// Rows scrolled down the recent list from its newest (top) row; new
    /// trials keep a scrolled view on the rows it shows.
    pub recent_scroll: usize,
    /// Rows the help is scrolled (it scrolls where it does not fit).
    pub help_scroll: usize,
    /// Focused panel.
    pub focus: Focus,
    /// Help shown.
    pub help: bool,
    /// A pending question.
    pub confirm: Option<Confirm>,
    /// Text to put on the clipboard (the app loop writes it and clears it).
    pub clipboard: Option<String>,
    /// Leave the screen now.
    pub quit: bool,
    /// Built-in defaults, to show which params differ.
    pub defaults: Params,
    /// The starting configuration of the run.
    pub base: Params,
}

const RECENT_CAP: usize = 200;

/// The headline of a failed trial: its plan position, status, when, exit
/// code and reason.
pub fn failure_headline(ordinal: usize, r: &Record) -> String {
    let mut h = format!("trial {ordinal} {}", r.status);
    if let Some(s) = r.startup_s.or(r.total_s) {
        h.push_str(&format!(" after {s:.1}s"));
    }
    if let Some(c) = r.exit_code {
        h.push_str(&format!(" (exit {c})"));
    }
    let why = r
        .reason
        .as_deref()
        .or(r.health.as_deref())
        .filter(|w| !w.is_empty());
    if let Some(w) = why {
        h.push_str(": ");
        h.push_str(w);
    }
    h
}

/// The lines of a log that tell why a service died: from the last line that
/// looks like an error on (or the last lines if none does).
pub fn telling_lines(lines: &[String], max: usize) -> Vec<String> {
    let bad = |l: &String| {
        let l = l.to_ascii_lowercase();
        ["error", "traceback", "out of memory", "killed", "exception"]
            .iter()
            .any(|w| l.contains(w))
    };
    // The window ends a little after the last error line (what followed it
    // helps too), or at the end when nothing looks like an error.
    let end = match lines.iter().rposition(bad) {
        Some(i) => (i + 1 + max / 3).min(lines.len()),
        None => lines.len(),
    };
    lines[end.saturating_sub(max)..end].to_vec()
}

impl LiveState {
    /// `bar: acc ≥ 0.880`: the goal's constraints as the header shows them
    /// (`bar: p99_ttft_ms ≤ 500`), or `no bar` for a goal without any.
    pub fn bar_text(&self) -> String {
        let cs = &self.rule.goal.constraints;
        if cs.is_empty() {
            return "no bar".to_string();
        }
        let each: Vec<String> = cs
            .iter()
            .map(|c| {
                let op = match c.op {
                    autotune::Op::Ge => "≥",
                    autotune::Op::Le => "≤",
                };
                if c.name == "accuracy" {
                    format!("acc {op} {:.3}", c.bound)
                } else {
                    format!("{} {op} {}", c.name, c.bound)
                }
            })
            .collect();
        format!("bar: {}", each.join(", "))
    }

    /// `trials 12/≤137 8%, ≤3h10m left` once the engine said how far the
    /// run is; before that, the trials done of the plan.
    pub fn progress_text(&self, now: Instant) -> String {
        match self.left_text(now) {
            Some(left) => format!("{}, {left}", self.trials_text()),
            None => self.trials_text(),
        }
    }

    /// `trials 12/≤137 8%`, or before the engine said how far the run is,
    /// the trials done of the plan.
    pub fn trials_text(&self) -> String {
        match &self.progress {
            Some((p, _)) => p.trials_text(),
            None => format!("trials {}/{}", self.done, self.total),
        }
    }

    /// `≤3h10m left`, counted down while the run goes on (nothing is left
    /// of a run that ended, whatever its budget had left).
    pub fn left_text(&self, now: Instant) -> Option<String> {
        if self.outcome.is_some() {
            return None;
        }
        let (p, at) = self.progress.as_ref()?;
        let since = match self.ended {
            Some(end) => end.saturating_duration_since(*at),
            None => now.saturating_duration_since(*at),
        };
        p.left_text(since.as_secs_f64())
    }

    /// An empty screen that started at `now`.
    pub fn new(now: Instant) -> Self {
        LiveState {
            repo: String::new(),
            results: String::new(),
            acc_bar: None,
            goal: None,
            started: now,
            ended: None,
            total: 0,
            done: 0,
            progress: None,
            beliefs: None,
            paused: false,
            aborting: false,
            quit_when_done: false,
            outcome: None,
            summary: None,
            slots: 1,
            running: BTreeMap::new(),
            selected: 0,
            picked: false,
            last_log: BTreeMap::new(),
            busy_s: 0.0,
            failure: None,
            group: GroupView::default(),
            best: Vec::new(),
            candidates: Vec::new(),
            rule: BestRule::plain(autotune::Goal::default_for(0.88)),
            recent: VecDeque::new(),
            messages: VecDeque::new(),
            log_path: None,
            log_lines: VecDeque::new(),
            log_skipped: 0,
            log_scroll: 0,
            log_follow: true,
            recent_scroll: 0,
            help_scroll: 0,
            focus: Focus::Log,
            help: false,
            confirm: None,
            clipboard: None,
            quit: false,
            defaults: default_params(),
            base: default_params(),
        }
    }

    /// An empty screen for a run of `slots` slots; with several, the slot
    /// list has the focus so ↑/↓ pick a slot at once.
    pub fn with_slots(now: Instant, slots: usize) -> Self {
        let mut s = LiveState::new(now);
        s.slots = slots.max(1);
        if s.slots > 1 {
            s.focus = Focus::Slots;
        }
        s
    }

    /// The trial of the selected slot, if one runs there.
    pub fn trial(&self) -> Option<&CurrentTrial> {
        self.running.get(&self.selected)
    }

    /// Whether the run has several slots (the screen then shows them).
    pub fn multi(&self) -> bool {
        self.slots > 1
    }

    /// Busy slot-time over available slot-time since the run started, at
    /// `now` (stopped at the end of the run); `None` before any time passed.
    pub fn utilisation(&self, now: Instant) -> Option<f64> {
        let end = self.ended.unwrap_or(now);
        let total = self.elapsed(now).as_secs_f64() * self.slots as f64;
        if total <= 0.0 {
            return None;
        }
        let busy: f64 = self.busy_s
            + self
                .running
                .values()
                .map(|t| end.saturating_duration_since(t.started).as_secs_f64())
                .sum::<f64>();
        Some((busy / total).clamp(0.0, 1.0))
    }

    /// Shows slot `n` (its trial, its log); out of range does nothing.
    pub fn select(&mut self, n: usize) {
        if n >= self.slots || n == self.selected {
            return;
        }
        self.selected = n;
        self.show_log(self.last_log.get(&n).cloned());
    }

    /// Follows `path` in the log panel from its start.
    fn show_log(&mut self, path: Option<PathBuf>) {
        if path == self.log_path && path.is_some() {
            return;
        }
        self.log_path = path;
        self.log_lines.clear();
        self.log_skipped = 0;
        self.log_scroll = 0;
        self.log_follow = true;
    }

    /// Follows the log again: its newest lines, in the selected slot's
    /// latest log (a trial that started while the view was held).
    fn follow_log(&mut self) {
        self.log_scroll = 0;
        self.log_follow = true;
        if let Some(newer) = self.newer_log().map(PathBuf::from) {
            self.show_log(Some(newer));
        }
    }

    /// The selected slot's latest log when the log panel holds an older
    /// one (the user scrolled it and a trial started since).
    pub fn newer_log(&self) -> Option<&std::path::Path> {
        self.last_log
            .get(&self.selected)
            .filter(|p| self.log_path.as_ref() != Some(*p))
            .map(PathBuf::as_path)
    }

    /// Time into the run at `now` (stopped at the end of the run).
    pub fn elapsed(&self, now: Instant) -> Duration {
        self.ended
            .unwrap_or(now)
            .saturating_duration_since(self.started)
    }

    /// Adds a message line.
    pub fn message(&mut self, text: impl Into<String>, warning: bool, now: Instant) {
        let at = self.elapsed(now);
        self.messages.push_back((at, text.into(), warning));
        while self.messages.len() > 50 {
            self.messages.pop_front();
        }
    }

    /// Appends lines the app loop read from the followed log.
    pub fn push_log(&mut self, lines: impl IntoIterator<Item = String>, skipped_bytes: u64) {
        let before = self.log_lines.len();
        self.log_lines.extend(lines);
        let added = self.log_lines.len() - before;
        // A scrolled view stays on the lines it shows.
        if self.log_scroll > 0 {
            self.log_scroll += added;
        }
        while self.log_lines.len() > LOG_LINES {
            self.log_lines.pop_front();
        }
        self.log_skipped += skipped_bytes;
    }

    /// The winner so far: the run's result once it ended; else, under a
    /// noise policy, the search's choice (its incumbent, once a group chose
    /// it); else (or before) the fastest qualifying trial seen.
    pub fn winner(&self) -> Option<&Params> {
        match &self.summary {
            Some(s) => Some(&s.best),
            None => self.chosen().or(self.best.first()).map(|r| &r.params),
        }
    }

    /// Under a noise policy, the row of the best table that is the search's
    /// current choice (the table is fastest first, and a faster row the
    /// search did not take can stand above it).
    pub fn chosen(&self) -> Option<&Arc<Record>> {
        self.rule.policy?;
        let key = self.rule.incumbent.as_deref()?;
        self.best.iter().find(|r| r.trial_key == key)
    }

    /// Keeps a record that meets the bar by its means as a candidate (a
    /// re-measure of a close call pools more runs: its figures replace the
    /// earlier ones of the same configuration), then ranks.
    fn consider_best(&mut self, r: &Arc<Record>) {
        // The latest record of a configuration stands for it, also when it
        // no longer meets the bar.
        self.candidates.retain(|b| b.trial_key != r.trial_key);
        if !self.rule.goal.qualifies(r) {
            self.rank_best();
            return;
        }
        self.candidates.push(r.clone());
        self.rank_best();
    }

    /// The best table: what the search's rule admits, best first (a trial
    /// over the bar only within the noise is not shown as a best). Not cut
    /// to a length: a re-measure of the incumbent can pool it below ten
    /// faster rows, and the table must still find the search's choice.
    fn rank_best(&mut self) {
        self.best = self.rule.rank(&self.candidates);
    }

    fn group_best_message(&mut self, param: &str, winner: Option<&Arc<Record>>, now: Instant) {
        match winner {
            Some(w) => self.message(
                format!(
                    "{param}: best {} at {:.1} tok/s",
                    w.value_in_group(param),
                    w.avg_total_tps().unwrap_or(0.0)
                ),
                false,
                now,
            ),
            None => self.message(
                format!("{param}: no value met the threshold; base unchanged"),
                true,
                now,
            ),
        }
    }

    fn push_recent(&mut self, ordinal: usize, record: Arc<Record>, reused: bool) {
        // A reused record may come from another group: what counts here is
        // its value of this group's parameter.
        let param = if reused {
            self.group.param.clone()
        } else {
            record.param_under_test.clone().unwrap_or_default()
        };
        // A joint move's value is its values joined (`4+48`), as the group
        // lists it; the only record a refinement round reuses is its base.
        let value = match record.params.get(&param) {
            Some(v) => v.clone(),
            None if reused && self.group.is_joint_round() => "base".into(),
            None => record
                .value_under_test()
                .map(|v| v.into_owned())
                .unwrap_or_default(),
        };
        // Matched by value only in a refinement round (elsewhere a trial of
        // another parameter may share a value string).
        if self.group.holds(&param, &value) {
            self.group.results.insert(value.clone(), record.clone());
        }
        self.consider_best(&record);
        self.done += 1;
        // A scrolled list stays on the rows it shows.
        if self.recent_scroll > 0 {
            self.recent_scroll += 1;
        }
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

    /// Whether the engine still runs.
    pub fn running(&self) -> bool {
        self.outcome.is_none()
    }

    /// Whether a key's action does anything now (the footer offers only
    /// those).
    pub fn offers(&self, a: Action) -> bool {
        match a {
            Action::Skip => self.running() && self.trial().is_some() && !self.aborting,
            Action::SkipAll => {
                self.multi() && self.running() && !self.running.is_empty() && !self.aborting
            }
            Action::Slot(n) => self.multi() && (n as usize) < self.slots,
            Action::Abort => self.running() && !self.aborting,
            Action::Pause => self.running() && !self.aborting,
            Action::Copy => self.winner().is_some(),
            Action::Confirm => self.confirm.is_some(),
            _ => true,
        }
    }

    /// A key while a confirmation is asked: confirm (abort, or quit after
    /// aborting), cancel, or nothing.
    fn confirmed(&mut self, c: Confirm, a: Action, now: Instant) -> Option<Command> {
        match a {
            Action::Confirm => {
                self.confirm = None;
                if c == Confirm::Quit {
                    self.quit_when_done = true;
                }
                if self.running() {
                    self.aborting = true;
                    self.message("aborting: stopping the service...", true, now);
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
        }
    }

    /// Puts the winner (the best so far while running) on the clipboard as
    /// export lines.
    fn copy_winner(&mut self, now: Instant) {
        match self.winner().cloned() {
            Some(p) => {
                let what = if self.running() {
                    "the best so far"
                } else {
                    "the winner"
                };
                self.clipboard = Some(super::osc52::exports(&p));
                self.message(
                    format!(
                        "copied {what} to the clipboard: {} export lines (OSC 52)",
                        p.len()
                    ),
                    false,
                    now,
                );
            }
            None => self.message(
                "nothing to copy yet: no trial met the accuracy bar",
                true,
                now,
            ),
        }
    }

    /// Scrolls the focused panel: the log (oldest line at the top, newest
    /// at the bottom) or the recent trials (newest at the top). Up and
    /// Home go to the top of either, Down and End to the bottom; the log
    /// follows again at its bottom, the recent list at its top.
    fn scroll(&mut self, a: Action, view: Viewport) {
        match self.focus {
            Focus::Log | Focus::Slots => {
                if a == Action::End {
                    return self.follow_log();
                }
                // Scrolling stops where the first line reaches the top.
                let max = self.log_lines.len().saturating_sub(view.log_rows);
                let page = (view.log_rows / 2).max(1);
                let pos = self.log_scroll;
                self.log_scroll = match a {
                    Action::Up => (pos + 1).min(max),
                    Action::Down => pos.saturating_sub(1),
                    Action::PageUp => (pos + page).min(max),
                    Action::PageDown => pos.saturating_sub(page),
                    Action::Home => max,
                    _ => pos,
                };
                if self.log_scroll > 0 {
                    self.log_follow = false;
                } else if self.newer_log().is_none() {
                    // Back at the bottom of the followed log: following.
                    self.log_follow = true;
                }
            }
            Focus::Recent => {
                let max = self.recent.len().saturating_sub(view.recent_rows);
                let page = (view.recent_rows / 2).max(1);
                let pos = self.recent_scroll;
                self.recent_scroll = match a {
                    Action::Up => pos.saturating_sub(1),
                    Action::Down => (pos + 1).min(max),
                    Action::PageUp => pos.saturating_sub(page),
                    Action::PageDown => (pos + page).min(max),
                    Action::Home => 0,
                    Action::End => max,
                    _ => pos,
                };
            }
        }
    }

    /// `s` (the selected slot's trial, or the only one) or `S` (every
    /// running trial), when offered.
    fn skip(&mut self, a: Action, now: Instant) -> Option<Command> {
        if !self.offers(a) {
            return None;
        }
        if a == Action::SkipAll {
            self.message(
                format!("skip: stopping all {} running trials", self.running.len()),
                false,
                now,
            );
            return Some(Command::Skip);
        }
        if !self.multi() {
            self.message("skip: stopping the running trial", false, now);
            return Some(Command::Skip);
        }
        let (slot, ordinal) = (self.selected, self.trial().map_or(0, |t| t.ordinal));
        self.message(
            format!("skip: stopping trial {ordinal} in slot {slot}"),
            false,
            now,
        );
        Some(Command::SkipSlot(slot))
    }

    /// The help overlay scrolled by a scroll key.
    fn scroll_help(&mut self, a: Action, view: Viewport) {
        let (pos, max, page) = (self.help_scroll, view.help_max, 10);
        self.help_scroll = match a {
            Action::Up => pos.saturating_sub(1),
            Action::Down => pos + 1,
            Action::PageUp => pos.saturating_sub(page),
            Action::PageDown => pos + page,
            Action::Home => 0,
            _ => max,
        }
        .min(max);
    }

    /// The slot list's selection moved (drawn slot 0 first: ↑ goes to the
    /// previous).
    fn move_slot(&mut self, a: Action) {
        let last = self.slots.saturating_sub(1);
        let n = match a {
            Action::Up => self.selected.saturating_sub(1),
            Action::Down => (self.selected + 1).min(last),
            Action::Home => 0,
            _ => last,
        };
        self.picked = true;
        self.select(n);
    }

    /// Applies a key action at `now`, with `view` the rows the scrollable
    /// panels show; returns the command for the engine, if any.
    pub fn apply(&mut self, a: Action, view: Viewport, now: Instant) -> Option<Command> {
        if let Some(c) = self.confirm {
            return self.confirmed(c, a, now);
        }
        match a {
            Action::Skip | Action::SkipAll => self.skip(a, now),
            Action::Slot(n) => {
                if (n as usize) < self.slots {
                    self.picked = true;
                    self.select(n as usize);
                }
                None
            }
            Action::Abort if self.offers(a) => {
                self.confirm = Some(Confirm::Abort);
                None
            }
            Action::Abort => None,
            Action::Pause if self.offers(a) => Some(Command::TogglePause),
            Action::Pause => None,
            Action::Copy => {
                self.copy_winner(now);
                None
            }
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
                self.help_scroll = 0;
                None
            }
            // The help, where it does not fit, scrolls with the same keys.
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Home
            | Action::End
                if self.help =>
            {
                self.scroll_help(a, view);
                None
            }
            Action::FocusNext => {
                // The recent list only where it is on screen.
                let recent = view.recent_rows > 0;
                self.focus = match self.focus {
                    Focus::Slots => Focus::Log,
                    Focus::Log if recent => Focus::Recent,
                    Focus::Log | Focus::Recent if self.multi() => Focus::Slots,
                    Focus::Log | Focus::Recent => Focus::Log,
                };
                None
            }
            Action::Up | Action::Down | Action::Home | Action::End
                if self.focus == Focus::Slots =>
            {
                self.move_slot(a);
                None
            }
            Action::Follow => {
                self.follow_log();
                self.focus = Focus::Log;
                None
            }
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Home
            | Action::End => {
                self.scroll(a, view);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autotune::EvalSummary;

    const VIEW: Viewport = Viewport {
        log_rows: 10,
        recent_rows: 10,
        help_max: 0,
    };

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

    /// A refinement round lists its joint moves (`4+48`) and its base: the
    /// results land on them, and the recent trials name them.
    #[test]
    fn a_refinement_round_shows_its_joint_moves_and_base() {
        let mut s = LiveState::new(Instant::now());
        s.update(
            &Event::GroupStarted {
                param: "refinement".into(),
                values: vec!["base".into(), "4+48".into()],
                group: 1,
                groups: 1,
                stage: autotune::Stage::Refinement(1),
                budget_left: None,
            },
            Instant::now(),
        );
        s.update(
            &Event::TrialReused {
                ordinal: 1,
                changes: autotune::Changes::base(),
                record: rec("64", "ok", 0.9, 100.0),
            },
            Instant::now(),
        );
        let mut joint = (*rec("48", "ok", 0.9, 120.0)).clone();
        joint
            .params
            .insert("OUTPUT_MAX_SENTENCES".into(), "4".into());
        joint.param_under_test = Some("OUTPUT_MAX_SENTENCES+MAX_NEW_TOKENS".into());
        s.update(
            &Event::TrialFinished {
                ordinal: 2,
                record: Arc::new(joint.clone()),
            },
            Instant::now(),
        );
        assert!(
            s.group.results.contains_key("base"),
            "{:?}",
            s.group.results.keys()
        );
        assert!(
            s.group.results.contains_key("4+48"),
            "{:?}",
            s.group.results.keys()
        );
        let recent: Vec<(&str, &str)> = s
            .recent
            .iter()
            .map(|r| (r.param.as_str(), r.value.as_str()))
            .collect();
        assert_eq!(
            recent,
            [
                ("refinement", "base"),
                ("OUTPUT_MAX_SENTENCES+MAX_NEW_TOKENS", "4+48")
            ]
        );
        assert_eq!(
            joint.value_in_group("refinement"),
            "OUTPUT_MAX_SENTENCES+MAX_NEW_TOKENS=4+48"
        );
        // On screen, each parameter of the move with its own value: in the
        // group panel and in recent trials, shortened by initials when
        // narrow, never `4+48`.
        let t = crate::ui::theme::Theme { color: false };
        let (wide, _) = crate::ui::panels::snap::render(90, 6, |f| {
            crate::ui::panels::best::draw_group(f, f.area(), &s, &t)
        });
        assert!(
            wide.contains("OUTPUT_MAX_SENTENCES=4, MAX_NEW_TOKENS=48"),
            "{wide}"
        );
        let (recent, _) = crate::ui::panels::snap::render(64, 6, |f| {
            crate::ui::panels::recent::draw(f, f.area(), &s, &t)
        });
        assert!(
            recent.contains("O_M_SENTENCES=4, M_N_TOKENS=48"),
            "{recent}"
        );
        assert!(
            !recent.contains("4+48") && !wide.contains("4+48"),
            "{recent}\n{wide}"
        );
    }

    /// A joint move running is said pair by pair in the trial panel, the
    /// slot list and the footer, never as the results file's `A+B = 4+48`;
    /// the round's panel marks it running.
    #[test]
    fn a_running_joint_move_is_said_pair_by_pair() {
        let now = Instant::now();
        let mut s = LiveState::new(now);
        s.slots = 2;
        s.update(
            &Event::GroupStarted {
                param: "refinement".into(),
                values: vec!["base".into(), "4+48".into()],
                group: 1,
                groups: 1,
                stage: autotune::Stage::Refinement(1),
                budget_left: None,
            },
            now,
        );
        let mut params = default_params();
        params.insert("OUTPUT_MAX_SENTENCES".into(), "4".into());
        params.insert("MAX_NEW_TOKENS".into(), "48".into());
        s.update(
            &Event::TrialStarted {
                slot: 0,
                devices: None,
                ordinal: 2,
                index: 2,
                changes: Changes::moves([
                    ("OUTPUT_MAX_SENTENCES".into(), "4".into()),
                    ("MAX_NEW_TOKENS".into(), "48".into()),
                ]),
                base_value: None,
                key: trial_key(&params),
                params,
                log_path: "/l".into(),
                recheck: false,
            },
            now,
        );
        let t = crate::ui::theme::Theme { color: false };
        let (trial, _) = crate::ui::panels::snap::render(120, 8, |f| {
            crate::ui::panels::trial::draw(f, f.area(), &s, &t, now)
        });
        assert!(
            trial.contains("OUTPUT_MAX_SENTENCES=4, MAX_NEW_TOKENS=48"),
            "{trial}"
        );
        let (slots, _) = crate::ui::panels::snap::render(120, 4, |f| {
            crate::ui::panels::slots::draw(f, f.area(), &s, &t, now)
        });
        assert!(
            slots.contains("OUTPUT_MAX_SENTENCES=4, MAX_NEW_TOKENS=48"),
            "{slots}"
        );
        let (group, _) = crate::ui::panels::snap::render(90, 6, |f| {
            crate::ui::panels::best::draw_group(f, f.area(), &s, &t)
        });
        assert!(
            group
                .lines()
                .any(|l| l.contains('▶') && l.contains("running")),
            "{group}"
        );
        for text in [&trial, &slots] {
            assert!(!text.contains("4+48") && !text.contains("+MAX"), "{text}");
        }
    }

    #[test]
    fn best_table_keeps_qualifying_trials_fastest_first() {
        let mut s = LiveState::new(Instant::now());
        s.update(
            &Event::GroupStarted {
                param: "MAX_NEW_TOKENS".into(),
                values: vec!["64".into(), "48".into()],
                group: 1,
                groups: 1,
                stage: autotune::Stage::Pass(1),
                budget_left: None,
            },
            Instant::now(),
        );
        s.update(
            &Event::TrialFinished {
                ordinal: 1,
                record: rec("64", "ok", 0.89, 100.0),
            },
            Instant::now(),
        );
        s.update(
            &Event::TrialFinished {
                ordinal: 2,
                record: rec("48", "ok", 0.87, 900.0),
            },
            Instant::now(),
        );
        s.update(
            &Event::TrialReused {
                ordinal: 3,
                changes: autotune::Changes::one("MAX_NEW_TOKENS", "32"),
                record: rec("32", "ok", 0.9, 300.0),
            },
            Instant::now(),
        );
        let tps: Vec<f64> = s.best.iter().map(|r| r.avg_total_tps().unwrap()).collect();
        assert_eq!(tps, [300.0, 100.0]);
        assert_eq!(s.done, 3);
        assert_eq!(s.group.results.len(), 3);
    }

    #[test]
    fn abort_needs_confirmation_and_quit_waits_for_the_engine() {
        let mut s = LiveState::new(Instant::now());
        assert_eq!(s.apply(Action::Abort, VIEW, Instant::now()), None);
        assert_eq!(s.confirm, Some(Confirm::Abort));
        assert_eq!(s.apply(Action::Cancel, VIEW, Instant::now()), None);
        assert_eq!(s.confirm, None);
        s.apply(Action::Abort, VIEW, Instant::now());
        assert_eq!(
            s.apply(Action::Confirm, VIEW, Instant::now()),
            Some(Command::Abort)
        );
        assert!(s.aborting && !s.quit);
        // Quit while running: confirm, abort, and leave once the engine ends.
        let mut s = LiveState::new(Instant::now());
        s.apply(Action::Quit, VIEW, Instant::now());
        assert_eq!(
            s.apply(Action::Confirm, VIEW, Instant::now()),
            Some(Command::Abort)
        );
        assert!(!s.quit);
        s.update(
            &Event::RunFinished {
                outcome: Outcome::Aborted,
                best: Params::new(),
                summary: std::sync::Arc::new(autotune::RunSummary::bare(
                    Outcome::Aborted,
                    &Params::new(),
                )),
            },
            Instant::now(),
        );
        assert!(s.quit);
        // After the run: q quits at once.
        let mut s = LiveState::new(Instant::now());
        s.update(
            &Event::RunFinished {
                outcome: Outcome::Done,
                best: Params::new(),
                summary: std::sync::Arc::new(autotune::RunSummary::bare(
                    Outcome::Done,
                    &Params::new(),
                )),
            },
            Instant::now(),
        );
        s.apply(Action::Quit, VIEW, Instant::now());
        assert!(s.quit);
    }

    #[test]
    fn skip_only_while_a_trial_runs() {
        let mut s = LiveState::new(Instant::now());
        assert_eq!(s.apply(Action::Skip, VIEW, Instant::now()), None);
        s.update(
            &Event::TrialStarted {
                slot: 0,
                devices: None,
                ordinal: 1,
                index: 1,
                changes: autotune::Changes::one("A", "1"),
                base_value: None,
                params: Params::new(),
                key: "A=1".into(),
                log_path: "/nonexistent".into(),
                recheck: false,
            },
            Instant::now(),
        );
        assert_eq!(
            s.apply(Action::Skip, VIEW, Instant::now()),
            Some(Command::Skip)
        );
        assert_eq!(
            s.apply(Action::Pause, VIEW, Instant::now()),
            Some(Command::TogglePause)
        );
    }

    fn start(slot: usize, ordinal: usize) -> Event {
        Event::TrialStarted {
            slot,
            devices: Some(slot.to_string()),
            ordinal,
            index: ordinal as u32,
            changes: autotune::Changes::one("A", ordinal.to_string()),
            base_value: None,
            params: Params::new(),
            key: format!("A={ordinal}"),
            log_path: format!("/logs/trial_{ordinal:05}.log").into(),
            recheck: false,
        }
    }

    fn finish(slot: usize, ordinal: usize, status: &str) -> Event {
        let mut r = (*rec(&ordinal.to_string(), status, 0.9, 100.0)).clone();
        r.extra.insert("slot".into(), slot.into());
        Event::TrialFinished {
            ordinal,
            record: Arc::new(r),
        }
    }

    #[test]
    fn several_slots_pick_skip_follow_logs_and_count_utilisation() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut s = LiveState::with_slots(t0, 4);
        assert_eq!(s.focus, Focus::Slots);
        // S and s need a running trial.
        assert_eq!(s.apply(Action::SkipAll, VIEW, at(0)), None);
        s.update(&start(0, 1), at(0));
        s.update(&start(1, 2), at(0));
        s.update(&start(2, 3), at(10));
        assert_eq!(s.running.len(), 3);
        assert_eq!(
            s.log_path.as_deref(),
            Some("/logs/trial_00001.log".as_ref())
        );
        // ↓ picks slot 1: its trial and its log; s skips that slot only.
        s.apply(Action::Down, VIEW, at(10));
        assert_eq!((s.selected, s.trial().unwrap().ordinal), (1, 2));
        assert_eq!(
            s.log_path.as_deref(),
            Some("/logs/trial_00002.log".as_ref())
        );
        assert_eq!(
            s.apply(Action::Skip, VIEW, at(10)),
            Some(Command::SkipSlot(1))
        );
        assert_eq!(s.apply(Action::SkipAll, VIEW, at(10)), Some(Command::Skip));
        // A digit picks; an idle slot shows nothing to skip; out of range
        // does nothing.
        s.apply(Action::Slot(3), VIEW, at(10));
        assert_eq!(s.selected, 3);
        assert!(s.trial().is_none() && !s.offers(Action::Skip));
        s.apply(Action::Slot(7), VIEW, at(10));
        assert_eq!(s.selected, 3);
        // Slot 0 ends after 20 s; the others run on. At 20 s: busy
        // 20 + 20 + 10 slot-seconds of 4 × 20.
        s.update(&finish(0, 1, "ok"), at(20));
        assert_eq!(s.running.len(), 2);
        let u = s.utilisation(at(20)).unwrap();
        assert!((u - 50.0 / 80.0).abs() < 1e-9, "{u}");
        // A finished trial's slot is its record's, whatever else ended.
        s.update(&finish(2, 3, "pruned"), at(20));
        assert_eq!(s.running.keys().copied().collect::<Vec<_>>(), [1]);
        let f = s.failure.as_ref().expect("the pruned reason is pinned");
        assert_eq!(f.record.status, "pruned");
        // Ended: every running slot's time is counted and the clock stops.
        s.update(
            &Event::RunFinished {
                outcome: Outcome::Done,
                best: Params::new(),
                summary: Arc::new(RunSummary::bare(Outcome::Done, &Params::new())),
            },
            at(40),
        );
        assert!(s.running.is_empty());
        let u = s.utilisation(at(99)).unwrap();
        assert!((u - (20.0 + 40.0 + 10.0) / 160.0).abs() < 1e-9, "{u}");
    }

    #[test]
    fn without_a_pick_the_screen_moves_off_an_idle_slot() {
        let t0 = Instant::now();
        let mut s = LiveState::with_slots(t0, 2);
        s.update(&start(0, 1), t0);
        s.update(&start(1, 2), t0);
        assert_eq!(s.selected, 0);
        s.update(&finish(0, 1, "ok"), t0);
        assert_eq!(s.selected, 1, "moved to the slot that runs");
        assert_eq!(
            s.log_path.as_deref(),
            Some("/logs/trial_00002.log".as_ref())
        );
        // Once the user picked a slot, it stays.
        s.apply(Action::Slot(0), VIEW, t0);
        s.update(&finish(1, 2, "ok"), t0);
        s.update(&start(1, 3), t0);
        assert_eq!(s.selected, 0);
    }

    #[test]
    fn scrolling_stops_at_the_first_line_and_follow_resets() {
        let mut s = LiveState::new(Instant::now());
        s.push_log((0..30).map(|i| format!("l{i}")), 0);
        for _ in 0..4 {
            s.apply(Action::PageUp, VIEW, Instant::now());
        }
        // 30 lines in 10 rows: the top is 20 up, not 30 (empty space).
        assert_eq!(s.log_scroll, 20);
        s.apply(Action::Home, VIEW, Instant::now());
        assert_eq!(s.log_scroll, 20);
        s.apply(Action::Down, VIEW, Instant::now());
        assert_eq!(s.log_scroll, 19);
        // New lines keep a scrolled view on what it shows.
        s.push_log(["new".to_string()], 0);
        assert_eq!(s.log_scroll, 20);
        s.apply(Action::Follow, VIEW, Instant::now());
        assert_eq!(s.log_scroll, 0);
    }

    #[test]
    fn elapsed_stops_when_the_run_ends() {
        let t0 = Instant::now();
        let mut s = LiveState::new(t0);
        assert_eq!(s.elapsed(t0 + Duration::from_secs(5)).as_secs(), 5);
        s.update(
            &Event::RunFinished {
                outcome: Outcome::Done,
                best: Params::new(),
                summary: Arc::new(RunSummary::bare(Outcome::Done, &Params::new())),
            },
            t0 + Duration::from_secs(7),
        );
        assert_eq!(s.elapsed(t0 + Duration::from_secs(60)).as_secs(), 7);
        // Done: nothing to skip, abort or pause; export and quit remain.
        assert!(!s.offers(Action::Skip) && !s.offers(Action::Abort) && !s.offers(Action::Pause));
        assert!(s.offers(Action::Copy) && s.offers(Action::Quit));
    }

    #[test]
    fn a_crash_keeps_its_reason_and_log_lines_until_a_trial_succeeds() {
        let t0 = Instant::now();
        let mut s = LiveState::new(t0);
        let mut crash = (*rec("99", "crashed", 0.0, 0.0)).clone();
        crash.eval = None;
        crash.exit_code = Some(1);
        crash.startup_s = Some(0.3);
        crash.health = Some("exited during start-up with code 1".into());
        crash.server_log = Some("tune_server_logs/trial_00003.log".into());
        crash.extra.insert(
            "log_tail".into(),
            serde_json::json!([
                "loading model weights...",
                "torch.OutOfMemoryError: CUDA out of memory.",
                "shutting down"
            ]),
        );
        s.update(
            &Event::TrialFinished {
                ordinal: 3,
                record: Arc::new(crash),
            },
            t0,
        );
        let f = s.failure.as_ref().expect("the failure is kept");
        assert_eq!(
            f.headline,
            "trial 3 crashed after 0.3s (exit 1): exited during start-up with code 1"
        );
        assert!(f.tail.iter().any(|l| l.contains("CUDA out of memory")));
        let (_, msg, warn) = s.messages.back().unwrap();
        assert!(*warn && msg.contains("CUDA out of memory"), "{msg}");
        // The next trial starting does not hide it; a success does.
        s.update(
            &Event::TrialStarted {
                slot: 0,
                devices: None,
                ordinal: 4,
                index: 4,
                changes: autotune::Changes::one("A", "1"),
                base_value: None,
                params: Params::new(),
                key: "A=1".into(),
                log_path: "/nonexistent".into(),
                recheck: false,
            },
            t0,
        );
        assert!(s.failure.is_some());
        s.update(
            &Event::TrialFinished {
                ordinal: 4,
                record: rec("64", "ok", 0.9, 100.0),
            },
            t0,
        );
        assert!(s.failure.is_none());
    }

    #[test]
    fn copy_puts_the_winner_as_export_lines_on_the_clipboard() {
        let t0 = Instant::now();
        let mut s = LiveState::new(t0);
        s.apply(Action::Copy, VIEW, t0);
        assert!(s.clipboard.is_none(), "nothing met the bar yet");
        s.update(
            &Event::TrialFinished {
                ordinal: 1,
                record: rec("64", "ok", 0.9, 100.0),
            },
            t0,
        );
        s.apply(Action::Copy, VIEW, t0);
        let text = s.clipboard.take().unwrap();
        assert!(text.contains("export MAX_NEW_TOKENS=64\n"), "{text}");
        assert!(
            s.messages
                .back()
                .unwrap()
                .1
                .starts_with("copied the best so far")
        );
    }
}
