//! Recent trials, newest first, with status colours; the trial number is
//! the plan position (as in `trial 12/55`). Marks after the status: `*`
//! reused from the results file, `+` a re-measure of a close call (its
//! runs pooled with the earlier ones).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table};

use super::block;
use crate::ui::state::{Focus, LiveState};
use crate::ui::theme::{Role, Theme};
use autotune::fig;

/// `text` cut to `w` characters in the middle (`VLLM_MAX_…TOKENS`), so both
/// ends of a long name stay readable.
pub fn elide_middle(text: &str, w: usize) -> String {
    let n = text.chars().count();
    if n <= w || w < 5 {
        return text.chars().take(w).collect();
    }
    let head = (w - 1) / 2;
    let tail = w - 1 - head;
    let chars: Vec<char> = text.chars().collect();
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[n - tail..]);
    out
}

/// Whether a record re-measured a close call (`"recheck": true`).
pub fn is_recheck(r: &autotune::Record) -> bool {
    r.extra.get("recheck") == Some(&serde_json::Value::Bool(true))
}

/// Draws the recent trials.
pub fn draw(f: &mut Frame, area: Rect, s: &LiveState, t: &Theme) {
    // #, status, acc, tok/s and the spaces between: the rest is the name.
    let name_w = (area.width as usize).saturating_sub(2 + 5 + 8 + 6 + 7 + 4);
    let rows: Vec<Row> = s
        .recent
        .iter()
        .rev()
        .skip(s.recent_scroll.min(s.recent.len().saturating_sub(1)))
        .map(|r| {
            let rec = &r.record;
            let status = match (r.reused, is_recheck(rec)) {
                (true, _) => format!("{}*", rec.status),
                (false, true) => format!("{}+", rec.status),
                _ => rec.status.to_string(),
            };
            let name = elide_middle(&r.param, name_w.saturating_sub(r.value.chars().count() + 1));
            Row::new(vec![
                Cell::from(format!("{:>5}", r.ordinal)),
                Cell::from(Span::styled(status, t.status(rec.status.as_str()))),
                Cell::from(fig(rec.avg_accuracy(), 4)),
                Cell::from(fig(rec.avg_total_tps(), 1)),
                Cell::from(ratatui::text::Line::from(vec![
                    Span::raw(format!("{name}=")),
                    Span::styled(r.value.as_str(), t.style(Role::Accent)),
                ])),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(5),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Fill(1),
        ],
    )
    .header(Row::new(["trial", "status", "acc", "tok/s", "tested"]).style(t.style(Role::Title)))
    .block(block(
        if s.recent.iter().any(|r| is_recheck(&r.record)) {
            "recent trials (* already measured, + re-measured)"
        } else {
            "recent trials (* already measured)"
        },
        s.focus == Focus::Recent,
        t,
    ));
    f.render_widget(table, area);
}
