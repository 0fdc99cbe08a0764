//! Drivers run nodes. QEMU on this host is the only one today; a remote driver (nodes
//! as servers on an existing OpenStack cloud) is meant to fit behind the same trait,
//! registered in [`open`].

pub mod qemu;
pub mod readiness;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::driver::readiness::Expired;
use crate::env::EnvInfo;
use crate::env::journal::Journal;
use crate::env::layout::EnvDir;
use crate::net::Mac;
use crate::plan::NodePlan;
use crate::snapshot::SavedNode;

/// The driver the env's nodes run on: the one registration of a driver.
pub type EnvDriver = qemu::Qemu;

/// Opens the env's driver, with what the env recorded (images, accel).
pub fn open(
    dir: &EnvDir,
    info: &EnvInfo,
    journal: Arc<Mutex<Journal>>,
) -> Result<EnvDriver, DriverError> {
    qemu::Qemu::for_env(dir, info, journal)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum NodeState {
    Planned,
    Booting,
    Ready,
    Stopped,
    /// The node's process ended by itself.
    Exited {
        detail: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("node {node}: cannot start: {detail}")]
    Start { node: String, detail: String },
    #[error("node {node}: {why}{tail}")]
    NotReady {
        node: String,
        why: Expired,
        tail: String,
    },
    #[error("node {node}: exited while booting ({status}){tail}")]
    Died {
        node: String,
        status: String,
        tail: String,
    },
    #[error(
        "node {node}: cloud-init failed:\n{detail}\n  full log: vstage up --keep-on-failure ..., then vstage exec {env} --node {node} -- cat /var/log/cloud-init.log"
    )]
    CloudInit {
        env: String,
        node: String,
        detail: String,
    },
    #[error("node {node}: NIC: {detail}")]
    Nic { node: String, detail: String },
    #[error("node {node}: snapshot: {detail}")]
    Snapshot { node: String, detail: String },
    #[error("{what}: {detail}")]
    Open { what: String, detail: String },
    #[error("node {node}: {source}")]
    Io {
        node: String,
        source: std::io::Error,
    },
}

/// How the host reaches a node, decided before it boots (the `access` action).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Access {
    /// The host port forwarded to the node's sshd.
    pub ssh_port: Option<u16>,
    /// The key its cloud-init seed authorises.
    pub ssh_public_key: String,
    /// The node's `ports:`, each as (guest port, host port).
    pub forwards: Vec<(u16, u16)>,
}

/// What a driver does for one node at a time; the actions order the calls.
#[allow(async_fn_in_trait)]
pub trait Driver {
    /// Starts the node, reachable as `access` says; returns once its process exists
    /// (not when it is ready).
    async fn boot(&mut self, node: &NodePlan, access: &Access) -> Result<(), DriverError>;
    /// Waits until the node's guest is ready, for as long as it makes progress: until
    /// `deadline`, or until it shows no sign of life for `stall` (see `readiness`).
    async fn wait_ready(
        &mut self,
        node: &NodePlan,
        deadline: Instant,
        stall: Duration,
    ) -> Result<(), DriverError>;
    /// Stops nodes together: asks each guest to power off, waits up to `graceful` for
    /// all of them, then forces the rest. Idempotent.
    async fn stop(&mut self, nodes: &[NodePlan], graceful: Duration);
    /// The node's state as the driver sees it now.
    fn state(&mut self, node: &str) -> NodeState;
    /// The node's host process, if it has one.
    fn pid(&self, node: &str) -> Option<i32>;

    /// Pauses `nodes` together, so that none runs while another is saved.
    async fn pause(&mut self, nodes: &[NodePlan]) -> Result<(), DriverError>;
    /// Saves paused nodes into the snapshot directory `into`: each one's memory and
    /// device state, and its disk as it is at the pause.
    async fn save(
        &mut self,
        nodes: &[NodePlan],
        into: &Path,
    ) -> Result<Vec<SavedNode>, DriverError>;
    /// Lets paused (or saved) nodes run on.
    async fn resume(&mut self, nodes: &[NodePlan]) -> Result<(), DriverError>;

    /// What attaches NICs to running nodes, for the network service's fabric.
    type Nics: Nics + Send + 'static;
    /// A handle the fabric uses from its own task while the driver goes on.
    fn nics(&self) -> Self::Nics;
}

/// A NIC given to a running node for a port of the network service.
#[derive(Debug, Clone, PartialEq)]
pub struct HotNic {
    /// The port's id.
    pub id: String,
    pub mac: Mac,
    /// The node's end of the link (a datagram socket in the env dir).
    pub socket: PathBuf,
    /// The segment's switch socket.
    pub segment: PathBuf,
}

/// Attaches and detaches NICs of running nodes.
pub trait Nics {
    fn attach(
        &mut self,
        node: &str,
        nic: &HotNic,
    ) -> impl Future<Output = Result<(), DriverError>> + Send;
    /// Idempotent for a NIC that is gone.
    fn detach(
        &mut self,
        node: &str,
        nic: &HotNic,
    ) -> impl Future<Output = Result<(), DriverError>> + Send;
}
