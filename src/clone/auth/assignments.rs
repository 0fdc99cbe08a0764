//! Role assignments of the auth clone: who holds which role on what (a project, a
//! domain, the system), directly or through a group, and what follows from them.

use std::collections::BTreeSet;

use super::model::*;

impl State {
    /// Roles `user_id` holds on `target`, directly or through its groups.
    pub fn roles_on(&self, user_id: &str, target: &Target) -> Vec<&Role> {
        let ids: BTreeSet<&String> = self
            .assignments
            .iter()
            .filter(|a| &a.target == target && self.applies_to(a, user_id))
            .map(|a| &a.role_id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.roles.get(id))
            .collect()
    }

    /// Roles granted to exactly `actor` on `target` (no group expansion).
    pub fn grants(&self, actor: &Actor, target: &Target) -> Vec<&Role> {
        self.assignments
            .iter()
            .filter(|a| &a.actor == actor && &a.target == target)
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
        self.check_actor(&actor)?;
        self.roles
            .get(role_id)
            .ok_or_else(|| not_found("role", role_id))?;
        self.check_target(&target)?;
        self.assignments.insert(Assignment {
            actor,
            target,
            role_id: role_id.into(),
        });
        Ok(())
    }

    pub fn revoke_grant(
        &mut self,
        actor: Actor,
        target: Target,
        role_id: &str,
    ) -> Result<(), AuthError> {
        let a = Assignment {
            actor,
            target,
            role_id: role_id.into(),
        };
        if !self.assignments.remove(&a) {
            return Err(not_found("role assignment", role_id));
        }
        self.prune_app_credentials();
        Ok(())
    }

    /// Projects on which `user_id` holds any role.
    pub fn user_projects(&self, user_id: &str) -> Vec<&Project> {
        let ids: BTreeSet<&String> = self
            .assignments
            .iter()
            .filter(|a| self.applies_to(a, user_id))
            .filter_map(|a| match &a.target {
                Target::Project(p) => Some(p),
                _ => None,
            })
            .collect();
        ids.into_iter()
            .filter_map(|id| self.projects.get(id))
            .collect()
    }

    pub fn user_domains(&self, user_id: &str) -> Vec<&Domain> {
        let ids: BTreeSet<&String> = self
            .assignments
            .iter()
            .filter(|a| self.applies_to(a, user_id))
            .filter_map(|a| match &a.target {
                Target::Domain(d) => Some(d),
                _ => None,
            })
            .collect();
        ids.into_iter()
            .filter_map(|id| self.domains.get(id))
            .collect()
    }
}
