//! Noise-aware judgement of trials: a pooled estimate of the run-to-run
//! noise learned from every trial so far, and the rules that use it — stop a
//! trial early when it cannot meet the accuracy bar or cannot beat the
//! group's leader, run a close call longer, and let a challenger replace the
//! incumbent only when it is better beyond the noise. Pure: no I/O, no
//! clock.
//!
//! Why pooled: two runs of one trial say almost nothing about its spread,
//! but the spread is much the same for every configuration of one service
//! (relative for throughput, absolute for accuracy), so the within-trial
//! deviations of all trials are pooled into one estimate with their degrees
//! of freedom, and nothing is judged until that estimate rests on enough of
//! them (`min_df`).
//!
//! The objective's noise is relative ([`Scale::Relative`]) only while every
//! figure of it seen, turned so that higher is better ([`push_run`]), is
//! positive: a maximised throughput. Any other objective (a minimised
//! latency, a latency delta or a score that reaches 0 or below) is judged on
//! an absolute scale ([`Scale::Absolute`]), in its own units. So the noise
//! at the group's leader is not underestimated: on the relative scale the
//! leader has the largest figure and so the largest spread, while a spread
//! relative to a minimised figure would be smallest at the leader, and a
//! ratio to a figure near or below 0 means nothing.

mod robust;

pub use robust::RobustNoise;
#[cfg(test)]
use robust::f_upper_tail;

use super::goal::{Direction, Goal, Op};
use super::record::{EvalRun, Record, Status};
use super::stats::t95;

/// The figures of one configuration's ok eval runs.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Samples {
    /// The goal's first constraint per run (accuracy under today's goal),
    /// as `push_run` turns it (higher is better).
    pub constraint: Vec<f64>,
    /// The goal's objective per run (total tokens/s under today's goal),
    /// as `push_run` turns it (higher is better).
    pub objective: Vec<f64>,
}

impl Samples {
    /// The ok runs of a record (status `ok`, `partial` or `pruned`) as
    /// today's goal sees them: accuracy and total tokens/s.
    pub fn of(r: &Record) -> Samples {
        samples_of(r, &Goal::default_for(0.0))
    }

    /// Adds one run.
    pub fn push(&mut self, acc: f64, tps: f64) {
        self.constraint.push(acc);
        self.objective.push(tps);
    }

    /// Adds another set of runs of the same configuration.
    pub fn extend(&mut self, o: &Samples) {
        self.constraint.extend_from_slice(&o.constraint);
        self.objective.extend_from_slice(&o.objective);
    }

    /// Number of runs.
    pub fn n(&self) -> usize {
        self.objective.len()
    }

    fn mean(xs: &[f64]) -> f64 {
        xs.iter().sum::<f64>() / xs.len().max(1) as f64
    }

    /// Mean accuracy.
    pub fn constraint_mean(&self) -> f64 {
        Self::mean(&self.constraint)
    }

    /// Mean total tokens/s.
    pub fn objective_mean(&self) -> f64 {
        Self::mean(&self.objective)
    }

    /// The sign of the objective's figures: `1` when none is negative and
    /// their mean is positive, `-1` the other way round, `0` when they
    /// straddle 0 (or average 0 without all being 0); `None` without runs
    /// or when every figure is 0 (a served trial that did nothing says
    /// nothing of the objective's sign).
    fn sign(&self) -> Option<i8> {
        if self.objective.iter().all(|t| *t == 0.0) {
            return None;
        }
        let m = self.objective_mean();
        Some(if m > 0.0 && self.objective.iter().all(|t| *t >= 0.0) {
            1
        } else if m < 0.0 && self.objective.iter().all(|t| *t <= 0.0) {
            -1
        } else {
            0
        })
    }
}

/// How the objective's run-to-run noise is modelled (see the module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Multiplicative: one run's spread is a fraction of the figure.
    Relative,
    /// Additive: one run's spread is the same whatever the figure.
    Absolute,
}

/// Whether `x` is above `reference` by more than `tie` of its size (a
/// difference in the last bits is no difference), whatever their sign.
pub fn above_tie(x: f64, reference: f64, tie: f64) -> bool {
    if reference >= 0.0 {
        x > reference * (1.0 + tie)
    } else {
        x > reference * (1.0 - tie)
    }
}

/// How a goal is seen by the noise rules. `Samples::tps` holds the
/// objective and `Samples::acc` the goal's first constraint, both turned so
/// that higher is better: a minimised objective negated (so its figures are
/// kept whatever their sign, and their mean is the goal's mean turned), a
/// `<=` constraint negated (its bar too, see [`primary_bar`]). Today's goal
/// (total tok/s, accuracy >= X) reads as before. Further constraints are
/// checked when a group is decided ([`Goal::qualifies`]), not judged for
/// early stopping.
pub fn push_run(s: &mut Samples, run: &EvalRun, goal: &Goal) -> bool {
    if !run.ok {
        return false;
    }
    let obj = Goal::run_value(run, &goal.objective.name).map(|v| match goal.objective.dir {
        Direction::Max => v,
        Direction::Min => -v,
    });
    let primary = match goal.constraints.first() {
        None => Some(0.0),
        Some(c) => Goal::run_value(run, &c.name).map(|v| match c.op {
            Op::Ge => v,
            Op::Le => -v,
        }),
    };
    match (obj, primary) {
        (Some(t), Some(a)) => {
            s.push(a, t);
            true
        }
        _ => false,
    }
}

/// The bar of the goal's first constraint as [`push_run`] turns it
/// (`f64::MIN` without a constraint: everything clears it).
pub fn primary_bar(goal: &Goal) -> f64 {
    match goal.constraints.first() {
        None => f64::MIN,
        Some(c) => match c.op {
            Op::Ge => c.bound,
            Op::Le => -c.bound,
        },
    }
}

/// The ok runs of a record as the goal sees them (status `ok`, `partial`
/// or `pruned`).
pub fn samples_of(r: &Record, goal: &Goal) -> Samples {
    let mut s = Samples::default();
    if !matches!(r.status, Status::Ok | Status::Partial | Status::Pruned) {
        return s;
    }
    for run in r
        .eval
        .as_ref()
        .and_then(|e| e.eval_runs.as_ref())
        .into_iter()
        .flatten()
    {
        push_run(&mut s, run, goal);
    }
    s
}

/// The run-to-run noise pooled over trials: the objective's both relative
/// and absolute (which one applies is [`PooledNoise::scale`]'s call),
/// accuracy's absolute.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PooledNoise {
    ss_tps_rel: f64,
    ss_acc: f64,
    df: usize,
    #[serde(default)]
    ss_tps_abs: f64,
    /// Signs of the objective's figures seen (see `Samples::sign`): a
    /// positive trial, a negative one, one straddling 0.
    #[serde(default)]
    seen_pos: bool,
    #[serde(default)]
    seen_neg: bool,
    #[serde(default)]
    seen_mixed: bool,
}

impl PooledNoise {
    /// Adds one trial's runs (at least 2 to count towards the spread; any
    /// number towards the signs seen).
    pub fn add(&mut self, s: &Samples) {
        match s.sign() {
            Some(1) => self.seen_pos = true,
            Some(-1) => self.seen_neg = true,
            Some(_) => self.seen_mixed = true,
            None => {}
        }
        let n = s.n();
        if n < 2 {
            return;
        }
        let mt = s.objective_mean();
        let ma = s.constraint_mean();
        // A ratio to a mean of one sign is a ratio; to one straddling 0 it
        // is nothing (and then the relative estimate is never used).
        if matches!(s.sign(), Some(1) | Some(-1)) {
            self.ss_tps_rel += s
                .objective
                .iter()
                .map(|t| (t / mt - 1.0).powi(2))
                .sum::<f64>();
        }
        self.ss_tps_abs += s.objective.iter().map(|t| (t - mt).powi(2)).sum::<f64>();
        self.ss_acc += s.constraint.iter().map(|a| (a - ma).powi(2)).sum::<f64>();
        self.df += n - 1;
    }

    /// Notes a figure of the objective known only as a mean (a record
    /// without runs), for the signs seen.
    pub fn note_level(&mut self, t: f64) {
        if t > 0.0 {
            self.seen_pos = true;
        } else if t < 0.0 {
            self.seen_neg = true;
        }
    }

    /// Degrees of freedom behind the estimate.
    pub fn df(&self) -> usize {
        self.df
    }

    /// Whether every figure of the objective seen was of one sign, so that
    /// ratios between them mean something.
    pub fn one_signed(&self) -> bool {
        !(self.seen_mixed || self.seen_pos && self.seen_neg)
    }

    /// The scale the objective is judged on when comparing `samples`:
    /// relative while every figure seen, theirs included, is positive (a
    /// maximised throughput), absolute otherwise (see the module).
    pub fn scale(&self, samples: &[&Samples]) -> Scale {
        let positive = |s: &Samples| s.sign().is_none_or(|g| g == 1);
        if !self.seen_neg && !self.seen_mixed && samples.iter().all(|s| positive(s)) {
            Scale::Relative
        } else {
            Scale::Absolute
        }
    }

    /// Standard deviation of one run's objective at the figure `level` on
    /// `scale`.
    pub fn tps_sd(&self, scale: Scale, level: f64) -> f64 {
        match scale {
            Scale::Relative => self.tps_rel_sd() * level,
            Scale::Absolute => self.tps_abs_sd(),
        }
    }

    /// Standard deviation of one run's objective in its own units (the
    /// absolute scale).
    pub fn tps_abs_sd(&self) -> f64 {
        if self.df == 0 {
            0.0
        } else {
            (self.ss_tps_abs / self.df as f64).sqrt()
        }
    }

    /// Relative standard deviation of one run's tokens/s.
    pub fn tps_rel_sd(&self) -> f64 {
        if self.df == 0 {
            0.0
        } else {
            (self.ss_tps_rel / self.df as f64).sqrt()
        }
    }

    /// Standard deviation of one run's accuracy.
    pub fn acc_sd(&self) -> f64 {
        if self.df == 0 {
            0.0
        } else {
            (self.ss_acc / self.df as f64).sqrt()
        }
    }
}

impl PooledNoise {
    /// The noise of one set of runs alone (its own spread).
    pub fn of_samples(s: &Samples) -> PooledNoise {
        let mut p = PooledNoise::default();
        p.add(s);
        p
    }

    /// Adds another pool's sums and signs.
    fn absorb(&mut self, o: &PooledNoise) {
        self.ss_tps_rel += o.ss_tps_rel;
        self.ss_tps_abs += o.ss_tps_abs;
        self.ss_acc += o.ss_acc;
        self.df += o.df;
        self.seen_pos |= o.seen_pos;
        self.seen_neg |= o.seen_neg;
        self.seen_mixed |= o.seen_mixed;
    }
}

/// How careful the judgements are.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct NoisePolicy {
    /// Stop hopeless trials early.
    pub prune: bool,
    /// Judge from this many ok runs on (at least 2).
    pub prune_after: u32,
    /// Two-sided confidence of the judgements (0.95: a trial is stopped
    /// only when the chance that it would have met the bar or won is about
    /// 2.5 %).
    pub confidence: f64,
    /// No judgement until the pooled noise has this many degrees of freedom.
    pub min_df: usize,
    /// A close call may run up to this many eval runs (0: never longer
    /// than `--eval_runs`).
    pub max_runs: u32,
    /// One-sided confidence that a challenger is faster than the incumbent
    /// before it replaces it (0.5: the higher mean wins, as in the plain
    /// search).
    pub gate: f64,
    /// One-sided confidence that a challenger's accuracy is above the bar
    /// (0.5: its mean suffices).
    pub acc_guard: f64,
    /// The same after the first pass (later passes and the refinement):
    /// stricter, as they make many more decisions near the bar, each a
    /// chance for a lucky mean to cross it (on the demo's landscape, whose
    /// best sits 0.0005 over the bar, 0.95 throughout ended truly under the
    /// bar in 7 seeds of 100, 0.99 in 1).
    pub acc_guard_later: f64,
    /// Close calls re-measured per run (each: both sides started again
    /// for a full set of eval runs, pooled with the earlier ones).
    pub recheck_budget: usize,
    /// One-sided level under which a difference is a close call.
    pub recheck_level: f64,
}

impl Default for NoisePolicy {
    fn default() -> Self {
        NoisePolicy {
            prune: true,
            prune_after: 2,
            confidence: 0.95,
            min_df: 8,
            max_runs: 0,
            gate: 0.5,
            acc_guard: 0.95,
            acc_guard_later: 0.99,
            recheck_budget: 8,
            recheck_level: 0.8,
        }
    }
}

impl NoisePolicy {
    /// The policy a decision uses: after the first pass the accuracy guard
    /// is `acc_guard_later` (never looser than `acc_guard`).
    pub fn for_stage(&self, first_pass: bool) -> NoisePolicy {
        NoisePolicy {
            acc_guard: if first_pass {
                self.acc_guard
            } else {
                self.acc_guard.max(self.acc_guard_later)
            },
            ..*self
        }
    }

    /// The quantile for `df` degrees of freedom at this confidence (Student
    /// t at 95 %, scaled from the normal quantiles for other levels).
    pub fn quantile(&self, df: usize) -> f64 {
        t_quantile(0.5 + self.confidence / 2.0, df)
    }
}

/// Student's t quantile at one-sided level `p` for `df` degrees of freedom:
/// the 95 % two-sided table scaled by the normal quantiles (close enough
/// for the levels used here, and exact at 0.975).
pub fn t_quantile(p: f64, df: usize) -> f64 {
    if p <= 0.5 {
        return 0.0;
    }
    t95(df as f64) * normal_quantile(p) / 1.959964
}

/// The standard normal quantile (Acklam's rational approximation, ample for
/// confidence levels).
pub fn normal_quantile(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let pl = 0.02425;
    if p < pl {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - pl {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

/// What a running trial should do after an eval run.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Go on with the planned runs.
    Continue,
    /// Stop now: it cannot win. The reason says why.
    Prune(String),
    /// The planned runs are done but the call is close: run once more.
    Extend,
    /// Done.
    Stop,
}

/// The judge a trial carries: the group's leader and the noise as known
/// when the trial was handed out.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Judge {
    /// The policy.
    pub policy: NoisePolicy,
    /// The accuracy bar.
    pub threshold: f64,
    /// Planned eval runs.
    pub runs: u32,
    /// The group's best qualifying configuration so far.
    pub leader: Option<Samples>,
    /// The pooled noise.
    pub noise: PooledNoise,
    /// The goal the samples are seen through, when it is not today's (for
    /// the reasons' words and units).
    #[serde(default)]
    pub goal: Option<Goal>,
}

impl Judge {
    /// A figure of the first constraint in its own units and name.
    fn primary_text(&self, v: f64) -> (String, f64) {
        match self.goal.as_ref().and_then(|g| g.constraints.first()) {
            Some(c) if c.op == Op::Le => (c.name.clone(), -v),
            Some(c) => (c.name.clone(), v),
            None => ("accuracy".into(), v),
        }
    }

    /// A figure of the objective in its own units, with its unit name.
    fn objective_text(&self, v: f64) -> (String, f64) {
        match &self.goal {
            Some(g) if g.objective.dir == Direction::Min => (g.objective.name.clone(), -v),
            Some(g) => (g.objective.name.clone(), v),
            None => ("tok/s".into(), v),
        }
    }

    /// Half-width of the mean's interval for `n` runs of accuracy.
    fn spread(&self, sd: f64, n: usize) -> f64 {
        self.policy.quantile(self.noise.df()) * sd / (n as f64).sqrt()
    }

    /// Whether the noise estimate is good enough to judge at all.
    fn informed(&self) -> bool {
        self.noise.df() >= self.policy.min_df
    }

    /// The verdict after the runs in `s` (ok runs only) and `done` runs in
    /// all (ok or not).
    pub fn verdict(&self, s: &Samples, done: u32) -> Verdict {
        let n = s.n();
        let planned_left = done < self.runs;
        if self.policy.prune
            && n as u32 >= self.policy.prune_after.max(2)
            && self.informed()
            && let Some(why) = self.hopeless(s)
        {
            return Verdict::Prune(why);
        }
        if planned_left {
            return Verdict::Continue;
        }
        if done < self.policy.max_runs && self.close_call(s) {
            return Verdict::Extend;
        }
        Verdict::Stop
    }

    fn hopeless(&self, s: &Samples) -> Option<String> {
        let n = s.n();
        let acc = s.constraint_mean();
        let acc_up = acc + self.spread(self.noise.acc_sd(), n);
        if acc_up < self.threshold {
            let (name, shown) = self.primary_text(acc);
            let (_, best) = self.primary_text(acc_up);
            let (_, bar) = self.primary_text(self.threshold);
            // `at most 0.8690 ... cannot reach the bar 0.88`: the bar is out
            // of reach, said so (not "beyond", which reads as over it).
            let (side, reach) = if shown == acc {
                ("at most", "reach")
            } else {
                ("at least", "get down to")
            };
            return Some(format!(
                "{name} {shown:.4} after {n} runs: {side} {best:.4} at {:.0} % confidence, so it cannot {reach} the bar {bar}",
                self.policy.confidence * 100.0,
            ));
        }
        let leader = self.leader.as_ref()?;
        let (mt, ml) = (s.objective_mean(), leader.objective_mean());
        let sd = self.noise.tps_sd(self.noise.scale(&[s, leader]), ml);
        let half = self.policy.quantile(self.noise.df())
            * sd
            * (1.0 / n as f64 + 1.0 / leader.n().max(1) as f64).sqrt();
        if mt + half < ml {
            let (unit, shown) = self.objective_text(mt);
            let (_, reach) = self.objective_text(mt + half);
            let (_, lead) = self.objective_text(ml);
            return Some(format!(
                "{shown:.1} {unit} after {n} runs: {reach:.1} at best at {:.0} % confidence, behind the group's leader {lead:.1}",
                self.policy.confidence * 100.0
            ));
        }
        None
    }

    /// The trial could still overtake or lose to the leader: more runs
    /// would tell.
    fn close_call(&self, s: &Samples) -> bool {
        let Some(leader) = &self.leader else {
            return false;
        };
        if !self.informed() || s.constraint_mean() < self.threshold {
            return false;
        }
        let (mt, ml) = (s.objective_mean(), leader.objective_mean());
        let sd = self.noise.tps_sd(self.noise.scale(&[s, leader]), ml);
        let half = self.policy.quantile(self.noise.df())
            * sd
            * (1.0 / s.n().max(1) as f64 + 1.0 / leader.n().max(1) as f64).sqrt();
        mt > ml && mt - ml <= half
    }
}

/// Whether `challenger` is better than `incumbent` beyond the noise (always
/// when the gate is off or nothing is known of the noise yet... see below).
///
/// Before the pooled estimate is informed, the plain rule (higher mean
/// wins) applies: refusing every change for lack of data would freeze the
/// first groups at their defaults.
pub fn beats(
    policy: &NoisePolicy,
    noise: &PooledNoise,
    challenger: &Samples,
    incumbent: &Samples,
) -> bool {
    let (mc, mi) = (challenger.objective_mean(), incumbent.objective_mean());
    // A difference in the last bits is no difference.
    if !above_tie(mc, mi, 1e-9) {
        return false;
    }
    if noise.df() < policy.min_df || incumbent.n() == 0 || challenger.n() == 0 {
        return true;
    }
    let sd = noise.tps_sd(noise.scale(&[challenger, incumbent]), mi);
    let half = t_quantile(policy.gate, noise.df())
        * sd
        * (1.0 / challenger.n() as f64 + 1.0 / incumbent.n() as f64).sqrt();
    mc - mi > half
}

/// Whether the runs' accuracy is above the bar beyond the noise (the mean
/// alone before the pooled estimate is informed, or with the gate off).
pub fn above_bar(policy: &NoisePolicy, noise: &PooledNoise, s: &Samples, threshold: f64) -> bool {
    if s.n() == 0 {
        return false;
    }
    let m = s.constraint_mean();
    if noise.df() < policy.min_df {
        return m >= threshold;
    }
    m - t_quantile(policy.acc_guard, noise.df()) * noise.acc_sd() / (s.n() as f64).sqrt()
        >= threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(tps: &[f64], acc: f64) -> Samples {
        let mut s = Samples::default();
        for t in tps {
            s.push(acc, *t);
        }
        s
    }

    #[test]
    fn f_tail_matches_tables() {
        // F(1, d) is t(d) squared: t_{0.975}(8) = 2.306.
        assert!((f_upper_tail(2.306f64.powi(2), 1.0, 8.0) - 0.05).abs() < 1e-3);
        // F_{0.99}(3, 10) = 6.552; F_{0.95}(5, 20) = 2.711.
        assert!((f_upper_tail(6.552, 3.0, 10.0) - 0.01).abs() < 1e-4);
        assert!((f_upper_tail(2.711, 5.0, 20.0) - 0.05).abs() < 1e-3);
        assert_eq!(f_upper_tail(0.0, 1.0, 8.0), 1.0);
        assert_eq!(f_upper_tail(f64::INFINITY, 1.0, 8.0), 0.0);
    }

    /// An accuracy that alternates 0.30 / 0.90 is kept out of the pool once
    /// the others have enough degrees of freedom, whenever it comes; the
    /// pool of the rest is exactly what it would be without it.
    #[test]
    fn an_out_of_line_spread_is_kept_out_of_the_pool() {
        let cfg = |i: usize| {
            let a = 0.899 + 0.003 * ((i % 3) as f64 - 1.0);
            samples(&[100.0 + i as f64, 101.0 + i as f64], a)
        };
        let mut wild = Samples::default();
        wild.push(0.30, 100.0);
        wild.push(0.90, 101.0);
        for at in [0, 3, 12] {
            let mut r = RobustNoise::new(8);
            let mut plain = PooledNoise::default();
            let mut said = Vec::new();
            for i in 0..12 {
                if i == at {
                    said.extend(r.add("wild", &wild));
                }
                let mut s = cfg(i);
                s.constraint[1] += 0.002;
                said.extend(r.add(&format!("c{i}"), &s));
                plain.add(&s);
            }
            if at == 12 {
                said.extend(r.add("wild", &wild));
            }
            assert_eq!(said, ["wild"], "at {at}");
            assert!(r.is_excluded("wild"));
            assert_eq!(*r.pooled(), plain, "at {at}");
            assert!(r.own("wild").acc_sd() > 0.4);
            // A second one like it does not hide the first (nor itself).
            assert_eq!(r.add("wild2", &wild), ["wild2"]);
            assert!(r.is_excluded("wild") && r.is_excluded("wild2"));
            assert_eq!(*r.pooled(), plain, "at {at}");
            // Said once: more runs of it say nothing new.
            assert!(r.add("wild", &wild).is_empty());
        }
        // A throughput that swings is out of line too.
        let mut r = RobustNoise::new(8);
        for i in 0..10 {
            r.add(&format!("c{i}"), &cfg(i));
        }
        assert_eq!(r.add("swing", &samples(&[500.0, 1500.0], 0.9)), ["swing"]);
        // An eval that gives the same accuracy run after run is no reason
        // to single out one whose figures move in the last digits.
        let mut r = RobustNoise::new(8);
        for i in 0..10 {
            r.add(&format!("c{i}"), &samples(&[100.0, 100.0], 0.88));
        }
        let mut s = samples(&[100.0, 100.0], 0.88);
        s.constraint[1] = 0.8815;
        assert!(r.add("digits", &s).is_empty());
        // Ordinary spreads keep everyone in.
        let mut r = RobustNoise::new(8);
        let mut plain = PooledNoise::default();
        for i in 0..20 {
            let mut s = cfg(i);
            s.constraint[0] += 0.001 * (i % 4) as f64;
            assert!(r.add(&format!("c{i}"), &s).is_empty());
            plain.add(&s);
        }
        assert_eq!(*r.pooled(), plain);
    }

    /// A served trial at 0 tok/s (every run 0) says nothing of the sign:
    /// the default goal keeps its relative noise model, and the spread is
    /// not NaN.
    #[test]
    fn a_trial_at_zero_keeps_the_relative_model() {
        let mut p = noisy_pool();
        p.add(&samples(&[0.0, 0.0, 0.0], 0.9));
        p.note_level(0.0);
        assert!(p.one_signed());
        let a = samples(&[100.0, 101.0], 0.9);
        assert_eq!(p.scale(&[&a]), Scale::Relative);
        assert!(p.tps_sd(Scale::Relative, 100.0).is_finite());
    }

    /// After the first pass a mean just over the bar needs more: one that
    /// clears it at 95 % in the first pass does not at 99 % later.
    #[test]
    fn the_accuracy_guard_is_stricter_after_the_first_pass() {
        let p = NoisePolicy::default();
        assert_eq!(p.for_stage(true).acc_guard, 0.95);
        assert_eq!(p.for_stage(false).acc_guard, 0.99);
        let strict = NoisePolicy {
            acc_guard: 0.995,
            ..p
        };
        assert_eq!(strict.for_stage(false).acc_guard, 0.995);
        // Pooled accuracy spread about 0.0158 a run.
        let mut pool = PooledNoise::default();
        for _ in 0..4 {
            let mut t = Samples::default();
            for a in [0.90, 0.91, 0.89, 0.92, 0.88] {
                t.push(a, 100.0);
            }
            pool.add(&t);
        }
        let mut s = Samples::default();
        for _ in 0..5 {
            s.push(0.893, 100.0);
        }
        assert!(above_bar(&p.for_stage(true), &pool, &s, 0.88));
        assert!(!above_bar(&p.for_stage(false), &pool, &s, 0.88));
    }

    fn noisy_pool() -> PooledNoise {
        let mut p = PooledNoise::default();
        for _ in 0..4 {
            p.add(&samples(&[98.0, 102.0, 100.0, 101.0, 99.0], 0.9));
        }
        p
    }

    #[test]
    fn quantiles() {
        assert!((normal_quantile(0.975) - 1.96).abs() < 1e-3);
        assert!((normal_quantile(0.5)).abs() < 1e-9);
        let p = NoisePolicy::default();
        assert!((p.quantile(1000) - 1.962).abs() < 0.01);
        assert!(p.quantile(4) > 2.7);
    }

    #[test]
    fn pooled_noise_is_relative() {
        let p = noisy_pool();
        assert_eq!(p.df(), 16);
        assert!((p.tps_rel_sd() - 0.0158).abs() < 1e-3, "{}", p.tps_rel_sd());
        let mut q = PooledNoise::default();
        q.add(&samples(&[980.0, 1020.0, 1000.0, 1010.0, 990.0], 0.9));
        assert!((q.tps_rel_sd() - 0.0158).abs() < 1e-3);
    }

    #[test]
    fn prunes_only_the_hopeless_and_only_when_informed() {
        let judge = Judge {
            policy: NoisePolicy::default(),
            threshold: 0.88,
            runs: 5,
            leader: Some(samples(&[100.0; 5], 0.9)),
            noise: noisy_pool(),
            goal: None,
        };
        // Far behind the leader after 2 runs.
        assert!(matches!(
            judge.verdict(&samples(&[80.0, 81.0], 0.9), 2),
            Verdict::Prune(r) if r.contains("leader")
        ));
        // Clearly under the accuracy bar: said as out of reach.
        match judge.verdict(&samples(&[120.0, 121.0], 0.70), 2) {
            Verdict::Prune(r) => {
                assert!(
                    r.starts_with("accuracy 0.7000 after 2 runs: at most 0.7"),
                    "{r}"
                );
                assert!(
                    r.ends_with("at 95 % confidence, so it cannot reach the bar 0.88"),
                    "{r}"
                );
            }
            v => panic!("{v:?}"),
        }
        // Within the noise of the leader: goes on.
        assert_eq!(
            judge.verdict(&samples(&[99.0, 98.0], 0.9), 2),
            Verdict::Continue
        );
        // One run is never enough.
        assert_eq!(judge.verdict(&samples(&[50.0], 0.9), 1), Verdict::Continue);
        // Little data on the noise: no pruning.
        let mut blind = judge.clone();
        blind.noise = PooledNoise::default();
        assert_eq!(
            blind.verdict(&samples(&[80.0, 81.0], 0.9), 2),
            Verdict::Continue
        );
        // Pruning off.
        let mut off = judge.clone();
        off.policy.prune = false;
        assert_eq!(
            off.verdict(&samples(&[80.0, 81.0], 0.9), 2),
            Verdict::Continue
        );
        assert_eq!(off.verdict(&samples(&[80.0; 5], 0.9), 5), Verdict::Stop);
    }

    #[test]
    fn zero_noise_prunes_exactly_the_losers() {
        let mut p = PooledNoise::default();
        for _ in 0..5 {
            p.add(&samples(&[100.0, 100.0, 100.0], 0.9));
        }
        let judge = Judge {
            policy: NoisePolicy::default(),
            threshold: 0.88,
            runs: 5,
            leader: Some(samples(&[100.0; 5], 0.9)),
            noise: p,
            goal: None,
        };
        assert!(matches!(
            judge.verdict(&samples(&[99.9, 99.9], 0.9), 2),
            Verdict::Prune(_)
        ));
        // A tie is not pruned (the earlier trial wins ties when chosen).
        assert_eq!(
            judge.verdict(&samples(&[100.0, 100.0], 0.9), 2),
            Verdict::Continue
        );
        assert!(beats(
            &judge.policy,
            &p,
            &samples(&[100.1], 0.9),
            &samples(&[100.0], 0.9)
        ));
    }

    #[test]
    fn close_calls_run_longer_and_the_gate_holds_noise_back() {
        let policy = NoisePolicy {
            max_runs: 10,
            gate: 0.95,
            ..NoisePolicy::default()
        };
        let judge = Judge {
            policy,
            threshold: 0.88,
            runs: 5,
            leader: Some(samples(&[100.0; 5], 0.9)),
            noise: noisy_pool(),
            goal: None,
        };
        let close = samples(&[101.0, 100.5, 101.5, 100.0, 102.0], 0.9);
        assert_eq!(judge.verdict(&close, 5), Verdict::Extend);
        assert_eq!(judge.verdict(&close, 10), Verdict::Stop);
        let clear = samples(&[110.0, 111.0, 109.0, 110.0, 110.0], 0.9);
        assert_eq!(judge.verdict(&clear, 5), Verdict::Stop);
        let inc = samples(&[100.0; 5], 0.9);
        assert!(!beats(&policy, &noisy_pool(), &close, &inc));
        assert!(beats(&policy, &noisy_pool(), &clear, &inc));
    }

    /// An ok eval run with accuracy 0.9 and `delta_ms` = `v`.
    fn delta_run(v: f64) -> EvalRun {
        use crate::engine::record::Measured;
        EvalRun {
            i: 1,
            ok: true,
            measured: Some(Measured {
                returncode: Some(0),
                accuracy: Some(0.9),
                ..Default::default()
            }),
            metrics: Some([("delta_ms".to_string(), v)].into()),
            ..Default::default()
        }
    }

    /// `delta_ms` figures as a goal minimising it sees them.
    fn seen(goal: &Goal, vals: &[f64]) -> Samples {
        let mut s = Samples::default();
        for v in vals {
            assert!(push_run(&mut s, &delta_run(*v), goal));
        }
        s
    }

    /// A minimised objective whose figures cross 0 (a latency delta, run
    /// to run noise 0.1 ms whatever the figure): every figure counts, and
    /// the rules compare differences in its own units with the smaller
    /// figure better.
    #[test]
    fn a_minimised_objective_crossing_zero_is_judged_in_its_own_units() {
        use crate::engine::goal::{Constraint, Objective};
        let goal = Goal {
            objective: Objective {
                name: "delta_ms".into(),
                dir: Direction::Min,
            },
            constraints: vec![Constraint {
                name: "accuracy".into(),
                op: Op::Ge,
                bound: 0.5,
            }],
        };
        let mut pool = PooledNoise::default();
        for level in [1.0, 0.0, -1.0, 2.0] {
            pool.add(&seen(&goal, &[level - 0.1, level + 0.1, level]));
        }
        assert_eq!(pool.df(), 8);
        assert!((pool.tps_abs_sd() - 0.1).abs() < 1e-9, "{pool:?}");
        let leader = seen(&goal, &[-1.0, -1.1, -0.9]);
        assert_eq!(leader.n(), 3, "a figure below 0 was dropped");
        assert_eq!(pool.scale(&[&leader]), Scale::Absolute);
        let judge = Judge {
            policy: NoisePolicy {
                max_runs: 10,
                ..NoisePolicy::default()
            },
            threshold: primary_bar(&goal),
            runs: 3,
            leader: Some(leader.clone()),
            noise: pool,
            goal: Some(goal.clone()),
        };
        // Far above the leader's -1.0 ms (worse): stopped, in its units.
        let worse = seen(&goal, &[0.5, 0.6]);
        assert!(matches!(
            judge.verdict(&worse, 2),
            Verdict::Prune(r) if r.contains("0.6 delta_ms after 2 runs") && r.contains("leader -1.0")
        ));
        // Near the leader, level with it, or below it (better): goes on.
        for v in [[-0.95, -1.0], [-1.0, -1.0], [-1.3, -1.4], [-0.85, -1.1]] {
            assert_eq!(
                judge.verdict(&seen(&goal, &v), 2),
                Verdict::Continue,
                "{v:?}"
            );
        }
        // Just under the leader after the planned runs: a close call, run
        // longer; clearly under it: done.
        let close = seen(&goal, &[-1.05, -1.02, -1.08]);
        assert_eq!(judge.verdict(&close, 3), Verdict::Extend);
        let clear = seen(&goal, &[-2.0, -2.1, -1.9]);
        assert_eq!(judge.verdict(&clear, 3), Verdict::Stop);
        // Better beyond the noise: the smaller figure, by more than it.
        let gate = NoisePolicy {
            gate: 0.95,
            ..NoisePolicy::default()
        };
        assert!(beats(&gate, &pool, &clear, &leader));
        assert!(!beats(&gate, &pool, &close, &leader));
        assert!(!beats(&gate, &pool, &leader, &leader.clone()));
        assert!(!beats(&gate, &pool, &leader, &clear));
        // A figure of 0 or just above it is no ratio's reference: near 0
        // the rules still see 0.1 ms of noise, not a fraction of the figure.
        let near0 = Judge {
            leader: Some(seen(&goal, &[0.01, 0.02, 0.0])),
            ..judge.clone()
        };
        assert_eq!(
            near0.verdict(&seen(&goal, &[0.1, 0.12]), 2),
            Verdict::Continue
        );
        assert!(matches!(
            near0.verdict(&seen(&goal, &[0.5, 0.45]), 2),
            Verdict::Prune(_)
        ));
    }

    /// A maximised objective whose figures are all negative (a score): a
    /// tie with the leader is no loss and no gain, and the noise is in the
    /// score's own units.
    #[test]
    fn a_negative_maximised_objective_is_judged_in_its_own_units() {
        let mut pool = PooledNoise::default();
        for level in [-5.0, -7.0, -3.0, -6.0] {
            pool.add(&samples(&[level - 0.1, level + 0.1, level], 0.9));
        }
        assert!((pool.tps_abs_sd() - 0.1).abs() < 1e-9, "{pool:?}");
        let leader = samples(&[-5.0, -5.1, -4.9], 0.9);
        assert_eq!(pool.scale(&[&leader]), Scale::Absolute);
        let judge = Judge {
            policy: NoisePolicy {
                max_runs: 10,
                ..NoisePolicy::default()
            },
            threshold: 0.88,
            runs: 3,
            leader: Some(leader.clone()),
            noise: pool,
            goal: None,
        };
        assert_eq!(
            judge.verdict(&samples(&[-5.0, -5.0], 0.9), 2),
            Verdict::Continue,
            "a tie with the leader was stopped"
        );
        assert_eq!(
            judge.verdict(&samples(&[-5.05, -5.1], 0.9), 2),
            Verdict::Continue
        );
        assert!(matches!(
            judge.verdict(&samples(&[-6.0, -6.1], 0.9), 2),
            Verdict::Prune(r) if r.contains("leader -5.0")
        ));
        assert_eq!(
            judge.verdict(&samples(&[-4.95, -4.98, -4.97], 0.9), 3),
            Verdict::Extend
        );
        let gate = NoisePolicy {
            gate: 0.95,
            ..NoisePolicy::default()
        };
        let tie = samples(&[-5.0; 3], 0.9);
        // Before the noise is known the higher mean wins, but a tie is none.
        assert!(!beats(&gate, &PooledNoise::default(), &tie, &tie.clone()));
        assert!(!beats(&gate, &pool, &tie, &leader));
        assert!(!beats(&gate, &pool, &samples(&[-4.98; 3], 0.9), &leader));
        assert!(beats(&gate, &pool, &samples(&[-4.5; 3], 0.9), &leader));
        assert!(!beats(&gate, &pool, &leader, &samples(&[-4.5; 3], 0.9)));
    }

    /// Throughput keeps its relative scale; one figure at or below 0
    /// anywhere turns the objective to the absolute one for good.
    #[test]
    fn the_relative_scale_is_for_positive_figures_only() {
        let mut p = noisy_pool();
        let fast = samples(&[100.0; 3], 0.9);
        assert_eq!(p.scale(&[&fast]), Scale::Relative);
        assert!(p.one_signed());
        assert_eq!(
            p.scale(&[&fast, &samples(&[1.0, -0.5], 0.9)]),
            Scale::Absolute
        );
        p.add(&samples(&[0.2, -0.1], 0.9));
        assert_eq!(p.scale(&[&fast]), Scale::Absolute);
        assert!(!p.one_signed());
        // A minimised latency (all figures negated): one sign, absolute.
        let mut lat = PooledNoise::default();
        lat.add(&samples(&[-120.0, -118.0], 0.9));
        assert!(lat.one_signed());
        assert_eq!(lat.scale(&[]), Scale::Absolute);
    }
}
