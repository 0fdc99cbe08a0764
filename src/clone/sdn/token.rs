//! Token checks against the env's identity service (the auth clone, or a real Keystone):
//! a token validates itself (`GET /v3/auth/tokens` with the same token as caller and
//! subject, which Keystone's policy allows), and the answer is cached for a minute, since
//! Nova asks on every server show (contract §3: hundreds of calls per Tempest run).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clone::http;

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
        let (status, _, body) = http::request(
            "GET",
            &self.auth_url,
            "/v3/auth/tokens?nocatalog",
            &headers,
            "",
        )
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
