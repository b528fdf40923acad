//! The status file (`tune_status.json`): a consumer of engine events that
//! rewrites it atomically at every phase, so a monitor always sees what the
//! tuner is doing or why it stopped, and which pid to check for liveness.
//!
//! With several slots the top-level trial fields (`trial_index`, `param`,
//! `trial_phase`...) are those of the latest event, as before; `running`
//! lists every trial running now, one object per slot.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::event::{Event, Outcome, TrialPhase};
use super::goal::Goal;
use super::record::Record;
use super::search::Params;
use super::store::{StoreError, pretty_json, write_atomic};

/// Builds status documents from events.
pub struct StatusWriter {
    path: PathBuf,
    best: Params,
    trial: Map<String, Value>,
    total: usize,
    goal: Option<Goal>,
    best_record: Option<Value>,
    /// The run's noise policy and slot count (from the start event).
    policy: Option<Value>,
    slots: Option<usize>,
    /// What the search is (`search_setup`): readers replay its choice.
    setup: Option<Value>,
    /// Every running trial by slot.
    running: BTreeMap<usize, Map<String, Value>>,
    /// How far the run is against its budget, and the time left.
    progress: Option<crate::engine::progress::Progress>,
    /// The phase of the last document (a new progress says it again).
    last_phase: &'static str,
}

impl StatusWriter {
    /// The status file's form of a best record.
    fn best_json(&self, record: &Record) -> Value {
        let objective = self.goal.as_ref().and_then(|g| g.objective_mean(record));
        json!({
            "trial_key": record.trial_key,
            "params": record.params,
            "objective": objective,
            "avg_metrics": record.eval.as_ref().and_then(|s| s.avg_metrics.as_ref()),
        })
    }

    /// A writer for `path`.
    pub fn new(path: PathBuf) -> Self {
        StatusWriter {
            path,
            best: Params::new(),
            trial: Map::new(),
            total: 0,
            goal: None,
            best_record: None,
            policy: None,
            slots: None,
            setup: None,
            running: BTreeMap::new(),
            progress: None,
            last_phase: "start",
        }
    }

    /// Records the run's goal in every document (`goal`, `goal_text`), so
    /// `autotune report` and `autotune best` judge the results as the run
    /// did, and keeps the best record by it (`best_record`).
    pub fn with_goal(mut self, goal: Goal) -> Self {
        self.goal = Some(goal);
        self
    }

    /// The document for an event, or `None` when the event changes nothing
    /// a monitor needs.
    pub fn update(&mut self, e: &Event) -> Option<Value> {
        let mut doc = Map::new();
        let phase = match e {
            Event::RunStarted { .. } => self.run_started(e, &mut doc),
            Event::GroupStarted {
                param,
                values,
                group,
                groups,
                stage,
                budget_left,
            } => {
                doc.insert("param".into(), json!(param));
                doc.insert("values".into(), json!(values));
                doc.insert("group".into(), json!(format!("{group}/{groups}")));
                doc.insert("stage".into(), json!(stage.to_string()));
                doc.insert("budget_left".into(), json!(budget_left));
                "param_group"
            }
            Event::TrialStarted { .. } => self.trial_started(e),
            Event::Phase { phase: p, slot } => self.phase(slot, p, &mut doc),
            Event::TrialFinished { record, ordinal } => {
                self.trial_finished(record, *ordinal, &mut doc)
            }
            Event::GroupBest {
                param,
                winner,
                base,
            } => self.group_best(param, winner.as_ref(), base, &mut doc),
            Event::Paused(p) => {
                if *p {
                    "paused"
                } else {
                    "resumed"
                }
            }
            Event::RunFinished { outcome, best, .. } => self.run_finished(outcome, best, &mut doc),
            // The document again, with the new progress (its own event
            // follows the trial's start or end).
            Event::Progress(p) => {
                self.progress = Some(p.clone());
                self.last_phase
            }
            Event::NewBest { record, .. } => {
                // The engine judged it by the goal; kept for the next
                // document (a new best alone is no new phase).
                self.best_record = Some(self.best_json(record));
                return None;
            }
            _ => return None,
        };
        self.last_phase = phase;
        Some(self.document(doc, phase))
    }

    fn run_started(&mut self, e: &Event, doc: &mut Map<String, Value>) -> &'static str {
        let Event::RunStarted {
            base,
            total_estimate,
            repo,
            results,
            policy,
            slots,
            setup,
            choice,
            ..
        } = e
        else {
            unreachable!("called for RunStarted")
        };
        self.best = base.clone();
        self.setup = setup.as_ref().map(|s| json!(&**s));
        // A resumed run's best so far: the search's choice
        // replayed from the records, with its evidence.
        if let Some(c) = choice {
            self.best_record = Some(json!({
                "trial_key": c.key,
                "params": c.params,
                "trial": c.index,
                "objective": c.objective,
                "objective_pm95": c.objective_pm,
                "runs_pooled": c.runs,
            }));
        }
        self.total = *total_estimate;
        // Recorded so that `autotune best` judges the results file
        // as the run did ("plain": the means decide).
        self.policy = Some(match policy {
            Some(p) => json!(p),
            None => json!("plain"),
        });
        self.slots = Some(*slots);
        doc.insert("repo".into(), json!(repo));
        doc.insert("results".into(), json!(results));
        "start"
    }

    fn trial_started(&mut self, e: &Event) -> &'static str {
        let Event::TrialStarted {
            slot,
            ordinal,
            index,
            changes,
            params,
            key,
            log_path,
            ..
        } = e
        else {
            unreachable!("called for TrialStarted")
        };
        self.trial = Map::new();
        self.trial.insert("trial_index".into(), json!(index));
        self.trial.insert("slot".into(), json!(slot));
        self.trial.insert("trial_ordinal".into(), json!(ordinal));
        // As the results file says them (`A+B`, `4+48`): monitors read
        // both files.
        let (param, value) = (changes.param_text(), changes.value_text());
        self.trial.insert("param".into(), json!(param));
        self.trial.insert("value".into(), json!(value));
        self.trial.insert("params".into(), json!(params));
        self.trial.insert("trial_key".into(), json!(key));
        self.trial.insert("server_log".into(), json!(log_path));
        let changed: Map<String, Value> = params
            .iter()
            .filter(|(k, v)| self.best.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        self.running.insert(
            *slot,
            Map::from_iter([
                ("slot".to_string(), json!(slot)),
                ("trial_index".to_string(), json!(index)),
                ("trial_ordinal".to_string(), json!(ordinal)),
                ("param".to_string(), json!(param)),
                ("value".to_string(), json!(value)),
                ("changed".to_string(), Value::Object(changed)),
                ("trial_key".to_string(), json!(key)),
                ("phase".to_string(), json!("started")),
                (
                    "started".to_string(),
                    json!(crate::engine::record::now_ts()),
                ),
                ("server_log".to_string(), json!(log_path)),
            ]),
        );
        "trial_start"
    }

    fn phase(
        &mut self,
        slot: &usize,
        p: &TrialPhase,
        doc: &mut Map<String, Value>,
    ) -> &'static str {
        doc.insert("slot".into(), json!(slot));
        let (name, detail) = match p {
            TrialPhase::PortBusy {
                attempt,
                retries,
                holder,
                ..
            } => {
                doc.insert("attempt".into(), json!(format!("{attempt}/{retries}")));
                if let Some(h) = holder {
                    doc.insert("held_by".into(), json!(h));
                }
                ("port_busy", "port busy".to_string())
            }
            TrialPhase::Starting { pgid, .. } => {
                doc.insert("service_pgid".into(), json!(pgid));
                ("trial_start", "starting".to_string())
            }
            TrialPhase::Ready { startup_s, .. } => {
                ("trial_start", format!("ready after {startup_s}s"))
            }
            TrialPhase::Eval { run, of, .. } => ("trial_start", format!("eval {run}/{of}")),
            TrialPhase::Stopping => ("trial_start", "stopping".to_string()),
        };
        if let Some(t) = self.running.get_mut(slot) {
            t.insert("phase".into(), json!(detail));
        }
        doc.insert("trial_phase".into(), json!(detail));
        name
    }

    fn trial_finished(
        &mut self,
        record: &Record,
        ordinal: usize,
        doc: &mut Map<String, Value>,
    ) -> &'static str {
        self.running
            .retain(|_, t| t.get("trial_ordinal") != Some(&json!(ordinal)));
        let mut result = json!({
            "status": record.status,
            "avg_accuracy": record.avg_accuracy(),
            "avg_total_tps": record.avg_total_tps(),
            "avg_total_time_s": record.eval.as_ref().and_then(|s| s.avg_total_time_s),
        });
        if let Some(m) = record.eval.as_ref().and_then(|s| s.avg_metrics.as_ref()) {
            result["avg_metrics"] = json!(m);
        }
        doc.insert("result".into(), result);
        "trial_done"
    }

    fn group_best(
        &mut self,
        param: &str,
        winner: Option<&Arc<Record>>,
        base: &Params,
        doc: &mut Map<String, Value>,
    ) -> &'static str {
        self.best = base.clone();
        // Under a noise policy the best is the search's choice:
        // always the record of best_params (also when the choice
        // came from a record this run reused, which announces no
        // new best).
        if self.policy.as_ref().is_some_and(|p| p != "plain")
            && let Some(w) = winner
        {
            self.best_record = Some(self.best_json(w));
        }
        self.trial.clear();
        doc.insert("param".into(), json!(param));
        doc.insert(
            "winner".into(),
            json!(winner.as_ref().and_then(|w| w.params.get(param))),
        );
        "group_best"
    }

    fn run_finished(
        &mut self,
        outcome: &Outcome,
        best: &Params,
        doc: &mut Map<String, Value>,
    ) -> &'static str {
        self.best = best.clone();
        self.trial.clear();
        self.running.clear();
        match outcome {
            Outcome::Done => "done",
            Outcome::Aborted => "aborted",
            Outcome::Interrupted(sig) => {
                doc.insert("signal".into(), json!(sig));
                "interrupted"
            }
            Outcome::Error(msg) => {
                doc.insert("error".into(), json!(msg));
                "error"
            }
            Outcome::Environment(msg) => {
                doc.insert("error".into(), json!(msg));
                "environment_error"
            }
        }
    }

    /// The whole document: what this event said, then what every document
    /// carries (phase, best, counts, goal, search, running trials).
    fn document(&self, mut doc: Map<String, Value>, phase: &str) -> Value {
        doc.insert("ts".into(), json!(crate::engine::record::now_ts()));
        doc.insert("phase".into(), json!(phase));
        doc.insert("pid".into(), json!(std::process::id()));
        doc.insert("best_params".into(), json!(self.best));
        doc.insert("trials_total_estimate".into(), json!(self.total));
        if let Some(p) = &self.progress {
            let mut v = json!(p);
            v["percent"] = json!(p.percent());
            doc.insert("progress".into(), v);
        }
        // The engine's counts (reused records included), as the header's.
        let counts = self.progress.as_ref().map(|p| p.counts.clone());
        doc.insert("counts".into(), json!(counts.unwrap_or_default()));
        if let Some(g) = &self.goal {
            doc.insert("goal".into(), json!(g));
            doc.insert("goal_text".into(), json!(g.describe()));
        }
        if let Some(b) = &self.best_record {
            doc.insert("best_record".into(), b.clone());
        }
        if let Some(p) = &self.policy {
            doc.insert("search_policy".into(), p.clone());
        }
        if let Some(n) = self.slots {
            doc.insert("slots".into(), json!(n));
        }
        if let Some(s) = &self.setup {
            doc.insert("search_setup".into(), s.clone());
        }
        doc.insert(
            "running".into(),
            Value::Array(self.running.values().cloned().map(Value::Object).collect()),
        );
        for (k, v) in &self.trial {
            doc.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(doc)
    }

    /// Consumes events until the engine is done, writing the file at each
    /// phase. Write errors go to `failed` once per failing spell (the front
    /// end shows them: stderr would tear the live screen) and are retried
    /// at the next phase.
    pub async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Arc<Event>>,
        mut failed: impl FnMut(StoreError) + Send,
    ) {
        let mut failing = false;
        while let Some(e) = rx.recv().await {
            if let Some(doc) = self.update(&e) {
                match write_atomic(&self.path, &pretty_json(&doc)) {
                    Ok(()) => failing = false,
                    Err(err) if !failing => {
                        failing = true;
                        failed(err);
                    }
                    Err(_) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_follow_events() {
        let mut w = StatusWriter::new("x".into());
        let d = w
            .update(&Event::Phase {
                slot: 0,
                phase: TrialPhase::Eval {
                    run: 2,
                    of: 5,
                    timeout_s: 1.0,
                },
            })
            .unwrap();
        assert_eq!(d["phase"], "trial_start");
        assert_eq!(d["trial_phase"], "eval 2/5");
        let d = w
            .update(&Event::RunFinished {
                outcome: Outcome::Interrupted(15),
                best: Params::new(),
                summary: std::sync::Arc::new(crate::engine::outcome::RunSummary::bare(
                    Outcome::Interrupted(15),
                    &Params::new(),
                )),
            })
            .unwrap();
        assert_eq!(d["phase"], "interrupted");
        assert_eq!(d["signal"], 15);
        assert_eq!(d["pid"], std::process::id());
        assert!(w.update(&Event::Warning("x".into())).is_none());
    }

    fn started(slot: usize, ordinal: usize, seqs: &str) -> Event {
        let mut params = Params::new();
        params.insert("A".into(), "1".into());
        params.insert("SEQS".into(), seqs.into());
        Event::TrialStarted {
            slot,
            devices: Some(slot.to_string()),
            ordinal,
            index: ordinal as u32,
            changes: crate::engine::search::Changes::one("SEQS", seqs),
            base_value: Some("64".into()),
            params,
            key: format!("SEQS={seqs}"),
            log_path: format!("tune_server_logs/trial_{ordinal:05}.log").into(),
            recheck: false,
        }
    }

    /// With several slots every running trial is listed (slot, what it
    /// changes from the base, phase, start); the top-level fields stay
    /// those of the latest trial.
    #[test]
    fn every_running_trial_is_listed_with_the_slot_count_and_policy() {
        let mut w = StatusWriter::new("x".into());
        let base: Params = [("A", "1"), ("SEQS", "64")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let d = w
            .update(&Event::RunStarted {
                repo: "/r".into(),
                results: "/r/tune_results.jsonl".into(),
                total_estimate: 9,
                existing_records: 0,
                base,
                best_seen_tps: None,
                choice: None,
                setup: None,
                goal: Goal::default_for(0.88),
                policy: Some(crate::engine::noise::NoisePolicy::default()),
                slots: 4,
            })
            .unwrap();
        assert_eq!(d["slots"], 4);
        assert_eq!(d["search_policy"]["acc_guard"], 0.95);
        assert_eq!(d["running"], json!([]));
        for (slot, seqs) in [(0, "128"), (1, "256"), (2, "512")] {
            w.update(&started(slot, slot + 2, seqs));
        }
        let d = w
            .update(&Event::Phase {
                slot: 1,
                phase: TrialPhase::Eval {
                    run: 2,
                    of: 5,
                    timeout_s: 1.0,
                },
            })
            .unwrap();
        let running = d["running"].as_array().unwrap();
        assert_eq!(running.len(), 3, "{d}");
        assert_eq!(running[1]["slot"], 1);
        assert_eq!(running[1]["changed"], json!({"SEQS": "256"}));
        assert_eq!(running[1]["phase"], "eval 2/5");
        assert_eq!(running[0]["phase"], "started");
        assert!(
            running[2]["started"]
                .as_str()
                .is_some_and(|t| t.len() >= 19)
        );
        // Compatibility: the latest trial's fields at the top.
        assert_eq!(d["trial_ordinal"], 4);
        assert_eq!(d["trial_phase"], "eval 2/5");
        // A trial that ends leaves the list; the others stay.
        let mut rec = crate::engine::record::Record {
            trial_key: "SEQS=256".into(),
            ..Default::default()
        };
        rec.status = crate::engine::record::Status::Ok;
        let d = w
            .update(&Event::TrialFinished {
                ordinal: 3,
                record: Arc::new(rec),
            })
            .unwrap();
        let slots: Vec<&Value> = d["running"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| &t["slot"])
            .collect();
        assert_eq!(slots, [&json!(0), &json!(2)]);
        // The plain search is recorded as such.
        let mut p = StatusWriter::new("x".into());
        let d = p
            .update(&Event::RunStarted {
                repo: "/r".into(),
                results: "/r/tune_results.jsonl".into(),
                total_estimate: 9,
                existing_records: 0,
                base: Params::new(),
                best_seen_tps: None,
                choice: None,
                setup: None,
                goal: Goal::default_for(0.88),
                policy: None,
                slots: 1,
            })
            .unwrap();
        assert_eq!(d["search_policy"], "plain");
    }
}
