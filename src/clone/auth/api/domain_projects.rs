//! Projects acting as domains (`is_domain`). Keystone keeps a domain as a project with
//! `is_domain: true`; the clone keeps domains apart and shows them through
//! `/v3/projects` as such projects: created with `is_domain: true`, listed with
//! `?is_domain=true`, and shown, updated and deleted by their id. Everything else about
//! projects is `resources.rs`'s.

use super::{ApiError, missing};
use crate::clone::auth::policy::{Op, of};
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::resources::{self, Resource, check_name, check_rename, enabled_is};
use super::{Body, Q, Reply, Service, Shared, json_response, object, opt_bool, opt_str};
use crate::clone::auth::model::{Domain, Project};

impl Service {
    fn domain_as_project(&self, d: &Domain) -> Value {
        json!({"id": d.id, "name": d.name, "domain_id": null, "description": d.description,
               "enabled": d.enabled, "parent_id": null, "is_domain": true, "tags": [],
               "options": {}, "links": self.link(&format!("projects/{}", d.id))})
    }
}

fn truthy(v: &str) -> bool {
    !matches!(v, "false" | "False" | "0")
}

pub(super) async fn list(s: AxState<Shared>, headers: HeaderMap, Query(q): Q) -> Reply {
    if !q.get("is_domain").is_some_and(|v| truthy(v)) {
        return resources::list::<Project>(s, headers, Query(q)).await;
    }
    let AxState(s) = s;
    let st = s.lock();
    s.authorize(&st, &headers, &of::PROJECT, Op::List, |_| false)?;
    let items: Vec<Value> = st
        .domains
        .values()
        .filter(|d| d.matches(&q) && enabled_is(&q, d.enabled()))
        .map(|d| s.domain_as_project(d))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({"projects": items, "links": s.list_links("projects")}),
    ))
}

pub(super) async fn create(s: AxState<Shared>, headers: HeaderMap, body: Body) -> Reply {
    let is_domain = body.0["project"]["is_domain"].as_bool() == Some(true);
    if !is_domain {
        return resources::create::<Project>(s, headers, body).await;
    }
    let (AxState(s), Body(body)) = (s, body);
    let mut st = s.lock();
    s.authorize(&st, &headers, &of::PROJECT, Op::Create, |_| false)?;
    let o = object(&body, "project")?;
    let name =
        opt_str(o, "name").ok_or_else(|| ApiError::from(super::bad("project needs a name")))?;
    check_name::<Domain>(&name)?;
    let description = opt_str(o, "description").unwrap_or_default();
    let d = st.create_domain(&name, &description, opt_bool(o, "enabled", true))?;
    s.save(&st);
    Ok(json_response(
        StatusCode::CREATED,
        json!({"project": s.domain_as_project(&d)}),
    ))
}

/// Whether `id` names a domain and no project.
fn a_domain(s: &Service, id: &str) -> bool {
    let st = s.lock();
    !st.projects.contains_key(id) && st.domains.contains_key(id)
}

pub(super) async fn show(s: AxState<Shared>, headers: HeaderMap, id: Path<String>) -> Reply {
    if !a_domain(&s, &id) {
        return resources::show::<Project>(s, headers, id).await;
    }
    let st = s.lock();
    s.authorize(&st, &headers, &of::PROJECT, Op::Show, |_| false)?;
    let d = st
        .domains
        .get(&*id)
        .ok_or_else(|| missing("project", &id))?;
    Ok(json_response(
        StatusCode::OK,
        json!({"project": s.domain_as_project(d)}),
    ))
}

pub(super) async fn update(
    s: AxState<Shared>,
    headers: HeaderMap,
    id: Path<String>,
    body: Body,
) -> Reply {
    if !a_domain(&s, &id) {
        return resources::update::<Project>(s, headers, id, body).await;
    }
    let mut st = s.lock();
    s.authorize(&st, &headers, &of::PROJECT, Op::Update, |_| false)?;
    let o = object(&body.0, "project")?.clone();
    check_rename::<Domain>(&st, &id, &o)?;
    let hashing = st.hashing;
    let d = st
        .domains
        .get_mut(&*id)
        .ok_or_else(|| missing("project", &id))?;
    d.update(&o, &hashing);
    let d = d.clone();
    s.save(&st);
    Ok(json_response(
        StatusCode::OK,
        json!({"project": s.domain_as_project(&d)}),
    ))
}

pub(super) async fn delete(s: AxState<Shared>, headers: HeaderMap, id: Path<String>) -> Reply {
    if !a_domain(&s, &id) {
        return resources::delete::<Project>(s, headers, id).await;
    }
    let mut st = s.lock();
    s.authorize(&st, &headers, &of::PROJECT, Op::Delete, |_| false)?;
    st.delete_domain(&id)?;
    s.save(&st);
    Ok(StatusCode::NO_CONTENT.into_response())
}
