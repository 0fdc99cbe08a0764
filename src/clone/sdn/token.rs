//! Token checks against the env's identity service (the auth clone, or a real Keystone):
//! a token validates itself (`GET /v3/auth/tokens` with the same token as caller and
//! subject, which Keystone's policy allows), and the answer is cached for a minute, since
//! Nova asks on every server show (contract §3: hundreds of calls per Tempest run).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Who made a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub project_id: String,
    /// Holds the `admin` role: sees and manages every project's resources.
    pub admin: bool,
}

const CACHE_TTL: Duration = Duration::from_secs(60);

pub struct Validator {
    /// The identity service's base URL (`http://HOST:PORT`, no `/v3`).
    auth_url: String,
    cache: Mutex<HashMap<String, (Caller, Instant)>>,
}

impl Validator {
    pub fn new(auth_url: &str) -> Validator {
        Validator {
            auth_url: auth_url
                .trim_end_matches('/')
                .trim_end_matches("/v3")
                .to_string(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub async fn validate(&self, token: &str) -> Option<Caller> {
        if let Some((caller, at)) = self.cache.lock().expect("cache lock").get(token)
            && at.elapsed() < CACHE_TTL
        {
            return Some(caller.clone());
        }
        let headers = [("X-Auth-Token", token), ("X-Subject-Token", token)];
        let (status, body) = get(&self.auth_url, "/v3/auth/tokens?nocatalog", &headers)
            .await
            .ok()?;
        if status != 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
        let t = &v["token"];
        let caller = Caller {
            user_id: t["user"]["id"].as_str()?.to_string(),
            project_id: t["project"]["id"].as_str().unwrap_or_default().to_string(),
            admin: t["roles"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["name"] == "admin")),
        };
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() > 10_000 {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        }
        cache.insert(token.to_string(), (caller.clone(), Instant::now()));
        Some(caller)
    }
}

/// A plain HTTP/1.1 GET (the identity service is on loopback or in the env).
async fn get(base: &str, path: &str, headers: &[(&str, &str)]) -> std::io::Result<(u16, Vec<u8>)> {
    let authority = base.strip_prefix("http://").ok_or_else(|| {
        std::io::Error::other(format!("{base}: only http:// identity URLs are served"))
    })?;
    let (host, prefix) = authority
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((authority, String::new()));
    let mut stream =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(host))
            .await
            .map_err(|_| std::io::Error::other("identity service: connect timed out"))??;
    let mut req = format!(
        "GET {prefix}{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut resp = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut resp))
        .await
        .map_err(|_| std::io::Error::other("identity service: no answer"))??;
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("identity service: malformed answer"))?;
    let head = String::from_utf8_lossy(&resp[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, resp[split + 4..].to_vec()))
}
