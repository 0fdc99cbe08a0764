//! `vstage exec ENV [--node N] -- CMD`: a host command with the hand-off variables,
//! or a command in a node through its driver's guest handle.

use std::io::Write as _;

use anyhow::{Context as _, anyhow};
use vstage::driver::guest::Guest as _;
use vstage::home::Home;

use super::{live_status, open_env};
use crate::Out;
use crate::failure::{Failure, Result};

pub(crate) async fn exec(
    home: &Home,
    name: &str,
    node: Option<&str>,
    command: &[String],
    caller_umask: nix::sys::stat::Mode,
) -> Result<u8> {
    let (dir, info) = open_env(home, name)?;
    let code = match node {
        None => {
            let mut cmd = std::process::Command::new(&command[0]);
            cmd.args(&command[1..])
                .envs(vstage::handoff::variables(&dir, &info));
            // SAFETY: umask is async-signal-safe.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                    nix::sys::stat::umask(caller_umask);
                    Ok(())
                });
            }
            let status = cmd
                .status()
                .with_context(|| format!("running {}", command[0]))?;
            use std::os::unix::process::ExitStatusExt as _;
            status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
        }
        Some(node) => {
            // A node whose QEMU is gone would only refuse the connection: say why.
            if let Ok(status) = live_status(&dir).await
                && let Some(n) = status.nodes.iter().find(|n| n.name == node)
                && let vstage::driver::NodeState::Exited { detail } = &n.state
            {
                return Err(anyhow!(
                    "env {name}: node {node} is not running ({detail}); `vstage status {name}` shows the env"
                )
                .into());
            }
            let Some(plan) = info.plan.node(node) else {
                let names: Vec<_> = info.plan.nodes.iter().map(|n| n.name.as_str()).collect();
                return Err(Failure::bad_input(format!(
                    "env {name} has no node '{node}' (nodes: {})",
                    names.join(", ")
                )));
            };
            let mut out = Out;
            let mut err = std::io::stderr().lock();
            let code = info
                .guest(&dir, plan)
                .exec(command, &mut out, &mut err)
                .await
                .with_context(|| format!("env {name}, node {node}"))?;
            out.flush()?;
            code
        }
    };
    Ok(code.clamp(0, 255) as u8)
}
