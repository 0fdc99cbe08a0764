//! What an env leaves for whoever debugs it: every node's serial log, the QEMU and
//! supervisor logs, cloud-init's logs from inside the guests (through the guest agent,
//! while the env still runs), the plan and the timeline. `vstage run --artifacts`
//! collects them always; a failed `up` keeps them under `$VSTAGE_HOME/logs/`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::env::EnvInfo;
use crate::layout::{self, EnvDir};

/// The most of one log kept: its tail, where failures are.
pub const MAX_LOG_BYTES: u64 = 16 << 20;
/// Guest logs read through the agent, per file.
pub const MAX_GUEST_LOG_BYTES: usize = 8 << 20;

/// Copies the env's host-side files into `dest` (made owner-only); returns what it
/// copied. Files the env never wrote are skipped.
pub fn collect(dir: &EnvDir, info: &EnvInfo, dest: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dest)?;
    let mut copied = Vec::new();
    let mut files: Vec<(String, String)> =
        [layout::SUPERVISOR_LOG, layout::PLAN_JSON, layout::EVENTS]
            .iter()
            .map(|f| (f.to_string(), f.to_string()))
            .collect();
    for node in &info.plan.nodes {
        files.push((
            layout::serial_log(&node.name),
            format!("nodes/{}/serial.log", node.name),
        ));
        files.push((
            layout::qemu_stderr(&node.name),
            format!("nodes/{}/qemu.stderr", node.name),
        ));
    }
    for service in &info.plan.services {
        files.push((
            format!("{}/{}", service.dir, crate::actions::services::REQUEST_LOG),
            format!("clones/{}/requests.log", service.name),
        ));
    }
    for (from, to) in files {
        let to = dest.join(to);
        if copy_tail(&dir.join(&from), &to)? {
            copied.push(to);
        }
    }
    Ok(copied)
}

/// Copies at most the last [`MAX_LOG_BYTES`] of `from`; false if it does not exist.
fn copy_tail(from: &Path, to: &Path) -> std::io::Result<bool> {
    let mut src = match std::fs::File::open(from) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let len = src.metadata()?.len();
    if len > MAX_LOG_BYTES {
        src.seek(SeekFrom::Start(len - MAX_LOG_BYTES))?;
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut out = std::fs::File::create(to)?;
    std::io::copy(&mut src.take(MAX_LOG_BYTES), &mut out)?;
    Ok(true)
}

/// cloud-init's logs from each node that runs it, read through its guest agent (the
/// env must still run). A node that does not answer gets a note instead.
pub async fn collect_guest_logs(dir: &EnvDir, info: &EnvInfo, dest: &Path) -> Vec<PathBuf> {
    let mut copied = Vec::new();
    for node in info.plan.nodes.iter().filter(|n| n.cloud_init) {
        for log in ["cloud-init.log", "cloud-init-output.log"] {
            let to = dest.join(format!("nodes/{}/{log}", node.name));
            let argv = vec![
                "tail".to_string(),
                "-c".to_string(),
                MAX_GUEST_LOG_BYTES.to_string(),
                format!("/var/log/{log}"),
            ];
            let mut out = Capped::default();
            let mut err = Capped::default();
            let socket = dir.join(&node.files.agent);
            let read = tokio::time::timeout(
                Duration::from_secs(30),
                crate::agent::exec(&socket, &argv, &mut out, &mut err),
            )
            .await;
            let text = match read {
                Ok(Ok(0)) => out.0,
                Ok(Ok(code)) => {
                    format!("(tail exited {code}: {})", String::from_utf8_lossy(&err.0))
                        .into_bytes()
                }
                Ok(Err(e)) => format!("(not collected: {e})").into_bytes(),
                Err(_) => b"(not collected: the guest agent did not answer within 30s)".to_vec(),
            };
            if let Some(parent) = to.parent()
                && std::fs::create_dir_all(parent).is_ok()
                && std::fs::write(&to, text).is_ok()
            {
                copied.push(to);
            }
        }
    }
    copied
}

/// A sink that keeps the first [`MAX_GUEST_LOG_BYTES`] and drops the rest (the guest
/// sends its tail already; this bounds what a guest that ignores that can cost).
#[derive(Default)]
struct Capped(Vec<u8>);

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = MAX_GUEST_LOG_BYTES.saturating_sub(self.0.len());
        self.0.extend_from_slice(&buf[..buf.len().min(room)]);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
