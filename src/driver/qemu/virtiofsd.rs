//! virtiofsd: the host side of a node's `mounts:`. One daemon per mount, a child of the
//! supervisor like QEMU (PDEATHSIG), serving one host directory read-only on a socket in
//! the env dir that QEMU's `vhost-user-fs-pci` connects to; it exits when QEMU lets go.
//!
//! Why virtiofs and not QEMU's `-virtfs` (9p): Debian's cloud kernels, which every image
//! boots, are built without 9p; they have virtiofs.

use super::files;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::envdir::EnvDir;
use crate::plan::MountPlan;

/// How long virtiofsd may take to bind its socket.
const SOCKET_WAIT: Duration = Duration::from_secs(10);

/// The binary: `$VSTAGE_VIRTIOFSD`, else `virtiofsd` from `PATH`, else where Debian's
/// package puts it.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("VSTAGE_VIRTIOFSD") {
        return Some(PathBuf::from(bin)).filter(|p| p.is_file());
    }
    super::on_path(std::path::Path::new("virtiofsd")).or_else(|| {
        ["/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    })
}

/// The argv elements that name this daemon's process in the journal (its socket is in no
/// other command line).
pub fn identity(dir: &EnvDir, node: &str, m: &MountPlan) -> Vec<String> {
    let socket = dir.join(&files::mount_socket(node, &m.tag));
    vec![format!("--socket-path={}", socket.display())]
}

#[derive(Debug, thiserror::Error)]
pub enum VirtiofsdError {
    #[error("{bin}: {source}")]
    Spawn {
        bin: PathBuf,
        source: std::io::Error,
    },
    #[error("virtiofsd for {source_dir} exited ({status})")]
    Exited {
        source_dir: PathBuf,
        status: std::process::ExitStatus,
    },
    #[error("virtiofsd for {source_dir} bound no socket within {SOCKET_WAIT:?}")]
    NoSocket { source_dir: PathBuf },
}

/// Starts virtiofsd for `node`'s mount `m` and waits until its socket exists. `log`
/// receives its stderr.
pub async fn spawn(
    bin: &std::path::Path,
    dir: &EnvDir,
    node: &str,
    m: &MountPlan,
    log: std::fs::File,
) -> Result<Child, VirtiofsdError> {
    let socket = dir.join(&files::mount_socket(node, &m.tag));
    // Left over from an earlier boot of the node (a repair): virtiofsd would not bind.
    let _ = std::fs::remove_file(&socket);
    let mut cmd = Command::new(bin);
    cmd.args(identity(dir, node, m))
        .arg(format!("--shared-dir={}", m.source.display()))
        .arg("--readonly")
        // The guest sees changes on the host within a second: `vstage sync` and a
        // restarted service read what the user just saved.
        .arg("--cache=auto")
        .arg(sandbox())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
    let mut child = cmd.spawn().map_err(|source| VirtiofsdError::Spawn {
        bin: bin.to_path_buf(),
        source,
    })?;
    let start = Instant::now();
    while !socket.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(VirtiofsdError::Exited {
                source_dir: m.source.clone(),
                status,
            });
        }
        if start.elapsed() > SOCKET_WAIT {
            return Err(VirtiofsdError::NoSocket {
                source_dir: m.source.clone(),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(child)
}

/// Root confines the daemon to the shared directory in namespaces of its own; anyone
/// else cannot make them and relies on virtiofsd's own path checks.
fn sandbox() -> &'static str {
    if nix::unistd::geteuid().is_root() {
        "--sandbox=namespace"
    } else {
        "--sandbox=none"
    }
}
