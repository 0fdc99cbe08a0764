//! Whole-env snapshots: every node's memory, device state and disk, cut at one moment
//! while all nodes are paused, with the clones' state, the plan and the images they
//! stand on, kept in the cache as immutable, content-addressed directories.
//!
//! A snapshot is made in two halves. The env's supervisor, which owns the nodes and the
//! clones, saves everything into a [`PARTIAL`] directory inside the env dir (so an
//! interrupted save goes with the env); then [`Store::commit`] hashes it, writes the manifest, and moves
//! it into `snapshots/ID` in one rename before naming it (`snapshots/names/NAME`). A
//! snapshot is there whole or not at all.
//!
//! `up --from NAME` makes a new env of the same plan whose nodes resume from it
//! (`EnvInfo::restore`): every address inside is the plan's, so one snapshot serves any
//! number of envs at once, each with its own overlays, sockets and ports.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::driver::SavedNode;
use crate::driver::qemu::accel::Accel;
use crate::env::EnvInfo;
use crate::envdir;
use crate::home::Home;
use crate::plan::Plan;

/// Where the supervisor saves a snapshot in the env dir before it is committed: a
/// directory of this prefix, one per save (`Saved::partial` names it).
pub const PARTIAL: &str = "snapshot.partial";
pub const MANIFEST: &str = "manifest.json";
/// The env's SSH key pair, which the snapshot's guests authorise.
pub const SSH_DIR: &str = "ssh";
/// Names are links in here to the snapshot directories.
const NAMES: &str = "names";
/// `users/ID/` holds a link to every env dir restored from snapshot ID, in whatever
/// home: the cache is shared, so `snapshot rm` must see envs of other homes too.
const USERS: &str = "users";
/// Cross-filesystem commits are copied in here first (`.tmp-PID-...`).
const TMP_PREFIX: &str = ".tmp-";

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("no snapshot named '{0}' (see `vstage snapshot ls`)")]
    NotFound(String),
    #[error(
        "a snapshot named '{0}' exists already: choose another name, or `vstage snapshot rm {0}` first"
    )]
    Exists(String),
    #[error(
        "'{0}' is not a valid snapshot name: lowercase letters, digits, '-', '_' and '.', at most 64"
    )]
    BadName(String),
    #[error("snapshot '{name}' is used by {envs}: `vstage down` them first")]
    InUse { name: String, envs: String },
    #[error("snapshot '{name}' expired {ago} ago ({what}): take a new one")]
    Expired {
        name: String,
        what: String,
        ago: String,
    },
    #[error("snapshot '{name}' needs image {image} at {dir}, which is gone: take a new one")]
    ImageGone {
        name: String,
        image: String,
        dir: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("snapshot manifest {path}: {detail}")]
    Manifest { path: String, detail: String },
}

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> SnapshotError {
    let what = what.to_string();
    move |source| SnapshotError::Io { what, source }
}

/// What a snapshot holds, and what an env restored from it needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub created_unix: u64,
    /// The env it was taken from, and that env's template.
    pub source_env: String,
    pub template: String,
    pub accel: Accel,
    pub plan: Plan,
    /// Every image the nodes' disks stand on, by name.
    pub images: BTreeMap<String, ImageRef>,
    pub nodes: Vec<SavedNode>,
    /// What in the snapshot stops being valid, and when (tokens, certificates).
    #[serde(default)]
    pub expires: Vec<Expiry>,
    /// Every file, relative to the snapshot directory, with its size and SHA-256: the
    /// snapshot's id is the hash of this manifest.
    pub files: BTreeMap<String, FileSum>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRef {
    pub dir: PathBuf,
}

/// What the supervisor saved, for the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    /// The directory in the env dir that holds it, for the client to commit. The
    /// supervisor removes it if the client goes away without taking it.
    pub partial: String,
    pub nodes: Vec<SavedNode>,
    pub expires: Vec<Expiry>,
    /// How long the nodes were paused, in milliseconds.
    pub paused_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expiry {
    pub what: String,
    pub at_unix: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSum {
    pub bytes: u64,
    pub sha256: String,
}

impl Manifest {
    /// The earliest expiry, if anything in it expires.
    pub fn expiry(&self) -> Option<&Expiry> {
        self.expires.iter().min_by_key(|e| e.at_unix)
    }

    /// Refuses a snapshot past its expiry, or whose images are gone.
    pub fn check_usable(&self, now: u64) -> Result<(), SnapshotError> {
        if let Some(e) = self.expiry()
            && e.at_unix <= now
        {
            return Err(SnapshotError::Expired {
                name: self.name.clone(),
                what: e.what.clone(),
                ago: format!("{}s", now - e.at_unix),
            });
        }
        for (image, r) in &self.images {
            if !r.dir.join("image.json").is_file() {
                return Err(SnapshotError::ImageGone {
                    name: self.name.clone(),
                    image: image.clone(),
                    dir: r.dir.display().to_string(),
                });
            }
        }
        Ok(())
    }
}

/// Snapshot names: like env names, plus `.` (for versions: `openstack-2025.1`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// A snapshot in the store.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: String,
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// Disk blocks its files use (memory files are sparse).
    pub disk_bytes: u64,
}

/// `snapshots/` in the cache.
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(home: &Home) -> Store {
        Store {
            root: home.cache.join("snapshots"),
        }
    }

    fn name_link(&self, name: &str) -> PathBuf {
        self.root.join(NAMES).join(name)
    }

    fn ensure_dirs(&self) -> Result<(), SnapshotError> {
        for d in [self.root.clone(), self.root.join(NAMES)] {
            std::fs::create_dir_all(&d).map_err(io(d.display()))?;
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))
                .map_err(io(d.display()))?;
        }
        Ok(())
    }

    /// Refuses a bad or taken name (before anything is saved).
    pub fn check_new_name(&self, name: &str) -> Result<(), SnapshotError> {
        if !valid_name(name) {
            return Err(SnapshotError::BadName(name.to_string()));
        }
        if std::fs::symlink_metadata(self.name_link(name)).is_ok() {
            return Err(SnapshotError::Exists(name.to_string()));
        }
        Ok(())
    }

    /// The snapshot named `name`.
    pub fn get(&self, name: &str) -> Result<Stored, SnapshotError> {
        if !valid_name(name) {
            return Err(SnapshotError::BadName(name.to_string()));
        }
        let target = std::fs::read_link(self.name_link(name))
            .map_err(|_| SnapshotError::NotFound(name.to_string()))?;
        let id = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|id| is_id(id))
            .ok_or_else(|| SnapshotError::NotFound(name.to_string()))?;
        self.read(&id)
    }

    fn read(&self, id: &str) -> Result<Stored, SnapshotError> {
        let dir = self.root.join(id);
        let path = dir.join(MANIFEST);
        let text = crate::bounded::read_to_string(&path, MAX_MANIFEST).map_err(|e| {
            SnapshotError::Manifest {
                path: path.display().to_string(),
                detail: e.to_string(),
            }
        })?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| SnapshotError::Manifest {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?;
        let disk_bytes = manifest
            .files
            .keys()
            .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
            .map(|m| m.blocks() * 512)
            .sum();
        Ok(Stored {
            id: id.to_string(),
            dir,
            manifest,
            disk_bytes,
        })
    }

    /// Every named snapshot, by name.
    pub fn list(&self) -> Result<Vec<Stored>, SnapshotError> {
        let names = self.root.join(NAMES);
        let entries = match std::fs::read_dir(&names) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(names.display())(e)),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Ok(s) = self.get(&name) {
                out.push(s);
            }
        }
        out.sort_by(|a, b| a.manifest.name.cmp(&b.manifest.name));
        Ok(out)
    }

    /// Hashes the saved `partial` directory, writes its manifest and moves it into the
    /// store as one directory, then names it. Returns the snapshot.
    pub fn commit(&self, partial: &Path, mut manifest: Manifest) -> Result<Stored, SnapshotError> {
        self.ensure_dirs()?;
        self.check_new_name(&manifest.name)?;
        manifest.files = sums(partial)?;
        let text = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
        let id = hex(&sha2::Sha256::digest(&text))[..16].to_string();
        let manifest_path = partial.join(MANIFEST);
        std::fs::write(&manifest_path, &text).map_err(io(manifest_path.display()))?;
        freeze(partial)?;
        let dir = self.root.join(&id);
        if let Err(e) = std::fs::rename(partial, &dir) {
            if e.raw_os_error() != Some(nix::libc::EXDEV) {
                return Err(io(format!("moving the snapshot into {}", dir.display()))(e));
            }
            // Another filesystem: copy next to its place, then rename into it.
            let tmp = self
                .root
                .join(format!("{TMP_PREFIX}{}-{id}", std::process::id()));
            crate::envdir::copy_tree(partial, &tmp).map_err(io("cp"))?;
            std::fs::rename(&tmp, &dir).map_err(io(dir.display()))?;
            let _ = remove_tree(partial);
        }
        let link = self.name_link(&manifest.name);
        if let Err(e) = std::os::unix::fs::symlink(Path::new("..").join(&id), &link) {
            let _ = remove_tree(&dir);
            return Err(if e.kind() == std::io::ErrorKind::AlreadyExists {
                SnapshotError::Exists(manifest.name.clone())
            } else {
                io(link.display())(e)
            });
        }
        self.read(&id)
    }

    /// Removes snapshot `name`, unless an env of `home` was restored from it.
    pub fn remove(&self, home: &Home, name: &str) -> Result<u64, SnapshotError> {
        let s = self.get(name)?;
        let users = users(home, &s.id);
        if !users.is_empty() {
            return Err(SnapshotError::InUse {
                name: name.to_string(),
                envs: users.join(", "),
            });
        }
        let link = self.name_link(name);
        std::fs::remove_file(&link).map_err(io(link.display()))?;
        remove_tree(&s.dir)?;
        let _ = std::fs::remove_dir_all(self.root.join(USERS).join(&s.id));
        Ok(s.disk_bytes)
    }

    /// Records that the env at `env_dir` is being restored from snapshot `id`, before its
    /// `env.json` says so (so no `rm` can fall between the two).
    pub fn add_user(&self, id: &str, env_dir: &Path) -> Result<(), SnapshotError> {
        self.ensure_dirs()?;
        let dir = self.root.join(USERS).join(id);
        std::fs::create_dir_all(&dir).map_err(io(dir.display()))?;
        let key = hex(&sha2::Sha256::digest(
            env_dir.as_os_str().as_encoded_bytes(),
        ));
        let link = dir.join(&key[..16]);
        match std::os::unix::fs::symlink(env_dir, &link) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(io(link.display())(e)),
            _ => Ok(()),
        }
    }

    /// What commits killed midway left: copies whose process is gone, and snapshot
    /// directories that no name reaches (killed between the rename and the link) once
    /// they are older than any commit takes.
    pub fn leftovers(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let named: Vec<String> = self
            .list()
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.id)
            .collect();
        entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(rest) = name.strip_prefix(TMP_PREFIX) {
                    let pid: i32 = rest.split('-').next()?.parse().ok()?;
                    let alive =
                        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
                    return (!alive).then(|| e.path());
                }
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > UNNAMED_GRACE);
                (is_id(&name) && !named.contains(&name) && old).then(|| e.path())
            })
            .collect()
    }
}

/// Longer than a commit takes between moving a snapshot in and naming it.
const UNNAMED_GRACE: std::time::Duration = std::time::Duration::from_secs(600);

/// A manifest is small: the plan and a line per file.
const MAX_MANIFEST: u64 = 4 << 20;

fn is_id(s: &str) -> bool {
    s.len() == 16 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// The envs restored from snapshot `id`, in any home that shares this cache: each
/// `Store::add_user` link whose env dir still says it was restored from `id`.
pub fn users(home: &Home, id: &str) -> Vec<String> {
    let dir = Store::new(home).root.join(USERS).join(id);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let target = std::fs::read_link(e.path()).ok()?;
            let info = EnvInfo::read(&crate::envdir::EnvDir(target)).ok()?;
            (info.restore?.snapshot == id).then_some(info.name)
        })
        .collect();
    names.sort();
    names
}

/// Whether snapshot `s` can go in a `gc`: past its expiry and used by no env.
pub fn collectable(home: &Home, s: &Stored) -> bool {
    s.manifest
        .expiry()
        .is_some_and(|e| e.at_unix <= envdir::now_unix())
        && users(home, &s.id).is_empty()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every regular file under `dir`, relative, with its size and hash.
fn sums(dir: &Path) -> Result<BTreeMap<String, FileSum>, SnapshotError> {
    let mut out = BTreeMap::new();
    for path in files(dir)? {
        let rel = path
            .strip_prefix(dir)
            .expect("under dir")
            .to_string_lossy()
            .into_owned();
        if rel == MANIFEST {
            continue;
        }
        out.insert(rel, sum(&path).map_err(io(path.display()))?);
    }
    Ok(out)
}

/// A file's size and the SHA-256 of its data extents, each as its offset, length and
/// bytes: holes (most of a memory file) are skipped rather than read as zeros, and a
/// hole moved or filled still changes the sum.
fn sum(path: &Path) -> std::io::Result<FileSum> {
    use nix::unistd::{Whence, lseek};
    use std::io::{Seek as _, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let bytes = file.metadata()?.len();
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at: u64 = 0;
    while at < bytes {
        let data = match lseek(&file, at as i64, Whence::SeekData) {
            Ok(o) => o as u64,
            Err(nix::errno::Errno::ENXIO) => break, // only a hole from here on
            Err(e) => return Err(e.into()),
        };
        let end = match lseek(&file, data as i64, Whence::SeekHole) {
            Ok(o) => (o as u64).min(bytes),
            Err(e) => return Err(e.into()),
        };
        hasher.update(data.to_be_bytes());
        hasher.update((end - data).to_be_bytes());
        file.seek(SeekFrom::Start(data))?;
        let mut left = end - data;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = file.read(&mut buf[..want])?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            left -= n as u64;
        }
        at = end;
    }
    Ok(FileSum {
        bytes,
        sha256: hex(&hasher.finalize()),
    })
}

fn files(dir: &Path) -> Result<Vec<PathBuf>, SnapshotError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(io(d.display()))? {
            let entry = entry.map_err(io(d.display()))?;
            let kind = entry.file_type().map_err(io(entry.path().display()))?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Files read-only (0400), directories 0500: a snapshot never changes once made.
fn freeze(dir: &Path) -> Result<(), SnapshotError> {
    for f in files(dir)? {
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o400))
            .map_err(io(f.display()))?;
    }
    set_dir_modes(dir, 0o500)
}

fn set_dir_modes(dir: &Path, mode: u32) -> Result<(), SnapshotError> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(io(d.display()))?.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            }
        }
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode))
            .map_err(io(d.display()))?;
    }
    Ok(())
}

/// Removes a frozen tree (its directories are read-only).
pub fn remove_tree(dir: &Path) -> Result<(), SnapshotError> {
    if !dir.exists() {
        return Ok(());
    }
    set_dir_modes(dir, 0o700)?;
    std::fs::remove_dir_all(dir).map_err(io(dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["warm", "openstack-2025.1", "a_b"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", ".hidden", "a/b", "..", "Warm", &"x".repeat(65), "a b"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    fn manifest(name: &str) -> Manifest {
        let source = crate::template::Source::resolve("tiny").unwrap();
        let plan = crate::plan::build(&crate::template::load(&source, &[]).unwrap()).unwrap();
        Manifest {
            name: name.into(),
            created_unix: 1,
            source_env: "e".into(),
            template: "builtin:tiny".into(),
            accel: Accel::Tcg,
            plan,
            images: BTreeMap::new(),
            nodes: Vec::new(),
            expires: Vec::new(),
            files: BTreeMap::new(),
        }
    }

    #[test]
    fn a_commit_is_whole_named_and_frozen() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home {
            state: tmp.path().join("state"),
            cache: tmp.path().join("cache"),
        };
        let store = Store::new(&home);
        let partial = tmp.path().join("partial");
        std::fs::create_dir_all(partial.join("nodes/n1")).unwrap();
        std::fs::write(partial.join("nodes/n1/memory"), b"ram").unwrap();
        let s = store.commit(&partial, manifest("warm")).unwrap();
        assert!(!partial.exists());
        assert_eq!(s.manifest.files["nodes/n1/memory"].bytes, 3);
        assert_eq!(store.get("warm").unwrap().id, s.id);
        let mode = std::fs::metadata(s.dir.join("nodes/n1/memory"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o400);
        // The name is taken now.
        std::fs::create_dir_all(&partial).unwrap();
        assert!(matches!(
            store.commit(&partial, manifest("warm")),
            Err(SnapshotError::Exists(_))
        ));
        assert_eq!(store.list().unwrap().len(), 1);
        store.remove(&home, "warm").unwrap();
        assert!(!s.dir.exists());
        assert!(matches!(store.get("warm"), Err(SnapshotError::NotFound(_))));
    }

    #[test]
    fn expired_snapshots_are_refused() {
        let mut m = manifest("warm");
        m.expires.push(Expiry {
            what: "auth tokens".into(),
            at_unix: 100,
        });
        assert!(m.check_usable(99).is_ok());
        assert!(matches!(
            m.check_usable(100),
            Err(SnapshotError::Expired { .. })
        ));
    }
}
