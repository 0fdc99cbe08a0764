//! The auth clone: a Keystone v3-compatible identity service.

pub mod api;
pub mod app_credentials;
pub mod assignments;
pub mod catalog;
pub mod config;
pub mod credentials;
pub mod domain_config;
pub mod error;
pub mod implied_roles;
pub mod kind;
pub mod model;
pub mod policy;
pub mod projects;
pub mod records;
pub mod store;
pub mod tags;
pub mod tokens;
pub mod trusts;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

pub use config::Config;

use super::Running;

#[derive(Debug, thiserror::Error)]
pub enum CloneError {
    #[error("auth clone: state in {dir}: {source}")]
    State { dir: String, source: std::io::Error },
    #[error("auth clone: {0}")]
    Seed(String),
    #[error("auth clone: cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

/// Opens (or seeds) the state in `state_dir`, binds `listen`, and writes the hand-off
/// files (`clouds.yaml`, `openrc-USER`) into `state_dir` on first start.
/// `public_url` defaults to `http://` + the bound address.
pub async fn start(
    listen: SocketAddr,
    state_dir: &Path,
    config: Config,
    public_url: Option<String>,
) -> Result<Running, CloneError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| CloneError::Listen {
            addr: listen.to_string(),
            source,
        })?;
    start_on(listener, state_dir, config, public_url)
}

/// As [`start`], on a listener bound already (the supervisor binds every clone's port
/// before any starts, so each can name the others).
pub fn start_on(
    listener: tokio::net::TcpListener,
    state_dir: &Path,
    config: Config,
    public_url: Option<String>,
) -> Result<Running, CloneError> {
    let bound = listener.local_addr().map_err(|source| CloneError::Listen {
        addr: "a bound listener".into(),
        source,
    })?;
    let url = public_url.unwrap_or_else(|| format!("http://{bound}"));
    let state_err = |source| CloneError::State {
        dir: state_dir.display().to_string(),
        source,
    };
    let (store, saved) = store::Store::open(state_dir).map_err(state_err)?;
    let mut state = match saved {
        Some(state) => state,
        None => {
            let (state, creds) = config::seed(&config).map_err(CloneError::Seed)?;
            config::save_credentials(state_dir, &creds).map_err(state_err)?;
            store.save(&state).map_err(state_err)?;
            state
        }
    };
    state.hashing = tokens::Hashing {
        rounds: config.password_hash_rounds,
    };
    // Written on every start: the URL may differ from the last one (a new port).
    let creds = config::load_credentials(state_dir).map_err(state_err)?;
    config::write_handoff(state_dir, &url, &config.region, &creds).map_err(state_err)?;
    let service = Arc::new(api::Service::new(state, store, url.clone(), config));
    Ok(Running {
        listener,
        router: api::router(service),
        url,
    })
}
