//! The env supervisor: one detached process per env (like Lima's hostagent).
//!
//! It holds the env's lock for its whole life, owns the clones and the driver (its
//! nodes and segments; QEMU processes die with it), brings the env up through `actions`,
//! serves the API on `supervisor.sock` (`server`), and tears everything down on
//! request, on SIGTERM, or when `up` fails.

pub mod api;
mod server;
mod snapshot;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::UnixListener;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::actions;
use crate::driver::{self, Driver, EnvDriver, NodeState};
use crate::env::{self, EnvInfo};
use crate::envdir::journal::{Entry, Journal, Recorder};
use crate::envdir::{self, EnvDir};
use crate::supervisor::api::{Event, NodeStatus, Phase, Status};

/// What the API tasks and the main task share.
struct Shared {
    history: Mutex<Vec<Event>>,
    /// `events.jsonl`: the same events, each with its time, for `vstage events` and
    /// artifacts after the env is gone.
    timeline: Mutex<Option<std::fs::File>>,
    /// The process the env dies with, until it is kept (`Request::Keep`).
    owner: Mutex<Option<crate::env::Owner>>,
    /// The env dir, for what API tasks clean up after their clients.
    dir: EnvDir,
    events: broadcast::Sender<Event>,
    status: Mutex<Status>,
}

impl Shared {
    /// Every node planned, none started yet.
    fn new(info: &EnvInfo, dir: &EnvDir, timeline: Option<std::fs::File>) -> Shared {
        Shared {
            dir: dir.clone(),
            history: Mutex::new(Vec::new()),
            timeline: Mutex::new(timeline),
            owner: Mutex::new(info.options.owner.clone()),
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
                expires_unix: info.options.expires_unix,
                owner_pid: info.options.owner.as_ref().map(|o| o.pid),
            }),
        }
    }

    fn emit(&self, event: Event) {
        if let Some(file) = self.timeline.lock().expect("timeline lock").as_mut() {
            use std::io::Write as _;
            let line = serde_json::json!({"at_unix_ms": now_ms(), "event": &event});
            let _ = writeln!(file, "{line}");
        }
        let mut history = self.history.lock().expect("history lock");
        history.push(event.clone());
        let _ = self.events.send(event);
    }

    fn progress(&self, message: impl Into<String>) {
        let message = message.into();
        eprintln!("{message}");
        self.emit(Event::Progress { message });
    }

    /// The env is ready. An owner only until then (`up`) lets go itself
    /// (`Request::Release`) once it has seen this: killed before, its env goes with it.
    fn ready(&self) {
        self.set_phase(Phase::Ready, None);
        self.emit(Event::Ready);
    }

    /// The env outlives its owner from now on.
    fn release(&self) {
        *self.owner.lock().expect("owner lock") = None;
        self.status.lock().expect("status lock").owner_pid = None;
    }

    /// A failed env kept for debugging outlives its owner, for `secs` if given.
    fn keep(&self, secs: Option<u64>) {
        self.release();
        if let Some(secs) = secs {
            let until = envdir::now_unix().saturating_add(secs);
            self.status.lock().expect("status lock").expires_unix = Some(until);
        }
    }

    fn set_phase(&self, phase: Phase, error: Option<String>) {
        let mut s = self.status.lock().expect("status lock");
        s.phase = phase;
        s.error = error;
    }
}

type DownRequest = (bool, oneshot::Sender<()>);
/// `stop`, and where the outcome goes; a closed sender means its client is gone.
type SnapshotRequest = (
    bool,
    oneshot::Sender<Result<crate::snapshot::Saved, snapshot::SaveError>>,
);

/// Entry point of `vstage __supervise DIR` (started detached by `vstage up`).
pub fn run(dir: PathBuf) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // QEMU children get PDEATHSIG, which fires when the spawning *thread* ends: on a
    // current-thread runtime that is this main thread, which lives as long as we do.
    runtime.block_on(serve(EnvDir(dir)))
}

/// The env's whole life, top to bottom (~90 lines on purpose: set up, bring up, live
/// until the end, tear down; each stage is a call or a short arm).
async fn serve(dir: EnvDir) -> anyhow::Result<()> {
    let lock = env::take_lock(&dir.join(envdir::LOCK))
        .with_context(|| format!("another supervisor owns {}", dir.path().display()))?;
    let info = EnvInfo::read(&dir).context("reading env.json")?;
    let journal = Recorder::new(Journal::open(&dir.join(envdir::JOURNAL))?);
    let mut driver = driver::open(&info.setup(&dir), journal.clone())?;
    journal.record(&Entry::Path {
        path: envdir::EVENTS.into(),
    })?;
    let timeline = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(envdir::EVENTS))
        .ok();
    let shared = Arc::new(Shared::new(&info, &dir, timeline));
    let (api, api_path, mut inputs) = listen(&dir, &journal, &shared)?;

    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    let progress = |message: String| shared.progress(message);
    let nodes_changed = |driver: &mut EnvDriver| refresh(driver, &info, &shared);
    let mut ctx = actions::Context {
        info: &info,
        dir: &dir,
        driver: &mut driver,
        journal: &journal,
        tasks: &mut tasks,
        progress: &progress,
        nodes_changed: &nodes_changed,
        access: HashMap::new(),
    };
    let mut end = End::default();
    let outcome = tokio::select! {
        r = actions::bring_up(&mut ctx) => Some(r.map_err(|e| e.to_string())),
        req = inputs.down.recv() => { end.asked(req); None }
        _ = inputs.term.recv() => None,
        _ = inputs.int.recv() => None,
        why = lifetime_over(&shared) => { shared.progress(why); end.by_itself = true; None }
    };
    let access = ctx.access.clone();
    drop(ctx);
    refresh(&mut driver, &info, &shared);

    match outcome {
        Some(Ok(())) => {
            shared.ready();
            let env = Env {
                info: &info,
                dir: &dir,
                journal: &journal,
                access: &access,
            };
            end = ready(&mut driver, &env, &shared, &mut inputs).await;
        }
        Some(Err(error)) if info.options.keep_on_failure => {
            shared.set_phase(Phase::Failed, Some(error.clone()));
            shared.keep(info.options.keep_for_secs);
            shared.progress("keeping the failed env for inspection (--keep-on-failure)");
            shared.emit(Event::Failed { error });
            end = kept(&shared, &mut inputs).await;
        }
        Some(Err(error)) => {
            shared.set_phase(Phase::Failed, Some(error.clone()));
            shared.progress("rolling back");
            teardown(&mut driver, &info, &shared, &mut tasks, true).await;
            shared.emit(Event::Failed { error });
            // Let watching clients read the failure before the socket goes away.
            tokio::time::sleep(Duration::from_millis(200)).await;
            api.abort();
            let _ = std::fs::remove_file(&api_path);
            // Its `up` removes the rest, unless that died with the owner.
            if info.options.owner.as_ref().is_some_and(|o| !o.is_alive()) {
                remove_self(&dir, &shared);
            }
            return Ok(());
        }
        None => {}
    }

    teardown(&mut driver, &info, &shared, &mut tasks, end.force).await;
    shared.emit(Event::Down);
    if let Some((_, done)) = end.pending {
        let _ = done.send(());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    api.abort();
    let _ = std::fs::remove_file(&api_path);
    // The env ended with nobody to clean up after it (its TTL, its owner's death).
    if end.by_itself {
        remove_self(&dir, &shared);
    }
    drop(lock);
    Ok(())
}

/// What reaches the main task from outside: requests through the API, and signals.
struct Inputs {
    down: mpsc::Receiver<DownRequest>,
    repair: mpsc::Receiver<()>,
    snapshot: mpsc::Receiver<SnapshotRequest>,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

/// How the env's life ended.
#[derive(Default)]
struct End {
    /// A `down` waiting to be told it is done.
    pending: Option<DownRequest>,
    force: bool,
    /// Its TTL passed or its owner died: the supervisor removes the env itself.
    by_itself: bool,
}

impl End {
    fn asked(&mut self, req: Option<DownRequest>) {
        if let Some(req) = req {
            self.force = req.0;
            self.pending = Some(req);
        }
    }
}

/// Binds `supervisor.sock` and serves the API on it.
fn listen(
    dir: &EnvDir,
    journal: &Recorder,
    shared: &Arc<Shared>,
) -> anyhow::Result<(JoinHandle<()>, PathBuf, Inputs)> {
    std::fs::create_dir_all(dir.join(envdir::SOCKETS))?;
    let api_path = dir.join(envdir::SUPERVISOR_SOCK);
    journal.record(&Entry::Path {
        path: envdir::SUPERVISOR_SOCK.into(),
    })?;
    let _ = std::fs::remove_file(&api_path);
    let listener = UnixListener::bind(&api_path).context("binding supervisor.sock")?;
    let (down_tx, down) = mpsc::channel::<DownRequest>(4);
    let (repair_tx, repair) = mpsc::channel::<()>(4);
    let (snapshot_tx, snapshot) = mpsc::channel::<SnapshotRequest>(4);
    let inbox = server::Inbox {
        down: down_tx,
        repair: repair_tx,
        snapshot: snapshot_tx,
    };
    let api = tokio::spawn(server::accept(listener, shared.clone(), inbox));
    let inputs = Inputs {
        down,
        repair,
        snapshot,
        term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        int: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?,
    };
    Ok((api, api_path, inputs))
}

/// What a ready env's supervisor keeps of the bring-up.
struct Env<'a> {
    info: &'a EnvInfo,
    dir: &'a EnvDir,
    journal: &'a Recorder,
    /// How the host reaches each node (from the `access` action), for a repair.
    access: &'a HashMap<String, crate::driver::Access>,
}

/// A ready env's life: following its nodes, repairing on request, until it ends.
async fn ready<D: Driver>(
    driver: &mut D,
    env: &Env<'_>,
    shared: &Shared,
    inputs: &mut Inputs,
) -> End {
    let (info, dir) = (env.info, env.dir);
    let mut end = End::default();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            req = inputs.down.recv() => { end.asked(req); return end }
            _ = inputs.term.recv() => return end,
            _ = inputs.int.recv() => return end,
            _ = tick.tick() => refresh(driver, info, shared),
            Some((stop, reply)) = inputs.snapshot.recv() => {
                tokio::select! {
                    saved = take_snapshot(driver, info, dir, shared, stop) => {
                        if let (true, Ok(s)) = (reply.is_closed(), &saved) {
                            shared.progress("snapshot: its client is gone, discarding it");
                            snapshot::discard(dir, &s.partial);
                        } else {
                            let _ = reply.send(saved);
                        }
                        refresh(driver, info, shared);
                    }
                    req = inputs.down.recv() => { end.asked(req); return end }
                    _ = inputs.term.recv() => return end,
                    _ = inputs.int.recv() => return end,
                }
            }
            Some(()) = inputs.repair.recv() => {
                // A repair may take minutes: whatever ends the env ends it meanwhile.
                tokio::select! {
                    _ = repair(driver, env, shared) => {}
                    req = inputs.down.recv() => { end.asked(req); return end }
                    _ = inputs.term.recv() => return end,
                    _ = inputs.int.recv() => return end,
                    why = lifetime_over(shared) => {
                        shared.progress(why);
                        end.by_itself = true;
                        return end;
                    }
                }
            }
            why = lifetime_over(shared) => {
                shared.progress(why);
                end.by_itself = true;
                return end;
            }
        }
    }
}

/// A snapshot of the ready env, told in its progress and timeline.
async fn take_snapshot<D: Driver>(
    driver: &mut D,
    info: &EnvInfo,
    dir: &EnvDir,
    shared: &Shared,
    stop: bool,
) -> Result<crate::snapshot::Saved, snapshot::SaveError> {
    shared.progress(format!("snapshot: pausing {} nodes", info.plan.nodes.len()));
    let saved = snapshot::save(driver, info, dir, stop).await;
    match &saved {
        Ok(s) => shared.progress(format!(
            "snapshot: saved; nodes paused for {} ms{}",
            s.paused_ms,
            if stop { ", now stopped" } else { "" }
        )),
        Err(e) => shared.progress(format!("snapshot failed: {e}")),
    }
    saved
}

/// A failed env kept for inspection, until `down`, SIGTERM or its TTL.
async fn kept(shared: &Shared, inputs: &mut Inputs) -> End {
    let mut end = End::default();
    tokio::select! {
        req = inputs.down.recv() => end.asked(req),
        _ = inputs.term.recv() => {}
        why = lifetime_over(shared) => { shared.progress(why); end.by_itself = true; }
    }
    end
}

/// Removes the env as `down` would (journal undo, then the dir), from its own supervisor.
fn remove_self(dir: &EnvDir, shared: &Shared) {
    // The timeline's file goes with the dir.
    shared.timeline.lock().expect("timeline lock").take();
    if let Err(e) = env::remove(dir) {
        eprintln!("removing the env: {e}");
    }
}

/// Starts the nodes that are down again (`up` on a degraded env), leaving the others as
/// they are.
async fn repair<D: Driver>(driver: &mut D, env: &Env<'_>, shared: &Shared) {
    let progress = |m: String| {
        if m.starts_with("repairing") {
            shared.set_phase(Phase::Starting, None);
        }
        shared.progress(m)
    };
    let start = actions::nodes::Start {
        dir: env.dir,
        journal: env.journal,
        access: env.access,
        limits: env.info.options.limits,
        progress: &progress,
        restored: false,
    };
    let changed = |d: &mut D| refresh(d, env.info, shared);
    let repaired = actions::nodes::repair(&start, driver, &env.info.plan, &changed).await;
    if let Err(e) = repaired {
        let error = e.to_string();
        shared.set_phase(Phase::Degraded, Some(error.clone()));
        shared.emit(Event::Failed { error });
        return;
    }
    shared.set_phase(Phase::Ready, None);
    shared.emit(Event::Ready);
}

/// Milliseconds since the epoch, for the timeline.
pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Resolves when the env's life is over without anyone asking: its TTL has passed
/// (`--ttl`, the host's default, `vstage extend` moves it), or the process that owns it
/// (`vstage run`) has ended, even by SIGKILL. Says which.
async fn lifetime_over(shared: &Shared) -> String {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let expires = shared.status.lock().expect("status lock").expires_unix;
        if let Some(at) = expires
            && envdir::now_unix() >= at
        {
            return "the env's TTL has expired: taking it down".into();
        }
        let owner = shared.owner.lock().expect("owner lock").clone();
        if let Some(owner) = owner
            && !owner.is_alive()
        {
            return format!(
                "the process that owned the env (pid {}) has ended: taking it down",
                owner.pid
            );
        }
    }
}

async fn teardown<D: Driver>(
    driver: &mut D,
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
    actions::tear_down(driver, &info.plan, tasks, graceful).await;
    refresh(driver, info, shared);
}

fn refresh<D: Driver>(driver: &mut D, info: &EnvInfo, shared: &Shared) {
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
