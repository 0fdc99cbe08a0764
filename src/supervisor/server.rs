//! The supervisor's API server: one task per client on `supervisor.sock`, answering
//! from the state the main task shares (status, the progress history, teardown).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use super::{DownRequest, Shared, SnapshotRequest};
use crate::supervisor::api::{self, Event, Phase, Request};

/// What clients ask of the main task.
#[derive(Clone)]
pub(super) struct Inbox {
    pub down: mpsc::Sender<DownRequest>,
    pub repair: mpsc::Sender<()>,
    pub snapshot: mpsc::Sender<SnapshotRequest>,
}

pub(super) async fn accept(listener: UnixListener, shared: Arc<Shared>, inbox: Inbox) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(handle(stream, shared.clone(), inbox.clone()));
            }
            // Out of file descriptors, mostly: retrying at once would spin a core.
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn handle(stream: UnixStream, shared: Arc<Shared>, inbox: Inbox) {
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::new(r);
    let Some(request) = api::read_request(&mut reader).await else {
        return;
    };
    let mut send = async |event: &Event| -> bool {
        let mut text = serde_json::to_string(event).expect("events serialise");
        text.push('\n');
        w.write_all(text.as_bytes()).await.is_ok()
    };
    match request {
        Request::Status => {
            let status = shared.status.lock().expect("status lock").clone();
            send(&Event::Status(status)).await;
        }
        Request::Watch => {
            // Subscribe under the history lock so no event falls between replay and live.
            let (past, mut live) = {
                let history = shared.history.lock().expect("history lock");
                (history.clone(), shared.events.subscribe())
            };
            for event in &past {
                if !send(event).await {
                    return;
                }
                if is_final(event) {
                    return;
                }
            }
            while let Ok(event) = live.recv().await {
                if !send(&event).await || is_final(&event) {
                    return;
                }
            }
        }
        Request::Extend { secs } => {
            let status = {
                let mut status = shared.status.lock().expect("status lock");
                let from = status
                    .expires_unix
                    .unwrap_or(0)
                    .max(crate::envdir::now_unix());
                status.expires_unix = Some(from.saturating_add(secs));
                status.clone()
            };
            shared.progress(format!(
                "TTL extended by {secs}s: the env ends at {} (unix)",
                status.expires_unix.unwrap_or_default()
            ));
            send(&Event::Status(status)).await;
        }
        Request::Repair => {
            let mut live = shared.events.subscribe();
            if inbox.repair.send(()).await.is_err() {
                return;
            }
            while let Ok(event) = live.recv().await {
                if !send(&event).await || is_final(&event) {
                    return;
                }
            }
        }
        Request::Release => {
            shared.release();
            let status = shared.status.lock().expect("status lock").clone();
            send(&Event::Status(status)).await;
        }
        Request::Keep { secs } => {
            shared.keep(secs);
            shared.progress(match secs {
                Some(s) => format!("kept for debugging: the env ends in {s}s"),
                None => "kept for debugging: the env stays until `vstage down` (or its TTL)".into(),
            });
            let status = shared.status.lock().expect("status lock").clone();
            send(&Event::Status(status)).await;
        }
        Request::Snapshot { stop } => {
            let phase = shared.status.lock().expect("status lock").phase.clone();
            if phase != Phase::Ready {
                let error =
                    format!("the env is {phase:?}, not ready: a snapshot needs every node running")
                        .to_lowercase();
                send(&Event::Failed { error }).await;
                return;
            }
            let (done_tx, done_rx) = oneshot::channel();
            if inbox.snapshot.send((stop, done_tx)).await.is_err() {
                return;
            }
            let saved = tokio::select! {
                saved = done_rx => saved,
                // The client is gone: dropping `done_rx` tells the main task to discard
                // what it saves, so nobody is left holding half a snapshot.
                () = closed(&mut reader) => return,
            };
            let partial = match saved {
                Ok(Ok(saved)) => {
                    let partial = saved.partial.clone();
                    send(&Event::Saved(saved)).await;
                    partial
                }
                Ok(Err(error)) => {
                    let error = error.to_string();
                    send(&Event::Failed { error }).await;
                    return;
                }
                Err(_) => {
                    let error = "the env ended during the snapshot".into();
                    send(&Event::Failed { error }).await;
                    return;
                }
            };
            // The client holds the connection until it has moved the save into the
            // store; if it closes and the save is still here, it died first.
            closed(&mut reader).await;
            if shared.dir.join(&partial).exists() {
                shared.progress("snapshot: its client left it uncommitted, discarding it");
                super::snapshot::discard(&shared.dir, &partial);
            }
        }
        Request::Down { force } => {
            let (done_tx, done_rx) = oneshot::channel();
            if inbox.down.send((force, done_tx)).await.is_ok() {
                let _ = done_rx.await;
            }
            send(&Event::Down).await;
        }
    }
}

/// Resolves when the client has closed its end.
async fn closed(reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>) {
    loop {
        match reader.fill_buf().await {
            Ok([]) | Err(_) => return,
            Ok(bytes) => {
                let n = bytes.len();
                reader.consume(n);
            }
        }
    }
}

fn is_final(event: &Event) -> bool {
    matches!(event, Event::Ready | Event::Failed { .. } | Event::Down)
}
