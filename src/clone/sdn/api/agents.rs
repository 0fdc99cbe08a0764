//! `/v2.0/agents`, DHCP scheduling (`/v2.0/agents/{id}/dhcp-networks`,
//! `/v2.0/networks/{id}/dhcp-agents`) and `/v2.0/availability_zones`, over `agents.rs`.
//! Agents are an admin's (`policy::of::AGENT`): others list none and find none, as in
//! Neutron.

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{Body, Reply, Shared, b, body_object, listed, ok, s, shown};
use crate::clone::sdn::agents::{Agent, DHCP, zones_json};
use crate::clone::sdn::error::SdnError;
use crate::clone::sdn::policy::{Guarded, Policy, of};
use crate::clone::sdn::token::Caller;

/// Agents are the deployment's, no project's.
impl Guarded for Agent {
    const POLICY: Policy = of::AGENT;
    fn project(&self) -> &str {
        ""
    }
}

pub(super) async fn list(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Reply {
    let mut st = svc.lock();
    if !caller.admin {
        // Not seen, so not listed (and nothing to refresh for).
        return listed(&svc, "agents", Vec::new(), &uri, &headers);
    }
    st.refresh_agents();
    let items = st
        .agents
        .values()
        .filter(|a| of::AGENT.may_read(&st, &caller, *a))
        .map(|a| a.json())
        .collect();
    listed(&svc, "agents", items, &uri, &headers)
}

pub(super) async fn show(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Reply {
    let st = svc.lock();
    of::AGENT.show(&st, &caller, &id, st.agents.get(&id))?;
    shown("agent", st.agent(&id)?.json(), &uri)
}

pub(super) async fn update(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    let mut st = svc.lock();
    of::AGENT.change(&st, &caller, &id, st.agents.get(&id))?;
    let o = body_object(&body, "agent")?;
    let a = st.agents.get_mut(&id).expect("read above");
    a.admin_state_up = b(o, "admin_state_up", a.admin_state_up);
    a.description = s(o, "description").unwrap_or(a.description.clone());
    let a = a.json();
    ok(StatusCode::OK, json!({"agent": a}))
}

pub(super) async fn delete(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Reply {
    let mut st = svc.lock();
    of::AGENT.change(&st, &caller, &id, st.agents.get(&id))?;
    st.agents.remove(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn networks_of(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Reply {
    of::AGENT.admin_action(&caller, "get_dhcp-networks")?;
    let st = svc.lock();
    let nets: Vec<Value> = st
        .agent(&id)?
        .networks
        .iter()
        .filter_map(|n| st.networks.get(n))
        .map(|n| st.network_json(n))
        .collect();
    ok(StatusCode::OK, json!({"networks": nets}))
}

pub(super) async fn host_network(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    of::AGENT.admin_action(&caller, "create_dhcp-network")?;
    let network = body
        .get("network_id")
        .and_then(Value::as_str)
        .ok_or_else(|| SdnError::BadRequest("a body {\"network_id\": ...} is needed".into()))?;
    svc.lock().host_network(&id, network)?;
    Ok(StatusCode::CREATED.into_response())
}

pub(super) async fn unhost_network(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path((id, network)): Path<(String, String)>,
) -> Reply {
    of::AGENT.admin_action(&caller, "delete_dhcp-network")?;
    svc.lock().unhost_network(&id, &network)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn dhcp_agents_of(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path(network): Path<String>,
) -> Reply {
    of::AGENT.admin_action(&caller, "get_dhcp-agents")?;
    let st = svc.lock();
    st.network(&network)?;
    let agents: Vec<Value> = st
        .agents
        .values()
        .filter(|a| a.agent_type == DHCP && a.networks.contains(&network))
        .map(|a| a.json())
        .collect();
    ok(StatusCode::OK, json!({"agents": agents}))
}

pub(super) async fn zones() -> Reply {
    ok(StatusCode::OK, zones_json())
}

/// Most VIFs one report may name: far more than a hypervisor of an env holds.
const MAX_DEVICES: usize = 4096;

/// `PUT /v2.0/vstage/l2-agents/{host}/devices` `{"devices": ["tap…", …]}`: the report of
/// the L2 agent on `host` (`templates/openstack.yaml`, `vstage-l2-agent`), the VIFs on
/// its bridges now, as Neutron's agents report devices up and down over RPC. Admins
/// only (the agent logs in as Neutron's service user).
pub(super) async fn l2_report(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path(host): Path<String>,
    Body(body): Body,
) -> Reply {
    of::AGENT.admin_action(&caller, "update_l2-agent:devices")?;
    let bad = |m: &str| SdnError::BadRequest(format!("Invalid L2 agent report: {m}"));
    let list = body
        .get("devices")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("a body {\"devices\": [...]} is needed"))?;
    if list.len() > MAX_DEVICES {
        return Err(bad(&format!("at most {MAX_DEVICES} devices")).into());
    }
    let devices = list
        .iter()
        .map(|d| {
            d.as_str()
                // Linux interface names: at most 15 bytes.
                .filter(|d| !d.is_empty() && d.len() <= 15)
                .map(String::from)
                .ok_or_else(|| bad(&format!("{d} is not an interface name")))
        })
        .collect::<Result<std::collections::BTreeSet<String>, SdnError>>()?;
    let mut st = svc.lock();
    st.l2_report(&host, &devices);
    let plugged: Vec<&String> = st
        .ports
        .values()
        .filter(|p| p.host_id == host && p.plugged)
        .map(|p| &p.id)
        .collect();
    ok(StatusCode::OK, json!({"plugged": plugged}))
}
