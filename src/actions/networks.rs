//! One L2 switch per template network, inside the supervisor.

use std::path::PathBuf;

use super::{ActionError, Context};
use crate::driver::Driver;
use crate::driver::qemu::switch::Switch;
use crate::env::journal::Entry;
use crate::fabric::Segment;

pub fn run<D: Driver>(ctx: &mut Context<'_, D>) -> Result<(), ActionError> {
    let plan = &ctx.info.plan;
    for net in &plan.networks {
        let ports: Vec<PathBuf> = plan
            .nodes
            .iter()
            .flat_map(|n| n.nics.iter())
            .filter(|nic| nic.network == net.name)
            .map(|nic| ctx.dir.join(&nic.socket))
            .collect();
        ctx.record(Entry::Path {
            path: net.switch_socket.clone(),
        })?;
        let switch = Switch::bind(&net.name, &ctx.dir.join(&net.switch_socket), ports).map_err(
            |source| ActionError::Switch {
                network: net.name.clone(),
                source,
            },
        )?;
        (ctx.progress)(format!(
            "network {} ({}): switch up",
            switch.network(),
            net.cidr
        ));
        ctx.segments.insert(
            net.name.clone(),
            Segment {
                socket: ctx.dir.join(&net.switch_socket),
                ports: switch.ports(),
            },
        );
        ctx.tasks.push(tokio::spawn(switch.run()));
    }
    Ok(())
}
