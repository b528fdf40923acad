//! Incremental tail of a growing log file with bounded memory: reads only
//! what was appended since the last call, at most a fixed amount per call
//! (skipping ahead when the service writes faster than that), and keeps the
//! last lines only.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Lines kept.
pub const MAX_LINES: usize = 2000;
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
    /// The last lines, oldest first.
    pub lines: VecDeque<String>,
    /// Bytes skipped because they came too fast.
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

    /// Reads what was appended; returns whether lines were added.
    pub fn poll(&mut self) -> bool {
        let Some(path) = &self.path else { return false };
        let Ok(mut f) = File::open(path) else {
            return false;
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            // Truncated or replaced: start over.
            self.offset = 0;
            self.partial.clear();
        }
        if len == self.offset {
            return false;
        }
        if len - self.offset > MAX_READ {
            self.skipped_bytes += len - MAX_READ - self.offset;
            self.offset = len - MAX_READ;
            self.partial.clear();
        }
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return false;
        }
        let mut buf = Vec::with_capacity((len - self.offset) as usize);
        let n = f.take(len - self.offset).read_to_end(&mut buf).unwrap_or(0);
        self.offset += n as u64;
        let text = String::from_utf8_lossy(&buf[..n]);
        let mut added = false;
        let mut rest = std::mem::take(&mut self.partial);
        rest.push_str(&text);
        let mut parts: Vec<&str> = rest.split('\n').collect();
        let tail = parts.pop().unwrap_or("").to_string();
        for p in parts {
            self.push_line(p.trim_end_matches('\r').to_string());
            added = true;
        }
        self.partial = tail.chars().take(MAX_LINE * 4).collect();
        added
    }

    fn push_line(&mut self, mut l: String) {
        if l.len() > MAX_LINE {
            let mut end = MAX_LINE;
            while !l.is_char_boundary(end) {
                end -= 1;
            }
            l.truncate(end);
        }
        self.lines.push_back(super::printable(&l));
        while self.lines.len() > MAX_LINES {
            self.lines.pop_front();
        }
    }
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
        assert!(!t.poll());
        write!(f, "one\ntw").unwrap();
        assert!(t.poll());
        assert_eq!(t.lines, ["one"]);
        write!(f, "o\nthree\n").unwrap();
        t.poll();
        assert_eq!(t.lines, ["one", "two", "three"]);
        // A flood: memory stays bounded and the newest lines are there.
        for i in 0..200_000 {
            writeln!(f, "line {i} {}", "x".repeat(20)).unwrap();
        }
        t.poll();
        assert!(t.lines.len() <= MAX_LINES);
        assert!(t.skipped_bytes > 0);
        assert_eq!(
            t.lines.back().unwrap(),
            &format!("line 199999 {}", "x".repeat(20))
        );
        assert!(t.lines.len() == MAX_LINES);
    }
}
