//! `vstage snapshot create|ls|inspect|rm`.

use std::io::Write as _;
use std::time::Instant;

use serde_json::json;
use vstage::envdir;
use vstage::home::Home;
use vstage::snapshot::{self, Manifest, Store, Stored};
use vstage::supervisor::api::{self, Event, Request};

use super::{age, left, open_env};
use crate::Out;
use crate::cli::{Output, SnapshotCommand};
use crate::failure::{Failure, Result};

pub(crate) async fn snapshot_command(home: &Home, cmd: SnapshotCommand) -> Result<u8> {
    let store = Store::new(home);
    match cmd {
        SnapshotCommand::Create {
            env,
            name,
            stop,
            output,
        } => create(home, &store, &env, &name, stop, output.output).await,
        SnapshotCommand::Ls(out) => ls(home, &store, out.output),
        SnapshotCommand::Inspect { name, output } => inspect(home, &store, &name, output.output),
        SnapshotCommand::Rm { names } => {
            for name in &names {
                let bytes = store.remove(home, name)?;
                say!("removed snapshot {name} ({})", size(bytes));
            }
            Ok(0)
        }
    }
}

async fn create(
    home: &Home,
    store: &Store,
    env: &str,
    name: &str,
    stop: bool,
    output: Output,
) -> Result<u8> {
    store.check_new_name(name)?;
    let (dir, info) = open_env(home, env)?;
    let started = Instant::now();
    let socket = dir.join(envdir::SUPERVISOR_SOCK);
    let mut reply = api::send(&socket, &Request::Snapshot { stop })
        .await
        .map_err(|e| Failure::from(anyhow::anyhow!("env {env}: {e}")))?;
    let saved = match reply.next().await {
        Ok(Event::Saved(saved)) => saved,
        Ok(Event::Failed { error }) => {
            return Err(anyhow::anyhow!("env {env}: snapshot failed: {error}").into());
        }
        Ok(_) | Err(_) => {
            return Err(anyhow::anyhow!("env {env}: the supervisor gave no snapshot").into());
        }
    };
    let saved_ms = started.elapsed().as_millis();
    let manifest = Manifest {
        name: name.to_string(),
        created_unix: vstage::envdir::now_unix(),
        source_env: info.name.clone(),
        template: info.template.clone(),
        accel: info.accel,
        images: info
            .images
            .iter()
            .map(|(k, v)| (k.clone(), snapshot::ImageRef { dir: v.clone() }))
            .collect(),
        plan: info.plan.clone(),
        nodes: saved.nodes,
        expires: saved.expires,
        files: Default::default(),
    };
    // `reply` stays open until the save is committed: the supervisor discards a save
    // whose client closed the connection without taking it.
    let stored = store.commit(&dir.join(&saved.partial), manifest)?;
    drop(reply);
    let total_ms = started.elapsed().as_millis();
    match output {
        Output::Json => {
            let _ = writeln!(
                Out,
                "{}",
                json!({
                    "name": name, "id": stored.id, "env": env,
                    "paused_ms": saved.paused_ms, "saved_ms": saved_ms, "total_ms": total_ms,
                    "disk_bytes": stored.disk_bytes,
                })
            );
        }
        Output::Table => {
            say!(
                "snapshot {name} ({}) of env {env}: nodes paused {} ms, saved in {saved_ms} ms, stored in {total_ms} ms, {}",
                stored.id,
                saved.paused_ms,
                size(stored.disk_bytes)
            );
            say!("try: vstage up --from {name} --name NEW");
        }
    }
    Ok(0)
}

fn row(home: &Home, s: &Stored) -> serde_json::Value {
    let m = &s.manifest;
    json!({
        "name": m.name,
        "id": s.id,
        "source_env": m.source_env,
        "template": m.template,
        "created_unix": m.created_unix,
        "nodes": m.nodes.iter().map(|n| &n.name).collect::<Vec<_>>(),
        "expires_unix": m.expiry().map(|e| e.at_unix),
        "expires_because": m.expiry().map(|e| &e.what),
        "disk_bytes": s.disk_bytes,
        "used_by": snapshot::users(home, &s.id),
        "dir": s.dir,
    })
}

fn ls(home: &Home, store: &Store, output: Output) -> Result<u8> {
    let all = store.list()?;
    if output == Output::Json {
        let rows: Vec<_> = all.iter().map(|s| row(home, s)).collect();
        let _ = writeln!(Out, "{}", serde_json::Value::Array(rows));
        return Ok(0);
    }
    say!(
        "{:<24} {:<16} {:<16} {:>5} {:>6} {:>9} {:>9}  USED BY",
        "NAME",
        "ID",
        "FROM ENV",
        "NODES",
        "AGE",
        "EXPIRES",
        "DISK"
    );
    // Why each expires: the soonest of what it holds (the auth clone's first token).
    let mut reasons = Vec::new();
    for s in &all {
        let m = &s.manifest;
        say!(
            "{:<24} {:<16} {:<16} {:>5} {:>6} {:>9} {:>9}  {}",
            m.name,
            s.id,
            m.source_env,
            m.nodes.len(),
            age(m.created_unix),
            m.expiry()
                .map(|e| left(e.at_unix))
                .unwrap_or_else(|| "never".into()),
            size(s.disk_bytes),
            snapshot::users(home, &s.id).join(",")
        );
        if let Some(e) = m.expiry() {
            reasons.push(format!("{}: expires with {}", m.name, e.what));
        }
    }
    if !reasons.is_empty() {
        say!();
        for r in reasons {
            say!("{r}");
        }
    }
    Ok(0)
}

fn inspect(home: &Home, store: &Store, name: &str, output: Output) -> Result<u8> {
    let s = store.get(name)?;
    if output == Output::Json {
        let mut v = serde_json::to_value(&s.manifest)?;
        v["id"] = json!(s.id);
        v["dir"] = json!(s.dir);
        v["disk_bytes"] = json!(s.disk_bytes);
        v["used_by"] = json!(snapshot::users(home, &s.id));
        let _ = writeln!(Out, "{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    let m = &s.manifest;
    say!("snapshot {} ({})", m.name, s.id);
    say!(
        "  from env {} (template {}), {} ago, accel {}",
        m.source_env,
        m.template,
        age(m.created_unix),
        m.accel.as_str()
    );
    say!("  dir {} ({})", s.dir.display(), size(s.disk_bytes));
    for n in &m.nodes {
        say!(
            "  node {:<12} memory {}{}",
            n.name,
            n.memory,
            if n.shared_ram_offset.is_some() {
                " (shared copy-on-write)"
            } else {
                ""
            }
        );
    }
    for (image, r) in &m.images {
        say!("  image {image}: {}", r.dir.display());
    }
    for e in &m.expires {
        say!("  expires in {}: {}", left(e.at_unix), e.what);
    }
    let users = snapshot::users(home, &s.id);
    if !users.is_empty() {
        say!("  used by: {}", users.join(", "));
    }
    Ok(0)
}

fn size(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}
