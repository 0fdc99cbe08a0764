//! Application credentials of the auth clone: a secret a user makes for one project, with
//! some of the roles they hold there, that logs in without their password (what CI
//! tooling uses). As in Keystone, the secret is shown once and kept as a bcrypt hash; a
//! credential goes when its user or project does, or when the user loses a role it
//! carries, and the tokens it gave go with it.

use crate::clone::auth::error::{AuthError, not_found};
use serde::{Deserialize, Serialize};

use super::model::*;
use crate::clone::new_id;

/// Keystone's limit on an application credential's name (and description).
pub const MAX_NAME: usize = 255;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppCredential {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub project_id: String,
    #[serde(default)]
    pub description: String,
    /// bcrypt, as passwords.
    pub secret_hash: String,
    /// Role ids, a subset of the user's roles on the project when it was made.
    pub roles: Vec<String>,
    /// Microseconds since the Unix epoch; none: it does not expire.
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// May make and remove other application credentials (Keystone's default: no).
    #[serde(default)]
    pub unrestricted: bool,
}

/// What a new application credential is made of, checked by [`State::create_app_credential`].
pub struct NewAppCredential {
    pub name: String,
    pub description: String,
    pub secret: String,
    /// Role ids; empty: every role of the creating token.
    pub roles: Vec<String>,
    pub expires_at: Option<u64>,
    pub unrestricted: bool,
}

/// How an application credential is named in a login: by id, or by name and its user.
pub enum AppCredentialRef {
    Id(String),
    Name { name: String, user: UserRef },
}

impl State {
    /// Makes an application credential for the user of `caller` on the project it is
    /// scoped to, with `new.roles` (each one the token carries) or all the token's roles.
    pub fn create_app_credential(
        &mut self,
        caller: &Token,
        new: NewAppCredential,
        now: u64,
    ) -> Result<AppCredential, AuthError> {
        let Scope::Project(project_id) = &caller.scope else {
            return Err(AuthError::Forbidden(
                "application credentials are made with a project-scoped token".into(),
            ));
        };
        if new.name.is_empty() || new.name.chars().count() > MAX_NAME {
            return Err(AuthError::BadRequest(format!(
                "Invalid input for field 'name': a name of 1 to {MAX_NAME} characters."
            )));
        }
        if new.expires_at.is_some_and(|e| e <= now) {
            return Err(AuthError::BadRequest(
                "Invalid input for field 'expires_at': the time is in the past.".into(),
            ));
        }
        if self
            .app_credentials
            .values()
            .any(|c| c.user_id == caller.user_id && c.name == new.name)
        {
            return Err(AuthError::Conflict {
                kind: "application_credential",
                name: new.name,
            });
        }
        let held: Vec<String> = self
            .token_roles(caller)
            .iter()
            .map(|r| r.id.clone())
            .collect();
        let roles = if new.roles.is_empty() {
            held
        } else {
            if let Some(missing) = new.roles.iter().find(|r| !held.contains(r)) {
                return Err(AuthError::Forbidden(format!(
                    "the token does not carry role {missing}"
                )));
            }
            new.roles
        };
        let c = AppCredential {
            id: new_id(),
            name: new.name,
            user_id: caller.user_id.clone(),
            project_id: project_id.clone(),
            description: new.description,
            secret_hash: self.hashing.hash(&new.secret),
            roles,
            expires_at: new.expires_at,
            unrestricted: new.unrestricted,
        };
        self.app_credentials.insert(c.id.clone(), c.clone());
        Ok(c)
    }

    /// The credential a login names and its secret's hash, if it may log in now (not
    /// expired, its user enabled), for the secret to be checked outside the lock.
    pub fn app_credential_login(
        &self,
        which: &AppCredentialRef,
        now: u64,
    ) -> Result<AppCredential, AuthError> {
        let found = match which {
            AppCredentialRef::Id(id) => self.app_credentials.get(id),
            AppCredentialRef::Name { name, user } => {
                let user_id = &self.user(user).map_err(|_| AuthError::Unauthorized)?.id;
                self.app_credentials
                    .values()
                    .find(|c| &c.name == name && &c.user_id == user_id)
            }
        };
        let c = found.ok_or(AuthError::Unauthorized)?;
        if c.expires_at.is_some_and(|e| e <= now)
            || !self.users.get(&c.user_id).is_some_and(|u| u.enabled)
        {
            return Err(AuthError::Unauthorized);
        }
        Ok(c.clone())
    }

    pub fn delete_app_credential(&mut self, id: &str) -> Result<(), AuthError> {
        self.app_credentials
            .remove(id)
            .ok_or_else(|| not_found("application credential", id))?;
        self.drop_tokens_of_gone_app_credentials();
        Ok(())
    }

    /// Drops the credentials whose user or project is gone, or whose user no longer
    /// holds every role they carry on their project, then the tokens they gave.
    pub fn prune_app_credentials(&mut self) {
        let keep: Vec<String> = self
            .app_credentials
            .values()
            .filter(|c| {
                self.users.contains_key(&c.user_id)
                    && self.projects.contains_key(&c.project_id)
                    && {
                        let held =
                            self.roles_on(&c.user_id, &Target::Project(c.project_id.clone()));
                        c.roles.iter().all(|r| held.iter().any(|h| &h.id == r))
                    }
            })
            .map(|c| c.id.clone())
            .collect();
        self.app_credentials.retain(|id, _| keep.contains(id));
        self.drop_tokens_of_gone_app_credentials();
    }

    fn drop_tokens_of_gone_app_credentials(&mut self) {
        let live = &self.app_credentials;
        for t in self.tokens.values_mut() {
            if t.app_credential
                .as_ref()
                .is_some_and(|id| !live.contains_key(id))
            {
                t.revoked = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(name: &str) -> NewAppCredential {
        NewAppCredential {
            name: name.into(),
            description: String::new(),
            secret: "s3cret".into(),
            roles: Vec::new(),
            expires_at: None,
            unrestricted: false,
        }
    }

    #[test]
    fn a_credential_lives_with_its_users_roles() {
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
                Default::default(),
            )
            .unwrap();
        let member = s.create_role("member", "", None).unwrap();
        s.grant(
            Actor::User(u.id.clone()),
            Target::Project(p.id.clone()),
            &member.id,
        )
        .unwrap();
        let t = s.issue(
            &u.id,
            Scope::Project(p.id.clone()),
            vec!["password".into()],
            1,
            u64::MAX,
        );
        let c = s.create_app_credential(&t, new("ci"), 2).unwrap();
        assert_eq!(c.roles, vec![member.id.clone()]);
        assert!(super::super::tokens::password_matches(
            &c.secret_hash,
            "s3cret"
        ));
        assert!(matches!(
            s.create_app_credential(&t, new("ci"), 2),
            Err(AuthError::Conflict { .. })
        ));
        let login = s
            .app_credential_login(&AppCredentialRef::Id(c.id.clone()), 3)
            .unwrap();
        let mut from_cred = s.issue(
            &u.id,
            Scope::Project(p.id.clone()),
            vec!["application_credential".into()],
            3,
            u64::MAX,
        );
        from_cred.app_credential = Some(login.id.clone());
        s.tokens.insert(from_cred.id.clone(), from_cred.clone());
        assert!(s.valid_token(&from_cred.id, 4, false).is_some());
        // The user loses the role: the credential and its token go.
        s.revoke_grant(
            Actor::User(u.id.clone()),
            Target::Project(p.id.clone()),
            &member.id,
        )
        .unwrap();
        s.prune_app_credentials();
        assert!(s.app_credentials.is_empty());
        assert!(s.valid_token(&from_cred.id, 4, false).is_none());
    }
}
