//! Agents as Neutron lists them, and DHCP scheduling (`dhcp_agent_scheduler`). The clone
//! is its own DHCP, L3 and metadata agent, on the host [`CONTROLLER`]; every host a port
//! is bound to has a Linux bridge agent, the agent whose bridges Nova's VIFs plug into
//! (`binding:vif_type` `bridge`). Agents are recorded the first time they are seen, so
//! their id, creation time and what an admin changed (`admin_state_up`,
//! `description`) stay.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{SdnError, missing};
use super::model::{State, new_uuid};

/// The one availability zone: Nova's default name, which its scheduler hints use.
pub const ZONE: &str = "nova";
/// The host the clone's own agents report from.
pub const CONTROLLER: &str = "vstage-sdn";

pub const DHCP: &str = "DHCP agent";
pub const L3: &str = "L3 agent";
pub const METADATA: &str = "Metadata agent";
pub const LINUX_BRIDGE: &str = "Linux bridge agent";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub id: String,
    pub agent_type: String,
    pub host: String,
    pub admin_state_up: bool,
    pub description: String,
    pub created_at: String,
    /// DHCP agents: the networks they serve.
    #[serde(default)]
    pub networks: BTreeSet<String>,
    /// Linux bridge agents that report (`l2_report`): when they last did, and how many
    /// VIFs their bridges had.
    #[serde(default)]
    pub reported_at: Option<String>,
    #[serde(default)]
    pub devices: usize,
}

impl Agent {
    fn binary_and_topic(&self) -> (&'static str, &'static str) {
        match self.agent_type.as_str() {
            DHCP => ("neutron-dhcp-agent", "dhcp_agent"),
            L3 => ("neutron-l3-agent", "l3_agent"),
            METADATA => ("neutron-metadata-agent", "N/A"),
            _ => ("neutron-linuxbridge-agent", "N/A"),
        }
    }

    pub fn json(&self) -> Value {
        let (binary, topic) = self.binary_and_topic();
        let zoned = matches!(self.agent_type.as_str(), DHCP | L3);
        let configurations = match self.agent_type.as_str() {
            DHCP => json!({"networks": self.networks.len(), "dhcp_driver": "vstage"}),
            LINUX_BRIDGE => json!({"interface_mappings": {}, "devices": self.devices}),
            _ => json!({}),
        };
        json!({
            "id": self.id, "agent_type": self.agent_type, "binary": binary, "host": self.host,
            "topic": topic, "admin_state_up": self.admin_state_up, "alive": true,
            "availability_zone": if zoned { Some(ZONE) } else { None },
            "configurations": configurations, "description": self.description,
            "created_at": self.created_at, "started_at": self.created_at,
            "heartbeat_timestamp": self.reported_at.clone().unwrap_or_else(now),
            "resources_synced": null,
        })
    }
}

/// Neutron's time format: `2026-12-03 13:04:38`.
fn now() -> String {
    let t = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    t.trim_end_matches('Z').replace('T', " ")
}

impl State {
    /// Records the agents of hosts seen since the last call: the clone's own, and a
    /// Linux bridge agent for each host a port is bound to.
    pub fn refresh_agents(&mut self) {
        let mut wanted: BTreeSet<(&str, String)> = [DHCP, L3, METADATA]
            .iter()
            .map(|t| (*t, CONTROLLER.to_string()))
            .collect();
        wanted.extend(
            self.ports
                .values()
                .filter(|p| !p.host_id.is_empty())
                .map(|p| (LINUX_BRIDGE, p.host_id.clone())),
        );
        for (agent_type, host) in wanted {
            self.agent_on(agent_type, &host);
        }
    }

    /// The agent of `agent_type` on `host`, recorded the first time it is asked for.
    fn agent_on(&mut self, agent_type: &str, host: &str) -> &mut Agent {
        let id = match self
            .agents
            .values()
            .find(|a| a.agent_type == agent_type && a.host == host)
        {
            Some(a) => a.id.clone(),
            None => {
                let a = Agent {
                    id: new_uuid(),
                    agent_type: agent_type.into(),
                    host: host.into(),
                    admin_state_up: true,
                    description: String::new(),
                    created_at: now(),
                    networks: BTreeSet::new(),
                    reported_at: None,
                    devices: 0,
                };
                let id = a.id.clone();
                self.agents.insert(id.clone(), a);
                id
            }
        };
        self.agents.get_mut(&id).expect("found or recorded above")
    }

    pub fn agent(&self, id: &str) -> Result<&Agent, SdnError> {
        self.agents.get(id).ok_or_else(|| missing("agent", id))
    }

    /// A network with DHCP on gets an enabled DHCP agent if it has none, as Neutron
    /// schedules it when its first DHCP subnet or port appears.
    pub fn schedule_dhcp(&mut self, network_id: &str) {
        let wants = self
            .subnets
            .values()
            .any(|s| s.network_id == network_id && s.enable_dhcp);
        let hosted = self
            .agents
            .values()
            .any(|a| a.networks.contains(network_id));
        if !wants || hosted {
            return;
        }
        self.agent_on(DHCP, CONTROLLER);
        if let Some(a) = self
            .agents
            .values_mut()
            .find(|a| a.agent_type == DHCP && a.admin_state_up)
        {
            a.networks.insert(network_id.to_string());
        }
    }

    /// Adds a network to a DHCP agent (409 if it is there already).
    pub fn host_network(&mut self, agent_id: &str, network_id: &str) -> Result<(), SdnError> {
        self.network(network_id)?;
        let a = self.agent(agent_id)?;
        if a.agent_type != DHCP {
            return Err(SdnError::BadRequest(format!(
                "Agent {agent_id} is not a DHCP agent"
            )));
        }
        if !self
            .agents
            .get_mut(agent_id)
            .expect("read above")
            .networks
            .insert(network_id.into())
        {
            return Err(SdnError::Conflict(format!(
                "The network {network_id} has been already hosted by the DHCP Agent {agent_id}."
            )));
        }
        Ok(())
    }

    pub fn unhost_network(&mut self, agent_id: &str, network_id: &str) -> Result<(), SdnError> {
        self.agent(agent_id)?;
        if !self
            .agents
            .get_mut(agent_id)
            .expect("read above")
            .networks
            .remove(network_id)
        {
            return Err(SdnError::Conflict(format!(
                "The network {network_id} is not hosted by the DHCP agent {agent_id}."
            )));
        }
        Ok(())
    }

    /// A report of the L2 agent of `host`: the VIFs on its bridges now. A port bound
    /// there whose VIF appeared is plugged (in event mode, Nova is told next and the port
    /// turns ACTIVE when Nova has taken the event); one whose VIF went is unplugged and,
    /// in event mode, DOWN, as Neutron's `update_device_down` leaves it.
    pub fn l2_report(&mut self, host: &str, devices: &BTreeSet<String>) {
        let event_mode = self.vif_plugged_event;
        for p in self.ports.values_mut() {
            if p.host_id != host || p.plugs_a_nic() {
                continue;
            }
            let present = devices.contains(&p.tap());
            if p.plugged && !present && event_mode {
                p.status = "DOWN".into();
            }
            p.plugged = present;
        }
        let a = self.agent_on(LINUX_BRIDGE, host);
        a.reported_at = Some(now());
        a.devices = devices.len();
    }

    /// Networks that are gone leave their agents.
    pub(super) fn forget_networks_of_the_gone(&mut self) {
        let networks = &self.networks;
        for a in self.agents.values_mut() {
            a.networks.retain(|n| networks.contains_key(n));
        }
    }
}

/// `GET /v2.0/availability_zones`: the one zone, for networks and routers.
pub fn zones_json() -> Value {
    json!({"availability_zones": [
        {"name": ZONE, "resource": "network", "state": "available"},
        {"name": ZONE, "resource": "router", "state": "available"},
    ]})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clone::sdn::model::PortRequest;

    #[test]
    fn a_vif_is_plugged_when_its_host_reports_it_and_unplugged_when_it_goes() {
        let mut st = State {
            vif_plugged_event: true,
            ..State::default()
        };
        let net = st.create_network("n", "p", false, false, 1500);
        let mut port = st
            .create_port(PortRequest {
                network_id: net.id,
                device_owner: "compute:nova".into(),
                ..PortRequest::default()
            })
            .unwrap();
        port.host_id = "cmp1".into();
        st.ports.insert(port.id.clone(), port.clone());
        let tap: BTreeSet<String> = [port.tap()].into();
        st.l2_report("cmp2", &tap);
        assert!(!st.ports[&port.id].plugged, "another host's bridges");
        st.l2_report("cmp1", &BTreeSet::new());
        assert!(!st.ports[&port.id].plugged);
        st.l2_report("cmp1", &tap);
        assert!(st.ports[&port.id].plugged);
        st.ports.get_mut(&port.id).unwrap().status = "ACTIVE".into();
        st.l2_report("cmp1", &BTreeSet::new());
        assert_eq!(st.ports[&port.id].status, "DOWN");
        let lb = st.agents.values().find(|a| a.host == "cmp1").unwrap();
        assert_eq!((lb.agent_type.as_str(), lb.devices), (LINUX_BRIDGE, 0));
        assert!(lb.reported_at.is_some());
    }

    #[test]
    fn a_dhcp_network_is_scheduled_once_and_can_be_moved() {
        let mut st = State::default();
        let net = st.create_network("n", "p", false, false, 1500);
        st.schedule_dhcp(&net.id);
        assert!(
            st.agents.values().all(|a| a.networks.is_empty()),
            "no DHCP subnet yet"
        );
        st.create_subnet(
            "s",
            &net.id,
            "p",
            "10.0.0.0/24".parse().unwrap(),
            None,
            None,
            true,
            vec![],
        )
        .unwrap();
        st.schedule_dhcp(&net.id);
        let dhcp = st
            .agents
            .values()
            .find(|a| a.agent_type == DHCP)
            .unwrap()
            .id
            .clone();
        assert!(st.agents[&dhcp].networks.contains(&net.id));
        assert_eq!(st.host_network(&dhcp, &net.id).unwrap_err().status(), 409);
        st.unhost_network(&dhcp, &net.id).unwrap();
        assert_eq!(st.unhost_network(&dhcp, &net.id).unwrap_err().status(), 409);
        st.host_network(&dhcp, &net.id).unwrap();
        st.refresh_agents();
        assert_eq!(st.agents.len(), 3, "one agent per kind, recorded once");
        st.networks.clear();
        st.forget_networks_of_the_gone();
        assert!(st.agents[&dhcp].networks.is_empty());
    }
}
