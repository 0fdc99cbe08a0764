//! A port's allowed address pairs, checked as Neutron checks them: each an IP address
//! or a CIDR (IPv4 or IPv6) with a MAC (the port's own unless given), no pair twice, at
//! most ten (`max_allowed_address_pair`). They are data for the API: the clone's fabric
//! does not filter a port's traffic by its addresses (no anti-spoofing), so a pair
//! changes nothing on the wire.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::SdnError;
use crate::net::Mac;

/// Neutron's default `max_allowed_address_pair`.
pub const MAX_PAIRS: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressPair {
    /// An address or a CIDR, as given.
    pub ip_address: String,
    pub mac_address: Mac,
}

impl AddressPair {
    pub fn json(&self) -> Value {
        json!({"ip_address": self.ip_address, "mac_address": self.mac_address.to_string()})
    }
}

fn bad(msg: String) -> SdnError {
    SdnError::BadRequest(format!(
        "Invalid input for allowed_address_pairs. Reason: {msg}"
    ))
}

/// An address, or an address with a prefix length that fits its family.
fn ip_or_cidr(text: &str) -> bool {
    match text.split_once('/') {
        None => text.parse::<IpAddr>().is_ok(),
        Some((ip, len)) => match (ip.parse::<IpAddr>(), len.parse::<u8>()) {
            (Ok(IpAddr::V4(_)), Ok(l)) => l <= 32,
            (Ok(IpAddr::V6(_)), Ok(l)) => l <= 128,
            _ => false,
        },
    }
}

/// The pairs of a request's `allowed_address_pairs` (null: none), for a port with `mac`.
pub fn parse(value: &Value, mac: Mac) -> Result<Vec<AddressPair>, SdnError> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a,
        _ => return Err(bad(format!("'{value}' is not a list"))),
    };
    if items.len() > MAX_PAIRS {
        return Err(SdnError::BadRequest(format!(
            "Exceeded maximum amount of allowed address pairs {MAX_PAIRS}"
        )));
    }
    let mut pairs: Vec<AddressPair> = Vec::new();
    for item in items {
        let o = item
            .as_object()
            .ok_or_else(|| bad(format!("'{item}' is not a dictionary")))?;
        if let Some(k) = o.keys().find(|k| *k != "ip_address" && *k != "mac_address") {
            return Err(bad(format!("Unrecognized attribute(s) '{k}'")));
        }
        let ip = o
            .get("ip_address")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("Missing ip_address".into()))?;
        if !ip_or_cidr(ip) {
            return Err(bad(format!("'{ip}' is not a valid IP address or CIDR")));
        }
        let mac_address = match o.get("mac_address") {
            None | Some(Value::Null) => mac,
            Some(Value::String(m)) => m
                .parse()
                .map_err(|_| bad(format!("'{m}' is not a valid MAC address")))?,
            Some(other) => return Err(bad(format!("'{other}' is not a valid MAC address"))),
        };
        let pair = AddressPair {
            ip_address: ip.into(),
            mac_address,
        };
        if pairs.contains(&pair) {
            return Err(bad("Duplicate address pair".into()));
        }
        pairs.push(pair);
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_checked_as_neutron_checks_them() {
        let mac: Mac = "fa:16:3e:00:00:01".parse().unwrap();
        let got = parse(
            &json!([{"ip_address": "10.0.0.5"}, {"ip_address": "2001:db8::/64", "mac_address": "fa:16:3e:00:00:02"}]),
            mac,
        )
        .unwrap();
        assert_eq!(got[0].mac_address, mac, "the port's MAC by default");
        assert_eq!(got[1].ip_address, "2001:db8::/64");
        for bad in [
            json!([{"ip_address": "10.0.0.300"}]),
            json!([{"ip_address": "10.0.0.0/33"}]),
            json!([{"mac_address": "fa:16:3e:00:00:02"}]),
            json!([{"ip_address": "10.0.0.5", "colour": "red"}]),
            json!([{"ip_address": "10.0.0.5"}, {"ip_address": "10.0.0.5"}]),
            json!("10.0.0.5"),
        ] {
            assert_eq!(parse(&bad, mac).unwrap_err().status(), 400, "{bad}");
        }
        let many: Vec<Value> = (0..11)
            .map(|i| json!({"ip_address": format!("10.0.0.{i}")}))
            .collect();
        assert!(parse(&Value::Array(many), mac).is_err());
    }
}
