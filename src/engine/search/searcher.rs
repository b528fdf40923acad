//! The searcher seam: what the engine loop asks of a search policy, in the
//! manner of Optuna's samplers and Ray Tune's `Searcher`. A searcher is
//! pure (no I/O, no clock): it proposes the next trials from everything
//! recorded so far, hears each result, says how to judge a running trial
//! (its [`super::coordinate::TrialSpec::judge`]: the pruning verdicts that stop it early), and
//! says what it has chosen. Fed the same records it makes the same choices,
//! so a resumed run, and a reader of a results file
//! ([`crate::engine::choice`]), replay it.
//!
//! The engine asks for steps while a slot is free: every [`Step::Run`] it
//! gets before a [`Step::Wait`] is a batch that may run at once.

use std::sync::Arc;

use super::Params;
use super::coordinate::{Planner, Step};
use crate::engine::goal::Goal;
use crate::engine::noise::PooledNoise;
use crate::engine::progress::Spending;
use crate::engine::record::Record;

/// Which searcher a run builds (recorded in its setup; a setup without
/// one, written before there was a choice, is coordinate ascent).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearcherKind {
    /// Coordinate ascent (`--search_policy plain` and `noise-aware`).
    #[default]
    Coordinate,
    /// The pooled, model-based search (`--search_policy pooled`).
    Pooled(super::pooled::PooledSetup),
}

/// A search policy driven by the engine loop.
pub trait Searcher: Send {
    /// What the search wants next: a group announced, a trial to run, a
    /// record reused, a trial predicted to fail, a decision, a wait for
    /// results in flight, or the end.
    fn step(&mut self) -> Step;
    /// The record of the trial issued at `ordinal` (in any order).
    fn record(&mut self, ordinal: usize, record: Arc<Record>);
    /// The configuration the search has chosen so far (the start until it
    /// takes another): the winner, for every front end.
    fn choice(&self) -> &Params;
    /// The run-to-run noise it has pooled: how sure its judgements are.
    fn noise(&self) -> &PooledNoise;
    /// What it optimises and must meet.
    fn goal(&self) -> &Goal;
    /// The number of trials of its plan as it stands (the estimate the
    /// header and `--dry_run` show).
    fn estimate(&self) -> usize;
    /// What it has spent of its budget and will spend at most (the
    /// progress every front end shows).
    fn spending(&self) -> Spending;
    /// What its model believes around its choice, for a screen to show
    /// (`None`: it has no model).
    fn beliefs(&self) -> Option<crate::engine::search::pooled::beliefs::Beliefs> {
        None
    }
    /// Once the search is over: what a larger budget would likely add, in
    /// words (`None`: the searcher cannot say).
    fn outlook(&self) -> Option<String> {
        None
    }
    /// What it has to tell the user since last asked, each thing once (a
    /// configuration whose noise it stopped trusting): warnings.
    fn take_notes(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// Coordinate ascent (`--search_policy plain` and `noise-aware`).
impl Searcher for Planner {
    fn step(&mut self) -> Step {
        Planner::step(self)
    }
    fn record(&mut self, ordinal: usize, record: Arc<Record>) {
        Planner::record(self, ordinal, record)
    }
    fn choice(&self) -> &Params {
        self.base()
    }
    fn noise(&self) -> &PooledNoise {
        Planner::noise(self)
    }
    fn goal(&self) -> &Goal {
        Planner::goal(self)
    }
    fn estimate(&self) -> usize {
        Planner::estimate(self)
    }
    fn spending(&self) -> Spending {
        Planner::spending(self)
    }
    fn take_notes(&mut self) -> Vec<String> {
        Planner::take_notes(self)
    }
}

/// A boxed searcher is a searcher (the engine holds one it chose at run
/// time).
impl<S: Searcher + ?Sized> Searcher for Box<S> {
    fn step(&mut self) -> Step {
        (**self).step()
    }
    fn record(&mut self, ordinal: usize, record: Arc<Record>) {
        (**self).record(ordinal, record)
    }
    fn choice(&self) -> &Params {
        (**self).choice()
    }
    fn noise(&self) -> &PooledNoise {
        (**self).noise()
    }
    fn goal(&self) -> &Goal {
        (**self).goal()
    }
    fn estimate(&self) -> usize {
        (**self).estimate()
    }
    fn spending(&self) -> Spending {
        (**self).spending()
    }
    fn take_notes(&mut self) -> Vec<String> {
        (**self).take_notes()
    }
    fn outlook(&self) -> Option<String> {
        (**self).outlook()
    }
    fn beliefs(&self) -> Option<crate::engine::search::pooled::beliefs::Beliefs> {
        (**self).beliefs()
    }
}
