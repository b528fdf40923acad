//! The key table: every key the live screen takes, in one place, with the
//! label shown in the footer and the help.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Skip the running trial.
    Skip,
    /// Abort the run (asks to confirm).
    Abort,
    /// Pause after the current trial / resume.
    Pause,
    /// Quit (asks to confirm while the run goes on).
    Quit,
    /// Answer yes to a question.
    Confirm,
    /// Answer no, close help.
    Cancel,
    /// Scroll up a line.
    Up,
    /// Scroll down a line.
    Down,
    /// Scroll up a page.
    PageUp,
    /// Scroll down a page.
    PageDown,
    /// Scroll to the top.
    Home,
    /// Scroll to the bottom.
    End,
    /// Follow the log again.
    Follow,
    /// Move focus to the next panel.
    FocusNext,
    /// Show or hide help.
    Help,
}

/// `(key, modifiers, action, footer label, description)`; an empty label
/// keeps the key out of the footer (it is still in the help).
pub const BINDINGS: &[(KeyCode, KeyModifiers, Action, &str, &str)] = &[
    (
        KeyCode::Char('s'),
        KeyModifiers::NONE,
        Action::Skip,
        "s skip",
        "skip the running trial (recorded `skipped`)",
    ),
    (
        KeyCode::Char('a'),
        KeyModifiers::NONE,
        Action::Abort,
        "a abort",
        "abort the run (confirm with y)",
    ),
    (
        KeyCode::Char('p'),
        KeyModifiers::NONE,
        Action::Pause,
        "p pause",
        "pause after this trial / resume",
    ),
    (
        KeyCode::Char('q'),
        KeyModifiers::NONE,
        Action::Quit,
        "q quit",
        "quit (aborts first while running)",
    ),
    (
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
        Action::Quit,
        "",
        "quit",
    ),
    (
        KeyCode::Char('y'),
        KeyModifiers::NONE,
        Action::Confirm,
        "",
        "yes",
    ),
    (
        KeyCode::Char('n'),
        KeyModifiers::NONE,
        Action::Cancel,
        "",
        "no",
    ),
    (
        KeyCode::Esc,
        KeyModifiers::NONE,
        Action::Cancel,
        "",
        "close",
    ),
    (
        KeyCode::Up,
        KeyModifiers::NONE,
        Action::Up,
        "↑↓ PgUp/Dn scroll",
        "scroll up",
    ),
    (
        KeyCode::Down,
        KeyModifiers::NONE,
        Action::Down,
        "",
        "scroll down",
    ),
    (
        KeyCode::Char('k'),
        KeyModifiers::NONE,
        Action::Up,
        "",
        "scroll up",
    ),
    (
        KeyCode::Char('j'),
        KeyModifiers::NONE,
        Action::Down,
        "",
        "scroll down",
    ),
    (
        KeyCode::PageUp,
        KeyModifiers::NONE,
        Action::PageUp,
        "",
        "scroll a page up",
    ),
    (
        KeyCode::PageDown,
        KeyModifiers::NONE,
        Action::PageDown,
        "",
        "scroll a page down",
    ),
    (
        KeyCode::Home,
        KeyModifiers::NONE,
        Action::Home,
        "",
        "scroll to the top",
    ),
    (
        KeyCode::End,
        KeyModifiers::NONE,
        Action::End,
        "",
        "scroll to the bottom",
    ),
    (
        KeyCode::Char('f'),
        KeyModifiers::NONE,
        Action::Follow,
        "f follow",
        "follow the log again",
    ),
    (
        KeyCode::Tab,
        KeyModifiers::NONE,
        Action::FocusNext,
        "Tab focus",
        "move focus between the log and the recent trials",
    ),
    (
        KeyCode::Char('?'),
        KeyModifiers::NONE,
        Action::Help,
        "? help",
        "this help",
    ),
];

/// The action of a key press.
pub fn action_for(k: KeyEvent) -> Option<Action> {
    let mods = k.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
    BINDINGS
        .iter()
        .find(|(code, m, ..)| *code == k.code && *m == mods)
        .map(|(_, _, a, ..)| *a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lookup() {
        assert_eq!(
            action_for(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::NONE)),
            Some(Action::Skip)
        );
        assert_eq!(
            action_for(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            action_for(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::SHIFT)),
            Some(Action::Help)
        );
        assert_eq!(
            action_for(KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE)),
            None
        );
    }
}
