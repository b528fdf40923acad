//! autotune: tunes an LLM inference service for the highest throughput that
//! meets an accuracy bar. This file dispatches to the modes.

mod alerts;
mod best_cmd;
mod cli;
mod demo;
mod headless;
mod plan_view;
mod report;
mod run;
mod selftest;
mod sim;
mod ui;
mod watchdog;

use std::process::ExitCode;

use cli::Cmd;

fn usage_error(msg: &str) -> i32 {
    // A message may quote a value from a flag or a file: its control
    // characters are shown as `?`, not sent to the terminal.
    let lines: Vec<String> = msg.lines().map(ui::printable).collect();
    eprintln!("autotune: error: {}", lines.join("\n"));
    2
}

/// A tuning run (or its dry run or selftest). `demo` says, before it
/// starts, how much of the plan the directory's results already cover.
fn tune(args: &cli::TuneArgs, demo: bool) -> i32 {
    let cfg = match cli::to_config(args) {
        Ok(c) => c,
        Err(m) => return usage_error(&m),
    };
    let alerts = match cli::to_alerts(args, &cfg) {
        Ok(a) => a,
        Err(m) => return usage_error(&m),
    };
    if args.selftest {
        return selftest::run(&cfg, &alerts, args.selftest_notify);
    }
    if args.dry_run {
        plan_view::print(&plan_view::table(&cfg, args));
        return 0;
    }
    if demo && let Some(note) = plan_view::resume_note(&cfg) {
        plan_view::print(&format!("{note}\n"));
    }
    run::tune(cfg, alerts, run::want_headless(args.headless))
}

/// `autotune trial`: one trial here, its record on stdout.
fn trial(a: Box<cli::TrialArgs>) -> i32 {
    let mut tune = a.tune.clone();
    // A launched trial runs one slot's trial: the engine already chose the
    // port and the variables.
    tune.gpus = None;
    tune.slots = None;
    tune.port_env.clear();
    tune.launcher = None;
    let cfg = match cli::to_config(&tune) {
        Ok(c) => c,
        Err(m) => return usage_error(&m),
    };
    let spec = match a.spec {
        Some(s) => s,
        None => {
            let mut s = String::new();
            if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
                return usage_error(&format!("--spec: cannot read stdin: {e}"));
            }
            s
        }
    };
    let req: autotune::remote::TrialRequest = match serde_json::from_str(&spec) {
        Ok(r) => r,
        Err(e) => return usage_error(&format!("--spec: not a trial ({e})")),
    };
    let mut env = Vec::new();
    for kv in &a.trial_env {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => env.push((k.to_string(), v.to_string())),
            _ => return usage_error(&format!("--trial_env {kv:?}: expected NAME=VALUE")),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(autotune::remote::run_here(cfg, req, env))
}

fn main() -> ExitCode {
    let cli = cli::parse();
    let code = match cli.cmd {
        None => tune(&cli.tune, false),
        Some(Cmd::Demo(a)) => match demo::prepare(&a) {
            Ok((dir, args)) => {
                plan_view::print(&format!(
                    "autotune demo: simulated service in {}\n",
                    dir.display()
                ));
                tune(&args, true)
            }
            Err(m) => usage_error(&m),
        },
        Some(Cmd::Watchdog(a)) => {
            // Checked here: a delay no clock can hold would panic later.
            match cli::seconds("--restart_delay", a.restart_delay, true) {
                Ok(_) => watchdog::run(a),
                Err(m) => usage_error(&m),
            }
        }
        Some(Cmd::Browse(a)) => {
            let file = a
                .file
                .clone()
                .unwrap_or_else(|| a.repo.join("tune_results.jsonl"));
            match cli::threshold("--accuracy_threshold", a.accuracy_threshold) {
                Ok(t) => ui::browse::app::run(file, t, a.follow),
                Err(m) => usage_error(&m),
            }
        }
        Some(Cmd::Trial(a)) => trial(a),
        Some(Cmd::SimServe) => sim::serve(),
        Some(Cmd::SimWorker) => sim::worker(),
        Some(Cmd::SimEval) => sim::eval(),
        Some(Cmd::Report(a)) => report::run(&a),
        Some(Cmd::Best(a)) => best_cmd::run(&a),
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}
