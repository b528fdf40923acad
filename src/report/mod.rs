//! `autotune report`: one self-contained HTML page about a results file,
//! for the person deciding what to deploy: the winner against the start,
//! the search path, a chart per parameter group, the failures and the
//! Pareto front of the objective against each constraint.

pub mod beliefs;
pub mod html;
pub mod model;
pub mod steps;
pub mod svg;

use std::path::{Path, PathBuf};

use autotune::{Constraint, Direction, Goal, NoisePolicy, Objective, Op};

use crate::cli::{GoalArgs, ReportArgs};

/// Where the report goes by default: beside the results file.
pub fn default_output(results: &Path) -> PathBuf {
    results
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("tune_report.html")
}

/// The goal recorded by the run that wrote `results`: the `goal` of
/// `tune_status.json` beside it. A missing, unreadable or goal-less status
/// file is simply no goal (an older run's, or another tool's).
pub fn recorded_goal(results: &Path) -> Option<Goal> {
    serde_json::from_value(recorded(results, "goal")?).ok()
}

/// A field of `tune_status.json` beside `results`.
fn recorded(results: &Path, field: &str) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(beside(results, "tune_status.json")).ok()?;
    let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
    doc.get(field).cloned()
}

/// `name` in the directory of `results`.
pub fn beside(results: &Path, name: &str) -> PathBuf {
    results
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(name)
}

/// The noise policy of the run that wrote `results` (its status file's
/// `search_policy`); `None` for `"plain"` and when nothing is recorded (an
/// older run's file, `auto_tune.py`'s): the means decide, as they did.
pub fn recorded_policy(results: &Path) -> Option<NoisePolicy> {
    serde_json::from_value(recorded(results, "search_policy")?).ok()
}

/// The goal to judge `results` by: the flags' when --objective or
/// --constraint is given; else the goal recorded beside the file (with a
/// typed --accuracy_threshold replacing its accuracy bar); else today's.
/// A recorded goal matters: a latency-bound run's winner is not the
/// fastest configuration, and judging it by tok/s would name another.
pub fn file_goal(results: &Path, f: &GoalArgs) -> Result<Goal, String> {
    let acc = crate::cli::threshold("--accuracy_threshold", f.accuracy_threshold)?;
    let acc_constraint = Goal::default_for(acc).constraints.remove(0);
    if !f.asked() {
        let Some(mut g) = recorded_goal(results) else {
            return Ok(Goal::default_for(acc));
        };
        if f.accuracy_threshold_given {
            g.constraints
                .retain(|c| !(c.name == "accuracy" && c.op == Op::Ge));
            g.constraints.push(acc_constraint);
        }
        return Ok(g);
    }
    let objective = match f.objective.as_deref().map(str::trim) {
        None => Objective {
            name: "total_tps".into(),
            dir: Direction::Max,
        },
        Some(o) => {
            let (name, dir) = match o.rsplit_once(':') {
                Some((n, d)) => (
                    n.trim(),
                    Direction::parse(d).ok_or_else(|| {
                        format!("--objective {o:?}: expected NAME, NAME:max or NAME:min")
                    })?,
                ),
                None => (o, Direction::Max),
            };
            autotune::check_metric_name(name).map_err(|e| format!("--objective: {e}"))?;
            Objective {
                name: name.to_string(),
                dir,
            }
        }
    };
    let mut constraints = Vec::new();
    for c in &f.constraint {
        let c = Constraint::parse(c).map_err(|e| format!("--constraint {e}"))?;
        autotune::check_metric_name(&c.name).map_err(|e| format!("--constraint: {e}"))?;
        constraints.push(c);
    }
    if f.accuracy_threshold_given && !constraints.iter().any(|c| c.name == "accuracy") {
        constraints.push(acc_constraint);
    }
    autotune::check_feasible(&constraints).map_err(|e| format!("--constraint: {e}"))?;
    Ok(Goal {
        objective,
        constraints,
    })
}

/// Reads a results file for a report or a deploy: a missing, unreadable or
/// empty file is an error naming it.
pub fn read_records(path: &Path) -> Result<autotune::store::Loaded, String> {
    let (loaded, warning) = read_records_quiet(path)?;
    if let Some(w) = warning {
        eprintln!("autotune: warning: {w}");
    }
    Ok(loaded)
}

/// [`read_records`] that returns its warning instead of printing it (the
/// end of a run writes the report while the live screen is up).
fn read_records_quiet(path: &Path) -> Result<(autotune::store::Loaded, Option<String>), String> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "the results file {} does not exist (name one, or --repo DIR holding tune_results.jsonl)",
                path.display()
            ));
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
        Ok(m) if m.is_dir() => {
            return Err(format!(
                "{}: is a directory, not a results file",
                path.display()
            ));
        }
        Ok(_) => {}
    }
    let loaded = autotune::store::load_results(path).map_err(|e| e.to_string())?;
    if loaded.records.is_empty() {
        return Err(format!(
            "{}: no readable record{}",
            path.display(),
            if loaded.bad_lines.is_empty() {
                String::new()
            } else {
                format!(" ({} unreadable line(s))", loaded.bad_lines.len())
            }
        ));
    }
    let warning = loaded.warning(path);
    Ok((loaded, warning))
}

/// Builds the report for `results` with `criteria` and returns the page;
/// warnings go to stderr.
pub fn page(results: &Path, criteria: model::Criteria) -> Result<String, String> {
    page_with(results, criteria, &mut |w| {
        eprintln!("autotune: warning: {w}")
    })
}

/// [`page`] with the warnings handed to `warn`.
pub fn page_with(
    results: &Path,
    criteria: model::Criteria,
    warn: &mut dyn FnMut(String),
) -> Result<String, String> {
    let (loaded, warning) = read_records_quiet(results)?;
    if let Some(w) = warning {
        warn(w);
    }
    let best_path = results
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("best_params.json");
    // A best file that cannot be read only loses the last group's tie-break:
    // say so and go on.
    let best = match autotune::store::read_best(&best_path) {
        Ok(b) => b,
        Err(e) => {
            warn(format!("{e}; the report works from the results alone"));
            None
        }
    };
    let rep = model::build(
        results,
        loaded.records,
        loaded.bad_lines.len(),
        best,
        criteria,
    );
    let generated = chrono::Local::now().format("%Y-%m-%d %H:%M").to_string();
    Ok(html::render(&rep, &generated))
}

/// `autotune report`.
pub fn run(a: &ReportArgs) -> i32 {
    let results = a
        .results
        .clone()
        .unwrap_or_else(|| a.repo.join("tune_results.jsonl"));
    // The page must not replace a file of the run it reports on.
    let out = a.output.clone().unwrap_or_else(|| default_output(&results));
    let typed = a
        .output
        .as_ref()
        .map(|o| format!("-o {}", o.display()))
        .unwrap_or_else(|| format!("the report's default path {}", out.display()));
    let run_files = [
        (
            format!("the results file {}", results.display()),
            results.clone(),
        ),
        (
            "its best params file (best_params.json beside it)".into(),
            beside(&results, "best_params.json"),
        ),
        (
            "its status file (tune_status.json beside it)".into(),
            beside(&results, "tune_status.json"),
        ),
        (
            "its service state file (.autotune_service.json beside it)".into(),
            beside(&results, ".autotune_service.json"),
        ),
        (
            "its lock file (.autotune.lock beside it)".into(),
            beside(&results, ".autotune.lock"),
        ),
        (
            "its own lock file (its name + .lock)".into(),
            autotune::store::output_lock_path(&results),
        ),
    ];
    for (what, p) in run_files {
        if let Err(m) = crate::cli::distinct_files(&[(what, p), (typed.clone(), out.clone())]) {
            return crate::usage_error(&format!("{m} (-o names another path for the page)"));
        }
    }
    let goal = match file_goal(&results, &a.goal) {
        Ok(g) => g,
        Err(m) => return crate::usage_error(&m),
    };
    // A metric no record carries is a typo, not a report to write.
    if a.goal.asked() {
        let loaded = match read_records(&results) {
            Ok(l) => l,
            Err(m) => return crate::usage_error(&m),
        };
        let names = std::iter::once((&goal.objective.name, "--objective"))
            .chain(goal.constraints.iter().map(|c| (&c.name, "--constraint")));
        for (name, flag) in names {
            if !loaded
                .records
                .iter()
                .any(|r| autotune::Goal::mean(r, name).is_some())
            {
                return crate::usage_error(&format!(
                    "{flag}: no record of {} has the metric {name:?}",
                    results.display()
                ));
            }
        }
    }
    let text = match page(&results, model::Criteria::of_goal(&goal)) {
        Ok(t) => t,
        Err(m) => return crate::usage_error(&m),
    };
    if let Some(d) = out.parent().filter(|d| !d.as_os_str().is_empty())
        && !d.is_dir()
    {
        return crate::usage_error(&format!(
            "-o {}: directory {} does not exist",
            out.display(),
            d.display()
        ));
    }
    if out.is_dir() {
        return crate::usage_error(&format!("-o {}: is a directory", out.display()));
    }
    if let Err(e) = autotune::store::write_atomic(&out, text.as_bytes()) {
        eprintln!("autotune: error: {e}");
        return 1;
    }
    println!("{}", out.display());
    0
}
