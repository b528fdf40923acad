//! The autotune engine: runs trials of an inference service, chooses what to
//! measure next, and keeps the results files. It knows nothing of terminals,
//! mail or webhooks: front ends consume its [`Event`]s and send it
//! [`Command`]s. Everything the binary uses is re-exported here; the modules
//! behind it are private, so the compiler keeps the boundary.

mod engine;

pub use engine::best::BestRule;
pub use engine::config::{Config, Launcher};
pub use engine::eval::{
    DEFAULT_ACC_RE, DEFAULT_ANSWER_TPS_RE, DEFAULT_TOTAL_TIME_RE, DEFAULT_TOTAL_TPS_RE, Patterns,
    add_secrets, compile_pattern, redact,
};
pub use engine::event::{Command, Event, Outcome, Stage, TrialPhase};
pub use engine::goal::{
    BUILTIN_METRICS, Constraint, Direction, Goal, Objective, Op, check_feasible, check_metric_name,
};
pub use engine::noise::{Judge, NoisePolicy, PooledNoise, Samples, Verdict};
pub use engine::outcome::{Files, Measure, RunSummary, human_s, summarize_run_for};
pub use engine::progress::{Counts, Progress, short_s};
pub use engine::record::{
    EvalRun, EvalSummary, Measured, Phase, Record, Status, fig, log_index, now_ts, summarize,
};
pub use engine::search::coordinate::{PlanConfig, Planner, SearchPlan, Step, TrialSpec, pick_best};
pub use engine::search::pooled::beliefs::{Beliefs, Figure, LevelEffect, ParamBelief, beliefs};
pub use engine::search::pooled::{Pooled, PooledSetup};
pub use engine::search::{
    Changes, DEFAULT_PARAMS, Params, SearchSpace, default_params, is_var_name, same_value,
    scalar_to_string, trial_key,
};
pub use engine::search::{Searcher, SearcherKind};
pub use engine::simulate::{Cost, Noise, SimReport, Truth, simulate, simulate_loop};
pub use engine::sink::EventSink;
pub use engine::slot::{Slot, SlotLayout, record_slot};
pub use engine::stats::{ci95, mean_sd};
pub use engine::status_file::StatusWriter;
pub use engine::tuner::{run, run_with};
/// One rule for the winner: the search's choice, replayed from records.
pub mod choice {
    pub use crate::engine::choice::{
        Choice, Decision, Replayed, ReplayedTrial, SearchSetup, of_file, of_records,
        recorded_setup, replay, replay_decisions,
    };
}
/// The executor seam: where trials run.
pub mod exec {
    pub use crate::engine::exec::{
        Executor, Job, JobResult, Landscape, Launched, Local, Simulated,
    };
}

/// Trials run elsewhere (`autotune trial`, `--launcher`).
pub mod remote {
    pub use crate::engine::remote::{TrialRequest, command, run_here};
}

/// Landscapes for the simulated executor.
pub mod landscape {
    pub use crate::engine::landscape::{
        DEMO_BASE_TPS, INTERACTING_PARAMS, brute_force, demo_model, demo_truth, interacting_model,
        interacting_truth, separable_truth,
    };
}

/// The results files: reading, appending, atomic writes, the repo lock.
pub mod store {
    pub use crate::engine::store::{
        Loaded, OutputLock, OutputLockError, StoreError, append_record, load_results, lock_output,
        lock_port, lock_repo, output_lock_path, port_lock_path, pretty_json, read_best,
        write_atomic,
    };
}

/// Processes as the tuner sees them (for the watchdog and the tests).
pub mod process {
    pub use crate::engine::process::{
        become_subreaper, cmdline, inherit_run_id, proc_info, run_id, sighup_ignored,
    };
    pub use crate::engine::service::tail_text;
}
