//! The simulated inference service used by `autotune demo` and the tests.
//! It behaves like the real one where it matters to the tuner: real HTTP on
//! `PORT`, a start-up delay, a forked engine-core worker in its process
//! group, figures that depend on the tuned variables (with noise), an
//! out-of-memory crash at `GPU_MEMORY_UTILIZATION=0.99` and a start-up hang
//! at `VLLM_MAX_NUM_SEQS=1536`. `sim-eval` prints eval_local.py's summary.
//!
//! Knobs for tests (environment): `SIM_STARTUP_S` (default 0.8),
//! `SIM_EVAL_S` (0.15), `SIM_EVAL_FAIL_RATE` (0.02), `SIM_IGNORE_TERM=1`,
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

/// Expected (accuracy, total tokens/s factor) of a parameter set.
pub fn model(p: &dyn Fn(&str) -> String) -> (f64, f64) {
    let mut acc: f64 = 0.8865;
    let mut tps: f64 = 1.0;
    let num = |n: &str| p(n).parse::<f64>().ok();
    if num("GPU_MEMORY_UTILIZATION") == Some(0.98) {
        tps *= 1.012;
    }
    match num("VLLM_MAX_NUM_BATCHED_TOKENS").map(|v| v as i64) {
        Some(65536) => tps *= 0.96,
        Some(98304) => tps *= 0.99,
        Some(196608) => tps *= 1.02,
        Some(262144) => tps *= 1.01,
        _ => {}
    }
    match num("VLLM_MAX_NUM_SEQS").map(|v| v as i64) {
        Some(512) => tps *= 0.97,
        Some(768) => tps *= 1.015,
        _ => {}
    }
    match num("MAX_MODEL_LEN").map(|v| v as i64) {
        Some(768) => {
            tps *= 1.01;
            acc -= 0.009;
        }
        Some(1536) => tps *= 0.995,
        Some(2048) => tps *= 0.985,
        _ => {}
    }
    if p("STOP_ON_DOUBLE_NEWLINE") == "1" {
        tps *= 1.03;
        acc -= 0.004;
    }
    match num("OUTPUT_MAX_SENTENCES").map(|v| v as i64) {
        Some(3) => {
            tps *= 1.05;
            acc -= 0.014;
        }
        Some(4) => {
            tps *= 1.025;
            acc -= 0.002;
        }
        Some(8) => tps *= 0.98,
        _ => {}
    }
    match num("MAX_NEW_TOKENS").map(|v| v as i64) {
        Some(32) => {
            tps *= 1.12;
            acc -= 0.03;
        }
        Some(48) => {
            tps *= 1.06;
            acc -= 0.003;
        }
        Some(80) => {
            tps *= 0.95;
            acc += 0.002;
        }
        _ => {}
    }
    if num("REPETITION_PENALTY") == Some(1.0) {
        acc -= 0.006;
    }
    if num("FREQUENCY_PENALTY") == Some(0.0) {
        tps *= 1.004;
    }
    if p("OUTPUT_TRIM_EXAMPLES") == "0" {
        acc += 0.001;
        tps *= 0.995;
    }
    (acc, tps)
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
    if std::env::var("SIM_IGNORE_TERM").as_deref() == Ok("1") {
        unsafe {
            let _ = nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGTERM,
                nix::sys::signal::SigHandler::SigIgn,
            );
        }
        log("[sim] ignoring SIGTERM");
    }
    // The engine core, like vLLM's: a second process in our group.
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
    let (acc, factor) = model(&|n: &str| param(n));
    for req in server.incoming_requests() {
        let path = req.url().to_string();
        let (code, body) = match path.as_str() {
            "/" | "/health" => (200, "{\"status\": \"ok\"}".to_string()),
            "/score" => {
                let a = acc + gauss() * 0.0015;
                let tps = 5000.0 * factor * (1.0 + gauss() * 0.008);
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
    0
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
