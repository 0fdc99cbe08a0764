//! A clone on its own, outside any env (`vstage clone auth|sdn`): for developing
//! against one, or for checking it with real clients.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;

use super::{auth, sdn};

/// Which clone, with its flags.
pub enum Standalone {
    /// The identity clone.
    Identity {
        listen: SocketAddr,
        /// A seed config file (YAML); default: an admin and a demo user.
        config: Option<PathBuf>,
        state: PathBuf,
        public_url: Option<String>,
    },
    /// The network clone, checking tokens with `auth_url`.
    Network {
        listen: SocketAddr,
        auth_url: String,
        extensions: Vec<String>,
        /// `USER:PASSWORD:PROJECT` of an admin that tells Nova `network-vif-plugged`.
        vif_plugged_event: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum StandaloneError {
    /// The flags or the config file are wrong.
    #[error("{0}")]
    BadInput(String),
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Identity(#[from] auth::CloneError),
    #[error("sdn clone: listening on {listen}: {source}")]
    Network {
        listen: SocketAddr,
        source: std::io::Error,
    },
}

/// A bound clone: what to tell the user, and the future that serves it.
pub struct Serving {
    pub lines: Vec<String>,
    pub serve: Pin<Box<dyn Future<Output = std::io::Result<()>>>>,
}

pub async fn start(clone: Standalone) -> Result<Serving, StandaloneError> {
    match clone {
        Standalone::Identity {
            listen,
            config,
            state,
            public_url,
        } => {
            let config = match config {
                Some(path) => {
                    let label = path.display().to_string();
                    let text =
                        std::fs::read_to_string(&path).map_err(|source| StandaloneError::Read {
                            path: label.clone(),
                            source,
                        })?;
                    auth::Config::from_yaml(&label, &text).map_err(StandaloneError::BadInput)?
                }
                None => auth::Config::default(),
            };
            let running = auth::start(listen, &state, config, public_url).await?;
            Ok(Serving {
                lines: vec![
                    format!("auth clone listening on {}", running.url),
                    format!(
                        "clouds.yaml: {}",
                        state.join(super::registry::CLOUDS_YAML).display()
                    ),
                ],
                serve: Box::pin(running.serve()),
            })
        }
        Standalone::Network {
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
                        return Err(StandaloneError::BadInput(format!(
                            "--vif-plugged-event {spec}: expected USER:PASSWORD:PROJECT"
                        )));
                    };
                    Some(sdn::notify::VifEvents {
                        auth_url: auth_url.clone(),
                        user: user.into(),
                        password: password.into(),
                        project: project.into(),
                        forwards: Vec::new(),
                    })
                }
            };
            let running = sdn::start(listen, &auth_url, extensions, vif_events)
                .await
                .map_err(|source| StandaloneError::Network { listen, source })?;
            Ok(Serving {
                lines: vec![format!("sdn clone listening on {}", running.url)],
                serve: Box::pin(running.serve()),
            })
        }
    }
}
