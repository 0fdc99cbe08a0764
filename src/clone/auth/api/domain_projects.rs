//! `/v3/projects`, with projects acting as domains (`is_domain`). Keystone keeps a
//! domain as a project with `is_domain: true`; the clone keeps domains apart and shows
//! them through `/v3/projects` as such projects: created with `is_domain: true`, listed
//! with `?is_domain=true`, and shown, updated and deleted by their id. Everything else
//! about projects is the `Project` entity's (`entities.rs`).

use serde_json::{Value, json};

use super::collection::{Answer, Call, Collection, Fields, Meta, Query_};
use super::entities::{Entities, Entity, check_name, check_rename, enabled_is};
use super::{Service, opt_bool, opt_str};
use crate::clone::auth::error::{AuthError, not_found};
use crate::clone::auth::model::{Domain, Project, State, Token};

pub(super) struct Projects;

pub(super) static PROJECTS: Projects = Projects;

/// Projects proper.
static ENTITIES: Entities<Project> = Entities::new();

impl Service {
    fn domain_as_project(&self, d: &Domain) -> Value {
        json!({"id": d.id, "name": d.name, "domain_id": null, "description": d.description,
               "enabled": d.enabled, "parent_id": null, "is_domain": true, "tags": [],
               "options": {}, "links": self.link(&format!("projects/{}", d.id))})
    }
}

fn truthy(v: &str) -> bool {
    !matches!(v, "false" | "False" | "0")
}

/// Whether `id` names a domain and no project.
fn a_domain(st: &State, id: &str) -> bool {
    !st.projects.contains_key(id) && st.domains.contains_key(id)
}

impl Collection for Projects {
    fn meta(&self) -> Meta {
        Project::META
    }

    fn owns(&self, st: &State, caller: &Token, id: &str) -> bool {
        Project::owns(st, caller, id)
    }

    fn list(&self, c: &Call, q: &Query_) -> Vec<Value> {
        if !q.get("is_domain").is_some_and(|v| truthy(v)) {
            return ENTITIES.list(c, q);
        }
        let s = c.s;
        c.st.domains
            .values()
            .filter(|d| d.matches(q) && enabled_is(q, d.enabled()))
            .map(|d| s.domain_as_project(d))
            .collect()
    }

    fn show(&self, c: &Call, id: &str) -> Answer {
        if !a_domain(c.st, id) {
            return ENTITIES.show(c, id);
        }
        Ok(c.s.domain_as_project(&c.st.domains[id]))
    }

    fn create(&self, c: &mut Call, o: &Fields) -> Answer {
        if o.get("is_domain").and_then(Value::as_bool) != Some(true) {
            return ENTITIES.create(c, o);
        }
        let (s, st) = (c.s, &mut *c.st);
        let name = opt_str(o, "name")
            .ok_or_else(|| AuthError::BadRequest("project needs a name".into()))?;
        check_name::<Domain>(&name)?;
        let description = opt_str(o, "description").unwrap_or_default();
        let d = st.create_domain(&name, &description, opt_bool(o, "enabled", true))?;
        Ok(s.domain_as_project(&d))
    }

    fn update(&self, c: &mut Call, id: &str, o: &Fields) -> Answer {
        if !a_domain(c.st, id) {
            return ENTITIES.update(c, id, o);
        }
        let (s, st) = (c.s, &mut *c.st);
        check_rename::<Domain>(st, id, o)?;
        let hashing = st.hashing;
        let d = st
            .domains
            .get_mut(id)
            .ok_or_else(|| not_found("project", id))?;
        d.update(o, &hashing);
        Ok(s.domain_as_project(d))
    }

    fn delete(&self, c: &mut Call, id: &str) -> Result<(), AuthError> {
        if !a_domain(c.st, id) {
            return ENTITIES.delete(c, id);
        }
        c.st.delete_domain(id)
    }
}
