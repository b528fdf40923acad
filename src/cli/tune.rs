//! The flags of a tuning run, grouped under the help headings: one
//! flattened struct per heading, in the order `--help` shows them.

use super::*;

/// Flags of a tuning run. The first five (no heading) are what a new user
/// needs; the rest are grouped by concern, one field per help heading.
/// Flags of the rarer concerns (eval patterns, notifications, email,
/// heartbeats) are left out of `-h` and shown by `--help`.
///
/// The five come before the groups: a group's heading stays clap's next
/// heading after it, so a flag without one declared after a group would be
/// shown under that group's heading.
#[derive(Debug, Args, Clone)]
pub struct TuneArgs {
    // ---- Start here: the five flags a new user needs. ----
    /// The service's repository.
    ///
    /// It holds run_model.sh and eval_local.py (for the default commands);
    /// the files autotune writes go there too.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub repo: PathBuf,
    /// Command starting the service (bash, in the repo).
    ///
    /// The trial's parameters and PORT are in its environment; it must
    /// answer on PORT until it is stopped.
    #[arg(
        long = "server_cmd",
        alias = "server-cmd",
        default_value = "bash run_model.sh",
        value_name = "CMD"
    )]
    pub server_cmd: String,
    /// Command running one eval (bash, in the repo).
    ///
    /// PORT and the trial's parameters are in its environment; its output
    /// must hold eval_local.py's summary (see the --*_regex flags).
    #[arg(
        long = "eval_cmd",
        alias = "eval-cmd",
        default_value = "python3 eval_local.py --which bonus --model_dir_for_tokenizer ./model/YukinoStuki/Qwen2.5-0.5B-Plus-LLM --batch --overwrite_jsonl",
        value_name = "CMD"
    )]
    pub eval_cmd: String,
    /// Minimum mean accuracy of a winning trial (0 to 1).
    #[arg(
        long = "accuracy_threshold",
        alias = "accuracy-threshold",
        default_value_t = 0.88,
        value_name = "ACC"
    )]
    pub accuracy_threshold: f64,
    /// Resume: reuse trials already in the results file.
    ///
    /// A trial whose key has a finished record is not measured again, so a
    /// stopped run goes on where it stopped.
    #[arg(long = "skip_existing", alias = "skip-existing")]
    pub skip_existing: bool,
    /// Set by [`parse`]: --accuracy_threshold was on the command line.
    #[arg(skip)]
    pub accuracy_threshold_given: bool,

    // ---- The rest, one group per help heading. ----
    /// The flags under "Service".
    #[command(flatten)]
    pub service: ServiceArgs,
    /// The flags under "Eval".
    #[command(flatten)]
    pub eval: EvalArgs,
    /// The flags under "Search".
    #[command(flatten)]
    pub search: SearchArgs,
    /// The flags under "Ports and files".
    #[command(flatten)]
    pub ports_files: PortsFilesArgs,
    /// The flags under "Output and checks".
    #[command(flatten)]
    pub output: OutputArgs,
    /// The flags under "Notifications".
    #[command(flatten)]
    pub notify: NotifyArgs,
    /// The flags under "Email".
    #[command(flatten)]
    pub email: EmailArgs,
    /// The flags under "Heartbeats".
    #[command(flatten)]
    pub heartbeats: HeartbeatArgs,
    /// The flags under "Slots".
    #[command(flatten)]
    pub slots: SlotArgs,

    /// Start from the built-in defaults instead of best_params.json (set by
    /// `autotune demo`, whose runs always start there, so that running it
    /// again on the same directory resumes the same search).
    #[arg(skip)]
    pub start_from_defaults: bool,
}

/// The service under test and how it is started and stopped.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = heading::SERVICE)]
pub struct ServiceArgs {
    /// Path probed for readiness.
    ///
    /// The service is ready when GET on it answers any status from 200 to 499.
    #[arg(
        long = "health_path",
        alias = "health-path",
        default_value = "/",
        value_name = "PATH"
    )]
    pub health_path: String,
    /// Seconds the service may take to answer.
    #[arg(
        long = "startup_timeout",
        alias = "startup-timeout",
        default_value_t = 240.0,
        value_name = "SECONDS"
    )]
    pub startup_timeout: f64,
    /// Seconds between SIGTERM and SIGKILL when stopping the service.
    #[arg(
        long = "kill_grace_s",
        alias = "kill-grace-s",
        default_value_t = 10.0,
        value_name = "SECONDS"
    )]
    pub kill_grace_s: f64,
    /// Extra pause in seconds after each trial.
    ///
    /// The service is already fully stopped and its port closed before the
    /// next trial; this is for hardware that needs time to cool or settle.
    #[arg(long, default_value_t = 0.0, value_name = "SECONDS")]
    pub cooldown: f64,
}

/// The eval command, how its output is read, and the goal it is judged by.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = heading::EVAL)]
pub struct EvalArgs {
    /// Eval runs per trial.
    #[arg(
        long = "eval_runs",
        alias = "eval-runs",
        default_value_t = 5,
        value_name = "N"
    )]
    pub eval_runs: u32,
    /// Seconds one eval run may take.
    #[arg(
        long = "eval_timeout",
        alias = "eval-timeout",
        default_value_t = 420.0,
        value_name = "SECONDS"
    )]
    pub eval_timeout: f64,
    /// Pattern for accuracy (one capture group).
    #[arg(
        long = "acc_regex",
        alias = "acc-regex",
        default_value = eval::DEFAULT_ACC_RE,
        hide_short_help = true,
        value_name = "RE"
    )]
    pub acc_regex: String,
    /// Pattern for answer tokens/s (one capture group).
    #[arg(
        long = "answer_tps_regex",
        alias = "answer-tps-regex",
        default_value = eval::DEFAULT_ANSWER_TPS_RE,
        hide_short_help = true,
        value_name = "RE"
    )]
    pub answer_tps_regex: String,
    /// Pattern for total tokens/s (one capture group).
    #[arg(
        long = "total_tps_regex",
        alias = "total-tps-regex",
        default_value = eval::DEFAULT_TOTAL_TPS_RE,
        hide_short_help = true,
        value_name = "RE"
    )]
    pub total_tps_regex: String,
    /// Pattern for total time in seconds (one capture group).
    #[arg(
        long = "total_time_regex",
        alias = "total-time-regex",
        default_value = eval::DEFAULT_TOTAL_TIME_RE,
        hide_short_help = true,
        value_name = "RE"
    )]
    pub total_time_regex: String,
    /// A metric read from the eval's output: NAME=REGEX (one capture group
    /// around the number; repeatable).
    ///
    /// The last match counts. NAME is an identifier; the built-in names
    /// accuracy, answer_tps, total_tps and total_time_s replace that
    /// pattern. Every metric is kept per run and averaged in the record
    /// (`metrics`, `avg_metrics`); name it in --objective or --constraint to
    /// tune for it.
    #[arg(long = "metric", value_name = "NAME=REGEX")]
    pub metric: Vec<String>,
    /// The metric to optimise: NAME or NAME:max / NAME:min [default: total_tps:max].
    ///
    /// A run is ok when the eval exits 0 and the objective and every
    /// constrained metric were parsed.
    #[arg(long = "objective", value_name = "NAME[:max|min]")]
    pub objective: Option<String>,
    /// Direction of --objective: max or min [default: max].
    #[arg(
        long = "objective_dir",
        alias = "objective-dir",
        value_name = "max|min"
    )]
    pub objective_dir: Option<String>,
    /// A bound the winner's mean must meet: 'NAME>=X' or 'NAME<=X'
    /// (repeatable), e.g. 'p99_ttft_ms<=200'.
    ///
    /// Without --objective or --constraint the goal is today's: max
    /// total_tps subject to accuracy >= --accuracy_threshold. With either,
    /// the accuracy bar applies only when --accuracy_threshold is given.
    #[arg(long = "constraint", value_name = "BOUND")]
    pub constraint: Vec<String>,
}

/// What is searched and how, and looking at the plan first.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = heading::SEARCH)]
pub struct SearchArgs {
    /// Print the plan and exit.
    ///
    /// A table of parameter groups, their values (the base's marked), the
    /// number of trials and the policy; works before the service script
    /// exists and writes nothing.
    #[arg(long = "dry_run", alias = "dry-run")]
    pub dry_run: bool,
    /// Run every trial on the simulated executor instead of processes:
    /// `LANDSCAPE[:SEED]` (`demo`, `separable`, `interacting`), with the
    /// benches' noise (2 % tok/s, 0.003 accuracy per run). For tests and
    /// benchmarks of the real engine loop: nothing is started, no time
    /// passes, every file is written as in a real run.
    #[arg(long = "simulate", hide = true, value_name = "LANDSCAPE[:SEED]")]
    pub simulate: Option<String>,
    /// JSON file of extra candidates.
    ///
    /// An object of name to a list of values (or one value), merged into the
    /// built-in space. Names must be environment variable names (not PORT).
    #[arg(
        long = "search_space_file",
        alias = "search-space-file",
        env = "TUNE_SEARCH_SPACE_FILE",
        value_name = "FILE"
    )]
    pub search_space_file: Option<PathBuf>,
    /// Search only what --search_space_file lists, in its key order.
    #[arg(long = "no_builtin_space", alias = "no-builtin-space")]
    pub no_builtin_space: bool,
    /// Parameters the service reads per request, comma-separated.
    ///
    /// A crash or time-out before the service was ready, of a trial that
    /// tested a start-up parameter whose settings never served, is predicted
    /// again whatever these are (it failed before reading them). Default: the
    /// built-in generation parameters (MAX_NEW_TOKENS, penalties, stops,
    /// output shaping) when the built-in space is searched; none with
    /// --no_builtin_space. `--request_params ''` treats every parameter as
    /// read at start-up.
    #[arg(
        long = "request_params",
        alias = "request-params",
        value_name = "NAMES"
    )]
    pub request_params: Option<String>,
    /// How groups are decided: `noise-aware` (coordinate ascent that never
    /// measures a configuration twice, with numerically equal decimals such
    /// as 0.1 and 0.10 one value, spelt as the base or the space file has
    /// it; stops hopeless trials early; a change must beat the incumbent
    /// beyond the run-to-run noise; `coordinate` is the same), `plain` (auto_tune.py's choices, exactly: values compared as
    /// text) or `pooled` (one model of every run of every trial,
    /// Thompson sampling within --budget, the winner certified).
    #[arg(
        long = "search_policy",
        alias = "search-policy",
        default_value = "noise-aware",
        value_parser = ["noise-aware", "coordinate", "plain", "pooled"],
        hide_short_help = true
    )]
    pub search_policy: String,
    /// Never stop a trial early (noise-aware policy otherwise unchanged).
    #[arg(long = "no_prune", alias = "no-prune", hide_short_help = true)]
    pub no_prune: bool,
    /// Passes over the groups at most (default: until a whole pass changes
    /// nothing; `--search_policy plain`: 1).
    #[arg(long = "passes", hide_short_help = true)]
    pub passes: Option<usize>,
    /// Trials the run may start at most (default: 2.5 times one pass's
    /// trials; configurations measured earlier in the run cost nothing).
    #[arg(long = "max_trials", alias = "max-trials", hide_short_help = true)]
    pub max_trials: Option<usize>,
    /// GPU time the pooled search may spend: hours, minutes or seconds
    /// (`3h`, `90m`, `5400s`) or trials of 3 eval runs (`120t`). Nominal
    /// costs: a start 60 s, an eval run 30 s. Default: what the plain pass
    /// costs (one pass's trials at --eval_runs).
    #[arg(long = "budget", hide_short_help = true, value_name = "TIME")]
    pub budget: Option<String>,
    /// Seed of the pooled search's sampling (default 0): the same records
    /// and seed make the same proposals. A resumed run must be given the
    /// seed it ran with to replay it.
    #[arg(long = "seed", hide_short_help = true, value_name = "N")]
    pub seed: Option<u64>,
    /// No refinement with joint moves after the passes.
    #[arg(long = "no_refine", alias = "no-refine", hide_short_help = true)]
    pub no_refine: bool,
    /// Confidence of early stopping and of "better beyond noise", 0.5-0.999.
    #[arg(
        long = "prune_confidence",
        alias = "prune-confidence",
        default_value_t = 0.95,
        hide_short_help = true
    )]
    pub prune_confidence: f64,
    /// Judge a trial from this many eval runs on (at least 2).
    #[arg(
        long = "prune_after",
        alias = "prune-after",
        default_value_t = 2,
        hide_short_help = true
    )]
    pub prune_after: u32,
    /// A close call against the group's leader may run up to this many eval
    /// runs (0: never more than --eval_runs).
    #[arg(
        long = "max_eval_runs",
        alias = "max-eval-runs",
        default_value_t = 0,
        hide_short_help = true
    )]
    pub max_eval_runs: u32,
}

/// The port and the files the tuner writes.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = heading::PORTS_FILES)]
pub struct PortsFilesArgs {
    /// Port the service listens on (also given to both commands as PORT).
    #[arg(long, default_value_t = 8000, value_name = "PORT")]
    pub port: u16,
    /// Waits for a busy port before the trial fails.
    #[arg(
        long = "port_busy_retries",
        alias = "port-busy-retries",
        env = "TUNE_PORT_BUSY_RETRIES",
        default_value_t = 3,
        value_name = "N"
    )]
    pub port_busy_retries: u32,
    /// Seconds of one wait for a busy port.
    #[arg(
        long = "port_busy_wait_s",
        alias = "port-busy-wait-s",
        env = "TUNE_PORT_BUSY_WAIT_S",
        default_value_t = 10.0,
        value_name = "SECONDS"
    )]
    pub port_busy_wait_s: f64,
    /// Stop `uvicorn serve:app` processes listening on the port.
    #[arg(
        long = "port_busy_kill",
        alias = "port-busy-kill",
        env = "TUNE_PORT_BUSY_KILL"
    )]
    pub port_busy_kill: bool,
    /// Results file (JSONL), relative to the repo.
    #[arg(long, default_value = "tune_results.jsonl", value_name = "FILE")]
    pub results: PathBuf,
    /// Best params file, relative to the repo.
    #[arg(long, default_value = "best_params.json", value_name = "FILE")]
    pub best: PathBuf,
    /// Directory of per-trial service logs, relative to the repo.
    #[arg(
        long = "server_log_dir",
        alias = "server-log-dir",
        default_value = "tune_server_logs",
        value_name = "DIR"
    )]
    pub server_log_dir: PathBuf,
    /// Status file (what the tuner does now), relative to the repo.
    #[arg(
        long = "status_file",
        alias = "status-file",
        default_value = "tune_status.json",
        value_name = "FILE"
    )]
    pub status_file: PathBuf,
}

/// How the run is shown and checked.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = heading::OUTPUT)]
pub struct OutputArgs {
    /// One line per event on stdout instead of the live screen.
    ///
    /// Also chosen when stdout is not a terminal or TERM=dumb.
    #[arg(long)]
    pub headless: bool,
    /// Check parsing, records and the best choice without starting the
    /// service.
    ///
    /// The scripts of --server_cmd and --eval_cmd must exist in --repo (as
    /// for a run); neither is started.
    #[arg(long)]
    pub selftest: bool,
    /// With --selftest, also send a heartbeat notification.
    #[arg(long = "selftest_notify", alias = "selftest-notify")]
    pub selftest_notify: bool,
}

/// Webhooks and which events notify.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = heading::NOTIFY)]
pub struct NotifyArgs {
    /// Webhook URL (Feishu bot, generic endpoint...).
    #[arg(
        long = "webhook_url",
        alias = "webhook-url",
        env = "TUNE_WEBHOOK_URL",
        hide_env_values = true,
        hide_short_help = true,
        value_name = "URL"
    )]
    pub webhook_url: Option<String>,
    /// feishu | generic | dingtalk | wecom | slack.
    #[arg(
        long = "webhook_kind",
        alias = "webhook-kind",
        env = "TUNE_WEBHOOK_KIND",
        default_value = "feishu",
        hide_short_help = true,
        value_name = "KIND"
    )]
    pub webhook_kind: String,
    /// Signing secret of a Feishu (or DingTalk) bot.
    #[arg(
        long = "feishu_secret",
        alias = "feishu-secret",
        env = "TUNE_FEISHU_SECRET",
        hide_env_values = true,
        hide_short_help = true,
        value_name = "SECRET"
    )]
    pub feishu_secret: Option<String>,
    /// Notify after trials (see --notify_trial_done_every).
    #[arg(
        long = "notify_trial_done",
        alias = "notify-trial-done",
        env = "TUNE_NOTIFY_TRIAL_DONE",
        hide_short_help = true
    )]
    pub notify_trial_done: bool,
    /// With --notify_trial_done, notify every N trials.
    #[arg(
        long = "notify_trial_done_every",
        alias = "notify-trial-done-every",
        env = "TUNE_NOTIFY_TRIAL_DONE_EVERY",
        default_value_t = 1,
        hide_short_help = true,
        value_name = "N"
    )]
    pub notify_trial_done_every: u32,
}

/// The mail channel of notifications.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = heading::EMAIL)]
pub struct EmailArgs {
    /// SMTP server for email notifications.
    #[arg(
        long = "smtp_host",
        alias = "smtp-host",
        env = "TUNE_SMTP_HOST",
        hide_short_help = true,
        value_name = "HOST"
    )]
    pub smtp_host: Option<String>,
    /// SMTP port.
    #[arg(
        long = "smtp_port",
        alias = "smtp-port",
        env = "TUNE_SMTP_PORT",
        default_value_t = 587,
        hide_short_help = true,
        value_name = "PORT"
    )]
    pub smtp_port: u16,
    /// SMTP user (login when set).
    #[arg(
        long = "smtp_user",
        alias = "smtp-user",
        env = "TUNE_SMTP_USER",
        hide_env_values = true,
        hide_short_help = true,
        value_name = "USER"
    )]
    pub smtp_user: Option<String>,
    /// SMTP password.
    #[arg(
        long = "smtp_pass",
        alias = "smtp-pass",
        env = "TUNE_SMTP_PASS",
        hide_env_values = true,
        hide_short_help = true,
        value_name = "PASS"
    )]
    pub smtp_pass: Option<String>,
    /// Sender address.
    #[arg(
        long = "smtp_from",
        alias = "smtp-from",
        env = "TUNE_SMTP_FROM",
        hide_short_help = true,
        value_name = "ADDR"
    )]
    pub smtp_from: Option<String>,
    /// Recipients, separated by commas.
    #[arg(
        long = "smtp_to",
        alias = "smtp-to",
        env = "TUNE_SMTP_TO",
        hide_short_help = true,
        value_name = "ADDRS"
    )]
    pub smtp_to: Option<String>,
    /// Plain SMTP without STARTTLS.
    #[arg(
        long = "smtp_no_starttls",
        alias = "smtp-no-starttls",
        env = "TUNE_SMTP_NO_STARTTLS",
        hide_short_help = true
    )]
    pub smtp_no_starttls: bool,
    /// Implicit TLS (SMTPS).
    #[arg(
        long = "smtp_ssl",
        alias = "smtp-ssl",
        env = "TUNE_SMTP_SSL",
        hide_short_help = true
    )]
    pub smtp_ssl: bool,
    /// Extra trusted root certificates (PEM) for SMTP TLS, e.g. an internal CA.
    #[arg(
        long = "smtp_ca_file",
        alias = "smtp-ca-file",
        env = "TUNE_SMTP_CA_FILE",
        hide_short_help = true,
        value_name = "FILE"
    )]
    pub smtp_ca_file: Option<PathBuf>,
    /// Notification kinds sent by email.
    #[arg(
        long = "email_kinds",
        alias = "email-kinds",
        env = "TUNE_EMAIL_KINDS",
        default_value = "best,crashed,done",
        hide_short_help = true,
        value_name = "KINDS"
    )]
    pub email_kinds: String,
}

/// Periodic notifications.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = heading::HEARTBEATS)]
pub struct HeartbeatArgs {
    /// Send a heartbeat every N trials run.
    #[arg(
        long = "heartbeat_trials",
        alias = "heartbeat-trials",
        default_value_t = 10,
        hide_short_help = true,
        value_name = "N"
    )]
    pub heartbeat_trials: u32,
    /// Send a heartbeat every S seconds (0: off).
    #[arg(
        long = "heartbeat_interval_s",
        alias = "heartbeat-interval-s",
        env = "TUNE_HEARTBEAT_INTERVAL_S",
        default_value_t = 0.0,
        hide_short_help = true,
        value_name = "SECONDS"
    )]
    pub heartbeat_interval_s: f64,
}

/// Several trials at once.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = heading::SLOTS)]
pub struct SlotArgs {
    /// Devices to share out, e.g. 0,1,2,3: one trial at a time per
    /// --gpus_per_trial of them, each given its devices in --gpu_env.
    #[arg(long, hide_short_help = true)]
    pub gpus: Option<String>,
    /// Trials run at once (default: as many as --gpus allows, else 1).
    #[arg(long, hide_short_help = true)]
    pub slots: Option<usize>,
    /// Devices per trial (tensor parallel).
    #[arg(
        long = "gpus_per_trial",
        alias = "gpus-per-trial",
        default_value_t = 1,
        hide_short_help = true
    )]
    pub gpus_per_trial: usize,
    /// The variable naming a trial's devices (ROCm: HIP_VISIBLE_DEVICES).
    #[arg(
        long = "gpu_env",
        alias = "gpu-env",
        default_value = "CUDA_VISIBLE_DEVICES",
        hide_short_help = true
    )]
    pub gpu_env: String,
    /// Port distance between slots: slot N's PORT is --port + N × stride.
    #[arg(
        long = "port_stride",
        alias = "port-stride",
        default_value_t = 10,
        hide_short_help = true
    )]
    pub port_stride: u16,
    /// Another port variable of the service, strided like PORT: NAME=BASE,
    /// or NAME to take BASE from the environment; repeatable.
    #[arg(long = "port_env", alias = "port-env", hide_short_help = true)]
    pub port_env: Vec<String>,
    /// Run each trial through this command prefix as `autotune trial`,
    /// e.g. 'srun --ntasks=1 --gres=gpu:1' ({run}: this run's id, {slot}:
    /// the slot); --slots bounds the trials in flight.
    #[arg(long, hide_short_help = true)]
    pub launcher: Option<String>,
}
