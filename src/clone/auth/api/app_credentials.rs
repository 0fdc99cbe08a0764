//! `/v3/users/{id}/application_credentials`: create (the secret shown once), list (with
//! `?name=`), show and delete, for the user themselves (or an admin, to read and delete).

use super::{ApiError, missing};
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{
    Body, Q, Reply, Service, Shared, bad, json_response, now_micros, object, opt_bool, opt_str,
    parse_expires_at,
};
use crate::clone::auth::app_credentials::{AppCredential, MAX_NAME, NewAppCredential};
use crate::clone::auth::error::AuthError;
use crate::clone::auth::model::{State, Token};
use crate::clone::auth::policy::{Op, of};

/// The caller may do `op` with `user_id`'s credentials (`policy::of::APPLICATION_CREDENTIAL`:
/// that user, or to read and delete an admin). A token from a restricted credential
/// may not manage credentials at all.
fn may_manage(st: &State, caller: &Token, user_id: &str, op: Op) -> Result<(), AuthError> {
    if caller
        .app_credential
        .as_ref()
        .is_some_and(|c| st.app_credentials.get(c).is_some_and(|c| !c.unrestricted))
    {
        return Err(AuthError::Forbidden(
            "Using method 'application_credential' is not allowed for managing additional application credentials".into(),
        ));
    }
    of::APPLICATION_CREDENTIAL.check(st, caller, op, || caller.user_id == user_id)
}

impl Service {
    fn app_credential_json(&self, st: &State, c: &AppCredential) -> Value {
        let roles: Vec<Value> = c
            .roles
            .iter()
            .filter_map(|r| st.roles.get(r))
            .map(|r| json!({"id": r.id, "name": r.name, "domain_id": null}))
            .collect();
        json!({
            "id": c.id, "name": c.name, "description": c.description, "user_id": c.user_id,
            "project_id": c.project_id, "roles": roles, "unrestricted": c.unrestricted,
            "expires_at": c.expires_at.map(expires_at), "system": null, "access_rules": [],
            "links": self.link(&format!("users/{}/application_credentials/{}", c.user_id, c.id)),
        })
    }
}

/// As Keystone writes it back: what Python's `isoformat()` gives, microseconds, no zone.
fn expires_at(micros: u64) -> String {
    super::timestamp(micros).trim_end_matches('Z').to_string()
}

/// A secret Keystone would make: 64 url-safe characters.
fn new_secret() -> String {
    use base64::Engine as _;
    let mut b = [0u8; 48];
    getrandom::fill(&mut b).expect("the OS has randomness");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub(super) async fn create(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
    Body(body): Body,
) -> Reply {
    let o = object(&body, "application_credential")?;
    let mut st = s.lock();
    let caller = s.caller(&st, &headers)?;
    may_manage(&st, &caller, &user_id, Op::Create)?;
    let text = |key: &str| opt_str(o, key).unwrap_or_default();
    let description = text("description");
    if description.chars().count() > MAX_NAME {
        return Err(ApiError::from(bad(
            "Invalid input for field 'description': too long.",
        )));
    }
    let expires_at = match o.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(parse_expires_at(t)?),
        Some(_) => return Err(ApiError::from(bad("Invalid input for field 'expires_at'."))),
    };
    let mut roles = Vec::new();
    for r in o
        .get("roles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let found = match (
            r.get("id").and_then(Value::as_str),
            r.get("name").and_then(Value::as_str),
        ) {
            (Some(id), _) => st.roles.get(id),
            (None, Some(name)) => st.roles.values().find(|x| x.name == name),
            _ => {
                return Err(ApiError::from(bad(
                    "Invalid input for field 'roles': each needs an id or a name.",
                )));
            }
        };
        let role = found.ok_or_else(|| missing("role", &r.to_string()))?;
        roles.push(role.id.clone());
    }
    let secret = match opt_str(o, "secret") {
        Some(secret) if !secret.is_empty() => secret,
        _ => new_secret(),
    };
    let new = NewAppCredential {
        name: text("name"),
        description,
        secret: secret.clone(),
        roles,
        expires_at,
        unrestricted: opt_bool(o, "unrestricted", false),
    };
    let c = st.create_app_credential(&caller, new, now_micros())?;
    s.save(&st);
    let mut v = s.app_credential_json(&st, &c);
    v["secret"] = json!(secret);
    Ok(json_response(
        StatusCode::CREATED,
        json!({"application_credential": v}),
    ))
}

pub(super) async fn list(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
    Query(q): Q,
) -> Reply {
    let st = s.lock();
    let caller = s.caller(&st, &headers)?;
    may_manage(&st, &caller, &user_id, Op::List)?;
    let items: Vec<Value> = st
        .app_credentials
        .values()
        .filter(|c| c.user_id == user_id && q.get("name").is_none_or(|n| n == &c.name))
        .map(|c| s.app_credential_json(&st, c))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({"application_credentials": items,
               "links": s.list_links(&format!("users/{user_id}/application_credentials"))}),
    ))
}

fn owned<'a>(st: &'a State, user_id: &str, id: &str) -> Option<&'a AppCredential> {
    st.app_credentials.get(id).filter(|c| c.user_id == user_id)
}

pub(super) async fn show(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((user_id, id)): Path<(String, String)>,
) -> Reply {
    let st = s.lock();
    let caller = s.caller(&st, &headers)?;
    may_manage(&st, &caller, &user_id, Op::Show)?;
    let c = owned(&st, &user_id, &id).ok_or_else(|| missing("application credential", &id))?;
    Ok(json_response(
        StatusCode::OK,
        json!({"application_credential": s.app_credential_json(&st, c)}),
    ))
}

pub(super) async fn delete(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((user_id, id)): Path<(String, String)>,
) -> Reply {
    let mut st = s.lock();
    let caller = s.caller(&st, &headers)?;
    may_manage(&st, &caller, &user_id, Op::Delete)?;
    if owned(&st, &user_id, &id).is_none() {
        return Err(missing("application credential", &id));
    }
    st.delete_app_credential(&id)?;
    s.save(&st);
    Ok(StatusCode::NO_CONTENT.into_response())
}
