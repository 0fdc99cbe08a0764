//! The env's networks as the network service changes them: a network made through its
//! API gets a segment, a port bound to a node gives that node a NIC on the port's
//! segment, a router with interfaces gets one on each of their segments and forwards
//! between them. The driver does each of these (`driver::Network`); this task only
//! turns the service's events into its calls.

use std::collections::HashMap;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::clone::registry::FabricEvent;
use crate::driver::{DriverError, Network, PortNic, RouterPort};
use crate::plan::Plan;

pub struct Fabric<N: Network> {
    plan: Plan,
    network: N,
    /// The service's id of each template network -> the segment's name (the network's).
    aliases: HashMap<String, String>,
}

impl<N: Network> Fabric<N> {
    /// `aliases`: the template's networks, by the network service's ids for them.
    pub fn new(plan: Plan, network: N, aliases: HashMap<String, String>) -> Fabric<N> {
        Fabric {
            plan,
            network,
            aliases,
        }
    }

    /// Follows the service's changes until the channel closes. Failures go to the log:
    /// the API has answered already, as a real network service does before its agents act.
    pub async fn run(mut self, mut events: UnboundedReceiver<FabricEvent>) {
        while let Some(event) = events.recv().await {
            let what = format!("{event:?}");
            if let Err(e) = self.apply(event).await {
                eprintln!("fabric: {what}: {e}");
            }
        }
    }

    /// The segment of the service's network `id`.
    fn segment(&self, id: &str) -> String {
        self.aliases
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    pub async fn apply(&mut self, event: FabricEvent) -> Result<(), DriverError> {
        match event {
            FabricEvent::NetworkCreated { id } => self.network.add_segment(&id),
            FabricEvent::NetworkDeleted { id } => {
                let segment = self.segment(&id);
                self.network.remove_segment(&segment);
                Ok(())
            }
            FabricEvent::PortBound {
                id,
                network_id,
                host,
                mac,
            } => self.bind(&id, &network_id, &host, mac, false).await,
            FabricEvent::PortRestored {
                id,
                network_id,
                host,
                mac,
            } => self.bind(&id, &network_id, &host, mac, true).await,
            FabricEvent::PortUnbound { id, .. } => self.network.detach(&id).await,
            FabricEvent::RouterSet {
                id,
                interfaces,
                routes,
            } => {
                let ports: Vec<RouterPort> = interfaces
                    .into_iter()
                    .map(|i| RouterPort {
                        segment: self.segment(&i.network_id),
                        port: i.port,
                        mac: i.mac,
                        ip: i.ip,
                        prefix: i.prefix,
                    })
                    .collect();
                self.network.set_router(&id, &ports, routes)
            }
            FabricEvent::RouterDeleted { id } => {
                self.network.remove_router(&id);
                Ok(())
            }
        }
    }

    /// A port bound to `host` gets a NIC there, if `host` is a node of this env.
    async fn bind(
        &mut self,
        id: &str,
        network_id: &str,
        host: &str,
        mac: crate::net::Mac,
        restored: bool,
    ) -> Result<(), DriverError> {
        if self.plan.node(host).is_none() {
            return Ok(());
        }
        let nic = PortNic {
            id: id.to_string(),
            mac,
        };
        let segment = self.segment(network_id);
        self.network.attach(host, &segment, &nic, restored).await
    }
}
