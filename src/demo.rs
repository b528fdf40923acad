//! `autotune demo`: lays out a simulated service in a directory and tunes it
//! with the built-in search space.

use std::path::PathBuf;

use crate::cli::{DemoArgs, TuneArgs};

const README: &str = "This directory was laid out by `autotune demo`.\n\
run_model.sh starts a simulated vLLM-like service (no GPU) that reads the\n\
tuned variables from its environment; eval_local.sh queries it and prints\n\
eval_local.py's summary. Run `autotune demo --dir <this dir>` again to resume\n\
(it always starts from the built-in defaults and reuses every recorded trial),\n\
or `autotune --repo <this dir> --eval_cmd 'bash eval_local.sh' --skip_existing`\n\
yourself: like auto_tune.py, that starts from best_params.json, so after a\n\
finished run it is a new pass from the winner.\n";

/// A port nothing listens on and no tuner holds a lock for (another demo
/// left open holds its port between trials without listening).
fn free_port() -> std::io::Result<u16> {
    loop {
        let p = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        if !autotune::store::port_lock_path(p).exists() {
            return Ok(p);
        }
    }
}

/// Writes the demo repo and returns the tuning flags for it.
pub fn prepare(a: &DemoArgs) -> Result<(PathBuf, TuneArgs), String> {
    let dir = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| format!("--dir {}: {e}", d.display()))?;
            d.clone()
        }
        None => tempfile::Builder::new()
            .prefix("autotune-demo-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?
            .keep(),
    };
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the autotune binary: {e}"))?;
    let exe = exe.display().to_string().replace('\'', "'\\''");
    let files = [
        (
            "run_model.sh",
            format!(
                "#!/usr/bin/env bash\n# Simulated inference service for the autotune demo.\n\
                 echo \"[run_model] SKIP_PIP_INSTALL=${{SKIP_PIP_INSTALL:-}} SKIP_MODEL_DOWNLOAD=${{SKIP_MODEL_DOWNLOAD:-}}\"\n\
                 exec '{exe}' sim-serve\n"
            ),
        ),
        (
            "eval_local.sh",
            format!(
                "#!/usr/bin/env bash\n# Simulated eval for the autotune demo.\nexec '{exe}' sim-eval\n"
            ),
        ),
        ("README.txt", README.to_string()),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text)
            .map_err(|e| format!("cannot write {}: {e}", dir.join(name).display()))?;
    }
    let port = match a.port {
        Some(p) => p,
        None => free_port().map_err(|e| format!("cannot find a free port: {e}"))?,
    };
    let mut args = vec![
        "autotune".to_string(),
        "--repo".into(),
        dir.display().to_string(),
        "--port".into(),
        port.to_string(),
        "--eval_cmd".into(),
        "bash eval_local.sh".into(),
        "--eval_runs".into(),
        a.eval_runs.to_string(),
        "--startup_timeout".into(),
        "6".into(),
        "--eval_timeout".into(),
        "30".into(),
        "--kill_grace_s".into(),
        "3".into(),
        "--skip_existing".into(),
    ];
    if a.headless {
        args.push("--headless".into());
    }
    if let Some(p) = &a.search_policy {
        args.extend(["--search_policy".to_string(), p.clone()]);
    }
    if let Some(n) = a.gpus {
        if n == 0 {
            return Err("--gpus: at least 1".into());
        }
        let devices: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        args.push("--gpus".into());
        args.push(devices.join(","));
    }
    let mut cli = <crate::cli::Cli as clap::Parser>::try_parse_from(args).map_err(|e| {
        // clap's own "error: " prefix: this one says it.
        let m = e.to_string();
        m.strip_prefix("error: ")
            .unwrap_or(&m)
            .trim_end()
            .to_string()
    })?;
    // Every demo run starts from the built-in defaults, never from the
    // best_params.json a previous run left: started from that winner, the
    // trial keys would all differ and a finished run would quietly begin a
    // second 55-trial pass instead of resuming (--skip_existing reuses
    // records by key).
    cli.tune.start_from_defaults = true;
    Ok((dir, cli.tune))
}
