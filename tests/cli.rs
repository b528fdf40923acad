//! Flags, bad input (exit 2 with a message naming the flag or file),
//! --dry_run and --selftest.

mod common;

use std::time::Duration;

use common::*;

fn autotune(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin())
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn assert_usage_error(o: &std::process::Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "{}", text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

/// The row of the dry-run table for `param`: `(trials, values)`.
fn plan_row(out: &str, param: &str) -> (usize, String) {
    let line = out
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(param))
        .unwrap_or_else(|| panic!("no row for {param} in:\n{out}"));
    let mut w = line.split_whitespace().skip(2);
    let n = w.next().unwrap().parse().unwrap();
    (n, w.collect::<Vec<_>>().join(" "))
}

/// The total row of the dry-run table.
fn plan_total(out: &str) -> usize {
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some("total"))
        .unwrap_or_else(|| panic!("no total in:\n{out}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn dry_run_prints_the_plan_as_a_table_without_the_service_script() {
    // An empty directory: neither run_model.sh nor eval_local.py exists.
    let d = tempfile::tempdir().unwrap();
    let o = autotune(d.path(), &["--dry_run"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Base:   the built-in defaults"), "{out}");
    assert!(
        out.contains("Policy: noise-aware: coordinate ascent"),
        "{out}"
    );
    assert!(
        out.contains("among ok trials with accuracy >= 0.88\n"),
        "{out}"
    );
    // Crash prediction says which parameters a start-up failure ignores.
    assert!(
        out.contains("whatever the 13 parameters read per request are"),
        "{out}"
    );
    let none = autotune(d.path(), &["--dry_run", "--request_params", ""]);
    let none = String::from_utf8_lossy(&none.stdout);
    assert!(
        none.contains("(same values, none smaller) is not started"),
        "{none}"
    );
    let plain = autotune(d.path(), &["--dry_run", "--search_policy", "plain"]);
    let plain = String::from_utf8_lossy(&plain.stdout);
    assert!(
        plain.contains(
            "Policy: plain: coordinate ascent, one pass, base value first; groups decided by the \
             highest mean total tok/s among ok trials with accuracy >= 0.88\n"
        ),
        "{plain}"
    );
    assert!(out.contains("group  parameter"), "{out}");
    assert_eq!(
        plan_row(&out, "GPU_MEMORY_UTILIZATION"),
        (3, "[0.97] 0.98 0.99".into())
    );
    // "0.1" (base) and "0.10" (candidate) are one value: the base's.
    assert_eq!(
        plan_row(&out, "FREQUENCY_PENALTY"),
        (3, "[0.1] 0.00 0.05".into())
    );
    // Plain differs as auto_tune.py did: as strings, so both are measured.
    assert_eq!(
        plan_row(&plain, "FREQUENCY_PENALTY"),
        (4, "[0.1] 0.00 0.05 0.10".into())
    );
    assert_eq!(plan_total(&plain), 55);
    assert_eq!(
        plan_row(&out, "STOP_STRINGS"),
        (
            3,
            "[<|im_end|>,<|endoftext|>] <|im_end|> <|endoftext|>".into()
        )
    );
    assert_eq!(plan_total(&out), 54);
    // The groups are numbered in exploration order.
    let first = out
        .lines()
        .find(|l| l.contains("GPU_MEMORY_UTILIZATION"))
        .unwrap();
    assert_eq!(first.split_whitespace().next(), Some("1"), "{out}");
    // The missing scripts are named, not refused.
    assert!(
        out.contains("Note: --server_cmd: run_model.sh not found"),
        "{out}"
    );
    assert!(
        out.contains("Note: --eval_cmd: eval_local.py not found"),
        "{out}"
    );
    // Nothing was written.
    let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    // A real run still refuses without the script.
    assert_usage_error(&autotune(d.path(), &[]), "run_model.sh not found");
}

#[test]
fn dry_run_with_merged_space_best_file_and_results() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(
        d.path(),
        r#"{"MAX_MODEL_LEN": ["4096"], "NEW_KNOB": ["a", "b c"]}"#,
    );
    std::fs::write(
        d.path().join("best_params.json"),
        r#"{"MAX_MODEL_LEN": "2048", "GPU_MEMORY_UTILIZATION": "0.98"}"#,
    )
    .unwrap();
    let o = std::process::Command::new(bin())
        .current_dir(d.path())
        .env("TUNE_SEARCH_SPACE_FILE", &sp)
        .args(["--dry_run", "--eval_cmd", "bash eval_local.sh"])
        .args(["--accuracy_threshold", "0.5"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // As auto_tune.py: the base is the best file alone. 55, plus 4096 for
    // MAX_MODEL_LEN, plus two NEW_KNOB values, less FREQUENCY_PENALTY's
    // "0.1" (not in the base any more, not a candidate).
    assert_eq!(plan_total(&out), 57, "{out}");
    assert!(out.contains("Base:   best_params.json"), "{out}");
    assert!(out.contains("accuracy >= 0.5\n"), "{out}");
    assert_eq!(
        plan_row(&out, "MAX_MODEL_LEN"),
        (5, "[2048] 768 1024 1536 4096".into())
    );
    assert_eq!(
        plan_row(&out, "GPU_MEMORY_UTILIZATION"),
        (3, "[0.98] 0.97 0.99".into())
    );
    // Not in the base: no value is marked; a value with a space is quoted.
    assert_eq!(plan_row(&out, "NEW_KNOB"), (2, "a \"b c\"".into()));
    assert!(!out.contains("Note:"), "{out}");

    let o = autotune(
        d.path(),
        &[
            "--dry_run",
            "--eval_cmd",
            "bash eval_local.sh",
            "--no_builtin_space",
            "--search_space_file",
            sp.to_str().unwrap(),
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(plan_total(&out), 4, "{out}");
    // The base's other parameters are shown as fixed.
    assert!(
        out.contains("Fixed (in the base, not searched): GPU_MEMORY_UTILIZATION=0.98"),
        "{out}"
    );
}

#[test]
fn selftest_passes() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let o = autotune(
        d.path(),
        &["--selftest", "--eval_cmd", "bash eval_local.sh"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("[selftest] OK"));
    assert!(
        !d.path().join("tune_results.jsonl").exists(),
        "selftest must not touch the results"
    );
}

#[test]
fn bad_input_exits_2_naming_the_flag_or_file() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let ev = ["--eval_cmd", "bash eval_local.sh"];
    let with = |extra: &[&str]| {
        let mut a: Vec<&str> = ev.to_vec();
        a.extend_from_slice(extra);
        autotune(d.path(), &a)
    };
    std::fs::write(d.path().join("bad.json"), "{\"A\": [1, 2,\n").unwrap();
    assert_usage_error(
        &with(&["--search_space_file", "bad.json", "--dry_run"]),
        "bad.json",
    );
    std::fs::write(d.path().join("empty.json"), "{\"A\": []}").unwrap();
    assert_usage_error(
        &with(&["--search_space_file", "empty.json", "--dry_run"]),
        "\"A\": the candidate list is empty",
    );
    assert_usage_error(
        &with(&["--repo", "/nonexistent/repo", "--dry_run"]),
        "--repo",
    );
    // Without --dry_run the scripts are checked before anything starts.
    assert_usage_error(&autotune(d.path(), &[]), "eval_local.py not found");
    std::fs::remove_file(d.path().join("run_model.sh")).unwrap();
    assert_usage_error(&with(&[]), "run_model.sh not found");
    sim_repo(d.path());
    assert_usage_error(&with(&["--eval_runs", "five"]), "--eval_runs");
    assert_usage_error(
        &with(&["--startup_timeout=-1", "--dry_run"]),
        "--startup_timeout",
    );
    assert_usage_error(&with(&["--port", "99999"]), "--port");
    assert_usage_error(
        &with(&["--acc_regex", "acc=[0-9.]+", "--dry_run"]),
        "--acc_regex",
    );
    assert_usage_error(
        &with(&["--no_builtin_space", "--dry_run"]),
        "--no_builtin_space",
    );
    assert_usage_error(
        &with(&[
            "--request_params",
            "MAX_NEW_TOKENS,NOT_A_PARAM",
            "--dry_run",
        ]),
        "--request_params: NOT_A_PARAM is not a parameter",
    );
    // The demo passes its search policy on, and says a bad one once.
    let o = std::process::Command::new(bin())
        .args(["demo", "--headless", "--search_policy", "bogus"])
        .output()
        .unwrap();
    assert_usage_error(&o, "invalid value 'bogus' for '--search_policy");
    assert!(!text(&o).contains("error: error"), "{}", text(&o));
    std::fs::write(d.path().join("best_params.json"), "[1,").unwrap();
    assert_usage_error(&with(&["--dry_run"]), "best_params.json");
    // The bad best file was left as it was.
    assert_eq!(
        std::fs::read_to_string(d.path().join("best_params.json")).unwrap(),
        "[1,"
    );
}

#[test]
fn env_fallbacks_and_kebab_aliases() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let o = std::process::Command::new(bin())
        .current_dir(d.path())
        .env("TUNE_PORT_BUSY_RETRIES", "x")
        .args(["--dry-run", "--eval-cmd", "bash eval_local.sh"])
        .output()
        .unwrap();
    assert_usage_error(&o, "port_busy_retries");
}

/// Every flag name and alias of the tuner before the flags were grouped
/// (with a valid value for those that take one), so grouping them changed
/// no name. `None`: a switch.
const MAIN_FLAGS: &[(&str, &str, Option<&str>)] = &[
    ("repo", "repo", Some(".")),
    ("port", "port", Some("8123")),
    ("eval_runs", "eval-runs", Some("2")),
    ("startup_timeout", "startup-timeout", Some("30")),
    ("eval_timeout", "eval-timeout", Some("30")),
    ("cooldown", "cooldown", Some("0.5")),
    ("accuracy_threshold", "accuracy-threshold", Some("0.5")),
    ("results", "results", Some("r.jsonl")),
    ("best", "best", Some("b.json")),
    ("server_log_dir", "server-log-dir", Some("logs")),
    ("status_file", "status-file", Some("s.json")),
    ("heartbeat_trials", "heartbeat-trials", Some("3")),
    ("heartbeat_interval_s", "heartbeat-interval-s", Some("60")),
    ("search_space_file", "search-space-file", Some("space.json")),
    ("no_builtin_space", "no-builtin-space", None),
    ("port_busy_retries", "port-busy-retries", Some("1")),
    ("port_busy_wait_s", "port-busy-wait-s", Some("1")),
    ("port_busy_kill", "port-busy-kill", None),
    ("notify_trial_done", "notify-trial-done", None),
    (
        "notify_trial_done_every",
        "notify-trial-done-every",
        Some("2"),
    ),
    ("smtp_host", "smtp-host", Some("localhost")),
    ("smtp_port", "smtp-port", Some("2525")),
    ("smtp_user", "smtp-user", Some("me@example.com")),
    ("smtp_pass", "smtp-pass", Some("pw")),
    ("smtp_from", "smtp-from", Some("me@example.com")),
    ("smtp_to", "smtp-to", Some("you@example.com")),
    ("smtp_ssl", "smtp-ssl", None),
    ("email_kinds", "email-kinds", Some("best,done")),
    (
        "webhook_url",
        "webhook-url",
        Some("http://127.0.0.1:9/hook"),
    ),
    ("webhook_kind", "webhook-kind", Some("generic")),
    ("feishu_secret", "feishu-secret", Some("s")),
    ("skip_existing", "skip-existing", None),
    ("dry_run", "dry-run", None),
    ("headless", "headless", None),
    ("server_cmd", "server-cmd", Some("bash run_model.sh")),
    ("eval_cmd", "eval-cmd", Some("bash eval_local.sh")),
    ("health_path", "health-path", Some("/health")),
    ("kill_grace_s", "kill-grace-s", Some("2")),
    ("acc_regex", "acc-regex", Some("acc=([0-9.]+)")),
    ("answer_tps_regex", "answer-tps-regex", Some("a=([0-9.]+)")),
    ("total_tps_regex", "total-tps-regex", Some("t=([0-9.]+)")),
    ("total_time_regex", "total-time-regex", Some("s=([0-9.]+)")),
];

/// Flags that cannot join the dry run above (they change the mode, or
/// contradict one there): checked to parse, in front of --help.
const MAIN_FLAGS_OTHER: &[(&str, &str, Option<&str>)] = &[
    ("selftest", "selftest", None),
    ("selftest_notify", "selftest-notify", None),
    ("smtp_no_starttls", "smtp-no-starttls", None),
    ("smtp_ca_file", "smtp-ca-file", Some("ca.pem")),
];

/// The environment fallbacks of the tuner's flags.
const MAIN_ENV: &[&str] = &[
    "TUNE_HEARTBEAT_INTERVAL_S",
    "TUNE_SEARCH_SPACE_FILE",
    "TUNE_PORT_BUSY_RETRIES",
    "TUNE_PORT_BUSY_WAIT_S",
    "TUNE_PORT_BUSY_KILL",
    "TUNE_NOTIFY_TRIAL_DONE",
    "TUNE_NOTIFY_TRIAL_DONE_EVERY",
    "TUNE_SMTP_HOST",
    "TUNE_SMTP_PORT",
    "TUNE_SMTP_USER",
    "TUNE_SMTP_PASS",
    "TUNE_SMTP_FROM",
    "TUNE_SMTP_TO",
    "TUNE_SMTP_NO_STARTTLS",
    "TUNE_SMTP_SSL",
    "TUNE_EMAIL_KINDS",
    "TUNE_WEBHOOK_URL",
    "TUNE_WEBHOOK_KIND",
    "TUNE_FEISHU_SECRET",
    "TUNE_SMTP_CA_FILE",
];

fn flag_args(flags: &[(&str, &str, Option<&str>)], kebab: bool) -> Vec<String> {
    let mut a = Vec::new();
    for (name, alias, value) in flags {
        a.push(format!("--{}", if kebab { alias } else { name }));
        if let Some(v) = value {
            a.push(v.to_string());
        }
    }
    a
}

#[test]
fn every_flag_name_and_alias_of_main_still_parses() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    space(d.path(), r#"{"MAX_MODEL_LEN": ["4096"]}"#);
    for kebab in [false, true] {
        let args = flag_args(MAIN_FLAGS, kebab);
        let o = std::process::Command::new(bin())
            .current_dir(d.path())
            .args(&args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        // The values arrived: the threshold, the space file alone, the timeouts.
        assert!(out.contains("accuracy >= 0.5\n"), "{out}");
        assert_eq!(plan_total(&out), 2, "{out}");
        assert!(
            out.contains("up to 30 s), then 2 eval runs (up to 30 s each)"),
            "{out}"
        );
        let mut args = flag_args(MAIN_FLAGS_OTHER, kebab);
        args.push("--help".into());
        let o = autotune(
            d.path(),
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    }
    // Defaults and environment fallbacks are still shown.
    let help = String::from_utf8_lossy(&autotune(d.path(), &["--help"]).stdout).into_owned();
    for env in MAIN_ENV {
        assert!(help.contains(&format!("[env: {env}")), "{env} missing");
    }
    for default in [
        "[default: 8000]",
        "[default: 0.88]",
        "[default: 240]",
        "[default: 420]",
        "[default: 5]",
        "[default: \"bash run_model.sh\"]",
        "[default: tune_results.jsonl]",
        "[default: best,crashed,done]",
    ] {
        assert!(help.contains(default), "{default} missing");
    }
    // An environment fallback is read (a valid one, then a bad one naming it).
    let o = std::process::Command::new(bin())
        .current_dir(d.path())
        .env("TUNE_SEARCH_SPACE_FILE", "space.json")
        .env("TUNE_PORT_BUSY_WAIT_S", "1e30")
        .args(["--dry_run", "--eval_cmd", "bash eval_local.sh"])
        .output()
        .unwrap();
    assert_usage_error(&o, "--port_busy_wait_s");
}

/// The flag names listed under a heading of a help text, in order.
fn section(help: &str, heading: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != format!("{heading}:"))
        .skip(1)
        .take_while(|l| l.starts_with(' ') || l.is_empty())
        .map(|l| {
            // "-h, --help" lists the short form first.
            let t = l.trim_start();
            match t.split_once(", --") {
                Some((short, long)) if short.len() == 2 => &t[short.len() + 2..][..long.len() + 2],
                _ => t,
            }
        })
        .filter_map(|t| t.strip_prefix("--"))
        .map(|l| l.split([' ', '<']).next().unwrap().to_string())
        .collect()
}

#[test]
fn help_starts_with_five_flags_groups_the_rest_and_has_examples_keys_files() {
    let d = tempfile::tempdir().unwrap();
    let long = String::from_utf8_lossy(&autotune(d.path(), &["--help"]).stdout).into_owned();
    let short = String::from_utf8_lossy(&autotune(d.path(), &["-h"]).stdout).into_owned();
    for help in [&long, &short] {
        // The five a new user needs, first, before any other flag.
        assert_eq!(
            section(help, "Options"),
            [
                "repo",
                "server_cmd",
                "eval_cmd",
                "accuracy_threshold",
                "skip_existing",
                "help",
                "version"
            ],
            "{help}"
        );
        let first_flag = help.find("  --").unwrap();
        assert!(help[first_flag..].starts_with("  --repo"), "{help}");
        let examples = help.split("Examples:\n").nth(1).expect("examples");
        assert!(
            examples.starts_with("  autotune demo") || examples.contains("\n  autotune demo\n"),
            "{help}"
        );
    }
    assert_eq!(
        section(&long, "Service"),
        ["health_path", "startup_timeout", "kill_grace_s", "cooldown"]
    );
    assert_eq!(
        section(&long, "Eval"),
        [
            "eval_runs",
            "eval_timeout",
            "acc_regex",
            "answer_tps_regex",
            "total_tps_regex",
            "total_time_regex",
            "metric",
            "objective",
            "objective_dir",
            "constraint"
        ]
    );
    assert_eq!(
        section(&long, "Search"),
        [
            "dry_run",
            "search_space_file",
            "no_builtin_space",
            "request_params",
            "search_policy",
            "no_prune",
            "passes",
            "max_trials",
            "budget",
            "seed",
            "no_refine",
            "prune_confidence",
            "prune_after",
            "max_eval_runs"
        ]
    );
    assert_eq!(section(&long, "Ports and files")[0], "port");
    assert!(section(&long, "Ports and files").contains(&"server_log_dir".to_string()));
    assert_eq!(
        section(&long, "Output and checks"),
        ["headless", "selftest", "selftest_notify"]
    );
    assert!(section(&long, "Notifications").contains(&"webhook_url".to_string()));
    assert_eq!(section(&long, "Email")[0], "smtp_host");
    assert_eq!(
        section(&long, "Heartbeats"),
        ["heartbeat_trials", "heartbeat_interval_s"]
    );
    // Every flag is under some heading of --help.
    let all: usize = [
        "Options",
        "Service",
        "Eval",
        "Search",
        "Ports and files",
        "Output and checks",
        "Notifications",
        "Email",
        "Heartbeats",
        "Slots",
    ]
    .iter()
    .map(|h| section(&long, h).len())
    .sum();
    // Plus the eleven search flags that are new since main (policy, early
    // stopping, passes, budget, the pooled search's --budget and --seed,
    // refinement, request parameters), the four
    // of the goal
    // (--metric, --objective, --objective_dir, --constraint) and the seven
    // of the slots (--gpus, --slots, --gpus_per_trial, --gpu_env,
    // --port_stride, --port_env, --launcher).
    assert_eq!(
        all,
        MAIN_FLAGS.len() + MAIN_FLAGS_OTHER.len() + 2 + 11 + 4 + 7,
        "{long}"
    );
    // --help: four or more example command lines, the live screen's keys
    // (from its key table) and the files written.
    let examples = long
        .split("Examples:\n")
        .nth(1)
        .unwrap()
        .split("\n\nKeys")
        .next()
        .unwrap();
    let commands = examples
        .lines()
        .filter(|l| l.trim_start().starts_with("autotune "))
        .count();
    assert!(commands >= 4, "{examples}");
    for key in [
        "  s ",
        "skip the running trial",
        "  a ",
        "abort the run",
        "  p ",
        "  q ",
        "  f ",
        "Tab",
        "  ? ",
    ] {
        assert!(
            long.split("Keys of the live screen:")
                .nth(1)
                .unwrap()
                .contains(key),
            "{key:?} missing"
        );
    }
    for file in [
        "tune_results.jsonl ",
        "best_params.json ",
        "tune_status.json ",
        "tune_server_logs/ ",
    ] {
        assert!(
            long.split("Files written").nth(1).unwrap().contains(file),
            "{file:?} missing"
        );
    }
    // -h stays short: the rare concerns are left to --help, which it names.
    assert!(short.lines().count() * 3 < long.lines().count());
    assert!(!short.contains("--smtp_host") && long.contains("--smtp_host"));
    assert!(
        short.contains("`autotune --help` shows every flag"),
        "{short}"
    );
}

/// Runs autotune with stdout on a pipe whose reader is already gone.
fn with_closed_stdout(mut c: std::process::Command) -> std::process::Output {
    let (r, w) = std::io::pipe().unwrap();
    drop(r);
    c.stdout(w).output().unwrap()
}

fn assert_quiet_exit(o: &std::process::Output, what: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert_eq!(o.status.code(), Some(0), "{what}: {err}");
}

#[test]
fn a_reader_that_went_away_is_no_panic() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    for args in [
        &["--dry_run"][..],
        &["--help"],
        &["-h"],
        &["--selftest", "--eval_cmd", "bash eval_local.sh"],
    ] {
        let mut c = std::process::Command::new(bin());
        c.current_dir(d.path()).args(args);
        assert_quiet_exit(&with_closed_stdout(c), &format!("{args:?}"));
    }
    // `| head -1` itself, through a shell.
    let o = std::process::Command::new("bash")
        .current_dir(d.path())
        .arg("-c")
        .arg(format!(
            "set -o pipefail; '{b}' --dry_run | head -1 && '{b}' --help | head -1",
            b = bin()
        ))
        .output()
        .unwrap();
    assert_quiet_exit(&o, "| head -1");
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("Plan for "));
    // A headless run whose output nobody reads goes on to the end.
    let sp = space(d.path(), r#"{"MAX_MODEL_LEN": ["1024", "2048"]}"#);
    let mut c = tune_cmd(d.path(), free_port());
    c.args(space_args(&sp));
    let o = with_closed_stdout(c);
    assert_quiet_exit(&o, "headless");
    assert_eq!(records(&d.path().join("tune_results.jsonl")).len(), 2);
}

#[test]
fn out_of_range_durations_and_thresholds_exit_2_naming_the_flag() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let ev = ["--eval_cmd", "bash eval_local.sh", "--dry_run"];
    for flag in [
        "--startup_timeout",
        "--eval_timeout",
        "--cooldown",
        "--kill_grace_s",
        "--port_busy_wait_s",
        "--heartbeat_interval_s",
    ] {
        for bad in ["1e30", "inf", "NaN", "-1"] {
            let arg = format!("{flag}={bad}");
            let mut a = ev.to_vec();
            a.push(&arg);
            let o = autotune(d.path(), &a);
            assert_usage_error(&o, flag);
            assert!(!text(&o).contains("panicked"), "{}", text(&o));
        }
    }
    for bad in ["1.5", "-0.1", "NaN", "inf"] {
        let arg = format!("--accuracy_threshold={bad}");
        let mut a = ev.to_vec();
        a.push(&arg);
        assert_usage_error(&autotune(d.path(), &a), "--accuracy_threshold");
        assert_usage_error(
            &autotune(d.path(), &["browse", &arg]),
            "--accuracy_threshold",
        );
    }
    // The watchdog's delay too, before anything is started.
    let o = autotune(
        d.path(),
        &["watchdog", "--restart_delay", "1e30", "--", "--dry_run"],
    );
    assert_usage_error(&o, "--restart_delay");
    assert!(!d.path().join("autotune.watchdog.pid").exists());
    // The bounds themselves are fine.
    let mut a = ev.to_vec();
    a.extend(["--accuracy_threshold", "1", "--cooldown", "0"]);
    assert!(autotune(d.path(), &a).status.success());
}

#[test]
fn search_space_names_must_be_environment_names() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let run = |json: &str| {
        std::fs::write(d.path().join("names.json"), json).unwrap();
        autotune(
            d.path(),
            &[
                "--dry_run",
                "--eval_cmd",
                "bash eval_local.sh",
                "--search_space_file",
                "names.json",
            ],
        )
    };
    for (json, key) in [
        (r#"{"A=B": [1]}"#, r#""A=B""#),
        (r#"{"1X-Y": [1]}"#, r#""1X-Y""#),
        (r#"{"OK": [1], "A\u0000B": [1]}"#, r#""A\0B""#),
        (r#"{"PORT": [8001]}"#, r#""PORT""#),
    ] {
        let o = run(json);
        assert_usage_error(&o, "names.json");
        assert_usage_error(&o, key);
        assert!(o.stdout.is_empty(), "{}", text(&o));
    }
    // PATH and LD_* are allowed, with a warning.
    let o = run(r#"{"PATH": ["/usr/bin:/bin"], "LD_LIBRARY_PATH": ["/opt/lib"]}"#);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning") && err.contains("PATH") && err.contains("LD_LIBRARY_PATH"),
        "{err}"
    );
    assert_eq!(plan_row(&String::from_utf8_lossy(&o.stdout), "PATH").0, 1);
    // The best file's names become environment variables as well.
    std::fs::write(d.path().join("best_params.json"), r#"{"A=B": "1"}"#).unwrap();
    let o = autotune(d.path(), &["--dry_run", "--eval_cmd", "bash eval_local.sh"]);
    assert_usage_error(&o, "best_params.json");
    assert_usage_error(&o, r#""A=B""#);
}

#[test]
fn term_dumb_falls_back_to_line_output() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_MODEL_LEN": ["1024"]}"#);
    let exit_file = d.path().join("exit_code");
    // A real terminal (tmux) whose TERM says it cannot draw.
    let cmd = format!(
        "env TERM=dumb SIM_STARTUP_S=0.2 SIM_EVAL_S=0.02 SIM_EVAL_FAIL_RATE=0 '{}' --repo '{}' --port {} \
         --eval_cmd 'bash eval_local.sh' --eval_runs 1 --no_builtin_space --search_space_file '{}'; \
         echo $? > '{}'; sleep 60",
        bin(),
        d.path().display(),
        free_port(),
        sp.display(),
        exit_file.display()
    );
    let t = Tmux::start("dumb", 100, 30, &cmd, Duration::from_secs(60));
    let s = t.wait_screen("done: every group explored");
    // Headless lines, not the live screen's boxes.
    assert!(s.contains("MAX_MODEL_LEN=1024 start (trial_00001"), "{s}");
    assert!(!s.contains('│') && !s.contains("s skip"), "{s}");
    let code = wait_for("the exit code", Duration::from_secs(30), || {
        std::fs::read_to_string(&exit_file).ok()
    });
    assert_eq!(code.trim(), "0");
}

fn out_has_done(o: &std::process::Output) -> bool {
    String::from_utf8_lossy(&o.stdout).contains("done: every group explored")
}

/// The winner's changed parameters as the outcome prints them.
fn winner_lines(out: &str) -> Vec<String> {
    out.lines()
        .skip_while(|l| !l.contains("winner (changed from the start):"))
        .skip(1)
        .take_while(|l| l.contains("(was "))
        .map(|l| l.trim().to_string())
        .collect()
}

/// With noise, close calls re-measure the incumbent and some challengers
/// are not taken: whatever is announced as the best along the way, the
/// status file's best at the end is the configuration in best_params.json.
#[test]
fn the_announced_best_is_where_a_noisy_search_ends() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("demo");
    let o = std::process::Command::new(bin())
        .current_dir(d.path())
        .env("SIM_STARTUP_S", "0.05")
        .env("SIM_EVAL_S", "0.01")
        .env("SIM_EVAL_FAIL_RATE", "0")
        .env("SIM_NOISE", "3")
        .args([
            "demo",
            "--headless",
            "--eval_runs",
            "3",
            "--gpus",
            "2",
            "--dir",
        ])
        .arg(&dir)
        .args(["--port", &free_port().to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("best_params.json")).unwrap())
            .unwrap();
    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("tune_status.json")).unwrap())
            .unwrap();
    assert_eq!(status["best_record"]["params"], best, "{}", text(&o));
    // And `autotune best` on the results file names it too.
    let b = std::process::Command::new(bin())
        .args(["best", "--format", "json"])
        .arg(dir.join("tune_results.jsonl"))
        .output()
        .unwrap();
    assert!(b.status.success(), "{}", text(&b));
    let named: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    assert_eq!(named, best);
}

#[test]
fn demo_again_on_a_finished_run_resumes_and_ends_at_once() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("demo");
    let demo_in = |dir: &std::path::Path| {
        std::process::Command::new(bin())
            .current_dir(d.path())
            .env("SIM_STARTUP_S", "0.1")
            .env("SIM_EVAL_S", "0.01")
            .env("SIM_EVAL_FAIL_RATE", "0")
            .env("SIM_NOISE", "0")
            .args(["demo", "--headless", "--eval_runs", "1", "--dir"])
            .arg(dir)
            .args(["--port", &free_port().to_string()])
            .output()
            .unwrap()
    };
    let demo = || demo_in(&dir);
    let first = demo();
    assert!(first.status.success(), "{}", text(&first));
    let results = dir.join("tune_results.jsonl");
    // Each group's first value is the winner of the group before, reused
    // within the run; later passes and joint moves add records.
    let recorded = records(&results).len();
    assert!(recorded > 17, "{}", text(&first));
    assert!(out_has_done(&first), "{}", text(&first));
    let best = std::fs::read_to_string(dir.join("best_params.json")).unwrap();
    let out1 = String::from_utf8_lossy(&first.stdout).into_owned();
    let winner = winner_lines(&out1);
    assert!(!winner.is_empty(), "{out1}");

    // Again on the same directory: every trial is reused, none is run, and
    // the same winner is announced.
    let second = demo();
    assert!(second.status.success(), "{}", text(&second));
    let out2 = String::from_utf8_lossy(&second.stdout).into_owned();
    // Every trial of the whole search (one pass, later passes, joint
    // moves) is reused; the counts are of records, what the file holds
    // (a record may be handed out in several groups: never counted twice).
    let reused = out2.matches(" reused: ").count();
    assert!(reused > 55, "{out2}");
    assert!(reused > recorded, "{out2}");
    assert!(
        out2.contains(&format!(
            "holds a finished run: its {recorded} records cover every trial of the search"
        )),
        "{out2}"
    );
    assert!(
        out2.contains(&format!(", {recorded} reused (already measured)")),
        "{out2}"
    );
    assert!(!out2.contains(" start (trial_"), "{out2}");
    assert!(!out2.contains("new best"), "{out2}");
    assert_eq!(records(&results).len(), recorded);
    assert_eq!(winner_lines(&out2), winner, "{out2}");
    assert_eq!(
        std::fs::read_to_string(dir.join("best_params.json")).unwrap(),
        best
    );
    // What the demo offers for another pass (the tuner itself, which like
    // auto_tune.py starts from best_params.json) plans a new pass from the
    // winner, most of it not yet run.
    assert!(
        out2.contains("for another pass starting from that winner: autotune --repo"),
        "{out2}"
    );
    let o = autotune(
        &dir,
        &[
            "--dry_run",
            "--eval_cmd",
            "bash eval_local.sh",
            "--skip_existing",
        ],
    );
    let plan = String::from_utf8_lossy(&o.stdout);
    assert!(plan.contains("Base:   best_params.json"), "{plan}");
    assert!(!plan.contains("the run is finished"), "{plan}");

    // A run stopped after 8 records: the resume counts those 8 (not the
    // trials they stand for), and the outcome never reuses more.
    let part = d.path().join("part");
    std::fs::create_dir(&part).unwrap();
    let head: String = std::fs::read_to_string(&results)
        .unwrap()
        .lines()
        .take(8)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(part.join("tune_results.jsonl"), head).unwrap();
    let third = demo_in(&part);
    assert!(third.status.success(), "{}", text(&third));
    let out3 = String::from_utf8_lossy(&third.stdout).into_owned();
    assert!(
        out3.contains(&format!(
            "resuming the run in {}: its results file holds 8 records; the search reuses 8 of them",
            part.display()
        )),
        "{out3}"
    );
    assert!(out3.contains(", 8 reused (already measured)"), "{out3}");
}

/// The help says what is true (issue #23): the demo's length, a
/// --constraint value that reads as one placeholder, and what --selftest
/// needs, checked against what it does.
#[test]
fn help_says_what_is_true_of_the_demo_constraint_and_selftest() {
    let d = tempfile::tempdir().unwrap();
    let o = autotune(d.path(), &["--help"]);
    assert!(o.status.success(), "{}", text(&o));
    let help = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        help.contains("# Try it first: a simulated service, the live screen, one to two minutes."),
        "{help}"
    );
    assert!(!help.contains("about a minute"), "{help}");
    assert!(help.contains("--constraint <BOUND>"), "{help}");
    assert!(
        help.contains("A bound the winner's mean must meet: 'NAME>=X' or 'NAME<=X'"),
        "{help}"
    );
    assert!(!help.contains("<NAME>=X"), "{help}");
    for sub in ["best", "report"] {
        let o = autotune(d.path(), &[sub, "--help"]);
        let h = String::from_utf8_lossy(&o.stdout);
        assert!(h.contains("--constraint <BOUND>"), "{sub}: {h}");
    }
    assert!(
        help.contains("The scripts of --server_cmd and --eval_cmd must exist in --repo"),
        "{help}"
    );
    assert!(!help.contains("without a service"), "{help}");
    // And so it is: without run_model.sh the selftest stops there.
    let o = autotune(d.path(), &["--selftest", "--eval_cmd", "true"]);
    assert_usage_error(&o, "run_model.sh not found");
}

/// `autotune report` on a file that is not there says which and that it
/// does not exist, not a bare OS error (issue #23).
#[test]
fn report_best_and_browse_on_a_missing_file_say_which_and_that_it_does_not_exist() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("nope.jsonl");
    let o = std::process::Command::new(bin())
        .arg("report")
        .arg(&missing)
        .output()
        .unwrap();
    assert_usage_error(
        &o,
        &format!("the results file {} does not exist", missing.display()),
    );
    assert!(!text(&o).contains("os error"), "{}", text(&o));
    // The default file of --repo too.
    let o = autotune(d.path(), &["report"]);
    assert_usage_error(&o, "tune_results.jsonl does not exist");
    // `best` and `browse` name the file and the problem too, exit 2.
    let o = std::process::Command::new(bin())
        .arg("best")
        .arg(&missing)
        .output()
        .unwrap();
    assert_usage_error(
        &o,
        &format!("the file {} does not exist", missing.display()),
    );
    assert!(!text(&o).contains("os error"), "{}", text(&o));
    let o = autotune(d.path(), &["best"]);
    assert_usage_error(&o, "no configuration found: neither");
    let o = std::process::Command::new(bin())
        .arg("browse")
        .arg(&missing)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_usage_error(&o, &format!("{}: no such results file", missing.display()));
    assert!(!text(&o).contains("os error"), "{}", text(&o));
}

/// A notification kind misspelt in `--email_kinds` is a mistake to say,
/// not a kind that silently never comes.
#[test]
fn an_unknown_email_kind_is_refused_naming_the_known_ones() {
    let d = tempfile::tempdir().unwrap();
    let o = autotune(
        d.path(),
        &[
            "--dry_run",
            "--smtp_host",
            "127.0.0.1",
            "--smtp_to",
            "a@example.com",
            "--smtp_from",
            "t@example.com",
            "--email_kinds",
            "best,bset",
        ],
    );
    assert_usage_error(&o, "--email_kinds: unknown kind \"bset\"");
    assert_usage_error(&o, "trial_done");
    let o = autotune(
        d.path(),
        &[
            "--dry_run",
            "--smtp_host",
            "127.0.0.1",
            "--smtp_to",
            "a@example.com",
            "--smtp_from",
            "t@example.com",
            "--email_kinds",
            "best, done",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
}
