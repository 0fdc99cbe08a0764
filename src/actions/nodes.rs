//! Boots every node, then waits for each to be ready, for as long as it makes progress
//! (`readiness`): the ceiling runs from the first boot, for the whole env. A node whose
//! hypervisor aborts before it is ready (QEMU failing its own assertion, under load)
//! boots once more from a fresh disk. A repair (`up` on an env with nodes down) starts
//! the nodes that went down the same way.

use std::collections::HashMap;
use std::time::Instant;

use super::{ActionError, Context};
use crate::driver::readiness::Limits;
use crate::driver::{Access, Driver, DriverError};
use crate::envdir::journal::{Entry, Recorder};
use crate::envdir::{self, EnvDir};
use crate::plan::NodePlan;

pub async fn run<D: Driver>(ctx: &mut Context<'_, D>) -> Result<(), ActionError> {
    let nodes: Vec<&NodePlan> = ctx.info.plan.nodes.iter().collect();
    let start = Start {
        dir: ctx.dir,
        journal: ctx.journal,
        access: &ctx.access,
        limits: ctx.info.options.limits,
        progress: ctx.progress,
        restored: ctx.info.restore.is_some(),
    };
    start.run(ctx.driver, &nodes, ctx.nodes_changed).await
}

/// What booting nodes takes besides the driver, for the bring-up and for a repair.
pub struct Start<'a> {
    pub dir: &'a EnvDir,
    pub journal: &'a Recorder,
    pub access: &'a HashMap<String, Access>,
    pub limits: Limits,
    pub progress: &'a dyn Fn(String),
    /// The nodes resume from a snapshot: what their mounts hold installed is the
    /// snapshot's (`restore::install_mounts`), not what their directories hold now.
    pub restored: bool,
}

impl Start<'_> {
    /// Boots `nodes`, then waits until each is ready.
    pub async fn run<D: Driver>(
        &self,
        driver: &mut D,
        nodes: &[&NodePlan],
        changed: &dyn Fn(&mut D),
    ) -> Result<(), ActionError> {
        let started = Instant::now();
        for node in nodes {
            self.mounts_seen(node)?;
            let access = self.access.get(&node.name).cloned().unwrap_or_default();
            driver.boot(node, &access).await?;
            (self.progress)(format!("node {}: booting", node.name));
        }
        changed(driver);
        let deadline = started + self.limits.timeout();
        for node in nodes {
            match driver.wait_ready(node, deadline, self.limits.stall()).await {
                Err(DriverError::Died {
                    aborted: true,
                    status,
                    ..
                }) => self.again(driver, node, &status, deadline).await?,
                other => other?,
            }
            (self.progress)(format!(
                "node {}: ready ({:.1}s)",
                node.name,
                started.elapsed().as_secs_f64()
            ));
            changed(driver);
        }
        Ok(())
    }

    /// Boots once more a node whose hypervisor aborted before the node was ready, from
    /// a fresh disk; a second abort fails it, saying it was the second.
    async fn again<D: Driver>(
        &self,
        driver: &mut D,
        node: &NodePlan,
        status: &str,
        deadline: Instant,
    ) -> Result<(), ActionError> {
        (self.progress)(format!(
            "node {}: its hypervisor aborted before the node was ready ({status}): booting it again, once, from a fresh disk",
            node.name
        ));
        driver.discard(node)?;
        self.mounts_seen(node)?;
        let access = self.access.get(&node.name).cloned().unwrap_or_default();
        driver.boot(node, &access).await?;
        (self.progress)(format!("node {}: booting (second try)", node.name));
        match driver.wait_ready(node, deadline, self.limits.stall()).await {
            Err(DriverError::Died {
                node: name,
                status,
                tail,
                aborted: true,
            }) => Err(ActionError::Node(DriverError::Died {
                node: name,
                status: format!("{status}; its hypervisor aborted a second time"),
                tail,
                aborted: true,
            })),
            other => Ok(other?),
        }
    }

    /// What each of the node's mounts has as it boots: its install runs then, and
    /// `vstage sync` compares with it.
    fn mounts_seen(&self, node: &NodePlan) -> Result<(), ActionError> {
        if self.restored {
            return Ok(());
        }
        for m in &node.mounts {
            let path = envdir::mount_seen(&node.name, &m.tag);
            self.journal
                .record(&Entry::Path { path })
                .map_err(ActionError::Journal)?;
            let failed = |source| {
                ActionError::Mount(Box::new(MountFailed {
                    node: node.name.clone(),
                    target: m.target.clone(),
                    source,
                }))
            };
            let node_dir = self.dir.join(&envdir::node_dir(&node.name));
            std::fs::create_dir_all(&node_dir).map_err(|source| {
                failed(crate::mounts::MountError::Write {
                    path: node_dir.clone(),
                    source,
                })
            })?;
            crate::mounts::record_seen(self.dir, &node.name, m).map_err(failed)?;
        }
        Ok(())
    }
}

/// A node's mount that could not be readied before its boot.
#[derive(Debug, thiserror::Error)]
#[error("node {node}: mount {target}: {source}")]
pub struct MountFailed {
    pub node: String,
    pub target: String,
    pub source: crate::mounts::MountError,
}

/// Starts the nodes of `plan` that are not ready again (`up` on a degraded env), the
/// others left as they are; returns their names.
pub async fn repair<D: Driver>(
    start: &Start<'_>,
    driver: &mut D,
    plan: &crate::plan::Plan,
    changed: &dyn Fn(&mut D),
) -> Result<Vec<String>, ActionError> {
    let down: Vec<&NodePlan> = plan
        .nodes
        .iter()
        .filter(|n| driver.state(&n.name) != crate::driver::NodeState::Ready)
        .collect();
    let names: Vec<String> = down.iter().map(|n| n.name.clone()).collect();
    if !down.is_empty() {
        (start.progress)(format!("repairing: starting {} again", names.join(", ")));
        start.run(driver, &down, changed).await?;
    }
    Ok(names)
}
