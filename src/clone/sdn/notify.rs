//! `network-vif-plugged`: in event mode a bound port stays DOWN until the clone has told
//! Nova through its external-events API, as Neutron's agents do (contract §3, option 2).

use std::sync::Arc;

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
}

/// Tells Nova about each newly bound port, then marks the port ACTIVE.
pub async fn run(
    service: Arc<Service>,
    cfg: VifEvents,
    mut ports: UnboundedReceiver<(String, String)>,
) {
    while let Some((port, server)) = ports.recv().await {
        match send(&cfg, &port, &server).await {
            Ok(()) => {
                let mut st = service.lock();
                if let Some(p) = st.ports.get_mut(&port)
                    && !p.host_id.is_empty()
                {
                    p.status = "ACTIVE".into();
                }
            }
            Err(e) => eprintln!("sdn clone: network-vif-plugged for port {port}: {e}"),
        }
    }
}

async fn send(cfg: &VifEvents, port: &str, server: &str) -> Result<(), String> {
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
    .await
    .map_err(|e| e.to_string())?;
    if status != 201 {
        return Err(format!("identity service answered {status}"));
    }
    let token = crate::clone::http::header(&head, "x-subject-token")
        .ok_or("no X-Subject-Token")?
        .to_string();
    let body: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let nova = body["token"]["catalog"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["type"] == "compute")
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .find(|e| e["interface"] == "public")
        .and_then(|e| e["url"].as_str().map(String::from))
        .ok_or("the catalog has no public compute endpoint")?;
    let event = json!({"events": [{"name": "network-vif-plugged", "server_uuid": server, "tag": port, "status": "completed"}]});
    let (status, _, answer) = http::request(
        "POST",
        &nova,
        "/os-server-external-events",
        &[("X-Auth-Token", &token)],
        &event.to_string(),
    )
    .await
    .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!(
            "nova answered {status}: {}",
            String::from_utf8_lossy(&answer)
        ));
    }
    Ok(())
}
