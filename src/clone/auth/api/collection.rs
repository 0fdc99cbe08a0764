//! The one way the auth clone serves a collection: `routes(router, &C)` gives
//! `/v3/{path}` list and create and `/v3/{path}/{id}` show, update (PATCH) and delete,
//! with the collection's policy (`auth/policy.rs`) enforced here, before the
//! collection's own code runs, and the state saved after every change. A collection says
//! what it is (`Meta`), what of it is the caller's own, and how it lists, shows, makes,
//! changes and removes its items. Calls that are not one of these five (tokens, grants,
//! memberships) are handlers of their own that check the same policies.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::{Body, Q, Reply, Service, Shared, json_response, object};
use crate::clone::auth::error::AuthError;
use crate::clone::auth::model::{State, Token};
use crate::clone::auth::policy::{Op, Policy};

/// What a collection is called and who may use it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Meta {
    /// One item's key in bodies, and its name in errors (`endpoint_group`).
    pub kind: &'static str,
    /// The list's key (`endpoint_groups`).
    pub plural: &'static str,
    /// Under `/v3/` (`OS-EP-FILTER/endpoint_groups`).
    pub path: &'static str,
    pub policy: &'static Policy,
}

pub(super) type Query_ = HashMap<String, String>;
/// A request's object (`{"user": {...}}`'s inner part).
pub(super) type Fields = Map<String, Value>;
/// What a collection's code answers: the view of what it shows, made or changed.
pub(super) type Answer = Result<Value, AuthError>;

/// What a collection's code works with: the service (links, the seeded catalog), the
/// locked state, and the caller the policy let in.
pub(super) struct Call<'a> {
    pub s: &'a Service,
    pub st: &'a mut State,
    pub caller: &'a Token,
}

pub(super) trait Collection: Send + Sync + 'static {
    fn meta(&self) -> Meta;
    /// Whether item `id` is the caller's own, for the policy's `Own` rules.
    fn owns(&self, _st: &State, _caller: &Token, _id: &str) -> bool {
        false
    }
    /// Whether what a create asks for is the caller's own (a credential for itself).
    fn owns_request(&self, _caller: &Token, _o: &Fields) -> bool {
        false
    }
    /// The items passing the query's filters that the caller may see, rendered.
    fn list(&self, c: &Call, q: &Query_) -> Vec<Value>;
    fn show(&self, c: &Call, id: &str) -> Answer;
    /// Makes one (the policy allowed it), answering its view.
    fn create(&self, c: &mut Call, o: &Fields) -> Answer;
    /// Changes `id` (the policy allowed it), answering its view.
    fn update(&self, c: &mut Call, id: &str, o: &Fields) -> Answer;
    fn delete(&self, c: &mut Call, id: &str) -> Result<(), AuthError>;
}

/// The routes of `c`.
pub(super) fn routes(router: Router<Shared>, c: &'static dyn Collection) -> Router<Shared> {
    let path = c.meta().path;
    router
        .route(
            &format!("/v3/{path}"),
            get(move |AxState(s), h, q| list(c, s, h, q))
                .post(move |AxState(s), h, Body(b)| create(c, s, h, b)),
        )
        .route(
            &format!("/v3/{path}/{{id}}"),
            get(move |AxState(s), h, Path(id)| show(c, s, h, id))
                .patch(move |AxState(s), h, Path(id), Body(b)| update(c, s, h, id, b))
                .delete(move |AxState(s), h, Path(id)| delete(c, s, h, id)),
        )
}

async fn list(c: &'static dyn Collection, s: Shared, headers: HeaderMap, q: Q) -> Reply {
    let Query(q) = q;
    let meta = c.meta();
    let mut st = s.lock();
    let caller = s.authorize(&st, &headers, meta.policy, Op::List, |_| false)?;
    let call = Call {
        s: &s,
        st: &mut st,
        caller: &caller,
    };
    let items = c.list(&call, &q);
    Ok(json_response(
        StatusCode::OK,
        json!({meta.plural: items, "links": s.list_links(meta.path)}),
    ))
}

async fn show(c: &'static dyn Collection, s: Shared, headers: HeaderMap, id: String) -> Reply {
    let meta = c.meta();
    let mut st = s.lock();
    let caller = s.authorize(&st, &headers, meta.policy, Op::Show, |t| {
        c.owns(&st, t, &id)
    })?;
    let item = c.show(
        &Call {
            s: &s,
            st: &mut st,
            caller: &caller,
        },
        &id,
    )?;
    Ok(json_response(StatusCode::OK, json!({meta.kind: item})))
}

async fn create(c: &'static dyn Collection, s: Shared, headers: HeaderMap, body: Value) -> Reply {
    let meta = c.meta();
    let requested = body.get(meta.kind).and_then(Value::as_object);
    let mut st = s.lock();
    let caller = s.authorize(&st, &headers, meta.policy, Op::Create, |t| {
        requested.is_some_and(|o| c.owns_request(t, o))
    })?;
    let o = object(&body, meta.kind)?;
    let item = c.create(
        &mut Call {
            s: &s,
            st: &mut st,
            caller: &caller,
        },
        o,
    )?;
    s.save(&st);
    Ok(json_response(StatusCode::CREATED, json!({meta.kind: item})))
}

async fn update(
    c: &'static dyn Collection,
    s: Shared,
    headers: HeaderMap,
    id: String,
    body: Value,
) -> Reply {
    let meta = c.meta();
    let mut st = s.lock();
    let caller = s.authorize(&st, &headers, meta.policy, Op::Update, |t| {
        c.owns(&st, t, &id)
    })?;
    let o = object(&body, meta.kind)?;
    let item = c.update(
        &mut Call {
            s: &s,
            st: &mut st,
            caller: &caller,
        },
        &id,
        o,
    )?;
    s.save(&st);
    Ok(json_response(StatusCode::OK, json!({meta.kind: item})))
}

async fn delete(c: &'static dyn Collection, s: Shared, headers: HeaderMap, id: String) -> Reply {
    let meta = c.meta();
    let mut st = s.lock();
    let caller = s.authorize(&st, &headers, meta.policy, Op::Delete, |t| {
        c.owns(&st, t, &id)
    })?;
    c.delete(
        &mut Call {
            s: &s,
            st: &mut st,
            caller: &caller,
        },
        &id,
    )?;
    s.save(&st);
    Ok(StatusCode::NO_CONTENT.into_response())
}
