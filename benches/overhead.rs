//! Per-trial overhead of the tuner beyond the service's own start-up and
//! eval time, and the delay in noticing a service that dies during start-up.
//! Run: `cargo bench --bench overhead`. Prints figures; asserts nothing.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

const STARTUP_S: f64 = 0.5;
const EVAL_S: f64 = 0.2;
const RUNS: usize = 2;

fn records(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn main() {
    let bin = env!("CARGO_BIN_EXE_autotune");
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::write(
        dir.join("run_model.sh"),
        format!("exec '{bin}' sim-serve\n"),
    )
    .unwrap();
    // An eval whose own cost is exactly EVAL_S of sleep plus printing.
    std::fs::write(
        dir.join("eval.sh"),
        format!(
            "sleep {EVAL_S}\nprintf 'Questions: 1, OK: 1, Total time: 1.00s\\nAccuracy (RougeL-F1 mean, RAW): 0.9\\nThroughput RAW: answer_tokens/s=1.0, (prompt+answer)_tokens/s=2.0\\n'\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("space.json"),
        r#"{"MAX_NEW_TOKENS": ["1","2","3","4","5","6","7","8","9","10"]}"#,
    )
    .unwrap();
    let t0 = Instant::now();
    let o = Command::new(bin)
        .current_dir(dir)
        .env("SIM_STARTUP_S", STARTUP_S.to_string())
        .args([
            "--headless",
            "--no_builtin_space",
            "--search_space_file",
            "space.json",
            "--eval_cmd",
            "bash eval.sh",
        ])
        .args([
            "--eval_runs",
            &RUNS.to_string(),
            "--port",
            &free_port().to_string(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let wall = t0.elapsed().as_secs_f64();
    let recs = records(&dir.join("tune_results.jsonl"));
    let n = recs.len() as f64;
    let floor = STARTUP_S + RUNS as f64 * EVAL_S;
    let mut ready = 0.0;
    let mut eval_over = 0.0;
    let mut stop = 0.0;
    let mut total = 0.0;
    for r in &recs {
        let st = r["startup_s"].as_f64().unwrap();
        let evals: f64 = r["eval_runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["elapsed_s"].as_f64().unwrap())
            .sum();
        ready += st - STARTUP_S;
        eval_over += evals - RUNS as f64 * EVAL_S;
        stop += r["total_s"].as_f64().unwrap() - st - evals;
        total += r["total_s"].as_f64().unwrap() - floor;
    }
    println!("trials: {n}, wall {wall:.2}s, floor per trial {floor:.2}s");
    println!(
        "per-trial overhead beyond the service's start-up and eval time: {:.0} ms",
        total / n * 1000.0
    );
    println!(
        "  of which: spawn + readiness detection {:.0} ms (includes the simulated service's own exec and bind)",
        ready / n * 1000.0
    );
    println!(
        "            eval spawn + parse {:.0} ms for {RUNS} runs",
        eval_over / n * 1000.0
    );
    println!("            stop + port closed {:.0} ms", stop / n * 1000.0);
    println!(
        "whole-run overhead per trial (wall / n - floor): {:.0} ms",
        (wall / n - floor) * 1000.0
    );

    // Crash detection: a service that exits 0.3 s after start.
    std::fs::write(
        dir.join("space1.json"),
        r#"{"MAX_NEW_TOKENS": ["1","2","3","4","5"]}"#,
    )
    .unwrap();
    let o = Command::new(bin)
        .current_dir(dir)
        .args([
            "--headless",
            "--no_builtin_space",
            "--search_space_file",
            "space1.json",
            "--eval_cmd",
            "bash eval.sh",
        ])
        .args([
            "--server_cmd",
            "sleep 0.3; exit 1",
            "--results",
            "crash.jsonl",
            "--port",
            &free_port().to_string(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let recs = records(&dir.join("crash.jsonl"));
    let delays: Vec<f64> = recs
        .iter()
        .map(|r| (r["startup_s"].as_f64().unwrap() - 0.3) * 1000.0)
        .collect();
    let mean = delays.iter().sum::<f64>() / delays.len() as f64;
    let max = delays.iter().cloned().fold(0.0, f64::max);
    println!(
        "crash detection delay (exit to record, incl. bash start): mean {mean:.0} ms, max {max:.0} ms over {} crashes",
        delays.len()
    );
}
