//! The pieces of the search beyond one pass of coordinate ascent, kept pure
//! and small so the planner stays readable: how the search goes on
//! ([`SearchPlan`]), which configurations an earlier crash predicts will
//! crash, the neighbouring values a later pass probes, what each value of a
//! parameter did the last time it was measured ([`Effects`]), and the joint
//! moves of the refinement ranked by what those effects predict.

use std::collections::{BTreeMap, BTreeSet};

use super::search::Params;

/// How far the search goes beyond one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SearchPlan {
    /// Passes over the groups at most (`None`: until a whole pass changes
    /// nothing).
    pub passes: Option<usize>,
    /// Trials run at most (`None`: 2.5 times one pass's trials; reused
    /// records of this run cost nothing).
    pub max_trials: Option<usize>,
    /// After the passes, try joint moves of the parameters that matter.
    pub refine: bool,
    /// Do not start a configuration an earlier crash or time-out predicts
    /// will fail the same way.
    pub predict: bool,
}

impl SearchPlan {
    /// `auto_tune.py`'s search: one pass, nothing more, no budget.
    pub const ONE_PASS: SearchPlan = SearchPlan {
        passes: Some(1),
        max_trials: Some(usize::MAX),
        refine: false,
        predict: false,
    };

    /// The default budget as a multiple of one pass's trials.
    pub const BUDGET_FACTOR: f64 = 2.5;
}

impl Default for SearchPlan {
    /// Passes until stable, refinement, crash prediction, 2.5 passes of
    /// trials.
    fn default() -> Self {
        SearchPlan {
            passes: None,
            max_trials: None,
            refine: true,
            predict: true,
        }
    }
}

/// A number, if the value reads as one.
pub fn num(v: &str) -> Option<f64> {
    v.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

/// A crash or time-out the search met: its parameters and its cause, the
/// parameter(s) its trial was testing (`param_under_test`, joint moves
/// split on `+`; empty when the record has none).
#[derive(Debug, Clone)]
pub struct Failure {
    pub params: Params,
    /// `crashed` or `timeout`.
    pub status: String,
    pub cause: Vec<String>,
    /// It failed before the service was ready (no request was served).
    pub startup: bool,
}

impl Failure {
    /// Whether the failure is one of the start-up settings: it failed
    /// before serving, what its trial tested includes a parameter read at
    /// start-up (not in `request`), and no configuration that served asked
    /// for at least as much in every start-up parameter (`served`: the
    /// start-up settings are not known to serve). Otherwise (a flaky start,
    /// a trial of a per-request value) what is read per request counts.
    pub fn of_startup_settings<'a>(
        &self,
        request: &BTreeSet<String>,
        mut served: impl Iterator<Item = &'a Params>,
    ) -> bool {
        self.startup
            && self
                .cause
                .iter()
                .any(|c| !request.contains(c) && self.params.contains_key(c))
            && !served.any(|s| {
                self.params
                    .iter()
                    .filter(|(k, _)| !request.contains(*k))
                    .all(|(k, fv)| s.get(k).is_some_and(|sv| at_least(sv, fv)))
            })
    }
}

/// `a` asks for at least as much as `b`: the same value, or a number at
/// least as large.
fn at_least(a: &str, b: &str) -> bool {
    a == b || matches!((num(a), num(b)), (Some(x), Some(y)) if x >= y)
}

/// Why `f` predicts that `p` fails the same way, or `None`: every numeric
/// value that differs is at least as large in `p` (more memory share, more
/// batched tokens, more sequences, a longer model length ask for at least
/// as much memory), every other value the same; except that when
/// `startup_settings` ([`Failure::of_startup_settings`]) the parameters in
/// `request` (read per request) may be anything, as the service failed
/// before reading them.
pub fn predicts_failure(
    f: &Failure,
    startup_settings: bool,
    request: &BTreeSet<String>,
    p: &Params,
) -> Option<String> {
    let failed = &f.params;
    if failed.len() != p.len() {
        return None;
    }
    let mut larger = Vec::new();
    let mut unread = Vec::new();
    for (k, fv) in failed {
        let pv = p.get(k)?;
        if pv == fv {
            continue;
        }
        if at_least(pv, fv) {
            larger.push(format!("{k}={pv} (there {fv})"));
        } else if startup_settings && request.contains(k) {
            unread.push(format!("{k}={pv}"));
        } else {
            return None;
        }
    }
    let mut why = Vec::new();
    if !larger.is_empty() {
        why.push(format!("the same values but {}", larger.join(", ")));
    }
    if !unread.is_empty() {
        why.push(format!(
            "{} (read per request; it failed at start-up)",
            unread.join(", ")
        ));
    }
    Some(if why.is_empty() {
        "the same configuration".to_string()
    } else {
        why.join("; ")
    })
}

/// The candidates in their natural order: by value when every one is a
/// number, else as listed.
pub fn ordered(cands: &[String]) -> Vec<String> {
    let mut v = cands.to_vec();
    if v.iter().all(|c| num(c).is_some()) {
        v.sort_by(|a, b| num(a).unwrap_or(0.0).total_cmp(&num(b).unwrap_or(0.0)));
    }
    v
}

/// The values next to `cur` in the natural order (one or two); for a value
/// not among the candidates, none.
pub fn neighbours(cands: &[String], cur: &str) -> Vec<String> {
    let o = ordered(cands);
    let Some(i) = o.iter().position(|c| c == cur) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if i > 0 {
        out.push(o[i - 1].clone());
    }
    if i + 1 < o.len() {
        out.push(o[i + 1].clone());
    }
    out
}

/// What one value did: throughput relative to the parameter's reference
/// value, accuracy difference to it, and how many runs stand behind it;
/// `None` when it did not serve (crashed, timed out, predicted to).
pub type Effect = Option<(f64, f64, usize)>;

/// What one value of a group did: the value and its (mean tok/s, mean
/// accuracy, runs), `None` if it did not serve.
pub type Seen = (String, Option<(f64, f64, usize)>);

/// Per parameter, what each value did in its latest measurements, relative
/// to one reference value of that parameter (all other parameters as they
/// were then).
#[derive(Debug, Clone, Default)]
pub struct Effects(pub BTreeMap<String, BTreeMap<String, Effect>>);

impl Effects {
    /// Records a group of `param` measured around the value `cur`: `seen`
    /// holds each value's (mean tok/s, mean accuracy, runs) or `None`. A
    /// full group replaces what was known; a partial one (probes) is
    /// rescaled onto the known reference through `cur`.
    pub fn update(&mut self, param: &str, cur: &str, seen: &[Seen], full: bool) {
        let Some(Some((t0, a0, _))) = seen.iter().find(|(v, _)| v == cur).map(|x| x.1) else {
            return;
        };
        if t0 <= 0.0 {
            return;
        }
        let entry = self.0.entry(param.to_string()).or_default();
        let (scale, shift) = match entry.get(cur) {
            Some(Some((r, d, _))) if !full => (*r, *d),
            _ => {
                entry.clear();
                (1.0, 0.0)
            }
        };
        for (v, s) in seen {
            let e = s.map(|(t, a, n)| (t / t0 * scale, a - a0 + shift, n));
            if v == cur && !full && entry.contains_key(cur) {
                continue;
            }
            entry.insert(v.clone(), e);
        }
    }

    /// `v` against `cur` for `param`: (tok/s ratio, accuracy difference,
    /// runs behind each), if both served when last measured.
    pub fn relative(&self, param: &str, cur: &str, v: &str) -> Option<(f64, f64, usize, usize)> {
        let m = self.0.get(param)?;
        let (rc, dc, nc) = (*m.get(cur)?)?;
        let (rv, dv, nv) = (*m.get(v)?)?;
        Some((rv / rc, dv - dc, nv, nc))
    }
}

/// A joint move of the refinement: the values it changes and what the
/// effects predict for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    /// (parameter, new value), in the space's order.
    pub changes: Vec<(String, String)>,
    /// Predicted tok/s relative to the base (additive effects).
    pub tps: f64,
    /// Predicted accuracy difference to the base.
    pub acc: f64,
    /// A trade against the accuracy bar (a gain the bar refused, with
    /// accuracy given back by another parameter).
    pub trade: bool,
}

/// What a value with no served measurement (it crashed or hung with other
/// values) is predicted to do: a little worse than the base. Whether it
/// fails here is for the crash predictor to say, and a joint move is
/// exactly what may make it serve, but an unknown is no better than a
/// small measured loss.
pub const UNKNOWN_REL: f64 = 0.985;

/// Every move of 2 to `radius` of `params` at once from `base`, each
/// parameter to another of its candidates, with the prediction of the
/// effects ([`UNKNOWN_REL`] for a value that never served).
/// Best predicted first; ties in the space's order.
pub fn joint_moves(
    params: &[(String, Vec<String>)],
    base: &Params,
    effects: &Effects,
    radius: usize,
) -> Vec<Move> {
    let mut options: Vec<Vec<(String, String, f64, f64)>> = Vec::new();
    for (name, cands) in params {
        let Some(cur) = base.get(name) else { continue };
        let mut o = Vec::new();
        for v in cands.iter().filter(|v| *v != cur) {
            let (r, d) = effects
                .relative(name, cur, v)
                .map_or((UNKNOWN_REL, 0.0), |(r, d, _, _)| (r, d));
            o.push((name.clone(), v.clone(), r, d));
        }
        options.push(o);
    }
    let mut out = Vec::new();
    let n = options.len();
    // Subsets of parameters of size 2..=radius, in order, then one value
    // each.
    let mut stack: Vec<(usize, Vec<usize>)> = vec![(0, Vec::new())];
    while let Some((start, chosen)) = stack.pop() {
        if chosen.len() >= 2 {
            expand(&options, &chosen, &mut out);
        }
        if chosen.len() < radius {
            for i in (start..n).rev() {
                let mut c = chosen.clone();
                c.push(i);
                stack.push((i + 1, c));
            }
        }
    }
    out.sort_by(|a, b| {
        b.tps
            .total_cmp(&a.tps)
            .then_with(|| a.changes.len().cmp(&b.changes.len()))
            .then_with(|| a.changes.cmp(&b.changes))
    });
    out
}

fn expand(options: &[Vec<(String, String, f64, f64)>], chosen: &[usize], out: &mut Vec<Move>) {
    let mut idx = vec![0usize; chosen.len()];
    if chosen.iter().any(|&i| options[i].is_empty()) {
        return;
    }
    loop {
        let mut m = Move {
            changes: Vec::new(),
            tps: 1.0,
            acc: 0.0,
            trade: false,
        };
        for (k, &i) in chosen.iter().enumerate() {
            let (p, v, r, d) = &options[i][idx[k]];
            m.changes.push((p.clone(), v.clone()));
            m.tps *= r;
            m.acc += d;
        }
        out.push(m);
        let mut k = 0;
        loop {
            if k == idx.len() {
                return;
            }
            idx[k] += 1;
            if idx[k] < options[chosen[k]].len() {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kv: &[(&str, &str)]) -> Params {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn failure(kv: &[(&str, &str)], cause: &[&str]) -> Failure {
        Failure {
            params: params(kv),
            status: "crashed".into(),
            cause: cause.iter().map(|c| c.to_string()).collect(),
            startup: true,
        }
    }

    #[test]
    fn a_crash_predicts_only_configurations_asking_at_least_as_much() {
        let crash = failure(
            &[
                ("GPU_MEMORY_UTILIZATION", "0.99"),
                ("VLLM_MAX_NUM_BATCHED_TOKENS", "131072"),
                ("STOP", "a"),
            ],
            &["GPU_MEMORY_UTILIZATION"],
        );
        let more = params(&[
            ("GPU_MEMORY_UTILIZATION", "0.99"),
            ("VLLM_MAX_NUM_BATCHED_TOKENS", "196608"),
            ("STOP", "a"),
        ]);
        let why = predicts_failure(&crash, false, &BTreeSet::new(), &more).expect("predicted");
        assert!(why.contains("VLLM_MAX_NUM_BATCHED_TOKENS=196608"), "{why}");
        let less_memory = params(&[
            ("GPU_MEMORY_UTILIZATION", "0.98"),
            ("VLLM_MAX_NUM_BATCHED_TOKENS", "196608"),
            ("STOP", "a"),
        ]);
        assert_eq!(
            predicts_failure(&crash, false, &BTreeSet::new(), &less_memory),
            None
        );
        let other_text = params(&[
            ("GPU_MEMORY_UTILIZATION", "0.99"),
            ("VLLM_MAX_NUM_BATCHED_TOKENS", "131072"),
            ("STOP", "b"),
        ]);
        assert_eq!(
            predicts_failure(&crash, false, &BTreeSet::new(), &other_text),
            None
        );
        assert!(predicts_failure(&crash, false, &BTreeSet::new(), &crash.params).is_some());
    }

    /// A start-up crash of the start-up settings does not depend on what
    /// the service reads per request: fewer sentences still crash at memory
    /// share 0.99. It does when it failed while serving, when its trial
    /// tested a per-request value, or when the same start-up settings (or
    /// larger) served elsewhere (a flaky start).
    #[test]
    fn a_start_up_failure_ignores_what_is_read_per_request() {
        let kv = |gmu: &'static str, tokens: &'static str, sentences: &'static str| {
            [
                ("GPU_MEMORY_UTILIZATION", gmu),
                ("VLLM_MAX_NUM_BATCHED_TOKENS", tokens),
                ("OUTPUT_MAX_SENTENCES", sentences),
            ]
        };
        let request: BTreeSet<String> = ["OUTPUT_MAX_SENTENCES".to_string()].into();
        let crash = failure(&kv("0.99", "262144", "6"), &["GPU_MEMORY_UTILIZATION"]);
        let fewer = params(&kv("0.99", "262144", "3"));
        let none: [Params; 0] = [];
        assert!(crash.of_startup_settings(&request, none.iter()));
        let why = predicts_failure(&crash, true, &request, &fewer).expect("predicted");
        assert!(
            why.contains("OUTPUT_MAX_SENTENCES=3 (read per request"),
            "{why}"
        );
        // Less of a start-up parameter: not predicted.
        assert_eq!(
            predicts_failure(&crash, true, &request, &params(&kv("0.99", "196608", "3"))),
            None
        );
        // While serving, the per-request values count.
        let serving = Failure {
            startup: false,
            ..crash.clone()
        };
        assert!(!serving.of_startup_settings(&request, none.iter()));
        assert_eq!(predicts_failure(&serving, false, &request, &fewer), None);
        // A trial of a per-request value that failed at start-up.
        let by_sentences = failure(&kv("0.97", "131072", "8"), &["OUTPUT_MAX_SENTENCES"]);
        assert!(!by_sentences.of_startup_settings(&request, none.iter()));
        // The same start-up settings, or larger, served: a flaky start.
        let served = [params(&kv("0.99", "262144", "4"))];
        assert!(!crash.of_startup_settings(&request, served.iter()));
        let smaller = [params(&kv("0.98", "262144", "4"))];
        assert!(crash.of_startup_settings(&request, smaller.iter()));
    }

    #[test]
    fn neighbours_follow_the_numeric_order() {
        let c: Vec<String> = ["1024", "512", "1536", "768"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(neighbours(&c, "1024"), ["768", "1536"]);
        assert_eq!(neighbours(&c, "512"), ["768"]);
        assert!(neighbours(&c, "9").is_empty());
    }

    #[test]
    fn joint_moves_rank_by_additive_prediction() {
        let mut e = Effects::default();
        let seen = |xs: &[(&str, Option<f64>)]| -> Vec<Seen> {
            xs.iter()
                .map(|(v, t)| (v.to_string(), t.map(|t| (t, 0.9, 5))))
                .collect()
        };
        e.update(
            "A",
            "1",
            &seen(&[("1", Some(100.0)), ("2", Some(99.0)), ("3", None)]),
            true,
        );
        e.update(
            "B",
            "x",
            &seen(&[("x", Some(50.0)), ("y", Some(45.0))]),
            true,
        );
        // A probe of A around 1 at another base: rescaled onto the same
        // reference.
        e.update(
            "A",
            "1",
            &seen(&[("1", Some(200.0)), ("2", Some(190.0))]),
            false,
        );
        let (r, _, _, _) = e.relative("A", "1", "2").unwrap();
        assert!((r - 0.95).abs() < 1e-12);
        let space = vec![
            ("A".to_string(), vec!["1".into(), "2".into(), "3".into()]),
            ("B".to_string(), vec!["x".into(), "y".into()]),
        ];
        let base = params(&[("A", "1"), ("B", "x")]);
        let m = joint_moves(&space, &base, &e, 3);
        assert_eq!(m.len(), 2);
        // A=3 never served: a small loss, so its move ranks first.
        assert_eq!(
            m[0].changes,
            [("A".to_string(), "3".to_string()), ("B".into(), "y".into())]
        );
        assert!((m[0].tps - UNKNOWN_REL * 0.9).abs() < 1e-12);
        assert!((m[1].tps - 0.95 * 0.9).abs() < 1e-12);
    }
}
