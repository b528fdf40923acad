//! Helpers of the slot tests (tests/slots.rs, tests/slurm.rs): the demo's
//! full search with the fast knobs, and reading slots and devices back from
//! headless lines and service logs.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use crate::common::{bin, sim_repo};

/// An autotune run of the simulated service in `dir` (laid out here) with
/// the fast, exact knobs: no noise, no flaky evals, short start-up.
pub fn fast_run(dir: &Path, port: u16) -> Command {
    sim_repo(dir);
    let mut c = Command::new(bin());
    c.current_dir(dir)
        .env("SIM_STARTUP_S", "0.2")
        .env("SIM_EVAL_S", "0.02")
        .env("SIM_EVAL_FAIL_RATE", "0")
        .env("SIM_NOISE", "0")
        .args(["--headless", "--repo"])
        .arg(dir)
        .args(["--port", &port.to_string()])
        .args(["--eval_cmd", "bash eval_local.sh", "--eval_runs", "2"])
        .args(["--startup_timeout", "3", "--eval_timeout", "10"])
        .args(["--kill_grace_s", "2", "--skip_existing"]);
    c
}

/// What a run chose and measured: the best params file, and every record's
/// key with its status (order-free: slots finish in any order). A trial
/// stopped early (`pruned`) counts as measured like an `ok` one, figures
/// aside: early stopping judges a trial against what was known when it
/// started, and with several slots less is known, so a losing trial may
/// run to its end in one run and be stopped in the other; the choices
/// must not differ.
pub fn choices(dir: &Path) -> (serde_json::Value, BTreeSet<String>) {
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("best_params.json")).unwrap())
            .unwrap();
    let recs = crate::common::records(&dir.join("tune_results.jsonl"))
        .iter()
        .map(|r| {
            let status = match r["status"].as_str().unwrap() {
                "ok" | "pruned" => "measured",
                other => other,
            };
            format!("{} {status}", r["trial_key"].as_str().unwrap())
        })
        .collect();
    (best, recs)
}

/// The value a service log shows for `CUDA_VISIBLE_DEVICES` (the simulated
/// service logs it at start).
pub fn logged_devices(log: &Path) -> Option<String> {
    std::fs::read_to_string(log)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("[sim] CUDA_VISIBLE_DEVICES="))
        .map(str::to_string)
}

/// Replays the headless lines: for every trial start, the devices of the
/// trials running at that moment, by slot. Panics when two running trials
/// share a slot or a device. Returns the most trials seen running at once.
pub fn check_concurrent_devices(out: &str) -> usize {
    // ordinal -> (slot, devices)
    let mut running: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut most = 0;
    for line in out.lines() {
        let Some(tag_end) = line.find(']') else {
            continue;
        };
        let Some(tag_start) = line.find('[') else {
            continue;
        };
        let ordinal = line[tag_start + 1..tag_end].trim().to_string();
        let rest = &line[tag_end + 1..];
        let Some(slot) = rest.strip_prefix(" slot ") else {
            continue;
        };
        let slot: String = slot.chars().take_while(char::is_ascii_digit).collect();
        if rest.contains(" start (trial_") {
            let dev = rest
                .rsplit_once("devices ")
                .map(|(_, d)| d.trim_end_matches(')').to_string())
                .unwrap_or_else(|| panic!("no devices in {line:?}"));
            for (o, (s, d)) in &running {
                assert_ne!(s, &slot, "slot {slot} given to {ordinal} while {o} runs");
                assert_ne!(d, &dev, "device {dev} given to {ordinal} while {o} runs");
            }
            running.insert(ordinal, (slot, dev));
            most = most.max(running.len());
        } else if !rest.contains("   eval ")
            && !rest.contains(" ready after ")
            && !rest.contains(" port busy")
        {
            // The trial's record line: it ended.
            running.remove(&ordinal);
        }
    }
    assert!(running.is_empty(), "trials never ended: {running:?}");
    most
}
