//! The clones the template asks for (DESIGN §6), started inside the supervisor.

use std::collections::HashMap;

use tokio::net::UnixListener;

use super::{ActionError, Context};
use crate::clone;
use crate::driver::Driver;
use crate::fabric::{Fabric, Segment};
use crate::handoff;
use crate::journal::Entry;
use crate::layout;

fn service(e: impl std::fmt::Display) -> ActionError {
    ActionError::Service(e.to_string())
}

/// Starts the clones: each on a host port (its URL goes in the hand-off) and on the
/// socket where QEMU delivers guests' connections (`auth:5000`, `sdn:9696`). Every port
/// is bound before any clone starts, so the identity catalog can name the SDN clone and
/// the SDN clone can check tokens with the identity clone.
pub async fn run<D: Driver>(ctx: &mut Context<'_, D>) -> Result<(), ActionError> {
    let (info, dir) = (ctx.info, ctx.dir);
    let plan = &info.plan;
    let Some(auth) = &plan.auth else {
        return Ok(());
    };
    let record = |entry: Entry| ctx.record(entry);
    let bind = |name: &str| -> Result<(tokio::net::TcpListener, u16), ActionError> {
        let failed = |e: std::io::Error| ActionError::Service(format!("{name} clone: {e}"));
        let l = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(failed)?;
        l.set_nonblocking(true).map_err(failed)?;
        let port = l.local_addr().map_err(failed)?.port();
        let l = tokio::net::TcpListener::from_std(l).map_err(failed)?;
        Ok((l, port))
    };
    record(Entry::Path {
        path: auth.dir.clone(),
    })?;
    record(Entry::Path {
        path: auth.socket.clone(),
    })?;
    let (auth_listener, auth_port) = bind("auth")?;
    record(Entry::Port {
        name: auth.name.clone(),
        port: auth_port,
    })?;
    let auth_host_url = format!("http://127.0.0.1:{auth_port}");
    let mut config = auth.config.clone();
    let sdn = match &plan.sdn {
        Some(sdn) => {
            record(Entry::Path {
                path: sdn.socket.clone(),
            })?;
            record(Entry::Path {
                path: layout::clone_dir(&sdn.name),
            })?;
            let (listener, port) = bind("sdn")?;
            record(Entry::Port {
                name: sdn.name.clone(),
                port,
            })?;
            config.catalog.push(clone::auth::config::ServiceSeed {
                kind: "network".into(),
                name: "neutron".into(),
                url: sdn.guest_url(),
                internal: None,
                admin: None,
                host_url: Some(format!("http://127.0.0.1:{port}")),
            });
            Some((sdn, listener))
        }
        None => None,
    };

    let state = dir.join(&auth.dir);
    let running = clone::auth::start_on(auth_listener, &state, config, None).map_err(service)?;
    let creds = clone::auth::config::load_credentials(&state).map_err(service)?;
    clone::auth::config::write_clouds(
        &state.join("clouds.guest.yaml"),
        &auth.guest_url(),
        &auth.config.region,
        &creds,
    )
    .map_err(service)?;
    serve_clone(
        ctx,
        "auth (keystone)",
        &auth.dir,
        &auth.socket,
        &auth.guest_url(),
        &running.url,
        clone::auth::api::router(running.service),
        running.listener,
    )?;

    if let Some((sdn, listener)) = sdn {
        let (state, ids) = clone::sdn::state_from_plan(plan);
        // The template's networks are segments already; the clone knows them by its ids.
        let segments: HashMap<String, Segment> = ids
            .into_iter()
            .filter_map(|(name, id)| ctx.segments.remove(&name).map(|seg| (id, seg)))
            .collect();
        let (events, rx) = tokio::sync::mpsc::unbounded_channel();
        let fabric = Fabric::new(dir.clone(), plan.clone(), ctx.journal.clone(), segments);
        ctx.tasks.push(tokio::spawn(fabric.run(rx)));
        // Event mode: the clone tells Nova as an admin of the identity clone.
        let vif_events = if sdn.vif_plugged_event {
            let admin = creds
                .iter()
                .find(|c| c.admin && c.project.is_some())
                .ok_or_else(|| ActionError::Service("services.sdn.vif_plugged: event needs a user with the admin role and a project".into()))?;
            Some(clone::sdn::notify::VifEvents {
                auth_url: auth_host_url.clone(),
                user: admin.user.clone(),
                password: admin.password.clone(),
                project: admin.project.clone().unwrap_or_default(),
            })
        } else {
            None
        };
        let running = clone::sdn::start_on(
            listener,
            state,
            &auth_host_url,
            sdn.extensions.clone(),
            Some(events),
            vif_events,
        )
        .map_err(|e| ActionError::Service(format!("sdn clone: {e}")))?;
        serve_clone(
            ctx,
            "sdn (neutron)",
            &layout::clone_dir(&sdn.name),
            &sdn.socket,
            &sdn.guest_url(),
            &running.url,
            clone::sdn::api::router(running.service),
            running.listener,
        )?;
    }
    Ok(())
}

/// Hands a started clone to the host and the guests: its host URL in
/// `CLONE_DIR/url`, its guest socket bound, and both served until teardown.
#[allow(clippy::too_many_arguments)]
fn serve_clone<D: Driver>(
    ctx: &mut Context<'_, D>,
    what: &str,
    clone_dir: &str,
    socket: &str,
    guest_url: &str,
    url: &str,
    router: axum::Router,
    listener: tokio::net::TcpListener,
) -> Result<(), ActionError> {
    handoff::write_clone_url(ctx.dir, clone_dir, url).map_err(service)?;
    let unix = UnixListener::bind(ctx.dir.join(socket))
        .map_err(|e| ActionError::Service(format!("{what} clone socket: {e}")))?;
    (ctx.progress)(format!(
        "clone {what}: {url} on the host, {guest_url} in guests"
    ));
    ctx.tasks
        .extend(clone::spawn_serving(router, listener, unix));
    Ok(())
}
