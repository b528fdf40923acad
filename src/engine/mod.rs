//! The tuning engine: everything that runs trials and keeps their files. It
//! knows nothing of terminals; front ends consume its [`event::Event`]s and
//! send it [`event::Command`]s.

pub mod alerts;
pub mod config;
pub mod eval;
pub mod event;
pub mod process;
pub mod record;
pub mod search;
pub mod service;
pub mod status_file;
pub mod store;
pub mod tuner;
