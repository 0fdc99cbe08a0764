//! `clone: keystone`: the auth clone as a service of an env.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::config::{self, Config, ServiceSeed, UserSeed};
use super::tokens::HASH_ROUNDS;
use crate::clone::registry::{self, Admin, Identity, Kind, Role, Start, StartError, Started};
use crate::clone::section::{ConfigError, Section};

/// The longest token lifetime the auth clone accepts (Keystone's default is 1 hour).
pub const MAX_TOKEN_TTL: u64 = 30 * 24 * 3600;

pub struct Keystone;

/// `services.NAME` with `clone: keystone`: the clone's seed config beside `clone:`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    #[serde(rename = "clone")]
    _clone: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    token_ttl: Option<Spanned<u64>>,
    #[serde(default)]
    password_hash_rounds: Option<Spanned<u32>>,
    #[serde(default)]
    projects: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    users: Vec<UserSeed>,
    #[serde(default)]
    catalog: Vec<ServiceSeed>,
}

impl Kind for Keystone {
    fn name(&self) -> &'static str {
        "keystone"
    }

    fn role(&self) -> Role {
        Role::Identity
    }

    fn guest_port(&self) -> u16 {
        5000
    }

    /// Entities and tokens are written through on every change (`store`).
    fn persistent(&self) -> bool {
        true
    }

    /// The first of its live tokens to expire: past that, a guest still holding it
    /// (a service's own token) gets a 401 in a restored env.
    fn expiry(&self, state_dir: &std::path::Path) -> Option<(String, u64)> {
        let (_, state) = super::store::Store::open(state_dir).ok()?;
        let now = crate::envdir::now_unix().saturating_mul(1_000_000);
        let first = state?
            .tokens
            .values()
            .filter(|t| !t.revoked && t.expires_at > now)
            .min_by_key(|t| t.expires_at)
            .map(|t| (t.expires_at, t.expires_at.saturating_sub(t.issued_at)))?;
        Some((
            format!(
                "the first of the auth clone's tokens, issued for {} s (a template's token_ttl sets that)",
                first.1 / 1_000_000
            ),
            first.0 / 1_000_000,
        ))
    }

    fn parse(&self, section: &Section) -> Result<serde_json::Value, ConfigError> {
        let raw: RawAuth = section.read()?;
        let token_ttl = match raw.token_ttl {
            None => Config::default().token_ttl,
            Some(ttl) if (1..=MAX_TOKEN_TTL).contains(&ttl.value) => ttl.value,
            Some(ttl) => {
                return Err(ConfigError::at(
                    &ttl.referenced,
                    format!(
                        "services.{}.token_ttl: {} is out of range 1..={MAX_TOKEN_TTL} (seconds)",
                        section.name, ttl.value
                    ),
                ));
            }
        };
        let password_hash_rounds = match raw.password_hash_rounds {
            None => Config::default().password_hash_rounds,
            Some(r) if HASH_ROUNDS.contains(&r.value) => r.value,
            Some(r) => {
                return Err(ConfigError::at(
                    &r.referenced,
                    format!(
                        "services.{}.password_hash_rounds: {} is out of bcrypt's range {}..={}",
                        section.name,
                        r.value,
                        HASH_ROUNDS.start(),
                        HASH_ROUNDS.end()
                    ),
                ));
            }
        };
        let config = Config {
            region: raw.region.unwrap_or_else(|| Config::default().region),
            token_ttl,
            password_hash_rounds,
            projects: raw.projects,
            roles: raw.roles,
            users: raw.users,
            catalog: raw.catalog,
        }
        .with_defaults();
        Ok(serde_json::to_value(config).expect("a config serialises"))
    }

    fn start(&self, start: Start<'_>) -> Result<Started, StartError> {
        let mut config: Config = registry::settings(&start)?;
        // A template's entry naming a node's forwarded port is reachable from the host.
        for seed in &mut config.catalog {
            if seed.host_url.is_none() {
                seed.host_url = registry::host_url(&seed.url, start.forwards);
            }
        }
        config
            .catalog
            .extend(start.catalog.iter().map(|entry| ServiceSeed {
                kind: entry.service_type.clone(),
                name: entry.name.clone(),
                url: entry.guest_url.clone(),
                internal: None,
                admin: None,
                host_url: Some(entry.host_url.clone()),
            }));
        let failed = |e: &dyn std::fmt::Display| StartError::failed(start.name, e);
        let region = config.region.clone();
        let running = super::start_on(start.listener, &start.state_dir, config, None)
            .map_err(|e| failed(&e))?;
        let creds = config::load_credentials(&start.state_dir).map_err(|e| failed(&e))?;
        // Guests reach the clone by its in-env name: a clouds.yaml of their own.
        config::write_clouds(
            &start.state_dir.join("clouds.guest.yaml"),
            &start.guest_url,
            &region,
            &creds,
        )
        .map_err(|e| failed(&e))?;
        // A service user with the admin role (as Neutron's own), whom Nova's newer
        // policies let post server events, else any admin.
        let admins = || creds.iter().filter(|c| c.admin && c.project.is_some());
        let admin = admins()
            .find(|c| c.roles.iter().any(|r| r == "service"))
            .or_else(|| admins().next())
            .map(|c| Admin {
                user: c.user.clone(),
                password: c.password.clone(),
                project: c.project.clone().unwrap_or_default(),
            });
        Ok(Started {
            identity: Some(Identity {
                url: running.url.clone(),
                admin,
            }),
            running,
            fabric: None,
        })
    }
}
