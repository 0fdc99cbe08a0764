//! The env's fabric as the SDN clone changes it: a network made through the API gets
//! an L2 segment (a switch of its own), and a port bound to a node attaches that node
//! to the segment with a NIC hot-plugged over QMP, carrying the port's MAC.
//!
//! Nodes of an env with an SDN clone boot with spare PCIe root ports for this (q35
//! hot-plugs only into root ports); the guest sees a new virtio NIC appear.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinSet;

use crate::clone::sdn::FabricEvent;
use crate::driver::qemu::argv::{SPARE_SLOTS, slot_id};
use crate::journal::{Entry, Journal};
use crate::layout::{self, EnvDir};
use crate::plan::Plan;
use crate::qmp::Channel;
use crate::switch::{Ports, Switch};

/// A segment: its switch socket, and the handle that adds ports to it.
pub struct Segment {
    pub socket: PathBuf,
    pub ports: Ports,
}

struct Attachment {
    node: String,
    network_id: String,
    nic: PathBuf,
    slot: usize,
}

pub struct Fabric {
    dir: EnvDir,
    plan: Plan,
    journal: Arc<Mutex<Journal>>,
    /// SDN network id -> segment.
    segments: HashMap<String, Segment>,
    switches: JoinSet<()>,
    /// node -> which spare slots hold which port.
    slots: HashMap<String, [Option<String>; SPARE_SLOTS]>,
    attached: HashMap<String, Attachment>,
}

impl Fabric {
    /// `segments` are the template's networks, keyed by the SDN clone's ids for them.
    pub fn new(
        dir: EnvDir,
        plan: Plan,
        journal: Arc<Mutex<Journal>>,
        segments: HashMap<String, Segment>,
    ) -> Fabric {
        Fabric {
            dir,
            plan,
            journal,
            segments,
            switches: JoinSet::new(),
            slots: HashMap::new(),
            attached: HashMap::new(),
        }
    }

    /// Follows the clone's changes until the channel closes. Failures go to the log:
    /// the API has answered already, as Neutron's does before its agents act.
    pub async fn run(mut self, mut events: UnboundedReceiver<FabricEvent>) {
        while let Some(event) = events.recv().await {
            let what = format!("{event:?}");
            if let Err(e) = self.apply(event).await {
                eprintln!("fabric: {what}: {e}");
            }
        }
    }

    fn record(&self, entry: Entry) -> Result<(), String> {
        self.journal
            .lock()
            .expect("journal lock")
            .record(&entry)
            .map_err(|e| e.to_string())
    }

    async fn apply(&mut self, event: FabricEvent) -> Result<(), String> {
        match event {
            FabricEvent::NetworkCreated { id } => {
                let rel = layout::segment_socket(&id);
                self.record(Entry::Path { path: rel.clone() })?;
                let socket = self.dir.join(&rel);
                let switch = Switch::bind(&id, &socket, Vec::new())
                    .map_err(|e| format!("binding {}: {e}", socket.display()))?;
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
            } => {
                let Some(node) = self.plan.node(&host).cloned() else {
                    return Ok(()); // bound to a host that is not a node of this env
                };
                let seg = self
                    .segments
                    .get(&network_id)
                    .ok_or_else(|| format!("network {network_id} has no segment"))?;
                let slots = self.slots.entry(host.clone()).or_default();
                let slot = slots.iter().position(Option::is_none).ok_or_else(|| {
                    format!("node {host} has no free slot left ({SPARE_SLOTS} spare)")
                })?;
                let rel = layout::attached_nic_socket(&host, &id);
                self.record(Entry::Path { path: rel.clone() })?;
                let nic = self.dir.join(&rel);
                seg.ports.add(nic.clone());
                let mut qmp = self.qmp(&node.files.qmp).await?;
                let tag = short(&id);
                qmp.execute_raw(
                    "netdev_add",
                    json!({"type": "dgram", "id": format!("p-{tag}"),
                           "local": {"type": "unix", "path": nic},
                           "remote": {"type": "unix", "path": seg.socket}}),
                )
                .await
                .map_err(|e| e.to_string())?;
                qmp.execute_raw(
                    "device_add",
                    json!({"driver": "virtio-net-pci", "id": format!("d-{tag}"), "netdev": format!("p-{tag}"),
                           "mac": mac.to_string(), "bus": slot_id(slot)}),
                )
                .await
                .map_err(|e| e.to_string())?;
                self.slots.get_mut(&host).expect("inserted above")[slot] = Some(id.clone());
                self.attached.insert(
                    id,
                    Attachment {
                        node: host,
                        network_id,
                        nic,
                        slot,
                    },
                );
                Ok(())
            }
            FabricEvent::PortUnbound { id, .. } => {
                let Some(a) = self.attached.remove(&id) else {
                    return Ok(());
                };
                if let Some(seg) = self.segments.get(&a.network_id) {
                    seg.ports.remove(&a.nic);
                }
                let node = self
                    .plan
                    .node(&a.node)
                    .cloned()
                    .ok_or("node vanished from the plan")?;
                let mut qmp = self.qmp(&node.files.qmp).await?;
                let tag = short(&id);
                qmp.execute_raw("device_del", json!({"id": format!("d-{tag}")}))
                    .await
                    .map_err(|e| e.to_string())?;
                // The guest acknowledges the unplug in its own time; the netdev goes after.
                for _ in 0..20 {
                    if qmp
                        .execute_raw("netdev_del", json!({"id": format!("p-{tag}")}))
                        .await
                        .is_ok()
                    {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                let _ = std::fs::remove_file(&a.nic);
                if let Some(slots) = self.slots.get_mut(&a.node) {
                    slots[a.slot] = None;
                }
                Ok(())
            }
        }
    }

    async fn qmp(&self, rel: &str) -> Result<Channel, String> {
        let path = self.dir.join(rel);
        tokio::time::timeout(Duration::from_secs(5), Channel::qmp(&path))
            .await
            .map_err(|_| format!("{}: no answer", path.display()))?
            .map_err(|e| e.to_string())
    }
}

/// Ids are UUIDs; QEMU ids and socket names take their first 8 hex digits.
fn short(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(8)
        .collect()
}
