//! Subnet pools (`subnet_allocation`): prefixes a subnet's CIDR is carved from when a
//! subnet names a pool instead of a CIDR, as Neutron's IPAM carves them: the first free
//! block of the asked (or default) prefix length, never overlapping the pool's other
//! subnets.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::error::{SdnError, missing};
use super::ipnet::{IpNet, num};
use super::model::{State, new_uuid};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubnetPool {
    pub id: String,
    pub name: String,
    pub tenant_id: String,
    pub prefixes: Vec<IpNet>,
    pub min_prefixlen: u8,
    pub max_prefixlen: u8,
    pub default_prefixlen: u8,
    pub shared: bool,
    pub is_default: bool,
    pub description: String,
}

fn bad(msg: String) -> SdnError {
    SdnError::BadRequest(format!("Invalid input for operation: {msg}."))
}

fn prefixlen(o: &Map<String, Value>, key: &str) -> Result<Option<u8>, SdnError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|n| *n <= 128)
            .map(|n| Some(n as u8))
            .ok_or_else(|| bad(format!("'{v}' is not a valid {key}"))),
    }
}

impl SubnetPool {
    /// A pool from a create request; `prefixes` of one family, lengths within it, and
    /// `min <= default <= max` (Neutron's defaults: min 8 for IPv4 and 64 for IPv6,
    /// max the family's width, default the min).
    pub fn from_request(o: &Map<String, Value>, tenant_id: &str) -> Result<SubnetPool, SdnError> {
        let prefixes = parse_prefixes(o.get("prefixes"))?
            .ok_or_else(|| bad("a subnet pool needs prefixes".into()))?;
        let mut pool = SubnetPool {
            id: new_uuid(),
            name: o
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            tenant_id: tenant_id.into(),
            prefixes,
            min_prefixlen: 0,
            max_prefixlen: 0,
            default_prefixlen: 0,
            shared: o.get("shared").and_then(Value::as_bool).unwrap_or(false),
            is_default: o
                .get("is_default")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            description: o
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
        };
        let v4 = pool.version() == 4;
        pool.min_prefixlen = prefixlen(o, "min_prefixlen")?.unwrap_or(if v4 { 8 } else { 64 });
        pool.max_prefixlen = prefixlen(o, "max_prefixlen")?.unwrap_or(if v4 { 32 } else { 128 });
        pool.default_prefixlen = prefixlen(o, "default_prefixlen")?.unwrap_or(pool.min_prefixlen);
        pool.check()?;
        Ok(pool)
    }

    pub fn version(&self) -> u8 {
        self.prefixes.first().map_or(4, IpNet::version)
    }

    /// Applies an update's name, description, prefixes (only added to) and lengths.
    pub fn update(&mut self, o: &Map<String, Value>) -> Result<(), SdnError> {
        let mut next = self.clone();
        if let Some(n) = o.get("name").and_then(Value::as_str) {
            next.name = n.into();
        }
        if let Some(d) = o.get("description").and_then(Value::as_str) {
            next.description = d.into();
        }
        if let Some(p) = parse_prefixes(o.get("prefixes"))? {
            if let Some(lost) = self.prefixes.iter().find(|old| {
                !p.iter()
                    .any(|n| n.contains(old.addr) && n.prefix <= old.prefix)
            }) {
                return Err(bad(format!(
                    "prefix {lost} cannot be removed from a subnet pool"
                )));
            }
            next.prefixes = p;
        }
        for (key, slot) in [
            ("min_prefixlen", &mut next.min_prefixlen),
            ("max_prefixlen", &mut next.max_prefixlen),
            ("default_prefixlen", &mut next.default_prefixlen),
        ] {
            if let Some(v) = prefixlen(o, key)? {
                *slot = v;
            }
        }
        next.check()?;
        *self = next;
        Ok(())
    }

    fn check(&self) -> Result<(), SdnError> {
        let width = if self.version() == 4 { 32 } else { 128 };
        if self.prefixes.iter().any(|p| p.version() != self.version()) {
            return Err(bad("a subnet pool's prefixes are of one IP version".into()));
        }
        if !(self.min_prefixlen <= self.default_prefixlen
            && self.default_prefixlen <= self.max_prefixlen
            && self.max_prefixlen <= width)
        {
            return Err(bad(format!(
                "prefix lengths must be min <= default <= max <= {width} (min {}, default {}, max {})",
                self.min_prefixlen, self.default_prefixlen, self.max_prefixlen
            )));
        }
        Ok(())
    }

    pub fn json(&self) -> Value {
        let prefixes: Vec<String> = self.prefixes.iter().map(IpNet::to_string).collect();
        json!({
            "id": self.id, "name": self.name, "tenant_id": self.tenant_id, "project_id": self.tenant_id,
            "prefixes": prefixes, "min_prefixlen": self.min_prefixlen.to_string(),
            "max_prefixlen": self.max_prefixlen.to_string(),
            "default_prefixlen": self.default_prefixlen.to_string(), "ip_version": self.version(),
            "shared": self.shared, "is_default": self.is_default, "description": self.description,
            "address_scope_id": null, "default_quota": null, "revision_number": 0,
        })
    }
}

fn parse_prefixes(v: Option<&Value>) -> Result<Option<Vec<IpNet>>, SdnError> {
    let Some(v) = v else { return Ok(None) };
    let list = v
        .as_array()
        .ok_or_else(|| bad(format!("prefixes '{v}' is not a list")))?;
    let nets = list
        .iter()
        .map(|p| {
            p.as_str()
                .ok_or_else(|| bad(format!("prefix {p} is not a string")))?
                .parse::<IpNet>()
                .map_err(|e| bad(format!("prefix {p}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if nets.is_empty() {
        return Err(bad("a subnet pool needs prefixes".into()));
    }
    Ok(Some(nets))
}

impl State {
    pub fn subnetpool(&self, id: &str) -> Result<&SubnetPool, SdnError> {
        self.subnetpools
            .get(id)
            .ok_or_else(|| missing("subnetpool", id))
    }

    /// The CIDR a subnet gets from a pool: `cidr` checked against it, or the first free
    /// block of `prefixlen` (the pool's default when not given).
    pub fn carve(
        &self,
        pool_id: &str,
        cidr: Option<IpNet>,
        prefixlen: Option<u8>,
    ) -> Result<IpNet, SdnError> {
        let pool = self.subnetpool(pool_id)?;
        let taken: Vec<IpNet> = self
            .subnets
            .values()
            .filter(|s| s.subnetpool_id.as_deref() == Some(pool_id))
            .map(|s| s.cidr)
            .collect();
        let len = cidr
            .map(|c| c.prefix)
            .or(prefixlen)
            .unwrap_or(pool.default_prefixlen);
        if len < pool.min_prefixlen || len > pool.max_prefixlen {
            return Err(bad(format!(
                "prefix length {len} is not within the pool's {} to {}",
                pool.min_prefixlen, pool.max_prefixlen
            )));
        }
        if let Some(c) = cidr {
            if !pool
                .prefixes
                .iter()
                .any(|p| p.prefix <= c.prefix && p.contains(c.addr))
            {
                return Err(bad(format!(
                    "{c} is not in the prefixes of subnet pool {pool_id}"
                )));
            }
            if taken.iter().any(|t| t.overlaps(&c)) {
                return Err(bad(format!(
                    "{c} overlaps a subnet of subnet pool {pool_id}"
                )));
            }
            return Ok(c);
        }
        let width = if pool.version() == 4 { 32 } else { 128 };
        let step = 1u128 << (width - len as u32);
        for p in pool.prefixes.iter().filter(|p| p.prefix <= len) {
            let end = num(p.addr) + (1u128 << (width - p.prefix as u32)) - 1;
            let mut at = num(p.addr);
            // Each step past a block that overlaps jumps beyond that block: the walk is
            // as long as the pool's subnets, not its address space.
            while at <= end {
                let block = IpNet {
                    addr: p.ip(at),
                    prefix: len,
                };
                match taken.iter().find(|t| t.overlaps(&block)) {
                    None => return Ok(block),
                    Some(t) => {
                        let t_end = num(t.addr) + (1u128 << (width - t.prefix as u32)) - 1;
                        let next = (t_end.max(at + step - 1) / step + 1) * step;
                        at = next;
                    }
                }
            }
        }
        Err(SdnError::Conflict(format!(
            "Insufficient prefix space to allocate subnet size /{len}"
        )))
    }

    pub fn delete_subnetpool(&mut self, id: &str) -> Result<(), SdnError> {
        self.subnetpool(id)?;
        if self
            .subnets
            .values()
            .any(|s| s.subnetpool_id.as_deref() == Some(id))
        {
            return Err(SdnError::InUse(format!(
                "Unable to complete operation on subnetpool {id}. There are one or more subnets still in use."
            )));
        }
        self.subnetpools.remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_carved_in_order_around_what_is_taken() {
        let mut st = State::default();
        let o = json!({"name": "p", "prefixes": ["10.10.0.0/16"], "default_prefixlen": 24});
        let pool = SubnetPool::from_request(o.as_object().unwrap(), "t").unwrap();
        assert_eq!((pool.min_prefixlen, pool.max_prefixlen), (8, 32));
        st.subnetpools.insert(pool.id.clone(), pool.clone());
        let net = st.create_network("n", "t", false, false, 1500);
        let first = st.carve(&pool.id, None, None).unwrap();
        assert_eq!(first.to_string(), "10.10.0.0/24");
        let mut s = st
            .create_subnet("a", &net.id, "t", first, None, None, true, vec![])
            .unwrap();
        s.subnetpool_id = Some(pool.id.clone());
        st.subnets.insert(s.id.clone(), s);
        assert_eq!(
            st.carve(&pool.id, None, Some(24)).unwrap().to_string(),
            "10.10.1.0/24"
        );
        assert_eq!(
            st.carve(&pool.id, None, Some(23)).unwrap().to_string(),
            "10.10.2.0/23"
        );
        assert!(
            st.carve(&pool.id, Some("10.10.0.128/25".parse().unwrap()), None)
                .is_err()
        );
        assert!(
            st.carve(&pool.id, Some("10.11.0.0/24".parse().unwrap()), None)
                .is_err()
        );
        assert!(st.carve(&pool.id, None, Some(4)).is_err());
        assert_eq!(st.delete_subnetpool(&pool.id).unwrap_err().status(), 409);
        let bad = json!({"prefixes": ["10.0.0.0/8", "2001:db8::/48"]});
        assert!(SubnetPool::from_request(bad.as_object().unwrap(), "t").is_err());
    }
}
