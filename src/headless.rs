//! The headless front end: one readable line per event on stdout.

use std::io::Write;
use std::sync::Arc;

use tokio::sync::mpsc;

use autotune::fig;
use autotune::{Event, Outcome, TrialPhase};

/// Turns events into lines.
#[derive(Default)]
pub struct LineLog {
    total: usize,
    /// Per slot: the running trial's tag (`[ 3/55] s1 PARAM=value`).
    current: std::collections::BTreeMap<usize, String>,
    /// More than one slot was seen: lines name their slot.
    slots: bool,
    paused: bool,
}

impl LineLog {
    fn tag(&self, ordinal: usize) -> String {
        let w = self.total.to_string().len().max(2);
        format!("[{ordinal:>w$}/{}]", self.total)
    }

    fn cur(&self, slot: usize) -> &str {
        self.current.get(&slot).map(String::as_str).unwrap_or("")
    }

    /// The line for an event, if it deserves one.
    pub fn line(&mut self, e: &Event) -> Option<String> {
        let body = match e {
            Event::RunStarted {
                repo,
                results,
                total_estimate,
                existing_records,
                threshold,
                best_seen_tps,
                ..
            } => {
                self.total = *total_estimate;
                format!(
                    "tuning {} : {} trials planned, {} records in {}, accuracy threshold {}, best so far {}",
                    repo.display(),
                    total_estimate,
                    existing_records,
                    results.display(),
                    threshold,
                    best_seen_tps
                        .map(|t| format!("{t:.1} tok/s"))
                        .unwrap_or_else(|| "none".into())
                )
            }
            Event::GroupStarted {
                param,
                values,
                group,
                groups,
                stage,
                budget_left,
            } => {
                let left = budget_left
                    .map(|n| format!(", {n} trials left"))
                    .unwrap_or_default();
                if stage.starts_with("refinement") {
                    format!("== {stage}{left}: joint moves {}", values.join(" "))
                } else {
                    format!(
                        "== group {group}/{groups} {param}: {} ({stage}{left})",
                        values.join(" ")
                    )
                }
            }
            Event::TrialPredicted {
                ordinal,
                param,
                value,
                reason,
                ..
            } => format!(
                "{} {param}={value} not started: {reason}",
                self.tag(*ordinal)
            ),
            Event::TrialReused {
                ordinal,
                param,
                value,
                record,
            } => {
                format!(
                    "{} {param}={value} reused: {}",
                    self.tag(*ordinal),
                    record.summary_text()
                )
            }
            Event::TrialStarted {
                slot,
                devices,
                ordinal,
                index,
                param,
                value,
                base_value,
                ..
            } => {
                self.slots |= *slot > 0;
                let at = if self.slots || devices.is_some() {
                    format!(" slot {slot}")
                } else {
                    String::new()
                };
                let cur = format!("{}{at} {param}={value}", self.tag(*ordinal));
                self.current.insert(*slot, cur.clone());
                let was = match base_value {
                    Some(b) if b != value => format!(", base {b}"),
                    _ => String::new(),
                };
                let dev = devices
                    .as_ref()
                    .map(|d| format!(", devices {d}"))
                    .unwrap_or_default();
                format!("{cur} start (trial_{index:05}{was}{dev})")
            }
            Event::Phase {
                slot,
                phase:
                    TrialPhase::PortBusy {
                        attempt,
                        retries,
                        wait_s,
                    },
            } => {
                format!(
                    "{} port busy, waiting up to {wait_s}s ({attempt}/{retries})",
                    self.cur(*slot)
                )
            }
            Event::Phase {
                slot,
                phase: TrialPhase::Ready { startup_s, .. },
            } => {
                format!("{} ready after {startup_s:.1}s", self.cur(*slot))
            }
            Event::Phase { .. } => return None,
            Event::EvalRunFinished { slot, run } => {
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
                let mut l = format!("{}   eval {} {what}", self.cur(*slot), run.i);
                // Why it failed, in the eval's own words (last lines).
                let tail = run.output_tail.as_deref().unwrap_or(&[]);
                for t in &tail[tail.len().saturating_sub(5)..] {
                    l.push_str("\n           | ");
                    l.extend(t.chars().filter(|c| !c.is_control() || *c == '\t'));
                }
                l
            }
            Event::TrialFinished { ordinal, record } => {
                let at = match autotune::record_slot(record) {
                    Some(s) if self.slots => {
                        self.current.remove(&s);
                        format!(" slot {s}")
                    }
                    _ => String::new(),
                };
                format!(
                    "{}{at} {}={} {}",
                    self.tag(*ordinal),
                    record.param_under_test.as_deref().unwrap_or("?"),
                    record.value_under_test().unwrap_or("?"),
                    record.summary_text()
                )
            }
            Event::GroupBest { param, winner, .. } => match winner {
                Some(w) => format!(
                    "== {param}: best {} at {} tok/s (acc {})",
                    w.params.get(param).map(String::as_str).unwrap_or("?"),
                    fig(w.avg_total_tps(), 1),
                    fig(w.avg_accuracy(), 4)
                ),
                None => format!("== {param}: no value met the threshold; base unchanged"),
            },
            Event::NewBest {
                record,
                previous_tps,
            } => format!(
                "** new best {} tok/s (was {}) with {}={}",
                fig(record.avg_total_tps(), 1),
                fig(*previous_tps, 1),
                record.param_under_test.as_deref().unwrap_or("?"),
                record.value_under_test().unwrap_or("?")
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
            } => {
                let head = match outcome {
                    Outcome::Done => "done: every group explored".into(),
                    Outcome::Aborted => "aborted".into(),
                    Outcome::Interrupted(s) => {
                        format!("interrupted by signal {s}; the service was stopped")
                    }
                    Outcome::Error(m) => format!("error: {m}"),
                    Outcome::Environment(m) => {
                        format!("stopped: the environment failed, not the configuration: {m}")
                    }
                };
                // The outcome, whole, as the last thing printed.
                let mut text: String = head;
                for l in summary.lines() {
                    text.push('\n');
                    text.push_str(&l);
                }
                text
            }
        };
        Some(format!(
            "{} {body}",
            chrono::Local::now().format("%H:%M:%S")
        ))
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
                    Some(n) => print(&format!("{} {n}", stamp())),
                    None => notices_open = false,
                },
            }
        }
    }
}
