//! `autotune best`: the winning configuration ready to deploy, from
//! `best_params.json` or the best qualifying record of any results file, as
//! shell exports, a systemd environment file, JSON, or command-line flags.
//! Only the configuration goes to stdout (so it can be piped or sourced);
//! where it came from goes to stderr.

use std::path::{Path, PathBuf};

use autotune::{BestRule, Goal, Params, trial_key};

use crate::cli::{BestArgs, BestFormat};
use crate::ui::osc52::shell_word;

/// Where a configuration came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A `best_params.json`.
    BestFile(PathBuf),
    /// The best qualifying record of a results file.
    Record {
        /// The results file.
        path: PathBuf,
        /// Its trial index, if known.
        index: Option<u32>,
        /// Mean total tokens/s.
        tps: Option<f64>,
        /// Mean accuracy.
        accuracy: Option<f64>,
        /// With a declared goal (not today's): the objective's and each
        /// constrained metric's name and mean, which say why it won.
        declared: Vec<(String, Option<f64>)>,
    },
}

impl Source {
    /// One line for stderr.
    pub fn describe(&self) -> String {
        match self {
            Source::BestFile(p) => format!("from {}", p.display()),
            Source::Record {
                path,
                index,
                tps,
                accuracy,
                declared,
            } => {
                let figures = if declared.is_empty() {
                    format!(
                        "{} tok/s, accuracy {}",
                        autotune::fig(*tps, 1),
                        autotune::fig(*accuracy, 4)
                    )
                } else {
                    declared
                        .iter()
                        .map(|(n, v)| format!("{n} {}", autotune::fig(*v, 4)))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!(
                    "best qualifying record of {}{}: {figures}",
                    path.display(),
                    index.map(|i| format!(" (trial {i})")).unwrap_or_default(),
                )
            }
        }
    }
}

/// Whether the text looks like a results file rather than a parameters
/// object: JSON lines, or one object that is a record (it has `params`).
fn looks_like_results(text: &str) -> bool {
    match serde_json::from_str::<serde_json::Value>(text.trim_start_matches('\u{feff}')) {
        Ok(serde_json::Value::Object(m)) => m.get("params").is_some_and(|p| p.is_object()),
        _ => true,
    }
}

/// The best qualifying record of a results file, judged by `goal` as the
/// run that wrote it judged a winner: under its recorded noise-aware policy
/// a record whose accuracy clears the bar only within the noise is not the
/// best (the search refused it), unless the search ended on it (the best
/// file beside the results); without a recorded policy the means decide.
pub fn from_results(path: &Path, goal: &Goal) -> Result<(Params, Source), String> {
    let loaded = crate::report::read_records(path)?;
    let incumbent = autotune::store::read_best(&crate::report::beside(path, "best_params.json"))
        .ok()
        .flatten()
        .map(|p| trial_key(&p));
    let rule = BestRule::for_records(
        goal.clone(),
        crate::report::recorded_policy(path),
        &loaded.records,
        incumbent,
    );
    // The search's own choice, replayed from the records with the setup
    // the run recorded (for the run's own goal): the one rule every front
    // end follows. Only a file without a recorded setup (auto_tune.py's,
    // an older run's) ranks its records.
    let all: Vec<std::sync::Arc<autotune::Record>> = loaded
        .records
        .iter()
        .cloned()
        .map(std::sync::Arc::new)
        .collect();
    let best = match autotune::choice::of_file(path, goal, &all) {
        Some(c) => loaded
            .records
            .iter()
            .rev()
            .find(|r| r.trial_key == c.key && c.stands)
            .cloned(),
        // Without a recorded setup, under a recorded noise policy, for the
        // run's own goal: where the search ended (the best file beside the
        // results) when it qualifies, rather than a lucky single record.
        None => rule
            .policy
            .filter(|_| crate::report::recorded_goal(path).is_none_or(|g| &g == goal))
            .and(rule.incumbent.as_deref())
            .and_then(|k| loaded.records.iter().rev().find(|r| r.trial_key == k))
            .filter(|r| rule.admits(r))
            .or_else(|| rule.best(&loaded.records))
            .cloned(),
    };
    let best = best.ok_or_else(|| {
        let within = loaded
            .records
            .iter()
            .filter(|r| rule.within_noise(r))
            .count();
        format!(
            "{}: no record qualifies (status ok, {}){}",
            path.display(),
            goal.describe(),
            if within > 0 {
                format!(
                    "; {within} meet it only within the run-to-run noise, which the search does not take as a winner"
                )
            } else {
                String::new()
            }
        )
    })?;
    let declared = if goal.is_default() {
        Vec::new()
    } else {
        goal.required_metrics()
            .into_iter()
            .map(|n| (n.to_string(), Goal::mean(&best, n)))
            .collect()
    };
    Ok((
        best.params.clone(),
        Source::Record {
            path: path.to_path_buf(),
            index: best.index(),
            tps: best.avg_total_tps(),
            accuracy: best.avg_accuracy(),
            declared,
        },
    ))
}

fn from_best_file(path: &Path) -> Result<Option<(Params, Source)>, String> {
    Ok(autotune::store::read_best(path)?.map(|p| (p, Source::BestFile(path.to_path_buf()))))
}

/// Finds the configuration `a` asks for.
pub fn resolve(a: &BestArgs) -> Result<(Params, Source), String> {
    // Bad goal flags are an error even when the best file answers.
    crate::report::file_goal(Path::new("tune_results.jsonl"), &a.goal)?;
    let goal_of = |results: &Path| crate::report::file_goal(results, &a.goal);
    if let Some(f) = &a.file {
        let meta = std::fs::metadata(f).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "the file {} does not exist (give a results file or a best_params.json, or --repo DIR holding them)",
                f.display()
            ),
            _ => format!("{}: {e}", f.display()),
        })?;
        if meta.is_dir() {
            return Err(format!(
                "{}: is a directory (give a file, or --repo {})",
                f.display(),
                f.display()
            ));
        }
        let text = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let text = String::from_utf8_lossy(&text);
        let jsonl = f.extension().is_some_and(|e| e == "jsonl");
        if jsonl || looks_like_results(&text) {
            return from_results(f, &goal_of(f)?);
        }
        return from_best_file(f)?
            .ok_or_else(|| format!("{}: empty: no parameters to deploy", f.display()));
    }
    let best = a.repo.join("best_params.json");
    let results = a.repo.join("tune_results.jsonl");
    // A goal asked for on the command line is answered from the results:
    // best_params.json holds the winner of the run's own goal.
    if !a.goal.asked()
        && let Some(found) = from_best_file(&best)?
    {
        return Ok(found);
    }
    if results.exists() {
        return from_results(&results, &goal_of(&results)?);
    }
    Err(format!(
        "no configuration found: neither {} nor {} exists (give a file, or --repo DIR)",
        best.display(),
        results.display()
    ))
}

/// Whether `k` can be an environment variable's name in a shell and in
/// systemd.
fn env_name(k: &str) -> bool {
    let mut c = k.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// A value for a systemd `EnvironmentFile=`: bare when it is plain, else
/// double-quoted with `\`, `"`, `$` and `` ` `` escaped by a backslash (the
/// escapes systemd's parser takes inside double quotes, the same a POSIX
/// shell takes, so the file can also be sourced with `set -a`).
pub fn systemd_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.,:/@+=".contains(c));
    if plain {
        return v.to_string();
    }
    let mut o = String::from("\"");
    for c in v.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            o.push('\\');
        }
        o.push(c);
    }
    o.push('"');
    o
}

/// `GPU_MEMORY_UTILIZATION` → `--gpu-memory-utilization`.
pub fn flag_name(k: &str) -> String {
    format!("--{}", k.to_ascii_lowercase().replace('_', "-"))
}

/// The configuration in `format`.
pub fn render(p: &Params, format: BestFormat) -> Result<String, String> {
    // A name goes out as a word of shell (a variable or a flag): one that
    // is not an environment name could carry shell syntax from the file.
    if !matches!(format, BestFormat::Json)
        && let Some(k) = p.keys().find(|k| !env_name(k))
    {
        return Err(format!(
            "parameter {k:?} is not a valid environment variable name; use --format json"
        ));
    }
    Ok(match format {
        BestFormat::Shell => crate::ui::osc52::exports(p),
        BestFormat::Env => p
            .iter()
            .map(|(k, v)| format!("{k}={}\n", systemd_value(v)))
            .collect(),
        BestFormat::Json => {
            let mut s = String::from_utf8(autotune::store::pretty_json(p)).expect("JSON is UTF-8");
            s.push('\n');
            s
        }
        BestFormat::Args => {
            let words: Vec<String> = p
                .iter()
                .map(|(k, v)| format!("{} {}", flag_name(k), shell_word(v)))
                .collect();
            format!("{}\n", words.join(" "))
        }
    })
}

/// `autotune best`.
pub fn run(a: &BestArgs) -> i32 {
    let (params, source) = match resolve(a) {
        Ok(x) => x,
        Err(m) => return crate::usage_error(&m),
    };
    let text = match render(&params, a.format) {
        Ok(t) => t,
        Err(m) => return crate::usage_error(&format!("{}: {m}", source.describe())),
    };
    eprintln!("autotune: {}", source.describe());
    print!("{text}");
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_quoting() {
        assert_eq!(systemd_value("0.98"), "0.98");
        assert_eq!(systemd_value("<|im_end|>"), "\"<|im_end|>\"");
        assert_eq!(systemd_value("a b"), "\"a b\"");
        assert_eq!(systemd_value(r#"$x"y\z`"#), r#""\$x\"y\\z\`""#);
        assert_eq!(systemd_value(""), "\"\"");
        assert_eq!(systemd_value("%h"), "\"%h\"");
    }

    #[test]
    fn flags_are_kebab() {
        assert_eq!(flag_name("VLLM_MAX_NUM_SEQS"), "--vllm-max-num-seqs");
    }

    #[test]
    fn bad_names_refused_for_env() {
        let p: Params = [("not-a-name".to_string(), "1".to_string())].into();
        assert!(render(&p, BestFormat::Shell).is_err());
        assert!(render(&p, BestFormat::Json).is_ok());
    }
}
