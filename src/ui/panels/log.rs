//! The service log: a live tail of the current trial's log, scrollable.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::block;
use crate::ui::state::{Focus, LiveState};
use crate::ui::theme::{Role, Theme};

/// Draws the log panel.
pub fn draw(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    let mut title = if s.log_scroll > 0 {
        format!("service log  [scrolled {} up, f follows]", s.log_scroll)
    } else {
        "service log  [following]".to_string()
    };
    if s.log.skipped_bytes > 0 {
        // The service writes faster than a screen can show; say so.
        title.push_str(&format!(
            "  [{:.1} MB not shown]",
            s.log.skipped_bytes as f64 / 1e6
        ));
    }
    let b = block(&title, s.focus == Focus::Log, t);
    let h = b.inner(area).height as usize;
    let n = s.log.lines.len();
    let end = n.saturating_sub(s.log_scroll);
    let start = end.saturating_sub(h);
    let lines: Vec<Line> = s
        .log
        .lines
        .range(start..end)
        .map(|l| {
            let lower = l.to_ascii_lowercase();
            let style = if lower.contains("error")
                || lower.contains("traceback")
                || lower.contains("out of memory")
            {
                t.style(Role::Bad)
            } else if lower.contains("warn") {
                t.style(Role::Warn)
            } else {
                ratatui::style::Style::new()
            };
            Line::from(Span::styled(l.as_str(), style))
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(b), area);
}
