//! Acceleration: KVM only where a probe guest really boots under it, else TCG.
//!
//! `/dev/kvm` can exist and open while guests hang (a PVM host does that), so the
//! probe boots a kernel under `-accel kvm` and waits, within a bound, for it to reach
//! its root-mount step. The verdict is cached per host boot and QEMU binary.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::envdir::write_atomic;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    pub accel: Accel,
    /// Why, in words a user can act on.
    pub reason: String,
    /// What the verdict was taken for: host boot id and QEMU binary identity.
    pub key: String,
    /// How long the probe took, in milliseconds (0 when it did not boot a guest).
    pub probe_ms: u64,
}

/// How long a probe guest may take to reach its root mount under KVM.
const PROBE_BOUND: Duration = Duration::from_secs(10);

/// The acceleration to use. `VSTAGE_ACCEL=kvm|tcg` overrides the probe.
pub fn detect(cache_dir: &Path, qemu: &Path, kernel: &Path, refresh: bool) -> Verdict {
    if let Ok(forced) = std::env::var("VSTAGE_ACCEL") {
        let accel = if forced == "kvm" {
            Accel::Kvm
        } else {
            Accel::Tcg
        };
        return Verdict {
            accel,
            reason: format!("VSTAGE_ACCEL={forced} is set"),
            key: String::new(),
            probe_ms: 0,
        };
    }
    let key = cache_key(qemu);
    let file = cache_dir.join("accel.json");
    if !refresh
        && let Some(v) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str::<Verdict>(&t).ok())
            .filter(|v| v.key == key)
    {
        return v;
    }
    let mut verdict = probe(qemu, kernel);
    verdict.key = key;
    if std::fs::create_dir_all(cache_dir).is_ok() {
        let text = serde_json::to_vec_pretty(&verdict).expect("a verdict serialises");
        let _ = write_atomic(&file, &text);
    }
    verdict
}

fn cache_key(qemu: &Path) -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let meta = std::fs::metadata(qemu)
        .map(|m| {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            format!("{}:{:?}", m.len(), mtime.map(|d| d.as_secs()))
        })
        .unwrap_or_default();
    format!("{}|{}|{}", boot.trim(), qemu.display(), meta)
}

fn tcg(reason: String) -> Verdict {
    Verdict {
        accel: Accel::Tcg,
        reason,
        key: String::new(),
        probe_ms: 0,
    }
}

fn probe(qemu: &Path, kernel: &Path) -> Verdict {
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        return tcg(format!(
            "/dev/kvm cannot be opened ({e}): using TCG (software emulation)"
        ));
    }
    let start = Instant::now();
    let child = Command::new(qemu)
        .args([
            "-accel",
            "kvm",
            "-cpu",
            "host",
            "-nodefaults",
            "-no-user-config",
        ])
        .args([
            "-display",
            "none",
            "-m",
            "128",
            "-no-reboot",
            "-serial",
            "stdio",
        ])
        .arg("-kernel")
        .arg(kernel)
        .args(["-append", "console=ttyS0 panic=-1 loglevel=7"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return tcg(format!("cannot run {}: {e}", qemu.display())),
    };
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // The kernel got as far as mounting a root file system: the CPU runs guests.
            if line.contains("VFS:") || line.contains("Kernel panic") {
                let _ = tx.send(());
                return;
            }
        }
    });
    let outcome = rx.recv_timeout(PROBE_BOUND);
    let _ = child.kill();
    let _ = child.wait();
    let probe_ms = start.elapsed().as_millis() as u64;
    if outcome.is_ok() {
        return Verdict {
            accel: Accel::Kvm,
            reason: format!("a probe guest booted under KVM in {probe_ms} ms"),
            key: String::new(),
            probe_ms,
        };
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read as _;
        let _ = e.read_to_string(&mut stderr);
    }
    let detail = stderr
        .lines()
        .next()
        .map(|l| format!(" (qemu: {l})"))
        .unwrap_or_default();
    let what = match outcome {
        Err(mpsc::RecvTimeoutError::Timeout) => {
            format!("hung under KVM for {}s", PROBE_BOUND.as_secs())
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => "exited under KVM before booting".to_string(),
        Ok(()) => unreachable!("handled above"),
    };
    Verdict {
        accel: Accel::Tcg,
        reason: format!(
            "/dev/kvm exists but a probe guest {what}{detail}: using TCG (software emulation)"
        ),
        key: String::new(),
        probe_ms,
    }
}
