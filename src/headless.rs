//! The headless front end: one readable line per event on stdout. With
//! several slots every trial line names its slot; figures are means with
//! the half-width of their 95 % interval (`tps 5202.7 ± 52.7`), and a
//! pruned trial says why it was stopped.

use std::io::Write;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::ui::printable;
use autotune::fig;
use autotune::{BestRule, Event, Outcome, Status, TrialPhase, trial_key};

/// A record's result in one line: status, means ± 95 % half-widths, runs
/// and time, then why it ended early (pruned, crashed...) and whether it
/// re-measured a close call.
pub fn record_text(r: &autotune::Record) -> String {
    let runs = r
        .eval
        .as_ref()
        .and_then(|s| s.eval_runs.as_ref())
        .map_or(0, |v| v.len());
    let mut t = match &r.eval {
        Some(s) if runs > 0 => {
            let pm = with_ci;
            let mut t = format!(
                "{:<8} acc {} tps {} answer {} time {}s ({}/{} runs ok, {}s)",
                r.status,
                pm(s.avg_accuracy, s.ci95_accuracy, 4),
                pm(s.avg_total_tps, s.ci95_total_tps, 1),
                fig(s.avg_answer_tps, 1),
                fig(s.avg_total_time_s, 2),
                s.eval_ok_n.unwrap_or(0),
                runs,
                fig(r.total_s, 1)
            );
            if let Some(why) = r.reason.as_deref().filter(|w| !w.is_empty()) {
                t.push_str(": ");
                t.push_str(why);
            }
            t
        }
        // No eval figures: the record's own words (status, exit, reason).
        _ => r.summary_text(),
    };
    if r.extra.get("recheck") == Some(&serde_json::Value::Bool(true)) {
        t.push_str(" [recheck of a close call]");
    }
    t
}

/// A line of an output's tail under its event's line: control characters
/// (a progress bar's carriage return) left out.
fn tail_line(t: &str) -> String {
    let mut l = "           | ".to_string();
    l.extend(t.chars().filter(|c| !c.is_control() || *c == '\t'));
    l
}

/// A group (or a refinement round) begins.
fn group_line(e: &Event) -> String {
    let Event::GroupStarted {
        param,
        values,
        group,
        groups,
        stage,
        budget_left,
    } = e
    else {
        unreachable!("called for Event::GroupStarted")
    };
    let left = budget_left
        .map(|n| format!(", {n} trials left"))
        .unwrap_or_default();
    if matches!(stage, autotune::Stage::Refinement(_)) {
        format!("== {stage}{left}: joint moves {}", values.join(" "))
    } else {
        format!(
            "== group {group}/{groups} {param}: {} ({stage}{left})",
            values.join(" ")
        )
    }
}

/// `X ± Y`, or `X` without an interval.
fn with_ci(m: Option<f64>, ci: Option<f64>, prec: usize) -> String {
    match ci {
        Some(c) => format!("{} ± {c:.prec$}", fig(m, prec)),
        None => fig(m, prec),
    }
}

/// Turns events into lines.
#[derive(Default)]
pub struct LineLog {
    total: usize,
    /// Per slot: the running trial's tag (`[ 3/55] s1 PARAM=value`).
    current: std::collections::BTreeMap<usize, String>,
    /// More than one slot was seen: lines name their slot.
    slots: bool,
    paused: bool,
    /// What may be called the best, as the search sees it (a trial over
    /// the bar only within the noise says so).
    rule: Option<BestRule>,
    /// How far the run is (said on each trial's end).
    progress: Option<autotune::Progress>,
}

impl LineLog {
    /// A line log for a run of `slots` slots: with several, every trial
    /// line names its slot from the first one on.
    pub fn new(slots: usize) -> Self {
        LineLog {
            slots: slots > 1,
            ..Default::default()
        }
    }

    /// `[12/55]` within the first pass's plan; past it (later passes,
    /// re-measures, joint moves) the plan has grown: `[124]`.
    fn tag(&self, ordinal: usize) -> String {
        let w = self.total.to_string().len().max(2);
        if ordinal > self.total {
            format!("[{ordinal:>w$}]")
        } else {
            format!("[{ordinal:>w$}/{}]", self.total)
        }
    }

    fn cur(&self, slot: usize) -> &str {
        self.current.get(&slot).map(String::as_str).unwrap_or("")
    }

    fn start_line(&mut self, e: &Event) -> String {
        let Event::RunStarted {
            repo,
            results,
            total_estimate,
            existing_records,
            choice,
            goal,
            policy,
            slots,
            base,
            ..
        } = e
        else {
            unreachable!("called for Event::RunStarted")
        };
        self.total = *total_estimate;
        self.slots |= *slots > 1;
        self.rule = Some(BestRule {
            goal: goal.clone(),
            policy: *policy,
            noise: Default::default(),
            incumbent: Some(trial_key(base)),
        });
        format!(
            "tuning {} : {} trials planned{}, {} records in {}, {}, best so far {}",
            repo.display(),
            total_estimate,
            if *slots > 1 {
                format!(" ({slots} at once)")
            } else {
                String::new()
            },
            existing_records,
            results.display(),
            // Today's goal in auto_tune.py's words; any other as the goal.
            match goal.accuracy_threshold() {
                Some(b) if goal.is_default() => format!("accuracy threshold {b}"),
                _ => format!("goal {}", goal.describe()),
            },
            choice
                .as_ref()
                .map(|c| best_so_far(c, goal))
                .unwrap_or_else(|| "none".into())
        )
    }

    fn started_line(&mut self, e: &Event) -> String {
        let Event::TrialStarted {
            slot,
            devices,
            ordinal,
            index,
            changes,
            base_value,
            recheck,
            ..
        } = e
        else {
            unreachable!("called for Event::TrialStarted")
        };
        self.slots |= *slot > 0;
        let at = if self.slots || devices.is_some() {
            format!(" slot {slot}")
        } else {
            String::new()
        };
        let cur = format!("{}{at} {}", self.tag(*ordinal), changes.describe());
        self.current.insert(*slot, cur.clone());
        // One parameter's base value (a joint move names its values above).
        let was = match (base_value, changes.single()) {
            (Some(b), Some((_, v))) if b != v => format!(", base {b}"),
            _ => String::new(),
        };
        let dev = devices
            .as_ref()
            .map(|d| format!(", devices {d}"))
            .unwrap_or_default();
        let again = if *recheck {
            " [re-measure of the incumbent: a close call]"
        } else {
            ""
        };
        format!("{cur} start (trial_{index:05}{was}{dev}){again}")
    }

    fn finished_line(&mut self, e: &Event, more: &mut Vec<String>) -> String {
        let Event::TrialFinished { ordinal, record } = e else {
            unreachable!("called for Event::TrialFinished")
        };
        let at = match autotune::record_slot(record) {
            Some(s) if self.slots => {
                self.current.remove(&s);
                format!(" slot {s}")
            }
            _ => String::new(),
        };
        let mut l = format!(
            "{}{at} {} {}",
            self.tag(*ordinal),
            record.change_text(),
            record_text(record)
        );
        if self.rule.as_ref().is_some_and(|r| r.within_noise(record)) {
            l.push_str(" [over the bar only within the noise: not taken as best]");
        }
        if let Some(p) = &self.progress {
            l.push_str(&format!(" | {}", p.text(0.0)));
        }
        // Why a service died, in its own log's words (the OOM line).
        if matches!(
            record.status,
            Status::Crashed | Status::Timeout | Status::Failed | Status::Partial
        ) && let Some(tail) = record.extra.get("log_tail").and_then(|v| v.as_array())
        {
            let tail: Vec<String> = tail
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            for t in crate::ui::state::telling_lines(&tail, 3) {
                more.push(tail_line(&t));
            }
        }
        l
    }

    fn group_best_line(&mut self, e: &Event) -> String {
        let Event::GroupBest {
            param,
            winner,
            base,
        } = e
        else {
            unreachable!("called for Event::GroupBest")
        };
        if let Some(r) = &mut self.rule {
            r.incumbent = Some(trial_key(base));
        }
        match winner {
            Some(w) => format!(
                "== {param}: best {} at {} tok/s (acc {})",
                w.value_in_group(param),
                with_ci(
                    w.avg_total_tps(),
                    w.eval.as_ref().and_then(|e| e.ci95_total_tps),
                    1
                ),
                fig(w.avg_accuracy(), 4)
            ),
            None => format!("== {param}: no value met the threshold; base unchanged"),
        }
    }

    /// A trial's phase worth a line: a busy port (who holds it) or the
    /// service ready.
    fn phase_line(&self, slot: usize, phase: &TrialPhase) -> Option<String> {
        match phase {
            TrialPhase::PortBusy {
                attempt,
                retries,
                wait_s,
                holder,
            } => {
                let by = holder
                    .as_deref()
                    .map(|h| format!(" (held by {})", crate::ui::printable(h)))
                    .unwrap_or_default();
                Some(format!(
                    "{} port busy{by}, waiting up to {wait_s}s ({attempt}/{retries})",
                    self.cur(slot)
                ))
            }
            TrialPhase::Ready { startup_s, .. } => {
                Some(format!("{} ready after {startup_s:.1}s", self.cur(slot)))
            }
            _ => None,
        }
    }

    /// One eval run of the trial in `slot`, with the last lines of a failed
    /// run's output in `more`.
    fn eval_line(&self, slot: usize, run: &autotune::EvalRun, more: &mut Vec<String>) -> String {
        let m = run.measured.clone().unwrap_or_default();
        let what = if run.ok {
            format!(
                "ok acc {} tps {} ({}s)",
                fig(m.accuracy, 4),
                fig(m.total_tps, 1),
                fig(m.elapsed_s, 1)
            )
        } else if run.timeout == Some(true) {
            "timed out".to_string()
        } else {
            format!("failed: {}", run.error.as_deref().unwrap_or("?"))
        };
        let l = format!("{}   eval {} {what}", self.cur(slot), run.i);
        // Why it failed, in the eval's own words (last lines).
        let tail = run.output_tail.as_deref().unwrap_or(&[]);
        for t in &tail[tail.len().saturating_sub(5)..] {
            more.push(tail_line(t));
        }
        l
    }

    /// The line for an event, if it deserves one (with the lines that
    /// follow it: an output's tail, the outcome). Every line is made
    /// printable: a parameter value, a message or an output holding control
    /// characters (a terminal's title or clear sequence, a newline) shows
    /// them as `?` and cannot forge a line.
    pub fn line(&mut self, e: &Event) -> Option<String> {
        let mut more: Vec<String> = Vec::new();
        let body = match e {
            Event::RunStarted { .. } => self.start_line(e),
            Event::Progress(p) => {
                self.progress = Some(p.clone());
                return None;
            }
            // The screen's; the report has them in full.
            Event::Beliefs(_) => return None,
            Event::GroupStarted { .. } => group_line(e),
            Event::TrialPredicted {
                ordinal,
                changes,
                reason,
                ..
            } => format!(
                "{} {} not started: {reason}",
                self.tag(*ordinal),
                changes.describe()
            ),
            Event::TrialReused {
                ordinal,
                changes,
                record,
            } => {
                format!(
                    "{} {} reused: {}",
                    self.tag(*ordinal),
                    changes.describe(),
                    record_text(record)
                )
            }
            Event::TrialStarted { .. } => self.started_line(e),
            Event::Phase { slot, phase } => self.phase_line(*slot, phase)?,
            Event::EvalRunFinished { slot, run } => self.eval_line(*slot, run, &mut more),
            Event::Noise(n) => {
                if let Some(r) = &mut self.rule {
                    r.noise = *n;
                }
                return None;
            }
            Event::TrialFinished { .. } => self.finished_line(e, &mut more),
            Event::GroupBest { .. } => self.group_best_line(e),
            Event::NewBest {
                record,
                previous_tps,
            } => format!(
                "** new best {} tok/s (was {}) with {}",
                with_ci(
                    record.avg_total_tps(),
                    record.eval.as_ref().and_then(|e| e.ci95_total_tps),
                    1
                ),
                fig(*previous_tps, 1),
                record.change_text()
            ),
            Event::Paused(p) if *p == self.paused => return None,
            Event::Paused(p) => {
                self.paused = *p;
                if *p {
                    "paused: the run waits after the current trial (SIGUSR2 resumes)".into()
                } else {
                    "resumed".into()
                }
            }
            Event::Warning(w) => format!("warning: {w}"),
            Event::RunFinished {
                outcome, summary, ..
            } => end_lines(outcome, summary, &mut more),
        };
        let mut text = format!(
            "{} {}",
            chrono::Local::now().format("%H:%M:%S"),
            printable(&body)
        );
        for l in more {
            text.push('\n');
            text.push_str(&printable(&l));
        }
        Some(text)
    }

    /// Prints lines until the engine is done and the notifier has nothing
    /// more to say.
    pub async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Arc<Event>>,
        mut notices: mpsc::UnboundedReceiver<crate::alerts::Notice>,
    ) {
        let print = |l: &str| {
            let mut out = std::io::stdout().lock();
            // A closed stdout (pipe gone) must not stop the tuning.
            let _ = writeln!(out, "{l}");
            let _ = out.flush();
        };
        let stamp = || chrono::Local::now().format("%H:%M:%S");
        let mut events_open = true;
        let mut notices_open = true;
        while events_open || notices_open {
            tokio::select! {
                e = rx.recv(), if events_open => match e {
                    Some(e) => if let Some(l) = self.line(&e) { print(&l) },
                    None => events_open = false,
                },
                n = notices.recv(), if notices_open => match n {
                    Some(n) => print(&format!("{} {}", stamp(), printable(&n.to_string()))),
                    None => notices_open = false,
                },
            }
        }
    }
}

/// The run's end: its head line (unless the outcome's own first line says
/// what stopped it), then the outcome whole in `more`.
fn end_lines(outcome: &Outcome, summary: &autotune::RunSummary, more: &mut Vec<String>) -> String {
    let head = match outcome {
        Outcome::Done => Some("done: every group explored".to_string()),
        Outcome::Aborted => Some("aborted".into()),
        Outcome::Interrupted(s) => Some(format!(
            "interrupted by signal {s}; the service was stopped"
        )),
        // The outcome's first line says what stopped the run:
        // said once.
        Outcome::Error(_) | Outcome::Environment(_) => None,
    };
    // The outcome, whole, as the last thing printed.
    let mut lines = summary.lines();
    let head = head.unwrap_or_else(|| {
        if lines.is_empty() {
            String::new()
        } else {
            lines.remove(0)
        }
    });
    more.extend(lines);
    head
}

/// The search's choice on a start line: `5363.5 ± 120.1 tok/s over 10
/// runs (trial 57)`, the trial its latest record has.
fn best_so_far(c: &autotune::choice::Choice, goal: &autotune::Goal) -> String {
    let unit = if goal.is_default() {
        "tok/s".to_string()
    } else {
        goal.objective.name.clone()
    };
    let at = c
        .index
        .map(|i| format!("trial {i}"))
        .unwrap_or_else(|| "the start".into());
    format!("{} ({at})", c.evidence(&unit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use autotune::{Changes, EvalRun, EvalSummary, Params, Record, Status};

    fn started(slot: usize, ordinal: usize) -> Event {
        Event::TrialStarted {
            slot,
            devices: None,
            ordinal,
            index: ordinal as u32,
            changes: Changes::one("A", ordinal.to_string()),
            base_value: Some("1".into()),
            params: Params::new(),
            key: format!("A={ordinal}"),
            log_path: "/l".into(),
            recheck: false,
        }
    }

    #[test]
    fn a_re_measure_says_so_when_it_starts() {
        let mut l = LineLog::new(1);
        let mut e = started(0, 4);
        if let Event::TrialStarted { recheck, .. } = &mut e {
            *recheck = true;
        }
        let line = l.line(&e).unwrap();
        assert!(
            line.ends_with(" [re-measure of the incumbent: a close call]"),
            "{line}"
        );
        let line = l.line(&started(0, 5)).unwrap();
        assert!(!line.contains("re-measure"), "{line}");
    }

    fn pruned(slot: usize) -> Record {
        let mut params = Params::new();
        params.insert("A".into(), "2".into());
        let mut extra = serde_json::Map::new();
        extra.insert("slot".into(), slot.into());
        Record {
            status: Status::Pruned,
            param_under_test: Some("A".into()),
            params,
            reason: Some("4852.2 tok/s after 2 runs: under the group's leader 5057.2".into()),
            total_s: Some(31.0),
            eval: Some(EvalSummary {
                eval_ok_n: Some(2),
                eval_runs: Some(vec![EvalRun::default(), EvalRun::default()]),
                avg_accuracy: Some(0.8874),
                avg_total_tps: Some(4852.2),
                ci95_accuracy: Some(0.0012),
                ci95_total_tps: Some(40.1),
                ..Default::default()
            }),
            extra: extra.into_iter().collect(),
            ..Default::default()
        }
    }

    /// A joint move names each parameter with its own value, not `A+B=4+48`
    /// (a value holding `+` would make that unreadable).
    #[test]
    fn a_joint_move_says_each_parameter_and_its_value() {
        let mut l = LineLog::new(1);
        let params: Params = [("MAX_NUM_SEQS", "1536"), ("STOP", "a+b")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let line = l
            .line(&Event::TrialStarted {
                slot: 0,
                devices: None,
                ordinal: 3,
                index: 3,
                changes: Changes::moves([
                    ("MAX_NUM_SEQS".into(), "1536".into()),
                    ("STOP".into(), "a+b".into()),
                ]),
                base_value: None,
                params,
                key: "k".into(),
                log_path: "/l".into(),
                recheck: false,
            })
            .unwrap();
        assert!(line.contains("MAX_NUM_SEQS=1536, STOP=a+b start"), "{line}");
        assert!(
            !line.contains("1536+a+b") && !line.contains("base"),
            "{line}"
        );
    }

    #[test]
    fn with_several_slots_every_line_names_its_slot_from_the_first() {
        let mut l = LineLog::new(4);
        let line = l.line(&started(0, 1)).unwrap();
        assert!(line.contains("] slot 0 A=1 start (trial_00001"), "{line}");
        // One slot: no slot named (as before).
        let mut one = LineLog::new(1);
        let line = one.line(&started(0, 1)).unwrap();
        assert!(!line.contains("slot"), "{line}");
    }

    fn run_started(policy: Option<autotune::NoisePolicy>, slots: usize) -> Event {
        Event::RunStarted {
            repo: "/r".into(),
            results: "/r/tune_results.jsonl".into(),
            total_estimate: 9,
            existing_records: 0,
            base: Params::new(),
            best_seen_tps: None,
            choice: None,
            setup: None,
            goal: autotune::Goal::default_for(0.88),
            policy,
            slots,
        }
    }

    /// A trial whose accuracy mean is over the bar only within the noise
    /// (0.882 against 0.88, a run's spread about 0.016).
    fn lucky() -> Record {
        let runs = [0.86, 0.90, 0.87, 0.89, 0.89]
            .iter()
            .enumerate()
            .map(|(i, a)| EvalRun {
                i: i as u32 + 1,
                ok: true,
                measured: Some(autotune::Measured {
                    accuracy: Some(*a),
                    total_tps: Some(900.0),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        Record {
            trial_key: "A=9".into(),
            status: Status::Ok,
            param_under_test: Some("A".into()),
            params: [("A".to_string(), "9".to_string())].into(),
            eval: Some(autotune::summarize(runs)),
            ..Default::default()
        }
    }

    fn informed() -> autotune::PooledNoise {
        let mut p = autotune::PooledNoise::default();
        for _ in 0..4 {
            let mut s = autotune::Samples::default();
            for a in [0.90, 0.91, 0.89, 0.92, 0.88] {
                s.push(a, 100.0);
            }
            p.add(&s);
        }
        p
    }

    #[test]
    fn the_start_line_says_the_goal_in_its_own_words() {
        let line = LineLog::new(1).line(&run_started(None, 1)).unwrap();
        assert!(line.contains(", accuracy threshold 0.88, "), "{line}");
        let mut e = run_started(None, 1);
        if let Event::RunStarted { goal, .. } = &mut e {
            goal.constraints = vec![autotune::Constraint::parse("p99_ttft_ms<=600").unwrap()];
        }
        let line = LineLog::new(1).line(&e).unwrap();
        assert!(
            line.contains(", goal max total_tps subject to p99_ttft_ms <= 600, "),
            "{line}"
        );
        assert!(!line.contains("accuracy threshold"), "{line}");
    }

    #[test]
    fn the_start_line_names_the_slots_and_a_trial_within_the_noise_says_so() {
        let mut l = LineLog::new(1);
        let line = l.line(&run_started(Some(Default::default()), 4)).unwrap();
        assert!(
            line.contains("9 trials planned (4 at once), 0 records"),
            "{line}"
        );
        assert!(l.line(&Event::Noise(informed())).is_none());
        let fin = Event::TrialFinished {
            ordinal: 3,
            record: Arc::new(lucky()),
        };
        let line = l.line(&fin).unwrap();
        assert!(
            line.contains("[over the bar only within the noise: not taken as best]"),
            "{line}"
        );
        // The plain search: the mean decides, nothing to say.
        let mut plain = LineLog::new(1);
        let line = plain.line(&run_started(None, 1)).unwrap();
        assert!(line.contains("9 trials planned, 0 records"), "{line}");
        plain.line(&Event::Noise(informed()));
        assert!(!plain.line(&fin).unwrap().contains("within the noise"));
    }

    #[test]
    fn trial_lines_carry_intervals_and_a_pruned_trial_says_why() {
        let mut l = LineLog::new(4);
        l.line(&started(2, 7));
        let line = l
            .line(&Event::TrialFinished {
                ordinal: 7,
                record: Arc::new(pruned(2)),
            })
            .unwrap();
        for n in [
            "] slot 2 A=2 pruned",
            "acc 0.8874 ± 0.0012",
            "tps 4852.2 ± 40.1",
            "(2/2 runs ok, 31.0s): 4852.2 tok/s after 2 runs: under the group's leader 5057.2",
        ] {
            assert!(line.contains(n), "{n:?} not in {line}");
        }
        let mut again = pruned(2);
        again.status = Status::Ok;
        again.reason = None;
        again.extra.insert("recheck".into(), true.into());
        let text = record_text(&again);
        assert!(
            text.ends_with("(2/2 runs ok, 31.0s) [recheck of a close call]"),
            "{text}"
        );
    }
}
