//! The supervisor's local API: JSON lines over `supervisor.sock` in the env dir.
//!
//! A client sends one request line; the supervisor answers with one or more event
//! lines. `watch` replays the env's progress from the start, so a CLI that connects
//! late (or again) sees the whole story.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::bounded::{self, LineError};
use crate::driver::NodeState;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Progress events until the env is ready or has failed.
    Watch,
    Status,
    /// Tear the env down; `force` skips the graceful guest shutdown.
    Down {
        force: bool,
    },
    /// Move the env's end `secs` later (from now, if it has none or it is past).
    Extend {
        secs: u64,
    },
    /// Start the nodes that are down again; events until the env is ready or the
    /// repair has failed.
    Repair,
    /// The owner lets go: the env is its user's now (`vstage up`, once it has seen the
    /// env ready; killed before that, it takes the half-made env with it).
    Release,
    /// Keep the env after its owner (`vstage run`) ends: for `secs` from now, or, with
    /// none, until its TTL (if it has one) or `down`.
    Keep {
        secs: Option<u64>,
    },
    /// Pause every node, save the env into `snapshot.partial` in its dir, and let it
    /// run on (or stop its nodes, with `stop`); answered with `saved` or `failed`.
    Snapshot {
        stop: bool,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    Progress {
        message: String,
    },
    Ready,
    Failed {
        error: String,
    },
    Status(Status),
    /// What a snapshot saved (`Request::Snapshot`).
    Saved(crate::snapshot::Saved),
    /// Teardown finished; the supervisor exits after sending this.
    Down,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Starting,
    Ready,
    /// Was ready, but a node has stopped since (its process exited or was killed).
    Degraded,
    Failed,
    Stopping,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub phase: Phase,
    pub supervisor_pid: u32,
    pub nodes: Vec<NodeStatus>,
    pub error: Option<String>,
    /// When the supervisor tears the env down by itself, if ever.
    #[serde(default)]
    pub expires_unix: Option<u64>,
    /// The process the env ends with, while it has one (`vstage run`, or `vstage up`
    /// until it has seen the env ready).
    #[serde(default)]
    pub owner_pid: Option<i32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeStatus {
    pub name: String,
    #[serde(flatten)]
    pub state: NodeState,
    pub pid: Option<i32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the env's supervisor is not answering ({0})")]
    Unreachable(std::io::Error),
    #[error("the supervisor closed the connection")]
    Closed,
    #[error("the supervisor sent something unreadable: {0}")]
    Garbled(serde_json::Error),
}

/// A connection that has sent its request and reads the events that answer it.
pub struct Reply {
    reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    line: Vec<u8>,
    _writer: tokio::net::unix::OwnedWriteHalf,
}

impl Reply {
    pub async fn next(&mut self) -> Result<Event, ApiError> {
        match bounded::read_line(&mut self.reader, &mut self.line, bounded::API_EVENT).await {
            Ok(0) => Err(ApiError::Closed),
            Ok(_) => serde_json::from_slice(&self.line).map_err(ApiError::Garbled),
            Err(LineError::Io(e)) => Err(ApiError::Unreachable(e)),
            Err(e) => Err(ApiError::Unreachable(std::io::Error::other(e))),
        }
    }
}

/// Reads a client's request line: bounded in size, and in time so that idle
/// connections cannot pile up in the supervisor.
pub async fn read_request<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> Option<Request> {
    let mut line = Vec::new();
    let read = bounded::read_line(reader, &mut line, bounded::API_REQUEST);
    match tokio::time::timeout(REQUEST_WAIT, read).await {
        Ok(Ok(n)) if n > 0 => serde_json::from_slice(&line).ok(),
        _ => None,
    }
}

/// How long a client may take to send its request after connecting.
const REQUEST_WAIT: Duration = Duration::from_secs(10);

pub async fn send(socket: &Path, request: &Request) -> Result<Reply, ApiError> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(ApiError::Unreachable)?;
    let (r, mut w) = stream.into_split();
    let mut line = serde_json::to_string(request).expect("requests serialise");
    line.push('\n');
    w.write_all(line.as_bytes())
        .await
        .map_err(ApiError::Unreachable)?;
    Ok(Reply {
        reader: BufReader::new(r),
        line: Vec::new(),
        _writer: w,
    })
}

/// The env's status, or an error if its supervisor does not answer within `bound`.
pub async fn status(socket: &Path, bound: Duration) -> Result<Status, ApiError> {
    let ask = async {
        let mut reply = send(socket, &Request::Status).await?;
        match reply.next().await? {
            Event::Status(s) => Ok(s),
            _ => Err(ApiError::Closed),
        }
    };
    tokio::time::timeout(bound, ask)
        .await
        .unwrap_or_else(|_| Err(ApiError::Unreachable(std::io::ErrorKind::TimedOut.into())))
}
