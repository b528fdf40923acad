//! The browse screen's data: a results file read as compact rows (what the
//! table shows, plus where the line is for the full record), streamed line by
//! line so memory stays well under the file's size, followed incrementally
//! when the file grows and reloaded when it is replaced or truncated.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use autotune::{Goal, Record, log_index};

/// Statuses in display order (`pruned`: stopped early by the noise-aware
/// search because it could not win).
pub const STATUSES: &[&str] = &[
    "ok", "partial", "failed", "timeout", "crashed", "skipped", "pruned",
];

/// One trial as the table needs it (about 100 bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based position among the file's records.
    pub n: u32,
    /// The trial index (log number), if known.
    pub index: Option<u32>,
    /// Time, as written.
    pub ts: Box<str>,
    /// Index into [`STATUSES`], or 255 for another status.
    pub status: u8,
    /// Interned parameter name.
    pub param: u16,
    /// Its value.
    pub value: Box<str>,
    /// Mean accuracy.
    pub acc: Option<f64>,
    /// Mean total tokens/s.
    pub tps: Option<f64>,
    /// Half-width of its 95 % interval (autotune's noise-aware records).
    pub tps_ci: Option<f64>,
    /// Half-width of the accuracy's 95 % interval.
    pub acc_ci: Option<f64>,
    /// Mean answer tokens/s.
    pub answer_tps: Option<f64>,
    /// Mean total time.
    pub time_s: Option<f64>,
    /// Means of declared metrics (`avg_metrics`), by interned name
    /// ([`Model::metric_names`]); empty for today's records.
    pub metrics: Box<[(u16, f64)]>,
    /// Ok runs.
    pub ok_n: u16,
    /// Runs.
    pub runs: u16,
    /// Byte offset of the line.
    pub offset: u64,
    /// Length of the line.
    pub len: u32,
}

#[derive(Deserialize)]
struct Slim<'a> {
    #[serde(default, borrow)]
    ts: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    param_under_test: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    params: Option<BTreeMap<Cow<'a, str>, serde_json::Value>>,
    #[serde(default)]
    avg_accuracy: Option<f64>,
    #[serde(default)]
    avg_total_tps: Option<f64>,
    #[serde(default)]
    avg_answer_tps: Option<f64>,
    #[serde(default)]
    ci95_total_tps: Option<f64>,
    #[serde(default)]
    ci95_accuracy: Option<f64>,
    #[serde(default)]
    avg_total_time_s: Option<f64>,
    #[serde(default, borrow)]
    avg_metrics: Option<BTreeMap<Cow<'a, str>, Option<f64>>>,
    #[serde(default)]
    eval_ok_n: Option<u32>,
    #[serde(default)]
    eval_runs: Option<Vec<serde::de::IgnoredAny>>,
    #[serde(default)]
    trial_index: Option<u32>,
    #[serde(default, borrow)]
    server_log: Option<Cow<'a, str>>,
}

/// The loaded file.
#[derive(Debug, Default)]
pub struct Model {
    /// The file.
    pub path: PathBuf,
    /// Rows in file order.
    pub rows: Vec<Row>,
    /// Interned parameter names.
    pub params: Vec<String>,
    /// Blank lines.
    pub blank: usize,
    /// Unreadable lines (torn, not JSON).
    pub bad: usize,
    /// Bytes read so far (where following resumes).
    pub offset: u64,
    /// Bytes after the last newline (a line being written, or torn).
    pub pending: Vec<u8>,
    /// Identity of the file read (device, inode) to notice replacement.
    pub ident: Option<(u64, u64)>,
    /// Whether the file exists.
    pub exists: bool,
    /// Some row has a tok/s interval (the column is widened for `±`).
    pub has_ci: bool,
    /// Interned names of declared metrics.
    pub metric_names: Vec<String>,
}

fn ident(f: &File) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    f.metadata().ok().map(|m| (m.dev(), m.ino()))
}

impl Model {
    /// An empty model for `path`.
    pub fn new(path: &Path) -> Self {
        Model {
            path: path.to_path_buf(),
            ..Default::default()
        }
    }

    /// Reads the file from the start.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let mut m = Model::new(path);
        m.refresh()?;
        Ok(m)
    }

    fn intern(&mut self, p: &str) -> u16 {
        match self.params.iter().position(|x| x == p) {
            Some(i) => i as u16,
            None => {
                self.params.push(p.to_string());
                (self.params.len() - 1) as u16
            }
        }
    }

    /// The name of a row's parameter.
    pub fn param(&self, r: &Row) -> &str {
        self.params
            .get(r.param as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// A row's status as text.
    pub fn status(r: &Row) -> &'static str {
        STATUSES.get(r.status as usize).copied().unwrap_or("other")
    }

    fn add_line(&mut self, line: &[u8], offset: u64) {
        let text = match std::str::from_utf8(line) {
            Ok(t) => t.trim_end_matches('\r'),
            Err(_) => {
                self.bad += 1;
                return;
            }
        };
        if text.trim().is_empty() {
            self.blank += 1;
            return;
        }
        let Ok(s) = serde_json::from_str::<Slim>(text) else {
            self.bad += 1;
            return;
        };
        let param = s.param_under_test.as_deref().unwrap_or("");
        let value = s
            .params
            .as_ref()
            .and_then(|p| p.get(param))
            .and_then(autotune::scalar_to_string)
            .unwrap_or_default();
        let status = s.status.as_deref().unwrap_or("");
        let pi = self.intern(param);
        self.has_ci |= s.ci95_total_tps.is_some();
        let mut metrics = Vec::new();
        for (k, v) in s.avg_metrics.iter().flatten() {
            let Some(v) = v.filter(|v| v.is_finite()) else {
                continue;
            };
            let i = match self.metric_names.iter().position(|x| x == k) {
                Some(i) => i,
                None => {
                    self.metric_names.push(k.to_string());
                    self.metric_names.len() - 1
                }
            };
            metrics.push((i as u16, v));
        }
        self.rows.push(Row {
            n: self.rows.len() as u32 + 1,
            index: s
                .trial_index
                .or_else(|| s.server_log.as_deref().and_then(log_index)),
            ts: s.ts.as_deref().unwrap_or("").into(),
            status: STATUSES
                .iter()
                .position(|x| *x == status)
                .map(|i| i as u8)
                .unwrap_or(255),
            param: pi,
            value: value.into(),
            acc: s.avg_accuracy,
            tps: s.avg_total_tps,
            tps_ci: s.ci95_total_tps,
            acc_ci: s.ci95_accuracy,
            answer_tps: s.avg_answer_tps,
            time_s: s.avg_total_time_s,
            metrics: metrics.into(),
            ok_n: s.eval_ok_n.unwrap_or(0).min(u16::MAX as u32) as u16,
            runs: s
                .eval_runs
                .map(|r| r.len())
                .unwrap_or(0)
                .min(u16::MAX as usize) as u16,
            offset,
            len: line.len() as u32,
        });
    }

    /// Reads what was appended since the last call; starts over when the
    /// file was replaced or truncated. Returns whether anything changed.
    pub fn refresh(&mut self) -> std::io::Result<bool> {
        let f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let changed = self.exists || !self.rows.is_empty();
                *self = Model::new(&self.path.clone());
                return Ok(changed);
            }
            Err(e) => return Err(e),
        };
        let len = f.metadata()?.len();
        let id = ident(&f);
        if self.ident.is_some() && (id != self.ident || len < self.offset) {
            *self = Model::new(&self.path.clone());
        }
        let first = !self.exists;
        self.exists = true;
        self.ident = id;
        if len == self.offset {
            return Ok(first);
        }
        let mut r = BufReader::with_capacity(1 << 16, f);
        r.seek(SeekFrom::Start(self.offset))?;
        let mut line = std::mem::take(&mut self.pending);
        let mut start = self.offset - line.len() as u64;
        let mut changed = first;
        loop {
            let n = r
                .by_ref()
                .take(len - self.offset)
                .read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            self.offset += n as u64;
            if line.last() == Some(&b'\n') {
                line.pop();
                self.add_line(&line, start);
                changed = true;
                start = self.offset;
                line.clear();
            }
            if self.offset >= len {
                break;
            }
        }
        self.pending = line;
        Ok(changed)
    }

    /// Whether the file ends with a torn line (no newline yet).
    pub fn torn(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The full record of a row, read again from the file.
    pub fn record(&self, r: &Row) -> Option<Record> {
        let mut f = File::open(&self.path).ok()?;
        f.seek(SeekFrom::Start(r.offset)).ok()?;
        let mut buf = vec![0u8; r.len as usize];
        f.read_exact(&mut buf).ok()?;
        Record::parse(std::str::from_utf8(&buf).ok()?).ok()
    }

    /// A row's mean of a metric: the built-in ones from their fields, a
    /// declared one from `avg_metrics`.
    pub fn value(&self, r: &Row, name: &str) -> Option<f64> {
        match name {
            "accuracy" => r.acc,
            "total_tps" => r.tps,
            "answer_tps" => r.answer_tps,
            "total_time_s" => r.time_s,
            n => {
                let i = self.metric_names.iter().position(|x| x == n)? as u16;
                r.metrics.iter().find(|(j, _)| *j == i).map(|(_, v)| *v)
            }
        }
    }

    /// The best ok row by a declared goal: its objective measured, every
    /// constraint's mean within its bound; the first of equals wins, as
    /// the engine's choice does.
    pub fn best_by(&self, goal: &Goal) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for (i, r) in self.rows.iter().enumerate() {
            if r.status != 0
                || !goal.constraints.iter().all(|c| {
                    self.value(r, &c.name)
                        .is_some_and(|v| c.op.holds(v, c.bound))
                })
            {
                continue;
            }
            let Some(v) = self.value(r, &goal.objective.name) else {
                continue;
            };
            if best.is_none_or(|(_, b)| goal.better(v, b)) {
                best = Some((i, v));
            }
        }
        best.map(|(i, _)| i)
    }

    /// Counts by status, in display order (other statuses last).
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        const OTHER: usize = STATUSES.len();
        let mut c = [0usize; OTHER + 1];
        for r in &self.rows {
            c[(r.status as usize).min(OTHER)] += 1;
        }
        let mut out: Vec<(&'static str, usize)> = STATUSES
            .iter()
            .zip(c)
            .map(|(s, n)| (*s, n))
            .filter(|(_, n)| *n > 0)
            .collect();
        if c[OTHER] > 0 {
            out.push(("other", c[OTHER]));
        }
        out
    }

    /// The fastest ok row meeting the threshold.
    pub fn best(&self, threshold: f64) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, r) in self.rows.iter().enumerate() {
            if r.status == 0
                && r.acc.is_some_and(|a| a >= threshold)
                && r.tps.is_some()
                && best.is_none_or(|b| r.tps > self.rows[b].tps)
            {
                best = Some(i);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/auto_tune_py/tune_results.jsonl")
    }

    #[test]
    fn reads_the_old_tools_file() {
        let m = Model::load(&fixture()).unwrap();
        assert_eq!(m.rows.len(), 18);
        assert_eq!(m.bad, 0);
        let counts = m.counts();
        assert_eq!(
            counts,
            [("ok", 8), ("partial", 8), ("timeout", 1), ("crashed", 1)]
        );
        let r = &m.rows[2];
        assert_eq!(Model::status(r), "crashed");
        assert_eq!(m.param(r), "GPU_MEMORY_UTILIZATION");
        assert_eq!(&*r.value, "0.99");
        assert_eq!(r.index, Some(3));
        let full = m.record(r).unwrap();
        assert_eq!(full.exit_code, Some(1));
        let b = m.best(0.88).unwrap();
        assert_eq!(m.rows[b].tps, Some(5109.913333333334));
    }

    #[test]
    fn follows_appends_torn_lines_and_replacement() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.jsonl");
        let mut m = Model::new(&p);
        assert!(!m.refresh().unwrap());
        assert!(!m.exists);
        let mut f = File::create(&p).unwrap();
        assert!(m.refresh().unwrap());
        writeln!(f, "{{\"status\": \"ok\", \"param_under_test\": \"A\", \"params\": {{\"A\": \"1\"}}, \"avg_total_tps\": 10.0}}").unwrap();
        write!(f, "\n{{\"status\": \"fa").unwrap();
        assert!(m.refresh().unwrap());
        assert_eq!(m.rows.len(), 1);
        assert_eq!(m.blank, 1);
        assert!(m.torn());
        write!(f, "iled\"}}\nnot json\n").unwrap();
        m.refresh().unwrap();
        assert_eq!(m.rows.len(), 2);
        assert_eq!(Model::status(&m.rows[1]), "failed");
        assert_eq!(m.bad, 1);
        assert!(!m.torn());
        // Replaced by a shorter file: read again from the start.
        std::fs::write(d.path().join("new"), "{\"status\": \"crashed\"}\n").unwrap();
        std::fs::rename(d.path().join("new"), &p).unwrap();
        assert!(m.refresh().unwrap());
        assert_eq!(m.rows.len(), 1);
        assert_eq!(Model::status(&m.rows[0]), "crashed");
        assert_eq!(m.bad, 0);
    }
}
