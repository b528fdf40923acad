//! The pooled search end to end: the real binary, the whole engine loop on
//! the simulated executor (`--simulate`), headless, to the end; then its
//! results file replayed by `autotune best FILE` names the winner the run
//! published.

mod common;

use std::process::Command;

use common::*;

fn pooled(dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    std::fs::write(dir.join("run_model.sh"), "exit 1\n").unwrap();
    std::fs::write(dir.join("eval_local.py"), "print(1)\n").unwrap();
    let mut c = Command::new(bin());
    c.args([
        "--repo",
        dir.to_str().unwrap(),
        "--simulate",
        "demo:3",
        "--search_policy",
        "pooled",
        "--headless",
    ])
    .args(extra);
    c.output().unwrap()
}

#[test]
fn the_pooled_search_runs_to_the_end_and_its_choice_replays() {
    let d = tempfile::tempdir().unwrap();
    let o = pooled(d.path(), &["--slots", "2", "--budget", "40t"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let recs = records(&d.path().join("tune_results.jsonl"));
    assert!(recs.len() >= 10, "{out}");
    // The outcome says what a larger budget would likely add, as the
    // model sees it.
    assert!(out.contains("\n  beyond:  the model"), "{out}");
    // Trials run 3 eval runs, the certification 8: all recorded ok (not
    // partial against --eval_runs 5).
    let runs = |r: &serde_json::Value| r["eval_runs"].as_array().map_or(0, Vec::len);
    assert!(
        recs.iter()
            .filter(|r| r["status"] == "ok")
            .all(|r| runs(r) == 3 || runs(r) == 8),
        "{out}"
    );
    assert!(recs.iter().any(|r| runs(r) == 8), "no certification\n{out}");
    assert!(recs.iter().all(|r| r["status"] != "partial"), "{out}");
    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("tune_status.json")).unwrap())
            .unwrap();
    assert!(
        status["search_setup"]["searcher"]["pooled"].is_object(),
        "{status}"
    );
    // The winner the run published is the one a replay of the file names
    // (the start when no certification passed: then no best file).
    let best = &status["best_params"];
    let o = Command::new(bin())
        .arg("best")
        .arg(d.path().join("tune_results.jsonl"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    let shown = text(&o);
    assert!(o.status.success(), "{shown}");
    let shown: serde_json::Value = serde_json::from_str(&String::from_utf8_lossy(&o.stdout))
        .unwrap_or_else(|e| panic!("{e}: {shown}"));
    let params = shown.get("params").unwrap_or(&shown);
    for (k, v) in best.as_object().unwrap() {
        assert_eq!(params.get(k), Some(v), "{k}\n{shown}\n{best}");
    }
}

#[test]
fn dry_run_states_the_budget_and_the_design() {
    let d = tempfile::tempdir().unwrap();
    let o = pooled(d.path(), &["--dry_run", "--budget", "3h"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("pooled") && out.contains("180 GPU-minutes"),
        "{out}"
    );
}

/// The trial keys a run recorded, in order.
fn keys(dir: &std::path::Path) -> Vec<String> {
    records(&dir.join("tune_results.jsonl"))
        .iter()
        .map(|r| r["trial_key"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn the_seed_is_a_flag_recorded_in_the_setup_and_the_same_seed_makes_the_same_run() {
    let run = |seed: &str| {
        let d = tempfile::tempdir().unwrap();
        let port = free_port().to_string();
        let o = pooled(
            d.path(),
            &["--budget", "20t", "--seed", seed, "--port", &port],
        );
        assert!(o.status.success(), "{}", text(&o));
        let status: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(d.path().join("tune_status.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            status["search_setup"]["searcher"]["pooled"]["seed"],
            seed.parse::<u64>().unwrap(),
            "{status}"
        );
        keys(d.path())
    };
    let (a, b) = (run("7"), run("7"));
    assert!(a.len() > 5);
    assert_eq!(a, b, "same seed, same proposals");
    // Only the pooled search samples: elsewhere the flag is refused.
    let d = tempfile::tempdir().unwrap();
    let o = Command::new(bin())
        .args([
            "--repo",
            d.path().to_str().unwrap(),
            "--dry_run",
            "--seed",
            "3",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("--seed: only the pooled search samples"),
        "{}",
        text(&o)
    );
}

#[test]
fn coordinate_is_the_noise_aware_search_by_its_name() {
    let run = |policy: &str| {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("run_model.sh"), "exit 1\n").unwrap();
        std::fs::write(d.path().join("eval_local.py"), "print(1)\n").unwrap();
        let port = free_port().to_string();
        let o = Command::new(bin())
            .args(["--repo", d.path().to_str().unwrap(), "--simulate", "demo:2"])
            .args([
                "--headless",
                "--passes",
                "1",
                "--no_refine",
                "--port",
                &port,
            ])
            .args(["--search_policy", policy])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        // Coordinate ascent has no model to say what more would add.
        assert!(!text(&o).contains("beyond:"), "{}", text(&o));
        keys(d.path())
    };
    let coordinate = run("coordinate");
    assert!(coordinate.len() > 10);
    assert_eq!(coordinate, run("noise-aware"));
}

#[test]
fn the_report_of_a_pooled_run_says_what_its_model_believes() {
    let d = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let o = pooled(d.path(), &["--budget", "30t", "--port", &port]);
    assert!(o.status.success(), "{}", text(&o));
    let page = d.path().join("r.html");
    let o = Command::new(bin())
        .arg("report")
        .arg(d.path().join("tune_results.jsonl"))
        .arg("-o")
        .arg(&page)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("<h2>What the model believes</h2>"),
        "no beliefs"
    );
    // Every parameter of the space has its row, with the winner's value.
    let best: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.path().join("best_params.json")).unwrap_or("{}".into()),
    )
    .unwrap();
    assert!(best.as_object().is_some_and(|o| o.len() >= 10), "{best}");
    for (k, v) in best.as_object().into_iter().flatten() {
        let esc = v
            .as_str()
            .unwrap()
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let row = format!("<td><code>{k}</code></td><td>{esc}</td>");
        assert!(html.contains(&row), "{row}");
    }
    assert!(html.contains("ok runs: for each parameter"), "legend");
}

/// A resumed run without `--seed` and with other `--slots` takes the seed
/// and batch it ran with from the setup it recorded, so its trials replay:
/// a finished run resumes to the same winner without running a trial, and
/// the dry run says what it would reuse, under the pooled search's own
/// table (levels, not coordinate ascent's groups).
#[test]
fn a_resumed_pooled_run_replays_with_the_seed_and_batch_it_ran_with() {
    let d = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let first = [
        "--budget", "20t", "--seed", "7", "--slots", "2", "--port", &port,
    ];
    let o = pooled(d.path(), &first);
    assert!(o.status.success(), "{}", text(&o));
    let before = keys(d.path());
    let best = std::fs::read_to_string(d.path().join("best_params.json")).ok();
    let again = ["--budget", "20t", "--skip_existing", "--port", &port];
    let dry = pooled(d.path(), &[&again[..], &["--dry_run"]].concat());
    let said = text(&dry);
    assert!(dry.status.success(), "{said}");
    assert!(
        said.contains("recorded start, seed 7, batch of 2"),
        "{said}"
    );
    assert!(
        said.contains("Base:   the start of the pooled search it resumes"),
        "{said}"
    );
    assert!(said.contains("the run is finished"), "{said}");
    assert!(
        said.contains("levels") && !said.contains("group  parameter"),
        "{said}"
    );
    assert!(
        said.contains("then 3 eval runs; a certification, 8"),
        "{said}"
    );
    let o = pooled(d.path(), &again);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_eq!(keys(d.path()), before, "a trial ran again\n{out}");
    assert_eq!(
        std::fs::read_to_string(d.path().join("best_params.json")).ok(),
        best,
        "{out}"
    );
}
