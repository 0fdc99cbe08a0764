//! A plain HTTP/1.1 client, just enough for clones to call their peers (the identity
//! service, Nova's external events) on loopback or inside the env.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest answer read: a token with a full catalog is a few KiB.
pub const MAX_RESPONSE_BYTES: u64 = 4 << 20;

/// A header's value from a response's header block (names compare case-insensitively).
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// Sends one request to `base` + `path`; returns (status, header block, body).
pub async fn request(
    method: &str,
    base: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String, Vec<u8>)> {
    let authority = base
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other(format!("{base}: only http:// URLs are served")))?;
    let (host, prefix) = authority
        .split_once('/')
        .map(|(h, p)| (h, format!("/{}", p.trim_end_matches('/'))))
        .unwrap_or((authority, String::new()));
    let mut stream =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(host))
            .await
            .map_err(|_| std::io::Error::other(format!("{host}: connect timed out")))??;
    let mut req = format!(
        "{method} {prefix}{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await?;
    let mut resp = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        (&mut stream)
            .take(MAX_RESPONSE_BYTES + 1)
            .read_to_end(&mut resp),
    )
    .await
    .map_err(|_| std::io::Error::other(format!("{host}: no answer")))??;
    if resp.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(std::io::Error::other(format!(
            "{host}: answer larger than {} MiB",
            MAX_RESPONSE_BYTES >> 20
        )));
    }
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("{host}: malformed answer")))?;
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, head, resp[split + 4..].to_vec()))
}
