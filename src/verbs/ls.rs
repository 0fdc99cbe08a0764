//! `vstage ls`: every env with its state, template, size, age, TTL left and labels.

use std::io::Write as _;

use anyhow::Context as _;
use vstage::env::{self, EnvInfo};
use vstage::envdir::EnvDir;
use vstage::home::Home;
use vstage::supervisor::api::{Phase, Status};

use super::{NoStatus, age, left, live_status};
use crate::Out;
use crate::cli::{LsArgs, Output};
use crate::failure::{Failure, Result};

pub(crate) fn phase_text(status: &std::result::Result<Status, NoStatus>) -> String {
    match status {
        Ok(s) => serde_json::to_value(&s.phase)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        Err(e) => e.to_string(),
    }
}

/// One env as `ls` and `gc` see it.
pub(crate) struct Row {
    pub name: String,
    pub dir: EnvDir,
    pub info: Option<EnvInfo>,
    pub status: std::result::Result<Status, NoStatus>,
    /// creating, ready, degraded, failed, stopping, broken or expired.
    pub state: &'static str,
}

impl Row {
    pub fn expires(&self) -> Option<u64> {
        match &self.status {
            Ok(s) => s.expires_unix,
            Err(_) => self.info.as_ref().and_then(|i| i.options.expires_unix),
        }
    }
}

/// The state of an env from its supervisor's answer (or its absence).
fn state(
    dir: &EnvDir,
    info: Option<&EnvInfo>,
    status: &std::result::Result<Status, NoStatus>,
) -> &'static str {
    match (info, status) {
        (None, _) if env::is_owned(dir) || just_made(dir) => "creating",
        (None, _) => "broken",
        (Some(_), Ok(s))
            if s.expires_unix
                .is_some_and(|at| at <= vstage::envdir::now_unix()) =>
        {
            "expired"
        }
        (Some(_), Ok(s)) => match s.phase {
            Phase::Starting => "creating",
            Phase::Ready => "ready",
            Phase::Degraded => "degraded",
            Phase::Failed => "failed",
            Phase::Stopping => "stopping",
        },
        (Some(_), Err(_)) if !env::is_owned(dir) => "broken",
        (Some(_), Err(_)) => "unknown",
    }
}

/// A dir made in the last minute: `up` makes the dir, then takes its creating lock; in
/// between it is nobody's yet, and must not be taken for broken.
fn just_made(dir: &EnvDir) -> bool {
    std::fs::metadata(dir.path())
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < std::time::Duration::from_secs(60))
}

/// Every env under `home`, with its state.
pub(crate) async fn rows(home: &Home) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for name in home.env_names().context("listing envs")? {
        // A directory under envs/ that vstage would never have named is not an env.
        let Ok(dir) = home.env(&name) else { continue };
        let info = EnvInfo::read(&dir).ok();
        let status = match &info {
            Some(_) => live_status(&dir).await,
            None => Err(NoStatus::Incomplete),
        };
        let state = state(&dir, info.as_ref(), &status);
        rows.push(Row {
            name,
            dir,
            info,
            status,
            state,
        });
    }
    Ok(rows)
}

/// Whether the env has every label of `wanted` (`KEY=VALUE` flags).
pub(crate) fn has_labels(row: &Row, wanted: &[String]) -> Result<bool> {
    let wanted = env::parse_labels(wanted).map_err(Failure::bad_input)?;
    Ok(wanted.iter().all(|(k, v)| {
        row.info
            .as_ref()
            .is_some_and(|i| i.labels.get(k) == Some(v))
    }))
}

pub(crate) async fn ls(home: &Home, args: &LsArgs) -> Result<u8> {
    let mut rows = Vec::new();
    for row in self::rows(home).await? {
        if has_labels(&row, &args.labels)? && args.state.as_deref().is_none_or(|s| s == row.state) {
            rows.push(row);
        }
    }
    if args.output.output == Output::Json {
        let json: Vec<_> = rows
            .iter()
            .map(|r| {
                let info = r.info.as_ref();
                serde_json::json!({
                    "name": r.name,
                    "state": r.state,
                    "template": info.map(|i| i.template.clone()),
                    "nodes": info.map(|i| i.plan.nodes.len()),
                    "created_unix": info.map(|i| i.created_unix),
                    "expires_unix": r.expires(),
                    "labels": info.map(|i| i.labels.clone()).unwrap_or_default(),
                    "phase": phase_text(&r.status),
                    "dir": r.dir.path(),
                })
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(0);
    }
    say!(
        "{:<24} {:<9} {:<16} {:>5} {:>5} {:>7}  LABELS",
        "NAME",
        "STATE",
        "TEMPLATE",
        "NODES",
        "AGE",
        "TTL"
    );
    for r in &rows {
        let (template, nodes, created, labels) = match &r.info {
            Some(i) => (
                i.template.clone(),
                i.plan.nodes.len().to_string(),
                age(i.created_unix),
                i.labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            None => ("?".into(), "?".into(), "?".into(), String::new()),
        };
        let ttl = r.expires().map_or("-".to_string(), left);
        say!(
            "{:<24} {:<9} {template:<16} {nodes:>5} {created:>5} {ttl:>7}  {labels}",
            r.name,
            r.state
        );
    }
    Ok(0)
}
