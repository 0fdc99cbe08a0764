//! Boots every node, then waits for each to be ready, for as long as it makes progress
//! (`readiness`): the ceiling runs from the first boot, for the whole env.

use std::time::Instant;

use super::{ActionError, Context};
use crate::driver::Driver;

pub async fn run<D: Driver>(ctx: &mut Context<'_, D>) -> Result<(), ActionError> {
    let plan = &ctx.info.plan;
    let start = Instant::now();
    for node in &plan.nodes {
        let access = ctx.access.get(&node.name).cloned().unwrap_or_default();
        ctx.driver.boot(node, &access).await?;
        (ctx.progress)(format!("node {}: booting", node.name));
    }
    (ctx.nodes_changed)(ctx.driver);
    let limits = ctx.info.options.limits;
    let deadline = start + limits.timeout();
    for node in &plan.nodes {
        ctx.driver
            .wait_ready(node, deadline, limits.stall())
            .await?;
        (ctx.progress)(format!(
            "node {}: ready ({:.1}s)",
            node.name,
            start.elapsed().as_secs_f64()
        ));
        (ctx.nodes_changed)(ctx.driver);
    }
    Ok(())
}
