//! The engine loop's own behaviour (slots, pause, skip, abort) through the
//! simulated executor: the real loop, real files, no processes, and a
//! paused clock, so what happens between events is decided by the events,
//! not by how busy the machine is. Process handling itself keeps its
//! real-process tests (tests/slots.rs, tests/crashproof.rs).

use std::path::Path;
use std::sync::Arc;

use autotune::exec::Simulated;
use autotune::{Command, Cost, Event, EventSink, Noise, Outcome, Status};
use clap::Parser;
use tokio::sync::mpsc;

use crate::cli::Cli;

/// Runs the demo's search in `dir` with `extra` flags on the simulated
/// executor (simulated seconds on tokio's paused clock); `on` sees every
/// event and may answer with a command. Returns the events and the outcome.
async fn drive(
    dir: &Path,
    extra: &[&str],
    noise: Noise,
    mut on: impl FnMut(&Event) -> Option<Command>,
) -> (Vec<Arc<Event>>, Outcome) {
    std::fs::write(dir.join("run_model.sh"), "exit 1\n").unwrap();
    std::fs::write(dir.join("eval_local.py"), "print(1)\n").unwrap();
    let mut args = vec!["autotune", "--repo", dir.to_str().unwrap(), "--headless"];
    args.extend_from_slice(extra);
    let cli = Cli::try_parse_from(args).unwrap();
    let cfg = crate::cli::to_config(&cli.tune).unwrap();
    let mut sink = EventSink::new();
    let mut rx = sink.subscribe();
    let (tx, crx) = mpsc::unbounded_channel();
    let exec = Arc::new(
        Simulated::new(
            Simulated::landscape("demo").unwrap(),
            noise,
            Cost::default(),
            3,
        )
        .with_time_scale(1.0),
    );
    let engine = tokio::spawn(autotune::run_with(cfg, exec, "t".into(), sink, crx));
    let mut seen = Vec::new();
    while let Some(e) = rx.recv().await {
        if let Some(c) = on(&e) {
            tx.send(c).unwrap();
        }
        seen.push(e);
    }
    let summary = engine.await.unwrap();
    (seen, summary.outcome.clone())
}

fn records(dir: &Path) -> Vec<autotune::Record> {
    autotune::store::load_results(&dir.join("tune_results.jsonl"))
        .unwrap()
        .records
}

fn started(events: &[Arc<Event>]) -> usize {
    events
        .iter()
        .filter(|e| matches!(***e, Event::TrialStarted { .. }))
        .count()
}

#[tokio::test(start_paused = true)]
async fn a_skipped_trial_is_recorded_skipped_and_the_search_goes_on() {
    let d = tempfile::tempdir().unwrap();
    let mut n = 0;
    let (events, outcome) = drive(d.path(), &[], Noise::NONE, |e| {
        if let Event::Phase {
            phase: autotune::TrialPhase::Ready { .. },
            ..
        } = e
        {
            n += 1;
            // The second trial that serves is skipped during its eval.
            return (n == 2).then_some(Command::Skip);
        }
        None
    })
    .await;
    assert_eq!(outcome, Outcome::Done);
    let recs = records(d.path());
    let skipped: Vec<_> = recs
        .iter()
        .filter(|r| r.status == Status::Skipped)
        .collect();
    assert_eq!(skipped.len(), 1, "one skipped record");
    assert_eq!(recs.len(), started(&events), "every started trial recorded");
    assert!(recs.len() > 10, "the search went on after the skip");
}

#[tokio::test(start_paused = true)]
async fn pause_starts_nothing_until_resumed() {
    let d = tempfile::tempdir().unwrap();
    let mut paused = false;
    let mut finished_while_paused = 0;
    let mut started_while_paused = 0;
    let (events, outcome) = drive(d.path(), &[], Noise::NONE, |e| match e {
        Event::TrialStarted { ordinal: 3, .. } if !paused => {
            paused = true;
            Some(Command::TogglePause)
        }
        Event::TrialStarted { .. } if paused => {
            started_while_paused += 1;
            None
        }
        Event::TrialFinished { .. } if paused => {
            finished_while_paused += 1;
            // The running trial finished; wait a while (simulated), then
            // resume: nothing may have started in between.
            (finished_while_paused == 1).then(|| {
                paused = false;
                Command::TogglePause
            })
        }
        _ => None,
    })
    .await;
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(started_while_paused, 0, "a trial started while paused");
    assert_eq!(finished_while_paused, 1, "the running trial finished");
    let pauses: Vec<bool> = events
        .iter()
        .filter_map(|e| match **e {
            Event::Paused(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(pauses.first(), Some(&true));
    assert_eq!(pauses.last(), Some(&false));
    assert!(
        records(d.path()).len() > 10,
        "the search went on after resuming"
    );
}

#[tokio::test(start_paused = true)]
async fn abort_records_nothing_for_the_running_trial() {
    let d = tempfile::tempdir().unwrap();
    let mut n = 0;
    let (events, outcome) = drive(d.path(), &[], Noise::NONE, |e| match e {
        Event::TrialStarted { .. } => {
            n += 1;
            (n == 4).then_some(Command::Abort)
        }
        _ => None,
    })
    .await;
    assert_eq!(outcome, Outcome::Aborted);
    let recs = records(d.path());
    assert_eq!(
        started(&events),
        recs.len() + 1,
        "the aborted trial is not recorded"
    );
    assert!(recs.iter().all(|r| r.status != Status::Skipped));
}

#[tokio::test(start_paused = true)]
async fn slots_run_trials_together_and_choose_as_one_slot_does() {
    let one = tempfile::tempdir().unwrap();
    let (_, o1) = drive(one.path(), &[], Noise::NONE, |_| None).await;
    let three = tempfile::tempdir().unwrap();
    let mut running = 0usize;
    let mut most = 0usize;
    let (_, o3) = drive(three.path(), &["--slots", "3"], Noise::NONE, |e| {
        match e {
            Event::TrialStarted { .. } => running += 1,
            Event::TrialFinished { .. } => running -= 1,
            _ => {}
        }
        most = most.max(running);
        None
    })
    .await;
    assert_eq!((o1, o3), (Outcome::Done, Outcome::Done));
    assert_eq!(most, 3, "three trials ran at once");
    let best = |d: &Path| autotune::store::read_best(&d.join("best_params.json")).unwrap();
    assert_eq!(best(one.path()), best(three.path()));
    let slots: std::collections::BTreeSet<usize> = records(three.path())
        .iter()
        .filter_map(autotune::record_slot)
        .collect();
    assert_eq!(slots.len(), 3, "records name their slots: {slots:?}");
}

/// The benches' noise: 2 % tok/s, 0.003 accuracy per run.
const NOISY: Noise = Noise {
    tps_rel_sd: 0.02,
    tps_abs_sd: 0.0,
    acc_abs_sd: 0.003,
    start_rel_sd: 0.0,
    start_acc_sd: 0.0,
};

/// Every progress the engine published, in order.
fn progress(events: &[Arc<Event>]) -> Vec<autotune::Progress> {
    events
        .iter()
        .filter_map(|e| match **e {
            Event::Progress(ref p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// The progress a run publishes never runs backwards, is bounded by the
/// search's budget from the first trial on, counts the time left down from
/// the trial times seen, and ends at 100 % with the trials the run started.
/// A budget of GPU time (pooled) bounds the trials by what they cost: a
/// pruned trial gives back what it did not run, so the trials' bound may
/// grow; then the bound that holds is the budget.
fn check_progress(events: &[Arc<Event>], trials: usize, slots: usize) {
    check_counts(events);
    let ps = progress(events);
    assert!(!ps.is_empty(), "no progress published");
    let first_bound = ps[0].trials_at_most;
    for w in ps.windows(2) {
        assert!(w[1].fraction >= w[0].fraction, "ran backwards: {w:?}");
        assert!(w[1].trials >= w[0].trials, "{w:?}");
        match w[1].budget_nominal_s {
            Some(b) => assert_eq!(Some(b), w[0].budget_nominal_s, "{w:?}"),
            None => assert!(w[1].trials_at_most <= first_bound, "the bound grew: {w:?}"),
        }
    }
    let last = ps.last().unwrap();
    assert_eq!(last.fraction, 1.0, "{last:?}");
    assert_eq!(last.eta_s, Some(0.0), "{last:?}");
    assert_eq!(last.trials, trials, "{last:?}");
    // Before the end: the time left is the budget's trials left at the
    // mean trial time seen, over the slots; never negative, never absent
    // once a trial ended.
    let timed = ps.iter().skip_while(|p| p.eta_s.is_none());
    for p in timed {
        let eta = p.eta_s.unwrap();
        assert!(eta >= 0.0, "{p:?}");
        let at_most = p.gpu_s_at_most.unwrap();
        assert!(at_most >= p.gpu_s, "{p:?}");
        if p.trials < p.trials_at_most {
            assert!(eta > 0.0, "time left while trials are left: {p:?}");
            assert!(
                eta <= (at_most - p.gpu_s) / slots as f64 + 1e-6,
                "the time left is the work left over the slots: {p:?}"
            );
        }
    }
}

/// The engine counts each trial once, before it tells its end: the
/// progress said before a trial's end holds it, with every trial ended
/// before by its status, and each record of the results file it handed out
/// as `reused`, once.
fn check_counts(events: &[Arc<Event>]) {
    let mut want = autotune::Counts::default();
    let mut reused: Vec<*const autotune::Record> = Vec::new();
    let mut ran: Vec<*const autotune::Record> = Vec::new();
    let mut last: Option<&autotune::Progress> = None;
    for e in events {
        match &**e {
            Event::Progress(p) => last = Some(p),
            Event::TrialReused { record, .. } => {
                let at = Arc::as_ptr(record);
                if !ran.contains(&at) && !reused.contains(&at) {
                    reused.push(at);
                    want.add(autotune::Counts::REUSED);
                }
            }
            Event::TrialFinished { record, .. } => {
                ran.push(Arc::as_ptr(record));
                want.add(&record.status.to_string());
                let said = last.map(|p| &p.counts);
                assert_eq!(said, Some(&want), "counted before its end is told");
            }
            _ => {}
        }
    }
    let end = last.expect("a progress").counts.clone();
    assert_eq!(end, want, "the last progress holds every trial");
}

#[tokio::test(start_paused = true)]
async fn a_resumed_run_counts_each_reused_record_once() {
    let d = tempfile::tempdir().unwrap();
    let (_, outcome) = drive(d.path(), &[], NOISY, |_| None).await;
    assert_eq!(outcome, Outcome::Done);
    let file = records(d.path()).len();
    let (events, outcome) = drive(d.path(), &["--skip_existing"], NOISY, |_| None).await;
    assert_eq!(outcome, Outcome::Done);
    check_counts(&events);
    let handed = events
        .iter()
        .filter(|e| matches!(***e, Event::TrialReused { .. }))
        .count();
    let counts = progress(&events).last().unwrap().counts.clone();
    let reused = counts.get(autotune::Counts::REUSED);
    // Later passes hand the same records out again: counted once each.
    assert!(reused > 0 && reused <= file, "{counts:?} of {file}");
    assert!(handed > reused, "no record was handed out twice: {handed}");
}

#[tokio::test(start_paused = true)]
async fn progress_never_runs_backwards_and_ends_at_the_trials_run() {
    for slots in ["1", "3"] {
        let d = tempfile::tempdir().unwrap();
        let (events, outcome) = drive(d.path(), &["--slots", slots], NOISY, |_| None).await;
        assert_eq!(outcome, Outcome::Done);
        check_progress(&events, started(&events), slots.parse().unwrap());
        // The noise-aware search's bound is its budget: 2.5x one pass (54 trials).
        let first = &progress(&events)[0];
        assert_eq!(first.trials_at_most, 135, "{first:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_pooled_search_reports_its_progress_in_gpu_time() {
    let d = tempfile::tempdir().unwrap();
    let args = [
        "--search_policy",
        "pooled",
        "--budget",
        "30t",
        "--slots",
        "2",
    ];
    let (events, outcome) = drive(d.path(), &args, NOISY, |_| None).await;
    assert_eq!(outcome, Outcome::Done);
    check_progress(&events, started(&events), 2);
    let ps = progress(&events);
    assert!(ps.iter().all(|p| p.budget_nominal_s == Some(30.0 * 150.0)));
}

#[tokio::test(start_paused = true)]
async fn the_pooled_search_tells_what_its_model_believes_around_its_final_choice() {
    let d = tempfile::tempdir().unwrap();
    let args = ["--search_policy", "pooled", "--budget", "30t"];
    let (events, outcome) = drive(d.path(), &args, NOISY, |_| None).await;
    assert_eq!(outcome, Outcome::Done);
    let last = events
        .iter()
        .rev()
        .find_map(|e| match &**e {
            Event::Beliefs(b) => Some(b.clone()),
            _ => None,
        })
        .expect("beliefs told");
    let best = events
        .iter()
        .find_map(|e| match &**e {
            Event::RunFinished { best, .. } => Some(best.clone()),
            _ => None,
        })
        .unwrap();
    // Around the choice the run ended on: each parameter's winner value is
    // the winner's.
    assert!(last.params.len() > 10);
    for p in &last.params {
        assert_eq!(Some(&p.winner), best.get(&p.name), "{}", p.name);
    }
    // Coordinate ascent has no model to tell.
    let d = tempfile::tempdir().unwrap();
    let (events, _) = drive(d.path(), &["--passes", "1"], NOISY, |_| None).await;
    assert!(!events.iter().any(|e| matches!(**e, Event::Beliefs(_))));
}
