//! The env's L3 router: one per router of the network service, with a NIC on the segment
//! of each of its interfaces (a unix datagram socket the segment's switch takes as a
//! port, like a node's NIC). IPv4, as a Linux router in a Neutron L3 agent's namespace
//! does it: it answers ARP for its interface addresses and pings to them, and forwards
//! packets between its subnets and to its extra routes' next hops, the TTL decremented,
//! the header checksum redone, the next hop's MAC learnt by ARP (packets wait for the
//! answer, a few per address). IPv6 (neighbour discovery, router advertisements) and
//! NAT for floating IPs are not done: those packets are dropped.
//!
//! [`Router::handle`] is the pure part (a frame in, frames out); [`run`] does the IO.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::UnixDatagram;

use crate::net::{Mac, Route};

/// One interface: its MAC and address on a subnet.
#[derive(Debug, Clone, PartialEq)]
pub struct Interface {
    pub mac: Mac,
    pub ip: Ipv4Addr,
    pub prefix: u8,
}

/// Packets held per address while its MAC is asked for.
const MAX_WAITING: usize = 8;
const ETH_ARP: u16 = 0x0806;
const ETH_IPV4: u16 = 0x0800;

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix as u32)
    }
}

fn within(ip: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    u32::from(ip) & mask(prefix) == u32::from(net) & mask(prefix)
}

pub struct Router {
    interfaces: Vec<Interface>,
    routes: Vec<Route>,
    /// Neighbours learnt by ARP: address -> MAC.
    neighbours: HashMap<Ipv4Addr, Mac>,
    /// Packets (interface out, IPv4 packet) waiting for their next hop's MAC.
    waiting: HashMap<Ipv4Addr, Vec<(usize, Vec<u8>)>>,
}

/// A frame to send out of interface `.0`.
pub type Out = (usize, Vec<u8>);

fn ethernet(dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn arp(op: u16, sha: Mac, spa: Ipv4Addr, tha: Mac, tpa: Ipv4Addr) -> Vec<u8> {
    let mut a = vec![0, 1, 0x08, 0x00, 6, 4];
    a.extend_from_slice(&op.to_be_bytes());
    a.extend_from_slice(&sha.0);
    a.extend_from_slice(&spa.octets());
    a.extend_from_slice(&tha.0);
    a.extend_from_slice(&tpa.octets());
    a
}

/// The Internet checksum of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ip_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

impl Router {
    pub fn new(interfaces: Vec<Interface>, routes: Vec<Route>) -> Router {
        Router {
            interfaces,
            routes,
            neighbours: HashMap::new(),
            waiting: HashMap::new(),
        }
    }

    /// A frame that came in on interface `on`; what to send, and where.
    pub fn handle(&mut self, on: usize, frame: &[u8]) -> Vec<Out> {
        if frame.len() < 14 || on >= self.interfaces.len() {
            return Vec::new();
        }
        let dst = Mac(frame[0..6].try_into().expect("6 bytes"));
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let payload = &frame[14..];
        match ethertype {
            ETH_ARP => self.arp(on, payload),
            ETH_IPV4 if dst == self.interfaces[on].mac => self.ipv4(on, payload),
            _ => Vec::new(),
        }
    }

    fn arp(&mut self, on: usize, a: &[u8]) -> Vec<Out> {
        if a.len() < 28 || a[0..6] != [0, 1, 0x08, 0x00, 6, 4] {
            return Vec::new();
        }
        let op = u16::from_be_bytes([a[6], a[7]]);
        let sha = Mac(a[8..14].try_into().expect("6 bytes"));
        let (spa, tpa) = (ip_at(a, 14), ip_at(a, 24));
        let me = self.interfaces[on].clone();
        let mut out = Vec::new();
        if within(spa, me.ip, me.prefix) && !sha.is_multicast() {
            self.neighbours.insert(spa, sha);
            for (iface, packet) in self.waiting.remove(&spa).unwrap_or_default() {
                let src = self.interfaces[iface].mac;
                out.push((iface, ethernet(sha, src, ETH_IPV4, &packet)));
            }
        }
        if op == 1 && tpa == me.ip {
            let reply = arp(2, me.mac, me.ip, sha, spa);
            out.push((on, ethernet(sha, me.mac, ETH_ARP, &reply)));
        }
        out
    }

    fn ipv4(&mut self, on: usize, p: &[u8]) -> Vec<Out> {
        if p.len() < 20 || p[0] >> 4 != 4 {
            return Vec::new();
        }
        let ihl = (p[0] & 0x0f) as usize * 4;
        let total = u16::from_be_bytes([p[2], p[3]]) as usize;
        if ihl < 20 || total < ihl || total > p.len() {
            return Vec::new();
        }
        let p = &p[..total];
        let (src, dst) = (ip_at(p, 12), ip_at(p, 16));
        if self.interfaces.iter().any(|i| i.ip == dst) {
            return self.ping_reply(on, p, ihl);
        }
        if p[8] <= 1 {
            return Vec::new(); // no time left to live
        }
        let Some((out, nexthop)) = self.next_hop(dst) else {
            return Vec::new();
        };
        if out == on && within(src, dst, self.interfaces[on].prefix) {
            return Vec::new(); // the sender's own subnet: not the router's to carry
        }
        let mut packet = p.to_vec();
        packet[8] -= 1;
        packet[10..12].copy_from_slice(&[0, 0]);
        let sum = checksum(&packet[..ihl]);
        packet[10..12].copy_from_slice(&sum.to_be_bytes());
        self.send(out, nexthop, packet)
    }

    /// The interface out of which `dst` is reached, and the next hop's address: `dst`
    /// itself on a connected subnet, else the longest extra route's next hop.
    fn next_hop(&self, dst: Ipv4Addr) -> Option<(usize, Ipv4Addr)> {
        let connected = |ip: Ipv4Addr| {
            self.interfaces
                .iter()
                .position(|i| within(ip, i.ip, i.prefix))
        };
        if let Some(i) = connected(dst) {
            return Some((i, dst));
        }
        let route = self
            .routes
            .iter()
            .filter(|r| within(dst, r.dest, r.prefix))
            .max_by_key(|r| r.prefix)?;
        connected(route.nexthop).map(|i| (i, route.nexthop))
    }

    fn send(&mut self, out: usize, nexthop: Ipv4Addr, packet: Vec<u8>) -> Vec<Out> {
        let me = self.interfaces[out].clone();
        if let Some(mac) = self.neighbours.get(&nexthop) {
            return vec![(out, ethernet(*mac, me.mac, ETH_IPV4, &packet))];
        }
        let queue = self.waiting.entry(nexthop).or_default();
        let ask = queue.is_empty();
        if queue.len() < MAX_WAITING {
            queue.push((out, packet));
        }
        if !ask {
            return Vec::new();
        }
        let request = arp(1, me.mac, me.ip, Mac([0; 6]), nexthop);
        vec![(out, ethernet(Mac([0xff; 6]), me.mac, ETH_ARP, &request))]
    }

    /// An ICMP echo request to one of the router's addresses gets its reply.
    fn ping_reply(&mut self, on: usize, p: &[u8], ihl: usize) -> Vec<Out> {
        let icmp = &p[ihl..];
        if p[9] != 1 || icmp.len() < 8 || icmp[0] != 8 {
            return Vec::new();
        }
        let (src, dst) = (ip_at(p, 12), ip_at(p, 16));
        let mut reply = p.to_vec();
        reply[8] = 64;
        reply[12..16].copy_from_slice(&dst.octets());
        reply[16..20].copy_from_slice(&src.octets());
        reply[10..12].copy_from_slice(&[0, 0]);
        let sum = checksum(&reply[..ihl]);
        reply[10..12].copy_from_slice(&sum.to_be_bytes());
        let body = &mut reply[ihl..];
        body[0] = 0;
        body[2..4].copy_from_slice(&[0, 0]);
        let sum = checksum(body);
        body[2..4].copy_from_slice(&sum.to_be_bytes());
        match self.next_hop(src) {
            Some((out, hop)) if out == on => self.send(out, hop, reply),
            _ => Vec::new(),
        }
    }
}

/// Ethernet frames are at most 64 KiB through QEMU's dgram backend.
const MAX_FRAME: usize = 65_536;

/// One interface's socket: bound at `socket`, talking to its segment's switch.
pub struct Nic {
    pub socket: PathBuf,
    pub segment: PathBuf,
}

/// Binds every interface's socket (the caller has recorded their paths), then routes
/// until the task is dropped. Frames from anything but the segment's switch are ignored.
pub fn spawn(mut router: Router, nics: &[Nic]) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let sockets: Vec<(Arc<UnixDatagram>, PathBuf)> = nics
        .iter()
        .map(|n| Ok((Arc::new(UnixDatagram::bind(&n.socket)?), n.segment.clone())))
        .collect::<std::io::Result<_>>()?;
    Ok(tokio::spawn(async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(usize, Vec<u8>)>(256);
        let mut readers = tokio::task::JoinSet::new();
        for (i, (socket, segment)) in sockets.iter().enumerate() {
            let (socket, segment, tx) = (socket.clone(), segment.clone(), tx.clone());
            readers.spawn(async move {
                let mut buf = vec![0u8; MAX_FRAME];
                while let Ok((len, from)) = socket.recv_from(&mut buf).await {
                    if from.as_pathname() != Some(Path::new(&segment)) {
                        continue;
                    }
                    if tx.send((i, buf[..len].to_vec())).await.is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        while let Some((on, frame)) = rx.recv().await {
            for (out, frame) in router.handle(on, &frame) {
                let (socket, segment) = &sockets[out];
                // A switch that is gone just misses the frame.
                let _ = socket.send_to(&frame, segment).await;
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const R0: Mac = Mac([0xfa, 0x16, 0x3e, 0, 0, 1]);
    const R1: Mac = Mac([0xfa, 0x16, 0x3e, 0, 0, 2]);
    const A: Mac = Mac([0x52, 0x54, 0, 0, 0, 0xa]);
    const B: Mac = Mac([0x52, 0x54, 0, 0, 0, 0xb]);

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn router() -> Router {
        Router::new(
            vec![
                Interface {
                    mac: R0,
                    ip: ip("10.0.0.1"),
                    prefix: 24,
                },
                Interface {
                    mac: R1,
                    ip: ip("10.1.0.1"),
                    prefix: 24,
                },
            ],
            vec![Route {
                dest: ip("192.168.7.0"),
                prefix: 24,
                nexthop: ip("10.1.0.9"),
            }],
        )
    }

    fn ping(src: &str, dst: &str, ttl: u8) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 28, 0, 1, 0, 0, ttl, 1, 0, 0];
        p.extend_from_slice(&ip(src).octets());
        p.extend_from_slice(&ip(dst).octets());
        let sum = checksum(&p);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        let mut icmp = vec![8, 0, 0, 0, 0, 1, 0, 1];
        let sum = checksum(&icmp);
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());
        p.extend_from_slice(&icmp);
        p
    }

    fn arp_reply_from(mac: Mac, addr: &str, to: Mac, to_ip: &str) -> Vec<u8> {
        ethernet(to, mac, ETH_ARP, &arp(2, mac, ip(addr), to, ip(to_ip)))
    }

    #[test]
    fn answers_arp_for_its_own_address_only() {
        let mut r = router();
        let ask = |tpa: &str| {
            ethernet(
                Mac([0xff; 6]),
                A,
                ETH_ARP,
                &arp(1, A, ip("10.0.0.5"), Mac([0; 6]), ip(tpa)),
            )
        };
        let out = r.handle(0, &ask("10.0.0.1"));
        assert_eq!(out.len(), 1);
        let (iface, f) = &out[0];
        assert_eq!((*iface, &f[0..6], &f[6..12]), (0, &A.0[..], &R0.0[..]));
        assert_eq!(&f[14 + 8..14 + 14], &R0.0, "the router's MAC is the answer");
        assert!(r.handle(0, &ask("10.0.0.7")).is_empty());
    }

    #[test]
    fn forwards_between_its_subnets_after_asking_for_the_next_hop() {
        let mut r = router();
        let packet = ping("10.0.0.5", "10.1.0.7", 64);
        let out = r.handle(0, &ethernet(R0, A, ETH_IPV4, &packet));
        // The next hop is unknown: an ARP request out of the other interface.
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 1);
        assert_eq!(u16::from_be_bytes([out[0].1[12], out[0].1[13]]), ETH_ARP);
        assert_eq!(&out[0].1[14 + 24..14 + 28], &ip("10.1.0.7").octets());
        // The answer releases the packet: MACs rewritten, TTL 63, checksum right.
        let out = r.handle(1, &arp_reply_from(B, "10.1.0.7", R1, "10.1.0.1"));
        assert_eq!(out.len(), 1);
        let (iface, f) = &out[0];
        assert_eq!(*iface, 1);
        assert_eq!((&f[0..6], &f[6..12]), (&B.0[..], &R1.0[..]));
        let ipv4 = &f[14..];
        assert_eq!(ipv4[8], 63);
        assert_eq!(checksum(&ipv4[..20]), 0, "a valid header sums to zero");
        assert_eq!(&ipv4[20..], &packet[20..], "the payload is untouched");
        // Known now: the next packet goes at once.
        let out = r.handle(0, &ethernet(R0, A, ETH_IPV4, &packet));
        assert_eq!(out[0].0, 1);
        assert_eq!(&out[0].1[0..6], &B.0);
    }

    #[test]
    fn extra_routes_ttl_and_strangers() {
        let mut r = router();
        // 192.168.7.0/24 goes to 10.1.0.9, asked for on interface 1.
        let out = r.handle(
            0,
            &ethernet(R0, A, ETH_IPV4, &ping("10.0.0.5", "192.168.7.3", 64)),
        );
        assert_eq!(&out[0].1[14 + 24..14 + 28], &ip("10.1.0.9").octets());
        // No route, no time to live, or not sent to the router's MAC: dropped.
        assert!(
            r.handle(
                0,
                &ethernet(R0, A, ETH_IPV4, &ping("10.0.0.5", "8.8.8.8", 64))
            )
            .is_empty()
        );
        assert!(
            r.handle(
                0,
                &ethernet(R0, A, ETH_IPV4, &ping("10.0.0.5", "10.1.0.7", 1))
            )
            .is_empty()
        );
        assert!(
            r.handle(
                0,
                &ethernet(B, A, ETH_IPV4, &ping("10.0.0.5", "10.1.0.7", 64))
            )
            .is_empty()
        );
    }

    #[test]
    fn answers_pings_to_its_addresses() {
        let mut r = router();
        r.handle(0, &arp_reply_from(A, "10.0.0.5", R0, "10.0.0.1"));
        let out = r.handle(
            0,
            &ethernet(R0, A, ETH_IPV4, &ping("10.0.0.5", "10.0.0.1", 64)),
        );
        assert_eq!(out.len(), 1);
        let f = &out[0].1;
        assert_eq!(&f[0..6], &A.0);
        let ipv4 = &f[14..];
        assert_eq!(
            (ip_at(ipv4, 12), ip_at(ipv4, 16)),
            (ip("10.0.0.1"), ip("10.0.0.5"))
        );
        assert_eq!(ipv4[20], 0, "an echo reply");
        assert_eq!(checksum(&ipv4[20..]), 0);
        assert_eq!(checksum(&ipv4[..20]), 0);
    }
}
