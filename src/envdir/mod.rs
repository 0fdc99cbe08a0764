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
/// Folder of QEMU and switch sockets.
pub const SOCKETS: &str = "s";
/// Folder of per-node files (serial log, seed, pid file).
pub const NODES: &str = "nodes";

pub fn node_dir(node: &str) -> String {
    format!("{NODES}/{node}")
}
pub fn serial_log(node: &str) -> String {
    format!("{NODES}/{node}/serial.log")
}
pub fn seed(node: &str) -> String {
    format!("{NODES}/{node}/seed")
}
/// The NoCloud `cidata` volume of a cloud-init node.
pub fn seed_iso(node: &str) -> String {
    format!("{NODES}/{node}/seed.iso")
}
/// A node's copy-on-write root disk over its image's.
pub fn disk(node: &str) -> String {
    format!("{NODES}/{node}/disk.qcow2")
}
/// The env's SSH key pair (`id_ed25519`, `id_ed25519.pub`) and `ssh_config`.
pub const SSH_KEY: &str = "id_ed25519";
pub const SSH_CONFIG: &str = "ssh_config";
/// The Ansible inventory of the nodes that run sshd.
pub const INVENTORY: &str = "inventory.ini";
/// What QEMU printed on stderr (why it refused to start, mostly).
pub fn qemu_stderr(node: &str) -> String {
    format!("{NODES}/{node}/qemu.stderr")
}
/// Lock files, one per connection a node's guest may hold open to the clones.
pub fn connection_slots(node: &str) -> String {
    format!("{NODES}/{node}/conn")
}
pub fn pidfile(node: &str) -> String {
    format!("{NODES}/{node}/qemu.pid")
}
pub fn qmp_socket(node: &str) -> String {
    format!("{SOCKETS}/{node}.qmp")
}
pub fn agent_socket(node: &str) -> String {
    format!("{SOCKETS}/{node}.qga")
}
pub fn nic_socket(node: &str, index: usize) -> String {
    format!("{SOCKETS}/{node}.{index}.nic")
}
/// virtiofsd's end of a node's mount `tag` (QEMU connects to it).
pub fn mount_socket(node: &str, tag: &str) -> String {
    format!("{SOCKETS}/{node}.{tag}.fs")
}
/// What the virtiofsd of a node's mount `tag` printed.
pub fn virtiofsd_log(node: &str, tag: &str) -> String {
    format!("{NODES}/{node}/{tag}.virtiofsd.log")
}
/// What `vstage sync` last saw of a node's mount `tag`'s source.
pub fn mount_seen(node: &str, tag: &str) -> String {
    format!("{NODES}/{node}/{tag}.seen")
}
pub fn switch_socket(network: &str) -> String {
    format!("{SOCKETS}/{network}.sw")
}
/// Where guests' connections to a clone arrive (through QEMU's guestfwd).
pub fn clone_socket(clone: &str) -> String {
    format!("{SOCKETS}/{clone}.svc")
}
/// The switch of a network made through the SDN clone (by the clone's network id).
pub fn segment_socket(network_id: &str) -> String {
    let short: String = network_id
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(8)
        .collect();
    format!("{SOCKETS}/n-{short}.sw")
}
/// A node's NIC attached later to a segment, for an SDN port.
pub fn attached_nic_socket(node: &str, port_id: &str) -> String {
    let short: String = port_id
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(8)
        .collect();
    format!("{SOCKETS}/{node}.p-{short}.nic")
}
/// A router's NIC on one of its interfaces' segments (by the router and port ids).
pub fn router_nic_socket(router_id: &str, port_id: &str) -> String {
    let short = |id: &str| -> String {
        id.chars()
            .filter(|c| c.is_ascii_hexdigit())
            .take(8)
            .collect()
    };
    format!("{SOCKETS}/r-{}.p-{}.nic", short(router_id), short(port_id))
}
/// A clone's state, and the hand-off files it writes (`clouds.yaml`, `openrc-USER`, ...).
pub fn clone_dir(clone: &str) -> String {
    format!("clones/{clone}")
}

/// Longest path a unix socket can be bound at (sun_path less its NUL).
pub const MAX_SOCKET_PATH: usize = 107;

pub fn check_socket_path(path: &Path) -> Result<(), String> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(format!(
            "socket path {} is {len} bytes, over the {MAX_SOCKET_PATH} a unix socket allows: \
             use a shorter VSTAGE_HOME or env name",
            path.display()
        ));
    }
    Ok(())
}

/// Refuses a path that QEMU's command line cannot carry as given: `,` separates
/// QEMU's options (a path with one could even inject an option), and the command QEMU
/// runs for a guest's connection to a clone is split at white space. Quotes and
/// control characters are refused with them; so is a path that is not UTF-8.
pub fn check_option_path(path: &Path, what: &str) -> Result<(), String> {
    let bad = match path.to_str() {
        None => Some("bytes that are not UTF-8".to_string()),
        Some(text) => text
            .chars()
            .find(|c| matches!(c, ',' | '\'' | '"' | '\\') || c.is_whitespace() || c.is_control())
            .map(|c| format!("{c:?}")),
    };
    match bad {
        None => Ok(()),
        Some(bad) => Err(format!(
            "{what} {} contains {bad}, which QEMU's command line cannot carry: \
             use a path without ',', spaces, quotes or control characters",
            path.display()
        )),
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
