//! The SDN clone's resources as Neutron's API renders them.

use serde_json::{Value, json};

use super::model::*;
use super::security_groups::{Rule, SecurityGroup};

impl State {
    pub fn network_json(&self, n: &Network) -> Value {
        let subnets: Vec<&String> = self
            .subnets
            .values()
            .filter(|s| s.network_id == n.id)
            .map(|s| &s.id)
            .collect();
        json!({
            "id": n.id, "name": n.name, "tenant_id": n.tenant_id, "project_id": n.tenant_id,
            "admin_state_up": n.admin_state_up, "status": "ACTIVE", "subnets": subnets,
            "shared": n.shared, "router:external": n.external, "mtu": n.mtu,
            "description": n.description, "port_security_enabled": true, "tags": self.tags_of(&n.id),
            "availability_zone_hints": [], "availability_zones": [super::agents::ZONE], "ipv4_address_scope": null,
            "ipv6_address_scope": null, "is_default": false, "revision_number": 0,
        })
    }

    pub fn subnet_json(&self, s: &Subnet) -> Value {
        let pools: Vec<Value> = s
            .pools
            .iter()
            .map(|(a, b)| json!({"start": a.to_string(), "end": b.to_string()}))
            .collect();
        json!({
            "id": s.id, "name": s.name, "network_id": s.network_id, "tenant_id": s.tenant_id,
            "project_id": s.tenant_id, "cidr": s.cidr.to_string(), "ip_version": s.cidr.version(),
            "gateway_ip": s.gateway_ip.map(|g| g.to_string()), "enable_dhcp": s.enable_dhcp,
            "allocation_pools": pools, "dns_nameservers": s.dns_nameservers, "host_routes": s.host_routes,
            "ipv6_address_mode": s.ipv6_address_mode, "ipv6_ra_mode": s.ipv6_ra_mode, "subnetpool_id": s.subnetpool_id,
            "description": s.description, "tags": self.tags_of(&s.id), "revision_number": 0,
        })
    }

    pub fn port_json(&self, p: &Port) -> Value {
        let fixed: Vec<Value> = p
            .fixed_ips
            .iter()
            .map(|(s, ip)| json!({"subnet_id": s, "ip_address": ip.to_string()}))
            .collect();
        let bridge = format!("brq{}", &p.network_id[..p.network_id.len().min(11)]);
        json!({
            "id": p.id, "name": p.name, "network_id": p.network_id, "tenant_id": p.tenant_id,
            "project_id": p.tenant_id, "mac_address": p.mac.to_string(), "fixed_ips": fixed,
            "device_id": p.device_id, "device_owner": p.device_owner,
            "admin_state_up": p.admin_state_up, "status": p.status,
            "binding:host_id": p.host_id, "binding:vif_type": p.vif_type,
            "binding:vnic_type": p.vnic_type, "binding:profile": {},
            "binding:vif_details": if p.host_id.is_empty() { json!({}) } else { json!({"bridge_name": bridge, "port_filter": false}) },
            "security_groups": p.security_groups, "port_security_enabled": true,
            "allowed_address_pairs": p.allowed_address_pairs.iter().map(|a| a.json()).collect::<Vec<_>>(),
            "extra_dhcp_opts": [], "description": p.description,
            "tags": self.tags_of(&p.id), "revision_number": 0,
        })
    }

    pub fn group_json(&self, g: &SecurityGroup) -> Value {
        let rules: Vec<Value> = self
            .rules
            .values()
            .filter(|r| r.security_group_id == g.id)
            .map(rule_json)
            .collect();
        json!({"id": g.id, "name": g.name, "tenant_id": g.tenant_id, "project_id": g.tenant_id,
               "description": g.description, "security_group_rules": rules, "stateful": true,
               "tags": self.tags_of(&g.id), "revision_number": 0})
    }
}

pub fn rule_json(r: &Rule) -> Value {
    json!({"id": r.id, "security_group_id": r.security_group_id, "tenant_id": r.tenant_id,
           "project_id": r.tenant_id, "direction": r.direction, "ethertype": r.ethertype,
           "protocol": r.protocol, "port_range_min": r.port_range_min, "port_range_max": r.port_range_max,
           "remote_ip_prefix": r.remote_ip_prefix, "remote_group_id": r.remote_group_id,
           "description": "", "revision_number": 0})
}
