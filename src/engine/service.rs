//! The service under test: starting it with the trial's environment and its
//! output in a log file, probing readiness, and the state file that lets a
//! restarted tuner stop a service left behind by a killed one.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::process::Child;

use super::process::{self, proc_info, spawn_in_group, stop_group};
use super::search::Params;
use super::store::write_atomic;

/// Builds the service's environment additions: the trial's params, the
/// `SKIP_*` defaults unless set, and `PORT`.
pub fn service_env(params: &Params, port: u16) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> =
        params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for k in ["SKIP_PIP_INSTALL", "SKIP_MODEL_DOWNLOAD"] {
        if std::env::var_os(k).is_none() && !params.contains_key(k) {
            env.push((k.to_string(), "1".to_string()));
        }
    }
    env.push(("PORT".to_string(), port.to_string()));
    env
}

/// Creates the next free `trial_NNNNN.log` at or after `index`, never
/// overwriting one. Returns the index used, its path and the open file.
pub fn create_log(dir: &Path, mut index: u32) -> std::io::Result<(u32, PathBuf, std::fs::File)> {
    std::fs::create_dir_all(dir)?;
    loop {
        let path = dir.join(format!("trial_{index:05}.log"));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((index, path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => index += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Starts the service in its own process group with output to `log`.
pub fn start(
    cmd: &str,
    repo: &Path,
    env: &[(String, String)],
    log: std::fs::File,
) -> std::io::Result<Child> {
    let err = log.try_clone()?;
    spawn_in_group(cmd, repo, env, Stdio::from(log), Stdio::from(err))
}

/// An HTTP client for readiness probes: short timeouts, never a proxy.
pub fn probe_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_secs(2))
        .build()
        .expect("a plain HTTP client builds")
}

/// One readiness probe: the port accepts, then `GET path` answers 200..=499.
/// Returns the health message when ready.
pub async fn probe_once(client: &reqwest::Client, port: u16, path: &str) -> Option<String> {
    if !process::port_open(port).await {
        return None;
    }
    let resp = client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
        .ok()?;
    let code = resp.status().as_u16();
    if !(200..=499).contains(&code) {
        return None;
    }
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.chars().take(200).collect();
    Some(format!("health={code} body='{body}'"))
}

/// Polls readiness every `every` until *this trial's* service answers: an
/// answer counts only when a process of the trial (group `pgid`, its
/// descendants, or processes carrying trial `trial`'s token) listens on the
/// port. A foreign listener is never ready, however well it answers.
pub async fn wait_ready(
    client: &reqwest::Client,
    port: u16,
    path: &str,
    every: Duration,
    pgid: i32,
    trial: u32,
) -> String {
    loop {
        if let Some(h) = probe_once(client, port, path).await {
            if process::port_owner(port, pgid, trial) == process::PortOwner::Ours {
                return h;
            }
            // Someone else answers: look again less often (scanning /proc
            // for the socket's owner is not free).
            tokio::time::sleep(every * 5).await;
        }
        tokio::time::sleep(every).await;
    }
}

/// The last `max` bytes of a file as text, and the offset they start at.
/// Seeks rather than reading the whole file: service logs can be huge.
pub fn tail_text(path: &Path, max: u64) -> std::io::Result<(String, u64)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let start = f.metadata()?.len().saturating_sub(max);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok((String::from_utf8_lossy(&buf).into_owned(), start))
}

/// The last `n` non-blank lines of a log file (for crash reports), with
/// the tuner's secrets redacted as the eval's output is.
pub fn log_tail(path: &Path, n: usize) -> Vec<String> {
    let Ok((text, _)) = tail_text(path, 64 * 1024) else {
        return Vec::new();
    };
    let text = super::eval::redact(&text);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// What the state file records about a running service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceState {
    /// Process group (= leader pid).
    pub pgid: i32,
    /// The leader's start time in clock ticks, to tell it from a reused pid.
    pub start_ticks: u64,
    /// The tuner that started it.
    pub tuner_pid: u32,
    /// The port it serves on.
    pub port: u16,
    /// Its log.
    pub log: String,
    /// The tuner run's id (`AUTOTUNE_RUN` in the environment of every
    /// process it started); empty in files written by older versions.
    #[serde(default)]
    pub run: String,
    /// The trial index (`AUTOTUNE_TRIAL`).
    #[serde(default)]
    pub trial: u32,
}

/// Records a started service.
pub fn save_state(path: &Path, st: &ServiceState) -> Result<(), super::store::StoreError> {
    write_atomic(path, &serde_json::to_vec_pretty(st).expect("serializable"))
}

/// Forgets the service (it has been stopped).
pub fn clear_state(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Stops what an earlier tuner left running, found by identity only: the
/// recorded group when its leader is alive with the recorded start time,
/// and every process carrying the recorded run token (evals and helpers
/// that left the group included). A group whose leader is gone is never
/// signalled as a group: its number may be someone else's by now. Returns
/// a message saying what was done, if anything.
pub async fn recover_leftover(path: &Path, grace: Duration) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let st: ServiceState = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(_) => {
            clear_state(path);
            return None;
        }
    };
    let leader_verified = st.pgid > 1
        && proc_info(st.pgid).is_some_and(|p| {
            p.start_ticks == st.start_ticks && p.pgid == st.pgid && p.state != 'Z'
        });
    let mut killed = false;
    let mut stopped = 0usize;
    if leader_verified {
        stopped += process::group_members(st.pgid).len();
        killed |= stop_group(st.pgid, None, grace).await.killed;
    }
    if !st.run.is_empty() {
        let marked = process::procs_with_token(&st.run, None);
        stopped += marked.len();
        killed |= process::stop_pids(&marked, grace).await;
    }
    let msg = if stopped > 0 {
        process::wait_port_closed(st.port, Duration::from_secs(8)).await;
        Some(format!(
            "stopped the service left running by an earlier tuner (pid {}, process group {}, run {}: {stopped} process(es){})",
            st.tuner_pid,
            st.pgid,
            if st.run.is_empty() { "?" } else { &st.run },
            if killed { ", needed SIGKILL" } else { "" }
        ))
    } else {
        None
    };
    clear_state(path);
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_has_params_skips_and_port() {
        let mut p = Params::new();
        p.insert("A".into(), "1".into());
        p.insert("SKIP_MODEL_DOWNLOAD".into(), "0".into());
        let env = service_env(&p, 8123);
        assert!(env.contains(&("A".into(), "1".into())));
        assert!(env.contains(&("PORT".into(), "8123".into())));
        assert!(env.contains(&("SKIP_MODEL_DOWNLOAD".into(), "0".into())));
        assert_eq!(
            env.iter()
                .filter(|(k, _)| k == "SKIP_MODEL_DOWNLOAD")
                .count(),
            1
        );
    }

    #[test]
    fn logs_are_never_overwritten() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("trial_00003.log"), "old").unwrap();
        let (i, p, _) = create_log(d.path(), 3).unwrap();
        assert_eq!(i, 4);
        assert!(p.ends_with("trial_00004.log"));
        assert_eq!(
            std::fs::read_to_string(d.path().join("trial_00003.log")).unwrap(),
            "old"
        );
    }
}
