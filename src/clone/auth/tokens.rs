//! Passwords and tokens of the auth clone: bcrypt hashes, scopes resolved from what a
//! client asks for, tokens issued, validated, revoked and purged.

use crate::clone::auth::error::AuthError;
use sha2::{Digest, Sha256};

use super::model::*;
use crate::clone::new_id;

/// A url-safe random string for audit ids (Keystone uses 22 characters).
pub fn new_audit_id() -> String {
    use base64::Engine as _;
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the OS has randomness");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Keystone's `[identity] password_hash_rounds` for bcrypt: its default is 12, which
/// costs a quarter of a second per login; a throwaway env's default is the cheapest.
pub const DEFAULT_HASH_ROUNDS: u32 = 4;
/// bcrypt's own bounds on the cost.
pub const HASH_ROUNDS: std::ops::RangeInclusive<u32> = 4..=31;

/// How passwords are hashed: bcrypt at a cost (Keystone's `password_hash_rounds`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hashing {
    pub rounds: u32,
}

impl Default for Hashing {
    fn default() -> Hashing {
        Hashing {
            rounds: DEFAULT_HASH_ROUNDS,
        }
    }
}

impl Hashing {
    pub fn hash(&self, password: &str) -> String {
        bcrypt::hash(password, self.rounds).expect("rounds are checked where they are set")
    }
}

/// Salted SHA-256, as states saved before bcrypt have it: still accepted.
fn digest(salt: &str, password: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(password.as_bytes());
    h.finalize().iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether `given` is the password `stored` is the hash of. bcrypt takes time by design:
/// call it without holding the state's lock.
pub fn password_matches(stored: &str, given: &str) -> bool {
    if stored.starts_with("$2") {
        return bcrypt::verify(given, stored).unwrap_or(false);
    }
    match stored.split_once('$') {
        Some((salt, hash)) => digest(salt, given) == hash,
        None => false,
    }
}

impl State {
    pub fn token_target(scope: &Scope) -> Option<Target> {
        match scope {
            Scope::Unscoped => None,
            Scope::Project(id) => Some(Target::Project(id.clone())),
            Scope::Domain(id) => Some(Target::Domain(id.clone())),
            Scope::System => Some(Target::System),
        }
    }

    /// The roles a token carries: those held on its scope (or its application
    /// credential's), with those they imply, without domain-specific ones
    /// (`implied_roles.rs`). None for an unscoped token.
    pub fn token_roles(&self, token: &Token) -> Vec<&Role> {
        let held = match (&token.app_credential, State::token_target(&token.scope)) {
            (Some(c), _) => self.app_credentials.get(c).map_or(Vec::new(), |c| {
                c.roles.iter().filter_map(|r| self.roles.get(r)).collect()
            }),
            (None, _) if token.trust.is_some() => token
                .trust
                .as_ref()
                .and_then(|t| self.trusts.get(t))
                .map_or(Vec::new(), |t| {
                    t.roles.iter().filter_map(|r| self.roles.get(r)).collect()
                }),
            (None, Some(t)) => self.roles_on(&token.user_id, &t),
            (None, None) => Vec::new(),
        };
        self.effective_roles(&held)
            .into_iter()
            .map(|(r, _)| r)
            .collect()
    }

    pub fn has_role(&self, token: &Token, role: &str) -> bool {
        self.token_roles(token).iter().any(|r| r.name == role)
    }

    // ---- tokens -----------------------------------------------------------

    /// Password authentication: the user, if enabled and the password matches.
    /// The id and password hash of a user who may log in (enabled, in an enabled
    /// domain), for [`password_matches`] outside the lock.
    pub fn login_hash(&self, user: &UserRef) -> Result<(String, String), AuthError> {
        let user = self.user(user).map_err(|_| AuthError::Unauthorized)?;
        let domain_enabled = self.domains.get(&user.domain_id).is_some_and(|d| d.enabled);
        if !user.enabled || !domain_enabled || user.password.is_empty() {
            return Err(AuthError::Unauthorized);
        }
        Ok((user.id.clone(), user.password.clone()))
    }

    /// Resolves a requested scope for `user_id`; the user needs a role on it.
    pub fn resolve_scope(&self, user_id: &str, scope: &ScopeRef) -> Result<Scope, AuthError> {
        let scope = match scope {
            ScopeRef::Unscoped => return Ok(Scope::Unscoped),
            ScopeRef::ProjectId(id) => {
                let p = self.projects.get(id).ok_or(AuthError::Unauthorized)?;
                if !p.enabled {
                    return Err(AuthError::Unauthorized);
                }
                Scope::Project(p.id.clone())
            }
            ScopeRef::ProjectName { name, domain } => {
                let p = self
                    .project_by_name(name, domain)
                    .map_err(|_| AuthError::Unauthorized)?;
                if !p.enabled {
                    return Err(AuthError::Unauthorized);
                }
                Scope::Project(p.id.clone())
            }
            ScopeRef::Domain(d) => Scope::Domain(
                self.domain(d)
                    .map_err(|_| AuthError::Unauthorized)?
                    .id
                    .clone(),
            ),
            ScopeRef::System => Scope::System,
        };
        let target = State::token_target(&scope).expect("scoped");
        if self.roles_on(user_id, &target).is_empty() {
            return Err(AuthError::Unauthorized);
        }
        Ok(scope)
    }

    pub fn issue(
        &mut self,
        user_id: &str,
        scope: Scope,
        methods: Vec<String>,
        now: u64,
        expires_at: u64,
    ) -> Token {
        let token = Token {
            id: format!("gAAAAA{}", new_id()),
            user_id: user_id.to_string(),
            scope,
            methods,
            issued_at: now,
            expires_at,
            audit_id: new_audit_id(),
            revoked: false,
            app_credential: None,
            trust: None,
        };
        self.tokens.insert(token.id.clone(), token.clone());
        token
    }

    /// A live token: known, not revoked, not expired (unless `allow_expired`), and
    /// its user still enabled.
    /// A token that is neither expired nor revoked: explicitly, or because its user
    /// changed password, lost a role or was disabled since, or its user's domain, its
    /// project or the project's domain is disabled or gone.
    pub fn valid_token(&self, id: &str, now: u64, allow_expired: bool) -> Option<&Token> {
        let t = self.tokens.get(id)?;
        if t.revoked || (!allow_expired && t.expires_at <= now) {
            return None;
        }
        if let Some(c) = &t.app_credential
            && !self.app_credentials.contains_key(c)
        {
            return None;
        }
        if let Some(trust) = &t.trust
            && self.live_trust(trust, now).is_none()
        {
            return None;
        }
        let domain_holds = |id: &str| {
            self.domains
                .get(id)
                .is_some_and(|d| d.enabled && t.issued_at >= d.revoked_before)
        };
        let user = self.users.get(&t.user_id)?;
        if !user.enabled || t.issued_at < user.revoked_before || !domain_holds(&user.domain_id) {
            return None;
        }
        match &t.scope {
            Scope::Project(p) => {
                let project = self.projects.get(p)?;
                if !project.enabled
                    || t.issued_at < project.revoked_before
                    || !domain_holds(&project.domain_id)
                {
                    return None;
                }
            }
            Scope::Domain(d) if !domain_holds(d) => return None,
            _ => {}
        }
        let target = State::token_target(&t.scope);
        let revoked = self.revoked_grants.iter().any(|r| {
            r.user_id == t.user_id && Some(&r.target) == target.as_ref() && t.issued_at < r.at
        });
        (!revoked).then_some(t)
    }

    /// Revokes every token `user_id` holds now.
    pub fn revoke_user_tokens(&mut self, user_id: &str, now: u64) {
        if let Some(u) = self.users.get_mut(user_id) {
            u.revoked_before = now;
        }
    }

    /// Revokes `user_id`'s tokens scoped to `target` (a role of theirs there is gone).
    pub fn revoke_scoped_tokens(&mut self, user_id: &str, target: &Target, now: u64) {
        self.revoked_grants.push(RevokedGrant {
            user_id: user_id.to_string(),
            target: target.clone(),
            at: now,
        });
    }

    pub fn revoke(&mut self, id: &str) -> bool {
        match self.tokens.get_mut(id) {
            Some(t) if !t.revoked => {
                t.revoked = true;
                true
            }
            _ => false,
        }
    }

    /// Drops tokens that expired more than `grace` microseconds ago.
    pub fn purge_tokens(&mut self, now: u64, grace: u64) {
        self.tokens
            .retain(|_, t| t.expires_at.saturating_add(grace) > now);
        // An event older than every token left can revoke nothing more.
        let oldest = self
            .tokens
            .values()
            .map(|t| t.issued_at)
            .min()
            .unwrap_or(now);
        self.revoked_grants.retain(|r| r.at > oldest);
    }
}
