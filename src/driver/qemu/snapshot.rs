//! Saving and restoring nodes over QMP: memory and device state go through QEMU's
//! migration to a file (`mapped-ram` where QEMU has it, so the file's pages region is
//! the guest's RAM image and restored nodes can share it, see `snapshot::mapped_ram`),
//! and a restored guest gets a fresh identity through its agent (clock, entropy).

use super::files::NodeFiles;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::driver::DriverError;
use crate::driver::guest::Guest;
use crate::driver::qemu::qmp::Channel;
use crate::plan::NodePlan;

/// The RAM block of `-m` (and of the backend a restored node maps it from).
pub const RAM_BLOCK: &str = "pc.ram";
/// How long one node's migration to or from a file may take.
const MIGRATION_BOUND: Duration = Duration::from_secs(600);

fn fail(node: &str, detail: impl std::fmt::Display) -> DriverError {
    DriverError::Snapshot {
        node: node.to_string(),
        detail: detail.to_string(),
    }
}

pub async fn channel(node: &str, qmp: &Path) -> Result<Channel, DriverError> {
    tokio::time::timeout(Duration::from_secs(10), Channel::qmp(qmp))
        .await
        .map_err(|_| fail(node, format!("{}: no answer", qmp.display())))?
        .map_err(|e| fail(node, e))
}

/// Runs `command` (no arguments) on every node's monitor, in order.
pub async fn each(
    dir: &crate::envdir::EnvDir,
    nodes: &[crate::plan::NodePlan],
    command: &'static str,
) -> Result<(), DriverError> {
    for node in nodes {
        let mut ch = channel(&node.name, &dir.join(&NodeFiles::of(node).qmp)).await?;
        run(&mut ch, &node.name, command, json!({})).await?;
    }
    Ok(())
}

async fn run(
    ch: &mut Channel,
    node: &str,
    command: &'static str,
    args: Value,
) -> Result<Value, DriverError> {
    ch.execute_raw(command, args)
        .await
        .map_err(|e| fail(node, e))
}

/// Turns `mapped-ram` on for the next migration; false where QEMU does not have it
/// (before 9.0): the file is then a plain stream, restored without sharing.
async fn mapped_ram(ch: &mut Channel) -> bool {
    ch.execute_raw(
        "migrate-set-capabilities",
        json!({"capabilities": [{"capability": "mapped-ram", "state": true}]}),
    )
    .await
    .is_ok()
}

/// Starts writing the paused node's RAM and device state to `file` ([`wait`] for the
/// end); returns whether it is written as `mapped-ram`. The node stays paused.
pub async fn start_save(ch: &mut Channel, node: &str, file: &Path) -> Result<bool, DriverError> {
    let mapped = mapped_ram(ch).await;
    // The default bandwidth cap (128 MiB/s) is for live migration over a network; a
    // paused node written to a local file has nothing to protect.
    run(
        ch,
        node,
        "migrate-set-parameters",
        json!({"max-bandwidth": 1u64 << 40}),
    )
    .await?;
    run(
        ch,
        node,
        "migrate",
        json!({"uri": format!("file:{}", file.display())}),
    )
    .await?;
    Ok(mapped)
}

/// Loads a node started with `-incoming defer` from `file`, and starts it.
pub async fn restore(
    ch: &mut Channel,
    node: &str,
    file: &Path,
    mapped: bool,
) -> Result<(), DriverError> {
    if mapped && !mapped_ram(ch).await {
        return Err(fail(
            node,
            "this QEMU cannot read a mapped-ram snapshot (QEMU 9.0 or later can)",
        ));
    }
    run(
        ch,
        node,
        "migrate-incoming",
        json!({"uri": format!("file:{}", file.display())}),
    )
    .await?;
    wait(ch, node).await?;
    run(ch, node, "cont", json!({})).await?;
    Ok(())
}

/// Waits for the current migration (either direction) to end.
pub async fn wait(ch: &mut Channel, node: &str) -> Result<(), DriverError> {
    let deadline = Instant::now() + MIGRATION_BOUND;
    loop {
        let info = run(ch, node, "query-migrate", json!({})).await?;
        match info["status"].as_str().unwrap_or("") {
            "completed" => return Ok(()),
            "failed" | "cancelled" => {
                return Err(fail(
                    node,
                    format!(
                        "migration {}: {}",
                        info["status"].as_str().unwrap_or(""),
                        info["error-desc"].as_str().unwrap_or("QEMU gave no reason")
                    ),
                ));
            }
            _ if Instant::now() > deadline => {
                let _ = ch.execute_raw("migrate_cancel", json!({})).await;
                return Err(fail(
                    node,
                    format!("migration took over {}s", MIGRATION_BOUND.as_secs()),
                ));
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// A restored node's TCP connections across its service NIC (to the clones, and from the
/// host through forwarded ports) ended with the QEMU that carried them: its user-mode
/// network kept their state. Left open, a client's pool reuses one and its request fails
/// ("Remote end closed connection without response", a 500 from nova-api measured in a
/// restored env); destroyed here, pools see them closed and connect again. Best effort:
/// an image without `ss` (busybox) or a kernel without `INET_DIAG_DESTROY` keeps them.
pub async fn drop_host_connections(guest: &impl Guest, node: &NodePlan) {
    if node.service_nic.is_none() {
        return;
    }
    let script = format!(
        "command -v ss >/dev/null 2>&1 || exit 0; ss -t -K dst {} >/dev/null 2>&1 || true",
        crate::plan::SERVICE_NET
    );
    let argv = ["sh", "-c", &script].map(String::from);
    let _ = guest.output(&argv, STEP_BOUND).await;
}

/// How long a guest may take for a step of a save or a restore (its mounts, its
/// connections).
const STEP_BOUND: Duration = Duration::from_secs(60);

/// A virtiofs mount's session (its open files, its FUSE handshake) lives in its
/// virtiofsd on the host, which a snapshot does not carry: a node lets go of its mounts
/// before it is paused for a save, and mounts them again after (from whatever
/// directories its env then has, a restored env's being chosen at restore). Mounts not
/// mounted are left so.
pub async fn unmount(guest: &impl Guest, node: &NodePlan) -> Result<(), DriverError> {
    for m in &node.mounts {
        let script = r#"if grep -q " $1 virtiofs " /proc/mounts; then umount "$1"; fi"#;
        in_guest(guest, node, &m.target, "unmounting it for the snapshot", script)
            .await
            .map_err(|e| {
                fail(
                    &node.name,
                    format!("{e} (a process in the node has files open under it: stop it, or `cd` out of it)"),
                )
            })?;
    }
    Ok(())
}

/// Mounts `node`'s mounts again after [`unmount`], or after a restore; one mounted
/// already is left so.
pub async fn mount(guest: &impl Guest, node: &NodePlan) -> Result<(), DriverError> {
    for m in &node.mounts {
        let script = format!(
            r#"grep -q " $1 virtiofs " /proc/mounts || {{ mkdir -p "$1" && mount -t virtiofs -o ro {} "$1"; }}"#,
            m.tag
        );
        in_guest(guest, node, &m.target, "mounting it again", &script)
            .await
            .map_err(|e| fail(&node.name, e))?;
    }
    Ok(())
}

async fn in_guest(
    guest: &impl Guest,
    node: &NodePlan,
    target: &str,
    what: &str,
    script: &str,
) -> Result<(), String> {
    let argv = ["sh", "-c", script, "mount", target].map(String::from);
    let ran = guest
        .output(&argv, STEP_BOUND)
        .await
        .map_err(|e| format!("mount {target}: {what}: {e}"))?;
    if ran.code != 0 {
        let said = String::from_utf8_lossy(&ran.stderr);
        return Err(format!(
            "mount {target} of node {}: {what} failed ({}): {}",
            node.name,
            ran.code,
            said.trim()
        ));
    }
    Ok(())
}

/// A step of giving a guest its own identity that failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    Agent(#[from] crate::driver::qemu::agent::AgentError),
    #[error("{what}: {detail}")]
    Step { what: &'static str, detail: String },
}

fn step(what: &'static str, detail: impl std::fmt::Display) -> IdentityError {
    IdentityError::Step {
        what,
        detail: detail.to_string(),
    }
}

/// Gives a guest restored from a snapshot what must differ from every other copy of it:
/// the host's time (its clock stopped at the snapshot), and fresh entropy mixed into
/// its RNG (the `vmgenid` device, whose id QEMU changed, makes the kernel reseed).
pub async fn fresh_identity(agent: &Path) -> Result<(), IdentityError> {
    let mut ch = crate::driver::qemu::agent::connect(agent).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // qemu-ga sets the system clock, then runs `hwclock` for the RTC; an image without
    // `hwclock` fails only that second half.
    if let Err(e) = ch.execute_raw("guest-set-time", json!({"time": now})).await
        && !e.to_string().contains("hwclock")
    {
        return Err(step("setting the guest's clock", e));
    }
    let mut seed = [0u8; 64];
    getrandom::fill(&mut seed).map_err(|e| step("host entropy", e))?;
    crate::driver::qemu::agent::write_file(&mut ch, "/dev/urandom", &seed)
        .await
        .map_err(|e| step("writing entropy into the guest", e))?;
    reseed(&mut ch).await
}

/// Where every node finds an id of its own, new at each boot and at each restore: two
/// envs restored from one snapshot share `/proc/sys/kernel/random/boot_id` (the kernel
/// made it before the snapshot), never this.
pub const INSTANCE_ID: &str = "/run/vstage-instance-id";

/// Writes a fresh [`INSTANCE_ID`] into the guest.
pub async fn write_instance_id(agent: &Path) -> Result<(), IdentityError> {
    let mut ch = crate::driver::qemu::agent::connect(agent).await?;
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| step("host entropy", e))?;
    let text: String = id.iter().map(|b| format!("{b:02x}")).collect();
    crate::driver::qemu::agent::write_file(&mut ch, INSTANCE_ID, format!("{text}\n").as_bytes())
        .await
        .map_err(|e| step("writing the instance id", e))
}

/// `RNDRESEEDCRNG` (`_IO('R', 7)`): what was written to `/dev/urandom` only joins the
/// input pool; the kernel draws on it at its next reseed, up to a minute away, and
/// until then every copy would hand out the same numbers. Kernels without a `vmgenid`
/// driver (Debian's cloud kernel) need this. Perl is in every Debian (perl-base is
/// essential); an image without it (the busybox one) is left to the written entropy.
const RESEED: &str = r#"open(my $f, ">", "/dev/urandom") or die "$!\n"; ioctl($f, 0x5207, 0) or die "RNDRESEEDCRNG: $!\n""#;

async fn reseed(ch: &mut Channel) -> Result<(), IdentityError> {
    let started = ch
        .execute_raw(
            "guest-exec",
            json!({"path": "perl", "arg": ["-e", RESEED], "capture-output": true}),
        )
        .await;
    let Ok(started) = started else {
        return Ok(()); // no perl in this image
    };
    let pid = started["pid"].clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let status = ch
            .execute_raw("guest-exec-status", json!({"pid": pid}))
            .await
            .map_err(|e| step("reseeding the guest's RNG", e))?;
        if status["exited"].as_bool() == Some(true) {
            return match status["exitcode"].as_i64() {
                Some(0) => Ok(()),
                code => Err(step(
                    "reseeding the guest's RNG",
                    format!("perl exited with {code:?}: {}", decode(&status["err-data"])),
                )),
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(step("reseeding the guest's RNG", "no answer within 60s"))
}

fn decode(b64: &Value) -> String {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.as_str().unwrap_or(""))
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim().to_string()
}
