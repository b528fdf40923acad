//! Checks of single flag values: durations, thresholds, paths that must differ, scripts that must exist.

use super::*;

/// The longest duration a flag takes: far beyond any real time limit, and
/// small enough that adding it to a clock reading cannot overflow.
const MAX_SECONDS: f64 = 1e9;

/// Reads a duration flag; refuses what no clock can hold (negative, NaN,
/// infinite, beyond [`MAX_SECONDS`]) instead of panicking on it later.
pub fn seconds(flag: &str, v: f64, allow_zero: bool) -> Result<Duration, String> {
    if !v.is_finite() || v < 0.0 || (!allow_zero && v == 0.0) || v > MAX_SECONDS {
        return Err(format!(
            "{flag}: expected a {} number of seconds up to {MAX_SECONDS:e}, got {}",
            if allow_zero {
                "non-negative"
            } else {
                "positive"
            },
            if v.abs() >= 1e6 {
                format!("{v:e}")
            } else {
                v.to_string()
            }
        ));
    }
    Duration::try_from_secs_f64(v).map_err(|e| format!("{flag}: {v} seconds: {e}"))
}

/// Checks an accuracy threshold: accuracy is a fraction, so a bar outside
/// [0, 1] either lets everything win or nothing.
pub fn threshold(flag: &str, v: f64) -> Result<f64, String> {
    if !(0.0..=1.0).contains(&v) {
        return Err(format!(
            "{flag}: expected a number between 0 and 1 (accuracy is a fraction), got {v}"
        ));
    }
    Ok(v)
}

/// `p` as the filesystem resolves it, for telling whether two paths name
/// one file: canonical when it exists, else its directory canonicalised
/// joined with its name (the file may not exist yet).
pub fn resolved(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    match (abs.parent(), abs.file_name()) {
        (Some(d), Some(n)) => std::fs::canonicalize(d)
            .map(|d| d.join(n))
            .unwrap_or(abs.clone()),
        _ => abs,
    }
}

/// Whether two paths name one file: the same resolved path, or (both
/// existing) the same inode, as a hard link is.
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b))
        && x.dev() == y.dev()
        && x.ino() == y.ino()
    {
        return true;
    }
    resolved(a) == resolved(b)
}

/// Refuses two of a run's files at one path (one would overwrite the
/// other): `files` are `(what the user typed, path)`. The message names
/// both.
pub fn distinct_files(files: &[(String, PathBuf)]) -> Result<(), String> {
    for (i, (wa, a)) in files.iter().enumerate() {
        for (wb, b) in &files[i + 1..] {
            if same_file(a, b) {
                return Err(format!(
                    "{wb} and {wa} are the same file ({}): one would overwrite the other; give each its own path",
                    resolved(b).display()
                ));
            }
        }
    }
    Ok(())
}

/// The first words of a shell command as bash reads them, quotes removed,
/// each with whether it is literal (no `$`, backquote, glob or leading `~`
/// that bash would expand). Stops at an unquoted operator (`;`, `|`, `&`,
/// `<`, `>`, parentheses); `None` for an unbalanced quote.
fn shell_words(cmd: &str) -> Option<Vec<(String, bool)>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let (mut in_word, mut literal) = (false, true);
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push((std::mem::take(&mut cur), literal));
                    (in_word, literal) = (false, true);
                }
            }
            ';' | '|' | '&' | '<' | '>' | '(' | ')' => break,
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            n @ ('"' | '\\' | '$' | '`') => cur.push(n),
                            '\n' => {}
                            n => {
                                cur.push('\\');
                                cur.push(n);
                            }
                        },
                        c => {
                            if matches!(c, '$' | '`') {
                                literal = false;
                            }
                            cur.push(c);
                        }
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(n) => cur.push(n),
                }
            }
            c => {
                if matches!(c, '$' | '`' | '*' | '?' | '[') || (c == '~' && !in_word) {
                    literal = false;
                }
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push((cur, literal));
    }
    Some(words)
}

/// Checks that a command's script exists when the command names one
/// (`bash x.sh`, `python3 "x.py"`, `./x`), its words read as bash reads
/// them (quotes removed). A script bash would expand (`"$HOME/x.py"`) is
/// not checked.
pub fn check_script(flag: &str, cmd: &str, repo: &Path) -> Result<(), String> {
    if cmd.trim().is_empty() {
        return Err(format!("{flag} is empty"));
    }
    let Some(words) = shell_words(cmd) else {
        return Ok(());
    };
    let script = match words.as_slice() {
        [(interp, true), (s, literal), ..]
            if matches!(interp.as_str(), "bash" | "sh" | "python" | "python3")
                && !s.starts_with('-') =>
        {
            literal.then_some(s)
        }
        [(s, true), ..] if s.starts_with("./") => Some(s),
        _ => None,
    };
    if let Some(s) = script
        && !repo.join(s).exists()
    {
        return Err(format!(
            "{flag}: {} not found in {} (set --repo or {flag})",
            s,
            repo.display()
        ));
    }
    Ok(())
}
