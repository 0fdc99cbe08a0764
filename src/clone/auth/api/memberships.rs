//! Who belongs where: a user's projects and groups, a group's users, and adding,
//! checking and removing a user in a group.

use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::json;

use super::*;

pub(super) async fn user_projects(
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

pub(super) async fn group_users(
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

pub(super) async fn user_groups(
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

pub(super) async fn member(
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
