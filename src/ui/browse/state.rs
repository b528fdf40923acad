//! The browse screen's state and its pure updates: sorting, filtering,
//! selection that survives reloads, and the sub-views (detail, log, chart).

use autotune::Record;
use autotune::{Goal, Params, default_params};

use super::model::{Model, Row, STATUSES};

/// Table columns, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// Position in the file.
    N,
    /// The trial's log number (`trial_00005.log`).
    Log,
    /// Time.
    Time,
    /// Status.
    Status,
    /// Parameter under test.
    Param,
    /// Its value.
    Value,
    /// Mean accuracy.
    Acc,
    /// Mean total tokens/s.
    Tps,
    /// Mean answer tokens/s.
    Answer,
    /// Mean total time.
    TimeS,
    /// Ok runs / runs.
    Runs,
    /// A metric of a declared goal that no built-in column shows, by its
    /// place in [`BrowseState::goal_metrics`].
    Goal(u8),
}

/// All columns.
pub const COLS: &[Col] = &[
    Col::N,
    Col::Log,
    Col::Time,
    Col::Status,
    Col::Param,
    Col::Value,
    Col::Acc,
    Col::Tps,
    Col::Answer,
    Col::TimeS,
    Col::Runs,
];

impl Col {
    /// The key that sorts by this column in the sort menu.
    pub fn key(self) -> char {
        match self {
            Col::N => 'n',
            Col::Log => 'l',
            Col::Time => 'i',
            Col::Status => 's',
            Col::Param => 'p',
            Col::Value => 'v',
            Col::Acc => 'a',
            Col::Tps => 't',
            Col::Answer => 'w',
            Col::TimeS => 'e',
            Col::Runs => 'r',
            Col::Goal(i) => char::from(b'1' + i.min(8)),
        }
    }

    /// What the column holds, for the sort menu and the help.
    pub fn about(self) -> &'static str {
        match self {
            Col::N => "position in the results file",
            Col::Log => "log number (tune_server_logs/trial_NNNNN.log)",
            Col::Time => "when the trial ended",
            Col::Status => "status",
            Col::Param => "parameter under test",
            Col::Value => "its value",
            Col::Acc => "mean accuracy",
            Col::Tps => "mean total tokens/s",
            Col::Answer => "mean answer tokens/s",
            Col::TimeS => "mean seconds per eval",
            Col::Runs => "ok runs / runs",
            Col::Goal(_) => "mean of a declared metric (the run's goal's)",
        }
    }

    /// Whether a column sorts largest first at first (figures do).
    pub fn descending_first(self) -> bool {
        matches!(self, Col::Acc | Col::Tps | Col::Answer)
    }

    /// Header text.
    pub fn title(self) -> &'static str {
        match self {
            Col::N => "#",
            Col::Log => "log",
            Col::Time => "time",
            Col::Status => "status",
            Col::Param => "param",
            Col::Value => "value",
            Col::Acc => "acc",
            Col::Tps => "tok/s",
            Col::Answer => "answer",
            Col::TimeS => "secs",
            Col::Runs => "runs",
            Col::Goal(_) => "",
        }
    }
}

/// Which view is up.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// The table.
    Table,
    /// Everything about one trial.
    Detail(Box<Record>),
    /// A service log.
    Log {
        /// The file.
        path: String,
        /// Its lines (the last 2 MB).
        lines: Vec<String>,
        /// Lines scrolled up from the bottom.
        scroll: usize,
    },
    /// Throughput and accuracy by value of one parameter.
    Chart(Chart),
}

/// Everything the browse screen shows.
#[derive(Debug)]
pub struct BrowseState {
    /// The data.
    pub model: Model,
    /// Accuracy threshold.
    pub threshold: f64,
    /// Rows shown, as indices into `model.rows`, filtered and sorted.
    pub view: Vec<usize>,
    /// Sort column and direction.
    pub sort: (Col, bool),
    /// Status filter.
    pub status_filter: Option<u8>,
    /// Text filter (param name or value).
    pub text_filter: String,
    /// Typing the text filter.
    pub editing: bool,
    /// Selected position in `view`.
    pub selected: usize,
    /// The current view.
    pub mode: Mode,
    /// Help shown.
    pub help: bool,
    /// Rows the help is scrolled down (where it does not fit).
    pub help_scroll: usize,
    /// Leave.
    pub quit: bool,
    /// A message for the footer.
    pub message: Option<String>,
    /// Built-in defaults, to highlight differing params.
    pub defaults: Params,
    /// Follow the end of the table when new rows arrive.
    pub follow_end: bool,
    /// The sort menu is open (a column key picks the column).
    pub sort_menu: bool,
    /// Text to put on the clipboard (the app loop writes it and clears it).
    pub clipboard: Option<String>,
    /// The run's declared goal when it is not today's (from the status
    /// file beside the results): then "best" is by it and its metrics get
    /// columns.
    pub goal: Option<Goal>,
    /// The search's choice replayed from the file (its trial number, `None`
    /// when it chose nothing), when the run recorded its setup for this
    /// goal: then it is the best, whatever the figures of other rows.
    pub chosen: Option<Option<u32>>,
}

impl BrowseState {
    /// A state over a loaded model.
    pub fn new(model: Model, threshold: f64) -> Self {
        let mut s = BrowseState {
            model,
            threshold,
            view: Vec::new(),
            sort: (Col::N, false),
            status_filter: None,
            text_filter: String::new(),
            editing: false,
            selected: 0,
            mode: Mode::Table,
            help: false,
            help_scroll: 0,
            quit: false,
            message: None,
            defaults: default_params(),
            follow_end: true,
            sort_menu: false,
            clipboard: None,
            goal: None,
            chosen: None,
        };
        s.rechoose();
        s.rebuild();
        s.selected = s.view.len().saturating_sub(1);
        s
    }

    /// Judges by `goal` when it is not today's (today's keeps the
    /// threshold's rule and today's columns).
    pub fn with_goal(mut self, goal: Option<Goal>) -> Self {
        self.goal = goal.filter(|g| !g.is_default());
        self.rechoose();
        self.rebuild();
        self
    }

    /// The goal "best" is judged by.
    fn judged_by(&self) -> Goal {
        self.goal
            .clone()
            .unwrap_or_else(|| Goal::default_for(self.threshold))
    }

    /// Replays the search's choice from the file ([`autotune::choice`]).
    fn rechoose(&mut self) {
        let path = self.model.path.clone();
        let Some(setup) = autotune::choice::recorded_setup(&path) else {
            self.chosen = None;
            return;
        };
        let Ok(loaded) = autotune::store::load_results(&path) else {
            self.chosen = None;
            return;
        };
        let records: Vec<std::sync::Arc<autotune::Record>> = loaded
            .records
            .into_iter()
            .map(std::sync::Arc::new)
            .collect();
        self.chosen = autotune::choice::of_records(Some(&setup), &self.judged_by(), &records)
            .map(|c| c.index.filter(|_| c.stands));
    }

    /// The metrics that get a column of their own: the goal's (the
    /// objective first, then each constrained one; built-in ones have
    /// theirs), or, without a declared goal, the declared metrics the
    /// records carry (`avg_metrics`), so a goal run's figures show even
    /// away from its status file.
    pub fn goal_metrics(&self) -> Vec<&str> {
        match &self.goal {
            Some(g) => g
                .required_metrics()
                .into_iter()
                .filter(|n| !autotune::BUILTIN_METRICS.contains(n))
                .take(9)
                .collect(),
            None => self
                .model
                .metric_names
                .iter()
                .map(String::as_str)
                .take(9)
                .collect(),
        }
    }

    /// The columns: today's, with the goal's after the value.
    pub fn cols(&self) -> Vec<Col> {
        let mut cols = COLS.to_vec();
        let at = cols
            .iter()
            .position(|c| *c == Col::Value)
            .map_or(0, |i| i + 1);
        for i in (0..self.goal_metrics().len()).rev() {
            cols.insert(at, Col::Goal(i as u8));
        }
        cols
    }

    /// A column's header.
    pub fn col_title(&self, c: Col) -> String {
        match c {
            Col::Goal(i) => self
                .goal_metrics()
                .get(i as usize)
                .map(|s| s.to_string())
                .unwrap_or_default(),
            c => c.title().to_string(),
        }
    }

    /// Whether a column sorts largest first at first: figures do, and a
    /// goal's metric does when larger is its good side.
    fn descending_first(&self, c: Col) -> bool {
        match (c, &self.goal) {
            (Col::Goal(i), Some(g)) => {
                let name = self.goal_metrics().get(i as usize).map(|s| s.to_string());
                let Some(name) = name else { return true };
                if g.objective.name == name {
                    g.objective.dir == autotune::Direction::Max
                } else {
                    g.constraints
                        .iter()
                        .find(|k| k.name == name)
                        .is_none_or(|k| k.op == autotune::Op::Ge)
                }
            }
            (c, _) => c.descending_first(),
        }
    }

    /// Whether a row's figure in goal column `i` breaks a constraint on
    /// it (shown as bad, as an accuracy under the bar is).
    pub fn goal_breaks(&self, r: &Row, i: u8) -> bool {
        let (Some(g), Some(name)) = (&self.goal, self.goal_metrics().get(i as usize).copied())
        else {
            return false;
        };
        let Some(v) = self.model.value(r, name) else {
            return false;
        };
        g.constraints
            .iter()
            .any(|c| c.name == name && !c.op.holds(v, c.bound))
    }

    /// The best trial: by the declared goal, else with the threshold.
    pub fn best(&self) -> Option<usize> {
        if let Some(chosen) = self.chosen {
            let i = chosen?;
            return self.model.rows.iter().rposition(|r| r.index == Some(i));
        }
        match &self.goal {
            Some(g) => self.model.best_by(g),
            None => self.model.best(self.threshold),
        }
    }

    /// What the best trial must meet, for messages.
    pub fn best_rule(&self) -> String {
        match &self.goal {
            Some(g) => g.describe(),
            None => format!("accuracy ≥ {}", self.threshold),
        }
    }

    /// Puts the best trial's configuration on the clipboard as `export
    /// K=V` lines: the file's winner, ready to paste into a deploy shell.
    pub fn copy_best(&mut self) {
        let Some(b) = self.best() else {
            self.message = Some(format!("no ok trial meets {}", self.best_rule()));
            return;
        };
        let row = &self.model.rows[b];
        let n = row.n;
        match self.model.record(row) {
            Some(r) => {
                self.clipboard = Some(crate::ui::osc52::exports(&r.params));
                self.message = Some(format!(
                    "copied the best trial's (#{n}) {} params to the clipboard as export lines (OSC 52)",
                    r.params.len()
                ));
            }
            None => {
                self.message = Some(format!(
                    "could not read trial #{n} again from {}",
                    self.model.path.display()
                ));
            }
        }
    }

    fn key(&self, r: &Row, c: Col) -> SortKey {
        match c {
            Col::N => SortKey::Num(r.n as f64),
            Col::Log => r
                .index
                .map(|i| SortKey::Num(i as f64))
                .unwrap_or(SortKey::Missing),
            Col::Time => SortKey::Text(r.ts.to_string()),
            Col::Status => SortKey::Num(r.status as f64),
            Col::Param => SortKey::Text(self.model.param(r).to_string()),
            Col::Value => match r.value.parse::<f64>() {
                Ok(v) => SortKey::Num(v),
                Err(_) => SortKey::Text(r.value.to_string()),
            },
            Col::Acc => SortKey::opt(r.acc),
            Col::Tps => SortKey::opt(r.tps),
            Col::Answer => SortKey::opt(r.answer_tps),
            Col::TimeS => SortKey::opt(r.time_s),
            Col::Runs => SortKey::Num(r.ok_n as f64 + r.runs as f64 / 1000.0),
            Col::Goal(i) => SortKey::opt(
                self.goal_metrics()
                    .get(i as usize)
                    .and_then(|n| self.model.value(r, n)),
            ),
        }
    }

    /// Recomputes the view after a change of data, sort or filter, keeping
    /// the selected trial selected.
    pub fn rebuild(&mut self) {
        let keep = self.view.get(self.selected).map(|i| self.model.rows[*i].n);
        let at_end = self.follow_end && self.selected + 1 >= self.view.len();
        let needle = self.text_filter.to_ascii_lowercase();
        let mut view: Vec<usize> = (0..self.model.rows.len())
            .filter(|i| {
                let r = &self.model.rows[*i];
                self.status_filter.is_none_or(|s| {
                    r.status == s || (s == 255 && r.status as usize >= STATUSES.len())
                }) && (needle.is_empty()
                    || self.model.param(r).to_ascii_lowercase().contains(&needle)
                    || r.value.to_ascii_lowercase().contains(&needle))
            })
            .collect();
        let (col, desc) = self.sort;
        if col != Col::N || desc {
            let mut keyed: Vec<(SortKey, usize)> = view
                .iter()
                .map(|i| (self.key(&self.model.rows[*i], col), *i))
                .collect();
            // Missing figures go last whichever the direction; ties keep file order.
            keyed.sort_by(|a, b| match (&a.0, &b.0) {
                (SortKey::Missing, SortKey::Missing) => a.1.cmp(&b.1),
                (SortKey::Missing, _) => std::cmp::Ordering::Greater,
                (_, SortKey::Missing) => std::cmp::Ordering::Less,
                _ if desc => b.0.cmp(&a.0).then(a.1.cmp(&b.1)),
                _ => a.0.cmp(&b.0).then(a.1.cmp(&b.1)),
            });
            view = keyed.into_iter().map(|(_, i)| i).collect();
        }
        self.view = view;
        self.selected = match keep {
            _ if at_end && col == Col::N && !desc => self.view.len().saturating_sub(1),
            Some(n) => self
                .view
                .iter()
                .position(|i| self.model.rows[*i].n == n)
                .unwrap_or(0),
            None => 0,
        }
        .min(self.view.len().saturating_sub(1));
    }

    /// The selected row.
    pub fn current(&self) -> Option<&Row> {
        self.view.get(self.selected).map(|i| &self.model.rows[*i])
    }

    /// Moves the selection by `delta` rows.
    pub fn move_by(&mut self, delta: isize) {
        let n = self.view.len() as isize;
        if n == 0 {
            return;
        }
        self.selected = (self.selected as isize + delta).clamp(0, n - 1) as usize;
        self.follow_end = self.selected as isize == n - 1;
    }

    /// Selects the best trial meeting the threshold (clearing filters that hide it).
    pub fn jump_best(&mut self) {
        let Some(b) = self.best() else {
            self.message = Some(match &self.goal {
                Some(_) => format!("no ok trial meets {}", self.best_rule()),
                None => format!("no ok trial with accuracy ≥ {}", self.threshold),
            });
            return;
        };
        if !self.view.contains(&b) {
            self.status_filter = None;
            self.text_filter.clear();
            self.rebuild();
        }
        if let Some(p) = self.view.iter().position(|i| *i == b) {
            self.selected = p;
            self.follow_end = false;
        }
    }

    /// Sorts by `c`; the same column again flips the direction.
    pub fn sort_by(&mut self, c: Col) {
        self.sort = if self.sort.0 == c {
            (c, !self.sort.1)
        } else {
            (c, self.descending_first(c))
        };
        self.sort_menu = false;
        self.rebuild();
    }

    /// Flips the sort direction.
    pub fn reverse(&mut self) {
        self.sort.1 = !self.sort.1;
        self.rebuild();
    }

    /// Statuses that have rows, as indices into [`STATUSES`] (255: other).
    fn present_statuses(&self) -> Vec<u8> {
        let mut seen = [false; 256];
        for r in &self.model.rows {
            seen[r.status as usize] = true;
        }
        (0..STATUSES.len() as u8)
            .chain([255])
            .filter(|s| seen[*s as usize])
            .collect()
    }

    /// Cycles the status filter through all, then each status that has
    /// rows (statuses with none are skipped).
    pub fn next_status_filter(&mut self) {
        let present = self.present_statuses();
        self.status_filter = match self.status_filter {
            None => present.first().copied(),
            Some(s) => present.iter().copied().find(|x| *x > s),
        };
        self.rebuild();
        if self.view.is_empty() && self.status_filter.is_some() {
            self.message = Some(format!(
                "no {} trial matches the text filter /{}; Esc clears the filters",
                self.status_name(),
                self.text_filter
            ));
        }
    }

    /// The status filter's name (`all` without one).
    pub fn status_name(&self) -> &'static str {
        match self.status_filter {
            None => "all",
            Some(255) => "other",
            Some(x) => STATUSES.get(x as usize).copied().unwrap_or("other"),
        }
    }

    /// Whether a status or text filter is on.
    pub fn filtered(&self) -> bool {
        self.status_filter.is_some() || !self.text_filter.is_empty()
    }

    /// Clears both filters, keeping the selected trial selected.
    pub fn clear_filters(&mut self) {
        self.status_filter = None;
        self.text_filter.clear();
        self.rebuild();
        self.message = Some("filters cleared".into());
    }

    /// Puts the detail's configuration on the clipboard as `export K=V`
    /// lines.
    pub fn copy_detail(&mut self) {
        if let Mode::Detail(r) = &self.mode {
            let n = r.params.len();
            self.clipboard = Some(crate::ui::osc52::exports(&r.params));
            self.message = Some(format!(
                "copied this trial's {n} params to the clipboard as export lines (OSC 52)"
            ));
        } else {
            self.message = Some("open a trial (Enter) to copy its params".into());
        }
    }

    /// Reloads what the file gained; returns whether anything changed.
    pub fn refresh(&mut self) -> bool {
        match self.model.refresh() {
            Ok(true) => {
                self.rechoose();
                self.rebuild();
                true
            }
            Ok(false) => false,
            Err(e) => {
                self.message = Some(format!("cannot read {}: {e}", self.model.path.display()));
                true
            }
        }
    }

    /// Opens the detail of the selected trial.
    pub fn open_detail(&mut self) {
        if let Some(r) = self.current() {
            match self.model.record(r) {
                Some(rec) => self.mode = Mode::Detail(Box::new(rec)),
                None => {
                    self.message =
                        Some("the record could not be read again (the file changed?)".into())
                }
            }
        }
    }

    /// Opens the service log of the selected trial (or of the detail shown).
    pub fn open_log(&mut self) {
        let rec = match &self.mode {
            Mode::Detail(r) => Some((**r).clone()),
            _ => self.current().and_then(|r| self.model.record(r)),
        };
        let Some(log) = rec.and_then(|r| r.server_log) else {
            self.message = Some("this trial has no service log".into());
            return;
        };
        let base = self
            .model
            .path
            .parent()
            .unwrap_or(std::path::Path::new("."));
        let path = if std::path::Path::new(&log).is_absolute() {
            std::path::PathBuf::from(&log)
        } else {
            base.join(&log)
        };
        match read_tail(&path, 2 << 20) {
            Ok(lines) => {
                self.mode = Mode::Log {
                    path: path.display().to_string(),
                    lines,
                    scroll: 0,
                }
            }
            Err(e) => self.message = Some(format!("cannot open {}: {e}", path.display())),
        }
    }

    /// Opens the chart of the selected trial's parameter.
    pub fn open_chart(&mut self) {
        if let Some(r) = self.current() {
            let p = self.model.param(r).to_string();
            if !p.is_empty() {
                let bars = self.chart_data(&p);
                self.mode = Mode::Chart(Chart { param: p, bars });
            }
        }
    }

    /// Per value of `param`: the best ok tok/s, its accuracy and the
    /// number of trials. The group's starting value comes first when its
    /// record was tested under another parameter (reused, not run again):
    /// the ok record whose params equal the group's in everything but
    /// `param`. Reads records from the file (an update, not a draw).
    pub fn chart_data(&self, param: &str) -> Vec<ChartBar> {
        let mut out: Vec<ChartBar> = Vec::new();
        let mut last_row = None;
        for r in self
            .model
            .rows
            .iter()
            .filter(|r| self.model.param(r) == param)
        {
            last_row = Some(r);
            let slot = match out.iter().position(|x| *x.value == *r.value) {
                Some(i) => i,
                None => {
                    out.push(ChartBar {
                        value: r.value.to_string(),
                        ..Default::default()
                    });
                    out.len() - 1
                }
            };
            let e = &mut out[slot];
            e.n += 1;
            e.runs += r.runs as usize;
            if r.status != 0 {
                let st = Model::status(r);
                match e.not_ok.iter_mut().find(|(k, _)| *k == st) {
                    Some((_, c)) => *c += 1,
                    None => e.not_ok.push((st, 1)),
                }
            }
            if r.status == 0 && r.tps.is_some() && (e.tps.is_none() || r.tps > e.tps) {
                e.tps = r.tps;
                e.acc = r.acc;
            }
        }
        let Some(group) = last_row.and_then(|r| self.model.record(r)) else {
            return out;
        };
        let others = |p: &Params| -> Params {
            p.iter()
                .filter(|(k, _)| k.as_str() != param)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let want = others(&group.params);
        let mut start: Option<ChartBar> = None;
        for r in self
            .model
            .rows
            .iter()
            .filter(|r| r.status == 0 && self.model.param(r) != param)
        {
            let Some(rec) = self.model.record(r) else {
                continue;
            };
            let Some(v) = rec.params.get(param) else {
                continue;
            };
            if others(&rec.params) != want || out.iter().any(|b| b.value == *v) {
                continue;
            }
            let b = start.get_or_insert_with(|| ChartBar {
                value: v.clone(),
                start: true,
                ..Default::default()
            });
            if b.value == *v {
                b.n += 1;
                b.runs += r.runs as usize;
                if r.tps.is_some() && (b.tps.is_none() || r.tps > b.tps) {
                    b.tps = r.tps;
                    b.acc = r.acc;
                }
            }
        }
        if let Some(b) = start {
            out.insert(0, b);
        }
        out
    }
}

/// One value of a parameter in the chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChartBar {
    /// The value.
    pub value: String,
    /// The best ok tok/s with it.
    pub tps: Option<f64>,
    /// That trial's accuracy.
    pub acc: Option<f64>,
    /// Trials with it.
    pub n: usize,
    /// Eval runs of those trials (a pruned or partial trial's runs count).
    pub runs: usize,
    /// Its trials that are not ok, by status, in the order met.
    pub not_ok: Vec<(&'static str, usize)>,
    /// The group's starting value, measured under another parameter.
    pub start: bool,
}

impl ChartBar {
    /// What the chart says in place of a bar when no trial of the value
    /// is ok: `pruned after 3 runs`, or the statuses and the runs they
    /// made (`no ok trial: 1 partial, 1 crashed; 3 eval runs`).
    pub fn no_ok_text(&self) -> String {
        let runs = |n: usize| format!("{n} run{}", if n == 1 { "" } else { "s" });
        if self.not_ok.len() == 1 && self.not_ok[0].0 == "pruned" {
            return if self.n == 1 {
                format!("pruned after {}", runs(self.runs))
            } else {
                format!("{} trials pruned, after {} in all", self.n, runs(self.runs))
            };
        }
        let statuses: Vec<String> = self
            .not_ok
            .iter()
            .map(|(s, c)| format!("{c} {s}"))
            .collect();
        format!(
            "no ok trial: {}; {}",
            statuses.join(", "),
            if self.runs == 0 {
                "no eval run".to_string()
            } else {
                format!(
                    "{} eval {}",
                    self.runs,
                    if self.runs == 1 { "run" } else { "runs" }
                )
            }
        )
    }
}

/// The chart of one parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// The parameter.
    pub param: String,
    /// Its values.
    pub bars: Vec<ChartBar>,
}

/// The last `max` bytes of a file as lines.
pub fn read_tail(path: &std::path::Path, max: u64) -> std::io::Result<Vec<String>> {
    let (text, start) = autotune::process::tail_text(path, max)?;
    let text = autotune::redact(&text);
    let mut lines: Vec<String> = text.lines().map(crate::ui::printable).collect();
    if start > 0 && !lines.is_empty() {
        lines[0] = format!("... ({start} earlier bytes not shown)");
    }
    Ok(lines)
}

/// A sort key: numbers before text, missing values last.
#[derive(Debug, Clone, PartialEq)]
enum SortKey {
    Num(f64),
    Text(String),
    Missing,
}

impl SortKey {
    fn opt(v: Option<f64>) -> Self {
        v.map(SortKey::Num).unwrap_or(SortKey::Missing)
    }
}

impl Eq for SortKey {}

impl Ord for SortKey {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match (self, o) {
            (SortKey::Num(a), SortKey::Num(b)) => a.total_cmp(b),
            (SortKey::Text(a), SortKey::Text(b)) => a.cmp(b),
            (SortKey::Missing, SortKey::Missing) => Equal,
            (SortKey::Num(_), _) | (SortKey::Text(_), SortKey::Missing) => Less,
            _ => Greater,
        }
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> BrowseState {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/auto_tune_py/tune_results.jsonl");
        BrowseState::new(Model::load(&p).unwrap(), 0.88)
    }

    #[test]
    fn sort_by_tps_descending_puts_missing_last() {
        let mut s = state();
        s.sort_by(Col::Tps);
        assert!(s.sort.1, "throughput sorts fastest first");
        let first = &s.model.rows[s.view[0]];
        assert_eq!(first.tps, Some(5179.68));
        // Rows without a figure come last in either direction.
        let last = &s.model.rows[*s.view.last().unwrap()];
        assert_eq!(last.tps, None);
        s.reverse();
        assert_eq!(s.model.rows[s.view[0]].tps, Some(4755.865));
        // The same column again flips it back; another picks its own order.
        s.sort_by(Col::Tps);
        assert_eq!(s.model.rows[s.view[0]].tps, Some(5179.68));
        s.sort_by(Col::Param);
        assert_eq!(s.sort, (Col::Param, false));
    }

    #[test]
    fn status_filter_skips_statuses_without_rows_and_esc_clears() {
        let mut s = state();
        let mut seen = Vec::new();
        loop {
            s.next_status_filter();
            if s.status_filter.is_none() {
                break;
            }
            assert!(!s.view.is_empty(), "{} shows no rows", s.status_name());
            seen.push(s.status_name());
        }
        // The fixture has no failed or skipped trials: they are not offered.
        assert_eq!(seen, ["ok", "partial", "timeout", "crashed"]);
        // A text filter that leaves nothing for a status says so.
        s.text_filter = "no such param".into();
        s.next_status_filter();
        assert_eq!(s.status_name(), "ok");
        assert!(s.view.is_empty());
        assert!(
            s.message.as_deref().unwrap().contains("Esc clears"),
            "{:?}",
            s.message
        );
        s.clear_filters();
        assert!(!s.filtered() && s.view.len() == 18);
    }

    #[test]
    fn filters_by_status_and_text_and_keeps_selection() {
        let mut s = state();
        s.selected = 4;
        let n = s.current().unwrap().n;
        s.text_filter = "max_num".into();
        s.rebuild();
        assert!(
            s.view
                .iter()
                .all(|i| s.model.param(&s.model.rows[*i]).contains("MAX_NUM"))
        );
        assert_eq!(s.view.len(), 7);
        assert_eq!(
            s.current().unwrap().n,
            n,
            "the selected trial stays selected"
        );
        s.text_filter.clear();
        s.next_status_filter();
        assert!(s.view.iter().all(|i| s.model.rows[*i].status == 0));
        s.next_status_filter();
        assert!(s.view.iter().all(|i| s.model.rows[*i].status == 1));
    }

    #[test]
    fn jump_to_best_and_chart() {
        let mut s = state();
        s.next_status_filter();
        s.next_status_filter(); // partial only: the best is hidden
        s.jump_best();
        assert_eq!(s.current().unwrap().tps, Some(5109.913333333334));
        let c = s.chart_data("VLLM_MAX_NUM_BATCHED_TOKENS");
        let values: Vec<&str> = c.iter().map(|x| x.value.as_str()).collect();
        // The group's start was measured under another parameter: it comes
        // first, marked.
        assert_eq!(values, ["131072", "65536", "98304", "196608", "262144"]);
        assert!(c[0].start && c[0].tps.is_some() && !c[1].start);
        // 65536 was partial only: no ok figure.
        assert_eq!(c[1].tps, None);
        assert_eq!(c[3].tps, Some(5109.913333333334));
    }

    #[test]
    fn detail_and_log_open() {
        let mut s = state();
        s.selected = 2;
        s.open_detail();
        let Mode::Detail(r) = &s.mode else {
            panic!("no detail")
        };
        assert_eq!(r.status, "crashed");
        s.open_log();
        let Mode::Log { lines, .. } = &s.mode else {
            panic!("no log: {:?}", s.message)
        };
        assert!(lines.iter().any(|l| l.contains("[serve]")));
    }
}
