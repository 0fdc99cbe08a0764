//! `/v3/roles/{prior}/implies[/{implied}]` and `/v3/role_inferences`: the inference
//! rules, for admins, as Keystone answers them (a `HEAD` check is a 204).

use super::missing;
use crate::clone::auth::policy::{Op, of};
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{Reply, Service, Shared, authorized_change, json_response};
use crate::clone::auth::model::{Role, State};

impl Service {
    fn role_ref(&self, r: &Role) -> Value {
        json!({"id": r.id, "name": r.name, "description": r.description,
               "links": self.link(&format!("roles/{}", r.id))})
    }

    fn inference_json(&self, st: &State, prior: &str, implies: Value) -> Value {
        json!({
            "role_inference": {"prior_role": st.roles.get(prior).map(|r| self.role_ref(r)), "implies": implies},
            "links": self.link(&format!("roles/{prior}/implies")),
        })
    }

    fn rule_json(&self, st: &State, prior: &str, implied: &str) -> Value {
        let implies = st.roles.get(implied).map(|r| self.role_ref(r));
        let mut v = self.inference_json(st, prior, json!(implies));
        v["links"] = self.link(&format!("roles/{prior}/implies/{implied}"));
        v
    }
}

pub(super) async fn put(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((prior, implied)): Path<(String, String)>,
) -> Reply {
    authorized_change(&s, &headers, &of::IMPLIED_ROLE, Op::Create, |st| {
        st.imply(&prior, &implied)?;
        Ok(Some((
            StatusCode::CREATED,
            s.rule_json(st, &prior, &implied),
        )))
    })
}

pub(super) async fn show(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((prior, implied)): Path<(String, String)>,
) -> Reply {
    let st = s.lock();
    s.authorize(&st, &headers, &of::IMPLIED_ROLE, Op::Show, |_| false)?;
    st.has_rule(&prior, &implied)?;
    Ok(json_response(
        StatusCode::OK,
        s.rule_json(&st, &prior, &implied),
    ))
}

pub(super) async fn check(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((prior, implied)): Path<(String, String)>,
) -> Reply {
    let st = s.lock();
    s.authorize(&st, &headers, &of::IMPLIED_ROLE, Op::Check, |_| false)?;
    st.has_rule(&prior, &implied)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn delete(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((prior, implied)): Path<(String, String)>,
) -> Reply {
    authorized_change(&s, &headers, &of::IMPLIED_ROLE, Op::Delete, |st| {
        st.unimply(&prior, &implied)?;
        Ok(None)
    })
}

pub(super) async fn list(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(prior): Path<String>,
) -> Reply {
    let st = s.lock();
    s.authorize(&st, &headers, &of::IMPLIED_ROLE, Op::List, |_| false)?;
    if !st.roles.contains_key(&prior) {
        return Err(missing("role", &prior));
    }
    let implies: Vec<Value> = st.implies(&prior).map(|r| s.role_ref(r)).collect();
    Ok(json_response(
        StatusCode::OK,
        s.inference_json(&st, &prior, json!(implies)),
    ))
}

pub(super) async fn list_all(AxState(s): AxState<Shared>, headers: HeaderMap) -> Reply {
    let st = s.lock();
    s.authorize(&st, &headers, &of::IMPLIED_ROLE, Op::List, |_| false)?;
    let priors: std::collections::BTreeSet<&String> = st.rules().map(|(p, _)| p).collect();
    let items: Vec<Value> = priors
        .into_iter()
        .map(|p| {
            let implies: Vec<Value> = st.implies(p).map(|r| s.role_ref(r)).collect();
            json!({"prior_role": st.roles.get(p).map(|r| s.role_ref(r)), "implies": implies})
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({"role_inferences": items, "links": s.list_links("role_inferences")}),
    ))
}
