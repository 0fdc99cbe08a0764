//! `/` and `/v3`: the versions a client discovers first.

use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::*;

fn version_json(base: &str) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{base}/v3/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

pub(super) async fn versions(AxState(s): AxState<Shared>) -> Response {
    json_response(
        StatusCode::MULTIPLE_CHOICES,
        json!({"versions": {"values": [version_json(&s.base())]}}),
    )
}

pub(super) async fn version(AxState(s): AxState<Shared>) -> Response {
    json_response(StatusCode::OK, json!({"version": version_json(&s.base())}))
}
