//! `/v2.0/subnets`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::resource::{Answer, Fields, Resource, seen};
use super::{ip, typed};
use crate::clone::sdn::error::SdnError;
use crate::clone::sdn::ipnet::{IpNet, ipv6_modes};
use crate::clone::sdn::model::{State, Subnet};
use crate::clone::sdn::policy::{Guarded, Policy, of};
use crate::clone::sdn::subnetpools::SubnetPool;
use crate::clone::sdn::token::Caller;

impl Guarded for Subnet {
    const POLICY: Policy = of::SUBNET;
    fn project(&self) -> &str {
        &self.tenant_id
    }
    /// The subnets of a shared network are seen by all; those of an external one only by
    /// its project (as in Neutron).
    fn shared_with(&self, st: &State, _: &Caller) -> bool {
        st.networks.get(&self.network_id).is_some_and(|n| n.shared)
    }
}

#[derive(Deserialize)]
struct Request {
    name: Option<String>,
    description: Option<String>,
    network_id: Option<String>,
    cidr: Option<String>,
    subnetpool_id: Option<String>,
    prefixlen: Option<Value>,
    /// Absent: the first address; null: none.
    #[serde(default, deserialize_with = "present")]
    gateway_ip: Option<Option<String>>,
    allocation_pools: Option<Vec<Pool>>,
    enable_dhcp: Option<bool>,
    dns_nameservers: Option<Vec<String>>,
    host_routes: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct Pool {
    start: String,
    end: String,
}

/// `Some(None)` for an explicit null, `None` (by `default`) for a field not given.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A subnet is made on a network its project owns (Neutron's `ADMIN_OR_NET_OWNER_MEMBER`):
/// a network the caller does not see is not there, one they see but do not own is a 403.
fn may_add_to(st: &State, caller: &Caller, network_id: &str) -> Result<(), SdnError> {
    let net = seen::<crate::clone::sdn::model::Network>(st, caller, network_id)?;
    let owner = caller.member && !net.tenant_id.is_empty() && net.tenant_id == caller.project_id;
    if caller.admin || owner {
        Ok(())
    } else {
        Err(SdnError::Forbidden("create_subnet".into()))
    }
}

impl Resource for Subnet {
    const SINGULAR: &'static str = "subnet";
    const PLURAL: &'static str = "subnets";
    const PATH: &'static str = "subnets";

    fn map(st: &State) -> &BTreeMap<String, Subnet> {
        &st.subnets
    }

    fn json(&self, st: &State) -> Value {
        st.subnet_json(self)
    }

    fn create(st: &mut State, caller: &Caller, project: &str, o: &Fields) -> Answer {
        let r: Request = typed(o)?;
        let network_id = r
            .network_id
            .ok_or_else(|| SdnError::BadRequest("subnet needs network_id".into()))?;
        let cidr = r
            .cidr
            .map(|c| c.parse::<IpNet>())
            .transpose()
            .map_err(|e| SdnError::BadRequest(format!("Invalid input for cidr: {e}")))?;
        let cidr = match (&r.subnetpool_id, cidr) {
            (Some(pool), cidr) => {
                seen::<SubnetPool>(st, caller, pool)?;
                let len = match r.prefixlen {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(
                        v.as_u64()
                            .or_else(|| v.as_str().and_then(|x| x.parse().ok()))
                            .filter(|n| *n <= 128)
                            .ok_or_else(|| {
                                SdnError::BadRequest(format!("Invalid input for prefixlen: {v}"))
                            })? as u8,
                    ),
                };
                st.carve(pool, cidr, len)?
            }
            (None, Some(cidr)) => cidr,
            (None, None) => {
                return Err(SdnError::BadRequest(
                    "Bad subnets request: a cidr or a subnetpool_id must be specified.".into(),
                ));
            }
        };
        let modes = ipv6_modes(&cidr, o)?;
        let gateway = r
            .gateway_ip
            .map(|g| g.as_deref().map(ip).transpose())
            .transpose()?;
        let pools = r
            .allocation_pools
            .map(|a| {
                a.iter()
                    .map(|p| Ok((ip(&p.start)?, ip(&p.end)?)))
                    .collect::<Result<Vec<_>, SdnError>>()
            })
            .transpose()?;
        may_add_to(st, caller, &network_id)?;
        st.within_quota(project, "subnet", 1)?;
        let mut sub = st.create_subnet(
            &r.name.unwrap_or_default(),
            &network_id,
            project,
            cidr,
            gateway,
            pools,
            r.enable_dhcp.unwrap_or(true),
            r.dns_nameservers.unwrap_or_default(),
        )?;
        sub.description = r.description.unwrap_or_default();
        sub.subnetpool_id = r.subnetpool_id;
        (sub.ipv6_ra_mode, sub.ipv6_address_mode) = modes;
        sub.host_routes = r.host_routes.unwrap_or_default();
        st.subnets.insert(sub.id.clone(), sub.clone());
        st.schedule_dhcp(&sub.network_id);
        Ok(st.subnet_json(&sub))
    }

    fn update(st: &mut State, _: &Caller, id: &str, o: &Fields) -> Answer {
        for mode in ["ipv6_ra_mode", "ipv6_address_mode"] {
            if o.contains_key(mode) {
                return Err(SdnError::BadRequest(format!(
                    "Cannot update read-only attribute {mode}"
                )));
            }
        }
        let r: Request = typed(o)?;
        let mut sub = st.subnets[id].clone();
        match r.gateway_ip {
            Some(None) => sub.gateway_ip = None,
            Some(Some(g)) => {
                let g = ip(&g)?;
                if !sub.cidr.is_host(g) {
                    return Err(SdnError::BadRequest(format!(
                        "Gateway IP {g} is not in subnet {}.",
                        sub.cidr
                    )));
                }
                sub.gateway_ip = Some(g);
            }
            None => {}
        }
        sub.name = r.name.unwrap_or(sub.name);
        sub.description = r.description.unwrap_or(sub.description);
        sub.enable_dhcp = r.enable_dhcp.unwrap_or(sub.enable_dhcp);
        sub.host_routes = r.host_routes.unwrap_or(sub.host_routes);
        sub.dns_nameservers = r.dns_nameservers.unwrap_or(sub.dns_nameservers);
        st.subnets.insert(id.to_string(), sub.clone());
        Ok(st.subnet_json(&sub))
    }

    fn delete(st: &mut State, id: &str) -> Result<(), SdnError> {
        st.delete_subnet(id)
    }
}
