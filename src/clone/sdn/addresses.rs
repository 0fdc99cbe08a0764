//! Addresses and MACs of the SDN clone's ports: allocation from a subnet's pools,
//! fixed addresses checked against the subnet and the other ports.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::model::*;
use crate::net::Mac;

impl State {
    /// Addresses of the subnet held by ports other than `except`.
    pub(super) fn used_except(&self, subnet_id: &str, except: Option<&str>) -> BTreeSet<Ipv4Addr> {
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
        taken: &[(String, Ipv4Addr)],
    ) -> Option<Ipv4Addr> {
        let mut used = self.used_except(&subnet.id, except);
        used.extend(taken.iter().map(|(_, ip)| *ip));
        subnet.pools.iter().find_map(|(a, b)| {
            (u32::from(*a)..=u32::from(*b))
                .map(Ipv4Addr::from)
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

    /// Addresses for a port on `network_id`: each request names a subnet, an address or
    /// both; none at all means one address from the network's first subnet. `port` is
    /// the port being changed, whose own addresses count as free.
    pub(super) fn assign(
        &self,
        network_id: &str,
        wanted: Vec<(Option<String>, Option<Ipv4Addr>)>,
        port: Option<&str>,
    ) -> Result<Vec<(String, Ipv4Addr)>, SdnError> {
        let subnets: Vec<&Subnet> = self
            .subnets
            .values()
            .filter(|s| s.network_id == network_id)
            .collect();
        let wanted = if wanted.is_empty() {
            subnets
                .first()
                .map(|s| vec![(Some(s.id.clone()), None)])
                .unwrap_or_default()
        } else {
            wanted
        };
        let mut fixed_ips: Vec<(String, Ipv4Addr)> = Vec::new();
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
                Some(ip) => {
                    if !subnet.cidr.is_host(ip) {
                        return Err(SdnError::BadRequest(format!(
                            "IP address {ip} is not a valid IP for the specified subnet."
                        )));
                    }
                    if self.used_except(&subnet.id, port).contains(&ip)
                        || fixed_ips.iter().any(|(_, x)| *x == ip)
                    {
                        return Err(SdnError::Conflict(format!(
                            "IP address {ip} already allocated in subnet {}",
                            subnet.id
                        )));
                    }
                    ip
                }
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
        wanted: Vec<(Option<String>, Option<Ipv4Addr>)>,
    ) -> Result<(), SdnError> {
        let network_id = self
            .ports
            .get(port_id)
            .ok_or_else(|| missing("port", port_id))?
            .network_id
            .clone();
        let ips = self.assign(&network_id, wanted, Some(port_id))?;
        self.ports
            .get_mut(port_id)
            .expect("checked above")
            .fixed_ips = ips;
        Ok(())
    }
}
