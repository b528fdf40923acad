//! Pop-ups over the screen: the help (from the key table) and y/n questions.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::{block, centered};
use crate::ui::keys::{Action, BINDINGS, help};
use crate::ui::state::{Confirm, LiveState};
use crate::ui::theme::{Role, Theme};

/// Draws the help or a question, if one is up.
pub fn draw(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    if let Some(c) = s.confirm {
        let q = match c {
            Confirm::Abort => {
                "Abort the run? The service is stopped and the status says `aborted`."
            }
            Confirm::Quit => "Quit? The run is aborted first (the service is stopped).",
        };
        let r = centered(area, 60, 5);
        f.render_widget(Clear, r);
        let text = vec![
            Line::from(q),
            Line::from(Span::styled("y: yes    n / Esc: no", t.style(Role::Accent))),
        ];
        f.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: true })
                .block(block("confirm", true, t)),
            r,
        );
    } else if s.help {
        // The slot keys only where there are slots to pick.
        let table: Vec<_> = BINDINGS
            .iter()
            .filter(|b| s.multi() || !matches!(b.2, Action::SkipAll | Action::Slot(_)))
            .copied()
            .collect();
        let mut lines = help(&table, t);
        lines.push(Line::raw(""));
        lines.push(Line::from(Span::styled(
            "A scrolled panel says so in its title and stays put as lines and trials come in.",
            t.style(Role::Dim),
        )));
        lines.push(Line::from(Span::styled(
            "Headless runs take SIGUSR1 (skip), SIGUSR2 (pause), SIGQUIT (abort).",
            t.style(Role::Dim),
        )));
        let r = centered(area, 70, lines.len() as u16 + 2);
        f.render_widget(Clear, r);
        f.render_widget(
            Paragraph::new(lines).block(block("keys (Esc closes)", true, t)),
            r,
        );
    }
}
