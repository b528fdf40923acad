//! What the engine needs to run, already validated and resolved (absolute
//! paths, parsed patterns, the starting base).

use std::path::PathBuf;
use std::time::Duration;

use super::eval::Patterns;
use super::goal::Goal;
use super::noise::NoisePolicy;
use super::search::{Params, SearchSpace};
use super::slot::SlotLayout;

/// The engine's whole configuration. It travels whole in a launched
/// trial's spec (`autotune trial`), so no setting can be left behind.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Config {
    /// The tuned repository (absolute).
    pub repo: PathBuf,
    /// The service's port.
    pub port: u16,
    /// Eval runs per trial.
    pub eval_runs: u32,
    /// Start-up time limit.
    pub startup_timeout: Duration,
    /// Time limit of one eval run.
    pub eval_timeout: Duration,
    /// Extra pause after each trial.
    pub cooldown: Duration,
    /// What the run tunes for: the objective and its constraints.
    pub goal: Goal,
    /// Results file (absolute).
    pub results: PathBuf,
    /// Best params file (absolute).
    pub best: PathBuf,
    /// Directory of service logs (absolute).
    pub server_log_dir: PathBuf,
    /// Status file (absolute).
    pub status_file: PathBuf,
    /// Where the front end writes the HTML report when the run ends (the
    /// outcome names it; the engine does not write it).
    pub report: Option<PathBuf>,
    /// Where the running service's process group is recorded (absolute).
    pub service_state_file: PathBuf,
    /// The search space, in exploration order.
    pub space: SearchSpace,
    /// The starting base.
    pub base: Params,
    /// Waits for a busy port.
    pub port_busy_retries: u32,
    /// Length of one wait for a busy port.
    pub port_busy_wait: Duration,
    /// Stop `uvicorn serve:app` listeners on the port.
    pub port_busy_kill: bool,
    /// Reuse done records instead of running their keys again.
    pub skip_existing: bool,
    /// Shell command starting the service.
    pub server_cmd: String,
    /// Shell command running one eval.
    pub eval_cmd: String,
    /// Path probed for readiness.
    pub health_path: String,
    /// Time between SIGTERM and SIGKILL when stopping the service.
    pub kill_grace: Duration,
    /// Metric patterns.
    pub patterns: Patterns,
    /// The noise policy; `None` is `auto_tune.py`'s plain search.
    pub search_policy: Option<NoisePolicy>,
    /// Passes, refinement, crash prediction and the trial budget.
    pub search: crate::engine::explore::SearchPlan,
    /// Which searcher: coordinate ascent or the pooled model.
    pub searcher: crate::engine::search::SearcherKind,
    /// How many trials run at once and what each slot gets.
    pub layout: SlotLayout,
    /// Runs each trial through this command prefix (`--launcher`, e.g.
    /// `srun ...`) as `autotune trial`; `{run}` is replaced by the run's id
    /// and `{slot}` by the slot number.
    pub launcher: Option<Launcher>,
}

/// How trials are run elsewhere (`--launcher`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Launcher {
    /// The command prefix, as given.
    pub template: String,
    /// The autotune binary the launched command runs (`autotune trial`).
    pub exe: PathBuf,
}

impl Config {
    /// A path as the results file records it: relative to the repo when
    /// inside it.
    pub fn rel(&self, p: &std::path::Path) -> String {
        p.strip_prefix(&self.repo)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    }
}

impl Config {
    /// A run of `plan` for the simulated executor (benchmarks of the
    /// engine loop): its files in `repo`, no commands, today's patterns
    /// and timeouts, one slot.
    pub fn simulated(
        repo: PathBuf,
        plan: &crate::engine::search::coordinate::PlanConfig,
    ) -> Config {
        Config {
            port: 0,
            eval_runs: plan.eval_runs,
            startup_timeout: Duration::from_secs(600),
            eval_timeout: Duration::from_secs(600),
            cooldown: Duration::ZERO,
            goal: plan.goal.clone(),
            results: repo.join("tune_results.jsonl"),
            best: repo.join("best_params.json"),
            server_log_dir: repo.join("tune_server_logs"),
            status_file: repo.join("tune_status.json"),
            report: None,
            service_state_file: repo.join(".autotune_service.json"),
            space: plan.space.clone(),
            base: plan.base.clone(),
            port_busy_retries: 0,
            port_busy_wait: Duration::ZERO,
            port_busy_kill: false,
            skip_existing: plan.skip_existing,
            server_cmd: String::new(),
            eval_cmd: String::new(),
            health_path: "/".into(),
            kill_grace: Duration::from_secs(1),
            patterns: Patterns::default(),
            search_policy: plan.policy,
            search: plan.search,
            searcher: Default::default(),
            layout: SlotLayout {
                slots: 1,
                gpus: Vec::new(),
                gpus_per_trial: 1,
                gpu_env: "CUDA_VISIBLE_DEVICES".into(),
                port_stride: 10,
                port_env: Vec::new(),
            },
            launcher: None,
            repo,
        }
    }
}
