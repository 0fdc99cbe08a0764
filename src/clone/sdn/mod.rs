//! The SDN clone: a Neutron v2.0-compatible network service.
//!
//! Done: networks, subnets, ports (allocation, binding), security groups, quotas, the
//! extension list, Neutron errors, token checks against the identity service, and a
//! standalone `vstage clone sdn`, and inside an env (`services.sdn`) with the template's
//! networks and nodes' NICs as its own, driving the env's fabric (`kind`).

pub mod addresses;
pub mod api;
pub mod kind;
pub mod model;
pub mod notify;
pub mod token;
pub mod view;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::clone::Running;
pub use crate::clone::registry::FabricEvent;

/// Extensions advertised by default: none, which Nova handles best (contract §3).
pub const DEFAULT_EXTENSIONS: &[&str] = &[];

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
    let url = format!("http://{}", listener.local_addr()?);
    let service = Arc::new(api::Service::new(
        state,
        token::Validator::new(auth_url),
        extensions,
        url.clone(),
        fabric,
        plugged,
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
