//! Colours and styles, with `NO_COLOR` respected: without colour, roles fall
//! back to bold, dim and reversed text.

use ratatui::style::{Color, Modifier, Style};

/// What a piece of text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Panel titles and labels.
    Title,
    /// Secondary text.
    Dim,
    /// Good: ok, best, meets the threshold.
    Good,
    /// Bad: crashed, failed, under the threshold.
    Bad,
    /// Warnings: partial, timeout, paused.
    Warn,
    /// Highlighted values (parameter under test, differing params).
    Accent,
    /// The focused panel's border.
    Focus,
}

/// The palette in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Whether colours are allowed.
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set (to anything non-empty).
    pub fn from_env() -> Self {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    /// The style of a role.
    pub fn style(&self, r: Role) -> Style {
        if !self.color {
            return match r {
                Role::Title | Role::Accent | Role::Bad => Style::new().add_modifier(Modifier::BOLD),
                Role::Dim => Style::new().add_modifier(Modifier::DIM),
                Role::Focus => Style::new().add_modifier(Modifier::REVERSED),
                Role::Good | Role::Warn => Style::new(),
            };
        }
        match r {
            Role::Title => Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            Role::Dim => Style::new().fg(Color::DarkGray),
            Role::Good => Style::new().fg(Color::Green),
            Role::Bad => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            Role::Warn => Style::new().fg(Color::Yellow),
            Role::Accent => Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
            Role::Focus => Style::new().fg(Color::Cyan),
        }
    }

    /// The style of a trial status.
    pub fn status(&self, s: &str) -> Style {
        match s {
            "ok" => self.style(Role::Good),
            "partial" | "timeout" | "skipped" => self.style(Role::Warn),
            "failed" | "crashed" => self.style(Role::Bad),
            // Stopped early because it could not win: neither a failure
            // nor a result; italic where there is no colour.
            "pruned" if self.color => Style::new().fg(Color::Blue),
            "pruned" => Style::new().add_modifier(Modifier::ITALIC),
            _ => Style::new(),
        }
    }
}
