//! What the auth clone is seeded with, and the hand-off files it writes.
//!
//! A config names projects, roles, users (with their grants) and the catalog of the
//! env's other services. Passwords not given are random per env. Seeding happens once,
//! when the state directory is new; later starts load what is there.

use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

use super::model::{Actor, DEFAULT_DOMAIN_ID, State, Target};
use crate::clone::new_id;
use crate::envdir::write_atomic;

#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_region")]
    pub region: String,
    /// Token lifetime in seconds.
    #[serde(default = "default_ttl")]
    pub token_ttl: u64,
    /// bcrypt's cost for passwords (Keystone's `[identity] password_hash_rounds`).
    #[serde(default = "default_hash_rounds")]
    pub password_hash_rounds: u32,
    #[serde(default)]
    pub projects: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub users: Vec<UserSeed>,
    /// The env's other services; the identity endpoint is added by the clone itself.
    #[serde(default)]
    pub catalog: Vec<ServiceSeed>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSeed {
    pub name: String,
    #[serde(default)]
    pub password: Option<String>,
    /// The project the user's roles are granted on (and its default project).
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSeed {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// Public URL; `internal` and `admin` default to it.
    pub url: String,
    #[serde(default)]
    pub internal: Option<String>,
    #[serde(default)]
    pub admin: Option<String>,
    /// The URL for callers on the host, where it differs from `url` (which guests use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_url: Option<String>,
}

fn default_region() -> String {
    "RegionOne".into()
}

fn default_ttl() -> u64 {
    3600
}

fn default_hash_rounds() -> u32 {
    super::tokens::DEFAULT_HASH_ROUNDS
}

impl Default for Config {
    /// An admin and a member user, as a developer or Tempest expects them.
    fn default() -> Config {
        let user = |name: &str, project: &str, roles: &[&str]| UserSeed {
            name: name.into(),
            password: None,
            project: Some(project.into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        };
        Config {
            region: default_region(),
            token_ttl: default_ttl(),
            password_hash_rounds: default_hash_rounds(),
            projects: vec!["admin".into(), "demo".into(), "service".into()],
            roles: vec![
                "admin".into(),
                "member".into(),
                "reader".into(),
                "service".into(),
            ],
            users: vec![
                user("admin", "admin", &["admin"]),
                user("demo", "demo", &["member"]),
            ],
            catalog: Vec::new(),
        }
    }
}

impl Config {
    /// What a config leaves empty comes from the default seed (admin and demo users).
    pub fn with_defaults(mut self) -> Config {
        let d = Config::default();
        if self.projects.is_empty() {
            self.projects = d.projects;
        }
        if self.roles.is_empty() {
            self.roles = d.roles;
        }
        if self.users.is_empty() {
            self.users = d.users;
        }
        self
    }

    pub fn from_yaml(label: &str, text: &str) -> Result<Config, String> {
        let config = serde_saphyr::from_str::<Config>(text)
            .map(Config::with_defaults)
            .map_err(|e| {
                let loc = e
                    .location()
                    .map(|l| format!(":{}:{}", l.line(), l.column()))
                    .unwrap_or_default();
                format!("{label}{loc}: {}", e.without_snippet())
            })?;
        let rounds = super::tokens::HASH_ROUNDS;
        if !rounds.contains(&config.password_hash_rounds) {
            return Err(format!(
                "{label}: password_hash_rounds: {} is out of bcrypt's range {}..={}",
                config.password_hash_rounds,
                rounds.start(),
                rounds.end()
            ));
        }
        Ok(config)
    }
}

/// A user's credentials, for the hand-off files.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct Credential {
    pub user: String,
    pub password: String,
    pub project: Option<String>,
    pub admin: bool,
    /// The roles granted on `project`.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Builds the initial state from `config`; returns it with every user's credentials.
pub fn seed(config: &Config) -> Result<(State, Vec<Credential>), String> {
    let mut s = State::new();
    s.hashing = super::tokens::Hashing {
        rounds: config.password_hash_rounds,
    };
    let mut projects: Vec<String> = config.projects.clone();
    let mut roles: Vec<String> = config.roles.clone();
    for u in &config.users {
        if let Some(p) = &u.project
            && !projects.contains(p)
        {
            projects.push(p.clone());
        }
        for r in &u.roles {
            if !roles.contains(r) {
                roles.push(r.clone());
            }
        }
    }
    for p in &projects {
        s.create_project(p, DEFAULT_DOMAIN_ID, None, "", true)
            .map_err(|e| e.to_string())?;
    }
    for r in &roles {
        s.create_role(r, "", None).map_err(|e| e.to_string())?;
    }
    s.seed_implied_roles();
    let mut creds = Vec::new();
    for u in &config.users {
        let password = u
            .password
            .clone()
            .unwrap_or_else(|| new_id()[..20].to_string());
        let project_id = u.project.as_ref().map(|name| {
            s.projects
                .values()
                .find(|p| &p.name == name)
                .map(|p| p.id.clone())
                .expect("created above")
        });
        let user = s
            .create_user(
                &u.name,
                DEFAULT_DOMAIN_ID,
                Some(&password),
                true,
                project_id.clone(),
                Default::default(),
            )
            .map_err(|e| e.to_string())?;
        for r in &u.roles {
            let role = s
                .roles
                .values()
                .find(|x| &x.name == r)
                .expect("created above")
                .id
                .clone();
            if let Some(p) = &project_id {
                s.grant(
                    Actor::User(user.id.clone()),
                    Target::Project(p.clone()),
                    &role,
                )
                .map_err(|e| e.to_string())?;
            }
            // Admins also get system scope, as keystone-manage bootstrap gives them.
            if r == "admin" {
                s.grant(Actor::User(user.id.clone()), Target::System, &role)
                    .map_err(|e| e.to_string())?;
            }
        }
        creds.push(Credential {
            user: u.name.clone(),
            password,
            project: u.project.clone(),
            admin: u.roles.iter().any(|r| r == "admin"),
            roles: u.roles.clone(),
        });
    }
    Ok((s, creds))
}

const CREDENTIALS: &str = "credentials.json";

/// Keeps the seeded users' passwords (the state has only their hashes), owner-only.
pub fn save_credentials(dir: &Path, creds: &[Credential]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(CREDENTIALS);
    write_atomic(
        &path,
        &serde_json::to_vec_pretty(creds).map_err(std::io::Error::other)?,
    )?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
}

pub fn load_credentials(dir: &Path) -> std::io::Result<Vec<Credential>> {
    match std::fs::read_to_string(dir.join(CREDENTIALS)) {
        Ok(text) => serde_json::from_str(&text).map_err(std::io::Error::other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// `clouds.yaml` (one cloud per user, named after it) and an `openrc-USER` per user.
/// Strings are written JSON-quoted: valid YAML that no YAML 1.1 reader retypes.
pub fn write_handoff(
    dir: &Path,
    auth_url: &str,
    region: &str,
    creds: &[Credential],
) -> std::io::Result<()> {
    write_clouds(&dir.join("clouds.yaml"), auth_url, region, creds)?;
    for c in creds {
        let sh = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let mut rc = String::new();
        writeln!(rc, "export OS_AUTH_URL={}", sh(&format!("{auth_url}/v3"))).expect("String");
        writeln!(rc, "export OS_IDENTITY_API_VERSION=3").expect("String");
        writeln!(rc, "export OS_USERNAME={}", sh(&c.user)).expect("String");
        writeln!(rc, "export OS_PASSWORD={}", sh(&c.password)).expect("String");
        writeln!(rc, "export OS_USER_DOMAIN_NAME=Default").expect("String");
        if let Some(p) = &c.project {
            writeln!(rc, "export OS_PROJECT_NAME={}", sh(p)).expect("String");
            writeln!(rc, "export OS_PROJECT_DOMAIN_NAME=Default").expect("String");
        }
        writeln!(rc, "export OS_REGION_NAME={}", sh(region)).expect("String");
        write_atomic(&dir.join(format!("openrc-{}", c.user)), rc.as_bytes())?;
    }
    write_atomic(&dir.join(ACCOUNTS_YAML), accounts_yaml(creds).as_bytes())?;
    if let Some(admin) = creds.iter().find(|c| c.admin && c.project.is_some()) {
        let accounts = dir.join(ACCOUNTS_YAML);
        write_atomic(
            &dir.join(crate::clone::registry::TEMPEST_CONF),
            tempest_conf(auth_url, region, admin, &accounts).as_bytes(),
        )?;
    }
    Ok(())
}

/// Tempest's pre-provisioned credentials, beside its `tempest.conf`.
pub const ACCOUNTS_YAML: &str = "accounts.yaml";

/// Tempest's `accounts.yaml`: every seeded user with a project, but the services' own
/// (project `service`), which tests must not borrow.
fn accounts_yaml(creds: &[Credential]) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("strings serialise");
    let mut yaml = String::new();
    for c in creds {
        let Some(project) = c.project.as_deref().filter(|p| *p != "service") else {
            continue;
        };
        let roles: Vec<String> = c.roles.iter().map(|r| q(r)).collect();
        writeln!(yaml, "- username: {}", q(&c.user)).expect("String");
        writeln!(yaml, "  password: {}", q(&c.password)).expect("String");
        writeln!(yaml, "  project_name: {}", q(project)).expect("String");
        writeln!(yaml, "  domain_name: \"Default\"").expect("String");
        writeln!(yaml, "  roles: [{}]", roles.join(", ")).expect("String");
    }
    if yaml.is_empty() {
        yaml.push_str("[]\n");
    }
    yaml
}

/// A `clouds.yaml` with one cloud per user, named after it, for `auth_url`.
pub fn write_clouds(
    path: &Path,
    auth_url: &str,
    region: &str,
    creds: &[Credential],
) -> std::io::Result<()> {
    let q = |s: &str| serde_json::to_string(s).expect("strings serialise");
    let mut yaml = String::from("clouds:\n");
    for c in creds {
        writeln!(yaml, "  {}:", q(&c.user)).expect("String");
        writeln!(yaml, "    auth:").expect("String");
        writeln!(yaml, "      auth_url: {}", q(&format!("{auth_url}/v3"))).expect("String");
        writeln!(yaml, "      username: {}", q(&c.user)).expect("String");
        writeln!(yaml, "      password: {}", q(&c.password)).expect("String");
        writeln!(yaml, "      user_domain_name: \"Default\"").expect("String");
        if let Some(p) = &c.project {
            writeln!(yaml, "      project_name: {}", q(p)).expect("String");
            writeln!(yaml, "      project_domain_name: \"Default\"").expect("String");
        }
        writeln!(yaml, "    region_name: {}", q(region)).expect("String");
        writeln!(yaml, "    identity_api_version: \"3\"").expect("String");
        writeln!(yaml, "    interface: \"public\"").expect("String");
    }
    write_atomic(path, yaml.as_bytes())
}

/// A `tempest.conf` for the identity API of this clone (dynamic credentials through
/// its admin user; features the clone does not implement switched off).
pub fn tempest_conf(auth_url: &str, region: &str, admin: &Credential, accounts: &Path) -> String {
    let project = admin.project.as_deref().unwrap_or("admin");
    format!(
        "[auth]
use_dynamic_credentials = true
test_accounts_file = {accounts}
create_isolated_networks = false
admin_username = {user}
admin_password = {password}
admin_project_name = {project}
admin_domain_name = Default

[identity]
uri_v3 = {auth_url}/v3
auth_version = v3
region = {region}

[identity-feature-enabled]
api_v2 = false
api_v3 = true
application_credentials = true
access_rules = false
security_compliance = false
trust = true
project_tags = true

[service_available]
nova = false
glance = false
neutron = false
cinder = false
swift = false
placement = false
",
        user = admin.user,
        password = admin.password,
        accounts = accounts.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_seed_has_admin_and_demo() {
        let (s, creds) = seed(&Config::default()).unwrap();
        assert_eq!(creds.len(), 2);
        assert_ne!(creds[0].password, creds[1].password);
        let admin = s.users.values().find(|u| u.name == "admin").unwrap();
        assert_eq!(s.roles_on(&admin.id, &Target::System).len(), 1);
        assert_eq!(s.user_projects(&admin.id)[0].name, "admin");
    }

    #[test]
    fn accounts_leave_out_the_services_own_users() {
        let config = Config::from_yaml(
            "c.yaml",
            "users:\n  - {name: demo, project: demo, roles: [member]}\n  \
             - {name: nova, password: 'no', project: service, roles: [admin, service]}\n",
        )
        .unwrap();
        let (_, creds) = seed(&config).unwrap();
        let yaml = accounts_yaml(&creds);
        assert!(yaml.starts_with("- username: \"demo\"\n"), "{yaml}");
        assert!(yaml.contains("  roles: [\"member\"]\n"), "{yaml}");
        assert!(!yaml.contains("nova"), "{yaml}");
    }

    #[test]
    fn config_errors_are_located() {
        let e = Config::from_yaml(
            "c.yaml",
            "region: R\nusers:\n  - name: x\n    colour: red\n",
        )
        .unwrap_err();
        assert!(e.starts_with("c.yaml:4:"), "{e}");
    }
}
