//! What the coordinate search learns of each parameter (its effects beyond
//! the noise) and the joint moves it makes of them after the passes:
//! refinement around the base, trades against the bar, probes of
//! interactions.

use super::*;

impl Planner {
    /// Whether changes of `name` moved throughput or accuracy beyond the
    /// pooled noise (or made the service fail) when last measured; a
    /// parameter never measured may matter.
    pub(super) fn matters(&self, name: &str) -> bool {
        self.effect_size(name).is_none_or(|e| e > 0.0)
    }

    /// The largest change of `name`'s values beyond the noise, in relative
    /// tok/s (infinite for a failure, 0 when nothing moved beyond the
    /// noise); `None` if never measured.
    pub(super) fn effect_size(&self, name: &str) -> Option<f64> {
        if !self.effects_apply() {
            return None;
        }
        let m = self.effects.0.get(name)?;
        let cur = self.base.get(name)?;
        let Some(Some((rc, dc, nc))) = m.get(cur) else {
            return Some(f64::INFINITY);
        };
        let mut size: f64 = 0.0;
        for e in m.values() {
            let Some((r, d, n)) = e else {
                size = f64::INFINITY;
                continue;
            };
            let se = (1.0 / *n as f64 + 1.0 / *nc as f64).sqrt();
            let dt = (r / rc - 1.0).abs();
            if dt > INTERACTION_Z * self.noise.tps_rel_sd() * se + 1e-9 {
                size = size.max(dt);
            }
            if (d - dc).abs() > INTERACTION_Z * self.noise.acc_sd() * se + 1e-9 {
                size = size.max(dt.max(1e-6));
            }
        }
        Some(size)
    }

    /// The joint moves of the next refinement round: 2 to
    /// [`REFINE_RADIUS`] at once of the parameters shown to interact (with
    /// an effect beyond the noise), ranked by what their measured effects
    /// predict,
    /// without those measured already, predicted to fail or predicted
    /// clearly under the accuracy bar.
    pub(super) fn refinement(&self) -> Vec<Move> {
        if !self.effects_apply() {
            return Vec::new();
        }
        let Some(base_rec) = self.measured.get(&trial_key(&self.base)) else {
            return Vec::new();
        };
        let Some((_, acc0, _)) = self.figures(base_rec) else {
            return Vec::new();
        };
        let mut sized: Vec<(f64, usize)> = self
            .space
            .groups
            .iter()
            .enumerate()
            .filter_map(|(i, (name, _))| {
                self.effect_size(name).filter(|e| *e > 0.0).map(|e| (e, i))
            })
            .collect();
        sized.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        // The parameters with the largest effects (a local optimum shows
        // no interaction), and those a later pass showed to interact: its
        // probes disagreed with what their values did before.
        let mut chosen: Vec<usize> = sized
            .iter()
            .enumerate()
            .filter(|(k, (_, i))| *k < REFINE_TOP || self.interacting.contains(i))
            .map(|x| x.1.1)
            .collect();
        chosen.sort();
        let inter: Vec<&str> = self
            .interacting
            .iter()
            .map(|&i| self.space.groups[i].0.as_str())
            .collect();
        let among = |m: &Move| m.changes.iter().all(|(k, _)| inter.contains(&k.as_str()));
        let params: Vec<(String, Vec<String>)> = chosen
            .iter()
            .map(|&i| self.space.groups[i].clone())
            .collect();
        let trades = self.bar_trades(acc0);
        let mut seen_moves = std::collections::BTreeSet::new();
        joint_moves(&params, &self.base, &self.effects, REFINE_RADIUS)
            .into_iter()
            .chain(trades)
            .filter(|m| seen_moves.insert(m.changes.clone()))
            .filter(|m| {
                // Between parameters shown to interact the additive
                // prediction may be far off: a wider floor.
                let floor = if among(m) {
                    INTERACTING_FLOOR
                } else {
                    REFINE_FLOOR
                };
                acc0 + m.acc >= self.threshold - ACC_SLACK && m.tps >= floor
            })
            .filter(|m| {
                let mut p = self.base.clone();
                for (k, v) in &m.changes {
                    p.insert(k.clone(), v.clone());
                }
                let k = trial_key(&p);
                // A record of the results file is reused when the move is
                // handed out: a resumed run picks the moves the run that
                // made it picked.
                !self.measured.contains_key(&k) && self.predicted(&p).is_none()
            })
            .scan((0, 0, 0), |(plain, joint, trade), m| {
                let (n, cap) = if among(&m) {
                    (joint, INTERACTING_MOVES)
                } else if m.trade {
                    (trade, TRADE_MOVES)
                } else {
                    (plain, REFINE_MOVES)
                };
                *n += 1;
                Some((*n <= cap).then_some(m))
            })
            .flatten()
            .collect()
    }

    /// Trades against the accuracy bar: a value that gains tok/s but took
    /// accuracy under the bar, paired with a value of another parameter
    /// that gives accuracy back for less tok/s than the first gains (four
    /// sentences instead of six, with a repetition penalty that restores
    /// the answers). The second is often a parameter of small tok/s effect,
    /// outside the largest effects the other joint moves pair, and neither
    /// move alone is better than the base, so only the pair finds it.
    /// Predicted by the measured effects, best first.
    pub(super) fn bar_trades(&self, acc0: f64) -> Vec<Move> {
        // Every other value of every parameter with what it did, relative
        // to the base's value: (group, value, tok/s ratio, accuracy).
        // An accuracy given back within one standard error of the noise
        // of two means is no trade (about half of the parameters without
        // an effect would qualify). The gain is not gated: a refused gain
        // is often measured in the two runs of a pruned trial, and gating
        // it lost the trade in a tenth of the near-noise-free benchmark
        // seeds for no fewer trials.
        let mut vals: Vec<(usize, &str, f64, f64, bool, bool)> = Vec::new();
        for (i, (name, cands)) in self.space.groups.iter().enumerate() {
            let Some(cur) = self.base.get(name) else {
                continue;
            };
            for v in cands.iter().filter(|v| *v != cur) {
                if let Some((r, d, n, nc)) = self.effects.relative(name, cur, v) {
                    let se = (1.0 / n as f64 + 1.0 / nc as f64).sqrt();
                    let gains = r > 1.0;
                    let gives = d > self.noise.acc_sd() * se + 1e-9;
                    vals.push((i, v, r, d, gains, gives));
                }
            }
        }
        let mut out = Vec::new();
        for &(i, vi, ri, di, gains, _) in &vals {
            // A gain the bar refused.
            if !(gains && acc0 + di < self.threshold) {
                continue;
            }
            for &(j, vj, rj, dj, _, gives) in &vals {
                // Accuracy given back, for less than the gain.
                if j == i || !gives || acc0 + di + dj < self.threshold || ri * rj <= 1.0 {
                    continue;
                }
                let mut changes = vec![
                    (i, self.space.groups[i].0.clone(), vi.to_string()),
                    (j, self.space.groups[j].0.clone(), vj.to_string()),
                ];
                changes.sort();
                out.push(Move {
                    changes: changes.into_iter().map(|(_, k, v)| (k, v)).collect(),
                    tps: ri * rj,
                    acc: di + dj,
                    trade: true,
                });
            }
        }
        out.sort_by(|a, b| {
            b.tps
                .total_cmp(&a.tps)
                .then_with(|| a.changes.cmp(&b.changes))
        });
        out
    }

    /// Whether the probes of a later pass behave as their values did the
    /// last time (the same ratio to the current value, the same accuracy
    /// difference, within the noise): if not, the parameter interacts with
    /// what changed since, and the whole group is measured again.
    pub(super) fn probes_agree(&self, g: &GroupState) -> bool {
        if !self.effects_apply() {
            return false;
        }
        let Some((name, cur)) = g.slots[0].changes.single() else {
            return false;
        };
        let Some((t0, a0, n0)) = g.results[0].as_ref().and_then(|r| self.figures(r)) else {
            return false;
        };
        for (s, r) in g.slots.iter().zip(&g.results).skip(1) {
            let now = r.as_ref().and_then(|r| self.figures(r));
            let was = self.effects.relative(name, cur, s.value());
            let (Some((t, a, n)), Some((rw, dw, nw, ncw))) = (now, was) else {
                if now.is_some() || was.is_some() {
                    return false;
                }
                continue;
            };
            let se = (1.0 / n as f64 + 1.0 / n0 as f64 + 1.0 / nw as f64 + 1.0 / ncw as f64).sqrt();
            if ((t / t0) / rw - 1.0).abs() > PROBE_Z * self.noise.tps_rel_sd() * se + 1e-9 {
                return false;
            }
            if ((a - a0) - dw).abs() > PROBE_Z * self.noise.acc_sd() * se + 1e-9 {
                return false;
            }
        }
        true
    }

    /// Whether probes that disagreed show an interaction large enough for
    /// the refinement's wider floor: a value that served then and fails now
    /// (or the reverse), a tok/s ratio off by more than
    /// [`MIN_INTERACTION`], or an accuracy difference off by more than
    /// [`MIN_ACC_INTERACTION`]. Without noise any deviation disagrees, and
    /// figures read back from a service's output are rounded: those are
    /// not interactions worth joint moves.
    pub(super) fn interaction_size(&self, g: &GroupState) -> bool {
        let Some((name, cur)) = g.slots[0].changes.single() else {
            return true;
        };
        let Some((t0, a0, _)) = g.results[0].as_ref().and_then(|r| self.figures(r)) else {
            return true;
        };
        g.slots.iter().zip(&g.results).skip(1).any(|(s, r)| {
            let now = r.as_ref().and_then(|r| self.figures(r));
            match (now, self.effects.relative(name, cur, s.value())) {
                (Some((t, a, _)), Some((rw, dw, _, _))) => {
                    ((t / t0) / rw - 1.0).abs() > MIN_INTERACTION
                        || ((a - a0) - dw).abs() > MIN_ACC_INTERACTION
                }
                (None, None) => false,
                _ => true,
            }
        })
    }

    /// Notes what each value of the open group did (pass groups only).
    pub(super) fn record_effects(&mut self, full: bool) {
        if !self.effects_apply() {
            return;
        }
        let g = self.current.as_ref().expect("open");
        let Some(index) = g.index else { return };
        let name = self.space.groups[index].0.clone();
        let Some(cur) = g.base.get(&name).cloned() else {
            return;
        };
        let seen: Vec<Seen> = g
            .slots
            .iter()
            .zip(&g.results)
            .map(|(s, r)| {
                (
                    s.value().to_string(),
                    r.as_ref().and_then(|r| self.figures(r)),
                )
            })
            .collect();
        self.effects.update(&name, &cur, &seen, full);
    }
}
