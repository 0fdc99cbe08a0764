//! Identity's named entities (domains, projects, users, roles and groups) as
//! collections: what they share (a unique name within a namespace, `enabled`, name and
//! `?name=`/`?enabled=` filters) is written once here, over [`Entity`]; what differs (the
//! query filters, which fields a change takes, what is the caller's own) is each
//! kind's impl.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde_json::Value;

use super::collection::{Answer, Call, Collection, Fields, Meta, Query_};
use super::{Service, opt_bool, opt_str};
use crate::clone::auth::error::{AuthError, not_found};
use crate::clone::auth::model::{
    DEFAULT_DOMAIN_ID, Domain, Group, Project, Role, Scope, State, Token, User,
};
use crate::clone::auth::policy::of;
use crate::clone::auth::tokens::Hashing;

pub(super) trait Entity: Clone + Sized + Send + Sync + 'static {
    /// Its names and policy (the path is the plural).
    const META: Meta;

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
    fn create(st: &mut State, name: &str, o: &Fields) -> Result<Self, AuthError>;
    /// `hashing`: for a new password.
    fn update(&mut self, o: &Fields, hashing: &Hashing);
    fn delete(st: &mut State, id: &str) -> Result<(), AuthError>;
}

/// A name as Keystone's schema takes it: not blank, at most `R::MAX_NAME` long.
pub(super) fn check_name<R: Entity>(name: &str) -> Result<(), AuthError> {
    if name.trim().is_empty() || name.chars().count() > R::MAX_NAME {
        return Err(AuthError::BadRequest(format!(
            "Invalid input for field 'name': a {} name is 1 to {} characters",
            R::META.kind,
            R::MAX_NAME
        )));
    }
    Ok(())
}

/// A rename must not take another's name in the same namespace (Keystone: 409).
pub(super) fn check_rename<R: Entity>(st: &State, id: &str, o: &Fields) -> Result<(), AuthError> {
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
            kind: R::META.kind,
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

fn text(o: &Fields, key: &str) -> String {
    opt_str(o, key).unwrap_or_default()
}

fn domain_of(o: &Fields) -> String {
    opt_str(o, "domain_id").unwrap_or_else(|| DEFAULT_DOMAIN_ID.into())
}

fn set(field: &mut String, o: &Fields, key: &str) {
    if let Some(v) = opt_str(o, key) {
        *field = v;
    }
}

/// An [`Entity`] kind as a collection.
pub(super) struct Entities<T>(PhantomData<fn() -> T>);

impl<T> Entities<T> {
    pub(super) const fn new() -> Entities<T> {
        Entities(PhantomData)
    }
}

pub(super) static DOMAINS: Entities<Domain> = Entities::new();
pub(super) static USERS: Entities<User> = Entities::new();
pub(super) static ROLES: Entities<Role> = Entities::new();
pub(super) static GROUPS: Entities<Group> = Entities::new();

impl<T: Entity> Collection for Entities<T> {
    fn meta(&self) -> Meta {
        T::META
    }

    fn owns(&self, st: &State, caller: &Token, id: &str) -> bool {
        T::owns(st, caller, id)
    }

    fn list(&self, c: &Call, q: &Query_) -> Vec<Value> {
        let (s, st) = (c.s, &*c.st);
        T::map(st)
            .values()
            .filter(|r| r.matches(q) && enabled_is(q, r.enabled()))
            .map(|r| r.json(s))
            .collect()
    }

    fn show(&self, c: &Call, id: &str) -> Answer {
        let (s, st) = (c.s, &*c.st);
        let item = T::map(st)
            .get(id)
            .ok_or_else(|| not_found(T::META.kind, id))?;
        Ok(item.json(s))
    }

    fn create(&self, c: &mut Call, o: &Fields) -> Answer {
        let (s, st) = (c.s, &mut *c.st);
        let name = opt_str(o, "name")
            .ok_or_else(|| AuthError::BadRequest(format!("{} needs a name", T::META.kind)))?;
        check_name::<T>(&name)?;
        Ok(T::create(st, &name, o)?.json(s))
    }

    fn update(&self, c: &mut Call, id: &str, o: &Fields) -> Answer {
        let (s, st) = (c.s, &mut *c.st);
        check_rename::<T>(st, id, o)?;
        let hashing = st.hashing;
        let item = T::map_mut(st)
            .get_mut(id)
            .ok_or_else(|| not_found(T::META.kind, id))?;
        item.update(o, &hashing);
        Ok(item.json(s))
    }

    fn delete(&self, c: &mut Call, id: &str) -> Result<(), AuthError> {
        let st = &mut *c.st;
        T::delete(st, id)
    }
}

impl Entity for Domain {
    const META: Meta = Meta {
        kind: "domain",
        plural: "domains",
        path: "domains",
        policy: &of::DOMAIN,
    };
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
    fn create(st: &mut State, name: &str, o: &Fields) -> Result<Self, AuthError> {
        st.create_domain(name, &text(o, "description"), opt_bool(o, "enabled", true))
    }
    fn update(&mut self, o: &Fields, _: &Hashing) {
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

impl Entity for Project {
    /// Others list theirs through `/v3/auth/projects` (Keystone's default policy).
    const META: Meta = Meta {
        kind: "project",
        plural: "projects",
        path: "projects",
        policy: &of::PROJECT,
    };
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
    fn create(st: &mut State, name: &str, o: &Fields) -> Result<Self, AuthError> {
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
    fn update(&mut self, o: &Fields, _: &Hashing) {
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

fn user_extra(o: &Fields) -> impl Iterator<Item = (&String, &Value)> {
    o.iter().filter(|(k, _)| !USER_FIELDS.contains(&k.as_str()))
}

impl Entity for User {
    const META: Meta = Meta {
        kind: "user",
        plural: "users",
        path: "users",
        policy: &of::USER,
    };
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
    fn create(st: &mut State, name: &str, o: &Fields) -> Result<Self, AuthError> {
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
    fn update(&mut self, o: &Fields, hashing: &Hashing) {
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

impl Entity for Role {
    const META: Meta = Meta {
        kind: "role",
        plural: "roles",
        path: "roles",
        policy: &of::ROLE,
    };
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
    fn create(st: &mut State, name: &str, o: &Fields) -> Result<Self, AuthError> {
        st.create_role(
            name,
            &text(o, "description"),
            opt_str(o, "domain_id").as_deref(),
        )
    }
    fn update(&mut self, o: &Fields, _: &Hashing) {
        set(&mut self.name, o, "name");
        set(&mut self.description, o, "description");
    }
    fn delete(st: &mut State, id: &str) -> Result<(), AuthError> {
        st.delete_role(id)
    }
}

impl Entity for Group {
    const META: Meta = Meta {
        kind: "group",
        plural: "groups",
        path: "groups",
        policy: &of::GROUP,
    };
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
    fn create(st: &mut State, name: &str, o: &Fields) -> Result<Self, AuthError> {
        st.create_group(name, &domain_of(o), &text(o, "description"))
    }
    fn update(&mut self, o: &Fields, _: &Hashing) {
        set(&mut self.name, o, "name");
        set(&mut self.description, o, "description");
    }
    fn delete(st: &mut State, id: &str) -> Result<(), AuthError> {
        st.delete_group(id)
    }
}
