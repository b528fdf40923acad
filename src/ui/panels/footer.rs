//! The message line (latest message or warning) and the key footer, which
//! offers only the keys that do something now.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::hms;
use crate::ui::keys::{Action, BINDINGS, footer};
use crate::ui::state::LiveState;
use crate::ui::theme::{Role, Theme};

/// Rows the latest message takes at most: past them it ends in `…`.
const MESSAGE_ROWS: usize = 3;

/// The latest message as the lines it takes in `width` columns (at most
/// [`MESSAGE_ROWS`]), its time stamp first.
fn message_lines(s: &LiveState, width: u16) -> Vec<String> {
    let Some((at, text, _)) = s.messages.back() else {
        return Vec::new();
    };
    let w = (width as usize).saturating_sub(1).max(1);
    let mut lines = super::wrap(&format!("{} {text}", hms(at.as_secs_f64())), w);
    if lines.len() > MESSAGE_ROWS {
        lines.truncate(MESSAGE_ROWS);
        let last = &mut lines[MESSAGE_ROWS - 1];
        *last = last.chars().take(w - 1).collect::<String>() + "…";
    }
    lines
}

/// Rows of the message line: the latest message wrapped, so a long
/// reason (a pruned trial's) is read whole on a narrow screen.
pub fn message_rows(s: &LiveState, width: u16) -> u16 {
    message_lines(s, width).len().max(1) as u16
}

/// Draws the latest message, stamped with its time into the run.
pub fn draw_message(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    let Some((_, _, warn)) = s.messages.back() else {
        return;
    };
    let style = if *warn {
        t.style(Role::Warn)
    } else {
        t.style(Role::Dim)
    };
    let lines: Vec<Line> = message_lines(s, area.width)
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            if i > 0 {
                return Line::from(vec![Span::raw(" "), Span::styled(l, style)]);
            }
            // The time stamp, dim, then the text.
            let (stamp, rest) = l.split_once(' ').unwrap_or((&l, ""));
            Line::from(vec![
                Span::styled(format!(" {stamp} "), t.style(Role::Dim)),
                Span::styled(rest.to_string(), style),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines), area);
}

/// Draws the key footer from the key table.
pub fn draw(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    let line = footer(
        BINDINGS,
        |a| s.offers(a),
        |a, label| match a {
            Action::Pause if s.paused => "p resume",
            Action::Up if s.focus == crate::ui::state::Focus::Slots => "↑↓ 0-9 slot",
            _ => label,
        },
        area.width,
        t,
    );
    f.render_widget(Paragraph::new(line), area);
}
