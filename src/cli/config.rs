//! The flags of a tuning run turned into the engine's configuration: the space, the search, the goal, the patterns, the slots.

use super::*;

/// The search space file the flags name: a relative path is looked up in
/// the repo, then in the current directory.
fn space_file(a: &TuneArgs, repo: &Path) -> Option<PathBuf> {
    let file = a.search.search_space_file.as_ref().map(|f| {
        if f.is_absolute() {
            f.clone()
        } else {
            repo.join(f)
        }
    });
    match (&file, &a.search.search_space_file) {
        (Some(f), Some(orig)) if !f.exists() && orig.exists() => Some(orig.clone()),
        _ => file,
    }
}

/// Builds the search space the flags ask for, as `auto_tune.py` does
/// (values compared as text): what `--search_policy plain` explores.
fn search_space(a: &TuneArgs, repo: &Path) -> Result<SearchSpace, String> {
    space_with(a, repo, SearchSpace::merge)
}

/// The search space of a search that never measures a configuration twice:
/// values that are one setting ([`autotune::same_value`]: `0.1` and
/// `0.10`) are one value, spelt as the base, else the file, spells it.
fn distinct_space(
    a: &TuneArgs,
    repo: &Path,
    base: &autotune::Params,
) -> Result<SearchSpace, String> {
    let mut space = space_with(a, repo, SearchSpace::merge_distinct)?;
    space.distinct(base);
    Ok(space)
}

fn space_with(
    a: &TuneArgs,
    repo: &Path,
    merge: fn(&mut SearchSpace, SearchSpace),
) -> Result<SearchSpace, String> {
    let file = space_file(a, repo);
    let extra = match &file {
        Some(f) => {
            Some(SearchSpace::from_file(f).map_err(|e| format!("--search_space_file: {e}"))?)
        }
        None => None,
    };
    if a.search.no_builtin_space {
        let mut space =
            extra.ok_or_else(|| "--no_builtin_space needs --search_space_file".to_string())?;
        request_params(a, &mut space)?;
        return Ok(space);
    }
    let mut space = SearchSpace::builtin();
    if let Some(e) = extra {
        merge(&mut space, e);
    }
    request_params(a, &mut space)?;
    Ok(space)
}

/// The parameters read per request: `--request_params` when given (each a
/// parameter of `space`), else what the space says.
fn request_params(a: &TuneArgs, space: &mut SearchSpace) -> Result<(), String> {
    let Some(list) = &a.search.request_params else {
        return Ok(());
    };
    let mut set = std::collections::BTreeSet::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !space.groups.iter().any(|(k, _)| k == name) {
            return Err(format!(
                "--request_params: {name} is not a parameter of the search space"
            ));
        }
        set.insert(name.to_string());
    }
    space.request = set;
    Ok(())
}

/// The noise policy of the flags; `None` for `--search_policy plain`.
fn search_policy(a: &TuneArgs) -> Result<Option<NoisePolicy>, String> {
    if !(0.5..=0.999).contains(&a.search.prune_confidence) {
        return Err(format!(
            "--prune_confidence: expected a number from 0.5 to 0.999, got {}",
            a.search.prune_confidence
        ));
    }
    if a.search.prune_after < 2 {
        return Err("--prune_after: must be at least 2 (one run says nothing of the noise)".into());
    }
    if a.search.max_eval_runs != 0 && a.search.max_eval_runs < a.eval.eval_runs {
        return Err(format!(
            "--max_eval_runs: {} is fewer than --eval_runs {}",
            a.search.max_eval_runs, a.eval.eval_runs
        ));
    }
    if a.search.search_policy == "plain" {
        return Ok(None);
    }
    Ok(Some(NoisePolicy {
        prune: !a.search.no_prune,
        prune_after: a.search.prune_after,
        confidence: a.search.prune_confidence,
        max_runs: a.search.max_eval_runs,
        ..NoisePolicy::default()
    }))
}

/// The searcher of `--search_policy`: the pooled model with its budget
/// (`--budget`, else `--max_trials` trials, else the plain pass's cost),
/// or coordinate ascent.
fn searcher(
    a: &TuneArgs,
    space: &SearchSpace,
    base: &autotune::Params,
    slots: usize,
) -> Result<autotune::SearcherKind, String> {
    if a.search.budget.is_some() && a.search.search_policy != "pooled" {
        return Err("--budget: only the pooled search spends a budget (--search_policy pooled); use --max_trials".into());
    }
    if a.search.seed.is_some() && a.search.search_policy != "pooled" {
        return Err("--seed: only the pooled search samples (--search_policy pooled); coordinate ascent is deterministic".into());
    }
    if a.search.search_policy != "pooled" {
        return Ok(autotune::SearcherKind::Coordinate);
    }
    let budget_s = match (&a.search.budget, a.search.max_trials) {
        (Some(b), _) => parse_budget(b)?,
        (None, Some(n)) => autotune::PooledSetup::trials_s(n),
        (None, None) => {
            autotune::PooledSetup::plain_pass_s(space.plan(base).len(), a.eval.eval_runs)
        }
    };
    Ok(autotune::SearcherKind::Pooled(autotune::PooledSetup {
        budget_s,
        seed: a.search.seed.unwrap_or(0),
        batch: slots.max(1),
        prune: !a.search.no_prune,
    }))
}

/// A resumed pooled search (`--skip_existing`) proposes what it proposed
/// before only with the seed and batch it ran with: without them the
/// recorded trials would not be proposed again, and their GPU time would
/// be lost to the search. It takes them from the setup the run recorded
/// (an explicit `--seed` still wins, said as such); the budget is this
/// run's.
fn resumed(
    a: &TuneArgs,
    searcher: autotune::SearcherKind,
    was: Option<autotune::PooledSetup>,
    results: &Path,
) -> autotune::SearcherKind {
    let (autotune::SearcherKind::Pooled(mut now), Some(was)) = (searcher, was) else {
        return searcher;
    };
    let mut said = vec!["start".to_string()];
    match a.search.seed {
        None if was.seed != now.seed => {
            now.seed = was.seed;
            said.push(format!("seed {}", was.seed));
        }
        Some(s) if s != was.seed => eprintln!(
            "autotune: warning: --seed {s}: the recorded run used seed {}; its trials are reused only where seed {s} proposes them again",
            was.seed
        ),
        _ => {}
    }
    if was.batch != now.batch {
        let idle = if now.batch > was.batch {
            format!(
                "; of --slots {}, {} stay idle",
                now.batch,
                now.batch - was.batch
            )
        } else {
            String::new()
        };
        said.push(format!(
            "batch of {} (the --slots it ran with{idle})",
            was.batch
        ));
        now.batch = was.batch;
    }
    {
        eprintln!(
            "autotune: resuming the pooled search of {} with its recorded {}, so that its trials replay",
            results.display(),
            said.join(", ")
        );
    }
    autotune::SearcherKind::Pooled(now)
}

/// The pooled setup and start a `--skip_existing` run of the pooled search
/// resumes: what the run that wrote `results` recorded, if it was pooled.
fn recorded_pooled(
    a: &TuneArgs,
    results: &Path,
) -> Option<(autotune::PooledSetup, autotune::Params)> {
    if !a.skip_existing || a.search.search_policy != "pooled" {
        return None;
    }
    let setup = autotune::choice::recorded_setup(results)?;
    match setup.searcher {
        autotune::SearcherKind::Pooled(p) => Some((p, setup.base)),
        autotune::SearcherKind::Coordinate => None,
    }
}

/// `3h`, `90m`, `5400s`, `120t` (trials) as nominal GPU-seconds.
fn parse_budget(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "--budget {text:?}: expected a number with h, m, s (GPU time) or t (trials), e.g. 3h or 120t"
        )
    };
    let (num, unit) = t.split_at(t.len().saturating_sub(1));
    let x: f64 = num.trim().parse().map_err(|_| bad())?;
    if !x.is_finite() || x <= 0.0 {
        return Err(bad());
    }
    Ok(match unit {
        "h" => x * 3600.0,
        "m" => x * 60.0,
        "s" => x,
        "t" => autotune::PooledSetup::trials_s(x.ceil() as usize),
        _ => return Err(bad()),
    })
}

/// How far the search goes beyond one pass (`--passes`, `--max_trials`,
/// `--no_refine`); `--search_policy plain` is one pass unless told.
fn search_plan(a: &TuneArgs) -> Result<autotune::SearchPlan, String> {
    if a.search.passes == Some(0) {
        return Err("--passes: must be at least 1".into());
    }
    if a.search.max_trials == Some(0) {
        return Err("--max_trials: must be at least 1".into());
    }
    let mut plan = if a.search.search_policy == "plain" {
        autotune::SearchPlan::ONE_PASS
    } else {
        autotune::SearchPlan::default()
    };
    if a.search.passes.is_some() {
        plan.passes = a.search.passes;
    }
    if a.search.max_trials.is_some() {
        plan.max_trials = a.search.max_trials;
    }
    if a.search.no_refine {
        plan.refine = false;
    }
    Ok(plan)
}

/// `--launcher`: the command prefix launched trials run under (not with
/// `--gpus`: the scheduler hands out the devices).
fn launcher(a: &TuneArgs) -> Result<Option<autotune::Launcher>, String> {
    match a.slots.launcher.as_deref().map(str::trim) {
        None => Ok(None),
        Some("") => Err("--launcher is empty".into()),
        Some(_) if a.slots.gpus.is_some() => Err(
            "--gpus and --launcher: the launcher's scheduler hands out the devices; use --slots to bound the trials in flight"
                .into(),
        ),
        Some(t) => Ok(Some(autotune::Launcher {
            template: t.to_string(),
            exe: std::env::current_exe()
                .map_err(|e| format!("--launcher: cannot find the autotune binary: {e}"))?,
        })),
    }
}

/// The starting configuration: the built-in defaults (the demo), else the
/// best file's, else the defaults; its names must be variable names.
fn base(a: &TuneArgs, best: &Path) -> Result<autotune::Params, String> {
    let base = if a.start_from_defaults {
        default_params()
    } else {
        read_best(best)
            .map_err(|e| format!("--best: {e}"))?
            .unwrap_or_else(default_params)
    };
    // The base's names become environment variables too: a best file
    // holding `A=B` would otherwise run as `A=B=<value>`.
    for name in base.keys() {
        SearchSpace::check_name(name).map_err(|m| format!("--best {}: {m}", best.display()))?;
    }
    Ok(base)
}

/// Validates the flags into an engine configuration.
pub fn to_config(a: &TuneArgs) -> Result<Config, String> {
    let repo =
        std::path::absolute(&a.repo).map_err(|e| format!("--repo {}: {e}", a.repo.display()))?;
    if !repo.is_dir() {
        return Err(format!("--repo {}: not a directory", a.repo.display()));
    }
    if a.eval.eval_runs == 0 {
        return Err("--eval_runs: must be at least 1".into());
    }
    let goal = goal(a)?;
    if a.ports_files.port == 0 {
        return Err("--port: must be between 1 and 65535".into());
    }
    if !a.service.health_path.starts_with('/') {
        return Err(format!(
            "--health_path: must start with '/', got {:?}",
            a.service.health_path
        ));
    }
    let Outputs {
        results,
        best,
        status_file,
        service_state_file,
        report,
        logs,
    } = outputs(a, &repo)?;
    // A dry run only shows the plan: it may come before the scripts exist
    // (it says which are missing instead).
    if !a.search.dry_run {
        check_script("--server_cmd", &a.server_cmd, &repo)?;
        check_script("--eval_cmd", &a.eval_cmd, &repo)?;
    }
    // A resumed pooled search starts where it started (its proposals are
    // coded on it), not from the best file its end wrote.
    let was = recorded_pooled(a, &results);
    let base = match &was {
        Some((_, start)) => start.clone(),
        None => base(a, &best)?,
    };
    // As auto_tune.py: what plain explores, and what the pooled search's
    // default budget (the plain pass's cost) is counted on.
    let plain_space = search_space(a, &repo)?;
    let space = if a.search.search_policy == "plain" {
        plain_space.clone()
    } else {
        distinct_space(a, &repo, &base)?
    };
    for w in space.name_warnings() {
        eprintln!("autotune: warning: {}", crate::ui::printable(&w));
    }
    seconds(
        "--heartbeat_interval_s",
        a.heartbeats.heartbeat_interval_s,
        true,
    )?;
    let layout = slot_layout(a)?;
    let launcher = launcher(a)?;
    let search_policy = search_policy(a)?;
    let search = search_plan(a)?;
    let searcher = searcher(a, &plain_space, &base, layout.slots)?;
    let searcher = resumed(a, searcher, was.map(|w| w.0), &results);
    Ok(Config {
        search_policy,
        search,
        searcher,
        layout,
        launcher,
        port: a.ports_files.port,
        eval_runs: a.eval.eval_runs,
        startup_timeout: seconds("--startup_timeout", a.service.startup_timeout, false)?,
        eval_timeout: seconds("--eval_timeout", a.eval.eval_timeout, false)?,
        cooldown: seconds("--cooldown", a.service.cooldown, true)?,
        goal,
        report: Some(report),
        results,
        best,
        server_log_dir: logs,
        status_file,
        service_state_file,
        space,
        base,
        port_busy_retries: a.ports_files.port_busy_retries,
        port_busy_wait: seconds("--port_busy_wait_s", a.ports_files.port_busy_wait_s, true)?,
        port_busy_kill: a.ports_files.port_busy_kill,
        skip_existing: a.skip_existing,
        server_cmd: a.server_cmd.clone(),
        eval_cmd: a.eval_cmd.clone(),
        health_path: a.service.health_path.clone(),
        kill_grace: seconds("--kill_grace_s", a.service.kill_grace_s, true)?,
        patterns: patterns(a)?,
        repo,
    })
}

/// The files a run writes, absolute.
struct Outputs {
    results: PathBuf,
    best: PathBuf,
    status_file: PathBuf,
    service_state_file: PathBuf,
    report: PathBuf,
    logs: PathBuf,
}

/// The files the run writes, relative to `repo` unless absolute; refused
/// when the results path is not a regular file or two of them (or the
/// space file it reads) are one path.
fn outputs(a: &TuneArgs, repo: &Path) -> Result<Outputs, String> {
    let at = |p: &PathBuf| {
        if p.is_absolute() {
            p.clone()
        } else {
            repo.join(p)
        }
    };
    let results = at(&a.ports_files.results);
    if results.exists() && !results.is_file() {
        return Err(format!(
            "--results {}: not a regular file",
            results.display()
        ));
    }
    let best = at(&a.ports_files.best);
    let status_file = at(&a.ports_files.status_file);
    let service_state_file = status_file.with_file_name(".autotune_service.json");
    let report = results.with_file_name("tune_report.html");
    let logs = at(&a.ports_files.server_log_dir);
    // Every file the run writes (and the space file it reads) at its own
    // path, checked before anything is written: `--status_file
    // tune_results.jsonl` would replace the results with the status.
    let mut files = vec![
        (
            format!("--results {}", a.ports_files.results.display()),
            results.clone(),
        ),
        (
            format!("--best {}", a.ports_files.best.display()),
            best.clone(),
        ),
        (
            format!("--status_file {}", a.ports_files.status_file.display()),
            status_file.clone(),
        ),
        (
            format!(
                "--server_log_dir {}",
                a.ports_files.server_log_dir.display()
            ),
            logs.clone(),
        ),
        (
            "the report (tune_report.html beside --results)".to_string(),
            report.clone(),
        ),
        (
            "the service state file (.autotune_service.json beside --status_file)".to_string(),
            service_state_file.clone(),
        ),
        (
            "the lock file (.autotune.lock in --repo)".to_string(),
            repo.join(".autotune.lock"),
        ),
        (
            "the lock file of --results (its name + .lock)".to_string(),
            autotune::store::output_lock_path(&results),
        ),
        (
            "the lock file of --best (its name + .lock)".to_string(),
            autotune::store::output_lock_path(&best),
        ),
    ];
    if let (Some(typed), Some(f)) = (&a.search.search_space_file, space_file(a, repo)) {
        files.push((format!("--search_space_file {}", typed.display()), f));
    }
    distinct_files(&files)?;
    Ok(Outputs {
        results,
        best,
        status_file,
        service_state_file,
        report,
        logs,
    })
}

/// The metric patterns: the four built-ins (from the `--*_regex` flags),
/// then each `--metric NAME=REGEX` (a built-in name replaces that pattern).
pub fn patterns(a: &TuneArgs) -> Result<Patterns, String> {
    let mut p = Patterns {
        accuracy: compile_pattern("--acc_regex", &a.eval.acc_regex)?,
        answer_tps: compile_pattern("--answer_tps_regex", &a.eval.answer_tps_regex)?,
        total_tps: compile_pattern("--total_tps_regex", &a.eval.total_tps_regex)?,
        total_time: compile_pattern("--total_time_regex", &a.eval.total_time_regex)?,
        extra: Vec::new(),
    };
    let mut seen: Vec<&str> = Vec::new();
    for m in &a.eval.metric {
        let Some((name, re)) = m.split_once('=') else {
            return Err(format!(
                "--metric {m:?}: expected NAME=REGEX, e.g. 'p99_ttft_ms=P99 TTFT \\(ms\\):\\s*([0-9.]+)'"
            ));
        };
        let name = name.trim();
        autotune::check_metric_name(name).map_err(|e| format!("--metric {m:?}: {e}"))?;
        if seen.contains(&name) {
            return Err(format!("--metric {name}: given twice"));
        }
        seen.push(name);
        let re = compile_pattern(&format!("--metric {name}"), re)?;
        match name {
            "accuracy" => p.accuracy = re,
            "answer_tps" => p.answer_tps = re,
            "total_tps" => p.total_tps = re,
            "total_time_s" => p.total_time = re,
            _ => p.extra.push((name.to_string(), re)),
        }
    }
    Ok(p)
}

/// The goal of the flags: today's (max total_tps, accuracy >= the
/// threshold) unless --objective or --constraint says otherwise. Every
/// metric named must be one the run parses.
pub fn goal(a: &TuneArgs) -> Result<autotune::Goal, String> {
    use autotune::{Constraint, Direction, Goal, Objective};
    let acc = threshold("--accuracy_threshold", a.accuracy_threshold)?;
    let dir_flag = match a.eval.objective_dir.as_deref() {
        None => None,
        Some(d) => Some(
            Direction::parse(d)
                .ok_or_else(|| format!("--objective_dir: expected max or min, got {d:?}"))?,
        ),
    };
    if a.eval.objective.is_none() && a.eval.constraint.is_empty() {
        let mut g = Goal::default_for(acc);
        if let Some(d) = dir_flag {
            g.objective.dir = d;
        }
        return Ok(g);
    }
    let known = patterns(a)?;
    let known = known.names();
    let check = |flag: &str, name: &str| -> Result<(), String> {
        autotune::check_metric_name(name).map_err(|e| format!("{flag}: {e}"))?;
        if known.contains(&name) {
            Ok(())
        } else {
            Err(format!(
                "{flag}: unknown metric {name:?} (known: {}; add one with --metric {name}=REGEX)",
                known.join(", ")
            ))
        }
    };
    let objective = match a.eval.objective.as_deref().map(str::trim) {
        None => Objective {
            name: "total_tps".into(),
            dir: dir_flag.unwrap_or(Direction::Max),
        },
        Some(o) => {
            let (name, dir) = match o.rsplit_once(':') {
                Some((n, d)) => {
                    let d = Direction::parse(d).ok_or_else(|| {
                        format!("--objective {o:?}: expected NAME, NAME:max or NAME:min")
                    })?;
                    if dir_flag.is_some_and(|f| f != d) {
                        return Err(format!(
                            "--objective {o:?} and --objective_dir {}: they contradict each other",
                            a.eval.objective_dir.as_deref().unwrap_or_default()
                        ));
                    }
                    (n.trim(), d)
                }
                None => (o, dir_flag.unwrap_or(Direction::Max)),
            };
            check("--objective", name)?;
            Objective {
                name: name.to_string(),
                dir,
            }
        }
    };
    let mut constraints = Vec::new();
    for c in &a.eval.constraint {
        let c = Constraint::parse(c).map_err(|e| format!("--constraint {e}"))?;
        check("--constraint", &c.name)?;
        constraints.push(c);
    }
    if a.accuracy_threshold_given && !constraints.iter().any(|c| c.name == "accuracy") {
        constraints.push(Goal::default_for(acc).constraints.remove(0));
    }
    autotune::check_feasible(&constraints).map_err(|e| format!("--constraint: {e}"))?;
    Ok(Goal {
        objective,
        constraints,
    })
}

/// Checks a variable the tuner sets for the slot (`--gpu_env`,
/// `--port_env`): an environment variable name, not `PORT` (which `--port`
/// sets) and not one of the tuner's own `AUTOTUNE_*` variables.
fn check_var_name(flag: &str, name: &str) -> Result<(), String> {
    if !autotune::is_var_name(name) {
        return Err(format!(
            "{flag} {name:?}: not an environment variable name (letters, digits and _, not starting with a digit)"
        ));
    }
    if name == "PORT" {
        return Err(format!(
            "{flag} PORT: PORT is the port --port sets; name another variable"
        ));
    }
    if name.starts_with("AUTOTUNE_") {
        return Err(format!(
            "{flag} {name}: AUTOTUNE_* variables are reserved for the tuner (it finds its processes by them)"
        ));
    }
    Ok(())
}

/// Validates the slot flags: how many trials at once, their devices and
/// ports.
fn slot_layout(a: &TuneArgs) -> Result<autotune::SlotLayout, String> {
    if a.slots.gpus_per_trial == 0 {
        return Err("--gpus_per_trial: must be at least 1".into());
    }
    let gpus: Vec<String> = match &a.slots.gpus {
        None => Vec::new(),
        Some(g) => {
            let list: Vec<String> = g.split(',').map(|s| s.trim().to_string()).collect();
            if list.iter().any(String::is_empty) {
                return Err(format!(
                    "--gpus {g:?}: expected device ids separated by commas, e.g. 0,1,2,3"
                ));
            }
            // Two slots on one device would measure each other's load.
            let id = |d: &str| d.parse::<u64>().map_or(d.to_string(), |n| n.to_string());
            for (i, d) in list.iter().enumerate() {
                if list[..i].iter().any(|e| id(e) == id(d)) {
                    return Err(format!(
                        "--gpus {g:?}: device {d} is listed twice; two trials on one device would run under each other's load"
                    ));
                }
            }
            if !list.len().is_multiple_of(a.slots.gpus_per_trial) {
                return Err(format!(
                    "--gpus lists {} device(s), not a multiple of --gpus_per_trial {}",
                    list.len(),
                    a.slots.gpus_per_trial
                ));
            }
            list
        }
    };
    let by_gpus = gpus.len() / a.slots.gpus_per_trial;
    let slots = match (a.slots.slots, gpus.is_empty()) {
        (Some(0), _) => return Err("--slots: must be at least 1".into()),
        (Some(n), false) if n > by_gpus => {
            return Err(format!(
                "--slots {n}: --gpus {} gives only {by_gpus} slot(s) of {} device(s)",
                a.slots.gpus.as_deref().unwrap_or(""),
                a.slots.gpus_per_trial
            ));
        }
        (Some(n), _) => n,
        (None, false) => by_gpus,
        (None, true) => 1,
    };
    if a.slots.gpu_env.trim().is_empty() {
        return Err("--gpu_env is empty".into());
    }
    check_var_name("--gpu_env", &a.slots.gpu_env)?;
    if slots > 1 && a.slots.port_stride == 0 {
        return Err("--port_stride: must be at least 1 with several slots".into());
    }
    let mut port_env = Vec::new();
    for p in &a.slots.port_env {
        let (name, base) = match p.split_once('=') {
            Some((n, b)) => (n.trim().to_string(), Some(b.trim().to_string())),
            None => (p.trim().to_string(), None),
        };
        if name.is_empty() || name == "PORT" {
            return Err(format!(
                "--port_env {p:?}: expected NAME=BASE or NAME (not PORT, which --port sets)"
            ));
        }
        check_var_name("--port_env", &name)?;
        if name == a.slots.gpu_env {
            return Err(format!(
                "--port_env {name} and --gpu_env {name}: one variable cannot hold both the devices and a port"
            ));
        }
        if port_env.iter().any(|(n, _)| *n == name) {
            return Err(format!(
                "--port_env {name}: given twice; each port variable once"
            ));
        }
        let base = match base.or_else(|| std::env::var(&name).ok()) {
            Some(b) => b,
            None => {
                return Err(format!(
                    "--port_env {name}: {name} is not set in the environment; give --port_env {name}=BASE"
                ));
            }
        };
        let base: u16 = base
            .parse()
            .ok()
            .filter(|b| *b > 0)
            .ok_or_else(|| format!("--port_env {name}: {base:?} is not a port number"))?;
        port_env.push((name, base));
    }
    let top = (slots as u64 - 1) * a.slots.port_stride as u64;
    for (name, base) in std::iter::once(("--port", a.ports_files.port)).chain(
        port_env
            .iter()
            .map(|(n, b)| (n.as_str(), *b))
            .collect::<Vec<_>>(),
    ) {
        if base as u64 + top > 65535 {
            return Err(format!(
                "{name} {base} + {} slots × --port_stride {} goes past port 65535",
                slots - 1,
                a.slots.port_stride
            ));
        }
    }
    Ok(autotune::SlotLayout {
        slots,
        gpus,
        gpus_per_trial: a.slots.gpus_per_trial,
        gpu_env: a.slots.gpu_env.clone(),
        port_stride: a.slots.port_stride,
        port_env,
    })
}
