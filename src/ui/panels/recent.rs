//! Recent trials, newest first, with status colours; the trial number is
//! the plan position (as in `trial 12`). Marks after the status: `*`
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

/// A parameter's name shortened by a rule a reader can undo against the
/// names shown elsewhere: every word but the last to its initial
/// (`VLLM_MAX_NUM_SEQS` is `V_M_N_SEQS`), never cut in the middle.
pub fn initials(name: &str) -> String {
    let words: Vec<&str> = name.split('_').collect();
    let Some((last, rest)) = words.split_last() else {
        return name.to_string();
    };
    let mut out: Vec<String> = rest
        .iter()
        .map(|w| w.chars().next().map(String::from).unwrap_or_default())
        .collect();
    out.push((*last).to_string());
    out.join("_")
}

/// A joint move as each parameter with its own value
/// (`MAX_NEW_TOKENS=48, FREQUENCY_PENALTY=0.00`), names shortened to their
/// initials when that does not fit `w` (values are never shortened; what
/// still does not fit ends in `…`).
pub fn joint_move(
    changes: &[(impl AsRef<str>, impl AsRef<str>)],
    w: usize,
    t: &Theme,
) -> Vec<Span<'static>> {
    let len = |short: bool| -> usize {
        changes
            .iter()
            .map(|(k, v)| {
                let (k, v) = (k.as_ref(), v.as_ref());
                let k = if short { initials(k) } else { k.to_string() };
                k.chars().count() + 1 + v.chars().count()
            })
            .sum::<usize>()
            + 2 * changes.len().saturating_sub(1)
    };
    let short = len(false) > w;
    let mut spans = Vec::new();
    let mut used = 0;
    for (i, (k, v)) in changes.iter().enumerate() {
        let (k, v) = (k.as_ref(), v.as_ref());
        let sep = if i == 0 { "" } else { ", " };
        let name = if short { initials(k) } else { k.to_string() };
        let piece = format!("{sep}{name}=");
        let need = piece.chars().count() + v.chars().count();
        if used + need > w {
            spans.push(Span::raw("…"));
            break;
        }
        used += need;
        spans.push(Span::raw(piece));
        spans.push(Span::styled(v.to_string(), t.style(Role::Accent)));
    }
    spans
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
            let tested = if r.param.contains('+') {
                // A record's texts (`A+B`), read back pair by pair.
                let c = autotune::Changes::from_record(&r.param, &r.value, &rec.params);
                joint_move(c.pairs(), name_w, t)
            } else if !r.param.is_empty() && !rec.params.contains_key(&r.param) {
                // A pooled search's trial: its phase, then what it changes
                // from the start.
                let ch: Vec<(&str, &str)> = rec
                    .params
                    .iter()
                    .filter(|(k, v)| s.base.get(*k) != Some(*v))
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let phase = format!("{}: ", r.param);
                let mut spans = vec![Span::styled(phase.clone(), t.style(Role::Dim))];
                if ch.is_empty() {
                    spans.push(Span::raw("the start"));
                } else {
                    let w = name_w.saturating_sub(phase.chars().count());
                    spans.extend(joint_move(&ch, w, t));
                }
                spans
            } else {
                let name =
                    elide_middle(&r.param, name_w.saturating_sub(r.value.chars().count() + 1));
                vec![
                    Span::raw(format!("{name}=")),
                    Span::styled(r.value.clone(), t.style(Role::Accent)),
                ]
            };
            Row::new(vec![
                Cell::from(format!("{:>5}", r.ordinal)),
                Cell::from(Span::styled(status, t.status(rec.status.as_str()))),
                Cell::from(fig(rec.avg_accuracy(), 4)),
                Cell::from(fig(rec.avg_total_tps(), 1)),
                Cell::from(ratatui::text::Line::from(tested)),
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
    .block({
        let b = block(
            if s.recent.iter().any(|r| is_recheck(&r.record)) {
                "recent trials (* already measured, + re-measured)"
            } else {
                "recent trials (* already measured)"
            },
            s.focus == Focus::Recent,
            t,
        );
        // Scrolled down from the newest: how many are above, and the way
        // back (new trials do not move a scrolled list).
        let above = s.recent_scroll.min(s.recent.len().saturating_sub(1));
        if above > 0 {
            b.title(
                ratatui::text::Line::from(Span::styled(
                    format!(" ↑ {above} newer · Home "),
                    t.style(Role::Warn),
                ))
                .right_aligned(),
            )
        } else {
            b
        }
    });
    f.render_widget(table, area);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(spans: &[Span]) -> String {
        spans.iter().map(|s| s.content.as_ref()).collect()
    }

    /// A joint move says each parameter with its own value; short of room
    /// the names go to their initials (never cut in the middle), the
    /// values stay whole.
    #[test]
    fn a_joint_move_names_each_parameter_with_its_value() {
        let t = Theme::from_env();
        let ch = [("MAX_NEW_TOKENS", "48"), ("FREQUENCY_PENALTY", "0.00")];
        assert_eq!(
            text(&joint_move(&ch, 60, &t)),
            "MAX_NEW_TOKENS=48, FREQUENCY_PENALTY=0.00"
        );
        assert_eq!(
            text(&joint_move(&ch, 30, &t)),
            "M_N_TOKENS=48, F_PENALTY=0.00"
        );
        assert_eq!(text(&joint_move(&ch, 20, &t)), "M_N_TOKENS=48…");
        assert_eq!(initials("VLLM_MAX_NUM_SEQS"), "V_M_N_SEQS");
        assert_eq!(initials("PORT"), "PORT");
    }
}
