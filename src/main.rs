//! autotune: tunes an LLM inference service for the highest throughput that
//! meets an accuracy bar. This file dispatches to the modes.

#[cfg(test)]
mod agree_tests;
mod alerts;
mod best_cmd;
mod cli;
mod demo;
mod headless;
#[cfg(test)]
mod loop_tests;
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
    if args.output.selftest {
        return selftest::run(&cfg, &alerts, args.output.selftest_notify);
    }
    if args.search.dry_run {
        plan_view::print(&plan_view::table(&cfg, args));
        return 0;
    }
    if demo && let Some(note) = plan_view::resume_note(&cfg) {
        plan_view::print(&format!("{note}\n"));
    }
    let exec = match args.search.simulate.as_deref().map(simulated) {
        None => None,
        Some(Ok(e)) => Some(e),
        Some(Err(m)) => return usage_error(&m),
    };
    run::tune(cfg, alerts, run::want_headless(args.output.headless), exec)
}

/// The executor of `--simulate LANDSCAPE[:SEED]`.
fn simulated(spec: &str) -> Result<std::sync::Arc<dyn autotune::exec::Executor>, String> {
    let (name, seed) = spec.split_once(':').unwrap_or((spec, "1"));
    let seed: u64 = seed
        .parse()
        .map_err(|_| format!("--simulate {spec}: the seed must be a whole number"))?;
    let landscape = autotune::exec::Simulated::landscape(name).ok_or_else(|| {
        format!("--simulate {spec}: unknown landscape {name:?} (demo, separable, interacting)")
    })?;
    let noise = autotune::Noise {
        tps_rel_sd: 0.02,
        tps_abs_sd: 0.0,
        acc_abs_sd: 0.003,
        start_rel_sd: 0.0,
        start_acc_sd: 0.0,
    };
    Ok(std::sync::Arc::new(autotune::exec::Simulated::new(
        landscape,
        noise,
        autotune::Cost::default(),
        seed,
    )))
}

/// `autotune trial`: one trial here, its record on stdout.
fn trial(a: Box<cli::TrialArgs>) -> i32 {
    // What this trial starts carries the tuner's run id, not one of its own.
    autotune::process::inherit_run_id();
    let spec = match &a.spec {
        Some(s) => s.clone(),
        None => {
            let mut s = String::new();
            if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
                return usage_error(&format!("--spec: cannot read stdin: {e}"));
            }
            s
        }
    };
    let mut req: autotune::remote::TrialRequest = match serde_json::from_str(&spec) {
        Ok(r) => r,
        Err(e) => return usage_error(&format!("--spec: not a trial ({e})")),
    };
    // The tuner sends its whole configuration with the trial: it runs as
    // that run would, whatever flags reached this command. Only the port
    // is this slot's (`--port`). A spec without one (an older tuner) is
    // run with this command's flags.
    let cfg = match req.config.take() {
        Some(mut c) => {
            c.port = a.tune.ports_files.port;
            *c
        }
        None => {
            let mut tune = a.tune.clone();
            // A launched trial runs one slot's trial: the engine already
            // chose the port and the variables.
            tune.slots.gpus = None;
            tune.slots.slots = None;
            tune.slots.port_env.clear();
            tune.slots.launcher = None;
            match cli::to_config(&tune) {
                Ok(c) => c,
                Err(m) => return usage_error(&m),
            }
        }
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    /// A launched trial gets the run's whole configuration, not a list of
    /// flags kept by hand: every setting comes back as it went.
    #[test]
    fn the_whole_configuration_travels_with_a_launched_trial() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("run_model.sh"), "exit 1\n").unwrap();
        std::fs::write(d.path().join("eval_local.py"), "print(1)\n").unwrap();
        let cli = crate::cli::Cli::try_parse_from([
            "autotune",
            "--repo",
            d.path().to_str().unwrap(),
            "--eval_runs",
            "7",
            "--startup_timeout",
            "33",
            "--eval_timeout",
            "44",
            "--kill_grace_s",
            "4",
            "--health_path",
            "/ready",
            "--port_busy_kill",
            "--metric",
            "p99=p99 ([0-9.]+) ms",
            "--objective",
            "p99",
            "--objective_dir",
            "min",
            "--constraint",
            "accuracy>=0.5",
            "--slots",
            "2",
            "--launcher",
            "env",
        ])
        .unwrap();
        let cfg = crate::cli::to_config(&cli.tune).unwrap();
        let spec = autotune::TrialSpec {
            ordinal: 1,
            group: 1,
            changes: autotune::Changes::one("A", "1"),
            base_value: None,
            params: cfg.base.clone(),
            key: autotune::trial_key(&cfg.base),
            recheck: false,
            judge: None,
        };
        let slot = cfg.slot(1);
        let line =
            autotune::remote::command(&cfg, cfg.launcher.as_ref().unwrap(), "r", &slot, &spec, 3);
        // The spec is the one quoted word after --spec.
        let quoted = line.split("--spec ").nth(1).unwrap();
        let json: String = shell_words(quoted);
        let req: autotune::remote::TrialRequest = serde_json::from_str(&json).unwrap();
        let sent = req.config.expect("the configuration travels");
        let mut want = cfg.clone();
        want.launcher = None;
        want.layout = autotune::SlotLayout {
            slots: 1,
            gpus: Vec::new(),
            port_env: Vec::new(),
            ..want.layout
        };
        assert_eq!(sent.layout.gpu_env, "CUDA_VISIBLE_DEVICES");
        assert_eq!(format!("{:?}", *sent), format!("{want:?}"));
        assert!(!line.contains("--eval_cmd"), "no hand-kept flags: {line}");
    }

    /// The first single-quoted shell word of `s`, unquoted.
    fn shell_words(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\'' => {
                    for c in chars.by_ref() {
                        if c == '\'' {
                            break;
                        }
                        out.push(c);
                    }
                }
                '\\' => out.extend(chars.next()),
                ' ' => break,
                c => out.push(c),
            }
        }
        out
    }
}
