//! The SDN clone: a Neutron v2.0-compatible network service.
//!
//! Done: networks, subnets, ports (allocation, binding), security groups, quotas,
//! routers and floating IPs, subnet pools, agents, tags, the extension list, Neutron errors, token checks against the identity service, and a
//! standalone `vstage clone sdn`, and inside an env (`services.sdn`) with the template's
//! networks and nodes' NICs as its own, driving the env's fabric (`kind`).

pub mod address_pairs;
pub mod addresses;
pub mod agents;
pub mod api;
pub mod error;
pub mod floating_ips;
pub mod ipnet;
pub mod kind;
mod listing;
pub mod model;
pub mod notify;
pub mod policy;
mod quotas;
pub mod routers;
mod rules;
pub mod security_groups;
mod service;
pub mod subnetpools;
pub mod tags;
pub mod token;
pub mod view;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::clone::Running;
pub use crate::clone::registry::FabricEvent;

/// The state file in the clone's directory, inside an env.
pub const STATE_JSON: &str = "state.json";
/// A state file is a few entries per network and port.
const MAX_STATE: u64 = 64 << 20;

/// Writes the state where [`load`] finds it, whole or not at all.
pub fn save(path: &std::path::Path, state: &model::State) -> std::io::Result<()> {
    let text = serde_json::to_vec(state).map_err(std::io::Error::other)?;
    crate::envdir::write_atomic(path, &text)
}

/// The state written by [`save`], if there is one.
pub fn load(path: &std::path::Path) -> std::io::Result<Option<model::State>> {
    match crate::bounded::read_to_string(path, MAX_STATE) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(std::io::Error::other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The extensions whose API the clone serves as Neutron does (docs/clones.md), which a
/// template may advertise; `port-security` and `network-ip-availability` are not. By
/// default it advertises none, which Nova handles best (contract §3).
pub const OFFERED: &[&str] = &[
    "router",
    "external-net",
    "extraroute",
    "ext-gw-mode",
    "allowed-address-pairs",
    "security-group",
    "binding",
    "quotas",
    "standard-attr-description",
    "standard-attr-tag",
    "subnet_allocation",
    "dhcp_agent_scheduler",
    "agent",
    "availability_zone",
    "project-id",
    "pagination",
    "sorting",
];

/// Binds `listen` and prepares the service; tokens are checked against `auth_url`.
pub async fn start(
    listen: SocketAddr,
    auth_url: &str,
    extensions: Vec<String>,
    vif_events: Option<notify::VifEvents>,
) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    start_on(
        listener,
        model::State::default(),
        auth_url,
        extensions,
        None,
        vif_events,
        None,
    )
}

/// As [`start`], on a bound listener and with an initial state.
pub fn start_on(
    listener: tokio::net::TcpListener,
    state: model::State,
    auth_url: &str,
    extensions: Vec<String>,
    fabric: Option<tokio::sync::mpsc::UnboundedSender<FabricEvent>>,
    vif_events: Option<notify::VifEvents>,
    store: Option<std::path::PathBuf>,
) -> std::io::Result<Running> {
    let mut state = state;
    state.vif_plugged_event = vif_events.is_some();
    let (plugged, rx) = match &vif_events {
        Some(_) => {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    // Events a restart interrupted: VIFs seen, ports still DOWN.
    if let Some(tx) = &plugged {
        for p in state.ports.values() {
            if p.plugged && p.status == "DOWN" && !p.host_id.is_empty() && !p.plugs_a_nic() {
                let _ = tx.send(notify::Plugged {
                    port: p.id.clone(),
                    server: p.device_id.clone(),
                    host: p.host_id.clone(),
                });
            }
        }
    }
    let url = format!("http://{}", listener.local_addr()?);
    let service = Arc::new(api::Service::new(
        state,
        token::Validator::new(auth_url),
        extensions,
        url.clone(),
        fabric,
        plugged,
        store,
    ));
    if let (Some(cfg), Some(rx)) = (vif_events, rx) {
        tokio::spawn(notify::run(service.clone(), cfg, rx));
    }
    Ok(Running {
        listener,
        router: api::router(service),
        url,
    })
}
