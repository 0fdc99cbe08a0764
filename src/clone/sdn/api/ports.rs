//! `/v2.0/ports`, and binding a port to a host.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::resource::{Answer, Fields, Resource, seen};
use super::{requested_ips, typed};
use crate::clone::sdn::error::SdnError;
use crate::clone::sdn::model::{Network, Port, PortRequest, State};
use crate::clone::sdn::policy::{Guarded, Policy, of};
use crate::clone::sdn::routers::{FLOATING_OWNER, GATEWAY_OWNER, INTERFACE_OWNER};
use crate::clone::sdn::security_groups::SecurityGroup;
use crate::clone::sdn::token::Caller;

impl Guarded for Port {
    const POLICY: Policy = of::PORT;
    fn project(&self) -> &str {
        &self.tenant_id
    }
}

#[derive(Deserialize)]
struct Request {
    name: Option<String>,
    description: Option<String>,
    network_id: Option<String>,
    mac_address: Option<String>,
    fixed_ips: Option<Vec<Value>>,
    device_id: Option<String>,
    device_owner: Option<String>,
    security_groups: Option<Vec<String>>,
    admin_state_up: Option<bool>,
}

impl Resource for Port {
    const SINGULAR: &'static str = "port";
    const PLURAL: &'static str = "ports";
    const PATH: &'static str = "ports";

    fn map(st: &State) -> &BTreeMap<String, Port> {
        &st.ports
    }

    fn json(&self, st: &State) -> Value {
        st.port_json(self)
    }

    fn create(st: &mut State, caller: &Caller, project: &str, o: &Fields) -> Answer {
        let r: Request = typed(o)?;
        let network_id = r
            .network_id
            .ok_or_else(|| SdnError::BadRequest("port needs network_id".into()))?;
        let fixed_ips = requested_ips(r.fixed_ips.as_deref().unwrap_or_default())?;
        let mac = match r.mac_address {
            Some(m) => Some(m.parse().map_err(SdnError::BadRequest)?),
            None => None,
        };
        // A port goes on a network the caller sees (404 otherwise), its own or a shared
        // one; an external network takes only its project's ports (403, Neutron's
        // ownership check), and floating IPs.
        let net = seen::<Network>(st, caller, &network_id)?;
        if net.external && !net.shared && !caller.admin && net.tenant_id != caller.project_id {
            return Err(SdnError::Forbidden("create_port:network".into()));
        }
        st.within_quota(project, "port", 1)?;
        let mut port = st.create_port(PortRequest {
            name: r.name.unwrap_or_default(),
            network_id,
            tenant_id: project.to_string(),
            mac,
            fixed_ips,
            device_id: r.device_id.unwrap_or_default(),
            device_owner: r.device_owner.unwrap_or_default(),
            security_groups: r.security_groups,
            admin_state_up: r.admin_state_up.unwrap_or(true),
            description: r.description.unwrap_or_default(),
        })?;
        if let Some(pairs) = o.get("allowed_address_pairs") {
            match crate::clone::sdn::address_pairs::parse(pairs, port.mac) {
                Ok(pairs) => port.allowed_address_pairs = pairs,
                Err(e) => {
                    // Nothing of a refused request stays (its addresses are its own).
                    st.ports.remove(&port.id);
                    return Err(e);
                }
            }
        }
        if let Some(host) = o
            .get("binding:host_id")
            .and_then(Value::as_str)
            .filter(|h| !h.is_empty())
        {
            bind(&mut port, host, st.vif_plugged_event);
        }
        st.ports.insert(port.id.clone(), port.clone());
        st.schedule_dhcp(&port.network_id);
        Ok(st.port_json(&port))
    }

    fn update(st: &mut State, caller: &Caller, id: &str, o: &Fields) -> Answer {
        let r: Request = typed(o)?;
        let mut p = st.ports[id].clone();
        if let Some(groups) = r.security_groups {
            for g in &groups {
                seen::<SecurityGroup>(st, caller, g)?;
            }
            p.security_groups = groups;
        }
        if let Some(pairs) = o.get("allowed_address_pairs") {
            p.allowed_address_pairs = crate::clone::sdn::address_pairs::parse(pairs, p.mac)?;
        }
        let fixed_ips = match o.get("fixed_ips").and_then(Value::as_array) {
            Some(list) => Some(requested_ips(list)?),
            None => None,
        };
        p.name = r.name.unwrap_or(p.name);
        p.description = r.description.unwrap_or(p.description);
        p.device_id = r.device_id.unwrap_or(p.device_id);
        p.device_owner = r.device_owner.unwrap_or(p.device_owner);
        p.admin_state_up = r.admin_state_up.unwrap_or(p.admin_state_up);
        match o.get("binding:host_id") {
            // The same host again changes nothing (the VIF may be plugged already).
            Some(Value::String(h)) if !h.is_empty() && *h == p.host_id => {}
            Some(Value::String(h)) if !h.is_empty() => bind(&mut p, h, st.vif_plugged_event),
            Some(Value::String(_)) | Some(Value::Null) => {
                p.host_id.clear();
                p.vif_type = "unbound".into();
                p.status = "DOWN".into();
                p.plugged = false;
            }
            _ => {}
        }
        st.ports.insert(id.to_string(), p);
        if let Some(ips) = fixed_ips {
            st.set_fixed_ips(id, ips)?;
        }
        Ok(st.port_json(&st.ports[id]))
    }

    /// A router's or floating IP's port goes with them, not through this API.
    fn delete(st: &mut State, id: &str) -> Result<(), SdnError> {
        let owner = &st.ports[id].device_owner;
        if [INTERFACE_OWNER, GATEWAY_OWNER, FLOATING_OWNER].contains(&owner.as_str()) {
            return Err(SdnError::Conflict(format!(
                "Port {id} cannot be deleted directly via the port API: has device owner {owner}."
            )));
        }
        st.ports.remove(id);
        st.port_gone(id);
        Ok(())
    }
}

/// Binding: the bridge vif type. A port is ACTIVE at once (contract §3: Nova then waits
/// for no `network-vif-plugged` event), but in event mode a server's port, which stays
/// DOWN until its host's L2 agent has seen the VIF and Nova has taken the event. A
/// node's own NIC is plugged by the fabric, with no Nova waiting.
fn bind(port: &mut Port, host: &str, wait_for_event: bool) {
    port.host_id = host.to_string();
    port.vif_type = "bridge".into();
    port.plugged = false;
    let waits = wait_for_event && !port.plugs_a_nic();
    port.status = if waits { "DOWN" } else { "ACTIVE" }.into();
}
