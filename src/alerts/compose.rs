//! Composition: turns engine events into notifications (start, heartbeat,
//! trial_done, best, failed/timeout/crashed, abnormal, done), keeping the
//! counts and the best so far that heartbeats report.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use autotune::{Event, Outcome, Record, Status};

use super::config::AlertConfig;

/// What a notification is about. `--email_kinds` names them; channels
/// colour them; the queue drops heartbeats first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The run started.
    Start,
    /// The run goes on (counts, best so far).
    Heartbeat,
    /// A trial ended ok.
    TrialDone,
    /// A new best.
    Best,
    /// A trial failed.
    Failed,
    /// A trial timed out.
    Timeout,
    /// A trial crashed, or the run stopped on an error.
    Crashed,
    /// A trial whose eval runs failed in part.
    Abnormal,
    /// The run ended.
    Done,
}

impl Kind {
    /// Every kind, in the order `--help` lists them.
    pub const ALL: [Kind; 9] = [
        Kind::Start,
        Kind::Heartbeat,
        Kind::TrialDone,
        Kind::Best,
        Kind::Failed,
        Kind::Timeout,
        Kind::Crashed,
        Kind::Abnormal,
        Kind::Done,
    ];

    /// Its name (`trial_done`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Start => "start",
            Kind::Heartbeat => "heartbeat",
            Kind::TrialDone => "trial_done",
            Kind::Best => "best",
            Kind::Failed => "failed",
            Kind::Timeout => "timeout",
            Kind::Crashed => "crashed",
            Kind::Abnormal => "abnormal",
            Kind::Done => "done",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// What it is about.
    pub kind: Kind,
    /// Title.
    pub title: String,
    /// Message.
    pub message: String,
    /// Local time.
    pub ts: String,
    /// Seconds since the tuner started.
    pub uptime_s: u64,
    /// Details.
    pub extra: Value,
}

/// The kind of a trial that failed before it served.
fn status_kind(s: &Status) -> Kind {
    match s {
        Status::Timeout => Kind::Timeout,
        Status::Crashed => Kind::Crashed,
        _ => Kind::Failed,
    }
}

/// Turns events into notifications.
pub struct Composer {
    cfg: AlertConfig,
    started: Instant,
    /// The engine's counts, from its last progress.
    counts: autotune::Counts,
    best: Option<Arc<Record>>,
    current: String,
}

impl Composer {
    /// A composer.
    pub fn new(cfg: AlertConfig) -> Self {
        Composer {
            cfg,
            started: Instant::now(),
            counts: Default::default(),
            best: None,
            current: String::new(),
        }
    }

    /// A notification of `kind`.
    pub fn make(
        &self,
        kind: Kind,
        title: impl Into<String>,
        message: impl Into<String>,
        extra: Value,
    ) -> Notification {
        Notification {
            kind,
            title: title.into(),
            message: message.into(),
            ts: autotune::now_ts(),
            uptime_s: self.started.elapsed().as_secs(),
            extra,
        }
    }

    /// A heartbeat with the current counts and best.
    pub fn heartbeat(&self) -> Notification {
        let best = self.best.as_ref().map(|b| json!({"avg_total_tps": b.avg_total_tps(), "avg_accuracy": b.avg_accuracy(), "params": b.params}));
        self.make(
            Kind::Heartbeat,
            "heartbeat",
            format!(
                "{} trials run; now: {}",
                self.trials_run(),
                if self.current.is_empty() {
                    "between trials"
                } else {
                    &self.current
                }
            ),
            json!({"counts": self.counts, "best": best}),
        )
    }

    /// Trials this run measured (not skipped, not reused).
    fn trials_run(&self) -> usize {
        let c = &self.counts;
        c.total() - c.get(autotune::Counts::REUSED) - c.get(&Status::Skipped.to_string())
    }

    fn record_extra(r: &Record) -> Value {
        json!({
            "status": r.status, "param": r.param_under_test, "value": r.value_under_test(),
            "avg_accuracy": r.avg_accuracy(), "avg_total_tps": r.avg_total_tps(),
            "exit_code": r.exit_code, "reason": r.reason, "server_log": r.server_log,
            "log_tail": r.extra.get("log_tail"),
        })
    }

    /// The notifications an event causes.
    pub fn on_event(&mut self, e: &Event) -> Vec<Notification> {
        let mut out = Vec::new();
        match e {
            Event::RunStarted { total_estimate, existing_records, best_seen_tps, .. } => out.push(self.make(
                Kind::Start,
                "tuning started",
                format!("{total_estimate} trials planned; {existing_records} records already in the results"),
                json!({"best_seen_tps": best_seen_tps}),
            )),
            Event::TrialStarted { changes, index, .. } => self.current = format!("trial {index}: {}", changes.describe()),
            Event::TrialFinished { record, .. } => {
                self.current.clear();
                if record.status == Status::Skipped {
                    return out;
                }
                // The engine counted it in the progress said just before.
                let run = self.trials_run();
                let what = record.change_text();
                let extra = Self::record_extra(record);
                let startup = record.eval.is_none();
                match &record.status {
                    s @ (Status::Failed | Status::Timeout | Status::Crashed) if startup => {
                        let why = record.reason.clone().or_else(|| record.health.clone()).unwrap_or_default();
                        out.push(self.make(status_kind(s), format!("trial {s}: {what}"), why, extra.clone()));
                    }
                    Status::Failed | Status::Partial => {
                        let ok = record.eval.as_ref().and_then(|s| s.eval_ok_n).unwrap_or(0);
                        let n = record.eval.as_ref().and_then(|s| s.eval_runs.as_ref()).map(Vec::len).unwrap_or(0);
                        out.push(self.make(Kind::Abnormal, format!("eval {}: {what}", record.status), format!("{ok}/{n} eval runs ok"), extra.clone()));
                    }
                    _ => {}
                }
                if self.cfg.notify_trial_done && run.is_multiple_of(self.cfg.notify_trial_done_every.max(1) as usize) {
                    out.push(self.make(Kind::TrialDone, format!("trial done: {what}"), record.summary_text(), extra));
                }
                if self.cfg.heartbeat_trials > 0 && run.is_multiple_of(self.cfg.heartbeat_trials as usize) {
                    out.push(self.heartbeat());
                }
            }
            Event::Progress(p) => self.counts = p.counts.clone(),
            Event::NewBest { record, previous_tps } if self.cfg.goal.is_some() => {
                self.best = Some(record.clone());
                let goal = self.cfg.goal.as_ref().expect("guarded");
                let figs: Vec<(String, Option<f64>)> = goal
                    .required_metrics()
                    .into_iter()
                    .map(|n| (n.to_string(), autotune::Goal::mean(record, n)))
                    .collect();
                let text = |(n, v): &(String, Option<f64>)| format!("{n} {}", autotune::fig(*v, 2));
                let rest: Vec<String> = figs[1..].iter().map(text).collect();
                out.push(self.make(
                    Kind::Best,
                    format!("new best: {}", text(&figs[0])),
                    format!(
                        "{} reached {}{} (previous best {}; goal: {})",
                        record.change_text(),
                        text(&figs[0]),
                        if rest.is_empty() { String::new() } else { format!(" with {}", rest.join(", ")) },
                        previous_tps.map(|p| format!("{p:.2}")).unwrap_or_else(|| "none".into()),
                        goal.describe()
                    ),
                    json!({
                        "params": record.params,
                        "previous_tps": previous_tps,
                        "objective": {"name": goal.objective.name, "value": figs[0].1},
                        "metrics": figs.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
                    }),
                ));
            }
            Event::NewBest { record, previous_tps } => {
                self.best = Some(record.clone());
                out.push(self.make(
                    Kind::Best,
                    format!("new best: {:.1} tok/s", record.avg_total_tps().unwrap_or(0.0)),
                    format!(
                        "{} reached {:.1} tok/s at accuracy {:.4} (previous best {})",
                        record.change_text(),
                        record.avg_total_tps().unwrap_or(0.0),
                        record.avg_accuracy().unwrap_or(0.0),
                        previous_tps.map(|p| format!("{p:.1} tok/s")).unwrap_or_else(|| "none".into())
                    ),
                    json!({"params": record.params, "previous_tps": previous_tps}),
                ));
            }
            Event::RunFinished {
                outcome,
                best,
                summary,
            } => {
                let (kind, title) = match outcome {
                    Outcome::Done => (Kind::Done, "tuning done".to_string()),
                    Outcome::Aborted => (Kind::Done, "tuning aborted".to_string()),
                    Outcome::Interrupted(s) => (Kind::Done, format!("tuning stopped by signal {s}")),
                    Outcome::Error(m) => (Kind::Crashed, format!("tuning stopped on an error: {m}")),
                    Outcome::Environment(m) => (Kind::Crashed, format!("tuning stopped by the environment: {m}")),
                };
                // The outcome as the terminal tells it: winner, gain and
                // whether it is beyond noise, trials, GPU time, files and
                // the report (its path: attach or open it from there).
                let text = summary.lines()[1..].join("\n");
                out.push(self.make(
                    kind,
                    title,
                    text,
                    json!({
                        "best_params": best,
                        "counts": summary.counts,
                        "gain_pct": summary.gain_pct.map(|g| g.0),
                        "beyond_noise": summary.beyond_noise(),
                        "report": summary.files.report,
                    }),
                ));
            }
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_best_under_a_goal_gives_its_figures_by_name() {
        let goal = autotune::Goal {
            objective: autotune::Objective {
                name: "output_tps".into(),
                dir: autotune::Direction::Max,
            },
            constraints: vec![autotune::Constraint::parse("p99_ttft_ms<=600").unwrap()],
        };
        let mut c = Composer::new(AlertConfig {
            goal: Some(goal),
            ..Default::default()
        });
        let r = Record::parse(
            r#"{"trial_key": "S=256", "status": "ok", "param_under_test": "S", "params": {"S": "256"}, "eval_ok_n": 1, "eval_runs": [{"i": 1, "ok": true, "returncode": 0, "metrics": {"output_tps": 2560.0, "p99_ttft_ms": 512.0}}]}"#,
        )
        .unwrap();
        let n = c.on_event(&Event::NewBest {
            record: Arc::new(r),
            previous_tps: Some(1280.0),
        });
        assert_eq!(n[0].title, "new best: output_tps 2560.00");
        assert!(
            n[0].message.contains("S=256 reached output_tps 2560.00 with p99_ttft_ms 512.00 (previous best 1280.00; goal: max output_tps subject to p99_ttft_ms <= 600)"),
            "{}",
            n[0].message
        );
        assert_eq!(n[0].extra["metrics"]["p99_ttft_ms"], 512.0);
    }

    #[test]
    fn startup_failures_and_abnormal_evals_have_their_kinds() {
        let mut c = Composer::new(AlertConfig {
            heartbeat_trials: 2,
            ..Default::default()
        });
        let crashed = Record {
            status: "crashed".into(),
            phase: "startup".into(),
            ..Default::default()
        };
        let kinds = |v: Vec<Notification>| v.into_iter().map(|n| n.kind).collect::<Vec<_>>();
        // The engine says its counts, this trial in them, before the end.
        let mut counts = autotune::Counts::default();
        let mut progress = |c: &mut Composer, status: &str| {
            counts.add(status);
            c.on_event(&Event::Progress(autotune::Progress {
                counts: counts.clone(),
                ..Default::default()
            }));
        };
        progress(&mut c, "crashed");
        assert_eq!(
            kinds(c.on_event(&Event::TrialFinished {
                ordinal: 1,
                record: Arc::new(crashed)
            })),
            [Kind::Crashed]
        );
        let partial = Record {
            status: "partial".into(),
            eval: Some(Default::default()),
            ..Default::default()
        };
        progress(&mut c, "partial");
        assert_eq!(
            kinds(c.on_event(&Event::TrialFinished {
                ordinal: 2,
                record: Arc::new(partial)
            })),
            [Kind::Abnormal, Kind::Heartbeat]
        );
        let skipped = Record {
            status: "skipped".into(),
            ..Default::default()
        };
        progress(&mut c, "skipped");
        assert!(
            c.on_event(&Event::TrialFinished {
                ordinal: 3,
                record: Arc::new(skipped)
            })
            .is_empty()
        );
        assert_eq!(
            c.trials_run(),
            2,
            "skipped trials do not count for heartbeats"
        );
    }
}
