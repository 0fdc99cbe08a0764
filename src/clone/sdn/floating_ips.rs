//! Floating IPs, as Neutron's L3 plugin keeps them: an external address (its own
//! `network:floatingip` port) mapped to a port's fixed address on a subnet a router
//! links to that network. They are the API's only: nothing in the fabric translates
//! their addresses.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{SdnError, missing};
use super::model::{PortRequest, State, new_uuid};
use super::routers::FLOATING_OWNER;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatingIp {
    pub id: String,
    pub tenant_id: String,
    pub network_id: String,
    pub address: IpAddr,
    /// The floating IP's own port on the external network, which holds `address`.
    pub own_port: String,
    pub port_id: Option<String>,
    pub fixed_ip: Option<IpAddr>,
    pub router_id: Option<String>,
    pub description: String,
}

fn bad_floating(msg: String) -> SdnError {
    SdnError::BadRequest(format!("Bad floatingip request: {msg}."))
}

impl State {
    /// A floating IP on an external network, with an address of its IPv4 subnets
    /// (`address`: one of the caller's choosing).
    pub fn create_floating_ip(
        &mut self,
        network_id: &str,
        tenant_id: &str,
        address: Option<IpAddr>,
        subnet_id: Option<String>,
        description: &str,
    ) -> Result<FloatingIp, SdnError> {
        let net = self.network(network_id)?;
        if !net.external {
            return Err(bad_floating(format!(
                "Network {network_id} is not a valid external network"
            )));
        }
        let v4 = self
            .subnets
            .values()
            .find(|s| {
                s.network_id == network_id
                    && s.cidr.version() == 4
                    && subnet_id.as_ref().is_none_or(|id| &s.id == id)
            })
            .map(|s| s.id.clone())
            .ok_or_else(|| {
                bad_floating(format!(
                    "Network {network_id} does not contain any IPv4 subnet"
                ))
            })?;
        let id = new_uuid();
        let port = self.create_port(PortRequest {
            network_id: network_id.into(),
            tenant_id: tenant_id.into(),
            fixed_ips: vec![(Some(v4), address)],
            device_id: id.clone(),
            device_owner: FLOATING_OWNER.into(),
            security_groups: Some(Vec::new()),
            admin_state_up: true,
            ..PortRequest::default()
        })?;
        let f = FloatingIp {
            id,
            tenant_id: tenant_id.into(),
            network_id: network_id.into(),
            address: port.fixed_ips[0].1,
            own_port: port.id,
            port_id: None,
            fixed_ip: None,
            router_id: None,
            description: description.into(),
        };
        self.floating_ips.insert(f.id.clone(), f.clone());
        Ok(f)
    }

    /// Maps the floating IP to a port's fixed IPv4 address (`None`: unmaps it). The
    /// port's subnet must be on a router whose gateway is the floating IP's network.
    pub fn associate(
        &mut self,
        fip_id: &str,
        port: Option<(String, Option<IpAddr>)>,
    ) -> Result<(), SdnError> {
        let f = self
            .floating_ips
            .get(fip_id)
            .ok_or_else(|| missing("floating IP", fip_id))?
            .clone();
        let Some((port_id, wanted)) = port else {
            let f = self.floating_ips.get_mut(fip_id).expect("read above");
            (f.port_id, f.fixed_ip, f.router_id) = (None, None, None);
            return Ok(());
        };
        let p = self
            .ports
            .get(&port_id)
            .ok_or_else(|| missing("port", &port_id))?;
        let (subnet, fixed) = p
            .fixed_ips
            .iter()
            .find(|(_, ip)| ip.is_ipv4() && wanted.is_none_or(|w| w == *ip))
            .cloned()
            .ok_or_else(|| match wanted {
                Some(w) => bad_floating(format!("Port {port_id} does not have fixed ip {w}")),
                None => bad_floating(format!(
                    "Port {port_id} does not have any IPv4 address; a floating IP needs one"
                )),
            })?;
        if let Some(other) = self.floating_ips.values().find(|o| {
            o.id != fip_id && o.port_id.as_deref() == Some(&port_id) && o.fixed_ip == Some(fixed)
        }) {
            return Err(SdnError::Conflict(format!(
                "Cannot associate floating IP {} ({}) with port {port_id} using fixed IP {fixed}, as that fixed IP already has a floating IP on external network {}.",
                f.address, f.id, other.network_id
            )));
        }
        let router = self
            .routers
            .values()
            .filter(|r| r.gateway.as_ref().is_some_and(|g| g.network_id == f.network_id))
            .find(|r| {
                self.interfaces(&r.id)
                    .any(|i| i.fixed_ips.iter().any(|(s, _)| *s == subnet))
            })
            .map(|r| r.id.clone())
            .ok_or_else(|| SdnError::NotFound {
                kind: "external-gateway-for-floating-ip",
                id: format!(
                    "External network {} is not reachable from subnet {subnet}. Therefore, cannot associate Port {port_id} with a Floating IP; the gateway",
                    f.network_id
                ),
            })?;
        let f = self.floating_ips.get_mut(fip_id).expect("read above");
        (f.port_id, f.fixed_ip, f.router_id) = (Some(port_id), Some(fixed), Some(router));
        Ok(())
    }

    pub fn delete_floating_ip(&mut self, id: &str) -> Result<(), SdnError> {
        let f = self
            .floating_ips
            .remove(id)
            .ok_or_else(|| missing("floating IP", id))?;
        self.ports.remove(&f.own_port);
        Ok(())
    }

    /// What a deleted port leaves: floating IPs on it are unmapped.
    pub(super) fn port_gone(&mut self, port_id: &str) {
        for f in self.floating_ips.values_mut() {
            if f.port_id.as_deref() == Some(port_id) {
                (f.port_id, f.fixed_ip, f.router_id) = (None, None, None);
            }
        }
    }

    pub fn floating_ip_json(&self, f: &FloatingIp) -> Value {
        json!({
            "id": f.id, "tenant_id": f.tenant_id, "project_id": f.tenant_id,
            "floating_network_id": f.network_id, "floating_ip_address": f.address.to_string(),
            "port_id": f.port_id, "fixed_ip_address": f.fixed_ip.map(|ip| ip.to_string()),
            "router_id": f.router_id,
            "status": if f.port_id.is_some() { "ACTIVE" } else { "DOWN" },
            "description": f.description, "tags": self.tags_of(&f.id), "revision_number": 0,
            "port_forwardings": [], "qos_policy_id": null,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clone::sdn::routers::tests::state;
    use crate::clone::sdn::routers::{GatewayRequest, InterfaceRef};

    #[test]
    fn a_floating_ip_needs_a_router_between_its_network_and_the_port() {
        let (mut st, ext, sub) = state();
        let net = st.subnets[&sub].network_id.clone();
        let vm = st
            .create_port(PortRequest {
                network_id: net,
                tenant_id: "p".into(),
                ..PortRequest::default()
            })
            .unwrap();
        let f = st.create_floating_ip(&ext, "p", None, None, "").unwrap();
        assert_eq!(f.address.to_string(), "172.24.4.2");
        let to_vm = Some((vm.id.clone(), None));
        assert_eq!(
            st.associate(&f.id, to_vm.clone()).unwrap_err().status(),
            404
        );
        let r = st.create_router("r", "p", true, "");
        st.set_gateway(
            &r.id,
            Some(GatewayRequest {
                network_id: ext.clone(),
                ..Default::default()
            }),
        )
        .unwrap();
        st.add_interface(&r.id, &InterfaceRef::Subnet(sub.clone()))
            .unwrap();
        st.associate(&f.id, to_vm).unwrap();
        assert_eq!(
            st.floating_ips[&f.id].router_id.as_deref(),
            Some(r.id.as_str())
        );
        // The gateway and the interface are needed now.
        assert_eq!(st.set_gateway(&r.id, None).unwrap_err().status(), 409);
        assert_eq!(
            st.remove_interface(&r.id, &InterfaceRef::Subnet(sub))
                .unwrap_err()
                .status(),
            409
        );
        st.port_gone(&vm.id);
        assert_eq!(st.floating_ips[&f.id].port_id, None);
        st.delete_floating_ip(&f.id).unwrap();
        assert!(!st.ports.values().any(|p| p.device_owner == FLOATING_OWNER));
    }
}
