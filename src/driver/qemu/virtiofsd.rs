//! virtiofsd: the host side of a node's `mounts:`. One daemon per mount, a child of the
//! supervisor like QEMU (PDEATHSIG), serving one host directory read-only on a socket in
//! the env dir that QEMU's `vhost-user-fs-pci` connects to; it exits when QEMU lets go.
//!
//! Why virtiofs and not QEMU's `-virtfs` (9p): Debian's cloud kernels, which every image
//! boots, are built without 9p; they have virtiofs.

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
pub fn identity(dir: &EnvDir, m: &MountPlan) -> Vec<String> {
    vec![format!("--socket-path={}", dir.join(&m.socket).display())]
}

/// Starts virtiofsd for `m` and waits until its socket exists. `log` receives its stderr.
pub async fn spawn(
    bin: &std::path::Path,
    dir: &EnvDir,
    m: &MountPlan,
    log: std::fs::File,
) -> Result<Child, String> {
    let socket = dir.join(&m.socket);
    // Left over from an earlier boot of the node (a repair): virtiofsd would not bind.
    let _ = std::fs::remove_file(&socket);
    let mut cmd = Command::new(bin);
    cmd.args(identity(dir, m))
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
    let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", bin.display()))?;
    let start = Instant::now();
    while !socket.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "virtiofsd for {} exited ({status})",
                m.source.display()
            ));
        }
        if start.elapsed() > SOCKET_WAIT {
            return Err(format!(
                "virtiofsd for {} bound no socket within {SOCKET_WAIT:?}",
                m.source.display()
            ));
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
