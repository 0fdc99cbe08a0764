//! `/v3/projects/{id}/tags[/{tag}]`: a project's tags, read by those who may see the
//! project, changed by admins.

use super::{ApiError, missing};
use crate::clone::auth::policy::{Op, of};
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{Body, Reply, Shared, authorized_change, bad, json_response};
use crate::clone::auth::model::Scope;

/// `project`'s tags, if the caller may read them (`policy::of::PROJECT_TAG`: an admin, or
/// scoped to it).
fn may_read(
    s: &super::Service,
    headers: &HeaderMap,
    project: &str,
) -> Result<Vec<String>, super::ApiError> {
    let st = s.lock();
    let t = s.caller(&st, headers)?;
    let p = st
        .projects
        .get(project)
        .ok_or_else(|| missing("project", project))?;
    of::PROJECT_TAG.check(&st, &t, Op::List, || {
        t.scope == Scope::Project(project.into())
    })?;
    Ok(p.tags.clone())
}

pub(super) async fn list(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    let tags = may_read(&s, &headers, &id)?;
    Ok(json_response(StatusCode::OK, json!({"tags": tags})))
}

pub(super) async fn put_all(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    authorized_change(&s, &headers, &of::PROJECT_TAG, Op::Update, |st| {
        let tags: Vec<String> = body
            .get("tags")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(|t| t.as_str().map(String::from)).collect())
            .ok_or_else(|| ApiError::from(bad("expected {\"tags\": [\"...\"]}")))?;
        let tags = st.set_tags(&id, &tags)?;
        Ok(Some((StatusCode::OK, json!({"tags": tags}))))
    })
}

pub(super) async fn delete_all(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    authorized_change(&s, &headers, &of::PROJECT_TAG, Op::Delete, |st| {
        st.set_tags(&id, &[])?;
        Ok(None)
    })
}

pub(super) async fn check(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> Reply {
    if may_read(&s, &headers, &id)?.contains(&tag) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(missing("tag", &tag))
    }
}

pub(super) async fn put(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> Reply {
    let mut st = s.lock();
    s.authorize(&st, &headers, &of::PROJECT_TAG, Op::Create, |_| false)?;
    st.add_tag(&id, &tag)?;
    s.save(&st);
    // 201 with no body, as the API working group's tag guideline (and Keystone) have it.
    Ok(StatusCode::CREATED.into_response())
}

pub(super) async fn delete(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> Reply {
    authorized_change(&s, &headers, &of::PROJECT_TAG, Op::Delete, |st| {
        st.remove_tag(&id, &tag)?;
        Ok(None)
    })
}
