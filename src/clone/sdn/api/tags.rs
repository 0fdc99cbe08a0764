//! `/v2.0/{collection}/{id}/tags[/{tag}]` (`standard-attr-tag`) over `tags.rs`.

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::*;

/// The collections that take tags.
pub(super) const TAGGED: &[&str] = &[
    "networks",
    "subnets",
    "ports",
    "routers",
    "floatingips",
    "subnetpools",
    "security-groups",
];

/// The resource named by the request's path, if the caller may see it.
fn target(st: &State, caller: &Caller, uri: &axum::http::Uri, id: &str) -> Result<(), SdnError> {
    let collection = uri
        .path()
        .trim_start_matches("/v2.0/")
        .split('/')
        .next()
        .unwrap_or("");
    let shared_net = |n: &str| st.networks.get(n).is_some_and(|n| n.shared || n.external);
    match collection {
        "networks" => seen(&st.networks, "network", id, caller, |n| {
            n.shared || n.external
        })
        .map(drop),
        "subnets" => seen(&st.subnets, "subnet", id, caller, |x| {
            shared_net(&x.network_id)
        })
        .map(drop),
        "ports" => seen(&st.ports, "port", id, caller, |_| false).map(drop),
        "routers" => seen(&st.routers, "router", id, caller, |_| false).map(drop),
        "floatingips" => seen(&st.floating_ips, "floating IP", id, caller, |_| false).map(drop),
        "subnetpools" => seen(&st.subnetpools, "subnetpool", id, caller, |p| p.shared).map(drop),
        "security-groups" => {
            seen(&st.security_groups, "security-group", id, caller, |_| false).map(drop)
        }
        _ => Err(SdnError::NotFound {
            kind: "resource",
            id: collection.into(),
        }),
    }
}

pub(super) async fn list(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Reply {
    let st = svc.lock();
    target(&st, &caller, &uri, &id)?;
    ok(StatusCode::OK, json!({"tags": st.tags_of(&id)}))
}

pub(super) async fn replace(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
    Body(body): Body,
) -> Reply {
    let mut st = svc.lock();
    target(&st, &caller, &uri, &id)?;
    let tags = super::super::tags::from_body(&body)?;
    st.tags.insert(id.clone(), tags);
    ok(StatusCode::OK, json!({"tags": st.tags_of(&id)}))
}

pub(super) async fn clear(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Reply {
    let mut st = svc.lock();
    target(&st, &caller, &uri, &id)?;
    st.tags.remove(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn no_tag(tag: &str) -> SdnError {
    SdnError::NotFound {
        kind: "tag",
        id: tag.into(),
    }
}

pub(super) async fn check(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path((id, tag)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Reply {
    let st = svc.lock();
    target(&st, &caller, &uri, &id)?;
    if !st.tags.get(&id).is_some_and(|t| t.contains(&tag)) {
        return Err(no_tag(&tag).into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn add(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path((id, tag)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Reply {
    let mut st = svc.lock();
    target(&st, &caller, &uri, &id)?;
    super::super::tags::check(&tag)?;
    let tags = st.tags.entry(id).or_default();
    if tags.len() >= super::super::tags::MAX_TAGS && !tags.contains(&tag) {
        return Err(SdnError::BadRequest(format!(
            "Invalid input for operation: at most {} tags.",
            super::super::tags::MAX_TAGS
        ))
        .into());
    }
    tags.insert(tag);
    Ok(StatusCode::CREATED.into_response())
}

pub(super) async fn remove(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path((id, tag)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Reply {
    let mut st = svc.lock();
    target(&st, &caller, &uri, &id)?;
    if !st.tags.get_mut(&id).is_some_and(|t| t.remove(&tag)) {
        return Err(no_tag(&tag).into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
