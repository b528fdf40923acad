//! The executor seam: where one trial's measurement happens. The engine
//! loop ([`super::tuner`]) asks the search what to measure and hands each
//! trial to an [`Executor`]; it does not know whether the trial runs as
//! processes here ([`Local`]), as `autotune trial` under `--launcher`
//! ([`Launched`]), or against a landscape with noise and cost
//! ([`Simulated`]). So slots, holds, pause, skip and abort behave the same
//! in a simulated run as in a real one, and the benchmarks and tests that
//! use the simulated executor measure the loop users run.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::config::Config;
use super::eval::round3;
use super::event::{Event, TrialPhase};
use super::noise::{Samples, Verdict, push_run};
use super::record::{Phase, Status, now_ts, summarize};
use super::remote;
use super::search::Params;
use super::search::coordinate::TrialSpec;
use super::service;
use super::simulate::{Cost, Gauss, Noise, Truth, sim_run};
use super::sink::EventSink;
use super::slot::Slot;
use super::trial::{self, Ctx, Stop, StopRx, TrialEnd, TrialError, eval_status, new_record};

/// One trial to run: what, where, under which number, and how the engine
/// asks it to stop.
pub struct Job {
    /// The run's configuration.
    pub cfg: Arc<Config>,
    /// Where the trial's events go.
    pub sink: EventSink,
    /// Its slot (port, devices, state file).
    pub slot: Slot,
    /// What to measure.
    pub spec: TrialSpec,
    /// The running index it should take (its log file's number).
    pub index: u32,
    /// Stop requests (skip, abort, a signal).
    pub stop: StopRx,
}

/// How a trial ended, and the next free running index.
pub type JobResult = Result<(TrialEnd, u32), TrialError>;

/// Runs trials. The future owns what it needs, so trials of several slots
/// run together.
pub trait Executor: Send + Sync {
    /// Runs `job` to its end (a record, a stop, or an environment failure).
    fn run(&self, job: Job) -> BoxFuture<'static, JobResult>;
}

/// Trials as processes on this machine: the service, then the eval.
pub struct Local {
    client: reqwest::Client,
}

impl Local {
    /// An executor with the readiness probe's HTTP client.
    pub fn new() -> Self {
        Local {
            client: service::probe_client(),
        }
    }
}

impl Default for Local {
    fn default() -> Self {
        Self::new()
    }
}

impl Executor for Local {
    fn run(&self, job: Job) -> BoxFuture<'static, JobResult> {
        let client = self.client.clone();
        Box::pin(async move {
            let mut ctx = Ctx {
                cfg: &job.cfg,
                sink: &job.sink,
                client: &client,
                stop: job.stop,
                slot: &job.slot,
            };
            trial::run(&mut ctx, &job.spec, job.index).await
        })
    }
}

/// Trials through `--launcher`: each an `autotune trial` wherever the
/// launcher puts it, named after the run.
pub struct Launched {
    run_id: String,
}

impl Launched {
    /// An executor for the run `run_id` (its launched jobs carry the id).
    pub fn new(run_id: impl Into<String>) -> Self {
        Launched {
            run_id: run_id.into(),
        }
    }
}

impl Executor for Launched {
    fn run(&self, job: Job) -> BoxFuture<'static, JobResult> {
        let run_id = self.run_id.clone();
        Box::pin(async move {
            let Some(l) = &job.cfg.launcher else {
                return Err(TrialError::Launch(
                    "the launched executor needs --launcher".into(),
                ));
            };
            remote::run_launched(
                &job.cfg, l, &run_id, &job.sink, &job.slot, &job.spec, job.index, job.stop,
            )
            .await
        })
    }
}

/// What a configuration truly does (a landscape).
pub type Landscape = Arc<dyn Fn(&Params) -> Truth + Send + Sync>;

/// Trials against a landscape, with run-to-run noise and a cost per step,
/// through the same events and records as a real trial (a log file is
/// written, so running indexes and resumes behave alike). Seeded: the same
/// seed, trial index and configuration give the same figures.
pub struct Simulated {
    landscape: Landscape,
    noise: Noise,
    cost: Cost,
    seed: u64,
    /// Real seconds waited per simulated second (0: none, only a yield).
    /// Under tokio's paused clock a scale of 1 costs no real time.
    time_scale: f64,
}

impl Simulated {
    /// A simulated executor over `landscape`.
    pub fn new(landscape: Landscape, noise: Noise, cost: Cost, seed: u64) -> Self {
        Simulated {
            landscape,
            noise,
            cost,
            seed,
            time_scale: 0.0,
        }
    }

    /// Waits `time_scale` real seconds per simulated second.
    pub fn with_time_scale(mut self, scale: f64) -> Self {
        self.time_scale = scale.max(0.0);
        self
    }

    /// A landscape by name: `demo` (the demo's service), `separable` and
    /// `interacting` (the benchmarks').
    pub fn landscape(name: &str) -> Option<Landscape> {
        use super::landscape::{demo_truth, interacting_truth, separable_truth};
        let f: Landscape = match name {
            "demo" => Arc::new(demo_truth),
            "separable" => Arc::new(separable_truth),
            "interacting" => Arc::new(interacting_truth),
            _ => return None,
        };
        Some(f)
    }
}

/// Waits `secs` simulated seconds, unless a stop comes first.
async fn sim_wait(stop: &mut StopRx, secs: f64, scale: f64) -> Option<Stop> {
    let pause = async {
        if scale > 0.0 && secs > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(secs * scale)).await;
        } else {
            tokio::task::yield_now().await;
        }
    };
    tokio::select! {
        biased;
        s = trial::stop_requested(stop) => Some(s),
        () = pause => None,
    }
}

impl Executor for Simulated {
    fn run(&self, job: Job) -> BoxFuture<'static, JobResult> {
        let truth = (self.landscape)(&job.spec.params);
        let (noise, cost, scale) = (self.noise, self.cost, self.time_scale);
        let seed = self
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(u64::from(job.index));
        Box::pin(async move {
            let Job {
                cfg,
                sink,
                slot,
                spec,
                index,
                mut stop,
            } = job;
            let mut rng = Gauss(fastrand::Rng::with_seed(seed));
            let mut rec = new_record(&spec);
            let (index, log_path, log) =
                service::create_log(&cfg.server_log_dir, index).map_err(|source| {
                    TrialError::Log {
                        dir: cfg.server_log_dir.clone(),
                        source,
                    }
                })?;
            drop(log);
            let next = index + 1;
            sink.emit(Event::TrialStarted {
                slot: slot.n,
                devices: slot.devices.clone(),
                ordinal: spec.ordinal,
                index,
                param: spec.param.clone(),
                value: spec.value.clone(),
                base_value: spec.base_value.clone(),
                params: spec.params.clone(),
                key: spec.key.clone(),
                log_path: log_path.clone(),
            });
            rec.server_log = Some(cfg.rel(&log_path));
            rec.trial_index = Some(index);
            let phase = |phase| {
                sink.emit(Event::Phase {
                    slot: slot.n,
                    phase,
                })
            };
            phase(TrialPhase::Starting {
                pgid: 0,
                timeout_s: cfg.startup_timeout.as_secs_f64(),
            });
            let mut spent = 0.0;
            let done = |mut rec: crate::engine::record::Record, spent: f64| {
                rec.ts = now_ts();
                rec.total_s = Some(round3(spent));
                Ok((TrialEnd::Done(Box::new(rec)), next))
            };
            let (accuracy, tps) = match truth {
                Truth::Crashes | Truth::Hangs => {
                    let crashed = matches!(truth, Truth::Crashes);
                    let s = if crashed {
                        cost.crash_s
                    } else {
                        cost.timeout_s
                    };
                    if let Some(s) = sim_wait(&mut stop, s, scale).await {
                        if s != Stop::Skip {
                            return Ok((TrialEnd::Stopped(s), next));
                        }
                        rec.status = Status::Skipped;
                        return done(rec, spent);
                    }
                    spent += s;
                    if crashed {
                        rec.status = Status::Crashed;
                        rec.exit_code = Some(1);
                        rec.health = Some("exited during start-up with code 1".into());
                    } else {
                        rec.status = Status::Timeout;
                        rec.health = Some("timeout".into());
                    }
                    rec.startup_s = Some(round3(spent));
                    return done(rec, spent);
                }
                Truth::Serves { accuracy, tps } => (accuracy, tps),
            };
            if let Some(s) = sim_wait(&mut stop, cost.start_s, scale).await {
                if s != Stop::Skip {
                    return Ok((TrialEnd::Stopped(s), next));
                }
                rec.status = Status::Skipped;
                return done(rec, spent);
            }
            spent += cost.start_s;
            rec.startup_s = Some(round3(spent));
            let health = "simulated service ready".to_string();
            phase(TrialPhase::Ready {
                startup_s: spent,
                health: health.clone(),
            });
            rec.health = Some(health);
            rec.phase = Phase::Eval;
            let n = super::trial::planned_runs(&spec, cfg.eval_runs);
            let mut runs = Vec::new();
            let mut ok = Samples::default();
            let (mut skipped, mut pruned) = (false, false);
            let mut i = 0;
            loop {
                i += 1;
                phase(TrialPhase::Eval {
                    run: i,
                    of: n.max(i),
                    timeout_s: cfg.eval_timeout.as_secs_f64(),
                });
                match sim_wait(&mut stop, cost.eval_run_s, scale).await {
                    Some(Stop::Skip) => {
                        skipped = true;
                        break;
                    }
                    Some(s) => return Ok((TrialEnd::Stopped(s), next)),
                    None => {}
                }
                spent += cost.eval_run_s;
                let a = accuracy + rng.next() * noise.acc_abs_sd;
                let mut t = tps * (1.0 + rng.next() * noise.tps_rel_sd);
                if noise.tps_abs_sd > 0.0 {
                    t += rng.next() * noise.tps_abs_sd;
                }
                let run = sim_run(i, &cfg.goal, a, t);
                sink.emit(Event::EvalRunFinished {
                    slot: slot.n,
                    run: run.clone(),
                });
                push_run(&mut ok, &run, &cfg.goal);
                runs.push(run);
                let verdict = match &spec.judge {
                    Some(j) => j.verdict(&ok, i),
                    None if i < n => Verdict::Continue,
                    None => Verdict::Stop,
                };
                match verdict {
                    Verdict::Continue | Verdict::Extend => {}
                    Verdict::Prune(why) => {
                        rec.reason = Some(why);
                        pruned = true;
                        break;
                    }
                    Verdict::Stop => break,
                }
            }
            phase(TrialPhase::Stopping);
            let summary = summarize(runs);
            rec.status = eval_status(skipped, pruned, &summary, n);
            rec.eval = Some(summary);
            done(rec, spent)
        })
    }
}
