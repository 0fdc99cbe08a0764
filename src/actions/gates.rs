//! The template's readiness gates (`gates:`), in order, once every node is up: each
//! runs its command until it exits 0, for at most its timeout, on its node (the
//! driver's guest handle) or on the host (with the hand-off's variables). An env
//! restored from a snapshot runs only the gates marked to run again (`restore`). Each is
//! shown with its duration in the progress output and so in the timeline; one that
//! fails ends the bring-up with its last output and the tails of the logs it names.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt as _;

use super::{ActionError, Context};
use crate::driver::Driver;
use crate::driver::guest::{Guest, GuestError};
use crate::envdir::journal::Entry;
use crate::template::{Gate, GateOn};

/// How long a failing gate waits before it runs again: in a node always the longest (each
/// run costs the emulated guest a process start); on the host from the shortest,
/// doubling, so a restored env's checks answer within a second or two, and a cold env's
/// long waits do not spend the host's cores, which emulate the guests, on clients.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// What is kept of a command's output, and of each log (the tail).
const KEEP: usize = 4096;
/// Lines shown of each log a failed gate names.
const LOG_LINES: u32 = 30;

pub async fn run<D: Driver>(ctx: &mut Context<'_, D>) -> Result<(), ActionError> {
    let restored = ctx.info.restore.is_some();
    for gate in &ctx.info.plan.gates {
        if restored && !gate.restore {
            continue;
        }
        (ctx.progress)(format!("gate {}: waiting (on {})", gate.name, gate.on));
        let started = Instant::now();
        let deadline = started + Duration::from_secs(u64::from(gate.timeout_s));
        let mut retry = match gate.on {
            GateOn::Host => RETRY_FIRST,
            GateOn::Node(_) => RETRY_MAX,
        };
        for tries in 1.. {
            let left = deadline.saturating_duration_since(Instant::now());
            let Err(last) = attempt(ctx, gate, tries, left).await else {
                (ctx.progress)(format!(
                    "gate {}: passed ({:.1}s)",
                    gate.name,
                    started.elapsed().as_secs_f64()
                ));
                break;
            };
            if Instant::now() + retry >= deadline {
                let logs = match &gate.on {
                    GateOn::Node(node) => logs(&guest(ctx, node), node, gate).await,
                    GateOn::Host => String::new(),
                };
                return Err(ActionError::Gate(Box::new(Failed {
                    gate: gate.name.clone(),
                    on: gate.on.to_string(),
                    after_s: started.elapsed().as_secs(),
                    last,
                    logs,
                })));
            }
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(RETRY_MAX);
        }
    }
    Ok(())
}

fn guest<D: Driver>(ctx: &Context<'_, D>, node: &str) -> D::Guest {
    let node = ctx
        .info
        .plan
        .node(node)
        .expect("the template checked every gate's node");
    ctx.driver.guest(node)
}

/// A gate that did not pass in its time: its last attempt, and the tails of its logs.
#[derive(Debug, thiserror::Error)]
#[error("gate {gate} failed after {after_s}s on {on}: {last}{logs}")]
pub struct Failed {
    pub gate: String,
    /// Where it ran: a node's name, or the host.
    pub on: String,
    pub after_s: u64,
    pub last: Attempt,
    pub logs: String,
}

/// How one run of a gate's command failed.
#[derive(Debug, thiserror::Error)]
pub enum Attempt {
    #[error(transparent)]
    Guest(#[from] GuestError),
    #[error("exit {code}: {output}")]
    Exit { code: i32, output: String },
    /// A host gate's command could not be run.
    #[error("on the host: {0}")]
    Host(String),
}

/// One run of the gate's command (its `tries`-th), bounded by `left`.
async fn attempt<D: Driver>(
    ctx: &Context<'_, D>,
    gate: &Gate,
    tries: u32,
    left: Duration,
) -> Result<(), Attempt> {
    let (code, output) = match &gate.on {
        GateOn::Node(node) => {
            let argv = ["/bin/sh".to_string(), "-c".into(), gate.run.clone()];
            let ran = guest(ctx, node).output(&argv, left).await?;
            (ran.code, ran.text().into_bytes())
        }
        GateOn::Host => on_host(ctx, gate, tries, left).await?,
    };
    if code == 0 {
        return Ok(());
    }
    Err(Attempt::Exit {
        code,
        output: tail(&output).trim_end().to_string(),
    })
}

/// Runs a host gate's command once, in a process group of its own (recorded before it
/// exists, so crash cleanup kills the whole group), with the hand-off's variables, in
/// the env dir; kills the group if it outlives `left`. Its output's tail, both streams.
async fn on_host<D: Driver>(
    ctx: &Context<'_, D>,
    gate: &Gate,
    tries: u32,
    left: Duration,
) -> Result<(i32, Vec<u8>), Attempt> {
    let host = |e: std::io::Error| Attempt::Host(e.to_string());
    // `$0` of the shell names the env and the gate: a command line no other env's
    // process has, as the journal asks of a process it may have to find.
    let name = format!("gate {} #{tries}", gate.name);
    let argv = vec![
        "/bin/sh".to_string(),
        "-c".into(),
        gate.run.clone(),
        format!("{}/{}", ctx.dir.path().display(), gate.name),
    ];
    ctx.record(Entry::Process {
        name: name.clone(),
        argv: argv.clone(),
    })
    .map_err(|e| Attempt::Host(e.to_string()))?;
    let (reader, writer) = std::io::pipe().map_err(host)?;
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .envs(crate::handoff::variables(ctx.dir, ctx.info))
        .current_dir(ctx.dir.path())
        .stdin(Stdio::null())
        .stdout(writer.try_clone().map_err(host)?)
        .stderr(writer)
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(host)?;
    // The pipe's write ends are the child's alone now: its end is the output's end.
    drop(cmd);
    let pid = child.id().map(|p| p as i32);
    if let Some(pid) = pid {
        ctx.record(Entry::group(&name, pid))
            .map_err(|e| Attempt::Host(e.to_string()))?;
    }
    let mut output =
        tokio::net::unix::pipe::Receiver::from_owned_fd(reader.into()).map_err(host)?;
    let ran = tokio::time::timeout(left, async {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match output.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    kept.extend_from_slice(&buf[..n]);
                    let over = kept.len().saturating_sub(KEEP);
                    kept.drain(..over);
                }
            }
        }
        (child.wait().await, kept)
    })
    .await;
    match ran {
        Ok((status, kept)) => {
            let status = status.map_err(host)?;
            Ok((status.code().unwrap_or(128 + 9), kept))
        }
        Err(_) => {
            if let Some(pid) = pid {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            Err(Attempt::Host(format!(
                "still running after {}s: killed",
                left.as_secs()
            )))
        }
    }
}

/// The tails of the logs a gate on `node` names, for its failure.
async fn logs(guest: &impl Guest, node: &str, gate: &Gate) -> String {
    let mut text = String::new();
    for log in &gate.logs {
        let argv = [
            "tail".to_string(),
            "-n".into(),
            LOG_LINES.to_string(),
            log.clone(),
        ];
        let shown = match guest.output(&argv, Duration::from_secs(30)).await {
            Ok(ran) => tail(ran.text().as_bytes()),
            Err(e) => e.to_string(),
        };
        text.push_str(&format!("\n--- {node}:{log} ---\n{}", shown.trim_end()));
    }
    text
}

/// The last [`KEEP`] bytes of a guest's output, as text.
fn tail(bytes: &[u8]) -> String {
    let from = bytes.len().saturating_sub(KEEP);
    String::from_utf8_lossy(&bytes[from..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end() {
        let long = vec![b'x'; KEEP + 10];
        assert_eq!(tail(&long).len(), KEEP);
        assert_eq!(tail(b"short"), "short");
    }
}
