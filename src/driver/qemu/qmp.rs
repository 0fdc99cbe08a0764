//! A QMP / guest-agent transport of our own over the `qapi` crate's command types.
//!
//! qapi's own client drops the connection on an event its schema (QEMU 9.1) does not
//! know; QEMU 7.2 sends such events. Here events are kept as raw JSON, replies are
//! matched by `id`, and anything unparseable is skipped (DESIGN §5).

use std::path::Path;

use qapi::Command;
use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::bounded::{self, LineError};

#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    #[error("cannot connect to {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("the peer closed the connection")]
    Eof,
    #[error("the peer sent {0}")]
    TooLong(String),
    #[error("{command}: {class}: {desc}")]
    Command {
        command: &'static str,
        class: String,
        desc: String,
    },
    #[error("{command}: unexpected reply: {detail}")]
    Reply {
        command: &'static str,
        detail: String,
    },
}

/// One connection to a QMP monitor or a guest agent.
pub struct Channel {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// The longest line this peer may send.
    max_line: usize,
    next_id: u64,
    /// Events received so far, raw.
    pub events: Vec<Value>,
}

impl Channel {
    async fn open(path: &Path, max_line: usize) -> Result<Channel, QmpError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| QmpError::Connect {
                path: path.display().to_string(),
                source,
            })?;
        let (r, w) = stream.into_split();
        Ok(Channel {
            reader: BufReader::new(r),
            writer: w,
            max_line,
            next_id: 1,
            events: Vec::new(),
        })
    }

    /// Connects to a QMP monitor: reads the greeting and leaves capabilities negotiation.
    pub async fn qmp(path: &Path) -> Result<Channel, QmpError> {
        let mut ch = Channel::open(path, bounded::QMP_LINE).await?;
        loop {
            let msg = ch.read().await?;
            if msg.get("QMP").is_some() {
                break;
            }
        }
        ch.execute(&qapi::qmp::qmp_capabilities { enable: None })
            .await?;
        Ok(ch)
    }

    /// Connects to a guest agent and flushes whatever an earlier client left behind
    /// with `guest-sync` and a fresh token. Waits until the agent in the guest answers.
    pub async fn agent(path: &Path) -> Result<Channel, QmpError> {
        let mut ch = Channel::open(path, bounded::AGENT_LINE).await?;
        let token = (std::process::id() as i64) << 20 | (nanos() & 0xfffff);
        let got = ch.execute(&qapi::qga::guest_sync { id: token }).await?;
        if got != token {
            return Err(QmpError::Reply {
                command: "guest-sync",
                detail: format!("token {got}, sent {token}"),
            });
        }
        Ok(ch)
    }

    async fn read(&mut self) -> Result<Value, QmpError> {
        let mut line = Vec::new();
        loop {
            let n = match bounded::read_line(&mut self.reader, &mut line, self.max_line).await {
                Ok(n) => n,
                // QEMU resets the socket as it exits after `quit`: that is an end, not a fault.
                Err(LineError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
                Err(LineError::Io(e)) => return Err(e.into()),
                Err(e @ LineError::TooLong(_)) => return Err(QmpError::TooLong(e.to_string())),
            };
            if n == 0 {
                return Err(QmpError::Eof);
            }
            // Agents can prefix replies with 0xff or leftovers (not always UTF-8):
            // parse from the first '{'.
            let Some(start) = line.iter().position(|b| *b == b'{') else {
                continue;
            };
            if let Ok(v) = serde_json::from_slice::<Value>(&line[start..]) {
                return Ok(v);
            }
        }
    }

    /// Runs one command and returns its typed result; events seen meanwhile are kept.
    pub async fn execute<C: Command>(&mut self, cmd: &C) -> Result<C::Ok, QmpError> {
        let arguments = serde_json::to_value(cmd).map_err(|e| QmpError::Reply {
            command: C::NAME,
            detail: e.to_string(),
        })?;
        let ret = self.execute_raw(C::NAME, arguments).await?;
        serde_json::from_value(ret).map_err(|e| QmpError::Reply {
            command: C::NAME,
            detail: e.to_string(),
        })
    }

    /// Runs a command given as JSON: for arguments whose QEMU 7.2 shape the `qapi`
    /// crate's (9.1) types do not express, such as `netdev_add` of a `dgram` backend.
    pub async fn execute_raw(
        &mut self,
        command: &'static str,
        arguments: Value,
    ) -> Result<Value, QmpError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut request = json!({ "execute": command, "id": id });
        if arguments.as_object().is_some_and(|o| !o.is_empty()) {
            request["arguments"] = arguments;
        }
        let mut text = request.to_string();
        text.push('\n');
        self.writer.write_all(text.as_bytes()).await?;
        loop {
            let msg = self.read().await?;
            if msg.get("event").is_some() {
                self.events.push(msg);
                continue;
            }
            if msg.get("id").and_then(Value::as_u64) != Some(id) {
                continue; // a reply to a request of an earlier client
            }
            if let Some(err) = msg.get("error") {
                return Err(QmpError::Command {
                    command,
                    class: err["class"].as_str().unwrap_or("?").to_string(),
                    desc: err["desc"].as_str().unwrap_or("?").to_string(),
                });
            }
            let ret = msg.get("return").cloned().unwrap_or(Value::Null);
            return Ok(if ret.is_null() { json!({}) } else { ret });
        }
    }
}

fn nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as i64)
        .unwrap_or(0)
}
