//! The host's own settings for vstage: `$VSTAGE_HOME/config.yaml`, overridden by
//! environment variables: the TTL every env gets unless `up --ttl` says otherwise (so
//! forgotten envs die), and the limits admission holds envs to.
//!
//! ```yaml
//! default_ttl: 8h        # or VSTAGE_DEFAULT_TTL
//! memory_limit: 16G      # guest memory all envs together may plan (default: all but keep_free)
//! keep_free: 10%         # of the host's memory, for everything else
//! guests_per_core: 8     # nodes per core, across envs
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// The config file under `$VSTAGE_HOME`.
pub const FILE: &str = "config.yaml";
/// Overrides `default_ttl` (e.g. `VSTAGE_DEFAULT_TTL=8h`; `0` or `none` for none).
pub const DEFAULT_TTL_VAR: &str = "VSTAGE_DEFAULT_TTL";

/// The host's limits (`config.yaml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most guest memory all envs together may plan (default: all but `keep_free`).
    pub memory_limit_mib: Option<u64>,
    /// The share of the host's memory kept free for everything else, in percent.
    pub keep_free_percent: u64,
    /// The most guests per core (a TCG guest busy booting takes a core).
    pub guests_per_core: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory_limit_mib: None,
            keep_free_percent: 10,
            guests_per_core: 8,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostConfig {
    pub default_ttl: Option<Duration>,
    pub limits: Limits,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    default_ttl: Option<String>,
    #[serde(default)]
    memory_limit: Option<String>,
    #[serde(default)]
    keep_free: Option<String>,
    #[serde(default)]
    guests_per_core: Option<u64>,
}

/// Memory as users write it: `512M`, `16G`, or MiB as a plain number.
fn parse_mib(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, factor) = match t.strip_suffix(['G', 'g']) {
        Some(d) => (d, 1024),
        None => (t.strip_suffix(['M', 'm']).unwrap_or(t), 1),
    };
    digits
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| format!("'{t}' is not an amount of memory (e.g. 512M, 16G)"))
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A duration as users write one (`90s`, `2h`, `1d`), or `0`/`none` for none.
pub fn parse_ttl(text: &str) -> Result<Option<Duration>, String> {
    match text.trim() {
        "0" | "none" | "" => Ok(None),
        t => humantime::parse_duration(t)
            .map(Some)
            .map_err(|e| format!("'{t}' is not a duration (e.g. 90s, 2h, 1d): {e}")),
    }
}

impl HostConfig {
    /// Reads `state/config.yaml` (absent is fine), then the environment.
    pub fn load(state: &Path) -> Result<HostConfig, ConfigError> {
        let path = state.join(FILE);
        let raw: Raw = match std::fs::read_to_string(&path) {
            Ok(text) => serde_saphyr::from_str(&text)
                .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Raw::default(),
            Err(e) => return Err(ConfigError(format!("{}: {e}", path.display()))),
        };
        let mut config = HostConfig::default();
        let bad = |key: &str, e: String| ConfigError(format!("{}: {key}: {e}", path.display()));
        if let Some(text) = raw.memory_limit {
            config.limits.memory_limit_mib =
                Some(parse_mib(&text).map_err(|e| bad("memory_limit", e))?);
        }
        if let Some(text) = raw.keep_free {
            let t = text.trim().trim_end_matches('%');
            config.limits.keep_free_percent =
                t.parse::<u64>().ok().filter(|p| *p <= 90).ok_or_else(|| {
                    bad(
                        "keep_free",
                        format!("'{text}' is not a percentage from 0% to 90%"),
                    )
                })?;
        }
        if let Some(n) = raw.guests_per_core {
            if n == 0 {
                return Err(bad("guests_per_core", "must be at least 1".into()));
            }
            config.limits.guests_per_core = n;
        }
        if let Some(text) = raw.default_ttl {
            config.default_ttl = parse_ttl(&text)
                .map_err(|e| ConfigError(format!("{}: default_ttl: {e}", path.display())))?;
        }
        if let Ok(text) = std::env::var(DEFAULT_TTL_VAR) {
            config.default_ttl =
                parse_ttl(&text).map_err(|e| ConfigError(format!("{DEFAULT_TTL_VAR}: {e}")))?;
        }
        Ok(config)
    }
}
