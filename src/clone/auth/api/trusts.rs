//! `/v3/OS-TRUST/trusts`: a user makes trusts as trustor; trustor, trustee and admins
//! read them; trustor and admins delete them (their tokens go with them).

use super::{ApiError, missing};
use crate::clone::auth::policy::{Op, of};
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::{
    Body, Q, Reply, Service, Shared, bad, json_response, now_micros, object, parse_expires_at,
    timestamp,
};
use crate::clone::auth::error::AuthError;
use crate::clone::auth::model::State;
use crate::clone::auth::trusts::{NewTrust, RoleRef, Trust};

impl Service {
    fn trust_json(&self, st: &State, t: &Trust) -> Value {
        let roles: Vec<Value> = t
            .roles
            .iter()
            .filter_map(|r| st.roles.get(r))
            .map(|r| {
                json!({"id": r.id, "name": r.name, "domain_id": r.domain_id,
                            "links": self.link(&format!("roles/{}", r.id))})
            })
            .collect();
        json!({
            "id": t.id, "trustor_user_id": t.trustor_user_id,
            "trustee_user_id": t.trustee_user_id, "project_id": t.project_id,
            "impersonation": t.impersonation, "expires_at": t.expires_at.map(timestamp),
            "remaining_uses": t.remaining_uses, "allow_redelegation": false,
            "redelegation_count": 0, "roles": roles,
            "roles_links": {"self": null, "previous": null, "next": null},
            "links": self.link(&format!("OS-TRUST/trusts/{}", t.id)),
        })
    }

    /// Trust `id`, if the caller may do `op` with it: its trustor, its trustee (to
    /// read), or an admin. A missing trust is a 404 to all, as in Keystone.
    fn own_trust(
        &self,
        st: &State,
        headers: &HeaderMap,
        id: &str,
        op: Op,
    ) -> Result<Trust, super::ApiError> {
        let caller = self.caller(st, headers)?;
        let t = st.trusts.get(id).ok_or_else(|| missing("trust", id))?;
        let own = || {
            caller.user_id == t.trustor_user_id
                || (op == Op::Show && caller.user_id == t.trustee_user_id)
        };
        of::TRUST.check(st, &caller, op, own)?;
        Ok(t.clone())
    }
}

fn new_trust(o: &Map<String, Value>) -> Result<NewTrust, AuthError> {
    let text = |k: &str| -> Result<String, AuthError> {
        o.get(k)
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| {
                bad(format!(
                    "Invalid input for field '{k}': it is a required property"
                ))
            })
    };
    let impersonation = match o.get("impersonation") {
        Some(Value::Bool(b)) => *b,
        _ => {
            return Err(bad(
                "Invalid input for field 'impersonation': a boolean is required",
            ));
        }
    };
    let roles = match o.get("roles") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|r| {
                match (
                    r.get("id").and_then(Value::as_str),
                    r.get("name").and_then(Value::as_str),
                ) {
                    (Some(id), _) => Ok(RoleRef::Id(id.into())),
                    (None, Some(n)) => Ok(RoleRef::Name(n.into())),
                    _ => Err(bad(
                        "Invalid input for field 'roles': each needs an id or a name",
                    )),
                }
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("Invalid input for field 'roles': a list is required")),
    };
    let expires_at = match o.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(parse_expires_at(t)?),
        Some(_) => {
            return Err(bad(
                "Invalid input for field 'expires_at': a time is required",
            ));
        }
    };
    let remaining_uses = match o.get("remaining_uses") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            bad("Invalid input for field 'remaining_uses': a positive integer is required")
        })?),
    };
    Ok(NewTrust {
        trustor_user_id: text("trustor_user_id")?,
        trustee_user_id: text("trustee_user_id")?,
        project_id: o
            .get("project_id")
            .and_then(Value::as_str)
            .map(String::from),
        roles,
        impersonation,
        expires_at,
        remaining_uses,
    })
}

pub(super) async fn create(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Body(body): Body,
) -> Reply {
    let mut st = s.lock();
    let caller = s.caller(&st, &headers)?;
    // A trust-scoped token cannot make further trusts (no redelegation).
    if caller.trust.is_some() {
        return Err(ApiError::from(AuthError::Forbidden(
            "redelegation is not allowed".into(),
        )));
    }
    let o = object(&body, "trust")?;
    let t = new_trust(o)?;
    of::TRUST.check(&st, &caller, Op::Create, || {
        t.trustor_user_id == caller.user_id
    })?;
    let t = st.create_trust(&caller.user_id, t, now_micros())?;
    s.save(&st);
    Ok(json_response(
        StatusCode::CREATED,
        json!({"trust": s.trust_json(&st, &t)}),
    ))
}

pub(super) async fn list(AxState(s): AxState<Shared>, headers: HeaderMap, Query(q): Q) -> Reply {
    let st = s.lock();
    let caller = s.caller(&st, &headers)?;
    let (trustor, trustee) = (q.get("trustor_user_id"), q.get("trustee_user_id"));
    // Others may list only their own trusts, and must say so (Keystone: 403).
    of::TRUST.check(&st, &caller, Op::List, || {
        trustor.is_some_and(|u| *u == caller.user_id)
            || trustee.is_some_and(|u| *u == caller.user_id)
    })?;
    let items: Vec<Value> = st
        .trusts
        .values()
        .filter(|t| trustor.is_none_or(|u| *u == t.trustor_user_id))
        .filter(|t| trustee.is_none_or(|u| *u == t.trustee_user_id))
        .map(|t| s.trust_json(&st, t))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({"trusts": items, "links": s.list_links("OS-TRUST/trusts")}),
    ))
}

pub(super) async fn show(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    let st = s.lock();
    let t = s.own_trust(&st, &headers, &id, Op::Show)?;
    Ok(json_response(
        StatusCode::OK,
        json!({"trust": s.trust_json(&st, &t)}),
    ))
}

pub(super) async fn delete(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    let mut st = s.lock();
    s.own_trust(&st, &headers, &id, Op::Delete)?;
    st.trusts.remove(&id);
    s.save(&st);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn roles(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    let st = s.lock();
    let t = s.own_trust(&st, &headers, &id, Op::Show)?;
    let roles: Vec<Value> = t
        .roles
        .iter()
        .filter_map(|r| st.roles.get(r))
        .map(|r| s.role_json(r))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({"roles": roles, "links": s.list_links(&format!("OS-TRUST/trusts/{id}/roles"))}),
    ))
}

pub(super) async fn role(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((id, role)): Path<(String, String)>,
) -> Reply {
    let st = s.lock();
    let t = s.own_trust(&st, &headers, &id, Op::Show)?;
    let r = t
        .roles
        .iter()
        .find(|r| **r == role)
        .and_then(|r| st.roles.get(r))
        .ok_or_else(|| missing("role", &role))?;
    Ok(json_response(
        StatusCode::OK,
        json!({"role": s.role_json(r)}),
    ))
}
