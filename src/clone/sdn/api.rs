//! The SDN clone's HTTP API: Neutron v2.0 as `shared/docs/clone-contracts.md` §3
//! measured Nova and the clients using it. This file is the router and what every
//! collection shares (bodies, replies, errors, the token middleware); each collection
//! lives in its own file under `api/`, served through `api/resource.rs` with its policy
//! from `policy.rs`.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Map, Value, json};

use super::error::SdnError;
use super::listing::{self, pairs};
pub use super::service::Service;

mod agents;
mod discovery;
mod l3;
mod networks;
mod ports;
mod quotas;
mod resource;
mod rules;
mod security_groups;
mod subnetpools;
mod subnets;
mod tags;

type Shared = Arc<Service>;
type Reply = Result<Response, ApiError>;

pub struct ApiError(SdnError);

impl From<SdnError> for ApiError {
    fn from(e: SdnError) -> ApiError {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({"NeutronError": {"type": self.0.kind(), "message": self.0.to_string(), "detail": ""}});
        (status, axum::Json(body)).into_response()
    }
}

/// A request's JSON body. What is not JSON gets Neutron's JSON 400 (axum's own
/// extractor answers in plain text, 415 or 422, which clients do not parse).
pub struct Body(pub Value);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, s: &S) -> Result<Body, ApiError> {
        match crate::clone::web::json_body(req, s).await {
            Ok(v) => Ok(Body(v)),
            Err(_) => Err(ApiError(SdnError::BadRequest(
                "Malformed request body".into(),
            ))),
        }
    }
}

fn unauthorized() -> Response {
    let body = json!({"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}});
    (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
}

fn ok(status: StatusCode, body: Value) -> Reply {
    Ok(crate::clone::web::reply(status, body))
}

/// One resource as a show answers it: only the `fields=` asked for (a show takes no
/// filters).
fn shown(kind: &str, item: Value, uri: &axum::http::Uri) -> Reply {
    let query = pairs(uri);
    let fields: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "fields")
        .map(|(_, v)| v.as_str())
        .collect();
    ok(
        StatusCode::OK,
        json!({kind: listing::project(item, &fields)}),
    )
}

/// A list's body (`listing`), with links in the caller's terms: the scheme and
/// authority it reached the clone at (its Host header), as Neutron builds them.
fn listed(
    svc: &Service,
    collection: &str,
    items: Vec<Value>,
    uri: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
) -> Reply {
    let base = crate::clone::web::base_url(headers, &svc.public_url);
    let body = listing::listing(collection, items, &pairs(uri), &base, uri.path())?;
    ok(StatusCode::OK, body)
}

fn body_object<'a>(body: &'a Value, key: &str) -> Result<&'a Map<String, Value>, SdnError> {
    body.get(key).and_then(Value::as_object).ok_or_else(|| {
        SdnError::BadRequest(format!("Resource body required: {{\"{key}\": {{...}}}}"))
    })
}

/// A resource's body as its typed request: a field of the wrong type is Neutron's 400.
fn typed<T: serde::de::DeserializeOwned>(o: &Map<String, Value>) -> Result<T, SdnError> {
    T::deserialize(Value::Object(o.clone()))
        .map_err(|e| SdnError::BadRequest(format!("Invalid input for operation: {e}.")))
}

fn s(o: &Map<String, Value>, k: &str) -> Option<String> {
    o.get(k).and_then(Value::as_str).map(String::from)
}

fn b(o: &Map<String, Value>, k: &str, d: bool) -> bool {
    o.get(k).and_then(Value::as_bool).unwrap_or(d)
}

/// One `fixed_ips` entry: a subnet, an address, or both.
type IpRequest = (Option<String>, Option<IpAddr>);

/// `fixed_ips` of a request: `[{"subnet_id"?, "ip_address"?}]`.
fn requested_ips(list: &[Value]) -> Result<Vec<IpRequest>, SdnError> {
    list.iter()
        .map(|f| {
            let address = f
                .get("ip_address")
                .and_then(Value::as_str)
                .map(ip)
                .transpose()?;
            Ok((
                f.get("subnet_id").and_then(Value::as_str).map(String::from),
                address,
            ))
        })
        .collect()
}

fn ip(v: &str) -> Result<IpAddr, SdnError> {
    v.parse().map_err(|_| {
        SdnError::BadRequest(format!("Invalid input: '{v}' is not a valid IP address"))
    })
}

/// Middleware: every `/v2.0` call needs a token the identity service vouches for; the
/// caller it names is the handlers' `Caller`.
async fn authenticate(
    AxState(svc): AxState<Shared>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(token) = req
        .headers()
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
    else {
        return unauthorized();
    };
    match svc.validator.validate(&token).await {
        Some(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        None => unauthorized(),
    }
}

/// The Neutron v2.0 routes.
pub fn router(service: Shared) -> Router {
    use resource::routes;
    let api = Router::new()
        .route("/v2.0/extensions", get(discovery::extensions))
        .route("/v2.0/extensions/{alias}", get(discovery::extension));
    let api = routes::<super::model::Network>(api);
    let api = routes::<super::model::Subnet>(api);
    let api = routes::<super::model::Port>(api);
    let api = routes::<super::security_groups::SecurityGroup>(api);
    let api = routes::<super::security_groups::Rule>(api);
    let api = routes::<super::subnetpools::SubnetPool>(api);
    let api = l3::l3_routes(quotas::routes(api));
    let api = api
        .route("/v2.0/agents", get(agents::list))
        .route(
            "/v2.0/agents/{id}",
            get(agents::show).put(agents::update).delete(agents::delete),
        )
        .route(
            "/v2.0/agents/{id}/dhcp-networks",
            get(agents::networks_of).post(agents::host_network),
        )
        .route(
            "/v2.0/agents/{id}/dhcp-networks/{network}",
            axum::routing::delete(agents::unhost_network),
        )
        .route(
            "/v2.0/networks/{id}/dhcp-agents",
            get(agents::dhcp_agents_of),
        )
        .route("/v2.0/availability_zones", get(agents::zones))
        .route(
            "/v2.0/vstage/l2-agents/{host}/devices",
            put(agents::l2_report),
        )
        .route("/v2.0/trunks", get(discovery::empty_list));
    let api = tags::TAGGED
        .iter()
        .fold(api, |api, c| {
            api.route(
                &format!("/v2.0/{c}/{{id}}/tags"),
                get(tags::list).put(tags::replace).delete(tags::clear),
            )
            .route(
                &format!("/v2.0/{c}/{{id}}/tags/{{tag}}"),
                get(tags::check).put(tags::add).delete(tags::remove),
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            service.clone(),
            authenticate,
        ));
    Router::new()
        .route("/", get(discovery::versions))
        .route("/v2.0", get(discovery::resources))
        .route("/v2.0/", get(discovery::resources))
        .merge(api)
        .with_state(service)
}
