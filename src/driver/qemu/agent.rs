//! Commands inside a guest through its QEMU guest agent: no network, no SSH.
//!
//! `guest-exec` only returns output once the command has ended, so to stream it the
//! command writes stdout and stderr to files in the guest, which are read while it runs.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use qapi::qga;

use crate::driver::qemu::qmp::{Channel, QmpError};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot reach the guest agent: {0}")]
    Unreachable(String),
    #[error("guest agent: {0}")]
    Agent(#[from] QmpError),
    #[error("writing output: {0}")]
    Output(std::io::Error),
    #[error("the command did not end within {0:?}")]
    TimedOut(Duration),
}

/// What a command run with [`output`] gave.
pub struct Output {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `argv` in the guest for at most `bound`, collecting its output. For commands
/// whose output is small by construction (the caller bounds it, e.g. with `head -c`).
pub async fn output(socket: &Path, argv: &[String], bound: Duration) -> Result<Output, AgentError> {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let code = tokio::time::timeout(bound, exec(socket, argv, &mut stdout, &mut stderr))
        .await
        .map_err(|_| AgentError::TimedOut(bound))??;
    Ok(Output {
        code,
        stdout,
        stderr,
    })
}

/// Whether the guest agent at `socket` answers `guest-ping` within `bound`.
pub async fn ping(socket: &Path, bound: Duration) -> bool {
    let attempt = async {
        let mut ch = Channel::agent(socket).await.ok()?;
        ch.execute(&qga::guest_ping {}).await.ok()
    };
    tokio::time::timeout(bound, attempt)
        .await
        .ok()
        .flatten()
        .is_some()
}

/// Writes `bytes` to `path` in the guest (created or truncated) through the agent's
/// file calls: no process in the guest.
pub async fn write_file(ch: &mut Channel, path: &str, bytes: &[u8]) -> Result<(), AgentError> {
    use base64::Engine as _;
    let handle = ch
        .execute_raw(
            "guest-file-open",
            serde_json::json!({"path": path, "mode": "w"}),
        )
        .await?;
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    let wrote = ch
        .execute_raw(
            "guest-file-write",
            serde_json::json!({"handle": handle, "buf-b64": data}),
        )
        .await;
    let closed = ch
        .execute_raw("guest-file-close", serde_json::json!({"handle": handle}))
        .await;
    wrote?;
    closed?;
    Ok(())
}

/// How a command ended, in shell terms.
pub fn exit_code(status: &qga::GuestExecStatus) -> i32 {
    match (status.exitcode, status.signal) {
        (Some(code), _) => code as i32,
        (None, Some(sig)) => 128 + sig as i32,
        (None, None) => 1,
    }
}

/// Runs `argv` in the guest, streaming its stdout and stderr; returns its exit code.
pub async fn exec(
    socket: &Path,
    argv: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, AgentError> {
    let mut ch = connect(socket).await?;
    let base = format!(
        "/tmp/vstage-exec-{}-{}",
        std::process::id(),
        crate::envdir::now_unix()
    );
    let mut arg = vec![
        "-c".to_string(),
        r#"exec "$@" >"$0.out" 2>"$0.err""#.to_string(),
        base.clone(),
    ];
    arg.extend(argv.iter().cloned());
    let started = ch
        .execute(&qga::guest_exec {
            path: "/bin/sh".into(),
            arg: Some(arg),
            env: None,
            input_data: None,
            capture_output: None,
        })
        .await?;

    let mut stdout = Tail::new(format!("{base}.out"));
    let mut stderr = Tail::new(format!("{base}.err"));
    // Short commands answer at once; long ones (a gate's, minutes under TCG) are polled
    // less often, since every poll costs the guest agent CPU that the guest's own
    // services are short of.
    let mut poll = Duration::from_millis(50);
    let code = loop {
        let status = ch
            .execute(&qga::guest_exec_status { pid: started.pid })
            .await?;
        // Read after the status: once exited, this last read drains everything.
        stdout.pump(&mut ch, out).await?;
        stderr.pump(&mut ch, err).await?;
        if status.exited {
            break exit_code(&status);
        }
        // The agent serves one connection at a time: let go of it between polls, so
        // that a long command (a readiness gate) does not lock out `vstage exec`.
        // Its pid and file handles belong to the agent, not to the connection.
        drop(ch);
        tokio::time::sleep(poll).await;
        poll = (poll * 2).min(Duration::from_millis(800));
        ch = connect(socket).await?;
    };
    stdout.close(&mut ch).await;
    stderr.close(&mut ch).await;
    let _ = ch
        .execute(&qga::guest_exec {
            path: "/bin/rm".into(),
            arg: Some(vec![
                "-f".into(),
                format!("{base}.out"),
                format!("{base}.err"),
            ]),
            env: None,
            input_data: None,
            capture_output: None,
        })
        .await;
    Ok(code)
}

/// A connection to the agent at `socket`, waiting up to 10 s for it to answer (or for
/// another client to let go).
pub async fn connect(socket: &Path) -> Result<Channel, AgentError> {
    tokio::time::timeout(Duration::from_secs(10), Channel::agent(socket))
        .await
        .map_err(|_| AgentError::Unreachable("no answer within 10s".into()))?
        .map_err(|e| AgentError::Unreachable(e.to_string()))
}

/// A guest file read from where the last read stopped.
struct Tail {
    path: String,
    handle: Option<i64>,
}

impl Tail {
    fn new(path: String) -> Tail {
        Tail { path, handle: None }
    }

    async fn pump(&mut self, ch: &mut Channel, sink: &mut dyn Write) -> Result<(), AgentError> {
        if self.handle.is_none() {
            match ch
                .execute(&qga::guest_file_open {
                    path: self.path.clone(),
                    mode: Some("r".into()),
                })
                .await
            {
                Ok(h) => self.handle = Some(h),
                Err(QmpError::Command { .. }) => return Ok(()), // not created yet
                Err(e) => return Err(e.into()),
            }
        }
        let handle = self.handle.expect("opened above");
        loop {
            let chunk = ch
                .execute(&qga::guest_file_read {
                    handle,
                    count: Some(48 * 1024),
                })
                .await?;
            if chunk.buf_b64.is_empty() {
                break;
            }
            sink.write_all(&chunk.buf_b64).map_err(AgentError::Output)?;
            if chunk.eof {
                break;
            }
        }
        sink.flush().map_err(AgentError::Output)
    }

    async fn close(&mut self, ch: &mut Channel) {
        if let Some(handle) = self.handle.take() {
            let _ = ch.execute(&qga::guest_file_close { handle }).await;
        }
    }
}
