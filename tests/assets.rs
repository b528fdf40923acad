//! The helper scripts in assets/.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

#[test]
fn auto_tune_sh_maps_variables_and_warns_about_open_secrets() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let script = d.path().join("auto_tune.sh");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/auto_tune.sh"),
        &script,
    )
    .unwrap();
    std::fs::write(
        d.path().join("tune_secrets.sh"),
        "export TUNE_PORT_BUSY_RETRIES=7\n",
    )
    .unwrap();
    std::fs::set_permissions(
        d.path().join("tune_secrets.sh"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48"]}"#);
    let o = std::process::Command::new("bash")
        .arg(&script)
        .args([
            "--dry_run",
            "--eval_cmd",
            "bash eval_local.sh",
            "--no_builtin_space",
        ])
        .env("AUTOTUNE", bin())
        .env("SEARCH_SPACE_FILE", &sp)
        .env("RESULTS", "run2.jsonl")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("tune_secrets.sh is readable by group or others"),
        "{err}"
    );
    // The dry run's plan table: two trials in all.
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.split_whitespace().eq(["total", "2"])),
        "{}",
        text(&o)
    );
    // Mode 600: no warning.
    std::fs::set_permissions(
        d.path().join("tune_secrets.sh"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let o = std::process::Command::new("bash")
        .arg(&script)
        .args(["--dry_run", "--eval_cmd", "bash eval_local.sh"])
        .env("AUTOTUNE", bin())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("readable"));
}

#[test]
fn auto_tune_sh_honours_results() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let script = d.path().join("auto_tune.sh");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/auto_tune.sh"),
        &script,
    )
    .unwrap();
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64"]}"#);
    let o = std::process::Command::new("bash")
        .arg(&script)
        .args([
            "--eval_cmd",
            "bash eval_local.sh",
            "--no_builtin_space",
            "--eval_runs",
            "1",
            "--port",
            &free_port().to_string(),
        ])
        .env("AUTOTUNE", bin())
        .env("SEARCH_SPACE_FILE", &sp)
        .env("RESULTS", "tune_results_run2.jsonl")
        .env("SIM_STARTUP_S", "0.1")
        .env("SIM_EVAL_S", "0")
        .env("SIM_EVAL_FAIL_RATE", "0")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(records(&d.path().join("tune_results_run2.jsonl")).len(), 1);
    assert!(!d.path().join("tune_results.jsonl").exists());
}
