//! One line of `tune_results.jsonl`: the record of a trial, in the field
//! order and JSON spacing `auto_tune.py` writes, tolerant of files written by
//! it (unknown fields are kept, missing ones are empty).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::search::{Params, plain_trial_key, scalar_to_string, trial_key};

/// Status of a trial as stored in the results file. Serializes to exactly
/// the strings `auto_tune.py` writes; a status this version does not know is
/// kept as it was.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Every eval run ok.
    Ok,
    /// Some eval runs ok.
    Partial,
    /// No eval run ok, or the trial could not start.
    Failed,
    /// The service did not answer within the start-up timeout.
    Timeout,
    /// The service exited during start-up.
    Crashed,
    /// Skipped by the user while it ran (autotune only).
    Skipped,
    /// Stopped early: it could not meet the bar or beat the group's leader
    /// (autotune only; the reason says which).
    Pruned,
    /// Any other string found in a results file.
    Other(String),
}

impl Status {
    /// The string stored in the results file.
    pub fn as_str(&self) -> &str {
        match self {
            Status::Ok => "ok",
            Status::Partial => "partial",
            Status::Failed => "failed",
            Status::Timeout => "timeout",
            Status::Crashed => "crashed",
            Status::Skipped => "skipped",
            Status::Pruned => "pruned",
            Status::Other(s) => s,
        }
    }

    /// Parses a stored status; unknown strings become [`Status::Other`].
    pub fn parse(s: &str) -> Status {
        match s {
            "ok" => Status::Ok,
            "partial" => Status::Partial,
            "failed" => Status::Failed,
            "timeout" => Status::Timeout,
            "crashed" => Status::Crashed,
            "skipped" => Status::Skipped,
            "pruned" => Status::Pruned,
            other => Status::Other(other.to_string()),
        }
    }

    /// Whether a record with this status counts as done for
    /// `--skip_existing` (a partial trial is run again).
    pub fn is_done(&self) -> bool {
        matches!(
            self,
            Status::Ok
                | Status::Failed
                | Status::Crashed
                | Status::Timeout
                | Status::Skipped
                | Status::Pruned
        )
    }
}

impl From<&str> for Status {
    fn from(s: &str) -> Self {
        Status::parse(s)
    }
}

impl From<&str> for Phase {
    fn from(s: &str) -> Self {
        match s {
            "startup" => Phase::Startup,
            "eval" => Phase::Eval,
            other => Phase::Other(other.to_string()),
        }
    }
}

/// A record read without a status keeps none (and is not done).
impl Default for Status {
    fn default() -> Self {
        Status::Other(String::new())
    }
}

/// A record read without a phase keeps none.
impl Default for Phase {
    fn default() -> Self {
        Phase::Other(String::new())
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialEq<str> for Status {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Status {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Status::parse(&String::deserialize(d)?))
    }
}

/// Where a trial ended: before the service answered, or in the eval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Port wait, start-up or readiness.
    Startup,
    /// The eval runs.
    Eval,
    /// Any other string found in a results file.
    Other(String),
}

impl Phase {
    /// The string stored in the results file.
    pub fn as_str(&self) -> &str {
        match self {
            Phase::Startup => "startup",
            Phase::Eval => "eval",
            Phase::Other(s) => s,
        }
    }
}

impl Serialize for Phase {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Phase {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Phase::from(String::deserialize(d)?.as_str()))
    }
}

/// The measured figures of one eval run (absent for a timed-out run).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Exit status of the eval command (negative: killed by that signal).
    #[serde(default)]
    pub returncode: Option<i64>,
    /// Parsed accuracy.
    #[serde(default)]
    pub accuracy: Option<f64>,
    /// Parsed answer tokens/s.
    #[serde(default)]
    pub answer_tps: Option<f64>,
    /// Parsed total tokens/s.
    #[serde(default)]
    pub total_tps: Option<f64>,
    /// Parsed total time, seconds.
    #[serde(default)]
    pub total_time_s: Option<f64>,
    /// Wall time of the run, seconds.
    #[serde(default)]
    pub elapsed_s: Option<f64>,
}

/// One eval run of a trial.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalRun {
    /// 1-based run number.
    #[serde(default)]
    pub i: u32,
    /// Exit 0 and both accuracy and total tokens/s parsed.
    #[serde(default)]
    pub ok: bool,
    /// Figures; `None` for a timed-out or failed-to-start run.
    #[serde(flatten)]
    pub measured: Option<Measured>,
    /// Present (true) when the run hit `--eval_timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<bool>,
    /// Why the run could not be judged (spawn error, unparsable output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The last lines of a failed or timed-out run's output (stdout, then
    /// stderr), secrets redacted: why it failed, kept with the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tail: Option<Vec<String>>,
    /// Figures of the `--metric`s beyond the four built-ins, by name (only
    /// those the output held); absent when there are none, so records of
    /// today's goal are unchanged.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_metrics"
    )]
    pub metrics: Option<BTreeMap<String, f64>>,
}

/// The eval part of a record: present when the service came up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalSummary {
    /// Number of ok runs.
    #[serde(default)]
    pub eval_ok_n: Option<u32>,
    /// Every run.
    #[serde(default)]
    pub eval_runs: Option<Vec<EvalRun>>,
    /// Mean accuracy over ok runs.
    #[serde(default)]
    pub avg_accuracy: Option<f64>,
    /// Mean total tokens/s over ok runs.
    #[serde(default)]
    pub avg_total_tps: Option<f64>,
    /// Mean answer tokens/s over ok runs.
    #[serde(default)]
    pub avg_answer_tps: Option<f64>,
    /// Mean total time over ok runs.
    #[serde(default)]
    pub avg_total_time_s: Option<f64>,
    /// Half-width of the 95 % interval of the mean accuracy (2 ok runs or
    /// more; autotune only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci95_accuracy: Option<f64>,
    /// Half-width of the 95 % interval of the mean total tokens/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci95_total_tps: Option<f64>,
    /// Means over ok runs of the `--metric`s beyond the four built-ins
    /// (written after every older field).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_metrics"
    )]
    pub avg_metrics: Option<BTreeMap<String, f64>>,
}

impl EvalSummary {
    /// Why these figures cannot be a result: a mean or an interval that is
    /// not finite (each run's figure is finite, but their sum overflowed,
    /// e.g. 1.7e308 tok/s per run). `None` when every figure is finite.
    pub fn non_finite(&self) -> Option<String> {
        let mut figures: Vec<(String, Option<f64>)> = vec![
            ("mean accuracy".into(), self.avg_accuracy),
            ("mean total tokens/s".into(), self.avg_total_tps),
            ("mean answer tokens/s".into(), self.avg_answer_tps),
            ("mean total time".into(), self.avg_total_time_s),
            ("accuracy interval".into(), self.ci95_accuracy),
            ("total tokens/s interval".into(), self.ci95_total_tps),
        ];
        for (k, v) in self.avg_metrics.iter().flatten() {
            figures.push((format!("mean {k}"), Some(*v)));
        }
        let bad: Vec<String> = figures
            .into_iter()
            .filter_map(|(name, v)| v.filter(|v| !v.is_finite()).map(|v| format!("{name} {v}")))
            .collect();
        (!bad.is_empty()).then(|| {
            format!(
                "non-finite figures ({}): the runs' figures overflow, not a result",
                bad.join(", ")
            )
        })
    }
}

/// Reads a metrics map; `null` figures (Python's NaN) are dropped.
fn lenient_metrics<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, f64>>, D::Error> {
    let v = Option::<BTreeMap<String, Option<f64>>>::deserialize(d)?;
    Ok(v.map(|m| {
        m.into_iter()
            .filter_map(|(k, v)| v.filter(|x| x.is_finite()).map(|x| (k, x)))
            .collect()
    }))
}

/// One trial's record. Serialized by hand to keep the old tool's field
/// order, which differs between start-up failures and eval records.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Record {
    /// Local time, ISO 8601 to the second.
    #[serde(default)]
    pub ts: String,
    /// See [`super::search::trial_key`].
    #[serde(default)]
    pub trial_key: String,
    /// How the trial ended.
    #[serde(default)]
    pub status: Status,
    /// Where it ended.
    #[serde(default)]
    pub phase: Phase,
    /// The parameter the trial's group varies.
    #[serde(default)]
    pub param_under_test: Option<String>,
    /// Every parameter, as strings.
    #[serde(default, deserialize_with = "lenient_params")]
    pub params: Params,
    /// Why a trial failed before the service ran (port busy, spawn error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The readiness message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// Eval figures, when the service came up.
    #[serde(flatten)]
    pub eval: Option<EvalSummary>,
    /// Exit status of the service for a start-up failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// The service log, relative to the repo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_log: Option<String>,
    /// Seconds until the start-up failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_s: Option<f64>,
    /// Seconds the whole trial took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_s: Option<f64>,
    /// The trial's running index (autotune only; the log file's number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_index: Option<u32>,
    /// Fields this version does not know, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn lenient_params<'de, D: Deserializer<'de>>(d: D) -> Result<Params, D::Error> {
    let v = Option::<BTreeMap<String, Value>>::deserialize(d)?.unwrap_or_default();
    Ok(v.into_iter()
        .filter_map(|(k, v)| scalar_to_string(&v).map(|s| (k, s)))
        .collect())
}

impl Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("ts", &self.ts)?;
        m.serialize_entry("trial_key", &self.trial_key)?;
        m.serialize_entry("status", &self.status)?;
        m.serialize_entry("phase", &self.phase)?;
        m.serialize_entry("param_under_test", &self.param_under_test)?;
        // auto_tune.py puts params after server_log in start-up failures.
        let startup_shape = self.eval.is_none();
        if !startup_shape {
            m.serialize_entry("params", &self.params)?;
        }
        if let Some(v) = &self.reason {
            m.serialize_entry("reason", v)?;
        }
        if let Some(v) = &self.health {
            m.serialize_entry("health", v)?;
        }
        if let Some(e) = &self.eval {
            m.serialize_entry("eval_ok_n", &e.eval_ok_n)?;
            m.serialize_entry("eval_runs", &e.eval_runs)?;
            m.serialize_entry("avg_accuracy", &e.avg_accuracy)?;
            m.serialize_entry("avg_total_tps", &e.avg_total_tps)?;
            m.serialize_entry("avg_answer_tps", &e.avg_answer_tps)?;
            m.serialize_entry("avg_total_time_s", &e.avg_total_time_s)?;
        }
        if let Some(v) = &self.exit_code {
            m.serialize_entry("exit_code", v)?;
        }
        if let Some(v) = &self.server_log {
            m.serialize_entry("server_log", v)?;
        }
        if startup_shape {
            m.serialize_entry("params", &self.params)?;
        }
        if let Some(v) = &self.startup_s {
            m.serialize_entry("startup_s", v)?;
        }
        if let Some(v) = &self.total_s {
            m.serialize_entry("total_s", v)?;
        }
        if let Some(v) = &self.trial_index {
            m.serialize_entry("trial_index", v)?;
        }
        if let Some(e) = &self.eval {
            if let Some(v) = &e.ci95_accuracy {
                m.serialize_entry("ci95_accuracy", v)?;
            }
            if let Some(v) = &e.ci95_total_tps {
                m.serialize_entry("ci95_total_tps", v)?;
            }
            if let Some(v) = &e.avg_metrics {
                m.serialize_entry("avg_metrics", v)?;
            }
        }
        for (k, v) in &self.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Record {
    /// Parses one results line. Flattened optional parts that are absent
    /// come back as `None` (serde alone would give empty `Some`s).
    ///
    /// Lines are read as Python's `json` reads them: a UTF-8 BOM is
    /// ignored and the bare tokens `NaN`, `Infinity` and `-Infinity` are
    /// accepted (as missing figures: a non-finite figure measures nothing).
    /// Metrics of the wrong type (`"avg_total_tps": "fast"`) make the line
    /// unreadable rather than silently empty.
    pub fn parse(line: &str) -> serde_json::Result<Record> {
        let line = line.strip_prefix('\u{feff}').unwrap_or(line);
        let value: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => match python_constants_to_null(line) {
                Some(fixed) => serde_json::from_str(&fixed)?,
                None => return Err(e),
            },
        };
        check_metric_types(&value)?;
        let mut r: Record = serde_json::from_value(value)?;
        // `auto_tune.py` joined values plainly: where that key is ambiguous
        // (a value holding `|NAME=`), it stands for the escaped key of its
        // own params, never for another parameter set's.
        if !r.params.is_empty() && r.trial_key == plain_trial_key(&r.params) {
            r.trial_key = trial_key(&r.params);
        }
        if r.eval
            .as_ref()
            .is_some_and(|e| *e == EvalSummary::default())
        {
            r.eval = None;
        }
        if let Some(runs) = r.eval.as_mut().and_then(|e| e.eval_runs.as_mut()) {
            for run in runs {
                if run
                    .measured
                    .as_ref()
                    .is_some_and(|m| *m == Measured::default())
                {
                    run.measured = None;
                }
            }
        }
        Ok(r)
    }

    /// The eval summary, when there is one with figures.
    fn summary(&self) -> Option<&EvalSummary> {
        self.eval.as_ref()
    }

    /// Mean accuracy over ok runs.
    pub fn avg_accuracy(&self) -> Option<f64> {
        self.summary().and_then(|s| s.avg_accuracy)
    }

    /// Mean total tokens/s over ok runs.
    pub fn avg_total_tps(&self) -> Option<f64> {
        self.summary().and_then(|s| s.avg_total_tps)
    }

    /// What this record chose in the group `group` (a parameter, or a
    /// refinement round's label): its value of the parameter, else its
    /// joint move (`A+B=1+2`), else `base` (no move gained).
    pub fn value_in_group(&self, group: &str) -> String {
        if let Some(v) = self.params.get(group) {
            return v.clone();
        }
        match (self.param_under_test.as_deref(), self.value_under_test()) {
            (Some(p), Some(v)) if p.contains('+') => format!("{p}={v}"),
            _ => "base".into(),
        }
    }

    /// What this trial changed, read back from its texts
    /// ([`crate::engine::search::Changes::from_record`]).
    pub fn changes(&self) -> crate::engine::search::Changes {
        let param = self.param_under_test.as_deref().unwrap_or("");
        let value = self.value_under_test().unwrap_or_default();
        crate::engine::search::Changes::from_record(param, &value, &self.params)
    }

    /// What this trial changed, as a reader says it (`A=1`, `A=1, B=2` for
    /// a joint move, `base`): [`crate::engine::search::Changes::describe`].
    pub fn change_text(&self) -> String {
        self.changes().describe()
    }

    /// The value of the parameter under test.
    ///
    /// A joint move (`A+B`, the refinement's) gives its values joined the
    /// same way (`2+4`).
    pub fn value_under_test(&self) -> Option<std::borrow::Cow<'_, str>> {
        let p = self.param_under_test.as_deref()?;
        if let Some(v) = self.params.get(p) {
            return Some(std::borrow::Cow::Borrowed(v.as_str()));
        }
        if !p.contains('+') {
            return None;
        }
        let parts: Option<Vec<&str>> = p
            .split('+')
            .map(|k| self.params.get(k).map(String::as_str))
            .collect();
        parts.map(|v| std::borrow::Cow::Owned(v.join("+")))
    }

    /// Whether this record meets the bar: `ok` with accuracy at or above
    /// `threshold` and a throughput figure.
    pub fn qualifies(&self, threshold: f64) -> bool {
        self.status == Status::Ok
            && self.avg_accuracy().is_some_and(|a| a >= threshold)
            && self.avg_total_tps().is_some()
    }

    /// Whether this record may count as the best so far: it qualifies and
    /// names its trial (a keyless line matches no trial and proves nothing).
    pub fn eligible_for_best(&self, threshold: f64) -> bool {
        !self.trial_key.trim().is_empty() && self.qualifies(threshold)
    }

    /// The trial index from the record or, for `auto_tune.py` records, from
    /// the log file name.
    pub fn index(&self) -> Option<u32> {
        self.trial_index
            .or_else(|| self.server_log.as_deref().and_then(log_index))
    }

    /// Serializes as one line the way `auto_tune.py` does (`", "` and `": "`).
    pub fn to_line(&self) -> String {
        let mut out = Vec::with_capacity(1024);
        let mut ser = serde_json::Serializer::with_formatter(&mut out, PyFormatter);
        self.serialize(&mut ser)
            .expect("a record always serializes");
        out.push(b'\n');
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }
}

/// Replaces Python's `NaN`, `Infinity` and `-Infinity` tokens outside
/// strings by `null`; `None` when there is none (nothing to retry).
fn python_constants_to_null(line: &str) -> Option<String> {
    let mut out = String::with_capacity(line.len());
    let (mut in_str, mut escaped, mut changed) = (false, false, false);
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if let Some(tok) = ["-Infinity", "Infinity", "NaN"]
            .iter()
            .find(|t| rest.starts_with(**t))
        {
            out.push_str("null");
            rest = &rest[tok.len()..];
            changed = true;
            continue;
        }
        if c == '"' {
            in_str = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    changed.then_some(out)
}

/// Fails when a known metric has the wrong JSON type. Serde's flattened
/// optional parts swallow such errors (the part comes back empty), which
/// would read `"avg_total_tps": "fast"` as "no figures".
fn check_metric_types(v: &Value) -> serde_json::Result<()> {
    use serde::de::Error;
    let Some(obj) = v.as_object() else {
        return Err(serde_json::Error::custom("not a JSON object"));
    };
    let number = |o: &Map<String, Value>, k: &str| -> serde_json::Result<()> {
        match o.get(k) {
            None | Some(Value::Null) | Some(Value::Number(_)) => Ok(()),
            Some(other) => Err(serde_json::Error::custom(format!(
                "\"{k}\" is {other}, not a number"
            ))),
        }
    };
    for k in [
        "avg_accuracy",
        "avg_total_tps",
        "avg_answer_tps",
        "avg_total_time_s",
        "eval_ok_n",
        "exit_code",
        "startup_s",
        "total_s",
        "trial_index",
    ] {
        number(obj, k)?;
    }
    metrics_map(obj, "avg_metrics")?;
    match obj.get("eval_runs") {
        None | Some(Value::Null) => {}
        Some(Value::Array(runs)) => {
            for run in runs {
                let Some(run) = run.as_object() else {
                    return Err(serde_json::Error::custom("an eval run is not an object"));
                };
                for k in [
                    "i",
                    "returncode",
                    "accuracy",
                    "answer_tps",
                    "total_tps",
                    "total_time_s",
                    "elapsed_s",
                ] {
                    number(run, k)?;
                }
                metrics_map(run, "metrics")?;
                if run
                    .get("ok")
                    .is_some_and(|o| !o.is_boolean() && !o.is_null())
                {
                    return Err(serde_json::Error::custom("\"ok\" is not true or false"));
                }
            }
        }
        Some(_) => return Err(serde_json::Error::custom("\"eval_runs\" is not a list")),
    }
    Ok(())
}

/// Fails when `k` is there but not an object of numbers (or nulls).
fn metrics_map(o: &Map<String, Value>, k: &str) -> serde_json::Result<()> {
    use serde::de::Error;
    match o.get(k) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(m)) if m.values().all(|v| v.is_number() || v.is_null()) => Ok(()),
        Some(other) => Err(serde_json::Error::custom(format!(
            "\"{k}\" is {other}, not an object of numbers"
        ))),
    }
}

/// Local time as records and status files write it (ISO 8601, seconds).
pub fn now_ts() -> String {
    chrono::Local::now().format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// The number in `.../trial_00012.log`.
pub fn log_index(path: &str) -> Option<u32> {
    let name = path.rsplit('/').next()?;
    let digits = name.strip_prefix("trial_")?.strip_suffix(".log")?;
    digits.parse().ok()
}

/// Python's `json.dumps` spacing: `", "` between items, `": "` after keys.
struct PyFormatter;

impl serde_json::ser::Formatter for PyFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

/// Formats a figure or a dash.
pub fn fig(v: Option<f64>, prec: usize) -> String {
    v.map(|x| format!("{x:.prec$}"))
        .unwrap_or_else(|| "-".into())
}

impl Record {
    /// One-line result: status and figures.
    pub fn summary_text(&self) -> String {
        let r = self;
        let runs = r
            .eval
            .as_ref()
            .and_then(|s| s.eval_runs.as_ref())
            .map(|v| v.len())
            .unwrap_or(0);
        match &r.eval {
            Some(s) if runs > 0 => format!(
                "{:<8} acc {} tps {} answer {} time {}s ({}/{} runs ok, {}s)",
                r.status,
                fig(s.avg_accuracy, 4),
                fig(s.avg_total_tps, 1),
                fig(s.avg_answer_tps, 1),
                fig(s.avg_total_time_s, 2),
                s.eval_ok_n.unwrap_or(0),
                runs,
                fig(r.total_s, 1)
            ),
            _ => {
                let mut t = r.status.to_string();
                if let Some(s) = r.startup_s {
                    t.push_str(&format!(" after {s:.1}s"));
                }
                if let Some(c) = r.exit_code {
                    t.push_str(&format!(" (exit {c})"));
                }
                if let Some(reason) = &r.reason {
                    t.push_str(&format!(": {reason}"));
                }
                t
            }
        }
    }
}

/// Means over ok runs, in the record's terms.
pub fn summarize(runs: Vec<EvalRun>) -> EvalSummary {
    let ok: Vec<&Measured> = runs
        .iter()
        .filter(|r| r.ok)
        .filter_map(|r| r.measured.as_ref())
        .collect();
    let mean = |f: fn(&Measured) -> Option<f64>| -> Option<f64> {
        let vals: Vec<f64> = ok.iter().filter_map(|m| f(m)).collect();
        if vals.is_empty() {
            None
        } else {
            Some(vals.iter().sum::<f64>() / vals.len() as f64)
        }
    };
    let vals =
        |f: fn(&Measured) -> Option<f64>| -> Vec<f64> { ok.iter().filter_map(|m| f(m)).collect() };
    let mut extra: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for x in runs.iter().filter(|r| r.ok) {
        for (k, v) in x.metrics.iter().flatten() {
            extra.entry(k.clone()).or_default().push(*v);
        }
    }
    let avg_metrics = (!extra.is_empty()).then(|| {
        extra
            .into_iter()
            .map(|(k, v)| (k, v.iter().sum::<f64>() / v.len() as f64))
            .collect()
    });
    let ci_acc = super::stats::ci95(&vals(|m| m.accuracy));
    let ci_tps = super::stats::ci95(&vals(|m| m.total_tps));
    EvalSummary {
        ci95_accuracy: ci_acc,
        ci95_total_tps: ci_tps,
        eval_ok_n: Some(ok.len() as u32),
        avg_accuracy: mean(|m| m.accuracy),
        avg_total_tps: mean(|m| m.total_tps),
        avg_answer_tps: mean(|m| m.answer_tps),
        avg_total_time_s: mean(|m| m.total_time_s),
        avg_metrics,
        eval_runs: Some(runs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/data/fixture_lines.jsonl");

    #[test]
    fn old_tool_lines_round_trip_byte_for_byte() {
        for line in FIXTURE.lines().filter(|l| !l.trim().is_empty()) {
            let r = Record::parse(line).unwrap();
            let mut again = r.to_line();
            again.pop();
            // Params are written sorted; compare the rest byte for byte.
            let strip = |s: &str| {
                let a = s.find("\"params\": {").unwrap();
                let b = a + s[a..].find('}').unwrap();
                format!("{}{}", &s[..a], &s[b..])
            };
            assert_eq!(strip(&again), strip(line));
            let back = Record::parse(&again).unwrap();
            assert_eq!(back, r);
        }
    }

    #[test]
    fn unknown_fields_kept_and_missing_fields_empty() {
        let r = Record::parse(r#"{"status": "ok", "zz": [1], "params": {"A": 1}}"#).unwrap();
        assert_eq!(r.extra.get("zz"), Some(&serde_json::json!([1])));
        assert_eq!(r.params.get("A").map(String::as_str), Some("1"));
        assert_eq!(r.avg_total_tps(), None);
        assert!(r.to_line().contains("\"zz\": [1]"));
    }

    #[test]
    fn summary_means_over_ok_runs_only() {
        let run = |i, ok, acc: Option<f64>, tps: Option<f64>| EvalRun {
            i,
            ok,
            measured: Some(Measured {
                accuracy: acc,
                total_tps: tps,
                ..Default::default()
            }),
            ..Default::default()
        };
        let s = summarize(vec![
            run(1, true, Some(0.9), Some(100.0)),
            run(2, false, Some(0.1), None),
            run(3, true, Some(0.8), Some(200.0)),
        ]);
        assert_eq!(s.eval_ok_n, Some(2));
        assert!((s.avg_accuracy.unwrap() - 0.85).abs() < 1e-12);
        assert_eq!(s.avg_total_tps, Some(150.0));
        assert_eq!(s.avg_answer_tps, None);
        let s = summarize(vec![EvalRun {
            i: 1,
            ok: false,
            timeout: Some(true),
            ..Default::default()
        }]);
        assert_eq!(s.avg_accuracy, None);
        let line = Record {
            eval: Some(s),
            ..Default::default()
        }
        .to_line();
        assert!(
            line.contains("\"eval_runs\": [{\"i\": 1, \"ok\": false, \"timeout\": true}]"),
            "{line}"
        );
        assert!(line.contains("\"avg_accuracy\": null"), "{line}");
    }

    #[test]
    fn python_lines_bom_and_wrong_types() {
        let r = Record::parse("\u{feff}{\"trial_key\": \"A=1\", \"status\": \"ok\"}").unwrap();
        assert_eq!(r.trial_key, "A=1");
        let r = Record::parse(
            r#"{"trial_key": "A=\"NaN\"", "status": "ok", "avg_accuracy": NaN, "avg_total_tps": -Infinity, "eval_ok_n": 1}"#,
        )
        .unwrap();
        // The token inside the string is untouched.
        assert_eq!(r.trial_key, "A=\"NaN\"");
        assert_eq!(r.avg_accuracy(), None);
        assert_eq!(r.avg_total_tps(), None);
        assert!(Record::parse(r#"{"status": "ok", "avg_total_tps": "fast"}"#).is_err());
        assert!(
            Record::parse(r#"{"status": "ok", "eval_runs": [{"i": 1, "total_tps": "x"}]}"#)
                .is_err()
        );
        let keyless = Record::parse(
            r#"{"status": "ok", "eval_ok_n": 1, "avg_accuracy": 0.9, "avg_total_tps": 5.0}"#,
        )
        .unwrap();
        assert!(keyless.qualifies(0.5));
        assert!(!keyless.eligible_for_best(0.5));
    }

    #[test]
    fn an_ambiguous_old_key_stands_for_its_own_params() {
        // auto_tune.py wrote "A=1|B=2" for A="1|B=2": it is not the key of
        // A="1", B="2".
        let old =
            Record::parse(r#"{"trial_key": "A=1|B=2", "status": "ok", "params": {"A": "1|B=2"}}"#)
                .unwrap();
        assert_eq!(old.trial_key, "A=%%1%7CB=2");
        let plain = Record::parse(
            r#"{"trial_key": "A=1|B=2", "status": "ok", "params": {"A": "1", "B": "2"}}"#,
        )
        .unwrap();
        assert_eq!(plain.trial_key, "A=1|B=2");
    }

    #[test]
    fn log_index_from_path() {
        assert_eq!(log_index("tune_server_logs/trial_00012.log"), Some(12));
        assert_eq!(log_index("x.log"), None);
    }
}
