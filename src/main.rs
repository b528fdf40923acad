//! autotune: tunes an LLM inference service for the highest throughput that
//! meets an accuracy bar. This file dispatches to the modes.

mod alerts;
mod cli;
mod demo;
mod headless;
mod run;
mod selftest;
mod sim;
mod ui;
mod watchdog;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Cmd};

fn usage_error(msg: &str) -> i32 {
    eprintln!("autotune: error: {msg}");
    2
}

fn tune(args: &cli::TuneArgs) -> i32 {
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
        let plan = cfg.space.plan(&cfg.base);
        println!("[dry_run] trials~={}", plan.len());
        for (_, _, key) in plan.iter().take(50) {
            println!("{key}");
        }
        return 0;
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
    let cli = Cli::parse();
    let code = match cli.cmd {
        None => tune(&cli.tune),
        Some(Cmd::Demo(a)) => match demo::prepare(&a) {
            Ok((dir, args)) => {
                println!("autotune demo: simulated service in {}", dir.display());
                tune(&args)
            }
            Err(m) => usage_error(&m),
        },
        Some(Cmd::Watchdog(a)) => watchdog::run(a),
        Some(Cmd::Browse(a)) => {
            let file = a
                .file
                .clone()
                .unwrap_or_else(|| a.repo.join("tune_results.jsonl"));
            if !a.accuracy_threshold.is_finite() {
                usage_error("--accuracy_threshold: expected a number")
            } else {
                ui::browse::app::run(file, a.accuracy_threshold, a.follow)
            }
        }
        Some(Cmd::Trial(a)) => trial(a),
        Some(Cmd::SimServe) => sim::serve(),
        Some(Cmd::SimWorker) => sim::worker(),
        Some(Cmd::SimEval) => sim::eval(),
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}
