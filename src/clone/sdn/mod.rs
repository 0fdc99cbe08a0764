//! The SDN clone: a Neutron v2.0-compatible network service.
//!
//! Done: networks, subnets, ports (allocation, binding), security groups, quotas, the
//! extension list, Neutron errors, token checks against the identity service, and a
//! standalone `vstage clone sdn`. Not yet: running inside an env's supervisor with the
//! template's networks as its own, and new API networks as L2 segments of the env fabric.

pub mod api;
pub mod model;
pub mod token;

use std::net::SocketAddr;
use std::sync::Arc;

/// Extensions advertised by default: none, which Nova handles best (contract §3).
pub const DEFAULT_EXTENSIONS: &[&str] = &[];

pub struct Running {
    pub listener: tokio::net::TcpListener,
    pub service: Arc<api::Service>,
    pub url: String,
}

/// Binds `listen` and prepares the service; tokens are checked against `auth_url`.
pub async fn start(
    listen: SocketAddr,
    auth_url: &str,
    extensions: Vec<String>,
) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let service = Arc::new(api::Service::new(
        model::State::default(),
        token::Validator::new(auth_url),
        extensions,
        url.clone(),
    ));
    Ok(Running {
        listener,
        service,
        url,
    })
}

impl Running {
    pub async fn serve(self) -> std::io::Result<()> {
        axum::serve(self.listener, api::router(self.service)).await
    }
}
