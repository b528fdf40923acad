//! A simulated executor: runs the planner in-process against a landscape
//! function, a noise model and a cost model, so a whole search replays in
//! milliseconds. Tests use it to check the planner's choices; benchmarks use
//! it to compare search policies over many seeds.
//!
//! The landscape's `tps` is the planner's objective: total tokens/s under
//! today's goal, else the goal's objective metric (any sign).

use std::sync::Arc;

use std::collections::BTreeMap;

use super::goal::Goal;
use super::noise::{Samples, Verdict, push_run};
use super::record::{EvalRun, Measured, Phase, Record, Status, summarize};
use super::search::Params;
use super::search::Searcher;
use super::search::coordinate::{Step, TrialSpec};

/// What a configuration truly does (before noise).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Truth {
    /// It serves with this mean accuracy and total tokens/s.
    Serves {
        /// Mean accuracy.
        accuracy: f64,
        /// Mean total tokens/s (the mean objective under another goal).
        tps: f64,
    },
    /// It exits during start-up (out of memory...).
    Crashes,
    /// It never answers.
    Hangs,
}

/// Run-to-run noise of the measured figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// Relative standard deviation of total tokens/s per run (0.02 = 2 %).
    pub tps_rel_sd: f64,
    /// Absolute standard deviation of total tokens/s (the objective) per
    /// run, on top of the relative one: the noise of an objective whose
    /// figures reach 0 or below.
    pub tps_abs_sd: f64,
    /// Absolute standard deviation of accuracy per run.
    pub acc_abs_sd: f64,
    /// Relative standard deviation of tokens/s shared by every run of one
    /// start (a slow start makes all its runs slow): the between-start
    /// noise, on top of the runs' own.
    pub start_rel_sd: f64,
    /// Standard deviation of accuracy shared by every run of one start.
    pub start_acc_sd: f64,
}

impl Noise {
    /// One start's shared draw: (accuracy offset, tokens/s factor). Draws
    /// nothing without between-start noise, so a seed's runs stay what
    /// they were before it existed.
    pub(crate) fn start(&self, rng: &mut Gauss) -> (f64, f64) {
        if self.start_rel_sd == 0.0 && self.start_acc_sd == 0.0 {
            return (0.0, 1.0);
        }
        (
            rng.next() * self.start_acc_sd,
            (1.0 + rng.next() * self.start_rel_sd).max(0.05),
        )
    }

    /// No noise at all.
    pub const NONE: Noise = Noise {
        tps_rel_sd: 0.0,
        tps_abs_sd: 0.0,
        acc_abs_sd: 0.0,
        start_rel_sd: 0.0,
        start_acc_sd: 0.0,
    };
}

/// What a trial costs in GPU-seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// Start-up until ready (model loading).
    pub start_s: f64,
    /// One eval run.
    pub eval_run_s: f64,
    /// A crash during start-up.
    pub crash_s: f64,
    /// The start-up timeout (a hang costs all of it).
    pub timeout_s: f64,
}

impl Default for Cost {
    /// A real vLLM service: a minute to load, 30 s per eval run.
    fn default() -> Self {
        Cost {
            start_s: 60.0,
            eval_run_s: 30.0,
            crash_s: 20.0,
            timeout_s: 600.0,
        }
    }
}

/// What a simulated search did.
#[derive(Debug, Clone, Default)]
pub struct SimReport {
    /// The base at the end: the chosen configuration.
    pub best: Params,
    /// Trials run (started).
    pub trials: usize,
    /// Trials reused instead of run.
    pub reused: usize,
    /// Trials not started: an earlier failure predicted theirs.
    pub predicted: usize,
    /// Eval runs done.
    pub eval_runs: usize,
    /// GPU-seconds spent under the cost model.
    pub gpu_s: f64,
    /// Every record, in the order the trials ran.
    pub records: Vec<Arc<Record>>,
    /// What the search said a larger budget would add (the pooled search).
    pub outlook: Option<String>,
}

/// A seeded normal deviate source (Box-Muller over fastrand).
pub(crate) struct Gauss(pub(crate) fastrand::Rng);

impl Gauss {
    pub(crate) fn next(&mut self) -> f64 {
        let u1 = self.0.f64().max(f64::MIN_POSITIVE);
        let u2 = self.0.f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// Runs `planner` to the end against `landscape`, with `eval_runs` eval runs
/// per trial, `noise` on each run and `cost` per step; `seed` fixes the
/// noise.
pub fn simulate(
    mut planner: impl Searcher,
    landscape: &dyn Fn(&Params) -> Truth,
    eval_runs: u32,
    noise: Noise,
    cost: Cost,
    seed: u64,
) -> SimReport {
    let mut rng = Gauss(fastrand::Rng::with_seed(seed));
    let mut rep = SimReport::default();
    let goal = planner.goal().clone();
    let mut pending: Vec<TrialSpec> = Vec::new();
    loop {
        match planner.step() {
            Step::Group { .. } | Step::Decided { .. } => {}
            Step::Predicted { .. } => rep.predicted += 1,
            Step::Reuse { .. } => rep.reused += 1,
            Step::Run(spec) => pending.push(spec),
            Step::Wait => {
                for spec in pending.drain(..) {
                    let rec = Arc::new(measure(
                        &spec, &goal, landscape, eval_runs, noise, cost, &mut rng, &mut rep,
                    ));
                    rep.trials += 1;
                    rep.records.push(rec.clone());
                    planner.record(spec.ordinal, rec);
                }
            }
            Step::Finished => break,
        }
    }
    rep.best = planner.choice().clone();
    rep.outlook = planner.outlook();
    rep
}

/// Runs the search of `plan` through the engine loop itself (the loop
/// users run: [`crate::engine::tuner::run_with`]) with the simulated
/// executor, in a scratch directory (in memory when `/dev/shm` exists):
/// the trials, records, files and choices of a real run, without a
/// process, `slots` trials at once. Slower than [`simulate`] (files are
/// written), and its noise is drawn per trial, not in one stream.
#[allow(clippy::too_many_arguments)]
pub fn simulate_loop(
    plan: super::search::coordinate::PlanConfig,
    landscape: super::exec::Landscape,
    noise: Noise,
    cost: Cost,
    seed: u64,
    slots: usize,
) -> SimReport {
    use super::event::Event;
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .expect("a scratch directory");
    let mut cfg = super::config::Config::simulated(dir.path().to_path_buf(), &plan);
    cfg.layout.slots = slots.max(1);
    let exec = Arc::new(super::exec::Simulated::new(landscape, noise, cost, seed));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut sink = super::sink::EventSink::new();
    let mut rx = sink.subscribe();
    let (_commands, crx) = tokio::sync::mpsc::unbounded_channel();
    let summary = rt.block_on(super::tuner::run_with(
        cfg,
        exec,
        format!("sim-{seed}"),
        sink,
        crx,
    ));
    let mut rep = SimReport {
        best: summary.best.clone(),
        ..Default::default()
    };
    while let Ok(e) = rx.try_recv() {
        match &*e {
            Event::TrialPredicted { .. } => rep.predicted += 1,
            Event::TrialReused { .. } => rep.reused += 1,
            Event::TrialFinished { record, .. } => {
                rep.trials += 1;
                rep.gpu_s += record.total_s.unwrap_or(0.0);
                rep.eval_runs += record
                    .eval
                    .as_ref()
                    .and_then(|e| e.eval_runs.as_ref())
                    .map_or(0, Vec::len);
                rep.records.push(record.clone());
            }
            _ => {}
        }
    }
    rep
}

#[allow(clippy::too_many_arguments)]
fn measure(
    spec: &TrialSpec,
    goal: &Goal,
    landscape: &dyn Fn(&Params) -> Truth,
    eval_runs: u32,
    noise: Noise,
    cost: Cost,
    rng: &mut Gauss,
    rep: &mut SimReport,
) -> Record {
    let mut r = Record {
        trial_key: spec.key.clone(),
        params: spec.params.clone(),
        param_under_test: Some(spec.changes.param_text()),
        phase: Phase::Startup,
        ..Default::default()
    };
    if spec.recheck {
        r.extra.insert("recheck".into(), true.into());
    }
    match landscape(&spec.params) {
        Truth::Crashes => {
            rep.gpu_s += cost.crash_s;
            r.status = Status::Crashed;
        }
        Truth::Hangs => {
            rep.gpu_s += cost.timeout_s;
            r.status = Status::Timeout;
        }
        Truth::Serves { accuracy, tps } => {
            // The same loop as the trial state machine's eval step: judge
            // after each run.
            rep.gpu_s += cost.start_s;
            r.phase = Phase::Eval;
            r.status = Status::Ok;
            let mut runs = Vec::new();
            let mut ok = Samples::default();
            let mut i = 0;
            let (acc_start, tps_start) = noise.start(rng);
            loop {
                i += 1;
                rep.gpu_s += cost.eval_run_s;
                rep.eval_runs += 1;
                let (a, mut t) = (
                    accuracy + acc_start + rng.next() * noise.acc_abs_sd,
                    tps * tps_start * (1.0 + rng.next() * noise.tps_rel_sd),
                );
                if noise.tps_abs_sd > 0.0 {
                    t += rng.next() * noise.tps_abs_sd;
                }
                let run = sim_run(i, goal, a, t);
                // As the trial state machine sees it: through the goal.
                push_run(&mut ok, &run, goal);
                runs.push(run);
                let verdict = match &spec.judge {
                    Some(j) => j.verdict(&ok, i),
                    None if i < eval_runs => Verdict::Continue,
                    None => Verdict::Stop,
                };
                match verdict {
                    Verdict::Continue | Verdict::Extend => {}
                    Verdict::Prune(why) => {
                        r.status = Status::Pruned;
                        r.reason = Some(why);
                        break;
                    }
                    Verdict::Stop => break,
                }
            }
            r.eval = Some(summarize(runs));
        }
    }
    r
}

/// One ok eval run measuring accuracy `a` and objective `t` (total tokens/s
/// under today's goal, else the goal's objective metric).
pub(crate) fn sim_run(i: u32, goal: &Goal, a: f64, t: f64) -> EvalRun {
    let mut m = Measured {
        returncode: Some(0),
        accuracy: Some(a),
        ..Default::default()
    };
    let mut metrics = None;
    match goal.objective.name.as_str() {
        "total_tps" => m.total_tps = Some(t),
        "answer_tps" => m.answer_tps = Some(t),
        "total_time_s" => m.total_time_s = Some(t),
        "accuracy" => {}
        other => metrics = Some(BTreeMap::from([(other.to_string(), t)])),
    }
    EvalRun {
        i,
        ok: true,
        measured: Some(m),
        metrics,
        ..Default::default()
    }
}
