//! The env's fabric as the network service changes it: a network made through its API
//! gets an L2 segment (a switch of its own), a port bound to a node attaches that
//! node to the segment with a NIC the driver hot-plugs, carrying the port's MAC, and a
//! router with interfaces gets a NIC on each of their segments and forwards between
//! them (`router.rs`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinSet;

use crate::clone::registry::FabricEvent;
use crate::driver::qemu::switch::{Ports, Switch};
use crate::driver::{HotNic, Nics};
use crate::env::journal::{Entry, Journal};
use crate::env::layout::{self, EnvDir};
use crate::plan::Plan;

#[derive(Debug, thiserror::Error)]
pub enum FabricError {
    #[error("journal: {0}")]
    Journal(#[source] std::io::Error),
    #[error("binding {socket}: {source}")]
    Bind {
        socket: String,
        source: std::io::Error,
    },
    #[error("network {0} has no segment")]
    NoSegment(String),
    #[error(transparent)]
    Nic(#[from] crate::driver::DriverError),
}

/// A segment: its switch socket, and the handle that adds ports to it.
pub struct Segment {
    pub socket: PathBuf,
    pub ports: Ports,
}

struct Attachment {
    node: String,
    network_id: String,
    nic: HotNic,
}

pub struct Fabric<N: Nics> {
    dir: EnvDir,
    plan: Plan,
    journal: Arc<Mutex<Journal>>,
    nics: N,
    /// Network service's id -> segment.
    segments: HashMap<String, Segment>,
    switches: JoinSet<()>,
    /// Port id -> the NIC it has on a node.
    attached: HashMap<String, Attachment>,
    routers: HashMap<String, RunningRouter>,
}

/// A router in the fabric: its task, and its NICs (network id, socket).
struct RunningRouter {
    task: tokio::task::JoinHandle<()>,
    nics: Vec<(String, PathBuf)>,
}

impl<N: Nics + Send + 'static> Fabric<N> {
    /// `segments` are the template's networks, keyed by the network service's ids.
    pub fn new(
        dir: EnvDir,
        plan: Plan,
        journal: Arc<Mutex<Journal>>,
        nics: N,
        segments: HashMap<String, Segment>,
    ) -> Fabric<N> {
        Fabric {
            dir,
            plan,
            journal,
            nics,
            segments,
            switches: JoinSet::new(),
            attached: HashMap::new(),
            routers: HashMap::new(),
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

    fn record(&self, entry: Entry) -> Result<(), FabricError> {
        self.journal
            .lock()
            .expect("journal lock")
            .record(&entry)
            .map_err(FabricError::Journal)
    }

    /// Joins a port's NIC on `host` to its network's segment; with `plug`, the driver
    /// attaches the NIC first (a restored node has it already).
    async fn bind(
        &mut self,
        id: String,
        network_id: String,
        host: String,
        mac: crate::net::Mac,
        plug: bool,
    ) -> Result<(), FabricError> {
        if self.plan.node(&host).is_none() {
            return Ok(()); // bound to a host that is not a node of this env
        }
        let seg = self
            .segments
            .get(&network_id)
            .ok_or_else(|| FabricError::NoSegment(network_id.clone()))?;
        let rel = layout::attached_nic_socket(&host, &id);
        self.record(Entry::Nic {
            node: host.clone(),
            port: id.clone(),
            socket: rel.clone(),
        })?;
        let nic = HotNic {
            id: id.clone(),
            mac,
            socket: self.dir.join(&rel),
            segment: seg.socket.clone(),
        };
        seg.ports.add(nic.socket.clone());
        if plug && let Err(e) = self.nics.attach(&host, &nic).await {
            seg.ports.remove(&nic.socket);
            return Err(e.into());
        }
        self.attached.insert(
            id,
            Attachment {
                node: host,
                network_id,
                nic,
            },
        );
        Ok(())
    }

    /// Stops a router and takes its NICs off their segments.
    fn remove_router(&mut self, id: &str) {
        if let Some(r) = self.routers.remove(id) {
            r.task.abort();
            for (network_id, socket) in r.nics {
                if let Some(seg) = self.segments.get(&network_id) {
                    seg.ports.remove(&socket);
                }
                let _ = std::fs::remove_file(&socket);
            }
        }
    }

    /// (Re)starts a router with a NIC on each interface's segment; its sockets are
    /// recorded before they are bound.
    fn set_router(
        &mut self,
        id: String,
        interfaces: Vec<crate::clone::registry::RouterNic>,
        routes: Vec<crate::driver::qemu::router::Route>,
    ) -> Result<(), FabricError> {
        self.remove_router(&id);
        let mut nics = Vec::new();
        let mut config = Vec::new();
        for i in &interfaces {
            let seg = self
                .segments
                .get(&i.network_id)
                .ok_or_else(|| FabricError::NoSegment(i.network_id.clone()))?;
            let rel = layout::router_nic_socket(&id, &i.port);
            self.record(Entry::Path { path: rel.clone() })?;
            // Ours (recorded): one a failed start left would refuse the bind.
            let _ = std::fs::remove_file(self.dir.join(&rel));
            nics.push(crate::driver::qemu::router::Nic {
                socket: self.dir.join(&rel),
                segment: seg.socket.clone(),
            });
            config.push(crate::driver::qemu::router::Interface {
                mac: i.mac,
                ip: i.ip,
                prefix: i.prefix,
            });
        }
        let task = crate::driver::qemu::router::spawn(
            crate::driver::qemu::router::Router::new(config, routes),
            &nics,
        )
        .map_err(|source| FabricError::Bind {
            socket: format!("a NIC of router {id}"),
            source,
        })?;
        let mut joined = Vec::new();
        for (i, n) in interfaces.iter().zip(nics) {
            self.segments[&i.network_id].ports.add(n.socket.clone());
            joined.push((i.network_id.clone(), n.socket));
        }
        self.routers
            .insert(id, RunningRouter { task, nics: joined });
        Ok(())
    }

    async fn apply(&mut self, event: FabricEvent) -> Result<(), FabricError> {
        match event {
            FabricEvent::RouterSet {
                id,
                interfaces,
                routes,
            } => self.set_router(id, interfaces, routes),
            FabricEvent::RouterDeleted { id } => {
                self.remove_router(&id);
                Ok(())
            }
            FabricEvent::NetworkCreated { id } => {
                let rel = layout::segment_socket(&id);
                self.record(Entry::Path { path: rel.clone() })?;
                let socket = self.dir.join(&rel);
                let switch =
                    Switch::bind(&id, &socket, Vec::new()).map_err(|source| FabricError::Bind {
                        socket: socket.display().to_string(),
                        source,
                    })?;
                let ports = switch.ports();
                self.switches.spawn(switch.run());
                self.segments.insert(id, Segment { socket, ports });
                Ok(())
            }
            FabricEvent::NetworkDeleted { id } => {
                if let Some(seg) = self.segments.remove(&id) {
                    // The switch task stays until teardown; without ports it is inert.
                    let _ = std::fs::remove_file(&seg.socket);
                }
                Ok(())
            }
            FabricEvent::PortBound {
                id,
                network_id,
                host,
                mac,
            } => self.bind(id, network_id, host, mac, true).await,
            FabricEvent::PortRestored {
                id,
                network_id,
                host,
                mac,
            } => self.bind(id, network_id, host, mac, false).await,
            FabricEvent::PortUnbound { id, .. } => {
                let Some(a) = self.attached.remove(&id) else {
                    return Ok(());
                };
                if let Some(seg) = self.segments.get(&a.network_id) {
                    seg.ports.remove(&a.nic.socket);
                }
                self.nics.detach(&a.node, &a.nic).await?;
                let _ = std::fs::remove_file(&a.nic.socket);
                Ok(())
            }
        }
    }
}
