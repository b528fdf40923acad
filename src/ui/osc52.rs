//! Copying text to the terminal's clipboard with OSC 52, the escape
//! sequence terminals (and ssh, which passes it through untouched) use to
//! set the clipboard of the machine the user sits at. Inside tmux the
//! sequence is wrapped in tmux's passthrough so it reaches the outer
//! terminal. Also the `export K=V` text of a configuration.

use base64::Engine as _;

use autotune::Params;

/// The escape sequence that puts `text` on the clipboard. With `tmux`, it is
/// wrapped as `ESC P tmux; ... ESC \` with every ESC inside doubled, which is
/// how tmux passes a sequence on to the terminal around it.
pub fn sequence(text: &str, tmux: bool) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    // BEL ends the OSC: more terminals accept it than ST.
    let osc = format!("\x1b]52;c;{b64}\x07");
    if tmux {
        format!("\x1bPtmux;{}\x1b\\", osc.replace('\x1b', "\x1b\x1b"))
    } else {
        osc
    }
}

/// What to write to the terminal: inside tmux both the passthrough (which
/// reaches the outer terminal when tmux has `allow-passthrough on`) and the
/// plain sequence (which tmux itself takes with `set-clipboard on`, into
/// its paste buffer and on to the outer terminal), since either may be off.
pub fn for_terminal(text: &str, tmux: bool) -> String {
    if tmux {
        format!("{}{}", sequence(text, false), sequence(text, true))
    } else {
        sequence(text, false)
    }
}

/// Whether we run inside tmux (it sets `TMUX` in its panes).
pub fn in_tmux() -> bool {
    std::env::var_os("TMUX").is_some_and(|v| !v.is_empty())
}

/// A value as a shell word: bare when it is safe, single-quoted otherwise.
pub fn shell_word(v: &str) -> String {
    let safe = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.,:/@%+=".contains(c));
    if safe {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}

/// The configuration as `export K=V` lines, one a parameter, ready to paste
/// into a shell (or the service's environment file). A name that is not an
/// environment variable name (it came from a file and could carry shell
/// syntax) becomes a comment, never a command.
pub fn exports(p: &Params) -> String {
    p.iter()
        .map(|(k, v)| {
            let ok = k
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if ok {
                format!("export {k}={}\n", shell_word(v))
            } else {
                format!(
                    "# skipped: {:?} is not a variable name\n",
                    k.replace(['\n', '\r'], " ")
                )
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_sequence_is_osc52_with_base64() {
        assert_eq!(sequence("hi", false), "\x1b]52;c;aGk=\x07");
        assert_eq!(sequence("", false), "\x1b]52;c;\x07");
    }

    #[test]
    fn tmux_wraps_in_passthrough_and_doubles_escapes() {
        let s = sequence("export A=1\n", true);
        assert!(s.starts_with("\x1bPtmux;\x1b\x1b]52;c;"), "{s:?}");
        assert!(s.ends_with("\x07\x1b\\"), "{s:?}");
        // Inside the passthrough, every ESC is doubled: no lone ESC that tmux
        // would take as the end of the passthrough.
        let inner = &s["\x1bPtmux;".len()..s.len() - 2];
        assert_eq!(inner.matches('\x1b').count(), 2);
        assert!(!inner.replace("\x1b\x1b", "").contains('\x1b'));
        let b64 = inner
            .trim_start_matches("\x1b\x1b]52;c;")
            .trim_end_matches('\x07');
        let back = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(back, b"export A=1\n");
    }

    #[test]
    fn in_tmux_both_the_plain_and_the_wrapped_sequence() {
        assert_eq!(for_terminal("x", false), sequence("x", false));
        assert_eq!(
            for_terminal("x", true),
            format!("{}{}", sequence("x", false), sequence("x", true))
        );
    }

    #[test]
    fn exports_quote_what_the_shell_would_misread() {
        let mut p = Params::new();
        p.insert("GPU_MEMORY_UTILIZATION".into(), "0.98".into());
        p.insert("STOP_STRINGS".into(), "<|im_end|>,<|endoftext|>".into());
        p.insert("QUOTE".into(), "it's".into());
        p.insert("EMPTY".into(), String::new());
        assert_eq!(
            exports(&p),
            "export EMPTY=''\nexport GPU_MEMORY_UTILIZATION=0.98\nexport QUOTE='it'\\''s'\nexport STOP_STRINGS='<|im_end|>,<|endoftext|>'\n"
        );
    }

    #[test]
    fn a_name_from_a_file_never_becomes_a_command() {
        let mut p = Params::new();
        p.insert("A;touch /tmp/x;B".into(), "1".into());
        p.insert("GOOD".into(), "2".into());
        let t = exports(&p);
        assert!(t.contains("export GOOD=2"));
        assert!(!t.contains("export A;"), "{t}");
        assert!(
            t.lines()
                .all(|l| l.starts_with("export ") || l.starts_with('#'))
        );
    }
}
