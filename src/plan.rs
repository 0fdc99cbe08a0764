//! The plan: everything concrete about an env, computed from a template without IO.
//!
//! Same template and parameters give the same plan, byte for byte. Nothing in it
//! depends on the host or the env's name, so two envs from one template are
//! identical inside; host-facing paths are relative to the env directory.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::clone::registry;
use crate::envdir;
use crate::net::{Cidr, Mac};
use crate::template::{Location, Template};

/// Automatic addresses start at this host number, leaving room below for
/// gateways and clones at fixed addresses.
const FIRST_AUTO_HOST: u32 = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub template: String,
    pub networks: Vec<NetworkPlan>,
    pub nodes: Vec<NodePlan>,
    /// `/etc/hosts` entries every node gets: each node's first address, and clones.
    pub hosts: Vec<HostEntry>,
    /// The clones, in the template's order of names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServicePlan>,
    /// A service attaches NICs to running nodes (`clone::registry::Role::Network`), so
    /// nodes boot with room for them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hotplug: bool,
    /// The template's gates, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<crate::template::Gate>,
    #[serde(default, skip_serializing_if = "crate::template::Handoff::is_empty")]
    pub handoff: crate::template::Handoff,
}

/// The service network: a user-mode NIC per node on which clones answer at fixed
/// addresses (the driver delivers guests' connections to them, `Driver::expose`).
/// Every node has its own, all with the same addresses, so it is identical inside.
pub use crate::template::SERVICE_NET;
pub const SERVICE_GUEST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
/// Clones answer from this address up, one address each.
pub const FIRST_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);
/// The NIC index the service NIC's MAC is derived from (clear of template NICs).
const SERVICE_NIC_INDEX: u8 = 0xff;

/// A clone: where it answers guests, and its kind's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServicePlan {
    /// Its hostname in guests.
    pub name: String,
    /// The registered kind (`clone::registry`).
    pub kind: String,
    pub ip: Ipv4Addr,
    pub port: u16,
    /// State and hand-off files (relative to the env dir).
    pub dir: String,
    /// What the kind made of its template section; only the kind reads it.
    pub settings: serde_json::Value,
}

impl ServicePlan {
    /// The URL guests use.
    pub fn guest_url(&self) -> String {
        format!("http://{}:{}", self.name, self.port)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkPlan {
    pub name: String,
    pub cidr: Cidr,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodePlan {
    /// Instance name, also the hostname: `n1`, or `compute-2` for `count: 2`.
    pub name: String,
    /// The template node it is an instance of, where that differs from `name`
    /// (`compute` for `compute-2`): a group of the Ansible inventory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub image: String,
    pub cpus: u32,
    pub memory_mib: u32,
    pub nics: Vec<NicPlan>,
    /// The node's NIC on the service network: when the env has clones, and for SSH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_nic: Option<ServiceNic>,
    /// The node runs cloud-init (its seed is a `cidata` volume) and sshd.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cloud_init: bool,
    /// The template's user-data for this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<serde_json::Value>,
    /// Guest TCP ports forwarded from the host (through the service NIC).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
    /// Host directories shared into the node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<MountPlan>,
    /// Guest files `vstage run --artifacts` copies (patterns, `template::Node::logs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
}

/// A host directory shared into a node (virtiofs, read-only), under virtiofs tag `tag`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountPlan {
    pub tag: String,
    pub source: std::path::PathBuf,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restart: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceNic {
    pub mac: Mac,
    pub ip: Ipv4Addr,
    pub prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NicPlan {
    pub network: String,
    pub mac: Mac,
    pub ip: Ipv4Addr,
    pub prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostEntry {
    pub ip: Ipv4Addr,
    pub name: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("{at}: address {ip} is given to both {first} and {second}")]
    DuplicateAddress {
        ip: Ipv4Addr,
        first: String,
        second: String,
        at: Location,
    },
    #[error(
        "{at}: network {network} has no free address left for automatic assignment: use a larger cidr or fewer instances"
    )]
    NetworkFull { network: String, at: Location },
    /// A template built by hand (not by `template::load`) named a kind no clone has.
    #[error("{at}: no clone of kind '{kind}'")]
    UnknownKind { kind: String, at: Location },
}

impl Plan {
    pub fn node(&self, name: &str) -> Option<&NodePlan> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a plan always serialises") + "\n"
    }
}

/// An instance ordinal or NIC index as the MAC scheme numbers it. The template bounds
/// both (`MAX_INSTANCES`, `MAX_NICS`) far below what the MAC bytes hold.
fn small<T: TryFrom<usize>>(n: usize) -> T {
    T::try_from(n)
        .ok()
        .expect("the template bounds instances and NICs below the MAC scheme's range")
}

/// Builds the plan. Pure: no clock, no randomness, no filesystem.
pub fn build(template: &Template) -> Result<Plan, PlanError> {
    // Instances first, so fixed addresses are known before automatic ones are handed out.
    let instances: Vec<(String, &crate::template::Node)> = template
        .nodes
        .iter()
        .flat_map(|node| {
            crate::template::instance_names(&node.name, node.count)
                .into_iter()
                .map(move |name| (name, node))
        })
        .collect();

    let fixed = fixed_addresses(&instances)?;

    let networks: Vec<NetworkPlan> = template
        .networks
        .iter()
        .map(|n| NetworkPlan {
            name: n.name.clone(),
            cidr: n.cidr,
        })
        .collect();
    let mut next_host: Vec<u32> = vec![FIRST_AUTO_HOST; networks.len()];

    let mut nodes = Vec::new();
    for (ordinal, (name, node)) in instances.iter().enumerate() {
        let mut nics = Vec::new();
        for (index, nic) in node.nics.iter().enumerate() {
            let net_index = networks
                .iter()
                .position(|n| n.name == nic.network)
                .expect("the template validated every nic's network");
            let cidr = networks[net_index].cidr;
            let ip = match nic.ip {
                Some(ip) => ip,
                None => next_address(nic, cidr, &mut next_host[net_index], &fixed)?,
            };
            nics.push(NicPlan {
                network: nic.network.clone(),
                mac: Mac::for_nic(small(ordinal), small(index)),
                ip,
                prefix: cidr.prefix,
            });
        }
        let cloud_init = crate::image::recipe(&node.image).is_some_and(|r| r.cloud_init);
        let service_nic = (!template.services.is_empty() || cloud_init || !node.ports.is_empty())
            .then(|| ServiceNic {
                mac: Mac::for_nic(small(ordinal), SERVICE_NIC_INDEX),
                ip: SERVICE_GUEST_IP,
                prefix: 24,
            });
        nodes.push(NodePlan {
            name: name.clone(),
            group: (*name != node.name).then(|| node.name.clone()),
            image: node.image.clone(),
            cpus: node.cpus,
            memory_mib: node.memory_mib,
            nics,
            service_nic,
            cloud_init,
            user_data: node.cloud_init.clone(),
            ports: node.ports.clone(),
            mounts: node
                .mounts
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let tag = format!("vstage{i}");
                    MountPlan {
                        tag,
                        source: m.source.clone(),
                        target: m.target.clone(),
                        install: m.install.clone(),
                        restart: m.restart.clone(),
                    }
                })
                .collect(),
            logs: node.logs.clone(),
        });
    }

    let services = services(template)?;
    let hosts = nodes
        .iter()
        .filter_map(|n| n.nics.first().map(|nic| (nic.ip, &n.name)))
        .chain(services.iter().map(|s| (s.ip, &s.name)))
        .map(|(ip, name)| HostEntry {
            ip,
            name: name.clone(),
        })
        .collect();
    let hotplug = services
        .iter()
        .any(|s| registry::kind(&s.kind).is_some_and(|k| k.role() == registry::Role::Network));

    Ok(Plan {
        template: template.name.clone(),
        networks,
        nodes,
        hosts,
        services,
        hotplug,
        gates: template.gates.clone(),
        handoff: template.handoff.clone(),
    })
}

/// Addresses the template fixes, each given once.
fn fixed_addresses(
    instances: &[(String, &crate::template::Node)],
) -> Result<BTreeSet<Ipv4Addr>, PlanError> {
    let mut taken: Vec<(Ipv4Addr, &String)> = Vec::new();
    for (name, node) in instances {
        for nic in &node.nics {
            let Some(ip) = nic.ip else { continue };
            if let Some((_, first)) = taken.iter().find(|(t, _)| *t == ip) {
                return Err(PlanError::DuplicateAddress {
                    ip,
                    first: first.to_string(),
                    second: name.clone(),
                    at: nic.at.clone(),
                });
            }
            taken.push((ip, name));
        }
    }
    Ok(taken.into_iter().map(|(ip, _)| ip).collect())
}

/// The network's next automatic address (`next` is its host number) not fixed by the template.
fn next_address(
    nic: &crate::template::Nic,
    cidr: Cidr,
    next: &mut u32,
    fixed: &BTreeSet<Ipv4Addr>,
) -> Result<Ipv4Addr, PlanError> {
    loop {
        let ip = cidr.nth(*next).ok_or_else(|| PlanError::NetworkFull {
            network: nic.network.clone(),
            at: nic.at.clone(),
        })?;
        *next += 1;
        if !fixed.contains(&ip) {
            return Ok(ip);
        }
    }
}

/// Each clone at its own address on the service network, from [`FIRST_SERVICE_IP`] up.
fn services(template: &Template) -> Result<Vec<ServicePlan>, PlanError> {
    let mut plans = Vec::new();
    for (i, service) in template.services.iter().enumerate() {
        let kind = registry::kind(&service.kind).ok_or_else(|| PlanError::UnknownKind {
            kind: service.kind.clone(),
            at: service.at.clone(),
        })?;
        let ip = u32::from(FIRST_SERVICE_IP) + i as u32;
        plans.push(ServicePlan {
            name: service.name.clone(),
            kind: service.kind.clone(),
            ip: ip.into(),
            port: kind.guest_port(),
            dir: envdir::clone_dir(&service.name),
            settings: service.settings.clone(),
        });
    }
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Source, load};

    fn plan_of(text: &str) -> Result<Plan, PlanError> {
        let source = Source {
            label: "t.yaml".into(),
            text: text.into(),
        };
        build(&load(&source, &[]).unwrap())
    }

    const COUNTED: &str = "apiVersion: vstage/v1
name: c
networks: [{name: lan, cidr: 10.9.0.0/24}]
nodes:
  - {name: ctl, image: tiny, nics: [{network: lan, ip: 10.9.0.11}]}
  - {name: compute, image: tiny, count: 3, nics: [{network: lan}]}
";

    #[test]
    fn counted_nodes_get_instances_and_skip_fixed_addresses() {
        let plan = plan_of(COUNTED).unwrap();
        let names: Vec<_> = plan.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["ctl", "compute-1", "compute-2", "compute-3"]);
        let ips: Vec<String> = plan
            .nodes
            .iter()
            .map(|n| n.nics[0].ip.to_string())
            .collect();
        assert_eq!(ips, ["10.9.0.11", "10.9.0.10", "10.9.0.12", "10.9.0.13"]);
        let macs: BTreeSet<_> = plan.nodes.iter().map(|n| n.nics[0].mac).collect();
        assert_eq!(macs.len(), 4);
    }

    #[test]
    fn same_input_same_bytes() {
        assert_eq!(
            plan_of(COUNTED).unwrap().to_json(),
            plan_of(COUNTED).unwrap().to_json()
        );
    }

    #[test]
    fn duplicate_fixed_address_is_refused() {
        let text = COUNTED.replace(
            "  - {name: compute",
            "  - {name: other, image: tiny, nics: [{network: lan, ip: 10.9.0.11}]}\n  - {name: compute",
        );
        assert!(matches!(
            plan_of(&text),
            Err(PlanError::DuplicateAddress { .. })
        ));
    }
}
