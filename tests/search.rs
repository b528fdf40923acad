//! The search beyond one pass against the real binary and the demo's
//! simulated service (no noise): a second pass reuses what the first one
//! measured, and a configuration an earlier crash predicts is reported and
//! not started.

mod common;

use common::*;

#[test]
fn second_pass_reuses_records_and_a_predicted_crash_is_not_started() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    // MAX_NEW_TOKENS moves first (48 is faster and above the bar), then
    // the memory share: 0.99 crashes in the demo service.
    let sp = space(
        d.path(),
        r#"{"MAX_NEW_TOKENS": ["64", "48"], "GPU_MEMORY_UTILIZATION": ["0.97", "0.98", "0.99"]}"#,
    );
    let mut c = tune_cmd(d.path(), free_port());
    c.env("SIM_NOISE", "0").args(space_args(&sp));
    let o = run(c);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    // Pass 2 probes MAX_NEW_TOKENS around the new base: its base trial is
    // the one measured last in pass 1, reused, not run again.
    let pass2 = out
        .lines()
        .position(|l| l.contains("== group 1/2 MAX_NEW_TOKENS") && l.contains("pass 2"))
        .unwrap_or_else(|| panic!("no second pass\n{out}"));
    assert!(
        out.lines()
            .skip(pass2 + 1)
            .any(|l| l.contains("MAX_NEW_TOKENS=48 reused: ")),
        "{out}"
    );
    let recs = records(&d.path().join("tune_results.jsonl"));
    let mut keys: Vec<&str> = recs
        .iter()
        .map(|r| r["trial_key"].as_str().unwrap())
        .collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "a configuration measured twice\n{out}");
    assert!(recs.iter().any(|r| r["status"] == "crashed"), "{out}");

    // Again from the winner (best_params.json): the memory share of 0.99
    // crashed with these very values, so it is not started.
    let mut c = tune_cmd(d.path(), free_port());
    c.env("SIM_NOISE", "0").args(space_args(&sp));
    let o = run(c);
    let out2 = text(&o);
    assert!(o.status.success(), "{out2}");
    let line = out2
        .lines()
        .find(|l| l.contains("GPU_MEMORY_UTILIZATION=0.99 not started: predicted to fail"))
        .unwrap_or_else(|| panic!("no predicted crash\n{out2}"));
    assert!(line.contains("crashed"), "{line}");
    assert!(
        !out2.contains("GPU_MEMORY_UTILIZATION=0.99 start"),
        "{out2}"
    );
    let recs2 = records(&d.path().join("tune_results.jsonl"));
    assert_eq!(
        recs2.iter().filter(|r| r["status"] == "crashed").count(),
        1,
        "no second crash recorded\n{out2}"
    );
}

/// `FREQUENCY_PENALTY` 0.1 (the base) and 0.10 (a candidate) are one
/// configuration (issue #23): the default search measures it once, under
/// the base's spelling, and the space file's spelling of a value wins over
/// the built-in one; `--search_policy plain` measures both, as
/// auto_tune.py did, under auto_tune.py's keys.
#[test]
fn numerically_equal_values_are_one_trial_except_under_plain() {
    let values = |dir: &std::path::Path| -> Vec<String> {
        records(&dir.join("tune_results.jsonl"))
            .iter()
            .map(|r| {
                r["params"]["FREQUENCY_PENALTY"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let sp_json = r#"{"FREQUENCY_PENALTY": ["0.00", "0.05", "0.10"]}"#;
    for (policy, want) in [
        ("noise-aware", vec!["0.1", "0.00", "0.05"]),
        ("plain", vec!["0.1", "0.00", "0.05", "0.10"]),
    ] {
        let d = tempfile::tempdir().unwrap();
        sim_repo(d.path());
        let sp = space(d.path(), sp_json);
        let mut c = tune_cmd(d.path(), free_port());
        c.env("SIM_NOISE", "0").args(space_args(&sp)).args([
            "--search_policy",
            policy,
            "--passes",
            "1",
            "--no_refine",
        ]);
        let o = run(c);
        let out = text(&o);
        assert!(o.status.success(), "{policy}: {out}");
        assert_eq!(values(d.path()), want, "{policy}: {out}");
        if policy == "plain" {
            // auto_tune.py's key for the candidate, byte for byte.
            let recs = records(&d.path().join("tune_results.jsonl"));
            let mut p = autotune::default_params();
            p.insert("FREQUENCY_PENALTY".into(), "0.10".into());
            assert_eq!(recs[3]["trial_key"], autotune::trial_key(&p), "{out}");
        }
    }

    // With the built-in space too, the file's "0.10" is the base's "0.1"
    // (one trial), and its "0.050" replaces the built-in "0.05".
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(
        d.path(),
        r#"{"FREQUENCY_PENALTY": ["0.10", "0.050"], "MAX_NEW_TOKENS": ["64"]}"#,
    );
    let mut c = tune_cmd(d.path(), free_port());
    c.env("SIM_NOISE", "0")
        .arg("--search_space_file")
        .arg(&sp)
        .arg("--dry_run");
    let o = run(c);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let row = out
        .lines()
        .find(|l| l.contains("FREQUENCY_PENALTY"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.trim_end().ends_with("[0.1] 0.00 0.050"), "{row}\n{out}");
}
