//! The outcome of a run, as every front end tells it at the end: the winner
//! against the starting configuration, the gain and whether it is beyond the
//! run-to-run noise, trials by outcome, GPU time spent, and the files.

use std::path::PathBuf;
use std::sync::Arc;

use super::event::Outcome;
use super::goal::{Direction, Goal};
use super::progress::Counts;
use super::record::{Record, Status};
use super::search::{Params, trial_key};
use super::stats::{ci95, mean_sd, welch95};

/// A configuration's measured figures, pooled over every `ok` record of its
/// key in the results file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Measure {
    /// Mean accuracy and the 95 % half-width (`None` below 2 runs).
    pub accuracy: (f64, Option<f64>),
    /// Mean total tokens/s and the 95 % half-width.
    pub tps: (f64, Option<f64>),
    /// Eval runs pooled.
    pub runs: usize,
    /// The goal's metrics by name, objective first then each constrained
    /// one: mean and 95 % half-width. (For a goal without accuracy or
    /// total_tps, `accuracy` and `tps` are NaN.)
    pub figures: Vec<(String, f64, Option<f64>)>,
}

/// The files a run writes. An empty path is a file that does not exist
/// (see [`Files::existing`]): the outcome does not name it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Files {
    /// `tune_results.jsonl`.
    pub results: PathBuf,
    /// `best_params.json`.
    pub best: PathBuf,
    /// `tune_status.json`.
    pub status: PathBuf,
    /// `tune_server_logs/`.
    pub logs: PathBuf,
    /// The HTML report written at the end (`tune_report.html`), if any.
    pub report: Option<PathBuf>,
}

impl Files {
    /// These files less those not on disk (their paths emptied), so the
    /// outcome names only what a user can open. The report is not on disk
    /// yet when the outcome is made (it is written last); `report_due`
    /// says whether it will be (the results file holds a record).
    pub fn existing(self, report_due: bool) -> Files {
        let on_disk = |p: PathBuf| if p.exists() { p } else { PathBuf::new() };
        Files {
            results: on_disk(self.results),
            best: on_disk(self.best),
            status: on_disk(self.status),
            logs: on_disk(self.logs),
            report: self.report.filter(|_| report_due),
        }
    }
}

/// What a run achieved.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// How the run ended.
    pub outcome: Outcome,
    /// The starting configuration.
    pub start: Params,
    /// The winner: the base at the end.
    pub best: Params,
    /// Parameters that differ: `(name, start value, winner value)`.
    pub changed: Vec<(String, Option<String>, String)>,
    /// The starting configuration's figures, if measured.
    pub start_measure: Option<Measure>,
    /// How the starting configuration's trial ended when it has no ok
    /// measurement (`partial`, `crashed`, ...), if it ran.
    pub start_status: Option<String>,
    /// The winner's figures, if measured.
    pub best_measure: Option<Measure>,
    /// Gain on the goal's objective, percent of the start (positive is
    /// better: up for max, down for min), with the 95 % half-width when
    /// both sides have 2 runs or more.
    pub gain_pct: Option<(f64, Option<f64>)>,
    /// The goal the run tuned for.
    pub goal: Goal,
    /// Trials of this run by status, plus `reused`.
    pub counts: Counts,
    /// Trials of this run that ran but were not recorded: an environment
    /// failure (an eval command that cannot work) failed them, not their
    /// configuration. Not in `counts`.
    pub unrecorded: usize,
    /// Seconds the service was up (or starting) in this run's trials: the
    /// GPU time spent.
    pub gpu_s: f64,
    /// The files.
    pub files: Files,
    /// What a larger budget would likely add, as the search sees it (the
    /// pooled search says; coordinate ascent does not).
    pub outlook: Option<String>,
}

impl RunSummary {
    /// A summary with nothing measured (a run that ended before any trial).
    pub fn bare(outcome: Outcome, best: &Params) -> Self {
        summarize_run(outcome, best, best, &[], &[], 0, Files::default())
    }

    /// Whether the gain is beyond noise: its 95 % interval excludes zero.
    /// `None` when it cannot be told (fewer than 2 runs on a side).
    pub fn beyond_noise(&self) -> Option<bool> {
        let (g, h) = self.gain_pct?;
        h.map(|h| g.abs() > h)
    }

    /// Trials run in this run (not reused), recorded or not.
    pub fn trials_run(&self) -> usize {
        self.counts.total() - self.counts.get(Counts::REUSED) + self.unrecorded
    }

    /// Counts trials of this run that ran and were not recorded (see
    /// [`RunSummary::unrecorded`]), and their service time in the GPU time.
    /// The search's word on what a larger budget would add.
    pub fn with_outlook(mut self, outlook: Option<String>) -> Self {
        self.outlook = outlook;
        self
    }

    pub fn with_unrecorded(mut self, dropped: &[Arc<Record>]) -> Self {
        self.unrecorded += dropped.len();
        self.gpu_s += dropped.iter().filter_map(|r| r.total_s).sum::<f64>();
        self
    }

    /// The summary as plain lines, for the terminal after the live screen
    /// and for headless output.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        // Nothing has figures: no winner, no start, no gain to tell.
        let nothing = self.nothing_measured();
        let so_far = if nothing { "" } else { ": the best so far" };
        // What stopped the run, said here once (the front ends do not
        // repeat it).
        let how = match &self.outcome {
            Outcome::Done => "search finished".to_string(),
            Outcome::Aborted => format!("aborted{so_far}"),
            Outcome::Interrupted(s) => format!("interrupted by signal {s}{so_far}"),
            Outcome::Error(e) => format!("stopped by an error: {e}"),
            Outcome::Environment(e) => {
                format!("stopped: the environment failed, not the configuration: {e}")
            }
        };
        out.push(format!("autotune: {how}"));
        if !self.goal.is_default() {
            out.push(format!("  goal:    {}", self.goal.describe()));
        }
        if nothing {
            out.push(
                "  measured: nothing (no trial has figures): the starting configuration stands, untested"
                    .to_string(),
            );
        } else if self.changed.is_empty() && self.best_measure.is_none() {
            out.push("  winner:  none measured ok: the starting configuration stands".to_string());
        } else if self.changed.is_empty() {
            out.push("  winner: the starting configuration (no change beat it)".to_string());
        } else {
            out.push("  winner (changed from the start):".to_string());
            for (k, from, to) in &self.changed {
                out.push(format!(
                    "    {k}={to}   (was {})",
                    from.as_deref().unwrap_or("unset")
                ));
            }
        }
        self.figure_lines(nothing, &mut out);
        if let Some(o) = &self.outlook {
            out.push(format!("  beyond:  {o}"));
        }
        out.push(self.trials_line());
        self.file_lines(&mut out);
        out
    }

    /// Nothing has figures: no winner, no start, no gain to tell.
    fn nothing_measured(&self) -> bool {
        self.changed.is_empty()
            && self.best_measure.is_none()
            && self.start_measure.is_none()
            && self.start_status.is_none()
    }

    /// The winner's and the start's figures and the gain.
    fn figure_lines(&self, nothing: bool, out: &mut Vec<String>) {
        let default_goal = self.goal.is_default();
        let fmt = |m: &Measure| {
            if default_goal {
                return format!(
                    "{} tok/s, accuracy {} ({} runs)",
                    pm(m.tps.0, m.tps.1, 1),
                    pm(m.accuracy.0, m.accuracy.1, 4),
                    m.runs
                );
            }
            let figs: Vec<String> = m
                .figures
                .iter()
                .map(|(n, v, h)| format!("{n} {}", pm(*v, *h, if v.abs() < 10.0 { 4 } else { 1 })))
                .collect();
            format!("{} ({} runs)", figs.join(", "), m.runs)
        };
        match &self.best_measure {
            Some(m) => out.push(format!("  winner:  {}", fmt(m))),
            None if self.changed.is_empty() => {}
            None => out.push("  winner:  not measured".to_string()),
        }
        match (&self.start_measure, &self.start_status) {
            _ if nothing => {}
            (Some(m), _) => out.push(format!("  start:   {}", fmt(m))),
            (None, Some(st)) => out.push(format!(
                "  start:   {st}, not an ok measurement: no gain to compare"
            )),
            (None, None) => out.push("  start:   not measured".to_string()),
        }
        if let Some((g, h)) = self.gain_pct {
            let noise = match self.beyond_noise() {
                Some(true) => "beyond noise (95 % interval excludes 0)",
                Some(false) => "within noise (95 % interval includes 0)",
                None => "noise unknown (fewer than 2 runs)",
            };
            let what = if default_goal {
                String::new()
            } else {
                format!(" in {}", self.goal.objective.name)
            };
            out.push(format!("  gain:    {}%{what}, {noise}", pm_signed(g, h)));
        }
    }

    /// The trials run by status, those reused, and the GPU time.
    fn trials_line(&self) -> String {
        let mut counts: Vec<String> = self
            .counts
            .iter()
            .filter(|(k, _)| *k != Counts::REUSED)
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        if self.unrecorded > 0 {
            counts.push(format!("{} not recorded", self.unrecorded));
        }
        let reused = self.counts.get(Counts::REUSED);
        let run = match self.trials_run() {
            0 if reused == 0 => "none".to_string(),
            n => n.to_string(),
        };
        format!(
            "  trials:  {run} run{}{}; GPU time {}",
            if counts.is_empty() {
                String::new()
            } else {
                format!(" ({})", counts.join(", "))
            },
            if reused > 0 {
                format!(", {reused} reused (already measured)")
            } else {
                String::new()
            },
            human_s(self.gpu_s)
        )
    }

    /// The files that exist, and what to do next after an environment failure.
    fn file_lines(&self, out: &mut Vec<String>) {
        // Only files that exist (an empty path does not).
        let named = |p: &std::path::Path| !p.as_os_str().is_empty();
        if named(&self.files.best) {
            out.push(format!("  best params: {}", self.files.best.display()));
        }
        if let Some(r) = self.files.report.as_deref().filter(|r| named(r)) {
            out.push(format!("  report:  {}", r.display()));
        }
        match (named(&self.files.results), named(&self.files.logs)) {
            (true, true) => out.push(format!(
                "  results: {}   logs: {}",
                self.files.results.display(),
                self.files.logs.display()
            )),
            (true, false) => out.push(format!("  results: {}", self.files.results.display())),
            (false, true) => out.push(format!("  logs:    {}", self.files.logs.display())),
            (false, false) => {}
        }
        if matches!(self.outcome, Outcome::Environment(_)) {
            out.push(if !named(&self.files.results) {
                "  next:    fix the cause and run again".to_string()
            } else {
                "  next:    fix the cause and run again with --skip_existing (it reuses what was recorded)"
                    .to_string()
            });
        }
    }
}

fn pm(v: f64, h: Option<f64>, prec: usize) -> String {
    match h {
        Some(h) => format!("{v:.prec$} ± {h:.prec$}"),
        None => format!("{v:.prec$}"),
    }
}

fn pm_signed(v: f64, h: Option<f64>) -> String {
    match h {
        Some(h) => format!("{v:+.1} ± {h:.1}"),
        None => format!("{v:+.1}"),
    }
}

/// `1h 02m`, `3m 05s`, `12.3s`.
pub fn human_s(s: f64) -> String {
    let t = s.max(0.0).round() as u64;
    if t >= 3600 {
        format!("{}h {:02}m", t / 3600, (t % 3600) / 60)
    } else if t >= 60 {
        format!("{}m {:02}s", t / 60, t % 60)
    } else {
        format!("{s:.1}s")
    }
}

/// The ok runs of every `ok` record of `key` that carry every metric the
/// goal needs.
fn samples<'a>(
    records: &'a [Arc<Record>],
    key: &str,
    goal: &Goal,
) -> Vec<&'a super::record::EvalRun> {
    let need = goal.required_metrics();
    records
        .iter()
        .filter(|r| r.trial_key == key && r.status == Status::Ok)
        .flat_map(|r| {
            r.eval
                .as_ref()
                .and_then(|e| e.eval_runs.as_ref())
                .into_iter()
                .flatten()
        })
        .filter(|x| x.ok && need.iter().all(|n| Goal::run_value(x, n).is_some()))
        .collect()
}

/// The figures of `key` and its objective's samples.
fn measure(records: &[Arc<Record>], key: &str, goal: &Goal) -> Option<(Measure, Vec<f64>)> {
    let runs = samples(records, key, goal);
    let vals =
        |n: &str| -> Vec<f64> { runs.iter().filter_map(|x| Goal::run_value(x, n)).collect() };
    let fig = |n: &str| -> (f64, Option<f64>) {
        let v = vals(n);
        match mean_sd(&v) {
            Some((m, _)) => (m, ci95(&v)),
            None => (f64::NAN, None),
        }
    };
    let obj = vals(&goal.objective.name);
    mean_sd(&obj)?;
    let figures = goal
        .required_metrics()
        .into_iter()
        .map(|n| {
            let (m, h) = fig(n);
            (n.to_string(), m, h)
        })
        .collect();
    Some((
        Measure {
            accuracy: fig("accuracy"),
            tps: fig("total_tps"),
            runs: obj.len(),
            figures,
        },
        obj,
    ))
}

/// Builds the summary for today's goal (max total_tps, accuracy bar). See
/// [`summarize_run_for`].
pub fn summarize_run(
    outcome: Outcome,
    start: &Params,
    best: &Params,
    all: &[Arc<Record>],
    ran: &[Arc<Record>],
    reused: usize,
    files: Files,
) -> RunSummary {
    let goal = Goal::default_for(0.0);
    summarize_run_for(&goal, outcome, start, best, all, ran, reused, files)
}

/// Builds the summary. `all` are every record known (the results file and
/// this run's), `ran` this run's own, `reused` how many trials were reused;
/// the gain is on `goal`'s objective.
#[allow(clippy::too_many_arguments)]
pub fn summarize_run_for(
    goal: &Goal,
    outcome: Outcome,
    start: &Params,
    best: &Params,
    all: &[Arc<Record>],
    ran: &[Arc<Record>],
    reused: usize,
    files: Files,
) -> RunSummary {
    let changed = best
        .iter()
        .filter(|(k, v)| start.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), start.get(k).cloned(), v.clone()))
        .collect();
    let s = measure(all, &trial_key(start), goal);
    let b = measure(all, &trial_key(best), goal);
    let gain_pct = match (&s, &b) {
        (Some((sm, st)), Some((bm, bt))) if sm.figures[0].1 > 0.0 => {
            let (so, bo) = (sm.figures[0].1, bm.figures[0].1);
            let g = match goal.objective.dir {
                Direction::Max => (bo / so - 1.0) * 100.0,
                Direction::Min => (1.0 - bo / so) * 100.0,
            };
            let h = welch95(st, bt).map(|(_, h)| h / so * 100.0);
            Some((g, h))
        }
        _ => None,
    };
    RunSummary {
        outcome,
        start: start.clone(),
        best: best.clone(),
        changed,
        start_status: if s.is_some() {
            None
        } else {
            // This run's trial of it first, then the file's; an ok record
            // without usable runs is "not measured".
            let key = trial_key(start);
            ran.iter()
                .rev()
                .chain(all.iter().rev())
                .find(|r| r.trial_key == key)
                .filter(|r| r.status != Status::Ok)
                .map(|r| r.status.to_string())
        },
        start_measure: s.map(|x| x.0),
        best_measure: b.map(|x| x.0),
        gain_pct,
        goal: goal.clone(),
        counts: Counts::of(ran.iter().map(|r| &**r), reused),
        unrecorded: 0,
        // Sum from +0.0: an empty float sum is -0.0, printed "-0.0s".
        gpu_s: ran.iter().filter_map(|r| r.total_s).fold(0.0, |a, b| a + b),
        files,
        outlook: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::record::{EvalRun, Measured, summarize};

    fn rec(params: &Params, tps: &[f64]) -> Arc<Record> {
        let runs = tps
            .iter()
            .enumerate()
            .map(|(i, t)| EvalRun {
                i: i as u32 + 1,
                ok: true,
                measured: Some(Measured {
                    accuracy: Some(0.9),
                    total_tps: Some(*t),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        Arc::new(Record {
            trial_key: trial_key(params),
            params: params.clone(),
            status: Status::Ok,
            eval: Some(summarize(runs)),
            total_s: Some(10.0),
            ..Default::default()
        })
    }

    #[test]
    fn gain_and_noise() {
        let start: Params = [("A".to_string(), "1".to_string())].into();
        let best: Params = [("A".to_string(), "2".to_string())].into();
        let all = vec![
            rec(&start, &[100.0, 101.0, 99.0]),
            rec(&best, &[110.0, 111.0, 109.0]),
        ];
        let s = summarize_run(
            Outcome::Done,
            &start,
            &best,
            &all,
            &all,
            3,
            Files::default(),
        );
        assert_eq!(s.changed, vec![("A".into(), Some("1".into()), "2".into())]);
        let (g, h) = s.gain_pct.unwrap();
        assert!((g - 10.0).abs() < 1e-9);
        assert!(h.unwrap() < 5.0);
        assert_eq!(s.beyond_noise(), Some(true));
        assert_eq!(s.counts.get("ok"), 2);
        assert_eq!(s.counts.get("reused"), 3);
        assert_eq!(s.trials_run(), 2);
        assert_eq!(s.gpu_s, 20.0);
        let text = s.lines().join("\n");
        assert!(text.contains("A=2   (was 1)"), "{text}");
        assert!(text.contains("+10.0 ±"), "{text}");
        assert!(text.contains("beyond noise"), "{text}");

        let close = vec![
            rec(&start, &[100.0, 103.0, 97.0]),
            rec(&best, &[101.0, 98.0, 104.0]),
        ];
        let s = summarize_run(
            Outcome::Aborted,
            &start,
            &best,
            &close,
            &[],
            0,
            Files::default(),
        );
        assert_eq!(s.beyond_noise(), Some(false));
        assert!(s.lines()[0].contains("aborted"));
    }

    /// A start whose trial ended partial (some eval runs failed) is not
    /// "not measured": the outcome says how it ended and compares nothing.
    #[test]
    fn a_partial_start_says_how_it_ended() {
        let start: Params = [("A".to_string(), "1".to_string())].into();
        let best: Params = [("A".to_string(), "2".to_string())].into();
        let partial = Arc::new(Record {
            status: Status::Partial,
            ..(*rec(&start, &[100.0, 101.0])).clone()
        });
        let all = vec![partial, rec(&best, &[110.0, 111.0, 109.0])];
        let s = summarize_run(
            Outcome::Done,
            &start,
            &best,
            &all,
            &all,
            0,
            Files::default(),
        );
        assert!(s.gain_pct.is_none());
        let t = s.lines().join("\n");
        assert!(
            t.contains("start:   partial, not an ok measurement: no gain to compare"),
            "{t}"
        );
    }

    /// Nothing measured: one line says so, without a winner that
    /// "beat" anything or a start "not measured" beside it.
    #[test]
    fn unmeasured_start_says_so_once() {
        let start = Params::new();
        let s = summarize_run(Outcome::Done, &start, &start, &[], &[], 0, Files::default());
        assert!(s.changed.is_empty());
        assert!(s.gain_pct.is_none());
        let t = s.lines().join("\n");
        assert!(
            t.contains("  measured: nothing (no trial has figures): the starting configuration stands, untested"),
            "{t}"
        );
        assert!(!t.contains("beat") && !t.contains("not measured"), "{t}");
        assert!(t.contains("  trials:  none run;"), "{t}");
    }

    /// After an environment failure: what stopped the run once, in the
    /// first line; trials that ran unrecorded counted; only files that
    /// exist named.
    #[test]
    fn an_environment_failure_counts_unrecorded_trials_and_names_only_real_files() {
        let start: Params = [("A".to_string(), "1".to_string())].into();
        let tried: Params = [("A".to_string(), "2".to_string())].into();
        let mut broken = (*rec(&tried, &[])).clone();
        broken.status = Status::Failed;
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let files = Files {
            results: dir.path().join("results.jsonl"),
            best: dir.path().join("best.json"),
            status: dir.path().join("status.json"),
            logs: logs.clone(),
            report: Some(dir.path().join("report.html")),
        }
        .existing(false);
        let s = summarize_run(
            Outcome::Environment("the eval command looks broken".into()),
            &start,
            &start,
            &[],
            &[],
            0,
            files,
        )
        .with_unrecorded(&[rec(&start, &[]), Arc::new(broken)]);
        assert_eq!(s.trials_run(), 2);
        assert_eq!(s.gpu_s, 20.0);
        let t = s.lines().join("\n");
        assert_eq!(
            s.lines()[0],
            "autotune: stopped: the environment failed, not the configuration: the eval command looks broken"
        );
        assert_eq!(t.matches("looks broken").count(), 1, "{t}");
        assert!(
            t.contains("  trials:  2 run (2 not recorded); GPU time 20.0s"),
            "{t}"
        );
        assert!(t.contains(&format!("  logs:    {}", logs.display())), "{t}");
        for absent in ["results.jsonl", "best.json", "report.html", "best params"] {
            assert!(!t.contains(absent), "{absent}: {t}");
        }
        assert!(t.ends_with("  next:    fix the cause and run again"), "{t}");
    }
}
