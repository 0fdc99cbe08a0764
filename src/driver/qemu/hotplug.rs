//! NICs attached to running nodes, for the network service's ports: a datagram netdev
//! joined to the segment's switch and a virtio NIC in one of the node's spare PCIe root
//! ports (q35 hot-plugs only into root ports; `argv` gives the node `SPARE_SLOTS`).

use super::files::NodeFiles;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::argv::{SPARE_SLOTS, slot_id};
use crate::driver::DriverError;
use crate::driver::qemu::qmp::Channel;
use crate::envdir::EnvDir;
use crate::plan::Plan;

/// Node -> the NIC each of its spare slots holds. Shared with the driver, which saves
/// them with a snapshot and fills them in for a restored node.
pub type Slots = Arc<Mutex<HashMap<String, [Option<HotNic>; SPARE_SLOTS]>>>;

/// A NIC given to a running node for a port of the network service.
#[derive(Debug, Clone, PartialEq)]
pub struct HotNic {
    /// The port's id.
    pub id: String,
    pub mac: crate::net::Mac,
    /// The node's end of the link (a datagram socket in the env dir).
    pub socket: PathBuf,
    /// The segment's switch socket.
    pub segment: PathBuf,
}

/// Attaches and detaches NICs over each node's QMP socket; owns the spare slots.
#[derive(Clone)]
pub struct Hotplug {
    dir: EnvDir,
    /// Node -> its QMP socket (relative to the env dir).
    qmp: HashMap<String, String>,
    slots: Slots,
}

impl Hotplug {
    pub fn new(dir: EnvDir, plan: &Plan, slots: Slots) -> Hotplug {
        Hotplug {
            dir,
            qmp: plan
                .nodes
                .iter()
                .map(|n| (n.name.clone(), NodeFiles::of(n).qmp.clone()))
                .collect(),
            slots,
        }
    }

    async fn channel(&self, node: &str) -> Result<Channel, DriverError> {
        let rel = self
            .qmp
            .get(node)
            .ok_or_else(|| fail(node, "not a node of this env"))?;
        let path: PathBuf = self.dir.join(rel);
        tokio::time::timeout(Duration::from_secs(5), Channel::qmp(&path))
            .await
            .map_err(|_| fail(node, format!("{}: no answer", path.display())))?
            .map_err(|e| fail(node, e))
    }
}

fn fail(node: &str, e: impl std::fmt::Display) -> DriverError {
    DriverError::Nic {
        node: node.to_string(),
        detail: e.to_string(),
    }
}

impl Hotplug {
    pub async fn attach(&mut self, node: &str, nic: &HotNic) -> Result<(), DriverError> {
        // The fabric attaches one NIC at a time, so the slot stays free until taken below.
        let slot = self
            .slots
            .lock()
            .expect("slots lock")
            .entry(node.to_string())
            .or_default()
            .iter()
            .position(Option::is_none)
            .ok_or_else(|| fail(node, format!("no free slot left ({SPARE_SLOTS} spare)")))?;
        let mut qmp = self.channel(node).await?;
        let t = super::files::short(&nic.id);
        qmp.execute_raw(
            "netdev_add",
            json!({"type": "dgram", "id": format!("p-{t}"),
                   "local": {"type": "unix", "path": nic.socket},
                   "remote": {"type": "unix", "path": nic.segment}}),
        )
        .await
        .map_err(|e| fail(node, e))?;
        let added = qmp
            .execute_raw(
                "device_add",
                json!({"driver": "virtio-net-pci", "id": format!("d-{t}"), "netdev": format!("p-{t}"),
                       "mac": nic.mac.to_string(), "bus": slot_id(slot)}),
            )
            .await;
        if let Err(e) = added {
            // The netdev alone would block the next attach of this port's id.
            let _ = qmp
                .execute_raw("netdev_del", json!({"id": format!("p-{t}")}))
                .await;
            return Err(fail(node, e));
        }
        self.slots
            .lock()
            .expect("slots lock")
            .entry(node.to_string())
            .or_default()[slot] = Some(nic.clone());
        Ok(())
    }

    /// Idempotent for a NIC that is gone.
    pub async fn detach(&mut self, node: &str, nic: &HotNic) -> Result<(), DriverError> {
        let mut qmp = self.channel(node).await?;
        let t = super::files::short(&nic.id);
        qmp.execute_raw("device_del", json!({"id": format!("d-{t}")}))
            .await
            .map_err(|e| fail(node, e))?;
        // The guest acknowledges the unplug in its own time; the netdev goes after.
        for _ in 0..20 {
            if qmp
                .execute_raw("netdev_del", json!({"id": format!("p-{t}")}))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if let Some(slots) = self.slots.lock().expect("slots lock").get_mut(node)
            && let Some(slot) = slots
                .iter_mut()
                .find(|s| s.as_ref().is_some_and(|s| s.id == nic.id))
        {
            *slot = None;
        }
        Ok(())
    }
}
