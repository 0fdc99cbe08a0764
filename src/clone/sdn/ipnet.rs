//! Subnet arithmetic of the SDN clone for both IP families: a network (`10.0.0.0/24`,
//! `2001:db8::/64`), its host addresses, and the EUI-64 address a MAC gets on an IPv6
//! network (SLAAC, as Neutron computes it for `slaac` and `dhcpv6-stateless` subnets).
//! Addresses are worked on as `u128`, whatever their family.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::SdnError;
use crate::net::{Cidr, Mac};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

/// An address as a number.
pub fn num(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

impl IpNet {
    pub fn version(&self) -> u8 {
        if self.addr.is_ipv4() { 4 } else { 6 }
    }

    fn bits(&self) -> u32 {
        if self.addr.is_ipv4() { 32 } else { 128 }
    }

    /// The host part's mask.
    fn host_mask(&self) -> u128 {
        let host_bits = self.bits() - self.prefix as u32;
        if host_bits == 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        }
    }

    fn base(&self) -> u128 {
        num(self.addr)
    }

    /// The address numbered `n` in this family.
    pub fn ip(&self, n: u128) -> IpAddr {
        if self.addr.is_ipv4() {
            IpAddr::V4(Ipv4Addr::from(n as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(n))
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && num(ip) & !self.host_mask() == self.base()
    }

    /// The first and last addresses ports may have: not the network address, nor the
    /// broadcast address in IPv4 (IPv6 has none).
    pub fn hosts(&self) -> (u128, u128) {
        let last = self.base() | self.host_mask();
        let last = if self.addr.is_ipv4() { last - 1 } else { last };
        (self.base() + 1, last)
    }

    pub fn is_host(&self, ip: IpAddr) -> bool {
        let (first, last) = self.hosts();
        self.contains(ip) && (first..=last).contains(&num(ip))
    }

    /// Whether the two networks share any address.
    pub fn overlaps(&self, other: &IpNet) -> bool {
        if self.addr.is_ipv4() != other.addr.is_ipv4() {
            return false;
        }
        let wider = if self.prefix <= other.prefix {
            self
        } else {
            other
        };
        let narrower = if wider == self { other } else { self };
        wider.contains(narrower.addr)
    }

    /// The EUI-64 address of `mac` on this /64: the MAC split by `ff:fe`, its
    /// universal/local bit flipped.
    pub fn eui64(&self, mac: Mac) -> Option<IpAddr> {
        if self.addr.is_ipv4() || self.prefix != 64 {
            return None;
        }
        let m = mac.0;
        let id = u64::from_be_bytes([m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]]);
        Some(self.ip(self.base() | id as u128))
    }
}

/// Neutron's IPv6 modes.
const IPV6_MODES: &[&str] = &["slaac", "dhcpv6-stateful", "dhcpv6-stateless"];

/// A subnet request's `ip_version`, `ipv6_ra_mode` and `ipv6_address_mode`, checked as
/// Neutron checks them against `cidr`: the version matches; modes only on IPv6, known
/// ones, the same if both are given, and automatic addresses only on a /64.
pub fn ipv6_modes(
    cidr: &IpNet,
    o: &serde_json::Map<String, serde_json::Value>,
) -> Result<(Option<String>, Option<String>), SdnError> {
    let bad = |m: String| SdnError::BadRequest(format!("Invalid input for operation: {m}"));
    match o.get("ip_version") {
        None | Some(serde_json::Value::Null) => {}
        Some(v) if v.as_u64() == Some(cidr.version() as u64) => {}
        Some(v) if v.as_u64().is_some_and(|v| v == 4 || v == 6) => {
            return Err(bad(format!("cidr {cidr} does not match ip_version {v}.")));
        }
        Some(v) => return Err(bad(format!("'{v}' is not a valid ip_version (4 or 6)."))),
    }
    let mode = |key: &str| -> Result<Option<String>, SdnError> {
        match o.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(m)) if IPV6_MODES.contains(&m.as_str()) => {
                Ok(Some(m.clone()))
            }
            Some(v) => Err(SdnError::BadRequest(format!(
                "Invalid input for {key}. Reason: '{v}' is not in {IPV6_MODES:?}."
            ))),
        }
    };
    let (ra, address) = (mode("ipv6_ra_mode")?, mode("ipv6_address_mode")?);
    if (ra.is_some() || address.is_some()) && cidr.version() != 6 {
        return Err(bad(
            "IPv6 RA and address modes are for IPv6 subnets only.".into()
        ));
    }
    if let (Some(r), Some(a)) = (&ra, &address)
        && r != a
    {
        return Err(bad(format!(
            "ipv6_ra_mode set to '{r}' with ipv6_address_mode set to '{a}' is not valid. If both attributes are set, they must be the same value"
        )));
    }
    let auto = matches!(
        address.as_deref().or(ra.as_deref()),
        Some("slaac" | "dhcpv6-stateless")
    );
    if auto && cidr.prefix != 64 {
        return Err(bad(format!(
            "Invalid CIDR {cidr} for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64"
        )));
    }
    Ok((ra, address))
}

impl From<Cidr> for IpNet {
    fn from(c: Cidr) -> IpNet {
        IpNet {
            addr: IpAddr::V4(c.addr),
            prefix: c.prefix,
        }
    }
}

impl FromStr for IpNet {
    type Err = String;
    fn from_str(s: &str) -> Result<IpNet, String> {
        let (addr, prefix) = s.split_once('/').ok_or_else(|| {
            format!("'{s}' is not a network such as 10.0.0.0/24 or 2001:db8::/64")
        })?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{addr}' is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (1..=max).contains(p))
            .ok_or_else(|| format!("prefix '/{prefix}' must be from /1 to /{max}"))?;
        let net = IpNet { addr, prefix };
        if num(addr) & net.host_mask() != 0 {
            return Err(format!(
                "'{s}' has host bits set: did you mean {}/{prefix}?",
                net.ip(num(addr) & !net.host_mask())
            ));
        }
        Ok(net)
    }
}

impl TryFrom<String> for IpNet {
    type Error = String;
    fn try_from(s: String) -> Result<IpNet, String> {
        s.parse()
    }
}

impl From<IpNet> for String {
    fn from(n: IpNet) -> String {
        n.to_string()
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn both_families_have_hosts_and_overlaps() {
        let v4: IpNet = "10.0.0.0/24".parse().unwrap();
        assert_eq!(v4.hosts(), (num(ip("10.0.0.1")), num(ip("10.0.0.254"))));
        assert!(!v4.is_host(ip("10.0.0.255")) && !v4.is_host(ip("2001:db8::1")));
        let v6: IpNet = "2001:db8::/64".parse().unwrap();
        assert!(v6.is_host(ip("2001:db8::ffff:ffff:ffff:ffff")));
        assert!(v6.overlaps(&"2001:db8::/48".parse().unwrap()));
        assert!(!v6.overlaps(&"2001:db9::/64".parse().unwrap()));
        assert!(!v6.overlaps(&v4));
        assert!("2001:db8::1/64".parse::<IpNet>().is_err());
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        // Written as Cidr was, so a saved state reads back.
        let back: IpNet = serde_json::from_str(&serde_json::to_string(&v4).unwrap()).unwrap();
        assert_eq!(back, v4);
    }

    #[test]
    fn eui64_is_neutron_s() {
        let net: IpNet = "2001:db8::/64".parse().unwrap();
        let mac: Mac = "fa:16:3e:12:34:56".parse().unwrap();
        assert_eq!(net.eui64(mac), Some(ip("2001:db8::f816:3eff:fe12:3456")));
        assert_eq!("2001:db8::/80".parse::<IpNet>().unwrap().eui64(mac), None);
    }
}
