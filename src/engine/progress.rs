//! How far a run is against its search's budget, and the time it has
//! left: one reduction in the engine that every front end shows (header,
//! headless lines, `tune_status.json`).
//!
//! The searcher says what it has spent and what it will spend at most
//! ([`Spending`], in its own unit: trials for coordinate ascent, nominal
//! GPU-seconds for the pooled search); the engine adds the time the
//! trials of this run took ([`Tracker`]) and publishes a [`Progress`].
//! The share spent never runs backwards: a bound that grows does not take
//! back what was shown, and the end of the search is 100 %.
//!
//! The trials' counts by how they ended ([`Counts`]) are part of it: the
//! engine counts each trial once, and the header, the status file, the
//! heartbeats and the outcome show those counts rather than keeping their
//! own.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Trials by how they ended (`ok`, `pruned`, `crashed`...), and `reused`
/// for records of the results file handed out (each once): they add up to
/// the trials of the progress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Counts(BTreeMap<String, usize>);

impl Counts {
    /// The key of records of the results file reused by this run.
    pub const REUSED: &'static str = "reused";

    /// The counts of the trials `ran` (by status) and `reused` records.
    pub fn of<'a>(
        ran: impl IntoIterator<Item = &'a crate::engine::record::Record>,
        reused: usize,
    ) -> Counts {
        let mut c = Counts::default();
        for r in ran {
            c.add(&r.status.to_string());
        }
        for _ in 0..reused {
            c.add(Self::REUSED);
        }
        c
    }

    /// One more trial that ended `how`.
    pub fn add(&mut self, how: &str) {
        *self.0.entry(how.to_string()).or_default() += 1;
    }

    /// How many ended `how` (0 for none).
    pub fn get(&self, how: &str) -> usize {
        self.0.get(how).copied().unwrap_or(0)
    }

    /// Every outcome seen with its count, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, usize)> {
        self.0.iter().map(|(k, n)| (k.as_str(), *n))
    }

    /// Nothing counted yet.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every trial counted.
    pub fn total(&self) -> usize {
        self.0.values().sum()
    }
}

impl<const N: usize> From<[(&str, usize); N]> for Counts {
    fn from(pairs: [(&str, usize); N]) -> Counts {
        Counts(pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect())
    }
}

/// What a searcher has spent of its budget and will spend at most.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spending {
    /// Trials handed out that count against the budget (started, or taken
    /// from the results file).
    pub trials: usize,
    /// Trials it will hand out at most: its budget, or its plan when it
    /// has none; equal to `trials` once the search is over.
    pub trials_at_most: usize,
    /// Nominal GPU-seconds spent and budgeted, for a search whose budget is
    /// GPU time (`--budget`): the share spent is theirs.
    pub nominal_s: Option<(f64, f64)>,
    /// The search is over: nothing more will be handed out.
    pub over: bool,
}

/// The run's progress as every front end shows it.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Progress {
    /// Trials handed out that count against the budget.
    pub trials: usize,
    /// Trials the search will hand out at most.
    pub trials_at_most: usize,
    /// Share of the budget spent, 0 to 1; never smaller than shown before.
    pub fraction: f64,
    /// GPU time (slot-seconds) the trials of this run took so far, running
    /// ones up to now.
    pub gpu_s: f64,
    /// GPU time the run will have taken at most, from the trial times seen
    /// (`None` until a trial of this run has ended).
    pub gpu_s_at_most: Option<f64>,
    /// Nominal GPU-seconds budgeted (`--budget`), if the budget is time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_nominal_s: Option<f64>,
    /// Wall time left at most, in seconds: the trials the budget still
    /// allows at the mean trial time seen, spread over the slots (`None`
    /// until a trial of this run has ended; 0 once the search is over and
    /// nothing runs).
    pub eta_s: Option<f64>,
    /// The trials by how they ended, `reused` included.
    pub counts: Counts,
}

impl Progress {
    /// `37 %`: the share spent, rounded down so that 100 % means over.
    pub fn percent(&self) -> u32 {
        (self.fraction * 100.0).floor().clamp(0.0, 100.0) as u32
    }

    /// The search is over and nothing runs.
    pub fn over(&self) -> bool {
        self.fraction >= 1.0
    }

    /// The time left at most, `since_s` seconds after it was published
    /// (never below a minute while the search goes on: a trial past the
    /// mean is not done).
    pub fn left_s(&self, since_s: f64) -> Option<f64> {
        if self.over() {
            return Some(0.0);
        }
        self.eta_s
            .map(|e| (e - since_s.max(0.0)).max(60.0_f64.min(e)))
    }

    /// `trials 12/≤137 9%, ≤1h52m left` (`since_s` seconds after it was
    /// published); `trials 91, 100%` once the search is over.
    pub fn text(&self, since_s: f64) -> String {
        match self.left_text(since_s) {
            Some(left) => format!("{}, {left}", self.trials_text()),
            None => self.trials_text(),
        }
    }

    /// `trials 12/≤137 9%`; `trials 91, 100%` once the search is over.
    pub fn trials_text(&self) -> String {
        if self.over() {
            format!("trials {}, 100%", self.trials)
        } else {
            format!(
                "trials {}/≤{} {}%",
                self.trials,
                self.trials_at_most,
                self.percent()
            )
        }
    }

    /// `≤1h52m left`, `since_s` seconds after it was published, while the
    /// search goes on and a trial time was seen.
    pub fn left_text(&self, since_s: f64) -> Option<String> {
        if self.over() {
            return None;
        }
        self.left_s(since_s)
            .map(|s| format!("≤{} left", short_s(s)))
    }

    /// `GPU 1h02m of ≤9h10m` (measured; of the nominal budget for a time
    /// budget), once a trial ended.
    pub fn gpu_text(&self) -> Option<String> {
        let spent = short_s(self.gpu_s);
        match (self.budget_nominal_s, self.gpu_s_at_most) {
            (Some(b), _) => Some(format!("GPU {spent} of {} budget", short_s(b))),
            (None, Some(m)) => Some(format!("GPU {spent} of ≤{}", short_s(m))),
            (None, None) => None,
        }
    }
}

/// `1h52m`, `14m`, `3m09s`, `40s`: a duration as short as a header needs.
pub fn short_s(secs: f64) -> String {
    let t = secs.max(0.0).round() as u64;
    if t >= 3600 {
        format!("{}h{:02}m", t / 3600, (t % 3600) / 60)
    } else if t >= 600 {
        format!("{}m", t.div_ceil(60))
    } else if t >= 60 {
        format!("{}m{:02}s", t / 60, t % 60)
    } else {
        format!("{t}s")
    }
}

/// The engine's side: trial times seen, and the share shown so far.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    /// Wall seconds of the trials of this run that ended.
    ended_s: f64,
    /// How many ended.
    ended: usize,
    /// The largest share shown.
    shown: f64,
    /// The trials by how they ended.
    counts: Counts,
}

impl Tracker {
    /// A trial of this run took `secs`.
    pub fn ended(&mut self, secs: f64) {
        if secs.is_finite() && secs >= 0.0 {
            self.ended_s += secs;
            self.ended += 1;
        }
    }

    /// A trial ended `how` (its record's status, or [`Counts::REUSED`]).
    pub fn count(&mut self, how: &str) {
        self.counts.add(how);
    }

    /// Trials of this run timed.
    pub fn timed(&self) -> usize {
        self.ended
    }

    /// The mean time of a trial of this run, once one ended.
    pub fn mean_s(&self) -> Option<f64> {
        (self.ended > 0).then(|| self.ended_s / self.ended as f64)
    }

    /// The progress now, with `running` the seconds each running trial has
    /// run so far and `slots` the trials that may run at once.
    pub fn progress(&mut self, s: Spending, running: &[f64], slots: usize) -> Progress {
        let at_most = s.trials_at_most.max(s.trials);
        let share = if s.over && running.is_empty() {
            1.0
        } else if let Some((spent, budget)) = s.nominal_s.filter(|(_, b)| *b > 0.0) {
            spent / budget
        } else if at_most > 0 {
            s.trials as f64 / at_most as f64
        } else {
            0.0
        };
        // Running trials are not done: short of 100 % until they end.
        let cap = if running.is_empty() { 1.0 } else { 0.99 };
        self.shown = self.shown.max(share.clamp(0.0, cap));
        let run_s: f64 = running.iter().sum();
        let gpu_s = self.ended_s + run_s;
        let eta_s = self.mean_s().map(|mean| {
            let queued = (at_most - s.trials) as f64 * mean;
            let finishing: f64 = running.iter().map(|r| (mean - r).max(0.0)).sum();
            let work = queued + finishing;
            (
                work / slots.max(1) as f64,
                // Nothing left: the GPU time is what it took.
                gpu_s + work,
            )
        });
        Progress {
            trials: s.trials,
            trials_at_most: at_most,
            fraction: self.shown,
            gpu_s,
            gpu_s_at_most: eta_s.map(|e| e.1),
            budget_nominal_s: s.nominal_s.map(|n| n.1),
            eta_s: eta_s.map(|e| e.0),
            counts: self.counts.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spend(trials: usize, at_most: usize) -> Spending {
        Spending {
            trials,
            trials_at_most: at_most,
            ..Default::default()
        }
    }

    #[test]
    fn the_share_never_runs_backwards_when_the_bound_grows() {
        let mut t = Tracker::default();
        assert_eq!(t.progress(spend(5, 10), &[], 1).fraction, 0.5);
        // A bound that grows (a plan longer than thought) keeps 50 %.
        let p = t.progress(spend(6, 20), &[], 1);
        assert_eq!(p.fraction, 0.5);
        assert_eq!((p.trials, p.trials_at_most), (6, 20));
        // Then it goes on from there.
        assert_eq!(t.progress(spend(16, 20), &[], 1).fraction, 0.8);
    }

    #[test]
    fn the_end_of_the_search_is_all_of_it_once_nothing_runs() {
        let mut t = Tracker::default();
        t.ended(10.0);
        let over = Spending {
            over: true,
            ..spend(7, 30)
        };
        let p = t.progress(over, &[4.0], 2);
        assert!(p.fraction < 1.0, "{p:?}");
        let p = t.progress(over, &[], 2);
        assert_eq!(p.fraction, 1.0);
        assert_eq!(p.percent(), 100);
        assert_eq!(p.trials_at_most, 30, "the bound is the searcher's to say");
    }

    #[test]
    fn time_left_is_the_trials_left_at_the_mean_time_over_the_slots() {
        let mut t = Tracker::default();
        assert_eq!(t.progress(spend(1, 9), &[5.0], 1).eta_s, None);
        t.ended(100.0);
        t.ended(200.0);
        // 9 - 3 = 6 trials not yet handed out at 150 s, and the running
        // one has 150 - 50 s to go: 1000 s of work over 2 slots.
        let p = t.progress(spend(3, 9), &[50.0], 2);
        assert_eq!(p.eta_s, Some(500.0));
        assert_eq!(p.gpu_s, 350.0);
        assert_eq!(p.gpu_s_at_most, Some(1350.0));
        // A running trial past the mean adds nothing more.
        assert_eq!(t.progress(spend(3, 9), &[400.0], 2).eta_s, Some(450.0));
    }

    #[test]
    fn the_text_says_the_trials_the_share_and_the_time_left_at_most() {
        let mut t = Tracker::default();
        t.ended(600.0);
        let p = t.progress(spend(12, 137), &[], 1);
        assert_eq!(p.text(0.0), "trials 12/≤137 8%, ≤20h50m left");
        // Time passes while a trial runs; the estimate counts down.
        assert_eq!(p.text(3600.0), "trials 12/≤137 8%, ≤19h50m left");
        assert_eq!(p.gpu_text().as_deref(), Some("GPU 10m of ≤21h00m"));
        let over = Spending {
            over: true,
            ..spend(91, 137)
        };
        assert_eq!(t.progress(over, &[], 1).text(0.0), "trials 91, 100%");
        assert_eq!(short_s(45.0), "45s");
        assert_eq!(short_s(61.0), "1m01s");
        assert_eq!(short_s(601.0), "11m");
    }

    #[test]
    fn a_time_budget_is_the_share_of_its_nominal_seconds() {
        let mut t = Tracker::default();
        let s = Spending {
            nominal_s: Some((900.0, 3600.0)),
            ..spend(4, 20)
        };
        let p = t.progress(s, &[], 1);
        assert_eq!(p.fraction, 0.25);
        assert_eq!(p.budget_nominal_s, Some(3600.0));
    }
}
