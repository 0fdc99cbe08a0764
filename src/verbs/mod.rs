//! One file per verb: each maps its flags to library calls and prints the result.
//! What they share: opening an env by name, and asking its supervisor for a status.

pub mod clone;
pub mod doctor;
pub mod events;
pub mod exec;
pub mod extend;
pub mod gc;
pub mod image;
pub mod logs;
pub mod ls;
pub mod manual;
pub mod run;
pub mod snapshot;
pub mod ssh;
pub mod status;
pub mod sync;
pub mod up;

use std::time::Duration;

use anyhow::Context as _;

use crate::failure::Result;
use vstage::env::{self, EnvError, EnvInfo};
use vstage::envdir::{self, EnvDir};
use vstage::home::Home;
use vstage::supervisor::api::{self, Status};

pub(crate) fn open_env(home: &Home, name: &str) -> Result<(EnvDir, EnvInfo)> {
    let dir = home.env(name)?;
    if !dir.path().is_dir() {
        return Err(EnvError::NotFound(name.to_string()).into());
    }
    let info = EnvInfo::read(&dir).with_context(|| format!("env {name}: reading env.json"))?;
    Ok((dir, info))
}

/// Why an env has no status to show.
#[derive(Debug, Clone, thiserror::Error, serde::Serialize)]
#[serde(into = "String")]
pub(crate) enum NoStatus {
    #[error("broken: no supervisor (run `vstage down` to clean up)")]
    Broken,
    #[error("incomplete: no env.json")]
    Incomplete,
    /// Its supervisor did not answer as it should.
    #[error("{0}")]
    Api(String),
}

impl From<NoStatus> for String {
    fn from(e: NoStatus) -> String {
        e.to_string()
    }
}

/// A status, or why there is none (supervisor gone).
pub(crate) async fn live_status(dir: &EnvDir) -> std::result::Result<Status, NoStatus> {
    match api::status(&dir.join(envdir::SUPERVISOR_SOCK), Duration::from_secs(2)).await {
        Ok(s) => Ok(s),
        Err(_) if !env::is_owned(dir) => Err(NoStatus::Broken),
        Err(e) => Err(NoStatus::Api(e.to_string())),
    }
}

/// How long ago `created` (unix seconds) was, in one unit: `42s`, `5m`, `3h`, `2d`.
pub(crate) fn age(created: u64) -> String {
    one_unit(envdir::now_unix().saturating_sub(created))
}

/// Time left until `at` (unix seconds), in one unit; `expired` once it has passed.
pub(crate) fn left(at: u64) -> String {
    match at.checked_sub(envdir::now_unix()) {
        Some(secs) if secs > 0 => one_unit(secs),
        _ => "expired".into(),
    }
}

/// Seconds in one unit: `42s`, `5m`, `3h`, `2d`.
fn one_unit(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}
