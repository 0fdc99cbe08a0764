//! `vstage status ENV`: the env's phase and each node's state.

use crate::failure::Result;
use vstage::home::Home;

use super::{age, live_status, ls::phase_text, open_env};
use crate::Out;
use crate::cli::Output;
use std::io::Write as _;
use vstage::supervisor::api::Status;

pub(crate) async fn status(home: &Home, name: &str, output: Output) -> Result<u8> {
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
    if let Ok(Status {
        owner_pid: Some(pid),
        ..
    }) = &status
    {
        say!("owner:    pid {pid} (the env is taken down when it ends)");
    }
    for service in &info.plan.services {
        let url = std::fs::read_to_string(dir.join(&service.dir).join("url")).unwrap_or_default();
        say!(
            "{:<9} {} (host), {} (guests); files in {}",
            format!("{}:", service.name),
            url.trim(),
            service.guest_url(),
            dir.join(&service.dir).display()
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
