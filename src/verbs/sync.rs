//! `vstage sync ENV [--node N] [--force]`: the env's mounts, changed on the host, made
//! live in the running nodes (install, restart of the named units) without restarting
//! the nodes.

use std::io::Write as _;

use vstage::home::Home;
use vstage::mounts;

use super::open_env;
use crate::Out;
use crate::failure::{Failure, Result};

pub(crate) async fn sync(home: &Home, name: &str, node: Option<&str>, force: bool) -> Result<u8> {
    let (dir, info) = open_env(home, name)?;
    let nodes: Vec<_> = info
        .plan
        .nodes
        .iter()
        .filter(|n| node.is_none_or(|want| n.name == want))
        .collect();
    if let Some(want) = node
        && nodes.is_empty()
    {
        let names: Vec<_> = info.plan.nodes.iter().map(|n| n.name.as_str()).collect();
        return Err(Failure::bad_input(format!(
            "env {name} has no node '{want}' (nodes: {})",
            names.join(", ")
        )));
    }
    if nodes.iter().all(|n| n.mounts.is_empty()) {
        say!("env {name}: no mounts to sync");
        return Ok(0);
    }
    let nodes: Vec<_> = (nodes.into_iter())
        .filter(|n| !n.mounts.is_empty())
        .map(|n| (n, info.guest(&dir, n)))
        .collect();
    let mut failed = None;
    for result in mounts::sync_nodes(&dir, &nodes, force).await {
        let done = match result {
            Ok(done) => done,
            Err(e) => {
                failed.get_or_insert(e);
                continue;
            }
        };
        for s in done {
            let mut line = format!(
                "{} {}: {}",
                s.node,
                s.target,
                if s.changed { "changed" } else { "unchanged" }
            );
            if let Some(t) = s.installed {
                line.push_str(&format!(", installed ({:.1}s)", t.as_secs_f64()));
            }
            if let Some((units, t)) = s.restarted {
                line.push_str(&format!(
                    ", restarted {} ({:.1}s)",
                    units.join(" "),
                    t.as_secs_f64()
                ));
            }
            say!("{line}");
        }
    }
    if let Some(e) = failed {
        return Err(anyhow::anyhow!("env {name}: {e}").into());
    }
    Ok(0)
}
