//! `autotune best` against the real binary: every format read back the way
//! it is meant to be used (sourced in bash, parsed as JSON, split as shell
//! words), from best_params.json and from results files; bad input exits 2
//! naming it.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn best(args: &[&str]) -> Output {
    Command::new(bin()).arg("best").args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", text(o));
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn json_params(path: &Path) -> BTreeMap<String, String> {
    let v: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v.into_iter()
        .map(|(k, v)| (k, v.as_str().map(str::to_string).unwrap_or(v.to_string())))
        .collect()
}

/// Sources `script` in bash (after `prelude`) and reads `keys` back.
fn bash_vars(prelude: &str, script: &Path, keys: &[&String]) -> BTreeMap<String, String> {
    let mut cmd = format!("{prelude} . '{}'; ", script.display());
    for k in keys {
        cmd.push_str(&format!("printf '%s\\0%s\\0' {k} \"${{{k}}}\"; "));
    }
    let o = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &cmd])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let parts: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .split('\0')
        .map(str::to_string)
        .collect();
    parts
        .chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect()
}

/// A best file with values that need every kind of quoting.
fn tricky(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("best_params.json");
    std::fs::write(
        &p,
        r##"{"STOP_STRINGS": "<|im_end|>,<|endoftext|>", "SPACED": "a b  c", "QUOTES": "it's \"quoted\"",
            "DOLLAR": "$HOME and `id` and \\ back", "HASH": "#not a comment", "EMPTY": "", "NUM": 0.97,
            "PCT": "%h", "LINES": "one\ntwo"}"##,
    )
    .unwrap();
    p
}

#[test]
fn shell_and_env_formats_round_trip_through_bash() {
    let d = tempfile::tempdir().unwrap();
    for dir in ["fixture", "tricky"] {
        let repo = d.path().join(dir);
        if dir == "fixture" {
            copy_fixture(&repo);
        } else {
            std::fs::create_dir_all(&repo).unwrap();
            tricky(&repo);
        }
        let want = json_params(&repo.join("best_params.json"));
        let keys: Vec<&String> = want.keys().collect();

        // --repo's best_params.json by default; `export K=V` lines.
        let out = stdout(&best(&["--repo", repo.to_str().unwrap()]));
        // One `export` a parameter (a value with a newline spans lines,
        // quoted).
        assert_eq!(
            out.lines().filter(|l| l.starts_with("export ")).count(),
            want.len(),
            "{out}"
        );
        let sh = d.path().join(format!("{dir}.sh"));
        std::fs::write(&sh, &out).unwrap();
        assert_eq!(bash_vars("", &sh, &keys), want, "shell format of {dir}");

        // The systemd env file: K=V lines, read as systemd does (its
        // double-quote escapes are the shell's, so bash with `set -a`
        // reads it the same way).
        let out = stdout(&best(&[
            "--repo",
            repo.to_str().unwrap(),
            "--format",
            "env",
        ]));
        for l in out.lines().filter(|l| l.contains('=')) {
            let (k, _) = l.split_once('=').unwrap();
            assert!(want.contains_key(k), "{l}");
        }
        let env = d.path().join(format!("{dir}.env"));
        std::fs::write(&env, &out).unwrap();
        assert_eq!(
            bash_vars("set -a;", &env, &keys),
            want,
            "env format of {dir}"
        );
        if dir == "fixture" {
            assert!(out.contains("STOP_STRINGS=\"<|im_end|>\"\n"), "{out}");
            assert!(out.contains("VLLM_MAX_NUM_SEQS=512\n"), "{out}");
        } else {
            assert!(
                out.contains(r#"DOLLAR="\$HOME and \`id\` and \\ back""#),
                "{out}"
            );
            assert!(out.contains("HASH=\"#not a comment\"\n"), "{out}");
        }
    }
}

#[test]
fn json_and_args_formats_round_trip() {
    let d = tempfile::tempdir().unwrap();
    let file = tricky(d.path());
    let want = json_params(&file);

    let out = stdout(&best(&[file.to_str().unwrap(), "--format", "json"]));
    let got: BTreeMap<String, String> = serde_json::from_str(&out).unwrap();
    assert_eq!(got, want);

    // `--k-lower-kebab value` pairs: split as a shell would split them.
    let out = stdout(&best(&[file.to_str().unwrap(), "--format", "args"]));
    assert!(out.starts_with("--"), "{out}");
    let o = Command::new("bash")
        .args([
            "--norc",
            "-c",
            "eval \"set -- $1\"; printf '%s\\0' \"$@\"",
            "_",
            out.trim_end(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let words: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .split_terminator('\0')
        .map(str::to_string)
        .collect();
    let got: BTreeMap<String, String> = words
        .chunks(2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect();
    let want_flags: BTreeMap<String, String> = want
        .iter()
        .map(|(k, v)| {
            (
                format!("--{}", k.to_lowercase().replace('_', "-")),
                v.clone(),
            )
        })
        .collect();
    assert_eq!(got, want_flags);
    assert!(
        out.contains("--stop-strings '<|im_end|>,<|endoftext|>'"),
        "{out}"
    );
}

#[test]
fn results_files_give_their_best_qualifying_record() {
    let d = tempfile::tempdir().unwrap();
    copy_fixture(d.path());
    let results = d.path().join("tune_results.jsonl");
    // Independently: among ok records with accuracy at the bar, the fastest.
    let pick = |bar: f64| {
        records(&results)
            .into_iter()
            .filter(|r| r["status"] == "ok" && r["avg_accuracy"].as_f64().unwrap() >= bar)
            .max_by(|a, b| {
                a["avg_total_tps"]
                    .as_f64()
                    .unwrap()
                    .total_cmp(&b["avg_total_tps"].as_f64().unwrap())
            })
            .unwrap()
    };
    for bar in ["0.88", "0.8875"] {
        let want = pick(bar.parse().unwrap());
        let o = best(&[
            results.to_str().unwrap(),
            "--format",
            "json",
            "--accuracy_threshold",
            bar,
        ]);
        let got: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(got, want["params"], "bar {bar}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("best qualifying record") && err.contains("tune_results.jsonl"));
    }
    // The two bars pick different records: the threshold is honoured.
    assert_ne!(pick(0.88)["params"], pick(0.8875)["params"]);

    // With no best_params.json, --repo falls back to its results file.
    std::fs::remove_file(d.path().join("best_params.json")).unwrap();
    let o = best(&["--repo", d.path().to_str().unwrap(), "--format", "json"]);
    let got: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(got, pick(0.88)["params"]);

    // A one-line results file is a results file, not a parameters object.
    let one = d.path().join("one.json");
    let line = std::fs::read_to_string(&results)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(&one, format!("{line}\n")).unwrap();
    let got: serde_json::Value =
        serde_json::from_str(&stdout(&best(&[one.to_str().unwrap(), "--format", "json"]))).unwrap();
    let first: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(got, first["params"]);
}

/// A results line of `X=value` with one eval run per accuracy.
fn measured_line(value: &str, acc: &[f64], tps: f64) -> String {
    let runs: Vec<serde_json::Value> = acc
        .iter()
        .enumerate()
        .map(|(i, a)| serde_json::json!({"i": i + 1, "ok": true, "accuracy": a, "total_tps": tps}))
        .collect();
    let mean = acc.iter().sum::<f64>() / acc.len() as f64;
    serde_json::json!({
        "trial_key": format!("X={value}"), "status": "ok", "param_under_test": "X",
        "params": {"X": value}, "eval_ok_n": acc.len(), "eval_runs": runs,
        "avg_accuracy": mean, "avg_total_tps": tps,
    })
    .to_string()
}

/// The noise-aware search refuses a winner whose accuracy clears the bar
/// only within the run-to-run noise; `autotune best` from its results file
/// does not name it either (unless the search ended on it), while the
/// plain search's file, and a file without a recorded policy, are judged
/// by the means as before.
#[test]
fn a_record_over_the_bar_only_within_the_noise_is_not_the_best_of_a_noise_aware_run() {
    let d = tempfile::tempdir().unwrap();
    let results = d.path().join("tune_results.jsonl");
    let lines = [
        // Two configurations that teach the noise (accuracy spread about
        // 0.016 a run).
        measured_line("a", &[0.95, 0.96, 0.94, 0.97, 0.93], 100.0),
        measured_line("b", &[0.95, 0.96, 0.94, 0.97, 0.93], 110.0),
        // Mean 0.882 against the bar 0.88: within the noise.
        measured_line("lucky", &[0.86, 0.90, 0.87, 0.89, 0.89], 900.0),
        measured_line("clear", &[0.95, 0.96, 0.94, 0.95, 0.95], 500.0),
    ];
    std::fs::write(&results, lines.join("\n") + "\n").unwrap();
    let status = d.path().join("tune_status.json");
    let x = |o: &Output| {
        let v: serde_json::Value = serde_json::from_str(&stdout(o)).unwrap();
        v["X"].as_str().unwrap().to_string()
    };
    let r = results.to_str().unwrap();

    std::fs::write(&status, r#"{"search_policy": {"acc_guard": 0.95}}"#).unwrap();
    let o = best(&[r, "--format", "json"]);
    assert_eq!(x(&o), "clear", "{}", text(&o));

    // Where the search ended (its best file) is always its winner.
    std::fs::write(d.path().join("best_params.json"), r#"{"X": "lucky"}"#).unwrap();
    assert_eq!(x(&best(&[r, "--format", "json"])), "lucky");
    // Also when a faster qualifying record stands beside it (a lucky
    // re-measure of an earlier incumbent, a challenger the search did not
    // take): the search's choice, not the fastest single record.
    std::fs::write(d.path().join("best_params.json"), r#"{"X": "b"}"#).unwrap();
    assert_eq!(x(&best(&[r, "--format", "json"])), "b");
    std::fs::remove_file(d.path().join("best_params.json")).unwrap();

    // Nothing else qualifies: the error says why the lucky one does not.
    let under = |v: &str| measured_line(v, &[0.80, 0.81, 0.79, 0.82, 0.78], 100.0);
    let only = d.path().join("only.jsonl");
    std::fs::write(
        &only,
        [under("a"), under("b"), lines[2].clone()].join("\n") + "\n",
    )
    .unwrap();
    let o = best(&[only.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("1 meet it only within the run-to-run noise"),
        "{}",
        text(&o)
    );

    // The plain search: the means decide, as auto_tune.py's.
    std::fs::write(&status, r#"{"search_policy": "plain"}"#).unwrap();
    assert_eq!(x(&best(&[r, "--format", "json"])), "lucky");
    std::fs::remove_file(&status).unwrap();
    assert_eq!(x(&best(&[r, "--format", "json"])), "lucky");
}

#[test]
fn bad_input_exits_2_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    let check = |args: &[&str], needle: &str| {
        let o = best(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(needle), "{args:?}: {}", text(&o));
        assert!(o.stdout.is_empty(), "nothing half-printed");
    };
    check(&[p("missing.json").to_str().unwrap()], "missing.json");
    check(&[d.path().to_str().unwrap()], "is a directory");
    // Neither file in the repo: both named.
    check(&["--repo", d.path().to_str().unwrap()], "best_params.json");
    std::fs::write(p("nested.json"), r#"{"A": {"b": 1}}"#).unwrap();
    check(&[p("nested.json").to_str().unwrap()], "nested.json");
    std::fs::write(p("garbage.txt"), "hello\n").unwrap();
    check(&[p("garbage.txt").to_str().unwrap()], "garbage.txt");
    std::fs::write(p("empty.json"), "").unwrap();
    check(&[p("empty.json").to_str().unwrap()], "empty.json");
    // A results file where nothing qualifies.
    copy_fixture(&p("fx"));
    check(
        &[
            p("fx/tune_results.jsonl").to_str().unwrap(),
            "--accuracy_threshold",
            "0.99",
        ],
        "no record qualifies",
    );
    check(
        &[
            p("fx/tune_results.jsonl").to_str().unwrap(),
            "--accuracy_threshold",
            "2",
        ],
        "--accuracy_threshold",
    );
    // A name no shell can export: refused for shell and env, fine as JSON.
    std::fs::write(p("names.json"), r#"{"max-len": "1"}"#).unwrap();
    check(&[p("names.json").to_str().unwrap()], "max-len");
    let o = best(&[p("names.json").to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    // Nothing was changed.
    assert_eq!(
        std::fs::read_to_string(p("names.json")).unwrap(),
        r#"{"max-len": "1"}"#
    );
}

/// An eval printing two lines of `vllm bench serve`'s summary whose figures
/// follow VLLM_MAX_NUM_SEQS: output tok/s = 10 x seqs, p99 TTFT = 2 x seqs.
const BENCH: &str = r#"#!/bin/bash
s=${VLLM_MAX_NUM_SEQS:?}
printf '%-40s %-10.2f\n' "Output token throughput (tok/s):" "$((s * 10))"
printf '%-40s %-10.2f\n' "P99 TTFT (ms):" "$((s * 2))"
"#;

/// A real tuning run for output tok/s under p99 TTFT <= 600 ms: 256 wins
/// (512 is faster but over the limit). Returns the repo's results file.
pub fn goal_run(dir: &Path) -> std::path::PathBuf {
    sim_repo(dir);
    std::fs::write(dir.join("bench.sh"), BENCH).unwrap();
    let space = space(dir, r#"{"VLLM_MAX_NUM_SEQS": [64, 128, 256, 512]}"#);
    let mut c = tune_cmd(dir, free_port());
    c.args(space_args(&space)).args([
        "--eval_cmd",
        "bash bench.sh",
        "--search_policy",
        "plain",
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
    dir.join("tune_results.jsonl")
}

/// A results file from a run with a declared goal is judged by that goal
/// (recorded in tune_status.json beside it), or by the goal the flags
/// declare; without either it is judged by today's rule, which no record
/// of a run without accuracy meets.
#[test]
fn results_of_a_goal_run_are_judged_by_its_goal() {
    let d = tempfile::tempdir().unwrap();
    let results = goal_run(d.path());
    // The configuration's VLLM_MAX_NUM_SEQS line (the sim repo brings
    // other settings along).
    let seqs = |o: &Output| {
        let out = stdout(o);
        out.lines()
            .find(|l| l.starts_with("export VLLM_MAX_NUM_SEQS="))
            .unwrap_or_else(|| panic!("{out}"))
            .to_string()
    };
    let r = results.to_str().unwrap();

    // The recorded goal: the fastest within the limit, not the fastest.
    let o = best(&[r]);
    assert_eq!(seqs(&o), "export VLLM_MAX_NUM_SEQS=256", "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains("output_tps 2560") && err.contains("p99_ttft_ms 512"),
        "{err}"
    );

    // The flags' goal wins over the recorded one.
    let o = best(&[
        r,
        "--objective",
        "output_tps",
        "--constraint",
        "p99_ttft_ms<=300",
    ]);
    assert_eq!(seqs(&o), "export VLLM_MAX_NUM_SEQS=128", "{}", text(&o));
    let o = best(&[r, "--objective", "p99_ttft_ms:min"]);
    assert_eq!(seqs(&o), "export VLLM_MAX_NUM_SEQS=64", "{}", text(&o));

    // Away from its status file the file is judged by today's goal, which
    // wants an accuracy the bench never printed.
    let other = tempfile::tempdir().unwrap();
    let moved = other.path().join("copy.jsonl");
    std::fs::copy(&results, &moved).unwrap();
    let o = best(&[moved.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no record qualifies"), "{}", text(&o));
    // ...and the flags still declare one.
    let o = best(&[
        moved.to_str().unwrap(),
        "--objective",
        "output_tps:max",
        "--constraint",
        "p99_ttft_ms<=600",
    ]);
    assert_eq!(seqs(&o), "export VLLM_MAX_NUM_SEQS=256", "{}", text(&o));

    // A bad goal flag exits 2 naming it.
    for (flag, v) in [("--objective", "output_tps:up"), ("--constraint", "p99=5")] {
        let o = best(&[r, flag, v]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(flag), "{}", text(&o));
    }
}

/// A results file written before overflowing figures failed their trial:
/// `b`'s runs report 1.7e308 tok/s each, so its mean is infinite (the file
/// holds null for it). `autotune best` does not choose it.
#[test]
fn a_record_whose_mean_overflows_is_never_the_best() {
    let d = tempfile::tempdir().unwrap();
    let results = d.path().join("tune_results.jsonl");
    let mut b: serde_json::Value =
        serde_json::from_str(&measured_line("b", &[0.9, 0.9], 1.7e308)).unwrap();
    b["avg_total_tps"] = serde_json::Value::Null;
    std::fs::write(
        &results,
        format!("{}\n{b}\n", measured_line("a", &[0.9, 0.9], 100.0)),
    )
    .unwrap();
    let o = best(&[results.to_str().unwrap(), "--format", "json"]);
    let got: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(got, serde_json::json!({"X": "a"}), "{}", text(&o));
}
