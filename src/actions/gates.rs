//! The template's readiness gates (`gates:`), in order, once every node is up: each
//! runs its command on its node through the guest agent until it exits 0, for at most
//! its timeout. Each is shown with its duration in the progress output and so in the
//! timeline; one that fails ends the bring-up with its last output and the tails of the
//! logs it names.

use std::time::{Duration, Instant};

use super::{ActionError, Context};
use crate::driver::Driver;
use crate::driver::qemu::agent;
use crate::template::Gate;

/// How often a gate's command runs again while it fails.
const RETRY: Duration = Duration::from_secs(5);
/// What is kept of a command's output, and of each log (the tail).
const KEEP: usize = 4096;
/// Lines shown of each log a failed gate names.
const LOG_LINES: u32 = 30;

pub async fn run<D: Driver>(ctx: &mut Context<'_, D>) -> Result<(), ActionError> {
    for gate in &ctx.info.plan.gates {
        let node = ctx
            .info
            .plan
            .node(&gate.node)
            .expect("the template checked every gate's node");
        let socket = ctx.dir.join(&node.files.agent);
        (ctx.progress)(format!("gate {}: waiting (on {})", gate.name, gate.node));
        let started = Instant::now();
        let deadline = started + Duration::from_secs(u64::from(gate.timeout_s));
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Err(last) = attempt(&socket, &gate.run, left).await else {
                (ctx.progress)(format!(
                    "gate {}: passed ({:.1}s)",
                    gate.name,
                    started.elapsed().as_secs_f64()
                ));
                break;
            };
            if Instant::now() + RETRY >= deadline {
                let logs = logs(&socket, gate).await;
                return Err(ActionError::Gate(format!(
                    "gate {} failed after {:.0}s on {}: {}{logs}",
                    gate.name,
                    started.elapsed().as_secs_f64(),
                    gate.node,
                    last.trim_end()
                )));
            }
            tokio::time::sleep(RETRY).await;
        }
    }
    Ok(())
}

/// One run of `command`, bounded by `left`; `Err` says how it failed.
async fn attempt(socket: &std::path::Path, command: &str, left: Duration) -> Result<(), String> {
    let argv = ["/bin/sh".to_string(), "-c".into(), command.into()];
    match agent::output(socket, &argv, left).await {
        Err(e) => Err(e.to_string()),
        Ok(ran) if ran.code == 0 => Ok(()),
        Ok(mut ran) => {
            ran.stdout.extend_from_slice(&ran.stderr);
            Err(format!("exit {}: {}", ran.code, tail(&ran.stdout)))
        }
    }
}

/// The tails of the logs a gate names, for its failure.
async fn logs(socket: &std::path::Path, gate: &Gate) -> String {
    let mut text = String::new();
    for log in &gate.logs {
        let argv = [
            "tail".to_string(),
            "-n".into(),
            LOG_LINES.to_string(),
            log.clone(),
        ];
        let shown = match agent::output(socket, &argv, Duration::from_secs(30)).await {
            Ok(mut ran) => {
                ran.stdout.extend_from_slice(&ran.stderr);
                tail(&ran.stdout)
            }
            Err(e) => e.to_string(),
        };
        text.push_str(&format!(
            "\n--- {}:{log} ---\n{}",
            gate.node,
            shown.trim_end()
        ));
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
