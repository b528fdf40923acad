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
use autotune::{SearchSpace, default_params};

/// Tune an LLM inference service for the highest throughput that meets an
/// accuracy bar.
#[derive(Debug, Parser)]
#[command(
    name = "autotune",
    version,
    about,
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

/// Flags of a tuning run.
#[derive(Debug, Args, Clone)]
pub struct TuneArgs {
    /// The service's repository (holds run_model.sh and eval_local.py).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Port the service listens on (also given to both commands as PORT).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Eval runs per trial.
    #[arg(long = "eval_runs", alias = "eval-runs", default_value_t = 5)]
    pub eval_runs: u32,
    /// Seconds the service may take to answer.
    #[arg(
        long = "startup_timeout",
        alias = "startup-timeout",
        default_value_t = 240.0
    )]
    pub startup_timeout: f64,
    /// Seconds one eval run may take.
    #[arg(long = "eval_timeout", alias = "eval-timeout", default_value_t = 420.0)]
    pub eval_timeout: f64,
    /// Extra pause in seconds after each trial (the service is already
    /// fully stopped and its port closed before the next one).
    #[arg(long, default_value_t = 0.0)]
    pub cooldown: f64,
    /// Minimum mean accuracy of a winning trial.
    #[arg(
        long = "accuracy_threshold",
        alias = "accuracy-threshold",
        default_value_t = 0.88
    )]
    pub accuracy_threshold: f64,
    /// Results file (JSONL), relative to the repo.
    #[arg(long, default_value = "tune_results.jsonl")]
    pub results: PathBuf,
    /// Best params file, relative to the repo.
    #[arg(long, default_value = "best_params.json")]
    pub best: PathBuf,
    /// Directory of per-trial service logs, relative to the repo.
    #[arg(
        long = "server_log_dir",
        alias = "server-log-dir",
        default_value = "tune_server_logs"
    )]
    pub server_log_dir: PathBuf,
    /// Status file, relative to the repo.
    #[arg(
        long = "status_file",
        alias = "status-file",
        default_value = "tune_status.json"
    )]
    pub status_file: PathBuf,
    /// Send a heartbeat every N trials run.
    #[arg(
        long = "heartbeat_trials",
        alias = "heartbeat-trials",
        default_value_t = 10
    )]
    pub heartbeat_trials: u32,
    /// Send a heartbeat every S seconds (0: off).
    #[arg(
        long = "heartbeat_interval_s",
        alias = "heartbeat-interval-s",
        env = "TUNE_HEARTBEAT_INTERVAL_S",
        default_value_t = 0.0
    )]
    pub heartbeat_interval_s: f64,
    /// JSON object of extra candidates: name to list of values (or one value).
    #[arg(
        long = "search_space_file",
        alias = "search-space-file",
        env = "TUNE_SEARCH_SPACE_FILE"
    )]
    pub search_space_file: Option<PathBuf>,
    /// Search only what --search_space_file lists, in its key order.
    #[arg(long = "no_builtin_space", alias = "no-builtin-space")]
    pub no_builtin_space: bool,
    /// Waits for a busy port before the trial fails.
    #[arg(
        long = "port_busy_retries",
        alias = "port-busy-retries",
        env = "TUNE_PORT_BUSY_RETRIES",
        default_value_t = 3
    )]
    pub port_busy_retries: u32,
    /// Seconds of one wait for a busy port.
    #[arg(
        long = "port_busy_wait_s",
        alias = "port-busy-wait-s",
        env = "TUNE_PORT_BUSY_WAIT_S",
        default_value_t = 10.0
    )]
    pub port_busy_wait_s: f64,
    /// Stop `uvicorn serve:app` processes listening on the port.
    #[arg(
        long = "port_busy_kill",
        alias = "port-busy-kill",
        env = "TUNE_PORT_BUSY_KILL"
    )]
    pub port_busy_kill: bool,
    /// Notify after trials (see --notify_trial_done_every).
    #[arg(
        long = "notify_trial_done",
        alias = "notify-trial-done",
        env = "TUNE_NOTIFY_TRIAL_DONE"
    )]
    pub notify_trial_done: bool,
    /// With --notify_trial_done, notify every N trials.
    #[arg(
        long = "notify_trial_done_every",
        alias = "notify-trial-done-every",
        env = "TUNE_NOTIFY_TRIAL_DONE_EVERY",
        default_value_t = 1
    )]
    pub notify_trial_done_every: u32,
    /// SMTP server for email notifications.
    #[arg(long = "smtp_host", alias = "smtp-host", env = "TUNE_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// SMTP port.
    #[arg(
        long = "smtp_port",
        alias = "smtp-port",
        env = "TUNE_SMTP_PORT",
        default_value_t = 587
    )]
    pub smtp_port: u16,
    /// SMTP user (login when set).
    #[arg(long = "smtp_user", alias = "smtp-user", env = "TUNE_SMTP_USER")]
    pub smtp_user: Option<String>,
    /// SMTP password.
    #[arg(
        long = "smtp_pass",
        alias = "smtp-pass",
        env = "TUNE_SMTP_PASS",
        hide_env_values = true
    )]
    pub smtp_pass: Option<String>,
    /// Sender address.
    #[arg(long = "smtp_from", alias = "smtp-from", env = "TUNE_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// Recipients, separated by commas.
    #[arg(long = "smtp_to", alias = "smtp-to", env = "TUNE_SMTP_TO")]
    pub smtp_to: Option<String>,
    /// Plain SMTP without STARTTLS.
    #[arg(
        long = "smtp_no_starttls",
        alias = "smtp-no-starttls",
        env = "TUNE_SMTP_NO_STARTTLS"
    )]
    pub smtp_no_starttls: bool,
    /// Implicit TLS (SMTPS).
    #[arg(long = "smtp_ssl", alias = "smtp-ssl", env = "TUNE_SMTP_SSL")]
    pub smtp_ssl: bool,
    /// Notification kinds sent by email.
    #[arg(
        long = "email_kinds",
        alias = "email-kinds",
        env = "TUNE_EMAIL_KINDS",
        default_value = "best,crashed,done"
    )]
    pub email_kinds: String,
    /// Webhook URL (Feishu bot, generic endpoint...).
    #[arg(
        long = "webhook_url",
        alias = "webhook-url",
        env = "TUNE_WEBHOOK_URL",
        hide_env_values = true
    )]
    pub webhook_url: Option<String>,
    /// feishu | generic | dingtalk | wecom | slack.
    #[arg(
        long = "webhook_kind",
        alias = "webhook-kind",
        env = "TUNE_WEBHOOK_KIND",
        default_value = "feishu"
    )]
    pub webhook_kind: String,
    /// Signing secret of a Feishu (or DingTalk) bot.
    #[arg(
        long = "feishu_secret",
        alias = "feishu-secret",
        env = "TUNE_FEISHU_SECRET",
        hide_env_values = true
    )]
    pub feishu_secret: Option<String>,
    /// Extra trusted root certificates (PEM) for SMTP TLS, e.g. an internal CA.
    #[arg(
        long = "smtp_ca_file",
        alias = "smtp-ca-file",
        env = "TUNE_SMTP_CA_FILE"
    )]
    pub smtp_ca_file: Option<PathBuf>,
    /// Reuse results already recorded for a trial key (resume).
    #[arg(long = "skip_existing", alias = "skip-existing")]
    pub skip_existing: bool,
    /// Print the planned trials and exit.
    #[arg(long = "dry_run", alias = "dry-run")]
    pub dry_run: bool,
    /// Check parsing, records and the best choice without a service.
    #[arg(long)]
    pub selftest: bool,
    /// With --selftest, also send a heartbeat notification.
    #[arg(long = "selftest_notify", alias = "selftest-notify")]
    pub selftest_notify: bool,
    /// No live screen: one line per event on stdout.
    #[arg(long)]
    pub headless: bool,
    /// Command starting the service, run by bash in the repo.
    #[arg(
        long = "server_cmd",
        alias = "server-cmd",
        default_value = "bash run_model.sh"
    )]
    pub server_cmd: String,
    /// Command running one eval, run by bash in the repo.
    #[arg(
        long = "eval_cmd",
        alias = "eval-cmd",
        default_value = "python3 eval_local.py --which bonus --model_dir_for_tokenizer ./model/YukinoStuki/Qwen2.5-0.5B-Plus-LLM --batch --overwrite_jsonl"
    )]
    pub eval_cmd: String,
    /// Path probed for readiness (any status 200..499 means ready).
    #[arg(long = "health_path", alias = "health-path", default_value = "/")]
    pub health_path: String,
    /// Seconds between SIGTERM and SIGKILL when stopping the service.
    #[arg(long = "kill_grace_s", alias = "kill-grace-s", default_value_t = 10.0)]
    pub kill_grace_s: f64,
    /// Pattern for accuracy (one capture group).
    #[arg(long = "acc_regex", alias = "acc-regex", default_value = eval::DEFAULT_ACC_RE)]
    pub acc_regex: String,
    /// Pattern for answer tokens/s (one capture group).
    #[arg(long = "answer_tps_regex", alias = "answer-tps-regex", default_value = eval::DEFAULT_ANSWER_TPS_RE)]
    pub answer_tps_regex: String,
    /// Pattern for total tokens/s (one capture group).
    #[arg(long = "total_tps_regex", alias = "total-tps-regex", default_value = eval::DEFAULT_TOTAL_TPS_RE)]
    pub total_tps_regex: String,
    /// Pattern for total time in seconds (one capture group).
    #[arg(long = "total_time_regex", alias = "total-time-regex", default_value = eval::DEFAULT_TOTAL_TIME_RE)]
    pub total_time_regex: String,
    /// Devices to share out, e.g. 0,1,2,3: one trial at a time per
    /// --gpus_per_trial of them, each given its devices in --gpu_env.
    #[arg(long, help_heading = "Slots")]
    pub gpus: Option<String>,
    /// Trials run at once (default: as many as --gpus allows, else 1).
    #[arg(long, help_heading = "Slots")]
    pub slots: Option<usize>,
    /// Devices per trial (tensor parallel).
    #[arg(
        long = "gpus_per_trial",
        alias = "gpus-per-trial",
        default_value_t = 1,
        help_heading = "Slots"
    )]
    pub gpus_per_trial: usize,
    /// The variable naming a trial's devices (ROCm: HIP_VISIBLE_DEVICES).
    #[arg(
        long = "gpu_env",
        alias = "gpu-env",
        default_value = "CUDA_VISIBLE_DEVICES",
        help_heading = "Slots"
    )]
    pub gpu_env: String,
    /// Port distance between slots: slot N's PORT is --port + N × stride.
    #[arg(
        long = "port_stride",
        alias = "port-stride",
        default_value_t = 10,
        help_heading = "Slots"
    )]
    pub port_stride: u16,
    /// Another port variable of the service, strided like PORT: NAME=BASE,
    /// or NAME to take BASE from the environment; repeatable.
    #[arg(long = "port_env", alias = "port-env", help_heading = "Slots")]
    pub port_env: Vec<String>,
    /// Run each trial through this command prefix as `autotune trial`,
    /// e.g. 'srun --ntasks=1 --gres=gpu:1' ({run}: this run's id, {slot}:
    /// the slot); --slots bounds the trials in flight.
    #[arg(long, help_heading = "Slots")]
    pub launcher: Option<String>,
}

fn seconds(flag: &str, v: f64, allow_zero: bool) -> Result<Duration, String> {
    if !v.is_finite() || v < 0.0 || (!allow_zero && v == 0.0) {
        return Err(format!(
            "{flag}: expected a {} number of seconds, got {v}",
            if allow_zero {
                "non-negative"
            } else {
                "positive"
            }
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Checks that a command's script exists when the command names one
/// (`bash x.sh`, `python3 x.py`, `./x`).
fn check_script(flag: &str, cmd: &str, repo: &Path) -> Result<(), String> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let script = match words.as_slice() {
        [] => return Err(format!("{flag} is empty")),
        [interp, s, ..]
            if matches!(*interp, "bash" | "sh" | "python" | "python3") && !s.starts_with('-') =>
        {
            Some(*s)
        }
        [s, ..] if s.starts_with("./") => Some(*s),
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

/// Builds the search space the flags ask for.
pub fn search_space(a: &TuneArgs, repo: &Path) -> Result<SearchSpace, String> {
    let file = a.search_space_file.as_ref().map(|f| {
        if f.is_absolute() {
            f.clone()
        } else {
            repo.join(f)
        }
    });
    let file = match (&file, &a.search_space_file) {
        // A relative path is looked up in the current directory first, then in the repo.
        (Some(f), Some(orig)) if !f.exists() && orig.exists() => Some(orig.clone()),
        _ => file,
    };
    let extra = match &file {
        Some(f) => {
            Some(SearchSpace::from_file(f).map_err(|e| format!("--search_space_file: {e}"))?)
        }
        None => None,
    };
    if a.no_builtin_space {
        return extra.ok_or_else(|| "--no_builtin_space needs --search_space_file".to_string());
    }
    let mut space = SearchSpace::builtin();
    if let Some(e) = extra {
        space.merge(e);
    }
    Ok(space)
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
    if !a.accuracy_threshold.is_finite() {
        return Err("--accuracy_threshold: expected a number".into());
    }
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
    check_script("--server_cmd", &a.server_cmd, &repo)?;
    check_script("--eval_cmd", &a.eval_cmd, &repo)?;
    let best = at(&a.best);
    let base = read_best(&best)
        .map_err(|e| format!("--best: {e}"))?
        .unwrap_or_else(default_params);
    let status_file = at(&a.status_file);
    let service_state_file = status_file.with_file_name(".autotune_service.json");
    let space = search_space(a, &repo)?;
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
                trial_args: trial_args(a, &repo),
            })
        }
    };
    Ok(Config {
        layout,
        launcher,
        port: a.port,
        eval_runs: a.eval_runs,
        startup_timeout: seconds("--startup_timeout", a.startup_timeout, false)?,
        eval_timeout: seconds("--eval_timeout", a.eval_timeout, false)?,
        cooldown: seconds("--cooldown", a.cooldown, true)?,
        accuracy_threshold: a.accuracy_threshold,
        results,
        best,
        server_log_dir: at(&a.server_log_dir),
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
        patterns: Patterns {
            accuracy: compile_pattern("--acc_regex", &a.acc_regex)?,
            answer_tps: compile_pattern("--answer_tps_regex", &a.answer_tps_regex)?,
            total_tps: compile_pattern("--total_tps_regex", &a.total_tps_regex)?,
            total_time: compile_pattern("--total_time_regex", &a.total_time_regex)?,
        },
        repo,
    })
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

/// The flags `autotune trial` needs to run one trial as this run would
/// (the port and the slot's variables are added per slot).
fn trial_args(a: &TuneArgs, repo: &Path) -> Vec<String> {
    let at = |p: &PathBuf| {
        if p.is_absolute() {
            p.clone()
        } else {
            repo.join(p)
        }
    };
    let mut v: Vec<String> = vec![
        "--repo".into(),
        repo.display().to_string(),
        "--eval_runs".into(),
        a.eval_runs.to_string(),
        "--startup_timeout".into(),
        a.startup_timeout.to_string(),
        "--eval_timeout".into(),
        a.eval_timeout.to_string(),
        "--server_log_dir".into(),
        at(&a.server_log_dir).display().to_string(),
        "--port_busy_retries".into(),
        a.port_busy_retries.to_string(),
        "--port_busy_wait_s".into(),
        a.port_busy_wait_s.to_string(),
        "--server_cmd".into(),
        a.server_cmd.clone(),
        "--eval_cmd".into(),
        a.eval_cmd.clone(),
        "--health_path".into(),
        a.health_path.clone(),
        "--kill_grace_s".into(),
        a.kill_grace_s.to_string(),
        "--gpu_env".into(),
        a.gpu_env.clone(),
        "--acc_regex".into(),
        a.acc_regex.clone(),
        "--answer_tps_regex".into(),
        a.answer_tps_regex.clone(),
        "--total_tps_regex".into(),
        a.total_tps_regex.clone(),
        "--total_time_regex".into(),
        a.total_time_regex.clone(),
    ];
    if a.port_busy_kill {
        v.push("--port_busy_kill".into());
    }
    v
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
                kinds: a
                    .email_kinds
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
                ca_file: a.smtp_ca_file.clone(),
            })
        }
    };
    Ok(AlertConfig {
        webhook,
        email,
        heartbeat_trials: a.heartbeat_trials,
        heartbeat_interval: (a.heartbeat_interval_s > 0.0)
            .then(|| Duration::from_secs_f64(a.heartbeat_interval_s)),
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
