//! The auth clone's HTTP API: Keystone v3 as `shared/docs/clone-contracts.md` §2
//! measured real clients using it.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::app_credentials::AppCredentialRef;
use super::config::Config;
use super::model::{
    Actor, AuthError, Domain, DomainRef, EXPIRED_GRACE_MICROS, Group, Role, Scope, ScopeRef, State,
    Target, Token, User, UserRef,
};
use super::policy::{Op, Policy, of};
use super::store::Store;

mod app_credentials;
mod catalog;
mod credentials;
mod domain_config;
mod domain_projects;
mod grants;
mod implied_roles;
mod password;
mod records;
mod resources;
mod tags;
mod trusts;

use resources::{create, delete, list, show, update};

pub struct Service {
    state: Mutex<State>,
    store: Mutex<Store>,
    /// Base URL clients reach the clone at (links and the identity endpoint).
    pub public_url: String,
    pub config: Config,
}

type Shared = Arc<Service>;
type Reply = Result<Response, ApiError>;

/// An error on its way out. Its `WWW-Authenticate` names the URL the request reached
/// the clone at ([`BASE`]: responses are made inside the request's scope).
pub struct ApiError(AuthError);

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        ApiError(e)
    }
}

/// Keystone's not-found for `kind` `id`.
fn missing(kind: &'static str, id: &str) -> ApiError {
    ApiError(AuthError::NotFound {
        kind,
        id: id.to_string(),
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError(e) = self;
        let base = BASE.try_with(|b| b.clone()).unwrap_or_default();
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body =
            json!({"error": {"code": e.status(), "message": e.to_string(), "title": e.title()}});
        let mut resp = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED
            && let Ok(v) = HeaderValue::from_str(&format!("Keystone uri=\"{base}\""))
        {
            resp.headers_mut().insert("WWW-Authenticate", v);
        }
        resp
    }
}

/// A request's JSON body. What is not JSON, or not declared `application/json`, gets
/// Keystone's JSON 400 (axum's own extractor answers in plain text, 415 or 422).
pub struct Body(pub Value);

const NOT_JSON: &str = "the server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.";

impl axum::extract::FromRequest<Shared> for Body {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, s: &Shared) -> Result<Body, ApiError> {
        use axum::extract::rejection::JsonRejection;
        match axum::Json::<Value>::from_request(req, s).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::from(bad(format!(
                "Expecting to find application/json in Content-Type header - {NOT_JSON}"
            )))),
            Err(e) => Err(ApiError::from(bad(format!(
                "{} - {NOT_JSON}",
                e.body_text()
            )))),
        }
    }
}

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// An ISO 8601 time in UTC ("2026-12-03T10:00:00", optionally with fractions and `Z`
/// or `+00:00`), as microseconds since the epoch.
fn parse_expires_at(text: &str) -> Result<u64, AuthError> {
    let utc = text.strip_suffix("+00:00").unwrap_or(text);
    humantime::parse_rfc3339_weak(utc)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_micros() as u64)
        .ok_or_else(|| {
            bad(format!(
                "Invalid input for field 'expires_at': '{text}' is not a UTC time"
            ))
        })
}

/// Keystone's timestamp format: `2026-11-22T05:00:00.000000Z`.
pub fn timestamp(micros: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(micros);
    humantime::format_rfc3339_micros(t).to_string()
}

tokio::task_local! {
    /// The URL this request reached the clone at (from its Host header), so links and
    /// the identity endpoint point where the caller can reach: the host sees
    /// 127.0.0.1:PORT, a guest sees auth:5000 (identical inside every env).
    static BASE: String;
}

/// Middleware: runs the request with [`BASE`] set from its Host header.
async fn with_base(
    AxState(s): AxState<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let base = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .map(|h| format!("http://{h}"))
        .unwrap_or_else(|| s.public_url.clone());
    BASE.scope(base, next.run(req)).await
}

impl Service {
    /// The base URL of the current request (the configured one outside a request).
    pub fn base(&self) -> String {
        BASE.try_with(|b| b.clone())
            .unwrap_or_else(|_| self.public_url.clone())
    }

    pub fn new(state: State, store: Store, public_url: String, config: Config) -> Service {
        Service {
            state: Mutex::new(state),
            store: Mutex::new(store),
            public_url,
            config,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("auth state lock")
    }

    /// Persists entities after a change (tokens are appended separately).
    fn save(&self, st: &State) {
        if let Err(e) = self.store.lock().expect("store lock").save(st) {
            eprintln!("auth clone: saving state: {e}");
        }
    }

    fn caller(&self, st: &State, headers: &HeaderMap) -> Result<Token, ApiError> {
        let id = header(headers, "x-auth-token")
            .ok_or_else(|| ApiError::from(AuthError::Unauthorized))?;
        st.valid_token(id, now_micros(), false)
            .cloned()
            .ok_or_else(|| ApiError::from(AuthError::Unauthorized))
    }

    /// The caller, if `policy` lets it do `op` (`own`: whether the target is its own).
    fn authorize(
        &self,
        st: &State,
        headers: &HeaderMap,
        policy: &Policy,
        op: Op,
        own: impl FnOnce(&Token) -> bool,
    ) -> Result<Token, ApiError> {
        let t = self.caller(st, headers)?;
        policy.check(st, &t, op, || own(&t))?;
        Ok(t)
    }

    fn link(&self, path: &str) -> Value {
        json!({"self": format!("{}/v3/{path}", self.base())})
    }

    fn list_links(&self, path: &str) -> Value {
        json!({"self": format!("{}/v3/{path}", self.base()), "previous": null, "next": null})
    }

    // ---- rendering ---------------------------------------------------------

    fn domain_json(&self, d: &super::model::Domain) -> Value {
        json!({"id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
               "tags": [], "options": {}, "links": self.link(&format!("domains/{}", d.id))})
    }

    fn project_json(&self, p: &super::model::Project) -> Value {
        json!({"id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description,
               "enabled": p.enabled, "parent_id": p.parent_id.as_ref().unwrap_or(&p.domain_id),
               "is_domain": false, "tags": p.tags,
               "options": {}, "links": self.link(&format!("projects/{}", p.id))})
    }

    fn user_json(&self, u: &super::model::User) -> Value {
        let mut v = json!({"id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
                           "password_expires_at": null, "options": {},
                           "links": self.link(&format!("users/{}", u.id))});
        if let Some(p) = &u.default_project_id {
            v["default_project_id"] = json!(p);
        }
        for (k, x) in &u.extra {
            v[k] = x.clone();
        }
        v
    }

    fn group_json(&self, g: &super::model::Group) -> Value {
        json!({"id": g.id, "name": g.name, "domain_id": g.domain_id, "description": g.description,
               "links": self.link(&format!("groups/{}", g.id))})
    }

    fn role_json(&self, r: &Role) -> Value {
        json!({"id": r.id, "name": r.name, "domain_id": r.domain_id, "description": r.description,
               "options": {}, "links": self.link(&format!("roles/{}", r.id))})
    }

    fn token_json(&self, st: &State, t: &Token, with_catalog: bool) -> Value {
        let user = st.users.get(&t.user_id);
        let domain_of = |id: &str| {
            let name = st
                .domains
                .get(id)
                .map(|d| d.name.clone())
                .unwrap_or_default();
            json!({"id": id, "name": name})
        };
        let mut body = json!({
            "methods": t.methods,
            "expires_at": timestamp(t.expires_at),
            "issued_at": timestamp(t.issued_at),
            "audit_ids": [t.audit_id],
            "user": {
                "id": t.user_id,
                "name": user.map(|u| u.name.clone()).unwrap_or_default(),
                "domain": domain_of(user.map(|u| u.domain_id.as_str()).unwrap_or("default")),
                "password_expires_at": null,
            },
        });
        match &t.scope {
            Scope::Unscoped => return json!({"token": body}),
            Scope::Project(id) => {
                let p = st.projects.get(id);
                body["project"] = json!({
                    "id": id,
                    "name": p.map(|p| p.name.clone()).unwrap_or_default(),
                    "domain": domain_of(p.map(|p| p.domain_id.as_str()).unwrap_or("default")),
                });
                body["is_domain"] = json!(false);
                body["is_admin_project"] = json!(p.is_some_and(|p| p.name == "admin"));
            }
            Scope::Domain(id) => body["domain"] = domain_of(id),
            Scope::System => body["system"] = json!({"all": true}),
        }
        let roles: Vec<Value> = st
            .token_roles(t)
            .iter()
            .map(|r| json!({"id": r.id, "name": r.name}))
            .collect();
        body["roles"] = Value::Array(roles);
        if let Some(c) = t
            .app_credential
            .as_ref()
            .and_then(|c| st.app_credentials.get(c))
        {
            body["application_credential"] =
                json!({"id": c.id, "name": c.name, "restricted": !c.unrestricted});
        }
        if let Some(tr) = t.trust.as_ref().and_then(|id| st.trusts.get(id)) {
            body["OS-TRUST:trust"] = json!({
                "id": tr.id, "impersonation": tr.impersonation,
                "trustor_user": {"id": tr.trustor_user_id},
                "trustee_user": {"id": tr.trustee_user_id},
            });
        }
        if with_catalog {
            body["catalog"] = self.catalog(st);
        }
        json!({"token": body})
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
}

/// A change `policy` allows for `op` (on nothing of the caller's own): `change` runs on
/// the locked state, which is saved when it succeeds; it answers with a status and
/// body, or nothing (204).
pub(super) fn authorized_change(
    s: &Service,
    headers: &HeaderMap,
    policy: &Policy,
    op: Op,
    change: impl FnOnce(&mut State) -> Result<Option<(StatusCode, Value)>, ApiError>,
) -> Reply {
    let mut st = s.lock();
    s.authorize(&st, headers, policy, op, |_| false)?;
    let answer = change(&mut st)?;
    s.save(&st);
    Ok(match answer {
        Some((status, body)) => json_response(status, body),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn bad(msg: impl Into<String>) -> AuthError {
    AuthError::BadRequest(msg.into())
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn domain_ref(v: Option<&Value>) -> Result<DomainRef, AuthError> {
    let v = v.ok_or_else(|| bad("a name needs a domain (id or name)"))?;
    if let Some(id) = v.get("id").and_then(Value::as_str) {
        return Ok(DomainRef::Id(id.into()));
    }
    if let Some(name) = v.get("name").and_then(Value::as_str) {
        return Ok(DomainRef::Name(name.into()));
    }
    Err(bad("a domain needs an id or a name"))
}

fn truthy(q: &std::collections::HashMap<String, String>, key: &str) -> bool {
    q.get(key)
        .is_some_and(|v| !matches!(v.as_str(), "0" | "false" | "False"))
}

// ---- handlers ----------------------------------------------------------------

fn version_json(base: &str) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{base}/v3/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

async fn versions(AxState(s): AxState<Shared>) -> Response {
    json_response(
        StatusCode::MULTIPLE_CHOICES,
        json!({"versions": {"values": [version_json(&s.base())]}}),
    )
}

async fn version(AxState(s): AxState<Shared>) -> Response {
    json_response(StatusCode::OK, json!({"version": version_json(&s.base())}))
}

async fn issue_token(
    AxState(s): AxState<Shared>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    Body(req): Body,
) -> Reply {
    let auth = req
        .get("auth")
        .ok_or_else(|| ApiError::from(bad("expected {\"auth\": ...}")))?;
    let identity = auth
        .get("identity")
        .ok_or_else(|| ApiError::from(bad("auth needs identity")))?;
    let methods: Vec<String> = identity
        .get("methods")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    // A password is checked before the state is locked for the token: bcrypt takes its
    // time by design, and other requests must not wait for it.
    // An application credential's secret is a password too, and checked the same way.
    let app_login = if methods.iter().any(|m| m == "application_credential") {
        let c = identity.get("application_credential").ok_or_else(|| {
            ApiError::from(bad("application_credential needs id or name, and secret"))
        })?;
        let secret = c
            .get("secret")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let which = match (str_at(c, &["id"]), str_at(c, &["name"])) {
            (Some(id), _) => AppCredentialRef::Id(id.into()),
            (None, Some(name)) => {
                let u = c.get("user").ok_or_else(|| {
                    ApiError::from(bad("an application credential's name needs its user"))
                })?;
                let user = match (str_at(u, &["id"]), str_at(u, &["name"])) {
                    (Some(id), _) => UserRef::Id(id.into()),
                    (None, Some(name)) => UserRef::Name {
                        name: name.into(),
                        domain: domain_ref(u.get("domain"))?,
                    },
                    _ => return Err(ApiError::from(bad("user needs an id or a name"))),
                };
                AppCredentialRef::Name {
                    name: name.into(),
                    user,
                }
            }
            _ => {
                return Err(ApiError::from(bad(
                    "application_credential needs an id or a name",
                )));
            }
        };
        let cred = s.lock().app_credential_login(&which, now_micros())?;
        let stored = cred.secret_hash.clone();
        let matches =
            tokio::task::spawn_blocking(move || super::tokens::password_matches(&stored, &secret))
                .await
                .unwrap_or(false);
        if !matches {
            return Err(ApiError::from(AuthError::Unauthorized));
        }
        Some(cred)
    } else {
        None
    };
    let password_login = if app_login.is_some() {
        None
    } else if methods.iter().any(|m| m == "password") {
        let u = identity
            .pointer("/password/user")
            .ok_or_else(|| ApiError::from(bad("password needs user")))?;
        let password = u.get("password").and_then(Value::as_str).unwrap_or("");
        let user = match (str_at(u, &["id"]), str_at(u, &["name"])) {
            (Some(id), _) => UserRef::Id(id.into()),
            (None, Some(name)) => UserRef::Name {
                name: name.into(),
                domain: domain_ref(u.get("domain"))?,
            },
            _ => return Err(ApiError::from(bad("user needs an id or a name"))),
        };
        let (id, hash) = s.lock().login_hash(&user)?;
        let (given, stored) = (password.to_string(), hash.clone());
        let matches =
            tokio::task::spawn_blocking(move || super::tokens::password_matches(&stored, &given))
                .await
                .unwrap_or(false);
        if !matches {
            return Err(ApiError::from(AuthError::Unauthorized));
        }
        Some((id, hash))
    } else {
        None
    };
    let now = now_micros();
    let mut st = s.lock();
    if let Some(cred) = app_login {
        // Scoped to its project, always: Keystone refuses a scope in the request.
        if auth.get("scope").is_some() {
            return Err(ApiError::from(AuthError::Unauthorized));
        }
        // Still there (not deleted meanwhile) now that the state is locked.
        if !st.app_credentials.contains_key(&cred.id) {
            return Err(ApiError::from(AuthError::Unauthorized));
        }
        let lifetime = now + s.config.token_ttl * 1_000_000;
        let expires_at = cred.expires_at.map_or(lifetime, |e| e.min(lifetime));
        let mut token = st.issue(
            &cred.user_id,
            Scope::Project(cred.project_id.clone()),
            vec!["application_credential".to_string()],
            now,
            expires_at,
        );
        token.app_credential = Some(cred.id.clone());
        st.tokens.insert(token.id.clone(), token.clone());
        return s.issued(st, &token, !q.contains_key("nocatalog"));
    }
    // Who: a password, or an existing token (rescoping keeps its expiry and methods).
    let (user_id, mut all_methods, expires_at) = if let Some((id, hash)) = password_login {
        // Still the same password, and still allowed to log in, now that it is locked.
        match st.login_hash(&UserRef::Id(id.clone())) {
            Ok((_, now_hash)) if now_hash == hash => {}
            _ => return Err(ApiError::from(AuthError::Unauthorized)),
        }
        (
            id,
            vec!["password".to_string()],
            now + s.config.token_ttl * 1_000_000,
        )
    } else if methods.iter().any(|m| m == "token") {
        let id = str_at(identity, &["token", "id"])
            .ok_or_else(|| ApiError::from(bad("token needs id")))?;
        let t = st
            .valid_token(id, now, false)
            .ok_or_else(|| ApiError::from(AuthError::Unauthorized))?;
        (t.user_id.clone(), t.methods.clone(), t.expires_at)
    } else {
        return Err(ApiError::from(bad(
            "supported methods: password, token, application_credential",
        )));
    };
    for m in &methods {
        if !all_methods.contains(m) {
            all_methods.push(m.clone());
        }
    }
    if let Some(trust) = auth
        .get("scope")
        .and_then(|sc| str_at(sc, &["OS-TRUST:trust", "id"]))
    {
        // The trustee logs in with the trust: a token of its project, with its roles.
        let (who, project) = st.use_trust(trust, &user_id, now)?;
        let ends = st.trusts.get(trust).and_then(|t| t.expires_at);
        let scope = project.map_or(Scope::Unscoped, Scope::Project);
        let expires_at = ends.map_or(expires_at, |e| e.min(expires_at));
        let mut token = st.issue(&who, scope, all_methods, now, expires_at);
        token.trust = Some(trust.to_string());
        st.tokens.insert(token.id.clone(), token.clone());
        s.save(&st);
        return s.issued(st, &token, !q.contains_key("nocatalog"));
    }
    let scope = requested_scope(&st, &user_id, auth.get("scope"))?;
    let scope = st.resolve_scope(&user_id, &scope)?;
    let token = st.issue(&user_id, scope, all_methods, now, expires_at);
    s.issued(st, &token, !q.contains_key("nocatalog"))
}

impl Service {
    /// The answer to a token request that issued `token`: recorded, with its body.
    fn issued(
        &self,
        mut st: std::sync::MutexGuard<'_, State>,
        token: &Token,
        with_catalog: bool,
    ) -> Reply {
        // Bound memory: drop long-expired tokens now and then (cheap, amortised).
        if st.tokens.len().is_multiple_of(4096) {
            st.purge_tokens(token.issued_at, EXPIRED_GRACE_MICROS);
        }
        let body = self.token_json(&st, token, with_catalog);
        drop(st);
        if let Err(e) = self.store.lock().expect("store lock").issued(token) {
            eprintln!("auth clone: recording a token: {e}");
        }
        let mut resp = json_response(StatusCode::CREATED, body);
        resp.headers_mut().insert(
            "X-Subject-Token",
            HeaderValue::from_str(&token.id).expect("hex token"),
        );
        Ok(resp)
    }
}

/// The scope a token request asks for: its `scope`, or else the user's default project
/// when the user has a role there (as Keystone does), or else none.
fn requested_scope(
    st: &State,
    user_id: &str,
    scope: Option<&Value>,
) -> Result<ScopeRef, AuthError> {
    Ok(match scope {
        None => match st
            .users
            .get(user_id)
            .and_then(|u| u.default_project_id.clone())
        {
            Some(p)
                if st
                    .resolve_scope(user_id, &ScopeRef::ProjectId(p.clone()))
                    .is_ok() =>
            {
                ScopeRef::ProjectId(p)
            }
            _ => ScopeRef::Unscoped,
        },
        Some(Value::String(u)) if u == "unscoped" => ScopeRef::Unscoped,
        Some(scope) => {
            if let Some(p) = scope.get("project") {
                match (str_at(p, &["id"]), str_at(p, &["name"])) {
                    (Some(id), _) => ScopeRef::ProjectId(id.into()),
                    (None, Some(name)) => ScopeRef::ProjectName {
                        name: name.into(),
                        domain: domain_ref(p.get("domain"))?,
                    },
                    _ => return Err(bad("project scope needs an id or a name")),
                }
            } else if let Some(d) = scope.get("domain") {
                ScopeRef::Domain(domain_ref(Some(d))?)
            } else if scope.get("system").is_some() {
                ScopeRef::System
            } else {
                return Err(bad("unknown scope"));
            }
        }
    })
}

/// GET (and HEAD) /v3/auth/tokens: validate `X-Subject-Token` for the caller.
async fn validate_token(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Reply {
    let st = s.lock();
    let caller = s.caller(&st, &headers)?;
    let subject_id = header(&headers, "x-subject-token").ok_or_else(|| missing("token", ""))?;
    // Expired tokens are shown to those who validate others' (admins and services).
    let may_see_expired =
        truthy(&q, "allow_expired") && of::TOKEN.check(&st, &caller, Op::Show, || false).is_ok();
    let subject = st
        .valid_token(subject_id, now_micros(), may_see_expired)
        .filter(|t| {
            !may_see_expired || t.expires_at.saturating_add(EXPIRED_GRACE_MICROS) > now_micros()
        })
        .cloned()
        .ok_or_else(|| missing("token", subject_id))?;
    of::TOKEN.check(&st, &caller, Op::Show, || caller.user_id == subject.user_id)?;
    let body = s.token_json(&st, &subject, !q.contains_key("nocatalog"));
    let mut resp = json_response(StatusCode::OK, body);
    resp.headers_mut().insert(
        "X-Subject-Token",
        HeaderValue::from_str(&subject.id).expect("hex token"),
    );
    Ok(resp)
}

async fn revoke_token(AxState(s): AxState<Shared>, headers: HeaderMap) -> Reply {
    let mut st = s.lock();
    let caller = s.caller(&st, &headers)?;
    let subject_id = header(&headers, "x-subject-token")
        .unwrap_or("")
        .to_string();
    let subject = st
        .valid_token(&subject_id, now_micros(), false)
        .cloned()
        .ok_or_else(|| missing("token", &subject_id))?;
    of::TOKEN.check(&st, &caller, Op::Delete, || {
        caller.user_id == subject.user_id
    })?;
    st.revoke(&subject_id);
    drop(st);
    let _ = s.store.lock().expect("store lock").revoked(&subject_id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn auth_catalog(AxState(s): AxState<Shared>, headers: HeaderMap) -> Reply {
    let st = s.lock();
    let t = s.authorize(&st, &headers, &of::AUTH, Op::List, |_| false)?;
    if t.scope == Scope::Unscoped {
        return Err(ApiError::from(AuthError::Forbidden(
            "a catalog needs a scoped token".into(),
        )));
    }
    Ok(json_response(
        StatusCode::OK,
        json!({"catalog": s.catalog(&st), "links": s.link("auth/catalog")}),
    ))
}

/// The projects, or domains, the caller holds a role on and may scope a token to.
async fn auth_projects(AxState(s): AxState<Shared>, headers: HeaderMap) -> Reply {
    let st = s.lock();
    let t = s.authorize(&st, &headers, &of::AUTH, Op::List, |_| false)?;
    let items = st
        .user_projects(&t.user_id)
        .into_iter()
        .filter(|p| p.enabled);
    let items: Vec<Value> = items.map(|p| s.project_json(p)).collect();
    scopes(&s, "projects", items)
}

async fn auth_domains(AxState(s): AxState<Shared>, headers: HeaderMap) -> Reply {
    let st = s.lock();
    let t = s.authorize(&st, &headers, &of::AUTH, Op::List, |_| false)?;
    let items = st
        .user_domains(&t.user_id)
        .into_iter()
        .filter(|d| d.enabled);
    let items: Vec<Value> = items.map(|d| s.domain_json(d)).collect();
    scopes(&s, "domains", items)
}

fn scopes(s: &Service, kind: &str, items: Vec<Value>) -> Reply {
    Ok(json_response(
        StatusCode::OK,
        json!({kind: items, "links": s.list_links(&format!("auth/{kind}"))}),
    ))
}

async fn auth_system(AxState(s): AxState<Shared>, headers: HeaderMap) -> Reply {
    let st = s.lock();
    let t = s.authorize(&st, &headers, &of::AUTH, Op::List, |_| false)?;
    let system: Vec<Value> = if st.roles_on(&t.user_id, &Target::System).is_empty() {
        vec![]
    } else {
        vec![json!({"all": true})]
    };
    Ok(json_response(
        StatusCode::OK,
        json!({"system": system, "links": s.link("auth/system")}),
    ))
}

type Q = Query<std::collections::HashMap<String, String>>;

fn object<'a>(body: &'a Value, key: &str) -> Result<&'a Map<String, Value>, ApiError> {
    body.get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::from(bad(format!("expected {{\"{key}\": {{...}}}}"))))
}

fn opt_str(o: &Map<String, Value>, key: &str) -> Option<String> {
    o.get(key).and_then(Value::as_str).map(String::from)
}

fn opt_bool(o: &Map<String, Value>, key: &str, default: bool) -> bool {
    o.get(key).and_then(Value::as_bool).unwrap_or(default)
}

// Domains

// Projects

// Users

async fn user_projects(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    let st = s.lock();
    s.authorize(&st, &headers, &of::USER_PROJECTS, Op::List, |t| {
        t.user_id == id
    })?;
    st.users.get(&id).ok_or_else(|| missing("user", &id))?;
    let items: Vec<Value> = st
        .user_projects(&id)
        .into_iter()
        .map(|p| s.project_json(p))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({"projects": items, "links": s.list_links(&format!("users/{id}/projects"))}),
    ))
}

// Roles

// Groups

async fn group_users(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(gid): Path<String>,
) -> Reply {
    let st = s.lock();
    s.authorize(&st, &headers, &of::GROUP_MEMBER, Op::List, |_| false)?;
    st.check_actor(&Actor::Group(gid.clone()))?;
    let items: Vec<Value> = st
        .members
        .iter()
        .filter(|(g, _)| g == &gid)
        .filter_map(|(_, u)| st.users.get(u))
        .map(|u| s.user_json(u))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({"users": items, "links": s.list_links(&format!("groups/{gid}/users"))}),
    ))
}

async fn user_groups(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(uid): Path<String>,
) -> Reply {
    let st = s.lock();
    s.authorize(&st, &headers, &of::USER_GROUPS, Op::List, |t| {
        t.user_id == uid
    })?;
    let items: Vec<Value> = st
        .members
        .iter()
        .filter(|(_, u)| u == &uid)
        .filter_map(|(g, _)| st.groups.get(g))
        .map(|g| s.group_json(g))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({"groups": items, "links": s.list_links(&format!("users/{uid}/groups"))}),
    ))
}

async fn member(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    method: axum::http::Method,
    Path((gid, uid)): Path<(String, String)>,
) -> Reply {
    let mut st = s.lock();
    let op = match method {
        axum::http::Method::PUT => Op::Create,
        axum::http::Method::DELETE => Op::Delete,
        _ => Op::Check,
    };
    s.authorize(&st, &headers, &of::GROUP_MEMBER, op, |_| false)?;
    st.check_actor(&Actor::Group(gid.clone()))?;
    st.check_actor(&Actor::User(uid.clone()))?;
    let pair = (gid, uid.clone());
    match method {
        axum::http::Method::PUT => {
            st.members.insert(pair);
            s.save(&st);
        }
        axum::http::Method::DELETE => {
            if !st.members.remove(&pair) {
                return Err(ApiError::from(AuthError::NotFound {
                    kind: "membership",
                    id: uid,
                }));
            }
            st.prune_app_credentials();
            s.save(&st);
        }
        _ => {
            if !st.members.contains(&pair) {
                return Err(ApiError::from(AuthError::NotFound {
                    kind: "membership",
                    id: uid,
                }));
            }
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// Catalog as resources (read-only: the catalog comes from the config)

/// The Keystone v3 routes.
pub fn router(service: Shared) -> Router {
    records::routes(Router::new())
        .route("/", get(versions))
        .route("/v3", get(version))
        .route("/v3/", get(version))
        .route(
            "/v3/auth/tokens",
            get(validate_token).post(issue_token).delete(revoke_token),
        )
        .route("/v3/auth/catalog", get(auth_catalog))
        .route("/v3/auth/projects", get(auth_projects))
        .route("/v3/auth/domains", get(auth_domains))
        .route("/v3/auth/system", get(auth_system))
        .route("/v3/domains", get(list::<Domain>).post(create::<Domain>))
        .route(
            "/v3/domains/{id}",
            get(show::<Domain>)
                .patch(update::<Domain>)
                .delete(delete::<Domain>),
        )
        .route("/v3/domains/config/default", get(domain_config::defaults))
        .route(
            "/v3/domains/config/{group}/default",
            get(domain_config::group_defaults),
        )
        .route(
            "/v3/domains/config/{group}/{option}/default",
            get(domain_config::option_default),
        )
        .route(
            "/v3/domains/{id}/config",
            get(domain_config::show)
                .put(domain_config::create)
                .patch(domain_config::update)
                .delete(domain_config::delete),
        )
        .route(
            "/v3/domains/{id}/config/{group}",
            get(domain_config::show_group)
                .patch(domain_config::update_group)
                .delete(domain_config::delete_group),
        )
        .route(
            "/v3/domains/{id}/config/{group}/{option}",
            get(domain_config::show_option)
                .patch(domain_config::update_option)
                .delete(domain_config::delete_option),
        )
        .route(
            "/v3/projects",
            get(domain_projects::list).post(domain_projects::create),
        )
        .route(
            "/v3/projects/{id}",
            get(domain_projects::show)
                .patch(domain_projects::update)
                .delete(domain_projects::delete),
        )
        .route(
            "/v3/projects/{id}/tags",
            get(tags::list).put(tags::put_all).delete(tags::delete_all),
        )
        .route(
            "/v3/projects/{id}/tags/{tag}",
            get(tags::check).put(tags::put).delete(tags::delete),
        )
        .route("/v3/users", get(list::<User>).post(create::<User>))
        .route(
            "/v3/users/{id}",
            get(show::<User>)
                .patch(update::<User>)
                .delete(delete::<User>),
        )
        .route("/v3/users/{id}/projects", get(user_projects))
        .route(
            "/v3/users/{id}/password",
            axum::routing::post(password::change),
        )
        .route(
            "/v3/users/{id}/application_credentials",
            get(app_credentials::list).post(app_credentials::create),
        )
        .route(
            "/v3/users/{id}/application_credentials/{cred}",
            get(app_credentials::show).delete(app_credentials::delete),
        )
        .route(
            "/v3/users/{id}/credentials/OS-EC2",
            get(credentials::ec2_list).post(credentials::ec2_create),
        )
        .route(
            "/v3/users/{id}/credentials/OS-EC2/{access}",
            get(credentials::ec2_show).delete(credentials::ec2_delete),
        )
        .route(
            "/v3/credentials",
            get(credentials::list).post(credentials::create),
        )
        .route(
            "/v3/credentials/{id}",
            get(credentials::show)
                .patch(credentials::update)
                .delete(credentials::delete),
        )
        .route("/v3/roles", get(list::<Role>).post(create::<Role>))
        .route(
            "/v3/roles/{id}",
            get(show::<Role>)
                .patch(update::<Role>)
                .delete(delete::<Role>),
        )
        .route("/v3/roles/{id}/implies", get(implied_roles::list))
        .route(
            "/v3/roles/{id}/implies/{implied}",
            get(implied_roles::show)
                .head(implied_roles::check)
                .put(implied_roles::put)
                .delete(implied_roles::delete),
        )
        .route("/v3/role_inferences", get(implied_roles::list_all))
        .route("/v3/users/{id}/groups", get(user_groups))
        .route("/v3/groups", get(list::<Group>).post(create::<Group>))
        .route(
            "/v3/groups/{id}",
            get(show::<Group>)
                .patch(update::<Group>)
                .delete(delete::<Group>),
        )
        .route("/v3/groups/{id}/users", get(group_users))
        .route(
            "/v3/groups/{id}/users/{user}",
            get(member).put(member).delete(member),
        )
        .route(
            "/v3/{kind}/{target}/{actor_kind}/{actor}/roles",
            get(grants::list_direct),
        )
        .route(
            "/v3/{kind}/{target}/{actor_kind}/{actor}/roles/{role}",
            get(grants::one_direct)
                .put(grants::one_direct)
                .delete(grants::one_direct),
        )
        .route(
            "/v3/system/{actor_kind}/{actor}/roles",
            get(grants::list_system),
        )
        .route(
            "/v3/system/{actor_kind}/{actor}/roles/{role}",
            get(grants::one_system)
                .put(grants::one_system)
                .delete(grants::one_system),
        )
        .route(
            "/v3/OS-INHERIT/{kind}/{target}/{actor_kind}/{actor}/roles/inherited_to_projects",
            get(grants::list_inherited),
        )
        .route(
            "/v3/OS-INHERIT/{kind}/{target}/{actor_kind}/{actor}/roles/{role}/inherited_to_projects",
            get(grants::one_inherited)
                .put(grants::one_inherited)
                .delete(grants::one_inherited),
        )
        .route("/v3/role_assignments", get(grants::role_assignments))
        .route(
            "/v3/OS-TRUST/trusts",
            get(trusts::list).post(trusts::create),
        )
        // Tempest's client lists with a trailing slash, which Keystone takes.
        .route("/v3/OS-TRUST/trusts/", get(trusts::list))
        .route(
            "/v3/OS-TRUST/trusts/{id}",
            get(trusts::show).delete(trusts::delete),
        )
        .route("/v3/OS-TRUST/trusts/{id}/roles", get(trusts::roles))
        .route("/v3/OS-TRUST/trusts/{id}/roles/{role}", get(trusts::role))
        .route(
            "/v3/services",
            get(catalog::list_services).post(catalog::create_service),
        )
        .route(
            "/v3/services/{id}",
            get(catalog::show_service)
                .patch(catalog::update_service)
                .delete(catalog::delete_service),
        )
        .route(
            "/v3/endpoints",
            get(catalog::list_endpoints).post(catalog::create_endpoint),
        )
        .route(
            "/v3/endpoints/{id}",
            get(catalog::show_endpoint)
                .patch(catalog::update_endpoint)
                .delete(catalog::delete_endpoint),
        )
        .route(
            "/v3/regions",
            get(catalog::list_regions).post(catalog::create_region),
        )
        .route(
            "/v3/regions/{id}",
            get(catalog::show_region)
                .put(catalog::put_region)
                .patch(catalog::update_region)
                .delete(catalog::delete_region),
        )
        .layer(axum::middleware::from_fn_with_state(
            service.clone(),
            with_base,
        ))
        .with_state(service)
}
