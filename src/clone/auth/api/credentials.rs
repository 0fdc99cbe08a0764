//! `/v3/credentials` and the EC2 view `/v3/users/{id}/credentials/OS-EC2`: each for
//! its user, or an admin (`policy::of::CREDENTIAL`).

use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::collection::{Answer, Call, Collection, Fields, Meta, Query_};
use super::{ApiError, Body, Reply, Service, Shared, bad, json_response, opt_str};
use crate::clone::auth::credentials::{Credential, EC2};
use crate::clone::auth::error::{AuthError, not_found};
use crate::clone::auth::model::{State, Token};
use crate::clone::auth::policy::{Op, of};

impl Service {
    fn credential_json(&self, c: &Credential) -> Value {
        json!({
            "id": c.id, "user_id": c.user_id, "project_id": c.project_id, "type": c.kind,
            "blob": c.blob, "links": self.link(&format!("credentials/{}", c.id)),
        })
    }

    fn ec2_json(&self, c: &Credential) -> Value {
        let mut v = c.ec2_json();
        let access = v["access"].as_str().unwrap_or_default().to_string();
        v["links"] = self.link(&format!("users/{}/credentials/OS-EC2/{access}", c.user_id));
        v
    }
}

pub(super) struct Credentials;

pub(super) static CREDENTIALS: Credentials = Credentials;

impl Collection for Credentials {
    fn meta(&self) -> Meta {
        Meta {
            kind: "credential",
            plural: "credentials",
            path: "credentials",
            policy: &of::CREDENTIAL,
        }
    }

    fn owns(&self, st: &State, caller: &Token, id: &str) -> bool {
        st.credentials
            .get(id)
            .is_some_and(|c| c.user_id == caller.user_id)
    }

    /// One for the caller itself.
    fn owns_request(&self, caller: &Token, o: &Map<String, Value>) -> bool {
        opt_str(o, "user_id").is_some_and(|u| u == caller.user_id)
    }

    /// Each caller's own (all, for an admin).
    fn list(&self, c: &Call, q: &Query_) -> Vec<Value> {
        let (s, st, caller) = (c.s, &*c.st, c.caller);
        let wanted = |key: &str, value: &str| q.get(key).is_none_or(|w| w == value);
        st.credentials
            .values()
            .filter(|c| {
                let own = || c.user_id == caller.user_id;
                of::CREDENTIAL.check(st, caller, Op::Show, own).is_ok()
            })
            .filter(|c| wanted("user_id", &c.user_id) && wanted("type", &c.kind))
            .map(|c| s.credential_json(c))
            .collect()
    }

    fn show(&self, c: &Call, id: &str) -> Answer {
        let (s, st) = (c.s, &*c.st);
        let c = st
            .credentials
            .get(id)
            .ok_or_else(|| not_found("credential", id))?;
        Ok(s.credential_json(c))
    }

    fn create(&self, c: &mut Call, o: &Fields) -> Answer {
        let (s, st) = (c.s, &mut *c.st);
        Ok(s.credential_json(&st.create_credential(o)?))
    }

    fn update(&self, c: &mut Call, id: &str, o: &Fields) -> Answer {
        let (s, st, caller) = (c.s, &mut *c.st, c.caller);
        // Handing a credential to another user is an admin's.
        if let Some(u) = opt_str(o, "user_id") {
            of::CREDENTIAL.check(st, caller, Op::Update, || caller.user_id == u)?;
        }
        Ok(s.credential_json(&st.update_credential(id, o)?))
    }

    fn delete(&self, c: &mut Call, id: &str) -> Result<(), AuthError> {
        let st = &mut *c.st;
        st.credentials
            .remove(id)
            .map(drop)
            .ok_or_else(|| not_found("credential", id))
    }
}

// ---- OS-EC2 ----------------------------------------------------------------------

pub(super) async fn ec2_list(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(user): Path<String>,
) -> Reply {
    let st = s.lock();
    let t = s.caller(&st, &headers)?;
    of::EC2_CREDENTIAL.check(&st, &t, Op::List, || t.user_id == user)?;
    let items: Vec<Value> = st
        .credentials
        .values()
        .filter(|c| c.kind == EC2 && c.user_id == user)
        .map(|c| s.ec2_json(c))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({"credentials": items, "links": s.list_links(&format!("users/{user}/credentials/OS-EC2"))}),
    ))
}

pub(super) async fn ec2_create(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(user): Path<String>,
    Body(body): Body,
) -> Reply {
    let mut st = s.lock();
    let t = s.caller(&st, &headers)?;
    of::EC2_CREDENTIAL.check(&st, &t, Op::Create, || t.user_id == user)?;
    let project = body
        .get("tenant_id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::from(bad(
                "Invalid input for field 'tenant_id': it is a required property",
            ))
        })?;
    let c = st.create_ec2_credential(&user, project)?;
    s.save(&st);
    Ok(json_response(
        StatusCode::CREATED,
        json!({"credential": s.ec2_json(&c)}),
    ))
}

pub(super) async fn ec2_show(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((user, access)): Path<(String, String)>,
) -> Reply {
    let st = s.lock();
    let t = s.caller(&st, &headers)?;
    of::EC2_CREDENTIAL.check(&st, &t, Op::Show, || t.user_id == user)?;
    let c = st.ec2_credential(&user, &access)?;
    Ok(json_response(
        StatusCode::OK,
        json!({"credential": s.ec2_json(c)}),
    ))
}

pub(super) async fn ec2_delete(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((user, access)): Path<(String, String)>,
) -> Reply {
    let mut st = s.lock();
    let t = s.caller(&st, &headers)?;
    of::EC2_CREDENTIAL.check(&st, &t, Op::Delete, || t.user_id == user)?;
    let id = st.ec2_credential(&user, &access)?.id.clone();
    st.credentials.remove(&id);
    s.save(&st);
    Ok(StatusCode::NO_CONTENT.into_response())
}
