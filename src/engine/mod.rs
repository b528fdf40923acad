//! The tuning engine: everything that chooses, runs and records trials. It
//! knows nothing of terminals; front ends consume its [`event::Event`]s and
//! send it [`event::Command`]s.

pub mod best;
pub mod choice;
pub mod config;
pub mod eval;
pub mod event;
pub mod exec;
pub mod explore;
pub mod goal;
pub mod landscape;
pub mod noise;
pub mod outcome;
pub mod process;
pub mod progress;
pub mod record;
pub mod remote;
pub mod search;
pub mod service;
pub mod simulate;
pub mod sink;
pub mod slot;
pub mod stats;
pub mod status_file;
pub mod store;
pub mod trial;
pub mod tuner;
