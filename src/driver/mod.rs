//! Drivers run an env's nodes and wire its networks; the rest of vstage asks them
//! through the traits here and never names one (kind's providers, Lima's drivers).
//!
//! [`DriverKind`] is the one list of drivers: `env.json` records which one an env runs
//! on, and [`open`], [`guest`] and [`undo`] reopen it from there. A driver states its
//! [`Features`]; [`check`] refuses a template that asks for more, where it asks. What
//! a new driver takes is in `docs/architecture.md` ("Adding a driver").

pub mod guest;
pub mod qemu;
pub mod readiness;
mod registry;

#[cfg(test)]
pub(crate) mod fake;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::driver::guest::{Console, Guest, GuestError, Ran};
use crate::driver::qemu::accel::Accel;
use crate::driver::readiness::Expired;
use crate::envdir::EnvDir;
use crate::envdir::journal::Recorder;
use crate::net::{Mac, Route};
use crate::plan::NodePlan;
use crate::template::{Location, Template};

// The drivers this build has, each as `"name" => Variant(its module::its type)`: the
// one place that lists them. `registry` makes `DriverKind`, `open`, `guest`,
// `host_logs`, `check_paths` and the enums that delegate (`EnvDriver`, `EnvGuest`,
// `EnvNetwork`) from it.
registry::drivers! { "qemu" => Qemu(qemu::Qemu) }

/// What a driver can do beyond booting nodes and running commands in them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// NICs given to running nodes (a network clone's ports).
    pub hotplug: bool,
    /// Whole-env snapshots (`vstage snapshot`, `up --from`).
    pub snapshots: bool,
    /// Host directories in nodes (`mounts:`).
    pub mounts: bool,
    /// Guest ports reachable from the host (`ports:`).
    pub forwarded_ports: bool,
    /// A node's console (`vstage logs ENV NODE`, failure reports).
    pub console: bool,
}

/// A template asks for what the chosen driver cannot do.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Unsupported {
    #[error("{at}: no driver '{name}' (drivers: {known})")]
    Unknown {
        name: String,
        at: Location,
        known: String,
    },
    #[error("{at}: {what}: the {driver} driver cannot do this ({hint})")]
    Feature {
        driver: &'static str,
        what: String,
        at: Location,
        hint: &'static str,
    },
}

/// The driver an env runs on: `--driver` if given, else the template's `driver:`,
/// else QEMU; then whether it can do what the template asks.
pub fn choose(flag: Option<&str>, template: &Template) -> Result<DriverKind, Unsupported> {
    let flag_at = Location {
        file: "--driver".into(),
        line: 1,
        column: 1,
    };
    let (name, at) = match (flag, &template.driver) {
        (Some(name), _) => (name.to_string(), flag_at),
        (None, Some((name, at))) => (name.clone(), at.clone()),
        (None, None) => return check(DriverKind::default(), template),
    };
    let kind = DriverKind::named(&name).ok_or_else(|| Unsupported::Unknown {
        name,
        at,
        known: DriverKind::ALL
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    check(kind, template)
}

/// Refuses `template` where it asks `kind` for a feature it lacks.
pub fn check(kind: DriverKind, template: &Template) -> Result<DriverKind, Unsupported> {
    check_features(kind.name(), kind.features(), template).map(|()| kind)
}

fn check_features(
    driver: &'static str,
    has: Features,
    template: &Template,
) -> Result<(), Unsupported> {
    let refuse = |what: String, at: &Location, hint| Unsupported::Feature {
        driver,
        what,
        at: at.clone(),
        hint,
    };
    for node in &template.nodes {
        if !has.mounts && !node.mounts.is_empty() {
            let hint = "bake the code into the image, or choose another driver";
            return Err(refuse(
                format!("node {}: mounts", node.name),
                &node.at,
                hint,
            ));
        }
        if !has.forwarded_ports && !node.ports.is_empty() {
            let hint = "reach the node by its address instead";
            return Err(refuse(format!("node {}: ports", node.name), &node.at, hint));
        }
    }
    for service in &template.services {
        let wires = crate::clone::registry::kind(&service.kind)
            .is_some_and(|k| k.role() == crate::clone::registry::Role::Network);
        if !has.hotplug && wires {
            let hint = "a network clone gives running nodes NICs";
            let what = format!("service {} (clone: {})", service.name, service.kind);
            return Err(refuse(what, &service.at, hint));
        }
    }
    Ok(())
}

/// What opening an env's driver takes from `env.json`.
pub struct Setup<'a> {
    pub kind: DriverKind,
    pub dir: &'a EnvDir,
    pub plan: &'a crate::plan::Plan,
    pub accel: Accel,
    /// Built image directory for every image the plan uses.
    pub images: &'a BTreeMap<String, PathBuf>,
    /// The snapshot directory and saved nodes of an env made from a snapshot.
    pub restore: Option<(&'a Path, &'a [SavedNode])>,
}

/// Undoes a resource a driver recorded (`Entry::Driver`), for teardown and crash
/// cleanup; `Ok(false)` if it was gone already.
pub fn undo(driver: &str, dir: &Path, resource: &str, id: &str) -> std::io::Result<bool> {
    #[cfg(test)]
    if driver == fake::NAME {
        return fake::undo(dir, resource, id);
    }
    // QEMU's resources are processes and files, recorded as such.
    Err(std::io::Error::other(format!(
        "{resource} {id} of {}: driver '{driver}' has no resources of its own in this build",
        dir.display()
    )))
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
        /// The hypervisor itself crashed (QEMU failed one of its own assertions and
        /// aborted), not the guest: worth one more boot (`actions::nodes`).
        aborted: bool,
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
    #[error("{what}: {detail}")]
    Network { what: String, detail: String },
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
    /// Starts the node, reachable as `access` says; returns once it exists (not when it
    /// is ready).
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
    /// Ends what the driver runs for the env besides its nodes (segments, routers);
    /// teardown calls it once the nodes are stopped.
    fn close(&mut self);
    /// Forgets a node that died before it was ready, its disk included, so that its
    /// next `boot` is a first boot.
    fn discard(&mut self, node: &NodePlan) -> Result<(), DriverError>;
    /// The node's state as the driver sees it now.
    fn state(&mut self, node: &str) -> NodeState;
    /// The node's host process, if it has one.
    fn pid(&self, node: &str) -> Option<i32>;

    /// Pauses `nodes` together, so that none runs while another is saved, after each
    /// has let go of what a save cannot carry (under QEMU, its virtiofs mounts).
    async fn pause(&mut self, nodes: &[NodePlan]) -> Result<(), DriverError>;
    /// Saves paused nodes into the snapshot directory `into`: each one's memory and
    /// device state, and its disk as it is at the pause.
    async fn save(
        &mut self,
        nodes: &[NodePlan],
        into: &Path,
    ) -> Result<Vec<SavedNode>, DriverError>;
    /// Lets paused (or saved) nodes run on, taking back what `pause` let go of.
    async fn resume(&mut self, nodes: &[NodePlan]) -> Result<(), DriverError>;

    /// A node's guest.
    type Guest: Guest;
    fn guest(&self, node: &NodePlan) -> Self::Guest;

    /// The env's networks, for the actions and for the fabric's own task.
    type Network: Network;
    fn network(&self) -> Self::Network;

    /// How guests reach clone `service` (the plan gives its name and port).
    fn expose(&self, service: &crate::plan::ServicePlan) -> Exposed;
}

/// How guests reach a clone: the URL they use, and where their connections arrive for
/// the clone to serve, if the driver delivers them to a socket in the env dir.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposed {
    pub url: String,
    /// Relative to the env dir.
    pub socket: Option<String>,
}

/// A NIC a running node gets for a port of the network service.
#[derive(Debug, Clone, PartialEq)]
pub struct PortNic {
    /// The port's id.
    pub id: String,
    pub mac: Mac,
}

/// A router's interface: its port, on which segment, with which MAC and address.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterPort {
    pub port: String,
    pub segment: String,
    pub mac: Mac,
    pub ip: Ipv4Addr,
    pub prefix: u8,
}

/// What the driver does to the env's networks. Segments are named by the template's
/// network names, or by the network service's ids for networks made through its API.
/// Each call records what it creates in the journal first.
pub trait Network: Send + 'static {
    /// Makes segment `name`; the plan's NICs on a network of that name are on it.
    fn add_segment(&mut self, name: &str) -> Result<(), DriverError>;
    /// Removes a segment; idempotent.
    fn remove_segment(&mut self, name: &str);
    /// Gives running `node` a NIC on `segment` for a port; `restored`: the node came
    /// back from a snapshot with it, so only the segment must learn it again.
    fn attach(
        &mut self,
        node: &str,
        segment: &str,
        nic: &PortNic,
        restored: bool,
    ) -> impl Future<Output = Result<(), DriverError>> + Send;
    /// Takes port `id`'s NIC off its node; idempotent.
    fn detach(&mut self, id: &str) -> impl Future<Output = Result<(), DriverError>> + Send;
    /// (Re)makes router `id` with an interface on each port's segment.
    fn set_router(
        &mut self,
        id: &str,
        ports: &[RouterPort],
        routes: Vec<Route>,
    ) -> Result<(), DriverError>;
    /// Removes a router; idempotent.
    fn remove_router(&mut self, id: &str);
}

/// One node as its driver saved it (paths relative to the snapshot directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedNode {
    pub name: String,
    /// RAM and device state (QEMU: a migration file).
    pub memory: String,
    /// The frozen disk (QEMU: a qcow2 overlay on the image's disk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<String>,
    /// Where the RAM image starts in `memory`, when it can be mapped copy-on-write by
    /// every env restored from it (QEMU: `mapped-ram`, see `mapped_ram`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_ram_offset: Option<u64>,
    /// The RAM image is read into the node's own memory at restore instead (QEMU: a node
    /// with mounts, whose virtiofsd maps the guest's RAM, which a private mapping of
    /// the snapshot would hide from it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own_ram: bool,
    /// NICs attached while it ran (for the network service's ports): a restored node
    /// has them from its start, where they were.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hot_nics: Vec<SavedNic>,
}

/// A NIC attached to a running node, as a snapshot keeps it (paths relative to the
/// env dir: the restored env's are the same names in its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedNic {
    /// The port's id.
    pub id: String,
    pub mac: crate::net::Mac,
    /// Which spare slot (QEMU: PCIe root port) holds it.
    pub slot: usize,
    pub socket: String,
    pub segment: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(text: &str) -> Template {
        let source = crate::template::Source {
            label: "t.yaml".into(),
            text: text.into(),
        };
        crate::template::load(&source, &[]).unwrap()
    }

    const PORTS: &str = "apiVersion: vstage/v1
name: p
driver: qemu
nodes:
  - {name: n1, image: tiny}
  - {name: web, image: debian-12, ports: [8080]}
";

    #[test]
    fn the_driver_is_the_flag_else_the_template_else_qemu() {
        let t = template(PORTS);
        assert_eq!(choose(None, &t), Ok(DriverKind::default()));
        assert_eq!(choose(Some("qemu"), &t), Ok(DriverKind::default()));
        let written = template(&PORTS.replace("driver: qemu", "driver: lxd"));
        let err = choose(None, &written).unwrap_err().to_string();
        assert_eq!(err, "t.yaml:3:9: no driver 'lxd' (drivers: qemu)");
        let err = choose(Some("vbox"), &t).unwrap_err().to_string();
        assert_eq!(err, "--driver:1:1: no driver 'vbox' (drivers: qemu)");
        let none = template(&PORTS.replace("driver: qemu\n", ""));
        assert_eq!(choose(None, &none), Ok(DriverKind::default()));
    }

    #[test]
    fn a_template_asking_for_what_the_driver_lacks_is_refused_where_it_asks() {
        let err = check_features(fake::NAME, fake::FEATURES, &template(PORTS)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.yaml:6:12: node web: ports: the fake driver cannot do this (reach the node by its address instead)"
        );
        let sdn = "apiVersion: vstage/v1
name: s
nodes: [{name: n1, image: tiny}]
services:
  auth: {clone: keystone}
  net: {clone: neutron}
";
        let no_hotplug = Features {
            hotplug: false,
            ..fake::FEATURES
        };
        let err = check_features(fake::NAME, no_hotplug, &template(sdn)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("t.yaml:6:16: service net (clone: neutron)"),
            "{err}"
        );
        assert_eq!(
            check_features("qemu", qemu::FEATURES, &template(sdn)),
            Ok(())
        );
    }
}
