//! The live screen's layout and its panels, one module each. Drawing only
//! reads the state.

pub mod best;
pub mod footer;
pub mod header;
pub mod log;
pub mod overlay;
pub mod recent;
pub mod runs;
pub mod trial;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Block, BorderType, Borders};

use super::state::LiveState;
use super::theme::{Role, Theme};

/// A bordered block with a title, highlighted when focused.
pub fn block<'a>(title: &'a str, focused: bool, t: &Theme) -> Block<'a> {
    Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(if focused {
            t.style(Role::Focus)
        } else {
            t.style(Role::Dim)
        })
        .title(ratatui::text::Span::styled(
            format!(" {title} "),
            t.style(Role::Title),
        ))
}

/// Minutes and seconds (or hours) of a duration in seconds.
pub fn hms(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Draws the whole screen. Wide terminals get two columns (trial, runs and
/// log on the left; best and recent trials on the right); narrow ones stack
/// the panels and leave out the recent list.
pub fn draw(f: &mut Frame, s: &LiveState, t: &Theme) {
    let area = f.area();
    let [header_a, body, msg_a, footer_a] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(8),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    header::draw(f, header_a, s, t);
    if area.width >= 110 {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(56), Constraint::Percentage(44)])
                .areas(body);
        let [trial_a, runs_a, log_a] = Layout::vertical([
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Min(4),
        ])
        .areas(left);
        trial::draw(f, trial_a, s, t);
        runs::draw(f, runs_a, s, t);
        log::draw(f, log_a, s, t);
        let best_h = (s.best.len() as u16 + 3).clamp(4, 13);
        let group_h = (s.group.values.len() as u16 + 3).clamp(4, 10);
        let [best_a, group_a, recent_a] = Layout::vertical([
            Constraint::Length(best_h),
            Constraint::Length(group_h),
            Constraint::Min(3),
        ])
        .areas(right);
        best::draw_best(f, best_a, s, t);
        best::draw_group(f, group_a, s, t);
        recent::draw(f, recent_a, s, t);
    } else {
        let [trial_a, runs_a, log_a, best_a] = Layout::vertical([
            Constraint::Length(5),
            Constraint::Length(4),
            Constraint::Min(3),
            Constraint::Length(6),
        ])
        .areas(body);
        trial::draw(f, trial_a, s, t);
        runs::draw(f, runs_a, s, t);
        log::draw(f, log_a, s, t);
        best::draw_best(f, best_a, s, t);
    }
    footer::draw_message(f, msg_a, s, t);
    footer::draw(f, footer_a, s, t);
    overlay::draw(f, area, s, t);
}

/// A rectangle of at most `w` x `h` centred in `r`.
pub fn centered(r: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(r.width);
    let h = h.min(r.height);
    Rect::new(r.x + (r.width - w) / 2, r.y + (r.height - h) / 2, w, h)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use autotune::default_params;
    use autotune::{EvalRun, EvalSummary, Measured, Record};
    use autotune::{Event, TrialPhase};

    fn screen(s: &LiveState, w: u16, h: u16, t: Theme) -> (String, ratatui::buffer::Buffer) {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        term.draw(|f| draw(f, s, &t)).unwrap();
        let buf = term.backend().buffer().clone();
        let text = (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n");
        (text, buf)
    }

    fn running_state() -> LiveState {
        let mut s = LiveState::default();
        s.update(&Event::RunStarted {
            repo: "/srv/model".into(),
            results: "/srv/model/tune_results.jsonl".into(),
            total_estimate: 55,
            existing_records: 0,
            base: default_params(),
            threshold: 0.88,
            best_seen_tps: None,
        });
        s.update(&Event::GroupStarted {
            param: "VLLM_MAX_NUM_SEQS".into(),
            values: vec!["1024".into(), "512".into(), "768".into()],
            group: 3,
            groups: 17,
        });
        let mut params = default_params();
        params.insert("VLLM_MAX_NUM_SEQS".into(), "1024".into());
        let done = Arc::new(Record {
            trial_key: "k1".into(),
            status: "ok".into(),
            param_under_test: Some("VLLM_MAX_NUM_SEQS".into()),
            params: params.clone(),
            eval: Some(EvalSummary {
                avg_accuracy: Some(0.8871),
                avg_total_tps: Some(5123.4),
                avg_answer_tps: Some(4100.0),
                avg_total_time_s: Some(1.75),
                ..Default::default()
            }),
            ..Default::default()
        });
        s.update(&Event::TrialFinished {
            ordinal: 9,
            record: done,
        });
        params.insert("VLLM_MAX_NUM_SEQS".into(), "512".into());
        s.update(&Event::TrialStarted {
            slot: 0,
            devices: None,
            ordinal: 10,
            index: 12,
            param: "VLLM_MAX_NUM_SEQS".into(),
            value: "512".into(),
            base_value: Some("1024".into()),
            params,
            key: "k2".into(),
            log_path: "/nonexistent/trial_00012.log".into(),
        });
        s.update(&Event::Phase {
            slot: 0,
            phase: TrialPhase::Eval {
                run: 2,
                of: 5,
                timeout_s: 420.0,
            },
        });
        s.update(&Event::EvalRunFinished {
            slot: 0,
            run: EvalRun {
                i: 1,
                ok: true,
                measured: Some(Measured {
                    accuracy: Some(0.8866),
                    total_tps: Some(5010.0),
                    ..Default::default()
                }),
                ..Default::default()
            },
        });
        s.log
            .lines
            .push_back("INFO:     Uvicorn running on http://127.0.0.1:8000".into());
        s
    }

    #[test]
    fn wide_screen_shows_trial_log_sparklines_best_and_keys() {
        let s = running_state();
        let (text, _) = screen(&s, 140, 40, Theme { color: true });
        for needle in [
            "VLLM_MAX_NUM_SEQS = 512",
            "(base 1024)",
            "eval run 2/5",
            "Uvicorn running",
            "best so far",
            "5123.4",
            "group 3/17 VLLM_MAX_NUM_SEQS",
            "recent trials",
            "trials 1/55",
            "thr 0.880",
            "s skip",
            "? help",
        ] {
            assert!(text.contains(needle), "{needle:?} not on screen:\n{text}");
        }
    }

    #[test]
    fn small_screen_still_shows_the_essentials() {
        let s = running_state();
        let (text, _) = screen(&s, 80, 24, Theme { color: true });
        for needle in [
            "VLLM_MAX_NUM_SEQS = 512",
            "Uvicorn running",
            "5123.4",
            "s skip",
        ] {
            assert!(text.contains(needle), "{needle:?} not on screen:\n{text}");
        }
        // Tiny terminals do not panic.
        screen(&s, 20, 5, Theme { color: true });
    }

    #[test]
    fn no_color_uses_no_colours() {
        let s = running_state();
        let (_, buf) = screen(&s, 140, 40, Theme { color: false });
        for cell in buf.content() {
            assert_eq!(cell.fg, ratatui::style::Color::Reset);
            assert_eq!(cell.bg, ratatui::style::Color::Reset);
        }
    }

    #[test]
    fn confirm_and_help_overlays() {
        let mut s = running_state();
        s.apply(crate::ui::keys::Action::Abort, 10);
        let (text, _) = screen(&s, 140, 40, Theme { color: true });
        assert!(text.contains("Abort the run?"));
        s.apply(crate::ui::keys::Action::Cancel, 10);
        s.apply(crate::ui::keys::Action::Help, 10);
        let (text, _) = screen(&s, 140, 40, Theme { color: true });
        assert!(text.contains("skip the running trial"), "{text}");
    }
}
