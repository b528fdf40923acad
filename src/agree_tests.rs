//! One rule for the winner, checked across every front end: a noisy full
//! default search runs through the real engine loop with the simulated
//! executor, and the live state, the headless lines and outcome, the status
//! file, `best_params.json`, `autotune best`, the report and browse must all
//! name the configuration the search chose; a resumed run's start line
//! names it too.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use autotune::exec::Simulated;
use autotune::{Cost, Event, EventSink, Noise, Params, StatusWriter, trial_key};
use clap::Parser;
use tokio::sync::mpsc;

use crate::cli::Cli;
use crate::headless::LineLog;
use crate::ui::browse::model::Model;
use crate::ui::browse::state::BrowseState;
use crate::ui::state::LiveState as State;

/// What one run showed.
struct Seen {
    summary: Arc<autotune::RunSummary>,
    live: State,
    lines: Vec<String>,
    started: Option<Arc<autotune::choice::Choice>>,
}

fn tune(dir: &Path, seed: u64) -> Seen {
    let mut cli = Cli::try_parse_from([
        "autotune",
        "--repo",
        dir.to_str().unwrap(),
        "--skip_existing",
        "--headless",
    ])
    .unwrap();
    // As `autotune demo` resumes: from the defaults, reusing every record
    // (started from best_params.json it would be a new search).
    cli.tune.start_from_defaults = true;
    let cfg = crate::cli::to_config(&cli.tune).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut sink = EventSink::new();
        let status = tokio::spawn(
            StatusWriter::new(cfg.status_file.clone())
                .with_goal(cfg.goal.clone())
                .run(sink.subscribe(), |e| panic!("status file: {e}")),
        );
        let mut rx = sink.subscribe();
        let front = tokio::spawn(async move {
            let mut live = State::new(Instant::now());
            let mut log = LineLog::new(1);
            let mut lines = Vec::new();
            let mut started = None;
            while let Some(e) = rx.recv().await {
                if let Event::RunStarted { choice, .. } = &*e {
                    started = choice.clone();
                }
                live.update(&e, Instant::now());
                lines.extend(log.line(&e));
            }
            (live, lines, started)
        });
        let (_commands, crx) = mpsc::unbounded_channel();
        let noise = Noise {
            tps_rel_sd: 0.02,
            tps_abs_sd: 0.0,
            acc_abs_sd: 0.003,
            start_rel_sd: 0.0,
            start_acc_sd: 0.0,
        };
        let exec = Arc::new(Simulated::new(
            Simulated::landscape("demo").unwrap(),
            noise,
            Cost::default(),
            seed,
        ));
        let summary = autotune::run_with(cfg, exec, "agree".into(), sink, crx).await;
        status.await.unwrap();
        let (live, mut lines, started) = front.await.unwrap();
        lines.extend(summary.lines());
        Seen {
            summary,
            live,
            lines,
            started,
        }
    })
}

fn changes(p: &Params) -> Vec<String> {
    let start = autotune::default_params();
    p.iter()
        .filter(|(k, v)| start.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

#[test]
fn every_front_end_names_the_search_choice() {
    let mut refused_elsewhere = 0;
    for seed in 1..=4 {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("run_model.sh"), "exit 1\n").unwrap();
        std::fs::write(d.path().join("eval_local.py"), "print(1)\n").unwrap();
        let run = tune(d.path(), seed);
        assert_eq!(run.summary.outcome, autotune::Outcome::Done, "seed {seed}");
        let winner = run.summary.best.clone();
        let key = trial_key(&winner);
        let seed_says = |what: &str| format!("seed {seed}: {what} names another configuration");

        // Live state: the winner, and the best table's chosen row.
        assert_eq!(run.live.winner(), Some(&winner), "{}", seed_says("live"));
        assert_eq!(
            run.live.chosen().map(|r| r.trial_key.clone()),
            Some(key.clone()),
            "{}",
            seed_says("the live best table")
        );
        // Headless: the outcome lists each change of the winner.
        for c in changes(&winner) {
            assert!(
                run.lines.iter().any(|l| l.contains(&c)),
                "{}: {c} missing",
                seed_says("headless")
            );
        }
        // best_params.json and the status file.
        let results = d.path().join("tune_results.jsonl");
        let best_file = autotune::store::read_best(&d.path().join("best_params.json"))
            .unwrap()
            .unwrap();
        assert_eq!(best_file, winner, "{}", seed_says("best_params.json"));
        let status: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(d.path().join("tune_status.json")).unwrap(),
        )
        .unwrap();
        let status_best: Params = serde_json::from_value(status["best_params"].clone()).unwrap();
        assert_eq!(status_best, winner, "{}", seed_says("tune_status.json"));
        assert_eq!(
            status["best_record"]["trial_key"].as_str(),
            Some(key.as_str()),
            "{}",
            seed_says("tune_status.json's best_record")
        );
        // `autotune best` from the results file (best_params.json aside).
        std::fs::rename(
            d.path().join("best_params.json"),
            d.path().join("best_params.kept"),
        )
        .unwrap();
        let goal = autotune::Goal::default_for(0.88);
        let (best, _) = crate::best_cmd::from_results(&results, &goal).unwrap();
        assert_eq!(best, winner, "{}", seed_says("autotune best"));
        // The report's winner.
        let loaded = crate::report::read_records(&results).unwrap();
        let rep = crate::report::model::build(
            &results,
            loaded.records.clone(),
            0,
            None,
            crate::report::model::Criteria::of_goal(&goal),
        );
        assert_eq!(rep.summary.best, winner, "{}", seed_says("the report"));
        std::fs::rename(
            d.path().join("best_params.kept"),
            d.path().join("best_params.json"),
        )
        .unwrap();
        // Browse's best (and so `b` and the copy).
        let browse = BrowseState::new(Model::load(&results).unwrap(), 0.88);
        let row = browse.best().expect("browse names a best");
        let rec = browse.model.record(&browse.model.rows[row]).unwrap();
        assert_eq!(rec.params, winner, "{}", seed_says("browse"));
        // A record faster by its mean that the search refused: the case
        // the rule is for (counted, so the test shows it was exercised).
        let chosen_tps = rec.avg_total_tps().unwrap_or(0.0);
        if loaded.records.iter().any(|r| {
            r.trial_key != key
                && goal.qualifies(r)
                && r.avg_total_tps().is_some_and(|t| t > chosen_tps)
        }) {
            refused_elsewhere += 1;
        }

        // Resumed: the start line names the choice (its trial), and the
        // run ends where it was.
        let again = tune(d.path(), seed);
        let c = again.started.expect("a resumed run starts from a choice");
        assert_eq!(c.params, winner, "{}", seed_says("the resumed start"));
        let first = &again.lines[0];
        assert!(
            first.contains(&format!("(trial {})", c.index.unwrap())),
            "{}: {first}",
            seed_says("the resumed start line")
        );
        assert_eq!(again.summary.best, winner, "seed {seed}: resumed run moved");
    }
    assert!(
        refused_elsewhere > 0,
        "no seed had a faster record the search refused: the test shows nothing"
    );
}
