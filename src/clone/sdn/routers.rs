//! Routers, as Neutron's L3 plugin keeps them: a router joins subnets through interface
//! ports (`network:router_interface`, holding the subnet's gateway address), reaches an
//! external network through a gateway port (`network:router_gateway`), and carries
//! extra routes whose next hops are on its subnets. Floating IPs, which need a router
//! between their network and a port, are in `floating_ips.rs`.
//!
//! Inside an env, a router that is up and has interfaces is also in the fabric
//! (`routers_in_fabric`, `driver/qemu/router.rs`): it forwards IPv4 between its subnets.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{SdnError, missing};
use super::ipnet::IpNet;
use super::model::{Port, PortRequest, State, new_uuid};
use crate::clone::registry::RouterNic;

pub const INTERFACE_OWNER: &str = "network:router_interface";
pub const GATEWAY_OWNER: &str = "network:router_gateway";
pub const FLOATING_OWNER: &str = "network:floatingip";

/// Neutron's default `max_routes`.
pub const MAX_ROUTES: usize = 30;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Router {
    pub id: String,
    pub name: String,
    pub tenant_id: String,
    pub admin_state_up: bool,
    pub description: String,
    pub gateway: Option<Gateway>,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gateway {
    pub network_id: String,
    pub enable_snat: bool,
    /// The router's port on the external network.
    pub port_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub destination: IpNet,
    pub nexthop: IpAddr,
}

/// What a gateway asks for: `{"network_id", "enable_snat"?, "external_fixed_ips"?}`.
#[derive(Debug, Clone, Default)]
pub struct GatewayRequest {
    pub network_id: String,
    pub enable_snat: Option<bool>,
    pub fixed_ips: Vec<(Option<String>, Option<IpAddr>)>,
}

/// Which interface an add or remove names.
#[derive(Debug, Clone)]
pub enum InterfaceRef {
    Subnet(String),
    Port(String),
}

fn bad_router(msg: String) -> SdnError {
    SdnError::BadRequest(format!("Bad router request: {msg}."))
}

impl State {
    pub fn router(&self, id: &str) -> Result<&Router, SdnError> {
        self.routers.get(id).ok_or_else(|| missing("router", id))
    }

    /// The router's interface ports.
    pub fn interfaces(&self, router_id: &str) -> impl Iterator<Item = &Port> {
        self.ports
            .values()
            .filter(move |p| p.device_id == router_id && p.device_owner == INTERFACE_OWNER)
    }

    /// The subnets the router has an interface on.
    fn router_subnets(&self, router_id: &str) -> Vec<IpNet> {
        self.interfaces(router_id)
            .flat_map(|p| p.fixed_ips.iter())
            .filter_map(|(s, _)| self.subnets.get(s).map(|s| s.cidr))
            .collect()
    }

    pub fn create_router(
        &mut self,
        name: &str,
        tenant_id: &str,
        admin_state_up: bool,
        description: &str,
    ) -> Router {
        let r = Router {
            id: new_uuid(),
            name: name.into(),
            tenant_id: tenant_id.into(),
            admin_state_up,
            description: description.into(),
            gateway: None,
            routes: Vec::new(),
        };
        self.routers.insert(r.id.clone(), r.clone());
        r
    }

    /// Sets, changes or (with `None`) clears the router's gateway. A new gateway gets a
    /// port on the external network with an address of its subnets.
    pub fn set_gateway(
        &mut self,
        router_id: &str,
        wanted: Option<GatewayRequest>,
    ) -> Result<(), SdnError> {
        let router = self.router(router_id)?.clone();
        let Some(wanted) = wanted else {
            if let Some(gw) = &router.gateway {
                if self
                    .floating_ips
                    .values()
                    .any(|f| f.router_id.as_deref() == Some(router_id))
                {
                    return Err(SdnError::InUse(format!(
                        "Gateway cannot be updated for router {router_id}, since a gateway to external network {} is required by one or more floating IPs.",
                        gw.network_id
                    )));
                }
                self.ports.remove(&gw.port_id);
            }
            self.routers.get_mut(router_id).expect("read above").gateway = None;
            return Ok(());
        };
        let net = self.network(&wanted.network_id)?;
        if !net.external {
            return Err(bad_router(format!(
                "Network {} is not an external network",
                net.id
            )));
        }
        let same_network = router
            .gateway
            .as_ref()
            .is_some_and(|g| g.network_id == wanted.network_id);
        let port_id = if same_network && wanted.fixed_ips.is_empty() {
            router
                .gateway
                .as_ref()
                .expect("same network")
                .port_id
                .clone()
        } else {
            let port = self.create_port(PortRequest {
                network_id: wanted.network_id.clone(),
                // Neutron's gateway port has no project; the router's keeps it out of
                // other projects' lists here, where a port of none is the env's own.
                tenant_id: router.tenant_id.clone(),
                fixed_ips: wanted.fixed_ips,
                device_id: router_id.into(),
                device_owner: GATEWAY_OWNER.into(),
                security_groups: Some(Vec::new()),
                admin_state_up: true,
                ..PortRequest::default()
            })?;
            if let Some(old) = &router.gateway {
                self.ports.remove(&old.port_id);
            }
            self.ports.get_mut(&port.id).expect("made above").status = "ACTIVE".into();
            port.id
        };
        let enable_snat = wanted
            .enable_snat
            .or(router.gateway.as_ref().map(|g| g.enable_snat))
            .unwrap_or(true);
        self.routers.get_mut(router_id).expect("read above").gateway = Some(Gateway {
            network_id: wanted.network_id,
            enable_snat,
            port_id,
        });
        Ok(())
    }

    /// Adds an interface: on a subnet (a new port holding its gateway address), or an
    /// existing free port. Returns the interface's port and subnet.
    pub fn add_interface(
        &mut self,
        router_id: &str,
        which: &InterfaceRef,
    ) -> Result<(String, String), SdnError> {
        let router = self.router(router_id)?.clone();
        let (subnet_ids, port_id) = match which {
            InterfaceRef::Port(id) => {
                let p = self.ports.get(id).ok_or_else(|| missing("port", id))?;
                if !p.device_id.is_empty() || !p.device_owner.is_empty() {
                    return Err(SdnError::Conflict(format!(
                        "Port {id} is in use by another device ({}); it cannot be a router interface.",
                        if p.device_id.is_empty() {
                            &p.device_owner
                        } else {
                            &p.device_id
                        }
                    )));
                }
                if p.fixed_ips.is_empty() {
                    return Err(bad_router(format!(
                        "Router port {id} must have at least one fixed IP"
                    )));
                }
                let subnets: Vec<String> = p.fixed_ips.iter().map(|(s, _)| s.clone()).collect();
                (subnets, Some(id.clone()))
            }
            InterfaceRef::Subnet(id) => {
                let s = self.subnets.get(id).ok_or_else(|| missing("subnet", id))?;
                if s.gateway_ip.is_none() {
                    return Err(bad_router(format!(
                        "Subnet {id} does not have a gateway IP"
                    )));
                }
                (vec![id.clone()], None)
            }
        };
        let attached = self.router_subnets(router_id);
        for sid in &subnet_ids {
            let cidr = self
                .subnets
                .get(sid)
                .ok_or_else(|| missing("subnet", sid))?
                .cidr;
            if let Some(other) = attached.iter().find(|c| c.overlaps(&cidr)) {
                return Err(bad_router(format!(
                    "Cidr {cidr} of subnet {sid} overlaps with cidr {other} of a subnet of router {router_id}"
                )));
            }
        }
        let port_id = match port_id {
            Some(id) => id,
            None => {
                let sid = &subnet_ids[0];
                let s = &self.subnets[sid];
                let (net, gw) = (s.network_id.clone(), s.gateway_ip);
                if let Some(holder) = self.ports.values().find(|p| {
                    p.fixed_ips
                        .iter()
                        .any(|(x, ip)| x == sid && Some(*ip) == gw)
                }) {
                    return Err(SdnError::Conflict(format!(
                        "IP address {} already allocated in subnet {sid} (port {})",
                        gw.map(|g| g.to_string()).unwrap_or_default(),
                        holder.id
                    )));
                }
                self.create_port(PortRequest {
                    network_id: net,
                    tenant_id: router.tenant_id.clone(),
                    fixed_ips: vec![(Some(sid.clone()), gw)],
                    security_groups: Some(Vec::new()),
                    admin_state_up: true,
                    ..PortRequest::default()
                })?
                .id
            }
        };
        let p = self.ports.get_mut(&port_id).expect("found or made above");
        p.device_id = router_id.into();
        p.device_owner = INTERFACE_OWNER.into();
        p.status = "ACTIVE".into();
        Ok((port_id, subnet_ids[0].clone()))
    }

    /// Removes an interface, by its port or its subnet; its port goes. A subnet a floating
    /// IP or an extra route needs keeps its interface.
    pub fn remove_interface(
        &mut self,
        router_id: &str,
        which: &InterfaceRef,
    ) -> Result<(String, String), SdnError> {
        let router = self.router(router_id)?.clone();
        let port = match which {
            InterfaceRef::Port(id) => self
                .interfaces(router_id)
                .find(|p| &p.id == id)
                .cloned()
                .ok_or_else(|| SdnError::NotFound {
                    kind: "router-interface",
                    id: format!("{id} of router {router_id}"),
                })?,
            InterfaceRef::Subnet(id) => {
                self.subnets.get(id).ok_or_else(|| missing("subnet", id))?;
                self.interfaces(router_id)
                    .find(|p| p.fixed_ips.iter().any(|(s, _)| s == id))
                    .cloned()
                    .ok_or_else(|| SdnError::NotFound {
                        kind: "router-interface-for-subnet",
                        id: format!("{id} of router {router_id}"),
                    })?
            }
        };
        let subnet_id = match which {
            InterfaceRef::Subnet(id) => id.clone(),
            InterfaceRef::Port(_) => port
                .fixed_ips
                .first()
                .map(|(s, _)| s.clone())
                .unwrap_or_default(),
        };
        for (sid, _) in &port.fixed_ips {
            let Some(cidr) = self.subnets.get(sid).map(|s| s.cidr) else {
                continue;
            };
            if let Some(r) = router.routes.iter().find(|r| cidr.contains(r.nexthop)) {
                return Err(SdnError::InUse(format!(
                    "Router interface for subnet {sid} on router {router_id} cannot be deleted, as it is required by one or more routes (next hop {}).",
                    r.nexthop
                )));
            }
            let needed = self.floating_ips.values().any(|f| {
                f.router_id.as_deref() == Some(router_id)
                    && f.fixed_ip.is_some_and(|ip| cidr.contains(ip))
            });
            if needed {
                return Err(SdnError::InUse(format!(
                    "Router interface for subnet {sid} on router {router_id} cannot be deleted, as it is required by one or more floating IPs."
                )));
            }
        }
        self.ports.remove(&port.id);
        Ok((port.id, subnet_id))
    }

    /// Replaces the router's extra routes; each next hop must be on one of its subnets
    /// and not be the router's own address.
    pub fn set_routes(&mut self, router_id: &str, routes: Vec<Route>) -> Result<(), SdnError> {
        if routes.len() > MAX_ROUTES {
            return Err(bad_router(format!(
                "Number of routes exceeds the maximum {MAX_ROUTES}"
            )));
        }
        let subnets = self.router_subnets(router_id);
        let own: Vec<IpAddr> = self
            .interfaces(router_id)
            .flat_map(|p| p.fixed_ips.iter().map(|(_, ip)| *ip))
            .collect();
        for r in &routes {
            if own.contains(&r.nexthop) {
                return Err(SdnError::BadRequest(format!(
                    "Invalid format for routes: {} and {}, the nexthop is used by router",
                    r.destination, r.nexthop
                )));
            }
            if !subnets.iter().any(|c| c.contains(r.nexthop)) {
                return Err(SdnError::BadRequest(format!(
                    "Invalid format for routes: {} and {}, the nexthop is not connected with router",
                    r.destination, r.nexthop
                )));
            }
        }
        let mut unique: Vec<Route> = Vec::new();
        for r in routes {
            if !unique.contains(&r) {
                unique.push(r);
            }
        }
        self.routers
            .get_mut(router_id)
            .ok_or_else(|| missing("router", router_id))?
            .routes = unique;
        Ok(())
    }

    /// Deletes a router with no interfaces left; its gateway port goes with it.
    pub fn delete_router(&mut self, id: &str) -> Result<(), SdnError> {
        let r = self.router(id)?.clone();
        if self.interfaces(id).next().is_some() {
            return Err(SdnError::InUse(format!("Router {id} still has ports")));
        }
        if self
            .floating_ips
            .values()
            .any(|f| f.router_id.as_deref() == Some(id))
        {
            return Err(SdnError::InUse(format!(
                "Router {id} still has floating IPs associated"
            )));
        }
        if let Some(gw) = r.gateway {
            self.ports.remove(&gw.port_id);
        }
        self.routers.remove(id);
        Ok(())
    }

    pub fn router_json(&self, r: &Router) -> Value {
        let gateway = r.gateway.as_ref().map(|g| {
            let ips: Vec<Value> = self
                .ports
                .get(&g.port_id)
                .map(|p| {
                    p.fixed_ips
                        .iter()
                        .map(|(s, ip)| json!({"subnet_id": s, "ip_address": ip.to_string()}))
                        .collect()
                })
                .unwrap_or_default();
            json!({"network_id": g.network_id, "enable_snat": g.enable_snat, "external_fixed_ips": ips})
        });
        let routes: Vec<Value> = r
            .routes
            .iter()
            .map(|x| json!({"destination": x.destination.to_string(), "nexthop": x.nexthop.to_string()}))
            .collect();
        json!({
            "id": r.id, "name": r.name, "tenant_id": r.tenant_id, "project_id": r.tenant_id,
            "admin_state_up": r.admin_state_up, "status": "ACTIVE",
            "external_gateway_info": gateway, "routes": routes, "description": r.description,
            "distributed": false, "ha": false, "flavor_id": null,
            "availability_zone_hints": [], "availability_zones": [super::agents::ZONE],
            "tags": self.tags_of(&r.id), "revision_number": 0,
        })
    }
}

/// What the env's fabric needs of a router that is up and has interfaces: each
/// interface's IPv4 address on its segment, and the IPv4 extra routes.
pub type InFabric = (Vec<RouterNic>, Vec<crate::net::Route>);

impl State {
    pub fn routers_in_fabric(&self) -> BTreeMap<String, InFabric> {
        self.routers
            .values()
            .filter(|r| r.admin_state_up)
            .filter_map(|r| {
                // A port's first IPv4 address: one NIC, one address.
                let nics: Vec<RouterNic> = self
                    .interfaces(&r.id)
                    .filter_map(|p| {
                        p.fixed_ips.iter().find_map(|(s, ip)| {
                            let (IpAddr::V4(ip), Some(sub)) = (ip, self.subnets.get(s)) else {
                                return None;
                            };
                            Some(RouterNic {
                                port: p.id.clone(),
                                network_id: p.network_id.clone(),
                                mac: p.mac,
                                ip: *ip,
                                prefix: sub.cidr.prefix,
                            })
                        })
                    })
                    .collect();
                let routes = r
                    .routes
                    .iter()
                    .filter_map(|x| match (x.destination.addr, x.nexthop) {
                        (IpAddr::V4(dest), IpAddr::V4(nexthop)) => Some(crate::net::Route {
                            dest,
                            prefix: x.destination.prefix,
                            nexthop,
                        }),
                        _ => None,
                    })
                    .collect();
                (!nics.is_empty()).then(|| (r.id.clone(), (nics, routes)))
            })
            .collect()
    }
}

/// A route's destination: a network (`0.0.0.0/0` too), as Neutron's `routes` take it.
pub fn destination(text: &str) -> Result<IpNet, SdnError> {
    let bad = |why: String| {
        SdnError::BadRequest(format!(
            "Invalid input for routes: '{text}' is not a valid destination: {why}"
        ))
    };
    match text.split_once('/') {
        Some((addr, "0")) => {
            let addr: IpAddr = addr.parse().map_err(|_| bad("not an address".into()))?;
            if !addr.is_unspecified() {
                return Err(bad("a /0 has no host bits".into()));
            }
            Ok(IpNet { addr, prefix: 0 })
        }
        _ => text.parse().map_err(bad),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// An external network with a subnet, and a project's private subnet: the
    /// state, the external network's id and the private subnet's.
    pub(in crate::clone::sdn) fn state() -> (State, String, String) {
        let mut st = State::default();
        let ext = st.create_network("public", "", false, true, 1500);
        st.create_subnet(
            "pub",
            &ext.id,
            "",
            "172.24.4.0/24".parse().unwrap(),
            None,
            None,
            false,
            vec![],
        )
        .unwrap();
        let net = st.create_network("private", "p", false, false, 1500);
        let sub = st
            .create_subnet(
                "priv",
                &net.id,
                "p",
                "10.0.0.0/24".parse().unwrap(),
                None,
                None,
                true,
                vec![],
            )
            .unwrap();
        (st, ext.id, sub.id)
    }

    #[test]
    fn an_interface_holds_the_gateway_and_keeps_the_router() {
        let (mut st, _, sub) = state();
        let r = st.create_router("r", "p", true, "");
        let (port, subnet) = st
            .add_interface(&r.id, &InterfaceRef::Subnet(sub.clone()))
            .unwrap();
        assert_eq!(subnet, sub);
        assert_eq!(st.ports[&port].fixed_ips[0].1.to_string(), "10.0.0.1");
        assert_eq!(st.ports[&port].device_owner, INTERFACE_OWNER);
        // The same subnet twice overlaps itself.
        assert!(
            st.add_interface(&r.id, &InterfaceRef::Subnet(sub.clone()))
                .is_err()
        );
        assert_eq!(st.delete_router(&r.id).unwrap_err().status(), 409);
        // A route's next hop must be on the router's subnets.
        let far = Route {
            destination: "10.9.0.0/24".parse().unwrap(),
            nexthop: "10.1.0.5".parse().unwrap(),
        };
        assert_eq!(st.set_routes(&r.id, vec![far]).unwrap_err().status(), 400);
        let near = Route {
            destination: "10.9.0.0/24".parse().unwrap(),
            nexthop: "10.0.0.5".parse().unwrap(),
        };
        st.set_routes(&r.id, vec![near]).unwrap();
        assert_eq!(
            st.remove_interface(&r.id, &InterfaceRef::Subnet(sub.clone()))
                .unwrap_err()
                .status(),
            409
        );
        st.set_routes(&r.id, vec![]).unwrap();
        st.remove_interface(&r.id, &InterfaceRef::Subnet(sub))
            .unwrap();
        assert!(st.ports.is_empty());
        st.delete_router(&r.id).unwrap();
    }

    #[test]
    fn a_gateway_must_be_external() {
        let (mut st, ext, sub) = state();
        let private = st.subnets[&sub].network_id.clone();
        let r = st.create_router("r", "p", true, "");
        let on = |n: &str| {
            Some(GatewayRequest {
                network_id: n.into(),
                ..Default::default()
            })
        };
        assert_eq!(
            st.set_gateway(&r.id, on(&private)).unwrap_err().status(),
            400
        );
        assert_eq!(st.set_gateway(&r.id, on("nope")).unwrap_err().status(), 404);
        st.set_gateway(&r.id, on(&ext)).unwrap();
        let gw = st.routers[&r.id].gateway.clone().unwrap();
        assert!(gw.enable_snat);
        assert_eq!(st.ports[&gw.port_id].device_owner, GATEWAY_OWNER);
        st.set_gateway(&r.id, None).unwrap();
        assert!(st.ports.values().all(|p| p.device_owner != GATEWAY_OWNER));
        assert_eq!(destination("0.0.0.0/0").unwrap().prefix, 0);
        assert!(destination("10.0.0.1/24").is_err());
    }
}
