//! `vstage clone auth|sdn`: a clone on its own, until SIGTERM or Ctrl-C.

use std::io::Write as _;

use crate::failure::Result;
use vstage::clone::standalone::{self, Standalone};
use vstage::home::Home;

use crate::cli::CloneCommand;

pub(crate) async fn clone_command(home: &Home, cmd: CloneCommand) -> Result<u8> {
    let clone = match cmd {
        CloneCommand::Auth {
            listen,
            config,
            state,
            public_url,
        } => Standalone::Identity {
            listen,
            config,
            state: state.unwrap_or_else(|| home.state.join("clones/auth")),
            public_url,
        },
        CloneCommand::Sdn {
            listen,
            auth_url,
            extensions,
            vif_plugged_event,
        } => Standalone::Network {
            listen,
            auth_url,
            extensions,
            vif_plugged_event,
        },
    };
    let serving = standalone::start(clone).await?;
    // A reader may stop after the first line; the service must not die of that.
    let mut out = std::io::stdout();
    for line in &serving.lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
    serve_until_stopped(serving.serve).await
}

/// Serves until the server fails, SIGTERM or Ctrl-C.
pub(crate) async fn serve_until_stopped(
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
