//! The evaluation command: running it once in its own process group with a
//! timeout, and parsing its figures from its output: the four built-in
//! metrics and any `--metric NAME=REGEX`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use regex::Regex;
use tokio::io::AsyncReadExt;

use super::goal::Goal;
use super::process::{exit_code, signal_group, spawn_in_group};
use super::record::{EvalRun, Measured};

/// Default pattern for accuracy.
pub const DEFAULT_ACC_RE: &str = r"Accuracy \(RougeL-F1 mean, RAW\):\s*([-+0-9.eE]+)";
/// Default pattern for answer tokens/s.
pub const DEFAULT_ANSWER_TPS_RE: &str = r"Throughput RAW:.*?answer_tokens/s=([-+0-9.eE]+)";
/// Default pattern for total tokens/s.
pub const DEFAULT_TOTAL_TPS_RE: &str = r"\(prompt\+answer\)_tokens/s=([-+0-9.eE]+)";
/// Default pattern for total time.
pub const DEFAULT_TOTAL_TIME_RE: &str = r"Total time:\s*([-+0-9.eE]+)s";

/// Most output kept from one eval run (the tail); the summary is at the end.
const OUTPUT_CAP: usize = 1 << 20;

/// The metric patterns, each with one capture group: the four built-ins
/// and the user's extra ones.
#[derive(Debug, Clone)]
pub struct Patterns {
    /// Accuracy.
    pub accuracy: Regex,
    /// Answer tokens/s.
    pub answer_tps: Regex,
    /// Total tokens/s.
    pub total_tps: Regex,
    /// Total time, seconds.
    pub total_time: Regex,
    /// `--metric NAME=REGEX` beyond the built-in names, in the order given.
    pub extra: Vec<(String, Regex)>,
}

/// The patterns as their sources: how a [`Patterns`] travels (the trial
/// spec of a launched trial) and is compiled again on the other side.
#[derive(serde::Serialize, serde::Deserialize)]
struct PatternSources {
    accuracy: String,
    answer_tps: String,
    total_tps: String,
    total_time: String,
    extra: Vec<(String, String)>,
}

impl serde::Serialize for Patterns {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        PatternSources {
            accuracy: self.accuracy.as_str().to_string(),
            answer_tps: self.answer_tps.as_str().to_string(),
            total_tps: self.total_tps.as_str().to_string(),
            total_time: self.total_time.as_str().to_string(),
            extra: self
                .extra
                .iter()
                .map(|(n, r)| (n.clone(), r.as_str().to_string()))
                .collect(),
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Patterns {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let p = PatternSources::deserialize(d)?;
        let re = |src: &str| Regex::new(src).map_err(D::Error::custom);
        Ok(Patterns {
            accuracy: re(&p.accuracy)?,
            answer_tps: re(&p.answer_tps)?,
            total_tps: re(&p.total_tps)?,
            total_time: re(&p.total_time)?,
            extra: p
                .extra
                .iter()
                .map(|(n, r)| Ok((n.clone(), re(r)?)))
                .collect::<Result<_, D::Error>>()?,
        })
    }
}

impl Default for Patterns {
    fn default() -> Self {
        Patterns {
            accuracy: Regex::new(DEFAULT_ACC_RE).unwrap(),
            answer_tps: Regex::new(DEFAULT_ANSWER_TPS_RE).unwrap(),
            total_tps: Regex::new(DEFAULT_TOTAL_TPS_RE).unwrap(),
            total_time: Regex::new(DEFAULT_TOTAL_TIME_RE).unwrap(),
            extra: Vec::new(),
        }
    }
}

/// Compiles a user pattern, checking that it has exactly one capture
/// group: the number is read from the first, so with two (`(P99|p99):
/// ([0-9.]+)`) it would read the label and every run would fail.
pub fn compile_pattern(flag: &str, src: &str) -> Result<Regex, String> {
    let re = Regex::new(src).map_err(|e| format!("{flag}: invalid regular expression: {e}"))?;
    if re.captures_len() < 2 {
        return Err(format!(
            "{flag}: the pattern needs a capture group around the number, e.g. 'acc=([0-9.]+)'"
        ));
    }
    if re.captures_len() > 2 {
        return Err(format!(
            "{flag}: the pattern must have exactly one capture group, around the number; it has {} (make the others non-capturing: (?:...))",
            re.captures_len() - 1
        ));
    }
    Ok(re)
}

/// The figures found in an eval's output (the last match of each).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Accuracy.
    pub accuracy: Option<f64>,
    /// Answer tokens/s.
    pub answer_tps: Option<f64>,
    /// Total tokens/s.
    pub total_tps: Option<f64>,
    /// Total time, seconds.
    pub total_time_s: Option<f64>,
    /// The extra metrics found, by name.
    pub extra: BTreeMap<String, f64>,
}

impl Figures {
    /// A figure by metric name (built-in or extra).
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "accuracy" => self.accuracy,
            "answer_tps" => self.answer_tps,
            "total_tps" => self.total_tps,
            "total_time_s" => self.total_time_s,
            other => self.extra.get(other).copied(),
        }
    }
}

impl Patterns {
    /// Every metric name these patterns parse: the built-ins, then the
    /// extra ones.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = super::goal::BUILTIN_METRICS.to_vec();
        v.extend(self.extra.iter().map(|(n, _)| n.as_str()));
        v
    }

    /// The regular expression of a metric (built-in or extra), if any.
    pub fn source(&self, name: &str) -> Option<&str> {
        match name {
            "accuracy" => Some(self.accuracy.as_str()),
            "answer_tps" => Some(self.answer_tps.as_str()),
            "total_tps" => Some(self.total_tps.as_str()),
            "total_time_s" => Some(self.total_time.as_str()),
            other => self
                .extra
                .iter()
                .find(|(n, _)| n == other)
                .map(|(_, re)| re.as_str()),
        }
    }

    /// Parses the figures from an eval's output.
    pub fn parse(&self, text: &str) -> Figures {
        let last = |re: &Regex| -> Option<f64> {
            re.captures_iter(text)
                .filter_map(|c| c.get(1)?.as_str().parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .last()
        };
        Figures {
            accuracy: last(&self.accuracy),
            answer_tps: last(&self.answer_tps),
            total_tps: last(&self.total_tps),
            total_time_s: last(&self.total_time),
            extra: self
                .extra
                .iter()
                .filter_map(|(n, re)| Some((n.clone(), last(re)?)))
                .collect(),
        }
    }
}

/// Rounds to milliseconds, as the old tool records durations.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One eval run's inputs.
pub struct EvalSpec<'a> {
    /// The shell command.
    pub cmd: &'a str,
    /// Working directory (the repo).
    pub cwd: &'a Path,
    /// Extra environment.
    pub env: &'a [(String, String)],
    /// Time limit.
    pub timeout: Duration,
    /// Metric patterns.
    pub patterns: &'a Patterns,
    /// The goal: its objective and constrained metrics must parse for a
    /// run to be ok.
    pub goal: &'a Goal,
}

/// Runs the eval once. Returns the run and the tail of its output. The
/// future may be dropped (skip, abort): the group is then killed by the
/// guard.
pub async fn run_once(i: u32, spec: &EvalSpec<'_>) -> (EvalRun, String) {
    let started = Instant::now();
    let mut child =
        match spawn_in_group(spec.cmd, spec.cwd, spec.env, Stdio::piped(), Stdio::piped()) {
            Ok(c) => c,
            Err(e) => {
                return (
                    EvalRun {
                        i,
                        ok: false,
                        error: Some(format!("cannot start eval command: {e}")),
                        ..Default::default()
                    },
                    String::new(),
                );
            }
        };
    let pgid = child.id().map(|p| p as i32).unwrap_or(0);
    let guard = GroupGuard(pgid);
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    // Read on a task of its own: a helper that keeps the pipes open after the
    // eval exits must not turn an ok run into a timeout.
    let reader = tokio::spawn(async move {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let _ = tokio::join!(read_capped(&mut out, &mut a), read_capped(&mut err, &mut b));
        (a, b)
    });
    let waited = tokio::time::timeout(spec.timeout, child.wait()).await;
    let elapsed = round3(started.elapsed().as_secs_f64());
    // Helpers the eval left in its group must not outlive it (and a timed
    // out eval is killed whole); then its output up to now is read.
    signal_group(pgid, nix::sys::signal::Signal::SIGKILL);
    let (a, b) = match tokio::time::timeout(Duration::from_secs(2), reader).await {
        Ok(Ok((a, b))) => (a, b),
        _ => (Vec::new(), Vec::new()),
    };
    let mut text = String::from_utf8_lossy(&a).into_owned();
    if !b.is_empty() {
        text.push('\n');
        text.push_str(&String::from_utf8_lossy(&b));
    }
    let status = match waited {
        Err(_) => {
            let _ = child.wait().await;
            drop(guard);
            return (
                EvalRun {
                    i,
                    ok: false,
                    timeout: Some(true),
                    output_tail: Some(output_tail(&text, TAIL_LINES)),
                    ..Default::default()
                },
                text,
            );
        }
        Ok(status) => status,
    };
    drop(guard);
    let code = status.map(exit_code).unwrap_or(-1);
    let f = spec.patterns.parse(&text);
    let error = if code != 0 {
        Some(format!("exit code {code}"))
    } else if let Some(missing) = missing(spec.goal, &f) {
        Some(missing)
    } else {
        implausible(&f)
    };
    let ok = error.is_none();
    (
        EvalRun {
            i,
            ok,
            measured: Some(Measured {
                returncode: Some(code),
                accuracy: f.accuracy,
                answer_tps: f.answer_tps,
                total_tps: f.total_tps,
                total_time_s: f.total_time_s,
                elapsed_s: Some(elapsed),
            }),
            timeout: None,
            error,
            output_tail: (!ok).then(|| output_tail(&text, TAIL_LINES)),
            metrics: (!f.extra.is_empty()).then(|| f.extra.clone()),
        },
        text,
    )
}

/// Why a run that exited 0 is not ok: the goal's metrics it lacks. Today's
/// goal keeps today's message.
fn missing(goal: &Goal, f: &Figures) -> Option<String> {
    let lacking: Vec<&str> = goal
        .required_metrics()
        .into_iter()
        .filter(|n| f.get(n).is_none())
        .collect();
    if lacking.is_empty() {
        None
    } else if goal.is_default() {
        Some("accuracy or total tokens/s not found in the output".to_string())
    } else {
        Some(format!("{} not found in the output", lacking.join(", ")))
    }
}

/// Lines of output kept with a failed eval run.
pub const TAIL_LINES: usize = 20;

/// Why figures that parsed cannot be true: an accuracy outside [0, 1] or a
/// negative throughput or time would otherwise win the search.
fn implausible(f: &Figures) -> Option<String> {
    if let Some(a) = f.accuracy
        && !(0.0..=1.0).contains(&a)
    {
        return Some(format!("accuracy {a} is outside [0, 1]"));
    }
    for (name, v) in [
        ("total tokens/s", f.total_tps),
        ("answer tokens/s", f.answer_tps),
        ("total time", f.total_time_s),
    ] {
        if let Some(v) = v
            && v < 0.0
        {
            return Some(format!("{name} {v} is negative"));
        }
    }
    None
}

/// The last `n` non-blank lines of `text`, each cut to 400 characters,
/// with the tuner's secrets redacted.
pub fn output_tail(text: &str, n: usize) -> Vec<String> {
    let text = redact(text);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| {
            let l = l.trim_end();
            if l.chars().count() > 400 {
                let cut: String = l.chars().take(400).collect();
                format!("{cut}...")
            } else {
                l.to_string()
            }
        })
        .collect()
}

/// Secrets the tuner was given other than through its environment (the
/// notification flags), added by [`add_secrets`].
static SECRETS: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Adds secrets for [`redact`] to hide: those given as flags
/// (`--webhook_url`, `--feishu_secret`, `--smtp_pass`), which the
/// environment does not hold.
pub fn add_secrets(secrets: impl IntoIterator<Item = String>) {
    if let Ok(mut s) = SECRETS.write() {
        s.extend(secrets);
    }
}

/// `text` with every secret replaced by `***`: the values of the tuner's
/// secret variables ([`super::process::SECRET_ENV`]) and those added by
/// [`add_secrets`], longest first (a secret holding another is replaced
/// whole). Values shorter than 4 characters are left alone: they would blank
/// out ordinary words.
pub fn redact(text: &str) -> String {
    let mut secrets: Vec<String> = super::process::SECRET_ENV
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .collect();
    if let Ok(s) = SECRETS.read() {
        secrets.extend(s.iter().cloned());
    }
    secrets.retain(|v| v.len() >= 4);
    secrets.sort_by_key(|v| std::cmp::Reverse(v.len()));
    secrets.dedup();
    let mut out = text.to_string();
    for v in &secrets {
        if out.contains(v.as_str()) {
            out = out.replace(v.as_str(), "***");
        }
    }
    out
}

/// The record with every text that came from the service or the eval
/// redacted ([`redact`]): the service log's tail, each eval run's output
/// tail and error, the health answer and the reason. Records made by a
/// launched trial (`autotune trial`, which knows no secret) are redacted
/// here too.
pub fn redact_record(rec: &mut super::record::Record) {
    if let Some(serde_json::Value::Array(tail)) = rec.extra.get_mut("log_tail") {
        for l in tail.iter_mut() {
            if let serde_json::Value::String(s) = l {
                *s = redact(s);
            }
        }
    }
    for t in [&mut rec.health, &mut rec.reason].into_iter().flatten() {
        *t = redact(t);
    }
    if let Some(runs) = rec.eval.as_mut().and_then(|e| e.eval_runs.as_mut()) {
        for r in runs {
            redact_run(r);
        }
    }
}

/// One eval run's output tail and error, redacted ([`redact`]).
pub fn redact_run(run: &mut EvalRun) {
    for l in run.output_tail.iter_mut().flatten() {
        *l = redact(l);
    }
    if let Some(e) = run.error.as_mut() {
        *e = redact(e);
    }
}

/// Kills a process group when dropped, so a cancelled eval leaves nothing.
struct GroupGuard(i32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.0 > 0 {
            signal_group(self.0, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

async fn read_capped<R: tokio::io::AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    let mut chunk = [0u8; 16384];
    loop {
        let n = r.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 2 * OUTPUT_CAP {
            buf.drain(..buf.len() - OUTPUT_CAP);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const SAMPLE: &str = "===== Summary [bonus] =====\nQuestions: 92, OK: 92, Total time: 1.76s\nAccuracy (RougeL-F1 mean, RAW): 0.8815\nTokens (prompt/answer RAW): 1907 / 8554\nThroughput RAW: answer_tokens/s=4857.52, (prompt+answer)_tokens/s=5940.43\n";

    #[test]
    fn parses_the_sample_summary() {
        let f = Patterns::default().parse(SAMPLE);
        assert_eq!(
            f,
            Figures {
                accuracy: Some(0.8815),
                answer_tps: Some(4857.52),
                total_tps: Some(5940.43),
                total_time_s: Some(1.76),
                extra: BTreeMap::new(),
            }
        );
        assert_eq!(
            Patterns::default().parse("nothing here"),
            Figures::default()
        );
    }

    #[test]
    fn custom_pattern_needs_a_group() {
        assert!(
            compile_pattern("--acc_regex", "acc=[0-9.]+")
                .unwrap_err()
                .contains("capture group")
        );
        assert!(
            compile_pattern("--acc_regex", "acc=(")
                .unwrap_err()
                .contains("--acc_regex")
        );
        let re = compile_pattern("--acc_regex", r"acc=([0-9.]+)").unwrap();
        let p = Patterns {
            accuracy: re,
            ..Default::default()
        };
        assert_eq!(p.parse("acc=0.5\nacc=0.7").accuracy, Some(0.7));
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_eval_group() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("helper.pid");
        let cmd = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
        let p = Patterns::default();
        let spec = EvalSpec {
            cmd: &cmd,
            cwd: d.path(),
            env: &[],
            timeout: Duration::from_millis(500),
            patterns: &p,
            goal: &Goal::default_for(0.5),
        };
        let (run, _) = run_once(1, &spec).await;
        assert_eq!(run.timeout, Some(true));
        assert!(!run.ok);
        let helper: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        while super::super::process::proc_info(helper).is_some_and(|i| i.state != 'Z') {
            assert!(
                Instant::now() < deadline,
                "helper {helper} survived the eval timeout"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn ok_and_unparsable_runs() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("s.txt"), SAMPLE).unwrap();
        let p = Patterns::default();
        let spec = EvalSpec {
            cmd: "cat s.txt",
            cwd: d.path(),
            env: &[],
            timeout: Duration::from_secs(10),
            patterns: &p,
            goal: &Goal::default_for(0.5),
        };
        let (run, _) = run_once(1, &spec).await;
        assert!(run.ok, "{run:?}");
        assert_eq!(run.measured.as_ref().unwrap().total_tps, Some(5940.43));
        let spec = EvalSpec {
            cmd: "echo garbage",
            ..spec
        };
        let (run, text) = run_once(2, &spec).await;
        assert!(!run.ok);
        assert_eq!(run.measured.as_ref().unwrap().returncode, Some(0));
        assert!(run.error.unwrap().contains("not found"));
        assert!(text.contains("garbage"));
        let spec = EvalSpec {
            cmd: "cat s.txt; exit 3",
            ..spec
        };
        let (run, _) = run_once(3, &spec).await;
        assert!(!run.ok);
        assert_eq!(run.measured.unwrap().returncode, Some(3));
    }
}
