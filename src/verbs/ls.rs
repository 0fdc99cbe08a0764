//! `vstage ls`: every env with its template, size, age and phase.

use anyhow::Context as _;

use crate::failure::Result;
use vstage::env::EnvInfo;
use vstage::home::Home;

use super::{age, live_status};
use crate::Out;
use crate::cli::Output;
use std::io::Write as _;
use vstage::api::Status;

pub(crate) fn phase_text(status: &std::result::Result<Status, String>) -> String {
    match status {
        Ok(s) => serde_json::to_value(&s.phase)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        Err(e) => e.clone(),
    }
}

pub(crate) async fn ls(home: &Home, output: Output) -> Result<u8> {
    let mut rows = Vec::new();
    for name in home.env_names().context("listing envs")? {
        // A directory under envs/ that vstage would never have named is not an env.
        let Ok(dir) = home.env(&name) else { continue };
        let Ok(info) = EnvInfo::read(&dir) else {
            rows.push((name, None, Err("incomplete: no env.json".to_string())));
            continue;
        };
        let status = live_status(&dir).await;
        rows.push((name, Some(info), status));
    }
    if output == Output::Json {
        let json: Vec<_> = rows
            .iter()
            .map(|(name, info, status)| {
                serde_json::json!({
                    "name": name,
                    "template": info.as_ref().map(|i| i.template.clone()),
                    "nodes": info.as_ref().map(|i| i.plan.nodes.len()),
                    "created_unix": info.as_ref().map(|i| i.created_unix),
                    "phase": phase_text(status),
                    "dir": home.envs().join(name),
                })
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(0);
    }
    say!(
        "{:<24} {:<16} {:>5} {:>5}  STATUS",
        "NAME",
        "TEMPLATE",
        "NODES",
        "AGE"
    );
    for (name, info, status) in &rows {
        let (template, nodes, created) = match info {
            Some(i) => (
                i.template.clone(),
                i.plan.nodes.len().to_string(),
                age(i.created_unix),
            ),
            None => ("?".into(), "?".into(), "?".into()),
        };
        say!(
            "{name:<24} {template:<16} {nodes:>5} {created:>5}  {}",
            phase_text(status)
        );
    }
    Ok(0)
}
