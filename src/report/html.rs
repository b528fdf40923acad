//! The report as one self-contained HTML page: inline CSS and SVG, no
//! script, no web font, no link to fetch, so it reads the same opened from a
//! mail or chat attachment on a machine without network.

use std::fmt::Write as _;

use autotune::{Params, Record, Status, human_s};

use super::model::{Chosen, Config, Report, Stage, Step};
use super::svg::{
    GroupPoint, Mark, ParetoPoint, PathStep, esc, group_chart, pareto_chart, path_chart,
};

const CSS: &str = r#"
:root{--ink:#1f2430;--muted:#667085;--line:#e4e7ec;--bg:#f5f6f8;--card:#fff;--accent:#2f6fed;--good:#12a150;--bad:#d92d20;--warn:#c4760c}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:28px 24px 48px}
header h1{font-size:24px;margin:0 0 4px;letter-spacing:-.01em}
header .sub{color:var(--muted);font-size:13px;word-break:break-all}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin-top:10px}
.chip{background:#eef1f6;border-radius:999px;padding:2px 10px;font-size:12px;color:#344054}
.chip.bad{background:#fdecea;color:var(--bad)}.chip.warn{background:#fdf3e4;color:var(--warn)}.chip.good{background:#e7f6ee;color:var(--good)}
section{margin-top:26px}
h2{font-size:17px;margin:0 0 10px}
h3{font-size:14px;margin:0 0 2px}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:16px 18px;box-shadow:0 1px 2px rgba(16,24,40,.04)}
.hero{display:grid;grid-template-columns:minmax(280px,1fr) minmax(320px,1.3fr);gap:16px}
.gain{font-size:40px;font-weight:700;letter-spacing:-.02em;line-height:1.1}
.gain.up{color:var(--good)}.gain.down{color:var(--bad)}.gain.none{color:var(--muted)}
.gain small{font-size:16px;font-weight:500;color:var(--muted)}
.badge{display:inline-block;border-radius:6px;padding:1px 8px;font-size:12px;font-weight:600}
.badge.good{background:#e7f6ee;color:var(--good)}.badge.bad{background:#fdecea;color:var(--bad)}.badge.muted{background:#eef1f6;color:var(--muted)}
.label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code,.mono{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
td code{background:#f2f4f7;border-radius:4px;padding:1px 5px;word-break:break-all}
.new{color:var(--good);font-weight:600}td.good{color:var(--good)}td.bad{color:var(--bad)}td.muted{color:var(--muted)}.old{color:var(--muted);text-decoration:line-through}
.ok{color:var(--good)}.fail{color:var(--bad)}.warn{color:var(--warn)}
pre{background:#101828;color:#e4e7ec;border-radius:8px;padding:10px 12px;overflow:auto;font:12px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;margin:6px 0 0;white-space:pre-wrap;word-break:break-all}
details summary{cursor:pointer;color:var(--accent)}
.groups{display:grid;grid-template-columns:1fr;gap:14px}
.group .charts{display:flex;flex-wrap:wrap;gap:4px;justify-content:space-between}
.group .charts svg{flex:1 1 400px;max-width:520px;height:auto}
.group .meta{color:var(--muted);font-size:12.5px;margin-bottom:6px}
.legend{color:var(--muted);font-size:12.5px;margin:4px 0 10px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:50%;margin:0 4px 0 10px;vertical-align:-1px}
svg.chart.path,svg.chart.pareto{width:100%}
svg.chart{display:block;max-width:100%;height:auto;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
svg .grid{stroke:#eceff3;stroke-width:1}
svg .axis{stroke:#98a2b3;stroke-width:1}
svg .tick{fill:#667085;font-size:10.5px}
svg .axis-title{fill:#475467;font-size:11px;font-weight:600}
svg .xlabel{fill:#344054;font-size:11px}
svg .xlabel.chosen,svg .xtag.chosen{fill:var(--good);font-weight:700}
svg .xtag{fill:#98a2b3;font-size:9.5px}
svg .bad-zone{fill:#d92d20;opacity:.06}
svg .limit{stroke:var(--bad);stroke-width:1.3;stroke-dasharray:5 4}
svg .limit-label{fill:var(--bad);font-size:10.5px;font-weight:600}
svg .chosen-band{fill:#12a150;opacity:.08}
svg .run{fill:#98a2b3;opacity:.8}
svg .err{stroke:#344054;stroke-width:1.4;fill:none}
svg .mean{fill:var(--accent);stroke:#fff;stroke-width:1.5}
svg .mean.chosen{fill:var(--good)}
svg .mean.hollow{fill:#fff;stroke:#98a2b3;stroke-width:2}
svg .base-ring{fill:none;stroke:#344054;stroke-width:1.3}
svg .fail line{stroke:var(--bad);stroke-width:2.2;stroke-linecap:round}
svg .pt{fill:#7a8cb0;opacity:.75}
svg .pt.hollow{fill:#fff;stroke:#98a2b3;stroke-width:1.5;opacity:1}
svg .pt.front{fill:var(--accent);opacity:1;stroke:#fff;stroke-width:1.5}
svg .pt.winner{fill:var(--good);opacity:1;stroke:#fff;stroke-width:2}
svg .front-line{fill:none;stroke:var(--accent);stroke-width:1.6;opacity:.55}
svg .pt-label{fill:#344054;font-size:11.5px;font-weight:600}
svg .pt-label.winner{fill:var(--good)}
svg .trial{fill:#98a2b3;opacity:.55}
svg .step{fill:#fff;stroke:var(--accent);stroke-width:2}
svg .step.changed{fill:var(--good);stroke:#fff}
svg .path-line{fill:none;stroke:var(--accent);stroke-width:2.2}
svg .stage-line{stroke:#98a2b3;stroke-width:1;stroke-dasharray:3 3}
svg .stage-label{fill:#667085;font-size:10.5px}
tr.stage td{background:#f2f4f7;color:#475467;font-size:12px;font-weight:600}
tr.chosen td{background:#e7f6ee}
svg .xlabel.rot{font-size:10.5px}
footer{margin-top:30px;color:var(--muted);font-size:12px}
@media (max-width:760px){.hero{grid-template-columns:1fr}.groups{grid-template-columns:1fr}}
@media print{body{background:#fff}.card{box-shadow:none}}
"#;

fn pm(m: f64, h: Option<f64>, prec: usize) -> String {
    match h {
        Some(h) => format!("{m:.prec$} <small>± {h:.prec$}</small>"),
        None => format!("{m:.prec$}"),
    }
}

fn status_class(s: &Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Pruned | Status::Partial | Status::Skipped => "warn",
        _ => "fail",
    }
}

fn figure(c: Option<&Config>, i: usize, prec: usize) -> String {
    c.and_then(|c| c.figures.get(i).cloned().flatten())
        .map(|s| pm(s.mean, s.ci, prec))
        .unwrap_or_else(|| "—".into())
}

/// The page.
pub fn render(r: &Report, generated: &str) -> String {
    let mut o = String::with_capacity(256 * 1024);
    let crit = &r.criteria;
    let obj = &crit.objective;
    let title = format!(
        "autotune report: {}",
        r.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"generator\" content=\"autotune {}\"><meta name=\"objective\" content=\"{}\"><title>{}</title><style>{CSS}</style></head><body><main>",
        env!("CARGO_PKG_VERSION"),
        esc(&obj.name),
        esc(&title)
    );
    header(&mut o, r, generated);
    hero(&mut o, r);
    path_section(&mut o, r);
    super::beliefs::section(&mut o, r);
    groups_section(&mut o, r);
    pareto_section(&mut o, r);
    failures_section(&mut o, r);
    config_section(&mut o, r);
    let _ = writeln!(
        o,
        "<footer>Objective: {} ({}). Constraints: {}. Intervals are 95 % confidence intervals of the mean over a configuration's eval runs (Student's t); a gain is beyond noise when its interval (Welch) excludes 0. Generated by autotune {} on {}.</footer></main></body></html>",
        esc(&obj.label),
        match crit.sense {
            super::model::Sense::Max => "maximised",
            super::model::Sense::Min => "minimised",
        },
        esc(&crit
            .constraints
            .iter()
            .map(|c| c.text())
            .collect::<Vec<_>>()
            .join(", ")),
        env!("CARGO_PKG_VERSION"),
        esc(generated)
    );
    o
}

fn header(o: &mut String, r: &Report, generated: &str) {
    let s = &r.summary;
    let _ = write!(
        o,
        "<header><h1>autotune report</h1><div class=\"sub\">{} · generated {}</div><div class=\"chips\">",
        esc(&r.path.display().to_string()),
        esc(generated)
    );
    let _ = write!(
        o,
        "<span class=\"chip\">{} trials</span><span class=\"chip\">{} configurations</span><span class=\"chip\">{}</span><span class=\"chip\">GPU time {}</span>",
        r.records.len(),
        r.configs.len(),
        esc(&r.shape_text()),
        esc(&human_s(s.gpu_s))
    );
    for (k, n) in s.counts.iter() {
        let cls = match k {
            "ok" => "good",
            "crashed" | "failed" | "timeout" => "bad",
            _ => "warn",
        };
        let _ = write!(o, "<span class=\"chip {cls}\">{n} {}</span>", esc(k));
    }
    for c in &r.criteria.constraints {
        let _ = write!(o, "<span class=\"chip\">bar: {}</span>", esc(&c.text()));
    }
    if r.bad_lines > 0 {
        let _ = write!(
            o,
            "<span class=\"chip warn\">{} unreadable line(s) ignored</span>",
            r.bad_lines
        );
    }
    o.push_str("</div>");
    for n in &r.notes {
        let _ = write!(o, "<p class=\"chip warn\">{}</p>", esc(n));
    }
    o.push_str("</header>");
}

fn hero(o: &mut String, r: &Report) {
    let s = &r.summary;
    let obj = &r.criteria.objective;
    let start = r.config(&s.start);
    let win = r.config(&s.best);
    o.push_str("<section class=\"hero\" id=\"winner\"><div class=\"card\">");
    let _ = write!(
        o,
        "<div class=\"label\">Winner against the start · {}</div>",
        esc(&obj.label)
    );
    match s.gain_pct {
        Some((g, h)) => {
            let cls = if g > 0.0 {
                "up"
            } else if g < 0.0 {
                "down"
            } else {
                "none"
            };
            let _ = write!(
                o,
                "<div class=\"gain {cls}\">{g:+.1} %{}</div>",
                h.map(|h| format!(" <small>± {h:.1} %</small>"))
                    .unwrap_or_default()
            );
            let (bcls, btxt) = match s.beyond_noise() {
                Some(true) => ("good", "beyond noise: the 95 % interval excludes 0"),
                Some(false) => ("bad", "within noise: the 95 % interval includes 0"),
                None => ("muted", "noise unknown: fewer than 2 runs on a side"),
            };
            let _ = write!(o, "<p><span class=\"badge {bcls}\">{btxt}</span></p>");
        }
        None => {
            let txt = if s.changed.is_empty() {
                "no change beat the starting configuration"
            } else {
                "not comparable: a side was not measured"
            };
            let _ = write!(
                o,
                "<div class=\"gain none\">±0 %</div><p><span class=\"badge muted\">{txt}</span></p>"
            );
        }
    }
    o.push_str(
        "<table class=\"winner-table\" id=\"winner-table\"><tr><th></th><th class=\"num\">start</th><th class=\"num\">winner</th></tr>",
    );
    for (i, m) in r.criteria.metrics().iter().enumerate() {
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&m.label),
            figure(start, i, m.prec),
            figure(win, i, m.prec)
        );
    }
    let runs = |c: Option<&Config>| {
        c.and_then(|c| c.objective())
            .map(|s| s.runs.len().to_string())
            .unwrap_or_else(|| "—".into())
    };
    let _ = write!(
        o,
        "<tr><td>eval runs</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
        runs(start),
        runs(win)
    );
    let meets = |c: Option<&Config>| match c {
        Some(c) if c.feasible(&r.criteria) => "<span class=\"ok\">yes</span>",
        Some(_) => "<span class=\"fail\">no</span>",
        None => "—",
    };
    let _ = write!(
        o,
        "<tr><td>meets the bar</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr></table></div>",
        meets(start),
        meets(win)
    );

    o.push_str("<div class=\"card\"><div class=\"label\">What to deploy</div>");
    if s.changed.is_empty() {
        o.push_str("<p>Keep the starting configuration: no change beat it.</p>");
    } else {
        let _ = write!(
            o,
            "<h3>{} parameter{} changed</h3><table class=\"changed\"><tr><th>parameter</th><th>start</th><th>winner</th></tr>",
            s.changed.len(),
            if s.changed.len() == 1 { "" } else { "s" }
        );
        for (k, from, to) in &s.changed {
            let _ = write!(
                o,
                "<tr><td><code>{}</code></td><td class=\"old\">{}</td><td class=\"new\">{}</td></tr>",
                esc(k),
                esc(from.as_deref().unwrap_or("unset")),
                esc(to)
            );
        }
        o.push_str("</table>");
    }
    let _ = write!(
        o,
        "<p class=\"legend\">Ready to paste: <code>autotune best --format shell</code> (or <code>env</code>, <code>json</code>, <code>args</code>) in {}</p></div></section>",
        esc(&r
            .path
            .parent()
            .map(|p| p.display().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| ".".into()))
    );
}

/// `pass 2`, `refinement 1`; nothing for a group whose pass is not known.
fn stage_name(s: Stage) -> Option<String> {
    match s {
        Stage::Pass(k) => Some(format!("pass {k}")),
        Stage::Round(r) => Some(format!("refinement {r}")),
        Stage::Group => None,
    }
}

/// Whether the steps span more than one pass or round (then each is
/// marked where it begins).
fn staged(r: &Report) -> bool {
    r.steps
        .first()
        .is_some_and(|f| r.steps.iter().any(|s| s.stage != f.stage))
}

/// What a step's mark on the path says on hover.
fn step_tip(r: &Report, s: &Step) -> String {
    let obj = &r.criteria.objective;
    let mut t = s.name();
    if let Some(st) = stage_name(s.stage).filter(|_| !s.is_round()) {
        t.push_str(&format!(" ({st})"));
    }
    t.push_str(&format!(": {}", s.choice_text()));
    if let Some(m) = r.objective_of(&s.base_after) {
        t.push_str(&format!(" · {} {m:.prec$}", obj.label, prec = obj.prec));
    }
    if s.is_round() {
        let moves: Vec<String> = s.moves.iter().map(|m| m.text()).collect();
        t.push_str(&format!(
            " · {} joint move{}: {}",
            moves.len(),
            if moves.len() == 1 { "" } else { "s" },
            moves.join("; ")
        ));
    }
    t
}

/// The choice of a row of the path table: `64 → 48`, `64 (kept)`, a
/// round's move or its base kept.
fn chosen_cell(s: &Step) -> String {
    if s.is_round() {
        return match (s.chosen_move(), &s.chosen) {
            (Some(m), _) => format!("<span class=\"new mono\">{}</span>", esc(&m.text())),
            (None, Some(_)) => "base (kept)".into(),
            (None, None) => "—".into(),
        };
    }
    match (&s.chosen, &s.base_value) {
        (Some(c), Some(b)) if c == b => {
            format!("<span class=\"mono\">{}</span> (kept)", esc(c))
        }
        (Some(c), b) => format!(
            "<span class=\"old mono\">{}</span> → <span class=\"new mono\">{}</span>",
            esc(b.as_deref().unwrap_or("unset")),
            esc(c)
        ),
        (None, _) => "—".into(),
    }
}

fn path_section(o: &mut String, r: &Report) {
    if r.steps.is_empty() {
        o.push_str("<section id=\"path\"><h2>Search path</h2><div class=\"card\"><p>No trial names the parameter it varies: there is no search path to show.</p></div></section>");
        return;
    }
    let obj = &r.criteria.objective;
    let start = r.objective_of(&r.summary.start);
    let staged = staged(r);
    let mut last_stage = None;
    let rows: Vec<PathStep> = r
        .steps
        .iter()
        .zip(r.path())
        .map(|(s, base)| {
            let trials = s
                .values
                .iter()
                .filter_map(|(_, c)| c.map(|i| &r.configs[i]))
                .filter_map(|c| c.objective().map(|x| x.mean))
                .collect();
            let stage = stage_name(s.stage);
            let opens = staged && stage != last_stage;
            last_stage = stage.clone();
            PathStep {
                label: s.name(),
                tip: step_tip(r, s),
                base,
                changed: s.base_after != s.base_before,
                trials,
                stage: stage.filter(|_| opens),
            }
        })
        .collect();
    let replayed = r.steps.iter().all(|s| s.how == Chosen::Replayed);
    o.push_str("<section id=\"path\"><h2>Search path</h2><div class=\"card\">");
    o.push_str("<p class=\"legend\">The search's choice after each step (line: its mean over every run recorded of it); grey dots are the configurations the step weighed; <i style=\"background:#12a150\"></i>the step changed the choice; dashed lines: a pass or a refinement round begins. Hover a dot for the step.</p>");
    o.push_str(&path_chart(
        "The objective of the search's choice after each step",
        &obj.label,
        &rows,
        start,
    ));
    let _ = write!(
        o,
        "<table class=\"path\"><tr><th>#</th><th>parameter</th><th>values</th><th>chosen</th><th class=\"num\">base {} after</th><th class=\"num\">change</th>",
        esc(&obj.label)
    );
    for c in &r.criteria.constraints {
        let _ = write!(o, "<th class=\"num\">{}</th>", esc(&c.metric.label));
    }
    o.push_str("</tr>");
    let cols = 6 + r.criteria.constraints.len();
    let mut prev = start;
    for (i, (s, row)) in r.steps.iter().zip(&rows).enumerate() {
        if let Some(st) = &row.stage {
            let _ = write!(
                o,
                "<tr class=\"stage\"><td colspan=\"{cols}\">{}</td></tr>",
                esc(st)
            );
        }
        let after = r.config(&s.base_after);
        let b = row.base;
        let delta = match (prev, b) {
            (Some(p), Some(b)) if p > 0.0 => format!("{:+.1} %", (b / p - 1.0) * 100.0),
            _ => "—".into(),
        };
        let how = match s.how {
            Chosen::NextGroup | Chosen::Replayed => "",
            Chosen::BestFile => " <small title=\"from best_params.json\">†</small>",
            Chosen::Figures => " <small title=\"worked out from the figures\">*</small>",
        };
        let (name, values) = if s.is_round() {
            (
                esc(&s.name()),
                format!(
                    "{} move{}",
                    s.moves.len(),
                    if s.moves.len() == 1 { "" } else { "s" }
                ),
            )
        } else {
            (
                format!("<code>{}</code>", esc(&s.param)),
                s.values.len().to_string(),
            )
        };
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{name}</td><td class=\"num\">{values}</td><td>{}{how}</td><td class=\"num\">{}</td><td class=\"num\">{delta}</td>",
            i + 1,
            chosen_cell(s),
            figure(after, 0, obj.prec)
        );
        for (j, c) in r.criteria.constraints.iter().enumerate() {
            let _ = write!(
                o,
                "<td class=\"num\">{}</td>",
                figure(after, j + 1, c.metric.prec)
            );
        }
        o.push_str("</tr>");
        if b.is_some() {
            prev = b;
        }
    }
    if replayed {
        o.push_str("</table><p class=\"legend\">Each row is one decision of the search, replayed from the records with the setup its run recorded: the value chosen is the search's own choice (a faster record it judged within the noise, or under the bar, is not chosen), and the figures are those of its choice after the step.</p></div></section>");
    } else {
        o.push_str("</table><p class=\"legend\">Chosen values are read from the next group's trials; † from best_params.json, * worked out from the figures (the file's last group).</p></div></section>");
    }
}

fn group_points(r: &Report, s: &Step, mi: usize) -> Vec<GroupPoint> {
    s.values
        .iter()
        .map(|(v, ci)| {
            let c = ci.map(|i| &r.configs[i]);
            let stat = c
                .and_then(|c| c.figures.get(mi).cloned().flatten())
                .map(|st| (st.mean, st.ci, st.runs));
            let mark = match c {
                None => Mark::Missing,
                Some(c) if c.complete => Mark::Complete,
                Some(c) if stat.is_some() => Mark::Incomplete(c.status().to_string()),
                Some(c) => Mark::Failed(c.status().to_string()),
            };
            GroupPoint {
                label: v.clone(),
                mark,
                stat,
                base: s.base_value.as_deref() == Some(v.as_str()),
                chosen: s.chosen.as_deref() == Some(v.as_str()),
            }
        })
        .collect()
}

/// A round's joint moves: what each changes, its figures, whether the
/// search took it.
fn moves_table(o: &mut String, r: &Report, s: &Step) {
    o.push_str("<table class=\"moves\"><tr><th>#</th><th>joint move</th>");
    for m in r.criteria.metrics() {
        let _ = write!(o, "<th class=\"num\">{}</th>", esc(&m.label));
    }
    o.push_str("<th>status</th></tr>");
    let rows = std::iter::once((
        "base".to_string(),
        "the round's base".to_string(),
        &s.base_before,
    ))
    .chain(
        s.moves
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("#{}", i + 1), m.text(), &m.params)),
    );
    for (label, text, params) in rows {
        let c = r.config(params);
        let chosen = s.chosen.as_deref() == Some(label.as_str());
        let _ = write!(
            o,
            "<tr{}><td>{}</td><td><code>{}</code>{}</td>",
            if chosen { " class=\"chosen\"" } else { "" },
            esc(&label),
            esc(&text),
            if chosen {
                " <b class=\"ok\">chosen</b>"
            } else {
                ""
            }
        );
        for (j, m) in r.criteria.metrics().iter().enumerate() {
            let _ = write!(o, "<td class=\"num\">{}</td>", figure(c, j, m.prec));
        }
        let _ = write!(
            o,
            "<td>{}</td></tr>",
            c.map(|c| esc(c.status().as_str()))
                .unwrap_or_else(|| "not run".into())
        );
    }
    o.push_str("</table>");
}

fn groups_section(o: &mut String, r: &Report) {
    if r.steps.is_empty() {
        return;
    }
    let staged = staged(r);
    o.push_str("<section id=\"groups\"><h2>Each parameter group and refinement round</h2>");
    o.push_str("<p class=\"legend\">Mean of the eval runs with its 95 % interval; small grey dots are single runs.<i style=\"background:#2f6fed\"></i>complete trial<i style=\"background:#12a150\"></i>chosen value<i style=\"border:2px solid #98a2b3;background:#fff\"></i>stopped early or partial · ring: the base's value · ✕ no figures (crashed, timeout, failed) · red dashed line: the bar. A refinement round tries joint moves (several parameters at once) around its base: <code>#1</code>, <code>#2</code>... are named in its table.</p><div class=\"groups\">");
    for (n, s) in r.steps.iter().enumerate() {
        let change = if s.is_round() {
            match (s.chosen_move(), &s.chosen) {
                (Some(m), _) => format!(
                    "moved to <span class=\"new mono\">{}</span>",
                    esc(&m.text())
                ),
                (None, Some(_)) => "kept the base".into(),
                (None, None) => "no choice".into(),
            }
        } else {
            match (&s.base_value, &s.chosen) {
                (Some(b), Some(c)) if b == c => format!("kept <code>{}</code>", esc(c)),
                (b, Some(c)) => format!(
                    "<span class=\"old mono\">{}</span> → <span class=\"new mono\">{}</span>",
                    esc(b.as_deref().unwrap_or("unset")),
                    esc(c)
                ),
                _ => "no choice".into(),
            }
        };
        let title = if s.is_round() {
            format!("Refinement round {}", esc(&s.name()["refinement ".len()..]))
        } else {
            let stage = stage_name(s.stage)
                .filter(|_| staged)
                .map(|st| format!(" <small>· {}</small>", esc(&st)))
                .unwrap_or_default();
            format!("<code>{}</code>{stage}", esc(&s.param))
        };
        let (count, what) = if s.is_round() {
            (s.moves.len(), "joint move")
        } else {
            (s.values.len(), "value")
        };
        let _ = write!(
            o,
            "<div class=\"card group\"><h3>{}. {title}</h3><div class=\"meta\">{change} · {count} {what}{} · {} trial{} here</div><div class=\"charts\">",
            n + 1,
            if count == 1 { "" } else { "s" },
            s.trials,
            if s.trials == 1 { "" } else { "s" }
        );
        let obj = &r.criteria.objective;
        let by = if s.is_round() { "move" } else { "value" };
        o.push_str(&group_chart(
            &format!("{}: {} by {by}", s.name(), obj.label),
            &obj.label,
            &group_points(r, s, 0),
            None,
            obj.prec,
        ));
        for (j, c) in r.criteria.constraints.iter().enumerate() {
            o.push_str(&group_chart(
                &format!("{}: {} by {by}", s.name(), c.metric.label),
                &c.metric.label,
                &group_points(r, s, j + 1),
                Some((c.limit(), c.higher_is_better(), c.text())),
                c.metric.prec,
            ));
        }
        o.push_str("</div>");
        if s.is_round() {
            moves_table(o, r, s);
        }
        o.push_str("</div>");
    }
    o.push_str("</div></section>");
}

fn pareto_section(o: &mut String, r: &Report) {
    let crit = &r.criteria;
    let obj = &crit.objective;
    let win_key = autotune::trial_key(&r.summary.best);
    let start_key = autotune::trial_key(&r.summary.start);
    for (ci, c) in crit.constraints.iter().enumerate() {
        let front = r.pareto(ci);
        let pts: Vec<ParetoPoint> = r
            .configs
            .iter()
            .enumerate()
            .filter_map(|(i, cfg)| {
                let y = cfg.objective()?;
                let x = cfg.figures.get(ci + 1)?.as_ref()?;
                let changed: Vec<String> = cfg
                    .params
                    .iter()
                    .filter(|(k, v)| r.summary.start.get(*k) != Some(*v))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                Some(ParetoPoint {
                    x: x.mean,
                    y: y.mean,
                    tip: format!(
                        "{}\n{} {:.p1$}, {} {:.p2$} ({})",
                        if changed.is_empty() {
                            "the starting configuration".to_string()
                        } else {
                            changed.join(" ")
                        },
                        &obj.label,
                        y.mean,
                        &c.metric.label,
                        x.mean,
                        cfg.status(),
                        p1 = obj.prec,
                        p2 = c.metric.prec
                    ),
                    front: front.contains(&i),
                    complete: cfg.complete,
                    winner: cfg.key == win_key,
                    start: cfg.key == start_key,
                })
            })
            .collect();
        let _ = write!(
            o,
            "<section id=\"pareto\"><h2>{} against {}</h2><div class=\"card\">",
            esc(&obj.label),
            esc(&c.metric.label)
        );
        if pts.is_empty() {
            o.push_str("<p>No configuration has figures to plot.</p></div></section>");
            continue;
        }
        let _ = write!(
            o,
            "<p class=\"legend\">Every configuration measured.<i style=\"background:#2f6fed\"></i>non-dominated (Pareto front: nothing is better on both)<i style=\"background:#12a150\"></i>winner<i style=\"border:2px solid #98a2b3;background:#fff\"></i>incomplete trial · shaded: fails {} · {} of {} configurations on the front.</p>",
            esc(&c.text()),
            front.len(),
            pts.len()
        );
        o.push_str(&pareto_chart(
            &format!("{} against {}", obj.label, c.metric.label),
            &c.metric.label,
            &obj.label,
            &pts,
            (c.limit(), c.higher_is_better(), c.text()),
            c.metric.prec,
        ));
        o.push_str("</div></section>");
    }
}

/// The record's log and eval output tails, redacted again (a file written
/// by an older version may hold what this one would have redacted).
fn log_tail(rec: &Record) -> Vec<String> {
    let mut out: Vec<String> = rec
        .extra
        .get("log_tail")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    for run in rec
        .eval
        .as_ref()
        .and_then(|e| e.eval_runs.as_ref())
        .into_iter()
        .flatten()
    {
        if let Some(t) = &run.output_tail {
            out.push(format!("--- eval run {} ---", run.i));
            out.extend(t.iter().cloned());
        }
    }
    out.iter().map(|l| autotune::redact(l)).collect()
}

fn reason(rec: &Record) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(x) = &rec.reason {
        parts.push(x.clone());
    }
    if let Some(h) = &rec.health
        && rec.status != Status::Ok
        && !h.starts_with("health=200")
    {
        parts.push(h.clone());
    }
    if let Some(c) = rec.exit_code
        && !parts.iter().any(|p| p.contains(&format!("code {c}")))
    {
        parts.push(format!("exit code {c}"));
    }
    let runs: Vec<&autotune::EvalRun> = rec
        .eval
        .as_ref()
        .and_then(|e| e.eval_runs.as_ref())
        .into_iter()
        .flatten()
        .collect();
    let bad: Vec<String> = runs
        .iter()
        .filter(|x| !x.ok)
        .map(|x| {
            let why = if x.timeout == Some(true) {
                "timed out".to_string()
            } else if let Some(e) = &x.error {
                e.clone()
            } else if let Some(c) = x
                .measured
                .as_ref()
                .and_then(|m| m.returncode)
                .filter(|c| *c != 0)
            {
                format!("exit code {c}")
            } else {
                "no figures".to_string()
            };
            format!("run {}: {why}", x.i)
        })
        .collect();
    if !bad.is_empty() {
        parts.push(format!(
            "{} of {} eval runs failed ({})",
            bad.len(),
            runs.len(),
            bad.join("; ")
        ));
    }
    if parts.is_empty() {
        "no reason recorded".into()
    } else {
        parts.join(" · ")
    }
}

fn failure_rows(o: &mut String, list: &[&std::sync::Arc<Record>]) {
    o.push_str("<table class=\"failures\"><tr><th class=\"num\">trial</th><th>status</th><th>parameter</th><th>why</th></tr>");
    for f in list {
        let tail = log_tail(f);
        let _ = write!(
            o,
            "<tr><td class=\"num\">{}</td><td class=\"{}\"><b>{}</b></td><td><code>{}</code></td><td>{}",
            f.index()
                .map(|i| i.to_string())
                .unwrap_or_else(|| "—".into()),
            status_class(&f.status),
            esc(f.status.as_str()),
            esc(&f.change_text()),
            esc(&reason(f))
        );
        if let Some(l) = &f.server_log {
            let _ = write!(o, "<br><small class=\"mono\">{}</small>", esc(l));
        }
        if !tail.is_empty() {
            // Open for a trial that never ran: its tail is the whole story.
            let open = matches!(f.status, Status::Crashed | Status::Failed);
            let _ = write!(
                o,
                "<details{}><summary>log tail ({} lines)</summary><pre>{}</pre></details>",
                if open { " open" } else { "" },
                tail.len(),
                esc(&tail.join("\n"))
            );
        }
        o.push_str("</td></tr>");
    }
    o.push_str("</table>");
}

fn failures_section(o: &mut String, r: &Report) {
    let (pruned, failed): (Vec<_>, Vec<_>) =
        r.failures.iter().partition(|f| f.status == Status::Pruned);
    let _ = write!(
        o,
        "<section id=\"failures\"><h2>Failures ({})</h2><div class=\"card\">",
        failed.len()
    );
    if failed.is_empty() {
        o.push_str("<p class=\"ok\">No trial crashed, timed out or failed.</p>");
    } else {
        o.push_str("<p class=\"legend\">Trials that crashed, timed out, failed or completed only some eval runs. Log tails are the redacted ones kept in the results file.</p>");
        failure_rows(o, &failed);
    }
    o.push_str("</div></section>");
    if !pruned.is_empty() {
        let _ = write!(
            o,
            "<section id=\"pruned\"><h2>Stopped early ({})</h2><div class=\"card\"><p class=\"legend\">Trials the search stopped once they could not meet the bar or beat the group's leader at 95 % confidence: not failures, measured enough to decide.</p>",
            pruned.len()
        );
        failure_rows(o, &pruned);
        o.push_str("</div></section>");
    }
}

fn config_section(o: &mut String, r: &Report) {
    let s = &r.summary;
    if s.best.is_empty() {
        return;
    }
    o.push_str("<section id=\"config\"><h2>The winner's full configuration</h2><div class=\"card\"><details><summary>every parameter</summary><table><tr><th>parameter</th><th>value</th><th>start</th></tr>");
    let all: Params = s.best.clone();
    for (k, v) in &all {
        let st = s.start.get(k);
        let cls = if st != Some(v) { " class=\"new\"" } else { "" };
        let _ = write!(
            o,
            "<tr><td><code>{}</code></td><td{cls}>{}</td><td>{}</td></tr>",
            esc(k),
            esc(v),
            esc(st.map(String::as_str).unwrap_or("unset"))
        );
    }
    o.push_str("</table></details></div></section>");
}
