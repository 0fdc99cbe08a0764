//! `vstage gc`: removes what nobody will: expired and broken envs, and the logs of
//! failed envs after a week.

use std::io::Write as _;
use std::time::Duration;

use std::collections::HashSet;
use std::path::PathBuf;

use vstage::home::Home;
use vstage::image::Cache;
use vstage::lifecycle;
use vstage::progress::Reporter;
use vstage::snapshot;

use super::ls::{has_labels, rows};
use crate::Out;
use crate::failure::Result;

/// How long the logs of a failed `up` are kept.
const KEEP_LOGS: Duration = Duration::from_secs(7 * 24 * 3600);

pub(crate) async fn gc(home: &Home, dry_run: bool, all: bool, labels: &[String]) -> Result<u8> {
    let report = Reporter::new();
    let mut failed = 0;
    for row in rows(home).await? {
        if !has_labels(&row, labels)? {
            continue;
        }
        let why = match row.state {
            "broken" => "broken: no supervisor",
            "expired" => "expired",
            _ if all => "selected by label",
            _ => continue,
        };
        if dry_run {
            say!("would remove {} ({why})", row.name);
            continue;
        }
        match lifecycle::down(home, &row.name, true, &report).await {
            Ok(()) => say!("removed {} ({why})", row.name),
            Err(e) => {
                failed += 1;
                eprintln!("vstage: gc: {}: {e}", row.name);
            }
        }
    }
    report.finish();
    if labels.is_empty() {
        for old in old_logs(home) {
            if dry_run {
                say!("would remove {}", old.display());
            } else if std::fs::remove_dir_all(&old).is_ok() {
                say!("removed {}", old.display());
            }
        }
        stale_images(home, dry_run).await?;
        snapshots(home, dry_run)?;
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

/// Images built from recipes this vstage no longer has, that no env boots from and no
/// snapshot stands on.
async fn stale_images(home: &Home, dry_run: bool) -> Result<()> {
    let in_use: HashSet<PathBuf> = rows(home)
        .await?
        .into_iter()
        .filter_map(|r| r.info)
        .flat_map(|i| i.images.into_values())
        .chain(
            snapshot::Store::new(home)
                .list()?
                .into_iter()
                .flat_map(|s| s.manifest.images.into_values().map(|r| r.dir)),
        )
        .collect();
    let cache = Cache::new(home.images());
    let stale: Vec<_> = cache
        .list()?
        .into_iter()
        .filter(|i| !i.current && !in_use.contains(&i.dir))
        .collect();
    for image in &stale {
        let verb = if dry_run { "would remove" } else { "removing" };
        say!(
            "{verb} image {}-{} (no recipe makes it now)",
            image.name,
            image.hash
        );
    }
    if !dry_run && !stale.is_empty() {
        cache.remove(&stale)?;
    }
    Ok(())
}

/// Snapshots past their expiry that no env was restored from, and what interrupted
/// commits left in the store.
fn snapshots(home: &Home, dry_run: bool) -> Result<()> {
    let store = snapshot::Store::new(home);
    let verb = if dry_run { "would remove" } else { "removed" };
    for s in store.list()? {
        if snapshot::collectable(home, &s) {
            if !dry_run {
                store.remove(home, &s.manifest.name)?;
            }
            say!("{verb} snapshot {} (expired)", s.manifest.name);
        }
    }
    for left in store.leftovers() {
        if !dry_run {
            snapshot::remove_tree(&left)?;
        }
        say!(
            "{verb} {} (left by an interrupted snapshot)",
            left.display()
        );
    }
    Ok(())
}

/// Folders under `$VSTAGE_HOME/logs` last written more than [`KEEP_LOGS`] ago.
fn old_logs(home: &Home) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(home.state.join("logs")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > KEEP_LOGS)
        })
        .map(|e| e.path())
        .collect()
}
