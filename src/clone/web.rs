//! What both clones' HTTP layers share: a JSON reply, a request's JSON body, and the
//! URL a request reached the clone at (links and catalogs are built in the caller's
//! terms: a guest is told `http://auth:5000`, the host `http://127.0.0.1:PORT`). Each
//! clone keeps its own error format (Keystone's and Neutron's differ) and its own
//! collection kit over its own policy (`auth/api/collection.rs`, `sdn/api/resource.rs`).

use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// `body` as JSON with `status`.
pub fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A request's body as JSON, or why not (each clone answers that in its own format:
/// axum's own answer is plain text, which clients do not parse).
pub async fn json_body<S: Send + Sync>(
    req: axum::extract::Request,
    state: &S,
) -> Result<Value, JsonRejection> {
    axum::Json::<Value>::from_request(req, state)
        .await
        .map(|axum::Json(v)| v)
}

/// `http://HOST` from the request's `Host` header, if it is a host name or address with
/// a port and nothing else; `fallback` otherwise.
pub fn base_url(headers: &HeaderMap, fallback: &str) -> String {
    headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .map(|h| format!("http://{h}"))
        .unwrap_or_else(|| fallback.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_is_the_host_the_caller_used_unless_it_is_odd() {
        let mut h = HeaderMap::new();
        assert_eq!(base_url(&h, "http://x:1"), "http://x:1");
        h.insert("host", "auth:5000".parse().unwrap());
        assert_eq!(base_url(&h, "http://x:1"), "http://auth:5000");
        h.insert("host", "[::1]:9696".parse().unwrap());
        assert_eq!(base_url(&h, "http://x:1"), "http://[::1]:9696");
        h.insert("host", "evil/path".parse().unwrap());
        assert_eq!(base_url(&h, "http://x:1"), "http://x:1");
    }
}
