//! The env supervisor: one detached process per env (like Lima's hostagent).
//!
//! It holds the env's lock for its whole life, owns the switch and the QEMU processes
//! (which die with it), brings the env up as an ordered list of journalled actions
//! (networks, then nodes, then readiness), serves the API on `supervisor.sock`, and
//! tears everything down on request, on SIGTERM, or when `up` fails.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::api::{self, Event, NodeStatus, Phase, Request, Status};
use crate::clone;
use crate::driver::qemu::Qemu;
use crate::driver::{Driver, NodeState};
use crate::env::EnvInfo;
use crate::image::{Image, Manifest};
use crate::journal::{Entry, Journal};
use crate::layout::{self, EnvDir, write_atomic};
use crate::plan::Plan;
use crate::switch::Switch;

/// What the API tasks and the main task share.
struct Shared {
    history: Mutex<Vec<Event>>,
    events: broadcast::Sender<Event>,
    status: Mutex<Status>,
}

impl Shared {
    fn emit(&self, event: Event) {
        let mut history = self.history.lock().expect("history lock");
        history.push(event.clone());
        let _ = self.events.send(event);
    }

    fn progress(&self, message: impl Into<String>) {
        let message = message.into();
        eprintln!("{message}");
        self.emit(Event::Progress { message });
    }

    fn set_phase(&self, phase: Phase, error: Option<String>) {
        let mut s = self.status.lock().expect("status lock");
        s.phase = phase;
        s.error = error;
    }
}

type DownRequest = (bool, oneshot::Sender<()>);

/// Entry point of `vstage __supervise DIR` (started detached by `vstage up`).
pub fn run(dir: PathBuf) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // QEMU children get PDEATHSIG, which fires when the spawning *thread* ends: on a
    // current-thread runtime that is this main thread, which lives as long as we do.
    runtime.block_on(serve(EnvDir(dir)))
}

async fn serve(dir: EnvDir) -> anyhow::Result<()> {
    let lock = std::fs::File::create(dir.join(layout::LOCK)).context("creating the env lock")?;
    if lock.try_lock().is_err() {
        bail!("another supervisor owns {}", dir.path().display());
    }
    let info = EnvInfo::read(&dir).context("reading env.json")?;
    let journal = Arc::new(Mutex::new(Journal::open(&dir.join(layout::JOURNAL))?));
    let mut images = HashMap::new();
    for (name, path) in &info.images {
        let text = std::fs::read_to_string(path.join("image.json"))
            .with_context(|| format!("image {name} at {}", path.display()))?;
        let manifest: Manifest = serde_json::from_str(&text)?;
        images.insert(
            name.clone(),
            Image {
                name: name.clone(),
                hash: String::new(),
                dir: path.clone(),
                manifest,
            },
        );
    }
    let mut driver = Qemu::new(
        dir.clone(),
        info.plan.clone(),
        images,
        info.accel,
        journal.clone(),
    );

    let shared = Arc::new(Shared {
        history: Mutex::new(Vec::new()),
        events: broadcast::channel(256).0,
        status: Mutex::new(Status {
            phase: Phase::Starting,
            supervisor_pid: std::process::id(),
            nodes: info
                .plan
                .nodes
                .iter()
                .map(|n| NodeStatus {
                    name: n.name.clone(),
                    state: NodeState::Planned,
                    pid: None,
                })
                .collect(),
            error: None,
        }),
    });

    std::fs::create_dir_all(dir.join(layout::SOCKETS))?;
    let api_path = dir.join(layout::SUPERVISOR_SOCK);
    journal.lock().expect("journal lock").record(&Entry::Path {
        path: layout::SUPERVISOR_SOCK.into(),
    })?;
    let _ = std::fs::remove_file(&api_path);
    let listener = UnixListener::bind(&api_path).context("binding supervisor.sock")?;
    let (down_tx, mut down_rx) = mpsc::channel::<DownRequest>(4);
    let api = tokio::spawn(accept(listener, shared.clone(), down_tx));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;

    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    let mut pending: Option<DownRequest> = None;
    let outcome = tokio::select! {
        r = up(&mut driver, &info, &dir, &shared, &journal, &mut tasks) => Some(r),
        req = down_rx.recv() => { pending = req; None }
        _ = term.recv() => None,
        _ = int.recv() => None,
    };
    refresh(&mut driver, &info, &shared);

    let mut force = false;
    match outcome {
        Some(Ok(())) => {
            shared.set_phase(Phase::Ready, None);
            shared.emit(Event::Ready);
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    req = down_rx.recv() => { if let Some(req) = req { force = req.0; pending = Some(req); } break }
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                    _ = tick.tick() => refresh(&mut driver, &info, &shared),
                }
            }
        }
        Some(Err(error)) => {
            shared.set_phase(Phase::Failed, Some(error.clone()));
            if info.options.keep_on_failure {
                shared.progress("keeping the failed env for inspection (--keep-on-failure)");
                shared.emit(Event::Failed { error });
                tokio::select! {
                    req = down_rx.recv() => if let Some(req) = req { force = req.0; pending = Some(req); },
                    _ = term.recv() => {}
                }
            } else {
                shared.progress("rolling back");
                teardown(&mut driver, &info, &shared, &mut tasks, true).await;
                shared.emit(Event::Failed { error });
                // Let watching clients read the failure before the socket goes away.
                tokio::time::sleep(Duration::from_millis(200)).await;
                api.abort();
                let _ = std::fs::remove_file(&api_path);
                return Ok(());
            }
        }
        None => {
            if let Some(req) = &pending {
                force = req.0;
            }
        }
    }

    teardown(&mut driver, &info, &shared, &mut tasks, force).await;
    shared.emit(Event::Down);
    if let Some((_, done)) = pending {
        let _ = done.send(());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    api.abort();
    let _ = std::fs::remove_file(&api_path);
    drop(lock);
    Ok(())
}

/// The ordered actions of `up`. Each records what it creates before creating it.
async fn up(
    driver: &mut Qemu,
    info: &EnvInfo,
    dir: &EnvDir,
    shared: &Shared,
    journal: &Arc<Mutex<Journal>>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<(), String> {
    let plan = &info.plan;
    // Each network's switch, for the SDN clone's fabric to attach nodes to later.
    let mut segments: HashMap<String, crate::fabric::Segment> = HashMap::new();
    shared.progress(format!(
        "env {}: {} nodes, accel {}",
        info.name,
        plan.nodes.len(),
        info.accel.as_str()
    ));
    for net in &plan.networks {
        let ports: Vec<PathBuf> = plan
            .nodes
            .iter()
            .flat_map(|n| n.nics.iter())
            .filter(|nic| nic.network == net.name)
            .map(|nic| dir.join(&nic.socket))
            .collect();
        journal
            .lock()
            .expect("journal lock")
            .record(&Entry::Path {
                path: net.switch_socket.clone(),
            })
            .map_err(|e| e.to_string())?;
        let switch = Switch::bind(&net.name, &dir.join(&net.switch_socket), ports)
            .map_err(|e| format!("network {}: cannot bind its switch: {e}", net.name))?;
        shared.progress(format!(
            "network {} ({}): switch up",
            switch.network(),
            net.cidr
        ));
        segments.insert(
            net.name.clone(),
            crate::fabric::Segment {
                socket: dir.join(&net.switch_socket),
                ports: switch.ports(),
            },
        );
        tasks.push(tokio::spawn(switch.run()));
    }
    start_clones(plan, dir, shared, journal, tasks, segments).await?;
    if plan.nodes.iter().any(|n| n.cloud_init) {
        let (ports, public_key) = ssh_access(info, dir, journal)?;
        shared.progress(format!(
            "ssh: ssh -F {} NODE",
            dir.join(layout::SSH_CONFIG).display()
        ));
        driver.set_ssh(ports, public_key);
    }
    let start = Instant::now();
    for node in &plan.nodes {
        driver.boot(node).await.map_err(|e| e.to_string())?;
        shared.progress(format!("node {}: booting", node.name));
    }
    refresh(driver, info, shared);
    let limits = info.options.limits;
    let deadline = start + limits.timeout();
    for node in &plan.nodes {
        driver
            .wait_ready(node, deadline, limits.stall())
            .await
            .map_err(|e| e.to_string())?;
        shared.progress(format!(
            "node {}: ready ({:.1}s)",
            node.name,
            start.elapsed().as_secs_f64()
        ));
        refresh(driver, info, shared);
    }
    Ok(())
}

/// Starts the clones: each on a host port (its URL goes in the hand-off) and on the
/// socket where QEMU delivers guests' connections (`auth:5000`, `sdn:9696`). Every port
/// is bound before any clone starts, so the identity catalog can name the SDN clone and
/// the SDN clone can check tokens with the identity clone.
async fn start_clones(
    plan: &Plan,
    dir: &EnvDir,
    shared: &Shared,
    journal: &Arc<Mutex<Journal>>,
    tasks: &mut Vec<JoinHandle<()>>,
    mut segments: HashMap<String, crate::fabric::Segment>,
) -> Result<(), String> {
    let Some(auth) = &plan.auth else {
        return Ok(());
    };
    let record = |entry: Entry| {
        journal
            .lock()
            .expect("journal lock")
            .record(&entry)
            .map_err(|e| e.to_string())
    };
    let bind = |name: &str| -> Result<(tokio::net::TcpListener, u16), String> {
        let l = std::net::TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| format!("{name} clone: {e}"))?;
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        let port = l.local_addr().map_err(|e| e.to_string())?.port();
        let l = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
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
    let running =
        clone::auth::start_on(auth_listener, &state, config, None).map_err(|e| e.to_string())?;
    let creds = clone::auth::config::load_credentials(&state).map_err(|e| e.to_string())?;
    clone::auth::config::write_clouds(
        &state.join("clouds.guest.yaml"),
        &auth.guest_url(),
        &auth.config.region,
        &creds,
    )
    .map_err(|e| e.to_string())?;
    serve_clone(
        dir,
        shared,
        tasks,
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
        let segments: HashMap<String, crate::fabric::Segment> = ids
            .into_iter()
            .filter_map(|(name, id)| segments.remove(&name).map(|seg| (id, seg)))
            .collect();
        let (events, rx) = tokio::sync::mpsc::unbounded_channel();
        let fabric =
            crate::fabric::Fabric::new(dir.clone(), plan.clone(), journal.clone(), segments);
        tasks.push(tokio::spawn(fabric.run(rx)));
        // Event mode: the clone tells Nova as an admin of the identity clone.
        let vif_events = if sdn.vif_plugged_event {
            let admin = creds
                .iter()
                .find(|c| c.admin && c.project.is_some())
                .ok_or("services.sdn.vif_plugged: event needs a user with the admin role and a project")?;
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
        .map_err(|e| format!("sdn clone: {e}"))?;
        serve_clone(
            dir,
            shared,
            tasks,
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
fn serve_clone(
    dir: &EnvDir,
    shared: &Shared,
    tasks: &mut Vec<JoinHandle<()>>,
    what: &str,
    clone_dir: &str,
    socket: &str,
    guest_url: &str,
    url: &str,
    router: axum::Router,
    listener: tokio::net::TcpListener,
) -> Result<(), String> {
    let state = dir.join(clone_dir);
    std::fs::create_dir_all(&state).map_err(|e| e.to_string())?;
    write_atomic(&state.join("url"), format!("{url}\n").as_bytes()).map_err(|e| e.to_string())?;
    let unix =
        UnixListener::bind(dir.join(socket)).map_err(|e| format!("{what} clone socket: {e}"))?;
    shared.progress(format!(
        "clone {what}: {url} on the host, {guest_url} in guests"
    ));
    tasks.extend(clone::spawn_serving(router, listener, unix));
    Ok(())
}

/// The env's SSH key pair, a free host port per cloud-init node, and an `ssh_config`
/// naming each node (for `vstage ssh`, Ansible and friends).
fn ssh_access(
    info: &EnvInfo,
    dir: &EnvDir,
    journal: &Mutex<Journal>,
) -> Result<(HashMap<String, u16>, String), String> {
    let record = |entry: Entry| {
        journal
            .lock()
            .expect("journal lock")
            .record(&entry)
            .map_err(|e| e.to_string())
    };
    let key = dir.join(layout::SSH_KEY);
    for f in [
        layout::SSH_KEY.to_string(),
        format!("{}.pub", layout::SSH_KEY),
        layout::SSH_CONFIG.to_string(),
    ] {
        record(Entry::Path { path: f })?;
    }
    if !key.exists() {
        let out = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C"])
            .arg(format!("vstage-{}", info.name))
            .arg("-f")
            .arg(&key)
            .output()
            .map_err(|e| format!("ssh-keygen (openssh-client): {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "ssh-keygen: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    let public_key =
        std::fs::read_to_string(key.with_extension("pub")).map_err(|e| e.to_string())?;
    let mut ports = HashMap::new();
    let mut config = String::new();
    for node in info.plan.nodes.iter().filter(|n| n.cloud_init) {
        // The kernel picks a free port; QEMU binds it right after. Envs never share one
        // because each is taken from the kernel while free.
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("allocating an ssh port: {e}"))?;
        record(Entry::Port {
            name: format!("ssh {}", node.name),
            port,
        })?;
        ports.insert(node.name.clone(), port);
        config.push_str(&format!(
            "Host {name}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {key}\n  \
             IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n\n",
            name = node.name,
            user = crate::seed::LOGIN_USER,
            key = key.display(),
        ));
    }
    write_atomic(&dir.join(layout::SSH_CONFIG), config.as_bytes()).map_err(|e| e.to_string())?;
    Ok((ports, public_key))
}

async fn teardown(
    driver: &mut Qemu,
    info: &EnvInfo,
    shared: &Shared,
    tasks: &mut Vec<JoinHandle<()>>,
    force: bool,
) {
    shared.set_phase(Phase::Stopping, None);
    let graceful = if force {
        Duration::ZERO
    } else {
        Duration::from_secs(10)
    };
    driver.stop(&info.plan.nodes, graceful).await;
    for s in tasks.drain(..) {
        s.abort();
    }
    refresh(driver, info, shared);
}

fn refresh(driver: &mut Qemu, info: &EnvInfo, shared: &Shared) {
    let mut status = shared.status.lock().expect("status lock");
    status.nodes = info
        .plan
        .nodes
        .iter()
        .map(|n| NodeStatus {
            name: n.name.clone(),
            state: driver.state(&n.name),
            pid: driver.pid(&n.name),
        })
        .collect();
    // A ready env whose node died is not ready any more: say so where `ls`, `status`
    // and `exec` look.
    let down: Vec<String> = status
        .nodes
        .iter()
        .filter(|n| n.state != NodeState::Ready)
        .map(|n| n.name.clone())
        .collect();
    if status.phase == Phase::Ready && !down.is_empty() {
        status.phase = Phase::Degraded;
        status.error = Some(format!("not running: {}", down.join(", ")));
        drop(status);
        shared.progress(format!("degraded: not running: {}", down.join(", ")));
    }
}

async fn accept(listener: UnixListener, shared: Arc<Shared>, down: mpsc::Sender<DownRequest>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(handle(stream, shared.clone(), down.clone()));
            }
            // Out of file descriptors, mostly: retrying at once would spin a core.
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn handle(stream: UnixStream, shared: Arc<Shared>, down: mpsc::Sender<DownRequest>) {
    let (r, mut w) = stream.into_split();
    let Some(request) = api::read_request(&mut BufReader::new(r)).await else {
        return;
    };
    let mut send = async |event: &Event| -> bool {
        let mut text = serde_json::to_string(event).expect("events serialise");
        text.push('\n');
        w.write_all(text.as_bytes()).await.is_ok()
    };
    match request {
        Request::Status => {
            let status = shared.status.lock().expect("status lock").clone();
            send(&Event::Status(status)).await;
        }
        Request::Watch => {
            // Subscribe under the history lock so no event falls between replay and live.
            let (past, mut live) = {
                let history = shared.history.lock().expect("history lock");
                (history.clone(), shared.events.subscribe())
            };
            for event in &past {
                if !send(event).await {
                    return;
                }
                if is_final(event) {
                    return;
                }
            }
            while let Ok(event) = live.recv().await {
                if !send(&event).await || is_final(&event) {
                    return;
                }
            }
        }
        Request::Down { force } => {
            let (done_tx, done_rx) = oneshot::channel();
            if down.send((force, done_tx)).await.is_ok() {
                let _ = done_rx.await;
            }
            send(&Event::Down).await;
        }
    }
}

fn is_final(event: &Event) -> bool {
    matches!(event, Event::Ready | Event::Failed { .. } | Event::Down)
}
