//! `clone: neutron`: the SDN clone as a service of an env, whose networks and ports
//! are the env's own and whose changes drive the env's fabric.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::model;
use super::notify::VifEvents;
use crate::clone::registry::{self, FabricFeed, Kind, Role, Start, StartError, Started, Topology};
use crate::clone::section::{ConfigError, Section};

pub struct Neutron;

/// The settings the plan keeps for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Extension aliases it advertises.
    pub extensions: Vec<String>,
    /// `vif_plugged: event`: bound ports stay DOWN until Nova is sent the event.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vif_plugged_event: bool,
}

/// `services.NAME` with `clone: neutron`, and the extension aliases it advertises.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSdn {
    #[serde(rename = "clone")]
    _clone: String,
    #[serde(default)]
    extensions: Vec<Spanned<String>>,
    /// `immediate` (default: ACTIVE on binding) or `event` (network-vif-plugged).
    #[serde(default)]
    vif_plugged: Option<Spanned<String>>,
}

impl Kind for Neutron {
    fn name(&self) -> &'static str {
        "neutron"
    }

    fn role(&self) -> Role {
        Role::Network
    }

    fn guest_port(&self) -> u16 {
        9696
    }

    /// Its state is written through on every change (`STATE_JSON`).
    fn persistent(&self) -> bool {
        true
    }

    fn needs(&self) -> Option<Role> {
        // Every request's token is checked with the env's identity service.
        Some(Role::Identity)
    }

    fn catalog_entry(&self) -> Option<(&'static str, &'static str)> {
        Some(("network", "neutron"))
    }

    fn parse(&self, section: &Section) -> Result<serde_json::Value, ConfigError> {
        let raw: RawSdn = section.read()?;
        let vif_plugged_event = match &raw.vif_plugged {
            None => false,
            Some(v) if v.value == "immediate" => false,
            Some(v) if v.value == "event" => true,
            Some(v) => {
                return Err(ConfigError::at(
                    &v.referenced,
                    format!(
                        "services.{}.vif_plugged: '{}' is neither 'immediate' nor 'event'",
                        section.name, v.value
                    ),
                ));
            }
        };
        // An env advertises only what the clone serves (`--extension` of a standalone
        // clone may name any, to measure clients against a given list).
        if let Some(e) = raw
            .extensions
            .iter()
            .find(|e| !super::OFFERED.contains(&e.value.as_str()))
        {
            return Err(ConfigError::at(
                &e.referenced,
                format!(
                    "services.{}.extensions: the clone does not serve '{}'; it offers {}",
                    section.name,
                    e.value,
                    super::OFFERED.join(", ")
                ),
            ));
        }
        let settings = Settings {
            extensions: raw.extensions.into_iter().map(|e| e.value).collect(),
            vif_plugged_event,
        };
        Ok(serde_json::to_value(settings).expect("settings serialise"))
    }

    fn start(&self, start: Start<'_>) -> Result<Started, StartError> {
        let settings: Settings = registry::settings(&start)?;
        let needs = |what: &str| StartError::Needs {
            service: start.name.to_string(),
            what: what.to_string(),
        };
        let identity = start.identity.ok_or_else(|| needs("an identity service"))?;
        // Event mode: the clone tells Nova as an admin of the identity service.
        let vif_events = if settings.vif_plugged_event {
            let admin = identity.admin.as_ref().ok_or_else(|| {
                needs("a user with the admin role and a project (vif_plugged: event)")
            })?;
            Some(VifEvents {
                auth_url: identity.url.clone(),
                user: admin.user.clone(),
                password: admin.password.clone(),
                project: admin.project.clone(),
                forwards: start.forwards.to_vec(),
            })
        } else {
            None
        };
        // A state directory that has a state (an env restored from a snapshot) is the
        // service as it was; a new one starts from the template's topology.
        let store = start.state_dir.join(super::STATE_JSON);
        let failed = |e: std::io::Error| StartError::failed(start.name, e);
        let (state, networks) = match super::load(&store).map_err(failed)? {
            Some(state) => {
                let networks = template_networks(&state, start.topology);
                (state, networks)
            }
            None => {
                let (state, networks) = state_from_topology(start.topology);
                super::save(&store, &state).map_err(failed)?;
                (state, networks)
            }
        };
        let (events, rx) = tokio::sync::mpsc::unbounded_channel();
        // Networks made through the API before a snapshot get their segments again, and
        // ports it bound to nodes rejoin them: their NICs come back with the nodes.
        for id in state.networks.keys() {
            if !networks.values().any(|t| t == id) {
                let _ = events.send(super::FabricEvent::NetworkCreated { id: id.clone() });
            }
        }
        for (id, (interfaces, routes)) in state.routers_in_fabric() {
            let _ = events.send(super::FabricEvent::RouterSet {
                id,
                interfaces,
                routes,
            });
        }
        let template_macs: Vec<_> = start.topology.nics.iter().map(|n| n.mac).collect();
        for p in state.ports.values() {
            if p.plugs_a_nic() && !template_macs.contains(&p.mac) {
                let _ = events.send(super::FabricEvent::PortRestored {
                    id: p.id.clone(),
                    network_id: p.network_id.clone(),
                    host: p.host_id.clone(),
                    mac: p.mac,
                });
            }
        }
        let running = super::start_on(
            start.listener,
            state,
            &identity.url,
            settings.extensions,
            Some(events),
            vif_events,
            Some(store),
        )
        .map_err(|e| StartError::failed(start.name, e))?;
        Ok(Started {
            running,
            identity: None,
            fabric: Some(FabricFeed {
                events: rx,
                networks,
            }),
        })
    }
}

/// The env's own fabric as the API shows it: each network with its subnet (shared, so
/// every project sees it), and each node's NIC as a bound, active port with the MAC and
/// address the guest uses. Returns it with the id given to each network (by name).
/// The ids a saved state gives the template's networks, by name.
fn template_networks(state: &model::State, topology: &Topology) -> HashMap<String, String> {
    topology
        .networks
        .iter()
        .filter_map(|(name, _)| {
            let n = state.networks.values().find(|n| &n.name == name)?;
            Some((name.clone(), n.id.clone()))
        })
        .collect()
}

pub fn state_from_topology(topology: &Topology) -> (model::State, HashMap<String, String>) {
    let mut st = model::State::default();
    let mut ids = HashMap::new();
    for (name, cidr) in &topology.networks {
        let n = st.create_network(name, "", true, false, 1500);
        ids.insert(name.clone(), n.id.clone());
        let subnet = st
            .create_subnet(
                &format!("{name}-subnet"),
                &n.id,
                "",
                (*cidr).into(),
                Some(None),
                None,
                false,
                Vec::new(),
            )
            .expect("a fresh network takes any subnet");
        for nic in topology.nics.iter().filter(|nic| &nic.network == name) {
            let mut port = st
                .create_port(model::PortRequest {
                    name: format!("{}-{name}", nic.node),
                    network_id: n.id.clone(),
                    tenant_id: String::new(),
                    mac: Some(nic.mac),
                    fixed_ips: vec![(Some(subnet.id.clone()), Some(nic.ip.into()))],
                    device_id: nic.node.clone(),
                    device_owner: model::NODE_OWNER.into(),
                    security_groups: Some(Vec::new()),
                    admin_state_up: true,
                    description: "a NIC of a vstage node".into(),
                })
                .expect("the plan's addresses are distinct and inside their networks");
            port.host_id = nic.node.clone();
            port.vif_type = "bridge".into();
            port.status = "ACTIVE".into();
            st.ports.insert(port.id.clone(), port);
        }
    }
    (st, ids)
}
