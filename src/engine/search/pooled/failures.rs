//! Crashes and hangs: which start-up settings a failure blames, and
//! whether a configuration may be started.
//!
//! A failure blames what is new in it: the start-up levels that never
//! served if it has any (screening tries every new start-up level in the
//! base's start-up context, so there a failure blames that level alone),
//! else its start-up pairs never served together, else its whole start-up
//! combination. A configuration holding `m` of a failure's `k` suspects
//! fails with risk `m / k`: a crash (cheap) is avoided only when certain, a
//! hang (a whole start-up timeout) already at a risk of one half. Serving
//! clears a suspect. Parameters read per request never carry the blame.

use std::collections::HashSet;

use super::coding::{Coding, Levels};

/// A start-up setting: parameter index and level.
type Setting = (usize, u16);

/// One failure: the start-up settings of its configuration.
#[derive(Debug, Clone)]
struct Failure {
    settings: Vec<Setting>,
    hang: bool,
}

/// What failed and what served, over the start-up parameters.
#[derive(Debug, Clone, Default)]
pub struct Failures {
    failures: Vec<Failure>,
    served_single: HashSet<Setting>,
    served_pair: HashSet<(Setting, Setting)>,
    served_combo: HashSet<Vec<Setting>>,
}

/// The start-up settings of `c`.
fn settings(coding: &Coding, c: &[u16]) -> Vec<Setting> {
    (0..coding.len())
        .filter(|&j| coding.startup[j])
        .map(|j| (j, c[j]))
        .collect()
}

/// A risk at or above this of a hang is not started.
const HANG_RISK: f64 = 0.5;

impl Failures {
    /// Notes a configuration that served.
    pub fn served(&mut self, coding: &Coding, c: &Levels) {
        let s = settings(coding, c);
        for (i, a) in s.iter().enumerate() {
            self.served_single.insert(*a);
            for b in &s[i + 1..] {
                self.served_pair.insert((*a, *b));
            }
        }
        self.served_combo.insert(s);
    }

    /// Notes a configuration that crashed (`hang`: timed out).
    pub fn failed(&mut self, coding: &Coding, c: &Levels, hang: bool) {
        self.failures.push(Failure {
            settings: settings(coding, c),
            hang,
        });
    }

    /// Whether the start-up combination of `c` has served.
    pub fn combo_served(&self, coding: &Coding, c: &[u16]) -> bool {
        self.served_combo.contains(&settings(coding, c))
    }

    /// Whether `c` may be started: no failure makes a crash certain or a
    /// hang likely (see the module).
    pub fn allowed(&self, coding: &Coding, c: &[u16]) -> bool {
        self.why_not(coding, c).is_none()
    }

    /// Why `c` is not started, if it is not.
    pub fn why_not(&self, coding: &Coding, c: &[u16]) -> Option<String> {
        if self.failures.is_empty() {
            return None;
        }
        let mine = settings(coding, c);
        let has = |s: &Setting| mine.contains(s);
        for f in &self.failures {
            let singles: Vec<Setting> = f
                .settings
                .iter()
                .filter(|s| !self.served_single.contains(s))
                .copied()
                .collect();
            let (held, of, what) = if !singles.is_empty() {
                (
                    singles.iter().filter(|s| has(s)).count(),
                    singles.len(),
                    describe(coding, &singles),
                )
            } else {
                let mut pairs = Vec::new();
                for (i, a) in f.settings.iter().enumerate() {
                    for b in &f.settings[i + 1..] {
                        if !self.served_pair.contains(&(*a, *b)) {
                            pairs.push((*a, *b));
                        }
                    }
                }
                if pairs.is_empty() {
                    let same = usize::from(mine == f.settings);
                    (same, 1, describe(coding, &f.settings))
                } else {
                    let held = pairs.iter().filter(|(a, b)| has(a) && has(b)).count();
                    let what = pairs
                        .iter()
                        .map(|(a, b)| describe(coding, &[*a, *b]))
                        .collect::<Vec<_>>()
                        .join(" or ");
                    (held, pairs.len(), what)
                }
            };
            if held == 0 {
                continue;
            }
            let risk = held as f64 / of as f64;
            if risk >= 1.0 || (f.hang && risk >= HANG_RISK) {
                let verb = if f.hang { "timed out" } else { "crashed" };
                return Some(format!(
                    "predicted to fail: a configuration with {what} {verb} and never served"
                ));
            }
        }
        None
    }
}

/// `K=v+K=v` of settings.
fn describe(coding: &Coding, s: &[Setting]) -> String {
    s.iter()
        .map(|(j, l)| format!("{}={}", coding.names[*j], coding.levels[*j][*l as usize]))
        .collect::<Vec<_>>()
        .join("+")
}
