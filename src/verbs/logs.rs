//! `vstage logs ENV [NODE] [--follow]`: the supervisor's log, or a node's console.

use std::io::{Read as _, Seek as _, Write as _};
use std::time::Duration;

use vstage::driver::guest::Guest as _;
use vstage::env;
use vstage::envdir::{self, EnvDir};
use vstage::home::Home;

use super::open_env;
use crate::Out;
use crate::failure::{Failure, Result};

/// How much of a console one read takes.
const CHUNK: usize = 64 * 1024;

pub(crate) async fn logs(home: &Home, name: &str, node: Option<&str>, follow: bool) -> Result<u8> {
    let (dir, info) = open_env(home, name)?;
    let Some(node) = node else {
        return supervisor_log(&dir, follow).await;
    };
    let Some(plan) = info.plan.node(node) else {
        let names: Vec<_> = info.plan.nodes.iter().map(|n| n.name.as_str()).collect();
        return Err(Failure::bad_input(format!(
            "env {name} has no node '{node}' (nodes: {})",
            names.join(", ")
        )));
    };
    let guest = info.guest(&dir, plan);
    let mut at = 0u64;
    loop {
        let read = guest
            .console(at, CHUNK)
            .await
            .map_err(|e| anyhow::anyhow!("env {name}, node {node}: {e}"))?;
        if !read.exists && !follow {
            return Err(anyhow::anyhow!(
                "env {name}, node {node}: no console yet (the node has not booted)"
            )
            .into());
        }
        // A console rewritten from the start (a node booted again) is read from there.
        if read.len < at {
            at = 0;
            continue;
        }
        if !read.bytes.is_empty() {
            Out.write_all(&read.bytes)?;
            at += read.bytes.len() as u64;
            continue;
        }
        if !follow || !env::is_owned(&dir) {
            break;
        }
        Out.flush()?;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(0)
}

/// The supervisor's log, followed while the env lives.
async fn supervisor_log(dir: &EnvDir, follow: bool) -> Result<u8> {
    let path = dir.join(envdir::SUPERVISOR_LOG);
    let mut file =
        std::fs::File::open(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf)?;
        if n > 0 {
            Out.write_all(&buf[..n])?;
            continue;
        }
        if !follow || !env::is_owned(dir) {
            break;
        }
        Out.flush()?;
        tokio::time::sleep(Duration::from_millis(250)).await;
        let pos = file.stream_position()?;
        if std::fs::metadata(&path).is_ok_and(|m| m.len() < pos) {
            file.rewind()?;
        }
    }
    Ok(0)
}
