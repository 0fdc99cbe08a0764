//! For an env made from a snapshot (`up --from`): the state the snapshot carries that
//! lives outside the nodes, put where the later actions look for it. The clones find
//! their state directories filled and load them (tokens issued before the snapshot
//! still validate); `access` finds the key pair the restored guests authorise.

use super::{ActionError, Context};
use crate::driver::Driver;
use crate::envdir;
use crate::envdir::journal::Entry;
use crate::snapshot;

pub fn run<D: Driver>(ctx: &mut Context<'_, D>) -> Result<(), ActionError> {
    let Some(restore) = &ctx.info.restore else {
        return Ok(());
    };
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        ActionError::Service(format!(
            "restoring {what} from snapshot {}: {e}",
            restore.name
        ))
    };
    for service in &ctx.info.plan.services {
        let from = restore.dir.join(&service.dir);
        if !from.is_dir() {
            continue;
        }
        ctx.record(Entry::Path {
            path: service.dir.clone(),
        })?;
        let to = ctx.dir.join(&service.dir);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail(&service.name, &e))?;
        }
        crate::envdir::copy_tree(&from, &to).map_err(|e| fail(&service.name, &e))?;
        make_writable(&to).map_err(|e| fail(&service.name, &e))?;
    }
    let keys = restore.dir.join(snapshot::SSH_DIR);
    if keys.is_dir() {
        for f in [
            envdir::SSH_KEY.to_string(),
            format!("{}.pub", envdir::SSH_KEY),
        ] {
            ctx.record(Entry::Path { path: f.clone() })?;
            let to = ctx.dir.join(&f);
            std::fs::copy(keys.join(&f), &to).map_err(|e| fail("the ssh key", &e))?;
            make_writable(&to).map_err(|e| fail("the ssh key", &e))?;
        }
    }
    for node in &ctx.info.plan.nodes {
        for m in &node.mounts {
            let seen = envdir::mount_seen(&node.name, &m.tag);
            let from = restore.dir.join(&seen);
            if !from.exists() {
                continue;
            }
            ctx.record(Entry::Path { path: seen.clone() })?;
            let to = ctx.dir.join(&seen);
            let copied = std::fs::create_dir_all(ctx.dir.join(&envdir::node_dir(&node.name)))
                .and_then(|_| std::fs::copy(&from, &to))
                .and_then(|_| make_writable(&to));
            copied.map_err(|e| fail(&format!("node {}'s mount {}", node.name, m.target), &e))?;
        }
    }
    (ctx.progress)(format!(
        "restoring from snapshot {} ({})",
        restore.name, restore.snapshot
    ));
    Ok(())
}

/// Installs, in each restored node, what its mounts' directories (those `--mount`
/// chose, or the snapshot's own) hold that differs from what the node had installed at
/// the snapshot, and restarts only the units those mounts name: the branch's code in a
/// warm env, without restarting a node.
pub async fn install_mounts<D: Driver>(ctx: &mut Context<'_, D>) -> Result<(), ActionError> {
    if ctx.info.restore.is_none() {
        return Ok(());
    }
    let nodes: Vec<_> = (ctx.info.plan.nodes.iter())
        .filter(|n| !n.mounts.is_empty())
        .map(|n| (n, ctx.driver.guest(n)))
        .collect();
    let results = crate::mounts::sync_nodes(ctx.dir, &nodes, false).await;
    for ((node, _), synced) in nodes.iter().zip(results) {
        let synced = synced.map_err(|source| {
            ActionError::Mount(Box::new(super::nodes::MountFailed {
                node: node.name.clone(),
                target: (node.mounts.iter())
                    .map(|m| m.target.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
                source,
            }))
        })?;
        for s in synced.iter().filter(|s| s.changed) {
            let mut said = format!(
                "node {}: mount {} differs from the snapshot's",
                s.node, s.target
            );
            if let Some(took) = s.installed {
                said.push_str(&format!(": installed ({:.1}s)", took.as_secs_f64()));
            }
            if let Some((units, took)) = &s.restarted {
                said.push_str(&format!(
                    ", restarted {} ({:.1}s)",
                    units.join(" "),
                    took.as_secs_f64()
                ));
            }
            (ctx.progress)(said);
        }
    }
    Ok(())
}

/// The snapshot's files are read-only; their copies are the env's own (0600/0700).
fn make_writable(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path)?;
    let mode = if meta.is_dir() { 0o700 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            make_writable(&entry?.path())?;
        }
    }
    Ok(())
}
