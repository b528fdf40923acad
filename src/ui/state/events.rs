//! The live state's reducer: each engine event applied once, in order.

use super::*;

impl LiveState {
    /// The run begins: its goal, rule, slots and plan.
    fn run_started(&mut self, e: &Event, now: Instant) {
        let Event::RunStarted {
            repo,
            results,
            total_estimate,
            existing_records,
            base,
            goal,
            policy,
            slots,
            ..
        } = e
        else {
            unreachable!("called for Event::RunStarted")
        };
        self.goal = Some(goal.clone()).filter(|g| !g.is_default());
        self.slots = self.slots.max(*slots);
        self.rule = BestRule {
            goal: goal.clone(),
            policy: *policy,
            noise: Default::default(),
            incumbent: Some(trial_key(base)),
        };
        self.rank_best();
        self.repo = repo.display().to_string();
        self.results = results.display().to_string();
        self.total = *total_estimate;
        self.acc_bar = goal.accuracy_threshold();
        self.base = base.clone();
        self.message(format!("run started: {total_estimate} trials planned, {existing_records} records already in the results file"), false, now);
    }

    /// A trial starts in its slot.
    fn trial_started(&mut self, e: &Event, now: Instant) {
        let Event::TrialStarted {
            slot,
            devices,
            ordinal,
            index,
            changes,
            base_value,
            params,
            log_path,
            recheck,
            ..
        } = e
        else {
            unreachable!("called for Event::TrialStarted")
        };
        self.total = self.total.max(*ordinal);
        // A slot beyond what the app was told: the run has more.
        self.slots = self.slots.max(slot + 1);
        self.running.insert(
            *slot,
            CurrentTrial {
                devices: devices.clone(),
                ordinal: *ordinal,
                index: *index,
                changes: changes.clone(),
                base_value: base_value.clone(),
                params: params.clone(),
                phase: None,
                phase_since: now,
                runs: Vec::new(),
                recheck: *recheck,
                started: now,
            },
        );
        self.last_log.insert(*slot, log_path.clone());
        // Unless the user picked a slot (or holds the log scrolled), show a
        // running trial rather than an idle slot.
        if !self.picked && self.log_follow && !self.running.contains_key(&self.selected) {
            self.selected = *slot;
        }
        // A log the user scrolled stays in view: the new trial's log comes
        // with End or `f` (the title says there is a newer one).
        if *slot == self.selected && self.log_follow {
            self.show_log(Some(log_path.clone()));
        }
    }

    /// A trial ended: its record counted, kept, ranked and said.
    fn trial_finished(&mut self, e: &Event, now: Instant) {
        let Event::TrialFinished { ordinal, record } = e else {
            unreachable!("called for Event::TrialFinished")
        };
        // Records name their slot only with several; one slot is 0.
        let slot = autotune::record_slot(record)
            .or_else(|| {
                self.running
                    .iter()
                    .find(|(_, t)| t.ordinal == *ordinal)
                    .map(|(s, _)| *s)
            })
            .or((!self.multi()).then_some(0));
        if let Some(t) = slot.and_then(|n| self.running.remove(&n)) {
            self.busy_s += now.saturating_duration_since(t.started).as_secs_f64();
        }
        // Unless the user picked this slot, move on to one that
        // runs (its failure, if any, stays pinned above the log).
        if !self.picked
            && self.log_follow
            && slot == Some(self.selected)
            && let Some(other) = self.running.keys().next().copied()
        {
            self.select(other);
        }
        if record.status == "pruned" {
            // Not a failure: the trial could not win, said why. Its
            // reason is pinned unless a real failure is.
            let headline = failure_headline(*ordinal, record);
            self.message(headline.clone(), false, now);
            if self
                .failure
                .as_ref()
                .is_none_or(|f| f.record.status == "pruned")
            {
                self.failure = Some(Failure {
                    ordinal: *ordinal,
                    record: record.clone(),
                    headline,
                    tail: Vec::new(),
                });
            }
        } else if matches!(record.status.as_str(), "crashed" | "timeout" | "failed") {
            let from_record: Vec<String> = match record.extra.get("log_tail") {
                Some(serde_json::Value::Array(a)) => a
                    .iter()
                    .filter_map(|l| l.as_str())
                    .map(crate::ui::printable)
                    .collect(),
                _ => Vec::new(),
            };
            // The screen's own tail only if it followed this trial.
            let followed = slot == Some(self.selected);
            let tail = if from_record.is_empty() && followed {
                let seen: Vec<String> = self.log_lines.iter().cloned().collect();
                telling_lines(&seen, 6)
            } else {
                telling_lines(&from_record, 6)
            };
            let headline = failure_headline(*ordinal, record);
            // The line that tells: the last error-looking one.
            let last = telling_lines(&tail, 1).pop();
            self.message(
                match last {
                    Some(l) => format!("{headline} | {}", l.trim()),
                    None => headline.clone(),
                },
                true,
                now,
            );
            self.failure = Some(Failure {
                ordinal: *ordinal,
                record: record.clone(),
                headline,
                tail,
            });
        } else if record.status == "ok" {
            self.failure = None;
        }
        if self.rule.within_noise(record) {
            self.message(
                format!(
                    "trial {ordinal} {}: over the bar only within the noise; not taken as best",
                    record.change_text()
                ),
                false,
                now,
            );
        }
        self.push_recent(*ordinal, record.clone(), false);
    }

    /// The run ended: the outcome, and the screen says how.
    fn run_finished(&mut self, e: &Event, now: Instant) {
        let Event::RunFinished {
            outcome, summary, ..
        } = e
        else {
            unreachable!("called for Event::RunFinished")
        };
        self.outcome = Some(outcome.clone());
        self.summary = Some(summary.clone());
        self.ended = Some(now);
        for (_, t) in std::mem::take(&mut self.running) {
            self.busy_s += now.saturating_duration_since(t.started).as_secs_f64();
        }
        self.aborting = false;
        self.paused = false;
        let text = match outcome {
            Outcome::Done => "done: every group explored; q quits".to_string(),
            Outcome::Aborted => "aborted: the service was stopped; q quits".to_string(),
            Outcome::Interrupted(s) => format!("interrupted by signal {s}"),
            Outcome::Error(m) | Outcome::Environment(m) => format!("error: {m}"),
        };
        let warn = !matches!(outcome, Outcome::Done);
        self.message(text, warn, now);
        // A signal ends the program, not just the run.
        if self.quit_when_done || matches!(outcome, Outcome::Interrupted(_)) {
            self.quit = true;
        }
    }

    /// Applies an engine event that arrived at `now`.
    pub fn update(&mut self, e: &Event, now: Instant) {
        match e {
            Event::RunStarted { .. } => self.run_started(e, now),
            Event::GroupStarted {
                param,
                values,
                group,
                groups,
                stage,
                budget_left,
            } => {
                let left = budget_left
                    .map(|n| format!(", {n} left"))
                    .unwrap_or_default();
                self.group = GroupView {
                    param: param.clone(),
                    values: values.clone(),
                    results: BTreeMap::new(),
                    label: format!("{group}/{groups} {stage}{left}"),
                };
            }
            Event::TrialPredicted {
                changes, reason, ..
            } => self.message(
                format!("{} not started: {reason}", changes.describe()),
                false,
                now,
            ),
            Event::TrialReused {
                ordinal, record, ..
            } => {
                // Re-measures and later passes go past the first estimate.
                self.total = self.total.max(*ordinal);
                self.push_recent(*ordinal, record.clone(), true)
            }
            Event::TrialStarted { .. } => self.trial_started(e, now),
            Event::Phase { slot, phase: p } => {
                if let Some(t) = self.running.get_mut(slot) {
                    t.phase = Some(p.clone());
                    t.phase_since = now;
                }
            }
            Event::EvalRunFinished { slot, run } => {
                if let Some(t) = self.running.get_mut(slot) {
                    t.runs.push(run.clone());
                }
            }
            Event::TrialFinished { .. } => self.trial_finished(e, now),
            Event::Progress(p) => self.progress = Some((p.clone(), now)),
            Event::Beliefs(b) => self.beliefs = Some(b.clone()),
            Event::Noise(n) => {
                self.rule.noise = *n;
                self.rank_best();
            }
            Event::GroupBest {
                param,
                winner,
                base,
            } => {
                // The search keeps its base without proving it again.
                self.rule.incumbent = Some(trial_key(base));
                self.rank_best();
                self.group_best_message(param, winner.as_ref(), now);
            }
            Event::NewBest { record, .. } => self.message(
                format!(
                    "new best {:.1} tok/s with {}",
                    record.avg_total_tps().unwrap_or(0.0),
                    record.change_text()
                ),
                false,
                now,
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
                    now,
                );
            }
            Event::Warning(w) => self.message(w.clone(), true, now),
            Event::RunFinished { .. } => self.run_finished(e, now),
        }
    }
}
