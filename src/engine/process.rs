//! Process groups and ports on Linux: spawning a command in its own group,
//! telling whether any process of a group is still alive (zombies do not
//! count), stopping a group with a grace period, the descendants that left
//! the group, and which processes listen on a port. Everything here reads
//! `/proc` directly, so it sees processes that are not our children.

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// Environment variables never passed to the service or the eval.
pub const SECRET_ENV: &[&str] = &[
    "TUNE_WEBHOOK_URL",
    "TUNE_FEISHU_SECRET",
    "TUNE_SMTP_PASS",
    "TUNE_SMTP_USER",
];

/// Pids we spawned ourselves; adopted orphans are everything else.
static SPAWNED: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Environment variable naming the tuner run a process belongs to. Every
/// process the tuner starts carries it (children inherit it, even those
/// that leave the process group), so leftovers are found by identity.
pub const RUN_ENV: &str = "AUTOTUNE_RUN";
/// Environment variable naming the trial (its log index) a process serves.
pub const TRIAL_ENV: &str = "AUTOTUNE_TRIAL";

static RUN_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Makes this process's run id the one in its environment (`AUTOTUNE_RUN`),
/// if any: what `autotune trial` does, so that the service and eval of a
/// launched trial carry the tuner's run id and a tuner restarted after a
/// crash finds them. Returns whether one was taken.
pub fn inherit_run_id() -> bool {
    match std::env::var(RUN_ENV) {
        Ok(id)
            if !id.is_empty()
                && id.len() <= 64
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            RUN_ID.set(id).is_ok()
        }
        _ => false,
    }
}

/// This tuner's run id: pid, start time and a random part, so that neither
/// a reused pid nor a copied state file can name another run's processes.
pub fn run_id() -> &'static str {
    RUN_ID.get_or_init(|| {
        let me = std::process::id() as i32;
        let ticks = proc_info(me).map(|p| p.start_ticks).unwrap_or(0);
        format!("{me}-{ticks}-{:08x}", fastrand::u32(..))
    })
}

/// The identity variables for a process started for trial `trial`.
pub fn token_env(trial: u32) -> Vec<(String, String)> {
    vec![
        (RUN_ENV.to_string(), run_id().to_string()),
        (TRIAL_ENV.to_string(), trial.to_string()),
    ]
}

/// The value of `name` in the environment a process started with (its
/// `/proc/<pid>/environ`); `None` when absent or unreadable (another user's).
pub fn environ_var(pid: i32, name: &str) -> Option<String> {
    let bytes = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{name}=");
    bytes
        .split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(prefix.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Live processes started with `AUTOTUNE_RUN=<run>` (and, when given,
/// `AUTOTUNE_TRIAL=<trial>`), ourselves excluded.
pub fn procs_with_token(run: &str, trial: Option<u32>) -> Vec<i32> {
    let me = std::process::id() as i32;
    all_procs()
        .into_iter()
        .filter(|p| p.pid != me && p.state != 'Z' && p.state != 'X')
        .filter(|p| environ_var(p.pid, RUN_ENV).as_deref() == Some(run))
        .filter(|p| trial.is_none_or(|t| environ_var(p.pid, TRIAL_ENV) == Some(t.to_string())))
        .map(|p| p.pid)
        .collect()
}

/// One process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcInfo {
    /// Process id.
    pub pid: i32,
    /// Parent process id.
    pub ppid: i32,
    /// Process group id.
    pub pgid: i32,
    /// Session id.
    pub sid: i32,
    /// State letter (`R`, `S`, `Z`...).
    pub state: char,
    /// Start time in clock ticks since boot (identifies a pid over reuse).
    pub start_ticks: u64,
}

/// Reads `/proc/<pid>/stat`.
pub fn proc_info(pid: i32) -> Option<ProcInfo> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<ProcInfo> {
    // The command name may hold spaces and parentheses: split after the last ')'.
    let pid = text.split_whitespace().next()?.parse().ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcInfo {
        pid,
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        pgid: f.get(2)?.parse().ok()?,
        sid: f.get(3)?.parse().ok()?,
        start_ticks: f.get(19)?.parse().ok()?,
    })
}

/// Every process on the machine.
pub fn all_procs() -> Vec<ProcInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(proc_info)
        .collect()
}

/// Live (non-zombie) members of process group `pgid`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    all_procs()
        .into_iter()
        .filter(|p| p.pgid == pgid && p.state != 'Z' && p.state != 'X')
        .map(|p| p.pid)
        .collect()
}

/// Live descendants of `root` (not `root` itself), whatever their group.
pub fn descendants(root: i32) -> Vec<i32> {
    // Every process descends from 0 and 1: never "all of them".
    if root <= 1 {
        return Vec::new();
    }
    let procs = all_procs();
    let mut found: HashSet<i32> = HashSet::from([root]);
    let mut out = Vec::new();
    loop {
        let before = out.len();
        for p in &procs {
            if found.contains(&p.ppid) && !found.contains(&p.pid) {
                found.insert(p.pid);
                if p.state != 'Z' {
                    out.push(p.pid);
                }
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

/// Becomes a child subreaper so that helpers which leave the service's
/// process group (setsid, double fork) are re-parented to us and can be
/// found and stopped.
pub fn become_subreaper() {
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_child_subreaper(true);
}

/// Adopted orphans: live children of ours that we did not spawn.
pub fn adopted_orphans() -> Vec<i32> {
    let me = std::process::id() as i32;
    let spawned = SPAWNED.lock().map(|s| s.clone()).unwrap_or_default();
    all_procs()
        .into_iter()
        .filter(|p| p.ppid == me && !spawned.contains(&p.pid))
        .filter_map(|p| {
            if p.state == 'Z' {
                // Reap it: nobody else waits for a process we adopted.
                let _ = nix::sys::wait::waitpid(
                    Pid::from_raw(p.pid),
                    Some(nix::sys::wait::WaitPidFlag::WNOHANG),
                );
                None
            } else {
                Some(p.pid)
            }
        })
        .collect()
}

/// Spawns `bash -c <cmd>` in `cwd`, in a new process group (pid = pgid).
pub fn spawn_in_group(
    cmd: &str,
    cwd: &Path,
    env: &[(String, String)],
    stdout: Stdio,
    stderr: Stdio,
) -> std::io::Result<Child> {
    let mut c = Command::new("bash");
    // Notification secrets are the tuner's alone: a service that logs its
    // environment must not copy them into its log.
    for k in SECRET_ENV {
        c.env_remove(k);
    }
    c.arg("-c")
        .arg(cmd)
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .kill_on_drop(false);
    let child = c.spawn()?;
    if let (Some(pid), Ok(mut s)) = (child.id(), SPAWNED.lock()) {
        s.retain(|p| proc_info(*p).is_some());
        s.push(pid as i32);
    }
    Ok(child)
}

/// Sends `sig` to a process group; a group already gone is not an error.
/// Groups 0 and 1 are never signalled: `killpg(0)` is our own group and
/// group 1 is init's, so a zero or garbage pgid must not reach the kernel.
pub fn signal_group(pgid: i32, sig: Signal) {
    if pgid <= 1 {
        return;
    }
    let _ = killpg(Pid::from_raw(pgid), sig);
}

/// Sends `sig` to each pid; pids <= 1 (a group or init) and ourselves are
/// never signalled.
pub fn signal_pids(pids: &[i32], sig: Signal) {
    let me = std::process::id() as i32;
    for p in pids.iter().filter(|p| **p > 1 && **p != me) {
        let _ = kill(Pid::from_raw(*p), sig);
    }
}

/// How a group stop went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StopReport {
    /// SIGKILL was needed after the grace period.
    pub killed: bool,
    /// Something was still alive after SIGKILL and the final wait.
    pub survivors: bool,
}

/// Stops process group `pgid` and every descendant of its leader that left
/// the group: SIGTERM, up to `grace` for all to exit, then SIGKILL. Reaps
/// `child` (the leader) when given. Returns when nothing is left or after
/// a last 5 s wait following SIGKILL.
pub async fn stop_group(pgid: i32, child: Option<&mut Child>, grace: Duration) -> StopReport {
    stop_trial_group(pgid, child, grace, None).await
}

/// [`stop_group`] for the service of trial `trial`: the orphans swept at
/// the end spare those carrying another trial's token (another slot's
/// helpers, reparented to us as subreaper, are not this trial's).
pub async fn stop_trial_group(
    pgid: i32,
    mut child: Option<&mut Child>,
    grace: Duration,
    trial: Option<u32>,
) -> StopReport {
    if pgid <= 1 {
        return StopReport::default();
    }
    let escaped = |extra: &mut Vec<i32>| {
        for p in descendants(pgid) {
            if !extra.contains(&p) {
                extra.push(p);
            }
        }
    };
    let mut extra: Vec<i32> = Vec::new();
    escaped(&mut extra);
    signal_group(pgid, Signal::SIGCONT);
    signal_group(pgid, Signal::SIGTERM);
    signal_pids(&extra, Signal::SIGTERM);
    let mut report = StopReport::default();
    let alive = |extra: &[i32], child: &mut Option<&mut Child>| {
        if let Some(c) = child.as_mut() {
            let _ = c.try_wait();
        }
        !group_members(pgid).is_empty()
            || extra
                .iter()
                .any(|p| proc_info(*p).is_some_and(|i| i.state != 'Z'))
    };
    let deadline = Instant::now() + grace;
    while alive(&extra, &mut child) {
        if Instant::now() >= deadline {
            report.killed = true;
            escaped(&mut extra);
            signal_group(pgid, Signal::SIGKILL);
            signal_pids(&extra, Signal::SIGKILL);
            let hard = Instant::now() + Duration::from_secs(5);
            while alive(&extra, &mut child) {
                if Instant::now() >= hard {
                    report.survivors = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            break;
        }
        escaped(&mut extra);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(c) = child {
        let _ = c.try_wait();
    }
    // Orphans that reached us through the subreaper are ours to stop too,
    // but not another running trial's.
    let theirs = |p: &i32| {
        trial.is_some_and(|t| {
            environ_var(*p, RUN_ENV).as_deref() == Some(run_id())
                && environ_var(*p, TRIAL_ENV).is_some_and(|x| x != t.to_string())
        })
    };
    let ours = || -> Vec<i32> {
        adopted_orphans()
            .into_iter()
            .filter(|p| !theirs(p))
            .collect()
    };
    let orphans = ours();
    if !orphans.is_empty() {
        signal_pids(&orphans, Signal::SIGKILL);
        let hard = Instant::now() + Duration::from_secs(2);
        while !ours().is_empty() && Instant::now() < hard {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    report
}

/// Stops the given processes: SIGTERM, up to `grace` for them to exit, then
/// SIGKILL. Returns whether SIGKILL was needed.
pub async fn stop_pids(pids: &[i32], grace: Duration) -> bool {
    let live = |pids: &[i32]| {
        pids.iter()
            .any(|p| proc_info(*p).is_some_and(|i| i.state != 'Z' && i.state != 'X'))
    };
    if pids.is_empty() {
        return false;
    }
    signal_pids(pids, Signal::SIGCONT);
    signal_pids(pids, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while live(pids) {
        if Instant::now() >= deadline {
            signal_pids(pids, Signal::SIGKILL);
            let hard = Instant::now() + Duration::from_secs(5);
            while live(pids) && Instant::now() < hard {
                let _ = adopted_orphans();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            return true;
        }
        // Our own adopted children only leave the table once reaped.
        let _ = adopted_orphans();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Who holds a listening port, as far as a trial is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortOwner {
    /// Nobody listens (or the listener vanished).
    Nobody,
    /// A process started for this trial listens.
    Ours,
    /// Only other processes listen: `(pid, command line)`; an empty list
    /// means the socket's owner is not visible to us (another user's).
    Foreign(Vec<(i32, String)>),
}

impl PortOwner {
    /// "pid 123 (python3 -m http.server 8000)", for reasons and warnings.
    pub fn describe(&self) -> String {
        match self {
            PortOwner::Foreign(h) if h.is_empty() => {
                "a process this user cannot see (another user's)".to_string()
            }
            PortOwner::Foreign(h) => h
                .iter()
                .map(|(p, c)| format!("pid {p} ({c})"))
                .collect::<Vec<_>>()
                .join(", "),
            PortOwner::Ours => "this trial's service".to_string(),
            PortOwner::Nobody => "nobody".to_string(),
        }
    }
}

/// Whether `pid` was started for trial `trial` of this run: a member of
/// the service's group `pgid`, a descendant of its leader, or a process
/// carrying this run's and trial's token.
pub fn belongs_to_trial(pid: i32, pgid: i32, trial: u32) -> bool {
    if pgid > 1
        && (proc_info(pid).is_some_and(|p| p.pgid == pgid) || descendants(pgid).contains(&pid))
    {
        return true;
    }
    environ_var(pid, RUN_ENV).as_deref() == Some(run_id())
        && environ_var(pid, TRIAL_ENV) == Some(trial.to_string())
}

/// Who listens on `port`: this trial's service (group `pgid`, trial
/// `trial`) or someone else.
pub fn port_owner(port: u16, pgid: i32, trial: u32) -> PortOwner {
    let (pids, any_socket) = listeners_and_sockets(port);
    if pids.iter().any(|p| belongs_to_trial(*p, pgid, trial)) {
        return PortOwner::Ours;
    }
    if pids.is_empty() && !any_socket {
        return PortOwner::Nobody;
    }
    PortOwner::Foreign(pids.into_iter().map(|p| (p, cmdline(p))).collect())
}

/// Whether something accepts connections on `127.0.0.1:port`.
pub async fn port_open(port: u16) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect(("127.0.0.1", port))
        )
        .await,
        Ok(Ok(_))
    )
}

/// Waits up to `limit` for the port to stop accepting connections.
pub async fn wait_port_closed(port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !port_open(port).await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Pids of processes with a listening TCP socket on `port`.
pub fn listeners(port: u16) -> Vec<i32> {
    listeners_and_sockets(port).0
}

/// Pids with a listening socket on `port`, and whether any listening
/// socket exists at all (its owner may be invisible to us).
fn listeners_and_sockets(port: u16) -> (Vec<i32>, bool) {
    let mut inodes = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "0A" {
                continue;
            }
            let local_port = f[1]
                .rsplit(':')
                .next()
                .and_then(|h| u16::from_str_radix(h, 16).ok());
            if local_port == Some(port) {
                inodes.insert(format!("socket:[{}]", f[9]));
            }
        }
    }
    if inodes.is_empty() {
        return (Vec::new(), false);
    }
    let pids = all_procs()
        .into_iter()
        .map(|p| p.pid)
        .filter(|&pid| holds_any(pid, |l| inodes.contains(l)))
        .collect();
    (pids, true)
}

/// Whether process `pid` has open a file whose /proc link (`socket:[N]`,
/// `pipe:[N]`, a path) `wanted` accepts.
pub fn holds_any(pid: i32, wanted: impl Fn(&str) -> bool) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .any(|l| wanted(&l.to_string_lossy()))
}

/// The command line of a process, arguments joined by spaces.
pub fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Stops listeners on `port` whose command line contains both `uvicorn` and
/// `serve:app` (the old tool's rule): SIGTERM, then SIGKILL after 3 s.
/// Returns the pids it signalled.
pub async fn kill_uvicorn_listeners(port: u16) -> Vec<i32> {
    let targets: Vec<i32> = listeners(port)
        .into_iter()
        .filter(|p| {
            let c = cmdline(*p);
            c.contains("uvicorn") && c.contains("serve:app")
        })
        .collect();
    if targets.is_empty() {
        return targets;
    }
    signal_pids(&targets, Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline
        && targets
            .iter()
            .any(|p| proc_info(*p).is_some_and(|i| i.state != 'Z'))
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signal_pids(&targets, Signal::SIGKILL);
    targets
}

/// Whether SIGHUP was ignored when we started (`nohup`). Must be asked
/// before any SIGHUP handler is installed; it only reads the disposition.
pub fn sighup_ignored() -> bool {
    // SAFETY: a null new action makes sigaction a pure query of the old one
    // into memory we own.
    unsafe {
        let mut old: nix::libc::sigaction = std::mem::zeroed();
        nix::libc::sigaction(nix::libc::SIGHUP, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == nix::libc::SIG_IGN
    }
}

/// Exit status as the old tool records it: the code, or minus the signal.
pub fn exit_code(status: std::process::ExitStatus) -> i64 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => c as i64,
        (None, Some(s)) => -(s as i64),
        _ => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_name() {
        let s = "123 (a b) c) S 1 123 123 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 5555 0 0";
        let p = parse_stat(s).unwrap();
        assert_eq!(
            (p.pid, p.ppid, p.pgid, p.sid, p.state, p.start_ticks),
            (123, 1, 123, 123, 'S', 5555)
        );
    }

    #[tokio::test]
    async fn groups_0_and_1_are_never_signalled() {
        // killpg(0) would be our own group: this test would die of it.
        signal_group(0, Signal::SIGTERM);
        signal_group(1, Signal::SIGCONT);
        signal_pids(&[0, 1, std::process::id() as i32], Signal::SIGTERM);
        let r = stop_group(0, None, Duration::from_millis(10)).await;
        assert_eq!(r, StopReport::default());
    }

    #[tokio::test]
    async fn stop_group_kills_term_ignoring_group_and_forked_helper() {
        let d = tempfile::tempdir().unwrap();
        // A leader that ignores TERM and a forked helper in the same group.
        let mut child = spawn_in_group(
            "trap '' TERM; (trap '' TERM; sleep 300) & sleep 300",
            d.path(),
            &[],
            Stdio::null(),
            Stdio::null(),
        )
        .unwrap();
        let pgid = child.id().unwrap() as i32;
        let deadline = Instant::now() + Duration::from_secs(5);
        while group_members(pgid).len() < 3 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(group_members(pgid).len() >= 3);
        let r = stop_group(pgid, Some(&mut child), Duration::from_millis(300)).await;
        assert!(r.killed);
        assert!(!r.survivors);
        assert!(group_members(pgid).is_empty());
    }
}
