//! End to end on a real model: autotune tunes llama.cpp's server
//! (llama-cpp-python) serving SmolLM2-135M-Instruct on the CPU, through the
//! example in examples/llama-cpp. Needs the example's environment:
//! `bash examples/llama-cpp/setup.sh` (tests/run.sh does it).

mod common;

use std::path::Path;

use common::*;

#[test]
fn tunes_a_real_llama_cpp_server() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/llama-cpp");
    let venv = std::env::var("LLAMA_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| example.join(".venv"));
    assert!(
        venv.join("bin/python").exists(),
        "the llama.cpp example's environment is missing: run `bash examples/llama-cpp/setup.sh` (or `bash tests/run.sh`)"
    );
    let d = tempfile::tempdir().unwrap();
    for f in [
        "run_model.sh",
        "eval.py",
        "questions.json",
        "best_params.json",
    ] {
        std::fs::copy(example.join(f), d.path().join(f)).unwrap();
    }
    // A small space: a context too small for most prompts, threads, answer
    // length. The base's values are tried first and reused. The effects
    // asserted are on accuracy, which a context overflow or a cut answer
    // changes deterministically; throughput on two busy cores is not
    // asserted on (it varies with whatever else runs).
    let sp = space(
        d.path(),
        r#"{"N_CTX": ["40"], "N_THREADS": ["1"], "MAX_TOKENS": ["16"]}"#,
    );
    let o = std::process::Command::new(bin())
        .current_dir(d.path())
        .env("LLAMA_VENV", &venv)
        .args(["--headless", "--repo"])
        .arg(d.path())
        .args([
            "--port",
            &free_port().to_string(),
            "--eval_runs",
            "1",
            "--skip_existing",
            // One pass: each llama.cpp trial takes seconds to a minute on
            // two cores; later passes are tested on the simulated service.
            "--passes",
            "1",
            "--no_refine",
        ])
        .args([
            "--eval_cmd",
            &format!("'{}' eval.py", venv.join("bin/python").display()),
        ])
        .args([
            "--startup_timeout",
            "120",
            "--eval_timeout",
            "300",
            "--accuracy_threshold",
            "0.38",
        ])
        .args(space_args(&sp))
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let recs = records(&d.path().join("tune_results.jsonl"));
    // N_CTX 1024 (base) and 40, N_THREADS 1, MAX_TOKENS 16: four trials run.
    assert_eq!(recs.len(), 4, "{out}");
    for r in &recs {
        assert_eq!(r["status"], "ok", "{r}\n{out}");
        let acc = r["avg_accuracy"].as_f64().unwrap();
        let tps = r["avg_total_tps"].as_f64().unwrap();
        assert!(
            (0.05..=1.0).contains(&acc),
            "implausible accuracy {acc}: {r}"
        );
        // A figure was parsed and is a throughput; how large depends on
        // the machine and what else runs on it, so no bound.
        assert!(tps.is_finite() && tps > 0.0, "implausible tok/s {tps}: {r}");
    }
    let acc = |i: usize| recs[i]["avg_accuracy"].as_f64().unwrap();
    // A 40-token context cannot hold most prompts with their answers: those
    // requests fail and score 0, far under the bar, every time.
    assert!(
        acc(1) < 0.38 && acc(1) < acc(0) - 0.1,
        "a 40-token context made no difference to accuracy: {} vs {}",
        acc(1),
        acc(0)
    );
    // Sixteen answer tokens cut many answers short: accuracy falls below the bar.
    assert!(
        acc(3) < acc(0) - 0.05,
        "max tokens made no difference to accuracy: {} vs {}",
        acc(3),
        acc(0)
    );
    assert!(
        acc(3) < 0.38 && acc(0) >= 0.38,
        "the threshold no longer separates full and cut answers: {} vs {}",
        acc(0),
        acc(3)
    );
    // The best file holds the params of a trial that meets the bar, with
    // the full answer length.
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("best_params.json")).unwrap())
            .unwrap();
    assert_eq!(best["MAX_TOKENS"], "48");
    assert!(
        recs.iter()
            .any(|r| r["params"] == best && r["avg_accuracy"].as_f64().unwrap() >= 0.38),
        "{best}"
    );
    assert_eq!(status(d.path())["phase"], "done");
}
