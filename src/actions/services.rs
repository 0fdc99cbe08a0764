//! The clones the template asks for (DESIGN §6), started inside the supervisor, each
//! by the kind the registry names.

use std::collections::HashMap;

use tokio::net::{TcpListener, UnixListener};

use super::{ActionError, Context};
use crate::clone::Running;
use crate::clone::registry::{
    self, CatalogEntry, Forward, Identity, Kind, Role, Start, Topology, TopologyNic,
};
use crate::driver::{Driver, Exposed};
use crate::envdir::journal::Entry;
use crate::fabric::Fabric;
use crate::handoff;
use crate::plan::{Plan, ServicePlan};

/// Starts the clones: each on a host port (its URL goes in the hand-off) and on the
/// socket where guests' connections arrive (`NAME:PORT` inside). Every port is bound
/// before any clone starts, so the identity service's catalog can name the others, and
/// the identity service starts first, so the others can check tokens with it.
pub async fn run<D: Driver>(ctx: &mut Context<'_, D>) -> Result<(), ActionError> {
    let plan = &ctx.info.plan;
    let mut bound = Vec::new();
    for service in &plan.services {
        let kind = registry::kind(&service.kind).ok_or_else(|| {
            ActionError::Service(format!(
                "{}: no clone of kind '{}'",
                service.name, service.kind
            ))
        })?;
        ctx.record(Entry::Path {
            path: service.dir.clone(),
        })?;
        let exposed = ctx.driver.expose(service);
        if let Some(socket) = &exposed.socket {
            ctx.record(Entry::Path {
                path: socket.clone(),
            })?;
        }
        let (listener, port) = bind(&service.name)?;
        ctx.record(Entry::Port {
            name: service.name.clone(),
            port,
        })?;
        bound.push((service, kind, exposed, listener, port));
    }
    let catalog: Vec<CatalogEntry> = bound
        .iter()
        .filter_map(|(_, kind, exposed, _, port)| {
            kind.catalog_entry()
                .map(|(service_type, name)| CatalogEntry {
                    service_type: service_type.into(),
                    name: name.into(),
                    guest_url: exposed.url.clone(),
                    host_url: format!("http://127.0.0.1:{port}"),
                })
        })
        .collect();
    bound.sort_by_key(|(_, kind, _, _, _)| kind.role() != Role::Identity);
    let topology = topology(plan);
    let forwards: Vec<Forward> = ctx
        .access
        .iter()
        .flat_map(|(node, access)| {
            access.forwards.iter().map(|&(guest, host)| Forward {
                node: node.clone(),
                guest,
                host,
            })
        })
        .collect();
    let mut identity: Option<Identity> = None;
    for (service, kind, exposed, listener, _) in bound {
        let state_dir = ctx.dir.join(&service.dir);
        std::fs::create_dir_all(&state_dir).map_err(|e| {
            ActionError::Service(format!("{}: {}: {e}", service.name, state_dir.display()))
        })?;
        let started = kind
            .start(Start {
                name: &service.name,
                listener,
                state_dir,
                settings: &service.settings,
                guest_url: exposed.url.clone(),
                identity: identity.as_ref(),
                catalog: &catalog,
                topology: &topology,
                forwards: &forwards,
            })
            .map_err(|e| ActionError::Service(format!("{} clone: {e}", service.name)))?;
        if let Some(feed) = started.fabric {
            // The template's networks are segments already; the clone knows them by its ids.
            let aliases: HashMap<String, String> = feed
                .networks
                .into_iter()
                .map(|(name, id)| (id, name))
                .collect();
            let fabric = Fabric::new(plan.clone(), ctx.driver.network(), aliases);
            ctx.tasks.push(tokio::spawn(fabric.run(feed.events)));
        }
        identity = identity.or(started.identity);
        serve(ctx, service, kind, &exposed, started.running)?;
    }
    Ok(())
}

/// A loopback port for a clone, bound before any clone starts.
fn bind(name: &str) -> Result<(TcpListener, u16), ActionError> {
    let failed = |e: std::io::Error| ActionError::Service(format!("{name} clone: {e}"));
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(failed)?;
    l.set_nonblocking(true).map_err(failed)?;
    let port = l.local_addr().map_err(failed)?.port();
    let l = TcpListener::from_std(l).map_err(failed)?;
    Ok((l, port))
}

/// The plan's networks and NICs, as a network service first sees them.
fn topology(plan: &Plan) -> Topology {
    Topology {
        networks: plan
            .networks
            .iter()
            .map(|n| (n.name.clone(), n.cidr))
            .collect(),
        nics: plan
            .nodes
            .iter()
            .flat_map(|node| {
                node.nics.iter().map(|nic| TopologyNic {
                    node: node.name.clone(),
                    network: nic.network.clone(),
                    mac: nic.mac,
                    ip: nic.ip,
                })
            })
            .collect(),
    }
}

/// Hands a started clone to the host and the guests: its host URL in
/// `CLONE_DIR/url`, the socket guests' connections arrive on (if the driver delivers
/// them to one) bound, and both served until teardown.
fn serve<D: Driver>(
    ctx: &mut Context<'_, D>,
    service: &ServicePlan,
    kind: &dyn Kind,
    exposed: &Exposed,
    running: Running,
) -> Result<(), ActionError> {
    let url = running.url.clone();
    let what = format!("{} ({})", service.name, kind.name());
    handoff::write_clone_url(ctx.dir, &service.dir, &url)
        .map_err(|e| ActionError::Service(format!("{what}: {e}")))?;
    let unix = match &exposed.socket {
        Some(socket) => Some(
            UnixListener::bind(ctx.dir.join(socket))
                .map_err(|e| ActionError::Service(format!("{what} clone socket: {e}")))?,
        ),
        None => None,
    };
    let log = ctx.dir.join(&service.dir).join(crate::clone::REQUEST_LOG);
    let mut running = running;
    running.router = crate::clone::with_request_log(running.router, &log)
        .map_err(|e| ActionError::Service(format!("{what}: {}: {e}", log.display())))?;
    (ctx.progress)(format!(
        "clone {what}: {url} on the host, {} in guests",
        exposed.url
    ));
    ctx.tasks.extend(crate::clone::spawn_serving(running, unix));
    Ok(())
}
