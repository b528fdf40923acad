//! The files the tuner keeps in the repo: the results file (read tolerantly,
//! appended whole lines), `best_params.json` and the status file (replaced
//! atomically), and the numbering of service logs.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::record::{Record, log_index};
use super::search::Params;

/// A file operation that failed, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{what} {path}: {source}")]
pub struct StoreError {
    /// What was being done.
    pub what: &'static str,
    /// The file.
    pub path: PathBuf,
    /// The cause.
    pub source: std::io::Error,
}

fn err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// What reading a results file found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Records in file order.
    pub records: Vec<Record>,
    /// Blank lines.
    pub blank: usize,
    /// Lines that are not a JSON object (torn or foreign), with their line numbers.
    pub bad_lines: Vec<usize>,
    /// The file does not end with a newline (an interrupted append).
    pub torn_tail: bool,
}

impl Loaded {
    /// A one-line warning about unreadable lines, if any.
    pub fn warning(&self, path: &Path) -> Option<String> {
        if self.bad_lines.is_empty() {
            return None;
        }
        let shown: Vec<String> = self
            .bad_lines
            .iter()
            .take(5)
            .map(|n| n.to_string())
            .collect();
        Some(format!(
            "{}: {} unreadable line(s) ignored (line {}{}); the file is left as it is",
            path.display(),
            self.bad_lines.len(),
            shown.join(", "),
            if self.bad_lines.len() > 5 {
                ", ..."
            } else {
                ""
            }
        ))
    }
}

/// Parses results text: one JSON object a line; blank lines tolerated; other
/// lines counted, never fatal.
pub fn parse_results(text: &str) -> Loaded {
    let mut out = Loaded {
        torn_tail: !text.is_empty() && !text.ends_with('\n'),
        ..Default::default()
    };
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            out.blank += 1;
            continue;
        }
        match Record::parse(line) {
            Ok(r) => out.records.push(r),
            Err(_) => out.bad_lines.push(n + 1),
        }
    }
    out
}

/// Reads a results file; a missing file is empty.
pub fn load_results(path: &Path) -> Result<Loaded, StoreError> {
    match fs::read(path) {
        Ok(bytes) => Ok(parse_results(&String::from_utf8_lossy(&bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Loaded::default()),
        Err(e) => Err(err("cannot read results file", path)(e)),
    }
}

/// Appends one record as a whole line in a single write, then fsyncs. If the
/// file ends in a torn line, a newline is written first so the torn bytes
/// stay as they were and the new record stands on its own line. Returns
/// whether a torn tail was found.
pub fn append_record(path: &Path, record: &Record) -> Result<bool, StoreError> {
    let mut f = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .map_err(err("cannot open results file", path))?;
    let len = f
        .metadata()
        .map_err(err("cannot stat results file", path))?
        .len();
    let mut torn = false;
    if len > 0 {
        let mut last = [0u8; 1];
        f.seek(SeekFrom::Start(len - 1))
            .and_then(|_| f.read_exact(&mut last))
            .map_err(err("cannot read results file", path))?;
        torn = last[0] != b'\n';
    }
    let mut line = record.to_line();
    if torn {
        line.insert(0, '\n');
    }
    if let Err(e) = f.write_all(line.as_bytes()).and_then(|_| f.sync_data()) {
        // A full disk may have taken part of the line: cut it off again so
        // no torn record is left behind (best effort).
        let _ = f.set_len(len);
        return Err(err("cannot append to results file", path)(e));
    }
    Ok(torn)
}

/// Replaces `path` atomically: a temp file in the same directory, fsync,
/// rename, then fsync of the directory.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), StoreError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("tmp")
        ))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(err("cannot create a temp file beside", path))?;
    // Temp files are created 0600; keep the mode the file had (or the
    // usual 0644) so monitors running as other users can still read it.
    let mode = fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .and_then(|_| tmp.write_all(contents))
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(err("cannot write", path))?;
    tmp.persist(path)
        .map_err(|e| err("cannot replace", path)(e.error))?;
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Pretty JSON with sorted keys and no trailing newline, as `json.dump(...,
/// indent=2, sort_keys=True)` writes it.
pub fn pretty_json(v: &impl serde::Serialize) -> Vec<u8> {
    // serde_json's Map is a BTreeMap here, so going through Value sorts keys.
    let v = serde_json::to_value(v).expect("serializable");
    serde_json::to_vec_pretty(&v).expect("serializable")
}

/// Writes `best_params.json` atomically.
pub fn write_best(path: &Path, params: &Params) -> Result<(), StoreError> {
    write_atomic(path, &pretty_json(params))
}

/// Reads `best_params.json`: `Ok(None)` when missing or empty.
pub fn read_best(path: &Path) -> Result<Option<Params>, String> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a JSON object of parameters: {e}", path.display()))?;
    let mut p = Params::new();
    for (k, v) in v {
        let s = super::search::scalar_to_string(&v).ok_or_else(|| {
            format!(
                "{}: value of \"{k}\" is not a string or number",
                path.display()
            )
        })?;
        p.insert(k, s);
    }
    Ok(if p.is_empty() { None } else { Some(p) })
}

/// Opens a lock file without ever following a symlink (`O_NOFOLLOW`): a
/// link planted in a shared directory by another user would have us
/// truncate its target, as root anything. `O_NONBLOCK` keeps a planted FIFO
/// from hanging the open; what is opened must be a regular file of one
/// name (a hard link to another file is refused like a symlink).
fn open_lock_file(path: &Path, opts: &mut OpenOptions) -> std::io::Result<File> {
    let f = opts
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)?;
    let m = f.metadata()?;
    if !m.is_file() || m.nlink() != 1 {
        return Err(std::io::Error::other(
            "not a regular file of its own (a device, a FIFO or a hard link to another file); autotune will not use it as a lock: remove it",
        ));
    }
    Ok(f)
}

/// Why a lock file could not be opened, saying so plainly for a symlink.
fn lock_open_error(what: &str, path: &Path, e: &std::io::Error) -> String {
    let link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if link {
        format!(
            "{what} {} is a symbolic link: autotune never follows a link for a lock file (someone may have planted it to have another file overwritten); remove it and run again",
            path.display()
        )
    } else {
        format!("cannot open {what} {}: {e}", path.display())
    }
}

/// Reads what the holder wrote in a lock file, from the file we opened
/// (never through the path again).
fn holder_of(f: &mut File) -> String {
    let mut s = String::new();
    let _ = f.seek(SeekFrom::Start(0));
    let _ = f.take(64).read_to_string(&mut s);
    s.trim().to_string()
}

/// Writes this process's pid into a lock file it holds (what a refused
/// second tuner names as the holder).
fn stamp_pid(lock: &mut File) {
    let _ = lock.set_len(0);
    let _ = lock.seek(SeekFrom::Start(0));
    let _ = lock.write_all(format!("{}\n", std::process::id()).as_bytes());
}

/// Whether `path` still names the file `f` is open on (its last holder may
/// have removed it, and another process created a new one, between our
/// open and our lock).
fn still_at(f: &File, path: &Path) -> bool {
    match (f.metadata(), fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// An exclusive lock on a repo's tuning files, held for the process's life
/// (the kernel drops it when the process dies, even by kill -9).
pub struct RepoLock {
    _lock: nix::fcntl::Flock<File>,
}

/// Takes the lock at `path`, writing our pid into it. `Err` names the
/// process holding it. A symlink at `path` is refused, never followed.
pub fn lock_repo(path: &Path) -> Result<RepoLock, String> {
    let f = open_lock_file(
        path,
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true),
    )
    .map_err(|e| lock_open_error("the lock file", path, &e))?;
    match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            stamp_pid(&mut lock);
            Ok(RepoLock { _lock: lock })
        }
        Err((mut f, nix::errno::Errno::EWOULDBLOCK)) => Err(format!(
            "another autotune (pid {}) is tuning with these files; lock file {}",
            holder_of(&mut f),
            path.display()
        )),
        Err((_, e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

/// The lock file of an output file another tuner may name too (`--results`,
/// `--best`): `<file>.lock` beside it.
pub fn output_lock_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    file.with_file_name(name)
}

/// Why an output file's lock was not taken.
#[derive(Debug)]
pub enum OutputLockError {
    /// Another process holds it, or the lock file is one autotune will not
    /// use (a link, a FIFO): a usage error.
    Refused(String),
    /// The lock file cannot be created or locked (a read-only or full
    /// directory): the environment's failure.
    Io(String),
}

/// An exclusive lock on one output file, held for the process's life.
/// Dropping it removes the lock file (while still holding it, and only if
/// the path still names it).
pub struct OutputLock {
    path: PathBuf,
    lock: nix::fcntl::Flock<File>,
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Unlinked before the lock is released, as for the port lock: a
        // tuner that opened the file meanwhile finds, once it gets the lock,
        // that the path no longer names it, and opens again.
        if still_at(&self.lock, &self.path) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Takes the lock of `file` (`what` names it, e.g. `--results`): two
/// tuners in different repos naming one results or best file would both
/// measure the same configurations and overwrite each other's best. The
/// lock is `<file>.lock` (see [`output_lock_path`]), opened without
/// following a symlink; `Err` names the file and the holder's pid.
pub fn lock_output(file: &Path, what: &str) -> Result<OutputLock, OutputLockError> {
    let path = output_lock_path(file);
    let open_err = |e: &std::io::Error| {
        let m = lock_open_error(&format!("the lock of {what}"), &path, e);
        // ELOOP: a symlink, refused by O_NOFOLLOW; no OS error: not a
        // regular file of its own.
        if e.raw_os_error().is_some_and(|c| c != nix::libc::ELOOP) {
            OutputLockError::Io(m)
        } else {
            OutputLockError::Refused(m)
        }
    };
    // A few rounds: each is lost only to a holder that removed the file
    // between our open and our lock.
    for _ in 0..20 {
        let f = match open_lock_file(
            &path,
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true),
        ) {
            Ok(f) => f,
            Err(e) => return Err(open_err(&e)),
        };
        match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                if !still_at(&lock, &path) {
                    continue;
                }
                stamp_pid(&mut lock);
                return Ok(OutputLock { path, lock });
            }
            Err((mut f, nix::errno::Errno::EWOULDBLOCK)) => {
                let who = holder_of(&mut f)
                    .parse::<i32>()
                    .ok()
                    .map(|p| format!("pid {p}: {}", super::process::cmdline(p)))
                    .unwrap_or_else(|| "pid unknown".to_string());
                return Err(OutputLockError::Refused(format!(
                    "{what} {}: another autotune ({who}) is tuning with this file; two tuners on one file would measure the same configurations twice and overwrite each other's best (lock file {})",
                    file.display(),
                    path.display()
                )));
            }
            Err((_, e)) => {
                return Err(OutputLockError::Io(format!(
                    "cannot lock {}: {e}",
                    path.display()
                )));
            }
        }
    }
    Err(OutputLockError::Io(format!(
        "cannot lock {}: it was replaced under us again and again",
        path.display()
    )))
}

/// Free space under which a file system counts as full: a service whose
/// log cannot take its next lines dies of it (or hangs), which says
/// nothing of its configuration.
pub const FULL_BELOW_BYTES: u64 = 1024 * 1024;

/// Why the file system holding `path` (a file or a directory) is full:
/// less than [`FULL_BELOW_BYTES`] left for us (root may use the blocks
/// reserved for it). `None` when there is room or it cannot be told.
pub fn full_file_system(path: &Path) -> Option<String> {
    let st = nix::sys::statvfs::statvfs(path).ok()?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { nix::libc::geteuid() } == 0;
    let blocks = if root {
        st.blocks_free()
    } else {
        st.blocks_available()
    };
    let left = (blocks as u64).saturating_mul(st.fragment_size() as u64);
    (left < FULL_BELOW_BYTES).then(|| {
        format!(
            "the file system holding {} is full ({} KiB left): the trial's service log or outputs could not be written",
            path.display(),
            left / 1024
        )
    })
}

/// Checks that every output file can be written before the first trial, so
/// a read-only directory costs no trial: the results file is opened for
/// appending (nothing written), the best and status files' directories
/// take a temp file (they are replaced atomically), and the log directory
/// is created and takes a temp file. `Err` names the file.
pub fn check_writable(
    results: &Path,
    best: &Path,
    status: &Path,
    logs: &Path,
) -> Result<(), String> {
    let dir_of = |p: &Path| match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp_in = |dir: &Path, what: &str, file: &Path| {
        tempfile::Builder::new()
            .prefix(".autotune-write-check.")
            .tempfile_in(dir)
            .map(drop)
            .map_err(|e| {
                format!(
                    "{what} {}: cannot write in {}: {e}",
                    file.display(),
                    dir.display()
                )
            })
    };
    if results.exists() {
        if results.is_dir() {
            return Err(format!(
                "results file {}: is a directory",
                results.display()
            ));
        }
        OpenOptions::new().append(true).open(results).map_err(|e| {
            format!(
                "results file {}: cannot open for appending: {e}",
                results.display()
            )
        })?;
    } else {
        temp_in(&dir_of(results), "results file", results)?;
    }
    for (what, p) in [("best params file", best), ("status file", status)] {
        if p.is_dir() {
            return Err(format!("{what} {}: is a directory", p.display()));
        }
        temp_in(&dir_of(p), what, p)?;
    }
    fs::create_dir_all(logs)
        .map_err(|e| format!("log directory {}: cannot create: {e}", logs.display()))?;
    temp_in(logs, "log directory", logs)
}

/// An advisory lock on a TCP port, shared by every tuner on the machine.
/// Dropping it removes the lock file when this process created it (while
/// still holding it, and only if the path still names it).
pub struct PortLock {
    path: PathBuf,
    created: bool,
    lock: nix::fcntl::Flock<File>,
}

impl Drop for PortLock {
    fn drop(&mut self) {
        // Unlinked before the lock is released: a tuner that opened the
        // file meanwhile finds, once it gets the lock, that the path no
        // longer names it, and opens again (see `lock_port`).
        if self.created && still_at(&self.lock, &self.path) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Where port locks live: `$AUTOTUNE_LOCK_DIR`, else the system-wide
/// temp directory (not `$XDG_RUNTIME_DIR`, which is per user: two users'
/// tuners on one port must see each other too).
pub fn port_lock_path(port: u16) -> PathBuf {
    let dir = std::env::var_os("AUTOTUNE_LOCK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    dir.join(format!("autotune-port-{port}.lock"))
}

/// Takes the machine-wide lock on `port` (flock, released when the process
/// dies). `Err` names the holder. The file is opened read-only when another
/// user created it: flock needs no write access. A symlink at the path is
/// refused, never followed.
pub fn lock_port(port: u16) -> Result<PortLock, String> {
    let path = port_lock_path(port);
    let what = "the port lock";
    // A few rounds: each is lost only to a holder that removed the file
    // between our open and our lock.
    for _ in 0..20 {
        let (f, created) = match open_lock_file(
            &path,
            OpenOptions::new().create_new(true).read(true).write(true),
        ) {
            Ok(f) => (f, true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let f = open_lock_file(&path, OpenOptions::new().read(true).write(true))
                    .or_else(|_| open_lock_file(&path, OpenOptions::new().read(true)));
                match f {
                    Ok(f) => (f, false),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(lock_open_error(what, &path, &e)),
                }
            }
            Err(e) => return Err(lock_open_error(what, &path, &e)),
        };
        // Others may need to open it for writing too.
        if created {
            let _ = f.set_permissions(fs::Permissions::from_mode(0o666));
        }
        match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                if !still_at(&lock, &path) {
                    continue;
                }
                stamp_pid(&mut lock);
                return Ok(PortLock {
                    path,
                    created,
                    lock,
                });
            }
            Err((mut f, nix::errno::Errno::EWOULDBLOCK)) => {
                let who = holder_of(&mut f)
                    .parse::<i32>()
                    .ok()
                    .map(|p| format!("pid {p}: {}", super::process::cmdline(p)))
                    .unwrap_or_else(|| "pid unknown".to_string());
                return Err(format!(
                    "--port {port}: another autotune ({who}) is tuning on this port; two tuners on one port would measure each other's service (lock file {})",
                    path.display()
                ));
            }
            Err((_, e)) => return Err(format!("cannot lock {}: {e}", path.display())),
        }
    }
    Err(format!(
        "cannot lock {}: it was replaced under us again and again",
        path.display()
    ))
}

/// The highest trial number among `trial_NNNNN.log` files in `dir` and the
/// records' indices, so numbering continues after it.
pub fn highest_trial_index(dir: &Path, records: &[Record]) -> u32 {
    let from_logs = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(log_index))
        .max()
        .unwrap_or(0);
    let from_records = records.iter().filter_map(Record::index).max().unwrap_or(0);
    from_logs.max(from_records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerant_parse_counts_bad_lines() {
        let l = parse_results("{\"status\": \"ok\"}\n\n  \nnot json\n{\"status\": \"fa");
        assert_eq!(l.records.len(), 1);
        assert_eq!(l.blank, 2);
        assert_eq!(l.bad_lines, vec![4, 5]);
        assert!(l.torn_tail);
        assert!(
            l.warning(Path::new("r.jsonl"))
                .unwrap()
                .contains("2 unreadable")
        );
    }

    #[test]
    fn append_after_torn_line_keeps_the_torn_bytes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.jsonl");
        fs::write(&p, "{\"status\": \"ok\"}\n{\"status\": \"pa").unwrap();
        let rec = Record {
            status: "ok".into(),
            trial_key: "K=1".into(),
            ..Default::default()
        };
        assert!(append_record(&p, &rec).unwrap());
        assert!(!append_record(&p, &rec).unwrap());
        let text = fs::read_to_string(&p).unwrap();
        assert!(
            text.starts_with("{\"status\": \"ok\"}\n{\"status\": \"pa\n{\"ts\""),
            "{text}"
        );
        let l = parse_results(&text);
        assert_eq!(l.records.len(), 3);
        assert_eq!(l.bad_lines, vec![2]);
    }

    #[test]
    fn atomic_write_and_best_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("best_params.json");
        assert_eq!(read_best(&p).unwrap(), None);
        let mut params = Params::new();
        params.insert("B".into(), "2".into());
        params.insert("A".into(), "1".into());
        write_best(&p, &params).unwrap();
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            "{\n  \"A\": \"1\",\n  \"B\": \"2\"\n}"
        );
        assert_eq!(read_best(&p).unwrap(), Some(params.clone()));
        fs::write(&p, "").unwrap();
        assert_eq!(read_best(&p).unwrap(), None);
        fs::write(&p, "[").unwrap();
        assert!(read_best(&p).unwrap_err().contains("best_params.json"));
        // No temp files left behind; readable by others as a plain file is.
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        // A mode the user chose is kept.
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        write_best(&p, &params).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn the_repo_lock_is_exclusive_and_names_its_holder() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".autotune.lock");
        let held = lock_repo(&p).unwrap();
        let e = lock_repo(&p).err().unwrap();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(held);
        assert!(lock_repo(&p).is_ok());
    }

    #[test]
    fn an_output_lock_is_exclusive_names_its_holder_and_is_removed() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path().join("r.jsonl");
        let held = lock_output(&r, "--results").unwrap();
        let lock = d.path().join("r.jsonl.lock");
        assert!(lock.exists());
        match lock_output(&r, "--results") {
            Err(OutputLockError::Refused(e)) => {
                assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
                assert!(e.contains("--results") && e.contains("r.jsonl"), "{e}");
            }
            _ => panic!("a held lock was taken again"),
        }
        drop(held);
        assert!(!lock.exists());
        // A symlink there is refused, never followed.
        std::os::unix::fs::symlink(d.path().join("target"), &lock).unwrap();
        assert!(matches!(
            lock_output(&r, "--results"),
            Err(OutputLockError::Refused(_))
        ));
        assert!(!d.path().join("target").exists());
    }

    #[test]
    fn fixture_is_read_whole() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/auto_tune_py");
        let l = load_results(&dir.join("tune_results.jsonl")).unwrap();
        assert_eq!(l.records.len(), 18);
        assert!(l.bad_lines.is_empty());
        assert_eq!(
            highest_trial_index(&dir.join("tune_server_logs"), &l.records),
            25
        );
    }
}
