//! Role assignments of the auth clone: who holds which role on what (a project, a
//! domain, the system), directly or through a group, on the target itself or (OS-INHERIT)
//! on the projects below it, and what follows from them.

use crate::clone::auth::error::{AuthError, not_found};
use std::collections::BTreeSet;

use super::model::*;

impl State {
    /// Whether `a` gives its role on `target`: a direct assignment on the target
    /// itself; an inherited one on a project's domain or on a project above it.
    pub fn reaches(&self, a: &Assignment, target: &Target) -> bool {
        if !a.inherited {
            return &a.target == target;
        }
        let Target::Project(p) = target else {
            return false;
        };
        match &a.target {
            Target::Domain(d) => self.projects.get(p).is_some_and(|p| &p.domain_id == d),
            Target::Project(above) => self.ancestors(p).iter().any(|x| &x.id == above),
            Target::System => false,
        }
    }

    /// The targets `a` gives its role on.
    pub fn reached(&self, a: &Assignment) -> Vec<Target> {
        if !a.inherited {
            return vec![a.target.clone()];
        }
        self.projects
            .keys()
            .map(|p| Target::Project(p.clone()))
            .filter(|t| self.reaches(a, t))
            .collect()
    }

    /// Roles `user_id` holds on `target`, directly or through its groups, assigned there
    /// or inherited from above.
    pub fn roles_on(&self, user_id: &str, target: &Target) -> Vec<&Role> {
        let ids: BTreeSet<&String> = self
            .assignments
            .iter()
            .filter(|a| self.applies_to(a, user_id) && self.reaches(a, target))
            .map(|a| &a.role_id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.roles.get(id))
            .collect()
    }

    /// Roles granted to exactly `actor` on `target`, inherited or not (no group
    /// expansion).
    pub fn grants(&self, actor: &Actor, target: &Target, inherited: bool) -> Vec<&Role> {
        self.assignments
            .iter()
            .filter(|a| &a.actor == actor && &a.target == target && a.inherited == inherited)
            .filter_map(|a| self.roles.get(&a.role_id))
            .collect()
    }

    pub fn check_target(&self, target: &Target) -> Result<(), AuthError> {
        match target {
            Target::Project(id) => self
                .projects
                .get(id)
                .map(|_| ())
                .ok_or_else(|| not_found("project", id)),
            Target::Domain(id) => self
                .domains
                .get(id)
                .map(|_| ())
                .ok_or_else(|| not_found("domain", id)),
            Target::System => Ok(()),
        }
    }

    pub fn check_actor(&self, actor: &Actor) -> Result<(), AuthError> {
        match actor {
            Actor::User(id) => self
                .users
                .get(id)
                .map(|_| ())
                .ok_or_else(|| not_found("user", id)),
            Actor::Group(id) => self
                .groups
                .get(id)
                .map(|_| ())
                .ok_or_else(|| not_found("group", id)),
        }
    }

    pub fn grant(&mut self, actor: Actor, target: Target, role_id: &str) -> Result<(), AuthError> {
        self.assign(Assignment {
            actor,
            target,
            role_id: role_id.into(),
            inherited: false,
        })
    }

    /// Records `a` once its actor, role and target exist (inheriting needs a project or
    /// a domain).
    pub fn assign(&mut self, a: Assignment) -> Result<(), AuthError> {
        self.check_actor(&a.actor)?;
        self.roles
            .get(&a.role_id)
            .ok_or_else(|| not_found("role", &a.role_id))?;
        self.check_target(&a.target)?;
        if a.inherited && a.target == Target::System {
            return Err(AuthError::BadRequest(
                "a role on the system cannot be inherited".into(),
            ));
        }
        self.assignments.insert(a);
        Ok(())
    }

    pub fn revoke_grant(
        &mut self,
        actor: Actor,
        target: Target,
        role_id: &str,
    ) -> Result<(), AuthError> {
        self.unassign(&Assignment {
            actor,
            target,
            role_id: role_id.into(),
            inherited: false,
        })
    }

    pub fn unassign(&mut self, a: &Assignment) -> Result<(), AuthError> {
        if !self.assignments.remove(a) {
            return Err(not_found("role assignment", &a.role_id));
        }
        self.prune_app_credentials();
        Ok(())
    }

    /// Projects on which `user_id` holds any role, assigned or inherited.
    pub fn user_projects(&self, user_id: &str) -> Vec<&Project> {
        self.projects
            .values()
            .filter(|p| {
                !self
                    .roles_on(user_id, &Target::Project(p.id.clone()))
                    .is_empty()
            })
            .collect()
    }

    pub fn user_domains(&self, user_id: &str) -> Vec<&Domain> {
        let ids: BTreeSet<&String> = self
            .assignments
            .iter()
            .filter(|a| !a.inherited && self.applies_to(a, user_id))
            .filter_map(|a| match &a.target {
                Target::Domain(d) => Some(d),
                _ => None,
            })
            .collect();
        ids.into_iter()
            .filter_map(|id| self.domains.get(id))
            .collect()
    }

    /// Every assignment as it takes effect: groups expanded to their members, inherited
    /// ones to the projects they reach, each role with those it implies (domain-specific
    /// roles left out), as Keystone's `?effective` lists them.
    pub fn effective_assignments(&self) -> Vec<Effective<'_>> {
        let mut out = Vec::new();
        for a in &self.assignments {
            let Some(role) = self.roles.get(&a.role_id) else {
                continue;
            };
            let users: Vec<&str> = match &a.actor {
                Actor::User(u) => vec![u.as_str()],
                Actor::Group(g) => self
                    .members
                    .iter()
                    .filter(|(group, _)| group == g)
                    .map(|(_, u)| u.as_str())
                    .collect(),
            };
            let roles = self.effective_roles(&[role]);
            for target in self.reached(a) {
                for user in &users {
                    for (role, prior) in &roles {
                        out.push(Effective {
                            user,
                            target: target.clone(),
                            role,
                            prior: *prior,
                            from: a,
                        });
                    }
                }
            }
        }
        out
    }
}

/// One role a user holds on a target, and the assignment it comes from.
pub struct Effective<'a> {
    pub user: &'a str,
    pub target: Target,
    pub role: &'a Role,
    /// The assigned role it is implied by, if it is implied.
    pub prior: Option<&'a Role>,
    pub from: &'a Assignment,
}
