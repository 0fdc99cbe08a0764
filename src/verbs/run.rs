//! `vstage run`: an env up, a command on the host against it, the env down: always,
//! whatever the command did, however `run` ends (its supervisor watches it, so even a
//! SIGKILL of `run` takes the env down). CI reads the exit code, the JUnit file and the
//! artifacts.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use vstage::env::{EnvError, EnvInfo, Owner};
use vstage::envdir::{self, EnvDir};
use vstage::handoff::artifacts;
use vstage::handoff::junit::{self, Case};
use vstage::home::{self, CiJob, Home};
use vstage::lifecycle::{self, UpError};
use vstage::progress::Reporter;
use vstage::supervisor::api::{self, Request};

use crate::cli::RunArgs;
use crate::failure::{EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_INTERRUPTED, Result};

/// The command ran out of its `--timeout` (as `timeout(1)` reports it).
pub(crate) const EXIT_TIMEOUT: u8 = 124;
/// The env never became ready: the command did not run.
pub(crate) const EXIT_NOT_READY: u8 = 125;
/// How long the command's processes get between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(10);

/// How the command ended.
enum Ended {
    Exited(u8),
    TimedOut(Duration),
    /// `run` was told to stop (SIGINT or SIGTERM) while the command ran.
    Stopped(Signal),
    NotStarted(String),
}

/// Messages of `run` itself go to stderr: stdout is the command's.
macro_rules! note {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), "vstage run: {}", format!($($arg)*));
    }};
}

pub(crate) async fn run(
    home: &Home,
    args: &RunArgs,
    caller_umask: nix::sys::stat::Mode,
) -> Result<u8> {
    let ci = CiJob::from_vars(|k| std::env::var(k).ok());
    let name = name_for(args, &ci)?;
    let mut req = super::up::request(&args.env, args.up_timeout, Some(Owner::this()))?;
    req.name = Some(&name);
    req.logs_to = args.artifacts.clone();
    req.must_be_new = true;
    if let Some((kind, number)) = &ci.change {
        req.labels.entry(kind.clone()).or_insert(number.clone());
    }
    let mut phases = Vec::new();

    let report = Reporter::new();
    let started = Instant::now();
    let up = lifecycle::up(home, &req, &report).await;
    report.finish();
    let info = match up {
        Ok(info) => {
            phases.push(phase("up", started, None));
            info
        }
        Err(e) => {
            phases.push(phase("up", started, Some(e.to_string())));
            let code = up_failed(home, args, &name, e).await;
            finish(args, &name, &phases, code)?;
            return Ok(code);
        }
    };
    let dir = home.env(&name)?;

    note!("env {name} is ready: {}", args.command.join(" "));
    let started = Instant::now();
    let ended = command(&dir, &info, &args.command, args.timeout, caller_umask).await;
    let (code, failure) = match &ended {
        Ended::Exited(0) => (0, None),
        Ended::Exited(c) => (*c, Some(format!("the command exited {c}"))),
        Ended::TimedOut(after) => (
            EXIT_TIMEOUT,
            Some(format!("the command ran out of its {}s", after.as_secs())),
        ),
        Ended::Stopped(sig) => (
            128 + *sig as u8,
            Some(format!(
                "vstage run was stopped ({sig}) while the command ran"
            )),
        ),
        Ended::NotStarted(e) => (127, Some(format!("the command did not start: {e}"))),
    };
    if let Some(why) = &failure {
        note!("{why}");
    }
    phases.push(phase("test", started, failure));
    collect(args, &dir, &info).await;

    let keep =
        code != 0 && args.env.keep_on_failure.is_some() && !matches!(ended, Ended::Stopped(_));
    if keep {
        keep_env(args, &dir, &name).await;
    } else {
        let started = Instant::now();
        let report = Reporter::new();
        let down = lifecycle::down(home, &name, true, &report).await;
        report.finish();
        phases.push(phase("down", started, down.err().map(|e| e.to_string())));
    }
    finish(args, &name, &phases, code)?;
    Ok(code)
}

/// `--name`, or one from the CI's variables (else the template and branch).
fn name_for(args: &RunArgs, ci: &CiJob) -> Result<String> {
    if let Some(n) = &args.env.name {
        return Ok(n.clone());
    }
    let template = args
        .env
        .from
        .as_ref()
        .unwrap_or(&args.env.template.template);
    let stem = Path::new(template)
        .file_stem()
        .map_or(template.clone(), |s| s.to_string_lossy().into_owned());
    Ok(home::run_env_name(&stem, &std::env::current_dir()?, ci))
}

/// The exit code of an env that did not come up; a failed env kept for inspection
/// leaves its artifacts and says how to reach it.
async fn up_failed(home: &Home, args: &RunArgs, name: &str, e: UpError) -> u8 {
    note!("env {name} did not come up: {e}");
    let code = match &e {
        UpError::Interrupted => EXIT_INTERRUPTED,
        UpError::Template(_)
        | UpError::Plan(_)
        | UpError::Driver(_)
        | UpError::BadInput(_)
        | UpError::Env(EnvError::BadName(_)) => EXIT_BAD_INPUT,
        UpError::Env(_) => EXIT_FAILURE,
        _ => EXIT_NOT_READY,
    };
    if args.env.keep_on_failure.is_some()
        && code == EXIT_NOT_READY
        && let Ok(dir) = home.env(name)
        && let Ok(info) = EnvInfo::read(&dir)
    {
        collect(args, &dir, &info).await;
        kept(name);
    }
    code
}

/// A failed test's env stays for debugging (`--keep-on-failure`), past `run`'s end.
async fn keep_env(args: &RunArgs, dir: &EnvDir, name: &str) {
    let secs = args
        .env
        .keep_on_failure
        .flatten()
        .map(|d| d.as_secs().max(1));
    let socket = dir.join(envdir::SUPERVISOR_SOCK);
    if let Ok(mut reply) = api::send(&socket, &Request::Keep { secs }).await {
        let _ = tokio::time::timeout(Duration::from_secs(5), reply.next()).await;
    }
    kept(name);
}

fn phase(name: &str, started: Instant, failure: Option<String>) -> Case {
    Case {
        name: name.to_string(),
        seconds: started.elapsed().as_secs_f64(),
        failure,
    }
}

fn kept(name: &str) {
    note!(
        "env {name} is kept for debugging: vstage status {name}; vstage ssh {name} NODE; \
         vstage exec {name} -- CMD; vstage down {name} when done"
    );
}

/// The artifacts a live env gives: guests' logs first (they need the env), then the
/// host's files.
async fn collect(args: &RunArgs, dir: &EnvDir, info: &EnvInfo) {
    let Some(dest) = &args.artifacts else { return };
    artifacts::collect_guest_logs(dir, info, dest).await;
    if let Err(e) = artifacts::collect(dir, info, dest) {
        note!("artifacts: {e}");
    }
}

/// The JUnit file and `timings.json`, whatever happened.
fn finish(args: &RunArgs, name: &str, phases: &[Case], code: u8) -> Result<()> {
    if let Some(dest) = &args.artifacts {
        std::fs::create_dir_all(dest)?;
        let timings = serde_json::json!({
            "env": name,
            "exit_code": code,
            "phases": phases.iter().map(|p| serde_json::json!({
                "name": p.name, "seconds": p.seconds, "ok": p.failure.is_none(),
            })).collect::<Vec<_>>(),
        });
        std::fs::write(
            dest.join("timings.json"),
            serde_json::to_vec_pretty(&timings)?,
        )?;
    }
    if let Some(file) = &args.junit {
        let mut cases = phases.to_vec();
        let mut merged = Vec::new();
        if let Some(from) = &args.junit_from {
            let label = from.display().to_string();
            let read = read_bounded(from, junit::MAX_JUNIT_BYTES)
                .map_err(|e| format!("{label}: {e}"))
                .and_then(|xml| junit::suites_of(&label, &xml).map_err(|e| e.to_string()));
            match read {
                Ok(suites) => merged.push(suites),
                Err(e) => {
                    note!("--junit-from: {e}");
                    cases.push(Case {
                        name: "junit-from".into(),
                        seconds: 0.0,
                        failure: Some(e),
                    });
                }
            }
        }
        std::fs::write(file, junit::document("vstage", &cases, &merged))?;
    }
    Ok(())
}

/// A file the command wrote, read up to `max` bytes (more is refused).
fn read_bounded(path: &Path, max: u64) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB",
            max >> 20
        )));
    }
    Ok(text)
}

/// Runs the command on the host with the env's hand-off variables, in a process group
/// of its own (a timeout or a stop ends all of it), dying with `run` (PDEATHSIG).
async fn command(
    dir: &EnvDir,
    info: &EnvInfo,
    argv: &[String],
    timeout: Option<Duration>,
    caller_umask: nix::sys::stat::Mode,
) -> Ended {
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .envs(vstage::handoff::variables(dir, info))
        .process_group(0);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::stat::umask(caller_umask);
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Ended::NotStarted(format!("{}: {e}", argv[0])),
    };
    let group = Pid::from_raw(child.id().unwrap_or(0) as i32);
    let signals = (
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()),
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()),
    );
    let (Ok(mut int), Ok(mut term)) = signals else {
        let _ = killpg(group, Signal::SIGKILL);
        return Ended::NotStarted("cannot watch signals".into());
    };
    let limit = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let ended = tokio::select! {
        status = child.wait() => {
            use std::os::unix::process::ExitStatusExt as _;
            let code = status.map_or(127, |s| s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)));
            Ended::Exited(code.clamp(0, 255) as u8)
        }
        _ = limit => Ended::TimedOut(timeout.unwrap_or_default()),
        _ = int.recv() => Ended::Stopped(Signal::SIGINT),
        _ = term.recv() => Ended::Stopped(Signal::SIGTERM),
    };
    // What the command left running goes with it: TERM, a grace, then KILL.
    if killpg(group, Signal::SIGTERM).is_ok() {
        let _ = tokio::time::timeout(GRACE, child.wait()).await;
        let deadline = Instant::now() + GRACE;
        while killpg(group, None).is_ok() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = killpg(group, Signal::SIGKILL);
    }
    let _ = child.wait().await;
    ended
}
