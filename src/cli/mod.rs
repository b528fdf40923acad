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

mod alerts;
mod checks;
mod config;
mod tune;

pub use alerts::*;
pub use checks::*;
pub use config::*;
pub use tune::*;

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
  # Try it first: a simulated service, the live screen, one to two minutes.
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
            r.goal.accuracy_threshold_given = m.subcommand_matches("report").is_some_and(given);
        }
        Some(Cmd::Best(b)) => {
            b.goal.accuracy_threshold_given = m.subcommand_matches("best").is_some_and(given);
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
    /// The search to watch (as the tuner's --search_policy).
    #[arg(long = "search_policy", alias = "search-policy", value_name = "POLICY")]
    pub search_policy: Option<String>,
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
    /// The goal to judge by.
    #[command(flatten)]
    pub goal: GoalArgs,
}

/// The goal flags of `autotune report` and `autotune best`: what the
/// configurations of a results file are judged by
/// ([`crate::report::file_goal`] makes them the goal).
#[derive(Debug, Args, Clone)]
pub struct GoalArgs {
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
    /// Whether --accuracy_threshold was typed (set by [`parse`]): with
    /// --objective or --constraint, its default does not become a
    /// constraint.
    #[arg(skip)]
    pub accuracy_threshold_given: bool,
}

impl GoalArgs {
    /// Whether --objective or --constraint asks for a goal (rather than the
    /// recorded one, or today's).
    pub fn asked(&self) -> bool {
        self.objective.is_some() || !self.constraint.is_empty()
    }
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
#[command(mut_args(best_threshold_help))]
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
    /// The goal to judge by.
    #[command(flatten)]
    pub goal: GoalArgs,
}

/// `best`'s --accuracy_threshold says what it does there: only a results
/// file has records to qualify. (`mut_args`, unlike `mut_arg`, keeps the
/// flag in its place among the others.)
fn best_threshold_help(a: clap::Arg) -> clap::Arg {
    if a.get_id() == "accuracy_threshold" {
        a.help("Minimum mean accuracy for a record to qualify (results files only)")
    } else {
        a
    }
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
