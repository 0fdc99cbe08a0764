//! What an env leaves for whoever debugs it: every node's serial log, the QEMU and
//! supervisor logs, cloud-init's logs and the files a node's `logs:` names from inside
//! the guests (through the guest agent, while the env still runs), the plan and the
//! timeline. `vstage run --artifacts`
//! collects them always; a failed `up` keeps them under `$VSTAGE_HOME/logs/`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::env::EnvInfo;
use crate::env::layout::{self, EnvDir};

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

/// Guest files copied from one node at most, after its `logs:` patterns are expanded.
pub const MAX_GUEST_LOG_FILES: usize = 64;

/// Guest files read through each node's agent (the env must still run): cloud-init's
/// logs where the node runs it, as `nodes/NODE/cloud-init*.log`, and whatever the
/// node's `logs:` patterns match, under `nodes/NODE/` at their guest path. What a node
/// cannot give gets a note in place of the file.
pub async fn collect_guest_logs(dir: &EnvDir, info: &EnvInfo, dest: &Path) -> Vec<PathBuf> {
    let mut copied = Vec::new();
    for node in &info.plan.nodes {
        let socket = dir.join(&node.files.agent);
        let base = dest.join("nodes").join(&node.name);
        let mut files: Vec<(String, PathBuf)> = Vec::new();
        if node.cloud_init {
            for log in ["cloud-init.log", "cloud-init-output.log"] {
                files.push((format!("/var/log/{log}"), base.join(log)));
            }
        }
        if !node.logs.is_empty() {
            match expand(&socket, &node.logs).await {
                Ok(found) => files.extend(
                    found
                        .into_iter()
                        .filter_map(|p| Some((p.clone(), base.join(relative(&p)?)))),
                ),
                Err(note) => {
                    if write_artifact(&base.join("logs.note"), note.as_bytes()) {
                        copied.push(base.join("logs.note"));
                    }
                }
            }
        }
        for (from, to) in files.into_iter().take(MAX_GUEST_LOG_FILES) {
            let argv = vec![
                "tail".to_string(),
                "-c".to_string(),
                MAX_GUEST_LOG_BYTES.to_string(),
                from,
            ];
            let text = match guest_run(&socket, &argv).await {
                Ok((0, out, _)) => out,
                Ok((code, _, err)) => {
                    format!("(tail exited {code}: {})", String::from_utf8_lossy(&err)).into_bytes()
                }
                Err(note) => format!("(not collected: {note})").into_bytes(),
            };
            if write_artifact(&to, &text) {
                copied.push(to);
            }
        }
    }
    copied
}

/// The regular files `patterns` match in the guest, each once, in the guest shell's
/// order. Patterns are plain paths by validation (`template::Node::logs`), so the
/// shell's field splitting leaves them whole and only expands their `*` and `?`.
async fn expand(socket: &Path, patterns: &[String]) -> Result<Vec<String>, String> {
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
    let (code, out, err) = guest_run(socket, &argv).await?;
    if code != 0 {
        return Err(format!(
            "expanding logs: exited {code}: {}",
            String::from_utf8_lossy(&err)
        ));
    }
    let mut found: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(&out).lines() {
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

/// Runs `argv` in the guest for at most 30 s, keeping at most [`MAX_GUEST_LOG_BYTES`]
/// of each stream: exit code, stdout, stderr.
async fn guest_run(socket: &Path, argv: &[String]) -> Result<(i32, Vec<u8>, Vec<u8>), String> {
    let mut out = Capped::default();
    let mut err = Capped::default();
    match tokio::time::timeout(
        Duration::from_secs(30),
        crate::driver::qemu::agent::exec(socket, argv, &mut out, &mut err),
    )
    .await
    {
        Ok(Ok(code)) => Ok((code, out.0, err.0)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the guest agent did not answer within 30s".to_string()),
    }
}

/// Writes `bytes` to `to` (owner-only by the process umask), making its parents; false
/// where that failed (the collector goes on: one missing artifact must not hide the rest).
fn write_artifact(to: &Path, bytes: &[u8]) -> bool {
    to.parent()
        .is_some_and(|parent| std::fs::create_dir_all(parent).is_ok())
        && std::fs::write(to, bytes).is_ok()
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
