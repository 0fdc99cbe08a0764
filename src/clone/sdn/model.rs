//! The SDN clone's state: networks, subnets, ports and security groups, with address
//! and MAC allocation. Pure logic over in-memory maps, rendered as Neutron JSON.

use super::error::{SdnError, missing};
use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ipnet::{IpNet, num};
use super::security_groups::{Rule, SecurityGroup};
use crate::clone::new_id;
use crate::net::Mac;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub tenant_id: String,
    pub admin_state_up: bool,
    pub shared: bool,
    pub external: bool,
    pub mtu: u32,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: String,
    pub name: String,
    pub network_id: String,
    pub tenant_id: String,
    pub cidr: IpNet,
    pub gateway_ip: Option<IpAddr>,
    pub enable_dhcp: bool,
    /// Inclusive ranges addresses are allocated from.
    pub pools: Vec<(IpAddr, IpAddr)>,
    pub dns_nameservers: Vec<String>,
    /// As given (`[{"destination", "nexthop"}]`); handed to guests by DHCP in Neutron.
    #[serde(default)]
    pub host_routes: Vec<Value>,
    pub description: String,
    /// IPv6 only: how routers advertise, and how ports get addresses (`slaac`,
    /// `dhcpv6-stateful`, `dhcpv6-stateless`); data for clients, no RA is sent.
    #[serde(default)]
    pub ipv6_ra_mode: Option<String>,
    #[serde(default)]
    pub ipv6_address_mode: Option<String>,
    /// The pool its CIDR was carved from (`subnetpools.rs`).
    #[serde(default)]
    pub subnetpool_id: Option<String>,
}

impl Subnet {
    /// Ports get their address from their MAC (EUI-64), not from the pools.
    pub fn auto_address(&self) -> bool {
        matches!(
            self.ipv6_address_mode.as_deref(),
            Some("slaac" | "dhcpv6-stateless")
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Port {
    pub id: String,
    pub name: String,
    pub network_id: String,
    pub tenant_id: String,
    pub mac: Mac,
    /// (subnet id, address)
    pub fixed_ips: Vec<(String, IpAddr)>,
    pub device_id: String,
    pub device_owner: String,
    pub admin_state_up: bool,
    pub status: String,
    pub host_id: String,
    pub vif_type: String,
    pub vnic_type: String,
    pub security_groups: Vec<String>,
    pub description: String,
    #[serde(default)]
    pub allowed_address_pairs: Vec<super::address_pairs::AddressPair>,
    /// Its VIF (`tap` + the id's first 11 characters) was last reported on its host's
    /// bridges by that host's L2 agent (`agents.rs`).
    #[serde(default)]
    pub plugged: bool,
}

/// The owner of the ports of the template's own NICs.
pub const NODE_OWNER: &str = "compute:vstage";

impl Port {
    /// Whether the node it is bound to gets a NIC of its own for it. A port Nova binds
    /// (`compute:<zone>`) belongs to a server *inside* that node, a hypervisor, which
    /// reaches the network through its uplink: a NIC with the server's MAC there would
    /// shadow the server on the node's bridge.
    pub fn plugs_a_nic(&self) -> bool {
        !self.host_id.is_empty()
            && (self.device_owner == NODE_OWNER || !self.device_owner.starts_with("compute:"))
    }

    /// The name of its VIF on a hypervisor, as Nova's linux-bridge plug names it.
    pub fn tap(&self) -> String {
        format!("tap{}", &self.id[..self.id.len().min(11)])
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct State {
    pub networks: BTreeMap<String, Network>,
    pub subnets: BTreeMap<String, Subnet>,
    pub ports: BTreeMap<String, Port>,
    pub security_groups: BTreeMap<String, SecurityGroup>,
    pub rules: BTreeMap<String, Rule>,
    /// Counter behind generated MACs (fa:16:3e:xx:xx:xx, Neutron's base MAC).
    pub next_mac: u32,
    /// Limits set per project (`quotas.rs`): project -> resource -> limit.
    #[serde(default)]
    pub quotas: BTreeMap<String, BTreeMap<String, i64>>,
    /// A bound port of a server stays DOWN until its host's L2 agent has seen its VIF
    /// and Nova has taken `network-vif-plugged` (`notify.rs`).
    #[serde(default)]
    pub vif_plugged_event: bool,
    #[serde(default)]
    pub routers: BTreeMap<String, super::routers::Router>,
    #[serde(default)]
    pub floating_ips: BTreeMap<String, super::floating_ips::FloatingIp>,
    #[serde(default)]
    pub subnetpools: BTreeMap<String, super::subnetpools::SubnetPool>,
    /// resource id -> its tags (`tags.rs`)
    #[serde(default)]
    pub tags: BTreeMap<String, std::collections::BTreeSet<String>>,
    #[serde(default)]
    pub agents: BTreeMap<String, super::agents::Agent>,
}

/// What a port create asks for.
#[derive(Debug, Default, Clone)]
pub struct PortRequest {
    pub name: String,
    pub network_id: String,
    pub tenant_id: String,
    pub mac: Option<Mac>,
    /// Requested fixed IPs: a subnet, an address, or both.
    pub fixed_ips: Vec<(Option<String>, Option<IpAddr>)>,
    pub device_id: String,
    pub device_owner: String,
    pub security_groups: Option<Vec<String>>,
    pub admin_state_up: bool,
    pub description: String,
}

impl State {
    pub fn network(&self, id: &str) -> Result<&Network, SdnError> {
        self.networks.get(id).ok_or_else(|| missing("network", id))
    }

    pub fn create_network(
        &mut self,
        name: &str,
        tenant_id: &str,
        shared: bool,
        external: bool,
        mtu: u32,
    ) -> Network {
        let n = Network {
            id: new_uuid(),
            name: name.into(),
            tenant_id: tenant_id.into(),
            admin_state_up: true,
            shared,
            external,
            mtu,
            description: String::new(),
        };
        self.networks.insert(n.id.clone(), n.clone());
        n
    }

    pub fn delete_network(&mut self, id: &str) -> Result<(), SdnError> {
        self.network(id)?;
        // Floating IPs mapped to no port go with their network (Neutron's L3 plugin), so
        // their own ports do not keep it.
        let idle: Vec<String> = self
            .floating_ips
            .values()
            .filter(|f| f.network_id == id && f.port_id.is_none())
            .map(|f| f.id.clone())
            .collect();
        let in_use = self.ports.values().any(|p| {
            p.network_id == id
                && !p.device_owner.starts_with("network:dhcp")
                && !(p.device_owner == super::routers::FLOATING_OWNER
                    && idle.contains(&p.device_id))
        });
        if in_use {
            return Err(SdnError::InUse(format!(
                "Unable to complete operation on network {id}. There are one or more ports still in use on the network."
            )));
        }
        for f in idle {
            self.delete_floating_ip(&f)?;
        }
        self.ports.retain(|_, p| p.network_id != id);
        self.subnets.retain(|_, s| s.network_id != id);
        self.networks.remove(id);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn create_subnet(
        &mut self,
        name: &str,
        network_id: &str,
        tenant_id: &str,
        cidr: IpNet,
        gateway_ip: Option<Option<IpAddr>>,
        pools: Option<Vec<(IpAddr, IpAddr)>>,
        enable_dhcp: bool,
        dns_nameservers: Vec<String>,
    ) -> Result<Subnet, SdnError> {
        self.network(network_id)?;
        if self
            .subnets
            .values()
            .any(|s| s.network_id == network_id && s.cidr.overlaps(&cidr))
        {
            // Clients (Tempest among them) look for these words to try the next range.
            return Err(SdnError::BadRequest(format!(
                "Invalid input for operation: Requested subnet with cidr: {cidr} for network: {network_id} overlaps with another subnet."
            )));
        }
        // Neutron's default gateway is the first host address.
        let gateway_ip = gateway_ip.unwrap_or_else(|| Some(cidr.ip(cidr.hosts().0)));
        if let Some(g) = gateway_ip
            && !cidr.is_host(g)
        {
            return Err(SdnError::BadRequest(format!(
                "Gateway IP {g} is not in subnet {cidr}."
            )));
        }
        let pools = match pools {
            Some(p) => {
                for (a, b) in &p {
                    if !cidr.is_host(*a) || !cidr.is_host(*b) || num(*a) > num(*b) {
                        return Err(SdnError::BadRequest(format!(
                            "The allocation pool {a}-{b} spans beyond the subnet cidr {cidr}."
                        )));
                    }
                }
                p
            }
            None => default_pools(&cidr, gateway_ip),
        };
        let s = Subnet {
            id: new_uuid(),
            name: name.into(),
            network_id: network_id.into(),
            tenant_id: tenant_id.into(),
            cidr,
            gateway_ip,
            enable_dhcp,
            pools,
            dns_nameservers,
            host_routes: Vec::new(),
            description: String::new(),
            ipv6_ra_mode: None,
            ipv6_address_mode: None,
            subnetpool_id: None,
        };
        self.subnets.insert(s.id.clone(), s.clone());
        Ok(s)
    }

    /// Deletes a subnet no port has an address of; a subnet of automatic (EUI-64)
    /// addresses goes anyway, taking those addresses from its ports, as in Neutron.
    pub fn delete_subnet(&mut self, id: &str) -> Result<(), SdnError> {
        let auto = self
            .subnets
            .get(id)
            .ok_or_else(|| missing("subnet", id))?
            .auto_address();
        if auto {
            for p in self.ports.values_mut() {
                p.fixed_ips.retain(|(s, _)| s != id);
            }
        }
        if self
            .ports
            .values()
            .any(|p| p.fixed_ips.iter().any(|(s, _)| s == id))
        {
            return Err(SdnError::InUse(format!(
                "Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."
            )));
        }
        self.subnets.remove(id);
        Ok(())
    }

    pub fn create_port(&mut self, req: PortRequest) -> Result<Port, SdnError> {
        let net = self.network(&req.network_id)?.clone();
        if let Some(mac) = req.mac
            && self.ports.values().any(|p| p.mac == mac)
        {
            return Err(SdnError::Conflict(format!(
                "Unable to complete operation for network {}. The mac address {mac} is in use.",
                net.id
            )));
        }
        let mac = match req.mac {
            Some(m) => m,
            None => self.new_mac(),
        };
        let fixed_ips = self.assign(&net.id, req.fixed_ips.clone(), None, mac)?;
        let security_groups = match req.security_groups {
            Some(groups) => {
                for g in &groups {
                    self.security_groups
                        .get(g)
                        .ok_or_else(|| missing("security-group", g))?;
                }
                groups
            }
            None => vec![self.default_group(&req.tenant_id).id],
        };
        let port = Port {
            id: new_uuid(),
            name: req.name,
            network_id: net.id.clone(),
            tenant_id: req.tenant_id,
            mac,
            fixed_ips,
            device_id: req.device_id,
            device_owner: req.device_owner,
            admin_state_up: req.admin_state_up,
            status: "DOWN".into(),
            host_id: String::new(),
            vif_type: "unbound".into(),
            vnic_type: "normal".into(),
            security_groups,
            description: req.description,
            allowed_address_pairs: Vec::new(),
            plugged: false,
        };
        self.ports.insert(port.id.clone(), port.clone());
        Ok(port)
    }
}

/// A UUID-shaped random id, as Neutron's (nova parses some of them as UUIDs).
pub fn new_uuid() -> String {
    let h = new_id();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// Every host address but the gateway, split around it.
fn default_pools(cidr: &IpNet, gateway: Option<IpAddr>) -> Vec<(IpAddr, IpAddr)> {
    let (first, last) = cidr.hosts();
    let ip = |n| cidr.ip(n);
    match gateway.map(num) {
        Some(g) if g == first => vec![(ip(first + 1), ip(last))],
        Some(g) if g == last => vec![(ip(first), ip(last - 1))],
        Some(g) if g > first && g < last => {
            vec![(ip(first), ip(g - 1)), (ip(g + 1), ip(last))]
        }
        _ => vec![(ip(first), ip(last))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn net_with_subnet(cidr: &str) -> (State, String, String) {
        let mut s = State::default();
        let n = s.create_network("n", "p1", false, false, 1500);
        let sub = s
            .create_subnet(
                "s",
                &n.id,
                "p1",
                cidr.parse().unwrap(),
                None,
                None,
                true,
                vec![],
            )
            .unwrap();
        (s, n.id, sub.id)
    }

    fn port(net: &str) -> PortRequest {
        PortRequest {
            network_id: net.into(),
            tenant_id: "p1".into(),
            admin_state_up: true,
            ..Default::default()
        }
    }

    #[test]
    fn only_ports_of_nodes_themselves_plug_a_nic() {
        let (mut s, net, _) = net_with_subnet("10.0.0.0/24");
        let mut p = s.create_port(port(&net)).unwrap();
        assert!(!p.plugs_a_nic(), "unbound");
        p.host_id = "n1".into();
        assert!(p.plugs_a_nic(), "bound, no owner: a NIC of n1");
        p.device_owner = NODE_OWNER.into();
        assert!(p.plugs_a_nic(), "a template NIC");
        p.device_owner = "compute:nova".into();
        assert!(!p.plugs_a_nic(), "a server inside the hypervisor n1");
        p.device_owner = "network:router_interface".into();
        assert!(p.plugs_a_nic());
    }

    #[test]
    fn addresses_skip_the_gateway_and_never_repeat() {
        let (mut s, net, _) = net_with_subnet("10.5.0.0/29");
        let ips: Vec<String> = (0..5)
            .map(|_| {
                s.create_port(port(&net)).unwrap().fixed_ips[0]
                    .1
                    .to_string()
            })
            .collect();
        assert_eq!(
            ips,
            ["10.5.0.2", "10.5.0.3", "10.5.0.4", "10.5.0.5", "10.5.0.6"]
        );
        assert!(matches!(
            s.create_port(port(&net)),
            Err(SdnError::IpExhausted(_))
        ));
        let macs: BTreeSet<_> = s.ports.values().map(|p| p.mac).collect();
        assert_eq!(macs.len(), 5);
    }

    #[test]
    fn slaac_ports_get_their_eui64_address_and_lose_it_with_the_subnet() {
        let (mut s, net, v4) = net_with_subnet("10.5.0.0/24");
        let v6 = s
            .create_subnet(
                "v6",
                &net,
                "p",
                "2001:db8::/64".parse().unwrap(),
                None,
                None,
                true,
                vec![],
            )
            .unwrap();
        let mut sub = v6.clone();
        sub.ipv6_address_mode = Some("slaac".into());
        s.subnets.insert(sub.id.clone(), sub.clone());
        let p = s.create_port(port(&net)).unwrap();
        let want = sub.cidr.eui64(p.mac).unwrap();
        assert_eq!(
            p.fixed_ips,
            [
                (v4.clone(), "10.5.0.2".parse().unwrap()),
                (sub.id.clone(), want)
            ]
        );
        // An address of one's choosing is refused on an automatic subnet.
        let mut req = port(&net);
        req.fixed_ips = vec![(Some(sub.id.clone()), Some("2001:db8::5".parse().unwrap()))];
        assert!(matches!(s.create_port(req), Err(SdnError::BadRequest(_))));
        s.delete_subnet(&sub.id).unwrap();
        assert_eq!(s.ports[&p.id].fixed_ips.len(), 1);
        assert!(
            s.delete_subnet(&v4).is_err(),
            "a pool subnet with ports stays"
        );
    }

    #[test]
    fn fixed_addresses_are_checked() {
        let (mut s, net, sub) = net_with_subnet("10.5.0.0/24");
        let mut req = port(&net);
        req.fixed_ips = vec![(Some(sub.clone()), Some("10.5.0.50".parse().unwrap()))];
        s.create_port(req.clone()).unwrap();
        assert!(matches!(
            s.create_port(req),
            Err(SdnError::IpAllocated { .. })
        ));
        let mut outside = port(&net);
        outside.fixed_ips = vec![(None, Some("10.6.0.1".parse().unwrap()))];
        assert!(matches!(
            s.create_port(outside),
            Err(SdnError::BadRequest(_))
        ));
    }

    #[test]
    fn in_use_networks_and_groups_are_kept() {
        let (mut s, net, sub) = net_with_subnet("10.5.0.0/24");
        let p = s.create_port(port(&net)).unwrap();
        assert!(matches!(s.delete_network(&net), Err(SdnError::InUse(_))));
        assert!(matches!(s.delete_subnet(&sub), Err(SdnError::InUse(_))));
        assert!(matches!(
            s.delete_group(&p.security_groups[0]),
            Err(SdnError::InUse(_))
        ));
        s.ports.clear();
        s.delete_network(&net).unwrap();
        assert!(s.subnets.is_empty());
    }

    #[test]
    fn overlapping_subnets_are_refused_and_pools_split_around_the_gateway() {
        let (mut s, net, _) = net_with_subnet("10.5.0.0/24");
        let r = s.create_subnet(
            "t",
            &net,
            "p1",
            "10.5.0.128/25".parse().unwrap(),
            None,
            None,
            true,
            vec![],
        );
        assert!(matches!(r, Err(SdnError::BadRequest(_))));
        let pools = default_pools(
            &"10.0.0.0/24".parse().unwrap(),
            Some("10.0.0.100".parse().unwrap()),
        );
        assert_eq!(pools.len(), 2);
        assert_eq!(pools[0].1.to_string(), "10.0.0.99");
        assert_eq!(
            SdnError::NotFound {
                kind: "security-group",
                id: "x".into()
            }
            .kind(),
            "SecurityGroupNotFound"
        );
    }
}
