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
    compile_pattern,
};
pub use engine::event::{Command, Event, Outcome, TrialPhase};
pub use engine::goal::{
    BUILTIN_METRICS, Constraint, Direction, Goal, Objective, Op, check_feasible, check_metric_name,
};
pub use engine::noise::{Judge, NoisePolicy, PooledNoise, Samples, Verdict};
pub use engine::outcome::{Files, Measure, RunSummary, human_s, summarize_run, summarize_run_for};
pub use engine::record::{
    EvalRun, EvalSummary, Measured, Phase, Record, Status, fig, log_index, now_ts, summarize,
};
pub use engine::search::coordinate::{PlanConfig, Planner, SearchPlan, Step, TrialSpec, pick_best};
pub use engine::search::pooled::{Pooled, PooledSetup};
pub use engine::search::{
    BUILTIN_SPACE, DEFAULT_PARAMS, Params, SearchSpace, SpaceError, default_params,
    scalar_to_string, trial_key,
};
pub use engine::search::{Searcher, SearcherKind};
pub use engine::simulate::{Cost, Noise, SimReport, Truth, simulate};
pub use engine::sink::EventSink;
pub use engine::slot::{Slot, SlotLayout, record_slot};
pub use engine::stats::{ci95, mean_sd};
pub use engine::status_file::StatusWriter;
pub use engine::trial::{EvalWatch, RecordVerdict};
pub use engine::tuner::{EngineError, run, run_with};
/// One rule for the winner: the search's choice, replayed from records.
pub mod choice {
    pub use crate::engine::choice::{
        Choice, SearchSetup, of_file, of_records, recorded_setup, replay,
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
    pub use crate::engine::remote::{EXIT_STOPPED, TrialRequest, WIRE_PREFIX, command, run_here};
}

/// Landscapes for the simulated executor.
pub mod landscape {
    pub use crate::engine::landscape::{
        DEMO_BASE_TPS, INTERACTING_PARAMS, demo_model, demo_truth, interacting_model,
        interacting_truth, separable_truth,
    };
}

/// The results files: reading, appending, atomic writes, the repo lock.
pub mod store {
    pub use crate::engine::store::{
        Loaded, PortLock, RepoLock, StoreError, append_record, check_writable, load_results,
        lock_port, lock_repo, parse_results, port_lock_path, pretty_json, read_best, write_atomic,
        write_best,
    };
}

/// Processes as the tuner sees them (for the watchdog and the tests).
pub mod process {
    pub use crate::engine::process::{
        PortOwner, RUN_ENV, SECRET_ENV, TRIAL_ENV, become_subreaper, cmdline, environ_var,
        listeners, port_owner, proc_info, run_id, sighup_ignored,
    };
    pub use crate::engine::service::tail_text;
}
