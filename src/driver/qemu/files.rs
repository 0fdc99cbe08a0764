//! Where the QEMU driver keeps its files in the env dir: each node's sockets, console,
//! seed, disk and pid file, the NICs' and switches' datagram sockets, the sockets clones
//! take guests' connections on. Socket paths must fit in `sun_path`, so they live
//! under the env's short `s/` folder with short names (`envdir::check_socket_path`).

use crate::envdir::{NODES, SOCKETS};
use crate::plan::NodePlan;

/// A node's own files, relative to the env dir.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFiles {
    pub qmp: String,
    pub agent: String,
    pub serial: String,
    pub seed: String,
    pub pidfile: String,
    /// Its copy-on-write root disk, for an image that has one (cloud-init images).
    pub disk: Option<String>,
}

impl NodeFiles {
    pub fn of(node: &NodePlan) -> NodeFiles {
        let name = &node.name;
        NodeFiles {
            qmp: qmp_socket(name),
            agent: agent_socket(name),
            serial: serial_log(name),
            seed: if node.cloud_init {
                seed_iso(name)
            } else {
                seed(name)
            },
            pidfile: pidfile(name),
            disk: node.cloud_init.then(|| disk(name)),
        }
    }
}

pub fn serial_log(node: &str) -> String {
    format!("{NODES}/{node}/serial.log")
}

pub fn seed(node: &str) -> String {
    format!("{NODES}/{node}/seed")
}

/// The NoCloud `cidata` volume of a cloud-init node.
pub fn seed_iso(node: &str) -> String {
    format!("{NODES}/{node}/seed.iso")
}

/// A node's copy-on-write root disk over its image's.
pub fn disk(node: &str) -> String {
    format!("{NODES}/{node}/disk.qcow2")
}

/// What QEMU printed on stderr (why it refused to start, mostly).
pub fn qemu_stderr(node: &str) -> String {
    format!("{NODES}/{node}/qemu.stderr")
}

/// Lock files, one per connection a node's guest may hold open to the clones.
pub fn connection_slots(node: &str) -> String {
    format!("{NODES}/{node}/conn")
}

pub fn pidfile(node: &str) -> String {
    format!("{NODES}/{node}/qemu.pid")
}

pub fn qmp_socket(node: &str) -> String {
    format!("{SOCKETS}/{node}.qmp")
}

pub fn agent_socket(node: &str) -> String {
    format!("{SOCKETS}/{node}.qga")
}

pub fn nic_socket(node: &str, index: usize) -> String {
    format!("{SOCKETS}/{node}.{index}.nic")
}

/// virtiofsd's end of a node's mount `tag` (QEMU connects to it).
pub fn mount_socket(node: &str, tag: &str) -> String {
    format!("{SOCKETS}/{node}.{tag}.fs")
}

/// What the virtiofsd of a node's mount `tag` printed.
pub fn virtiofsd_log(node: &str, tag: &str) -> String {
    format!("{NODES}/{node}/{tag}.virtiofsd.log")
}

pub fn switch_socket(network: &str) -> String {
    format!("{SOCKETS}/{network}.sw")
}

/// Where guests' connections to a clone arrive (through QEMU's guestfwd).
pub fn clone_socket(clone: &str) -> String {
    format!("{SOCKETS}/{clone}.svc")
}

/// The switch of a network made through the SDN clone (by the clone's network id).
pub fn segment_socket(network_id: &str) -> String {
    format!("{SOCKETS}/n-{}.sw", short(network_id))
}

/// A node's NIC attached later to a segment, for an SDN port.
pub fn attached_nic_socket(node: &str, port_id: &str) -> String {
    format!("{SOCKETS}/{node}.p-{}.nic", short(port_id))
}

/// A router's NIC on one of its interfaces' segments (by the router and port ids).
pub fn router_nic_socket(router_id: &str, port_id: &str) -> String {
    format!("{SOCKETS}/r-{}.p-{}.nic", short(router_id), short(port_id))
}

/// An id (a UUID) as socket names and QEMU ids take it: its first 8 hex digits.
pub fn short(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(8)
        .collect()
}
