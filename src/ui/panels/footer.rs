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

/// Draws the latest message, stamped with its time into the run.
pub fn draw_message(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    if let Some((at, text, warn)) = s.messages.back() {
        let style = if *warn {
            t.style(Role::Warn)
        } else {
            t.style(Role::Dim)
        };
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(format!(" {} ", hms(at.as_secs_f64())), t.style(Role::Dim)),
                Span::styled(text.as_str(), style),
            ])),
            area,
        );
    }
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
