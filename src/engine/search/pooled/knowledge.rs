//! What the records a proposal may see say: the model's observations (one
//! per configuration, every run of it pooled), the within-trial spread,
//! failures and what served, and what each configuration measured.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::coding::{Coding, Levels};
use super::failures::Failures;
use super::model::{Model, Obs, Spread};
use crate::engine::goal::Goal;
use crate::engine::noise::{Samples, samples_of};
use crate::engine::record::{Record, Status};

/// Everything learnt from a set of records.
#[derive(Debug, Clone, Default)]
pub struct Knowledge {
    /// Every ok run of each configuration.
    pub measured: BTreeMap<Levels, Samples>,
    /// Within-trial spread.
    pub spread: Spread,
    /// Failures and what served.
    pub failures: Failures,
    /// Whether the objective is modelled on the log scale (every figure
    /// positive, as tok/s is); otherwise relative to its mean magnitude.
    pub log: bool,
    /// The scale of the objective when not on the log scale.
    pub scale: f64,
}

impl Knowledge {
    /// Learns from `records` (the ones the configuration of each is known
    /// for, in order).
    pub fn of<'a>(
        coding: &Coding,
        goal: &Goal,
        records: impl Iterator<Item = (&'a Levels, &'a Arc<Record>)>,
    ) -> Self {
        let mut k = Knowledge::default();
        let mut per_trial: Vec<Samples> = Vec::new();
        for (c, r) in records {
            match r.status {
                Status::Crashed | Status::Timeout => {
                    k.failures.failed(coding, c, r.status == Status::Timeout);
                    continue;
                }
                _ => {}
            }
            let s = samples_of(r, goal);
            if s.n() == 0 {
                continue;
            }
            k.failures.served(coding, c);
            k.measured.entry(c.clone()).or_default().extend(&s);
            per_trial.push(s);
        }
        let all: Vec<f64> = per_trial
            .iter()
            .flat_map(|s| s.objective.iter().copied())
            .collect();
        k.log = all.iter().all(|t| *t > 0.0);
        k.scale = (all.iter().map(|t| t.abs()).sum::<f64>() / all.len().max(1) as f64).max(1e-12);
        for s in &per_trial {
            let t: Vec<f64> = s.objective.iter().map(|x| k.transform(*x)).collect();
            k.spread.add(&t, &s.constraint);
        }
        k
    }

    /// The objective as the model sees it.
    pub fn transform(&self, t: f64) -> f64 {
        if self.log { t.ln() } else { t / self.scale }
    }

    /// The model's observations.
    pub fn observations(&self, coding: &Coding) -> Vec<Obs> {
        self.measured
            .iter()
            .map(|(c, s)| Obs {
                feats: coding.features(c),
                n: s.n() as f64,
                t: s.objective.iter().map(|x| self.transform(*x)).sum::<f64>() / s.n() as f64,
                a: s.constraint_mean(),
            })
            .collect()
    }

    /// The model fitted to these records.
    pub fn model(&self, coding: &Coding) -> Model {
        Model::fit(coding, &self.observations(coding), &self.spread)
    }
}
