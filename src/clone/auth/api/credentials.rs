//! `/v3/credentials` and the EC2 view `/v3/users/{id}/credentials/OS-EC2`: each for
//! its user, or an admin (`policy::of::CREDENTIAL`).

use super::{ApiError, missing};
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{Body, Q, Reply, Service, Shared, bad, json_response, object, opt_str};
use crate::clone::auth::credentials::{Credential, EC2};
use crate::clone::auth::model::State;
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

    /// The credential `id`, if the caller may do `op` with it.
    fn own_credential(
        &self,
        st: &State,
        headers: &HeaderMap,
        id: &str,
        op: Op,
    ) -> Result<Credential, super::ApiError> {
        let t = self.caller(st, headers)?;
        let c = st
            .credentials
            .get(id)
            .ok_or_else(|| missing("credential", id))?;
        of::CREDENTIAL.check(st, &t, op, || t.user_id == c.user_id)?;
        Ok(c.clone())
    }
}

pub(super) async fn list(AxState(s): AxState<Shared>, headers: HeaderMap, Query(q): Q) -> Reply {
    let st = s.lock();
    let t = s.caller(&st, &headers)?;
    let wanted = |key: &str, value: &str| q.get(key).is_none_or(|w| w == value);
    let items: Vec<Value> = st
        .credentials
        .values()
        .filter(|c| {
            let own = || c.user_id == t.user_id;
            of::CREDENTIAL.check(&st, &t, Op::List, own).is_ok()
        })
        .filter(|c| wanted("user_id", &c.user_id) && wanted("type", &c.kind))
        .map(|c| s.credential_json(c))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({"credentials": items, "links": s.list_links("credentials")}),
    ))
}

pub(super) async fn create(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Body(body): Body,
) -> Reply {
    let mut st = s.lock();
    let t = s.caller(&st, &headers)?;
    let o = object(&body, "credential")?;
    let user = opt_str(o, "user_id").unwrap_or_default();
    of::CREDENTIAL.check(&st, &t, Op::Create, || t.user_id == user)?;
    let c = st.create_credential(o)?;
    s.save(&st);
    Ok(json_response(
        StatusCode::CREATED,
        json!({"credential": s.credential_json(&c)}),
    ))
}

pub(super) async fn show(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    let st = s.lock();
    let c = s.own_credential(&st, &headers, &id, Op::Show)?;
    Ok(json_response(
        StatusCode::OK,
        json!({"credential": s.credential_json(&c)}),
    ))
}

pub(super) async fn update(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    let mut st = s.lock();
    s.own_credential(&st, &headers, &id, Op::Update)?;
    let o = object(&body, "credential")?;
    // Handing a credential to another user is an admin's.
    if let Some(u) = opt_str(o, "user_id") {
        let t = s.caller(&st, &headers)?;
        of::CREDENTIAL.check(&st, &t, Op::Update, || t.user_id == u)?;
    }
    let c = st.update_credential(&id, o)?;
    s.save(&st);
    Ok(json_response(
        StatusCode::OK,
        json!({"credential": s.credential_json(&c)}),
    ))
}

pub(super) async fn delete(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    let mut st = s.lock();
    s.own_credential(&st, &headers, &id, Op::Delete)?;
    st.credentials.remove(&id);
    s.save(&st);
    Ok(StatusCode::NO_CONTENT.into_response())
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
