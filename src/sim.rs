//! The simulated inference service used by `autotune demo` and the tests.
//! It behaves like the real one where it matters to the tuner: real HTTP on
//! `PORT`, a start-up delay, a forked engine-core worker in its process
//! group, figures that depend on the tuned variables (with noise), an
//! out-of-memory crash at `GPU_MEMORY_UTILIZATION=0.99` and a start-up hang
//! at `VLLM_MAX_NUM_SEQS=1536`. `sim-eval` prints eval_local.py's summary.
//!
//! Knobs for tests (environment): `SIM_STARTUP_S` (default 0.8),
//! `SIM_EVAL_S` (0.15), `SIM_EVAL_FAIL_RATE` (0.02), `SIM_NOISE` (1: scales
//! the run-to-run noise, 0 for exact figures), `SIM_IGNORE_TERM=1`,
//! `SIM_SETSID_HELPER=1` (a helper that escapes the process group).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn param(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

fn log(msg: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{msg}");
    let _ = o.flush();
}

/// `autotune sim-serve`.
pub fn serve() -> i32 {
    let port: u16 = match std::env::var("PORT").ok().and_then(|p| p.parse().ok()) {
        Some(p) => p,
        None => {
            eprintln!("[sim] PORT is not set");
            return 2;
        }
    };
    let pid = std::process::id();
    let pgid = nix::unistd::getpgrp();
    log(&format!(
        "[sim] vLLM-like service starting on port {port} pid={pid} pgid={pgid}"
    ));
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in std::env::vars() {
        if k.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && autotune::DEFAULT_PARAMS.iter().any(|(n, _)| *n == k)
        {
            vars.insert(k, v);
        }
    }
    for (k, v) in &vars {
        log(&format!("[sim] {k}={v}"));
    }
    log(&format!(
        "[sim] CUDA_VISIBLE_DEVICES={}",
        std::env::var("CUDA_VISIBLE_DEVICES").unwrap_or_default()
    ));
    if std::env::var("SIM_IGNORE_TERM").as_deref() == Ok("1") {
        unsafe {
            let _ = nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGTERM,
                nix::sys::signal::SigHandler::SigIgn,
            );
        }
        log("[sim] ignoring SIGTERM");
    }
    start_helpers();
    let startup = Duration::from_secs_f64(env_f64("SIM_STARTUP_S", 0.8));
    log("[sim] loading model weights...");
    if param("GPU_MEMORY_UTILIZATION") == "0.99" {
        std::thread::sleep(startup / 3);
        log(
            "[sim] torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.20 GiB (GPU 0; 23.6 GiB total)",
        );
        return 1;
    }
    if param("VLLM_MAX_NUM_SEQS") == "1536" {
        log("[sim] capturing CUDA graphs for 1536 sequences...");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    std::thread::sleep(startup);
    let server = match tiny_http::Server::http(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) => {
            log(&format!("[sim] cannot listen on port {port}: {e}"));
            return 1;
        }
    };
    log(&format!(
        "INFO:     Uvicorn running on http://127.0.0.1:{port} (Press CTRL+C to quit)"
    ));
    let (acc, factor) = autotune::landscape::demo_model(&|n: &str| param(n));
    answer(server, acc, factor, env_f64("SIM_NOISE", 1.0));
    0
}

/// The engine core, like vLLM's: a second process in our group; with
/// `SIM_SETSID_HELPER=1` also a helper that escapes the group.
fn start_helpers() {
    let exe = std::env::current_exe().unwrap_or_else(|_| "autotune".into());
    let worker = std::process::Command::new(&exe).arg("sim-worker").spawn();
    match &worker {
        Ok(w) => log(&format!("[sim] engine core worker pid={}", w.id())),
        Err(e) => log(&format!("[sim] could not start the worker: {e}")),
    }
    if std::env::var("SIM_SETSID_HELPER").as_deref() == Ok("1") {
        let mut c = std::process::Command::new(&exe);
        c.arg("sim-worker");
        use std::os::unix::process::CommandExt;
        unsafe {
            c.pre_exec(|| {
                nix::unistd::setsid()
                    .map(|_| ())
                    .map_err(std::io::Error::from)
            });
        }
        if let Ok(h) = c.spawn() {
            log(&format!("[sim] escaped helper pid={}", h.id()));
            if let Ok(dir) = std::env::var("SIM_PID_DIR") {
                let _ = std::fs::write(format!("{dir}/helper.pid"), h.id().to_string());
            }
        }
    }
}

/// Answers health checks and `/score` (the demo's figures with noise)
/// until the process is stopped.
fn answer(server: tiny_http::Server, acc: f64, factor: f64, noise: f64) {
    for req in server.incoming_requests() {
        let path = req.url().to_string();
        let (code, body) = match path.as_str() {
            "/" | "/health" => (200, "{\"status\": \"ok\"}".to_string()),
            "/score" => {
                let a = acc + gauss() * 0.0015 * noise;
                let tps =
                    autotune::landscape::DEMO_BASE_TPS * factor * (1.0 + gauss() * 0.008 * noise);
                (
                    200,
                    format!("{{\"accuracy\": {a:.4}, \"total_tps\": {tps:.2}}}"),
                )
            }
            _ => (404, "{\"detail\": \"Not Found\"}".to_string()),
        };
        log(&format!(
            "[serve] \"{} {} HTTP/1.1\" {code} -",
            req.method(),
            path
        ));
        let resp = tiny_http::Response::from_string(body)
            .with_status_code(code)
            .with_header(
                "Content-Type: application/json"
                    .parse::<tiny_http::Header>()
                    .expect("static header"),
            );
        let _ = req.respond(resp);
    }
}

/// `autotune sim-worker`: sleeps like an idle engine core (bounded, so a
/// leaked one cannot live forever).
pub fn worker() -> i32 {
    std::thread::sleep(Duration::from_secs(3600));
    0
}

fn gauss() -> f64 {
    // Irwin-Hall approximation: good enough for simulated noise.
    (0..12).map(|_| fastrand::f64()).sum::<f64>() - 6.0
}

/// `autotune sim-eval`: asks the service for its figures and prints them in
/// eval_local.py's summary format.
pub fn eval() -> i32 {
    let port: u16 = match std::env::var("PORT").ok().and_then(|p| p.parse().ok()) {
        Some(p) => p,
        None => {
            eprintln!("[sim-eval] PORT is not set");
            return 2;
        }
    };
    let t0 = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let body = rt.block_on(async {
        let c = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .ok()?;
        let r = c
            .get(format!("http://127.0.0.1:{port}/score"))
            .send()
            .await
            .ok()?;
        r.json::<serde_json::Value>().await.ok()
    });
    let Some(body) = body else {
        eprintln!("[sim-eval] cannot reach the service on port {port}");
        return 1;
    };
    std::thread::sleep(Duration::from_secs_f64(env_f64("SIM_EVAL_S", 0.15)));
    if fastrand::f64() < env_f64("SIM_EVAL_FAIL_RATE", 0.02) {
        eprintln!("[sim-eval] RuntimeError: connection reset by peer (simulated)");
        return 1;
    }
    let acc = body["accuracy"].as_f64().unwrap_or(0.0);
    let total_tps = body["total_tps"].as_f64().unwrap_or(0.0);
    let (prompt, answer) = (1907.0, 8554.0);
    let total_time = (prompt + answer) / total_tps.max(1.0);
    let answer_tps = answer / total_time;
    println!(
        "[sim-eval] 92 questions against http://127.0.0.1:{port} in {:.2}s",
        t0.elapsed().as_secs_f64()
    );
    println!("===== Summary [bonus] =====");
    println!("Questions: 92, OK: 92, Total time: {total_time:.2}s");
    println!("Accuracy (RougeL-F1 mean, RAW): {acc:.4}");
    println!("Tokens (prompt/answer RAW): {prompt:.0} / {answer:.0}");
    println!(
        "Throughput RAW: answer_tokens/s={answer_tps:.2}, (prompt+answer)_tokens/s={total_tps:.2}"
    );
    0
}

#[cfg(test)]
mod tests {
    use autotune::{Cost, Noise, PlanConfig, Planner, SearchSpace, default_params, simulate};

    /// Where the demo's built-in search ends without noise. A real run of
    /// `autotune demo` with `SIM_NOISE=0` ends here too (tests/engine.rs).
    pub const DEMO_BEST: &[(&str, &str)] = &[
        ("GPU_MEMORY_UTILIZATION", "0.98"),
        ("VLLM_MAX_NUM_BATCHED_TOKENS", "196608"),
        ("VLLM_MAX_NUM_SEQS", "768"),
        ("STOP_ON_DOUBLE_NEWLINE", "1"),
        ("OUTPUT_MAX_SENTENCES", "4"),
        ("FREQUENCY_PENALTY", "0.00"),
    ];

    #[test]
    fn planner_replays_the_demo_search() {
        let planner = Planner::new(
            PlanConfig::plain(SearchSpace::builtin(), default_params(), 0.88, true),
            [],
        );
        let rep = simulate(
            planner,
            &autotune::landscape::demo_truth,
            5,
            Noise::NONE,
            Cost::default(),
            7,
        );
        let mut want = default_params();
        for (k, v) in DEMO_BEST {
            want.insert(k.to_string(), v.to_string());
        }
        let diff: Vec<_> = rep
            .best
            .iter()
            .filter(|(k, v)| default_params().get(*k) != Some(*v))
            .collect();
        assert_eq!(rep.best, want, "changed from the defaults: {diff:?}");
        // 55 planned trials; the base of each group after the first is the
        // previous winner, reused with --skip_existing.
        assert_eq!(rep.trials + rep.reused, 55);
        assert_eq!(rep.reused, 16);
        assert!(
            rep.records
                .iter()
                .any(|r| r.status == autotune::Status::Crashed)
        );
        assert!(
            rep.records
                .iter()
                .any(|r| r.status == autotune::Status::Timeout)
        );
    }
}
