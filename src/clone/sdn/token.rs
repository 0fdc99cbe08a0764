//! Token checks against the env's identity service (the auth clone, or a real Keystone):
//! a token validates itself (`GET /v3/auth/tokens` with the same token as caller and
//! subject, which Keystone's policy allows), and the answer is cached for a minute, since
//! Nova asks on every server show (contract §3: hundreds of calls per Tempest run).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clone::http;

/// Who made a request: the token's user, project and roles (with the roles they imply,
/// as Keystone puts them in a token), read as oslo.policy reads roles: ignoring case.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub project_id: String,
    /// Holds `admin`: sees and manages every project's resources.
    pub admin: bool,
    /// Holds `member` (or `admin`): changes its project's resources.
    pub member: bool,
    /// Holds `reader` (or a role above it): sees its project's resources.
    pub reader: bool,
}

impl Caller {
    pub fn new(user_id: &str, project_id: &str, roles: impl IntoIterator<Item = String>) -> Caller {
        let roles: Vec<String> = roles.into_iter().map(|r| r.to_ascii_lowercase()).collect();
        let has = |r: &str| roles.iter().any(|x| x == r);
        let admin = has("admin");
        let member = admin || has("member");
        Caller {
            user_id: user_id.to_string(),
            project_id: project_id.to_string(),
            admin,
            member,
            reader: member || has("reader"),
        }
    }
}

/// The caller of a request: the token middleware (`api::authenticate`) put it there.
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = axum::http::StatusCode;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Caller, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(axum::http::StatusCode::UNAUTHORIZED)
    }
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
        let roles = t["roles"].as_array().into_iter().flatten();
        let caller = Caller::new(
            t["user"]["id"].as_str()?,
            t["project"]["id"].as_str().unwrap_or_default(),
            roles.filter_map(|r| r["name"].as_str().map(String::from)),
        );
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() > 10_000 {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        }
        cache.insert(token.to_string(), (caller.clone(), Instant::now()));
        Some(caller)
    }
}
