//! `/v2.0/{collection}/{id}/tags[/{tag}]` (`standard-attr-tag`) over `tags.rs`.

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::resource::{Resource, changeable, seen};
use super::{Body, Reply, Shared, ok};
use crate::clone::sdn::error::SdnError;
use crate::clone::sdn::floating_ips::FloatingIp;
use crate::clone::sdn::model::{Network, Port, State, Subnet};
use crate::clone::sdn::routers::Router;
use crate::clone::sdn::security_groups::SecurityGroup;
use crate::clone::sdn::subnetpools::SubnetPool;
use crate::clone::sdn::token::Caller;

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

/// The resource named by the request's path, if the caller may see it (`change`: may
/// change it; a resource's tags are changed as the resource is).
fn target(
    st: &State,
    caller: &Caller,
    uri: &axum::http::Uri,
    id: &str,
    change: bool,
) -> Result<(), SdnError> {
    fn check<R: Resource>(
        st: &State,
        caller: &Caller,
        id: &str,
        change: bool,
    ) -> Result<(), SdnError> {
        // Neutron 2025.1 loads the parent as an admin and enforces the tag policy
        // itself: a refusal is a 403, even to a caller who may not see the parent.
        let result = if change {
            changeable::<R>(st, caller, id)
        } else {
            seen::<R>(st, caller, id).map(drop)
        };
        match result {
            Err(SdnError::NotFound { .. }) if R::map(st).contains_key(id) => {
                let verb = if change { "update" } else { "get" };
                Err(SdnError::Forbidden(format!("{verb}_{}:tags", R::SINGULAR)))
            }
            other => other,
        }
    }
    let collection = uri
        .path()
        .trim_start_matches("/v2.0/")
        .split('/')
        .next()
        .unwrap_or("");
    match collection {
        "networks" => check::<Network>(st, caller, id, change),
        "subnets" => check::<Subnet>(st, caller, id, change),
        "ports" => check::<Port>(st, caller, id, change),
        "routers" => check::<Router>(st, caller, id, change),
        "floatingips" => check::<FloatingIp>(st, caller, id, change),
        "subnetpools" => check::<SubnetPool>(st, caller, id, change),
        "security-groups" => check::<SecurityGroup>(st, caller, id, change),
        _ => Err(SdnError::NotFound {
            kind: "resource",
            id: collection.into(),
        }),
    }
}

pub(super) async fn list(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Reply {
    let st = svc.lock();
    target(&st, &caller, &uri, &id, false)?;
    ok(StatusCode::OK, json!({"tags": st.tags_of(&id)}))
}

pub(super) async fn replace(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    uri: axum::http::Uri,
    Body(body): Body,
) -> Reply {
    let mut st = svc.lock();
    target(&st, &caller, &uri, &id, true)?;
    let tags = crate::clone::sdn::tags::from_body(&body)?;
    st.tags.insert(id.clone(), tags);
    ok(StatusCode::OK, json!({"tags": st.tags_of(&id)}))
}

pub(super) async fn clear(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Reply {
    let mut st = svc.lock();
    target(&st, &caller, &uri, &id, true)?;
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
    caller: Caller,
    Path((id, tag)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Reply {
    let st = svc.lock();
    target(&st, &caller, &uri, &id, false)?;
    if !st.tags.get(&id).is_some_and(|t| t.contains(&tag)) {
        return Err(no_tag(&tag).into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn add(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path((id, tag)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Reply {
    let mut st = svc.lock();
    target(&st, &caller, &uri, &id, true)?;
    crate::clone::sdn::tags::check(&tag)?;
    let tags = st.tags.entry(id).or_default();
    if tags.len() >= crate::clone::sdn::tags::MAX_TAGS && !tags.contains(&tag) {
        return Err(SdnError::BadRequest(format!(
            "Invalid input for operation: at most {} tags.",
            crate::clone::sdn::tags::MAX_TAGS
        ))
        .into());
    }
    tags.insert(tag);
    Ok(StatusCode::CREATED.into_response())
}

pub(super) async fn remove(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path((id, tag)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Reply {
    let mut st = svc.lock();
    target(&st, &caller, &uri, &id, true)?;
    if !st.tags.get_mut(&id).is_some_and(|t| t.remove(&tag)) {
        return Err(no_tag(&tag).into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
