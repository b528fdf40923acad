//! The space as the model sees it: every parameter a list of levels (the
//! base's value first, then the other candidates), a configuration a level
//! per parameter, and the features of a configuration: an intercept, the
//! one-hot of every level, and the one-hot of the (model length x max new
//! tokens) pair, whose effects are known to interact (a short model length
//! truncates long answers).

use crate::engine::search::{Params, SearchSpace};

/// A configuration: the level of each parameter, in the space's order.
pub type Levels = Vec<u16>;

/// The pair of parameters modelled jointly, when the space has both.
pub const PAIR: (&str, &str) = ("MAX_MODEL_LEN", "MAX_NEW_TOKENS");

/// How configurations map to levels and features.
#[derive(Debug, Clone)]
pub struct Coding {
    /// Parameter names, in the space's order.
    pub names: Vec<String>,
    /// Each parameter's levels, the base's value first.
    pub levels: Vec<Vec<String>>,
    /// Whether the service reads the parameter at start-up (so it may make
    /// the start fail).
    pub startup: Vec<bool>,
    /// Feature index of each parameter's first level (0 is the intercept).
    offset: Vec<usize>,
    /// The modelled pair: its parameters and the feature index of its first
    /// cell.
    pub pair: Option<(usize, usize, usize)>,
    /// Number of features.
    pub dim: usize,
    /// The base: values of parameters outside the space.
    base: Params,
}

impl Coding {
    /// The coding of `space` around `base`.
    pub fn new(space: &SearchSpace, base: &Params) -> Self {
        let mut names = Vec::new();
        let mut levels = Vec::new();
        let mut startup = Vec::new();
        let mut offset = Vec::new();
        let mut dim = 1;
        for (name, cands) in &space.groups {
            let ls = SearchSpace::group_values(base, name, cands);
            offset.push(dim);
            dim += ls.len();
            names.push(name.clone());
            startup.push(!space.request.contains(name));
            levels.push(ls);
        }
        let find = |n: &str| names.iter().position(|x| x == n);
        let pair = match (find(PAIR.0), find(PAIR.1)) {
            (Some(a), Some(b)) => {
                let at = dim;
                dim += levels[a].len() * levels[b].len();
                Some((a, b, at))
            }
            _ => None,
        };
        Coding {
            names,
            levels,
            startup,
            offset,
            pair,
            dim,
            base: base.clone(),
        }
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// The base configuration (every parameter at the base's value).
    pub fn base_levels(&self) -> Levels {
        vec![0; self.len()]
    }

    /// The parameter set of `c`.
    pub fn decode(&self, c: &[u16]) -> Params {
        let mut p = self.base.clone();
        for (j, l) in c.iter().enumerate() {
            p.insert(self.names[j].clone(), self.levels[j][*l as usize].clone());
        }
        p
    }

    /// Feature index of parameter `j` at level `l`.
    pub fn feature(&self, j: usize, l: u16) -> usize {
        self.offset[j] + l as usize
    }

    /// Feature index of the pair's cell at levels `(la, lb)`.
    pub fn pair_feature(&self, la: u16, lb: u16) -> Option<usize> {
        let (_, b, at) = self.pair?;
        Some(at + la as usize * self.levels[b].len() + lb as usize)
    }

    /// The features of `c` that are 1 (all others are 0).
    pub fn features(&self, c: &[u16]) -> Vec<usize> {
        let mut f = Vec::with_capacity(c.len() + 2);
        f.push(0);
        for (j, l) in c.iter().enumerate() {
            f.push(self.feature(j, *l));
        }
        if let Some((a, b, _)) = self.pair {
            f.extend(self.pair_feature(c[a], c[b]));
        }
        f
    }

    /// Prior standard deviations: the intercept's, a level's, a pair cell's.
    pub fn prior_sd(&self, intercept: f64, main: f64, pair: f64) -> Vec<f64> {
        let mut sd = vec![main; self.dim];
        sd[0] = intercept;
        if let Some((_, _, at)) = self.pair {
            for s in &mut sd[at..] {
                *s = pair;
            }
        }
        sd
    }

    /// Whether parameter `j` takes part in the modelled pair.
    pub fn in_pair(&self, j: usize) -> bool {
        self.pair.is_some_and(|(a, b, _)| j == a || j == b)
    }

    /// What `c` changes from the base, short enough for a line: each
    /// start-up parameter away from the base as `K=v`, then how many
    /// per-request ones (`base` when nothing changes).
    pub fn describe(&self, c: &[u16]) -> String {
        let mut parts: Vec<String> = c
            .iter()
            .enumerate()
            .filter(|(j, l)| **l != 0 && self.startup[*j])
            .map(|(j, l)| format!("{}={}", self.names[j], self.levels[j][*l as usize]))
            .collect();
        let request = c
            .iter()
            .enumerate()
            .filter(|(j, l)| **l != 0 && !self.startup[*j])
            .count();
        if request > 0 {
            parts.push(format!("{request} per-request"));
        }
        if parts.is_empty() {
            "base".into()
        } else {
            parts.join(" ")
        }
    }
}
