//! What the pooled search's model believes, in place of the group panel
//! (the pooled search has no groups): its best guess when it is not the
//! choice, then each parameter with its best other value against the
//! choice (predicted change of the objective with its 95 % interval, and
//! the first constraint's predicted value, marked under the bar), largest
//! effects first.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::block;
use crate::ui::state::LiveState;
use crate::ui::theme::{Role, Theme};
use autotune::Beliefs;

/// Draws the model's beliefs.
pub fn draw(f: &mut Frame, area: Rect, s: &LiveState, b: &Beliefs, t: &Theme) {
    let bar = s.rule.goal.constraints.first();
    let mut lines = Vec::new();
    if let Some((changes, g)) = &b.guess {
        let what: Vec<String> = changes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        lines.push(Line::from(vec![
            Span::styled("best guess ", t.style(Role::Accent)),
            Span::raw(format!(
                "{:+.1} ± {:.1} % (uncertified): {}",
                g.value,
                g.half,
                what.join(", ")
            )),
        ]));
    }
    for p in &b.params {
        // The other value the model ranks highest, among those measured.
        let Some(l) = p
            .levels
            .iter()
            .filter(|l| l.runs > 0)
            .max_by(|a, b| a.objective.value.total_cmp(&b.objective.value))
        else {
            continue;
        };
        let then = b.winner_constraint.value + l.constraint.value;
        let under = bar.is_some_and(|c| !c.op.holds(then, c.bound));
        let sure = l.objective.value.abs() > l.objective.half;
        let role = match (sure, l.objective.value > 0.0, under) {
            (_, _, true) => Role::Dim,
            (true, true, false) => Role::Good,
            (true, false, false) => Role::Bad,
            _ => Role::Dim,
        };
        lines.push(Line::from(vec![
            Span::raw(format!("{}={} ", p.name, p.winner)),
            Span::styled(
                format!(
                    "→ {}: {:+.1} ± {:.1} %, {}{then:.4}{}",
                    l.value,
                    l.objective.value,
                    l.objective.half,
                    bar.map_or(String::new(), |c| format!("{} ", short(&c.name))),
                    if under { " under the bar" } else { "" }
                ),
                t.style(role),
            ),
        ]));
    }
    let title = format!(
        "what the model believes ({} runs): each parameter's best other value",
        b.runs
    );
    f.render_widget(Paragraph::new(lines).block(block(&title, false, t)), area);
}

/// `acc` for accuracy, other metrics by name.
fn short(name: &str) -> &str {
    if name == "accuracy" { "acc" } else { name }
}
