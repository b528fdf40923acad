//! Inline SVG charts for the report: drawn here as text so the page needs
//! no script, no font and no network to show them.

use std::fmt::Write as _;

/// Escapes text for HTML and SVG (element content and attribute values).
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A linear axis over `[lo, hi]` with round ticks.
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    /// Lowest value shown.
    pub lo: f64,
    /// Highest value shown.
    pub hi: f64,
    /// Distance between ticks.
    pub step: f64,
}

impl Axis {
    /// An axis covering `values` with a little room, on round ticks.
    /// Values beyond ±1e300 are left out: the room around them would
    /// overflow (no real figure is that large).
    pub fn covering(values: impl IntoIterator<Item = f64>) -> Axis {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values
            .into_iter()
            .filter(|v| v.is_finite() && v.abs() <= 1e300)
        {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if hi - lo < 1e-12 {
            let pad = if lo.abs() > 1e-12 {
                lo.abs() * 0.01
            } else {
                1.0
            };
            (lo, hi) = (lo - pad, hi + pad);
        }
        let pad = (hi - lo) * 0.08;
        let (lo, hi) = (lo - pad, hi + pad);
        let raw = (hi - lo) / 4.0;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * mag);
        Axis {
            lo: (lo / step).floor() * step,
            hi: (hi / step).ceil() * step,
            step,
        }
    }

    /// The ticks, low to high.
    pub fn ticks(&self) -> Vec<f64> {
        let n = ((self.hi - self.lo) / self.step).round() as i64;
        (0..=n).map(|i| self.lo + i as f64 * self.step).collect()
    }

    /// Decimals that tell the ticks apart.
    pub fn prec(&self) -> usize {
        (0..6)
            .find(|d| {
                let x = self.step * 10f64.powi(*d as i32);
                (x - x.round()).abs() < 1e-6 * x.max(1.0)
            })
            .unwrap_or(6)
    }

    /// Position of `v` in `[a, b]` (pixels).
    pub fn at(&self, v: f64, a: f64, b: f64) -> f64 {
        a + (v - self.lo) / (self.hi - self.lo) * (b - a)
    }
}

/// A tick label: thousands without decimals get a thin separator.
pub fn tick_label(v: f64, prec: usize) -> String {
    let s = format!("{v:.prec$}");
    if prec == 0 && v.abs() >= 10000.0 {
        let neg = s.starts_with('-');
        let digits: Vec<char> = s.trim_start_matches('-').chars().collect();
        let mut out = String::new();
        for (i, c) in digits.iter().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push('\u{2009}');
            }
            out.push(*c);
        }
        if neg { format!("-{out}") } else { out }
    } else {
        s
    }
}

/// How a point on a group chart is drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    /// A complete trial: filled dot with its 95 % interval.
    Complete,
    /// Figures from an incomplete trial (pruned, partial): hollow dot.
    Incomplete(String),
    /// No figures: the status, drawn as a cross on the axis.
    Failed(String),
    /// Nothing recorded for this value.
    Missing,
}

/// One value of a group chart.
#[derive(Debug, Clone)]
pub struct GroupPoint {
    /// The value (x label).
    pub label: String,
    /// How it is drawn.
    pub mark: Mark,
    /// Mean, 95 % half-width and the runs' figures.
    pub stat: Option<(f64, Option<f64>, Vec<f64>)>,
    /// The base's value when the group began.
    pub base: bool,
    /// The value the group chose.
    pub chosen: bool,
}

/// Pixel frame of a chart.
struct Frame {
    w: f64,
    h: f64,
    l: f64,
    r: f64,
    t: f64,
    b: f64,
}

impl Frame {
    fn x0(&self) -> f64 {
        self.l
    }
    fn x1(&self) -> f64 {
        self.w - self.r
    }
    fn y0(&self) -> f64 {
        self.h - self.b
    }
    fn y1(&self) -> f64 {
        self.t
    }
}

fn open(o: &mut String, f: &Frame, class: &str, title: &str) {
    let _ = write!(
        o,
        r#"<svg class="chart {class}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg">"#,
        w = f.w,
        h = f.h,
        t = esc(title)
    );
    let _ = write!(o, "<title>{}</title>", esc(title));
}

fn y_grid(o: &mut String, f: &Frame, ax: &Axis, prec: usize) {
    for t in ax.ticks() {
        let y = ax.at(t, f.y0(), f.y1());
        let _ = write!(
            o,
            r#"<line class="grid" x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            f.x0(),
            f.x1(),
            f.x0() - 6.0,
            y + 3.5,
            tick_label(t, prec)
        );
    }
}

/// A chart of one metric by the group's values: each value's mean with its
/// 95 % interval and its runs as small dots; the chosen value green, the
/// base's ringed; a limit (a constraint) drawn dashed with the failing side
/// shaded.
pub fn group_chart(
    title: &str,
    y_label: &str,
    points: &[GroupPoint],
    limit: Option<(f64, bool, String)>,
    value_prec: usize,
) -> String {
    let f = Frame {
        w: 400.0,
        h: 230.0,
        l: 62.0,
        r: 14.0,
        t: 26.0,
        b: 44.0,
    };
    let mut vals: Vec<f64> = Vec::new();
    for p in points {
        if let Some((m, ci, runs)) = &p.stat {
            vals.push(*m);
            if let Some(h) = ci {
                vals.push(m - h);
                vals.push(m + h);
            }
            vals.extend(runs.iter().copied());
        }
    }
    if let Some((l, _, _)) = &limit {
        vals.push(*l);
    }
    let ax = Axis::covering(vals);
    let mut o = String::new();
    open(&mut o, &f, "group", title);
    let _ = write!(
        o,
        r#"<text class="axis-title" x="{:.1}" y="16">{}</text>"#,
        f.x0() - 52.0,
        esc(y_label)
    );
    limit_band(&mut o, &f, &ax, &limit, value_prec);
    let n = points.len().max(1) as f64;
    let slot = (f.x1() - f.x0()) / n;
    for (i, p) in points.iter().enumerate() {
        let x = f.x0() + slot * (i as f64 + 0.5);
        point_labels(&mut o, &f, p, x, slot);
        point_figures(&mut o, &f, &ax, p, x, value_prec);
    }
    let _ = write!(
        o,
        r#"<line class="axis" x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/></svg>"#,
        f.x0(),
        f.x1(),
        f.y0(),
        f.y0()
    );
    o
}

/// The bad side of a group chart's limit, shaded, with the limit's line and
/// label (or just the grid without a limit).
fn limit_band(
    o: &mut String,
    f: &Frame,
    ax: &Axis,
    limit: &Option<(f64, bool, String)>,
    value_prec: usize,
) {
    if let Some((l, higher_ok, text)) = &limit {
        let y = ax.at(*l, f.y0(), f.y1()).clamp(f.y1(), f.y0());
        let (ya, yb) = if *higher_ok { (y, f.y0()) } else { (f.y1(), y) };
        let _ = write!(
            o,
            r#"<rect class="bad-zone" x="{:.1}" y="{ya:.1}" width="{:.1}" height="{:.1}"/>"#,
            f.x0(),
            f.x1() - f.x0(),
            (yb - ya).max(0.0)
        );
        y_grid(o, f, ax, ax.prec().max(value_prec.min(4)).min(4));
        let _ = write!(
            o,
            r#"<line class="limit" x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="limit-label" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            f.x0(),
            f.x1(),
            f.x1() - 2.0,
            y - 4.0,
            esc(text)
        );
    } else {
        y_grid(o, f, ax, ax.prec());
    }
}

/// A group chart's value: its band when chosen, its label and its tag
/// (base, chosen, failed, not run).
fn point_labels(o: &mut String, f: &Frame, p: &GroupPoint, x: f64, slot: f64) {
    if p.chosen {
        let _ = write!(
            o,
            r#"<rect class="chosen-band" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="4"/>"#,
            x - slot / 2.0 + 2.0,
            f.y1(),
            slot - 4.0,
            f.y0() - f.y1()
        );
    }
    let label = if p.label.chars().count() > 14 {
        format!("{}…", p.label.chars().take(13).collect::<String>())
    } else {
        p.label.clone()
    };
    let cls = if p.chosen { "xlabel chosen" } else { "xlabel" };
    let _ = write!(
        o,
        r#"<text class="{cls}" x="{x:.1}" y="{:.1}" text-anchor="middle">{}<title>{}</title></text>"#,
        f.y0() + 16.0,
        esc(&label),
        esc(&p.label)
    );
    let tag = match (&p.mark, p.base, p.chosen) {
        (_, true, true) => "base · kept".to_string(),
        (_, false, true) => "chosen".to_string(),
        (_, true, false) => "base".to_string(),
        (Mark::Incomplete(s), ..) | (Mark::Failed(s), ..) => s.clone(),
        (Mark::Missing, ..) => "not run".to_string(),
        _ => String::new(),
    };
    if !tag.is_empty() {
        let _ = write!(
            o,
            r#"<text class="xtag {}" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            if p.chosen { "chosen" } else { "" },
            f.y0() + 30.0,
            esc(&tag)
        );
    }
}

/// A group chart's value: its runs, its mean with its interval, or a cross
/// for a failure.
fn point_figures(o: &mut String, f: &Frame, ax: &Axis, p: &GroupPoint, x: f64, value_prec: usize) {
    match (&p.mark, &p.stat) {
        (Mark::Failed(s), _) | (Mark::Incomplete(s), None) => {
            let y = f.y0() - 10.0;
            let _ = write!(
                o,
                r#"<g class="fail"><title>{}: no figures</title><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/></g>"#,
                esc(s),
                x - 5.0,
                y - 5.0,
                x + 5.0,
                y + 5.0,
                x - 5.0,
                y + 5.0,
                x + 5.0,
                y - 5.0
            );
        }
        (Mark::Missing, _) | (Mark::Complete, None) => {}
        (mark, Some((m, ci, runs))) => {
            for (j, r) in runs.iter().enumerate() {
                let jitter = (j as f64 - (runs.len() as f64 - 1.0) / 2.0) * 3.0;
                let _ = write!(
                    o,
                    r#"<circle class="run" cx="{:.1}" cy="{:.1}" r="2.2"/>"#,
                    x + 12.0 + jitter,
                    ax.at(*r, f.y0(), f.y1())
                );
            }
            let y = ax.at(*m, f.y0(), f.y1());
            if let Some(h) = ci {
                let (ya, yb) = (ax.at(m - h, f.y0(), f.y1()), ax.at(m + h, f.y0(), f.y1()));
                let _ = write!(
                    o,
                    r#"<path class="err" d="M{x:.1} {ya:.1}V{yb:.1}M{:.1} {ya:.1}h10M{:.1} {yb:.1}h10"/>"#,
                    x - 5.0,
                    x - 5.0
                );
            }
            let cls = match (mark, p.chosen) {
                (Mark::Incomplete(_), _) => "mean hollow",
                (_, true) => "mean chosen",
                _ => "mean",
            };
            let tip = format!(
                "{}: {:.prec$}{}{}",
                p.label,
                m,
                ci.map(|h| format!(" ± {h:.prec$}", prec = value_prec))
                    .unwrap_or_default(),
                match mark {
                    Mark::Incomplete(s) => format!(" ({s})"),
                    _ => String::new(),
                },
                prec = value_prec
            );
            let _ = write!(
                o,
                r#"<circle class="{cls}" cx="{x:.1}" cy="{y:.1}" r="5"><title>{}</title></circle>"#,
                esc(&tip)
            );
            if p.base {
                let _ = write!(
                    o,
                    r#"<circle class="base-ring" cx="{x:.1}" cy="{y:.1}" r="8.5"/>"#
                );
            }
        }
    }
}

/// One configuration on a Pareto chart.
#[derive(Debug, Clone)]
pub struct ParetoPoint {
    /// Constraint metric (x).
    pub x: f64,
    /// Objective (y).
    pub y: f64,
    /// Shown on hover.
    pub tip: String,
    /// On the front.
    pub front: bool,
    /// Complete trial.
    pub complete: bool,
    /// The winner.
    pub winner: bool,
    /// The starting configuration.
    pub start: bool,
}

/// The objective against a constraint metric: every configuration, the
/// non-dominated ones joined and marked, the limit drawn with the failing
/// side shaded, the winner and the start labelled.
pub fn pareto_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    pts: &[ParetoPoint],
    limit: (f64, bool, String),
    x_prec: usize,
) -> String {
    let f = Frame {
        w: 820.0,
        h: 400.0,
        l: 70.0,
        r: 20.0,
        t: 28.0,
        b: 48.0,
    };
    let ax = Axis::covering(pts.iter().map(|p| p.x).chain([limit.0]));
    let ay = Axis::covering(pts.iter().map(|p| p.y));
    let mut o = String::new();
    open(&mut o, &f, "pareto", title);
    let lx = ax.at(limit.0, f.x0(), f.x1()).clamp(f.x0(), f.x1());
    let (za, zb) = if limit.1 { (f.x0(), lx) } else { (lx, f.x1()) };
    let _ = write!(
        o,
        r#"<rect class="bad-zone" x="{za:.1}" y="{:.1}" width="{:.1}" height="{:.1}"/>"#,
        f.y1(),
        (zb - za).max(0.0),
        f.y0() - f.y1()
    );
    y_grid(&mut o, &f, &ay, ay.prec());
    let xp = ax.prec().max(1).min(x_prec.max(1));
    for t in ax.ticks() {
        let x = ax.at(t, f.x0(), f.x1());
        let _ = write!(
            o,
            r#"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            f.y1(),
            f.y0(),
            f.y0() + 16.0,
            tick_label(t, xp.max(ax.prec()))
        );
    }
    let _ = write!(
        o,
        r#"<line class="limit" x1="{lx:.1}" x2="{lx:.1}" y1="{:.1}" y2="{:.1}"/><text class="limit-label" x="{:.1}" y="{:.1}" text-anchor="{}">{}</text>"#,
        f.y1(),
        f.y0(),
        if limit.1 { lx - 5.0 } else { lx + 5.0 },
        f.y1() + 12.0,
        if limit.1 { "end" } else { "start" },
        esc(&limit.2)
    );
    let _ = write!(
        o,
        r#"<text class="axis-title" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text class="axis-title" x="{:.1}" y="16">{}</text>"#,
        (f.x0() + f.x1()) / 2.0,
        f.h - 8.0,
        esc(x_label),
        f.x0() - 60.0,
        esc(y_label)
    );
    // The front as a staircase, best constraint side first.
    let mut front: Vec<&ParetoPoint> = pts.iter().filter(|p| p.front).collect();
    front.sort_by(|a, b| a.x.total_cmp(&b.x));
    if front.len() > 1 {
        let mut d = String::new();
        for (i, p) in front.iter().enumerate() {
            let (x, y) = (ax.at(p.x, f.x0(), f.x1()), ay.at(p.y, f.y0(), f.y1()));
            let _ = write!(d, "{}{x:.1} {y:.1}", if i == 0 { "M" } else { "L" });
        }
        let _ = write!(o, r#"<path class="front-line" d="{d}"/>"#);
    }
    let mut order: Vec<&ParetoPoint> = pts.iter().collect();
    // Draw the interesting points last so they stay on top.
    order.sort_by_key(|p| (p.winner || p.start, p.front, p.complete));
    for p in order {
        let (x, y) = (ax.at(p.x, f.x0(), f.x1()), ay.at(p.y, f.y0(), f.y1()));
        let cls = if p.winner {
            "pt winner"
        } else if p.front {
            "pt front"
        } else if p.complete {
            "pt"
        } else {
            "pt hollow"
        };
        let r = if p.winner || p.front { 6.0 } else { 4.5 };
        let _ = write!(
            o,
            r#"<circle class="{cls}" cx="{x:.1}" cy="{y:.1}" r="{r}"><title>{}</title></circle>"#,
            esc(&p.tip)
        );
        let label = match (p.winner, p.start) {
            (true, true) => Some("winner = start"),
            (true, false) => Some("winner"),
            (false, true) => Some("start"),
            _ => None,
        };
        if let Some(l) = label {
            let anchor_left = x > f.x1() - 90.0;
            let _ = write!(
                o,
                r#"<text class="pt-label{}" x="{:.1}" y="{:.1}" text-anchor="{}">{l}</text>"#,
                if p.winner { " winner" } else { "" },
                if anchor_left { x - 10.0 } else { x + 10.0 },
                y - 8.0,
                if anchor_left { "end" } else { "start" }
            );
        }
    }
    let _ = write!(
        o,
        r#"<line class="axis" x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/></svg>"#,
        f.x0(),
        f.x1(),
        f.y0(),
        f.y0()
    );
    o
}

/// One step of the search path.
#[derive(Debug, Clone)]
pub struct PathStep {
    /// What the x axis names it by (a parameter, `refinement 1`).
    pub label: String,
    /// Shown on hover: what it tried and what it chose.
    pub tip: String,
    /// The objective's mean of the search's choice after it.
    pub base: Option<f64>,
    /// Whether it changed the choice.
    pub changed: bool,
    /// The means of the configurations it weighed.
    pub trials: Vec<f64>,
    /// The pass or round it opens (`pass 2`, `refinement 1`), if it opens
    /// one.
    pub stage: Option<String>,
}

/// The x axis labels at most: with the path chart's plot width, 18 px
/// apart at least, more than the rotated labels need not to overlap.
pub const MAX_X_LABELS: usize = 40;

/// Every how many steps the x axis is labelled: 1, 2, 5, 10, 20, 50...
/// so that at most [`MAX_X_LABELS`] labels are drawn.
pub fn label_every(n: usize) -> usize {
    let mut k = 1usize;
    loop {
        for m in [1, 2, 5] {
            if n.div_ceil(m * k) <= MAX_X_LABELS {
                return m * k;
            }
        }
        k *= 10;
    }
}

/// The search path: the objective of the search's choice after each step
/// (a step line), with every configuration the step weighed as a faint
/// dot in its column; passes and refinement rounds marked where they
/// begin; the x axis labelled every [`label_every`] steps (every step's
/// dot says what it was on hover).
pub fn path_chart(title: &str, y_label: &str, steps: &[PathStep], start: Option<f64>) -> String {
    let n = steps.len().max(1) as f64;
    let f = Frame {
        w: 820.0,
        h: 400.0,
        l: 80.0,
        r: 20.0,
        t: 28.0,
        b: 186.0,
    };
    let ax = Axis::covering(
        steps
            .iter()
            .flat_map(|s| s.base.iter().copied().chain(s.trials.iter().copied()))
            .chain(start),
    );
    let mut o = String::new();
    open(&mut o, &f, "path", title);
    y_grid(&mut o, &f, &ax, ax.prec());
    let _ = write!(
        o,
        r#"<text class="axis-title" x="{:.1}" y="16">{}</text>"#,
        f.x0() - 70.0,
        esc(y_label)
    );
    let slot = (f.x1() - f.x0()) / n;
    let every = label_every(steps.len());
    let mut d = String::new();
    let mut prev = start;
    // Where the last stage name ends: a name too close to it is left to
    // its line's tooltip.
    let mut stage_room = f64::NEG_INFINITY;
    for (i, s) in steps.iter().enumerate() {
        let x = f.x0() + slot * (i as f64 + 0.5);
        let xa = x - slot / 2.0;
        if let Some(st) = &s.stage
            && i > 0
        {
            let _ = write!(
                o,
                r#"<line class="stage-line" x1="{xa:.1}" x2="{xa:.1}" y1="{:.1}" y2="{:.1}"><title>{} begins</title></line>"#,
                f.y1(),
                f.y0(),
                esc(st)
            );
            if xa >= stage_room {
                let _ = write!(
                    o,
                    r#"<text class="stage-label" x="{:.1}" y="{:.1}">{}</text>"#,
                    xa + 3.0,
                    f.y1() + 10.0,
                    esc(st)
                );
                stage_room = xa + 7.0 * st.chars().count() as f64 + 8.0;
            }
        }
        for t in &s.trials {
            let _ = write!(
                o,
                r#"<circle class="trial" cx="{x:.1}" cy="{:.1}" r="2.6"/>"#,
                ax.at(*t, f.y0(), f.y1())
            );
        }
        if let Some(b) = s.base {
            let y = ax.at(b, f.y0(), f.y1());
            if let Some(p) = prev {
                let yp = ax.at(p, f.y0(), f.y1());
                let _ = write!(
                    d,
                    "{}{xa:.1} {yp:.1}L{xa:.1} {y:.1}",
                    if d.is_empty() { "M" } else { "L" }
                );
            }
            let _ = write!(
                d,
                "{}{xa:.1} {y:.1}L{:.1} {y:.1}",
                if d.is_empty() { "M" } else { "L" },
                x + slot / 2.0
            );
            prev = Some(b);
        }
        // Every step's mark at the choice's figure, with what it was.
        if let Some(b) = s.base {
            let _ = write!(
                o,
                r#"<circle class="{}" cx="{x:.1}" cy="{:.1}" r="{}"><title>{}. {}</title></circle>"#,
                if s.changed { "step changed" } else { "step" },
                ax.at(b, f.y0(), f.y1()),
                if steps.len() > 60 { 3.0 } else { 4.5 },
                i + 1,
                esc(&s.tip)
            );
        }
        if (i + 1) % every == 0 {
            let _ = write!(
                o,
                r#"<line class="axis" x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}"/><text class="xlabel rot{}" transform="translate({x:.1} {:.1}) rotate(-60)" text-anchor="end">{}. {}<title>{}</title></text>"#,
                f.y0(),
                f.y0() + 4.0,
                if s.changed { " chosen" } else { "" },
                f.y0() + 14.0,
                i + 1,
                esc(&short(&s.label, 21)),
                esc(&s.tip)
            );
        }
    }
    let _ = write!(o, r#"<path class="path-line" d="{d}"/>"#);
    let _ = write!(
        o,
        r#"<line class="axis" x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/></svg>"#,
        f.x0(),
        f.x1(),
        f.y0(),
        f.y0()
    );
    o
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_is_round_and_covers() {
        let a = Axis::covering([4873.0, 5948.0]);
        assert!(a.lo <= 4873.0 && a.hi >= 5948.0);
        assert!(a.ticks().len() >= 4 && a.ticks().len() <= 8, "{a:?}");
        let b = Axis::covering([0.852, 0.8871]);
        assert!(b.lo <= 0.852 && b.hi >= 0.8871);
        assert!(b.prec() >= 2, "{b:?}");
        let c = Axis::covering([]);
        assert!(c.lo < c.hi);
    }

    fn steps(n: usize) -> Vec<PathStep> {
        (0..n)
            .map(|i| PathStep {
                label: format!("PARAM_{}", i % 17),
                tip: format!("PARAM_{}: kept 1", i % 17),
                base: Some(5000.0 + i as f64),
                changed: i % 7 == 0,
                trials: vec![4900.0 + i as f64, 5100.0],
                stage: (i > 0 && i % 17 == 0).then(|| format!("pass {}", i / 17 + 1)),
            })
            .collect()
    }

    /// The x positions of the path chart's step labels.
    fn label_xs(svg: &str) -> Vec<f64> {
        svg.match_indices("<text class=\"xlabel rot")
            .map(|(i, _)| {
                let t = &svg[i..];
                let at = t.find("translate(").unwrap() + "translate(".len();
                t[at..].split(' ').next().unwrap().parse::<f64>().unwrap()
            })
            .collect()
    }

    /// At 100+ steps the x axis is labelled every few steps, far enough
    /// apart not to overlap; every step still says what it was on hover.
    #[test]
    fn path_axis_labels_are_thinned_at_many_steps() {
        for n in [120, 250, 1000] {
            let svg = path_chart("t", "tok/s", &steps(n), Some(5000.0));
            let xs = label_xs(&svg);
            assert!(
                xs.len() <= MAX_X_LABELS && xs.len() >= 10,
                "{n} steps: {} labels",
                xs.len()
            );
            let gap = xs.windows(2).map(|w| w[1] - w[0]).fold(f64::MAX, f64::min);
            assert!(gap >= 18.0, "{n} steps: labels {gap:.1} px apart");
            assert_eq!(svg.matches("<circle class=\"step").count(), n);
        }
        // Few steps: every one labelled.
        let svg = path_chart("t", "tok/s", &steps(30), None);
        assert_eq!(label_xs(&svg).len(), 30);
        assert_eq!(label_every(30), 1);
        assert_eq!(label_every(120), 5);
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<|im_end|> & \"x\""),
            "&lt;|im_end|&gt; &amp; &quot;x&quot;"
        );
    }
}
