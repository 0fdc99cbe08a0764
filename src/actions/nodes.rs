//! Boots every node, then waits for each to be ready, for as long as it makes progress
//! (`readiness`): the ceiling runs from the first boot, for the whole env. A repair
//! (`up` on an env with nodes down) starts the nodes that went down the same way.

use std::collections::HashMap;
use std::time::Instant;

use super::{ActionError, Context};
use crate::driver::readiness::Limits;
use crate::driver::{Access, Driver, DriverError};
use crate::plan::NodePlan;

pub async fn run<D: Driver>(ctx: &mut Context<'_, D>) -> Result<(), ActionError> {
    let nodes: Vec<&NodePlan> = ctx.info.plan.nodes.iter().collect();
    start(
        ctx.driver,
        &nodes,
        &ctx.access,
        ctx.info.options.limits,
        ctx.progress,
        ctx.nodes_changed,
    )
    .await?;
    Ok(())
}

/// Boots `nodes`, then waits until each is ready.
pub async fn start<D: Driver>(
    driver: &mut D,
    nodes: &[&NodePlan],
    access: &HashMap<String, Access>,
    limits: Limits,
    progress: &dyn Fn(String),
    changed: &dyn Fn(&mut D),
) -> Result<(), DriverError> {
    let started = Instant::now();
    for node in nodes {
        let access = access.get(&node.name).cloned().unwrap_or_default();
        driver.boot(node, &access).await?;
        progress(format!("node {}: booting", node.name));
    }
    changed(driver);
    let deadline = started + limits.timeout();
    for node in nodes {
        driver.wait_ready(node, deadline, limits.stall()).await?;
        progress(format!(
            "node {}: ready ({:.1}s)",
            node.name,
            started.elapsed().as_secs_f64()
        ));
        changed(driver);
    }
    Ok(())
}
