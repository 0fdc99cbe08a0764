//! What a client asks before anything else: `/`, `/v2.0` and `/v2.0/extensions`.

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Reply, Shared, ok};
use crate::clone::sdn::error::SdnError;

pub(super) async fn versions(AxState(svc): AxState<Shared>) -> Reply {
    ok(
        StatusCode::OK,
        json!({"versions": [{"id": "v2.0", "status": "CURRENT",
            "links": [{"rel": "self", "href": format!("{}/v2.0/", svc.public_url)}]}]}),
    )
}

pub(super) async fn resources(AxState(svc): AxState<Shared>) -> Reply {
    let r: Vec<Value> = ["network", "subnet", "port", "security_group", "security_group_rule", "quota", "router", "floatingip", "subnetpool", "agent"]
        .iter()
        .map(|n| json!({"name": n, "collection": format!("{n}s").replace('_', "-"),
                         "links": [{"rel": "self", "href": format!("{}/v2.0/{n}s", svc.public_url)}]}))
        .collect();
    ok(StatusCode::OK, json!({"resources": r}))
}

fn extension_json(alias: &str) -> Value {
    json!({"alias": alias, "name": alias, "description": format!("{alias} (vstage sdn clone)"),
           "updated": "2020-01-01T00:00:00-00:00", "links": []})
}

pub(super) async fn extensions(AxState(svc): AxState<Shared>) -> Reply {
    let e: Vec<Value> = svc.extensions.iter().map(|a| extension_json(a)).collect();
    ok(StatusCode::OK, json!({"extensions": e}))
}

pub(super) async fn extension(AxState(svc): AxState<Shared>, Path(alias): Path<String>) -> Reply {
    if !svc.extensions.contains(&alias) {
        return Err(SdnError::NotFound {
            kind: "extension",
            id: alias,
        }
        .into());
    }
    ok(StatusCode::OK, json!({"extension": extension_json(&alias)}))
}

/// A collection the clone offers none of (trunks): an empty list.
pub(super) async fn empty_list(uri: axum::http::Uri) -> Reply {
    let name = uri
        .path()
        .trim_start_matches("/v2.0/")
        .split('/')
        .next()
        .unwrap_or("")
        .replace('-', "_");
    ok(StatusCode::OK, json!({ name: [] }))
}
