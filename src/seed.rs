//! Seeds: the per-node configuration a guest reads at boot.
//!
//! The tiny image reads a line format from fw_cfg (`opt/vstage/seed`): one
//! `hostname`, a `nic MAC ADDR/PREFIX` per NIC and a `host ADDR NAME` per env node.

use std::fmt::Write as _;

use crate::plan::{NodePlan, Plan};

pub fn tiny(plan: &Plan, node: &NodePlan) -> String {
    let mut s = String::new();
    writeln!(s, "hostname {}", node.name).expect("writing to a String");
    for nic in &node.nics {
        writeln!(s, "nic {} {}/{}", nic.mac, nic.ip, nic.prefix).expect("writing to a String");
    }
    if let Some(nic) = &node.service_nic {
        writeln!(s, "nic {} {}/{}", nic.mac, nic.ip, nic.prefix).expect("writing to a String");
    }
    for host in &plan.hosts {
        writeln!(s, "host {} {}", host.ip, host.name).expect("writing to a String");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Source, load};

    #[test]
    fn tiny_seed_names_every_node() {
        let plan =
            crate::plan::build(&load(&Source::resolve("tiny").unwrap(), &[]).unwrap()).unwrap();
        let seed = tiny(&plan, &plan.nodes[0]);
        assert_eq!(
            seed,
            "hostname n1\nnic 52:54:00:00:00:00 10.0.0.11/24\nhost 10.0.0.11 n1\nhost 10.0.0.12 n2\n"
        );
    }
}
