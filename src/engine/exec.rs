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
use super::record::{Phase, Record, Status, now_ts, summarize};
use super::remote;
use super::search::Params;
use super::search::coordinate::TrialSpec;
use super::service;
use super::simulate::{Cost, Gauss, Noise, Truth, sim_run};
use super::sink::EventSink;
use super::slot::Slot;
use super::trial::{self, Ctx, Stop, StopRx, TrialEnd, TrialError, judge_eval, new_record};

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
        let seed = self
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(u64::from(job.index));
        let (noise, cost, scale) = (self.noise, self.cost, self.time_scale);
        Box::pin(async move {
            let (index, log_path, log) = service::create_log(&job.cfg.server_log_dir, job.index)
                .map_err(|source| TrialError::Log {
                    dir: job.cfg.server_log_dir.clone(),
                    source,
                })?;
            drop(log);
            let mut t = SimTrial {
                rec: new_record(&job.spec),
                rng: Gauss(fastrand::Rng::with_seed(seed)),
                spent: 0.0,
                next: index + 1,
                noise,
                scale,
                job,
            };
            t.started(index, &log_path);
            let next = t.next;
            let end = match truth {
                Truth::Crashes => t.fails(cost.crash_s, Status::Crashed).await,
                Truth::Hangs => t.fails(cost.timeout_s, Status::Timeout).await,
                Truth::Serves { accuracy, tps } => t.serves(accuracy, tps, cost).await,
            };
            Ok((end, next))
        })
    }
}

/// One simulated trial under way.
struct SimTrial {
    job: Job,
    rec: Record,
    rng: Gauss,
    /// Simulated seconds spent so far.
    spent: f64,
    /// The next free running index.
    next: u32,
    noise: Noise,
    scale: f64,
}

impl SimTrial {
    fn phase(&self, phase: TrialPhase) {
        self.job.sink.emit(Event::Phase {
            slot: self.job.slot.n,
            phase,
        });
    }

    /// Announced as a real trial is: its log, then starting.
    fn started(&mut self, index: u32, log_path: &std::path::Path) {
        let (spec, slot) = (&self.job.spec, &self.job.slot);
        self.job.sink.emit(spec.started(
            slot.n,
            slot.devices.clone(),
            index,
            log_path.to_path_buf(),
        ));
        self.rec.server_log = Some(self.job.cfg.rel(log_path));
        self.rec.trial_index = Some(index);
        self.phase(TrialPhase::Starting {
            pgid: 0,
            timeout_s: self.job.cfg.startup_timeout.as_secs_f64(),
        });
    }

    /// The record, stamped.
    fn done(mut self) -> TrialEnd {
        self.rec.ts = now_ts();
        self.rec.total_s = Some(round3(self.spent));
        TrialEnd::Done(Box::new(self.rec))
    }

    /// Spends `secs`, unless a stop comes first: then how the trial ends
    /// (a skip is recorded `skipped`; another stop records nothing).
    async fn spend(&mut self, secs: f64) -> Result<(), Stop> {
        if let Some(s) = sim_wait(&mut self.job.stop, secs, self.scale).await {
            return Err(s);
        }
        self.spent += secs;
        Ok(())
    }

    fn stopped(mut self, s: Stop) -> TrialEnd {
        if s != Stop::Skip {
            return TrialEnd::Stopped(s);
        }
        self.rec.status = Status::Skipped;
        self.done()
    }

    /// A crash during start-up or a hang: `secs` spent, then `status`.
    async fn fails(mut self, secs: f64, status: Status) -> TrialEnd {
        if let Err(s) = self.spend(secs).await {
            return self.stopped(s);
        }
        let crashed = status == Status::Crashed;
        self.rec.status = status;
        if crashed {
            self.rec.exit_code = Some(1);
            self.rec.health = Some("exited during start-up with code 1".into());
        } else {
            self.rec.health = Some("timeout".into());
        }
        self.rec.startup_s = Some(round3(self.spent));
        self.done()
    }

    /// Starts, then eval runs judged after each as the trial state
    /// machine judges them.
    async fn serves(mut self, accuracy: f64, tps: f64, cost: Cost) -> TrialEnd {
        if let Err(s) = self.spend(cost.start_s).await {
            return self.stopped(s);
        }
        self.rec.startup_s = Some(round3(self.spent));
        let health = "simulated service ready".to_string();
        self.phase(TrialPhase::Ready {
            startup_s: self.spent,
            health: health.clone(),
        });
        self.rec.health = Some(health);
        self.rec.phase = Phase::Eval;
        let n = super::trial::planned_runs(&self.job.spec, self.job.cfg.eval_runs);
        let (mut runs, mut ok) = (Vec::new(), Samples::default());
        let (mut skipped, mut pruned) = (false, false);
        let mut i = 0;
        let (acc_start, tps_start) = self.noise.start(&mut self.rng);
        loop {
            i += 1;
            self.phase(TrialPhase::Eval {
                run: i,
                of: n.max(i),
                timeout_s: self.job.cfg.eval_timeout.as_secs_f64(),
            });
            match self.spend(cost.eval_run_s).await {
                Err(Stop::Skip) => {
                    skipped = true;
                    break;
                }
                Err(s) => return TrialEnd::Stopped(s),
                Ok(()) => {}
            }
            let a = accuracy + acc_start + self.rng.next() * self.noise.acc_abs_sd;
            let mut t = tps * tps_start * (1.0 + self.rng.next() * self.noise.tps_rel_sd);
            if self.noise.tps_abs_sd > 0.0 {
                t += self.rng.next() * self.noise.tps_abs_sd;
            }
            let goal = &self.job.cfg.goal;
            let run = sim_run(i, goal, a, t);
            self.job.sink.emit(Event::EvalRunFinished {
                slot: self.job.slot.n,
                run: run.clone(),
            });
            push_run(&mut ok, &run, goal);
            runs.push(run);
            let verdict = match &self.job.spec.judge {
                Some(j) => j.verdict(&ok, i),
                None if i < n => Verdict::Continue,
                None => Verdict::Stop,
            };
            match verdict {
                Verdict::Continue | Verdict::Extend => {}
                Verdict::Prune(why) => {
                    self.rec.reason = Some(why);
                    pruned = true;
                    break;
                }
                Verdict::Stop => break,
            }
        }
        self.phase(TrialPhase::Stopping);
        judge_eval(&mut self.rec, skipped, pruned, summarize(runs), n);
        self.done()
    }
}
