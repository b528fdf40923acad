//! `--selftest`: checks parsing of the sample summary, writing and re-reading
//! a record, and the best choice, without a service.

use std::sync::Arc;

use crate::alerts::{self, AlertConfig, Composer, Redactor};
use autotune::Config;
use autotune::pick_best;
use autotune::store::{append_record, load_results};
use autotune::{EvalRun, Measured, Record, summarize};

/// The sample summary of eval_local.py.
pub const SAMPLE: &str = "===== Summary [bonus] =====\n\
Questions: 92, OK: 92, Total time: 1.76s\n\
Accuracy (RougeL-F1 mean, RAW): 0.8815\n\
Tokens (prompt/answer RAW): 1907 / 8554\n\
Throughput RAW: answer_tokens/s=4857.52, (prompt+answer)_tokens/s=5940.43\n";

/// Prints a line; a reader that went away (`| head -1`) must not turn a
/// passing selftest into a panic.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn check(name: &str, ok: bool, failures: &mut Vec<String>) {
    say(&format!(
        "[selftest] {name}: {}",
        if ok { "ok" } else { "FAILED" }
    ));
    if !ok {
        failures.push(name.to_string());
    }
}

/// Runs the checks; exit status 0 when all pass, 2 otherwise.
pub fn run(cfg: &Config, alert_cfg: &AlertConfig, notify: bool) -> i32 {
    let mut failures = Vec::new();
    let f = cfg.patterns.parse(SAMPLE);
    check(
        "parse sample summary",
        f.accuracy == Some(0.8815)
            && f.answer_tps == Some(4857.52)
            && f.total_tps == Some(5940.43)
            && f.total_time_s == Some(1.76),
        &mut failures,
    );
    let run = EvalRun {
        i: 1,
        ok: true,
        measured: Some(Measured {
            returncode: Some(0),
            accuracy: f.accuracy,
            answer_tps: f.answer_tps,
            total_tps: f.total_tps,
            total_time_s: f.total_time_s,
            elapsed_s: Some(0.0),
        }),
        ..Default::default()
    };
    let rec = Record {
        ts: autotune::now_ts(),
        trial_key: "selftest".into(),
        status: autotune::Status::Ok,
        phase: autotune::Phase::Eval,
        params: cfg.base.clone(),
        eval: Some(summarize(vec![run])),
        ..Default::default()
    };
    let round_trip = tempfile::tempdir().ok().and_then(|d| {
        let p = d.path().join("selftest.jsonl");
        append_record(&p, &rec).ok()?;
        let l = load_results(&p).ok()?;
        Some(l.records.len() == 1 && l.records[0].trial_key == "selftest" && l.records[0] == rec)
    });
    check(
        "write and re-read a record",
        round_trip == Some(true),
        &mut failures,
    );
    let mut slow = rec.clone();
    if let Some(s) = slow.eval.as_mut() {
        s.avg_total_tps = Some(100.0);
    }
    let mut inaccurate = rec.clone();
    if let Some(s) = inaccurate.eval.as_mut() {
        s.avg_accuracy = Some(0.0);
        s.avg_total_tps = Some(1e9);
    }
    let group = vec![Arc::new(slow), Arc::new(rec.clone()), Arc::new(inaccurate)];
    let best = pick_best(&group, 0.88);
    check(
        "best choice",
        best.is_some_and(|b| b.avg_total_tps() == Some(5940.43)),
        &mut failures,
    );
    if notify {
        if !alert_cfg.any() {
            check(
                "notify: no channel configured (--webhook_url or --smtp_host)",
                false,
                &mut failures,
            );
        } else {
            let n = Composer::new(alert_cfg.clone()).make(
                crate::alerts::Kind::Heartbeat,
                "selftest heartbeat",
                "autotune --selftest_notify",
                serde_json::json!({"selftest": true}),
            );
            let redact = Redactor::new(alert_cfg.secrets());
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let client = alerts::webhook_client();
            let mut email_cfg = alert_cfg.clone();
            if let Some(e) = email_cfg.email.as_mut() {
                e.kinds = vec![crate::alerts::Kind::Heartbeat];
            }
            for (ch, r) in rt.block_on(alerts::deliver(
                &client,
                &email_cfg,
                &n,
                None,
                &mut |_, _| {},
            )) {
                let name = match &r {
                    Ok(()) => format!("notify via {ch}: delivered"),
                    Err(m) => format!("notify via {ch}: {}", redact.clean(m)),
                };
                check(&name, r.is_ok(), &mut failures);
            }
        }
    }
    if failures.is_empty() {
        say("[selftest] OK");
        0
    } else {
        say(&format!("[selftest] FAILED: {}", failures.join(", ")));
        2
    }
}
