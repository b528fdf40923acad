//! Terminal front ends (ratatui): the live screen of a tuning run. The
//! render is a pure function of [`state::LiveState`]; events from the engine
//! and keys change the state through [`state::LiveState::update`] and
//! [`keys::action_for`].

pub mod app;
pub mod browse;
pub mod keys;
pub mod logtail;
pub mod panels;
pub mod state;
pub mod theme;
