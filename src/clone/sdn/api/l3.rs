//! `/v2.0/routers` and `/v2.0/floatingips` (`router`, `extraroute`, `ext-gw-mode`):
//! the handlers over `routers.rs`, with Neutron's policy (admins alone choose SNAT and
//! a gateway's or floating IP's address).

use std::collections::BTreeMap;

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::routing::put;
use serde_json::{Value, json};

use super::resource::{Answer, Fields, Resource, changeable, routes, seen};
use super::{Body, Reply, Shared, ip, ok, requested_ips, s};
use crate::clone::sdn::error::SdnError;
use crate::clone::sdn::floating_ips::FloatingIp;
use crate::clone::sdn::model::{Port, State, Subnet};
use crate::clone::sdn::policy::{Guarded, Policy, of};
use crate::clone::sdn::routers::{GatewayRequest, InterfaceRef, Route, Router, destination};
use crate::clone::sdn::token::Caller;

impl Guarded for Router {
    const POLICY: Policy = of::ROUTER;
    fn project(&self) -> &str {
        &self.tenant_id
    }
}

impl Guarded for FloatingIp {
    const POLICY: Policy = of::FLOATING_IP;
    fn project(&self) -> &str {
        &self.tenant_id
    }
}

/// `external_gateway_info`: null or `{}` is none. Who may choose SNAT and addresses is
/// the router's policy's (`admin_fields`).
fn gateway_request(v: &Value) -> Result<Option<GatewayRequest>, SdnError> {
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

impl Resource for Router {
    const SINGULAR: &'static str = "router";
    const PLURAL: &'static str = "routers";
    const PATH: &'static str = "routers";

    fn map(st: &State) -> &BTreeMap<String, Router> {
        &st.routers
    }

    fn json(&self, st: &State) -> Value {
        st.router_json(self)
    }

    fn create(st: &mut State, _: &Caller, project: &str, o: &Fields) -> Answer {
        st.within_quota(project, "router", 1)?;
        let gateway = match o.get("external_gateway_info") {
            Some(v) => gateway_request(v)?,
            None => None,
        };
        let before = st.clone();
        let r = st.create_router(
            &s(o, "name").unwrap_or_default(),
            project,
            o.get("admin_state_up")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            &s(o, "description").unwrap_or_default(),
        );
        if let Err(e) = st.set_gateway(&r.id, gateway) {
            *st = before;
            return Err(e);
        }
        Ok(st.router_json(&st.routers[&r.id]))
    }

    fn update(st: &mut State, _: &Caller, id: &str, o: &Fields) -> Answer {
        let gateway = o
            .get("external_gateway_info")
            .map(gateway_request)
            .transpose()?;
        let routes = o.get("routes").map(routes_request).transpose()?;
        let before = st.clone();
        let result = (|| {
            if let Some(g) = gateway {
                st.set_gateway(id, g)?;
            }
            if let Some(r) = routes {
                st.set_routes(id, r)?;
            }
            let r = st.routers.get_mut(id).expect("the policy found it");
            r.name = s(o, "name").unwrap_or(r.name.clone());
            r.description = s(o, "description").unwrap_or(r.description.clone());
            r.admin_state_up = o
                .get("admin_state_up")
                .and_then(Value::as_bool)
                .unwrap_or(r.admin_state_up);
            Ok::<(), SdnError>(())
        })();
        if let Err(e) = result {
            *st = before;
            return Err(e);
        }
        Ok(st.router_json(&st.routers[id]))
    }

    fn delete(st: &mut State, id: &str) -> Result<(), SdnError> {
        st.delete_router(id)
    }
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
            seen::<Subnet>(st, caller, &sub)?;
            Ok(InterfaceRef::Subnet(sub))
        }
        (None, Some(port)) => {
            seen::<Port>(st, caller, &port)?;
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

/// Adding or removing an interface changes the router: its project's members, or admins.
async fn add_interface(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    let mut st = svc.lock();
    changeable::<Router>(&st, &caller, &id)?;
    let which = interface_ref(&st, &caller, &body)?;
    let (port, subnet) = st.add_interface(&id, &which)?;
    let network = st.ports[&port].network_id.clone();
    ok(
        StatusCode::OK,
        interface_json(&st, &id, &port, &subnet, &network),
    )
}

async fn remove_interface(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    let mut st = svc.lock();
    changeable::<Router>(&st, &caller, &id)?;
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

/// A port and, optionally, which of its fixed addresses.
type Target = (String, Option<std::net::IpAddr>);

/// `port_id` (and `fixed_ip_address`) of a create or update: `Some(None)` unmaps.
fn association(
    st: &State,
    caller: &Caller,
    o: &Fields,
) -> Result<Option<Option<Target>>, SdnError> {
    match o.get("port_id") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(port)) => {
            seen::<Port>(st, caller, port)?;
            let fixed = s(o, "fixed_ip_address").map(|a| ip(&a)).transpose()?;
            Ok(Some(Some((port.clone(), fixed))))
        }
        Some(v) => Err(SdnError::BadRequest(format!(
            "Invalid input for port_id. Reason: '{v}' is not a valid UUID."
        ))),
    }
}

impl Resource for FloatingIp {
    const SINGULAR: &'static str = "floatingip";
    const PLURAL: &'static str = "floatingips";
    const PATH: &'static str = "floatingips";

    fn map(st: &State) -> &BTreeMap<String, FloatingIp> {
        &st.floating_ips
    }

    fn json(&self, st: &State) -> Value {
        st.floating_ip_json(self)
    }

    fn create(st: &mut State, caller: &Caller, project: &str, o: &Fields) -> Answer {
        let network = s(o, "floating_network_id").ok_or_else(|| {
            SdnError::BadRequest(
                "Invalid input for operation: floating_network_id is needed.".into(),
            )
        })?;
        let address = s(o, "floating_ip_address").map(|a| ip(&a)).transpose()?;
        st.within_quota(project, "floatingip", 1)?;
        let link = association(st, caller, o)?;
        let before = st.clone();
        let f = st.create_floating_ip(
            &network,
            project,
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

    fn update(st: &mut State, caller: &Caller, id: &str, o: &Fields) -> Answer {
        if let Some(link) = association(st, caller, o)? {
            st.associate(id, link)?;
        }
        if let Some(d) = s(o, "description") {
            st.floating_ips
                .get_mut(id)
                .expect("the policy found it")
                .description = d;
        }
        Ok(st.floating_ip_json(&st.floating_ips[id]))
    }

    fn delete(st: &mut State, id: &str) -> Result<(), SdnError> {
        st.delete_floating_ip(id)
    }
}

/// Routers with their interface calls, and floating IPs.
pub(super) fn l3_routes(router: axum::Router<Shared>) -> axum::Router<Shared> {
    routes::<FloatingIp>(routes::<Router>(router))
        .route(
            "/v2.0/routers/{id}/add_router_interface",
            put(add_interface),
        )
        .route(
            "/v2.0/routers/{id}/remove_router_interface",
            put(remove_interface),
        )
}
