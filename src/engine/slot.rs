//! Slots: the places where trials run at the same time. Each slot has its
//! own devices (in `--gpu_env`), its own `PORT` (base + slot × stride) and
//! strided copies of the other port variables, and its own service state
//! file, so that trials in different slots never share a device, a port or
//! a record of what to stop after a crash.

use std::path::{Path, PathBuf};

use super::config::Config;
use super::record::Record;

/// Where one trial runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    /// 0-based slot number.
    pub n: usize,
    /// The port the trial's service listens on (`PORT`).
    pub port: u16,
    /// The devices given to the trial (`--gpu_env`'s value), if any.
    pub devices: Option<String>,
    /// Extra environment of the service and the eval: the device variable
    /// and the strided port variables.
    pub env: Vec<(String, String)>,
    /// Where the running service's process group is recorded; `None` for a
    /// trial run by `autotune trial` under a launcher (the scheduler owns
    /// its processes, and a pid means nothing on another node).
    pub state_file: Option<PathBuf>,
}

/// How the slots of a run are laid out (validated by the command line).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct SlotLayout {
    /// Number of slots (at least 1).
    pub slots: usize,
    /// Devices to share out, in order (`--gpus`); empty: none given.
    pub gpus: Vec<String>,
    /// Devices per trial (`--gpus_per_trial`).
    pub gpus_per_trial: usize,
    /// The variable naming a trial's devices (`--gpu_env`).
    pub gpu_env: String,
    /// Port distance between slots (`--port_stride`).
    pub port_stride: u16,
    /// Other port variables, each strided like `PORT` (`--port_env`), with
    /// their base values.
    pub port_env: Vec<(String, u16)>,
}

/// The slot a record was measured in (`"slot"` in the results file), if
/// the run that wrote it had several.
pub fn record_slot(r: &Record) -> Option<usize> {
    r.extra
        .get("slot")
        .and_then(|v| v.as_u64())
        .map(|v| v as usize)
}

/// Notes the slot in a record.
pub fn set_record_slot(r: &mut Record, slot: usize) {
    r.extra.insert("slot".into(), slot.into());
}

impl SlotLayout {
    /// One slot, no devices: what a run without slot flags gets.
    pub fn single() -> Self {
        SlotLayout {
            slots: 1,
            gpus: Vec::new(),
            gpus_per_trial: 1,
            gpu_env: "CUDA_VISIBLE_DEVICES".into(),
            port_stride: 10,
            port_env: Vec::new(),
        }
    }
}

/// The state file of slot `n`: slot 0 keeps the one-slot name, so a tuner
/// of an earlier version and this one find each other's leftovers.
pub fn state_file(base: &Path, n: usize) -> PathBuf {
    if n == 0 {
        return base.to_path_buf();
    }
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    base.with_file_name(format!("{stem}.slot{n}.json"))
}

/// Every slot state file next to `base` (whatever the number of slots of
/// the run that wrote them), for recovery after a crash.
/// Where a run through `--launcher` records its run id (the processes its
/// launched trials start here carry it): `STEM.launched.json` beside
/// `base`, so that a tuner restarted after a crash finds and stops them.
pub fn launched_state_file(base: &Path) -> PathBuf {
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    base.with_file_name(format!("{stem}.launched.json"))
}

pub fn state_files(base: &Path) -> Vec<PathBuf> {
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = base.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    if base.exists() {
        out.push(base.to_path_buf());
    }
    let launched = launched_state_file(base);
    if launched.exists() {
        out.push(launched);
    }
    let prefix = format!("{stem}.slot");
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(num) = name
                .strip_prefix(&prefix)
                .and_then(|r| r.strip_suffix(".json"))
                && !num.is_empty()
                && num.bytes().all(|b| b.is_ascii_digit())
            {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

impl SlotLayout {
    /// Slot `n` for a service whose first slot listens on `port`, with
    /// state files named after `state_base`.
    pub fn slot(&self, n: usize, port: u16, state_base: &Path) -> Slot {
        let offset = (n as u32 * self.port_stride as u32) as u16;
        let mut env = Vec::new();
        let devices = (!self.gpus.is_empty()).then(|| {
            let k = self.gpus_per_trial.max(1);
            self.gpus[n * k..(n + 1) * k].join(",")
        });
        if let Some(d) = &devices {
            env.push((self.gpu_env.clone(), d.clone()));
        }
        for (name, base) in &self.port_env {
            env.push((name.clone(), base.wrapping_add(offset).to_string()));
        }
        Slot {
            n,
            port: port.wrapping_add(offset),
            devices,
            env,
            state_file: Some(state_file(state_base, n)),
        }
    }
}

impl Config {
    /// Slot `n` of this run.
    pub fn slot(&self, n: usize) -> Slot {
        self.layout.slot(n, self.port, &self.service_state_file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_get_their_devices_and_strided_ports() {
        let l = SlotLayout {
            slots: 2,
            gpus: ["0", "1", "2", "3"].map(String::from).to_vec(),
            gpus_per_trial: 2,
            gpu_env: "HIP_VISIBLE_DEVICES".into(),
            port_stride: 10,
            port_env: vec![("VLLM_PORT".into(), 9000)],
        };
        let s = l.slot(1, 8000, Path::new("/r/.autotune_service.json"));
        assert_eq!(s.port, 8010);
        assert_eq!(s.devices.as_deref(), Some("2,3"));
        assert_eq!(
            s.env,
            vec![
                ("HIP_VISIBLE_DEVICES".to_string(), "2,3".to_string()),
                ("VLLM_PORT".to_string(), "9010".to_string())
            ]
        );
        assert_eq!(
            s.state_file.as_deref(),
            Some(Path::new("/r/.autotune_service.slot1.json"))
        );
        let s0 = SlotLayout::single().slot(0, 8000, Path::new("/r/.autotune_service.json"));
        assert_eq!((s0.port, s0.devices, s0.env), (8000, None, vec![]));
    }

    #[test]
    fn state_files_are_per_slot_and_all_found() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join(".autotune_service.json");
        assert_eq!(state_file(&base, 0), base);
        let s3 = state_file(&base, 3);
        assert!(s3.ends_with(".autotune_service.slot3.json"));
        std::fs::write(&base, "{}").unwrap();
        std::fs::write(&s3, "{}").unwrap();
        std::fs::write(d.path().join(".autotune_service.slotx.json"), "{}").unwrap();
        std::fs::write(d.path().join("other.json"), "{}").unwrap();
        assert_eq!(state_files(&base), vec![base.clone(), s3]);
    }
}
