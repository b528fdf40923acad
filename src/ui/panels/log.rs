//! The service log: the current trial's log as the app loop read it,
//! scrollable; above it, the last failure (its reason and the log lines
//! that tell why), pinned until a later trial succeeds so a crash that
//! takes 0.3 s stays readable. A pruned trial's reason is pinned the same
//! way (in the pruned colour, not as a failure) unless a failure is.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::block;
use crate::ui::state::{Focus, LiveState};
use crate::ui::theme::{Role, Theme};

/// The failure box (if one is pinned and there is room) and the log's
/// area within `area`.
pub fn split(area: Rect, s: &LiveState) -> (Option<Rect>, Rect) {
    let Some(fail) = &s.failure else {
        return (None, area);
    };
    // Headline and tail as wrapped, borders; the log keeps 3 rows at least.
    let w = area.width.saturating_sub(2).max(1) as usize;
    let rows: usize = std::iter::once(&fail.headline)
        .chain(&fail.tail)
        .map(|l| l.chars().count().div_ceil(w).max(1))
        .sum();
    let want = (rows as u16 + 2).min(10);
    if area.height < want + 5 || s.summary.is_some() {
        return (None, area);
    }
    let [a, b] = Layout::vertical([Constraint::Length(want), Constraint::Min(3)]).areas(area);
    (Some(a), b)
}

fn line_style(l: &str, t: &Theme) -> ratatui::style::Style {
    let lower = l.to_ascii_lowercase();
    if lower.contains("error") || lower.contains("traceback") || lower.contains("out of memory") {
        t.style(Role::Bad)
    } else if lower.contains("warn") {
        t.style(Role::Warn)
    } else {
        ratatui::style::Style::new()
    }
}

/// Draws the failure box and the log panel.
pub fn draw(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    let (fail_a, log_a) = split(area, s);
    if let (Some(r), Some(fail)) = (fail_a, &s.failure) {
        let log = fail
            .record
            .server_log
            .as_deref()
            .and_then(|p| p.rsplit('/').next())
            .unwrap_or("no log");
        let pruned = fail.record.status == "pruned";
        let (title, style) = if pruned {
            (
                format!("pruned: trial {} · {log}", fail.ordinal),
                t.status("pruned"),
            )
        } else {
            (
                format!("last failure: trial {} · {log}", fail.ordinal),
                t.style(Role::Bad),
            )
        };
        let mut lines = vec![Line::from(Span::styled(fail.headline.clone(), style))];
        lines.extend(
            fail.tail
                .iter()
                .map(|l| Line::from(Span::styled(l.as_str(), line_style(l, t)))),
        );
        let b = block(&title, false, t).border_style(style);
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(b), r);
    }
    let name = s
        .log_path
        .as_deref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "service log".into());
    // Not following says so, and what End brings back: the newest lines,
    // or the log of a trial that started since.
    let mut title = if s.log_follow {
        format!("{name}  [following]")
    } else {
        let mut marks = Vec::new();
        if s.log_scroll > 0 {
            marks.push(format!("scrolled {} up", s.log_scroll));
        } else {
            marks.push("not following".to_string());
        }
        match s.newer_log().and_then(|p| p.file_name()) {
            Some(newer) => marks.push(format!("End follows {}", newer.to_string_lossy())),
            None => marks.push("End follows".to_string()),
        }
        format!("{name}  [{}]", marks.join(" · "))
    };
    if s.log_skipped > 0 {
        // The service writes faster than a screen can show; say so.
        title.push_str(&format!(
            "  [{:.1} MB not shown]",
            s.log_skipped as f64 / 1e6
        ));
    }
    let b = block(&title, s.focus == Focus::Log, t);
    let h = b.inner(log_a).height as usize;
    let n = s.log_lines.len();
    let end = n.saturating_sub(s.log_scroll);
    let start = end.saturating_sub(h);
    let lines: Vec<Line> = s
        .log_lines
        .range(start..end)
        .map(|l| Line::from(Span::styled(l.as_str(), line_style(l, t))))
        .collect();
    f.render_widget(Paragraph::new(lines).block(b), log_a);
}
