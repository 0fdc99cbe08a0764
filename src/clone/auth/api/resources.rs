//! Domains, projects, users, roles and groups: one list/show/create/update/delete each,
//! written once over [`Resource`]; what differs (who may read, which fields a change
//! takes, the query filters) is each kind's impl.

use super::{ApiError, missing};
use std::collections::BTreeMap;

use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::{Body, Q, Reply, Service, Shared, bad, json_response, object, opt_bool, opt_str};
use crate::clone::auth::error::AuthError;
use crate::clone::auth::model::{
    DEFAULT_DOMAIN_ID, Domain, Group, Project, Role, Scope, State, Token, User,
};
use crate::clone::auth::policy::{Op, Policy, of};
use crate::clone::auth::tokens::Hashing;

type Query_ = std::collections::HashMap<String, String>;

pub(super) trait Resource: Clone + Sized + Send + 'static {
    /// The singular, in bodies, policy names and errors.
    const KIND: &'static str;
    /// The collection, in paths and list bodies.
    const PLURAL: &'static str;
    /// Who may list, show, create, update and delete one.
    const POLICY: Policy;

    /// The longest name Keystone's schema takes for it.
    const MAX_NAME: usize;

    fn map(st: &State) -> &BTreeMap<String, Self>;
    fn map_mut(st: &mut State) -> &mut BTreeMap<String, Self>;
    fn name(&self) -> &str;
    /// Where names must be unique: its domain, or everywhere ("").
    fn namespace(&self) -> &str {
        ""
    }
    fn enabled(&self) -> Option<bool> {
        None
    }
    fn json(&self, s: &Service) -> Value;
    /// Whether it passes the list's query filters.
    fn matches(&self, q: &Query_) -> bool;
    /// Whether `id` is the caller's own, for the policy's [`Rule::Own`](crate::clone::auth::policy::Rule::Own)
    /// (a user is its own; a project is its members').
    fn owns(_st: &State, _caller: &Token, _id: &str) -> bool {
        false
    }
    fn create(st: &mut State, name: &str, o: &Map<String, Value>) -> Result<Self, AuthError>;
    /// `hashing`: for a new password.
    fn update(&mut self, o: &Map<String, Value>, hashing: &Hashing);
    fn delete(st: &mut State, id: &str) -> Result<(), AuthError>;
}

/// A name as Keystone's schema takes it: not blank, at most `R::MAX_NAME` long.
pub(super) fn check_name<R: Resource>(name: &str) -> Result<(), AuthError> {
    if name.trim().is_empty() || name.chars().count() > R::MAX_NAME {
        return Err(AuthError::BadRequest(format!(
            "Invalid input for field 'name': a {} name is 1 to {} characters",
            R::KIND,
            R::MAX_NAME
        )));
    }
    Ok(())
}

/// A rename must not take another's name in the same namespace (Keystone: 409).
pub(super) fn check_rename<R: Resource>(
    st: &State,
    id: &str,
    o: &Map<String, Value>,
) -> Result<(), AuthError> {
    let Some(name) = opt_str(o, "name") else {
        return Ok(());
    };
    check_name::<R>(&name)?;
    let map = R::map(st);
    let Some(item) = map.get(id) else {
        return Ok(());
    };
    let taken = map
        .iter()
        .any(|(other, r)| other != id && r.name() == name && r.namespace() == item.namespace());
    if taken {
        return Err(AuthError::Conflict {
            kind: R::KIND,
            name,
        });
    }
    Ok(())
}

/// `?enabled=` as Keystone reads it.
pub(super) fn enabled_is(q: &Query_, enabled: Option<bool>) -> bool {
    match (q.get("enabled"), enabled) {
        (Some(e), Some(enabled)) => enabled == (e != "false" && e != "0" && e != "False"),
        _ => true,
    }
}

/// What every kind has the same way: where the state keeps it, and its name.
macro_rules! kept_in {
    ($field:ident) => {
        fn map(st: &State) -> &BTreeMap<String, Self> {
            &st.$field
        }
        fn map_mut(st: &mut State) -> &mut BTreeMap<String, Self> {
            &mut st.$field
        }
        fn name(&self) -> &str {
            &self.name
        }
    };
}

fn name_is(q: &Query_, name: &str) -> bool {
    q.get("name").is_none_or(|n| n == name)
}

fn domain_is(q: &Query_, domain_id: &str) -> bool {
    q.get("domain_id").is_none_or(|d| d == domain_id)
}

fn text(o: &Map<String, Value>, key: &str) -> String {
    opt_str(o, key).unwrap_or_default()
}

fn domain_of(o: &Map<String, Value>) -> String {
    opt_str(o, "domain_id").unwrap_or_else(|| DEFAULT_DOMAIN_ID.into())
}

fn set(field: &mut String, o: &Map<String, Value>, key: &str) {
    if let Some(v) = opt_str(o, key) {
        *field = v;
    }
}

pub(super) async fn list<R: Resource>(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Query(q): Q,
) -> Reply {
    let st = s.lock();
    s.authorize(&st, &headers, &R::POLICY, Op::List, |_| false)?;
    let items: Vec<Value> = R::map(&st)
        .values()
        .filter(|r| r.matches(&q) && enabled_is(&q, r.enabled()))
        .map(|r| r.json(&s))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({R::PLURAL: items, "links": s.list_links(R::PLURAL)}),
    ))
}

pub(super) async fn show<R: Resource>(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    let st = s.lock();
    s.authorize(&st, &headers, &R::POLICY, Op::Show, |t| {
        R::owns(&st, t, &id)
    })?;
    let item = R::map(&st).get(&id).ok_or_else(|| missing(R::KIND, &id))?;
    Ok(json_response(
        StatusCode::OK,
        json!({R::KIND: item.json(&s)}),
    ))
}

pub(super) async fn create<R: Resource>(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Body(body): Body,
) -> Reply {
    let mut st = s.lock();
    s.authorize(&st, &headers, &R::POLICY, Op::Create, |_| false)?;
    let o = object(&body, R::KIND)?;
    let name = opt_str(o, "name")
        .ok_or_else(|| ApiError::from(bad(format!("{} needs a name", R::KIND))))?;
    check_name::<R>(&name)?;
    let item = R::create(&mut st, &name, o)?;
    s.save(&st);
    Ok(json_response(
        StatusCode::CREATED,
        json!({R::KIND: item.json(&s)}),
    ))
}

pub(super) async fn update<R: Resource>(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    let mut st = s.lock();
    s.authorize(&st, &headers, &R::POLICY, Op::Update, |t| {
        R::owns(&st, t, &id)
    })?;
    let o = object(&body, R::KIND)?.clone();
    check_rename::<R>(&st, &id, &o)?;
    let hashing = st.hashing;
    let item = R::map_mut(&mut st)
        .get_mut(&id)
        .ok_or_else(|| missing(R::KIND, &id))?;
    item.update(&o, &hashing);
    let item = item.clone();
    s.save(&st);
    Ok(json_response(
        StatusCode::OK,
        json!({R::KIND: item.json(&s)}),
    ))
}

pub(super) async fn delete<R: Resource>(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    let mut st = s.lock();
    s.authorize(&st, &headers, &R::POLICY, Op::Delete, |t| {
        R::owns(&st, t, &id)
    })?;
    R::delete(&mut st, &id)?;
    s.save(&st);
    Ok(StatusCode::NO_CONTENT.into_response())
}

impl Resource for Domain {
    const KIND: &'static str = "domain";
    const PLURAL: &'static str = "domains";
    const POLICY: Policy = of::DOMAIN;

    const MAX_NAME: usize = 64;

    kept_in!(domains);
    /// A domain is the own of those scoped to it or to one of its projects.
    fn owns(st: &State, caller: &Token, id: &str) -> bool {
        match &caller.scope {
            Scope::Domain(d) => d == id,
            Scope::Project(p) => st.projects.get(p).is_some_and(|p| p.domain_id == id),
            _ => false,
        }
    }
    fn enabled(&self) -> Option<bool> {
        Some(self.enabled)
    }
    fn json(&self, s: &Service) -> Value {
        s.domain_json(self)
    }
    fn matches(&self, q: &Query_) -> bool {
        name_is(q, &self.name)
    }
    fn create(st: &mut State, name: &str, o: &Map<String, Value>) -> Result<Self, AuthError> {
        st.create_domain(name, &text(o, "description"), opt_bool(o, "enabled", true))
    }
    fn update(&mut self, o: &Map<String, Value>, _: &Hashing) {
        set(&mut self.name, o, "name");
        set(&mut self.description, o, "description");
        self.enabled = opt_bool(o, "enabled", self.enabled);
        // Disabling ends the tokens for good, as Keystone's revocation event does.
        if !self.enabled {
            self.revoked_before = super::now_micros();
        }
    }
    fn delete(st: &mut State, id: &str) -> Result<(), AuthError> {
        st.delete_domain(id)
    }
}

impl Resource for Project {
    const KIND: &'static str = "project";
    const PLURAL: &'static str = "projects";
    /// Others list theirs through `/v3/auth/projects` (Keystone's default policy).
    const POLICY: Policy = of::PROJECT;

    const MAX_NAME: usize = 64;

    kept_in!(projects);
    fn namespace(&self) -> &str {
        &self.domain_id
    }
    fn enabled(&self) -> Option<bool> {
        Some(self.enabled)
    }
    fn json(&self, s: &Service) -> Value {
        s.project_json(self)
    }
    fn matches(&self, q: &Query_) -> bool {
        let parent = self.parent_id.as_ref().unwrap_or(&self.domain_id);
        name_is(q, &self.name)
            && domain_is(q, &self.domain_id)
            && q.get("parent_id").is_none_or(|p| p == parent)
            && crate::clone::auth::tags::tags_match(q, &self.tags)
    }
    /// A project is its members': those with a token scoped to it.
    fn owns(_: &State, caller: &Token, id: &str) -> bool {
        caller.scope == Scope::Project(id.to_string())
    }
    fn create(st: &mut State, name: &str, o: &Map<String, Value>) -> Result<Self, AuthError> {
        // Under a parent, the domain is the parent's unless given.
        let parent = opt_str(o, "parent_id");
        let domain = match (opt_str(o, "domain_id"), &parent) {
            (Some(d), _) => d,
            (None, Some(p)) => {
                st.projects
                    .get(p)
                    .map(|p| p.domain_id.clone())
                    .ok_or_else(|| AuthError::NotFound {
                        kind: "project",
                        id: p.clone(),
                    })?
            }
            (None, None) => DEFAULT_DOMAIN_ID.into(),
        };
        let tags = match o.get("tags") {
            None => Vec::new(),
            Some(v) => crate::clone::auth::tags::checked(
                &serde_json::from_value::<Vec<String>>(v.clone())
                    .map_err(|_| AuthError::BadRequest("tags: a list of strings".into()))?,
            )?,
        };
        let mut p = st.create_project(
            name,
            &domain,
            parent.as_deref(),
            &text(o, "description"),
            opt_bool(o, "enabled", true),
        )?;
        if !tags.is_empty() {
            p.tags = st.set_tags(&p.id, &tags)?;
        }
        Ok(p)
    }
    fn update(&mut self, o: &Map<String, Value>, _: &Hashing) {
        set(&mut self.name, o, "name");
        set(&mut self.description, o, "description");
        self.enabled = opt_bool(o, "enabled", self.enabled);
        // Disabling ends the tokens for good, as Keystone's revocation event does.
        if !self.enabled {
            self.revoked_before = super::now_micros();
        }
    }
    fn delete(st: &mut State, id: &str) -> Result<(), AuthError> {
        st.delete_project(id)
    }
}

/// Fields of a user that are not kept as its extra attributes.
const USER_FIELDS: &[&str] = &[
    "id",
    "name",
    "domain_id",
    "enabled",
    "password",
    "default_project_id",
    "links",
    "options",
];

fn user_extra(o: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    o.iter().filter(|(k, _)| !USER_FIELDS.contains(&k.as_str()))
}

impl Resource for User {
    const KIND: &'static str = "user";
    const PLURAL: &'static str = "users";
    const POLICY: Policy = of::USER;

    const MAX_NAME: usize = 255;

    kept_in!(users);
    fn namespace(&self) -> &str {
        &self.domain_id
    }
    fn enabled(&self) -> Option<bool> {
        Some(self.enabled)
    }
    fn json(&self, s: &Service) -> Value {
        s.user_json(self)
    }
    fn matches(&self, q: &Query_) -> bool {
        name_is(q, &self.name) && domain_is(q, &self.domain_id)
    }
    /// A user is its own.
    fn owns(_: &State, caller: &Token, id: &str) -> bool {
        caller.user_id == id
    }
    fn create(st: &mut State, name: &str, o: &Map<String, Value>) -> Result<Self, AuthError> {
        let extra = user_extra(o).map(|(k, v)| (k.clone(), v.clone())).collect();
        st.create_user(
            name,
            &domain_of(o),
            opt_str(o, "password").as_deref(),
            opt_bool(o, "enabled", true),
            opt_str(o, "default_project_id"),
            extra,
        )
    }
    fn update(&mut self, o: &Map<String, Value>, hashing: &Hashing) {
        set(&mut self.name, o, "name");
        let enabled = opt_bool(o, "enabled", self.enabled);
        // A new password or a disabled user ends the user's tokens, as in Keystone.
        if opt_str(o, "password").is_some() || !enabled {
            self.revoked_before = super::now_micros();
        }
        if let Some(p) = opt_str(o, "password") {
            self.password = hashing.hash(&p);
        }
        if let Some(p) = opt_str(o, "default_project_id") {
            self.default_project_id = Some(p);
        }
        self.enabled = enabled;
        for (k, v) in user_extra(o) {
            self.extra.insert(k.clone(), v.clone());
        }
    }
    fn delete(st: &mut State, id: &str) -> Result<(), AuthError> {
        st.delete_user(id)
    }
}

impl Resource for Role {
    const KIND: &'static str = "role";
    const PLURAL: &'static str = "roles";
    const POLICY: Policy = of::ROLE;

    const MAX_NAME: usize = 255;

    kept_in!(roles);
    fn namespace(&self) -> &str {
        self.domain_id.as_deref().unwrap_or("")
    }
    fn json(&self, s: &Service) -> Value {
        s.role_json(self)
    }
    /// Keystone lists global roles, or with `?domain_id=` that domain's roles.
    fn matches(&self, q: &Query_) -> bool {
        name_is(q, &self.name) && q.get("domain_id") == self.domain_id.as_ref()
    }
    fn create(st: &mut State, name: &str, o: &Map<String, Value>) -> Result<Self, AuthError> {
        st.create_role(
            name,
            &text(o, "description"),
            opt_str(o, "domain_id").as_deref(),
        )
    }
    fn update(&mut self, o: &Map<String, Value>, _: &Hashing) {
        set(&mut self.name, o, "name");
        set(&mut self.description, o, "description");
    }
    fn delete(st: &mut State, id: &str) -> Result<(), AuthError> {
        st.delete_role(id)
    }
}

impl Resource for Group {
    const KIND: &'static str = "group";
    const PLURAL: &'static str = "groups";
    const POLICY: Policy = of::GROUP;

    const MAX_NAME: usize = 64;

    kept_in!(groups);
    fn namespace(&self) -> &str {
        &self.domain_id
    }
    fn json(&self, s: &Service) -> Value {
        s.group_json(self)
    }
    fn matches(&self, q: &Query_) -> bool {
        name_is(q, &self.name)
    }
    fn create(st: &mut State, name: &str, o: &Map<String, Value>) -> Result<Self, AuthError> {
        st.create_group(name, &domain_of(o), &text(o, "description"))
    }
    fn update(&mut self, o: &Map<String, Value>, _: &Hashing) {
        set(&mut self.name, o, "name");
        set(&mut self.description, o, "description");
    }
    fn delete(st: &mut State, id: &str) -> Result<(), AuthError> {
        st.delete_group(id)
    }
}
