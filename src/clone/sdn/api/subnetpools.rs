//! `/v2.0/subnetpools` (`subnet_allocation`) over `subnetpools.rs`.

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::super::subnetpools::SubnetPool;
use super::*;

owned!(SubnetPool);

pub(super) async fn list(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Reply {
    let st = svc.lock();
    let items = visible_items(
        &caller,
        st.subnetpools.values(),
        |p| p.shared,
        SubnetPool::json,
    );
    listed(&svc, "subnetpools", items, &uri, &headers)
}

fn create_one(st: &mut State, caller: &Caller, o: &Map<String, Value>) -> Result<Value, SdnError> {
    if b(o, "shared", false) || b(o, "is_default", false) {
        // Neutron's policy: shared and default pools are an admin's.
        admin_only(caller)?;
    }
    let project = tenant(caller, o);
    st.within_quota(&project, "subnetpool", 1)?;
    let pool = SubnetPool::from_request(o, &project)?;
    st.subnetpools.insert(pool.id.clone(), pool.clone());
    Ok(pool.json())
}

pub(super) async fn create_many(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Body(body): Body,
) -> Reply {
    create(
        &svc,
        &caller,
        &body,
        "subnetpool",
        "subnetpools",
        create_one,
    )
}

pub(super) async fn show(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Reply {
    let st = svc.lock();
    let p = seen(&st.subnetpools, "subnetpool", &id, &caller, |p| p.shared)?;
    shown("subnetpool", p.json(), &uri)
}

pub(super) async fn update(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    let o = body_object(&body, "subnetpool")?;
    let mut st = svc.lock();
    seen(&st.subnetpools, "subnetpool", &id, &caller, |_| false)?;
    if o.contains_key("shared") || o.contains_key("is_default") {
        admin_only(&caller)?;
    }
    let p = st.subnetpools.get_mut(&id).expect("seen above");
    p.update(o)?;
    if let Some(v) = o.get("is_default").and_then(Value::as_bool) {
        p.is_default = v;
    }
    let p = p.json();
    ok(StatusCode::OK, json!({"subnetpool": p}))
}

pub(super) async fn delete(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Reply {
    let mut st = svc.lock();
    seen(&st.subnetpools, "subnetpool", &id, &caller, |_| false)?;
    st.delete_subnetpool(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
