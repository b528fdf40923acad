//! `autotune report` against a real demo run's results and the auto_tune.py
//! fixture, opened in a real headless browser (Debian's chromium): the page
//! renders with its charts and winner table, runs no script, fetches
//! nothing, and its screenshot is far from blank. Bad input exits 2 naming
//! the file.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Runs chromium headless with `args` on `page`, with its own profile
/// directory (parallel tests must not share one), killed if it hangs.
fn chromium(profile: &Path, args: &[&str], page: &Path) -> Output {
    // Output goes to files: a DOM bigger than a pipe's buffer would block
    // chromium while we wait for it to exit.
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap())
        .spawn()
        .expect(
            "chromium is needed for this test (tests/run.sh installs it: apt-get install chromium)",
        );
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: std::fs::read(out.path()).unwrap(),
        stderr: std::fs::read(err.path()).unwrap(),
    }
}

/// PNG width, height and the bytes of its compressed image data.
fn png_info(bytes: &[u8]) -> (u32, u32, usize) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let (w, h) = (be(&bytes[16..20]), be(&bytes[20..24]));
    let (mut i, mut idat) = (8, 0);
    while i + 8 <= bytes.len() {
        let len = be(&bytes[i..i + 4]) as usize;
        if &bytes[i + 4..i + 8] == b"IDAT" {
            idat += len;
        }
        i += 12 + len;
    }
    (w, h, idat)
}

/// What a report page must be, checked in the browser. Returns the DOM.
/// `min_ratio`: how many times the compressed image data of an empty page
/// the screenshot must have (a page of uniform charts compresses well).
fn check_in_browser(page: &Path, work: &Path, groups: usize, min_ratio: usize) -> String {
    let html = std::fs::read_to_string(page).unwrap();
    // Self-contained: nothing to run, nothing to fetch.
    let lower = html.to_lowercase();
    for bad in [
        "<script", "<link", "@import", "url(", "src=", "<iframe", "<img",
    ] {
        assert!(!lower.contains(bad), "the page contains {bad:?}");
    }
    let external: Vec<&str> = lower
        .match_indices("http")
        .map(|(i, _)| &lower[i..(i + 40).min(lower.len())])
        .filter(|s| !s.starts_with("http://www.w3.org/2000/svg"))
        .collect();
    assert!(external.is_empty(), "links out of the page: {external:?}");

    let profile = work.join("chromium-profile");
    let dom = chromium(
        &profile,
        &["--dump-dom", "--enable-logging=stderr", "--v=0"],
        page,
    );
    assert!(
        dom.status.success(),
        "chromium --dump-dom failed: {}",
        text(&dom)
    );
    let dom_text = String::from_utf8_lossy(&dom.stdout).into_owned();
    let log = String::from_utf8_lossy(&dom.stderr);
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("SyntaxError"))
        .collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    // The browser parsed the page into the parts a reader needs.
    assert!(dom_text.contains("id=\"winner-table\""), "no winner table");
    assert!(dom_text.contains("id=\"path\""), "no search path");
    assert!(dom_text.contains("id=\"failures\""), "no failures section");
    let group_charts = dom_text.matches("class=\"chart group\"").count();
    let cards = dom_text.matches("class=\"card group\"").count();
    assert_eq!(
        group_charts,
        2 * cards,
        "one objective and one accuracy chart per group or round"
    );
    // A search's decisions may reuse every configuration of a group (no
    // record of its own): the file shows at least as many runs of records.
    assert!(
        cards >= groups,
        "{cards} groups and rounds shown, {groups} in the file"
    );
    assert_eq!(dom_text.matches("class=\"chart pareto\"").count(), 1);
    assert_eq!(dom_text.matches("class=\"chart path\"").count(), 1);
    assert!(dom_text.matches("<svg").count() >= 2 * groups + 2);
    assert!(dom_text.contains("class=\"limit\""), "the bar is drawn");
    assert!(dom_text.contains("pt front"), "the Pareto front is marked");
    assert!(dom_text.contains("pt winner"), "the winner is marked");

    // The screenshot shows far more than an empty page of the same size.
    let shot = work.join("report.png");
    let o = chromium(
        &profile,
        &[
            "--window-size=1200,2400",
            &format!("--screenshot={}", shot.display()),
        ],
        page,
    );
    assert!(o.status.success(), "screenshot failed: {}", text(&o));
    let blank_page = work.join("blank.html");
    std::fs::write(&blank_page, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let blank_shot = work.join("blank.png");
    let o = chromium(
        &profile,
        &[
            "--window-size=1200,2400",
            &format!("--screenshot={}", blank_shot.display()),
        ],
        &blank_page,
    );
    assert!(o.status.success(), "screenshot failed: {}", text(&o));
    let (w, h, data) = png_info(&std::fs::read(&shot).unwrap());
    let (bw, bh, blank) = png_info(&std::fs::read(&blank_shot).unwrap());
    assert_eq!((w, h), (bw, bh));
    assert!(w >= 1000 && h >= 2000, "{w}x{h}");
    assert!(
        data > min_ratio * blank,
        "the screenshot is nearly blank: {data} bytes of image data against {blank} for an empty page"
    );
    dom_text
}

/// The number of parameter groups and refinement rounds: runs of
/// consecutive records varying the same parameter, a round's joint moves
/// (`A+B`) and the re-measure of its base counting as one.
fn groups(results: &Path) -> usize {
    let mut n = 0;
    let mut last = String::new();
    for r in records(results) {
        let p = r["param_under_test"].as_str().unwrap_or("").to_string();
        let p = if p.contains('+') || p == "base" {
            "refinement".to_string()
        } else {
            p
        };
        if p != last {
            n += 1;
            last = p;
        }
    }
    n
}

fn report(args: &[&str], dir: &Path) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .arg("report")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn report_of_a_real_demo_run_renders_in_chromium() {
    let d = tempfile::tempdir().unwrap();
    let demo = d.path().join("demo");
    let o = Command::new(bin())
        .env("SIM_EVAL_FAIL_RATE", "0")
        .env("SIM_STARTUP_S", "0.05")
        .env("SIM_EVAL_S", "0.01")
        .args(["demo", "--headless", "--eval_runs", "2", "--dir"])
        .arg(&demo)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let results = demo.join("tune_results.jsonl");

    // Default output: beside the results, its path on stdout.
    let o = report(&["--repo", demo.to_str().unwrap()], d.path());
    assert!(o.status.success(), "{}", text(&o));
    let page = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
    assert_eq!(page, demo.join("tune_report.html"));

    let dom = check_in_browser(&page, d.path(), groups(&results), 20);
    // A refinement round is one step: no joint move is a group of its own.
    let path = &dom[dom.find("<table class=\"path\">").unwrap()..];
    let path = &path[..path.find("</table>").unwrap()];
    assert!(
        !path
            .split("<code>")
            .skip(1)
            .any(|c| c.split("</code>").next().unwrap().contains('+')),
        "a joint move listed as a group"
    );

    // The winner table names every parameter the run changed, as
    // best_params.json has it, and its figures against the start.
    let best: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(demo.join("best_params.json")).unwrap())
            .unwrap();
    let defaults: std::collections::BTreeMap<&str, &str> =
        autotune::DEFAULT_PARAMS.iter().copied().collect();
    let mut changed = 0;
    for (k, v) in &best {
        let v = v.as_str().unwrap();
        if defaults.get(k.as_str()) != Some(&v) {
            changed += 1;
            let esc = v
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            assert!(
                dom.contains(&format!("<td class=\"new\">{esc}</td>")),
                "{k}={v} missing from the winner table"
            );
        }
    }
    assert!(changed > 0, "the demo changes something");
    assert!(dom.contains(&format!("{changed} parameters changed")));
    assert!(
        dom.contains("beyond noise"),
        "the demo's gain is beyond noise"
    );
    // Every crashed or timed-out trial is listed with its reason; the
    // crash's log tail (kept in the record) is shown.
    for r in records(&results) {
        let st = r["status"].as_str().unwrap();
        if st == "crashed" || st == "timeout" || st == "pruned" {
            let idx = r["trial_index"].as_u64().unwrap();
            assert!(
                dom.contains(&format!("<td class=\"num\">{idx}</td>")),
                "trial {idx} ({st}) not listed"
            );
        }
        if st == "crashed"
            && let Some(tail) = r["log_tail"].as_array()
        {
            let last = tail.last().unwrap().as_str().unwrap();
            assert!(
                dom.contains(
                    &last
                        .replace('&', "&amp;")
                        .replace('<', "&lt;")
                        .replace('>', "&gt;")
                )
            );
        }
        if st == "pruned" {
            let why = r["reason"].as_str().unwrap();
            assert!(dom.contains(why.split(':').next().unwrap()), "{why}");
        }
    }

    // -o writes elsewhere; a second report replaces the first.
    let other = d.path().join("out.html");
    let o = report(
        &[results.to_str().unwrap(), "-o", other.to_str().unwrap()],
        d.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(&other).unwrap().len(),
        std::fs::read_to_string(&page).unwrap().len()
    );
}

#[test]
fn report_of_auto_tune_py_results_shows_its_losing_winner() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    copy_fixture(&repo);
    let out = d.path().join("r.html");
    let o = report(
        &[
            repo.join("tune_results.jsonl").to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        d.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let dom = check_in_browser(&out, d.path(), groups(&repo.join("tune_results.jsonl")), 20);
    // auto_tune.py's skipped-base defect: six parameters changed, and the
    // winner is no faster than the start (within noise).
    assert!(dom.contains("6 parameters changed"), "six changes");
    assert!(dom.contains("within noise"));
    assert!(dom.contains("<b>crashed</b>") && dom.contains("<b>timeout</b>"));
    assert!(dom.contains("<b>partial</b>"));
    // Values are escaped, not markup.
    assert!(dom.contains("&lt;|im_end|&gt;"));
}

#[test]
fn bad_input_exits_2_naming_the_file() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("nope.jsonl");
    let o = report(&[missing.to_str().unwrap()], d.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("nope.jsonl"), "{}", text(&o));

    let garbage = d.path().join("garbage.jsonl");
    std::fs::write(&garbage, "not json\n{torn\n").unwrap();
    let o = report(&[garbage.to_str().unwrap()], d.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("garbage.jsonl") && text(&o).contains("no readable record"));

    let o = report(&[d.path().to_str().unwrap()], d.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // No results in --repo: the default file is named.
    let o = report(&["--repo", d.path().to_str().unwrap()], d.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("tune_results.jsonl"), "{}", text(&o));

    let repo = d.path().join("repo");
    copy_fixture(&repo);
    let results = repo.join("tune_results.jsonl");
    let o = report(
        &[results.to_str().unwrap(), "-o", "/nonexistent-dir/r.html"],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("-o /nonexistent-dir/r.html"),
        "{}",
        text(&o)
    );

    let o = report(
        &[results.to_str().unwrap(), "--accuracy_threshold", "88"],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--accuracy_threshold"));
    // A metric no record has is a typo, not a report.
    let o = report(
        &[results.to_str().unwrap(), "--objective", "p99_tffb_ms:min"],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("--objective") && text(&o).contains("p99_tffb_ms"),
        "{}",
        text(&o)
    );
    // Nothing the user had was touched.
    assert!(!repo.join("tune_report.html").exists());
}

/// An eval printing two lines of `vllm bench serve`'s summary whose figures
/// follow VLLM_MAX_NUM_SEQS: output tok/s = 10 x seqs, p99 TTFT = 2 x seqs.
const BENCH: &str = r#"#!/bin/bash
s=${VLLM_MAX_NUM_SEQS:?}
printf '%-40s %-10.2f\n' "Output token throughput (tok/s):" "$((s * 10))"
printf '%-40s %-10.2f\n' "P99 TTFT (ms):" "$((s * 2))"
"#;

/// A report of a run tuned for output tok/s under p99 TTFT <= 600 ms shows
/// that goal (recorded in tune_status.json beside the results): a chart of
/// each per group, the Pareto chart of one against the other, the limit;
/// flags declare another goal.
#[test]
fn report_of_a_goal_run_shows_its_objective_and_constraint() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    std::fs::write(d.path().join("bench.sh"), BENCH).unwrap();
    // Two groups (the bench ignores the second), as a real search has.
    let space = space(
        d.path(),
        r#"{"VLLM_MAX_NUM_SEQS": [64, 128, 256, 512], "VLLM_BLOCK_SIZE": [16, 32]}"#,
    );
    let mut c = tune_cmd(d.path(), free_port());
    c.args(space_args(&space)).args([
        "--eval_cmd",
        "bash bench.sh",
        "--search_policy",
        "plain",
        "--eval_runs",
        "2",
        "--metric",
        r"output_tps=(?m)^Output token throughput \(tok/s\):\s*([0-9.]+)",
        "--metric",
        r"p99_ttft_ms=P99 TTFT \(ms\):\s*([0-9.]+)",
        "--objective",
        "output_tps:max",
        "--constraint",
        "p99_ttft_ms<=600",
    ]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let results = d.path().join("tune_results.jsonl");

    let o = report(&[results.to_str().unwrap()], d.path());
    assert!(o.status.success(), "{}", text(&o));
    let page = d.path().join("tune_report.html");
    // One objective and one constraint chart per group, one Pareto chart,
    // the limit drawn: as for today's goal, with the declared metrics.
    let dom = check_in_browser(&page, d.path(), groups(&results), 10);
    assert!(
        dom.contains("<meta name=\"objective\" content=\"output_tps\">"),
        "the page is about the declared objective"
    );
    for want in [
        "VLLM_MAX_NUM_SEQS: output_tps by value",
        "VLLM_MAX_NUM_SEQS: p99_ttft_ms by value",
        "output_tps against p99_ttft_ms",
        "p99_ttft_ms ≤ 600",
    ] {
        assert!(dom.contains(want), "{want:?} missing");
    }
    assert!(
        !dom.contains("total tok/s"),
        "today's objective is not shown"
    );
    assert!(!dom.contains("accuracy by value"), "nor today's constraint");

    // Flags declare another goal: two constraints, two Pareto charts.
    let other = d.path().join("other.html");
    let o = report(
        &[
            results.to_str().unwrap(),
            "-o",
            other.to_str().unwrap(),
            "--objective",
            "p99_ttft_ms:min",
            "--constraint",
            "output_tps>=1000",
            "--constraint",
            "p99_ttft_ms<=900",
        ],
        d.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(&other).unwrap();
    assert!(html.contains("<meta name=\"objective\" content=\"p99_ttft_ms\">"));
    assert_eq!(html.matches("class=\"chart pareto\"").count(), 2);
    assert!(html.contains("output_tps ≥ 1000"), "the limit is shown");

    // A bad goal flag exits 2 naming it.
    let o = report(
        &[results.to_str().unwrap(), "--constraint", "p99_ttft_ms=3"],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--constraint"), "{}", text(&o));
}

/// A results line of `X=value` with one ok eval run per throughput.
fn tps_line(value: &str, tps: &[f64]) -> String {
    let runs: Vec<serde_json::Value> = tps
        .iter()
        .enumerate()
        .map(|(i, t)| serde_json::json!({"i": i + 1, "ok": true, "accuracy": 0.9, "total_tps": t}))
        .collect();
    serde_json::json!({
        "trial_key": format!("X={value}"), "status": "ok", "param_under_test": "X",
        "params": {"X": value}, "eval_ok_n": tps.len(), "eval_runs": runs,
        "avg_accuracy": 0.9,
    })
    .to_string()
}

/// Figures no axis can hold (1.7e308 tok/s: one run of it, or two whose
/// mean overflows) are drawn nowhere: every coordinate of the page's
/// charts is a finite number.
#[test]
fn figures_too_large_to_draw_give_no_non_finite_coordinate() {
    let d = tempfile::tempdir().unwrap();
    let results = d.path().join("tune_results.jsonl");
    std::fs::write(
        &results,
        format!(
            "{}\n{}\n{}\n",
            tps_line("a", &[100.0, 110.0]),
            tps_line("b", &[1.7e308]),
            tps_line("c", &[1.7e308, 1.7e308])
        ),
    )
    .unwrap();
    let out = d.path().join("r.html");
    let o = report(
        &[results.to_str().unwrap(), "-o", out.to_str().unwrap()],
        d.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(page.contains("<svg"), "no chart drawn");
    // Every attribute value: no NaN, no infinity.
    let bad: Vec<&str> = page
        .split("=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|v| v.contains("NaN") || v.contains("inf"))
        .collect();
    assert!(bad.is_empty(), "non-finite coordinates: {bad:?}");
}
