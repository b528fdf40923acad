//! The coordinate search's tests: choices, replays, passes and moves.

mod choices {
    use super::super::*;
    use crate::engine::record::{EvalSummary, Status};
    use crate::engine::search::default_params;

    fn rec(st: &str, acc: f64, tps: f64) -> Arc<Record> {
        Arc::new(Record {
            status: Status::parse(st),
            eval: Some(EvalSummary {
                avg_accuracy: Some(acc),
                avg_total_tps: Some(tps),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    #[test]
    fn best_is_fastest_ok_over_threshold() {
        let g = vec![
            rec("ok", 0.9, 100.0),
            rec("ok", 0.87, 500.0),
            rec("partial", 0.95, 900.0),
            rec("ok", 0.88, 200.0),
            rec("ok", 0.95, 200.0),
        ];
        let b = pick_best(&g, 0.88).unwrap();
        assert_eq!(b.avg_total_tps(), Some(200.0));
        assert!(Arc::ptr_eq(&b, &g[3]), "ties keep the first");
        assert!(pick_best(&g[1..3], 0.88).is_none());
    }

    fn measured(spec: &TrialSpec, tps: f64) -> Arc<Record> {
        Arc::new(Record {
            trial_key: spec.key.clone(),
            params: spec.params.clone(),
            param_under_test: Some(spec.changes.param_text()),
            status: Status::Ok,
            eval: Some(EvalSummary {
                avg_accuracy: Some(0.9),
                avg_total_tps: Some(tps),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    /// Results reported in reverse order give the same choice as in order.
    #[test]
    fn choice_does_not_depend_on_arrival_order() {
        let space =
            SearchSpace::from_json_str(r#"{"A": ["1", "2", "3"], "B": ["x", "y"]}"#).unwrap();
        let run = |reverse: bool| {
            let mut p = Planner::new(
                PlanConfig::plain(space.clone(), Params::new(), 0.5, false),
                [],
            );
            let mut out = Vec::new();
            let mut pending = Vec::new();
            loop {
                match p.step() {
                    Step::Run(s) => pending.push(s),
                    Step::Wait => {
                        if reverse {
                            pending.reverse();
                        }
                        for s in pending.drain(..) {
                            let tps = if matches!(s.changes.single(), Some((_, "2" | "y"))) {
                                10.0
                            } else {
                                5.0
                            };
                            p.record(s.ordinal, measured(&s, tps));
                        }
                    }
                    Step::Decided { base, .. } => out.push(base),
                    Step::Finished => return out,
                    Step::Group { .. } | Step::Reuse { .. } | Step::Predicted { .. } => {}
                }
            }
        };
        let a = run(false);
        assert_eq!(a, run(true));
        assert_eq!(a.last().unwrap()["A"], "2");
        assert_eq!(a.last().unwrap()["B"], "y");
    }

    /// The plan of the built-in space with a base that never changes.
    #[test]
    fn builtin_plan_order_and_reuse() {
        let mut p = Planner::new(
            PlanConfig::plain(SearchSpace::builtin(), default_params(), 0.88, true),
            [],
        );
        assert_eq!(p.estimate(), 55);
        let Step::Group { param, values, .. } = p.step() else {
            panic!("a group first")
        };
        assert_eq!(param, "GPU_MEMORY_UTILIZATION");
        assert_eq!(values, ["0.97", "0.98", "0.99"]);
        let Step::Run(first) = p.step() else {
            panic!("a trial")
        };
        assert_eq!(first.ordinal, 1);
        assert_eq!(first.base_value.as_deref(), Some("0.97"));
        // The same key reported done is reused by the next group's base trial.
        p.record(1, measured(&first, 100.0));
        let Step::Run(s2) = p.step() else { panic!() };
        let Step::Run(s3) = p.step() else { panic!() };
        assert!(matches!(p.step(), Step::Wait));
        p.record(s3.ordinal, measured(&s3, 50.0));
        p.record(s2.ordinal, measured(&s2, 90.0));
        let Step::Decided { changed, .. } = p.step() else {
            panic!()
        };
        assert!(!changed);
        assert!(matches!(p.step(), Step::Group { .. }));
        match p.step() {
            Step::Reuse { spec, record } => {
                assert_eq!(spec.ordinal, 4);
                assert_eq!(record.trial_key, first.key);
            }
            other => panic!("expected reuse, got {other:?}"),
        }
    }
}
mod replay_tests {
    use super::super::*;
    use crate::engine::landscape::demo_truth;
    use crate::engine::search::default_params;
    use crate::engine::simulate::{Cost, Noise, simulate};

    /// Under another goal (minimise latency, throughput at least X), the
    /// planner decides by it: the lowest latency among the trials meeting
    /// the throughput floor, not the fastest.
    #[test]
    fn decides_by_the_goal() {
        use crate::engine::goal::{Constraint, Direction, Goal, Objective, Op};
        use crate::engine::record::{EvalRun, Measured, Status, summarize};
        let goal = Goal {
            objective: Objective {
                name: "p99_ms".into(),
                dir: Direction::Min,
            },
            constraints: vec![Constraint {
                name: "total_tps".into(),
                op: Op::Ge,
                bound: 1000.0,
            }],
        };
        let space =
            SearchSpace::from_json_str(r#"{"SEQS": ["256", "512", "1024", "64"]}"#).unwrap();
        let base: Params = [("SEQS".to_string(), "256".to_string())].into();
        let cfg = PlanConfig {
            policy: Some(NoisePolicy::default()),
            goal,
            ..PlanConfig::plain(space, base, 0.0, false)
        };
        // Latency and throughput both grow with the sequences; 64 is too
        // slow for the floor.
        let figures = |seqs: f64| (seqs * 0.5, seqs * 5.0);
        let mut p = Planner::new(cfg, []);
        let mut chosen = None;
        loop {
            match p.step() {
                Step::Run(spec) => {
                    let seqs: f64 = spec.params["SEQS"].parse().unwrap();
                    let (lat, tps) = figures(seqs);
                    let runs: Vec<EvalRun> = (1..=3)
                        .map(|i| EvalRun {
                            i,
                            ok: true,
                            measured: Some(Measured {
                                total_tps: Some(tps),
                                ..Default::default()
                            }),
                            metrics: Some([("p99_ms".to_string(), lat)].into()),
                            ..Default::default()
                        })
                        .collect();
                    let rec = Record {
                        trial_key: spec.key.clone(),
                        params: spec.params.clone(),
                        status: Status::Ok,
                        eval: Some(summarize(runs)),
                        ..Default::default()
                    };
                    p.record(spec.ordinal, Arc::new(rec));
                }
                Step::Decided { base, .. } => chosen = Some(base),
                Step::Finished => break,
                _ => {}
            }
        }
        // 256 (128 ms, 1280 tok/s) meets the floor with the lowest latency;
        // 64 is faster to answer but under the floor.
        assert_eq!(chosen.unwrap()["SEQS"], "256");
    }

    /// A minimised objective whose figures cross 0 (a latency delta in ms,
    /// run-to-run noise 0.1 ms whatever the figure), searched with the
    /// noise rules: every seed ends on the truly smallest configuration,
    /// and no configuration at least as good as the chosen one is stopped
    /// early, though early stopping does stop others.
    #[test]
    fn a_minimised_objective_around_zero_picks_the_truly_smallest() {
        use crate::engine::goal::{Constraint, Direction, Goal, Objective, Op};
        use crate::engine::simulate::Truth;
        let goal = Goal {
            objective: Objective {
                name: "delta_ms".into(),
                dir: Direction::Min,
            },
            constraints: vec![Constraint {
                name: "accuracy".into(),
                op: Op::Ge,
                bound: 0.5,
            }],
        };
        let space = SearchSpace::from_json_str(
            r#"{"A": ["1", "2", "3", "4", "5"], "B": ["1", "2", "3", "4"]}"#,
        )
        .unwrap();
        let base: Params = [("A", "3"), ("B", "2")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        // Separable, from -1.1 (A=2, B=3) to 2.1 ms; the start is 0.3 ms.
        let delta = |p: &Params| {
            let a = [0.8, -0.4, 0.3, 1.0, 1.6][p["A"].parse::<usize>().unwrap() - 1];
            let b = [0.5, 0.0, -0.7, 0.4][p["B"].parse::<usize>().unwrap() - 1];
            a + b
        };
        let land = |p: &Params| Truth::Serves {
            accuracy: 0.9,
            tps: delta(p),
        };
        let noise = Noise {
            tps_rel_sd: 0.0,
            tps_abs_sd: 0.1,
            acc_abs_sd: 0.003,
            start_rel_sd: 0.0,
            start_acc_sd: 0.0,
        };
        let smallest: Params = [("A", "2"), ("B", "3")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let mut pruned = 0;
        for seed in 0..16 {
            let cfg = PlanConfig {
                policy: Some(NoisePolicy::default()),
                eval_runs: 3,
                search: SearchPlan::default(),
                goal: goal.clone(),
                ..PlanConfig::plain(space.clone(), base.clone(), 0.0, false)
            };
            let rep = simulate(
                Planner::new(cfg, []),
                &land,
                3,
                noise,
                Cost::default(),
                seed,
            );
            assert_eq!(rep.best, smallest, "seed {seed}");
            for r in rep.records.iter().filter(|r| r.status == Status::Pruned) {
                pruned += 1;
                assert!(
                    delta(&r.params) > delta(&smallest),
                    "seed {seed}: {} was stopped: {:?}",
                    r.trial_key,
                    r.reason
                );
            }
        }
        assert!(pruned > 0, "early stopping never judged");
    }

    /// A run resumed over its own records (`--skip_existing`) replays every
    /// step, re-measures of close calls and later passes included, and runs
    /// nothing again.
    #[test]
    fn a_resumed_noisy_run_runs_nothing_again() {
        let cfg = PlanConfig {
            policy: Some(NoisePolicy::default()),
            ..PlanConfig::plain(SearchSpace::builtin(), default_params(), 0.88, true)
        };
        let noise = Noise {
            tps_rel_sd: 0.02,
            tps_abs_sd: 0.0,
            acc_abs_sd: 0.003,
            start_rel_sd: 0.0,
            start_acc_sd: 0.0,
        };
        let land = crate::engine::landscape::separable_truth;
        let first = simulate(
            Planner::new(cfg.clone(), []),
            &land,
            5,
            noise,
            Cost::default(),
            3,
        );
        assert!(
            first
                .records
                .iter()
                .any(|r| r.extra.contains_key("recheck")),
            "this seed re-measures a close call"
        );
        assert!(
            first
                .records
                .iter()
                .any(|r| r.status == crate::engine::record::Status::Pruned)
        );
        let again = simulate(
            Planner::new(cfg, first.records.clone()),
            &land,
            5,
            noise,
            Cost::default(),
            4,
        );
        assert_eq!(
            again.trials,
            0,
            "ran again: {:?}",
            again.records.first().map(|r| &r.trial_key)
        );
        assert_eq!(again.best, first.best);
    }

    /// Without noise the noise-aware policy ends where the plain one does.
    #[test]
    fn noise_free_policy_matches_plain_on_the_demo() {
        let cfg = |policy| PlanConfig {
            policy,
            ..PlanConfig::plain(SearchSpace::builtin(), default_params(), 0.88, false)
        };
        let plain = simulate(
            Planner::new(cfg(None), []),
            &demo_truth,
            5,
            Noise::NONE,
            Cost::default(),
            1,
        );
        let aware = simulate(
            Planner::new(cfg(Some(NoisePolicy::default())), []),
            &demo_truth,
            5,
            Noise::NONE,
            Cost::default(),
            1,
        );
        let diff: Vec<_> = plain
            .best
            .iter()
            .filter(|(k, v)| aware.best.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}: plain {v}, aware {:?}", aware.best.get(k)))
            .collect();
        assert!(diff.is_empty(), "{diff:?}");
        assert!(aware.gpu_s < plain.gpu_s);
    }
}

mod search_tests {
    use super::super::*;
    use crate::engine::simulate::{Cost, Noise, Truth, simulate};

    fn cfg(space: &str, base: &[(&str, &str)], search: SearchPlan) -> PlanConfig {
        // The plain choice: these records carry means, not runs.
        PlanConfig {
            search,
            ..PlanConfig::plain(
                SearchSpace::from_json_str(space).unwrap(),
                base.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                0.5,
                false,
            )
        }
    }

    fn serves(tps: f64) -> Truth {
        Truth::Serves { accuracy: 0.9, tps }
    }

    /// Every step of a whole search, with its records made by `l`.
    fn steps(mut p: Planner, l: &dyn Fn(&Params) -> Truth) -> (Vec<String>, Params) {
        let mut log = Vec::new();
        let mut pending = Vec::new();
        loop {
            match p.step() {
                Step::Group { param, stage, .. } => log.push(format!("group {param} {stage}")),
                Step::Reuse { spec, .. } => log.push(format!("reuse {}", spec.changes.describe())),
                Step::Predicted { spec, .. } => {
                    log.push(format!("predicted {}", spec.changes.describe()))
                }
                Step::Run(s) => {
                    log.push(format!("run {} @{}", s.changes.describe(), s.key));
                    pending.push(s);
                }
                Step::Wait => {
                    for s in pending.drain(..) {
                        let mut r = Record {
                            trial_key: s.key.clone(),
                            params: s.params.clone(),
                            ..Default::default()
                        };
                        match l(&s.params) {
                            Truth::Serves { accuracy, tps } => {
                                r.status = Status::Ok;
                                r.eval = Some(crate::engine::record::EvalSummary {
                                    avg_accuracy: Some(accuracy),
                                    avg_total_tps: Some(tps),
                                    ..Default::default()
                                });
                            }
                            Truth::Crashes => r.status = Status::Crashed,
                            Truth::Hangs => r.status = Status::Timeout,
                        }
                        p.record(s.ordinal, Arc::new(r));
                    }
                }
                Step::Decided { .. } => {}
                Step::Finished => return (log, p.base().clone()),
            }
        }
    }

    fn get<'a>(p: &'a Params, k: &str) -> &'a str {
        p.get(k).map(String::as_str).unwrap_or("")
    }

    /// B's best value depends on A, which is chosen after it: a second pass
    /// moves B, reusing the base it measured, and a third pass changes
    /// nothing.
    #[test]
    fn passes_until_stable_reuse_what_was_measured() {
        let l = |p: &Params| {
            let (a, b) = (get(p, "A"), get(p, "B"));
            serves(match (a, b) {
                ("1", "1") => 100.0,
                ("1", "2") => 95.0,
                ("2", "1") => 110.0,
                ("2", "2") => 130.0,
                _ => 1.0,
            })
        };
        let space = r#"{"B": ["1", "2"], "A": ["1", "2"]}"#;
        let one = steps(
            Planner::new(
                cfg(space, &[("A", "1"), ("B", "1")], SearchPlan::ONE_PASS),
                [],
            ),
            &l,
        );
        assert_eq!((get(&one.1, "A"), get(&one.1, "B")), ("2", "1"));
        let plan = SearchPlan {
            refine: false,
            ..SearchPlan::default()
        };
        let (log, best) = steps(
            Planner::new(cfg(space, &[("A", "1"), ("B", "1")], plan), []),
            &l,
        );
        assert_eq!((get(&best, "A"), get(&best, "B")), ("2", "2"), "{log:#?}");
        let pass2 = log
            .iter()
            .position(|s| s == "group B pass 2")
            .expect("pass 2");
        assert_eq!(log[pass2 + 1], "reuse B=1", "{log:#?}");
        // Nothing measured is run again in a later pass.
        let mut seen = std::collections::HashSet::new();
        for (i, s) in log.iter().enumerate() {
            if let Some((_, t)) = s.split_once(" @") {
                let first = seen.insert(t.to_string());
                assert!(
                    first || i < pass2,
                    "{t} run again in a later pass: {log:#?}"
                );
            }
        }
    }

    /// Only a move of both parameters at once leaves (1, 1): the passes
    /// stop there, the refinement tries the joint move and takes it.
    #[test]
    fn refinement_makes_joint_moves() {
        let l = |p: &Params| {
            serves(match (get(p, "A"), get(p, "B")) {
                ("1", "1") => 100.0,
                ("2", "1") => 99.0,
                ("1", "2") => 98.5,
                ("2", "2") => 120.0,
                _ => 1.0,
            })
        };
        let space = r#"{"A": ["1", "2"], "B": ["1", "2"]}"#;
        let base = [("A", "1"), ("B", "1")];
        let (log, best) = steps(
            Planner::new(cfg(space, &base, SearchPlan::default()), []),
            &l,
        );
        assert!(
            log.iter().any(|s| s.starts_with("run A=2, B=2 ")),
            "{log:#?}"
        );
        assert!(log.contains(&"group refinement refinement 1".to_string()));
        assert_eq!((get(&best, "A"), get(&best, "B")), ("2", "2"), "{log:#?}");
        let plan = SearchPlan {
            refine: false,
            ..SearchPlan::default()
        };
        let (_, stuck) = steps(Planner::new(cfg(space, &base, plan), []), &l);
        assert_eq!((get(&stuck, "A"), get(&stuck, "B")), ("1", "1"));
    }

    /// Later passes show that A and B interact (their probes disagree with
    /// what their values did in pass 1); the passes stop at (2, 2, 2). The
    /// joint move of A and B to (1, 1) is predicted additively at 0.81 of
    /// the base, far below the floor of other joint moves, but between
    /// parameters shown to interact it is tried, and gains. A move as bad
    /// by prediction that involves C (no sign of interaction) is not tried.
    #[test]
    fn joint_moves_of_interacting_parameters_are_tried_beyond_the_floor() {
        let l = |p: &Params| {
            serves(match (get(p, "A"), get(p, "B"), get(p, "C")) {
                ("1", "1", "1") => 100.0,
                ("2", "1", "1") => 110.0,
                ("2", "2", "1") => 120.0,
                ("2", "2", "2") => 130.0,
                ("1", "2", "2") => 117.0,
                ("2", "1", "2") => 117.0,
                ("1", "1", "2") => 140.0,
                _ => 50.0,
            })
        };
        let space = r#"{"A": ["1", "2"], "B": ["1", "2"], "C": ["1", "2"]}"#;
        let base = [("A", "1"), ("B", "1"), ("C", "1")];
        let (log, best) = steps(
            Planner::new(cfg(space, &base, SearchPlan::default()), []),
            &l,
        );
        assert!(
            log.iter().any(|s| s.starts_with("run A=1, B=1 ")),
            "{log:#?}"
        );
        assert!(
            !log.iter().any(|s| s.starts_with("run A=1, C=1 ")),
            "{log:#?}"
        );
        assert_eq!(
            (get(&best, "A"), get(&best, "B"), get(&best, "C")),
            ("1", "1", "2"),
            "{log:#?}"
        );
    }

    /// A gain the accuracy bar refused is paired with the value of another
    /// parameter that gives the accuracy back, even when that parameter's
    /// tok/s effect is the smallest of all (outside the largest effects the
    /// other joint moves pair).
    #[test]
    fn a_trade_against_the_bar_pairs_a_refused_gain_with_accuracy_given_back() {
        let l = |p: &Params| {
            let mut tps = 100.0;
            let mut accuracy = 0.9;
            for i in 1..=10 {
                if get(p, &format!("P{i}")) == "2" {
                    tps *= 1.0 - (4.0 + i as f64) / 100.0;
                }
            }
            if get(p, "A") == "2" {
                tps *= 1.10;
                accuracy -= 0.02;
            }
            if get(p, "B") == "2" {
                tps *= 0.995;
                accuracy += 0.03;
            }
            Truth::Serves { accuracy, tps }
        };
        let mut names: Vec<String> = (1..=10).map(|i| format!("P{i}")).collect();
        names.extend(["A".to_string(), "B".to_string()]);
        let space = format!(
            "{{{}}}",
            names
                .iter()
                .map(|n| format!(r#""{n}": ["1", "2"]"#))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let base: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
        let (log, best) = steps(
            Planner::new(
                PlanConfig {
                    goal: Goal::default_for(0.89),
                    ..cfg(&space, &base, SearchPlan::default())
                },
                [],
            ),
            &l,
        );
        assert!(
            log.iter().any(|s| s.starts_with("run A=2, B=2 ")),
            "{log:#?}"
        );
        assert_eq!((get(&best, "A"), get(&best, "B")), ("2", "2"), "{log:#?}");
        // Not a pairing of everything: no trade gives accuracy back with a
        // value that costs it.
        // (A joint move names its parameters in the space's order: `P3=2, A=2`.)
        assert!(
            !log.iter().any(|s| {
                let what = s.strip_prefix("run ").and_then(|s| s.split(" @").next());
                what.is_some_and(|w| w.contains(", ") && w.contains("A=") && w.contains('P'))
            }),
            "{log:#?}"
        );
    }

    /// The default search (noise-aware, passes, refinement) over `space`
    /// from `base`, noise-free, through the simulated executor.
    fn exact_aware(
        space: SearchSpace,
        base: &[(&str, &str)],
        l: &dyn Fn(&Params) -> Truth,
    ) -> crate::engine::simulate::SimReport {
        let cfg = PlanConfig {
            space,
            base: base
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            goal: Goal::default_for(0.5),
            skip_existing: false,
            eval_runs: 5,
            policy: Some(NoisePolicy::default()),
            search: SearchPlan::default(),
        };
        simulate(Planner::new(cfg, []), l, 5, Noise::NONE, Cost::default(), 0)
    }

    /// A start-up crash is not paid for again in a later pass when only a
    /// parameter read per request moved lower since; it is when that
    /// parameter is not known to be read per request.
    #[test]
    fn a_start_up_crash_is_not_run_again_for_a_request_parameter() {
        let l = |p: &Params| {
            if get(p, "A") == "2" {
                Truth::Crashes
            } else {
                serves(if get(p, "S") == "4" { 105.0 } else { 100.0 })
            }
        };
        let crashes = |request: &[&str]| {
            let mut space =
                SearchSpace::from_json_str(r#"{"A": ["1", "2"], "S": ["6", "4"]}"#).unwrap();
            space.request = request.iter().map(|k| k.to_string()).collect();
            let rep = exact_aware(space, &[("A", "1"), ("S", "6")], &l);
            assert_eq!(get(&rep.best, "S"), "4");
            (
                rep.records
                    .iter()
                    .filter(|r| r.status == Status::Crashed)
                    .count(),
                rep.predicted,
            )
        };
        assert_eq!(crashes(&["S"]), (1, 1));
        assert_eq!(crashes(&[]).0, 2);
    }

    /// A start-up crash of a trial that tested a per-request value (or a
    /// flaky start of settings that served) predicts nothing about other
    /// per-request values: the faster one is still found.
    #[test]
    fn a_crash_of_a_per_request_value_does_not_block_the_others() {
        let l = |p: &Params| {
            if get(p, "SENT") == "4" {
                Truth::Crashes
            } else {
                serves(if get(p, "MNT") == "48" { 120.0 } else { 100.0 })
            }
        };
        let mut space =
            SearchSpace::from_json_str(r#"{"SENT": ["6", "4"], "MNT": ["64", "48"]}"#).unwrap();
        space.request = ["SENT".to_string(), "MNT".to_string()].into();
        let rep = exact_aware(space, &[("SENT", "6"), ("MNT", "64")], &l);
        assert_eq!(get(&rep.best, "MNT"), "48");
        assert_eq!(rep.predicted, 0);
    }

    /// The budget caps the trials started.
    #[test]
    fn the_budget_bounds_trials() {
        let l = |p: &Params| serves(100.0 + get(p, "A").parse::<f64>().unwrap_or(0.0));
        let space = r#"{"A": ["1", "2", "3", "4"], "B": ["1", "2", "3"]}"#;
        let plan = SearchPlan {
            max_trials: Some(4),
            ..SearchPlan::default()
        };
        let p = Planner::new(cfg(space, &[("A", "1"), ("B", "1")], plan), []);
        let (log, _) = steps(p, &l);
        let runs = log.iter().filter(|s| s.starts_with("run")).count();
        assert_eq!(runs, 4, "{log:#?}");
    }

    /// A crash at 0.99 with 131072 tokens predicts one at 0.99 with 196608,
    /// not at 0.98: the first is reported and not run.
    #[test]
    fn an_earlier_crash_predicts_larger_configurations() {
        let l = |p: &Params| {
            if get(p, "GPU_MEMORY_UTILIZATION") == "0.99" {
                Truth::Crashes
            } else {
                serves(100.0 + get(p, "VLLM_MAX_NUM_BATCHED_TOKENS").len() as f64)
            }
        };
        let space = r#"{"GPU_MEMORY_UTILIZATION": ["0.98", "0.99"], "VLLM_MAX_NUM_BATCHED_TOKENS": ["131072", "196608"]}"#;
        let crash = Arc::new(Record {
            status: Status::Crashed,
            params: [
                ("GPU_MEMORY_UTILIZATION", "0.99"),
                ("VLLM_MAX_NUM_BATCHED_TOKENS", "131072"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            trial_key: "old".into(),
            ..Default::default()
        });
        let base = [
            ("GPU_MEMORY_UTILIZATION", "0.98"),
            ("VLLM_MAX_NUM_BATCHED_TOKENS", "196608"),
        ];
        let (log, best) = steps(
            Planner::new(cfg(space, &base, SearchPlan::default()), [crash]),
            &l,
        );
        assert!(
            log.contains(&"predicted GPU_MEMORY_UTILIZATION=0.99".to_string()),
            "{log:#?}"
        );
        assert!(
            !log.iter()
                .any(|s| s.starts_with("run GPU_MEMORY_UTILIZATION=0.99 "))
        );
        assert!(
            log.iter()
                .any(|s| s.starts_with("run GPU_MEMORY_UTILIZATION=0.98 "))
        );
        assert_eq!(get(&best, "GPU_MEMORY_UTILIZATION"), "0.98");
    }

    /// The same measurements give the same steps, noise included.
    #[test]
    fn same_records_same_steps() {
        let run = || {
            let rep = simulate(
                Planner::new(
                    PlanConfig {
                        policy: Some(NoisePolicy::default()),
                        search: SearchPlan::default(),
                        ..PlanConfig::plain(
                            SearchSpace::builtin(),
                            crate::engine::search::default_params(),
                            0.88,
                            false,
                        )
                    },
                    [],
                ),
                &crate::engine::landscape::interacting_truth,
                5,
                Noise {
                    tps_rel_sd: 0.02,
                    tps_abs_sd: 0.0,
                    acc_abs_sd: 0.003,
                    start_rel_sd: 0.0,
                    start_acc_sd: 0.0,
                },
                Cost::default(),
                3,
            );
            (
                rep.records
                    .iter()
                    .map(|r| r.trial_key.clone())
                    .collect::<Vec<_>>(),
                rep.best,
            )
        };
        let a = run();
        assert!(a.0.len() > 55, "beyond one pass: {}", a.0.len());
        assert_eq!(a, run());
    }
}
