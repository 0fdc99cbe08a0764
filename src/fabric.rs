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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::Driver as _;
    use crate::driver::fake::{self, Fake};
    use crate::envdir::journal::{Journal, Recorder};
    use crate::envdir::{self, EnvDir};
    use crate::net::Mac;

    const LAN: &str = "apiVersion: vstage/v1
name: f
networks: [{name: lan, cidr: 10.9.0.0/24}]
nodes: [{name: a, image: tiny, nics: [{network: lan}]}]
";

    #[tokio::test]
    async fn the_services_changes_become_segments_nics_and_routers() {
        let root = tempfile::tempdir().unwrap();
        let dir = EnvDir(root.path().to_path_buf());
        let journal = Recorder::new(Journal::open(&dir.join(envdir::JOURNAL)).unwrap());
        let driver = Fake::new(dir.clone(), journal);
        let source = crate::template::Source {
            label: "t.yaml".into(),
            text: LAN.into(),
        };
        let plan = crate::plan::build(&crate::template::load(&source, &[]).unwrap()).unwrap();
        let mut network = driver.network();
        crate::driver::Network::add_segment(&mut network, "lan").unwrap();
        // The service knows the template's network `lan` as `id-lan`.
        let aliases = [("id-lan".to_string(), "lan".to_string())].into();
        let mut fabric = Fabric::new(plan, driver.network(), aliases);
        let mac = Mac([0x52, 0x54, 0, 0, 0, 9]);
        let events = [
            FabricEvent::NetworkCreated { id: "n2".into() },
            FabricEvent::PortBound {
                id: "p1".into(),
                network_id: "id-lan".into(),
                host: "a".into(),
                mac,
            },
            FabricEvent::PortBound {
                id: "p2".into(),
                network_id: "n2".into(),
                host: "a".into(),
                mac,
            },
            // Bound to a host that is not a node of this env: nothing to attach.
            FabricEvent::PortBound {
                id: "p3".into(),
                network_id: "n2".into(),
                host: "compute-elsewhere".into(),
                mac,
            },
            FabricEvent::RouterSet {
                id: "r1".into(),
                interfaces: vec![crate::clone::registry::RouterNic {
                    port: "rp".into(),
                    network_id: "id-lan".into(),
                    mac,
                    ip: "10.9.0.1".parse().unwrap(),
                    prefix: 24,
                }],
                routes: Vec::new(),
            },
        ];
        for e in events {
            fabric.apply(e).await.unwrap();
        }
        {
            let c = driver.control.lock().unwrap();
            let nics: Vec<_> = c
                .nics
                .iter()
                .map(|(id, (n, s))| (id.as_str(), n.as_str(), s.as_str()))
                .collect();
            assert_eq!(nics, [("p1", "a", "lan"), ("p2", "a", "n2")]);
            assert_eq!(c.routers["r1"], ["lan"]);
        }
        // A port on a network with no segment fails, and attaches nothing.
        let missing = FabricEvent::PortBound {
            id: "p4".into(),
            network_id: "gone".into(),
            host: "a".into(),
            mac,
        };
        assert!(fabric.apply(missing).await.is_err());
        for e in [
            FabricEvent::PortUnbound {
                id: "p2".into(),
                host: "a".into(),
            },
            FabricEvent::RouterDeleted { id: "r1".into() },
            FabricEvent::NetworkDeleted { id: "n2".into() },
        ] {
            fabric.apply(e).await.unwrap();
        }
        let c = driver.control.lock().unwrap();
        assert_eq!(c.nics.keys().collect::<Vec<_>>(), ["p1"]);
        assert!(c.routers.is_empty());
        let live = fake::live(dir.path());
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(live, pairs(&[("nic", "p1"), ("segment", "lan")]));
    }
}
