//! The live screen in a real terminal (tmux): keys reach the engine, the
//! screen survives a resize, abort leaves nothing running, q exits 0.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

fn phase(d: &Path) -> String {
    std::fs::read_to_string(d.join("tune_status.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["phase"].as_str().map(String::from))
        .unwrap_or_default()
}

#[test]
fn live_screen_in_tmux_skip_resize_abort_quit() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(
        d.path(),
        r#"{"MAX_NEW_TOKENS": ["64", "48", "80", "32"], "OUTPUT_MAX_SENTENCES": ["6", "3", "4"]}"#,
    );
    let tag = format!("AT_TEST_TUI_{}", std::process::id());
    let exit_file = d.path().join("exit_code");
    let cmd = format!(
        "env {tag}=1 SIM_STARTUP_S=0.3 SIM_EVAL_S=0.6 SIM_EVAL_FAIL_RATE=0 '{}' --repo '{}' --port {} --eval_cmd 'bash eval_local.sh' \
         --eval_runs 2 --no_builtin_space --search_space_file '{}'; echo $? > '{}'; sleep 30",
        bin(),
        d.path().display(),
        free_port(),
        sp.display(),
        exit_file.display()
    );
    let t = Tmux::start("tui", 140, 40, &cmd, Duration::from_secs(20));
    // The parameter under test and the log tail are on screen.
    t.wait_screen("MAX_NEW_TOKENS = ");
    let s = t.wait_screen("Uvicorn running");
    assert!(s.contains("best so far") && s.contains("s skip"), "{s}");
    // s: the running trial is recorded skipped.
    wait_for("a trial in eval", Duration::from_secs(20), || {
        t.screen().contains("eval run").then_some(())
    });
    t.keys("s");
    wait_for("a skipped record", Duration::from_secs(10), || {
        records(&d.path().join("tune_results.jsonl"))
            .iter()
            .any(|r| r["status"] == "skipped")
            .then_some(())
    });
    // A throughput figure reaches the best table, with its 95 % half-width
    // (the noise-aware search pools two runs or more), accuracy's too
    // where the panel has room.
    let figures = regex::Regex::new(r"^│0\.\d{4}(±0\.\d{4})?\s+\d{3,5}\.\d±\d+\.\d").unwrap();
    wait_for(
        "a throughput figure in the best table",
        Duration::from_secs(30),
        || {
            let s = t.screen();
            let lines: Vec<Vec<char>> = s.lines().map(|l| l.chars().collect()).collect();
            let (row, col) = lines.iter().enumerate().find_map(|(i, l)| {
                let text: String = l.iter().collect();
                let byte = text.find("best so far")?;
                let col = text[..byte].chars().count();
                // Back to the panel's left border.
                Some((i, l[..col].iter().rposition(|c| *c == '╭')?))
            })?;
            let first_row: String = lines.get(row + 2)?.iter().skip(col).collect();
            figures.is_match(&first_row).then_some(())
        },
    );
    // Resize to 80x24: still drawn.
    t.cmd(&["resize-window", "-t", "s", "-x", "80", "-y", "24"]);
    wait_for("the small layout", Duration::from_secs(5), || {
        let s = t.screen();
        (s.lines().count() <= 24 && s.contains("current trial") && s.contains("s skip"))
            .then_some(())
    });
    // a, y: aborted, nothing left running.
    t.keys("a");
    t.wait_screen("Abort the run?");
    t.keys("y");
    wait_for("status aborted", Duration::from_secs(15), || {
        (phase(d.path()) == "aborted").then_some(())
    });
    t.wait_screen("ABORTED");
    wait_for("no processes left", Duration::from_secs(5), || {
        procs_with_env(&tag)
            .iter()
            .all(|p| {
                // The tuner itself (still showing the screen) and the shell are fine.
                let c = std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default();
                !c.contains("sim-")
            })
            .then_some(())
    });
    // q exits 0 and restores the terminal.
    t.keys("q");
    let code = wait_for("exit", Duration::from_secs(10), || {
        std::fs::read_to_string(&exit_file).ok()
    });
    assert_eq!(code.trim(), "0");
}

#[test]
fn a_killed_terminal_stops_the_run_cleanly() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48"]}"#);
    let tag = format!("AT_TEST_HUP_{}", std::process::id());
    let cmd = format!(
        "env {tag}=1 SIM_STARTUP_S=0.2 SIM_EVAL_S=60 '{}' --repo '{}' --port {} --eval_cmd 'bash eval_local.sh' --eval_runs 1 \
         --no_builtin_space --search_space_file '{}'",
        bin(),
        d.path().display(),
        free_port(),
        sp.display()
    );
    let t = Tmux::start("hup", 100, 30, &cmd, Duration::from_secs(20));
    wait_for("the eval", Duration::from_secs(20), || {
        std::fs::read_to_string(d.path().join("tune_status.json"))
            .ok()?
            .contains("eval 1/1")
            .then_some(())
    });
    // The terminal goes away (tmux killed, ssh dropped): SIGHUP, dead pty.
    t.cmd(&["kill-server"]);
    wait_for("status interrupted", Duration::from_secs(15), || {
        (phase(d.path()) == "interrupted").then_some(())
    });
    wait_for("nothing left running", Duration::from_secs(10), || {
        procs_with_env(&tag).is_empty().then_some(())
    });
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("tune_status.json")).unwrap())
            .unwrap();
    assert_eq!(s["signal"], 1);
}

#[test]
fn the_end_of_a_run_shows_the_outcome_and_e_copies_the_winner() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48"]}"#);
    let cmd = format!(
        "env SIM_STARTUP_S=0.2 SIM_EVAL_S=0.05 SIM_EVAL_FAIL_RATE=0 '{}' --repo '{}' --port {} --eval_cmd 'bash eval_local.sh' \
         --eval_runs 2 --no_builtin_space --search_space_file '{}'; sleep 30",
        bin(),
        d.path().display(),
        free_port(),
        sp.display(),
    );
    let t = Tmux::start("end", 140, 40, &cmd, Duration::from_secs(30));
    // tmux takes OSC 52 from the program into its paste buffer.
    t.cmd(&["set-option", "-g", "set-clipboard", "on"]);
    let s = t.wait_screen("search finished");
    assert!(
        s.contains("[DONE]") && s.contains("winner") && s.contains("gain:"),
        "{s}"
    );
    // Done: the footer offers no skip, abort or pause; the clock stopped.
    let footer = s.lines().last().unwrap_or("");
    assert!(
        !footer.contains("skip") && !footer.contains("pause") && footer.contains("e export"),
        "{footer}"
    );
    t.keys("e");
    t.wait_screen("copied the winner to the clipboard");
    let buffer = wait_for("the paste buffer", Duration::from_secs(10), || {
        let b = t.cmd(&["show-buffer"]);
        b.contains("export MAX_NEW_TOKENS=").then_some(b)
    });
    assert!(buffer.lines().all(|l| l.starts_with("export ")), "{buffer}");
}

#[test]
fn four_slots_on_the_live_screen_pick_a_slot_and_skip_only_its_trial() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(
        d.path(),
        r#"{"MAX_NEW_TOKENS": ["64", "48", "80", "32", "96"]}"#,
    );
    let tag = format!("AT_TEST_TUI_SLOTS_{}", std::process::id());
    let cmd = format!(
        "env {tag}=1 SIM_STARTUP_S=0.5 SIM_EVAL_S=3 SIM_EVAL_FAIL_RATE=0 '{}' --repo '{}' --port {} --eval_cmd 'bash eval_local.sh' \
         --eval_runs 3 --slots 4 --no_builtin_space --search_space_file '{}'; sleep 30",
        bin(),
        d.path().display(),
        free_port(),
        sp.display(),
    );
    let t = Tmux::start("slots", 140, 40, &cmd, Duration::from_secs(20));
    // A row per slot; slot 2's trial running.
    let s = wait_for("slot 2 running", Duration::from_secs(30), || {
        let s = t.screen();
        s.lines()
            .any(|l| l.contains("│  2 ") && l.contains("MAX_NEW_TOKENS = "))
            .then_some(s)
    });
    assert!(
        s.contains("slots: ") && s.contains("util ") && s.contains("S skip all"),
        "{s}"
    );
    // 2 picks slot 2: its trial panel and its log; s skips that trial only.
    t.keys("2");
    let s = t.wait_screen("╭ slot 2 ");
    let picked = s
        .lines()
        .find(|l| l.contains("▶ 2"))
        .unwrap_or_else(|| panic!("slot 2 not marked:\n{s}"))
        .to_string();
    t.keys("s");
    let skipped = wait_for("a skipped record", Duration::from_secs(20), || {
        records(&d.path().join("tune_results.jsonl"))
            .into_iter()
            .find(|r| r["status"] == "skipped")
    });
    assert_eq!(skipped["slot"], 2, "{skipped}");
    let value = skipped["params"]["MAX_NEW_TOKENS"].as_str().unwrap();
    assert!(
        picked.contains(&format!("= {value} ")),
        "{picked} vs {skipped}"
    );
    // The other slots ran on: the run ends with one skipped record only.
    wait_for("the end", Duration::from_secs(60), || {
        t.screen().contains("search finished").then_some(())
    });
    let recs = records(&d.path().join("tune_results.jsonl"));
    assert_eq!(
        recs.iter().filter(|r| r["status"] == "skipped").count(),
        1,
        "{recs:?}"
    );
    assert!(recs.iter().any(|r| r["status"] == "ok"), "{recs:?}");
    t.keys("q");
    wait_for("nothing left running", Duration::from_secs(10), || {
        procs_with_env(&tag)
            .iter()
            .all(|p| {
                let c = std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default();
                !c.contains("sim-")
            })
            .then_some(())
    });
}
