//! Drawing the browse screen: header, table, detail, log, chart, footer.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Clear, Paragraph, Row as TRow, Table, TableState, Wrap};

use super::keys::{Action, BINDINGS};
use super::model::Model;
use super::state::{BrowseState, Chart, Col, Mode};
use crate::ui::keys::{footer, help};
use crate::ui::panels::{block, centered};
use crate::ui::theme::{Role, Theme};
use autotune::fig;

/// Draws the whole browse screen.
pub fn draw(f: &mut Frame, s: &BrowseState, t: &Theme) {
    let [head, body, msg, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    header(f, head, s, t);
    match &s.mode {
        Mode::Table => table(f, body, s, t),
        Mode::Detail(r) => detail(f, body, r, s, t),
        Mode::Log {
            path,
            lines,
            scroll,
        } => log(f, body, path, lines, *scroll, t),
        Mode::Chart(c) => chart(f, body, c, s, t),
    }
    let m = if s.editing {
        Line::from(vec![
            Span::styled(" filter: ", t.style(Role::Accent)),
            Span::raw(s.text_filter.as_str()),
            Span::raw("▏"),
        ])
    } else {
        Line::from(Span::styled(
            format!(" {}", s.message.as_deref().unwrap_or("")),
            t.style(Role::Warn),
        ))
    };
    f.render_widget(Paragraph::new(m), msg);
    let in_table = s.mode == Mode::Table;
    let detail = matches!(s.mode, Mode::Detail(_));
    let line = footer(
        BINDINGS,
        |a| match a {
            Action::Sort | Action::Reverse | Action::StatusFilter | Action::TextFilter => in_table,
            Action::Back => !in_table || s.filtered(),
            Action::Copy => detail,
            Action::Chart | Action::Log | Action::Open => !matches!(s.mode, Mode::Log { .. }),
            _ => true,
        },
        |a, label| match a {
            Action::Back if in_table => "Esc clear-filters",
            _ => label,
        },
        foot.width,
        t,
    );
    f.render_widget(Paragraph::new(line), foot);
    if s.sort_menu {
        let mut lines: Vec<Line> = s
            .cols()
            .iter()
            .map(|c| {
                let mark = match s.sort {
                    (x, true) if x == *c => "  (now, largest first)",
                    (x, false) if x == *c => "  (now, smallest first)",
                    _ => "",
                };
                Line::from(vec![
                    Span::styled(format!(" {}  ", c.key()), t.style(Role::Accent)),
                    Span::raw(format!("{:<7} {}", s.col_title(*c), c.about())),
                    Span::styled(mark, t.style(Role::Dim)),
                ])
            })
            .collect();
        lines.push(Line::from(Span::styled(
            " the same column again flips the order; any other key closes",
            t.style(Role::Dim),
        )));
        let r = centered(f.area(), 76, lines.len() as u16 + 2);
        f.render_widget(Clear, r);
        f.render_widget(Paragraph::new(lines).block(block("sort by", true, t)), r);
    }
    if s.help {
        let (r, lines) = help_layout(f.area(), t);
        crate::ui::panels::overlay::draw_help(f, r, lines, s.help_scroll, t);
    }
}

/// The help's box in `area` and its lines: every key with its description
/// wrapped under itself, as wide as the screen allows up to 96 columns,
/// as high as its lines or the screen (it then scrolls).
fn help_layout(area: Rect, t: &Theme) -> (Rect, Vec<Line<'static>>) {
    let w = area.width.min(96);
    let lines = help(BINDINGS, w.saturating_sub(2) as usize, t);
    (centered(area, w, lines.len() as u16 + 2), lines)
}

/// Rows browse's help scrolls at most in `area` (0: it fits).
pub fn help_max(area: Rect) -> usize {
    let (r, lines) = help_layout(area, &Theme { color: false });
    crate::ui::panels::overlay::overflow(r, lines.len())
}

fn header(f: &mut Frame, area: Rect, s: &BrowseState, t: &Theme) {
    let m = &s.model;
    let mut top = vec![
        Span::styled(" autotune browse ", t.style(Role::Title)),
        Span::raw(format!(" {} trials", m.rows.len())),
    ];
    for (k, n) in m.counts() {
        top.push(Span::raw("  "));
        top.push(Span::styled(format!("{k} {n}"), t.status(k)));
    }
    if !m.exists {
        top.push(Span::styled(
            "  (waiting for the file to appear)",
            t.style(Role::Warn),
        ));
    }
    // The path last: on a narrow screen it is what gets cut.
    top.push(Span::styled(
        format!("  {}", m.path.display()),
        t.style(Role::Dim),
    ));
    let mut bottom = vec![Span::raw(" ")];
    if m.bad > 0 || m.blank > 0 || m.torn() {
        bottom.push(Span::styled(
            format!(
                "{} unreadable, {} blank line(s){}  ",
                m.bad,
                m.blank,
                if m.torn() { ", a torn last line" } else { "" }
            ),
            t.style(Role::Warn),
        ));
    }
    match (s.best(), &s.goal) {
        (Some(b), Some(g)) => {
            // By the declared goal: its metrics by name.
            let r = &m.rows[b];
            bottom.push(Span::styled(
                format!("best ({}): ", g.describe()),
                t.style(Role::Dim),
            ));
            let figs: Vec<String> = g
                .required_metrics()
                .into_iter()
                .map(|n| format!("{n} {}", fig(m.value(r, n), 2)))
                .collect();
            bottom.push(Span::styled(
                format!("#{} {}={} {}", r.n, m.param(r), r.value, figs.join(" ")),
                t.style(Role::Good),
            ));
        }
        (None, Some(g)) => bottom.push(Span::styled(
            format!("no ok trial meets {}", g.describe()),
            t.style(Role::Dim),
        )),
        (Some(b), None) => {
            let r = &m.rows[b];
            bottom.push(Span::styled(
                format!("best (acc ≥ {}): ", s.threshold),
                t.style(Role::Dim),
            ));
            bottom.push(Span::styled(
                format!(
                    "#{} {}={} {} tok/s acc {}",
                    r.n,
                    m.param(r),
                    r.value,
                    fig(r.tps, 1),
                    fig(r.acc, 4)
                ),
                t.style(Role::Good),
            ));
        }
        (None, None) => bottom.push(Span::styled(
            format!("no ok trial with acc ≥ {}", s.threshold),
            t.style(Role::Dim),
        )),
    }
    let filt = match (s.status_filter, s.text_filter.is_empty()) {
        (None, true) => String::new(),
        (st, _) => format!(
            "  shown {} [{}{}]",
            s.view.len(),
            {
                let _ = st;
                s.status_name()
            },
            if s.text_filter.is_empty() {
                String::new()
            } else {
                format!(" /{}", s.text_filter)
            }
        ),
    };
    bottom.push(Span::styled(filt, t.style(Role::Accent)));
    f.render_widget(
        Paragraph::new(vec![Line::from(top), Line::from(bottom)]),
        area,
    );
}

fn cell_text(s: &BrowseState, r: &super::model::Row, c: Col) -> String {
    let m = &s.model;
    match c {
        Col::Goal(i) => fig(
            s.goal_metrics().get(i as usize).and_then(|n| m.value(r, n)),
            2,
        ),
        Col::N => r.n.to_string(),
        Col::Log => r.index.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
        Col::Time => r.ts.replace('T', " "),
        Col::Status => Model::status(r).to_string(),
        Col::Param => m.param(r).to_string(),
        Col::Value => r.value.to_string(),
        Col::Acc => fig(r.acc, 4),
        Col::Tps => crate::ui::panels::best::pm(r.tps, r.tps_ci, 1),
        Col::Answer => fig(r.answer_tps, 1),
        Col::TimeS => fig(r.time_s, 2),
        Col::Runs => {
            if r.runs > 0 {
                format!("{}/{}", r.ok_n, r.runs)
            } else {
                "-".into()
            }
        }
    }
}

/// A column's width (the parameter's is its least) and how much it is
/// worth keeping when the screen is narrow (lowest dropped first); `ci`:
/// tok/s carries `± half-width`.
fn col_spec(c: Col, ci: bool) -> (u16, u8) {
    match c {
        Col::Tps if ci => (12, 10),
        Col::N => (4, 7),
        Col::Log => (5, 2),
        Col::Time => (19, 1),
        Col::Status => (8, 8),
        Col::Param => (20, 10),
        Col::Value => (14, 10),
        Col::Acc => (6, 9),
        Col::Tps => (7, 10),
        Col::Answer => (7, 3),
        Col::TimeS => (5, 4),
        Col::Runs => (5, 5),
        Col::Goal(_) => (11, 9),
    }
}

/// The columns that fit in `width`, the least useful ones dropped first
/// (`ci`: the tok/s column carries intervals).
pub fn visible_cols(mut cols: Vec<Col>, width: u16, ci: bool) -> Vec<Col> {
    let need = |cols: &[Col]| -> u16 {
        cols.iter().map(|c| col_spec(*c, ci).0).sum::<u16>() + cols.len() as u16 - 1
    };
    while need(&cols) > width && cols.len() > 3 {
        let (i, _) = cols
            .iter()
            .enumerate()
            .min_by_key(|(_, c)| col_spec(**c, ci).1)
            .expect("columns");
        cols.remove(i);
    }
    cols
}

fn table(f: &mut Frame, area: Rect, s: &BrowseState, t: &Theme) {
    let m = &s.model;
    let h = area.height.saturating_sub(3) as usize;
    let cols = visible_cols(s.cols(), area.width.saturating_sub(2), m.has_ci);
    // Only the rows on screen are built: fast on 100k records.
    let first = s
        .selected
        .saturating_sub(h.saturating_sub(1))
        .min(s.view.len().saturating_sub(h.max(1)));
    let rows: Vec<TRow> = s.view[first..(first + h).min(s.view.len())]
        .iter()
        .map(|i| {
            let r = &m.rows[*i];
            TRow::new(cols.iter().map(|c| {
                let text = cell_text(s, r, *c);
                let style = match c {
                    Col::Status => t.status(Model::status(r)),
                    Col::Acc if r.acc.is_some_and(|a| a < s.threshold) => t.style(Role::Bad),
                    Col::Value => t.style(Role::Accent),
                    Col::Goal(i) if s.goal_breaks(r, *i) => t.style(Role::Bad),
                    _ => Style::new(),
                };
                Cell::from(Span::styled(text, style))
            }))
        })
        .collect();
    let header = TRow::new(cols.iter().map(|c| {
        let mark = if s.sort.0 == *c {
            if s.sort.1 { " ▼" } else { " ▲" }
        } else {
            ""
        };
        Cell::from(format!("{}{mark}", s.col_title(*c)))
    }))
    .style(t.style(Role::Title));
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|c| match c {
            Col::Param => Constraint::Fill(1),
            _ => Constraint::Length(col_spec(*c, m.has_ci).0),
        })
        .collect();
    let mut ts = TableState::default().with_selected(Some(s.selected - first.min(s.selected)));
    let title = format!("trials ({} of {})", s.view.len(), m.rows.len());
    let b = block(&title, true, t);
    if s.view.is_empty() && !m.rows.is_empty() {
        // Say why the table is empty instead of showing nothing.
        let why = format!(
            "no trial matches the filter [{}{}]; Esc clears it",
            s.status_name(),
            if s.text_filter.is_empty() {
                String::new()
            } else {
                format!(" /{}", s.text_filter)
            }
        );
        f.render_widget(
            Paragraph::new(Span::styled(why, t.style(Role::Warn))).block(b),
            area,
        );
        return;
    }
    let tbl = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(Style::new().add_modifier(ratatui::style::Modifier::REVERSED))
        .block(b);
    f.render_stateful_widget(tbl, area, &mut ts);
}

fn detail(f: &mut Frame, area: Rect, r: &autotune::Record, s: &BrowseState, t: &Theme) {
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
    let params: Vec<Line> = r
        .params
        .iter()
        .map(|(k, v)| {
            let differs = s.defaults.get(k) != Some(v);
            let style = if Some(k.as_str()) == r.param_under_test.as_deref() {
                t.style(Role::Accent)
            } else if differs {
                t.style(Role::Warn)
            } else {
                Style::new()
            };
            Line::from(vec![
                Span::styled(format!("{k} = {v}"), style),
                Span::styled(
                    if differs { "  (≠ default)" } else { "" },
                    t.style(Role::Dim),
                ),
            ])
        })
        .collect();
    f.render_widget(
        Paragraph::new(params).block(block("params (≠ default highlighted)", false, t)),
        left,
    );
    let mut lines = vec![
        Line::from(vec![
            Span::raw("status "),
            Span::styled(r.status.to_string(), t.status(r.status.as_str())),
            Span::raw(format!("   phase {}   at {}", r.phase.as_str(), r.ts)),
        ]),
        Line::raw(format!("changed: {}", r.change_text())),
        Line::raw(format!("health: {}", r.health.as_deref().unwrap_or("-"))),
        Line::raw(format!(
            "server log: {}   (l opens it)",
            r.server_log.as_deref().unwrap_or("-")
        )),
    ];
    if let Some(x) = &r.reason {
        // A pruned trial's reason is why it stopped early, not an error.
        let style = if r.status == "pruned" {
            t.status("pruned")
        } else {
            t.style(Role::Bad)
        };
        lines.push(Line::from(Span::styled(format!("reason: {x}"), style)));
    }
    if crate::ui::panels::recent::is_recheck(r) {
        lines.push(Line::raw(
            "re-measure of a close call: its runs are pooled with the earlier ones",
        ));
    }
    if let Some(c) = r.exit_code {
        lines.push(Line::raw(format!(
            "exit code: {c}   start-up {}s",
            fig(r.startup_s, 1)
        )));
    }
    if let Some(e) = &r.eval {
        eval_lines(e, t, &mut lines);
    }
    if let Some(serde_json::Value::Array(tail)) = r.extra.get("log_tail") {
        lines.push(Line::from(Span::styled(
            "last log lines:",
            t.style(Role::Title),
        )));
        for l in tail {
            lines.push(Line::raw(format!("  {}", l.as_str().unwrap_or(""))));
        }
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block("trial", true, t)),
        right,
    );
}

/// A trial's means over its ok runs, then each eval run.
fn eval_lines(e: &autotune::EvalSummary, t: &Theme, lines: &mut Vec<Line<'static>>) {
    let pm = |m: Option<f64>, c: Option<f64>, p: usize| match c {
        Some(c) => format!("{} ± {c:.p$}", fig(m, p)),
        None => fig(m, p),
    };
    lines.push(Line::from(Span::styled(
        format!(
            "means over ok runs: acc {}  tok/s {}  answer {}  time {}s",
            pm(e.avg_accuracy, e.ci95_accuracy, 4),
            pm(e.avg_total_tps, e.ci95_total_tps, 1),
            fig(e.avg_answer_tps, 1),
            fig(e.avg_total_time_s, 2)
        ),
        t.style(Role::Title),
    )));
    for run in e.eval_runs.iter().flatten() {
        let m = run.measured.clone().unwrap_or_default();
        let what = if run.timeout == Some(true) {
            "timed out".to_string()
        } else {
            format!(
                "rc {}  acc {}  tok/s {}  answer {}  time {}  ({}s){}",
                m.returncode.map(|c| c.to_string()).unwrap_or("-".into()),
                fig(m.accuracy, 4),
                fig(m.total_tps, 1),
                fig(m.answer_tps, 1),
                fig(m.total_time_s, 2),
                fig(m.elapsed_s, 2),
                run.error
                    .as_ref()
                    .map(|e| format!("  {e}"))
                    .unwrap_or_default()
            )
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("  run {} {:<4} ", run.i, if run.ok { "ok" } else { "FAIL" }),
                if run.ok {
                    t.style(Role::Good)
                } else {
                    t.style(Role::Bad)
                },
            ),
            Span::raw(what),
        ]));
    }
}

fn log(f: &mut Frame, area: Rect, path: &str, lines: &[String], scroll: usize, t: &Theme) {
    let b = block(path, true, t);
    let h = b.inner(area).height as usize;
    let end = lines.len().saturating_sub(scroll);
    let start = end.saturating_sub(h);
    let shown: Vec<Line> = lines[start..end]
        .iter()
        .map(|l| Line::raw(l.as_str()))
        .collect();
    f.render_widget(Paragraph::new(shown).block(b), area);
}

/// A round number at or above `x` whose quarters are round too.
pub fn nice_ceil(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(x.log10().floor());
    [1.0, 1.2, 1.6, 2.0, 2.4, 3.0, 4.0, 6.0, 8.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|v| *v >= x)
        .unwrap_or(10.0 * p)
}

/// The axis of a chart of `values` (tok/s): `(start, end)`, with round
/// quarters. From 0 when the smallest value is under half the largest (the
/// bars' lengths then show the ratios); otherwise zoomed to the range of
/// the values, from a round start under the smallest, so that 5403 and
/// 5442 do not look equal. One value, or none: from 0.
pub fn chart_axis(values: &[f64]) -> (f64, f64) {
    let hi = values.iter().copied().fold(f64::NAN, f64::max);
    let lo = values.iter().copied().fold(f64::NAN, f64::min);
    if !(hi.is_finite() && lo.is_finite()) || lo <= 0.0 || lo < hi * 0.5 || lo == hi {
        return (0.0, nice_ceil(hi.max(0.0)));
    }
    // The smallest step of 1, 2 or 5 × 10^k whose four quarters from a
    // multiple of it at least one step under the smallest value reach the
    // largest: the smallest bar keeps some length.
    let mut step = 10f64.powf(((hi - lo) / 4.0).log10().floor() - 1.0);
    loop {
        for m in [1.0, 2.0, 2.5, 5.0] {
            let st = step * m;
            let mut start = (lo / st).floor() * st;
            if start >= lo {
                start -= st;
            }
            if start + 4.0 * st >= hi {
                return (start.max(0.0), start.max(0.0) + 4.0 * st);
            }
        }
        step *= 10.0;
    }
}

/// A tick label: as few decimals as the quarters need.
fn tick(v: f64, quarter: f64) -> String {
    let d = if quarter >= 1.0 {
        0
    } else {
        (-quarter.log10().floor()) as usize
    };
    format!("{v:.d$}")
}

/// A bar of `frac` (0..=1) of `w` cells, in eighths.
fn hbar(frac: f64, w: usize) -> String {
    const PART: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
    let eighths = (frac.clamp(0.0, 1.0) * w as f64 * 8.0).round() as usize;
    let mut b = "█".repeat(eighths / 8);
    b.push_str(PART[eighths % 8]);
    b
}

/// The chart of one parameter: one row per value with its best ok tok/s
/// as a bar on a labelled axis (from zero, or zoomed to the values' range
/// and said so: [`chart_axis`]), the figure, its accuracy and the
/// number of trials. Marks, not colours, carry the meaning (`★` the
/// fastest meeting the bar, `×` under it), so it reads with NO_COLOR too.
fn chart(f: &mut Frame, area: Rect, c: &Chart, s: &BrowseState, t: &Theme) {
    let data = &c.bars;
    let best_tps = data
        .iter()
        .filter(|d| d.acc.is_some_and(|a| a >= s.threshold))
        .filter_map(|d| d.tps)
        .fold(f64::NAN, f64::max);
    let shown: Vec<f64> = data.iter().filter_map(|d| d.tps).collect();
    let (from, top) = chart_axis(&shown);
    let label_w = data
        .iter()
        .map(|d| d.value.chars().count() + if d.start { 8 } else { 0 })
        .max()
        .unwrap_or(5)
        .max(5);
    // value, mark, tok/s, acc, n, then the bar.
    let fixed = label_w + 2 + 9 + 9 + 4 + 2;
    let inner_w = area.width.saturating_sub(2) as usize;
    let bar_w = inner_w.saturating_sub(fixed + 6).max(10);
    let mut lines = vec![];
    // The axis: ticks at quarters of a round range, labelled.
    let mut axis = vec![' '; bar_w + 6];
    let quarter = (top - from) / 4.0;
    for q in 0..=4 {
        let v = from + quarter * q as f64;
        let label = tick(v, quarter);
        let at = (bar_w * q / 4).min(axis.len() - label.len());
        for (i, ch) in label.chars().enumerate() {
            axis[at + i] = ch;
        }
    }
    lines.push(Line::from(vec![
        Span::styled(
            format!(
                "{:<lw$}  {:>9}{:>9}{:>4}  ",
                "value",
                "tok/s",
                "acc",
                "n",
                lw = label_w
            ),
            t.style(Role::Title),
        ),
        Span::styled(axis.into_iter().collect::<String>(), t.style(Role::Dim)),
    ]));
    let mut ruler = "┬".to_string();
    for i in 1..=bar_w {
        ruler.push(if i % (bar_w / 4).max(1) == 0 {
            '┬'
        } else {
            '─'
        });
    }
    lines.push(Line::from(vec![
        Span::raw(" ".repeat(fixed)),
        Span::styled(ruler, t.style(Role::Dim)),
    ]));
    for d in data {
        let under = d.acc.is_some_and(|a| a < s.threshold);
        let winner = d.tps.is_some_and(|x| x == best_tps);
        let mark = if winner {
            "★"
        } else if under {
            "×"
        } else {
            " "
        };
        let style = if d.tps.is_none() {
            t.style(Role::Dim)
        } else if under {
            t.style(Role::Bad)
        } else if winner {
            t.style(Role::Good)
        } else {
            t.style(Role::Accent)
        };
        let label = if d.start {
            format!("{} (start)", d.value)
        } else {
            d.value.clone()
        };
        let bar = match d.tps {
            Some(x) => hbar((x - from) / (top - from), bar_w),
            None => d.no_ok_text(),
        };
        lines.push(Line::from(vec![
            Span::raw(format!("{label:<label_w$} ")),
            Span::styled(mark, style),
            Span::raw(format!(
                "{:>9}{:>9}{:>4}  ",
                fig(d.tps, 1),
                fig(d.acc, 4),
                d.n
            )),
            Span::styled(bar, style),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(
        format!(
            "{}; ★ fastest with acc ≥ {}, × under it; (start): the group's starting value, measured under another parameter",
            if from > 0.0 {
                format!(
                    "bars from {} tok/s (the axis does not start at 0)",
                    tick(from, quarter)
                )
            } else {
                "bars from 0 tok/s".to_string()
            },
            s.threshold
        ),
        t.style(Role::Dim),
    )));
    let title = format!("{}: best ok tok/s by value", c.param);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(&title, true, t)),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::super::state::COLS;
    use super::*;
    use crate::ui::panels::snap::{assert_snapshot, render};

    fn screen(s: &BrowseState, w: u16, h: u16) -> String {
        render(w, h, |f| draw(f, s, &Theme { color: true })).0
    }

    fn state() -> BrowseState {
        // Relative (tests run in the package's directory): the path is on
        // screen, and snapshots must not depend on where the checkout is.
        let p = std::path::Path::new("tests/data/auto_tune_py/tune_results.jsonl");
        BrowseState::new(Model::load(p).unwrap(), 0.88)
    }

    #[test]
    fn table_header_and_footer() {
        let s = state();
        let text = screen(&s, 140, 30);
        for n in [
            "18 trials",
            "ok 8",
            "partial 8",
            "crashed 1",
            "timeout 1",
            "best (acc ≥ 0.88)",
            "5109.9",
            "GPU_MEMORY_UTILIZATION",
            "q quit",
            "Enter detail",
        ] {
            assert!(text.contains(n), "{n:?} missing:\n{text}");
        }
        let text = screen(&s, 80, 24);
        assert!(text.contains("18 trials"));
    }

    #[test]
    fn detail_log_and_chart_views() {
        let mut s = state();
        s.selected = 2;
        s.open_detail();
        let text = screen(&s, 140, 40);
        assert!(
            text.contains("status crashed") && text.contains("tune_server_logs/trial_00003.log"),
            "{text}"
        );
        s.mode = Mode::Table;
        s.selected = 4;
        s.open_detail();
        let text = screen(&s, 140, 40);
        assert!(
            text.contains("run 1 ok") && text.contains("means over ok runs"),
            "{text}"
        );
        s.open_log();
        let text = screen(&s, 140, 40);
        assert!(text.contains("[serve]"), "{text}");
        s.mode = Mode::Table;
        s.jump_best();
        s.open_chart();
        let text = screen(&s, 140, 40);
        assert!(
            text.contains("VLLM_MAX_NUM_BATCHED_TOKENS: best ok tok/s by value")
                && text.contains("5109.9")
                && text.contains("196608")
                && text.contains("131072 (start)"),
            "{text}"
        );
    }

    /// The table, a crash's detail, the chart, the sort menu and the help
    /// at 80x24 and 140x40.
    #[test]
    fn snapshots_of_browse() {
        for (w, h) in [(80u16, 24u16), (140, 40)] {
            let mut s = state();
            assert_snapshot(&format!("browse_table_{w}x{h}"), &screen(&s, w, h));
            s.selected = 2;
            s.open_detail();
            assert_snapshot(&format!("browse_detail_crash_{w}x{h}"), &screen(&s, w, h));
            s.mode = Mode::Table;
            s.jump_best();
            s.open_chart();
            assert_snapshot(&format!("browse_chart_{w}x{h}"), &screen(&s, w, h));
            s.mode = Mode::Table;
            s.sort_menu = true;
            assert_snapshot(&format!("browse_sort_menu_{w}x{h}"), &screen(&s, w, h));
            s.sort_menu = false;
            s.help = true;
            assert_snapshot(&format!("browse_help_{w}x{h}"), &screen(&s, w, h));
        }
    }

    /// Browse's help wraps its descriptions and, where it does not fit
    /// (80x24), scrolls with the scroll keys and says what is beyond;
    /// another key of the table (Esc) closes it.
    #[test]
    fn the_help_wraps_and_scrolls_where_it_does_not_fit() {
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let mut s = state();
        s.help = true;
        let first = screen(&s, 80, 24);
        assert!(first.contains("↓ 4 more"), "{first}");
        // Nothing cut at the right edge: the long descriptions wrap.
        assert!(first.contains("52, works in tmux and over ssh)"), "{first}");
        let max = super::help_max(ratatui::layout::Rect::new(0, 0, 80, 24));
        assert_eq!(max, 4);
        let key = |c| KeyEvent::new(c, KeyModifiers::NONE);
        super::super::app::on_key(&mut s, key(KeyCode::End), 18, max);
        let last = screen(&s, 80, 24);
        assert!(s.help && last.contains("↑ 4 more"), "{last}");
        assert!(last.contains("Backspace"), "{last}");
        assert_snapshot("browse_help_end_80x24", &last);
        // At 140x40 it fits: no scrolling, no marker.
        assert_eq!(
            super::help_max(ratatui::layout::Rect::new(0, 0, 140, 40)),
            0
        );
        super::super::app::on_key(&mut s, key(KeyCode::Esc), 18, max);
        assert!(!s.help && s.help_scroll == 0);
    }

    /// A noise-aware run's records: intervals in the tok/s column and the
    /// detail, `pruned` counted, filtered and explained.
    #[test]
    fn intervals_and_pruned_trials() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("tune_results.jsonl");
        std::fs::write(
            &p,
            concat!(
                r#"{"status": "ok", "trial_key": "a", "param_under_test": "A", "params": {"A": "1"}, "avg_accuracy": 0.8862, "avg_total_tps": 5057.2, "ci95_accuracy": 0.0016, "ci95_total_tps": 74.9, "eval_ok_n": 5, "eval_runs": []}"#,
                "\n",
                r#"{"status": "pruned", "trial_key": "b", "param_under_test": "A", "params": {"A": "2"}, "avg_accuracy": 0.8874, "avg_total_tps": 4852.2, "ci95_total_tps": 40.1, "eval_ok_n": 2, "eval_runs": [], "reason": "4852.2 tok/s after 2 runs: under the group's leader 5057.2"}"#,
                "\n",
                r#"{"status": "ok", "trial_key": "a", "param_under_test": "A", "params": {"A": "1"}, "avg_accuracy": 0.8861, "avg_total_tps": 5050.0, "ci95_total_tps": 30.0, "eval_ok_n": 8, "eval_runs": [], "recheck": true}"#,
                "\n"
            ),
        )
        .unwrap();
        let mut s = BrowseState::new(Model::load(&p).unwrap(), 0.88);
        for (w, h) in [(80u16, 24u16), (140, 40)] {
            let text = screen(&s, w, h);
            for n in ["ok 2", "pruned 1", "5057.2±74.9", "4852.2±40.1", "pruned"] {
                assert!(text.contains(n), "{n:?} missing at {w}x{h}:\n{text}");
            }
        }
        // The status filter offers pruned (present), and only it shows.
        s.next_status_filter();
        s.next_status_filter();
        assert_eq!(s.status_name(), "pruned");
        assert_eq!(s.view.len(), 1);
        s.open_detail();
        let text = screen(&s, 140, 40);
        assert!(
            text.contains("status pruned")
                && text.contains("reason: 4852.2 tok/s after 2 runs")
                && text.contains("tok/s 4852.2 ± 40.1"),
            "{text}"
        );
        s.mode = Mode::Table;
        s.clear_filters();
        s.selected = 2;
        s.open_detail();
        let text = screen(&s, 140, 40);
        assert!(
            text.contains("re-measure of a close call")
                && text.contains("acc 0.8861  tok/s 5050.0 ± 30.0"),
            "{text}"
        );
    }

    #[test]
    fn narrow_table_drops_the_least_useful_columns_whole() {
        let s = state();
        let text = screen(&s, 80, 24);
        let head = text.lines().find(|l| l.contains("status")).unwrap();
        for kept in [
            "#", "status", "param", "value", "acc", "tok/s", "secs", "runs",
        ] {
            assert!(head.contains(kept), "{kept} dropped: {head}");
        }
        for dropped in ["time", "answer", "log"] {
            assert!(!head.contains(dropped), "{dropped} kept: {head}");
        }
        // Names are whole, not cut.
        assert!(text.contains("VLLM_MAX_NUM_BATCHED_TOKENS"), "{text}");
        let all = visible_cols(COLS.to_vec(), 138, false);
        assert_eq!(all.len(), COLS.len());
    }

    #[test]
    fn chart_axis_spans_the_values_shown_and_names_no_colours() {
        let mut s = state();
        s.jump_best();
        s.open_chart();
        let text = screen(&s, 140, 40);
        // 4882.0 to 5109.9: the axis runs 4800-5200 in quarters, and says
        // where it starts.
        assert!(
            text.contains("bars from 4800 tok/s (the axis does not start at 0)"),
            "{text}"
        );
        let axis = text.lines().find(|l| l.starts_with("│value")).unwrap();
        for t in ["4800", "4900", "5000", "5100", "5200"] {
            assert!(axis.contains(t), "{t}: {axis}");
        }
        assert!(!axis.contains(" 0 "), "{axis}");
        let colours = regex::Regex::new(r"(?i)\b(green|red|yellow|magenta)\b").unwrap();
        assert!(!colours.is_match(&text), "a colour named:\n{text}");
    }

    #[test]
    fn chart_axis_from_zero_only_when_the_ratio_shows() {
        assert_eq!(chart_axis(&[5403.0, 5442.0]), (5400.0, 5480.0));
        assert_eq!(chart_axis(&[4882.0, 5002.1, 5109.9]), (4800.0, 5200.0));
        assert_eq!(chart_axis(&[0.41, 0.43]), (0.4, 0.44));
        // A value under half the largest, one value, none: from 0.
        assert_eq!(chart_axis(&[1000.0, 5442.0]), (0.0, 6000.0));
        assert_eq!(chart_axis(&[5442.0]), (0.0, 6000.0));
        assert_eq!(chart_axis(&[5442.0, 5442.0]), (0.0, 6000.0));
        assert_eq!(chart_axis(&[]), (0.0, 1.0));
        for v in [[1.0, 1.9], [99.0, 101.0], [5403.0, 5403.5], [0.8, 1.2]] {
            let (a, b) = chart_axis(&v);
            assert!(a < v[0] && b >= v[1] && a >= 0.0, "{v:?}: {a}..{b}");
        }
    }

    /// Two values 0.7 % apart draw bars of clearly different lengths, and
    /// a value whose trials were pruned says after how many runs, not
    /// "no ok trial (1 run)" (issue #23).
    #[test]
    fn chart_of_close_values_and_pruned_ones() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("tune_results.jsonl");
        let rec = |status: &str, v: &str, tps: f64, runs: usize| {
            let runs: Vec<String> = (1..=runs)
                .map(|i| format!(r#"{{"i": {i}, "ok": true}}"#))
                .collect();
            format!(
                r#"{{"status": "{status}", "trial_key": "A={v}", "param_under_test": "A", "params": {{"A": "{v}"}}, "avg_accuracy": 0.89, "avg_total_tps": {tps}, "eval_ok_n": {n}, "eval_runs": [{}]}}"#,
                runs.join(", "),
                n = runs.len()
            ) + "\n"
        };
        let text = rec("ok", "1", 5403.0, 5)
            + &rec("ok", "2", 5442.0, 5)
            + &rec("pruned", "3", 5101.0, 3)
            + &rec("pruned", "4", 5001.0, 2)
            + &rec("partial", "4", 5001.0, 3)
            + &rec("crashed", "5", 0.0, 0);
        std::fs::write(&p, text).unwrap();
        let mut s = BrowseState::new(Model::load(&p).unwrap(), 0.88);
        s.selected = 0;
        s.open_chart();
        let text = screen(&s, 140, 40);
        assert!(
            text.contains("bars from 5400 tok/s (the axis does not start at 0)"),
            "{text}"
        );
        let bar = |v: &str| {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("│{v} ")))
                .unwrap_or_else(|| panic!("{v}:\n{text}"));
            line.chars().filter(|c| *c == '█').count()
        };
        assert!(bar("2") >= bar("1") + 20, "{text}");
        assert!(text.contains("pruned after 3 runs"), "{text}");
        assert!(
            text.contains("no ok trial: 1 pruned, 1 partial; 5 eval runs"),
            "{text}"
        );
        assert!(
            text.contains("no ok trial: 1 crashed; no eval run"),
            "{text}"
        );
        assert!(!text.contains("(1 run)"), "{text}");
    }

    #[test]
    fn footer_offers_the_keys_of_the_view() {
        let mut s = state();
        let last = |s: &BrowseState| screen(s, 140, 40).lines().last().unwrap().to_string();
        let f = last(&s);
        assert!(
            f.contains("o sort") && !f.contains("e export") && !f.contains("Esc"),
            "{f}"
        );
        s.next_status_filter();
        assert!(last(&s).contains("Esc clear-filters"), "{}", last(&s));
        s.open_detail();
        let f = last(&s);
        assert!(
            f.contains("e export") && f.contains("Esc back") && !f.contains("o sort"),
            "{f}"
        );
        assert!(
            screen(&s, 80, 24)
                .lines()
                .last()
                .unwrap()
                .contains("? help")
        );
    }

    /// A results file as a goal run writes it (output tok/s under p99 TTFT
    /// <= 600 ms: 256 wins, 512 is faster but over the limit) and its
    /// goal.
    fn goal_state(dir: &std::path::Path) -> BrowseState {
        let mut lines = String::new();
        for (i, seqs) in [64u32, 128, 256, 512].into_iter().enumerate() {
            let r = serde_json::json!({
                "ts": format!("2026-11-28T09:0{i}:00"),
                "trial_key": format!("VLLM_MAX_NUM_SEQS={seqs}"),
                "param_under_test": "VLLM_MAX_NUM_SEQS",
                "params": {"VLLM_MAX_NUM_SEQS": seqs.to_string(), "VLLM_BLOCK_SIZE": "16"},
                "status": "ok",
                "avg_accuracy": null,
                "avg_total_tps": null,
                "eval_ok_n": 2,
                "eval_runs": [{"i": 1, "ok": true}, {"i": 2, "ok": true}],
                "trial_index": i + 1,
                "avg_metrics": {"output_tps": seqs as f64 * 10.0, "p99_ttft_ms": seqs as f64 * 2.0},
            });
            lines.push_str(&r.to_string());
            lines.push('\n');
        }
        let path = dir.join("tune_results.jsonl");
        std::fs::write(&path, lines).unwrap();
        let goal = autotune::Goal {
            objective: autotune::Objective {
                name: "output_tps".into(),
                dir: autotune::Direction::Max,
            },
            constraints: vec![autotune::Constraint::parse("p99_ttft_ms<=600").unwrap()],
        };
        BrowseState::new(Model::load(&path).unwrap(), 0.88).with_goal(Some(goal))
    }

    /// With a declared goal the table has a column per goal metric, the
    /// header names the best by the goal (not by tok/s, which this file
    /// lacks), `b` jumps to it, its column sorts best first, and `E`
    /// copies its configuration.
    #[test]
    fn a_declared_goal_gets_columns_and_picks_the_best() {
        let d = tempfile::tempdir().unwrap();
        let mut s = goal_state(d.path());
        assert_eq!(s.goal_metrics(), ["output_tps", "p99_ttft_ms"]);
        let text = screen(&s, 140, 12);
        // The temporary directory is on screen: masked for the snapshot.
        let dir = d.path().display().to_string();
        assert_snapshot("browse_goal_140x12", &text.replace(&dir, "<dir>"));
        for n in [
            "output_tps",
            "p99_ttft_ms",
            "best (max output_tps subject to p99_ttft_ms <= 600): #3 VLLM_MAX_NUM_SEQS=256 output_tps 2560.00 p99_ttft_ms 512.00",
        ] {
            assert!(text.contains(n), "{n:?} missing:\n{text}");
        }
        // The narrow screen keeps the goal's columns before lesser ones.
        let text = screen(&s, 80, 12);
        assert!(text.contains("p99_ttft_ms"), "{text}");

        s.selected = 0;
        s.jump_best();
        assert_eq!(s.current().unwrap().value.as_ref(), "256");
        // Sorting by the objective puts the largest first; by the
        // constrained latency, the smallest.
        s.sort_by(Col::Goal(0));
        assert_eq!(s.model.rows[s.view[0]].value.as_ref(), "512");
        s.sort_by(Col::Goal(1));
        s.sort_by(Col::Goal(1));
        assert!(s.sort.1);
        s.sort = (Col::N, false);
        s.sort_by(Col::Goal(1));
        assert!(
            !s.sort.1,
            "a latency limited from above sorts smallest first"
        );
        assert_eq!(s.model.rows[s.view[0]].value.as_ref(), "64");

        s.copy_best();
        let clip = s.clipboard.take().expect("copied");
        assert!(
            clip.contains("export VLLM_MAX_NUM_SEQS=256")
                && clip.contains("export VLLM_BLOCK_SIZE=16"),
            "{clip}"
        );
        assert!(
            s.message.as_deref().unwrap().contains("#3"),
            "{:?}",
            s.message
        );

        // A limit nothing meets: no best, said so.
        s.goal.as_mut().unwrap().constraints[0].bound = 10.0;
        s.copy_best();
        assert!(s.clipboard.is_none());
        assert!(
            s.message.as_deref().unwrap().contains("no ok trial meets"),
            "{:?}",
            s.message
        );
    }

    /// Away from its status file a goal run's records still show their
    /// declared metrics; "best" stays today's rule, which they do not meet.
    #[test]
    fn declared_metrics_show_without_a_goal() {
        let d = tempfile::tempdir().unwrap();
        let mut s = goal_state(d.path()).with_goal(None);
        assert_eq!(s.goal_metrics(), ["output_tps", "p99_ttft_ms"]);
        let text = screen(&s, 140, 12);
        assert!(
            text.contains("output_tps") && text.contains("5120.00") && text.contains("1024.00"),
            "{text}"
        );
        assert!(text.contains("no ok trial with acc ≥ 0.88"), "{text}");
        s.copy_best();
        assert!(s.clipboard.is_none());
    }

    /// Today's goal changes nothing: no extra columns, best by the
    /// threshold, and `E` copies that trial's configuration.
    #[test]
    fn todays_goal_keeps_todays_table() {
        let plain = state();
        let s = state().with_goal(Some(autotune::Goal::default_for(0.88)));
        assert!(s.goal.is_none());
        assert_eq!(s.cols(), COLS.to_vec());
        assert_eq!(screen(&plain, 140, 30), screen(&s, 140, 30));
        let mut s = s;
        s.copy_best();
        let best = s.model.best(0.88).unwrap();
        let want = crate::ui::osc52::exports(&s.model.record(&s.model.rows[best]).unwrap().params);
        assert_eq!(s.clipboard.as_deref(), Some(want.as_str()));
    }
}
