//! An env's directory: the names of its files, fixed in one place (like Lima's
//! `filenames`), how they are written, and its journal of what exists in it. Below
//! everything that runs an env, so the driver, the clones and the plan share it.
//!
//! Socket paths must fit in `sun_path` (108 bytes), so sockets live under a short
//! `s/` folder with short names; [`check_socket_path`] turns an overlong path into a
//! clear error instead of a bind failure.

use std::io::Write as _;
use std::path::{Path, PathBuf};

pub mod journal;

/// The hand-off description of the env (what `vstage exec` points tools at).
pub const ENV_JSON: &str = "env.json";
/// The plan the env was made from, as `vstage plan` prints it.
pub const PLAN_JSON: &str = "plan.json";
/// Append-only record of every resource, written before the resource exists.
pub const JOURNAL: &str = "journal.jsonl";
/// Held (flock) by the supervisor for its whole life: free means nobody owns the env.
pub const LOCK: &str = "lock";
/// Held (flock) by `up` from the moment it creates the env dir until the supervisor
/// holds [`LOCK`]: an env being made is owned too, so `gc` never takes it for broken.
pub const CREATING_LOCK: &str = "creating.lock";
pub const SUPERVISOR_SOCK: &str = "supervisor.sock";
pub const SUPERVISOR_LOG: &str = "supervisor.log";
/// The env's timeline: one JSON line per event, with its time.
pub const EVENTS: &str = "events.jsonl";
/// Folder of the env's sockets (a short name: socket paths must fit `sun_path`).
pub const SOCKETS: &str = "s";
/// Folder of per-node files (what a node's driver and its mounts keep).
pub const NODES: &str = "nodes";

pub fn node_dir(node: &str) -> String {
    format!("{NODES}/{node}")
}
/// The env's SSH key pair (`id_ed25519`, `id_ed25519.pub`) and `ssh_config`.
pub const SSH_KEY: &str = "id_ed25519";
pub const SSH_CONFIG: &str = "ssh_config";
/// The Ansible inventory of the nodes that run sshd.
pub const INVENTORY: &str = "inventory.ini";
/// What `vstage sync` last saw of a node's mount `tag`'s source.
pub fn mount_seen(node: &str, tag: &str) -> String {
    format!("{NODES}/{node}/{tag}.seen")
}
/// A clone's state, and the hand-off files it writes (`clouds.yaml`, `openrc-USER`, ...).
pub fn clone_dir(clone: &str) -> String {
    format!("clones/{clone}")
}

/// Longest path a unix socket can be bound at (sun_path less its NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// A path an env would use that cannot work: found before anything exists.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PathError {
    #[error(
        "socket path {path} is {len} bytes, over the {MAX_SOCKET_PATH} a unix socket allows: use a shorter VSTAGE_HOME or env name"
    )]
    SocketTooLong { path: PathBuf, len: usize },
    #[error(
        "{what} {path} contains {bad}, which QEMU's command line cannot carry: use a path without ',', spaces, quotes or control characters"
    )]
    NotAnOption {
        what: String,
        path: PathBuf,
        bad: String,
    },
}

pub fn check_socket_path(path: &Path) -> Result<(), PathError> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(PathError::SocketTooLong {
            path: path.to_path_buf(),
            len,
        });
    }
    Ok(())
}

/// Refuses a path that QEMU's command line cannot carry as given: `,` separates
/// QEMU's options (a path with one could even inject an option), and the command QEMU
/// runs for a guest's connection to a clone is split at white space. Quotes and
/// control characters are refused with them; so is a path that is not UTF-8.
pub fn check_option_path(path: &Path, what: &str) -> Result<(), PathError> {
    let bad = match path.to_str() {
        None => Some("bytes that are not UTF-8".to_string()),
        Some(text) => text
            .chars()
            .find(|c| matches!(c, ',' | '\'' | '"' | '\\') || c.is_whitespace() || c.is_control())
            .map(|c| format!("{c:?}")),
    };
    match bad {
        None => Ok(()),
        Some(bad) => Err(PathError::NotAnOption {
            what: what.to_string(),
            path: path.to_path_buf(),
            bad,
        }),
    }
}

/// An env directory: joins the names above onto its path.
#[derive(Debug, Clone)]
pub struct EnvDir(pub PathBuf);

impl EnvDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, relative: &str) -> PathBuf {
        self.0.join(relative)
    }
    /// The env's name is its directory's name.
    pub fn name(&self) -> String {
        self.0
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Writes `text` to `path` through a temporary file and a rename.
/// (A reader never sees a half-written plan, journal snapshot or cache entry.)
pub fn write_atomic(path: &Path, text: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Now, in the Unix seconds an env's files record times in.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Copies the tree at `from` to `to` as `cp -a` does, sparse, sharing blocks where the
/// filesystem can (a snapshot's disks are large and mostly the image's).
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let out = std::process::Command::new("cp")
        .args(["-a", "--sparse=always", "--reflink=auto", "-T"])
        .arg(from)
        .arg(to)
        .output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "copying {} to {}: {}",
            from.display(),
            to.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_qemu_cannot_carry_are_refused() {
        assert!(check_option_path(Path::new("/home/u/.local/state/vstage"), "x").is_ok());
        for bad in ["/a,b", "/a b", "/a\tb", "/a'b", "/a\"b", "/a\nb"] {
            assert!(check_option_path(Path::new(bad), "x").is_err(), "{bad:?}");
        }
    }
}
