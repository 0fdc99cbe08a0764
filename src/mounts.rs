//! Host directories in nodes (`mounts:`): what changed since a node last installed one,
//! and `vstage sync`, which installs what changed and restarts only the units those
//! mounts name, without touching the nodes themselves.
//!
//! The directory is live in the guest (virtiofs); syncing is re-running the mount's
//! `install` and restarting its `restart` units. Whether a mount changed is decided on
//! the host from a fingerprint of its tree (paths, sizes, modes, modification times),
//! recorded in the env dir at boot and after each sync.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::driver::guest::{Guest, GuestError};
use crate::envdir::{self, EnvDir};
use crate::plan::{MountPlan, NodePlan};

/// More entries than this in one mount is a mistake (a home directory, `/`), not a tree.
pub const MAX_ENTRIES: usize = 500_000;
/// How long a mount's install and its restarts may take.
pub const SYNC_BOUND: Duration = Duration::from_secs(900);
/// Bytes of a failed step's output shown.
const SHOWN: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} has more than {MAX_ENTRIES} entries: mount a smaller directory")]
    TooLarge { path: PathBuf },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("node {node}: {what}: {source}")]
    Agent {
        node: String,
        what: String,
        source: GuestError,
    },
    #[error("node {node}: {what} exited {code}:\n{output}")]
    Failed {
        node: String,
        what: String,
        code: i32,
        output: String,
    },
}

/// A fingerprint of the tree under `root`: changes when a file is added, removed,
/// renamed, resized, re-moded or rewritten (its mtime). Symlinks are not followed.
pub fn fingerprint(root: &Path) -> Result<String, MountError> {
    use std::os::unix::fs::MetadataExt as _;
    let read = |path: &Path, source| MountError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut entries: Vec<(PathBuf, u64, u32, i64, i64)> = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| read(&dir, e))? {
            let entry = entry.map_err(|e| read(&dir, e))?;
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).map_err(|e| read(&path, e))?;
            if meta.is_dir() {
                stack.push(path.clone());
            }
            let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            entries.push((
                relative,
                meta.len(),
                meta.mode(),
                meta.mtime(),
                meta.mtime_nsec(),
            ));
            if entries.len() > MAX_ENTRIES {
                return Err(MountError::TooLarge {
                    path: root.to_path_buf(),
                });
            }
        }
    }
    entries.sort();
    let mut hash = Sha256::new();
    for (path, len, mode, s, ns) in &entries {
        hash.update(path.as_os_str().as_encoded_bytes());
        hash.update([0]);
        hash.update(format!("{len} {mode:o} {s}.{ns}\n"));
    }
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Records `m`'s current fingerprint as what `node` has installed.
pub fn record_seen(dir: &EnvDir, node: &str, m: &MountPlan) -> Result<(), MountError> {
    let path = dir.join(&envdir::mount_seen(node, &m.tag));
    let sum = fingerprint(&m.source)?;
    envdir::write_atomic(&path, sum.as_bytes()).map_err(|source| MountError::Write { path, source })
}

/// What `sync` did with one mount.
#[derive(Debug)]
pub struct Synced {
    pub node: String,
    pub target: String,
    pub changed: bool,
    /// The install, if it ran: how long it took.
    pub installed: Option<Duration>,
    /// Units restarted, and how long the restart took.
    pub restarted: Option<(Vec<String>, Duration)>,
}

/// Brings `node`'s mounts up to date: for each whose source changed since it was last
/// installed (or every one, with `force`), runs its install and restarts its units
/// in the node. A failed step stops the sync with the step's output.
pub async fn sync(
    dir: &EnvDir,
    node: &NodePlan,
    guest: &impl Guest,
    force: bool,
) -> Result<Vec<Synced>, MountError> {
    let mut done = Vec::new();
    for m in &node.mounts {
        let seen_path = dir.join(&envdir::mount_seen(&node.name, &m.tag));
        let seen = std::fs::read_to_string(&seen_path).unwrap_or_default();
        let now = fingerprint(&m.source)?;
        let changed = seen.trim() != now;
        let mut synced = Synced {
            node: node.name.clone(),
            target: m.target.clone(),
            changed,
            installed: None,
            restarted: None,
        };
        if changed || force {
            if let Some(install) = &m.install {
                let argv = ["sh", "-c", install].map(String::from);
                synced.installed = Some(step(guest, node, "install", &argv).await?);
            }
            if !m.restart.is_empty() {
                let mut argv = vec!["systemctl".to_string(), "restart".into()];
                argv.extend(m.restart.iter().cloned());
                let took = step(guest, node, "systemctl restart", &argv).await?;
                synced.restarted = Some((m.restart.clone(), took));
            }
            envdir::write_atomic(&seen_path, now.as_bytes()).map_err(|source| {
                MountError::Write {
                    path: seen_path.clone(),
                    source,
                }
            })?;
        }
        done.push(synced);
    }
    Ok(done)
}

/// [`sync`] on every node at once, each result in the order of `nodes`: a node's install
/// and restarts are its own guest's work, tens of seconds each under TCG, so nodes do not
/// wait for one another.
pub async fn sync_nodes<G: Guest>(
    dir: &EnvDir,
    nodes: &[(&NodePlan, G)],
    force: bool,
) -> Vec<Result<Vec<Synced>, MountError>> {
    type Pending<'a> =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<Synced>, MountError>> + 'a>>;
    let mut running: Vec<Pending<'_>> = nodes
        .iter()
        .map(|(node, guest)| Box::pin(sync(dir, node, guest, force)) as Pending<'_>)
        .collect();
    let mut results: Vec<Option<Result<Vec<Synced>, MountError>>> =
        nodes.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (future, result) in running.iter_mut().zip(results.iter_mut()) {
            if result.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(r) => *result = Some(r),
                    std::task::Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().flatten().collect()
}

async fn step(
    guest: &impl Guest,
    node: &NodePlan,
    what: &str,
    argv: &[String],
) -> Result<Duration, MountError> {
    let start = Instant::now();
    let out = guest
        .output(argv, SYNC_BOUND)
        .await
        .map_err(|source| MountError::Agent {
            node: node.name.clone(),
            what: what.into(),
            source,
        })?;
    if out.code != 0 {
        let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
        output.push_str(&String::from_utf8_lossy(&out.stderr));
        let cut = output.len().saturating_sub(SHOWN);
        let cut = (cut..output.len())
            .find(|&i| output.is_char_boundary(i))
            .unwrap_or(output.len());
        return Err(MountError::Failed {
            node: node.name.clone(),
            what: what.into(),
            code: out.code,
            output: output[cut..].trim().to_string(),
        });
    }
    Ok(start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_follows_content_names_and_layout() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("pkg")).unwrap();
        std::fs::write(d.path().join("pkg/a.py"), "x = 1\n").unwrap();
        let first = fingerprint(d.path()).unwrap();
        assert_eq!(first, fingerprint(d.path()).unwrap(), "stable");
        std::fs::write(d.path().join("pkg/a.py"), "x = 22\n").unwrap();
        let resized = fingerprint(d.path()).unwrap();
        assert_ne!(first, resized);
        std::fs::rename(d.path().join("pkg/a.py"), d.path().join("pkg/b.py")).unwrap();
        let renamed = fingerprint(d.path()).unwrap();
        assert_ne!(resized, renamed);
        std::fs::create_dir(d.path().join("empty")).unwrap();
        assert_ne!(renamed, fingerprint(d.path()).unwrap(), "a new directory");
    }
}
