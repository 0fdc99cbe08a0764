//! `/v3/domains/{id}/config[/{group}[/{option}]]` and `/v3/domains/config/.../default`
//! over `domain_config.rs`, for admins, as Keystone's default policy has them.

use super::ApiError;
use crate::clone::auth::error::AuthError;
use crate::clone::auth::policy::{Op, of};
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::{Body, Reply, Shared, authorized_change, bad, json_response};
use crate::clone::auth::domain_config::{self, Config};

fn read(
    s: &super::Service,
    headers: &HeaderMap,
    answer: impl FnOnce(&crate::clone::auth::model::State) -> Result<Value, AuthError>,
) -> Reply {
    let st = s.lock();
    s.authorize(&st, headers, &of::DOMAIN_CONFIG, Op::Show, |_| false)?;
    let config = answer(&st)?;
    Ok(json_response(StatusCode::OK, json!({ "config": config })))
}

pub(super) async fn defaults(AxState(s): AxState<Shared>, headers: HeaderMap) -> Reply {
    read(&s, &headers, |_| domain_config::defaults(None, None))
}

pub(super) async fn group_defaults(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(group): Path<String>,
) -> Reply {
    read(&s, &headers, |_| {
        domain_config::defaults(Some(&group), None)
    })
}

pub(super) async fn option_default(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((group, option)): Path<(String, String)>,
) -> Reply {
    read(&s, &headers, |_| {
        domain_config::defaults(Some(&group), Some(&option))
    })
}

pub(super) async fn show(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(domain): Path<String>,
) -> Reply {
    read(&s, &headers, |st| {
        st.show_domain_config(&domain, None, None)
    })
}

pub(super) async fn show_group(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((domain, group)): Path<(String, String)>,
) -> Reply {
    read(&s, &headers, |st| {
        st.show_domain_config(&domain, Some(&group), None)
    })
}

pub(super) async fn show_option(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((domain, group, option)): Path<(String, String, String)>,
) -> Reply {
    read(&s, &headers, |st| {
        st.show_domain_config(&domain, Some(&group), Some(&option))
    })
}

/// PUT: a new configuration, 201 (200 when it replaced one).
pub(super) async fn create(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(domain): Path<String>,
    Body(body): Body,
) -> Reply {
    authorized_change(&s, &headers, &of::DOMAIN_CONFIG, Op::Create, |st| {
        let config = domain_config::parse(&body["config"])?;
        let shown = domain_config::shown(&config);
        let replaced = st.put_domain_config(&domain, config)?;
        let status = if replaced {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        Ok(Some((status, json!({ "config": shown }))))
    })
}

/// PATCH at any depth: the change must stay within the path's group and option.
async fn update_at(
    s: Shared,
    headers: HeaderMap,
    domain: String,
    group: Option<String>,
    option: Option<String>,
    body: Value,
) -> Reply {
    authorized_change(&s, &headers, &of::DOMAIN_CONFIG, Op::Update, |st| {
        let change: Config = match (&group, &option) {
            (Some(g), Some(o)) => {
                let value = body["config"]
                    .as_object()
                    .filter(|c| c.len() == 1)
                    .and_then(|c| c.get(o))
                    .ok_or_else(|| {
                        ApiError::from(bad(format!("expected {{\"config\": {{\"{o}\": ...}}}}")))
                    })?;
                domain_config::parse(&json!({ g: { o: value } }))?
            }
            (Some(g), None) => {
                let c = body["config"]
                    .as_object()
                    .filter(|c| c.len() == 1 && c.contains_key(g));
                let c = c.ok_or_else(|| {
                    ApiError::from(bad(format!(
                        "expected {{\"config\": {{\"{g}\": {{...}}}}}}"
                    )))
                })?;
                domain_config::parse(&Value::Object(c.clone()))?
            }
            _ => domain_config::parse(&body["config"])?,
        };
        let config = st.update_domain_config(&domain, change)?;
        Ok(Some((StatusCode::OK, json!({ "config": config }))))
    })
}

pub(super) async fn update(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(domain): Path<String>,
    Body(body): Body,
) -> Reply {
    update_at(s, headers, domain, None, None, body).await
}

pub(super) async fn update_group(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((domain, group)): Path<(String, String)>,
    Body(body): Body,
) -> Reply {
    update_at(s, headers, domain, Some(group), None, body).await
}

pub(super) async fn update_option(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((domain, group, option)): Path<(String, String, String)>,
    Body(body): Body,
) -> Reply {
    update_at(s, headers, domain, Some(group), Some(option), body).await
}

pub(super) async fn delete(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(domain): Path<String>,
) -> Reply {
    authorized_change(&s, &headers, &of::DOMAIN_CONFIG, Op::Delete, |st| {
        st.delete_domain_config(&domain, None, None)?;
        Ok(None)
    })
}

pub(super) async fn delete_group(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((domain, group)): Path<(String, String)>,
) -> Reply {
    authorized_change(&s, &headers, &of::DOMAIN_CONFIG, Op::Delete, |st| {
        st.delete_domain_config(&domain, Some(&group), None)?;
        Ok(None)
    })
}

pub(super) async fn delete_option(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((domain, group, option)): Path<(String, String, String)>,
) -> Reply {
    authorized_change(&s, &headers, &of::DOMAIN_CONFIG, Op::Delete, |st| {
        st.delete_domain_config(&domain, Some(&group), Some(&option))?;
        Ok(None)
    })
}
