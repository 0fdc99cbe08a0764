//! `vstage image build|ls|rm|prune|diff`.

use anyhow::Context as _;
use vstage::home::Home;
use vstage::image::{self, Cache};

use super::age;
use crate::Out;
use crate::cli::{ImageCommand, Output};
use crate::failure::{Failure, Result};
use std::io::Write as _;

pub(crate) fn image_command(home: &Home, cmd: ImageCommand) -> Result<u8> {
    let cache = Cache::new(home.images());
    match cmd {
        ImageCommand::Build {
            name,
            all,
            force,
            output,
        } => build(&cache, name, all, force, output),
        ImageCommand::Rm { images } => remove(&cache, &images, &kept_by_snapshots(home)?),
        ImageCommand::Prune => prune(&cache, &kept_by_snapshots(home)?),
        ImageCommand::Diff { a, b } => diff(&cache, &a, &b),
        ImageCommand::Ls(out) => ls(&cache, out.output),
    }
}

/// Builds each image; says, per image, which package versions changed against the
/// build it replaced (what a nightly rebuild wants to know).
fn build(
    cache: &Cache,
    name: Option<String>,
    all: bool,
    force: bool,
    output: Output,
) -> Result<u8> {
    let names: Vec<String> = match (name, all) {
        (Some(n), false) => vec![n],
        (None, true) => image::recipe_names().map(String::from).collect(),
        _ => return Err(Failure::bad_input("name an image, or give --all")),
    };
    let mut built = Vec::new();
    for name in names {
        if image::recipe(&name).is_none() {
            let known: Vec<_> = image::recipe_names().collect();
            return Err(Failure::bad_input(format!(
                "no image recipe named '{name}' (recipes: {})",
                known.join(", ")
            )));
        }
        let before = cache
            .find(&name)?
            .and_then(|i| image::packages(&i.dir).ok().map(|p| (i.hash, p)));
        let img = cache.ensure(&name, force, &mut |m| eprintln!("vstage: {m}"))?;
        let after = image::packages(&img.dir).unwrap_or_default();
        let changed = match &before {
            Some((_, packages)) => image::diff(packages, &after),
            None => Vec::new(),
        };
        if output == Output::Json {
            built.push(serde_json::json!({
                "name": name, "hash": img.hash, "dir": img.dir,
                "previous_hash": before.as_ref().map(|(h, _)| h),
                "changed": changed,
            }));
            continue;
        }
        say!("{name} {} {}", img.hash, img.dir.display());
        match &before {
            None => say!("  first build"),
            Some(_) if changed.is_empty() => say!("  no package version changed"),
            Some(_) => changed.iter().for_each(|l| say!("  {l}")),
        }
    }
    if output == Output::Json {
        say!("{}", serde_json::to_string_pretty(&built)?);
    }
    Ok(0)
}

/// Image directories that snapshots stand on: their frozen disks are overlays on them.
fn kept_by_snapshots(home: &Home) -> Result<std::collections::HashMap<std::path::PathBuf, String>> {
    let mut kept = std::collections::HashMap::new();
    for s in vstage::snapshot::Store::new(home).list()? {
        for r in s.manifest.images.into_values() {
            kept.insert(r.dir, s.manifest.name.clone());
        }
    }
    Ok(kept)
}

fn remove(
    cache: &Cache,
    images: &[String],
    kept: &std::collections::HashMap<std::path::PathBuf, String>,
) -> Result<u8> {
    let mut found = Vec::new();
    for spec in images {
        match cache.find(spec)? {
            Some(i) if kept.contains_key(&i.dir) => {
                return Err(Failure::bad_input(format!(
                    "image '{spec}' is what snapshot '{}' stands on: `vstage snapshot rm` it first",
                    kept[&i.dir]
                )));
            }
            Some(i) => found.push(i),
            None => {
                return Err(Failure::bad_input(format!(
                    "no built image '{spec}' (see `vstage image ls`)"
                )));
            }
        }
    }
    let freed = cache.remove(&found)?;
    say!(
        "removed {} image(s), {:.1} MiB",
        found.len(),
        freed as f64 / 1048576.0
    );
    Ok(0)
}

fn prune(
    cache: &Cache,
    kept: &std::collections::HashMap<std::path::PathBuf, String>,
) -> Result<u8> {
    let stale: Vec<_> = cache
        .list()?
        .into_iter()
        .filter(|i| !i.current && !kept.contains_key(&i.dir))
        .collect();
    let freed = cache.remove(&stale)?;
    say!(
        "removed {} image(s), {:.1} MiB",
        stale.len(),
        freed as f64 / 1048576.0
    );
    Ok(0)
}

fn diff(cache: &Cache, a: &str, b: &str) -> Result<u8> {
    let read = |spec: &str| -> Result<_> {
        let img = cache.find(spec)?.ok_or_else(|| {
            Failure::bad_input(format!("no built image '{spec}' (see `vstage image ls`)"))
        })?;
        Ok(image::packages(&img.dir)
            .with_context(|| format!("{spec}: reading its package manifest"))?)
    };
    let lines = image::diff(&read(a)?, &read(b)?);
    if lines.is_empty() {
        say!("no package differs");
    }
    for l in lines {
        say!("{l}");
    }
    Ok(0)
}

fn ls(cache: &Cache, output: Output) -> Result<u8> {
    let images = cache.list()?;
    if output == Output::Json {
        let json: Vec<_> = images
            .iter()
            .map(|i| {
                serde_json::json!({
                    "name": i.name, "hash": i.hash, "size": i.size, "current": i.current,
                    "built_unix": i.built.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs()),
                })
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(0);
    }
    say!(
        "{:<12} {:<18} {:>9} {:>5}  CURRENT",
        "NAME",
        "HASH",
        "SIZE",
        "AGE"
    );
    for i in images {
        let built = i
            .built
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| age(d.as_secs()))
            .unwrap_or("?".into());
        let size = format!("{:.1}M", i.size as f64 / 1048576.0);
        say!(
            "{:<12} {:<18} {:>9} {:>5}  {}",
            i.name,
            i.hash,
            size,
            built,
            if i.current { "yes" } else { "no" }
        );
    }
    Ok(0)
}
