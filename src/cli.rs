//! Command-line flags: the names, defaults and environment fallbacks of
//! `auto_tune.py` (with kebab-case aliases), autotune's own additions, and
//! validation into an engine [`Config`]. Every error names the flag or file
//! to fix; `main` turns it into exit status 2.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::alerts::{AlertConfig, Email, SmtpTls, Webhook, WebhookKind};
use autotune::Config;
use autotune::store::read_best;
use autotune::{self as eval, Patterns, compile_pattern};
use autotune::{NoisePolicy, SearchSpace, default_params};

/// What `--help` says before the flags.
const LONG_ABOUT: &str =
    "Tune an LLM inference service for the highest throughput that meets an accuracy bar.

For each candidate set of environment variables, autotune starts the service \
(--server_cmd) in --repo, waits until it answers on --port, runs --eval_cmd \
--eval_runs times, records accuracy and tok/s, stops the service, and keeps \
the fastest value that meets --accuracy_threshold, one parameter at a time. \
Start with the first five flags below; `autotune demo` shows a whole run on a \
simulated service.";

/// What `-h` says after the flags: examples, and where the rest is.
const AFTER_SHORT_HELP: &str = "Examples:
  autotune demo                        a whole run on a simulated service (no GPU)
  autotune --repo ~/svc --dry_run      the plan: groups, values, number of trials
  autotune --repo ~/svc --skip_existing
                                       tune (and resume) with run_model.sh + eval_local.py

`autotune --help` shows every flag (eval patterns, notifications, email,
heartbeats), more examples, the keys of the live screen and the files written.";

/// The examples of `--help`.
const EXAMPLES: &str = "Examples:
  # Try it first: a simulated service, the live screen, two to three minutes.
  autotune demo

  # See what a run would do (works before run_model.sh exists).
  autotune --repo ~/svc --dry_run

  # Tune a real service; run it again with the same flags to resume.
  autotune --repo ~/svc --skip_existing \\
      --server_cmd 'bash run_model.sh' --eval_cmd 'python3 eval_local.py --batch' \\
      --accuracy_threshold 0.88

  # Only your own candidates, unattended, restarted after a crash.
  autotune watchdog -- --repo ~/svc --skip_existing --headless \\
      --search_space_file space.json --no_builtin_space

  # Review the results (any autotune or auto_tune.py results file).
  autotune browse ~/svc/tune_results.jsonl";

/// The files `--help` lists.
const FILES: &str = "Files written in --repo (names set by the Ports and files flags):
  tune_results.jsonl   one JSON record per trial (params, status, accuracy, tok/s); appended,
                       never rewritten; --skip_existing reuses it to resume
  best_params.json     the best parameters so far (the base of the next run)
  tune_status.json     what the tuner is doing now, with its pid (for scripts and monitors)
  tune_server_logs/    the service's output, one trial_NNNNN.log per trial
  .autotune.lock       held while a tuner runs, so two never share the files
  *.lock               beside the results and best files while a tuner runs (any repo), so two
                       tuners never share them; removed at the end";

/// What `--help` says after the flags: examples, the live screen's keys
/// (from its key table, so the two cannot disagree), signals and files.
pub fn after_long_help() -> String {
    let mut keys: Vec<(String, &str)> = Vec::new();
    for (code, mods, _, _, desc) in crate::ui::keys::BINDINGS {
        let key = if mods.contains(crossterm::event::KeyModifiers::CONTROL) {
            format!("Ctrl-{code}")
        } else {
            code.to_string()
        };
        // Keys doing the same thing share a line: "Up k  scroll up".
        match keys.iter_mut().find(|(_, d)| d == desc) {
            Some((k, _)) => {
                k.push(' ');
                k.push_str(&key);
            }
            None => keys.push((key, desc)),
        }
    }
    let w = keys
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut s = format!("{EXAMPLES}\n\nKeys of the live screen:\n");
    for (k, d) in &keys {
        s.push_str(&format!("  {k:<w$}  {d}\n"));
    }
    s.push_str(
        "\nSignals (headless): kill -USR1 PID skips the running trial, kill -USR2 PID pauses or
resumes, Ctrl-\\ (SIGQUIT) aborts cleanly, Ctrl-C / SIGTERM stop the service and exit.
The PID is in tune_status.json.\n\n",
    );
    s.push_str(FILES);
    s
}

/// Parses the process's arguments; exits with clap's message (status 2) on
/// bad flags, or 0 after printing help or the version.
pub fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let m = Cli::command()
        .after_long_help(after_long_help())
        .get_matches();
    let mut cli = Cli::from_arg_matches(&m).unwrap_or_else(|e| e.exit());
    // Whether --accuracy_threshold was typed: with --objective or
    // --constraint, its default does not become a constraint.
    let given = |m: &clap::ArgMatches| {
        m.value_source("accuracy_threshold") == Some(clap::parser::ValueSource::CommandLine)
    };
    cli.tune.accuracy_threshold_given = given(&m);
    if let Some(Cmd::Trial(t)) = cli.cmd.as_mut()
        && let Some(sub) = m.subcommand_matches("trial")
    {
        t.tune.accuracy_threshold_given = given(sub);
    }
    match cli.cmd.as_mut() {
        Some(Cmd::Report(r)) => {
            r.accuracy_threshold_given = m.subcommand_matches("report").is_some_and(given);
        }
        Some(Cmd::Best(b)) => {
            b.accuracy_threshold_given = m.subcommand_matches("best").is_some_and(given);
        }
        _ => {}
    }
    cli
}

/// Tune an LLM inference service for the highest throughput that meets an
/// accuracy bar.
#[derive(Debug, Parser)]
#[command(
    name = "autotune",
    version,
    about,
    long_about = LONG_ABOUT,
    after_help = AFTER_SHORT_HELP,
    args_conflicts_with_subcommands = true,
    args_override_self = true
)]
pub struct Cli {
    /// A mode other than tuning.
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    /// Tuning flags.
    #[command(flatten)]
    pub tune: TuneArgs,
}

/// Modes.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Tune a built-in simulated service (no GPU, no Python) to see the tool work.
    Demo(DemoArgs),
    /// Review a results file (this run's, another run's, or one being written).
    Browse(BrowseArgs),
    /// Rerun `autotune --headless <args>` after a crash until the search is done.
    Watchdog(crate::watchdog::WatchdogArgs),
    /// The simulated inference service (used by the demo and the tests).
    #[command(name = "sim-serve", hide = true)]
    SimServe,
    /// The simulated service's engine-core worker process.
    #[command(name = "sim-worker", hide = true)]
    SimWorker,
    /// Run exactly one trial here and print its record as JSON on stdout
    /// (what a `--launcher` slot runs).
    Trial(Box<TrialArgs>),
    /// The simulated eval: queries the service and prints an eval_local.py summary.
    #[command(name = "sim-eval", hide = true)]
    SimEval,
    /// Write a self-contained HTML report of a results file: the winner
    /// against the start, the search path, a chart per group, failures and
    /// the Pareto front.
    Report(ReportArgs),
    /// Print the winning configuration ready to deploy (shell exports, a
    /// systemd environment file, JSON or command-line flags).
    Best(BestArgs),
}

/// Flags of `autotune demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Print one line per event instead of the live screen.
    #[arg(long)]
    pub headless: bool,
    /// Lay the demo out in DIR (created if needed; resumed if it holds results)
    /// instead of a new temporary directory.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Port of the simulated service (default: a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// Eval runs per trial.
    #[arg(long = "eval_runs", alias = "eval-runs", default_value_t = 3)]
    pub eval_runs: u32,
    /// Simulated GPUs: run up to N trials at once, each with its own
    /// device (as `--gpus 0,...,N-1`).
    #[arg(long)]
    pub gpus: Option<usize>,
}

/// Flags of `autotune trial`.
#[derive(Debug, Args)]
pub struct TrialArgs {
    /// The trial as JSON: {"ordinal", "param", "value", "params", ...,
    /// "index"} (default: read from stdin).
    #[arg(long)]
    pub spec: Option<String>,
    /// NAME=VALUE added to the environment of the service and the eval
    /// (the slot's strided port variables); repeatable.
    #[arg(long = "trial_env", alias = "trial-env")]
    pub trial_env: Vec<String>,
    /// Tuning flags (repo, commands, timeouts, patterns, port).
    #[command(flatten)]
    pub tune: TuneArgs,
}

/// Flags of `autotune browse`.
#[derive(Debug, Args)]
pub struct BrowseArgs {
    /// The results file (default: tune_results.jsonl in --repo).
    pub file: Option<PathBuf>,
    /// The repository whose results file to open.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Minimum mean accuracy for the best trial.
    #[arg(
        long = "accuracy_threshold",
        alias = "accuracy-threshold",
        default_value_t = 0.88
    )]
    pub accuracy_threshold: f64,
    /// Wait for the file if it does not exist yet (it is followed live anyway).
    #[arg(long)]
    pub follow: bool,
}

/// Flags of `autotune report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The results file (default: tune_results.jsonl in --repo).
    pub results: Option<PathBuf>,
    /// The repository whose results file to report on.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Where to write the page (default: tune_report.html beside the results).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Minimum mean accuracy for a configuration to count.
    #[arg(
        long = "accuracy_threshold",
        alias = "accuracy-threshold",
        default_value_t = 0.88
    )]
    pub accuracy_threshold: f64,
    /// The objective to judge by, `NAME`, `NAME:max` or `NAME:min` (default:
    /// the goal recorded in tune_status.json beside the results, else
    /// total_tps:max).
    #[arg(long = "objective", value_name = "NAME[:max|min]")]
    pub objective: Option<String>,
    /// A limit a configuration must meet, `NAME>=X` or `NAME<=X`
    /// (repeatable; default: the recorded goal's, else accuracy >= the
    /// threshold).
    #[arg(long = "constraint", value_name = "BOUND")]
    pub constraint: Vec<String>,
    /// Whether --accuracy_threshold was typed (set by [`parse`]).
    #[arg(skip)]
    pub accuracy_threshold_given: bool,
}

/// How `autotune best` prints the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BestFormat {
    /// `export K=V` lines, shell-quoted.
    Shell,
    /// `K=V` lines for a systemd `EnvironmentFile=`.
    Env,
    /// A JSON object, as best_params.json.
    Json,
    /// `--k-lower-kebab value` pairs on one line, shell-quoted.
    Args,
}

/// Flags of `autotune best`.
#[derive(Debug, Args)]
pub struct BestArgs {
    /// A best_params.json or a results file (its best qualifying record);
    /// default: best_params.json in --repo, else its tune_results.jsonl.
    pub file: Option<PathBuf>,
    /// The repository whose files to read.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = BestFormat::Shell)]
    pub format: BestFormat,
    /// Minimum mean accuracy for a record to qualify (results files only).
    #[arg(
        long = "accuracy_threshold",
        alias = "accuracy-threshold",
        default_value_t = 0.88
    )]
    pub accuracy_threshold: f64,
    /// The objective to judge by, `NAME`, `NAME:max` or `NAME:min` (default:
    /// the goal recorded in tune_status.json beside the results, else
    /// total_tps:max).
    #[arg(long = "objective", value_name = "NAME[:max|min]")]
    pub objective: Option<String>,
    /// A limit a configuration must meet, `NAME>=X` or `NAME<=X`
    /// (repeatable; default: the recorded goal's, else accuracy >= the
    /// threshold).
    #[arg(long = "constraint", value_name = "BOUND")]
    pub constraint: Vec<String>,
    /// Whether --accuracy_threshold was typed (set by [`parse`]).
    #[arg(skip)]
    pub accuracy_threshold_given: bool,
}

/// Help headings, in the order `--help` shows them after the first five
/// flags (which have no heading, so clap lists them first, under "Options").
pub mod heading {
    /// The service under test and how it is started and stopped.
    pub const SERVICE: &str = "Service";
    /// The eval command and how its output is read.
    pub const EVAL: &str = "Eval";
    /// What is searched, and looking at the plan first.
    pub const SEARCH: &str = "Search";
    /// The port and the files the tuner writes.
    pub const PORTS_FILES: &str = "Ports and files";
    /// How the run is shown and checked.
    pub const OUTPUT: &str = "Output and checks";
    /// Webhooks and which events notify.
    pub const NOTIFY: &str = "Notifications";
    /// The mail channel of notifications.
    pub const EMAIL: &str = "Email";
    /// Periodic notifications.
    pub const HEARTBEATS: &str = "Heartbeats";
    /// Several trials at once.
    pub const SLOTS: &str = "Slots";
}

/// Flags of a tuning run. The first five (no heading) are what a new user
/// needs; the rest are grouped by concern. Flags of the rarer concerns
/// (eval patterns, notifications, email, heartbeats) are left out of `-h`
/// and shown by `--help`.
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

    // ---- Service ----
    /// Path probed for readiness.
    ///
    /// The service is ready when GET on it answers any status from 200 to 499.
    #[arg(
        long = "health_path",
        alias = "health-path",
        default_value = "/",
        help_heading = heading::SERVICE,
        value_name = "PATH"
    )]
    pub health_path: String,
    /// Seconds the service may take to answer.
    #[arg(
        long = "startup_timeout",
        alias = "startup-timeout",
        default_value_t = 240.0,
        help_heading = heading::SERVICE,
        value_name = "SECONDS"
    )]
    pub startup_timeout: f64,
    /// Seconds between SIGTERM and SIGKILL when stopping the service.
    #[arg(
        long = "kill_grace_s",
        alias = "kill-grace-s",
        default_value_t = 10.0,
        help_heading = heading::SERVICE,
        value_name = "SECONDS"
    )]
    pub kill_grace_s: f64,
    /// Extra pause in seconds after each trial.
    ///
    /// The service is already fully stopped and its port closed before the
    /// next trial; this is for hardware that needs time to cool or settle.
    #[arg(long, default_value_t = 0.0, help_heading = heading::SERVICE, value_name = "SECONDS")]
    pub cooldown: f64,

    // ---- Eval ----
    /// Eval runs per trial.
    #[arg(
        long = "eval_runs",
        alias = "eval-runs",
        default_value_t = 5,
        help_heading = heading::EVAL,
        value_name = "N"
    )]
    pub eval_runs: u32,
    /// Seconds one eval run may take.
    #[arg(
        long = "eval_timeout",
        alias = "eval-timeout",
        default_value_t = 420.0,
        help_heading = heading::EVAL,
        value_name = "SECONDS"
    )]
    pub eval_timeout: f64,
    /// Pattern for accuracy (one capture group).
    #[arg(
        long = "acc_regex",
        alias = "acc-regex",
        default_value = eval::DEFAULT_ACC_RE,
        help_heading = heading::EVAL,
        hide_short_help = true,
        value_name = "RE"
    )]
    pub acc_regex: String,
    /// Pattern for answer tokens/s (one capture group).
    #[arg(
        long = "answer_tps_regex",
        alias = "answer-tps-regex",
        default_value = eval::DEFAULT_ANSWER_TPS_RE,
        help_heading = heading::EVAL,
        hide_short_help = true,
        value_name = "RE"
    )]
    pub answer_tps_regex: String,
    /// Pattern for total tokens/s (one capture group).
    #[arg(
        long = "total_tps_regex",
        alias = "total-tps-regex",
        default_value = eval::DEFAULT_TOTAL_TPS_RE,
        help_heading = heading::EVAL,
        hide_short_help = true,
        value_name = "RE"
    )]
    pub total_tps_regex: String,
    /// Pattern for total time in seconds (one capture group).
    #[arg(
        long = "total_time_regex",
        alias = "total-time-regex",
        default_value = eval::DEFAULT_TOTAL_TIME_RE,
        help_heading = heading::EVAL,
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
    #[arg(long = "metric", help_heading = heading::EVAL, value_name = "NAME=REGEX")]
    pub metric: Vec<String>,
    /// The metric to optimise: NAME or NAME:max / NAME:min [default: total_tps:max].
    ///
    /// A run is ok when the eval exits 0 and the objective and every
    /// constrained metric were parsed.
    #[arg(long = "objective", help_heading = heading::EVAL, value_name = "NAME[:max|min]")]
    pub objective: Option<String>,
    /// Direction of --objective: max or min [default: max].
    #[arg(
        long = "objective_dir",
        alias = "objective-dir",
        help_heading = heading::EVAL,
        value_name = "max|min"
    )]
    pub objective_dir: Option<String>,
    /// A bound the winner's mean must meet: 'NAME>=X' or 'NAME<=X'
    /// (repeatable), e.g. 'p99_ttft_ms<=200'.
    ///
    /// Without --objective or --constraint the goal is today's: max
    /// total_tps subject to accuracy >= --accuracy_threshold. With either,
    /// the accuracy bar applies only when --accuracy_threshold is given.
    #[arg(long = "constraint", help_heading = heading::EVAL, value_name = "BOUND")]
    pub constraint: Vec<String>,
    /// Set by [`parse`]: --accuracy_threshold was on the command line.
    #[arg(skip)]
    pub accuracy_threshold_given: bool,

    // ---- Search ----
    /// Print the plan and exit.
    ///
    /// A table of parameter groups, their values (the base's marked), the
    /// number of trials and the policy; works before the service script
    /// exists and writes nothing.
    #[arg(long = "dry_run", alias = "dry-run", help_heading = heading::SEARCH)]
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
        help_heading = heading::SEARCH,
        value_name = "FILE"
    )]
    pub search_space_file: Option<PathBuf>,
    /// Search only what --search_space_file lists, in its key order.
    #[arg(
        long = "no_builtin_space",
        alias = "no-builtin-space",
        help_heading = heading::SEARCH
    )]
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
        help_heading = heading::SEARCH,
        value_name = "NAMES"
    )]
    pub request_params: Option<String>,
    /// How groups are decided: `noise-aware` (never measure a configuration
    /// twice, stop hopeless trials early, a change must beat the incumbent
    /// beyond the run-to-run noise), `plain` (auto_tune.py's choices,
    /// exactly) or `pooled` (one model of every run of every trial,
    /// Thompson sampling within --budget, the winner certified).
    #[arg(
        long = "search_policy",
        alias = "search-policy",
        default_value = "noise-aware",
        value_parser = ["noise-aware", "plain", "pooled"],
        help_heading = heading::SEARCH,
        hide_short_help = true
    )]
    pub search_policy: String,
    /// Never stop a trial early (noise-aware policy otherwise unchanged).
    #[arg(
        long = "no_prune",
        alias = "no-prune",
        help_heading = heading::SEARCH,
        hide_short_help = true
    )]
    pub no_prune: bool,
    /// Passes over the groups at most (default: until a whole pass changes
    /// nothing; `--search_policy plain`: 1).
    #[arg(long = "passes", help_heading = heading::SEARCH, hide_short_help = true)]
    pub passes: Option<usize>,
    /// Trials the run may start at most (default: 2.5 times one pass's
    /// trials; configurations measured earlier in the run cost nothing).
    #[arg(
        long = "max_trials",
        alias = "max-trials",
        help_heading = heading::SEARCH,
        hide_short_help = true
    )]
    pub max_trials: Option<usize>,
    /// GPU time the pooled search may spend: hours, minutes or seconds
    /// (`3h`, `90m`, `5400s`) or trials of 3 eval runs (`120t`). Nominal
    /// costs: a start 60 s, an eval run 30 s. Default: what the plain pass
    /// costs (one pass's trials at --eval_runs).
    #[arg(long = "budget", help_heading = heading::SEARCH, hide_short_help = true, value_name = "TIME")]
    pub budget: Option<String>,
    /// No refinement with joint moves after the passes.
    #[arg(
        long = "no_refine",
        alias = "no-refine",
        help_heading = heading::SEARCH,
        hide_short_help = true
    )]
    pub no_refine: bool,
    /// Confidence of early stopping and of "better beyond noise", 0.5-0.999.
    #[arg(
        long = "prune_confidence",
        alias = "prune-confidence",
        default_value_t = 0.95,
        help_heading = heading::SEARCH,
        hide_short_help = true
    )]
    pub prune_confidence: f64,
    /// Judge a trial from this many eval runs on (at least 2).
    #[arg(
        long = "prune_after",
        alias = "prune-after",
        default_value_t = 2,
        help_heading = heading::SEARCH,
        hide_short_help = true
    )]
    pub prune_after: u32,
    /// A close call against the group's leader may run up to this many eval
    /// runs (0: never more than --eval_runs).
    #[arg(
        long = "max_eval_runs",
        alias = "max-eval-runs",
        default_value_t = 0,
        help_heading = heading::SEARCH,
        hide_short_help = true
    )]
    pub max_eval_runs: u32,

    // ---- Ports and files ----
    /// Port the service listens on (also given to both commands as PORT).
    #[arg(long, default_value_t = 8000, help_heading = heading::PORTS_FILES, value_name = "PORT")]
    pub port: u16,
    /// Waits for a busy port before the trial fails.
    #[arg(
        long = "port_busy_retries",
        alias = "port-busy-retries",
        env = "TUNE_PORT_BUSY_RETRIES",
        default_value_t = 3,
        help_heading = heading::PORTS_FILES,
        value_name = "N"
    )]
    pub port_busy_retries: u32,
    /// Seconds of one wait for a busy port.
    #[arg(
        long = "port_busy_wait_s",
        alias = "port-busy-wait-s",
        env = "TUNE_PORT_BUSY_WAIT_S",
        default_value_t = 10.0,
        help_heading = heading::PORTS_FILES,
        value_name = "SECONDS"
    )]
    pub port_busy_wait_s: f64,
    /// Stop `uvicorn serve:app` processes listening on the port.
    #[arg(
        long = "port_busy_kill",
        alias = "port-busy-kill",
        env = "TUNE_PORT_BUSY_KILL",
        help_heading = heading::PORTS_FILES
    )]
    pub port_busy_kill: bool,
    /// Results file (JSONL), relative to the repo.
    #[arg(long, default_value = "tune_results.jsonl", help_heading = heading::PORTS_FILES, value_name = "FILE")]
    pub results: PathBuf,
    /// Best params file, relative to the repo.
    #[arg(long, default_value = "best_params.json", help_heading = heading::PORTS_FILES, value_name = "FILE")]
    pub best: PathBuf,
    /// Directory of per-trial service logs, relative to the repo.
    #[arg(
        long = "server_log_dir",
        alias = "server-log-dir",
        default_value = "tune_server_logs",
        help_heading = heading::PORTS_FILES,
        value_name = "DIR"
    )]
    pub server_log_dir: PathBuf,
    /// Status file (what the tuner does now), relative to the repo.
    #[arg(
        long = "status_file",
        alias = "status-file",
        default_value = "tune_status.json",
        help_heading = heading::PORTS_FILES,
        value_name = "FILE"
    )]
    pub status_file: PathBuf,

    // ---- Output and checks ----
    /// One line per event on stdout instead of the live screen.
    ///
    /// Also chosen when stdout is not a terminal or TERM=dumb.
    #[arg(long, help_heading = heading::OUTPUT)]
    pub headless: bool,
    /// Check parsing, records and the best choice without starting the
    /// service.
    ///
    /// The scripts of --server_cmd and --eval_cmd must exist in --repo (as
    /// for a run); neither is started.
    #[arg(long, help_heading = heading::OUTPUT)]
    pub selftest: bool,
    /// With --selftest, also send a heartbeat notification.
    #[arg(
        long = "selftest_notify",
        alias = "selftest-notify",
        help_heading = heading::OUTPUT
    )]
    pub selftest_notify: bool,

    // ---- Notifications ----
    /// Webhook URL (Feishu bot, generic endpoint...).
    #[arg(
        long = "webhook_url",
        alias = "webhook-url",
        env = "TUNE_WEBHOOK_URL",
        hide_env_values = true,
        help_heading = heading::NOTIFY,
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
        help_heading = heading::NOTIFY,
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
        help_heading = heading::NOTIFY,
        hide_short_help = true,
        value_name = "SECRET"
    )]
    pub feishu_secret: Option<String>,
    /// Notify after trials (see --notify_trial_done_every).
    #[arg(
        long = "notify_trial_done",
        alias = "notify-trial-done",
        env = "TUNE_NOTIFY_TRIAL_DONE",
        help_heading = heading::NOTIFY,
        hide_short_help = true
    )]
    pub notify_trial_done: bool,
    /// With --notify_trial_done, notify every N trials.
    #[arg(
        long = "notify_trial_done_every",
        alias = "notify-trial-done-every",
        env = "TUNE_NOTIFY_TRIAL_DONE_EVERY",
        default_value_t = 1,
        help_heading = heading::NOTIFY,
        hide_short_help = true,
        value_name = "N"
    )]
    pub notify_trial_done_every: u32,

    // ---- Email ----
    /// SMTP server for email notifications.
    #[arg(
        long = "smtp_host",
        alias = "smtp-host",
        env = "TUNE_SMTP_HOST",
        help_heading = heading::EMAIL,
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
        help_heading = heading::EMAIL,
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
        help_heading = heading::EMAIL,
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
        help_heading = heading::EMAIL,
        hide_short_help = true,
        value_name = "PASS"
    )]
    pub smtp_pass: Option<String>,
    /// Sender address.
    #[arg(
        long = "smtp_from",
        alias = "smtp-from",
        env = "TUNE_SMTP_FROM",
        help_heading = heading::EMAIL,
        hide_short_help = true,
        value_name = "ADDR"
    )]
    pub smtp_from: Option<String>,
    /// Recipients, separated by commas.
    #[arg(
        long = "smtp_to",
        alias = "smtp-to",
        env = "TUNE_SMTP_TO",
        help_heading = heading::EMAIL,
        hide_short_help = true,
        value_name = "ADDRS"
    )]
    pub smtp_to: Option<String>,
    /// Plain SMTP without STARTTLS.
    #[arg(
        long = "smtp_no_starttls",
        alias = "smtp-no-starttls",
        env = "TUNE_SMTP_NO_STARTTLS",
        help_heading = heading::EMAIL,
        hide_short_help = true
    )]
    pub smtp_no_starttls: bool,
    /// Implicit TLS (SMTPS).
    #[arg(
        long = "smtp_ssl",
        alias = "smtp-ssl",
        env = "TUNE_SMTP_SSL",
        help_heading = heading::EMAIL,
        hide_short_help = true
    )]
    pub smtp_ssl: bool,
    /// Extra trusted root certificates (PEM) for SMTP TLS, e.g. an internal CA.
    #[arg(
        long = "smtp_ca_file",
        alias = "smtp-ca-file",
        env = "TUNE_SMTP_CA_FILE",
        help_heading = heading::EMAIL,
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
        help_heading = heading::EMAIL,
        hide_short_help = true,
        value_name = "KINDS"
    )]
    pub email_kinds: String,

    // ---- Heartbeats ----
    /// Send a heartbeat every N trials run.
    #[arg(
        long = "heartbeat_trials",
        alias = "heartbeat-trials",
        default_value_t = 10,
        help_heading = heading::HEARTBEATS,
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
        help_heading = heading::HEARTBEATS,
        hide_short_help = true,
        value_name = "SECONDS"
    )]
    pub heartbeat_interval_s: f64,

    // ---- Slots ----
    /// Devices to share out, e.g. 0,1,2,3: one trial at a time per
    /// --gpus_per_trial of them, each given its devices in --gpu_env.
    #[arg(long, help_heading = heading::SLOTS, hide_short_help = true)]
    pub gpus: Option<String>,
    /// Trials run at once (default: as many as --gpus allows, else 1).
    #[arg(long, help_heading = heading::SLOTS, hide_short_help = true)]
    pub slots: Option<usize>,
    /// Devices per trial (tensor parallel).
    #[arg(
        long = "gpus_per_trial",
        alias = "gpus-per-trial",
        default_value_t = 1,
        help_heading = heading::SLOTS,
        hide_short_help = true
    )]
    pub gpus_per_trial: usize,
    /// The variable naming a trial's devices (ROCm: HIP_VISIBLE_DEVICES).
    #[arg(
        long = "gpu_env",
        alias = "gpu-env",
        default_value = "CUDA_VISIBLE_DEVICES",
        help_heading = heading::SLOTS,
        hide_short_help = true
    )]
    pub gpu_env: String,
    /// Port distance between slots: slot N's PORT is --port + N × stride.
    #[arg(
        long = "port_stride",
        alias = "port-stride",
        default_value_t = 10,
        help_heading = heading::SLOTS,
        hide_short_help = true
    )]
    pub port_stride: u16,
    /// Another port variable of the service, strided like PORT: NAME=BASE,
    /// or NAME to take BASE from the environment; repeatable.
    #[arg(
        long = "port_env",
        alias = "port-env",
        help_heading = heading::SLOTS,
        hide_short_help = true
    )]
    pub port_env: Vec<String>,
    /// Run each trial through this command prefix as `autotune trial`,
    /// e.g. 'srun --ntasks=1 --gres=gpu:1' ({run}: this run's id, {slot}:
    /// the slot); --slots bounds the trials in flight.
    #[arg(long, help_heading = heading::SLOTS, hide_short_help = true)]
    pub launcher: Option<String>,

    /// Start from the built-in defaults instead of best_params.json (set by
    /// `autotune demo`, whose runs always start there, so that running it
    /// again on the same directory resumes the same search).
    #[arg(skip)]
    pub start_from_defaults: bool,
}

/// The longest duration a flag takes: far beyond any real time limit, and
/// small enough that adding it to a clock reading cannot overflow.
const MAX_SECONDS: f64 = 1e9;

/// Reads a duration flag; refuses what no clock can hold (negative, NaN,
/// infinite, beyond [`MAX_SECONDS`]) instead of panicking on it later.
pub fn seconds(flag: &str, v: f64, allow_zero: bool) -> Result<Duration, String> {
    if !v.is_finite() || v < 0.0 || (!allow_zero && v == 0.0) || v > MAX_SECONDS {
        return Err(format!(
            "{flag}: expected a {} number of seconds up to {MAX_SECONDS:e}, got {}",
            if allow_zero {
                "non-negative"
            } else {
                "positive"
            },
            if v.abs() >= 1e6 {
                format!("{v:e}")
            } else {
                v.to_string()
            }
        ));
    }
    Duration::try_from_secs_f64(v).map_err(|e| format!("{flag}: {v} seconds: {e}"))
}

/// Checks an accuracy threshold: accuracy is a fraction, so a bar outside
/// [0, 1] either lets everything win or nothing.
pub fn threshold(flag: &str, v: f64) -> Result<f64, String> {
    if !(0.0..=1.0).contains(&v) {
        return Err(format!(
            "{flag}: expected a number between 0 and 1 (accuracy is a fraction), got {v}"
        ));
    }
    Ok(v)
}

/// `p` as the filesystem resolves it, for telling whether two paths name
/// one file: canonical when it exists, else its directory canonicalised
/// joined with its name (the file may not exist yet).
pub fn resolved(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    match (abs.parent(), abs.file_name()) {
        (Some(d), Some(n)) => std::fs::canonicalize(d)
            .map(|d| d.join(n))
            .unwrap_or(abs.clone()),
        _ => abs,
    }
}

/// Whether two paths name one file: the same resolved path, or (both
/// existing) the same inode, as a hard link is.
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b))
        && x.dev() == y.dev()
        && x.ino() == y.ino()
    {
        return true;
    }
    resolved(a) == resolved(b)
}

/// Refuses two of a run's files at one path (one would overwrite the
/// other): `files` are `(what the user typed, path)`. The message names
/// both.
pub fn distinct_files(files: &[(String, PathBuf)]) -> Result<(), String> {
    for (i, (wa, a)) in files.iter().enumerate() {
        for (wb, b) in &files[i + 1..] {
            if same_file(a, b) {
                return Err(format!(
                    "{wb} and {wa} are the same file ({}): one would overwrite the other; give each its own path",
                    resolved(b).display()
                ));
            }
        }
    }
    Ok(())
}

/// The first words of a shell command as bash reads them, quotes removed,
/// each with whether it is literal (no `$`, backquote, glob or leading `~`
/// that bash would expand). Stops at an unquoted operator (`;`, `|`, `&`,
/// `<`, `>`, parentheses); `None` for an unbalanced quote.
fn shell_words(cmd: &str) -> Option<Vec<(String, bool)>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let (mut in_word, mut literal) = (false, true);
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push((std::mem::take(&mut cur), literal));
                    (in_word, literal) = (false, true);
                }
            }
            ';' | '|' | '&' | '<' | '>' | '(' | ')' => break,
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            n @ ('"' | '\\' | '$' | '`') => cur.push(n),
                            '\n' => {}
                            n => {
                                cur.push('\\');
                                cur.push(n);
                            }
                        },
                        c => {
                            if matches!(c, '$' | '`') {
                                literal = false;
                            }
                            cur.push(c);
                        }
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(n) => cur.push(n),
                }
            }
            c => {
                if matches!(c, '$' | '`' | '*' | '?' | '[') || (c == '~' && !in_word) {
                    literal = false;
                }
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push((cur, literal));
    }
    Some(words)
}

/// Checks that a command's script exists when the command names one
/// (`bash x.sh`, `python3 "x.py"`, `./x`), its words read as bash reads
/// them (quotes removed). A script bash would expand (`"$HOME/x.py"`) is
/// not checked.
pub fn check_script(flag: &str, cmd: &str, repo: &Path) -> Result<(), String> {
    if cmd.trim().is_empty() {
        return Err(format!("{flag} is empty"));
    }
    let Some(words) = shell_words(cmd) else {
        return Ok(());
    };
    let script = match words.as_slice() {
        [(interp, true), (s, literal), ..]
            if matches!(interp.as_str(), "bash" | "sh" | "python" | "python3")
                && !s.starts_with('-') =>
        {
            literal.then_some(s)
        }
        [(s, true), ..] if s.starts_with("./") => Some(s),
        _ => None,
    };
    if let Some(s) = script
        && !repo.join(s).exists()
    {
        return Err(format!(
            "{flag}: {} not found in {} (set --repo or {flag})",
            s,
            repo.display()
        ));
    }
    Ok(())
}

/// The search space file the flags name: a relative path is looked up in
/// the repo, then in the current directory.
fn space_file(a: &TuneArgs, repo: &Path) -> Option<PathBuf> {
    let file = a.search_space_file.as_ref().map(|f| {
        if f.is_absolute() {
            f.clone()
        } else {
            repo.join(f)
        }
    });
    match (&file, &a.search_space_file) {
        (Some(f), Some(orig)) if !f.exists() && orig.exists() => Some(orig.clone()),
        _ => file,
    }
}

/// Builds the search space the flags ask for.
pub fn search_space(a: &TuneArgs, repo: &Path) -> Result<SearchSpace, String> {
    let file = space_file(a, repo);
    let extra = match &file {
        Some(f) => {
            Some(SearchSpace::from_file(f).map_err(|e| format!("--search_space_file: {e}"))?)
        }
        None => None,
    };
    if a.no_builtin_space {
        let mut space =
            extra.ok_or_else(|| "--no_builtin_space needs --search_space_file".to_string())?;
        request_params(a, &mut space)?;
        return Ok(space);
    }
    let mut space = SearchSpace::builtin();
    if let Some(e) = extra {
        space.merge(e);
    }
    request_params(a, &mut space)?;
    Ok(space)
}

/// The parameters read per request: `--request_params` when given (each a
/// parameter of `space`), else what the space says.
fn request_params(a: &TuneArgs, space: &mut SearchSpace) -> Result<(), String> {
    let Some(list) = &a.request_params else {
        return Ok(());
    };
    let mut set = std::collections::BTreeSet::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !space.groups.iter().any(|(k, _)| k == name) {
            return Err(format!(
                "--request_params: {name} is not a parameter of the search space"
            ));
        }
        set.insert(name.to_string());
    }
    space.request = set;
    Ok(())
}

/// The noise policy of the flags; `None` for `--search_policy plain`.
fn search_policy(a: &TuneArgs) -> Result<Option<NoisePolicy>, String> {
    if !(0.5..=0.999).contains(&a.prune_confidence) {
        return Err(format!(
            "--prune_confidence: expected a number from 0.5 to 0.999, got {}",
            a.prune_confidence
        ));
    }
    if a.prune_after < 2 {
        return Err("--prune_after: must be at least 2 (one run says nothing of the noise)".into());
    }
    if a.max_eval_runs != 0 && a.max_eval_runs < a.eval_runs {
        return Err(format!(
            "--max_eval_runs: {} is fewer than --eval_runs {}",
            a.max_eval_runs, a.eval_runs
        ));
    }
    if a.search_policy == "plain" {
        return Ok(None);
    }
    Ok(Some(NoisePolicy {
        prune: !a.no_prune,
        prune_after: a.prune_after,
        confidence: a.prune_confidence,
        max_runs: a.max_eval_runs,
        ..NoisePolicy::default()
    }))
}

/// The searcher of `--search_policy`: the pooled model with its budget
/// (`--budget`, else `--max_trials` trials, else the plain pass's cost),
/// or coordinate ascent.
fn searcher(
    a: &TuneArgs,
    space: &SearchSpace,
    base: &autotune::Params,
    slots: usize,
) -> Result<autotune::SearcherKind, String> {
    if a.budget.is_some() && a.search_policy != "pooled" {
        return Err("--budget: only the pooled search spends a budget (--search_policy pooled); use --max_trials".into());
    }
    if a.search_policy != "pooled" {
        return Ok(autotune::SearcherKind::Coordinate);
    }
    let budget_s = match (&a.budget, a.max_trials) {
        (Some(b), _) => parse_budget(b)?,
        (None, Some(n)) => autotune::PooledSetup::trials_s(n),
        (None, None) => autotune::PooledSetup::plain_pass_s(space.plan(base).len(), a.eval_runs),
    };
    Ok(autotune::SearcherKind::Pooled(autotune::PooledSetup {
        budget_s,
        seed: 0,
        batch: slots.max(1),
    }))
}

/// `3h`, `90m`, `5400s`, `120t` (trials) as nominal GPU-seconds.
fn parse_budget(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "--budget {text:?}: expected a number with h, m, s (GPU time) or t (trials), e.g. 3h or 120t"
        )
    };
    let (num, unit) = t.split_at(t.len().saturating_sub(1));
    let x: f64 = num.trim().parse().map_err(|_| bad())?;
    if !x.is_finite() || x <= 0.0 {
        return Err(bad());
    }
    Ok(match unit {
        "h" => x * 3600.0,
        "m" => x * 60.0,
        "s" => x,
        "t" => autotune::PooledSetup::trials_s(x.ceil() as usize),
        _ => return Err(bad()),
    })
}

/// How far the search goes beyond one pass (`--passes`, `--max_trials`,
/// `--no_refine`); `--search_policy plain` is one pass unless told.
fn search_plan(a: &TuneArgs) -> Result<autotune::SearchPlan, String> {
    if a.passes == Some(0) {
        return Err("--passes: must be at least 1".into());
    }
    if a.max_trials == Some(0) {
        return Err("--max_trials: must be at least 1".into());
    }
    let mut plan = if a.search_policy == "plain" {
        autotune::SearchPlan::ONE_PASS
    } else {
        autotune::SearchPlan::default()
    };
    if a.passes.is_some() {
        plan.passes = a.passes;
    }
    if a.max_trials.is_some() {
        plan.max_trials = a.max_trials;
    }
    if a.no_refine {
        plan.refine = false;
    }
    Ok(plan)
}

/// Validates the flags into an engine configuration.
pub fn to_config(a: &TuneArgs) -> Result<Config, String> {
    let repo =
        std::path::absolute(&a.repo).map_err(|e| format!("--repo {}: {e}", a.repo.display()))?;
    if !repo.is_dir() {
        return Err(format!("--repo {}: not a directory", a.repo.display()));
    }
    if a.eval_runs == 0 {
        return Err("--eval_runs: must be at least 1".into());
    }
    let goal = goal(a)?;
    if a.port == 0 {
        return Err("--port: must be between 1 and 65535".into());
    }
    if !a.health_path.starts_with('/') {
        return Err(format!(
            "--health_path: must start with '/', got {:?}",
            a.health_path
        ));
    }
    let at = |p: &PathBuf| {
        if p.is_absolute() {
            p.clone()
        } else {
            repo.join(p)
        }
    };
    let results = at(&a.results);
    if results.exists() && !results.is_file() {
        return Err(format!(
            "--results {}: not a regular file",
            results.display()
        ));
    }
    // A dry run only shows the plan: it may come before the scripts exist
    // (it says which are missing instead).
    if !a.dry_run {
        check_script("--server_cmd", &a.server_cmd, &repo)?;
        check_script("--eval_cmd", &a.eval_cmd, &repo)?;
    }
    let best = at(&a.best);
    let status_file = at(&a.status_file);
    let service_state_file = status_file.with_file_name(".autotune_service.json");
    let report = results.with_file_name("tune_report.html");
    let logs = at(&a.server_log_dir);
    // Every file the run writes (and the space file it reads) at its own
    // path, checked before anything is written: `--status_file
    // tune_results.jsonl` would replace the results with the status.
    let mut files = vec![
        (
            format!("--results {}", a.results.display()),
            results.clone(),
        ),
        (format!("--best {}", a.best.display()), best.clone()),
        (
            format!("--status_file {}", a.status_file.display()),
            status_file.clone(),
        ),
        (
            format!("--server_log_dir {}", a.server_log_dir.display()),
            logs.clone(),
        ),
        (
            "the report (tune_report.html beside --results)".to_string(),
            report.clone(),
        ),
        (
            "the service state file (.autotune_service.json beside --status_file)".to_string(),
            service_state_file.clone(),
        ),
        (
            "the lock file (.autotune.lock in --repo)".to_string(),
            repo.join(".autotune.lock"),
        ),
        (
            "the lock file of --results (its name + .lock)".to_string(),
            autotune::store::output_lock_path(&results),
        ),
        (
            "the lock file of --best (its name + .lock)".to_string(),
            autotune::store::output_lock_path(&best),
        ),
    ];
    if let (Some(typed), Some(f)) = (&a.search_space_file, space_file(a, &repo)) {
        files.push((format!("--search_space_file {}", typed.display()), f));
    }
    distinct_files(&files)?;
    let base = if a.start_from_defaults {
        default_params()
    } else {
        read_best(&best)
            .map_err(|e| format!("--best: {e}"))?
            .unwrap_or_else(default_params)
    };
    // The base's names become environment variables too: a best file
    // holding `A=B` would otherwise run as `A=B=<value>`.
    for name in base.keys() {
        SearchSpace::check_name(name).map_err(|m| format!("--best {}: {m}", best.display()))?;
    }
    let space = search_space(a, &repo)?;
    for w in space.name_warnings() {
        eprintln!("autotune: warning: {}", crate::ui::printable(&w));
    }
    seconds("--heartbeat_interval_s", a.heartbeat_interval_s, true)?;
    let layout = slot_layout(a)?;
    let launcher = match a.launcher.as_deref().map(str::trim) {
        None => None,
        Some("") => return Err("--launcher is empty".into()),
        Some(t) => {
            if a.gpus.is_some() {
                return Err(
                    "--gpus and --launcher: the launcher's scheduler hands out the devices; use --slots to bound the trials in flight"
                        .into(),
                );
            }
            Some(autotune::Launcher {
                template: t.to_string(),
                exe: std::env::current_exe()
                    .map_err(|e| format!("--launcher: cannot find the autotune binary: {e}"))?,
            })
        }
    };
    let search_policy = search_policy(a)?;
    let search = search_plan(a)?;
    let searcher = searcher(a, &space, &base, layout.slots)?;
    Ok(Config {
        search_policy,
        search,
        searcher,
        layout,
        launcher,
        port: a.port,
        eval_runs: a.eval_runs,
        startup_timeout: seconds("--startup_timeout", a.startup_timeout, false)?,
        eval_timeout: seconds("--eval_timeout", a.eval_timeout, false)?,
        cooldown: seconds("--cooldown", a.cooldown, true)?,
        accuracy_threshold: goal.accuracy_threshold().unwrap_or(0.0),
        goal,
        report: Some(report),
        results,
        best,
        server_log_dir: logs,
        status_file,
        service_state_file,
        space,
        base,
        port_busy_retries: a.port_busy_retries,
        port_busy_wait: seconds("--port_busy_wait_s", a.port_busy_wait_s, true)?,
        port_busy_kill: a.port_busy_kill,
        skip_existing: a.skip_existing,
        server_cmd: a.server_cmd.clone(),
        eval_cmd: a.eval_cmd.clone(),
        health_path: a.health_path.clone(),
        kill_grace: seconds("--kill_grace_s", a.kill_grace_s, true)?,
        patterns: patterns(a)?,
        repo,
    })
}

/// The metric patterns: the four built-ins (from the `--*_regex` flags),
/// then each `--metric NAME=REGEX` (a built-in name replaces that pattern).
pub fn patterns(a: &TuneArgs) -> Result<Patterns, String> {
    let mut p = Patterns {
        accuracy: compile_pattern("--acc_regex", &a.acc_regex)?,
        answer_tps: compile_pattern("--answer_tps_regex", &a.answer_tps_regex)?,
        total_tps: compile_pattern("--total_tps_regex", &a.total_tps_regex)?,
        total_time: compile_pattern("--total_time_regex", &a.total_time_regex)?,
        extra: Vec::new(),
    };
    let mut seen: Vec<&str> = Vec::new();
    for m in &a.metric {
        let Some((name, re)) = m.split_once('=') else {
            return Err(format!(
                "--metric {m:?}: expected NAME=REGEX, e.g. 'p99_ttft_ms=P99 TTFT \\(ms\\):\\s*([0-9.]+)'"
            ));
        };
        let name = name.trim();
        autotune::check_metric_name(name).map_err(|e| format!("--metric {m:?}: {e}"))?;
        if seen.contains(&name) {
            return Err(format!("--metric {name}: given twice"));
        }
        seen.push(name);
        let re = compile_pattern(&format!("--metric {name}"), re)?;
        match name {
            "accuracy" => p.accuracy = re,
            "answer_tps" => p.answer_tps = re,
            "total_tps" => p.total_tps = re,
            "total_time_s" => p.total_time = re,
            _ => p.extra.push((name.to_string(), re)),
        }
    }
    Ok(p)
}

/// The goal of the flags: today's (max total_tps, accuracy >= the
/// threshold) unless --objective or --constraint says otherwise. Every
/// metric named must be one the run parses.
pub fn goal(a: &TuneArgs) -> Result<autotune::Goal, String> {
    use autotune::{Constraint, Direction, Goal, Objective};
    let acc = threshold("--accuracy_threshold", a.accuracy_threshold)?;
    let dir_flag = match a.objective_dir.as_deref() {
        None => None,
        Some(d) => Some(
            Direction::parse(d)
                .ok_or_else(|| format!("--objective_dir: expected max or min, got {d:?}"))?,
        ),
    };
    if a.objective.is_none() && a.constraint.is_empty() {
        let mut g = Goal::default_for(acc);
        if let Some(d) = dir_flag {
            g.objective.dir = d;
        }
        return Ok(g);
    }
    let known = patterns(a)?;
    let known = known.names();
    let check = |flag: &str, name: &str| -> Result<(), String> {
        autotune::check_metric_name(name).map_err(|e| format!("{flag}: {e}"))?;
        if known.contains(&name) {
            Ok(())
        } else {
            Err(format!(
                "{flag}: unknown metric {name:?} (known: {}; add one with --metric {name}=REGEX)",
                known.join(", ")
            ))
        }
    };
    let objective = match a.objective.as_deref().map(str::trim) {
        None => Objective {
            name: "total_tps".into(),
            dir: dir_flag.unwrap_or(Direction::Max),
        },
        Some(o) => {
            let (name, dir) = match o.rsplit_once(':') {
                Some((n, d)) => {
                    let d = Direction::parse(d).ok_or_else(|| {
                        format!("--objective {o:?}: expected NAME, NAME:max or NAME:min")
                    })?;
                    if dir_flag.is_some_and(|f| f != d) {
                        return Err(format!(
                            "--objective {o:?} and --objective_dir {}: they contradict each other",
                            a.objective_dir.as_deref().unwrap_or_default()
                        ));
                    }
                    (n.trim(), d)
                }
                None => (o, dir_flag.unwrap_or(Direction::Max)),
            };
            check("--objective", name)?;
            Objective {
                name: name.to_string(),
                dir,
            }
        }
    };
    let mut constraints = Vec::new();
    for c in &a.constraint {
        let c = Constraint::parse(c).map_err(|e| format!("--constraint {e}"))?;
        check("--constraint", &c.name)?;
        constraints.push(c);
    }
    if a.accuracy_threshold_given && !constraints.iter().any(|c| c.name == "accuracy") {
        constraints.push(Goal::default_for(acc).constraints.remove(0));
    }
    autotune::check_feasible(&constraints).map_err(|e| format!("--constraint: {e}"))?;
    Ok(Goal {
        objective,
        constraints,
    })
}

/// Checks a variable the tuner sets for the slot (`--gpu_env`,
/// `--port_env`): an environment variable name, not `PORT` (which `--port`
/// sets) and not one of the tuner's own `AUTOTUNE_*` variables.
fn check_var_name(flag: &str, name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "{flag} {name:?}: not an environment variable name (letters, digits and _, not starting with a digit)"
        ));
    }
    if name == "PORT" {
        return Err(format!(
            "{flag} PORT: PORT is the port --port sets; name another variable"
        ));
    }
    if name.starts_with("AUTOTUNE_") {
        return Err(format!(
            "{flag} {name}: AUTOTUNE_* variables are reserved for the tuner (it finds its processes by them)"
        ));
    }
    Ok(())
}

/// Validates the slot flags: how many trials at once, their devices and
/// ports.
fn slot_layout(a: &TuneArgs) -> Result<autotune::SlotLayout, String> {
    if a.gpus_per_trial == 0 {
        return Err("--gpus_per_trial: must be at least 1".into());
    }
    let gpus: Vec<String> = match &a.gpus {
        None => Vec::new(),
        Some(g) => {
            let list: Vec<String> = g.split(',').map(|s| s.trim().to_string()).collect();
            if list.iter().any(String::is_empty) {
                return Err(format!(
                    "--gpus {g:?}: expected device ids separated by commas, e.g. 0,1,2,3"
                ));
            }
            // Two slots on one device would measure each other's load.
            let id = |d: &str| d.parse::<u64>().map_or(d.to_string(), |n| n.to_string());
            for (i, d) in list.iter().enumerate() {
                if list[..i].iter().any(|e| id(e) == id(d)) {
                    return Err(format!(
                        "--gpus {g:?}: device {d} is listed twice; two trials on one device would run under each other's load"
                    ));
                }
            }
            if !list.len().is_multiple_of(a.gpus_per_trial) {
                return Err(format!(
                    "--gpus lists {} device(s), not a multiple of --gpus_per_trial {}",
                    list.len(),
                    a.gpus_per_trial
                ));
            }
            list
        }
    };
    let by_gpus = gpus.len() / a.gpus_per_trial;
    let slots = match (a.slots, gpus.is_empty()) {
        (Some(0), _) => return Err("--slots: must be at least 1".into()),
        (Some(n), false) if n > by_gpus => {
            return Err(format!(
                "--slots {n}: --gpus {} gives only {by_gpus} slot(s) of {} device(s)",
                a.gpus.as_deref().unwrap_or(""),
                a.gpus_per_trial
            ));
        }
        (Some(n), _) => n,
        (None, false) => by_gpus,
        (None, true) => 1,
    };
    if a.gpu_env.trim().is_empty() {
        return Err("--gpu_env is empty".into());
    }
    check_var_name("--gpu_env", &a.gpu_env)?;
    if slots > 1 && a.port_stride == 0 {
        return Err("--port_stride: must be at least 1 with several slots".into());
    }
    let mut port_env = Vec::new();
    for p in &a.port_env {
        let (name, base) = match p.split_once('=') {
            Some((n, b)) => (n.trim().to_string(), Some(b.trim().to_string())),
            None => (p.trim().to_string(), None),
        };
        if name.is_empty() || name == "PORT" {
            return Err(format!(
                "--port_env {p:?}: expected NAME=BASE or NAME (not PORT, which --port sets)"
            ));
        }
        check_var_name("--port_env", &name)?;
        if name == a.gpu_env {
            return Err(format!(
                "--port_env {name} and --gpu_env {name}: one variable cannot hold both the devices and a port"
            ));
        }
        if port_env.iter().any(|(n, _)| *n == name) {
            return Err(format!(
                "--port_env {name}: given twice; each port variable once"
            ));
        }
        let base = match base.or_else(|| std::env::var(&name).ok()) {
            Some(b) => b,
            None => {
                return Err(format!(
                    "--port_env {name}: {name} is not set in the environment; give --port_env {name}=BASE"
                ));
            }
        };
        let base: u16 = base
            .parse()
            .ok()
            .filter(|b| *b > 0)
            .ok_or_else(|| format!("--port_env {name}: {base:?} is not a port number"))?;
        port_env.push((name, base));
    }
    let top = (slots as u64 - 1) * a.port_stride as u64;
    for (name, base) in std::iter::once(("--port", a.port)).chain(
        port_env
            .iter()
            .map(|(n, b)| (n.as_str(), *b))
            .collect::<Vec<_>>(),
    ) {
        if base as u64 + top > 65535 {
            return Err(format!(
                "{name} {base} + {} slots × --port_stride {} goes past port 65535",
                slots - 1,
                a.port_stride
            ));
        }
    }
    Ok(autotune::SlotLayout {
        slots,
        gpus,
        gpus_per_trial: a.gpus_per_trial,
        gpu_env: a.gpu_env.clone(),
        port_stride: a.port_stride,
        port_env,
    })
}

/// Validates the notification flags.
pub fn to_alerts(a: &TuneArgs, cfg: &Config) -> Result<AlertConfig, String> {
    let kind = WebhookKind::parse(&a.webhook_kind)?;
    if a.smtp_ssl && a.smtp_no_starttls {
        return Err("--smtp_ssl and --smtp_no_starttls contradict each other: choose one".into());
    }
    let webhook = match a
        .webhook_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        None => None,
        Some(u) => {
            // Say what is wrong without echoing the URL: it holds the bot token.
            let url = reqwest::Url::parse(u)
                .map_err(|e| format!("--webhook_url (TUNE_WEBHOOK_URL): not a URL ({e})"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(format!(
                    "--webhook_url (TUNE_WEBHOOK_URL): must be an http(s) URL, got a {} URL",
                    url.scheme()
                ));
            }
            Some(Webhook {
                url: u.to_string(),
                kind,
                secret: a.feishu_secret.clone().filter(|s| !s.is_empty()),
            })
        }
    };
    let email = match a.smtp_host.as_deref().filter(|h| !h.is_empty()) {
        None => None,
        Some(host) => {
            let to: Vec<String> = a
                .smtp_to
                .as_deref()
                .unwrap_or("")
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if to.is_empty() {
                return Err(
                    "--smtp_to (TUNE_SMTP_TO): at least one recipient is needed with --smtp_host"
                        .into(),
                );
            }
            let from = a
                .smtp_from
                .clone()
                .filter(|s| !s.is_empty())
                .or_else(|| a.smtp_user.clone())
                .ok_or("--smtp_from (TUNE_SMTP_FROM): a sender is needed with --smtp_host")?;
            for addr in to.iter().chain(std::iter::once(&from)) {
                addr.parse::<lettre::message::Mailbox>().map_err(|e| {
                    format!("--smtp_from/--smtp_to: {addr:?} is not an email address ({e})")
                })?;
            }
            if let Some(ca) = &a.smtp_ca_file
                && !ca.is_file()
            {
                return Err(format!("--smtp_ca_file {}: not found", ca.display()));
            }
            Some(Email {
                host: host.to_string(),
                port: a.smtp_port,
                user: a.smtp_user.clone().filter(|s| !s.is_empty()),
                pass: a.smtp_pass.clone(),
                from,
                to,
                tls: if a.smtp_ssl {
                    SmtpTls::Implicit
                } else if a.smtp_no_starttls {
                    SmtpTls::Plain
                } else {
                    SmtpTls::StartTls
                },
                kinds: email_kinds(&a.email_kinds)?,
                ca_file: a.smtp_ca_file.clone(),
            })
        }
    };
    Ok(AlertConfig {
        goal: (!cfg.goal.is_default()).then(|| cfg.goal.clone()),
        webhook,
        email,
        heartbeat_trials: a.heartbeat_trials,
        heartbeat_interval: seconds("--heartbeat_interval_s", a.heartbeat_interval_s, true)
            .ok()
            .filter(|d| !d.is_zero()),
        notify_trial_done: a.notify_trial_done,
        notify_trial_done_every: a.notify_trial_done_every.max(1),
        repo: cfg.repo.display().to_string(),
        files: vec![
            ("results".into(), cfg.rel(&cfg.results)),
            ("best".into(), cfg.rel(&cfg.best)),
            ("status".into(), cfg.rel(&cfg.status_file)),
        ],
    })
}

/// `--email_kinds`: notification kinds, comma-separated; an unknown one is
/// a mistake to say, not a kind that never comes.
fn email_kinds(list: &str) -> Result<Vec<crate::alerts::Kind>, String> {
    use crate::alerts::Kind;
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            Kind::parse(s).ok_or_else(|| {
                format!(
                    "--email_kinds: unknown kind {s:?} (one of {})",
                    Kind::ALL.map(|k| k.as_str()).join(", ")
                )
            })
        })
        .collect()
}
