//! Domains and projects: making them, their hierarchy (a project's parents), and what
//! deleting one takes with it (a domain its projects, users, groups and roles; a
//! project its grants and tokens).

use super::model::*;
use crate::clone::auth::error::{AuthError, not_found};
use crate::clone::new_id;

impl State {
    pub fn create_domain(
        &mut self,
        name: &str,
        description: &str,
        enabled: bool,
    ) -> Result<Domain, AuthError> {
        if self.domains.values().any(|d| d.name == name) {
            return Err(AuthError::Conflict {
                kind: "domain",
                name: name.into(),
            });
        }
        let d = Domain {
            id: new_id(),
            name: name.into(),
            description: description.into(),
            enabled,
            revoked_before: 0,
        };
        self.domains.insert(d.id.clone(), d.clone());
        Ok(d)
    }

    pub fn delete_domain(&mut self, id: &str) -> Result<(), AuthError> {
        let d = self
            .domains
            .get(id)
            .ok_or_else(|| not_found("domain", id))?;
        if d.enabled {
            return Err(AuthError::Forbidden(
                "cannot delete a domain that is enabled, please disable it first".into(),
            ));
        }
        self.domains.remove(id);
        self.domain_configs.remove(id);
        let mut projects: Vec<(usize, String)> = self
            .projects
            .values()
            .filter(|p| p.domain_id == id)
            .map(|p| (self.ancestors(&p.id).len(), p.id.clone()))
            .collect();
        // Leaves first: a project with children cannot go.
        projects.sort_by(|a, b| b.cmp(a));
        for (_, p) in projects {
            let _ = self.delete_project(&p);
        }
        let users: Vec<String> = self
            .users
            .values()
            .filter(|u| u.domain_id == id)
            .map(|u| u.id.clone())
            .collect();
        for u in users {
            let _ = self.delete_user(&u);
        }
        // Its groups and its own roles go with it too, as Keystone cascades a domain.
        let groups: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.domain_id == id)
            .map(|g| g.id.clone())
            .collect();
        for g in groups {
            let _ = self.delete_group(&g);
        }
        let roles: Vec<String> = self
            .roles
            .values()
            .filter(|r| r.domain_id.as_deref() == Some(id))
            .map(|r| r.id.clone())
            .collect();
        for r in roles {
            let _ = self.delete_role(&r);
        }
        self.assignments
            .retain(|a| a.target != Target::Domain(id.into()));
        self.prune_app_credentials();
        Ok(())
    }

    /// A project in `domain_id`, under `parent_id` if given (in the same domain).
    pub fn create_project(
        &mut self,
        name: &str,
        domain_id: &str,
        parent_id: Option<&str>,
        description: &str,
        enabled: bool,
    ) -> Result<Project, AuthError> {
        if !self.domains.contains_key(domain_id) {
            return Err(AuthError::BadRequest(format!(
                "Could not find domain: {domain_id}."
            )));
        }
        if let Some(parent) = parent_id {
            let p = self
                .projects
                .get(parent)
                .ok_or_else(|| not_found("project", parent))?;
            if p.domain_id != domain_id {
                return Err(AuthError::BadRequest(
                    "Cannot create a project in a domain other than its parent's".into(),
                ));
            }
            if self.ancestors(parent).len() + 1 >= MAX_PROJECT_TREE_DEPTH {
                return Err(AuthError::Forbidden(format!(
                    "Max hierarchy depth reached for {parent} branch"
                )));
            }
        }
        if self
            .projects
            .values()
            .any(|p| p.name == name && p.domain_id == domain_id)
        {
            return Err(AuthError::Conflict {
                kind: "project",
                name: name.into(),
            });
        }
        let p = Project {
            id: new_id(),
            name: name.into(),
            domain_id: domain_id.into(),
            description: description.into(),
            enabled,
            parent_id: parent_id.map(String::from),
            tags: Vec::new(),
            revoked_before: 0,
        };
        self.projects.insert(p.id.clone(), p.clone());
        Ok(p)
    }

    /// The projects above `id`, nearest first.
    pub fn ancestors(&self, id: &str) -> Vec<&Project> {
        let mut out: Vec<&Project> = Vec::new();
        let mut cur = self.projects.get(id).and_then(|p| p.parent_id.as_deref());
        while let Some(p) = cur.and_then(|c| self.projects.get(c)) {
            // A loop cannot be made through the API; a hand-edited state stops here.
            if out.iter().any(|o| o.id == p.id) || out.len() > MAX_PROJECT_TREE_DEPTH {
                break;
            }
            out.push(p);
            cur = p.parent_id.as_deref();
        }
        out
    }

    /// Deletes a leaf project (Keystone refuses one with children: 403).
    pub fn delete_project(&mut self, id: &str) -> Result<(), AuthError> {
        if self
            .projects
            .values()
            .any(|p| p.parent_id.as_deref() == Some(id))
        {
            return Err(AuthError::Forbidden(format!(
                "cannot delete the project {id} since it is not a leaf in the hierarchy"
            )));
        }
        self.projects
            .remove(id)
            .ok_or_else(|| not_found("project", id))?;
        self.assignments
            .retain(|a| a.target != Target::Project(id.into()));
        for t in self.tokens.values_mut() {
            if t.scope == Scope::Project(id.into()) {
                t.revoked = true;
            }
        }
        self.prune_app_credentials();
        self.prune_credentials();
        Ok(())
    }
}
