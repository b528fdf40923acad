//! What a trial changes, typed: the `(parameter, value)` pairs it sets on
//! top of its base. The engine hands them to the front ends as a list, and
//! each says them its own way; only the results file (and what mirrors its
//! records: the status file, a launched trial's request) joins them into
//! `auto_tune.py`'s `param_under_test` text (`A+B`), and only a reader of
//! such a record parses that text back ([`Changes::from_record`]).

use super::Params;

/// What a trial changes from its base: one parameter (a group's trial),
/// several at once (a refinement's joint move), none (a re-measure of the
/// base), or a point of a model-based search's design, which is no move
/// from a base ([`Changes::point`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Changes(Kind);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// The parameters set, in order, each with its value (none: the base).
    Moves(Vec<(String, String)>),
    /// A design point: the phase that chose it and what it sets, in words.
    Point { phase: String, what: String },
}

impl Default for Kind {
    fn default() -> Self {
        Kind::Moves(Vec::new())
    }
}

impl Changes {
    /// No change: the base measured (again).
    pub fn base() -> Self {
        Changes(Kind::Moves(Vec::new()))
    }

    /// One parameter set to `value`.
    pub fn one(param: impl Into<String>, value: impl Into<String>) -> Self {
        Changes(Kind::Moves(vec![(param.into(), value.into())]))
    }

    /// Several parameters at once (a joint move), in the order given; none
    /// is the base.
    pub fn moves(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Changes(Kind::Moves(pairs.into_iter().collect()))
    }

    /// A point of a model-based search's design (the pooled search's
    /// trials): not a move from a base but a whole configuration, named by
    /// the phase that chose it and what it sets, in words
    /// (`A=1 B=2 3 per-request`).
    pub fn point(phase: impl Into<String>, what: impl Into<String>) -> Self {
        Changes(Kind::Point {
            phase: phase.into(),
            what: what.into(),
        })
    }

    /// Whether nothing changes: the base measured (again).
    pub fn is_base(&self) -> bool {
        matches!(&self.0, Kind::Moves(m) if m.is_empty())
    }

    /// The parameters set and their values, in order (none for the base
    /// and for a design point).
    pub fn pairs(&self) -> &[(String, String)] {
        match &self.0 {
            Kind::Moves(m) => m,
            Kind::Point { .. } => &[],
        }
    }

    /// The one parameter set and its value, when exactly one is.
    pub fn single(&self) -> Option<(&str, &str)> {
        match self.pairs() {
            [(p, v)] => Some((p, v)),
            _ => None,
        }
    }

    /// A design point's phase and what it sets ([`Changes::point`]).
    pub fn as_point(&self) -> Option<(&str, &str)> {
        match &self.0 {
            Kind::Point { phase, what } => Some((phase, what)),
            Kind::Moves(_) => None,
        }
    }

    /// Whether the trial sets `param` (a design point names none).
    pub fn sets(&self, param: &str) -> bool {
        self.pairs().iter().any(|(p, _)| p == param)
    }

    /// As a reader says it: `A=1` for one parameter, `A=1, B=2` for a joint
    /// move, `base` for none; a design point as `phase=what`.
    pub fn describe(&self) -> String {
        match &self.0 {
            Kind::Moves(m) if m.is_empty() => "base".into(),
            Kind::Moves(m) => m
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
            Kind::Point { phase, what } => format!("{phase}={what}"),
        }
    }

    /// The record's `param_under_test` (results file format, shared with
    /// `auto_tune.py`): the parameter, a joint move's joined by `+`
    /// (`A+B`), `base` for none, a design point's phase. Only for what
    /// writes a record or mirrors one; screens use [`Changes::describe`]
    /// or the pairs.
    pub fn param_text(&self) -> String {
        match &self.0 {
            Kind::Moves(m) if m.is_empty() => "base".into(),
            Kind::Moves(m) => m
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join("+"),
            Kind::Point { phase, .. } => phase.clone(),
        }
    }

    /// The values in the same format: a joint move's joined by `+` in the
    /// same order (`4+48`), `base` for none, what a design point sets.
    /// Like [`Changes::param_text`], for records only: `+` may occur in a
    /// value, so this text is never split again.
    pub fn value_text(&self) -> String {
        match &self.0 {
            Kind::Moves(m) if m.is_empty() => "base".into(),
            Kind::Moves(m) => m
                .iter()
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
                .join("+"),
            Kind::Point { what, .. } => what.clone(),
        }
    }

    /// Read back from a record's texts: its `param` (`param_under_test`)
    /// and `value`, and its `params`. A joint move's `A+B` splits
    /// unambiguously on `+` (names are variable names); its values are
    /// read from `params` (`?` for one missing), never split from a joined
    /// `4+48` (a value may hold `+`). `base` or nothing is the base; one
    /// parameter keeps `value`. (A design point's phase reads back as a
    /// parameter: the record does not tell them apart.)
    pub fn from_record(param: &str, value: &str, params: &Params) -> Self {
        if param.is_empty() || param == "base" {
            return Changes::base();
        }
        if !param.contains('+') {
            return Changes::one(param, value);
        }
        Changes::moves(param.split('+').map(|k| {
            (
                k.to_string(),
                params.get(k).map_or("?", String::as_str).to_string(),
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        [("A", "1"), ("B", "2+3"), ("C", "x")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into()
    }

    #[test]
    fn a_joint_move_names_each_change_with_its_own_value() {
        let j = Changes::moves([("A".into(), "1".into()), ("B".into(), "2+3".into())]);
        assert_eq!(j.describe(), "A=1, B=2+3");
        assert_eq!(j.single(), None);
        assert!(j.sets("B") && !j.sets("C"));
        assert!(!j.is_base());
        assert_eq!(Changes::one("C", "x").describe(), "C=x");
        assert_eq!(Changes::one("C", "x").single(), Some(("C", "x")));
        assert_eq!(Changes::base().describe(), "base");
        assert!(Changes::base().is_base() && Changes::base().pairs().is_empty());
        assert_eq!(Changes::default(), Changes::base());
    }

    /// The results file's texts, and back: a joint move's joined values
    /// cannot be split (`1+2+3`), its params can.
    #[test]
    fn record_texts_round_trip_through_the_params() {
        let p = params();
        let j = Changes::moves([("A".into(), "1".into()), ("B".into(), "2+3".into())]);
        assert_eq!(
            (j.param_text(), j.value_text()),
            ("A+B".into(), "1+2+3".into())
        );
        assert_eq!(Changes::from_record("A+B", "1+2+3", &p), j);
        assert_eq!(
            Changes::from_record("A+B", "1+2+3", &p).describe(),
            "A=1, B=2+3"
        );
        let one = Changes::one("C", "x");
        assert_eq!(
            (one.param_text(), one.value_text()),
            ("C".into(), "x".into())
        );
        assert_eq!(Changes::from_record("C", "x", &p), one);
        let base = Changes::base();
        assert_eq!(
            (base.param_text(), base.value_text()),
            ("base".into(), "base".into())
        );
        assert_eq!(Changes::from_record("base", "base", &p), base);
        assert_eq!(Changes::from_record("", "", &p), base);
        // A joint move's parameter missing from the params.
        assert_eq!(Changes::from_record("A+Z", "", &p).describe(), "A=1, Z=?");
    }

    /// A pooled search's trial: its phase and what it sets, said as today.
    #[test]
    fn a_design_point_keeps_its_phase_and_words() {
        let c = Changes::point("screening", "A=2 B=3 1 per-request");
        assert_eq!(c.param_text(), "screening");
        assert_eq!(c.value_text(), "A=2 B=3 1 per-request");
        assert_eq!(c.describe(), "screening=A=2 B=3 1 per-request");
        assert_eq!(c.as_point(), Some(("screening", "A=2 B=3 1 per-request")));
        assert!(c.pairs().is_empty() && c.single().is_none() && !c.is_base());
    }
}
