//! The auth clone's state: domains, projects, users, roles, role assignments, tokens.
//!
//! Pure logic over in-memory maps; `store.rs` makes it durable. Ids are random hex
//! like Keystone's, passwords are kept salted and hashed, tokens are opaque and kept
//! server-side so `GET /v3/auth/tokens` returns the body that was issued.

use crate::clone::auth::error::{AuthError, not_found};
use std::collections::{BTreeMap, BTreeSet};

use super::tokens::Hashing;
use crate::clone::new_id;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const DEFAULT_DOMAIN_ID: &str = "default";
pub const DEFAULT_DOMAIN_NAME: &str = "Default";
/// How long an expired token may still be validated with `allow_expired=1`.
pub const EXPIRED_GRACE_MICROS: u64 = 2 * 24 * 3600 * 1_000_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Domain {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
    /// Tokens issued before this (microseconds) are revoked: set when the domain is
    /// disabled, so enabling it again does not bring them back (Keystone's revocation
    /// event on the domain).
    #[serde(default)]
    pub revoked_before: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
    /// The parent project; `None` for a project right under its domain.
    #[serde(default)]
    pub parent_id: Option<String>,
    /// Keystone's project tags (`tags.rs`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// As [`Domain::revoked_before`], for the tokens scoped to the project.
    #[serde(default)]
    pub revoked_before: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub enabled: bool,
    /// `salt$sha256(salt + password)`; empty when the user has no password.
    pub password: String,
    #[serde(default)]
    pub default_project_id: Option<String>,
    /// Attributes Keystone keeps as given (email, description, ...).
    #[serde(default)]
    pub extra: Map<String, Value>,
    /// Tokens issued before this (microseconds) are revoked: set when the password
    /// changes, the user is disabled or a role of theirs is removed, as Keystone's
    /// revocation events do.
    #[serde(default)]
    pub revoked_before: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A domain-specific role's domain (`implied_roles.rs`); global roles have none.
    #[serde(default)]
    pub domain_id: Option<String>,
}

/// What a role is granted on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Project(String),
    Domain(String),
    System,
}

/// Who a role is granted to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    User(String),
    Group(String),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Assignment {
    pub actor: Actor,
    pub target: Target,
    pub role_id: String,
    /// OS-INHERIT: the role holds on the projects below the target (every project of a
    /// domain, a project's subtree), not on the target itself.
    #[serde(default)]
    pub inherited: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    #[serde(default)]
    pub description: String,
}

/// What a token is scoped to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "id")]
pub enum Scope {
    Unscoped,
    Project(String),
    Domain(String),
    System,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub id: String,
    pub user_id: String,
    pub scope: Scope,
    pub methods: Vec<String>,
    /// Microseconds since the Unix epoch.
    pub issued_at: u64,
    pub expires_at: u64,
    pub audit_id: String,
    #[serde(default)]
    pub revoked: bool,
    /// The application credential it was issued for: the token has that credential's
    /// roles, and ends with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_credential: Option<String>,
    /// The trust it was issued under: the token has the trust's roles, and ends with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<String>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct State {
    pub domains: BTreeMap<String, Domain>,
    pub projects: BTreeMap<String, Project>,
    pub users: BTreeMap<String, User>,
    pub roles: BTreeMap<String, Role>,
    #[serde(default)]
    pub groups: BTreeMap<String, Group>,
    /// (group id, user id) pairs.
    #[serde(default)]
    pub members: BTreeSet<(String, String)>,
    pub assignments: BTreeSet<Assignment>,
    /// A role removed from a user on a target ends the user's tokens scoped there,
    /// issued before it (Keystone's revocation event for a grant).
    #[serde(default)]
    pub revoked_grants: Vec<RevokedGrant>,
    #[serde(default)]
    pub app_credentials: BTreeMap<String, super::app_credentials::AppCredential>,
    /// The catalog made through the API (`catalog.rs`); the seeded part is the config's.
    #[serde(default)]
    pub services: BTreeMap<String, super::catalog::CatalogService>,
    #[serde(default)]
    pub endpoints: BTreeMap<String, super::catalog::Endpoint>,
    #[serde(default)]
    pub regions: BTreeMap<String, super::catalog::Region>,
    /// Role inference rules, (prior id, implied id); `None` in a state saved before
    /// they were kept (`implied_roles.rs` seeds Keystone's then).
    #[serde(default)]
    pub implied_roles: Option<BTreeSet<(String, String)>>,
    #[serde(default)]
    pub trusts: BTreeMap<String, super::trusts::Trust>,
    #[serde(default)]
    pub credentials: BTreeMap<String, super::credentials::Credential>,
    /// Policies, OAuth1 consumers, endpoint groups: by kind, then id (`records.rs`).
    #[serde(default)]
    pub records: BTreeMap<String, BTreeMap<String, super::records::Record>>,
    /// domain id -> its configuration (`domain_config.rs`)
    #[serde(default)]
    pub domain_configs: BTreeMap<String, super::domain_config::Config>,
    #[serde(skip)]
    pub tokens: BTreeMap<String, Token>,
    /// From the config, on every start.
    #[serde(skip)]
    pub hashing: Hashing,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevokedGrant {
    pub user_id: String,
    pub target: Target,
    /// Microseconds: tokens issued before it are revoked.
    pub at: u64,
}

/// Keystone's `[DEFAULT] max_project_tree_depth`.
pub const MAX_PROJECT_TREE_DEPTH: usize = 5;

/// How a user identifies itself: by id, or by name within a domain.
#[derive(Debug, Clone)]
pub enum UserRef {
    Id(String),
    Name { name: String, domain: DomainRef },
}

#[derive(Debug, Clone)]
pub enum DomainRef {
    Id(String),
    Name(String),
}

#[derive(Debug, Clone)]
pub enum ScopeRef {
    Unscoped,
    ProjectId(String),
    ProjectName { name: String, domain: DomainRef },
    Domain(DomainRef),
    System,
}

impl State {
    /// A state with the default domain, as every Keystone has.
    pub fn new() -> State {
        let mut s = State::default();
        s.domains.insert(
            DEFAULT_DOMAIN_ID.into(),
            Domain {
                id: DEFAULT_DOMAIN_ID.into(),
                name: DEFAULT_DOMAIN_NAME.into(),
                description: "The default domain".into(),
                enabled: true,
                revoked_before: 0,
            },
        );
        s
    }

    // ---- lookups ----------------------------------------------------------

    pub fn domain(&self, r: &DomainRef) -> Result<&Domain, AuthError> {
        match r {
            DomainRef::Id(id) => self.domains.get(id).ok_or_else(|| not_found("domain", id)),
            DomainRef::Name(name) => self
                .domains
                .values()
                .find(|d| &d.name == name)
                .ok_or_else(|| not_found("domain", name)),
        }
    }

    pub fn user(&self, r: &UserRef) -> Result<&User, AuthError> {
        match r {
            UserRef::Id(id) => self.users.get(id).ok_or_else(|| not_found("user", id)),
            UserRef::Name { name, domain } => {
                let domain = self.domain(domain)?;
                self.users
                    .values()
                    .find(|u| &u.name == name && u.domain_id == domain.id)
                    .ok_or_else(|| not_found("user", name))
            }
        }
    }

    pub fn project_by_name(&self, name: &str, domain: &DomainRef) -> Result<&Project, AuthError> {
        let domain = self.domain(domain)?;
        self.projects
            .values()
            .find(|p| p.name == name && p.domain_id == domain.id)
            .ok_or_else(|| not_found("project", name))
    }

    /// Whether an assignment applies to `user_id`: granted to it, or to a group of its.
    pub(super) fn applies_to(&self, a: &Assignment, user_id: &str) -> bool {
        match &a.actor {
            Actor::User(u) => u == user_id,
            Actor::Group(g) => self.members.contains(&(g.clone(), user_id.to_string())),
        }
    }

    // ---- changes ----------------------------------------------------------

    pub fn create_user(
        &mut self,
        name: &str,
        domain_id: &str,
        password: Option<&str>,
        enabled: bool,
        default_project_id: Option<String>,
        extra: Map<String, Value>,
    ) -> Result<User, AuthError> {
        if !self.domains.contains_key(domain_id) {
            return Err(not_found("domain", domain_id));
        }
        if self
            .users
            .values()
            .any(|u| u.name == name && u.domain_id == domain_id)
        {
            return Err(AuthError::Conflict {
                kind: "user",
                name: name.into(),
            });
        }
        let u = User {
            id: new_id(),
            name: name.into(),
            domain_id: domain_id.into(),
            enabled,
            password: password.map(|p| self.hashing.hash(p)).unwrap_or_default(),
            default_project_id,
            extra,
            revoked_before: 0,
        };
        self.users.insert(u.id.clone(), u.clone());
        Ok(u)
    }

    pub fn delete_user(&mut self, id: &str) -> Result<(), AuthError> {
        self.users.remove(id).ok_or_else(|| not_found("user", id))?;
        self.assignments
            .retain(|a| a.actor != Actor::User(id.into()));
        self.members.retain(|(_, u)| u != id);
        for t in self.tokens.values_mut() {
            if t.user_id == id {
                t.revoked = true;
            }
        }
        self.prune_app_credentials();
        self.prune_credentials();
        self.prune_trusts();
        Ok(())
    }

    pub fn create_role(
        &mut self,
        name: &str,
        description: &str,
        domain_id: Option<&str>,
    ) -> Result<Role, AuthError> {
        if let Some(d) = domain_id.filter(|d| !self.domains.contains_key(*d)) {
            return Err(not_found("domain", d));
        }
        if self
            .roles
            .values()
            .any(|r| r.name == name && r.domain_id.as_deref() == domain_id)
        {
            return Err(AuthError::Conflict {
                kind: "role",
                name: name.into(),
            });
        }
        let r = Role {
            id: new_id(),
            name: name.into(),
            description: description.into(),
            domain_id: domain_id.map(String::from),
        };
        self.roles.insert(r.id.clone(), r.clone());
        Ok(r)
    }

    pub fn delete_role(&mut self, id: &str) -> Result<(), AuthError> {
        self.roles.remove(id).ok_or_else(|| not_found("role", id))?;
        self.assignments.retain(|a| a.role_id != id);
        self.forget_rules_of(id);
        self.prune_app_credentials();
        Ok(())
    }

    pub fn create_group(
        &mut self,
        name: &str,
        domain_id: &str,
        description: &str,
    ) -> Result<Group, AuthError> {
        if !self.domains.contains_key(domain_id) {
            return Err(AuthError::BadRequest(format!(
                "Could not find domain: {domain_id}."
            )));
        }
        if self
            .groups
            .values()
            .any(|g| g.name == name && g.domain_id == domain_id)
        {
            return Err(AuthError::Conflict {
                kind: "group",
                name: name.into(),
            });
        }
        let g = Group {
            id: new_id(),
            name: name.into(),
            domain_id: domain_id.into(),
            description: description.into(),
        };
        self.groups.insert(g.id.clone(), g.clone());
        Ok(g)
    }

    pub fn delete_group(&mut self, id: &str) -> Result<(), AuthError> {
        self.groups
            .remove(id)
            .ok_or_else(|| not_found("group", id))?;
        self.members.retain(|(g, _)| g != id);
        self.assignments
            .retain(|a| a.actor != Actor::Group(id.into()));
        self.prune_app_credentials();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256_hex(text: &str) -> String {
        use sha2::Digest as _;
        sha2::Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn seeded() -> (State, String, String) {
        let mut s = State::new();
        let p = s
            .create_project("demo", DEFAULT_DOMAIN_ID, None, "", true)
            .unwrap();
        let u = s
            .create_user(
                "alice",
                DEFAULT_DOMAIN_ID,
                Some("pw"),
                true,
                None,
                Map::new(),
            )
            .unwrap();
        let r = s.create_role("member", "", None).unwrap();
        s.grant(
            Actor::User(u.id.clone()),
            Target::Project(p.id.clone()),
            &r.id,
        )
        .unwrap();
        (s, u.id, p.id)
    }

    #[test]
    fn password_and_scope() {
        let (s, uid, pid) = seeded();
        let by_name = UserRef::Name {
            name: "alice".into(),
            domain: DomainRef::Name("Default".into()),
        };
        let (id, hash) = s.login_hash(&by_name).unwrap();
        assert_eq!(id, uid);
        assert!(
            hash.starts_with("$2b$04$"),
            "bcrypt at the default cost: {hash}"
        );
        assert!(super::super::tokens::password_matches(&hash, "pw"));
        assert!(!super::super::tokens::password_matches(&hash, "nope"));
        // A hash saved before bcrypt (salted SHA-256) still logs in.
        let legacy = "s4lt$".to_string() + &sha256_hex("s4ltpw");
        assert!(super::super::tokens::password_matches(&legacy, "pw"));
        let scope = s
            .resolve_scope(
                &uid,
                &ScopeRef::ProjectName {
                    name: "demo".into(),
                    domain: DomainRef::Id("default".into()),
                },
            )
            .unwrap();
        assert_eq!(scope, Scope::Project(pid));
        assert_eq!(
            s.resolve_scope(&uid, &ScopeRef::System),
            Err(AuthError::Unauthorized)
        );
    }

    #[test]
    fn tokens_expire_and_revoke() {
        let (mut s, uid, pid) = seeded();
        let t = s.issue(&uid, Scope::Project(pid), vec!["password".into()], 100, 200);
        assert!(s.valid_token(&t.id, 150, false).is_some());
        assert!(s.valid_token(&t.id, 200, false).is_none(), "expired");
        assert!(s.valid_token(&t.id, 200, true).is_some(), "allow_expired");
        assert!(s.revoke(&t.id));
        assert!(s.valid_token(&t.id, 150, true).is_none(), "revoked");
        assert_eq!(s.token_roles(&t).len(), 1);
    }

    #[test]
    fn a_domain_disabled_once_keeps_its_old_tokens_revoked() {
        let (mut s, uid, pid) = seeded();
        let d = s.users[&uid].domain_id.clone();
        let pw = || vec!["password".to_string()];
        let t = s.issue(&uid, Scope::Project(pid), pw(), 100, u64::MAX);
        let domain = s.domains.get_mut(&d).unwrap();
        domain.enabled = false;
        domain.revoked_before = 150;
        assert!(s.valid_token(&t.id, 160, false).is_none());
        s.domains.get_mut(&d).unwrap().enabled = true;
        assert!(s.valid_token(&t.id, 160, false).is_none(), "revived");
        let t2 = s.issue(&uid, Scope::Domain(d), pw(), 200, u64::MAX);
        assert!(s.valid_token(&t2.id, 210, false).is_some());
    }

    #[test]
    fn deleting_a_user_drops_its_grants_and_tokens() {
        let (mut s, uid, pid) = seeded();
        let t = s.issue(
            &uid,
            Scope::Project(pid),
            vec!["password".into()],
            0,
            u64::MAX,
        );
        s.delete_user(&uid).unwrap();
        assert!(s.assignments.is_empty());
        assert!(s.valid_token(&t.id, 1, false).is_none());
    }

    #[test]
    fn group_roles_count_for_members() {
        let (mut s, uid, _) = seeded();
        let d = s.create_domain("d", "", true).unwrap();
        let g = s.create_group("g", DEFAULT_DOMAIN_ID, "").unwrap();
        let r = s.create_role("viewer", "", None).unwrap();
        s.grant(
            Actor::Group(g.id.clone()),
            Target::Domain(d.id.clone()),
            &r.id,
        )
        .unwrap();
        assert!(s.user_domains(&uid).is_empty());
        s.members.insert((g.id.clone(), uid.clone()));
        assert_eq!(s.user_domains(&uid)[0].id, d.id);
        assert_eq!(
            s.roles_on(&uid, &Target::Domain(d.id.clone()))[0].name,
            "viewer"
        );
        s.delete_group(&g.id).unwrap();
        assert!(s.user_domains(&uid).is_empty());
    }

    #[test]
    fn names_are_unique_per_domain() {
        let (mut s, _, _) = seeded();
        assert!(matches!(
            s.create_project("demo", DEFAULT_DOMAIN_ID, None, "", true),
            Err(AuthError::Conflict { .. })
        ));
        let d = s.create_domain("other", "", true).unwrap();
        assert!(s.create_project("demo", &d.id, None, "", true).is_ok());
        assert!(matches!(
            s.delete_domain(&d.id),
            Err(AuthError::Forbidden(_))
        ));
    }
}
