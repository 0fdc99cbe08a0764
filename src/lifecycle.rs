//! `up` and `down` as the CLI runs them: the parts that happen before the supervisor
//! exists (template, plan, images, acceleration, env dir) and after it is gone.

use std::collections::{BTreeMap, HashSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::admission;
use crate::driver::qemu::accel::{self, Accel};
use crate::driver::readiness::Limits;
use crate::driver::{DriverKind, qemu};
use crate::env::{self, EnvError, EnvInfo, Options};
use crate::envdir::journal::{Entry, Journal};
use crate::envdir::{self, EnvDir, write_atomic};
use crate::handoff::artifacts;
use crate::home::config::HostConfig;
use crate::home::{self, Home};
use crate::image::{Cache, ImageError};
use crate::plan::{self, Plan, PlanError};
use crate::progress::Reporter;
use crate::supervisor::api::{self, Event, Request};
use crate::template::{self, Source, TemplateError};

#[derive(Debug, thiserror::Error)]
pub enum UpError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Driver(#[from] crate::driver::Unsupported),
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Capacity(#[from] admission::AdmissionError),
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    Failed(String),
    #[error("interrupted: the env was taken down")]
    Interrupted,
    #[error("{0}")]
    Io(String),
}

pub struct UpRequest<'a> {
    pub template: &'a str,
    /// A snapshot to resume instead of the template (`up --from`).
    pub from: Option<&'a str>,
    /// With `from`: the host directories behind the snapshot's mounts, by guest path.
    pub mounts: Vec<(String, std::path::PathBuf)>,
    pub name: Option<&'a str>,
    pub sets: &'a [String],
    /// What runs the nodes (`--driver`), over the template's `driver:`.
    pub driver: Option<&'a str>,
    pub keep_on_failure: bool,
    /// With `keep_on_failure`: how long the failed env is kept (none: until `down`).
    pub keep_for: Option<Duration>,
    /// When the env ends by itself (none: the host's default, `config::HostConfig`).
    pub ttl: Option<Duration>,
    pub labels: BTreeMap<String, String>,
    /// The process the env dies with (`vstage run`).
    pub owner: Option<env::Owner>,
    /// Refuse a name that exists instead of reconciling it (`vstage run`).
    pub must_be_new: bool,
    /// How long to wait for the host to have room (none: fail at once when it has not).
    pub wait_for_capacity: Option<Duration>,
    /// Where a failed `up` keeps the env's logs (default: under `$VSTAGE_HOME/logs/`).
    pub logs_to: Option<std::path::PathBuf>,
    /// The ceiling for the whole bring-up; the default scales with accel and size.
    pub timeout: Option<Duration>,
    /// How long a node may show no progress before it is taken as hung.
    pub stall: Option<Duration>,
}

/// Loads and plans a template for the driver it runs on: the pure half of `up`, also
/// behind `vstage plan`.
pub fn plan(
    template_arg: &str,
    sets: &[String],
    driver: Option<&str>,
) -> Result<(Plan, DriverKind), UpError> {
    let source = Source::resolve(template_arg)?;
    let template = template::load(&source, sets)?;
    let kind = crate::driver::choose(driver, &template)?;
    Ok((plan::build(&template)?, kind))
}

fn io(what: &str) -> impl Fn(std::io::Error) -> UpError + '_ {
    move |e| UpError::Io(format!("{what}: {e}"))
}

/// The acceleration for this host, probing with the tiny image's kernel if needed.
pub fn detect_accel(
    home: &Home,
    refresh: bool,
    log: &mut dyn FnMut(&str),
) -> Result<accel::Verdict, UpError> {
    let cache = Cache::new(home.images());
    let tiny = cache.ensure("tiny", false, log)?;
    let qemu = qemu::find_binary().ok_or_else(|| {
        UpError::Failed(format!(
            "{} not found: run 'make setup' (installs qemu-system-x86)",
            qemu::binary().display()
        ))
    })?;
    Ok(accel::detect(&home.cache, &qemu, &tiny.kernel(), refresh))
}

/// What an env is made from: a template's plan, or a snapshot's.
struct Origin {
    /// Where it came from, as `env.json` says (a path, `builtin:NAME`, `snapshot:NAME`).
    label: String,
    plan: Plan,
    driver: DriverKind,
    restore: Option<env::Restore>,
    /// The snapshot's images and accel, which its nodes need exactly.
    snapshot: Option<(BTreeMap<String, std::path::PathBuf>, Accel)>,
}

fn origin(home: &Home, req: &UpRequest<'_>) -> Result<Origin, UpError> {
    let Some(name) = req.from else {
        let (plan, driver) = plan(req.template, req.sets, req.driver)?;
        let label = Source::resolve(req.template)?.label;
        return Ok(Origin {
            label,
            plan,
            driver,
            restore: None,
            snapshot: None,
        });
    };
    let stored = crate::snapshot::Store::new(home).get(name)?;
    stored.manifest.check_usable(envdir::now_unix())?;
    let mut m = stored.manifest;
    mount_sources(&mut m.plan, name, &req.mounts)?;
    Ok(Origin {
        label: format!("snapshot:{name}"),
        plan: m.plan,
        // Only the QEMU driver saves nodes.
        driver: DriverKind::named("qemu").expect("registered"),
        restore: Some(env::Restore {
            name: name.to_string(),
            snapshot: stored.id,
            dir: stored.dir,
            nodes: m.nodes,
        }),
        snapshot: Some((
            m.images.into_iter().map(|(k, v)| (k, v.dir)).collect(),
            m.accel,
        )),
    })
}

/// `--mount TARGET=DIR` flags: a guest path, and the host directory to put behind it.
pub fn parse_mounts(flags: &[String]) -> Result<Vec<(String, std::path::PathBuf)>, String> {
    flags
        .iter()
        .map(|flag| match flag.split_once('=') {
            Some((target, dir)) if target.starts_with('/') && !dir.is_empty() => {
                let target = match target.trim_end_matches('/') {
                    "" => "/",
                    t => t,
                };
                Ok((target.to_string(), std::path::PathBuf::from(dir)))
            }
            _ => Err(format!(
                "--mount {flag}: expected TARGET=DIR, TARGET a mount's path in the nodes \
                 (e.g. --mount /opt/vstage/src/nova=.)"
            )),
        })
        .collect()
}

/// A restored env's mounts: the directories `--mount` names, else the snapshot's own,
/// each of which must still be there (the nodes find them mounted again).
fn mount_sources(
    plan: &mut Plan,
    snapshot: &str,
    mounts: &[(String, std::path::PathBuf)],
) -> Result<(), UpError> {
    for (target, dir) in mounts {
        let source = std::fs::canonicalize(dir)
            .ok()
            .filter(|p| p.is_dir())
            .ok_or_else(|| {
                UpError::BadInput(format!(
                    "--mount {target}={}: not a directory",
                    dir.display()
                ))
            })?;
        let mut found = false;
        for m in plan.nodes.iter_mut().flat_map(|n| n.mounts.iter_mut()) {
            if m.target == *target {
                m.source = source.clone();
                found = true;
            }
        }
        if !found {
            let targets: std::collections::BTreeSet<&str> = plan
                .nodes
                .iter()
                .flat_map(|n| n.mounts.iter().map(|m| m.target.as_str()))
                .collect();
            return Err(UpError::BadInput(if targets.is_empty() {
                format!(
                    "--mount {target}: snapshot {snapshot} has no mounts (its env was made without any)"
                )
            } else {
                format!(
                    "--mount {target}: snapshot {snapshot} has no mount there; its mounts: {}",
                    targets.into_iter().collect::<Vec<_>>().join(", ")
                )
            }));
        }
    }
    for node in &plan.nodes {
        if let Some(m) = node.mounts.iter().find(|m| !m.source.is_dir()) {
            return Err(UpError::BadInput(format!(
                "snapshot {snapshot}: node {}'s mount {} was {}, which is gone: give its directory with --mount {}=DIR",
                node.name,
                m.target,
                m.source.display(),
                m.target
            )));
        }
    }
    Ok(())
}

pub async fn up(home: &Home, req: &UpRequest<'_>, report: &Reporter) -> Result<EnvInfo, UpError> {
    let Origin {
        label,
        plan,
        driver,
        restore,
        snapshot,
    } = origin(home, req)?;
    let name = match (req.name, req.from) {
        (Some(n), _) => n.to_string(),
        (None, Some(from)) => home::free_env_name(home, from),
        (None, None) => {
            home::default_env_name(&plan.template, &std::env::current_dir().map_err(io("cwd"))?)
        }
    };
    let dir = home.env(&name)?;
    check_paths(home, &dir, &plan, driver)?;
    if req.from.is_some() && dir.path().exists() {
        return Err(EnvError::Exists(
            name,
            "an env from a snapshot is always new: choose another --name".into(),
        )
        .into());
    }
    let images = match &snapshot {
        Some((images, _)) => images.clone(),
        None => images_for(home, &plan, report)?,
    };
    let verdict = detect_accel(home, false, &mut |m| report.step(m))?;
    if verdict.accel == Accel::Tcg {
        report.step(&format!("accel tcg: {}", verdict.reason));
    }
    if let Some((_, accel)) = snapshot
        && accel != verdict.accel
    {
        return Err(UpError::BadInput(format!(
            "the snapshot was taken under {} and this host runs {}: a node's state does not move between them",
            accel.as_str(),
            verdict.accel.as_str()
        )));
    }

    let config = HostConfig::load(&home.state).map_err(|e| UpError::BadInput(e.to_string()))?;
    let ttl = req.ttl.or(config.default_ttl);
    std::fs::create_dir_all(home.envs()).map_err(io("creating VSTAGE_HOME"))?;
    if dir.path().exists() {
        return existing(req, &dir, &name, &plan, report).await;
    }
    // Admitted until its env.json exists, so the next `up` counts this env.
    let admitted = admission::admit(
        home,
        admission::Need::of(&plan),
        config.limits,
        req.wait_for_capacity,
        &mut |m| report.step(m),
    )?;
    match std::fs::create_dir(dir.path()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && req.from.is_some() => {
            return Err(
                EnvError::Exists(name, "was made meanwhile: choose another --name".into()).into(),
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            drop(admitted);
            return existing(req, &dir, &name, &plan, report).await;
        }
        Err(e) => return Err(UpError::Io(format!("{}: {e}", dir.path().display()))),
    }
    // Owned from its first moment: `gc` must not take a dir being made for a broken env.
    let creating = match env::take_lock(&dir.join(envdir::CREATING_LOCK)) {
        Ok(lock) => lock,
        Err(e) => {
            let _ = std::fs::remove_dir(dir.path());
            return Err(UpError::Io(format!("creating.lock: {e}")));
        }
    };
    if let Some(r) = &restore
        && let Err(e) = crate::snapshot::Store::new(home).add_user(&r.snapshot, dir.path())
    {
        let _ = std::fs::remove_dir_all(dir.path());
        return Err(e.into());
    }
    let created_unix = envdir::now_unix();
    let info = EnvInfo {
        name: name.clone(),
        dir: dir.path().to_path_buf(),
        template: label,
        created_unix,
        driver,
        accel: verdict.accel,
        images,
        options: Options {
            keep_on_failure: req.keep_on_failure,
            limits: Limits::new(verdict.accel, plan.nodes.len(), req.timeout, req.stall),
            expires_unix: ttl.map(|t| created_unix.saturating_add(t.as_secs().max(1))),
            keep_for_secs: req.keep_for.map(|d| d.as_secs().max(1)),
            owner: req.owner.clone(),
        },
        labels: req.labels.clone(),
        plan,
        restore,
    };
    let json = serde_json::to_vec_pretty(&info).expect("env info serialises");
    write_atomic(&dir.join(envdir::ENV_JSON), &json).map_err(io("env.json"))?;
    drop(admitted);
    let result = start(&dir, &info, report).await;
    drop(creating);
    match result {
        Ok(()) => Ok(info),
        Err(e) => Err(failed(home, req, &dir, &info, e, report)),
    }
}

/// A failed `up`: the env goes (unless kept for inspection), its logs stay where the
/// user can read them.
fn failed(
    home: &Home,
    req: &UpRequest<'_>,
    dir: &EnvDir,
    info: &EnvInfo,
    e: UpError,
    report: &Reporter,
) -> UpError {
    // An interrupted `up` is never kept: nobody asked to inspect it.
    if req.keep_on_failure && !matches!(e, UpError::Interrupted) {
        return e;
    }
    // The supervisor rolled back what it made; remove the rest.
    wait_unowned(dir, Duration::from_secs(30));
    let logs = req.logs_to.clone().unwrap_or_else(|| home.logs(&info.name));
    if artifacts::collect(dir, info, &logs).is_ok() {
        report.step(&format!("logs of the failed env: {}", logs.display()));
    }
    match env::remove(dir) {
        Ok(()) => e,
        Err(removing) => removing.into(),
    }
}

/// Paths QEMU takes in its options and sockets the kernel binds must fit their rules.
fn check_paths(home: &Home, dir: &EnvDir, plan: &Plan, driver: DriverKind) -> Result<(), UpError> {
    let exe = std::env::current_exe().map_err(io("current exe"))?;
    for (path, what) in [
        (home.state.as_path(), "VSTAGE_HOME"),
        (home.cache.as_path(), "VSTAGE_CACHE"),
        (exe.as_path(), "the vstage binary"),
    ] {
        envdir::check_option_path(path, what).map_err(|e| UpError::BadInput(e.to_string()))?;
    }
    crate::driver::check_paths(driver, dir, plan).map_err(|e| UpError::BadInput(e.to_string()))
}

/// Every image the plan's nodes boot, built if it is not yet.
fn images_for(
    home: &Home,
    plan: &Plan,
    report: &Reporter,
) -> Result<BTreeMap<String, std::path::PathBuf>, UpError> {
    let cache = Cache::new(home.images());
    let mut images = BTreeMap::new();
    let needed: HashSet<&str> = plan.nodes.iter().map(|n| n.image.as_str()).collect();
    for image in needed {
        let built = cache.ensure(image, false, &mut |m| report.step(m))?;
        images.insert(image.to_string(), built.dir);
    }
    Ok(images)
}

async fn start(dir: &EnvDir, info: &EnvInfo, report: &Reporter) -> Result<(), UpError> {
    write_atomic(&dir.join(envdir::PLAN_JSON), info.plan.to_json().as_bytes())
        .map_err(io("plan.json"))?;
    std::fs::File::create(dir.join(envdir::LOCK)).map_err(io("lock"))?;

    let mut journal = Journal::open(&dir.join(envdir::JOURNAL)).map_err(io("journal"))?;
    let exe = std::env::current_exe().map_err(io("current exe"))?;
    journal
        .record(&Entry::Process {
            name: "supervisor".into(),
            argv: supervisor_argv(dir),
        })
        .map_err(io("journal"))?;
    let log =
        std::fs::File::create(dir.join(envdir::SUPERVISOR_LOG)).map_err(io("supervisor.log"))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(supervisor_argv(dir))
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io("supervisor.log"))?)
        .stderr(log);
    // Its own process group: the env outlives this CLI and its terminal's Ctrl-C.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn().map_err(io("starting the supervisor"))?;
    journal
        .record(&Entry::pid("supervisor", child.id() as i32))
        .map_err(io("journal"))?;
    // The child is reaped by init once we exit; we never wait for it here.
    drop(child);

    let socket = dir.join(envdir::SUPERVISOR_SOCK);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut reply = loop {
        match api::send(&socket, &Request::Watch).await {
            Ok(r) => break r,
            Err(e) if Instant::now() > deadline => {
                return Err(UpError::Failed(format!(
                    "the supervisor did not start ({e}); see {}",
                    dir.join(envdir::SUPERVISOR_LOG).display()
                )));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    // Ctrl-C or SIGTERM while the env comes up: the user no longer wants it, so it is
    // taken down here, not left to come up unseen once this CLI is gone.
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(io("signals"))?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(io("signals"))?;
    loop {
        let next = tokio::select! {
            next = reply.next() => next,
            _ = int.recv() => return Err(interrupted(&socket, report).await),
            _ = term.recv() => return Err(interrupted(&socket, report).await),
        };
        match next {
            Ok(Event::Progress { message }) => report.step(&message),
            Ok(Event::Ready) => return release(&socket, info).await,
            Ok(Event::Failed { error }) => return Err(UpError::Failed(error)),
            Ok(Event::Down) => {
                return Err(UpError::Failed(
                    "the env was taken down while starting".into(),
                ));
            }
            Ok(Event::Status(_) | Event::Saved(_)) => {}
            Err(e) => {
                return Err(UpError::Failed(format!(
                    "lost the supervisor ({e}); see {}",
                    dir.join(envdir::SUPERVISOR_LOG).display()
                )));
            }
        }
    }
}

/// A ready env an owner held only until then (`vstage up`) becomes its user's: from
/// here on it outlives this process.
async fn release(socket: &std::path::Path, info: &EnvInfo) -> Result<(), UpError> {
    if !info.options.owner.as_ref().is_some_and(|o| o.until_ready) {
        return Ok(());
    }
    let lost = |e: api::ApiError| UpError::Failed(format!("handing the env over: {e}"));
    let mut reply = api::send(socket, &Request::Release).await.map_err(lost)?;
    match tokio::time::timeout(Duration::from_secs(10), reply.next()).await {
        Ok(Ok(Event::Status(_))) => Ok(()),
        Ok(Ok(other)) => Err(UpError::Failed(format!(
            "handing the env over: unexpected answer {other:?}"
        ))),
        Ok(Err(e)) => Err(lost(e)),
        Err(_) => Err(UpError::Failed(
            "handing the env over: the supervisor did not answer in 10s".into(),
        )),
    }
}

/// `up` of a name that exists: `run` wants an env of its own; `up` reconciles.
async fn existing(
    req: &UpRequest<'_>,
    dir: &EnvDir,
    name: &str,
    plan: &Plan,
    report: &Reporter,
) -> Result<EnvInfo, UpError> {
    if req.must_be_new {
        return Err(EnvError::Exists(
            name.to_string(),
            "belongs to someone else: `vstage run` makes an env of its own; pick another --name"
                .into(),
        )
        .into());
    }
    reconcile(dir, name, plan, report).await
}

/// `up` of an env that exists: with the same plan it converges (nodes that went down
/// start again; a ready env is left as it is); anything else is refused, saying why,
/// and never harms the env.
async fn reconcile(
    dir: &EnvDir,
    name: &str,
    plan: &Plan,
    report: &Reporter,
) -> Result<EnvInfo, UpError> {
    let exists =
        |why: &str| -> UpError { EnvError::Exists(name.to_string(), why.to_string()).into() };
    if env::is_being_made(dir) {
        return Err(exists(
            "is being made by another `vstage up`: wait for it, or pick another --name",
        ));
    }
    let Ok(info) = EnvInfo::read(dir) else {
        return Err(exists(&format!(
            "is incomplete: `vstage down {name}` or `vstage gc` first"
        )));
    };
    if !env::is_supervised(dir) {
        return Err(exists(&format!(
            "is broken (no supervisor): `vstage down {name}` or `vstage gc` first"
        )));
    }
    if info.plan != *plan {
        return Err(exists(&format!(
            "was made from another plan ({}); it cannot change in place: `vstage down {name}` first, or pick another --name",
            plan_change(&info.plan, plan)
        )));
    }
    let socket = dir.join(envdir::SUPERVISOR_SOCK);
    let status = api::status(&socket, Duration::from_secs(5))
        .await
        .map_err(|e| UpError::Failed(format!("env {name}: {e}")))?;
    match status.phase {
        api::Phase::Ready => {
            report.step(&format!("env {name} is up already, as planned"));
            return Ok(info);
        }
        api::Phase::Starting | api::Phase::Stopping => {
            return Err(exists("is starting or stopping: try again when it has"));
        }
        api::Phase::Failed => {
            return Err(exists(&format!(
                "failed and is kept for inspection: `vstage down {name}` first"
            )));
        }
        api::Phase::Degraded => {}
    }
    let mut reply = api::send(&socket, &Request::Repair)
        .await
        .map_err(|e| UpError::Failed(format!("env {name}: {e}")))?;
    loop {
        match reply.next().await {
            Ok(Event::Progress { message }) => report.step(&message),
            Ok(Event::Ready) => return Ok(info),
            Ok(Event::Failed { error }) => return Err(UpError::Failed(error)),
            Ok(Event::Down) => return Err(UpError::Failed("the env was taken down".into())),
            Ok(Event::Status(_) | Event::Saved(_)) => {}
            Err(e) => return Err(UpError::Failed(format!("env {name}: {e}"))),
        }
    }
}

/// What differs between an env's plan and a new one, in a few words.
fn plan_change(old: &Plan, new: &Plan) -> String {
    // Names in `a` that `b` lacks.
    let missing = |a: &Plan, b: &Plan| -> Vec<String> {
        a.nodes
            .iter()
            .filter(|n| b.node(&n.name).is_none())
            .map(|n| n.name.clone())
            .collect()
    };
    let mut parts = Vec::new();
    for (verb, names) in [("adds", missing(new, old)), ("removes", missing(old, new))] {
        if !names.is_empty() {
            parts.push(format!("{verb} {}", names.join(", ")));
        }
    }
    if parts.is_empty() {
        parts.push("the same nodes, with other settings".into());
    }
    parts.join("; ")
}

/// Asks the supervisor to take the half-made env down, and waits (bounded) for it.
async fn interrupted(socket: &std::path::Path, report: &Reporter) -> UpError {
    report.step("interrupted: taking the env down");
    if let Ok(mut reply) = api::send(socket, &Request::Down { force: true }).await {
        let _ = tokio::time::timeout(Duration::from_secs(30), async {
            while !matches!(reply.next().await, Ok(Event::Down) | Err(_)) {}
        })
        .await;
    }
    UpError::Interrupted
}

/// The supervisor's arguments, which also identify it in the journal.
fn supervisor_argv(dir: &EnvDir) -> Vec<String> {
    vec!["__supervise".into(), dir.path().display().to_string()]
}

fn wait_unowned(dir: &EnvDir, bound: Duration) -> bool {
    let deadline = Instant::now() + bound;
    while env::is_owned(dir) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Tears an env down: asks its supervisor, or, if that is gone, cleans up from the
/// journal. Idempotent in effect: a second `down` finds nothing and says so.
pub async fn down(home: &Home, name: &str, force: bool, report: &Reporter) -> Result<(), EnvError> {
    let dir = home.env(name)?;
    if !dir.path().is_dir() {
        return Err(EnvError::NotFound(name.to_string()));
    }
    let socket = dir.join(envdir::SUPERVISOR_SOCK);
    if env::is_owned(&dir) {
        report.step(&format!("stopping env {name}"));
        match api::send(&socket, &Request::Down { force }).await {
            Ok(mut reply) => {
                let answered = tokio::time::timeout(Duration::from_secs(60), reply.next()).await;
                if answered.is_err() {
                    report.step("the supervisor did not finish within 60s: killing what is left");
                }
            }
            Err(e) => report.step(&format!("{e}: cleaning up from the journal")),
        }
        if !wait_unowned(&dir, Duration::from_secs(10)) {
            report.step("the supervisor did not exit: killing it");
        }
    } else {
        report.step(&format!(
            "env {name} has no running supervisor: cleaning up from the journal"
        ));
    }
    env::remove(&dir)
}

#[cfg(test)]
mod tests {
    use super::parse_mounts;

    #[test]
    fn mount_flags_name_a_guest_path_and_a_directory() {
        let flags = ["/opt/vstage/src/nova/=.".to_string(), "/=/srv".to_string()];
        assert_eq!(
            parse_mounts(&flags).unwrap(),
            vec![
                ("/opt/vstage/src/nova".to_string(), ".".into()),
                ("/".to_string(), "/srv".into())
            ]
        );
        for bad in ["opt/x=.", "/opt/x", "/opt/x=", "=."] {
            let err = parse_mounts(&[bad.to_string()]).unwrap_err();
            assert!(err.contains("expected TARGET=DIR"), "{bad}: {err}");
        }
    }
}
