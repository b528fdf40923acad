//! The pooled search through the simulated executor: deterministic,
//! replayable, exact without noise, never under the bar, never starting a
//! blamed failure again.

use super::*;
use crate::engine::choice::{SearchSetup, replay};
use crate::engine::explore::SearchPlan;
use crate::engine::landscape::{demo_truth, interacting_truth, separable_truth};
use crate::engine::search::{SearcherKind, default_params};
use crate::engine::simulate::{Cost, Noise, Truth, simulate};

const BAR: f64 = 0.88;
const NOISE: Noise = Noise {
    tps_rel_sd: 0.02,
    tps_abs_sd: 0.0,
    acc_abs_sd: 0.003,
    start_rel_sd: 0.0,
    start_acc_sd: 0.0,
};

/// The plain pass's GPU time over the built-in space (55 trials of 5 runs).
fn one_x() -> f64 {
    PooledSetup::plain_pass_s(55, 5)
}

fn setup(budget_s: f64, seed: u64, batch: usize) -> PooledSetup {
    PooledSetup {
        budget_s,
        seed,
        batch,
        prune: true,
    }
}

fn searcher(s: PooledSetup) -> Pooled {
    Pooled::new(
        &SearchSpace::builtin(),
        &default_params(),
        Goal::default_for(BAR),
        false,
        s,
        [],
    )
}

fn truth(l: fn(&Params) -> Truth, p: &Params) -> (f64, f64) {
    match l(p) {
        Truth::Serves { accuracy, tps } => (accuracy, tps),
        _ => (0.0, 0.0),
    }
}

#[test]
fn same_records_and_seed_make_the_same_steps() {
    let run = |seed| {
        simulate(
            searcher(setup(one_x(), seed, 2)),
            &separable_truth,
            3,
            NOISE,
            Cost::default(),
            5,
        )
    };
    let (a, b) = (run(1), run(1));
    let keys = |r: &crate::engine::simulate::SimReport| {
        r.records
            .iter()
            .map(|x| x.trial_key.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&a), keys(&b));
    assert_eq!(a.best, b.best);
    // The budget holds: within a trial of the plain pass's GPU time.
    assert!(a.gpu_s <= one_x() + 300.0, "{}", a.gpu_s);
}

#[test]
fn a_replay_of_the_records_reaches_the_same_choice() {
    let s = setup(one_x() * 0.6, 3, 3);
    let rep = simulate(searcher(s), &demo_truth, 3, NOISE, Cost::default(), 11);
    let goal = Goal::default_for(BAR);
    let setup = SearchSetup {
        space: SearchSpace::builtin(),
        base: default_params(),
        eval_runs: 5,
        policy: None,
        search: SearchPlan::default(),
        goal,
        searcher: SearcherKind::Pooled(s),
    };
    let (params, complete) = replay(&setup, &rep.records);
    assert!(complete);
    assert_eq!(params, rep.best);
}

#[test]
fn without_noise_it_finds_the_brute_force_best() {
    for (name, l) in [
        ("separable", separable_truth as fn(&Params) -> Truth),
        ("demo", demo_truth),
    ] {
        let (best, bp) = crate::engine::landscape::brute_force(&l, BAR);
        let rep = simulate(
            searcher(setup(one_x(), 0, 1)),
            &l,
            3,
            Noise::NONE,
            Cost::default(),
            0,
        );
        let (a, t) = truth(l, &rep.best);
        assert!(a >= BAR, "{name}: under the bar: {a}");
        assert!(
            t >= best * (1.0 - 1e-9),
            "{name}: {t} < {best}\nchose {:?}\nbest {:?}",
            rep.best,
            bp
        );
    }
}

#[test]
fn without_noise_it_never_ends_under_the_bar() {
    for seed in 0..3 {
        let rep = simulate(
            searcher(setup(one_x(), seed, 1)),
            &interacting_truth,
            3,
            Noise::NONE,
            Cost::default(),
            0,
        );
        let (a, _) = truth(interacting_truth, &rep.best);
        assert!(a >= BAR, "seed {seed}: {a}");
    }
}

#[test]
fn a_blamed_failure_is_not_started_again() {
    let rep = simulate(
        searcher(setup(one_x(), 0, 1)),
        &demo_truth,
        3,
        NOISE,
        Cost::default(),
        2,
    );
    let count = |k: &str, v: &str| {
        rep.records
            .iter()
            .filter(|r| r.params.get(k).map(String::as_str) == Some(v))
            .count()
    };
    // Each tried once, in the screening, in the base's start-up context.
    assert_eq!(count("GPU_MEMORY_UTILIZATION", "0.99"), 1);
    assert_eq!(count("VLLM_MAX_NUM_SEQS", "1536"), 1);
    assert!(rep.predicted <= 1, "{}", rep.predicted);
}

#[test]
fn the_optimiser_agrees_with_enumeration() {
    // Random coefficients over a small space: the exact optimiser and a
    // plain enumeration choose alike.
    let space = SearchSpace::from_json_str(
        r#"{"GPU_MEMORY_UTILIZATION": ["0.97", "0.98"], "MAX_MODEL_LEN": ["768", "1024", "2048"],
            "MAX_NEW_TOKENS": ["32", "64"], "A": ["1", "2", "3"], "B": ["x", "y"]}"#,
    )
    .unwrap();
    let mut space = space;
    space.request = ["MAX_NEW_TOKENS", "A", "B"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let base = default_params();
    let coding = Coding::new(&space, &base);
    let mut rng = Gauss(fastrand::Rng::with_seed(4));
    for _ in 0..50 {
        let t: Vec<f64> = (0..coding.dim).map(|_| rng.next()).collect();
        let a: Vec<f64> = (0..coding.dim).map(|_| rng.next()).collect();
        let allowed = |c: &[u16]| c[0] == 0 || c[1] != 2;
        let got = optimise::optimise(&coding, &t, &a, 0.5, &allowed);
        let mut want: Option<(f64, Levels)> = None;
        let sizes: Vec<usize> = coding.levels.iter().map(Vec::len).collect();
        let total: usize = sizes.iter().product();
        for mut i in 0..total {
            let c: Levels = sizes
                .iter()
                .map(|s| {
                    let l = i % s;
                    i /= s;
                    l as u16
                })
                .collect();
            let f = coding.features(&c);
            let (ft, fa) = (
                f.iter().map(|k| t[*k]).sum::<f64>(),
                f.iter().map(|k| a[*k]).sum::<f64>(),
            );
            if fa >= 0.5 && allowed(&c) && want.as_ref().is_none_or(|w| ft > w.0) {
                want = Some((ft, c));
            }
        }
        assert_eq!(got.map(|b| b.levels), want.map(|w| w.1));
    }
}

#[test]
fn a_trial_surely_under_the_bar_is_stopped_after_two_runs_unless_no_prune() {
    let run = |prune| {
        let s = PooledSetup {
            prune,
            ..setup(one_x(), 2, 1)
        };
        simulate(searcher(s), &demo_truth, 3, NOISE, Cost::default(), 4)
    };
    let pruned = |r: &crate::engine::simulate::SimReport| {
        r.records
            .iter()
            .filter(|x| x.status == Status::Pruned)
            .cloned()
            .collect::<Vec<_>>()
    };
    let with = run(true);
    let stopped = pruned(&with);
    assert!(!stopped.is_empty(), "nothing under the bar was stopped");
    let runs = |r: &Record| {
        r.eval
            .as_ref()
            .and_then(|e| e.eval_runs.as_ref())
            .map_or(0, Vec::len)
    };
    assert!(stopped.iter().any(|r| runs(r) == 2), "none stopped early");
    for r in &stopped {
        // Stopped for the bar (never for a leader: the pooled search has
        // none), and under it in truth.
        assert!(runs(r) >= 2 && runs(r) <= 3, "{r:?}");
        let why = r.reason.as_deref().unwrap_or("");
        assert!(why.contains("cannot reach the bar"), "{why}");
        assert!(truth(demo_truth, &r.params).0 < BAR, "{:?}", r.params);
    }
    // What pruning saves buys trials: the same budget runs more of them.
    let without = run(false);
    assert!(pruned(&without).is_empty());
    assert!(
        with.records.len() > without.records.len(),
        "{} vs {}",
        with.records.len(),
        without.records.len()
    );
}

/// The end says what a larger budget would likely add, as the model sees
/// it: on the demo landscape a guess it makes is a configuration other
/// than the winner, and its 95 % interval holds the true difference in
/// most seeds (19 of 25 guesses over 30 seeds at 1x when measured; the
/// predictions run high, see docs/pooled-search.md).
#[test]
fn the_end_says_what_a_larger_budget_would_likely_add() {
    let (mut guesses, mut covered) = (0, 0);
    for seed in 0..12 {
        let rep = simulate(
            searcher(setup(one_x(), seed, 1)),
            &demo_truth,
            3,
            NOISE,
            Cost::default(),
            seed,
        );
        let o = rep.outlook.clone().expect("an outlook at the end");
        let Some(rest) = o.strip_prefix("the model predicts ") else {
            continue;
        };
        let num = |i: usize| -> f64 { rest.split(' ').nth(i).unwrap().parse().unwrap() };
        let (g, h) = (num(0), num(2));
        let what = rest.split(" for ").nth(1).unwrap();
        let what = &what[..what.find(" (uncertified").unwrap()];
        let mut guess = rep.best.clone();
        for kv in what.split(", ") {
            let (k, v) = kv.split_once('=').unwrap();
            guess.insert(k.to_string(), v.to_string());
        }
        assert_ne!(guess, rep.best, "{o}");
        assert!(g - h > 0.0, "a clear gain is said as one: {o}");
        let truth_gain =
            (truth(demo_truth, &guess).1 / truth(demo_truth, &rep.best).1 - 1.0) * 100.0;
        guesses += 1;
        covered += usize::from((truth_gain - g).abs() <= h);
    }
    assert!(guesses >= 6, "{guesses} guesses in 12 seeds");
    assert!(
        covered * 2 >= guesses,
        "{covered} of {guesses} intervals hold the truth"
    );
}

/// What the model believes around the winner holds the truth: refitted to
/// a run's records, each measured level's predicted change against the
/// winner (the others at the winner's values) has the true change within
/// its 95 % interval for most levels, and the parameters come largest
/// effect first.
#[test]
fn the_beliefs_around_the_winner_hold_the_true_changes() {
    let (mut levels, mut held) = (0, 0);
    for seed in 0..3 {
        let rep = simulate(
            searcher(setup(one_x(), seed, 1)),
            &demo_truth,
            3,
            NOISE,
            Cost::default(),
            seed,
        );
        let goal = Goal::default_for(BAR);
        let b = super::beliefs::beliefs(
            &SearchSpace::builtin(),
            &default_params(),
            &goal,
            &rep.records,
            &rep.best,
        )
        .expect("beliefs of a run that served");
        assert!(b.runs > 50);
        let largest = |p: &super::beliefs::ParamBelief| {
            p.levels
                .iter()
                .map(|l| l.objective.value.abs())
                .fold(0.0, f64::max)
        };
        assert!(
            b.params
                .windows(2)
                .all(|w| largest(&w[0]) >= largest(&w[1]))
        );
        let (_, winner_tps) = truth(demo_truth, &rep.best);
        for p in &b.params {
            assert_eq!(rep.best[&p.name], p.winner);
            for l in p.levels.iter().filter(|l| l.runs >= 10) {
                let mut c = rep.best.clone();
                c.insert(p.name.clone(), l.value.clone());
                let Truth::Serves { tps, .. } = demo_truth(&c) else {
                    continue;
                };
                let true_pct = (tps / winner_tps - 1.0) * 100.0;
                levels += 1;
                held += usize::from((true_pct - l.objective.value).abs() <= l.objective.half);
            }
        }
    }
    assert!(levels > 30, "{levels}");
    assert!(
        held * 10 >= levels * 8,
        "{held} of {levels} intervals hold the true change"
    );
}
