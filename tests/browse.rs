//! `autotune browse` in a real terminal (tmux): the old tool's file, a record
//! appended while open, a torn last line, a file that appears later, q.

mod common;

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use common::*;

fn open(name: &str, args: &str, exit_file: &std::path::Path) -> Tmux {
    let cmd = format!(
        "'{}' browse {args}; echo $? > '{}'; sleep 30",
        bin(),
        exit_file.display()
    );
    Tmux::start(name, 140, 40, &cmd, Duration::from_secs(10))
}

#[test]
fn browse_the_old_tools_file_follow_appends_and_quit() {
    let d = tempfile::tempdir().unwrap();
    copy_fixture(d.path());
    let results = d.path().join("tune_results.jsonl");
    let exit_file = d.path().join("exit");
    let t = open(
        "browse",
        &format!("--repo '{}'", d.path().display()),
        &exit_file,
    );
    let s = t.wait_screen("18 trials");
    assert!(
        s.contains("ok 8")
            && s.contains("partial 8")
            && s.contains("timeout 1")
            && s.contains("crashed 1"),
        "{s}"
    );
    assert!(
        s.contains("best (acc ≥ 0.88): #6 VLLM_MAX_NUM_BATCHED_TOKENS=196608 5109.9"),
        "{s}"
    );
    // A record appended while open shows up, selection kept on the last row.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&results)
        .unwrap();
    writeln!(f, "{{\"ts\": \"2026-11-28T05:00:00\", \"trial_key\": \"X\", \"status\": \"ok\", \"param_under_test\": \"NEW_KNOB\", \"params\": {{\"NEW_KNOB\": \"77\"}}, \"avg_accuracy\": 0.9, \"avg_total_tps\": 6000.5, \"eval_runs\": [], \"eval_ok_n\": 0}}").unwrap();
    let s = t.wait_screen("19 trials");
    assert!(s.contains("NEW_KNOB") && s.contains("6000.5"), "{s}");
    // A torn last line is reported in the header, not fatal.
    write!(f, "{{\"ts\": \"2026-11-28T05:01:00\", \"status\": \"o").unwrap();
    drop(f);
    t.wait_screen("a torn last line");
    // Enter: the detail of the selected (last) trial; Esc back; q quits 0.
    t.keys("Enter");
    t.wait_screen("NEW_KNOB = 77");
    t.keys("Escape");
    // Back on the table (a q sent right after Esc would read as Alt-q).
    t.wait_screen("trials (19 of 19)");
    t.keys("q");
    let code = wait_for("exit", Duration::from_secs(5), || {
        std::fs::read_to_string(&exit_file).ok()
    });
    assert_eq!(code.trim(), "0");
    // The file was never written by browse.
    assert!(
        std::fs::read_to_string(&results)
            .unwrap()
            .ends_with("\"status\": \"o")
    );
}

#[test]
fn missing_file_is_an_error_unless_followed() {
    let d = tempfile::tempdir().unwrap();
    let o = Command::new(bin())
        .args(["browse"])
        .arg(d.path().join("none.jsonl"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("none.jsonl"));
    // --follow waits for it and shows it when it appears.
    let exit_file = d.path().join("exit");
    let t = open(
        "browse2",
        &format!("--follow '{}'", d.path().join("late.jsonl").display()),
        &exit_file,
    );
    t.wait_screen("waiting for the file to appear");
    std::fs::write(
        d.path().join("late.jsonl"),
        "{\"status\": \"crashed\", \"param_under_test\": \"A\", \"params\": {\"A\": \"1\"}}\n",
    )
    .unwrap();
    t.wait_screen("1 trials  crashed 1");
    t.keys("q");
    let code = wait_for("exit", Duration::from_secs(5), || {
        std::fs::read_to_string(&exit_file).ok()
    });
    assert_eq!(code.trim(), "0");
}
