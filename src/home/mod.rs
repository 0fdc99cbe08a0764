//! Where vstage keeps things: env state under `$VSTAGE_HOME`, images and probe results
//! under a cache that envs of every home share.

pub mod config;

use std::path::{Path, PathBuf};

use crate::env::EnvError;
use crate::envdir::EnvDir;

#[derive(Debug, Clone)]
pub struct Home {
    /// `$VSTAGE_HOME`, else `$XDG_STATE_HOME/vstage`, else `~/.local/state/vstage`.
    pub state: PathBuf,
    /// `$VSTAGE_CACHE`, else `$XDG_CACHE_HOME/vstage`, else `~/.cache/vstage`.
    pub cache: PathBuf,
}

fn from_env(var: &str, xdg: &str, fallback: &str) -> PathBuf {
    let get = |v: &str| {
        std::env::var_os(v)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = get(var) {
        return p;
    }
    if let Some(p) = get(xdg) {
        return p.join("vstage");
    }
    let home = get("HOME").unwrap_or_else(|| PathBuf::from("/"));
    home.join(fallback).join("vstage")
}

impl Home {
    pub fn from_env() -> Home {
        Home {
            state: from_env("VSTAGE_HOME", "XDG_STATE_HOME", ".local/state"),
            cache: from_env("VSTAGE_CACHE", "XDG_CACHE_HOME", ".cache"),
        }
    }

    pub fn envs(&self) -> PathBuf {
        self.state.join("envs")
    }

    /// The directory of env `name`. The name is checked first, so no verb can reach a
    /// path outside `envs/` (`..`, `/abs`, `""`, `a/b`) through it.
    pub fn env(&self, name: &str) -> Result<EnvDir, EnvError> {
        if !valid_env_name(name) {
            return Err(EnvError::BadName(name.to_string()));
        }
        Ok(EnvDir(self.envs().join(name)))
    }

    /// Where the logs of a failed env are kept after it is gone: one folder per
    /// attempt, named for the env and the time (`gc` removes old ones).
    pub fn logs(&self, env: &str) -> PathBuf {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        self.state.join("logs").join(format!("{env}-{stamp}"))
    }

    pub fn images(&self) -> PathBuf {
        self.cache.join("images")
    }

    /// Names of the envs that have a directory, sorted.
    pub fn env_names(&self) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        match std::fs::read_dir(self.envs()) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry?;
                    if entry.file_type()?.is_dir() {
                        names.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        names.sort();
        Ok(names)
    }
}

/// An env name: what `--name` accepts, and what the default is sanitised into.
pub fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The default env name: the template's name plus the git branch of `cwd`, if any.
pub fn default_env_name(template: &str, cwd: &Path) -> String {
    let branch = std::process::Command::new("git")
        .args(["rev-parse", "--abbrev-ref", "HEAD"])
        .current_dir(cwd)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|b| !b.is_empty() && b != "HEAD");
    let raw = match branch {
        Some(b) => format!("{template}-{b}"),
        None => template.to_string(),
    };
    sanitise(&raw)
}

/// The first of `BASE-1`, `BASE-2`, ... that no env has: the name of an env restored
/// from snapshot `BASE` when none is given (two restores at once race for a name; the
/// loser's `up` finds the dir made and says so).
pub fn free_env_name(home: &Home, base: &str) -> String {
    let base: String = sanitise(base).chars().take(33).collect();
    (1..)
        .map(|n| format!("{base}-{n}"))
        .find(|name| home.env(name).is_ok_and(|d| !d.path().exists()))
        .expect("some number is free")
}

/// What a CI job tells about itself: the pull request it tests, and its own id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CiJob {
    /// `pr` (GitHub) or `mr` (GitLab), with its number.
    pub change: Option<(String, String)>,
    pub job: Option<String>,
}

impl CiJob {
    /// From GitHub Actions' or GitLab CI's variables, as `var` returns them.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> CiJob {
        if var("GITHUB_ACTIONS").as_deref() == Some("true") {
            let pr = var("GITHUB_REF")
                .and_then(|r| r.strip_prefix("refs/pull/").map(String::from))
                .and_then(|r| r.split('/').next().map(String::from));
            let job = var("GITHUB_RUN_ID").map(|id| match var("GITHUB_RUN_ATTEMPT") {
                Some(attempt) => format!("{id}-{attempt}"),
                None => id,
            });
            return CiJob {
                change: pr.map(|n| ("pr".into(), n)),
                job,
            };
        }
        if var("GITLAB_CI").as_deref() == Some("true") {
            return CiJob {
                change: var("CI_MERGE_REQUEST_IID").map(|n| ("mr".into(), n)),
                job: var("CI_JOB_ID"),
            };
        }
        CiJob::default()
    }
}

/// The name `vstage run` gives an env when none is given: the CI's pull request and
/// job where it says them, else the template and branch; always with a random suffix,
/// so that parallel jobs of one run (a matrix) never collide.
pub fn run_env_name(template: &str, cwd: &Path, ci: &CiJob) -> String {
    let mut suffix = [0u8; 3];
    getrandom::fill(&mut suffix).expect("the OS has randomness");
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let base = match (&ci.change, &ci.job) {
        (Some((kind, n)), Some(job)) => format!("{kind}{n}-{job}"),
        (Some((kind, n)), None) => format!("{kind}{n}"),
        (None, Some(job)) => format!("job-{job}"),
        (None, None) => default_env_name(template, cwd),
    };
    // The suffix survives the length limit.
    let base: String = sanitise(&base).chars().take(33).collect();
    sanitise(&format!("{}-{suffix}", base.trim_end_matches('-')))
}

fn sanitise(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.to_ascii_lowercase().chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '-'
        };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    let mut out: String = out.chars().take(40).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() { "env".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_are_sanitised() {
        assert_eq!(
            sanitise("tiny-feature/Add_KVM probe!"),
            "tiny-feature-add_kvm-probe"
        );
        assert!(valid_env_name(&sanitise(&"x".repeat(80))));
        assert_eq!(sanitise("///"), "env");
    }

    #[test]
    fn env_dirs_exist_only_for_valid_names() {
        let home = Home {
            state: PathBuf::from("/h"),
            cache: PathBuf::from("/c"),
        };
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "/abs",
            "a/b",
            "-x",
            "A",
            &"x".repeat(41),
        ] {
            assert!(home.env(bad).is_err(), "{bad:?}");
        }
        assert_eq!(home.env("m1").unwrap().path(), Path::new("/h/envs/m1"));
    }
}
