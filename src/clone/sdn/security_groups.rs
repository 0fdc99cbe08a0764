//! Security groups and their rules as the state keeps them: each project's `default`
//! group made on first use, the rules a group starts with, and what deleting one
//! needs (no port using it). How a requested rule is checked is `rules.rs`.

use serde::{Deserialize, Serialize};

use super::error::{SdnError, missing};
use super::model::{State, new_uuid};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub tenant_id: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub security_group_id: String,
    pub tenant_id: String,
    pub direction: String,
    pub ethertype: String,
    pub protocol: Option<String>,
    pub port_range_min: Option<u16>,
    pub port_range_max: Option<u16>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
}

impl State {
    /// The project's `default` security group, made on first use as Neutron does.
    pub fn default_group(&mut self, tenant_id: &str) -> SecurityGroup {
        if let Some(g) = self
            .security_groups
            .values()
            .find(|g| g.tenant_id == tenant_id && g.name == "default")
        {
            return g.clone();
        }
        let g = SecurityGroup {
            id: new_uuid(),
            name: "default".into(),
            tenant_id: tenant_id.into(),
            description: "Default security group".into(),
        };
        self.security_groups.insert(g.id.clone(), g.clone());
        for (direction, ethertype) in [
            ("ingress", "IPv4"),
            ("egress", "IPv4"),
            ("ingress", "IPv6"),
            ("egress", "IPv6"),
        ] {
            let remote = (direction == "ingress").then(|| g.id.clone());
            self.add_rule(
                &g.id, tenant_id, direction, ethertype, None, None, None, None, remote,
            );
        }
        g
    }

    #[allow(clippy::too_many_arguments)]
    pub fn add_rule(
        &mut self,
        group: &str,
        tenant_id: &str,
        direction: &str,
        ethertype: &str,
        protocol: Option<String>,
        port_range_min: Option<u16>,
        port_range_max: Option<u16>,
        remote_ip_prefix: Option<String>,
        remote_group_id: Option<String>,
    ) -> Rule {
        let r = Rule {
            id: new_uuid(),
            security_group_id: group.into(),
            tenant_id: tenant_id.into(),
            direction: direction.into(),
            ethertype: ethertype.into(),
            protocol,
            port_range_min,
            port_range_max,
            remote_ip_prefix,
            remote_group_id,
        };
        self.rules.insert(r.id.clone(), r.clone());
        r
    }

    pub fn delete_group(&mut self, id: &str) -> Result<(), SdnError> {
        self.security_groups
            .get(id)
            .ok_or_else(|| missing("security-group", id))?;
        if self
            .ports
            .values()
            .any(|p| p.security_groups.iter().any(|g| g == id))
        {
            return Err(SdnError::InUse(format!("Security Group {id} in use.")));
        }
        self.security_groups.remove(id);
        self.rules.retain(|_, r| r.security_group_id != id);
        Ok(())
    }
}
