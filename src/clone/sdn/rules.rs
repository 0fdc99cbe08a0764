//! Security-group rules as Neutron checks them before it keeps one
//! (`neutron/extensions/securitygroup.py`, `db/securitygroups_db.py`): direction,
//! ethertype, protocol (a name or 0–255, kept as a string), ports per protocol, a
//! remote prefix of the rule's IP version (normalised to its network) or a remote group,
//! never both, and no duplicate of a rule the group has.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::error::SdnError;
use super::model::{State, new_uuid};
use super::security_groups::Rule;

/// The protocol names Neutron accepts (`neutron_lib.constants.IP_PROTOCOL_MAP`).
const PROTOCOLS: [&str; 25] = [
    "ah",
    "dccp",
    "egp",
    "esp",
    "gre",
    "hopopt",
    "icmp",
    "igmp",
    "ipip",
    "ipv6-encap",
    "ipv6-frag",
    "ipv6-icmp",
    "icmpv6",
    "ipv6-nonxt",
    "ipv6-opts",
    "ipv6-route",
    "ospf",
    "pgm",
    "rsvp",
    "sctp",
    "tcp",
    "udp",
    "udplite",
    "vrrp",
    "ip",
];
/// Protocols whose rules take a port range, by name and number.
const WITH_PORTS: [&str; 10] = [
    "tcp", "udp", "dccp", "sctp", "udplite", "6", "17", "33", "132", "136",
];
/// Protocols whose "ports" are an ICMP type and code.
const ICMP: [&str; 5] = ["icmp", "icmpv6", "ipv6-icmp", "1", "58"];
const ICMPV6: [&str; 3] = ["icmpv6", "ipv6-icmp", "58"];

fn bad(msg: impl Into<String>) -> SdnError {
    SdnError::BadRequest(msg.into())
}

/// A rule for `group` (of `tenant_id`) from a request body, checked as Neutron does.
pub fn from_request(
    st: &State,
    group: &str,
    tenant_id: &str,
    o: &Map<String, Value>,
) -> Result<Rule, SdnError> {
    let text = |k: &str| -> Result<Option<String>, SdnError> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(bad(format!(
                "Invalid input for {k}. Reason: '{other}' is not a string."
            ))),
        }
    };
    let direction = match text("direction")?.as_deref() {
        Some(d @ ("ingress" | "egress")) => d.to_string(),
        None => {
            return Err(bad(
                "Failed to parse request. Required attribute 'direction' not specified",
            ));
        }
        Some(d) => {
            return Err(bad(format!(
                "Invalid input for direction. Reason: '{d}' is not in ['ingress', 'egress']."
            )));
        }
    };
    let ethertype = match text("ethertype")?
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("ipv4") => "IPv4".to_string(),
        Some("ipv6") => "IPv6".to_string(),
        Some(e) => {
            return Err(bad(format!(
                "Invalid input for ethertype. Reason: '{e}' is not in ['IPv4', 'IPv6']."
            )));
        }
    };
    let protocol = protocol(o.get("protocol"))?;
    let port = |k: &str| -> Result<Option<u16>, SdnError> {
        let v = match o.get(k) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse::<u64>().ok(),
            Some(_) => None,
        };
        match v {
            Some(p) if p <= 65535 => Ok(Some(p as u16)),
            _ => Err(bad(format!("Invalid value for port {}.", o[k]))),
        }
    };
    let (min, max) = (port("port_range_min")?, port("port_range_max")?);
    check_ports(protocol.as_deref(), min, max)?;
    if ethertype == "IPv4" && protocol.as_deref().is_some_and(|p| ICMPV6.contains(&p)) {
        return Err(bad(format!(
            "Invalid ethertype IPv4 for protocol {}.",
            protocol.as_deref().unwrap_or_default()
        )));
    }
    let remote_ip_prefix = match text("remote_ip_prefix")? {
        None => None,
        Some(p) => Some(prefix(&p, &ethertype)?),
    };
    let remote_group_id = text("remote_group_id")?;
    if remote_ip_prefix.is_some() && remote_group_id.is_some() {
        return Err(bad(
            "Only remote_ip_prefix or remote_group_id may be provided.",
        ));
    }
    if let Some(g) = &remote_group_id
        && !st.security_groups.contains_key(g)
    {
        return Err(SdnError::NotFound {
            kind: "security-group",
            id: g.clone(),
        });
    }
    let rule = Rule {
        id: new_uuid(),
        security_group_id: group.into(),
        tenant_id: tenant_id.into(),
        direction,
        ethertype,
        protocol,
        port_range_min: min,
        port_range_max: max,
        remote_ip_prefix,
        remote_group_id,
    };
    let same = |r: &Rule| {
        Rule {
            id: rule.id.clone(),
            tenant_id: rule.tenant_id.clone(),
            ..r.clone()
        } == rule
    };
    if let Some(existing) = st
        .rules
        .values()
        .find(|r| r.security_group_id == group && same(r))
    {
        return Err(SdnError::Conflict(format!(
            "Security group rule already exists. Rule id is {}.",
            existing.id
        )));
    }
    Ok(rule)
}

/// A protocol as Neutron keeps it: none for "any", a known name in lower case, or a
/// number 0–255 as a string.
fn protocol(v: Option<&Value>) -> Result<Option<String>, SdnError> {
    let given = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.to_ascii_lowercase(),
        Some(other) => other.to_string(),
    };
    if given == "any" {
        return Ok(None);
    }
    if let Ok(n) = given.parse::<i64>() {
        return if (0..=255).contains(&n) {
            Ok(Some(n.to_string()))
        } else {
            Err(bad(format!(
                "Security group rule protocol {given} not supported. Only protocol values {} and integer representations [0 to 255] are supported.",
                PROTOCOLS.join(", ")
            )))
        };
    }
    if PROTOCOLS.contains(&given.as_str()) {
        Ok(Some(given))
    } else {
        Err(bad(format!(
            "Security group rule protocol {given} not supported. Only protocol values {} and integer representations [0 to 255] are supported.",
            PROTOCOLS.join(", ")
        )))
    }
}

fn check_ports(protocol: Option<&str>, min: Option<u16>, max: Option<u16>) -> Result<(), SdnError> {
    if min.is_none() && max.is_none() {
        return Ok(());
    }
    match protocol {
        None => Err(bad("Must also specify protocol if port range is given.")),
        Some(p) if WITH_PORTS.contains(&p) => {
            if min == Some(0) || max == Some(0) {
                return Err(bad("Invalid value for port 0."));
            }
            // A maximum without a minimum is a range Neutron refuses too.
            match (min, max) {
                (Some(a), Some(b)) if a > b => Err(bad(
                    "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                )),
                (None, Some(_)) => Err(bad(
                    "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                )),
                _ => Ok(()),
            }
        }
        Some(p) if ICMP.contains(&p) => {
            if min.is_some_and(|t| t > 255) {
                return Err(bad(format!(
                    "Invalid value for ICMP type {}.",
                    min.unwrap_or(0)
                )));
            }
            if max.is_some_and(|c| c > 255) {
                return Err(bad(format!(
                    "Invalid value for ICMP code {}.",
                    max.unwrap_or(0)
                )));
            }
            if min.is_none() {
                return Err(bad(format!(
                    "ICMP code (port-range-max) {} is provided but ICMP type (port-range-min) is missing.",
                    max.unwrap_or(0)
                )));
            }
            Ok(())
        }
        Some(p) => Err(bad(format!(
            "Invalid protocol {p} for port range, only supported for TCP, UDP, UDPLITE, SCTP and DCCP."
        ))),
    }
}

/// A remote prefix as Neutron keeps it: the network of the address given (`10.0.0.5/24`
/// is `10.0.0.0/24`; a bare address is a host route), of the rule's IP version.
fn prefix(text: &str, ethertype: &str) -> Result<String, SdnError> {
    let invalid = || {
        bad(format!(
            "Invalid input for remote_ip_prefix. Reason: '{text}' is not a valid IP subnet."
        ))
    };
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().map_err(|_| invalid())?)),
        None => (text, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| invalid())?;
    let (bits, v6) = match ip {
        IpAddr::V4(_) => (32u8, false),
        IpAddr::V6(_) => (128u8, true),
    };
    let len = len.unwrap_or(bits);
    if len > bits {
        return Err(invalid());
    }
    if v6 != (ethertype == "IPv6") {
        return Err(bad(format!(
            "Conflicting value ethertype {ethertype} for CIDR {text}"
        )));
    }
    let network = match ip {
        IpAddr::V4(a) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::from(std::net::Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::from(std::net::Ipv6Addr::from(u128::from(a) & mask))
        }
    };
    Ok(format!("{network}/{len}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(st: &State, v: Value) -> Result<Rule, SdnError> {
        from_request(st, "g", "t", v.as_object().unwrap())
    }

    #[test]
    fn rules_are_checked_as_neutron_checks_them() {
        let st = State::default();
        let ok = rule(&st, json!({"direction": "ingress", "protocol": 6, "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "10.0.0.5/24"})).unwrap();
        assert_eq!(
            ok.protocol.as_deref(),
            Some("6"),
            "a number kept as a string"
        );
        assert_eq!(ok.remote_ip_prefix.as_deref(), Some("10.0.0.0/24"));
        assert_eq!(ok.ethertype, "IPv4");
        let v6 = rule(&st, json!({"direction": "egress", "ethertype": "ipv6", "protocol": "ICMPV6", "remote_ip_prefix": "2001:db8::1"})).unwrap();
        assert_eq!(
            (v6.ethertype.as_str(), v6.protocol.as_deref()),
            ("IPv6", Some("icmpv6"))
        );
        assert_eq!(v6.remote_ip_prefix.as_deref(), Some("2001:db8::1/128"));
        for bad in [
            json!({"protocol": "tcp"}),
            json!({"direction": "sideways"}),
            json!({"direction": "ingress", "ethertype": "IPv5"}),
            json!({"direction": "ingress", "protocol": "bogus"}),
            json!({"direction": "ingress", "protocol": 256}),
            json!({"direction": "ingress", "port_range_min": 22}),
            json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 90, "port_range_max": 80}),
            json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 70000}),
            json!({"direction": "ingress", "protocol": "tcp", "port_range_max": 6}),
            json!({"direction": "ingress", "protocol": "icmp", "port_range_max": 0}),
            json!({"direction": "ingress", "protocol": "gre", "port_range_min": 1}),
            json!({"direction": "ingress", "remote_ip_prefix": "2001:db8::/64"}),
            json!({"direction": "ingress", "remote_ip_prefix": "10.0.0.0/33"}),
            json!({"direction": "ingress", "protocol": "icmpv6"}),
            json!({"direction": "ingress", "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "g"}),
        ] {
            assert!(
                matches!(rule(&st, bad.clone()), Err(SdnError::BadRequest(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            rule(
                &st,
                json!({"direction": "ingress", "remote_group_id": "nope"})
            ),
            Err(SdnError::NotFound { .. })
        ));
    }
}
