//! `vstage clone auth|sdn`: a clone on its own, until SIGTERM or Ctrl-C.

use std::io::Write as _;

use anyhow::{Context as _, Result, bail};
use vstage::home::Home;

use crate::BadInput;
use crate::cli::CloneCommand;

pub(crate) async fn clone_command(home: &Home, cmd: CloneCommand) -> Result<u8> {
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
