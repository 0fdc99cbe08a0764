//! The SDN clone's HTTP API: Neutron v2.0 as `shared/docs/clone-contracts.md` §3
//! measured Nova and the clients using it.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Map, Value, json};

use std::collections::{BTreeMap, BTreeSet};

use tokio::sync::mpsc::UnboundedSender;

use super::FabricEvent;
use super::listing::{self, pairs};
use super::model::{PortRequest, SdnError, State};
use super::routers::{FLOATING_OWNER, GATEWAY_OWNER, INTERFACE_OWNER};
use super::token::{Caller, Validator};
use super::view::rule_json;
use crate::net::Mac;

pub struct Service {
    state: Mutex<State>,
    validator: Validator,
    /// Where changes to the fabric go (the env's supervisor), if anywhere.
    fabric: Option<UnboundedSender<FabricEvent>>,
    /// Newly plugged VIFs to tell Nova about, in event mode.
    plugged: Option<UnboundedSender<super::notify::Plugged>>,
    /// Extension aliases `GET /v2.0/extensions` advertises.
    pub extensions: Vec<String>,
    pub public_url: String,
    /// Where the state is written through after every change (inside an env), so that
    /// a copy of the directory is the service (snapshots).
    store: Option<std::path::PathBuf>,
}

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
        match axum::Json::<Value>::from_request(req, s).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
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

impl Service {
    pub fn new(
        state: State,
        validator: Validator,
        extensions: Vec<String>,
        public_url: String,
        fabric: Option<UnboundedSender<FabricEvent>>,
        plugged: Option<UnboundedSender<super::notify::Plugged>>,
        store: Option<std::path::PathBuf>,
    ) -> Service {
        Service {
            state: Mutex::new(state),
            validator,
            fabric,
            plugged,
            extensions,
            public_url,
            store,
        }
    }

    pub(super) fn lock(&self) -> Locked<'_> {
        let guard = self.state.lock().expect("sdn state lock");
        let watched = self.fabric.is_some() || self.plugged.is_some();
        let before = watched.then(|| Fabric::of(&guard));
        Locked {
            guard,
            fabric: self.fabric.as_ref(),
            plugged: self.plugged.as_ref(),
            before,
            store: self.store.as_deref(),
            changed: false,
        }
    }
}

/// What the fabric cares about: which networks exist and where ports are bound.
#[derive(PartialEq)]
struct Fabric {
    networks: BTreeSet<String>,
    /// port id -> (host, network id, MAC), of ports that give their node a NIC
    bound: BTreeMap<String, (String, String, Mac)>,
    /// port id -> host, of servers' ports whose VIF their host's L2 agent has seen:
    /// each new one is a VIF Nova may wait for.
    plugged: BTreeMap<String, String>,
    routers: BTreeMap<String, super::routers::InFabric>,
}

impl Fabric {
    fn of(st: &State) -> Fabric {
        Fabric {
            networks: st.networks.keys().cloned().collect(),
            bound: st
                .ports
                .values()
                .filter(|p| p.plugs_a_nic())
                .map(|p| {
                    (
                        p.id.clone(),
                        (p.host_id.clone(), p.network_id.clone(), p.mac),
                    )
                })
                .collect(),
            plugged: st
                .ports
                .values()
                .filter(|p| p.plugged && !p.host_id.is_empty() && !p.plugs_a_nic())
                .map(|p| (p.id.clone(), p.host_id.clone()))
                .collect(),
            routers: st.routers_in_fabric(),
        }
    }

    /// VIFs plugged, or plugged elsewhere, since `self`.
    fn newly_plugged<'a>(
        &'a self,
        after: &'a Fabric,
    ) -> impl Iterator<Item = (&'a String, &'a String)> {
        after
            .plugged
            .iter()
            .filter(|(id, host)| self.plugged.get(*id) != Some(*host))
    }

    /// The events that turn `self` into `after`, in an order the supervisor can follow.
    fn changes(&self, after: &Fabric) -> Vec<FabricEvent> {
        let mut events: Vec<FabricEvent> = after
            .networks
            .difference(&self.networks)
            .map(|id| FabricEvent::NetworkCreated { id: id.clone() })
            .collect();
        for (id, (host, net, mac)) in &self.bound {
            if after.bound.get(id) != Some(&(host.clone(), net.clone(), *mac)) {
                events.push(FabricEvent::PortUnbound {
                    id: id.clone(),
                    host: host.clone(),
                });
            }
        }
        for (id, (host, net, mac)) in &after.bound {
            if self.bound.get(id) != Some(&(host.clone(), net.clone(), *mac)) {
                events.push(FabricEvent::PortBound {
                    id: id.clone(),
                    network_id: net.clone(),
                    host: host.clone(),
                    mac: *mac,
                });
            }
        }
        for id in self.routers.keys() {
            if !after.routers.contains_key(id) {
                events.push(FabricEvent::RouterDeleted { id: id.clone() });
            }
        }
        for (id, now @ (interfaces, routes)) in &after.routers {
            if self.routers.get(id) != Some(now) {
                events.push(FabricEvent::RouterSet {
                    id: id.clone(),
                    interfaces: interfaces.clone(),
                    routes: routes.clone(),
                });
            }
        }
        events.extend(
            self.networks
                .difference(&after.networks)
                .map(|id| FabricEvent::NetworkDeleted { id: id.clone() }),
        );
        events
    }
}

/// The state, locked; on release, what changed in the fabric goes to the supervisor.
pub(super) struct Locked<'a> {
    guard: std::sync::MutexGuard<'a, State>,
    fabric: Option<&'a UnboundedSender<FabricEvent>>,
    plugged: Option<&'a UnboundedSender<super::notify::Plugged>>,
    before: Option<Fabric>,
    store: Option<&'a std::path::Path>,
    /// Borrowed mutably: written through on release.
    changed: bool,
}

impl std::ops::Deref for Locked<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.guard
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        self.changed = true;
        &mut self.guard
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if self.changed {
            self.guard.forget_tags_of_the_gone();
            self.guard.forget_networks_of_the_gone();
        }
        if let (Some(path), true) = (self.store, self.changed)
            && let Err(e) = super::save(path, &self.guard)
        {
            eprintln!("sdn clone: writing {}: {e}", path.display());
        }
        let Some(before) = &self.before else { return };
        let after = Fabric::of(&self.guard);
        if let Some(tx) = self.plugged {
            for (id, host) in before.newly_plugged(&after) {
                if let Some(port) = self.guard.ports.get(id) {
                    let _ = tx.send(super::notify::Plugged {
                        port: id.clone(),
                        server: port.device_id.clone(),
                        host: host.clone(),
                    });
                }
            }
        }
        if let Some(tx) = self.fabric {
            for event in before.changes(&after) {
                let _ = tx.send(event);
            }
        }
    }
}

fn ok(status: StatusCode, body: Value) -> Reply {
    Ok((status, axum::Json(body)).into_response())
}

/// Whatever belongs to a project.
trait Owned {
    fn tenant(&self) -> &str;
}

macro_rules! owned {
    ($($t:ty),*) => {$(impl Owned for $t { fn tenant(&self) -> &str { &self.tenant_id } })*};
}
owned!(
    super::model::Network,
    super::model::Subnet,
    super::model::Port,
    super::model::SecurityGroup,
    super::model::Rule
);

// After `owned!`, which they use.
mod agents;
mod l3;
mod subnetpools;
mod tags;

/// The resource `id` if the caller may see it (`shared` says whether it is shared);
/// otherwise Neutron's not-found, so nobody learns what other projects have.
fn seen<'a, T: Owned>(
    map: &'a BTreeMap<String, T>,
    kind: &'static str,
    id: &str,
    caller: &Caller,
    shared: impl Fn(&T) -> bool,
) -> Result<&'a T, SdnError> {
    map.get(id)
        .filter(|r| visible(caller, r.tenant(), shared(r)))
        .ok_or_else(|| SdnError::NotFound {
            kind,
            id: id.to_string(),
        })
}

/// Whether `caller` sees a resource of `tenant`. Resources of the env itself (its
/// template networks and nodes' NICs) belong to no project and are seen by all.
fn visible(caller: &Caller, tenant: &str, shared: bool) -> bool {
    caller.admin || shared || tenant.is_empty() || caller.project_id == tenant
}

/// The items of one collection the caller may see (`shared`: seen by all), rendered.
fn visible_items<'a, T: Owned + 'a>(
    caller: &Caller,
    items: impl Iterator<Item = &'a T>,
    shared: impl Fn(&T) -> bool,
    render: impl Fn(&T) -> Value,
) -> Vec<Value> {
    items
        .filter(|x| visible(caller, x.tenant(), shared(x)))
        .map(render)
        .collect()
}

fn body_object<'a>(body: &'a Value, key: &str) -> Result<&'a Map<String, Value>, SdnError> {
    body.get(key).and_then(Value::as_object).ok_or_else(|| {
        SdnError::BadRequest(format!("Resource body required: {{\"{key}\": {{...}}}}"))
    })
}

fn s(o: &Map<String, Value>, k: &str) -> Option<String> {
    o.get(k).and_then(Value::as_str).map(String::from)
}

fn b(o: &Map<String, Value>, k: &str, d: bool) -> bool {
    o.get(k).and_then(Value::as_bool).unwrap_or(d)
}

fn tenant(caller: &Caller, o: &Map<String, Value>) -> String {
    s(o, "tenant_id")
        .or_else(|| s(o, "project_id"))
        .filter(|_| caller.admin)
        .unwrap_or_else(|| caller.project_id.clone())
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

type CreateOne = fn(&mut State, &Caller, &Map<String, Value>) -> Result<Value, SdnError>;

/// One resource (`{"port": {...}}`) or several at once (`{"ports": [...]}`, all or none).
fn create(
    svc: &Service,
    caller: &Caller,
    body: &Value,
    singular: &str,
    plural: &str,
    one: CreateOne,
) -> Reply {
    let mut st = svc.lock();
    if let Some(items) = body.get(plural).and_then(Value::as_array) {
        let before = (*st).clone();
        let mut made = Vec::new();
        for item in items {
            let result = item
                .as_object()
                .ok_or_else(|| {
                    SdnError::BadRequest(format!("{plural}: expected a list of objects"))
                })
                .and_then(|o| one(&mut st, caller, o));
            match result {
                Ok(v) => made.push(v),
                Err(e) => {
                    *st = before;
                    return Err(e.into());
                }
            }
        }
        return ok(StatusCode::CREATED, json!({ plural: made }));
    }
    let o = body_object(body, singular)?;
    let made = one(&mut st, caller, o)?;
    ok(StatusCode::CREATED, json!({ singular: made }))
}

// ---- handlers ---------------------------------------------------------------------

async fn versions(AxState(svc): AxState<Shared>) -> Reply {
    ok(
        StatusCode::OK,
        json!({"versions": [{"id": "v2.0", "status": "CURRENT",
            "links": [{"rel": "self", "href": format!("{}/v2.0/", svc.public_url)}]}]}),
    )
}

async fn resources(AxState(svc): AxState<Shared>) -> Reply {
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

async fn extensions(AxState(svc): AxState<Shared>) -> Reply {
    let e: Vec<Value> = svc.extensions.iter().map(|a| extension_json(a)).collect();
    ok(StatusCode::OK, json!({"extensions": e}))
}

async fn extension(AxState(svc): AxState<Shared>, Path(alias): Path<String>) -> Reply {
    if !svc.extensions.contains(&alias) {
        return Err(SdnError::NotFound {
            kind: "extension",
            id: alias,
        }
        .into());
    }
    ok(StatusCode::OK, json!({"extension": extension_json(&alias)}))
}

async fn list_networks(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Reply {
    let st = svc.lock();
    let items = visible_items(
        &caller,
        st.networks.values(),
        |n| n.shared || n.external,
        |n| st.network_json(n),
    );
    listed(&svc, "networks", items, &uri, &headers)
}

fn create_network_one(
    st: &mut State,
    caller: &Caller,
    o: &Map<String, Value>,
) -> Result<Value, SdnError> {
    let mtu = o.get("mtu").and_then(Value::as_u64).unwrap_or(1500) as u32;
    st.within_quota(&tenant(caller, o), "network", 1)?;
    let mut n = st.create_network(
        &s(o, "name").unwrap_or_default(),
        &tenant(caller, o),
        b(o, "shared", false),
        b(o, "router:external", false),
        mtu,
    );
    n.admin_state_up = b(o, "admin_state_up", true);
    n.description = s(o, "description").unwrap_or_default();
    st.networks.insert(n.id.clone(), n.clone());
    Ok(st.network_json(&n))
}

async fn create_networks(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Body(body): Body,
) -> Reply {
    create(
        &svc,
        &caller,
        &body,
        "network",
        "networks",
        create_network_one,
    )
}

async fn show_network(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Reply {
    let st = svc.lock();
    let n = seen(&st.networks, "network", &id, &caller, |n| {
        n.shared || n.external
    })?;
    shown("network", st.network_json(n), &uri)
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
    let base = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()))
        .map(|h| format!("http://{h}"))
        .unwrap_or_else(|| svc.public_url.clone());
    let body = listing::listing(collection, items, &pairs(uri), &base, uri.path())?;
    ok(StatusCode::OK, body)
}

async fn update_network(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    let o = body_object(&body, "network")?;
    let mut st = svc.lock();
    let mut n = seen(&st.networks, "network", &id, &caller, |_| false)?.clone();
    n.name = s(o, "name").unwrap_or(n.name);
    n.description = s(o, "description").unwrap_or(n.description);
    n.admin_state_up = b(o, "admin_state_up", n.admin_state_up);
    n.shared = b(o, "shared", n.shared);
    if o.contains_key("router:external") {
        // Neutron's policy: only an admin makes a network external, or not.
        admin_only(&caller)?;
        n.external = b(o, "router:external", n.external);
    }
    st.networks.insert(id, n.clone());
    ok(StatusCode::OK, json!({"network": st.network_json(&n)}))
}

async fn delete_network(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Reply {
    let mut st = svc.lock();
    seen(&st.networks, "network", &id, &caller, |_| false)?;
    st.delete_network(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_subnets(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Reply {
    let st = svc.lock();
    // An external network is seen by all, its subnets only by its project (Neutron),
    // unless the network is shared.
    let items = visible_items(
        &caller,
        st.subnets.values(),
        |s| st.networks.get(&s.network_id).is_some_and(|n| n.shared),
        |s| st.subnet_json(s),
    );
    listed(&svc, "subnets", items, &uri, &headers)
}

fn create_subnet_one(
    st: &mut State,
    caller: &Caller,
    o: &Map<String, Value>,
) -> Result<Value, SdnError> {
    let network_id =
        s(o, "network_id").ok_or_else(|| SdnError::BadRequest("subnet needs network_id".into()))?;
    let cidr = s(o, "cidr")
        .map(|c| c.parse::<super::ipnet::IpNet>())
        .transpose()
        .map_err(|e| SdnError::BadRequest(format!("Invalid input for cidr: {e}")))?;
    let pool = s(o, "subnetpool_id");
    let cidr = match (&pool, cidr) {
        (Some(pool), cidr) => {
            seen(&st.subnetpools, "subnetpool", pool, caller, |p| p.shared)?;
            let len = match o.get("prefixlen") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|x| x.parse().ok()))
                        .filter(|n| *n <= 128)
                        .ok_or_else(|| {
                            SdnError::BadRequest(format!("Invalid input for prefixlen: {v}"))
                        })? as u8,
                ),
            };
            st.carve(pool, cidr, len)?
        }
        (None, Some(cidr)) => cidr,
        (None, None) => {
            return Err(SdnError::BadRequest(
                "Bad subnets request: a cidr or a subnetpool_id must be specified.".into(),
            ));
        }
    };
    let modes = super::ipnet::ipv6_modes(&cidr, o)?;
    let gateway = match o.get("gateway_ip") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(g)) => Some(Some(ip(g)?)),
        Some(_) => {
            return Err(SdnError::BadRequest(
                "gateway_ip must be an address or null".into(),
            ));
        }
    };
    let pools = match o.get("allocation_pools").and_then(Value::as_array) {
        None => None,
        Some(a) => Some(
            a.iter()
                .map(|p| {
                    Ok((
                        ip(p["start"].as_str().unwrap_or(""))?,
                        ip(p["end"].as_str().unwrap_or(""))?,
                    ))
                })
                .collect::<Result<Vec<_>, SdnError>>()?,
        ),
    };
    let dns = o
        .get("dns_nameservers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let net = st.network(&network_id)?;
    if !visible(caller, &net.tenant_id, false) {
        return Err(SdnError::NotFound {
            kind: "network",
            id: network_id,
        });
    }
    st.within_quota(&tenant(caller, o), "subnet", 1)?;
    let mut sub = st.create_subnet(
        &s(o, "name").unwrap_or_default(),
        &network_id,
        &tenant(caller, o),
        cidr,
        gateway,
        pools,
        b(o, "enable_dhcp", true),
        dns,
    )?;
    sub.description = s(o, "description").unwrap_or_default();
    sub.subnetpool_id = pool;
    (sub.ipv6_ra_mode, sub.ipv6_address_mode) = modes;
    sub.host_routes = o
        .get("host_routes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    st.subnets.insert(sub.id.clone(), sub.clone());
    st.schedule_dhcp(&sub.network_id);
    Ok(st.subnet_json(&sub))
}

async fn create_subnets(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Body(body): Body,
) -> Reply {
    create(&svc, &caller, &body, "subnet", "subnets", create_subnet_one)
}

async fn show_subnet(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Reply {
    let st = svc.lock();
    let sub = seen(&st.subnets, "subnet", &id, &caller, |sub| {
        st.networks.get(&sub.network_id).is_some_and(|n| n.shared)
    })?;
    shown("subnet", st.subnet_json(sub), &uri)
}

async fn update_subnet(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    let o = body_object(&body, "subnet")?;
    let mut st = svc.lock();
    let mut sub = seen(&st.subnets, "subnet", &id, &caller, |_| false)?.clone();
    sub.name = s(o, "name").unwrap_or(sub.name);
    sub.description = s(o, "description").unwrap_or(sub.description);
    sub.enable_dhcp = b(o, "enable_dhcp", sub.enable_dhcp);
    match o.get("gateway_ip") {
        Some(Value::Null) => sub.gateway_ip = None,
        Some(Value::String(g)) => {
            let g = ip(g)?;
            if !sub.cidr.is_host(g) {
                return Err(SdnError::BadRequest(format!(
                    "Gateway IP {g} is not in subnet {}.",
                    sub.cidr
                ))
                .into());
            }
            sub.gateway_ip = Some(g);
        }
        _ => {}
    }
    for mode in ["ipv6_ra_mode", "ipv6_address_mode"] {
        if o.contains_key(mode) {
            return Err(
                SdnError::BadRequest(format!("Cannot update read-only attribute {mode}")).into(),
            );
        }
    }
    if let Some(a) = o.get("host_routes").and_then(Value::as_array) {
        sub.host_routes = a.clone();
    }
    if let Some(a) = o.get("dns_nameservers").and_then(Value::as_array) {
        sub.dns_nameservers = a
            .iter()
            .filter_map(|d| d.as_str().map(String::from))
            .collect();
    }
    st.subnets.insert(id, sub.clone());
    ok(StatusCode::OK, json!({"subnet": st.subnet_json(&sub)}))
}

async fn delete_subnet(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Reply {
    let mut st = svc.lock();
    seen(&st.subnets, "subnet", &id, &caller, |_| false)?;
    st.delete_subnet(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_ports(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Reply {
    let st = svc.lock();
    let items = visible_items(&caller, st.ports.values(), |_| false, |p| st.port_json(p));
    listed(&svc, "ports", items, &uri, &headers)
}

fn create_port_one(
    st: &mut State,
    caller: &Caller,
    o: &Map<String, Value>,
) -> Result<Value, SdnError> {
    let network_id =
        s(o, "network_id").ok_or_else(|| SdnError::BadRequest("port needs network_id".into()))?;
    let fixed_ips = requested_ips(
        o.get("fixed_ips")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default(),
    )?;
    let mac = match s(o, "mac_address") {
        Some(m) => Some(m.parse().map_err(|e: String| SdnError::BadRequest(e))?),
        None => None,
    };
    let security_groups = o.get("security_groups").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|g| g.as_str().map(String::from))
            .collect()
    });
    let net = st.network(&network_id)?;
    if !visible(caller, &net.tenant_id, net.shared) {
        return Err(SdnError::NotFound {
            kind: "network",
            id: network_id,
        });
    }
    st.within_quota(&tenant(caller, o), "port", 1)?;
    let mut port = st.create_port(PortRequest {
        name: s(o, "name").unwrap_or_default(),
        network_id,
        tenant_id: tenant(caller, o),
        mac,
        fixed_ips,
        device_id: s(o, "device_id").unwrap_or_default(),
        device_owner: s(o, "device_owner").unwrap_or_default(),
        security_groups,
        admin_state_up: b(o, "admin_state_up", true),
        description: s(o, "description").unwrap_or_default(),
    })?;
    if let Some(pairs) = o.get("allowed_address_pairs") {
        match super::address_pairs::parse(pairs, port.mac) {
            Ok(pairs) => port.allowed_address_pairs = pairs,
            Err(e) => {
                // Nothing of a refused request stays (its addresses are its own).
                st.ports.remove(&port.id);
                return Err(e);
            }
        }
        st.ports.insert(port.id.clone(), port.clone());
    }
    if let Some(host) = s(o, "binding:host_id").filter(|h| !h.is_empty()) {
        bind(&mut port, &host, st.vif_plugged_event);
        st.ports.insert(port.id.clone(), port.clone());
    }
    st.schedule_dhcp(&port.network_id);
    Ok(st.port_json(&port))
}

async fn create_ports(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Body(body): Body,
) -> Reply {
    create(&svc, &caller, &body, "port", "ports", create_port_one)
}

/// Binding: the bridge vif type. A port is ACTIVE at once (contract §3: Nova then waits
/// for no `network-vif-plugged` event), but in event mode a server's port, which stays
/// DOWN until its host's L2 agent has seen the VIF and Nova has taken the event. A
/// node's own NIC is plugged by the fabric, with no Nova waiting.
fn bind(port: &mut super::model::Port, host: &str, wait_for_event: bool) {
    port.host_id = host.to_string();
    port.vif_type = "bridge".into();
    port.plugged = false;
    let waits = wait_for_event && !port.plugs_a_nic();
    port.status = if waits { "DOWN" } else { "ACTIVE" }.into();
}

async fn show_port(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Reply {
    let st = svc.lock();
    let p = seen(&st.ports, "port", &id, &caller, |_| false)?;
    shown("port", st.port_json(p), &uri)
}

async fn update_port(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    let o = body_object(&body, "port")?;
    let mut st = svc.lock();
    let mut p = seen(&st.ports, "port", &id, &caller, |_| false)?.clone();
    p.name = s(o, "name").unwrap_or(p.name);
    p.description = s(o, "description").unwrap_or(p.description);
    p.device_id = s(o, "device_id").unwrap_or(p.device_id);
    p.device_owner = s(o, "device_owner").unwrap_or(p.device_owner);
    p.admin_state_up = b(o, "admin_state_up", p.admin_state_up);
    match o.get("binding:host_id") {
        // The same host again changes nothing (the VIF may be plugged already).
        Some(Value::String(h)) if !h.is_empty() && *h == p.host_id => {}
        Some(Value::String(h)) if !h.is_empty() => bind(&mut p, h, st.vif_plugged_event),
        Some(Value::String(_)) | Some(Value::Null) => {
            p.host_id.clear();
            p.vif_type = "unbound".into();
            p.status = "DOWN".into();
            p.plugged = false;
        }
        _ => {}
    }
    if let Some(groups) = o.get("security_groups").and_then(Value::as_array) {
        let groups: Vec<String> = groups
            .iter()
            .filter_map(|g| g.as_str().map(String::from))
            .collect();
        for g in &groups {
            st.security_groups
                .get(g)
                .ok_or_else(|| SdnError::NotFound {
                    kind: "security-group",
                    id: g.clone(),
                })?;
        }
        p.security_groups = groups;
    }
    if let Some(pairs) = o.get("allowed_address_pairs") {
        p.allowed_address_pairs = super::address_pairs::parse(pairs, p.mac)?;
    }
    st.ports.insert(id.clone(), p.clone());
    if let Some(list) = o.get("fixed_ips").and_then(Value::as_array) {
        st.set_fixed_ips(&id, requested_ips(list)?)?;
        p = st.ports[&id].clone();
    }
    ok(StatusCode::OK, json!({"port": st.port_json(&p)}))
}

async fn delete_port(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Reply {
    let mut st = svc.lock();
    let p = seen(&st.ports, "port", &id, &caller, |_| false)?;
    if [INTERFACE_OWNER, GATEWAY_OWNER, FLOATING_OWNER].contains(&p.device_owner.as_str()) {
        return Err(SdnError::Conflict(format!(
            "Port {id} cannot be deleted directly via the port API: has device owner {}.",
            p.device_owner
        ))
        .into());
    }
    st.ports.remove(&id);
    st.port_gone(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_groups(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Reply {
    let mut st = svc.lock();
    // Every project sees its `default` group, as Neutron makes it on first use.
    st.default_group(&caller.project_id);
    let items = visible_items(
        &caller,
        st.security_groups.values(),
        |_| false,
        |g| st.group_json(g),
    );
    listed(&svc, "security_groups", items, &uri, &headers)
}

async fn create_group(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Body(body): Body,
) -> Reply {
    let o = body_object(&body, "security_group")?;
    let name = s(o, "name").unwrap_or_default();
    let tenant_id = tenant(&caller, o);
    let mut st = svc.lock();
    if name == "default" {
        return Err(SdnError::Conflict("Default security group already exists.".into()).into());
    }
    st.within_quota(&tenant_id, "security_group", 1)?;
    let g = super::model::SecurityGroup {
        id: super::model::new_uuid(),
        name,
        tenant_id: tenant_id.clone(),
        description: s(o, "description").unwrap_or_default(),
    };
    st.security_groups.insert(g.id.clone(), g.clone());
    for ethertype in ["IPv4", "IPv6"] {
        st.add_rule(
            &g.id, &tenant_id, "egress", ethertype, None, None, None, None, None,
        );
    }
    ok(
        StatusCode::CREATED,
        json!({"security_group": st.group_json(&g)}),
    )
}

async fn show_group(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Reply {
    let st = svc.lock();
    let g = seen(&st.security_groups, "security-group", &id, &caller, |_| {
        false
    })?;
    ok(StatusCode::OK, json!({"security_group": st.group_json(g)}))
}

/// PUT: name and description. No group may take the name `default`, and the default
/// group keeps its name (Neutron's 409s).
async fn update_group(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    let o = body_object(&body, "security_group")?;
    let mut st = svc.lock();
    let g = seen(&st.security_groups, "security-group", &id, &caller, |_| {
        false
    })?
    .clone();
    if let Some(name) = s(o, "name")
        && name != g.name
    {
        if g.name == "default" {
            return Err(
                SdnError::Conflict("Updating default security group not allowed.".into()).into(),
            );
        }
        if name == "default" {
            return Err(SdnError::Conflict("Default security group already exists.".into()).into());
        }
    }
    let g = st.security_groups.get_mut(&id).expect("seen above");
    if let Some(name) = s(o, "name") {
        g.name = name;
    }
    if let Some(d) = s(o, "description") {
        g.description = d;
    }
    let g = g.clone();
    ok(StatusCode::OK, json!({"security_group": st.group_json(&g)}))
}

async fn delete_group(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Reply {
    let mut st = svc.lock();
    seen(&st.security_groups, "security-group", &id, &caller, |_| {
        false
    })?;
    st.delete_group(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_rules(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Reply {
    let st = svc.lock();
    let items = visible_items(&caller, st.rules.values(), |_| false, rule_json);
    listed(&svc, "security_group_rules", items, &uri, &headers)
}

async fn create_rule(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Body(body): Body,
) -> Reply {
    let o = body_object(&body, "security_group_rule")?;
    let group = s(o, "security_group_id")
        .ok_or_else(|| SdnError::BadRequest("rule needs security_group_id".into()))?;
    let mut st = svc.lock();
    let g = st
        .security_groups
        .get(&group)
        .cloned()
        .ok_or_else(|| SdnError::NotFound {
            kind: "security-group",
            id: group.clone(),
        })?;
    if !visible(&caller, &g.tenant_id, false) {
        return Err(SdnError::NotFound {
            kind: "security-group",
            id: group,
        }
        .into());
    }
    st.within_quota(&g.tenant_id, "security_group_rule", 1)?;
    let r = super::rules::from_request(&st, &group, &g.tenant_id, o)?;
    st.rules.insert(r.id.clone(), r.clone());
    ok(
        StatusCode::CREATED,
        json!({"security_group_rule": rule_json(&r)}),
    )
}

async fn delete_rule(AxState(svc): AxState<Shared>, Path(id): Path<String>) -> Reply {
    let mut st = svc.lock();
    st.rules.remove(&id).ok_or(SdnError::NotFound {
        kind: "security-group-rule",
        id,
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn quota_json(project: &str, limits: &std::collections::BTreeMap<&str, i64>) -> Value {
    let mut q: Map<String, Value> = limits
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    q.insert("project_id".into(), json!(project));
    q.insert("tenant_id".into(), json!(project));
    Value::Object(q)
}

/// A project's own quota, or any for an admin.
fn may_see_quota(caller: &Caller, project: &str) -> Result<(), SdnError> {
    if caller.admin || caller.project_id == project {
        Ok(())
    } else {
        Err(SdnError::NotFound {
            kind: "quota",
            id: project.into(),
        })
    }
}

async fn show_quota(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(project): Path<String>,
) -> Reply {
    may_see_quota(&caller, &project)?;
    let st = svc.lock();
    ok(
        StatusCode::OK,
        json!({"quota": quota_json(&project, &st.quota(&project))}),
    )
}

async fn default_quota(caller: axum::Extension<Caller>, Path(project): Path<String>) -> Reply {
    may_see_quota(&caller, &project)?;
    ok(
        StatusCode::OK,
        json!({"quota": quota_json(&project, &State::default_quota())}),
    )
}

/// Projects with limits of their own (admins).
async fn list_quotas(AxState(svc): AxState<Shared>, caller: axum::Extension<Caller>) -> Reply {
    admin_only(&caller)?;
    let st = svc.lock();
    let items: Vec<Value> = st
        .quotas
        .keys()
        .map(|p| quota_json(p, &st.quota(p)))
        .collect();
    ok(StatusCode::OK, json!({"quotas": items}))
}

async fn update_quota(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(project): Path<String>,
    Body(body): Body,
) -> Reply {
    admin_only(&caller)?;
    let o = body_object(&body, "quota")?;
    let mut st = svc.lock();
    st.set_quota(&project, o)?;
    let q = quota_json(&project, &st.quota(&project));
    ok(StatusCode::OK, json!({"quota": q}))
}

async fn reset_quota(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(project): Path<String>,
) -> Reply {
    admin_only(&caller)?;
    svc.lock().reset_quota(&project);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Neutron answers a non-admin's admin-only call as if the thing were not there.
fn admin_only(caller: &Caller) -> Result<(), SdnError> {
    if caller.admin {
        Ok(())
    } else {
        Err(SdnError::Forbidden("rule:admin_only".into()))
    }
}

async fn empty_list(uri: axum::http::Uri) -> Reply {
    let name = uri
        .path()
        .trim_start_matches("/v2.0/")
        .split('/')
        .next()
        .unwrap_or("")
        .replace('-', "_");
    ok(StatusCode::OK, json!({ name: [] }))
}

/// Middleware: every `/v2.0` call needs a token the identity service vouches for.
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
    let api = Router::new()
        .route("/v2.0/extensions", get(extensions))
        .route("/v2.0/extensions/{alias}", get(extension))
        .route("/v2.0/networks", get(list_networks).post(create_networks))
        .route(
            "/v2.0/networks/{id}",
            get(show_network).put(update_network).delete(delete_network),
        )
        .route("/v2.0/subnets", get(list_subnets).post(create_subnets))
        .route(
            "/v2.0/subnets/{id}",
            get(show_subnet).put(update_subnet).delete(delete_subnet),
        )
        .route("/v2.0/ports", get(list_ports).post(create_ports))
        .route(
            "/v2.0/ports/{id}",
            get(show_port).put(update_port).delete(delete_port),
        )
        .route("/v2.0/security-groups", get(list_groups).post(create_group))
        .route(
            "/v2.0/security-groups/{id}",
            get(show_group).put(update_group).delete(delete_group),
        )
        .route(
            "/v2.0/security-group-rules",
            get(list_rules).post(create_rule),
        )
        .route(
            "/v2.0/security-group-rules/{id}",
            get(delete_rule_or_show).delete(delete_rule),
        )
        .route("/v2.0/quotas", get(list_quotas))
        .route(
            "/v2.0/quotas/{project}",
            get(show_quota).put(update_quota).delete(reset_quota),
        )
        .route("/v2.0/quotas/{project}/default", get(default_quota))
        .route(
            "/v2.0/routers",
            get(l3::list_routers).post(l3::create_routers),
        )
        .route(
            "/v2.0/routers/{id}",
            get(l3::show_router)
                .put(l3::update_router)
                .delete(l3::delete_router),
        )
        .route(
            "/v2.0/routers/{id}/add_router_interface",
            put(l3::add_interface),
        )
        .route(
            "/v2.0/routers/{id}/remove_router_interface",
            put(l3::remove_interface),
        )
        .route(
            "/v2.0/floatingips",
            get(l3::list_floating_ips).post(l3::create_floating_ips),
        )
        .route(
            "/v2.0/floatingips/{id}",
            get(l3::show_floating_ip)
                .put(l3::update_floating_ip)
                .delete(l3::delete_floating_ip),
        )
        .route(
            "/v2.0/subnetpools",
            get(subnetpools::list).post(subnetpools::create_many),
        )
        .route(
            "/v2.0/subnetpools/{id}",
            get(subnetpools::show)
                .put(subnetpools::update)
                .delete(subnetpools::delete),
        )
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
        .route("/v2.0/trunks", get(empty_list));
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
        .route("/", get(versions))
        .route("/v2.0", get(resources))
        .route("/v2.0/", get(resources))
        .merge(api)
        .with_state(service)
}

async fn delete_rule_or_show(AxState(svc): AxState<Shared>, Path(id): Path<String>) -> Reply {
    let st = svc.lock();
    let r = st.rules.get(&id).ok_or_else(|| SdnError::NotFound {
        kind: "security-group-rule",
        id: id.clone(),
    })?;
    ok(StatusCode::OK, json!({"security_group_rule": rule_json(r)}))
}
