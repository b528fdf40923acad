//! The search space and the plan of coordinate ascent: built-in defaults and
//! candidates, merging a `--search_space_file`, the order of parameter groups,
//! the values of one group, and trial keys.

mod changes;
pub mod coordinate;
pub mod pooled;
pub mod searcher;

pub use changes::Changes;
pub use searcher::{Searcher, SearcherKind};

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// A parameter set: environment variable name to value, always strings.
pub type Params = BTreeMap<String, String>;

/// The built-in base parameters of `auto_tune.py`, in its order.
pub const DEFAULT_PARAMS: &[(&str, &str)] = &[
    ("MAX_NEW_TOKENS", "64"),
    ("MAX_NEW_TOKENS_CODE", "192"),
    ("MAX_NEW_TOKENS_CODE_HARD", "192"),
    ("MAX_NEW_TOKENS_CODE_SOFT", "96"),
    ("HARD_CODE_MIN_HITS", "1"),
    ("LONG_ANSWER_ENABLE_DEFAULT", "1"),
    ("LONG_ANSWER_MIN_HITS", "1"),
    ("REPETITION_PENALTY", "1.05"),
    ("FREQUENCY_PENALTY", "0.1"),
    ("STOP_STRINGS", "<|im_end|>,<|endoftext|>"),
    ("STOP_ON_DOUBLE_NEWLINE", "0"),
    ("GPU_MEMORY_UTILIZATION", "0.97"),
    ("VLLM_MAX_NUM_BATCHED_TOKENS", "131072"),
    ("VLLM_MAX_NUM_SEQS", "1024"),
    ("MAX_MODEL_LEN", "1024"),
    ("OUTPUT_TRIM_EXAMPLES", "1"),
    ("OUTPUT_MAX_SENTENCES", "6"),
];

/// The built-in parameters the app reads per request (generation limits,
/// penalties, stops, output shaping); the others (memory share, token
/// budget, sequences, model length) are vLLM's start-up arguments.
pub const REQUEST_PARAMS: &[&str] = &[
    "MAX_NEW_TOKENS",
    "MAX_NEW_TOKENS_CODE",
    "MAX_NEW_TOKENS_CODE_HARD",
    "MAX_NEW_TOKENS_CODE_SOFT",
    "HARD_CODE_MIN_HITS",
    "LONG_ANSWER_ENABLE_DEFAULT",
    "LONG_ANSWER_MIN_HITS",
    "REPETITION_PENALTY",
    "FREQUENCY_PENALTY",
    "STOP_STRINGS",
    "STOP_ON_DOUBLE_NEWLINE",
    "OUTPUT_TRIM_EXAMPLES",
    "OUTPUT_MAX_SENTENCES",
];

/// The built-in candidates of `auto_tune.py`, in its exploration order.
pub const BUILTIN_SPACE: &[(&str, &[&str])] = &[
    ("GPU_MEMORY_UTILIZATION", &["0.97", "0.98", "0.99"]),
    (
        "VLLM_MAX_NUM_BATCHED_TOKENS",
        &["65536", "98304", "131072", "196608", "262144"],
    ),
    ("VLLM_MAX_NUM_SEQS", &["512", "768", "1024", "1536"]),
    ("MAX_MODEL_LEN", &["768", "1024", "1536", "2048"]),
    ("STOP_ON_DOUBLE_NEWLINE", &["0", "1"]),
    (
        "STOP_STRINGS",
        &["<|im_end|>,<|endoftext|>", "<|im_end|>", "<|endoftext|>"],
    ),
    ("OUTPUT_TRIM_EXAMPLES", &["0", "1"]),
    ("OUTPUT_MAX_SENTENCES", &["3", "4", "6", "8"]),
    ("MAX_NEW_TOKENS", &["32", "48", "64", "80"]),
    ("MAX_NEW_TOKENS_CODE", &["128", "160", "192", "256"]),
    ("MAX_NEW_TOKENS_CODE_SOFT", &["64", "96", "128"]),
    ("MAX_NEW_TOKENS_CODE_HARD", &["192", "256", "320"]),
    ("HARD_CODE_MIN_HITS", &["1", "2"]),
    ("LONG_ANSWER_ENABLE_DEFAULT", &["0", "1"]),
    ("LONG_ANSWER_MIN_HITS", &["1", "2", "3"]),
    ("REPETITION_PENALTY", &["1.00", "1.02", "1.05"]),
    ("FREQUENCY_PENALTY", &["0.00", "0.05", "0.10"]),
];

/// The built-in defaults as a parameter set.
pub fn default_params() -> Params {
    DEFAULT_PARAMS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An ordered search space: parameter names in exploration order, each with
/// its candidate values in order.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchSpace {
    /// `(name, candidates)` in exploration order.
    pub groups: Vec<(String, Vec<String>)>,
    /// The parameters the service reads per request (sampling and output
    /// limits), not at start-up: they cannot make it fail before it serves,
    /// so the crash predictor ignores them for a start-up failure.
    pub request: std::collections::BTreeSet<String>,
}

/// Why a search space file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SpaceError {
    /// The file could not be read.
    #[error("cannot read search space file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid JSON.
    #[error("search space file {path} is not valid JSON: {source}")]
    Json {
        /// The file.
        path: String,
        /// The cause, with line and column.
        source: serde_json::Error,
    },
    /// The JSON is valid but not of the expected shape.
    #[error("search space file {path}: {msg}")]
    Shape {
        /// The file.
        path: String,
        /// What is wrong, naming the key.
        msg: String,
    },
}

impl SearchSpace {
    /// The built-in space of `auto_tune.py`.
    pub fn builtin() -> Self {
        SearchSpace {
            groups: BUILTIN_SPACE
                .iter()
                .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
                .collect(),
            request: REQUEST_PARAMS.iter().map(|k| k.to_string()).collect(),
        }
    }

    /// Merges another space in: new values are appended to a known name, new
    /// names are appended to the end of the order.
    pub fn merge(&mut self, other: SearchSpace) {
        for (name, values) in other.groups {
            match self.groups.iter_mut().find(|(n, _)| *n == name) {
                Some((_, known)) => {
                    for v in values {
                        if !known.contains(&v) {
                            known.push(v);
                        }
                    }
                }
                None => self.groups.push((name, values)),
            }
        }
    }

    /// Merges another space in as [`merge`](Self::merge) does, but a value
    /// that is the same setting as a known one ([`same_value`]) is not
    /// added: its spelling replaces the known one's, in place (the user's
    /// file is what the user wrote for the service; the built-in candidate
    /// is only a suggestion). For the searches that never measure a
    /// configuration twice; `--search_policy plain` merges as `auto_tune.py`.
    pub fn merge_distinct(&mut self, other: SearchSpace) {
        for (name, values) in other.groups {
            match self.groups.iter_mut().find(|(n, _)| *n == name) {
                Some((_, known)) => {
                    // Positions the file spelt already: its first spelling wins.
                    let mut spelt: Vec<usize> = Vec::new();
                    for v in values {
                        match known.iter().position(|k| same_value(k, &v)) {
                            Some(i) if spelt.contains(&i) => {}
                            Some(i) => {
                                known[i] = v;
                                spelt.push(i);
                            }
                            None => {
                                spelt.push(known.len());
                                known.push(v);
                            }
                        }
                    }
                }
                None => self.groups.push((name, values)),
            }
        }
    }

    /// One value per setting: in each group, of the values that are the
    /// same setting ([`same_value`]) only the first stays, spelt as `base`
    /// spells it when the base's value is that setting (the base is what
    /// the service runs now, and its trial keys are the ones on record).
    /// With it, `FREQUENCY_PENALTY` 0.1 (the base) and 0.10 (a built-in
    /// candidate) are one trial, not two measurements of one configuration.
    pub fn distinct(&mut self, base: &Params) {
        for (name, cands) in &mut self.groups {
            let cur = base.get(name);
            let mut out: Vec<String> = Vec::with_capacity(cands.len());
            for c in cands.drain(..) {
                let c = match cur {
                    Some(b) if same_value(b, &c) => b.clone(),
                    _ => c,
                };
                if !out.iter().any(|o| same_value(o, &c)) {
                    out.push(c);
                }
            }
            *cands = out;
        }
    }

    /// Reads a search space file: a JSON object, name to a list of values or
    /// a single value, kept in the file's key order.
    pub fn from_file(path: &Path) -> Result<Self, SpaceError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SpaceError::Read {
            path: p.clone(),
            source,
        })?;
        Self::from_json_str(&text).map_err(|e| match e {
            SpaceError::Json { source, .. } => SpaceError::Json { path: p, source },
            SpaceError::Shape { msg, .. } => SpaceError::Shape { path: p, msg },
            other => other,
        })
    }

    /// Parses the JSON text of a search space file.
    pub fn from_json_str(text: &str) -> Result<Self, SpaceError> {
        let shape = |msg: String| SpaceError::Shape {
            path: String::new(),
            msg,
        };
        // Key order matters (it is the exploration order), so walk the raw
        // object with an order-preserving visitor instead of serde_json::Map.
        let ordered: OrderedObject =
            serde_json::from_str(text).map_err(|source| SpaceError::Json {
                path: String::new(),
                source,
            })?;
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for (name, value) in ordered.0 {
            if name.trim().is_empty() {
                return Err(shape("empty parameter name".into()));
            }
            Self::check_name(&name).map_err(shape)?;
            if groups.iter().any(|(n, _)| *n == name) {
                return Err(shape(format!(
                    "\"{name}\" is a key twice (a JSON reader keeps only one of its lists); give each parameter once"
                )));
            }
            let values: Vec<String> = match value {
                Value::Array(items) => items
                    .into_iter()
                    .map(|v| {
                        scalar_to_string(&v).ok_or_else(|| {
                            shape(format!(
                                "\"{name}\": values must be strings or numbers, found {v}"
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?,
                other => vec![scalar_to_string(&other).ok_or_else(|| {
                    shape(format!(
                        "\"{name}\": expected a list of values or a single value, found {other}"
                    ))
                })?],
            };
            if values.is_empty() {
                return Err(shape(format!("\"{name}\": the candidate list is empty")));
            }
            for v in &values {
                check_value(&name, v).map_err(shape)?;
            }
            let mut dedup: Vec<String> = Vec::new();
            for v in values {
                if !dedup.contains(&v) {
                    dedup.push(v);
                }
            }
            groups.push((name, dedup));
        }
        if groups.is_empty() {
            return Err(shape("no parameters in the file".into()));
        }
        Ok(SearchSpace {
            groups,
            request: Default::default(),
        })
    }

    /// Checks that a parameter name can be an environment variable of the
    /// service and the eval: `[A-Za-z_][A-Za-z0-9_]*` (`A=B` would run as
    /// `A=B=<value>`, a NUL cannot be passed at all), and not `PORT`, which
    /// the tuner sets itself. The message names the key.
    pub fn check_name(name: &str) -> Result<(), String> {
        if !is_var_name(name) {
            return Err(format!(
                "{name:?} is not an environment variable name (letters, digits and _, not starting with a digit)"
            ));
        }
        if name == "PORT" {
            return Err(
                "\"PORT\" cannot be tuned: the tuner sets it to --port for the service and the eval"
                    .into(),
            );
        }
        Ok(())
    }

    /// Names that are valid but change how every command of the trial runs
    /// (`PATH`, `LD_*`): worth a warning, since a bad value breaks the
    /// service's start rather than measuring a configuration.
    pub fn name_warnings(&self) -> Vec<String> {
        self.groups
            .iter()
            .map(|(n, _)| n)
            .filter(|n| *n == "PATH" || n.starts_with("LD_"))
            .map(|n| {
                format!(
                    "search space parameter {n} changes how the service and the eval commands themselves are found and loaded; a bad value fails the trial's start"
                )
            })
            .collect()
    }

    /// The values one group tries with `base`: the base's current value
    /// first, then each candidate not already listed.
    pub fn group_values(base: &Params, name: &str, candidates: &[String]) -> Vec<String> {
        let mut values = Vec::with_capacity(candidates.len() + 1);
        if let Some(cur) = base.get(name) {
            values.push(cur.clone());
        }
        for c in candidates {
            if !values.contains(c) {
                values.push(c.clone());
            }
        }
        values
    }

    /// The number of trials for a base that does not change during the run
    /// (what `--dry_run` prints as `trials~=N`), and their keys in order.
    pub fn plan(&self, base: &Params) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (name, cands) in &self.groups {
            for v in Self::group_values(base, name, cands) {
                let mut p = base.clone();
                p.insert(name.clone(), v.clone());
                out.push((name.clone(), v, trial_key(&p)));
            }
        }
        out
    }
}

/// Whether two values of a parameter are one setting for the service:
/// the same text, or two decimal numbers of equal value (`0.1`, `0.10`,
/// `1e-1`, `+0.100`). Only values that read as finite numbers on both sides
/// and are written as decimals (a `.` or an exponent) compare by value: an
/// integer spelling is a setting of its own (`64` and `64.0` differ, as a
/// service reading an integer refuses `64.0`; `010` may be octal), and
/// anything else (`inf`, `nan`, words, lists) compares as text.
pub fn same_value(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (decimal(a), decimal(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// The value of a decimal number's text: an optional sign, digits with a
/// `.` and/or an exponent, finite; `None` for anything else (an integer
/// spelling included).
fn decimal(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((i, f)) => {
            (digits(i) || i.is_empty()) && (digits(f) || f.is_empty()) && (i.len() + f.len() > 0)
        }
        None => digits(mantissa),
    };
    let exp_ok = exp.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    if !mantissa_ok || !exp_ok || (exp.is_none() && !mantissa.contains('.')) {
        return None;
    }
    s.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Converts a JSON scalar to the string the old tool would have used.
pub fn scalar_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        _ => None,
    }
}

/// Whether `name` can name an environment variable: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The trial key: params sorted by name, joined as `K1=v1|K2=v2|...`, as
/// `auto_tune.py` writes it.
///
/// Joined plainly, a value holding `|NAME=` would make two parameter sets
/// share a key (`A="1|B=2"` and `A="1", B="2"`), and one would never be
/// measured. Such a value (and one that starts with the escape mark `%%`) is
/// written escaped: `%%`, then the value with `%` as `%25` and `|` as `%7C`.
/// Every other value is written as it is, so ordinary keys stay
/// byte-identical to the old tool's and its results are reused.
pub fn trial_key(params: &Params) -> String {
    let mut s = String::new();
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            s.push('|');
        }
        s.push_str(k);
        s.push('=');
        push_key_value(&mut s, v);
    }
    s
}

/// The key `auto_tune.py` wrote for `params` (values never escaped): what
/// [`trial_key`] gives for every parameter set whose values need no escape.
pub fn plain_trial_key(params: &Params) -> String {
    let mut s = String::new();
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            s.push('|');
        }
        s.push_str(k);
        s.push('=');
        s.push_str(v);
    }
    s
}

/// The mark that starts an escaped value in a trial key.
const KEY_ESCAPE: &str = "%%";

/// Whether a value could be read as the end of one entry and the start of
/// the next in a plainly joined key: it holds a `|` followed by a `=` with
/// no `|` between (the shape of `|NAME=`), or starts with the escape mark.
pub fn key_value_needs_escape(v: &str) -> bool {
    if v.starts_with(KEY_ESCAPE) {
        return true;
    }
    let mut after_bar = false;
    for c in v.chars() {
        match c {
            '|' => after_bar = true,
            '=' if after_bar => return true,
            _ => {}
        }
    }
    false
}

fn push_key_value(s: &mut String, v: &str) {
    if !key_value_needs_escape(v) {
        s.push_str(v);
        return;
    }
    s.push_str(KEY_ESCAPE);
    for c in v.chars() {
        match c {
            '%' => s.push_str("%25"),
            '|' => s.push_str("%7C"),
            c => s.push(c),
        }
    }
}

/// The longest `NAME=value` string the kernel passes in an environment
/// (Linux's MAX_ARG_STRLEN, 128 KiB, its terminating NUL included): a
/// longer value makes every start of the service fail.
pub const MAX_ENV_STRLEN: usize = 128 * 1024;

/// Checks that a value can be passed in the environment as `name`'s: no
/// NUL character, and `NAME=value` within [`MAX_ENV_STRLEN`]. The message
/// names the key.
pub fn check_value(name: &str, value: &str) -> Result<(), String> {
    if value.contains('\0') {
        return Err(format!(
            "\"{name}\": a value holds a NUL character, which an environment variable cannot carry"
        ));
    }
    let len = name.len() + 1 + value.len() + 1;
    if len > MAX_ENV_STRLEN {
        return Err(format!(
            "\"{name}\": a value of {} bytes is over the environment's limit of {} KiB per variable (Linux's MAX_ARG_STRLEN)",
            value.len(),
            MAX_ENV_STRLEN / 1024
        ));
    }
    Ok(())
}

/// A JSON object read with its keys in file order.
struct OrderedObject(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for OrderedObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object mapping parameter names to values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<OrderedObject, A::Error> {
                // Every entry, a repeated key too: the caller refuses it
                // (last-wins would silently drop a list of candidates).
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(OrderedObject(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_plan_has_55_trials() {
        let plan = SearchSpace::builtin().plan(&default_params());
        assert_eq!(plan.len(), 55);
        // The base's value comes first in each group.
        assert_eq!(plan[0].0, "GPU_MEMORY_UTILIZATION");
        assert_eq!(plan[0].1, "0.97");
        // "0.1" (base) differs from "0.10" (candidate) as a string: as
        // auto_tune.py, the plain plan measures both.
        let fp: Vec<_> = plan
            .iter()
            .filter(|p| p.0 == "FREQUENCY_PENALTY")
            .map(|p| p.1.as_str())
            .collect();
        assert_eq!(fp, ["0.1", "0.00", "0.05", "0.10"]);
    }

    #[test]
    fn decimals_of_equal_value_are_one_setting() {
        for (a, b) in [
            ("0.1", "0.10"),
            ("1e-1", "0.1"),
            ("0.1", "+0.100"),
            ("1.0", "1.00"),
            ("1.05", "105e-2"),
            (".5", "0.5"),
            ("2.", "2.0"),
            ("0.00", "0.0"),
            ("abc", "abc"),
            ("64", "64"),
        ] {
            assert!(same_value(a, b), "{a} == {b}");
            assert!(same_value(b, a), "{b} == {a}");
        }
        for (a, b) in [
            // An integer spelling is a setting of its own.
            ("64", "64.0"),
            ("1", "1.00"),
            ("010", "10"),
            ("1e3", "1000"),
            // Not finite numbers, or not numbers: as text.
            ("inf", "infinity"),
            ("nan", "nan "),
            ("1e999", "2e999"),
            ("0.1 ", "0.1"),
            ("0x10", "16.0"),
            ("1_0.0", "10.0"),
            ("0.1,0.2", "0.10,0.2"),
            ("0.1", "0.2"),
            ("", "0.0"),
            (".", "0."),
        ] {
            assert!(!same_value(a, b), "{a} != {b}");
            assert!(!same_value(b, a), "{b} != {a}");
        }
    }

    #[test]
    fn distinct_keeps_one_spelling_per_setting_the_base_s_first() {
        // The built-in space from the defaults: FREQUENCY_PENALTY's "0.10"
        // is the base's "0.1"; nothing else changes.
        let mut s = SearchSpace::builtin();
        s.distinct(&default_params());
        let plan = s.plan(&default_params());
        assert_eq!(plan.len(), 54);
        let fp: Vec<_> = plan
            .iter()
            .filter(|p| p.0 == "FREQUENCY_PENALTY")
            .map(|p| p.1.as_str())
            .collect();
        assert_eq!(fp, ["0.1", "0.00", "0.05"]);
        let raw = SearchSpace::builtin().plan(&default_params());
        let keys: Vec<_> = plan.iter().map(|p| &p.2).collect();
        // Every remaining trial's key is the plain plan's, byte for byte.
        assert!(keys.iter().all(|k| raw.iter().any(|r| &r.2 == *k)));
        // A base spelt "0.10" keeps its spelling; duplicates within a list
        // keep the first.
        let mut base = default_params();
        base.insert("FREQUENCY_PENALTY".into(), "0.10".into());
        let mut s = SearchSpace::builtin();
        s.merge_distinct(
            SearchSpace::from_json_str(r#"{"X": ["1.5", "1.50", "15e-1", "2", "2.0"]}"#).unwrap(),
        );
        s.distinct(&base);
        let get = |n: &str| s.groups.iter().find(|g| g.0 == n).unwrap().1.clone();
        assert_eq!(get("FREQUENCY_PENALTY"), ["0.00", "0.05", "0.10"]);
        assert_eq!(get("X"), ["1.5", "2", "2.0"]);
    }

    #[test]
    fn merge_distinct_takes_the_file_s_spelling_in_place() {
        let mut s = SearchSpace::builtin();
        s.merge_distinct(
            SearchSpace::from_json_str(
                r#"{"FREQUENCY_PENALTY": ["0.1", "0.100", "0.2"], "REPETITION_PENALTY": [1.0]}"#,
            )
            .unwrap(),
        );
        let get = |n: &str| s.groups.iter().find(|g| g.0 == n).unwrap().1.clone();
        assert_eq!(get("FREQUENCY_PENALTY"), ["0.00", "0.05", "0.1", "0.2"]);
        // A JSON number 1.0 reads as "1.0", the built-in "1.00" is the same.
        assert_eq!(get("REPETITION_PENALTY"), ["1.0", "1.02", "1.05"]);
        // The plain merge keeps auto_tune.py's string comparison.
        let mut p = SearchSpace::builtin();
        p.merge(SearchSpace::from_json_str(r#"{"FREQUENCY_PENALTY": ["0.1"]}"#).unwrap());
        let fp = &p
            .groups
            .iter()
            .find(|g| g.0 == "FREQUENCY_PENALTY")
            .unwrap()
            .1;
        assert_eq!(fp, &["0.00", "0.05", "0.10", "0.1"]);
    }

    #[test]
    fn trial_key_sorted() {
        let mut p = Params::new();
        p.insert("B".into(), "2".into());
        p.insert("A".into(), "x|y".into());
        assert_eq!(trial_key(&p), "A=x|y|B=2");
    }

    #[test]
    fn trial_keys_are_unambiguous_and_plain_for_ordinary_values() {
        let p = |kv: &[(&str, &str)]| -> Params {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        // Ordinary values, `|` and `=` included, are written as they are.
        let d = default_params();
        assert_eq!(trial_key(&d), plain_trial_key(&d));
        assert!(trial_key(&d).contains("STOP_STRINGS=<|im_end|>,<|endoftext|>|"));
        let o = p(&[("A", "a=b|c"), ("B", "x|"), ("C", "%7C")]);
        assert_eq!(trial_key(&o), "A=a=b|c|B=x||C=%7C");
        // Values that would read as another entry are escaped.
        let a = p(&[("A", "1|B=2")]);
        let b = p(&[("A", "1"), ("B", "2")]);
        assert_eq!(plain_trial_key(&a), plain_trial_key(&b));
        assert_ne!(trial_key(&a), trial_key(&b));
        assert_eq!(trial_key(&a), "A=%%1%7CB=2");
        let c = p(&[("A", "x|B=y"), ("B", "z")]);
        let e = p(&[("A", "x"), ("B", "y|B=z")]);
        assert_ne!(trial_key(&c), trial_key(&e));
        // ...and so is a value that looks escaped already.
        let f = p(&[("A", "%%1%7CB=2")]);
        assert_ne!(trial_key(&f), trial_key(&a));
        assert_eq!(trial_key(&f), "A=%%%25%251%257CB=2");
    }

    #[test]
    fn merge_appends_values_and_names() {
        let mut s = SearchSpace::builtin();
        let f = SearchSpace::from_json_str(
            r#"{"ZZZ": [1, 2], "MAX_MODEL_LEN": ["4096", "1024"], "AAA": "x"}"#,
        )
        .unwrap();
        assert_eq!(f.groups[0].0, "ZZZ");
        assert_eq!(f.groups[2], ("AAA".to_string(), vec!["x".to_string()]));
        s.merge(f);
        let mml = &s.groups.iter().find(|g| g.0 == "MAX_MODEL_LEN").unwrap().1;
        assert_eq!(mml, &["768", "1024", "1536", "2048", "4096"]);
        let n = s.groups.len();
        assert_eq!(s.groups[n - 2].0, "ZZZ");
        assert_eq!(s.groups[n - 1].0, "AAA");
    }

    #[test]
    fn bad_space_files() {
        assert!(matches!(
            SearchSpace::from_json_str("{\"A\": [1,"),
            Err(SpaceError::Json { .. })
        ));
        let e = SearchSpace::from_json_str(r#"{"A": []}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"A\"") && e.contains("empty"), "{e}");
        assert!(SearchSpace::from_json_str(r#"[1]"#).is_err());
        assert!(SearchSpace::from_json_str(r#"{"A": [{"x": 1}]}"#).is_err());
        assert!(SearchSpace::from_json_str(r#"{}"#).is_err());
    }

    #[test]
    fn names_must_be_environment_names() {
        for bad in ["A=B", "1X", "X-Y", "A\0B", "a b", "PORT"] {
            let json = format!("{{{}: [1]}}", serde_json::to_string(bad).unwrap());
            let e = SearchSpace::from_json_str(&json).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{bad:?}: {e}");
        }
        let s =
            SearchSpace::from_json_str(r#"{"_x1": [1], "PATH": ["/bin"], "LD_PRELOAD": ["x"]}"#)
                .unwrap();
        let w = s.name_warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("PATH") && w[1].contains("LD_PRELOAD"));
        assert!(SearchSpace::builtin().name_warnings().is_empty());
        for (n, _) in &SearchSpace::builtin().groups {
            SearchSpace::check_name(n).unwrap();
        }
    }

    #[test]
    fn group_values_base_first() {
        let mut base = default_params();
        base.insert("X".into(), "9".into());
        let v = SearchSpace::group_values(&base, "X", &["1".into(), "9".into(), "2".into()]);
        assert_eq!(v, ["9", "1", "2"]);
        let v = SearchSpace::group_values(&base, "NEW", &["1".into()]);
        assert_eq!(v, ["1"]);
    }
}
