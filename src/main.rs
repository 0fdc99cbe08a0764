//! The CLI edge: flags in, exit codes out; errors become messages with context here.

mod cli;

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::Parser as _;

use cli::{Cli, CloneCommand, Command, ImageCommand, Output};
use vstage::api::{self, Status};
use vstage::env::{EnvError, EnvInfo};
use vstage::home::Home;
use vstage::image::{self, Cache};
use vstage::layout::{self, EnvDir};
use vstage::lifecycle::{self, UpError, UpRequest};
use vstage::progress::Reporter;
use vstage::template::TemplateError;
use vstage::{agent, env};

const EXIT_FAILURE: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;
const EXIT_NOT_FOUND: u8 = 3;
/// As a shell reports a command ended by SIGINT.
const EXIT_INTERRUPTED: u8 = 130;

/// The CLI's stdout. A reader that went away (`vstage ls | head`) ends the command
/// quietly with success, as other command-line tools do, where `println!` would panic;
/// any other write error ends it with a message. SIGPIPE stays ignored so that a closed
/// socket is an error to handle, not a silent death.
struct Out;

impl std::io::Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        stdout_result(std::io::stdout().write(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        stdout_result(std::io::stdout().flush())
    }
}

fn stdout_result<T>(r: std::io::Result<T>) -> std::io::Result<T> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("vstage: error: writing to stdout: {e}");
            std::process::exit(EXIT_FAILURE.into())
        }
        ok => ok,
    }
}

/// `println!` through [`Out`].
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(Out, $($arg)*);
    }};
}

/// An error that is the user's input, not a failure of vstage or the host.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BadInput(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Everything vstage creates (env dirs, journals, logs, seeds, keys, clone state with
    // bearer tokens, sockets) is its user's alone, whatever umask the caller had.
    // Host commands that `exec` runs get the caller's umask back.
    let caller_umask = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    if let Command::Supervise { dir } = cli.command {
        return match vstage::supervisor::run(dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("supervisor: {e:#}");
                ExitCode::from(EXIT_FAILURE)
            }
        };
    }
    if let Command::Connect { socket, slots } = &cli.command {
        return match vstage::clone::connect(socket, slots.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vstage __connect {}: {e}", socket.display());
                ExitCode::from(EXIT_FAILURE)
            }
        };
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(cli.command, caller_umask)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("vstage: error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if cause.is::<TemplateError>() || cause.is::<BadInput>() {
            return EXIT_BAD_INPUT;
        }
        if let Some(EnvError::NotFound(_)) = cause.downcast_ref::<EnvError>() {
            return EXIT_NOT_FOUND;
        }
        if let Some(EnvError::BadName(_)) = cause.downcast_ref::<EnvError>() {
            return EXIT_BAD_INPUT;
        }
        if let Some(up) = cause.downcast_ref::<UpError>() {
            return match up {
                UpError::Template(_) | UpError::Plan(_) | UpError::BadInput(_) => EXIT_BAD_INPUT,
                UpError::Env(EnvError::BadName(_)) => EXIT_BAD_INPUT,
                UpError::Env(EnvError::NotFound(_)) => EXIT_NOT_FOUND,
                UpError::Interrupted => EXIT_INTERRUPTED,
                _ => EXIT_FAILURE,
            };
        }
    }
    EXIT_FAILURE
}

async fn run(command: Command, caller_umask: nix::sys::stat::Mode) -> Result<u8> {
    let home = Home::from_env();
    match command {
        Command::Up(args) => {
            let report = Reporter::new();
            let sets = args.template.sets;
            let req = UpRequest {
                template: &args.template.template,
                name: args.name.as_deref(),
                sets: &sets,
                keep_on_failure: args.keep_on_failure,
                timeout: args.timeout,
                stall: args.stall_timeout,
            };
            let info = lifecycle::up(&home, &req, &report).await?;
            report.finish();
            say!(
                "env {} is ready ({} nodes):",
                info.name,
                info.plan.nodes.len()
            );
            for node in &info.plan.nodes {
                let ips: Vec<String> = node
                    .nics
                    .iter()
                    .map(|n| format!("{}={}", n.network, n.ip))
                    .collect();
                say!("  {:<12} {}", node.name, ips.join(" "));
            }
            let first = &info.plan.nodes[0].name;
            say!("try: vstage exec {} --node {first} -- hostname", info.name);
            say!("     vstage down {}", info.name);
            Ok(0)
        }
        Command::Down { env, force } => {
            let report = Reporter::new();
            lifecycle::down(&home, &env, force, &report).await?;
            report.finish();
            say!("env {env} is gone");
            Ok(0)
        }
        Command::Plan(args) => {
            let plan = lifecycle::plan(&args.template, &args.sets)?;
            let _ = write!(Out, "{}", plan.to_json());
            Ok(0)
        }
        Command::Ls(out) => ls(&home, out.output).await,
        Command::Status { env, output } => status(&home, &env, output.output).await,
        Command::Exec { env, node, command } => {
            exec(&home, &env, node.as_deref(), &command, caller_umask).await
        }
        Command::Ssh { env, node, command } => ssh(&home, &env, &node, &command),
        Command::Doctor { refresh } => doctor(&home, refresh),
        Command::Image(cmd) => image_command(&home, cmd),
        Command::Clone(cmd) => clone_command(&home, cmd).await,
        Command::Supervise { .. } | Command::Connect { .. } => {
            unreachable!("handled before the runtime starts")
        }
    }
}

fn open_env(home: &Home, name: &str) -> Result<(EnvDir, EnvInfo)> {
    let dir = home.env(name)?;
    if !dir.path().is_dir() {
        return Err(EnvError::NotFound(name.to_string()).into());
    }
    let info = EnvInfo::read(&dir).with_context(|| format!("env {name}: reading env.json"))?;
    Ok((dir, info))
}

/// A status, or a description of why there is none (supervisor gone).
async fn live_status(dir: &EnvDir) -> std::result::Result<Status, String> {
    match api::status(&dir.join(layout::SUPERVISOR_SOCK), Duration::from_secs(2)).await {
        Ok(s) => Ok(s),
        Err(_) if !env::is_owned(dir) => {
            Err("broken: no supervisor (run `vstage down` to clean up)".into())
        }
        Err(e) => Err(e.to_string()),
    }
}

fn phase_text(status: &std::result::Result<Status, String>) -> String {
    match status {
        Ok(s) => serde_json::to_value(&s.phase)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        Err(e) => e.clone(),
    }
}

fn age(created: u64) -> String {
    let secs = env::now_unix().saturating_sub(created);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

async fn ls(home: &Home, output: Output) -> Result<u8> {
    let mut rows = Vec::new();
    for name in home.env_names().context("listing envs")? {
        // A directory under envs/ that vstage would never have named is not an env.
        let Ok(dir) = home.env(&name) else { continue };
        let Ok(info) = EnvInfo::read(&dir) else {
            rows.push((name, None, Err("incomplete: no env.json".to_string())));
            continue;
        };
        let status = live_status(&dir).await;
        rows.push((name, Some(info), status));
    }
    if output == Output::Json {
        let json: Vec<_> = rows
            .iter()
            .map(|(name, info, status)| {
                serde_json::json!({
                    "name": name,
                    "template": info.as_ref().map(|i| i.template.clone()),
                    "nodes": info.as_ref().map(|i| i.plan.nodes.len()),
                    "created_unix": info.as_ref().map(|i| i.created_unix),
                    "phase": phase_text(status),
                    "dir": home.envs().join(name),
                })
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(0);
    }
    say!(
        "{:<24} {:<16} {:>5} {:>5}  STATUS",
        "NAME",
        "TEMPLATE",
        "NODES",
        "AGE"
    );
    for (name, info, status) in &rows {
        let (template, nodes, created) = match info {
            Some(i) => (
                i.template.clone(),
                i.plan.nodes.len().to_string(),
                age(i.created_unix),
            ),
            None => ("?".into(), "?".into(), "?".into()),
        };
        say!(
            "{name:<24} {template:<16} {nodes:>5} {created:>5}  {}",
            phase_text(status)
        );
    }
    Ok(0)
}

async fn status(home: &Home, name: &str, output: Output) -> Result<u8> {
    let (dir, info) = open_env(home, name)?;
    let status = live_status(&dir).await;
    if output == Output::Json {
        let json = serde_json::json!({
            "env": info,
            "status": status.as_ref().ok(),
            "problem": status.as_ref().err(),
        });
        say!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(0);
    }
    say!("env:      {}", info.name);
    say!("template: {}", info.template);
    say!("dir:      {}", dir.path().display());
    say!("accel:    {}", info.accel.as_str());
    say!("age:      {}", age(info.created_unix));
    say!("status:   {}", phase_text(&status));
    if let Ok(Status { error: Some(e), .. }) = &status {
        say!("error:    {e}");
    }
    if let Some(auth) = &info.plan.auth {
        let url = std::fs::read_to_string(dir.join(&auth.dir).join("url")).unwrap_or_default();
        say!(
            "auth:     {} (host), {} (guests); clouds.yaml in {}",
            url.trim(),
            auth.guest_url(),
            dir.join(&auth.dir).display()
        );
    }
    say!();
    say!("{:<16} {:<10} {:>8}  ADDRESSES", "NODE", "STATE", "PID");
    for node in &info.plan.nodes {
        let (state, pid) = match &status {
            Ok(s) => s
                .nodes
                .iter()
                .find(|n| n.name == node.name)
                .map(|n| {
                    let state = serde_json::to_value(&n.state).ok();
                    let state = state
                        .as_ref()
                        .and_then(|v| v["state"].as_str())
                        .unwrap_or("?")
                        .to_string();
                    (state, n.pid.map(|p| p.to_string()).unwrap_or("-".into()))
                })
                .unwrap_or(("?".into(), "-".into())),
            Err(_) => ("unknown".into(), "-".into()),
        };
        let ips: Vec<String> = node
            .nics
            .iter()
            .map(|n| format!("{}={}", n.network, n.ip))
            .collect();
        say!("{:<16} {state:<10} {pid:>8}  {}", node.name, ips.join(" "));
    }
    Ok(0)
}

async fn exec(
    home: &Home,
    name: &str,
    node: Option<&str>,
    command: &[String],
    caller_umask: nix::sys::stat::Mode,
) -> Result<u8> {
    let (dir, info) = open_env(home, name)?;
    let code = match node {
        None => {
            let mut cmd = std::process::Command::new(&command[0]);
            cmd.args(&command[1..])
                .envs(vstage::handoff::variables(&dir, &info));
            // SAFETY: umask is async-signal-safe.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                    nix::sys::stat::umask(caller_umask);
                    Ok(())
                });
            }
            let status = cmd
                .status()
                .with_context(|| format!("running {}", command[0]))?;
            use std::os::unix::process::ExitStatusExt as _;
            status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
        }
        Some(node) => {
            // A node whose QEMU is gone would only refuse the connection: say why.
            if let Ok(status) = live_status(&dir).await
                && let Some(n) = status.nodes.iter().find(|n| n.name == node)
                && let vstage::driver::NodeState::Exited { detail } = &n.state
            {
                bail!(
                    "env {name}: node {node} is not running ({detail}); `vstage status {name}` shows the env"
                );
            }
            let Some(plan) = info.plan.node(node) else {
                let names: Vec<_> = info.plan.nodes.iter().map(|n| n.name.as_str()).collect();
                bail!(BadInput(format!(
                    "env {name} has no node '{node}' (nodes: {})",
                    names.join(", ")
                )));
            };
            let socket = dir.join(&plan.files.agent);
            let mut out = Out;
            let mut err = std::io::stderr().lock();
            let code = agent::exec(&socket, command, &mut out, &mut err)
                .await
                .with_context(|| format!("env {name}, node {node}"))?;
            out.flush()?;
            code
        }
    };
    Ok(code.clamp(0, 255) as u8)
}

fn ssh(home: &Home, name: &str, node: &str, command: &[String]) -> Result<u8> {
    let (dir, info) = open_env(home, name)?;
    let Some(plan) = info.plan.node(node) else {
        let names: Vec<_> = info.plan.nodes.iter().map(|n| n.name.as_str()).collect();
        bail!(BadInput(format!(
            "env {name} has no node '{node}' (nodes: {})",
            names.join(", ")
        )));
    };
    if !plan.cloud_init {
        bail!(BadInput(format!(
            "node {node} runs image {} which has no sshd: use `vstage exec {name} --node {node} -- CMD`",
            plan.image
        )));
    }
    let status = std::process::Command::new("ssh")
        .arg("-F")
        .arg(dir.join(layout::SSH_CONFIG))
        .arg(node)
        .args(command)
        .status()
        .context("running ssh (openssh-client)")?;
    Ok(status.code().unwrap_or(255).clamp(0, 255) as u8)
}

fn doctor(home: &Home, refresh: bool) -> Result<u8> {
    let mut ok = true;
    match vstage::driver::qemu::find_binary() {
        Some(p) => {
            use vstage::driver::qemu::version::{self, Version};
            match Version::of(&p) {
                Ok(v) if v.supported() => say!("qemu:     {} ({v})", p.display()),
                Ok(v) => say!(
                    "qemu:     {} ({v})\n          warning: vstage is tested on QEMU {}.{} up to {}.x; run 'make setup' for the pinned version",
                    p.display(),
                    version::SUPPORTED_MIN.major,
                    version::SUPPORTED_MIN.minor,
                    version::SUPPORTED_BELOW.major - 1,
                ),
                Err(e) => {
                    ok = false;
                    say!("qemu:     {e}");
                }
            }
        }
        None => {
            ok = false;
            say!(
                "qemu:     {} not found: run 'make setup'",
                vstage::driver::qemu::binary().display()
            );
        }
    }
    say!("home:     {}", home.state.display());
    say!("cache:    {}", home.cache.display());
    let cache = Cache::new(home.images());
    for name in image::recipe_names() {
        match cache.get(name)? {
            Some(img) => say!("image:    {name} built ({})", img.hash),
            None => say!("image:    {name} not built (vstage image build {name})"),
        }
    }
    if ok {
        let verdict = lifecycle::detect_accel(home, refresh, &mut |m| eprintln!("vstage: {m}"))?;
        say!("accel:    {}", verdict.accel.as_str());
        say!("          {}", verdict.reason);
    }
    Ok(if ok { 0 } else { EXIT_FAILURE })
}

fn image_command(home: &Home, cmd: ImageCommand) -> Result<u8> {
    let cache = Cache::new(home.images());
    match cmd {
        ImageCommand::Build { name, all, force } => {
            let names: Vec<String> = match (name, all) {
                (Some(n), false) => vec![n],
                (None, true) => image::recipe_names().map(String::from).collect(),
                _ => bail!(BadInput("name an image, or give --all".into())),
            };
            for name in names {
                if image::recipe(&name).is_none() {
                    let known: Vec<_> = image::recipe_names().collect();
                    bail!(BadInput(format!(
                        "no image recipe named '{name}' (recipes: {})",
                        known.join(", ")
                    )));
                }
                let img = cache.ensure(&name, force, &mut |m| eprintln!("vstage: {m}"))?;
                say!("{name} {} {}", img.hash, img.dir.display());
            }
            Ok(0)
        }
        ImageCommand::Rm { images } => {
            let mut found = Vec::new();
            for spec in &images {
                match cache.find(spec)? {
                    Some(i) => found.push(i),
                    None => bail!(BadInput(format!(
                        "no built image '{spec}' (see `vstage image ls`)"
                    ))),
                }
            }
            let freed = cache.remove(&found)?;
            say!(
                "removed {} image(s), {:.1} MiB",
                found.len(),
                freed as f64 / 1048576.0
            );
            Ok(0)
        }
        ImageCommand::Prune => {
            let stale: Vec<_> = cache.list()?.into_iter().filter(|i| !i.current).collect();
            let freed = cache.remove(&stale)?;
            say!(
                "removed {} image(s), {:.1} MiB",
                stale.len(),
                freed as f64 / 1048576.0
            );
            Ok(0)
        }
        ImageCommand::Diff { a, b } => {
            let read = |spec: &str| -> Result<_> {
                let img = cache.find(spec)?.ok_or_else(|| {
                    BadInput(format!("no built image '{spec}' (see `vstage image ls`)"))
                })?;
                image::packages(&img.dir)
                    .with_context(|| format!("{spec}: reading its package manifest"))
            };
            let lines = image::diff(&read(&a)?, &read(&b)?);
            if lines.is_empty() {
                say!("no package differs");
            }
            for l in lines {
                say!("{l}");
            }
            Ok(0)
        }
        ImageCommand::Ls(out) => {
            let images = cache.list()?;
            if out.output == Output::Json {
                let json: Vec<_> = images
                    .iter()
                    .map(|i| {
                        serde_json::json!({
                            "name": i.name, "hash": i.hash, "size": i.size, "current": i.current,
                            "built_unix": i.built.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs()),
                        })
                    })
                    .collect();
                say!("{}", serde_json::to_string_pretty(&json)?);
                return Ok(0);
            }
            say!(
                "{:<12} {:<18} {:>9} {:>5}  CURRENT",
                "NAME",
                "HASH",
                "SIZE",
                "AGE"
            );
            for i in images {
                let built = i
                    .built
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| age(d.as_secs()))
                    .unwrap_or("?".into());
                let size = format!("{:.1}M", i.size as f64 / 1048576.0);
                say!(
                    "{:<12} {:<18} {:>9} {:>5}  {}",
                    i.name,
                    i.hash,
                    size,
                    built,
                    if i.current { "yes" } else { "no" }
                );
            }
            Ok(0)
        }
    }
}

async fn clone_command(home: &Home, cmd: CloneCommand) -> Result<u8> {
    match cmd {
        CloneCommand::Auth {
            listen,
            config,
            state,
            public_url,
        } => {
            let config = match config {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    vstage::clone::auth::Config::from_yaml(&path.display().to_string(), &text)
                        .map_err(BadInput)?
                }
                None => vstage::clone::auth::Config::default(),
            };
            let state = state.unwrap_or_else(|| home.state.join("clones/auth"));
            let running = vstage::clone::auth::start(listen, &state, config, public_url).await?;
            // A reader may stop after the first line; the service must not die of that.
            let mut out = std::io::stdout();
            let _ = writeln!(out, "auth clone listening on {}", running.url);
            let _ = writeln!(out, "clouds.yaml: {}", state.join("clouds.yaml").display());
            let _ = out.flush();
            serve_until_stopped(running.serve()).await
        }
        CloneCommand::Sdn {
            listen,
            auth_url,
            extensions,
            vif_plugged_event,
        } => {
            let vif_events = match vif_plugged_event {
                None => None,
                Some(spec) => {
                    let mut parts = spec.splitn(3, ':');
                    let (Some(user), Some(password), Some(project)) =
                        (parts.next(), parts.next(), parts.next())
                    else {
                        bail!(BadInput(format!(
                            "--vif-plugged-event {spec}: expected USER:PASSWORD:PROJECT"
                        )));
                    };
                    Some(vstage::clone::sdn::notify::VifEvents {
                        auth_url: auth_url.clone(),
                        user: user.into(),
                        password: password.into(),
                        project: project.into(),
                    })
                }
            };
            let running = vstage::clone::sdn::start(listen, &auth_url, extensions, vif_events)
                .await
                .with_context(|| format!("sdn clone: listening on {listen}"))?;
            let mut out = std::io::stdout();
            let _ = writeln!(out, "sdn clone listening on {}", running.url);
            let _ = out.flush();
            serve_until_stopped(running.serve()).await
        }
    }
}

/// Serves until the server fails, SIGTERM or Ctrl-C.
async fn serve_until_stopped(
    serve: impl std::future::Future<Output = std::io::Result<()>>,
) -> Result<u8> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = serve => r?,
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(0)
}
