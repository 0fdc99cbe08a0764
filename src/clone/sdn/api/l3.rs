//! `/v2.0/routers` and `/v2.0/floatingips` (`router`, `extraroute`, `ext-gw-mode`):
//! the handlers over `routers.rs`, with Neutron's policy (admins alone choose SNAT and
//! a gateway's or floating IP's address).

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::super::routers::{GatewayRequest, InterfaceRef, Route, destination};
use super::*;

owned!(
    super::super::routers::Router,
    super::super::routers::FloatingIp
);

/// `external_gateway_info`: null or `{}` is none.
fn gateway_request(caller: &Caller, v: &Value) -> Result<Option<GatewayRequest>, SdnError> {
    let Some(o) = v.as_object() else {
        return match v {
            Value::Null => Ok(None),
            _ => Err(SdnError::BadRequest(format!(
                "Invalid input for external_gateway_info. Reason: '{v}' is not a dictionary."
            ))),
        };
    };
    let Some(network_id) = s(o, "network_id") else {
        return Ok(None);
    };
    let enable_snat = o.get("enable_snat").and_then(Value::as_bool);
    let fixed_ips = requested_ips(
        o.get("external_fixed_ips")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default(),
    )?;
    if (enable_snat.is_some() || !fixed_ips.is_empty()) && !caller.admin {
        return Err(SdnError::Forbidden(
            "create_router:external_gateway_info:enable_snat or external_fixed_ips".into(),
        ));
    }
    Ok(Some(GatewayRequest {
        network_id,
        enable_snat,
        fixed_ips,
    }))
}

fn routes_request(v: &Value) -> Result<Vec<Route>, SdnError> {
    let list = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a,
        _ => {
            return Err(SdnError::BadRequest(format!(
                "Invalid input for routes. Reason: '{v}' is not a list."
            )));
        }
    };
    list.iter()
        .map(|r| {
            let d = r["destination"].as_str().unwrap_or_default();
            let n = r["nexthop"].as_str().unwrap_or_default();
            Ok(Route {
                destination: destination(d)?,
                nexthop: ip(n)?,
            })
        })
        .collect()
}

pub(super) async fn list_routers(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Reply {
    let st = svc.lock();
    let items = visible_items(
        &caller,
        st.routers.values(),
        |_| false,
        |r| st.router_json(r),
    );
    listed(&svc, "routers", items, &uri, &headers)
}

fn create_router_one(
    st: &mut State,
    caller: &Caller,
    o: &Map<String, Value>,
) -> Result<Value, SdnError> {
    if b(o, "distributed", false) || b(o, "ha", false) {
        admin_only(caller)?;
    }
    let project = tenant(caller, o);
    st.within_quota(&project, "router", 1)?;
    let gateway = match o.get("external_gateway_info") {
        Some(v) => gateway_request(caller, v)?,
        None => None,
    };
    let before = st.clone();
    let r = st.create_router(
        &s(o, "name").unwrap_or_default(),
        &project,
        b(o, "admin_state_up", true),
        &s(o, "description").unwrap_or_default(),
    );
    if let Err(e) = st.set_gateway(&r.id, gateway) {
        *st = before;
        return Err(e);
    }
    Ok(st.router_json(&st.routers[&r.id]))
}

pub(super) async fn create_routers(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Body(body): Body,
) -> Reply {
    create(&svc, &caller, &body, "router", "routers", create_router_one)
}

pub(super) async fn show_router(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Reply {
    let st = svc.lock();
    let r = seen(&st.routers, "router", &id, &caller, |_| false)?;
    shown("router", st.router_json(r), &uri)
}

pub(super) async fn update_router(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    let o = body_object(&body, "router")?;
    let mut st = svc.lock();
    seen(&st.routers, "router", &id, &caller, |_| false)?;
    let gateway = o
        .get("external_gateway_info")
        .map(|v| gateway_request(&caller, v))
        .transpose()?;
    let routes = o.get("routes").map(routes_request).transpose()?;
    let before = (*st).clone();
    let result = (|| {
        if let Some(g) = gateway {
            st.set_gateway(&id, g)?;
        }
        if let Some(r) = routes {
            st.set_routes(&id, r)?;
        }
        let r = st.routers.get_mut(&id).expect("seen above");
        r.name = s(o, "name").unwrap_or(r.name.clone());
        r.description = s(o, "description").unwrap_or(r.description.clone());
        r.admin_state_up = b(o, "admin_state_up", r.admin_state_up);
        Ok::<(), SdnError>(())
    })();
    if let Err(e) = result {
        *st = before;
        return Err(e.into());
    }
    ok(
        StatusCode::OK,
        json!({"router": st.router_json(&st.routers[&id])}),
    )
}

pub(super) async fn delete_router(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Reply {
    let mut st = svc.lock();
    seen(&st.routers, "router", &id, &caller, |_| false)?;
    st.delete_router(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The body of an interface call: a subnet or a port, not both.
fn interface_ref(st: &State, caller: &Caller, body: &Value) -> Result<InterfaceRef, SdnError> {
    let o = body.as_object().ok_or_else(|| {
        SdnError::BadRequest("Either subnet_id or port_id must be specified".into())
    })?;
    match (s(o, "subnet_id"), s(o, "port_id")) {
        (Some(_), Some(_)) => Err(SdnError::BadRequest(
            "Bad router request: Cannot specify both subnet-id and port-id.".into(),
        )),
        (Some(sub), None) => {
            seen(&st.subnets, "subnet", &sub, caller, |x| {
                st.networks.get(&x.network_id).is_some_and(|n| n.shared)
            })?;
            Ok(InterfaceRef::Subnet(sub))
        }
        (None, Some(port)) => {
            seen(&st.ports, "port", &port, caller, |_| false)?;
            Ok(InterfaceRef::Port(port))
        }
        (None, None) => Err(SdnError::BadRequest(
            "Bad router request: Either subnet_id or port_id must be specified.".into(),
        )),
    }
}

fn interface_json(st: &State, router: &str, port: &str, subnet: &str, network: &str) -> Value {
    let project = st
        .routers
        .get(router)
        .map(|r| r.tenant_id.as_str())
        .unwrap_or("");
    json!({"id": router, "tenant_id": project, "project_id": project, "port_id": port,
           "subnet_id": subnet, "subnet_ids": [subnet], "network_id": network})
}

pub(super) async fn add_interface(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    let mut st = svc.lock();
    seen(&st.routers, "router", &id, &caller, |_| false)?;
    let which = interface_ref(&st, &caller, &body)?;
    let (port, subnet) = st.add_interface(&id, &which)?;
    let network = st.ports[&port].network_id.clone();
    ok(
        StatusCode::OK,
        interface_json(&st, &id, &port, &subnet, &network),
    )
}

pub(super) async fn remove_interface(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    let mut st = svc.lock();
    seen(&st.routers, "router", &id, &caller, |_| false)?;
    let which = interface_ref(&st, &caller, &body)?;
    let network = match &which {
        InterfaceRef::Port(p) => st.ports.get(p).map(|p| p.network_id.clone()),
        InterfaceRef::Subnet(x) => st.subnets.get(x).map(|x| x.network_id.clone()),
    }
    .unwrap_or_default();
    let (port, subnet) = st.remove_interface(&id, &which)?;
    ok(
        StatusCode::OK,
        interface_json(&st, &id, &port, &subnet, &network),
    )
}

pub(super) async fn list_floating_ips(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Reply {
    let st = svc.lock();
    let items = visible_items(
        &caller,
        st.floating_ips.values(),
        |_| false,
        |f| st.floating_ip_json(f),
    );
    listed(&svc, "floatingips", items, &uri, &headers)
}

/// A port and, optionally, which of its fixed addresses.
type Target = (String, Option<std::net::IpAddr>);

/// `port_id` (and `fixed_ip_address`) of a create or update: `Some(None)` unmaps.
fn association(
    st: &State,
    caller: &Caller,
    o: &Map<String, Value>,
) -> Result<Option<Option<Target>>, SdnError> {
    match o.get("port_id") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(port)) => {
            seen(&st.ports, "port", port, caller, |_| false)?;
            let fixed = s(o, "fixed_ip_address").map(|a| ip(&a)).transpose()?;
            Ok(Some(Some((port.clone(), fixed))))
        }
        Some(v) => Err(SdnError::BadRequest(format!(
            "Invalid input for port_id. Reason: '{v}' is not a valid UUID."
        ))),
    }
}

fn create_floating_ip_one(
    st: &mut State,
    caller: &Caller,
    o: &Map<String, Value>,
) -> Result<Value, SdnError> {
    let network = s(o, "floating_network_id").ok_or_else(|| {
        SdnError::BadRequest("Invalid input for operation: floating_network_id is needed.".into())
    })?;
    let address = s(o, "floating_ip_address").map(|a| ip(&a)).transpose()?;
    if address.is_some() {
        // Neutron's policy: only an admin picks the address.
        admin_only(caller)?;
    }
    let project = tenant(caller, o);
    st.within_quota(&project, "floatingip", 1)?;
    let link = association(st, caller, o)?;
    let before = st.clone();
    let f = st.create_floating_ip(
        &network,
        &project,
        address,
        s(o, "subnet_id"),
        &s(o, "description").unwrap_or_default(),
    )?;
    if let Some(Some(port)) = link
        && let Err(e) = st.associate(&f.id, Some(port))
    {
        *st = before;
        return Err(e);
    }
    Ok(st.floating_ip_json(&st.floating_ips[&f.id]))
}

pub(super) async fn create_floating_ips(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Body(body): Body,
) -> Reply {
    create(
        &svc,
        &caller,
        &body,
        "floatingip",
        "floatingips",
        create_floating_ip_one,
    )
}

pub(super) async fn show_floating_ip(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Reply {
    let st = svc.lock();
    let f = seen(&st.floating_ips, "floating IP", &id, &caller, |_| false)?;
    shown("floatingip", st.floating_ip_json(f), &uri)
}

pub(super) async fn update_floating_ip(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    let o = body_object(&body, "floatingip")?;
    let mut st = svc.lock();
    seen(&st.floating_ips, "floating IP", &id, &caller, |_| false)?;
    if let Some(link) = association(&st, &caller, o)? {
        st.associate(&id, link)?;
    }
    if let Some(d) = s(o, "description") {
        st.floating_ips
            .get_mut(&id)
            .expect("seen above")
            .description = d;
    }
    ok(
        StatusCode::OK,
        json!({"floatingip": st.floating_ip_json(&st.floating_ips[&id])}),
    )
}

pub(super) async fn delete_floating_ip(
    AxState(svc): AxState<Shared>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Reply {
    let mut st = svc.lock();
    seen(&st.floating_ips, "floating IP", &id, &caller, |_| false)?;
    st.delete_floating_ip(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
