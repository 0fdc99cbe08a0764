//! What an env leaves for whoever debugs it: every node's console, the QEMU and
//! supervisor logs, cloud-init's logs and the files a node's `logs:` names from inside
//! the guests (through the guest agent, while the env still runs), the plan and the
//! timeline. `vstage run --artifacts`
//! collects them always; a failed `up` keeps them under `$VSTAGE_HOME/logs/`.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::driver::guest::{Guest, GuestError};
use crate::env::EnvInfo;
use crate::envdir::{self, EnvDir};

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
        [envdir::SUPERVISOR_LOG, envdir::PLAN_JSON, envdir::EVENTS]
            .iter()
            .map(|f| (f.to_string(), f.to_string()))
            .collect();
    for node in &info.plan.nodes {
        files.extend(crate::driver::host_logs(info.driver, node));
    }
    for service in &info.plan.services {
        files.push((
            format!("{}/{}", service.dir, crate::clone::REQUEST_LOG),
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

/// Guest files copied from one node at most, after its `logs:` patterns are expanded.
pub const MAX_GUEST_LOG_FILES: usize = 64;

/// What each node's guest gives (the env must still run): its console, as
/// `nodes/NODE/console.log`, where the driver keeps none on the host; cloud-init's logs where the node runs it, as
/// `nodes/NODE/cloud-init*.log`; whatever the node's `logs:` patterns match, under
/// `nodes/NODE/` at their guest path. What a node cannot give gets a note in place of
/// the file.
pub async fn collect_guest_logs(dir: &EnvDir, info: &EnvInfo, dest: &Path) -> Vec<PathBuf> {
    let mut copied = Vec::new();
    for node in &info.plan.nodes {
        let guest = info.guest(dir, node);
        let base = dest.join("nodes").join(&node.name);
        // A driver that keeps the console on the host has given it with `collect`.
        if crate::driver::host_logs(info.driver, node).is_empty() {
            let console = console_tail(&guest).await;
            if !console.is_empty() && write_artifact(&base.join("console.log"), &console) {
                copied.push(base.join("console.log"));
            }
        }
        let mut files: Vec<(String, PathBuf)> = Vec::new();
        if node.cloud_init {
            for log in ["cloud-init.log", "cloud-init-output.log"] {
                files.push((format!("/var/log/{log}"), base.join(log)));
            }
        }
        if !node.logs.is_empty() {
            match expand(&guest, &node.logs).await {
                Ok(found) => files.extend(
                    found
                        .into_iter()
                        .filter_map(|p| Some((p.clone(), base.join(relative(&p)?)))),
                ),
                Err(note) => {
                    if write_artifact(&base.join("logs.note"), note.to_string().as_bytes()) {
                        copied.push(base.join("logs.note"));
                    }
                }
            }
        }
        for (from, to) in files.into_iter().take(MAX_GUEST_LOG_FILES) {
            let text = match guest
                .copy_out(&from, MAX_GUEST_LOG_BYTES, GUEST_BOUND)
                .await
            {
                Ok(bytes) => bytes,
                Err(e) => format!("(not collected: {e})").into_bytes(),
            };
            if write_artifact(&to, &text) {
                copied.push(to);
            }
        }
    }
    copied
}

/// How long one read from a guest may take.
const GUEST_BOUND: Duration = Duration::from_secs(30);

/// The last [`MAX_LOG_BYTES`] of a node's console.
async fn console_tail(guest: &impl Guest) -> Vec<u8> {
    let Ok(now) = guest.console(u64::MAX, 0).await else {
        return Vec::new();
    };
    let from = now.len.saturating_sub(MAX_LOG_BYTES);
    guest
        .console(from, MAX_LOG_BYTES as usize)
        .await
        .map(|c| c.bytes)
        .unwrap_or_default()
}

/// The regular files `patterns` match in the guest, each once, in the guest shell's
/// order. Patterns are plain paths by validation (`template::Node::logs`), so the
/// shell's field splitting leaves them whole and only expands their `*` and `?`.
async fn expand(guest: &impl Guest, patterns: &[String]) -> Result<Vec<String>, GuestError> {
    let mut argv: Vec<String> = [
        "/bin/sh",
        "-c",
        r#"for p in "$@"; do for f in $p; do [ -f "$f" ] && printf '%s\n' "$f"; done; done; true"#,
        "sh",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.extend(patterns.iter().cloned());
    let ran = guest.output(&argv, GUEST_BOUND).await?;
    if ran.code != 0 {
        return Err(GuestError::Failed(format!(
            "expanding logs: exited {}: {}",
            ran.code,
            String::from_utf8_lossy(&ran.stderr)
        )));
    }
    let mut found: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(&ran.stdout).lines() {
        if !found.iter().any(|f| f == line) {
            found.push(line.to_string());
        }
    }
    Ok(found)
}

/// A guest path as a path under a node's artifacts: `None` for anything that is not
/// absolute and plain (the guest answered it, so it may be anything).
fn relative(guest: &str) -> Option<PathBuf> {
    use std::path::Component;
    if !guest.starts_with('/') || guest.len() > 4096 {
        return None;
    }
    let mut rel = PathBuf::new();
    for c in Path::new(guest).components() {
        match c {
            Component::RootDir => {}
            Component::Normal(part) => rel.push(part),
            _ => return None,
        }
    }
    (!rel.as_os_str().is_empty()).then_some(rel)
}

/// Writes `bytes` to `to` (owner-only by the process umask), making its parents; false
/// where that failed (the collector goes on: one missing artifact must not hide the rest).
fn write_artifact(to: &Path, bytes: &[u8]) -> bool {
    to.parent()
        .is_some_and(|parent| std::fs::create_dir_all(parent).is_ok())
        && std::fs::write(to, bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_absolute_guest_paths_become_artifact_paths() {
        assert_eq!(
            relative("/var/log/nova/nova-compute.log"),
            Some(PathBuf::from("var/log/nova/nova-compute.log"))
        );
        assert_eq!(relative("//var/./log"), Some(PathBuf::from("var/log")));
        for bad in ["var/log/x", "/var/../../etc/passwd", "/", "", "/a/.."] {
            assert_eq!(relative(bad), None, "{bad}");
        }
    }
}
