//! The one way a collection is served: `routes::<R>()` gives `/v2.0/{R::PATH}` list and
//! create and `/v2.0/{R::PATH}/{id}` show, update and delete, with the resource's
//! [`Policy`](crate::clone::sdn::policy::Policy) enforced here, before the resource's
//! own code runs. A resource says what it is (`Resource`), who may do what
//! (`Guarded::POLICY`), and how it is made, changed and removed.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::{Body, Reply, Shared, body_object, listed, ok, shown};
use crate::clone::sdn::error::SdnError;
use crate::clone::sdn::model::State;
use crate::clone::sdn::policy::Guarded;
use crate::clone::sdn::service::Locked;
use crate::clone::sdn::token::Caller;

/// A request's object (`{"network": {...}}`'s inner part).
pub(in crate::clone::sdn) type Fields = Map<String, Value>;
/// What a resource's code answers: the view of what it made or changed.
pub(in crate::clone::sdn) type Answer = Result<Value, SdnError>;

pub(in crate::clone::sdn) trait Resource: Guarded + Sized + 'static {
    /// The key of one in a body (`security_group`).
    const SINGULAR: &'static str;
    /// The key of a list in a body (`security_groups`).
    const PLURAL: &'static str;
    /// The collection in the path (`security-groups`).
    const PATH: &'static str;
    /// Whether it takes `PUT` (rules do not).
    const UPDATABLE: bool = true;

    fn map(st: &State) -> &BTreeMap<String, Self>;
    fn json(&self, st: &State) -> Value;

    /// The project a request makes one for: the caller's own, or the one an admin
    /// names (`tenant_id`/`project_id`), as Neutron's `populate_project_info`.
    fn project_of(_st: &State, caller: &Caller, o: &Fields) -> Result<String, SdnError> {
        project_of_request(caller, o)
    }
    /// Makes one for `project` (the policy allowed it), answering its view.
    fn create(st: &mut State, caller: &Caller, project: &str, o: &Fields) -> Answer;
    /// Changes `id` (the policy allowed it), answering its view. A refused change
    /// leaves nothing behind: check first, then change.
    fn update(_st: &mut State, _caller: &Caller, _id: &str, _o: &Fields) -> Answer {
        Err(SdnError::BadRequest(format!(
            "{} cannot be updated",
            Self::PLURAL
        )))
    }
    fn delete(st: &mut State, id: &str) -> Result<(), SdnError>;
    /// What a list does first (each project's `default` security group is made then);
    /// the state is written through only if this changes it.
    fn before_list(_st: &mut Locked<'_>, _caller: &Caller) {}
}

/// The project of a create: naming another is an admin's (Neutron's 400).
pub(in crate::clone::sdn) fn project_of_request(
    caller: &Caller,
    o: &Fields,
) -> Result<String, SdnError> {
    let named = ["tenant_id", "project_id"]
        .iter()
        .find_map(|k| o.get(*k).and_then(Value::as_str));
    match named {
        Some(p) if p != caller.project_id && !caller.admin => Err(SdnError::BadRequest(
            "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges".into(),
        )),
        Some(p) => Ok(p.to_string()),
        None => Ok(caller.project_id.clone()),
    }
}

/// The item `id` of `R` if the caller may see it, else Neutron's not-found.
pub(in crate::clone::sdn) fn seen<'a, R: Resource>(
    st: &'a State,
    caller: &Caller,
    id: &str,
) -> Result<&'a R, SdnError> {
    let item = R::map(st).get(id);
    R::POLICY.show(st, caller, id, item)?;
    Ok(item.expect("shown above"))
}

/// The item `id` of `R` if the caller may change it: 404 or 403 as Neutron answers.
pub(in crate::clone::sdn) fn changeable<R: Resource>(
    st: &State,
    caller: &Caller,
    id: &str,
) -> Result<(), SdnError> {
    R::POLICY.change(st, caller, id, R::map(st).get(id))
}

/// The routes of `R`.
pub(in crate::clone::sdn) fn routes<R: Resource>(router: Router<Shared>) -> Router<Shared> {
    let item = get(show::<R>).delete(delete::<R>);
    let item = if R::UPDATABLE {
        item.put(update::<R>)
    } else {
        item
    };
    router
        .route(
            &format!("/v2.0/{}", R::PATH),
            get(list::<R>).post(create::<R>),
        )
        .route(&format!("/v2.0/{}/{{id}}", R::PATH), item)
}

async fn list<R: Resource>(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
) -> Reply {
    let mut st = svc.lock();
    R::before_list(&mut st, &caller);
    let items: Vec<Value> = R::map(&st)
        .values()
        .filter(|x| R::POLICY.may_read(&st, &caller, *x))
        .map(|x| x.json(&st))
        .collect();
    listed(&svc, R::PLURAL, items, &uri, &headers)
}

/// One (`{"port": {...}}`) or several at once (`{"ports": [...]}`, all or none).
async fn create<R: Resource>(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Body(body): Body,
) -> Reply {
    let mut st = svc.lock();
    let one = |st: &mut State, o: &Fields| {
        let project = R::project_of(st, &caller, o)?;
        R::POLICY.create(&caller, &project)?;
        R::POLICY.fields(&caller, o, true)?;
        R::create(st, &caller, &project, o)
    };
    if let Some(items) = body.get(R::PLURAL).and_then(Value::as_array) {
        let before = (*st).clone();
        let mut made = Vec::new();
        for item in items {
            let result = item
                .as_object()
                .ok_or_else(|| {
                    SdnError::BadRequest(format!("{}: expected a list of objects", R::PLURAL))
                })
                .and_then(|o| one(&mut st, o));
            match result {
                Ok(v) => made.push(v),
                Err(e) => {
                    *st = before;
                    return Err(e.into());
                }
            }
        }
        return ok(StatusCode::CREATED, json!({ R::PLURAL: made }));
    }
    let made = one(&mut st, body_object(&body, R::SINGULAR)?)?;
    ok(StatusCode::CREATED, json!({ R::SINGULAR: made }))
}

async fn show<R: Resource>(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
) -> Reply {
    let st = svc.lock();
    let item = seen::<R>(&st, &caller, &id)?;
    shown(R::SINGULAR, item.json(&st), &uri)
}

async fn update<R: Resource>(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    let o = body_object(&body, R::SINGULAR)?;
    let mut st = svc.lock();
    changeable::<R>(&st, &caller, &id)?;
    R::POLICY.fields(&caller, o, false)?;
    let v = R::update(&mut st, &caller, &id, o)?;
    ok(StatusCode::OK, json!({ R::SINGULAR: v }))
}

async fn delete<R: Resource>(
    AxState(svc): AxState<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Reply {
    let mut st = svc.lock();
    changeable::<R>(&st, &caller, &id)?;
    R::delete(&mut st, &id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
