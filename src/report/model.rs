//! What the report shows, worked out from a results file: every measured
//! configuration with its spread, the search path group by group (the base
//! at each point and the value chosen), the winner against the start (the
//! engine's own [`RunSummary`]), the failures, and the Pareto front.
//!
//! The objective and the constraints are data ([`Criteria`], made from the
//! engine's [`Goal`]), not code paths: by default mean total tokens/s
//! (maximised) under one accuracy bar, or whatever the run declared.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use super::steps::{Chosen, Stage, Step};
use super::steps::{segments_of, steps_of, steps_of_replay};
use autotune::{
    Direction, EvalRun, Files, Goal, Op, Outcome, Params, Record, RunSummary, Status, ci95,
    mean_sd, summarize_run_for, trial_key,
};

/// A figure measured by eval runs, by the name the goal gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Short name, as a flag would spell it (a built-in one or a declared
    /// `--metric`).
    pub name: String,
    /// What an axis or a table says.
    pub label: String,
    /// Decimals shown.
    pub prec: usize,
}

impl Metric {
    /// The metric called `name`: the built-in ones keep today's labels and
    /// decimals; a declared one is labelled by its name, with 2 decimals
    /// unless its name says it is a count of tokens or requests per second.
    pub fn named(name: &str) -> Metric {
        let (label, prec) = match name {
            "total_tps" => ("total tok/s", 1),
            "answer_tps" => ("answer tok/s", 1),
            "accuracy" => ("accuracy", 4),
            "total_time_s" => ("total time (s)", 2),
            n if n.ends_with("_tps") => (n, 1),
            n => (n, 2),
        };
        Metric {
            name: name.to_string(),
            label: label.to_string(),
            prec,
        }
    }

    /// The figure of one run.
    pub fn run(&self, run: &EvalRun) -> Option<f64> {
        Goal::run_value(run, &self.name)
    }
}

/// Whether the objective is maximised or minimised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sense {
    /// Higher is better.
    Max,
    /// Lower is better (a latency, say).
    Min,
}

/// A limit a configuration must meet to be deployable.
#[derive(Debug, Clone, Copy)]
pub enum Bound {
    /// The metric's mean must be at least this.
    AtLeast(f64),
    /// The metric's mean must be at most this (a p99 latency limit, say).
    AtMost(f64),
}

/// A metric with its limit.
#[derive(Debug, Clone)]
pub struct Constraint {
    /// What is limited.
    pub metric: Metric,
    /// The limit.
    pub bound: Bound,
}

impl Constraint {
    /// Whether `v` meets the limit.
    pub fn holds(&self, v: f64) -> bool {
        match self.bound {
            Bound::AtLeast(x) => v >= x,
            Bound::AtMost(x) => v <= x,
        }
    }

    /// The limit's value.
    pub fn limit(&self) -> f64 {
        match self.bound {
            Bound::AtLeast(x) | Bound::AtMost(x) => x,
        }
    }

    /// Whether higher values of the metric are the good side.
    pub fn higher_is_better(&self) -> bool {
        matches!(self.bound, Bound::AtLeast(_))
    }

    /// `accuracy ≥ 0.88`.
    pub fn text(&self) -> String {
        let op = if self.higher_is_better() {
            "≥"
        } else {
            "≤"
        };
        format!(
            "{} {op} {:.prec$}",
            self.metric.label,
            self.limit(),
            prec = self.metric.prec.min(4)
        )
    }
}

/// What "best" means: one objective, any number of constraints.
#[derive(Debug, Clone)]
pub struct Criteria {
    /// The figure optimised.
    pub objective: Metric,
    /// Its direction.
    pub sense: Sense,
    /// The limits a winner must meet.
    pub constraints: Vec<Constraint>,
    /// The engine's goal these criteria show (the winner's summary is
    /// worked out by it, as the tuner does).
    pub goal: Goal,
}

impl Criteria {
    /// Today's criteria: mean total tokens/s, maximised, with mean accuracy
    /// at least `threshold` (what `--accuracy_threshold` asks).
    #[cfg(test)]
    pub fn accuracy_bar(threshold: f64) -> Self {
        Criteria::of_goal(&Goal::default_for(threshold))
    }

    /// The criteria of a declared goal.
    pub fn of_goal(g: &Goal) -> Self {
        Criteria {
            objective: Metric::named(&g.objective.name),
            sense: match g.objective.dir {
                Direction::Max => Sense::Max,
                Direction::Min => Sense::Min,
            },
            constraints: g
                .constraints
                .iter()
                .map(|c| Constraint {
                    metric: Metric::named(&c.name),
                    bound: match c.op {
                        Op::Ge => Bound::AtLeast(c.bound),
                        Op::Le => Bound::AtMost(c.bound),
                    },
                })
                .collect(),
            goal: g.clone(),
        }
    }

    /// Whether objective value `a` is strictly better than `b`.
    pub fn better(&self, a: f64, b: f64) -> bool {
        match self.sense {
            Sense::Max => a > b,
            Sense::Min => a < b,
        }
    }

    /// Every metric shown: the objective first, then each constraint's.
    pub fn metrics(&self) -> Vec<Metric> {
        let mut m = vec![self.objective.clone()];
        m.extend(self.constraints.iter().map(|c| c.metric.clone()));
        m
    }
}

/// A metric's figures over a configuration's runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    /// Mean over the runs.
    pub mean: f64,
    /// Half-width of the 95 % interval of the mean (2 runs or more).
    pub ci: Option<f64>,
    /// Every run's figure.
    pub runs: Vec<f64>,
}

impl Stat {
    /// The runs' mean and interval; `None` (nothing to draw) when there is
    /// no run, the mean or the interval is not finite (runs whose sum
    /// overflows: the search failed such a trial too), or the mean is
    /// beyond ±1e300, which no axis holds (see [`super::svg::Axis`]).
    fn of(runs: Vec<f64>) -> Option<Stat> {
        let (mean, _) = mean_sd(&runs)?;
        let ci = ci95(&runs);
        if !mean.is_finite() || mean.abs() > 1e300 || ci.is_some_and(|c| !c.is_finite()) {
            return None;
        }
        Some(Stat { mean, ci, runs })
    }
}

/// One configuration (trial key) and everything measured of it.
#[derive(Debug, Clone)]
pub struct Config {
    /// The trial key.
    pub key: String,
    /// Its parameters.
    pub params: Params,
    /// Its records, in file order.
    pub records: Vec<Arc<Record>>,
    /// The figures of [`Criteria::metrics`], in that order: pooled over the
    /// ok runs of its `ok` records, or, when it has none, over the ok runs
    /// of whatever records have figures (a pruned or partial trial).
    pub figures: Vec<Option<Stat>>,
    /// Whether the figures come from `ok` records (complete trials).
    pub complete: bool,
}

impl Config {
    /// The status shown: `ok` when any record is, else the last one's.
    pub fn status(&self) -> Status {
        if self.complete {
            Status::Ok
        } else {
            self.records
                .last()
                .map(|r| r.status.clone())
                .unwrap_or_default()
        }
    }

    /// The objective's figures.
    pub fn objective(&self) -> Option<&Stat> {
        self.figures.first().and_then(Option::as_ref)
    }

    /// Whether it is complete and meets every constraint (on the mean).
    pub fn feasible(&self, c: &Criteria) -> bool {
        self.complete
            && self.objective().is_some()
            && c.constraints.iter().enumerate().all(|(i, k)| {
                self.figures
                    .get(i + 1)
                    .and_then(Option::as_ref)
                    .is_some_and(|s| k.holds(s.mean))
            })
    }
}

/// Everything the report shows.
#[derive(Debug)]
pub struct Report {
    /// The results file.
    pub path: PathBuf,
    /// What "best" means.
    pub criteria: Criteria,
    /// Every record, in file order.
    pub records: Vec<Arc<Record>>,
    /// Every configuration with a record.
    pub configs: Vec<Config>,
    /// The search path.
    pub steps: Vec<Step>,
    /// The winner against the start, as the engine tells it.
    pub summary: RunSummary,
    /// Records that did not complete (crashed, timeout, failed, pruned,
    /// partial), in file order.
    pub failures: Vec<Arc<Record>>,
    /// Unreadable lines of the file.
    pub bad_lines: usize,
    /// Something the reader should know about the files (a best file that
    /// disagrees with the results).
    pub notes: Vec<String>,
    /// What the pooled search's model believes around the winner (a run
    /// of `--search_policy pooled` only).
    pub beliefs: Option<autotune::Beliefs>,
}

fn key_of(r: &Record) -> String {
    if r.trial_key.trim().is_empty() {
        trial_key(&r.params)
    } else {
        r.trial_key.clone()
    }
}

fn ok_runs(r: &Record) -> impl Iterator<Item = &EvalRun> {
    r.eval
        .as_ref()
        .and_then(|e| e.eval_runs.as_ref())
        .into_iter()
        .flatten()
        .filter(|x| x.ok)
}

fn pooled(records: &[&Arc<Record>], m: &Metric) -> Option<Stat> {
    let runs: Vec<f64> = records
        .iter()
        .flat_map(|r| ok_runs(r))
        .filter_map(|x| m.run(x))
        .filter(|v| v.is_finite())
        .collect();
    Stat::of(runs)
}

fn configs_of(records: &[Arc<Record>], c: &Criteria) -> (Vec<Config>, HashMap<String, usize>) {
    let mut configs: Vec<Config> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for r in records {
        if r.params.is_empty() {
            continue;
        }
        let key = key_of(r);
        let i = *by_key.entry(key.clone()).or_insert_with(|| {
            configs.push(Config {
                key,
                params: r.params.clone(),
                records: Vec::new(),
                figures: Vec::new(),
                complete: false,
            });
            configs.len() - 1
        });
        configs[i].records.push(r.clone());
    }
    for cfg in &mut configs {
        let ok: Vec<&Arc<Record>> = cfg
            .records
            .iter()
            .filter(|r| r.status == Status::Ok)
            .collect();
        let from: Vec<&Arc<Record>> = if ok.is_empty() {
            cfg.records.iter().collect()
        } else {
            ok
        };
        cfg.figures = c.metrics().iter().map(|m| pooled(&from, m)).collect();
        cfg.complete = from.iter().any(|r| r.status == Status::Ok) && cfg.objective().is_some();
    }
    (configs, by_key)
}

/// Values sorted as numbers when they all are, else in the order given.
pub(super) fn axis_order(mut values: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    values.retain(|v| seen.insert(v.clone()));
    if values.iter().all(|v| v.trim().parse::<f64>().is_ok()) {
        values.sort_by(|a, b| {
            let (x, y) = (
                a.trim().parse::<f64>().unwrap_or(0.0),
                b.trim().parse::<f64>().unwrap_or(0.0),
            );
            x.total_cmp(&y)
        });
    }
    values
}

/// Works the report out. `best_file` is the `best_params.json` beside the
/// results, if there is one; it settles the last group's choice. The winner
/// is the search's choice replayed from the records with the setup the run
/// recorded ([`autotune::choice`]); only without one is it worked out from
/// the groups and the best file.
pub fn build(
    path: &Path,
    records: Vec<Record>,
    bad_lines: usize,
    best_file: Option<Params>,
    criteria: Criteria,
) -> Report {
    let records: Vec<Arc<Record>> = records.into_iter().map(Arc::new).collect();
    let replayed = autotune::choice::of_file(path, &criteria.goal, &records)
        .filter(|c| c.stands)
        .map(|c| c.params);
    let (configs, by_key) = configs_of(&records, &criteria);

    // The search's own decisions when the run recorded its setup (for the
    // goal judged here); the records it never met (a file written on by
    // another run) follow as the figures tell them.
    let setup = autotune::choice::recorded_setup(path).filter(|s| s.goal == criteria.goal);
    let mut steps = Vec::new();
    let mut met = std::collections::HashSet::new();
    if let Some(setup) = &setup {
        let rep = autotune::choice::replay_decisions(setup, &records);
        for d in &rep.decisions {
            met.extend(d.trials.iter().map(|t| trial_key(&t.params)));
        }
        steps = steps_of_replay(&rep.decisions, &by_key);
    }
    let rest: Vec<Arc<Record>> = records
        .iter()
        .filter(|r| !met.contains(&key_of(r)))
        .cloned()
        .collect();
    let segments = segments_of(&rest);
    let rounds = steps.iter().filter(|s| s.is_round()).count();
    let prev = steps.last().map(|s| s.base_after.clone());
    steps.extend(steps_of(
        &segments,
        &configs,
        &by_key,
        best_file.as_ref(),
        &criteria,
        prev,
        rounds,
    ));

    let mut notes = Vec::new();
    let (start, mut winner) = match (steps.first(), steps.last()) {
        (Some(f), Some(l)) => (f.base_before.clone(), l.base_after.clone()),
        _ => {
            let b = best_file.clone().unwrap_or_default();
            (b.clone(), b)
        }
    };
    // The best file is where the search ended when a record measured it:
    // later passes and joint moves revisit groups, so the last group of
    // the file need not be the last decision.
    if let Some(b) = &best_file
        && records.iter().any(|r| r.params == *b)
    {
        winner = b.clone();
    }
    if let Some(c) = &replayed {
        winner = c.clone();
    }
    if let Some(b) = &best_file
        && !steps.is_empty()
        && *b != winner
    {
        notes.push(
            "best_params.json beside the results file differs from where the recorded search \
             ended (another run wrote it, or it was edited); this report follows the results."
                .to_string(),
        );
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let files = Files {
        results: path.to_path_buf(),
        best: dir.join("best_params.json"),
        status: dir.join("tune_status.json"),
        logs: dir.join("tune_server_logs"),
        report: None,
    };
    let summary = summarize_run_for(
        &criteria.goal,
        Outcome::Done,
        &start,
        &winner,
        &records,
        &records,
        0,
        files,
    );
    let failures = records
        .iter()
        .filter(|r| r.status != Status::Ok && r.status != Status::Skipped)
        .cloned()
        .collect();
    // The pooled search's model, refitted to the records: why it won.
    let beliefs = setup
        .as_ref()
        .filter(|s| matches!(s.searcher, autotune::SearcherKind::Pooled(_)))
        .and_then(|s| autotune::beliefs(&s.space, &s.base, &s.goal, &records, &winner));
    Report {
        path: path.to_path_buf(),
        criteria,
        records,
        configs,
        steps,
        summary,
        failures,
        bad_lines,
        notes,
        beliefs,
    }
}

impl Report {
    /// Parameter groups, passes (0 when not known) and refinement rounds.
    pub fn shape(&self) -> (usize, usize, usize) {
        let mut groups = 0;
        let mut passes = 0;
        let mut rounds = 0;
        for s in &self.steps {
            match s.stage {
                Stage::Pass(k) => {
                    groups += 1;
                    passes = passes.max(k);
                }
                Stage::Group => groups += 1,
                Stage::Round(_) => rounds += 1,
            }
        }
        (groups, passes, rounds)
    }

    /// The search's shape in words: `17 groups in 2 passes, 2 refinement
    /// rounds` (one pass, or passes not known: `17 groups`).
    pub fn shape_text(&self) -> String {
        let (g, p, r) = self.shape();
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        let mut t = plural(g, "group");
        if p > 1 {
            t.push_str(&format!(" in {p} passes"));
        }
        if r > 0 {
            t.push_str(&format!(", {}", plural(r, "refinement round")));
        }
        t
    }

    /// The objective's mean of the configuration `params` (every ok run
    /// recorded of it), if measured.
    pub fn objective_of(&self, params: &Params) -> Option<f64> {
        self.config(params)
            .and_then(|c| c.objective())
            .map(|s| s.mean)
    }

    /// The search path: after each step, the objective's mean of the
    /// search's choice then (the incumbent, not the best record seen: a
    /// faster record the search refused is no point of the path).
    pub fn path(&self) -> Vec<Option<f64>> {
        self.steps
            .iter()
            .map(|s| self.objective_of(&s.base_after))
            .collect()
    }

    /// The configuration of `params`, if recorded.
    pub fn config(&self, params: &Params) -> Option<&Config> {
        let k = trial_key(params);
        self.configs.iter().find(|c| c.key == k)
    }

    /// Indexes of the configurations on the Pareto front of the objective
    /// against constraint `ci`: complete ones no other complete one beats
    /// or equals on both (better on at least one).
    pub fn pareto(&self, ci: usize) -> Vec<usize> {
        let Some(k) = self.criteria.constraints.get(ci) else {
            return Vec::new();
        };
        let pts: Vec<(usize, f64, f64)> = self
            .configs
            .iter()
            .enumerate()
            .filter(|(_, c)| c.complete)
            .filter_map(|(i, c)| {
                let y = c.objective()?.mean;
                let x = c.figures.get(ci + 1)?.as_ref()?.mean;
                Some((i, x, y))
            })
            .collect();
        let xb = |a: f64, b: f64| {
            if k.higher_is_better() { a >= b } else { a <= b }
        };
        let yb = |a: f64, b: f64| !self.criteria.better(b, a);
        pts.iter()
            .filter(|(i, x, y)| {
                !pts.iter().any(|(j, x2, y2)| {
                    j != i && xb(*x2, *x) && yb(*y2, *y) && (*x2 != *x || *y2 != *y)
                })
            })
            .map(|(i, _, _)| *i)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autotune::{Measured, summarize};

    fn rec(p: &str, params: &[(&str, &str)], st: &str, idx: u32, runs: &[(f64, f64)]) -> Record {
        let params: Params = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let eval = (!runs.is_empty()).then(|| {
            summarize(
                runs.iter()
                    .enumerate()
                    .map(|(i, (a, t))| EvalRun {
                        i: i as u32 + 1,
                        ok: true,
                        measured: Some(Measured {
                            accuracy: Some(*a),
                            total_tps: Some(*t),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .collect(),
            )
        });
        Record {
            trial_key: trial_key(&params),
            params,
            param_under_test: Some(p.to_string()),
            status: Status::parse(st),
            eval,
            trial_index: Some(idx),
            ..Default::default()
        }
    }

    /// A real search's files, as `--simulate demo:SEED` writes them: the
    /// engine loop with the simulated executor on the demo landscape, in
    /// `dir` (results, best file, status file with the run's setup).
    /// `plain`: `--search_policy plain` (one pass).
    fn simulated_run(dir: &Path, seed: u64, plain: bool) -> PathBuf {
        use clap::Parser;
        std::fs::write(dir.join("run_model.sh"), "exit 1\n").unwrap();
        std::fs::write(dir.join("eval_local.py"), "print(1)\n").unwrap();
        let mut args = vec!["autotune", "--repo", dir.to_str().unwrap(), "--headless"];
        if plain {
            args.extend(["--search_policy", "plain"]);
        }
        let cli = crate::cli::Cli::try_parse_from(args).unwrap();
        let cfg = crate::cli::to_config(&cli.tune).unwrap();
        let exec = Arc::new(autotune::exec::Simulated::new(
            autotune::exec::Simulated::landscape("demo").unwrap(),
            autotune::Noise {
                tps_rel_sd: 0.02,
                tps_abs_sd: 0.0,
                acc_abs_sd: 0.003,
                start_rel_sd: 0.0,
                start_acc_sd: 0.0,
            },
            autotune::Cost::default(),
            seed,
        ));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut sink = autotune::EventSink::new();
            let status = tokio::spawn(
                autotune::StatusWriter::new(cfg.status_file.clone())
                    .with_goal(cfg.goal.clone())
                    .run(sink.subscribe(), |e| panic!("status file: {e}")),
            );
            let (_commands, crx) = tokio::sync::mpsc::unbounded_channel();
            autotune::run_with(cfg, exec, format!("sim-{seed}"), sink, crx).await;
            status.await.unwrap();
        });
        dir.join("tune_results.jsonl")
    }

    /// The report of a results file, as `autotune report` builds it.
    fn report_of(results: &Path) -> Report {
        let loaded = autotune::store::load_results(results).unwrap();
        let best = autotune::store::read_best(&results.with_file_name("best_params.json"))
            .ok()
            .flatten();
        build(
            results,
            loaded.records,
            0,
            best,
            Criteria::accuracy_bar(0.88),
        )
    }

    /// A noise-aware run with later passes and refinement rounds (seed
    /// chosen for both, and a round that moves).
    const PASSES_SEED: u64 = 5;

    /// Groups and rounds are counted as the search made them: a
    /// refinement round is one step naming its joint moves (not a group
    /// per move), every pass's groups are counted once, in words.
    #[test]
    fn rounds_are_steps_of_their_own_and_counted() {
        let d = tempfile::tempdir().unwrap();
        let results = simulated_run(d.path(), PASSES_SEED, false);
        let rep = report_of(&results);
        let setup = autotune::choice::recorded_setup(&results).expect("the run's setup");
        let replay = autotune::choice::replay_decisions(&setup, &rep.records);
        assert!(replay.complete);
        let groups = replay
            .decisions
            .iter()
            .filter(|d| matches!(d.stage, autotune::Stage::Pass(_)))
            .count();
        let rounds = replay.decisions.len() - groups;
        let passes = replay
            .decisions
            .iter()
            .filter_map(|d| match d.stage {
                autotune::Stage::Pass(k) => Some(k),
                _ => None,
            })
            .max()
            .unwrap();
        assert!(
            passes >= 2 && rounds >= 1,
            "{passes} passes, {rounds} rounds"
        );
        assert_eq!(rep.steps.len(), replay.decisions.len());
        assert_eq!(rep.shape(), (groups, passes, rounds));
        assert_eq!(
            rep.shape_text(),
            format!(
                "{groups} groups in {passes} passes, {rounds} refinement round{}",
                if rounds == 1 { "" } else { "s" }
            )
        );
        // No joint move is a group of its own; each round names its moves,
        // every changed parameter with its value.
        assert!(rep.steps.iter().all(|s| !s.param.contains('+')));
        let joint = rep
            .records
            .iter()
            .filter(|r| {
                r.param_under_test
                    .as_deref()
                    .is_some_and(|p| p.contains('+'))
            })
            .count();
        let named: usize = rep.steps.iter().map(|s| s.moves.len()).sum();
        assert!(joint > 0);
        assert_eq!(named, joint, "every joint move measured is named once");
        for s in rep.steps.iter().filter(|s| s.is_round()) {
            assert_eq!(s.values.len(), s.moves.len() + 1, "the base and each move");
            for m in &s.moves {
                assert!(m.changes.len() >= 2);
                for (k, v) in &m.changes {
                    assert_eq!(m.params.get(k), Some(v));
                    assert_ne!(s.base_before.get(k), Some(v), "{k} changes");
                    assert!(m.text().contains(&format!("{k}={v}")));
                }
                assert!(m.config.is_some(), "each move has its figures");
            }
        }
    }

    /// A step marks as chosen what the search chose there (replayed), never
    /// a faster record it refused; the path is where the search stood, its
    /// last point the winner's mean.
    #[test]
    fn chosen_marks_and_the_path_are_the_searchs_choices() {
        let d = tempfile::tempdir().unwrap();
        let results = simulated_run(d.path(), PASSES_SEED, false);
        let rep = report_of(&results);
        let setup = autotune::choice::recorded_setup(&results).unwrap();
        let replay = autotune::choice::replay_decisions(&setup, &rep.records);
        let mut refused = 0;
        for (s, dec) in rep.steps.iter().zip(&replay.decisions) {
            assert_eq!(s.base_before, dec.before, "{}", s.name());
            assert_eq!(s.base_after, dec.after, "{}", s.name());
            let marked: Vec<&str> = s
                .values
                .iter()
                .filter(|(v, _)| s.chosen.as_deref() == Some(v.as_str()))
                .map(|(v, _)| v.as_str())
                .collect();
            assert_eq!(marked.len(), 1, "{}: one chosen mark", s.name());
            if s.is_round() {
                let want = if dec.after == dec.before {
                    None
                } else {
                    Some(&dec.after)
                };
                assert_eq!(s.chosen_move().map(|m| &m.params), want, "{}", s.name());
            } else {
                assert_eq!(s.chosen.as_ref(), dec.after.get(&s.param), "{}", s.name());
            }
            // A value faster than the choice that the search refused is
            // not marked.
            let chosen_mean = rep.objective_of(&s.base_after).unwrap();
            for (v, c) in &s.values {
                if let Some(m) = c.and_then(|i| rep.configs[i].objective()).map(|x| x.mean)
                    && m > chosen_mean
                {
                    refused += 1;
                    assert_ne!(s.chosen.as_deref(), Some(v.as_str()));
                }
            }
        }
        assert!(refused > 0, "the run refused some faster record");
        let path = rep.path();
        let winner = rep.objective_of(&rep.summary.best).unwrap();
        assert_eq!(rep.summary.best, replay.params);
        assert_eq!(*path.last().unwrap(), Some(winner));
        for (p, dec) in path.iter().zip(&replay.decisions) {
            let choice = rep.objective_of(&dec.after).unwrap();
            assert!(p.unwrap() <= choice, "{p:?} above the choice {choice}");
        }
        // The best noisy mean seen is above the winner: the path does not
        // draw it.
        let best_seen = rep
            .configs
            .iter()
            .filter_map(|c| c.objective().map(|s| s.mean))
            .fold(f64::MIN, f64::max);
        assert!(best_seen > winner);
        assert!(path.iter().flatten().all(|p| *p < best_seen));
    }

    /// `--search_policy plain`: one pass, each group's choice the next
    /// group's base, as the report always told it (with or without the
    /// run's recorded setup).
    #[test]
    fn plain_search_is_one_pass_as_before() {
        let d = tempfile::tempdir().unwrap();
        let results = simulated_run(d.path(), 1, true);
        let rep = report_of(&results);
        let n = autotune::choice::recorded_setup(&results)
            .unwrap()
            .space
            .groups
            .len();
        assert_eq!(rep.shape(), (n, 1, 0));
        assert_eq!(rep.shape_text(), format!("{n} groups"));
        assert!(rep.steps.iter().all(|s| s.how == Chosen::Replayed));
        for w in rep.steps.windows(2) {
            assert_eq!(
                w[0].chosen.as_ref(),
                w[1].base_before.get(&w[0].param),
                "{}",
                w[0].param
            );
        }
        // Without the setup, the figures and the next groups tell the same.
        std::fs::remove_file(d.path().join("tune_status.json")).unwrap();
        let old = report_of(&results);
        assert_eq!(old.shape(), (n, 0, 0));
        let chosen = |r: &Report| r.steps.iter().map(|s| s.chosen.clone()).collect::<Vec<_>>();
        assert_eq!(chosen(&old), chosen(&rep));
        assert_eq!(old.summary.best, rep.summary.best);
    }

    /// The noise-aware search does not rerun the base: its value in a group
    /// comes from the group before, and its figures from its earlier record.
    #[test]
    fn path_follows_the_groups() {
        let r = vec![
            rec(
                "A",
                &[("A", "1"), ("B", "x")],
                "ok",
                1,
                &[(0.9, 100.0), (0.9, 102.0)],
            ),
            rec(
                "A",
                &[("A", "2"), ("B", "x")],
                "ok",
                2,
                &[(0.9, 120.0), (0.91, 122.0)],
            ),
            rec(
                "A",
                &[("A", "3"), ("B", "x")],
                "ok",
                3,
                &[(0.5, 200.0), (0.5, 201.0)],
            ),
            rec("B", &[("A", "2"), ("B", "y")], "pruned", 4, &[(0.9, 90.0)]),
            rec("B", &[("A", "2"), ("B", "z")], "crashed", 5, &[]),
        ];
        let rep = build(
            Path::new("/x/tune_results.jsonl"),
            r,
            0,
            None,
            Criteria::accuracy_bar(0.88),
        );
        assert_eq!(rep.steps.len(), 2);
        let a = &rep.steps[0];
        assert_eq!(a.base_value.as_deref(), Some("1"));
        assert_eq!(a.chosen.as_deref(), Some("2"));
        assert_eq!(a.how, Chosen::NextGroup);
        let b = &rep.steps[1];
        assert_eq!(b.base_value.as_deref(), Some("x"));
        assert_eq!(b.chosen.as_deref(), Some("x"), "nothing beat the base");
        assert_eq!(b.how, Chosen::Figures);
        let vals: Vec<&str> = b.values.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(vals, ["x", "y", "z"]);
        assert!(b.values[0].1.is_some(), "the base's earlier record counts");
        assert_eq!(rep.summary.changed.len(), 1);
        let (g, _) = rep.summary.gain_pct.unwrap();
        assert!((g - (121.0 / 101.0 - 1.0) * 100.0).abs() < 1e-9, "{g}");
        assert_eq!(rep.failures.len(), 2);
        // A=3 is fastest but under the bar; A=2 is on the front with A=1
        // dominated by it.
        let front: Vec<&str> = rep
            .pareto(0)
            .into_iter()
            .map(|i| rep.configs[i].params["A"].as_str())
            .collect();
        assert!(front.contains(&"2") && front.contains(&"3"), "{front:?}");
        assert!(!front.contains(&"1"), "{front:?}");
    }

    /// A best file consistent with the last group settles its choice.
    #[test]
    fn best_file_settles_the_last_group() {
        let r = vec![
            rec("A", &[("A", "1")], "ok", 1, &[(0.9, 100.0), (0.9, 101.0)]),
            rec("A", &[("A", "2")], "ok", 2, &[(0.9, 101.0), (0.9, 100.5)]),
        ];
        let best: Params = [("A".to_string(), "1".to_string())].into();
        let rep = build(
            Path::new("r.jsonl"),
            r,
            0,
            Some(best),
            Criteria::accuracy_bar(0.88),
        );
        assert_eq!(rep.steps[0].chosen.as_deref(), Some("1"));
        assert_eq!(rep.steps[0].how, Chosen::BestFile);
        assert!(rep.notes.is_empty());
        assert!(rep.summary.changed.is_empty());
    }
}
