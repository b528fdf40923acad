//! The browse screen's key table.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::ui::keys::{Table, lookup};

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Quit.
    Quit,
    /// Selection / scroll up.
    Up,
    /// Selection / scroll down.
    Down,
    /// A page up.
    PageUp,
    /// A page down.
    PageDown,
    /// First row.
    Home,
    /// Last row.
    End,
    /// Open the detail.
    Open,
    /// Open the service log.
    Log,
    /// Open the chart of the selected row's parameter.
    Chart,
    /// Open the sort menu (then a column's key).
    Sort,
    /// Flip the sort direction.
    Reverse,
    /// Cycle the status filter.
    StatusFilter,
    /// Type a text filter.
    TextFilter,
    /// Jump to the best trial.
    Best,
    /// Back to the table; on the table, clear the filters.
    Back,
    /// Copy the detail's params as `export K=V` lines.
    Copy,
    /// Copy the file's best configuration as `export K=V` lines.
    CopyBest,
    /// Help.
    Help,
}

/// The browse screen's keys.
pub const BINDINGS: &Table<Action> = &[
    (
        KeyCode::Char('q'),
        KeyModifiers::NONE,
        Action::Quit,
        "q quit",
        "quit",
    ),
    (
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
        Action::Quit,
        "",
        "quit",
    ),
    (
        KeyCode::Up,
        KeyModifiers::NONE,
        Action::Up,
        "↑↓ PgUp/Dn move",
        "previous row / scroll up",
    ),
    (
        KeyCode::Down,
        KeyModifiers::NONE,
        Action::Down,
        "",
        "next row / scroll down",
    ),
    (
        KeyCode::Char('k'),
        KeyModifiers::NONE,
        Action::Up,
        "",
        "previous row",
    ),
    (
        KeyCode::Char('j'),
        KeyModifiers::NONE,
        Action::Down,
        "",
        "next row",
    ),
    (
        KeyCode::PageUp,
        KeyModifiers::NONE,
        Action::PageUp,
        "",
        "a page up",
    ),
    (
        KeyCode::PageDown,
        KeyModifiers::NONE,
        Action::PageDown,
        "",
        "a page down",
    ),
    (
        KeyCode::Home,
        KeyModifiers::NONE,
        Action::Home,
        "",
        "first row",
    ),
    (
        KeyCode::End,
        KeyModifiers::NONE,
        Action::End,
        "",
        "last row (and follow new ones)",
    ),
    (
        KeyCode::Enter,
        KeyModifiers::NONE,
        Action::Open,
        "Enter detail",
        "every param, eval run, health and log path of the trial",
    ),
    (
        KeyCode::Char('l'),
        KeyModifiers::NONE,
        Action::Log,
        "l log",
        "the trial's service log",
    ),
    (
        KeyCode::Char('c'),
        KeyModifiers::NONE,
        Action::Chart,
        "c chart",
        "tok/s and accuracy by value of the selected row's parameter",
    ),
    (
        KeyCode::Char('o'),
        KeyModifiers::NONE,
        Action::Sort,
        "o sort",
        "sort: opens a menu, then a column's key (the same column again flips)",
    ),
    (
        KeyCode::Char('r'),
        KeyModifiers::NONE,
        Action::Reverse,
        "r reverse",
        "reverse the order",
    ),
    (
        KeyCode::Char('t'),
        KeyModifiers::NONE,
        Action::StatusFilter,
        "t status",
        "filter by status (cycles through the statuses present)",
    ),
    (
        KeyCode::Char('/'),
        KeyModifiers::NONE,
        Action::TextFilter,
        "/ filter",
        "filter by param name or value (Enter keeps, Esc clears)",
    ),
    (
        KeyCode::Char('b'),
        KeyModifiers::NONE,
        Action::Best,
        "b best",
        "jump to the best trial meeting the threshold",
    ),
    (
        KeyCode::Esc,
        KeyModifiers::NONE,
        Action::Back,
        "Esc back",
        "back to the table; on the table, clear the filters",
    ),
    (
        KeyCode::Char('e'),
        KeyModifiers::NONE,
        Action::Copy,
        "e export",
        "in the detail: copy the trial's params as `export K=V` lines (OSC 52, works in tmux and over ssh)",
    ),
    (
        KeyCode::Char('E'),
        KeyModifiers::NONE,
        Action::CopyBest,
        "",
        "copy the best trial's params (by the goal) as `export K=V` lines (OSC 52)",
    ),
    (
        KeyCode::Backspace,
        KeyModifiers::NONE,
        Action::Back,
        "",
        "back to the table",
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
    lookup(BINDINGS, k)
}
