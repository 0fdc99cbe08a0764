//! `vstage ssh ENV NODE [-- CMD]`: ssh into a node that runs sshd.

use anyhow::Context as _;
use vstage::envdir;
use vstage::home::Home;

use super::open_env;
use crate::failure::{Failure, Result};

pub(crate) fn ssh(home: &Home, name: &str, node: &str, command: &[String]) -> Result<u8> {
    let (dir, info) = open_env(home, name)?;
    let Some(plan) = info.plan.node(node) else {
        let names: Vec<_> = info.plan.nodes.iter().map(|n| n.name.as_str()).collect();
        return Err(Failure::bad_input(format!(
            "env {name} has no node '{node}' (nodes: {})",
            names.join(", ")
        )));
    };
    if !plan.cloud_init {
        return Err(Failure::bad_input(format!(
            "node {node} runs image {} which has no sshd: use `vstage exec {name} --node {node} -- CMD`",
            plan.image
        )));
    }
    let status = std::process::Command::new("ssh")
        .arg("-F")
        .arg(dir.join(envdir::SSH_CONFIG))
        .arg(node)
        .args(command)
        .status()
        .context("running ssh (openssh-client)")?;
    Ok(status.code().unwrap_or(255).clamp(0, 255) as u8)
}
