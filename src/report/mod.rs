//! `autotune report`: one self-contained HTML page about a results file,
//! for the person deciding what to deploy: the winner against the start,
//! the search path, a chart per parameter group, the failures and the
//! Pareto front of the objective against each constraint.

pub mod html;
pub mod model;
pub mod svg;

use std::path::{Path, PathBuf};

use crate::cli::ReportArgs;

/// Where the report goes by default: beside the results file.
pub fn default_output(results: &Path) -> PathBuf {
    results
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("tune_report.html")
}

/// Reads a results file for a report or a deploy: a missing, unreadable or
/// empty file is an error naming it.
pub fn read_records(path: &Path) -> Result<autotune::store::Loaded, String> {
    match std::fs::metadata(path) {
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
    if let Some(w) = loaded.warning(path) {
        eprintln!("autotune: warning: {w}");
    }
    Ok(loaded)
}

/// Builds the report for `results` with `criteria` and returns the page.
pub fn page(results: &Path, criteria: model::Criteria) -> Result<String, String> {
    let loaded = read_records(results)?;
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
            eprintln!("autotune: warning: {e}; the report works from the results alone");
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
    let threshold = match crate::cli::threshold("--accuracy_threshold", a.accuracy_threshold) {
        Ok(t) => t,
        Err(m) => return crate::usage_error(&m),
    };
    let results = a
        .results
        .clone()
        .unwrap_or_else(|| a.repo.join("tune_results.jsonl"));
    let out = a.output.clone().unwrap_or_else(|| default_output(&results));
    let text = match page(&results, model::Criteria::accuracy_bar(threshold)) {
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
