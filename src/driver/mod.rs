//! Drivers run nodes. QEMU on this host is the only one today; a remote driver (nodes
//! as servers on an existing OpenStack cloud) is meant to fit behind the same trait.

pub mod qemu;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::plan::NodePlan;
use crate::readiness::Expired;

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
}
