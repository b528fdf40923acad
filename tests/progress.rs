//! Progress against the search's budget, with the time left, as the real
//! binary shows it: the headless lines, `tune_status.json` and `--dry_run`
//! (the live screen's through its render snapshots). The search runs on
//! the simulated executor (`--simulate`), whose trials take simulated
//! seconds: the times are the trials' own.

mod common;

use std::process::Command;

use common::*;

fn run(dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    std::fs::write(dir.join("run_model.sh"), "exit 1\n").unwrap();
    std::fs::write(dir.join("eval_local.py"), "print(1)\n").unwrap();
    let port = free_port().to_string();
    Command::new(bin())
        .args(["--repo", dir.to_str().unwrap(), "--simulate", "demo:5"])
        .args(["--port", &port])
        .args(extra)
        .output()
        .unwrap()
}

/// `trials 12/≤135 8%, ≤7h10m left` at the end of a headless line: the
/// trials, the bound, the share and the time left.
fn progress_of(line: &str) -> Option<(usize, usize, u32, bool)> {
    let p = line.rsplit_once(" | trials ")?.1;
    let (trials, rest) = p.split_once('/')?;
    let rest = rest.strip_prefix('≤')?;
    let (bound, rest) = rest.split_once(' ')?;
    let (pct, rest) = rest.split_once('%')?;
    Some((
        trials.parse().ok()?,
        bound.parse().ok()?,
        pct.parse().ok()?,
        rest.contains(" left"),
    ))
}

#[test]
fn headless_lines_and_the_status_file_say_how_far_the_run_is_and_the_time_left() {
    let d = tempfile::tempdir().unwrap();
    let o = run(d.path(), &["--headless"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let seen: Vec<_> = out.lines().filter_map(progress_of).collect();
    // Each trial's line says it.
    let recs = records(&d.path().join("tune_results.jsonl"));
    assert!(recs.len() > 10, "{out}");
    assert_eq!(seen.len(), recs.len(), "{seen:?}\n{out}");
    // The bound is the budget (2.5x the 54 trials of one pass) and never
    // moves; the share never runs backwards; every line after the first
    // trial's end says the time left.
    assert!(seen.iter().all(|s| s.1 == 135), "{seen:?}");
    assert!(
        seen.windows(2)
            .all(|w| w[1].2 >= w[0].2 && w[1].0 >= w[0].0)
    );
    assert!(seen.iter().all(|s| s.3), "{seen:?}");
    // The status file: the whole run, 100 % at the end, the trials run and
    // the GPU time they took (simulated: a start 60 s, an eval run 30 s).
    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("tune_status.json")).unwrap())
            .unwrap();
    let p = &status["progress"];
    assert_eq!(p["percent"], 100, "{status}");
    assert_eq!(p["trials"], recs.len(), "{status}");
    assert_eq!(p["eta_s"], 0.0, "{status}");
    // Its counts are the engine's: every record by its status, once.
    let mut by_status = serde_json::Map::new();
    for r in &recs {
        let k = r["status"].as_str().unwrap().to_string();
        let n = by_status.get(&k).and_then(|v| v.as_u64()).unwrap_or(0);
        by_status.insert(k, (n + 1).into());
    }
    assert_eq!(
        status["counts"],
        serde_json::Value::Object(by_status),
        "{status}"
    );
    assert_eq!(p["counts"], status["counts"], "{status}");
    let took: f64 = recs.iter().filter_map(|r| r["total_s"].as_f64()).sum();
    assert!(
        (p["gpu_s"].as_f64().unwrap() - took).abs() < 1e-6 && took > 0.0,
        "{took} {status}"
    );
}

#[test]
fn dry_run_says_what_the_run_spends_at_most_in_trials_gpu_time_and_wall_time() {
    let d = tempfile::tempdir().unwrap();
    let line = |o: &std::process::Output| {
        let out = text(o);
        assert!(o.status.success(), "{out}");
        out.lines()
            .find(|l| l.starts_with("Budget: "))
            .unwrap_or_else(|| panic!("no budget line\n{out}"))
            .to_string()
    };
    // No record yet: at nominal costs (5 runs of 30 s after a 60 s start).
    let l = line(&run(d.path(), &["--dry_run"]));
    assert_eq!(
        l,
        "Budget: at most 135 trials, ≤7h52m of GPU time, ≤7h52m of wall time \
         (3m30s a trial at nominal costs: a start 60 s, an eval run 30 s)"
    );
    let l = line(&run(
        d.path(),
        &["--dry_run", "--slots", "2", "--search_policy", "plain"],
    ));
    assert!(
        l.starts_with(
            "Budget: at most 55 trials, ≤3h12m of GPU time, ≤1h36m of wall time over 2 slots"
        ),
        "{l}"
    );
    // With records: at their mean time.
    let o = run(d.path(), &["--headless", "--passes", "1", "--no_refine"]);
    assert!(o.status.success(), "{}", text(&o));
    let recs = records(&d.path().join("tune_results.jsonl"));
    let l = line(&run(d.path(), &["--dry_run", "--skip_existing"]));
    assert!(
        l.ends_with(&format!(
            "a trial, the mean of the {} trials in tune_results.jsonl)",
            recs.len()
        )),
        "{l}"
    );
}
