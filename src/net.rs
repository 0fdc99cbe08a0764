//! Address arithmetic for the plan: IPv4 networks and MAC addresses.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An IPv4 network such as `10.0.0.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    /// Whether `ip` is inside the network and is neither its network nor broadcast address.
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        let (ip, net, mask) = (u32::from(ip), u32::from(self.addr), self.mask());
        ip & mask == net && ip != net && ip != net | !mask
    }

    /// Whether the two networks share any address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        let mask = self.mask() & other.mask();
        u32::from(self.addr) & mask == u32::from(other.addr) & mask
    }

    /// The `n`th address of the network (0 is the network address itself).
    pub fn nth(&self, n: u32) -> Option<Ipv4Addr> {
        let size = (!self.mask()).checked_add(1)?;
        let ip = Ipv4Addr::from(u32::from(self.addr).checked_add(n)?);
        (n < size && self.is_host(ip)).then_some(ip)
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("'{s}' is not a network such as 10.0.0.0/24"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("'{addr}' is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (8..=30).contains(p))
            .ok_or_else(|| format!("prefix '/{prefix}' must be from /8 to /30"))?;
        let cidr = Cidr { addr, prefix };
        if u32::from(addr) & !cidr.mask() != 0 {
            return Err(format!(
                "'{s}' has host bits set: did you mean {}/{prefix}?",
                Ipv4Addr::from(u32::from(addr) & cidr.mask())
            ));
        }
        Ok(cidr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A MAC address in QEMU's locally administered range 52:54:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Derived from the node's ordinal and the NIC's index only, so every env made from
    /// one template has the same MACs inside, and no two NICs of an env share one.
    pub fn for_nic(node_ordinal: u16, nic_index: u8) -> Mac {
        let [hi, lo] = node_ordinal.to_be_bytes();
        Mac([0x52, 0x54, 0x00, nic_index, hi, lo])
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut b = [0u8; 6];
        let parts: Vec<_> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(format!("'{s}' is not a MAC address"));
        }
        for (i, p) in parts.iter().enumerate() {
            b[i] = u8::from_str_radix(p, 16).map_err(|_| format!("'{s}' is not a MAC address"))?;
        }
        Ok(Mac(b))
    }
}

/// Serde goes through the text form (`#[serde(try_from = "String", into = "String")]`).
macro_rules! as_text {
    ($($t:ty),*) => {$(
        impl TryFrom<String> for $t {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
            }
        }

        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.to_string()
            }
        }
    )*};
}

as_text!(Cidr, Mac);

impl Mac {
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_and_checks_hosts() {
        let c: Cidr = "10.0.0.0/24".parse().unwrap();
        assert!(c.is_host("10.0.0.1".parse().unwrap()));
        let wide: Cidr = "10.0.0.0/16".parse().unwrap();
        let other: Cidr = "10.1.0.0/24".parse().unwrap();
        assert!(c.overlaps(&wide) && wide.overlaps(&c));
        assert!(!c.overlaps(&other) && !other.overlaps(&c));
        assert!(!c.is_host("10.0.0.0".parse().unwrap()));
        assert!(!c.is_host("10.0.0.255".parse().unwrap()));
        assert!(!c.is_host("10.0.1.1".parse().unwrap()));
        assert_eq!(c.nth(10), Some("10.0.0.10".parse().unwrap()));
        assert_eq!(c.nth(255), None);
        assert!(
            "10.0.0.1/24"
                .parse::<Cidr>()
                .unwrap_err()
                .contains("host bits")
        );
        assert!("10.0.0.0/31".parse::<Cidr>().is_err());
    }

    #[test]
    fn macs_are_distinct_per_nic_and_node() {
        assert_eq!(Mac::for_nic(258, 1).to_string(), "52:54:00:01:01:02");
        assert_ne!(Mac::for_nic(1, 0), Mac::for_nic(0, 1));
    }
}

/// An extra route of a router: packets for `dest/prefix` go to `nexthop`.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub dest: Ipv4Addr,
    pub prefix: u8,
    pub nexthop: Ipv4Addr,
}
