//! `/v2.0/quotas[/{project}[/default]]`: a project sees its own quota, admins list, see
//! and set all (`policy::of::QUOTA`).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::{Body, Reply, Shared, body_object, ok};
use crate::clone::sdn::model::State;
use crate::clone::sdn::policy::{Guarded, Policy, of};
use crate::clone::sdn::token::Caller;

/// The quota of one project, as the policy sees it.
struct QuotaOf<'a>(&'a str);

impl Guarded for QuotaOf<'_> {
    const POLICY: Policy = of::QUOTA;
    fn project(&self) -> &str {
        self.0
    }
}

fn quota_json(project: &str, limits: &BTreeMap<&str, i64>) -> Value {
    let mut q: Map<String, Value> = limits
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    q.insert("project_id".into(), json!(project));
    q.insert("tenant_id".into(), json!(project));
    Value::Object(q)
}

async fn show(AxState(svc): AxState<Shared>, caller: Caller, Path(project): Path<String>) -> Reply {
    let st = svc.lock();
    of::QUOTA.show(&st, &caller, &project, Some(&QuotaOf(&project)))?;
    ok(
        StatusCode::OK,
        json!({"quota": quota_json(&project, &st.quota(&project))}),
    )
}

async fn default(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path(project): Path<String>,
) -> Reply {
    let st = svc.lock();
    of::QUOTA.show(&st, &caller, &project, Some(&QuotaOf(&project)))?;
    ok(
        StatusCode::OK,
        json!({"quota": quota_json(&project, &State::default_quota())}),
    )
}

/// The projects with limits of their own (admins).
async fn list(AxState(svc): AxState<Shared>, caller: Caller) -> Reply {
    of::QUOTA.admin_action(&caller, "get_quota")?;
    let st = svc.lock();
    let items: Vec<Value> = st
        .quotas
        .keys()
        .map(|p| quota_json(p, &st.quota(p)))
        .collect();
    ok(StatusCode::OK, json!({"quotas": items}))
}

async fn update(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path(project): Path<String>,
    Body(body): Body,
) -> Reply {
    let mut st = svc.lock();
    of::QUOTA.change(&st, &caller, &project, Some(&QuotaOf(&project)))?;
    let o = body_object(&body, "quota")?;
    st.set_quota(&project, o)?;
    let q = quota_json(&project, &st.quota(&project));
    ok(StatusCode::OK, json!({"quota": q}))
}

async fn reset(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path(project): Path<String>,
) -> Reply {
    let mut st = svc.lock();
    of::QUOTA.change(&st, &caller, &project, Some(&QuotaOf(&project)))?;
    st.reset_quota(&project);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) fn routes(router: Router<Shared>) -> Router<Shared> {
    router
        .route("/v2.0/quotas", get(list))
        .route(
            "/v2.0/quotas/{project}",
            get(show).put(update).delete(reset),
        )
        .route("/v2.0/quotas/{project}/default", get(default))
}
