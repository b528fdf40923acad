//! Best so far (the fastest trials that meet the threshold, beyond the
//! noise under the noise-aware policy as the search's choice, each with the
//! parameter it tested, tok/s as mean ± the half-width of its 95 %
//! interval, accuracy too where there is room) and the current group's
//! candidates against the group's base value.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table};

use super::block;
use crate::ui::state::LiveState;
use crate::ui::theme::{Role, Theme};
use autotune::{Record, fig};

/// What a record tested, as `PARAM=value` (or the params that differ from
/// the run's start when it tested none).
pub fn tested(r: &Record, s: &LiveState) -> String {
    match (&r.param_under_test, r.value_under_test()) {
        (Some(p), Some(v)) if !p.is_empty() => format!("{p}={v}"),
        _ => {
            let d: Vec<String> = r
                .params
                .iter()
                .filter(|(k, v)| s.base.get(*k) != Some(*v))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if d.is_empty() {
                "the start".into()
            } else {
                d.join(" ")
            }
        }
    }
}

/// Whether row `i` of the best table is highlighted: the search's choice
/// under a noise policy once a group made one, else the fastest.
fn is_lead(s: &LiveState, i: usize) -> bool {
    match s.chosen() {
        Some(c) => s.best.get(i).is_some_and(|r| r.trial_key == c.trial_key),
        None => i == 0,
    }
}

/// What a row of the best table says it tested: the search's choice is
/// marked `▶` under a noise policy.
fn row_tested(r: &Record, s: &LiveState) -> String {
    match s.chosen() {
        Some(c) if c.trial_key == r.trial_key => format!("▶ {}", tested(r, s)),
        _ => tested(r, s),
    }
}

/// A mean with the half-width of its 95 % interval, `5202.7±52.7`, or the
/// mean alone when there is no interval (one run, an old record).
pub fn pm(mean: Option<f64>, ci: Option<f64>, prec: usize) -> String {
    match (mean, ci) {
        (Some(m), Some(c)) => format!("{m:.prec$}±{c:.prec$}"),
        (m, _) => fig(m, prec),
    }
}

/// The rows of the best table that fit in `rows` rows, by index in
/// [`LiveState::best`]; `None` is a row saying how many are left out. The
/// fastest come first; the search's choice (`▶`) is always among them,
/// after a gap row when it ranks below what fits (a re-measure of the
/// incumbent can pool it below faster rows the search did not take).
pub fn shown_rows(s: &LiveState, rows: usize) -> Vec<Option<usize>> {
    let n = s.best.len();
    if n <= rows {
        return (0..n).map(Some).collect();
    }
    let chosen = s
        .chosen()
        .and_then(|c| s.best.iter().position(|r| r.trial_key == c.trial_key));
    match chosen {
        Some(i) if i >= rows && rows >= 3 => {
            (0..rows - 2).map(Some).chain([None, Some(i)]).collect()
        }
        Some(i) if i >= rows && rows >= 1 => vec![Some(i)],
        _ => (0..rows).map(Some).collect(),
    }
}

/// The gap row of the best table: how many rows between are left out.
fn gap_row(shown: &[Option<usize>]) -> String {
    let before = shown
        .iter()
        .rev()
        .skip(2)
        .flatten()
        .next()
        .map_or(0, |i| i + 1);
    let after = shown.last().copied().flatten().unwrap_or(0);
    format!("⋯ {} faster not shown", after.saturating_sub(before))
}

/// Draws the best-so-far table. Columns by worth when the panel is narrow:
/// tok/s ± and what was tested always, accuracy ± where room allows
/// (before the seconds per eval, which go first).
pub fn draw_best(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    if let Some(g) = &s.goal {
        return draw_best_goal(f, area, s, g, t);
    }
    let shown = shown_rows(s, area.height.saturating_sub(3) as usize);
    let evals: Vec<(autotune::EvalSummary, String)> = shown
        .iter()
        .flatten()
        .map(|&i| {
            let r = &s.best[i];
            (r.eval.clone().unwrap_or_default(), row_tested(r, s))
        })
        .collect();
    let width = |f: &dyn Fn(&autotune::EvalSummary) -> String, min: usize| {
        evals
            .iter()
            .map(|(e, _)| f(e).chars().count())
            .max()
            .unwrap_or(0)
            .max(min) as u16
    };
    let tps_w = width(&|e| pm(e.avg_total_tps, e.ci95_total_tps, 1), 7);
    let acc_pm_w = width(&|e| pm(e.avg_accuracy, e.ci95_accuracy, 4), 6);
    let tested_w = evals
        .iter()
        .map(|(_, x)| x.chars().count())
        .max()
        .unwrap_or(6) as u16;
    let inner = area.width.saturating_sub(2);
    let (acc_ci, secs) = if acc_pm_w == 6 {
        (false, true)
    } else if acc_pm_w + tps_w + 5 + tested_w + 3 <= inner {
        (true, true)
    } else if acc_pm_w + tps_w + tested_w + 2 <= inner {
        (true, false)
    } else {
        (false, true)
    };
    let mut head = vec!["acc", "tok/s"];
    let mut widths = vec![
        Constraint::Length(if acc_ci { acc_pm_w } else { 6 }),
        Constraint::Length(tps_w),
    ];
    if secs {
        head.push("secs");
        widths.push(Constraint::Length(5));
    }
    head.push("tested");
    widths.push(Constraint::Fill(1));
    let header = Row::new(head).style(t.style(Role::Title));
    let mut evals = evals.into_iter();
    let rows: Vec<Row> = shown
        .iter()
        .map(|row| {
            let Some(i) = *row else {
                let mut cells = vec![Cell::from("⋯"), Cell::from("⋯")];
                if secs {
                    cells.push(Cell::from(""));
                }
                cells.push(Cell::from(gap_row(&shown)));
                return Row::new(cells).style(t.style(Role::Dim));
            };
            let (e, what) = evals.next().unwrap_or_default();
            let style = if is_lead(s, i) {
                t.style(Role::Good)
            } else {
                ratatui::style::Style::new()
            };
            let mut cells = vec![
                Cell::from(if acc_ci {
                    pm(e.avg_accuracy, e.ci95_accuracy, 4)
                } else {
                    fig(e.avg_accuracy, 4)
                }),
                Cell::from(pm(e.avg_total_tps, e.ci95_total_tps, 1)),
            ];
            if secs {
                cells.push(Cell::from(fig(e.avg_total_time_s, 2)));
            }
            cells.push(Cell::from(what));
            Row::new(cells).style(style)
        })
        .collect();
    // Under the noise-aware policy a trial counts only when its accuracy
    // clears the bar beyond the noise, as the search's choice requires.
    let title = format!(
        "best so far (acc ≥ {:.3}{}), fastest first",
        s.acc_bar.unwrap_or_default(),
        if s.rule.policy.is_some() {
            " beyond noise"
        } else {
            ""
        }
    );
    let table = Table::new(rows, widths)
        .header(header)
        .block(block(&title, false, t));
    f.render_widget(table, area);
}

/// The best-so-far table of a declared goal: the objective and each
/// constrained metric by name (means over ok runs), then what was tested;
/// a figure outside its limit is marked bad.
fn draw_best_goal(f: &mut Frame, area: Rect, s: &LiveState, g: &autotune::Goal, t: &Theme) {
    let names = g.required_metrics();
    let shown = shown_rows(s, area.height.saturating_sub(3) as usize);
    let rows: Vec<Row> = shown
        .iter()
        .map(|row| {
            let Some(i) = *row else {
                let mut cells: Vec<Cell> = names.iter().map(|_| Cell::from("⋯")).collect();
                cells.push(Cell::from(gap_row(&shown)));
                return Row::new(cells).style(t.style(Role::Dim));
            };
            let r = &s.best[i];
            let style = if is_lead(s, i) {
                t.style(Role::Good)
            } else {
                ratatui::style::Style::new()
            };
            let mut cells: Vec<Cell> = names
                .iter()
                .map(|n| {
                    let v = autotune::Goal::mean(r, n);
                    let bad = g
                        .constraints
                        .iter()
                        .any(|c| c.name == *n && v.is_some_and(|v| !c.op.holds(v, c.bound)));
                    let text = fig(v, if *n == "accuracy" { 4 } else { 2 });
                    if bad {
                        Cell::from(Span::styled(text, t.style(Role::Bad)))
                    } else {
                        Cell::from(text)
                    }
                })
                .collect();
            cells.push(Cell::from(row_tested(r, s)));
            Row::new(cells).style(style)
        })
        .collect();
    let mut widths: Vec<Constraint> = names
        .iter()
        .map(|n| Constraint::Length(n.chars().count().max(8) as u16))
        .collect();
    widths.push(Constraint::Fill(1));
    let mut head: Vec<&str> = names.clone();
    head.push("tested");
    let title = format!("best so far ({}), best first", g.describe());
    let table = Table::new(rows, widths)
        .header(Row::new(head).style(t.style(Role::Title)))
        .block(block(&title, false, t));
    f.render_widget(table, area);
}

/// Draws the current group's candidates with their results and the change
/// in tok/s against the group's base value (its first).
pub fn draw_group(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    // Values running now (several with several slots).
    let running: Vec<String> = s
        .running
        .values()
        .filter_map(|tr| s.group.value_of(&tr.changes))
        .collect();
    let current = |v: &str| running.iter().any(|r| r == v);
    // The base's figure is what it measured, partial or not: a partial
    // base (some eval runs failed) still has a mean over its ok runs.
    let base = s.group.values.first().and_then(|v| s.group.results.get(v));
    let base_tps = base.and_then(|r| r.avg_total_tps()).filter(|b| *b > 0.0);
    // Why a row with a figure has no comparison: the base has none.
    let no_base = match base {
        Some(r) => format!("base {}", r.status),
        None => "no base yet".to_string(),
    };
    // A joint round's values are moves of several parameters: the column
    // takes what the figures leave, to name each with its value.
    let joint = s.group.is_joint_round();
    let value_w = if joint {
        area.width.saturating_sub(2 + 8 + 6 + 7 + 12 + 4).max(7)
    } else {
        s.group
            .values
            .iter()
            .map(|v| v.chars().count())
            .max()
            .unwrap_or(5)
            .max(5) as u16
            + 2
    };
    let rows: Vec<Row> = s
        .group
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let r = s.group.results.get(v);
            let marker = if current(v) { "▶" } else { " " };
            let status =
                r.map(|r| r.status.as_str())
                    .unwrap_or(if current(v) { "running" } else { "" });
            let acc_style = match r.and_then(|r| r.avg_accuracy()) {
                Some(a) if s.acc_bar.is_some_and(|b| a < b) => t.style(Role::Bad),
                _ => ratatui::style::Style::new(),
            };
            // Every row with a figure is compared (a partial or pruned
            // trial's mean is over its ok runs, as its tok/s column shows).
            let tps = r.and_then(|r| r.avg_total_tps());
            let delta = match (i, r, tps, base_tps) {
                (0, Some(_), _, _) => "base".to_string(),
                (_, _, Some(x), Some(b)) => format!("{:+.1}%", (x / b - 1.0) * 100.0),
                (_, _, Some(_), None) => no_base.clone(),
                _ => String::new(),
            };
            let value = match r
                .map(|r| r.changes())
                .filter(|c| joint && c.pairs().len() > 1)
            {
                Some(c) => {
                    let mut spans = vec![Span::raw(format!("{marker} "))];
                    spans.extend(crate::ui::panels::recent::joint_move(
                        c.pairs(),
                        (value_w as usize).saturating_sub(2),
                        t,
                    ));
                    ratatui::text::Line::from(spans)
                }
                None => ratatui::text::Line::raw(format!("{marker} {v}")),
            };
            Row::new(vec![
                Cell::from(value),
                Cell::from(Span::styled(status.to_string(), t.status(status))),
                Cell::from(Span::styled(
                    fig(r.and_then(|r| r.avg_accuracy()), 4),
                    acc_style,
                )),
                Cell::from(fig(r.and_then(|r| r.avg_total_tps()), 1)),
                Cell::from(delta),
            ])
        })
        .collect();
    let title = format!("group {}: {}", s.group.label, s.group.param);
    let table = Table::new(
        rows,
        [
            Constraint::Length(value_w),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(12),
        ],
    )
    .header(Row::new(["value", "status", "acc", "tok/s", "vs base"]).style(t.style(Role::Title)))
    .block(block(&title, false, t));
    f.render_widget(table, area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::panels::snap::{assert_snapshot, render};
    use autotune::Event;
    use std::sync::Arc;
    use std::time::Instant;

    /// A record of `seqs` as a goal run writes it: output tok/s = 10 x
    /// seqs, p99 TTFT = 2 x seqs, no accuracy.
    fn rec(seqs: u32) -> Arc<Record> {
        let run = |i| {
            serde_json::json!({"i": i, "ok": true,
                "metrics": {"output_tps": seqs as f64 * 10.0, "p99_ttft_ms": seqs as f64 * 2.0}})
        };
        let j = serde_json::json!({
            "trial_key": format!("VLLM_MAX_NUM_SEQS={seqs}"),
            "param_under_test": "VLLM_MAX_NUM_SEQS",
            "params": {"VLLM_MAX_NUM_SEQS": seqs.to_string()},
            "status": "ok",
            "eval_ok_n": 2,
            "eval_runs": [run(1), run(2)],
            "avg_metrics": {"output_tps": seqs as f64 * 10.0, "p99_ttft_ms": seqs as f64 * 2.0},
        });
        Arc::new(Record::parse(&j.to_string()).unwrap())
    }

    fn live(goal: autotune::Goal) -> LiveState {
        let t0 = Instant::now();
        let mut s = LiveState::new(t0);
        s.update(
            &Event::RunStarted {
                repo: "/srv/model".into(),
                results: "/srv/model/tune_results.jsonl".into(),
                total_estimate: 4,
                existing_records: 0,
                base: autotune::Params::new(),
                best_seen_tps: None,
                choice: None,
                setup: None,
                goal,
                policy: None,
                slots: 1,
            },
            t0,
        );
        for (i, seqs) in [64, 128, 256, 512].into_iter().enumerate() {
            s.update(
                &Event::TrialFinished {
                    ordinal: i + 1,
                    record: rec(seqs),
                },
                t0,
            );
        }
        s
    }

    /// A declared goal: the table ranks by its objective among the
    /// configurations within the limit and names its metrics.
    #[test]
    fn best_table_of_a_declared_goal() {
        let g = autotune::Goal {
            objective: autotune::Objective {
                name: "output_tps".into(),
                dir: autotune::Direction::Max,
            },
            constraints: vec![autotune::Constraint::parse("p99_ttft_ms<=600").unwrap()],
        };
        let s = live(g);
        let order: Vec<&str> = s
            .best
            .iter()
            .map(|r| r.params["VLLM_MAX_NUM_SEQS"].as_str())
            .collect();
        assert_eq!(order, ["256", "128", "64"], "512 breaks the limit");
        let text = render(90, 7, |f| {
            draw_best(f, f.area(), &s, &Theme { color: true })
        })
        .0;
        assert_snapshot("best_goal_90x7", &text);
        for want in [
            "best so far (max output_tps subject to p99_ttft_ms <= 600)",
            "output_tps",
            "p99_ttft_ms",
            "2560.00",
            "VLLM_MAX_NUM_SEQS=256",
        ] {
            assert!(text.contains(want), "{want:?} missing:\n{text}");
        }
        // A latency minimised: the smallest first.
        let s = live(autotune::Goal {
            objective: autotune::Objective {
                name: "p99_ttft_ms".into(),
                dir: autotune::Direction::Min,
            },
            constraints: vec![],
        });
        assert_eq!(s.best[0].params["VLLM_MAX_NUM_SEQS"], "64");
    }

    /// The header and the runs panel name the goal's own bar, not an
    /// accuracy bar the goal does not have (`bar: acc ≥ 0.000`).
    #[test]
    fn a_goal_without_accuracy_shows_its_own_bar() {
        let goal = |cs: &[&str]| autotune::Goal {
            objective: autotune::Objective {
                name: "output_tps".into(),
                dir: autotune::Direction::Max,
            },
            constraints: cs
                .iter()
                .map(|c| autotune::Constraint::parse(c).unwrap())
                .collect(),
        };
        let screen = |s: &LiveState| {
            render(140, 40, |f| {
                crate::ui::panels::draw(f, s, &Theme { color: false }, Instant::now())
            })
            .0
        };
        let text = screen(&live(goal(&["p99_ttft_ms<=600"])));
        assert!(text.contains("bar: p99_ttft_ms ≤ 600"), "{text}");
        assert!(text.contains("runs & trend (· failed)"), "{text}");
        assert!(
            !text.contains("acc ≥") && !text.contains("under acc"),
            "{text}"
        );
        let text = screen(&live(goal(&[])));
        assert!(text.contains("no bar"), "{text}");
        // With an accuracy bar among others, both.
        let s = live(goal(&["accuracy>=0.9", "p99_ttft_ms<=600"]));
        assert_eq!(s.bar_text(), "bar: acc ≥ 0.900, p99_ttft_ms ≤ 600");
        assert!(screen(&s).contains("× under acc 0.900"));
    }

    /// A record of `VLLM_MAX_NUM_SEQS=seqs` with one eval run per accuracy.
    fn measured(seqs: u32, acc: &[f64], tps: f64) -> Arc<Record> {
        let runs = acc
            .iter()
            .enumerate()
            .map(|(i, a)| autotune::EvalRun {
                i: i as u32 + 1,
                ok: true,
                measured: Some(autotune::Measured {
                    accuracy: Some(*a),
                    total_tps: Some(tps),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        let mut params = autotune::default_params();
        params.insert("VLLM_MAX_NUM_SEQS".into(), seqs.to_string());
        Arc::new(Record {
            trial_key: autotune::trial_key(&params),
            status: autotune::Status::Ok,
            param_under_test: Some("VLLM_MAX_NUM_SEQS".into()),
            params,
            eval: Some(autotune::summarize(runs)),
            ..Default::default()
        })
    }

    /// The noise of 4 trials of 5 runs: accuracy spread about 0.016 a run.
    fn informed_noise() -> autotune::PooledNoise {
        let mut p = autotune::PooledNoise::default();
        for _ in 0..4 {
            let mut s = autotune::Samples::default();
            for a in [0.90, 0.91, 0.89, 0.92, 0.88] {
                s.push(a, 5000.0);
            }
            p.add(&s);
        }
        p
    }

    /// A run with a trial just over the bar (mean 0.882 against 0.88 over
    /// 5 runs) but within the noise, faster than one clearly over it.
    fn guard_run(policy: Option<autotune::NoisePolicy>) -> LiveState {
        let t0 = Instant::now();
        let mut s = LiveState::new(t0);
        s.update(
            &Event::RunStarted {
                repo: "/srv/model".into(),
                results: "/srv/model/tune_results.jsonl".into(),
                total_estimate: 4,
                existing_records: 0,
                base: autotune::default_params(),
                best_seen_tps: None,
                choice: None,
                setup: None,
                goal: autotune::Goal::default_for(0.88),
                policy,
                slots: 1,
            },
            t0,
        );
        s.update(
            &Event::TrialFinished {
                ordinal: 1,
                record: measured(512, &[0.86, 0.90, 0.87, 0.89, 0.89], 5200.0),
            },
            t0,
        );
        s.update(
            &Event::TrialFinished {
                ordinal: 2,
                record: measured(256, &[0.95, 0.96, 0.94, 0.95, 0.95], 5000.0),
            },
            t0,
        );
        // The noise is learned after the first trials (before it, means
        // decide): the table follows it.
        s.update(&Event::Noise(informed_noise()), t0);
        s
    }

    fn order(s: &LiveState) -> Vec<&str> {
        s.best
            .iter()
            .map(|r| r.params["VLLM_MAX_NUM_SEQS"].as_str())
            .collect()
    }

    /// Under the noise-aware policy the search's choice, not the fastest
    /// row, is the winner so far and is marked: a faster configuration the
    /// search did not take (a challenger within the noise, or one whose
    /// re-measure pooled lower) stays a row above it.
    #[test]
    fn the_search_choice_is_the_winner_and_marked() {
        let mut s = guard_run(Some(autotune::NoisePolicy::default()));
        let t0 = Instant::now();
        s.update(
            &Event::TrialFinished {
                ordinal: 3,
                record: measured(1024, &[0.95, 0.96, 0.94, 0.95, 0.95], 5300.0),
            },
            t0,
        );
        let kept = measured(256, &[0.95, 0.96, 0.94, 0.95, 0.95], 5000.0);
        s.update(
            &Event::GroupBest {
                param: "VLLM_MAX_NUM_SEQS".into(),
                winner: Some(kept.clone()),
                base: kept.params.clone(),
            },
            t0,
        );
        assert_eq!(order(&s), ["1024", "256"]);
        assert_eq!(
            s.winner().map(|p| p["VLLM_MAX_NUM_SEQS"].as_str()),
            Some("256")
        );
        let text = render(80, 6, |f| {
            draw_best(f, f.area(), &s, &Theme { color: false })
        })
        .0;
        assert!(text.contains("▶ VLLM_MAX_NUM_SEQS=256"), "{text}");
        assert!(!text.contains("▶ VLLM_MAX_NUM_SEQS=1024"), "{text}");
    }

    /// What the search refuses as a winner (accuracy over the bar only
    /// within the noise) is not shown as the best under the noise-aware
    /// policy; the plain search (means decide) still shows it first.
    #[test]
    fn a_trial_over_the_bar_only_within_the_noise_is_not_the_best() {
        let guarded = guard_run(Some(autotune::NoisePolicy::default()));
        assert_eq!(order(&guarded), ["256"]);
        assert_eq!(
            guarded.winner().map(|p| p["VLLM_MAX_NUM_SEQS"].as_str()),
            Some("256")
        );
        let text = render(80, 5, |f| {
            draw_best(f, f.area(), &guarded, &Theme { color: true })
        })
        .0;
        assert_snapshot("best_guard_80x5", &text);
        assert!(text.contains("beyond noise"), "{text}");
        assert!(!text.contains("5200.0"), "{text}");

        // Said when it finishes (once the noise is known).
        let mut later = guard_run(Some(autotune::NoisePolicy::default()));
        later.update(
            &Event::TrialFinished {
                ordinal: 3,
                record: measured(768, &[0.87, 0.89, 0.88, 0.88, 0.89], 5400.0),
            },
            Instant::now(),
        );
        assert_eq!(order(&later), ["256"]);
        assert!(
            later
                .messages
                .iter()
                .any(|(_, m, _)| m
                    .contains("VLLM_MAX_NUM_SEQS=768: over the bar only within the noise")),
            "{:?}",
            later.messages
        );

        // Had the search ended on it (its incumbent), it would be shown.
        let mut kept = guard_run(Some(autotune::NoisePolicy::default()));
        let lucky = measured(512, &[0.86, 0.90, 0.87, 0.89, 0.89], 5200.0);
        kept.update(
            &Event::GroupBest {
                param: "VLLM_MAX_NUM_SEQS".into(),
                winner: Some(lucky.clone()),
                base: lucky.params.clone(),
            },
            Instant::now(),
        );
        assert_eq!(order(&kept), ["512", "256"]);

        let plain = guard_run(None);
        assert_eq!(order(&plain), ["512", "256"]);
        let text = render(80, 5, |f| {
            draw_best(f, f.area(), &plain, &Theme { color: true })
        })
        .0;
        assert!(!text.contains("beyond noise"), "{text}");
    }

    /// Today's goal leaves the live state as it was (no goal kept).
    #[test]
    fn todays_goal_is_not_kept() {
        let s = live(autotune::Goal::default_for(0.88));
        assert!(s.goal.is_none());
        assert!(s.best.is_empty(), "nothing has an accuracy here");
    }
}
