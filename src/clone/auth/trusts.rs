//! Trusts (OS-TRUST): a trustor delegates some of its roles on a project to a trustee,
//! who logs in with the trust as scope and gets a token of that project with those roles
//! (as the trustor if the trust impersonates). The token ends with the trust: when it is
//! deleted, expires, or the trustor no longer holds a delegated role.

use serde::{Deserialize, Serialize};

use super::error::AuthError;
use super::model::{State, Target};
use crate::clone::new_id;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trust {
    pub id: String,
    pub trustor_user_id: String,
    pub trustee_user_id: String,
    pub project_id: Option<String>,
    /// Role ids delegated.
    pub roles: Vec<String>,
    pub impersonation: bool,
    /// Microseconds since the epoch.
    pub expires_at: Option<u64>,
    /// Tokens it may still give; `None`: unlimited.
    pub remaining_uses: Option<u64>,
}

/// What a trustor asks for; roles by id or name.
pub struct NewTrust {
    pub trustor_user_id: String,
    pub trustee_user_id: String,
    pub project_id: Option<String>,
    pub roles: Vec<RoleRef>,
    pub impersonation: bool,
    pub expires_at: Option<u64>,
    pub remaining_uses: Option<u64>,
}

pub enum RoleRef {
    Id(String),
    Name(String),
}

fn not_found(kind: &'static str, id: &str) -> AuthError {
    AuthError::NotFound {
        kind,
        id: id.into(),
    }
}

impl State {
    /// Records a trust `caller` makes: the caller is the trustor, the trustee exists,
    /// and every delegated role is one the trustor holds on the project.
    pub fn create_trust(
        &mut self,
        caller: &str,
        t: NewTrust,
        now: u64,
    ) -> Result<Trust, AuthError> {
        if t.trustor_user_id != caller {
            return Err(AuthError::Forbidden(
                "The authenticated user should match the trustor".into(),
            ));
        }
        if !self.users.contains_key(&t.trustee_user_id) {
            return Err(not_found("user", &t.trustee_user_id));
        }
        if t.expires_at.is_some_and(|e| e <= now) {
            return Err(AuthError::BadRequest(
                "Invalid input for field 'expires_at': it is in the past".into(),
            ));
        }
        if t.remaining_uses == Some(0) {
            return Err(AuthError::BadRequest(
                "Invalid input for field 'remaining_uses': it must be positive".into(),
            ));
        }
        let mut roles = Vec::new();
        for r in &t.roles {
            let role = match r {
                RoleRef::Id(id) => self.roles.get(id),
                RoleRef::Name(n) => self
                    .roles
                    .values()
                    .find(|x| &x.name == n && x.domain_id.is_none()),
            };
            let role = role.ok_or_else(|| {
                not_found(
                    "role",
                    match r {
                        RoleRef::Id(s) | RoleRef::Name(s) => s,
                    },
                )
            })?;
            roles.push(role.id.clone());
        }
        match &t.project_id {
            Some(p) => {
                if !self.projects.contains_key(p) {
                    return Err(not_found("project", p));
                }
                let held = self.held_on(&t.trustor_user_id, p);
                if let Some(r) = roles.iter().find(|r| !held.contains(r)) {
                    return Err(AuthError::Forbidden(format!(
                        "The trustor does not hold role {r} on project {p}"
                    )));
                }
            }
            None if !roles.is_empty() => {
                return Err(AuthError::BadRequest(
                    "Roles can only be delegated on a project".into(),
                ));
            }
            None => {}
        }
        let trust = Trust {
            id: new_id(),
            trustor_user_id: t.trustor_user_id,
            trustee_user_id: t.trustee_user_id,
            project_id: t.project_id,
            roles,
            impersonation: t.impersonation,
            expires_at: t.expires_at,
            remaining_uses: t.remaining_uses,
        };
        self.trusts.insert(trust.id.clone(), trust.clone());
        Ok(trust)
    }

    /// Role ids `user` holds on `project`, with those they imply.
    fn held_on(&self, user: &str, project: &str) -> Vec<String> {
        let held = self.roles_on(user, &Target::Project(project.into()));
        self.effective_roles(&held)
            .into_iter()
            .map(|(r, _)| r.id.clone())
            .collect()
    }

    /// A trust that still holds: not expired, its users there, each delegated role
    /// still the trustor's.
    pub fn live_trust(&self, id: &str, now: u64) -> Option<&Trust> {
        let t = self.trusts.get(id)?;
        if t.expires_at.is_some_and(|e| e <= now)
            || !self.users.contains_key(&t.trustor_user_id)
            || !self.users.contains_key(&t.trustee_user_id)
        {
            return None;
        }
        if let Some(p) = &t.project_id {
            let held = self.held_on(&t.trustor_user_id, p);
            if !t.roles.iter().all(|r| held.contains(r)) {
                return None;
            }
        }
        Some(t)
    }

    /// The trustee `user` logs in with trust `id`: the token's user and project; one
    /// use is spent.
    pub fn use_trust(
        &mut self,
        id: &str,
        user: &str,
        now: u64,
    ) -> Result<(String, Option<String>), AuthError> {
        let t = self.live_trust(id, now).ok_or(AuthError::Unauthorized)?;
        if t.trustee_user_id != user || t.remaining_uses == Some(0) {
            return Err(AuthError::Unauthorized);
        }
        let who = if t.impersonation {
            t.trustor_user_id.clone()
        } else {
            t.trustee_user_id.clone()
        };
        let project = t.project_id.clone();
        if let Some(n) = self
            .trusts
            .get_mut(id)
            .and_then(|t| t.remaining_uses.as_mut())
        {
            *n -= 1;
        }
        Ok((who, project))
    }

    /// Drops the trusts of users that are gone.
    pub fn prune_trusts(&mut self) {
        let users = &self.users;
        self.trusts.retain(|_, t| {
            users.contains_key(&t.trustor_user_id) && users.contains_key(&t.trustee_user_id)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clone::auth::model::{Actor, DEFAULT_DOMAIN_ID};

    #[test]
    fn a_trust_delegates_only_held_roles_and_ends_with_them() {
        let mut st = State::new();
        let p = st
            .create_project("p", DEFAULT_DOMAIN_ID, None, "", true)
            .unwrap()
            .id;
        let user = |st: &mut State, n: &str| {
            st.create_user(n, DEFAULT_DOMAIN_ID, None, true, None, Default::default())
                .unwrap()
                .id
        };
        let (a, b) = (user(&mut st, "a"), user(&mut st, "b"));
        let r = st.create_role("r", "", None).unwrap().id;
        let other = st.create_role("o", "", None).unwrap().id;
        st.grant(Actor::User(a.clone()), Target::Project(p.clone()), &r)
            .unwrap();
        let new = |roles: &[&str], uses| NewTrust {
            trustor_user_id: a.clone(),
            trustee_user_id: b.clone(),
            project_id: Some(p.clone()),
            roles: roles.iter().map(|r| RoleRef::Id(r.to_string())).collect(),
            impersonation: true,
            expires_at: None,
            remaining_uses: uses,
        };
        assert_eq!(
            st.create_trust(&b, new(&[&r], None), 1)
                .unwrap_err()
                .status(),
            403
        );
        assert_eq!(
            st.create_trust(&a, new(&[&other], None), 1)
                .unwrap_err()
                .status(),
            403
        );
        let t = st.create_trust(&a, new(&[&r], Some(1)), 1).unwrap();
        assert_eq!(st.use_trust(&t.id, &a, 2).unwrap_err().status(), 401);
        assert_eq!(
            st.use_trust(&t.id, &b, 2).unwrap(),
            (a.clone(), Some(p.clone()))
        );
        assert_eq!(
            st.use_trust(&t.id, &b, 2).unwrap_err().status(),
            401,
            "one use"
        );
        let t = st.create_trust(&a, new(&[&r], None), 1).unwrap();
        st.revoke_grant(Actor::User(a.clone()), Target::Project(p.clone()), &r)
            .unwrap();
        assert!(st.live_trust(&t.id, 2).is_none());
    }
}
