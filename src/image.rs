//! Images: recipes embedded in the binary, built into a cache keyed by their content.
//!
//! A build runs the recipe's `build.sh` into a temporary directory inside the cache and
//! renames it into place only when the script succeeds, so an interrupted or failed
//! build never leaves a half-made image where a boot would find it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A recipe: files under `images/NAME/`, with `build.sh` the entry point.
pub struct Recipe {
    pub name: &'static str,
    pub files: &'static [(&'static str, &'static str)],
    /// The image runs cloud-init and sshd: nodes get a NoCloud seed and SSH access.
    pub cloud_init: bool,
}

const RECIPES: &[Recipe] = &[
    Recipe {
        name: "tiny",
        files: &[
            ("build.sh", include_str!("../images/tiny/build.sh")),
            ("init", include_str!("../images/tiny/init")),
        ],
        cloud_init: false,
    },
    Recipe {
        name: "debian-12",
        files: &[
            ("build.sh", include_str!("../images/debian-12/build.sh")),
            ("cloud.cfg", include_str!("../images/debian-12/cloud.cfg")),
        ],
        cloud_init: true,
    },
    Recipe {
        name: "openstack-zed",
        files: &[
            ("build.sh", include_str!("../images/openstack-zed/build.sh")),
            (
                "openstack.sh",
                include_str!("../images/openstack/openstack.sh"),
            ),
            ("schemas.sh", include_str!("../images/openstack/schemas.sh")),
            ("tenant.sh", include_str!("../images/openstack/tenant.sh")),
            (
                "tenant-init",
                include_str!("../images/openstack/tenant-init"),
            ),
            ("cloud.cfg", include_str!("../images/debian-12/cloud.cfg")),
        ],
        cloud_init: true,
    },
    Recipe {
        name: "openstack-epoxy",
        files: &[
            (
                "build.sh",
                include_str!("../images/openstack-epoxy/build.sh"),
            ),
            (
                "openstack.sh",
                include_str!("../images/openstack/openstack.sh"),
            ),
            ("schemas.sh", include_str!("../images/openstack/schemas.sh")),
            ("tenant.sh", include_str!("../images/openstack/tenant.sh")),
            (
                "tenant-init",
                include_str!("../images/openstack/tenant-init"),
            ),
            ("cloud.cfg", include_str!("../images/debian-12/cloud.cfg")),
        ],
        cloud_init: true,
    },
];

pub fn recipe(name: &str) -> Option<&'static Recipe> {
    RECIPES.iter().find(|r| r.name == name)
}

pub fn recipe_names() -> impl Iterator<Item = &'static str> {
    RECIPES.iter().map(|r| r.name)
}

impl Recipe {
    /// Hash of the recipe's files: the cache key.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for (name, text) in self.files {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update((text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        }
        let digest = h.finalize();
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    fn dir_name(&self) -> String {
        format!("{}-{}", self.name, self.hash())
    }
}

/// What a build wrote into `image.json`: how to boot it and what went into it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub kernel: String,
    pub initrd: String,
    pub append: String,
    /// Whether the image runs the QEMU guest agent (readiness and exec go through it).
    pub agent: bool,
    /// A root disk (qcow2) each node gets a copy-on-write overlay of.
    #[serde(default)]
    pub disk: Option<String>,
    /// Whether the image runs cloud-init (it gets a NoCloud seed; ready = cloud-init done).
    #[serde(default)]
    pub cloud_init: bool,
}

/// The manifest beside every image: `package=version` per installed package.
pub const PACKAGES: &str = "packages.txt";

/// Reads an image directory's package manifest.
pub fn packages(dir: &Path) -> std::io::Result<std::collections::BTreeMap<String, String>> {
    let text = fs::read_to_string(dir.join(PACKAGES))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .collect())
}

/// Lines of `image diff`: packages added, removed or changed from `a` to `b`.
pub fn diff(
    a: &std::collections::BTreeMap<String, String>,
    b: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (p, va) in a {
        match b.get(p) {
            None => out.push(format!("- {p} {va}")),
            Some(vb) if vb != va => out.push(format!("~ {p} {va} -> {vb}")),
            Some(_) => {}
        }
    }
    for (p, vb) in b {
        if !a.contains_key(p) {
            out.push(format!("+ {p} {vb}"));
        }
    }
    out.sort_by(|x, y| x[2..].cmp(&y[2..]));
    out
}

/// A built image in the cache.
#[derive(Debug, Clone)]
pub struct Image {
    pub name: String,
    pub hash: String,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Image {
    pub fn kernel(&self) -> PathBuf {
        self.dir.join(&self.manifest.kernel)
    }
    pub fn initrd(&self) -> PathBuf {
        self.dir.join(&self.manifest.initrd)
    }
    pub fn disk(&self) -> Option<PathBuf> {
        self.manifest.disk.as_ref().map(|d| self.dir.join(d))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("no image recipe named '{0}' (recipes: {1})")]
    UnknownRecipe(String, String),
    #[error("image {name}: build failed ({status}); its log is {log}")]
    BuildFailed {
        name: String,
        status: String,
        log: PathBuf,
    },
    #[error("image {0}: {1}")]
    Io(String, std::io::Error),
    #[error("image {0}: bad image.json: {1}")]
    Manifest(String, serde_json::Error),
}

fn io(name: &str) -> impl Fn(std::io::Error) -> ImageError + '_ {
    move |e| ImageError::Io(name.to_string(), e)
}

/// The cache of built images.
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    pub fn new(root: PathBuf) -> Cache {
        Cache { root }
    }

    /// The built image for `name`'s current recipe, if the cache has it.
    pub fn get(&self, name: &str) -> Result<Option<Image>, ImageError> {
        let recipe = lookup(name)?;
        let dir = self.root.join(recipe.dir_name());
        if !dir.is_dir() {
            return Ok(None);
        }
        let text = fs::read_to_string(dir.join("image.json")).map_err(io(name))?;
        let manifest =
            serde_json::from_str(&text).map_err(|e| ImageError::Manifest(name.into(), e))?;
        Ok(Some(Image {
            name: name.to_string(),
            hash: recipe.hash(),
            dir,
            manifest,
        }))
    }

    /// Returns the image, building it first if the cache lacks it (or `force`).
    /// Concurrent callers (parallel tests, envs) wait for one build instead of racing.
    pub fn ensure(
        &self,
        name: &str,
        force: bool,
        log: &mut dyn FnMut(&str),
    ) -> Result<Image, ImageError> {
        let recipe = lookup(name)?;
        if !force && let Some(image) = self.get(name)? {
            return Ok(image);
        }
        fs::create_dir_all(&self.root).map_err(io(name))?;
        let lock = fs::File::create(self.root.join(".lock")).map_err(io(name))?;
        lock.lock().map_err(io(name))?;
        if !force && let Some(image) = self.get(name)? {
            return Ok(image);
        }
        self.remove_stale_builds();
        log(&format!("building image {name} ({})", recipe.hash()));
        let staging = tempfile::Builder::new()
            .prefix(&format!(".build-{name}-"))
            .tempdir_in(&self.root)
            .map_err(io(name))?;
        let out = staging.path().join("out");
        let work = staging.path().join("work");
        let src = staging.path().join("recipe");
        for dir in [&out, &work, &src] {
            fs::create_dir_all(dir).map_err(io(name))?;
        }
        for (file, text) in recipe.files {
            fs::write(src.join(file), text).map_err(io(name))?;
        }
        let log_path = self.root.join(format!("{name}.build.log"));
        let log_file = fs::File::create(&log_path).map_err(io(name))?;
        let mut build = std::process::Command::new("sh");
        build
            .arg(src.join("build.sh"))
            .env("OUT", &out)
            .env("WORK", &work)
            .stdin(std::process::Stdio::null())
            .stdout(log_file.try_clone().map_err(io(name))?)
            .stderr(log_file);
        // The modes of files inside a guest's root must not depend on vstage's own
        // private umask (or the caller's): an image is the same bytes for every build.
        // SAFETY: umask is async-signal-safe.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut build, || {
                nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
                Ok(())
            });
        }
        let status = build.status().map_err(io(name))?;
        if !status.success() {
            return Err(ImageError::BuildFailed {
                name: name.to_string(),
                status: status.to_string(),
                log: log_path,
            });
        }
        let dest = self.root.join(recipe.dir_name());
        if dest.exists() {
            fs::remove_dir_all(&dest).map_err(io(name))?;
        }
        fs::rename(&out, &dest).map_err(io(name))?;
        // Dropping `staging` removes the scratch space; the lock is released with `lock`.
        drop(staging);
        let image = self
            .get(name)?
            .expect("the image was just renamed into place");
        log(&format!("built image {name}"));
        Ok(image)
    }

    /// Scratch directories of builds that were killed (we hold the lock, so none is live).
    fn remove_stale_builds(&self) {
        if let Ok(entries) = fs::read_dir(&self.root) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(".build-") {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
    }

    /// A built image by `NAME` (its current recipe) or `NAME-HASH` / `HASH` (any build).
    pub fn find(&self, spec: &str) -> std::io::Result<Option<CachedImage>> {
        let all = self.list()?;
        let current = all.iter().position(|i| i.name == spec && i.current);
        let exact = all
            .iter()
            .position(|i| format!("{}-{}", i.name, i.hash) == spec || i.hash == spec);
        Ok(current
            .or(exact)
            .map(|i| all.into_iter().nth(i).expect("index from this list")))
    }

    /// Removes these built images; returns the bytes freed.
    pub fn remove(&self, images: &[CachedImage]) -> std::io::Result<u64> {
        let mut freed = 0;
        for i in images {
            freed += i.size;
            fs::remove_dir_all(&i.dir)?;
        }
        Ok(freed)
    }

    /// Every built image in the cache, current recipe or not.
    pub fn list(&self) -> std::io::Result<Vec<CachedImage>> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for e in entries.flatten() {
            let file_name = e.file_name().to_string_lossy().into_owned();
            if file_name.starts_with('.') || !e.path().is_dir() {
                continue;
            }
            let Some((name, hash)) = file_name.rsplit_once('-') else {
                continue;
            };
            let current = recipe(name).is_some_and(|r| r.hash() == hash);
            out.push(CachedImage {
                dir: e.path(),
                name: name.to_string(),
                hash: hash.to_string(),
                size: dir_size(&e.path()),
                built: e.metadata().and_then(|m| m.modified()).ok(),
                current,
            });
        }
        out.sort_by(|a, b| (&a.name, &a.hash).cmp(&(&b.name, &b.hash)));
        Ok(out)
    }
}

pub struct CachedImage {
    pub dir: PathBuf,
    pub name: String,
    pub hash: String,
    pub size: u64,
    pub built: Option<SystemTime>,
    /// Built from the recipe this binary carries (others are left from older recipes).
    pub current: bool,
}

fn dir_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn lookup(name: &str) -> Result<&'static Recipe, ImageError> {
    recipe(name).ok_or_else(|| {
        ImageError::UnknownRecipe(
            name.to_string(),
            recipe_names().collect::<Vec<_>>().join(", "),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lists_changes_in_package_order() {
        let a: std::collections::BTreeMap<_, _> = [("a", "1"), ("b", "1"), ("c", "1")]
            .iter()
            .map(|(p, v)| (p.to_string(), v.to_string()))
            .collect();
        let b: std::collections::BTreeMap<_, _> = [("b", "2"), ("c", "1"), ("d", "1")]
            .iter()
            .map(|(p, v)| (p.to_string(), v.to_string()))
            .collect();
        assert_eq!(diff(&a, &b), ["- a 1", "~ b 1 -> 2", "+ d 1"]);
    }

    #[test]
    fn recipe_hash_is_stable_and_short() {
        let r = recipe("tiny").unwrap();
        assert_eq!(r.hash(), r.hash());
        assert_eq!(r.hash().len(), 16);
    }
}
