//! The message line (latest message or warning) and the key footer.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::ui::keys::{BINDINGS, footer};
use crate::ui::state::LiveState;
use crate::ui::theme::{Role, Theme};

/// Draws the latest message.
pub fn draw_message(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    if let Some((ts, text, warn)) = s.messages.back() {
        let style = if *warn {
            t.style(Role::Warn)
        } else {
            t.style(Role::Dim)
        };
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(format!(" {ts} "), t.style(Role::Dim)),
                Span::styled(text.as_str(), style),
            ])),
            area,
        );
    }
}

/// Draws the key footer from the key table.
pub fn draw(f: &mut Frame, area: Rect, _s: &LiveState, t: &Theme) {
    f.render_widget(Paragraph::new(footer(BINDINGS, t)), area);
}
