//! `network-vif-plugged`, as Neutron sends it (contract §3, option 2): in event mode a
//! server's bound port stays DOWN until its host's L2 agent has seen the VIF on its
//! bridges (`agents.rs`, `l2_report`), which Nova plugs after it starts waiting; then
//! the clone tells Nova through its external-events API, and the port turns ACTIVE once
//! Nova has taken the event. An event Nova does not take (no answer, an error, or a
//! per-event code other than 200) is sent again, with a growing pause, while the port
//! stays DOWN, plugged and on the same host, for as long as Nova waits by default.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

use super::api::Service;
use crate::clone::http;

/// Credentials of a user with the admin role, whose token may post server events; Nova
/// is found in that token's catalog (type `compute`, public interface).
#[derive(Debug, Clone)]
pub struct VifEvents {
    pub auth_url: String,
    pub user: String,
    pub password: String,
    pub project: String,
    /// Nodes' ports forwarded to the host, where the clone runs: Nova's endpoint as
    /// guests name it (`http://controller:8774/v2.1`) is reached through them.
    pub forwards: Vec<crate::clone::registry::Forward>,
}

/// A VIF its host's L2 agent has just seen.
#[derive(Debug, Clone)]
pub struct Plugged {
    pub port: String,
    /// The port's `device_id`: the server Nova waits for.
    pub server: String,
    pub host: String,
}

/// Nova's default `vif_plugging_timeout`: after it, nobody waits for the event.
const GIVE_UP_AFTER: Duration = Duration::from_secs(300);
const FIRST_PAUSE: Duration = Duration::from_millis(500);
const LONGEST_PAUSE: Duration = Duration::from_secs(10);

/// Tells Nova about each newly plugged VIF, each in a task of its own so that one
/// waiting to be sent again holds up no other.
pub async fn run(service: Arc<Service>, cfg: VifEvents, mut plugged: UnboundedReceiver<Plugged>) {
    let cfg = Arc::new(cfg);
    while let Some(vif) = plugged.recv().await {
        tokio::spawn(deliver(service.clone(), cfg.clone(), vif));
    }
}

/// Whether the port is still the plugged, DOWN port on `vif.host` the event is about.
fn still_waiting(service: &Service, vif: &Plugged) -> bool {
    let st = service.lock();
    st.ports
        .get(&vif.port)
        .is_some_and(|p| p.host_id == vif.host && p.plugged && p.status == "DOWN")
}

async fn deliver(service: Arc<Service>, cfg: Arc<VifEvents>, vif: Plugged) {
    let started = tokio::time::Instant::now();
    let mut pause = FIRST_PAUSE;
    let mut attempt = 1;
    while still_waiting(&service, &vif) {
        match send(&cfg, &vif.port, &vif.server).await {
            Ok(()) => {
                let mut st = service.lock();
                if let Some(p) = st.ports.get_mut(&vif.port)
                    && p.host_id == vif.host
                    && p.plugged
                {
                    p.status = "ACTIVE".into();
                }
                eprintln!(
                    "sdn clone: network-vif-plugged for port {} of server {} taken by Nova (attempt {attempt})",
                    vif.port, vif.server
                );
                return;
            }
            Err(e) => eprintln!(
                "sdn clone: network-vif-plugged for port {} (attempt {attempt}): {e}",
                vif.port
            ),
        }
        if started.elapsed() + pause > GIVE_UP_AFTER {
            eprintln!(
                "sdn clone: network-vif-plugged for port {}: not taken in {}s, given up",
                vif.port,
                GIVE_UP_AFTER.as_secs()
            );
            return;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
        attempt += 1;
    }
}

/// Why Nova was not told about a port.
#[derive(Debug, thiserror::Error)]
enum NotifyError {
    #[error("{0}")]
    Http(#[from] std::io::Error),
    #[error("identity service answered {0}")]
    Token(u16),
    #[error("the identity service's answer: {0}")]
    Answer(&'static str),
    #[error("reading the identity service's answer: {0}")]
    Json(#[from] serde_json::Error),
    #[error("nova answered {status}: {text}")]
    Refused { status: u16, text: String },
    #[error("nova did not take the event: {0}")]
    NotTaken(String),
}

async fn send(cfg: &VifEvents, port: &str, server: &str) -> Result<(), NotifyError> {
    let auth = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": cfg.user, "password": cfg.password, "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": cfg.project, "domain": {"name": "Default"}}}}});
    let (status, head, body) = http::request(
        "POST",
        &cfg.auth_url,
        "/v3/auth/tokens",
        &[],
        &auth.to_string(),
    )
    .await?;
    if status != 201 {
        return Err(NotifyError::Token(status));
    }
    let token = crate::clone::http::header(&head, "x-subject-token")
        .ok_or(NotifyError::Answer("no X-Subject-Token"))?
        .to_string();
    let body: Value = serde_json::from_slice(&body)?;
    let nova = body["token"]["catalog"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["type"] == "compute")
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .find(|e| e["interface"] == "public")
        .and_then(|e| e["url"].as_str().map(String::from))
        .ok_or(NotifyError::Answer(
            "the catalog has no public compute endpoint",
        ))?;
    let nova = crate::clone::registry::host_url(&nova, &cfg.forwards).unwrap_or(nova);
    let event = json!({"events": [{"name": "network-vif-plugged", "server_uuid": server, "tag": port, "status": "completed"}]});
    let (status, _, answer) = http::request(
        "POST",
        &nova,
        "/os-server-external-events",
        &[("X-Auth-Token", &token)],
        &event.to_string(),
    )
    .await?;
    taken(status, &answer)
}

/// Whether Nova took the event: 200, and the event's own code 200 (Nova answers 207
/// with 404 or 422 per event when the server is unknown or not on a host yet).
fn taken(status: u16, answer: &[u8]) -> Result<(), NotifyError> {
    let text = String::from_utf8_lossy(&answer[..answer.len().min(1024)]).into_owned();
    if status != 200 {
        return Err(NotifyError::Refused { status, text });
    }
    let codes: Vec<u64> = serde_json::from_slice::<Value>(answer)
        .ok()
        .and_then(|v| v["events"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e["code"].as_u64())
        .collect();
    if codes.iter().any(|c| *c != 200) {
        return Err(NotifyError::NotTaken(text));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::taken;

    #[test]
    fn only_a_200_for_the_event_itself_is_taken() {
        assert!(taken(200, br#"{"events": [{"code": 200}]}"#).is_ok());
        assert!(taken(207, br#"{"events": [{"code": 422}]}"#).is_err());
        assert!(taken(200, br#"{"events": [{"code": 404}]}"#).is_err());
        assert!(taken(500, b"oops").is_err());
    }
}
