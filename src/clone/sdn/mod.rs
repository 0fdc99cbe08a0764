//! The SDN clone: a Neutron v2.0-compatible network service.
//!
//! Done: networks, subnets, ports (allocation, binding), security groups, quotas, the
//! extension list, Neutron errors, token checks against the identity service, and a
//! standalone `vstage clone sdn`, and inside an env (`services.sdn`) with the template's
//! networks and nodes' NICs as its own, driving the env's fabric (`crate::fabric`).

pub mod api;
pub mod model;
pub mod notify;
pub mod token;

use std::net::SocketAddr;
use std::sync::Arc;

/// A change to the env's fabric, sent to the supervisor as the API makes it.
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
        mac: crate::net::Mac,
    },
    PortUnbound {
        id: String,
        host: String,
    },
}

/// Extensions advertised by default: none, which Nova handles best (contract §3).
pub const DEFAULT_EXTENSIONS: &[&str] = &[];

pub struct Running {
    pub listener: tokio::net::TcpListener,
    pub service: Arc<api::Service>,
    pub url: String,
}

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
        service,
        url,
    })
}

/// The env's own fabric as the API shows it: each template network with its subnet
/// (shared, so every project sees it), and each node's NIC as a bound, active port
/// with the MAC and address the guest uses.
/// Returns it with the id the clone gave each plan network (by the network's name).
pub fn state_from_plan(
    plan: &crate::plan::Plan,
) -> (model::State, std::collections::HashMap<String, String>) {
    let mut st = model::State::default();
    let mut ids = std::collections::HashMap::new();
    for net in &plan.networks {
        let n = st.create_network(&net.name, "", true, false, 1500);
        ids.insert(net.name.clone(), n.id.clone());
        let subnet = st
            .create_subnet(
                &format!("{}-subnet", net.name),
                &n.id,
                "",
                net.cidr,
                Some(None),
                None,
                false,
                Vec::new(),
            )
            .expect("a fresh network takes any subnet");
        for node in &plan.nodes {
            for nic in node.nics.iter().filter(|nic| nic.network == net.name) {
                let mut port = st
                    .create_port(model::PortRequest {
                        name: format!("{}-{}", node.name, net.name),
                        network_id: n.id.clone(),
                        tenant_id: String::new(),
                        mac: Some(nic.mac),
                        fixed_ips: vec![(Some(subnet.id.clone()), Some(nic.ip))],
                        device_id: node.name.clone(),
                        device_owner: "compute:vstage".into(),
                        security_groups: Some(Vec::new()),
                        admin_state_up: true,
                        description: "a NIC of a vstage node".into(),
                    })
                    .expect("the plan's addresses are distinct and inside their networks");
                port.host_id = node.name.clone();
                port.vif_type = "bridge".into();
                port.status = "ACTIVE".into();
                st.ports.insert(port.id.clone(), port);
            }
        }
    }
    (st, ids)
}

impl Running {
    pub async fn serve(self) -> std::io::Result<()> {
        axum::serve(self.listener, api::router(self.service)).await
    }
}
