//! Role grants and their listing, for admins:
//! - `/v3/{projects|domains}/{id}/{users|groups}/{id}/roles[/{role}]`, on the target;
//! - `/v3/system/{users|groups}/{id}/roles[/{role}]`, on the system;
//! - `/v3/OS-INHERIT/{projects|domains}/{id}/{users|groups}/{id}/roles[/{role}]/inherited_to_projects`,
//!   on the projects below the target;
//! - `/v3/role_assignments`, as assigned or (`?effective`) as they take effect.

use super::missing;
use crate::clone::auth::policy::{Op, of};
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{ApiError, Q, Reply, Service, Shared, json_response, now_micros};
use crate::clone::auth::error::AuthError;
use crate::clone::auth::model::{Actor, Assignment, State, Target};

/// Where a grant is made: to an actor, on a target, inherited below it or not.
struct Place {
    actor: Actor,
    target: Target,
    inherited: bool,
}

impl Place {
    /// From the path's words; an unknown kind is a 404, as an unknown route.
    fn parse(
        kind: &str,
        target: String,
        actor_kind: &str,
        actor: String,
        inherited: bool,
    ) -> Result<Place, ApiError> {
        let target = match kind {
            "projects" => Target::Project(target),
            "domains" => Target::Domain(target),
            "system" => Target::System,
            _ => return Err(missing("target", kind)),
        };
        let actor = match actor_kind {
            "users" => Actor::User(actor),
            "groups" => Actor::Group(actor),
            _ => return Err(missing("actor", actor_kind)),
        };
        Ok(Place {
            actor,
            target,
            inherited,
        })
    }

    fn assignment(&self, role: &str) -> Assignment {
        Assignment {
            actor: self.actor.clone(),
            target: self.target.clone(),
            role_id: role.into(),
            inherited: self.inherited,
        }
    }
}

fn list(s: &Service, headers: &HeaderMap, place: Place) -> Reply {
    let st = s.lock();
    s.authorize(&st, headers, &of::GRANT, Op::List, |_| false)?;
    st.check_target(&place.target)?;
    let roles: Vec<Value> = st
        .grants(&place.actor, &place.target, place.inherited)
        .into_iter()
        .map(|r| s.role_json(r))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({"roles": roles, "links": s.list_links("roles")}),
    ))
}

fn check(s: &Service, headers: &HeaderMap, place: Place, role: String) -> Reply {
    let st = s.lock();
    s.authorize(&st, headers, &of::GRANT, Op::Check, |_| false)?;
    if st.assignments.contains(&place.assignment(&role)) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::from(AuthError::NotFound {
            kind: "role assignment",
            id: role,
        }))
    }
}

fn put(s: &Service, headers: &HeaderMap, place: Place, role: String) -> Reply {
    let mut st = s.lock();
    s.authorize(&st, headers, &of::GRANT, Op::Create, |_| false)?;
    st.assign(place.assignment(&role))?;
    s.save(&st);
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn delete(s: &Service, headers: &HeaderMap, place: Place, role: String) -> Reply {
    let mut st = s.lock();
    s.authorize(&st, headers, &of::GRANT, Op::Delete, |_| false)?;
    let a = place.assignment(&role);
    let reached = st.reached(&a);
    st.unassign(&a)?;
    // The actor's tokens where the role held go with it, as Keystone's revocation
    // event for a grant takes them.
    let users: Vec<String> = match &a.actor {
        Actor::User(u) => vec![u.clone()],
        Actor::Group(g) => st
            .members
            .iter()
            .filter(|(group, _)| group == g)
            .map(|(_, u)| u.clone())
            .collect(),
    };
    let now = now_micros();
    for u in users {
        for t in &reached {
            st.revoke_scoped_tokens(&u, t, now);
        }
    }
    s.save(&st);
    Ok(StatusCode::NO_CONTENT.into_response())
}

type On = Path<(String, String, String, String)>;
type OnRole = Path<(String, String, String, String, String)>;
type OnSystem = Path<(String, String)>;
type OnSystemRole = Path<(String, String, String)>;

macro_rules! handlers {
    ($list:ident, $one:ident, $inherited:expr) => {
        pub(super) async fn $list(
            AxState(s): AxState<Shared>,
            headers: HeaderMap,
            Path((kind, target, akind, actor)): On,
        ) -> Reply {
            let place = Place::parse(&kind, target, &akind, actor, $inherited)?;
            list(&s, &headers, place)
        }

        /// GET and HEAD check, PUT grants, DELETE revokes.
        pub(super) async fn $one(
            AxState(s): AxState<Shared>,
            method: axum::http::Method,
            headers: HeaderMap,
            Path((kind, target, akind, actor, role)): OnRole,
        ) -> Reply {
            let place = Place::parse(&kind, target, &akind, actor, $inherited)?;
            one(&s, method, &headers, place, role)
        }
    };
}

handlers!(list_direct, one_direct, false);
handlers!(list_inherited, one_inherited, true);

fn one(
    s: &Service,
    method: axum::http::Method,
    headers: &HeaderMap,
    place: Place,
    role: String,
) -> Reply {
    match method {
        axum::http::Method::PUT => put(s, headers, place, role),
        axum::http::Method::DELETE => delete(s, headers, place, role),
        _ => check(s, headers, place, role),
    }
}

pub(super) async fn list_system(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path((akind, actor)): OnSystem,
) -> Reply {
    let place = Place::parse("system", String::new(), &akind, actor, false)?;
    list(&s, &headers, place)
}

pub(super) async fn one_system(
    AxState(s): AxState<Shared>,
    method: axum::http::Method,
    headers: HeaderMap,
    Path((akind, actor, role)): OnSystemRole,
) -> Reply {
    let place = Place::parse("system", String::new(), &akind, actor, false)?;
    one(&s, method, &headers, place, role)
}

// ---- /v3/role_assignments ------------------------------------------------------------

impl Service {
    fn scope_json(&self, st: &State, target: &Target, names: bool, inherited: bool) -> Value {
        let domain = |id: &str| match st.domains.get(id) {
            Some(d) if names => json!({"id": d.id, "name": d.name}),
            _ => json!({"id": id}),
        };
        let mut scope = match target {
            Target::Project(p) => {
                let mut v = json!({"id": p});
                if names && let Some(p) = st.projects.get(p) {
                    v = json!({"id": p.id, "name": p.name, "domain": domain(&p.domain_id)});
                }
                json!({"project": v})
            }
            Target::Domain(d) => json!({"domain": domain(d)}),
            Target::System => json!({"system": {"all": true}}),
        };
        if inherited {
            scope["OS-INHERIT:inherited_to"] = json!("projects");
        }
        scope
    }

    fn actor_json(&self, st: &State, actor: &Actor, names: bool) -> (&'static str, Value) {
        let domain = |id: &str| match st.domains.get(id) {
            Some(d) => json!({"id": d.id, "name": d.name}),
            None => json!({"id": id}),
        };
        match actor {
            Actor::User(u) => match st.users.get(u) {
                Some(u) if names => (
                    "user",
                    json!({"id": u.id, "name": u.name, "domain": domain(&u.domain_id)}),
                ),
                _ => ("user", json!({"id": u})),
            },
            Actor::Group(g) => match st.groups.get(g) {
                Some(g) if names => (
                    "group",
                    json!({"id": g.id, "name": g.name, "domain": domain(&g.domain_id)}),
                ),
                _ => ("group", json!({"id": g})),
            },
        }
    }

    /// Where an assignment is made, as the API's path to it.
    fn assignment_link(&self, a: &Assignment) -> String {
        let actor = match &a.actor {
            Actor::User(u) => format!("users/{u}"),
            Actor::Group(g) => format!("groups/{g}"),
        };
        let target = match &a.target {
            Target::Project(p) => format!("projects/{p}"),
            Target::Domain(d) => format!("domains/{d}"),
            Target::System => "system".into(),
        };
        let base = self.base();
        if a.inherited {
            format!(
                "{base}/v3/OS-INHERIT/{target}/{actor}/roles/{}/inherited_to_projects",
                a.role_id
            )
        } else {
            format!("{base}/v3/{target}/{actor}/roles/{}", a.role_id)
        }
    }
}

/// The `scope.*`, `user.id`, `group.id` and `role.id` filters.
fn wanted(
    q: &std::collections::HashMap<String, String>,
    actor: &Actor,
    target: &Target,
    role: &str,
) -> bool {
    let is = |key: &str, ok: &dyn Fn(&str) -> bool| q.get(key).is_none_or(|v| ok(v));
    is("user.id", &|u| *actor == Actor::User(u.into()))
        && is("group.id", &|g| *actor == Actor::Group(g.into()))
        && is("role.id", &|r| r == role)
        && is("scope.project.id", &|p| {
            *target == Target::Project(p.into())
        })
        && is("scope.domain.id", &|d| *target == Target::Domain(d.into()))
        && is("scope.system", &|_| *target == Target::System)
}

pub(super) async fn role_assignments(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Query(q): Q,
) -> Reply {
    let st = s.lock();
    s.authorize(&st, &headers, &of::ROLE_ASSIGNMENT, Op::List, |_| false)?;
    let names = q.contains_key("include_names");
    let role_json = |id: &str| match st.roles.get(id) {
        Some(r) if names => json!({"id": r.id, "name": r.name}),
        _ => json!({"id": id}),
    };
    let mut items: Vec<Value> = Vec::new();
    if q.contains_key("effective") {
        for e in st.effective_assignments() {
            let actor = Actor::User(e.user.into());
            if !wanted(&q, &actor, &e.target, &e.role.id) {
                continue;
            }
            let (key, actor_json) = s.actor_json(&st, &actor, names);
            let mut links = json!({"assignment": s.assignment_link(e.from)});
            if let Actor::Group(g) = &e.from.actor {
                links["membership"] = json!(format!("{}/v3/groups/{g}/users/{}", s.base(), e.user));
            }
            if let Some(p) = e.prior {
                links["prior_role"] = json!(format!("{}/v3/roles/{}", s.base(), p.id));
            }
            let mut v = json!({"role": role_json(&e.role.id),
                               "scope": s.scope_json(&st, &e.target, names, false),
                               "links": links});
            v[key] = actor_json;
            items.push(v);
        }
    } else {
        let inherited_only = q
            .get("scope.OS-INHERIT:inherited_to")
            .is_some_and(|v| v == "projects");
        for a in &st.assignments {
            if !wanted(&q, &a.actor, &a.target, &a.role_id) || (inherited_only && !a.inherited) {
                continue;
            }
            let (key, actor_json) = s.actor_json(&st, &a.actor, names);
            let mut v = json!({"role": role_json(&a.role_id),
                               "scope": s.scope_json(&st, &a.target, names, a.inherited),
                               "links": {"assignment": s.assignment_link(a)}});
            v[key] = actor_json;
            items.push(v);
        }
    }
    Ok(json_response(
        StatusCode::OK,
        json!({"role_assignments": items, "links": s.list_links("role_assignments")}),
    ))
}
