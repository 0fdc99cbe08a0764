//! Addresses and MACs of the SDN clone's ports, as Neutron's IPAM gives them: from a
//! subnet's pools, or (IPv6 `slaac` and `dhcpv6-stateless` subnets) the EUI-64 address
//! of the port's MAC; fixed addresses checked against the subnet and the other ports.

use super::error::{SdnError, missing};
use std::collections::BTreeSet;
use std::net::IpAddr;

use super::ipnet::num;
use super::model::*;
use crate::net::Mac;

impl State {
    /// Addresses of the subnet held by ports other than `except`.
    pub(super) fn used_except(&self, subnet_id: &str, except: Option<&str>) -> BTreeSet<IpAddr> {
        self.ports
            .values()
            .filter(|p| Some(p.id.as_str()) != except)
            .flat_map(|p| p.fixed_ips.iter())
            .filter(|(s, _)| s == subnet_id)
            .map(|(_, ip)| *ip)
            .collect()
    }

    /// The first free address of the subnet's pools.
    pub(super) fn allocate(
        &self,
        subnet: &Subnet,
        except: Option<&str>,
        taken: &[(String, IpAddr)],
    ) -> Option<IpAddr> {
        let mut used = self.used_except(&subnet.id, except);
        used.extend(taken.iter().map(|(_, ip)| *ip));
        subnet.pools.iter().find_map(|(a, b)| {
            // A pool may be 2^64 long: the first free one is near its start unless
            // nearly all are used, so the walk is as long as the used set, plus one.
            (num(*a)..=num(*b))
                .map(|n| subnet.cidr.ip(n))
                .take(used.len() + 2)
                .find(|ip| !used.contains(ip) && Some(*ip) != subnet.gateway_ip)
        })
    }

    pub(super) fn new_mac(&mut self) -> Mac {
        loop {
            let n = self.next_mac;
            self.next_mac = self.next_mac.wrapping_add(1) & 0x00ff_ffff;
            let [_, a, b, c] = n.to_be_bytes();
            let mac = Mac([0xfa, 0x16, 0x3e, a, b, c]);
            if !self.ports.values().any(|p| p.mac == mac) {
                return mac;
            }
        }
    }

    /// Addresses for a port with `mac` on `network_id`: each request names a subnet,
    /// an address or both. None at all means, as in Neutron, one address of the first
    /// IPv4 subnet, one of the first stateful IPv6 subnet, and the EUI-64 address on
    /// every automatic one. `port` is the port being changed, whose own addresses count
    /// as free.
    pub(super) fn assign(
        &self,
        network_id: &str,
        wanted: Vec<(Option<String>, Option<IpAddr>)>,
        port: Option<&str>,
        mac: Mac,
    ) -> Result<Vec<(String, IpAddr)>, SdnError> {
        let subnets: Vec<&Subnet> = self
            .subnets
            .values()
            .filter(|s| s.network_id == network_id)
            .collect();
        let wanted = if wanted.is_empty() {
            let first = |v6: bool| {
                subnets
                    .iter()
                    .find(|s| (s.cidr.version() == 6) == v6 && !s.auto_address())
            };
            first(false)
                .into_iter()
                .chain(first(true))
                .chain(subnets.iter().filter(|s| s.auto_address()))
                .map(|s| (Some(s.id.clone()), None))
                .collect()
        } else {
            wanted
        };
        let mut fixed_ips: Vec<(String, IpAddr)> = Vec::new();
        for (subnet_id, ip) in wanted {
            let subnet = match (&subnet_id, ip) {
                (Some(id), _) => subnets.iter().find(|s| &s.id == id).ok_or_else(|| {
                    SdnError::BadRequest(format!(
                        "Invalid input: subnet {id} is not on network {network_id}."
                    ))
                })?,
                (None, Some(ip)) => {
                    subnets.iter().find(|s| s.cidr.is_host(ip)).ok_or_else(|| {
                        SdnError::BadRequest(format!(
                            "IP address {ip} is not a valid IP for the specified network."
                        ))
                    })?
                }
                (None, None) => {
                    return Err(SdnError::BadRequest(
                        "fixed_ips entries need a subnet_id or an ip_address".into(),
                    ));
                }
            };
            let ip = match ip {
                Some(ip) if subnet.auto_address() && Some(ip) != subnet.cidr.eui64(mac) => {
                    return Err(SdnError::BadRequest(format!(
                        "IPv6 address {ip} cannot be directly assigned to a port on subnet {} as the subnet is configured for automatic addresses",
                        subnet.id
                    )));
                }
                Some(ip) => {
                    if !subnet.cidr.is_host(ip) {
                        return Err(SdnError::BadRequest(format!(
                            "IP address {ip} is not a valid IP for the specified subnet."
                        )));
                    }
                    if self.used_except(&subnet.id, port).contains(&ip)
                        || fixed_ips.iter().any(|(_, x)| *x == ip)
                    {
                        return Err(SdnError::IpAllocated {
                            ip,
                            subnet: subnet.id.clone(),
                        });
                    }
                    ip
                }
                None if subnet.auto_address() => subnet
                    .cidr
                    .eui64(mac)
                    .ok_or_else(|| SdnError::IpExhausted(network_id.to_string()))?,
                None => self
                    .allocate(subnet, port, &fixed_ips)
                    .ok_or_else(|| SdnError::IpExhausted(network_id.to_string()))?,
            };
            fixed_ips.push((subnet.id.clone(), ip));
        }
        Ok(fixed_ips)
    }

    /// Replaces a port's addresses (`PUT` with `fixed_ips`).
    pub fn set_fixed_ips(
        &mut self,
        port_id: &str,
        wanted: Vec<(Option<String>, Option<IpAddr>)>,
    ) -> Result<(), SdnError> {
        let (network_id, mac, mut held) = self
            .ports
            .get(port_id)
            .map(|p| (p.network_id.clone(), p.mac, p.fixed_ips.clone()))
            .ok_or_else(|| missing("port", port_id))?;
        // A subnet named without an address keeps the address the port has there
        // (Neutron changes only what the request changes).
        let wanted = wanted
            .into_iter()
            .map(|(subnet, ip)| match (&subnet, ip) {
                (Some(s), None) => match held.iter().position(|(h, _)| h == s) {
                    Some(i) => (subnet, Some(held.remove(i).1)),
                    None => (subnet, None),
                },
                _ => (subnet, ip),
            })
            .collect();
        let ips = self.assign(&network_id, wanted, Some(port_id), mac)?;
        self.ports
            .get_mut(port_id)
            .expect("checked above")
            .fixed_ips = ips;
        Ok(())
    }
}
