//! The report's section on what the pooled search's model believes
//! ([`autotune::beliefs`]): why the winner won, in the model's terms.

use std::fmt::Write;

use super::model::Report;
use super::svg::esc;

/// What the pooled search's model believes around the winner: each
/// parameter's other levels against the winner's value (the predicted
/// change of the objective and of the first constraint, with 95 %
/// intervals), largest effects first, and its best guess.
pub fn section(o: &mut String, r: &Report) {
    let Some(b) = &r.beliefs else {
        return;
    };
    let obj = &r.criteria.objective.name;
    let con = r
        .criteria
        .goal
        .constraints
        .first()
        .map_or("accuracy".to_string(), |c| c.name.clone());
    let _ = write!(
        o,
        "<section id=\"beliefs\"><h2>What the model believes</h2><div class=\"card\"><p class=\"legend\">The pooled search's model refitted to all {} ok runs: for each parameter, what setting it to another value would change against the winner, the others held at the winner's values (predicted, with 95 % intervals; the runs are those of configurations at that value). Largest effects first. A change whose interval excludes 0 is one the model is sure of.</p>",
        b.runs
    );
    match &b.guess {
        Some((changes, f)) => {
            let what: Vec<String> = changes.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = write!(
                o,
                "<p>The model's best guess (its {con} a posterior sd inside the bar) is not the winner: <code>{}</code>, predicted {:+.1} ± {:.1} % in {} against it; a prediction, not a measurement.</p>",
                esc(&what.join(", ")),
                f.value,
                f.half,
                esc(obj)
            );
        }
        None => o.push_str("<p>The model's best guess is the winner itself.</p>"),
    }
    let _ = write!(
        o,
        "<details open><summary>every parameter</summary><table><tr><th>parameter</th><th>winner</th><th>other value</th><th>{} change</th><th>{} then (the winner's: {:.4})</th><th>runs</th></tr>",
        esc(obj),
        esc(&con),
        b.winner_constraint.value
    );
    let bar = r.criteria.goal.constraints.first();
    for p in &b.params {
        for (i, l) in p.levels.iter().enumerate() {
            let sure = l.objective.value.abs() > l.objective.half;
            let cls = match (sure, l.objective.value > 0.0) {
                (true, true) => " class=\"good\"",
                (true, false) => " class=\"bad\"",
                _ => "",
            };
            let (name, winner) = if i == 0 {
                (format!("<code>{}</code>", esc(&p.name)), esc(&p.winner))
            } else {
                (String::new(), String::new())
            };
            if l.runs == 0 {
                // Never served (a crash or hang) or never tried: the prior
                // is all the model has.
                let _ = write!(
                    o,
                    "<tr><td>{name}</td><td>{winner}</td><td>{}</td><td colspan=\"2\" class=\"muted\">no runs: never served or never tried</td><td>0</td></tr>",
                    esc(&l.value)
                );
                continue;
            }
            let then = b.winner_constraint.value + l.constraint.value;
            let under = bar.is_some_and(|c| !c.op.holds(then, c.bound));
            let _ = write!(
                o,
                "<tr><td>{name}</td><td>{winner}</td><td>{}</td><td{cls}>{:+.1} ± {:.1} %</td><td{}>{then:.4} ± {:.4}{}</td><td>{}</td></tr>",
                esc(&l.value),
                l.objective.value,
                l.objective.half,
                if under { " class=\"bad\"" } else { "" },
                l.constraint.half,
                if under { " (under the bar)" } else { "" },
                l.runs
            );
        }
    }
    o.push_str("</table></details></div></section>");
}
