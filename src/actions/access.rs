//! How the host reaches the nodes: the env's SSH key pair and, for every node that runs
//! sshd (cloud-init images), a host port forwarded to its port 22; the hand-off writes
//! `ssh_config` naming them. Each of a node's `ports:` gets a host port too.

use super::{ActionError, Context};
use crate::driver::Driver;
use crate::envdir;
use crate::envdir::journal::Entry;
use crate::handoff;

pub fn run<D: Driver>(ctx: &mut Context<'_, D>) -> Result<(), ActionError> {
    let info = ctx.info;
    for node in info.plan.nodes.iter().filter(|n| !n.ports.is_empty()) {
        let mut forwards = Vec::new();
        for &guest in &node.ports {
            let port = free_port(ctx, format!("{} {guest}", node.name))?;
            forwards.push((guest, port));
        }
        ctx.access.entry(node.name.clone()).or_default().forwards = forwards;
    }
    if !info.plan.nodes.iter().any(|n| n.cloud_init) {
        return Ok(());
    }
    let key = ctx.dir.join(envdir::SSH_KEY);
    for f in [
        envdir::SSH_KEY.to_string(),
        format!("{}.pub", envdir::SSH_KEY),
        envdir::SSH_CONFIG.to_string(),
    ] {
        ctx.record(Entry::Path { path: f })?;
    }
    if !key.exists() {
        let out = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C"])
            .arg(format!("vstage-{}", info.name))
            .arg("-f")
            .arg(&key)
            .output()
            .map_err(|e| ActionError::Access(format!("ssh-keygen (openssh-client): {e}")))?;
        if !out.status.success() {
            return Err(ActionError::Access(format!(
                "ssh-keygen: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    let public_key = std::fs::read_to_string(key.with_extension("pub"))
        .map_err(|e| ActionError::Access(format!("{}: {e}", key.display())))?;
    let mut ports = Vec::new();
    for node in info.plan.nodes.iter().filter(|n| n.cloud_init) {
        let port = free_port(ctx, format!("ssh {}", node.name))?;
        ports.push((node.name.clone(), port));
        let access = ctx.access.entry(node.name.clone()).or_default();
        access.ssh_port = Some(port);
        access.ssh_public_key = public_key.clone();
    }
    handoff::write_ssh_config(ctx.dir, &ports)
        .map_err(|e| ActionError::Access(format!("ssh_config: {e}")))?;
    handoff::write_inventory(ctx.dir, &info.plan.nodes, &ports)
        .map_err(|e| ActionError::Access(format!("inventory: {e}")))?;
    (ctx.progress)(format!(
        "ssh: ssh -F {} NODE",
        ctx.dir.join(envdir::SSH_CONFIG).display()
    ));
    Ok(())
}

/// A loopback port for QEMU to forward, recorded under `name`. The kernel picks a free
/// one and QEMU binds it right after: envs never share one, because each is taken from
/// the kernel while free.
fn free_port<D: Driver>(ctx: &Context<'_, D>, name: String) -> Result<u16, ActionError> {
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| ActionError::Access(format!("allocating a host port for {name}: {e}")))?;
    ctx.record(Entry::Port { name, port })?;
    Ok(port)
}
