//! The supervisor's half of a snapshot: one consistent cut of the whole env, saved into
//! a `snapshot.partial-*` directory in the env dir (`snapshot::Store::commit` makes it
//! a snapshot).
//!
//! Every node is paused before the first is saved, and the clones' state is copied
//! while they are paused, so memory, disks and services all show the same moment.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::clone::registry;
use crate::driver::{Driver, DriverError};
use crate::env::EnvInfo;
use crate::envdir::{self, EnvDir};
use crate::snapshot::{self, Expiry, Saved};

/// Why a snapshot was not taken.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// What the env holds that a snapshot cannot carry.
    #[error("{0}")]
    Unsaveable(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error("resuming the nodes after the snapshot: {0}")]
    Resume(DriverError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SaveError + '_ {
    move |source| SaveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Saves the env; its nodes run on afterwards, or are stopped with `stop`. On failure
/// the partial directory goes and the nodes run on.
pub async fn save<D: Driver>(
    driver: &mut D,
    info: &EnvInfo,
    dir: &EnvDir,
    stop: bool,
) -> Result<Saved, SaveError> {
    refuse_unsaveable(info)?;
    // A directory of its own per save: a client that vanished after an earlier save
    // has its leftover removed by its own connection's task, never this one's.
    let name = format!("{}-{}", snapshot::PARTIAL, super::now_ms());
    let partial = dir.join(&name);
    std::fs::create_dir(&partial).map_err(io(&partial))?;
    let nodes = &info.plan.nodes;
    let paused = Instant::now();
    let saved = async {
        driver.pause(nodes).await?;
        let saved = driver.save(nodes, &partial).await?;
        copy_services(info, dir, &partial)?;
        copy_ssh_key(dir, &partial)?;
        copy_mounts_seen(info, dir, &partial)?;
        Ok::<_, SaveError>(saved)
    }
    .await;
    let paused_ms = paused.elapsed().as_millis() as u64;
    if stop && saved.is_ok() {
        driver.stop(nodes, std::time::Duration::ZERO).await;
    } else if let Err(e) = driver.resume(nodes).await {
        discard(dir, &name);
        return Err(SaveError::Resume(e));
    }
    let saved = saved.inspect_err(|_| discard(dir, &name))?;
    Ok(Saved {
        partial: name,
        nodes: saved,
        expires: expiries(info, &partial),
        paused_ms,
    })
}

/// Removes what a save left in the env dir (failed, or not taken by its client).
pub fn discard(dir: &EnvDir, partial: &str) {
    let _ = snapshot::remove_tree(&dir.join(partial));
}

/// What a snapshot cannot carry yet, refused before anything is paused.
fn refuse_unsaveable(info: &EnvInfo) -> Result<(), SaveError> {
    if !info.driver.features().snapshots {
        return Err(SaveError::Unsaveable(format!(
            "the {} driver cannot save nodes",
            info.driver.name()
        )));
    }
    for service in &info.plan.services {
        if registry::kind(&service.kind).is_some_and(|k| !k.persistent()) {
            return Err(SaveError::Unsaveable(format!(
                "service {} ({}) keeps its state in memory only, so a snapshot cannot carry it yet",
                service.name, service.kind
            )));
        }
    }
    Ok(())
}

/// The clones' state directories, as they are while the nodes are paused; request logs
/// stay with the env they record.
fn copy_services(info: &EnvInfo, dir: &EnvDir, partial: &Path) -> Result<(), SaveError> {
    for service in &info.plan.services {
        let from = dir.join(&service.dir);
        if !from.is_dir() {
            continue;
        }
        let to = partial.join(&service.dir);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        crate::envdir::copy_tree(&from, &to).map_err(io(&to))?;
        for own in [crate::clone::REQUEST_LOG, crate::handoff::CLONE_URL] {
            let _ = std::fs::remove_file(to.join(own));
        }
    }
    Ok(())
}

/// The key the guests authorise, so that `vstage ssh` reaches restored nodes.
fn copy_ssh_key(dir: &EnvDir, partial: &Path) -> Result<(), SaveError> {
    let key = dir.join(envdir::SSH_KEY);
    if !key.exists() {
        return Ok(());
    }
    let to = partial.join(snapshot::SSH_DIR);
    std::fs::create_dir_all(&to).map_err(io(&to))?;
    for f in [
        envdir::SSH_KEY.to_string(),
        format!("{}.pub", envdir::SSH_KEY),
    ] {
        std::fs::copy(dir.join(&f), to.join(&f)).map_err(io(&to.join(&f)))?;
    }
    Ok(())
}

/// What each node has installed from its mounts: a restore compares the directories
/// it is given with it, and installs what differs.
fn copy_mounts_seen(info: &EnvInfo, dir: &EnvDir, partial: &Path) -> Result<(), SaveError> {
    for node in &info.plan.nodes {
        for m in &node.mounts {
            let seen = envdir::mount_seen(&node.name, &m.tag);
            if dir.join(&seen).exists() {
                let to = partial.join(&seen);
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                }
                std::fs::copy(dir.join(&seen), &to).map_err(io(&to))?;
            }
        }
    }
    Ok(())
}

fn expiries(info: &EnvInfo, partial: &Path) -> Vec<Expiry> {
    info.plan
        .services
        .iter()
        .filter_map(|s| {
            let kind = registry::kind(&s.kind)?;
            let (what, at_unix) = kind.expiry(&partial.join(&s.dir))?;
            Some(Expiry {
                what: format!("{}: {what}", s.name),
                at_unix,
            })
        })
        .collect()
}
