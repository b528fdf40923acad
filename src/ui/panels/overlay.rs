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
        let (r, lines) = help_layout(area, s, t);
        draw_help(f, r, lines, s.help_scroll, t);
    }
}

/// Draws a help box at `r` with `lines`, scrolled `scroll` rows down (at
/// most as far as the last line): the title says it scrolls, and each
/// border says how many lines are beyond it.
pub fn draw_help(f: &mut Frame, r: Rect, lines: Vec<Line<'static>>, scroll: usize, t: &Theme) {
    let max = overflow(r, lines.len());
    let top = scroll.min(max);
    let below = max - top;
    let mut b = block(
        if max > 0 {
            "keys (Esc closes · ↑↓ scroll)"
        } else {
            "keys (Esc closes)"
        },
        true,
        t,
    );
    // What is out of view, on the border it is beyond.
    if top > 0 {
        b = b.title(
            Line::from(Span::styled(format!(" ↑ {top} more "), t.style(Role::Warn)))
                .right_aligned(),
        );
    }
    if below > 0 {
        b = b.title_bottom(
            Line::from(Span::styled(
                format!(" ↓ {below} more "),
                t.style(Role::Warn),
            ))
            .right_aligned(),
        );
    }
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines.into_iter().skip(top).collect::<Vec<_>>()).block(b),
        r,
    );
}

/// The help's box in `area` and its lines: every key of the table with its
/// description wrapped under itself, then the notes. As wide as the screen
/// allows up to 96 columns; as high as its lines, or the screen (it then
/// scrolls).
fn help_layout(area: Rect, s: &LiveState, t: &Theme) -> (Rect, Vec<Line<'static>>) {
    // The slot keys only where there are slots to pick.
    let table: Vec<_> = BINDINGS
        .iter()
        .filter(|b| s.multi() || !matches!(b.2, Action::SkipAll | Action::Slot(_)))
        .copied()
        .collect();
    let w = area.width.min(96);
    let inner = w.saturating_sub(2) as usize;
    let mut lines = help(&table, inner, t);
    lines.push(Line::raw(""));
    for note in [
        "A scrolled panel says so in its title and stays put as lines and trials come in.",
        "Headless runs take SIGUSR1 (skip), SIGUSR2 (pause), SIGQUIT (abort).",
    ] {
        lines.extend(
            super::wrap(note, inner)
                .into_iter()
                .map(|l| Line::from(Span::styled(l, t.style(Role::Dim)))),
        );
    }
    let r = centered(area, w, lines.len() as u16 + 2);
    (r, lines)
}

/// Rows the help scrolls at most in `area` (0: it fits).
pub fn help_max(area: Rect, s: &LiveState) -> usize {
    let (r, lines) = help_layout(area, s, &Theme { color: false });
    overflow(r, lines.len())
}

/// Rows of `n` lines that a bordered box `r` cannot show at once: how far
/// it scrolls.
pub fn overflow(r: Rect, n: usize) -> usize {
    n.saturating_sub(r.height.saturating_sub(2) as usize)
}
