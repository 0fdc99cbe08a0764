//! Bring-up as an ordered list of small actions sharing one context (kind's
//! `create/actions` is the model): restore (a snapshot's state outside the nodes, for
//! `up --from`), networks, services (the clones), access (SSH keys and host ports),
//! nodes (boot, or resume from the snapshot, then wait until ready).
//!
//! Each action records what it creates in the env's journal *before* creating it. None
//! undoes anything itself: teardown undoes the journal newest-first, in one place
//! (`journal::undo`), for a failed `up`, for `down` and after a crash alike.

pub mod access;
pub mod gates;
pub mod handoff;
pub mod networks;
pub mod nodes;
pub mod restore;
pub mod services;

use std::collections::HashMap;

use tokio::task::JoinHandle;

use crate::driver::{Access, Driver, DriverError};
use crate::env::EnvInfo;
use crate::envdir::EnvDir;
use crate::envdir::journal::{Entry, Recorder};

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("journal: {0}")]
    Journal(#[source] std::io::Error),
    /// A clone could not be started or handed off.
    #[error("{0}")]
    Service(String),
    #[error(transparent)]
    Gate(#[from] Box<gates::Failed>),
    #[error("hand-off: {0}")]
    Handoff(String),
    #[error("ssh access: {0}")]
    Access(String),
    #[error(transparent)]
    Node(#[from] DriverError),
    #[error(transparent)]
    Mount(Box<nodes::MountFailed>),
}

/// What the actions share. The supervisor owns everything it borrows here.
pub struct Context<'a, D: Driver> {
    pub info: &'a EnvInfo,
    pub dir: &'a EnvDir,
    pub driver: &'a mut D,
    pub journal: &'a Recorder,
    /// The clones and the fabric: tasks that run until teardown aborts them.
    pub tasks: &'a mut Vec<JoinHandle<()>>,
    /// One step of progress, for `up`'s output and the supervisor's log.
    pub progress: &'a dyn Fn(String),
    /// Called when nodes changed state, so `status` follows the bring-up.
    pub nodes_changed: &'a dyn Fn(&mut D),
    /// How each node is reached from the host (from `access`, for `nodes`).
    pub access: HashMap<String, Access>,
}

impl<D: Driver> Context<'_, D> {
    /// Records `entry` in the journal; every action calls this before it creates.
    pub fn record(&self, entry: Entry) -> Result<(), ActionError> {
        self.journal.record(&entry).map_err(ActionError::Journal)
    }
}

/// Brings the env up, action after action; the first failure ends it.
pub async fn bring_up<D: Driver>(ctx: &mut Context<'_, D>) -> Result<(), ActionError> {
    let plan = &ctx.info.plan;
    (ctx.progress)(format!(
        "env {}: {} nodes, accel {}",
        ctx.info.name,
        plan.nodes.len(),
        ctx.info.accel.as_str()
    ));
    restore::run(ctx)?;
    networks::run(ctx)?;
    // Access first: the identity clone's catalog names the host ports of nodes' `ports:`.
    access::run(ctx)?;
    services::run(ctx).await?;
    nodes::run(ctx).await?;
    restore::install_mounts(ctx).await?;
    gates::run(ctx).await?;
    handoff::run(ctx).await
}

/// Takes the env's running parts down, whatever brought it there (a failed `up`, `down`,
/// its TTL): the nodes (each asked to power off for up to `graceful`), then what the
/// driver runs besides them, then the env's own tasks. What they leave is the
/// journal's to undo (`journal::undo`), as after a crash.
pub async fn tear_down<D: Driver>(
    driver: &mut D,
    plan: &crate::plan::Plan,
    tasks: &mut Vec<JoinHandle<()>>,
    graceful: std::time::Duration,
) {
    driver.stop(&plan.nodes, graceful).await;
    driver.close();
    for task in tasks.drain(..) {
        task.abort();
    }
}

#[cfg(test)]
mod tests;
