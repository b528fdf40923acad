//! `autotune browse`: review a results file, compare runs, or watch a
//! headless run from another window.

pub mod app;
pub mod keys;
pub mod model;
pub mod state;
pub mod view;
