//! Clones: stand-ins for other teams' services that real clients and real OpenStack
//! services accept (DESIGN §6). Each runs inside an env's supervisor or standalone.

pub mod auth;
pub mod http;
pub mod registry;
pub mod sdn;
pub mod section;
pub mod standalone;
pub mod web;

/// 32 random hex characters, like Keystone's uuid4().hex ids.
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the OS has randomness");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A bound, prepared clone: its routes, the listener they are served on, its URL there.
pub struct Running {
    pub listener: tokio::net::TcpListener,
    pub router: axum::Router,
    pub url: String,
}

impl Running {
    /// Serves until the future is dropped.
    pub async fn serve(self) -> std::io::Result<()> {
        axum::serve(self.listener, self.router).await
    }
}

/// The most a clone's request log grows to; later requests are not logged.
/// Each clone's requests, in its state directory ([`with_request_log`]).
pub const REQUEST_LOG: &str = "requests.log";
pub const MAX_REQUEST_LOG: u64 = 64 << 20;

/// `router`, logging each request as a JSON line in `path` (time, method, path, status,
/// milliseconds): what a test run's artifacts show of the clones.
pub fn with_request_log(
    router: axum::Router,
    path: &std::path::Path,
) -> std::io::Result<axum::Router> {
    use std::io::Write as _;
    use std::sync::{Arc, Mutex};
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let log = Arc::new(Mutex::new((file, 0u64)));
    Ok(router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let log = log.clone();
            async move {
                let (method, uri) = (req.method().clone(), req.uri().path().to_string());
                let started = std::time::Instant::now();
                let resp = next.run(req).await;
                let line = serde_json::json!({
                    "at_unix_ms": std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis() as u64)
                        .unwrap_or(0),
                    "method": method.as_str(),
                    "path": uri,
                    "status": resp.status().as_u16(),
                    "ms": started.elapsed().as_millis() as u64,
                })
                .to_string();
                let mut log = log.lock().expect("request log lock");
                if log.1 < MAX_REQUEST_LOG {
                    log.1 += line.len() as u64 + 1;
                    let _ = writeln!(log.0, "{line}");
                }
                resp
            }
        },
    )))
}

/// Serves `router` on the host port and, if the driver delivers guests' connections to
/// one, on that unix socket, until the returned tasks are aborted.
pub fn spawn_serving(
    running: Running,
    unix: Option<tokio::net::UnixListener>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let (tcp, router) = (running.listener, running.router);
    let mut tasks = Vec::new();
    if let Some(unix) = unix {
        let on_unix = router.clone();
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(unix, on_unix).await;
        }));
    }
    tasks.push(tokio::spawn(async move {
        let _ = axum::serve(tcp, router).await;
    }));
    tasks
}

/// How many connections to the clones one node's guest may hold open at once. QEMU
/// starts a process for each (`guestfwd=...-cmd:`), so this bounds what a guest can
/// cost the host: at most this many `vstage __connect` processes per node.
pub const CONNECTIONS_PER_NODE: usize = 32;

/// Takes a free connection slot in `dir` (a lock held until this process exits), or
/// fails when the node's guest holds them all: QEMU then closes the guest's connection.
fn take_slot(dir: &std::path::Path) -> std::io::Result<std::fs::File> {
    for i in 0..CONNECTIONS_PER_NODE {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(i.to_string()))?;
        if file.try_lock().is_ok() {
            return Ok(file);
        }
    }
    Err(std::io::Error::other(format!(
        "the guest already holds {CONNECTIONS_PER_NODE} connections to the clones: refused"
    )))
}

/// Joins stdin and stdout to the unix socket at `path` until either side closes.
/// QEMU runs this once per guest connection to a clone (`guestfwd=...-cmd:`); with
/// `slots`, only while the node has a free connection slot there.
pub fn connect(path: &std::path::Path, slots: Option<&std::path::Path>) -> std::io::Result<()> {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let _slot = slots.map(take_slot).transpose()?;
    let stream = UnixStream::connect(path)?;
    let mut to_socket = stream.try_clone()?;
    let upstream = std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut to_socket);
        let _ = to_socket.shutdown(std::net::Shutdown::Write);
    });
    let mut from_socket = stream;
    let mut out = std::io::stdout().lock();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = from_socket.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
        out.flush()?;
    }
    drop(upstream);
    Ok(())
}
