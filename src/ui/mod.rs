//! Terminal front ends (ratatui): the live screen of a tuning run. The
//! render is a pure function of [`state::LiveState`]; events from the engine
//! and keys change the state through [`state::LiveState::update`] and
//! [`keys::action_for`].

pub mod app;
pub mod browse;
pub mod keys;
pub mod logtail;
pub mod osc52;
pub mod panels;
pub mod state;
pub mod theme;

/// A log line safe to draw: control characters (which would move the
/// terminal's cursor) become `?`.
pub fn printable(line: &str) -> String {
    line.chars()
        .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
        .collect()
}

/// Leaves the screen. When the terminal is gone (tmux killed, ssh dropped),
/// stdout and stderr are pointed at /dev/null first: ratatui reports failed
/// restores with `eprintln!`, which would panic on a dead terminal, and a
/// panic then would abort the tuner before it stops its service.
pub fn leave_terminal(terminal: ratatui::DefaultTerminal, ok: bool) {
    if ok && ratatui::try_restore().is_ok() {
        drop(terminal);
        return;
    }
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        use std::os::fd::AsRawFd;
        for fd in [1, 2] {
            // SAFETY: dup2 onto the standard descriptors; `null` stays open
            // until both are replaced.
            unsafe {
                nix::libc::dup2(null.as_raw_fd(), fd);
            }
        }
    }
    let _ = ratatui::try_restore();
    // Its Drop would try to show the cursor on the dead terminal.
    std::mem::forget(terminal);
}
