//! A segment per template network, made by the driver; the nodes' NICs on that network
//! are on it from their boot.

use super::{ActionError, Context};
use crate::driver::{Driver, Network as _};

pub fn run<D: Driver>(ctx: &mut Context<'_, D>) -> Result<(), ActionError> {
    let mut network = ctx.driver.network();
    for net in &ctx.info.plan.networks {
        network.add_segment(&net.name)?;
        (ctx.progress)(format!("network {} ({}): segment up", net.name, net.cidr));
    }
    Ok(())
}
