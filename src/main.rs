//! The CLI edge: flags in, exit codes out; errors become messages with context here.

mod cli;
mod failure;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

use cli::{Cli, Command};
use failure::{EXIT_FAILURE, Result};
use vstage::home::Home;
use vstage::lifecycle;
use vstage::progress::Reporter;

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

mod verbs;

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
            eprintln!("vstage: error: {e}");
            ExitCode::from(e.code())
        }
    }
}

async fn run(command: Command, caller_umask: nix::sys::stat::Mode) -> Result<u8> {
    let home = Home::from_env();
    match command {
        Command::Up(args) => verbs::up::up(&home, &args).await,
        Command::Run(args) => verbs::run::run(&home, &args, caller_umask).await,
        Command::Extend { env, by } => verbs::extend::extend(&home, &env, by).await,
        Command::Gc {
            dry_run,
            all,
            labels,
        } => verbs::gc::gc(&home, dry_run, all, &labels).await,
        Command::Events { env, output } => verbs::events::events(&home, &env, output.output),
        Command::Logs { env, node, follow } => {
            verbs::logs::logs(&home, &env, node.as_deref(), follow).await
        }
        Command::Completions { shell } => verbs::manual::completions(shell),
        Command::Man { dir } => verbs::manual::man_pages(&dir),
        Command::Down { env, force } => {
            let report = Reporter::new();
            lifecycle::down(&home, &env, force, &report).await?;
            report.finish();
            say!("env {env} is gone");
            Ok(0)
        }
        Command::Plan(args) => {
            let (plan, _) = lifecycle::plan(&args.template, &args.sets, args.driver.as_deref())?;
            let _ = write!(Out, "{}", plan.to_json());
            Ok(0)
        }
        Command::Ls(args) => verbs::ls::ls(&home, &args).await,
        Command::Status { env, output } => verbs::status::status(&home, &env, output.output).await,
        Command::Exec { env, node, command } => {
            verbs::exec::exec(&home, &env, node.as_deref(), &command, caller_umask).await
        }
        Command::Sync { env, node, force } => {
            verbs::sync::sync(&home, &env, node.as_deref(), force).await
        }
        Command::Ssh { env, node, command } => verbs::ssh::ssh(&home, &env, &node, &command),
        Command::Doctor { refresh } => verbs::doctor::doctor(&home, refresh),
        Command::Image(cmd) => verbs::image::image_command(&home, cmd),
        Command::Clone(cmd) => verbs::clone::clone_command(&home, cmd).await,
        Command::Snapshot(cmd) => verbs::snapshot::snapshot_command(&home, cmd).await,
        Command::Supervise { .. } | Command::Connect { .. } => {
            unreachable!("handled before the runtime starts")
        }
    }
}
