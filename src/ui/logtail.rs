//! Incremental tail of a growing log file with bounded memory: reads only
//! what was appended since the last call, at most a fixed amount per call
//! (skipping ahead when the service writes faster than that). The app loop
//! owns it and hands the new lines to the state: drawing never reads files.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Bytes read per poll at most.
const MAX_READ: u64 = 512 * 1024;
/// Longest line kept (the rest is cut).
const MAX_LINE: usize = 1000;

/// The tail of one file.
#[derive(Debug, Default)]
pub struct LogTail {
    path: Option<PathBuf>,
    offset: u64,
    partial: String,
    /// Bytes skipped because they came too fast, not yet reported.
    pub skipped_bytes: u64,
}

impl LogTail {
    /// Starts following `path` from its beginning.
    pub fn follow(&mut self, path: &Path) {
        *self = LogTail {
            path: Some(path.to_path_buf()),
            ..Default::default()
        };
    }

    /// The file followed.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Reads what was appended; returns the complete new lines, printable.
    pub fn poll(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let Some(path) = &self.path else { return out };
        let Ok(mut f) = File::open(path) else {
            return out;
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            // Truncated or replaced: start over.
            self.offset = 0;
            self.partial.clear();
        }
        if len == self.offset {
            return out;
        }
        if len - self.offset > MAX_READ {
            self.skipped_bytes += len - MAX_READ - self.offset;
            self.offset = len - MAX_READ;
            self.partial.clear();
        }
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return out;
        }
        let mut buf = Vec::with_capacity((len - self.offset) as usize);
        let n = f.take(len - self.offset).read_to_end(&mut buf).unwrap_or(0);
        self.offset += n as u64;
        let text = String::from_utf8_lossy(&buf[..n]);
        let mut rest = std::mem::take(&mut self.partial);
        rest.push_str(&text);
        let mut parts: Vec<&str> = rest.split('\n').collect();
        let tail = parts.pop().unwrap_or("").to_string();
        for p in parts {
            out.push(cut(p.trim_end_matches('\r')));
        }
        self.partial = tail.chars().take(MAX_LINE * 4).collect();
        out
    }
}

/// A line cut to [`MAX_LINE`] bytes, made printable.
fn cut(l: &str) -> String {
    let mut end = l.len().min(MAX_LINE);
    while !l.is_char_boundary(end) {
        end -= 1;
    }
    super::printable(&autotune::redact(&l[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_only_appended_lines_and_stays_bounded() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.log");
        let mut f = File::create(&p).unwrap();
        let mut t = LogTail::default();
        t.follow(&p);
        assert!(t.poll().is_empty());
        write!(f, "one\ntw").unwrap();
        assert_eq!(t.poll(), ["one"]);
        write!(f, "o\nthree\n").unwrap();
        assert_eq!(t.poll(), ["two", "three"]);
        // A flood: one read stays bounded and the newest lines are there.
        for i in 0..200_000 {
            writeln!(f, "line {i} {}", "x".repeat(20)).unwrap();
        }
        let lines = t.poll();
        assert!(t.skipped_bytes > 0);
        assert!(lines.len() as u64 <= MAX_READ / 20);
        assert_eq!(
            lines.last().unwrap(),
            &format!("line 199999 {}", "x".repeat(20))
        );
    }
}
