//! The host's own settings for vstage: `$VSTAGE_HOME/config.yaml`, overridden by
//! environment variables. Today: the TTL every env gets unless `up --ttl` says
//! otherwise, so forgotten envs die.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// The config file under `$VSTAGE_HOME`.
pub const FILE: &str = "config.yaml";
/// Overrides `default_ttl` (e.g. `VSTAGE_DEFAULT_TTL=8h`; `0` or `none` for none).
pub const DEFAULT_TTL_VAR: &str = "VSTAGE_DEFAULT_TTL";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostConfig {
    pub default_ttl: Option<Duration>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    default_ttl: Option<String>,
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
