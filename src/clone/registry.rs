//! The clones vstage has, and what the rest of vstage may know of one: containerlab's
//! node registry is the model. A template's `services.<name>` names a kind with
//! `clone:`; the template hands that section to the kind's parser, the plan carries the
//! parsed settings opaquely, and the `services` action starts what the registry names.
//!
//! A new clone is a folder under `src/clone/` with a type implementing [`Kind`], and
//! one line in [`KINDS`].

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedReceiver;

use super::section::{ConfigError, Section};
use super::{auth, sdn};
use crate::net::{Cidr, Mac};

/// Every clone kind, one line each.
pub const KINDS: &[&dyn Kind] = &[&auth::kind::Keystone, &sdn::kind::Neutron];

/// The kind a template's `clone:` names.
pub fn kind(name: &str) -> Option<&'static dyn Kind> {
    KINDS.iter().copied().find(|k| k.name() == name)
}

/// The names a template may write as `clone:`, for error messages.
pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name()).collect()
}

/// The `tempest.conf` an identity clone writes in its directory, for the hand-off.
pub const TEMPEST_CONF: &str = "tempest.conf";

/// What a clone stands in for, as far as the rest of the env cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Vouches for every other clone's tokens, lists them in its catalog, and writes
    /// `clouds.yaml` (one cloud per user) in its state directory.
    Identity,
    /// Owns the env's networks: it changes the fabric at run time, so nodes boot with
    /// spare slots for the NICs it attaches.
    Network,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Identity => "identity",
            Role::Network => "network",
        }
    }

    /// The service name templates usually give it (suggested in errors).
    pub fn usual_name(self) -> &'static str {
        match self {
            Role::Identity => "auth",
            Role::Network => "sdn",
        }
    }
}

/// The file an [`Role::Identity`] clone writes in its state directory.
pub const CLOUDS_YAML: &str = "clouds.yaml";

pub trait Kind: Sync {
    /// What a template writes as `clone:`.
    fn name(&self) -> &'static str;
    fn role(&self) -> Role;
    /// The port it answers on inside guests (`http://SERVICE:PORT`).
    fn guest_port(&self) -> u16;
    /// A role some other service of the env must have for this one to work.
    fn needs(&self) -> Option<Role> {
        None
    }
    /// Its entry in the identity service's catalog: (service type, service name).
    fn catalog_entry(&self) -> Option<(&'static str, &'static str)> {
        None
    }
    /// Checks the template's section for it; returns its settings as the plan keeps them.
    fn parse(&self, section: &Section) -> Result<serde_json::Value, ConfigError>;
    /// Prepares the clone on a bound listener; serving is the caller's.
    fn start(&self, start: Start<'_>) -> Result<Started, StartError>;
    /// Whether everything it knows is in its state directory, so that a copy of the
    /// directory taken while the env is paused restores it (snapshots).
    fn persistent(&self) -> bool {
        false
    }
    /// What in a copy of its state directory stops being valid, and when (unix
    /// seconds): what a snapshot's manifest records as its expiry.
    fn expiry(&self, _state_dir: &std::path::Path) -> Option<(String, u64)> {
        None
    }
}

/// What starting a clone inside an env gets.
pub struct Start<'a> {
    /// The service's name in the env (its hostname in guests).
    pub name: &'a str,
    pub listener: TcpListener,
    /// Its state directory (created by the caller, owner-only).
    pub state_dir: PathBuf,
    /// What [`Kind::parse`] returned, through the plan.
    pub settings: &'a serde_json::Value,
    /// The URL guests use for it.
    pub guest_url: String,
    /// The env's identity service, started first, for kinds that need one.
    pub identity: Option<&'a Identity>,
    /// The env's other services, for an identity service's catalog.
    pub catalog: &'a [CatalogEntry],
    /// The env's networks and nodes' NICs, for a network service's initial state.
    pub topology: &'a Topology,
    /// Nodes' ports forwarded to the host.
    pub forwards: &'a [Forward],
}

/// A node's guest port, forwarded from a port on the host's loopback.
#[derive(Debug, Clone, PartialEq)]
pub struct Forward {
    pub node: String,
    pub guest: u16,
    pub host: u16,
}

/// The URL a host caller uses for `url` (`http://NODE:PORT/...` as guests write it), when
/// the node forwards that port to the host.
pub fn host_url(url: &str, forwards: &[Forward]) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = authority.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let f = forwards
        .iter()
        .find(|f| f.node == host && f.guest == port)?;
    Some(format!("{scheme}://127.0.0.1:{}{path}", f.host))
}

/// A started clone, ready to serve.
pub struct Started {
    /// Its URL is the host's.
    pub running: super::Running,
    /// Set by an identity service: how the others reach it.
    pub identity: Option<Identity>,
    /// Set by a network service: the fabric changes it makes, to apply to the env.
    pub fabric: Option<FabricFeed>,
}

/// How clones reach the env's identity service.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Its URL on the host.
    pub url: String,
    /// A user with the admin role and a project, if the seed has one: one that also
    /// has the `service` role if there is such a user.
    pub admin: Option<Admin>,
}

#[derive(Debug, Clone)]
pub struct Admin {
    pub user: String,
    pub password: String,
    pub project: String,
}

/// One of the env's services, as an identity catalog lists it.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    pub service_type: String,
    pub name: String,
    pub guest_url: String,
    pub host_url: String,
}

/// The env's networks and nodes' NICs, as a network service first sees them.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    pub networks: Vec<(String, Cidr)>,
    pub nics: Vec<TopologyNic>,
}

#[derive(Debug, Clone)]
pub struct TopologyNic {
    pub node: String,
    pub network: String,
    pub mac: Mac,
    pub ip: Ipv4Addr,
}

/// The fabric changes a network service makes, and its ids for the env's networks.
pub struct FabricFeed {
    pub events: UnboundedReceiver<FabricEvent>,
    /// Env network name -> the service's id for it.
    pub networks: HashMap<String, String>,
}

/// A change to the env's fabric, sent as the network service's API makes it.
#[derive(Debug, Clone, PartialEq)]
pub enum FabricEvent {
    /// A network made through the API: it needs an L2 segment of its own.
    NetworkCreated {
        id: String,
    },
    NetworkDeleted {
        id: String,
    },
    /// A port bound to `host`: if that is a node of the env, it gets a NIC on the segment.
    PortBound {
        id: String,
        network_id: String,
        host: String,
        mac: Mac,
    },
    PortUnbound {
        id: String,
        host: String,
    },
    /// A router's interfaces and extra routes (IPv4) as they are now: the fabric gives it
    /// a NIC on each interface's segment and forwards between them (`router.rs`).
    RouterSet {
        id: String,
        interfaces: Vec<RouterNic>,
        routes: Vec<crate::net::Route>,
    },
    /// A router deleted, or with no interfaces left, or administratively down.
    RouterDeleted {
        id: String,
    },
    /// A port that was bound to `host` when the snapshot this env was restored from was
    /// taken: its NIC came back with the node, so only the segment must know it again.
    PortRestored {
        id: String,
        network_id: String,
        host: String,
        mac: Mac,
    },
}

/// One interface of a router in the fabric: its port, on which network, with which
/// MAC and IPv4 address.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterNic {
    pub port: String,
    pub network_id: String,
    pub mac: Mac,
    pub ip: std::net::Ipv4Addr,
    pub prefix: u8,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{service}: settings from the plan do not parse: {source}")]
    Settings {
        service: String,
        source: serde_json::Error,
    },
    #[error("{service}: needs {what}")]
    Needs { service: String, what: String },
    #[error("{service}: {detail}")]
    Failed { service: String, detail: String },
}

impl StartError {
    pub fn failed(service: &str, detail: impl std::fmt::Display) -> StartError {
        StartError::Failed {
            service: service.to_string(),
            detail: detail.to_string(),
        }
    }
}

/// A kind's settings back from the plan.
pub fn settings<T: serde::de::DeserializeOwned>(start: &Start<'_>) -> Result<T, StartError> {
    serde_json::from_value(start.settings.clone()).map_err(|source| StartError::Settings {
        service: start.name.to_string(),
        source,
    })
}
