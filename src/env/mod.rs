//! An environment on disk: its description (`env.json`), creation and removal.
//!
//! `env.json` is both what the supervisor starts from and the hand-off that
//! `vstage exec` points host-side tools at (`VSTAGE_ENV_JSON`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::driver::qemu::accel::Accel;
use crate::driver::readiness::Limits;
use crate::driver::{DriverKind, Setup};
use crate::envdir::{self, EnvDir, journal};
use crate::plan::Plan;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvInfo {
    pub name: String,
    pub dir: PathBuf,
    /// Where the template came from (a path or `builtin:NAME`).
    pub template: String,
    pub created_unix: u64,
    /// What runs its nodes; every verb reopens it from here (`driver::open`).
    #[serde(default)]
    pub driver: DriverKind,
    pub accel: Accel,
    /// Built image directory for every image the plan uses.
    pub images: BTreeMap<String, PathBuf>,
    pub options: Options,
    /// `--label k=v`: what CI and `ls --label`/`gc --label` select envs by.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub plan: Plan,
    /// The snapshot the nodes resume from (`up --from`), instead of booting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<Restore>,
}

impl EnvInfo {
    /// What its driver is opened with.
    pub fn setup<'a>(&'a self, dir: &'a EnvDir) -> Setup<'a> {
        Setup {
            kind: self.driver,
            dir,
            plan: &self.plan,
            accel: self.accel,
            images: &self.images,
            restore: self
                .restore
                .as_ref()
                .map(|r| (r.dir.as_path(), r.nodes.as_slice())),
        }
    }

    /// A node's guest, through the env's driver.
    pub fn guest(&self, dir: &EnvDir, node: &crate::plan::NodePlan) -> crate::driver::EnvGuest {
        crate::driver::guest(self.driver, dir, node)
    }
}

/// Where a restored env's nodes come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Restore {
    /// The snapshot's name and id (the id is what `snapshot rm` checks).
    pub name: String,
    pub snapshot: String,
    pub dir: PathBuf,
    pub nodes: Vec<crate::driver::SavedNode>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Options {
    /// Leave a failed env running for inspection instead of rolling it back.
    pub keep_on_failure: bool,
    /// How long the nodes may take to become ready.
    pub limits: Limits,
    /// When the supervisor tears the env down by itself (`--ttl`, or the host's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_unix: Option<u64>,
    /// With `keep_on_failure`: how long a failed env is kept (its TTL from the failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_for_secs: Option<u64>,
    /// The process whose env this is (`vstage run`): when it ends, the env ends too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

/// A process, told from a later one with its pid by its start time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Owner {
    pub pid: i32,
    pub started: Option<journal::Started>,
    /// Owns the env only until it has seen it ready and released it (`vstage up`:
    /// killed before that, it takes the half-made env with it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub until_ready: bool,
}

impl Owner {
    /// This process, for the env's whole life.
    pub fn this() -> Owner {
        let pid = std::process::id() as i32;
        Owner {
            pid,
            started: journal::Started::of(pid),
            until_ready: false,
        }
    }

    /// This process, until the env is ready.
    pub fn until_ready() -> Owner {
        Owner {
            until_ready: true,
            ..Owner::this()
        }
    }

    /// Whether it still runs (the same process, not a later one with its pid).
    pub fn is_alive(&self) -> bool {
        match (&self.started, journal::Started::of(self.pid)) {
            (Some(recorded), Some(now)) => *recorded == now,
            (None, Some(_)) => true,
            (_, None) => false,
        }
    }
}

impl EnvInfo {
    pub fn read(dir: &EnvDir) -> std::io::Result<EnvInfo> {
        let text = std::fs::read_to_string(dir.join(envdir::ENV_JSON))?;
        serde_json::from_str(&text).map_err(std::io::Error::other)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("no environment named '{0}' (see `vstage ls`)")]
    NotFound(String),
    #[error("environment '{0}' already exists and {1}")]
    Exists(String, String),
    #[error("'{0}' is not a valid env name: lowercase letters, digits, '-' and '_', at most 40")]
    BadName(String),
    #[error("{0}")]
    Io(String),
}

/// Whether some process holds the env: its supervisor, or the `up` making it.
pub fn is_owned(dir: &EnvDir) -> bool {
    held(dir, envdir::LOCK) || held(dir, envdir::CREATING_LOCK)
}

/// Whether an `up` is making the env now (before its supervisor holds it).
pub fn is_being_made(dir: &EnvDir) -> bool {
    held(dir, envdir::CREATING_LOCK)
}

/// Whether the supervisor holds the env's lock.
pub fn is_supervised(dir: &EnvDir) -> bool {
    held(dir, envdir::LOCK)
}

/// Takes the lock file at `path`, retrying for about a second: another process may be
/// probing it (`is_owned` takes it for an instant), which is not an owner.
pub fn take_lock(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let file = std::fs::File::create(path)?;
    for _ in 0..50 {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::WouldBlock,
        format!("{} is held by another process", path.display()),
    ))
}

fn held(dir: &EnvDir, lock: &str) -> bool {
    match std::fs::File::open(dir.join(lock)) {
        Ok(f) => match f.try_lock() {
            Ok(()) => false,
            Err(std::fs::TryLockError::WouldBlock) => true,
            Err(_) => false,
        },
        Err(_) => false,
    }
}

/// Whether `dir` is provably an env directory: a real directory (not a link) holding
/// what `up` writes first (the lock, env.json, the journal), or nothing at all (an `up`
/// killed between creating it and writing into it).
fn is_env_dir(dir: &EnvDir) -> bool {
    let real_dir = std::fs::symlink_metadata(dir.path()).is_ok_and(|m| m.is_dir());
    let marked = [
        envdir::LOCK,
        envdir::CREATING_LOCK,
        envdir::ENV_JSON,
        envdir::JOURNAL,
    ]
    .iter()
    .any(|f| std::fs::symlink_metadata(dir.join(f)).is_ok_and(|m| m.is_file()));
    let empty = std::fs::read_dir(dir.path()).is_ok_and(|mut d| d.next().is_none());
    real_dir && (marked || empty)
}

/// Removes the env directory once nothing owns it any more. Refuses a directory that is
/// not provably an env's, whatever its path.
pub fn remove(dir: &EnvDir) -> Result<(), EnvError> {
    if let Err(e) = std::fs::symlink_metadata(dir.path())
        && e.kind() == std::io::ErrorKind::NotFound
    {
        return Ok(());
    }
    if !is_env_dir(dir) {
        return Err(EnvError::Io(format!(
            "{} is not a vstage env directory (no lock, env.json or journal.jsonl in it): not removing it",
            dir.path().display()
        )));
    }
    // The journal undoes what the env made; what is left is the env's own bookkeeping
    // (env.json, the journal, the lock, logs), which goes with its directory.
    let undone = journal::undo(dir.path(), &crate::driver::undo)
        .map_err(|e| EnvError::Io(format!("{}: {e}", dir.path().display())))?;
    if !undone.failed.is_empty() {
        return Err(EnvError::Io(format!(
            "{}: could not remove {}",
            dir.path().display(),
            undone.failed.join(", ")
        )));
    }
    match std::fs::remove_dir_all(dir.path()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(EnvError::Io(format!(
            "cannot remove {}: {e}",
            dir.path().display()
        ))),
    }
}

/// `KEY=VALUE` of `--label`: a key of letters, digits, `.`, `_`, `-` and `/`, a value
/// of the same or empty, each at most 63 characters (what CI systems put there: PR
/// numbers, branch names, job ids).
pub fn parse_label(text: &str) -> Result<(String, String), String> {
    let ok = |s: &str| {
        s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
    };
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() && ok(k) && ok(v) => Ok((k.to_string(), v.to_string())),
        _ => Err(format!(
            "--label {text}: expected KEY=VALUE, each of letters, digits, '.', '_', '-', '/' and at most 63 long"
        )),
    }
}

/// Labels from `--label` flags; a later one with the same key wins.
pub fn parse_labels(flags: &[String]) -> Result<BTreeMap<String, String>, String> {
    flags.iter().map(|f| parse_label(f)).collect()
}
