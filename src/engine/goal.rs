//! What a run tunes for: one objective metric to maximise or minimise,
//! subject to bounds on other metrics (`--objective`, `--constraint`). The
//! metrics are named: the four built-ins every record has (`accuracy`,
//! `total_tps`, `answer_tps`, `total_time_s`) and any `--metric NAME=REGEX`,
//! kept in each eval run's `metrics` map.

use serde::{Deserialize, Serialize};

use super::record::{EvalRun, Record, Status};

/// The metric names every record carries in its own fields.
pub const BUILTIN_METRICS: [&str; 4] = ["accuracy", "total_tps", "answer_tps", "total_time_s"];

/// Which way the objective is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Higher is better (throughput).
    Max,
    /// Lower is better (latency, time).
    Min,
}

impl Direction {
    /// `max` or `min`, as the flags spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Max => "max",
            Direction::Min => "min",
        }
    }

    /// Parses `max` or `min`.
    pub fn parse(s: &str) -> Option<Direction> {
        match s.trim() {
            "max" => Some(Direction::Max),
            "min" => Some(Direction::Min),
            _ => None,
        }
    }
}

/// The metric a run optimises.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    /// Metric name.
    pub name: String,
    /// Which way is better.
    pub dir: Direction,
}

/// How a constraint bounds its metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// At least the bound.
    #[serde(rename = ">=")]
    Ge,
    /// At most the bound.
    #[serde(rename = "<=")]
    Le,
}

impl Op {
    /// `>=` or `<=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Ge => ">=",
            Op::Le => "<=",
        }
    }

    /// Whether `v` is within `bound`.
    pub fn holds(self, v: f64, bound: f64) -> bool {
        match self {
            Op::Ge => v >= bound,
            Op::Le => v <= bound,
        }
    }
}

/// A bound a winning configuration's mean must meet (an SLA, an accuracy
/// bar).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    /// Metric name.
    pub name: String,
    /// Direction of the bound.
    pub op: Op,
    /// The bound.
    pub bound: f64,
}

impl Constraint {
    /// Parses `NAME>=X` or `NAME<=X` (spaces allowed around the parts).
    pub fn parse(s: &str) -> Result<Constraint, String> {
        let (name, op, bound) = if let Some((n, b)) = s.split_once(">=") {
            (n, Op::Ge, b)
        } else if let Some((n, b)) = s.split_once("<=") {
            (n, Op::Le, b)
        } else {
            return Err(format!(
                "{s:?}: expected NAME>=NUMBER or NAME<=NUMBER, e.g. 'p99_ttft_ms<=200'"
            ));
        };
        let name = name.trim();
        check_metric_name(name).map_err(|m| format!("{s:?}: {m}"))?;
        let bound: f64 = bound
            .trim()
            .parse()
            .ok()
            .filter(|b: &f64| b.is_finite())
            .ok_or_else(|| format!("{s:?}: the bound {:?} is not a number", bound.trim()))?;
        Ok(Constraint {
            name: name.to_string(),
            op,
            bound,
        })
    }

    /// `NAME>=X`, as the flag spells it.
    pub fn describe(&self) -> String {
        format!("{} {} {}", self.name, self.op.as_str(), self.bound)
    }
}

/// Refuses constraints no value can meet: for one metric, a lower bound
/// above an upper bound (`p99<=1` with `p99>=2`). Every configuration
/// would fail them, so a run would end with no winner. Equal bounds are a
/// point, and allowed.
pub fn check_feasible(constraints: &[Constraint]) -> Result<(), String> {
    for lo in constraints.iter().filter(|c| c.op == Op::Ge) {
        if let Some(hi) = constraints
            .iter()
            .find(|c| c.op == Op::Le && c.name == lo.name && c.bound < lo.bound)
        {
            return Err(format!(
                "{} and {} contradict each other: no value of {} meets both",
                lo.describe(),
                hi.describe(),
                lo.name
            ));
        }
    }
    Ok(())
}

/// Checks a metric name: an identifier (letters, digits, `_`, not starting
/// with a digit), so it reads the same in flags, JSON and column headers.
pub fn check_metric_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "metric name {name:?} must be an identifier (letters, digits and _, not starting with a digit)"
        ))
    }
}

/// The objective and the constraints of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Goal {
    /// What to optimise.
    pub objective: Objective,
    /// What a winner must meet.
    pub constraints: Vec<Constraint>,
}

impl Goal {
    /// Today's goal: maximise total_tps with accuracy >= threshold.
    pub fn default_for(threshold: f64) -> Goal {
        Goal {
            objective: Objective {
                name: "total_tps".into(),
                dir: Direction::Max,
            },
            constraints: vec![Constraint {
                name: "accuracy".into(),
                op: Op::Ge,
                bound: threshold,
            }],
        }
    }

    /// Whether this is today's goal for some threshold (then the usual
    /// accuracy and tok/s columns already show it).
    pub fn is_default(&self) -> bool {
        self.constraints.len() == 1 && *self == Goal::default_for(self.constraints[0].bound)
    }

    /// The accuracy bar, when the goal has one (`accuracy >= X`).
    pub fn accuracy_threshold(&self) -> Option<f64> {
        self.constraints
            .iter()
            .find(|c| c.name == "accuracy" && c.op == Op::Ge)
            .map(|c| c.bound)
    }

    /// The metrics a run must parse to count as ok: the objective, then
    /// each constrained metric, without repeats.
    pub fn required_metrics(&self) -> Vec<&str> {
        let mut v = vec![self.objective.name.as_str()];
        for c in &self.constraints {
            if !v.contains(&c.name.as_str()) {
                v.push(&c.name);
            }
        }
        v
    }

    /// One eval run's value of a metric (built-in names: accuracy, total_tps, answer_tps, total_time_s; others from the run's metrics map).
    pub fn run_value(run: &EvalRun, name: &str) -> Option<f64> {
        let m = run.measured.as_ref();
        match name {
            "accuracy" => m.and_then(|m| m.accuracy),
            "total_tps" => m.and_then(|m| m.total_tps),
            "answer_tps" => m.and_then(|m| m.answer_tps),
            "total_time_s" => m.and_then(|m| m.total_time_s),
            other => run.metrics.as_ref().and_then(|x| x.get(other).copied()),
        }
        .filter(|v| v.is_finite())
    }

    /// A record's mean of a metric over its ok runs (falls back to the avg_* fields for auto_tune.py records without runs).
    /// A mean that is not finite (runs whose sum overflows, in a file
    /// written before such a trial failed) is no figure: `None`.
    pub fn mean(r: &Record, name: &str) -> Option<f64> {
        let e = r.eval.as_ref()?;
        let m = match e.eval_runs.as_ref().filter(|runs| !runs.is_empty()) {
            Some(runs) => {
                let vals: Vec<f64> = runs
                    .iter()
                    .filter(|x| x.ok)
                    .filter_map(|x| Goal::run_value(x, name))
                    .collect();
                (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
            }
            None => match name {
                "accuracy" => e.avg_accuracy,
                "total_tps" => e.avg_total_tps,
                "answer_tps" => e.avg_answer_tps,
                "total_time_s" => e.avg_total_time_s,
                other => e.avg_metrics.as_ref().and_then(|m| m.get(other).copied()),
            },
        };
        m.filter(|m| m.is_finite())
    }

    /// Whether the record is ok and every constraint's mean holds.
    ///
    /// The objective's mean must be there too: a record without it cannot
    /// be ranked (today's rule, which wants a tok/s figure, is the default
    /// goal's case).
    pub fn qualifies(&self, r: &Record) -> bool {
        r.status == Status::Ok
            && self.objective_mean(r).is_some()
            && self
                .constraints
                .iter()
                .all(|c| Goal::mean(r, &c.name).is_some_and(|v| c.op.holds(v, c.bound)))
    }

    /// A metric this goal needs (the objective, a constrained one) that a
    /// measured record lacks: its ok runs were parsed for another goal (a
    /// new `--objective` or `--metric` on resume), so it says nothing about
    /// this one. `None` for a record without ok runs (a failure is one
    /// whatever the goal).
    pub fn missing_metric<'a>(&'a self, r: &Record) -> Option<&'a str> {
        let e = r.eval.as_ref()?;
        let served = match e.eval_runs.as_ref().filter(|runs| !runs.is_empty()) {
            Some(runs) => runs.iter().any(|x| x.ok),
            None => r.status == Status::Ok,
        };
        if !served {
            return None;
        }
        self.required_metrics()
            .into_iter()
            .find(|m| Goal::mean(r, m).is_none())
    }

    /// The objective's mean, or None.
    pub fn objective_mean(&self, r: &Record) -> Option<f64> {
        Goal::mean(r, &self.objective.name)
    }

    /// Whether a is better than b on the objective (respecting Direction).
    pub fn better(&self, a: f64, b: f64) -> bool {
        match self.objective.dir {
            Direction::Max => a > b,
            Direction::Min => a < b,
        }
    }

    /// The qualifying record (with a trial key) best on the objective; the
    /// first of equals wins, as the old tool's strict `>` does.
    pub fn best_of<'a, I: IntoIterator<Item = &'a Record>>(
        &self,
        records: I,
    ) -> Option<&'a Record> {
        let mut best: Option<(&Record, f64)> = None;
        for r in records {
            if r.trial_key.trim().is_empty() || !self.qualifies(r) {
                continue;
            }
            let Some(v) = self.objective_mean(r) else {
                continue;
            };
            if best.is_none_or(|(_, b)| self.better(v, b)) {
                best = Some((r, v));
            }
        }
        best.map(|(r, _)| r)
    }

    /// Human text, e.g. "max output_tps subject to p99_ttft_ms <= 200, accuracy >= 0.88".
    pub fn describe(&self) -> String {
        let head = format!("{} {}", self.objective.dir.as_str(), self.objective.name);
        if self.constraints.is_empty() {
            return head;
        }
        let cs: Vec<String> = self.constraints.iter().map(Constraint::describe).collect();
        format!("{head} subject to {}", cs.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::record::{EvalSummary, Measured};
    use std::collections::BTreeMap;

    fn run(ok: bool, acc: f64, tps: f64, ttft: f64) -> EvalRun {
        EvalRun {
            i: 1,
            ok,
            measured: Some(Measured {
                accuracy: Some(acc),
                total_tps: Some(tps),
                returncode: Some(0),
                ..Default::default()
            }),
            metrics: Some(BTreeMap::from([("p99_ttft_ms".to_string(), ttft)])),
            ..Default::default()
        }
    }

    fn rec(runs: Vec<EvalRun>) -> Record {
        Record {
            trial_key: "A=1".into(),
            status: Status::Ok,
            eval: Some(EvalSummary {
                eval_runs: Some(runs),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn constraints_parse_and_reject() {
        let c = Constraint::parse(" p99_ttft_ms <= 200 ").unwrap();
        assert_eq!(
            (c.name.as_str(), c.op, c.bound),
            ("p99_ttft_ms", Op::Le, 200.0)
        );
        assert_eq!(Constraint::parse("accuracy>=0.9").unwrap().op, Op::Ge);
        assert!(
            Constraint::parse("x=3")
                .unwrap_err()
                .contains("NAME>=NUMBER")
        );
        assert!(
            Constraint::parse("9x<=3")
                .unwrap_err()
                .contains("identifier")
        );
        assert!(
            Constraint::parse("x<=fast")
                .unwrap_err()
                .contains("not a number")
        );
        assert!(Constraint::parse("x<=NaN").is_err());
    }

    #[test]
    fn means_over_ok_runs_and_fallback_to_averages() {
        let r = rec(vec![
            run(true, 0.9, 100.0, 50.0),
            run(false, 0.1, 1.0, 9e9),
            run(true, 0.8, 200.0, 150.0),
        ]);
        assert_eq!(Goal::mean(&r, "total_tps"), Some(150.0));
        assert_eq!(Goal::mean(&r, "p99_ttft_ms"), Some(100.0));
        assert_eq!(Goal::mean(&r, "nope"), None);
        let old = Record::parse(
            r#"{"trial_key": "A=1", "status": "ok", "eval_ok_n": 2, "avg_accuracy": 0.9, "avg_total_tps": 5.0}"#,
        )
        .unwrap();
        assert_eq!(Goal::mean(&old, "total_tps"), Some(5.0));
        assert_eq!(Goal::mean(&old, "accuracy"), Some(0.9));
    }

    #[test]
    fn default_goal_agrees_with_the_old_rule() {
        let g = Goal::default_for(0.85);
        assert!(g.is_default());
        for acc in [0.8, 0.85, 0.9] {
            let r = rec(vec![run(true, acc, 100.0, 1.0)]);
            let r = Record {
                eval: Some(crate::engine::record::summarize(
                    r.eval.unwrap().eval_runs.unwrap(),
                )),
                ..r
            };
            assert_eq!(g.qualifies(&r), r.qualifies(0.85), "acc {acc}");
        }
        assert_eq!(g.describe(), "max total_tps subject to accuracy >= 0.85");
    }

    #[test]
    fn sla_goal_picks_the_fastest_within_the_limit() {
        let g = Goal {
            objective: Objective {
                name: "total_tps".into(),
                dir: Direction::Max,
            },
            constraints: vec![Constraint::parse("p99_ttft_ms<=200").unwrap()],
        };
        assert!(!g.is_default());
        let slow = rec(vec![run(true, 0.9, 100.0, 50.0)]);
        let mid = rec(vec![run(true, 0.9, 300.0, 190.0)]);
        let fast = rec(vec![run(true, 0.9, 900.0, 400.0)]);
        assert!(g.qualifies(&mid) && !g.qualifies(&fast));
        let best = g.best_of([&slow, &mid, &fast]).unwrap();
        assert_eq!(best, &mid);
        let min = Goal {
            objective: Objective {
                name: "p99_ttft_ms".into(),
                dir: Direction::Min,
            },
            constraints: vec![],
        };
        assert!(min.better(1.0, 2.0) && !min.better(2.0, 1.0));
        assert_eq!(min.best_of([&slow, &mid, &fast]).unwrap(), &slow);
        assert_eq!(min.describe(), "min p99_ttft_ms");
        let json = serde_json::to_string(&g).unwrap();
        assert!(json.contains("\"op\":\"<=\""), "{json}");
        assert_eq!(serde_json::from_str::<Goal>(&json).unwrap(), g);
    }
}
