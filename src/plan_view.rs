//! The plan as a person reads it: `--dry_run`'s table, and what a resume
//! reuses (the demo says so before it starts). Both come from the engine's
//! own planner, so what is shown is what a run does.

use std::io::Write;
use std::sync::Arc;

use autotune::store::{load_results, read_best};
use autotune::{Config, Record, SearchSpace, Step};

/// The search policy in a line or two.
pub fn policy(cfg: &Config) -> String {
    // Today's goal's bar (the texts of other goals say their constraints).
    let threshold = cfg.goal.accuracy_threshold().unwrap_or(0.0);
    if let autotune::SearcherKind::Pooled(s) = cfg.searcher {
        let bar = match cfg.goal.constraints.first() {
            Some(c) if c.name == "accuracy" => format!("accuracy clears {}", c.bound),
            Some(c) => format!("{} holds", c.describe()),
            None => "figures are measured".to_string(),
        };
        return format!(
            "pooled: one model (log tok/s and accuracy: every level's effect, model length x max new tokens) fitted to \
             every run of every trial (seed {});\n        \
             budget {:.0} GPU-minutes at a start of 60 s and an eval run of 30 s (about {} trials of 3 runs): the defaults, \
             screening, Thompson sampling, 3 confirmations;\n        \
             the winner is certified by 8 fresh runs whose {bar} at 99 % one-sided; \
             crashes and hangs are blamed on what they tried new and not started again",
            s.seed,
            s.budget_s / 60.0,
            s.trials().0
        );
    }
    if !cfg.goal.is_default() {
        return goal_policy(cfg);
    }
    match &cfg.search_policy {
        None => format!(
            "plain: coordinate ascent, one pass, base value first; groups decided by the highest mean \
             total tok/s among ok trials with accuracy >= {threshold}"
        ),
        Some(p) => format!(
            "noise-aware: coordinate ascent (passes: see Search), base value first; no configuration measured twice;\n        \
             {};\n        \
             groups decided by the highest mean total tok/s among ok trials with accuracy >= {threshold}\n        \
             (a challenger's accuracy must clear it beyond the pooled noise, {:.0} % one-sided{}{})",
            if p.prune {
                format!(
                    "a trial stops after {} or more eval runs once it cannot reach the bar or the group's leader \
                     ({:.0} % confidence)",
                    p.prune_after,
                    p.confidence * 100.0
                )
            } else {
                "every trial runs all its eval runs (--no_prune)".to_string()
            },
            p.acc_guard * 100.0,
            if p.gate > 0.5 {
                format!(
                    "; a change must be faster at {:.0} % one-sided",
                    p.gate * 100.0
                )
            } else {
                String::new()
            },
            if p.max_runs > 0 {
                format!("; close calls run up to {} eval runs", p.max_runs)
            } else {
                String::new()
            }
        ),
    }
}

/// The policy of a run with a goal other than today's: the same search,
/// decided by the goal's objective among ok trials meeting its constraints.
fn goal_policy(cfg: &Config) -> String {
    let g = &cfg.goal;
    let within = if g.constraints.is_empty() {
        String::new()
    } else {
        let cs: Vec<String> = g.constraints.iter().map(|c| c.describe()).collect();
        format!(" with {}", cs.join(", "))
    };
    let by = format!(
        "groups decided by the {} mean {} among ok trials{within}",
        match g.objective.dir {
            autotune::Direction::Max => "highest",
            autotune::Direction::Min => "lowest",
        },
        g.objective.name
    );
    match &cfg.search_policy {
        None => format!("plain: coordinate ascent, one pass, base value first; {by}"),
        Some(p) => format!(
            "noise-aware: coordinate ascent (passes: see Search), base value first; no configuration measured twice;\n        \
             {by}{}",
            if p.prune {
                format!(
                    " (a trial stops after {} or more eval runs once it cannot meet the goal, {:.0} % confidence)",
                    p.prune_after,
                    p.confidence * 100.0
                )
            } else {
                String::new()
            }
        ),
    }
}

/// The search beyond one pass, in words: passes, refinement, crash
/// prediction and the trial budget.
fn search(cfg: &Config) -> String {
    let one = cfg.space.plan(&cfg.base).len();
    let p = cfg.search;
    let passes = match p.passes {
        Some(1) => "one pass".to_string(),
        Some(n) => format!("passes until nothing changes, at most {n}"),
        None => "passes until nothing changes (later passes probe the neighbours of each value and measure a whole group again only when they behave otherwise than before)".to_string(),
    };
    let refine = if p.refine {
        "; then joint moves of two parameters at once among those that matter, ranked by their measured effects, and trades against the accuracy bar"
    } else {
        ""
    };
    let predict = if !p.predict {
        String::new()
    } else if cfg.space.request.is_empty() {
        "; a configuration an earlier crash or time-out predicts (same values, none smaller) is not started".to_string()
    } else {
        format!(
            "; a configuration an earlier crash or time-out predicts (same values, none smaller; for a failure of the start-up settings, whatever the {} parameters read per request are: --request_params) is not started",
            cfg.space.request.len()
        )
    };
    let budget = match p.max_trials {
        Some(usize::MAX) => String::new(),
        Some(n) => format!("; at most {n} trials (--max_trials)"),
        None => format!(
            "; at most {} trials ({}x the {one} of one pass; --max_trials)",
            (one as f64 * autotune::SearchPlan::BUDGET_FACTOR).ceil() as usize,
            autotune::SearchPlan::BUDGET_FACTOR
        ),
    };
    format!("{passes}{refine}{predict}{budget}")
}

/// What the run will spend at most, in trials, GPU time and wall time:
/// at the mean time of the trials the results file holds, else at the
/// nominal costs (a start 60 s, an eval run 30 s).
fn budget(cfg: &Config) -> String {
    use autotune::short_s;
    let one = cfg.space.plan(&cfg.base).len();
    let timed: Vec<f64> = recorded(cfg)
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.total_s)
        .filter(|s| s.is_finite() && *s > 0.0)
        .collect();
    let (trials, gpu_s, each) = if let autotune::SearcherKind::Pooled(p) = cfg.searcher {
        let (trials, each) = p.trials();
        (trials, p.budget_s, each)
    } else {
        let trials = match cfg.search.max_trials {
            Some(usize::MAX) => one,
            Some(n) => n,
            None => (one as f64 * autotune::SearchPlan::BUDGET_FACTOR).ceil() as usize,
        };
        let each = autotune::PooledSetup::plain_pass_s(1, cfg.eval_runs);
        (trials, trials as f64 * each, each)
    };
    let (gpu_s, how) = if timed.is_empty() {
        (
            gpu_s,
            format!(
                "{} a trial at nominal costs: a start 60 s, an eval run 30 s",
                short_s(each)
            ),
        )
    } else {
        let mean = timed.iter().sum::<f64>() / timed.len() as f64;
        (
            trials as f64 * mean,
            format!(
                "{} a trial, the mean of the {} trials in {}",
                short_s(mean),
                timed.len(),
                cfg.rel(&cfg.results)
            ),
        )
    };
    let slots = cfg.layout.slots.max(1);
    format!(
        "at most {trials} trials, ≤{} of GPU time, ≤{} of wall time{} ({how})",
        short_s(gpu_s),
        short_s(gpu_s / slots as f64),
        if slots > 1 {
            format!(" over {slots} slots")
        } else {
            String::new()
        }
    )
}

/// Where trials run when not one at a time here: how many at once, on
/// which devices and ports, or through which launcher.
fn slots(cfg: &Config) -> Option<String> {
    let n = cfg.layout.slots.max(1);
    if let Some(l) = &cfg.launcher {
        return Some(format!(
            "{n} trial{} at once through --launcher {:?}",
            if n == 1 { "" } else { "s" },
            l.template
        ));
    }
    if n == 1 {
        return None;
    }
    let each: Vec<String> = (0..n)
        .map(|i| {
            let s = cfg.slot(i);
            match &s.devices {
                Some(d) => format!("{}={d} port {}", cfg.layout.gpu_env, s.port),
                None => format!("port {}", s.port),
            }
        })
        .collect();
    Some(format!("{n} trials at once ({})", each.join("; ")))
}

/// How much of the plan a results file already covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replay {
    /// Records the results file holds.
    pub records: usize,
    /// Records of the file reused before the first trial that must run,
    /// each once (the search may hand one out in several groups).
    pub reused: usize,
    /// Trials planned in all.
    pub total: usize,
    /// Every trial of the plan is recorded: a resume runs nothing.
    pub finished: bool,
}

/// Drives the run's searcher over the recorded trials as a `--skip_existing` run
/// would, up to the first trial it would have to run.
pub fn replay(cfg: &Config, records: Vec<Record>) -> Replay {
    let n = records.len();
    // The run's own searcher (coordinate ascent or pooled), as it resumes.
    let mut planner =
        autotune::choice::SearchSetup::of(cfg).searcher(records.into_iter().map(Arc::new), true);
    let total = planner.estimate();
    let mut used: Vec<Arc<Record>> = Vec::new();
    loop {
        let reused = used.len();
        match planner.step() {
            Step::Reuse { record, .. } => {
                if !used.iter().any(|r| Arc::ptr_eq(r, &record)) {
                    used.push(record);
                }
            }
            Step::Group { .. } | Step::Decided { .. } | Step::Predicted { .. } => {}
            Step::Run(_) | Step::Wait => {
                return Replay {
                    records: n,
                    reused,
                    total,
                    finished: false,
                };
            }
            Step::Finished => {
                return Replay {
                    records: n,
                    reused,
                    total,
                    finished: true,
                };
            }
        }
    }
}

/// The records of the results file, or why they cannot be read.
fn recorded(cfg: &Config) -> Result<Vec<Record>, String> {
    load_results(&cfg.results)
        .map(|l| l.records)
        .map_err(|e| e.to_string())
}

/// Shows a value as typed, quoting it when it would not read as one word.
fn shown(v: &str) -> String {
    if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        format!("{v:?}")
    } else {
        v.to_string()
    }
}

/// `--dry_run`'s output: where the base comes from, the policy, one row per
/// parameter group (values with the base's marked, number of trials), what
/// a resume would reuse, and anything a real run would refuse.
pub fn table(cfg: &Config, args: &crate::cli::TuneArgs) -> String {
    let mut s = String::new();
    let mut line = |l: String| {
        s.push_str(&l);
        s.push('\n');
    };
    line(format!(
        "Plan for {} (dry run: nothing is started or written)",
        cfg.repo.display()
    ));
    let from_file = !args.start_from_defaults && matches!(read_best(&cfg.best), Ok(Some(_)));
    let resumed = cfg.skip_existing
        && autotune::choice::recorded_setup(&cfg.results).is_some_and(|s| {
            matches!(s.searcher, autotune::SearcherKind::Pooled(_)) && s.base == cfg.base
        });
    line(format!(
        "Base:   {}",
        if resumed && matches!(cfg.searcher, autotune::SearcherKind::Pooled(_)) {
            "the start of the pooled search it resumes".to_string()
        } else if from_file {
            format!("{} (the best of the last run)", cfg.rel(&cfg.best))
        } else {
            "the built-in defaults".to_string()
        }
    ));
    line(format!("Goal:   {}", cfg.goal.describe()));
    line(format!("Policy: {}", policy(cfg)));
    let pooled = matches!(cfg.searcher, autotune::SearcherKind::Pooled(_));
    // The pooled search's design is its policy's line; passes are
    // coordinate ascent's.
    if !pooled {
        line(format!("Search: {}", search(cfg)));
    }
    line(format!("Budget: {}", budget(cfg)));
    if let Some(l) = slots(cfg) {
        line(format!("Slots:  {l}"));
    }
    line(String::new());

    let rows = if pooled {
        level_rows(cfg)
    } else {
        group_rows(cfg)
    };
    for l in rows {
        line(l);
    }
    line(String::new());

    let fixed: Vec<String> = cfg
        .base
        .iter()
        .filter(|(k, _)| !cfg.space.groups.iter().any(|(n, _)| n == *k))
        .map(|(k, v)| format!("{k}={}", shown(v)))
        .collect();
    if !fixed.is_empty() {
        line(format!(
            "Fixed (in the base, not searched): {}",
            fixed.join(" ")
        ));
    }
    let (runs, certify) = if pooled {
        let c = autotune::PooledSetup::CERTIFY_RUNS;
        (
            autotune::PooledSetup::RUNS,
            format!("; a certification, {c}"),
        )
    } else {
        (cfg.eval_runs, String::new())
    };
    line(format!(
        "Each trial: start the service (up to {} s), then {runs} eval run{}{certify} (up to {} s each).",
        cfg.startup_timeout.as_secs_f64(),
        if runs == 1 { "" } else { "s" },
        cfg.eval_timeout.as_secs_f64()
    ));
    match recorded(cfg) {
        Ok(records) if records.is_empty() => {}
        Ok(records) => {
            let r = replay(cfg, records);
            let how = if cfg.skip_existing {
                "will be reused (--skip_existing)"
            } else {
                "would be reused with --skip_existing"
            };
            line(format!(
                "Resume: {} holds {} record{}; {} of them {how}{}.",
                cfg.rel(&cfg.results),
                r.records,
                if r.records == 1 { "" } else { "s" },
                r.reused,
                if r.finished {
                    ": the run is finished"
                } else {
                    ""
                }
            ));
        }
        Err(e) => line(format!("Resume: {e}")),
    }
    for (flag, cmd) in [
        ("--server_cmd", &args.server_cmd),
        ("--eval_cmd", &args.eval_cmd),
    ] {
        if let Err(m) = crate::cli::check_script(flag, cmd, &cfg.repo) {
            line(format!("Note: {m}; a real run stops there."));
        }
    }
    s
}

/// The pooled search's table: one row per parameter (its levels, the
/// base's marked), then what the model has to learn. It has no groups and
/// no plan: what it measures follows from what it has measured.
fn level_rows(cfg: &Config) -> Vec<String> {
    let rows = value_rows(cfg);
    let levels: usize = rows.iter().map(|r| r.2).sum();
    let wn = name_width(&rows);
    let mut out = vec![format!(
        "{:<wn$}  {:>6}  values ([x]: the base's value, measured first)",
        "parameter", "levels"
    )];
    for (_, name, n, values) in &rows {
        out.push(format!("{name:<wn$}  {n:>6}  {values}"));
    }
    out.push(format!(
        "{:<wn$}  {levels:>6}  (one effect each in the model, every run of every trial pooled)",
        "total"
    ));
    out
}

/// One row per parameter group: its number, name, values count and the
/// values with the base's marked.
fn value_rows(cfg: &Config) -> Vec<(String, String, usize, String)> {
    cfg.space
        .groups
        .iter()
        .enumerate()
        .map(|(i, (name, cands))| {
            let values = SearchSpace::group_values(&cfg.base, name, cands);
            let has_base = cfg.base.contains_key(name);
            let text: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(j, v)| {
                    if j == 0 && has_base {
                        format!("[{}]", shown(v))
                    } else {
                        shown(v)
                    }
                })
                .collect();
            (
                (i + 1).to_string(),
                name.clone(),
                values.len(),
                text.join(" "),
            )
        })
        .collect()
}

/// The width of the parameter column of `rows`.
fn name_width(rows: &[(String, String, usize, String)]) -> usize {
    rows.iter()
        .map(|r| r.1.chars().count())
        .max()
        .unwrap_or(0)
        .max("parameter".len())
}

/// The plan's table: one row per parameter group (its values, the base's
/// marked, and its trials), then the total.
fn group_rows(cfg: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let rows = value_rows(cfg);
    let total: usize = rows.iter().map(|r| r.2).sum();
    let wn = name_width(&rows);
    let wg = rows.len().to_string().len().max("group".len());
    out.push(format!(
        "{:>wg$}  {:<wn$}  {:>6}  values ([x]: the base's value, tried first)",
        "group", "parameter", "trials"
    ));
    for (g, name, n, values) in &rows {
        out.push(format!("{g:>wg$}  {name:<wn$}  {n:>6}  {values}"));
    }
    out.push(format!("{:>wg$}  {:<wn$}  {total:>6}", "", "total"));
    out
}

/// What `autotune demo` says before it starts on a directory that already
/// holds results: that it resumes, and how much is reused.
pub fn resume_note(cfg: &Config) -> Option<String> {
    let records = recorded(cfg).ok()?;
    if records.is_empty() {
        return None;
    }
    let r = replay(cfg, records);
    let dir = cfg.repo.display();
    Some(if r.finished {
        format!(
            "autotune demo: {dir} holds a finished run: its {} records cover every trial of the \
             search, so it ends at once with the same winner.\n\
             autotune demo: for another pass starting from that winner: \
             autotune --repo {dir} --eval_cmd 'bash eval_local.sh' --startup_timeout 6 --skip_existing",
            r.records
        )
    } else {
        format!(
            "autotune demo: resuming the run in {dir}: its results file holds {} records; \
             the search reuses {} of them and goes on from there.",
            r.records, r.reused
        )
    })
}

/// Prints to stdout; a reader that went away (`| head -1`) is not an error
/// worth a panic or a message.
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
