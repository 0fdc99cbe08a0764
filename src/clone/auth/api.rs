//! The auth clone's HTTP API: Keystone v3 as `shared/docs/clone-contracts.md` §2
//! measured real clients using it.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::app_credentials::AppCredentialRef;
use super::config::Config;
use super::error::AuthError;
use super::model::{
    Actor, DomainRef, EXPIRED_GRACE_MICROS, Role, Scope, ScopeRef, State, Target, Token, UserRef,
};
use super::policy::{Op, Policy, of};
use super::store::Store;

mod app_credentials;
mod catalog;
mod collection;
mod credentials;
mod discovery;
mod domain_config;
mod domain_projects;
mod entities;
mod grants;
mod implied_roles;
mod memberships;
mod password;
mod records;
mod tags;
mod tokens;
mod trusts;

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
        match crate::clone::web::json_body(req, s).await {
            Ok(v) => Ok(Body(v)),
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
    let base = crate::clone::web::base_url(req.headers(), &s.public_url);
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

use crate::clone::web::reply as json_response;

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

// Catalog as resources (read-only: the catalog comes from the config)

/// The Keystone v3 routes.
pub fn router(service: Shared) -> Router {
    let collections: [&'static dyn collection::Collection; 9] = [
        &entities::DOMAINS,
        &domain_projects::PROJECTS,
        &entities::USERS,
        &entities::ROLES,
        &entities::GROUPS,
        &credentials::CREDENTIALS,
        &catalog::SERVICES,
        &catalog::ENDPOINTS,
        &catalog::REGIONS,
    ];
    collections
        .into_iter()
        .fold(records::routes(Router::new()), collection::routes)
        .route("/", get(discovery::versions))
        .route("/v3", get(discovery::version))
        .route("/v3/", get(discovery::version))
        .route(
            "/v3/auth/tokens",
            get(tokens::validate_token).post(tokens::issue_token).delete(tokens::revoke_token),
        )
        .route("/v3/auth/catalog", get(tokens::auth_catalog))
        .route("/v3/auth/projects", get(tokens::auth_projects))
        .route("/v3/auth/domains", get(tokens::auth_domains))
        .route("/v3/auth/system", get(tokens::auth_system))
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
            "/v3/projects/{id}/tags",
            get(tags::list).put(tags::put_all).delete(tags::delete_all),
        )
        .route(
            "/v3/projects/{id}/tags/{tag}",
            get(tags::check).put(tags::put).delete(tags::delete),
        )
        .route("/v3/users/{id}/projects", get(memberships::user_projects))
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
        .route("/v3/roles/{id}/implies", get(implied_roles::list))
        .route(
            "/v3/roles/{id}/implies/{implied}",
            get(implied_roles::show)
                .head(implied_roles::check)
                .put(implied_roles::put)
                .delete(implied_roles::delete),
        )
        .route("/v3/role_inferences", get(implied_roles::list_all))
        .route("/v3/users/{id}/groups", get(memberships::user_groups))
        .route("/v3/groups/{id}/users", get(memberships::group_users))
        .route(
            "/v3/groups/{id}/users/{user}",
            get(memberships::member).put(memberships::member).delete(memberships::member),
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
        // Keystone also makes a region with a chosen id by PUT.
        .route("/v3/regions/{id}", axum::routing::put(catalog::put_region))
        .layer(axum::middleware::from_fn_with_state(
            service.clone(),
            with_base,
        ))
        .with_state(service)
}
