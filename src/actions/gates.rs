//! The template's readiness gates (`gates:`), in order, once every node is up: each
//! runs its command on its node (the driver's guest handle) until it exits 0, for at most
//! its timeout. Each is shown with its duration in the progress output and so in the
//! timeline; one that fails ends the bring-up with its last output and the tails of the
//! logs it names.

use std::time::{Duration, Instant};

use super::{ActionError, Context};
use crate::driver::Driver;
use crate::driver::guest::{Guest, GuestError};
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
        let guest = ctx.driver.guest(node);
        (ctx.progress)(format!("gate {}: waiting (on {})", gate.name, gate.node));
        let started = Instant::now();
        let deadline = started + Duration::from_secs(u64::from(gate.timeout_s));
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Err(last) = attempt(&guest, &gate.run, left).await else {
                (ctx.progress)(format!(
                    "gate {}: passed ({:.1}s)",
                    gate.name,
                    started.elapsed().as_secs_f64()
                ));
                break;
            };
            if Instant::now() + RETRY >= deadline {
                return Err(ActionError::Gate(Box::new(Failed {
                    gate: gate.name.clone(),
                    node: gate.node.clone(),
                    after_s: started.elapsed().as_secs(),
                    last,
                    logs: logs(&guest, gate).await,
                })));
            }
            tokio::time::sleep(RETRY).await;
        }
    }
    Ok(())
}

/// A gate that did not pass in its time: its last attempt, and the tails of its logs.
#[derive(Debug, thiserror::Error)]
#[error("gate {gate} failed after {after_s}s on {node}: {last}{logs}")]
pub struct Failed {
    pub gate: String,
    pub node: String,
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
}

/// One run of `command`, bounded by `left`.
async fn attempt(guest: &impl Guest, command: &str, left: Duration) -> Result<(), Attempt> {
    let argv = ["/bin/sh".to_string(), "-c".into(), command.into()];
    let ran = guest.output(&argv, left).await?;
    if ran.code == 0 {
        return Ok(());
    }
    Err(Attempt::Exit {
        code: ran.code,
        output: tail(ran.text().as_bytes()).trim_end().to_string(),
    })
}

/// The tails of the logs a gate names, for its failure.
async fn logs(guest: &impl Guest, gate: &Gate) -> String {
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
