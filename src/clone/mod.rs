//! Clones: stand-ins for other teams' services that real clients and real OpenStack
//! services accept (DESIGN §6). Each runs inside an env's supervisor or standalone.

pub mod auth;
pub mod http;
pub mod sdn;

/// Serves `router` on the host port and on the unix socket QEMU hands guests'
/// connections to, until the returned tasks are aborted.
pub fn spawn_serving(
    router: axum::Router,
    tcp: tokio::net::TcpListener,
    unix: tokio::net::UnixListener,
) -> [tokio::task::JoinHandle<()>; 2] {
    let on_unix = router.clone();
    [
        tokio::spawn(async move {
            let _ = axum::serve(tcp, router).await;
        }),
        tokio::spawn(async move {
            let _ = axum::serve(unix, on_unix).await;
        }),
    ]
}

/// Joins stdin and stdout to the unix socket at `path` until either side closes.
/// QEMU runs this once per guest connection to a clone (`guestfwd=...-cmd:`).
pub fn connect(path: &std::path::Path) -> std::io::Result<()> {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
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
