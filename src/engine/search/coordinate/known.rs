//! What the coordinate search knows from records: each record absorbed
//! once (its runs pooled into the noise and its configuration), failures
//! that predict others, and done records reused.

use super::*;

impl Planner {
    pub(super) fn note_failure(&mut self, r: &Record) {
        if matches!(r.status, Status::Crashed | Status::Timeout) && !r.params.is_empty() {
            let cause = r
                .param_under_test
                .as_deref()
                .map(|p| p.split('+').map(str::to_string).collect())
                .unwrap_or_default();
            self.failures.push(Failure {
                params: r.params.clone(),
                status: r.status.as_str().to_string(),
                cause,
                startup: r.phase == Phase::Startup,
            });
        }
    }

    /// Why an earlier crash or time-out predicts that `p` fails too.
    pub(super) fn predicted(&self, p: &Params) -> Option<String> {
        if !self.search.predict {
            return None;
        }
        self.failures.iter().find_map(|f| {
            let startup_settings = f.of_startup_settings(
                &self.space.request,
                self.measured
                    .values()
                    .filter(|r| served(r))
                    .map(|r| &r.params),
            );
            predicts_failure(f, startup_settings, &self.space.request, p).map(|why| {
                let verb = if f.status == "timeout" {
                    "timed out"
                } else {
                    "crashed"
                };
                format!("predicted to fail: a configuration that {verb} had {why}")
            })
        })
    }

    /// A done record of `key` that may stand in for running it.
    pub(super) fn reusable(&self, key: &str) -> Option<&Arc<Record>> {
        if (self.policy.is_some() || self.stage != Stage::Pass(1))
            && let Some(r) = self.measured.get(key)
        {
            return Some(r);
        }
        if self.skip_existing {
            // A record measured for another goal (it lacks a metric this
            // one needs) is no measurement of it: run the trial again.
            let mut fit = self
                .done
                .get(key)
                .into_iter()
                .flatten()
                .filter(|r| self.goal.missing_metric(r).is_none());
            if self.policy.is_some() {
                return fit.next();
            }
            return fit.next_back().or_else(|| self.measured.get(key));
        }
        None
    }

    pub(super) fn remember(&mut self, r: Arc<Record>) {
        if !self.absorbed.insert(Arc::as_ptr(&r) as usize) {
            return;
        }
        self.kept.push(r.clone());
        let s = samples_of(&r, &self.goal);
        for k in self.robust.add(&r.trial_key, &s) {
            let shown = self
                .kept
                .iter()
                .find(|x| x.trial_key == k)
                .map(|x| describe(x))
                .unwrap_or_else(|| k.clone());
            self.notes.push(format!(
                "{shown}: its runs spread far beyond the other configurations' (an F-test against the pooled run-to-run noise), so it is kept out of the pooled noise and judged by its own spread; is the eval unstable for this configuration?"
            ));
        }
        if s.n() == 0
            && served(&r)
            && let Some((obj, _)) = self.means(&r)
        {
            self.robust.note_level(obj);
        }
        self.noise = *self.robust.pooled();
        self.pooled
            .entry(r.trial_key.clone())
            .or_default()
            .extend(&s);
        self.note_failure(&r);
        if r.status.is_done() && !r.trial_key.is_empty() {
            self.measured.insert(r.trial_key.clone(), r);
        }
    }
}

/// A configuration as a warning names it: the parameter under test and its
/// value, with the trial's log number and key.
fn describe(r: &Record) -> String {
    let what = match (r.param_under_test.as_deref(), r.value_under_test()) {
        (Some(p), Some(v)) => format!("{p}={v}"),
        _ => "a configuration".to_string(),
    };
    match r.index() {
        Some(i) => format!("{what} (trial_{i:05})"),
        None => format!("{what} (trial key {})", r.trial_key),
    }
}
