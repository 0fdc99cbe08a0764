//! `vstage logs ENV [NODE] [--follow]`: the supervisor's log, or a node's console.

use std::io::{Read as _, Seek as _, Write as _};
use std::time::Duration;

use vstage::env;
use vstage::env::layout;
use vstage::home::Home;

use super::open_env;
use crate::Out;
use crate::failure::{Failure, Result};

pub(crate) async fn logs(home: &Home, name: &str, node: Option<&str>, follow: bool) -> Result<u8> {
    let (dir, info) = open_env(home, name)?;
    let rel = match node {
        None => layout::SUPERVISOR_LOG.to_string(),
        Some(node) => match info.plan.node(node) {
            Some(n) => n.files.serial.clone(),
            None => {
                let names: Vec<_> = info.plan.nodes.iter().map(|n| n.name.as_str()).collect();
                return Err(Failure::bad_input(format!(
                    "env {name} has no node '{node}' (nodes: {})",
                    names.join(", ")
                )));
            }
        },
    };
    let path = dir.join(&rel);
    let mut file =
        std::fs::File::open(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n > 0 {
            Out.write_all(&buf[..n])?;
            continue;
        }
        if !follow || !env::is_owned(&dir) {
            break;
        }
        Out.flush()?;
        tokio::time::sleep(Duration::from_millis(250)).await;
        // A log rewritten from the start (truncated) is read again from there.
        let pos = file.stream_position()?;
        if std::fs::metadata(&path).is_ok_and(|m| m.len() < pos) {
            file.rewind()?;
        }
    }
    Ok(0)
}
