//! The routes of [`RecordKind`]s: list, create, show (and `HEAD` to check), update and
//! delete under `/v3/<path>`, all for admins, as Keystone's default policy has them.

use crate::clone::auth::policy::Op;
use axum::Router;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};

use super::{Body, Q, Reply, Service, Shared, authorized_change, json_response, object};
use crate::clone::auth::records::{KINDS, Record, RecordKind};

impl Service {
    fn record_json(&self, kind: &RecordKind, r: &Record) -> Value {
        let mut r = r.clone();
        let id = r.get("id").and_then(Value::as_str).unwrap_or_default();
        let link = self.link(&format!("{}/{id}", kind.path));
        r.insert("links".into(), link);
        Value::Object(r)
    }
}

async fn list(kind: &'static RecordKind, s: Shared, headers: HeaderMap, q: Q) -> Reply {
    let Query(q) = q;
    let st = s.lock();
    s.authorize(&st, &headers, kind.policy, Op::List, |_| false)?;
    let items: Vec<Value> = kind
        .list(&st, &q)
        .into_iter()
        .map(|r| s.record_json(kind, &kind.shown(r)))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({kind.plural: items, "links": s.list_links(kind.path)}),
    ))
}

async fn show(kind: &'static RecordKind, s: Shared, headers: HeaderMap, id: String) -> Reply {
    let st = s.lock();
    s.authorize(&st, &headers, kind.policy, Op::Show, |_| false)?;
    let r = kind.get(&st, &id)?;
    Ok(json_response(
        StatusCode::OK,
        json!({kind.singular: s.record_json(kind, &kind.shown(r))}),
    ))
}

async fn create(kind: &'static RecordKind, s: Shared, headers: HeaderMap, body: Value) -> Reply {
    authorized_change(&s, &headers, kind.policy, Op::Create, |st| {
        let fields = object(&body, kind.singular)?;
        let r = kind.create(st, fields)?;
        Ok(Some((
            StatusCode::CREATED,
            json!({kind.singular: s.record_json(kind, &r)}),
        )))
    })
}

async fn update(
    kind: &'static RecordKind,
    s: Shared,
    headers: HeaderMap,
    id: String,
    body: Value,
) -> Reply {
    authorized_change(&s, &headers, kind.policy, Op::Update, |st| {
        let fields = object(&body, kind.singular)?;
        let r = kind.update(st, &id, fields)?;
        Ok(Some((
            StatusCode::OK,
            json!({kind.singular: s.record_json(kind, &kind.shown(&r))}),
        )))
    })
}

async fn delete(kind: &'static RecordKind, s: Shared, headers: HeaderMap, id: String) -> Reply {
    authorized_change(&s, &headers, kind.policy, Op::Delete, |st| {
        kind.delete(st, &id)?;
        Ok(None)
    })
}

/// Every kind's routes.
pub(super) fn routes(mut router: Router<Shared>) -> Router<Shared> {
    for &kind in KINDS {
        router = router
            .route(
                &format!("/v3/{}", kind.path),
                get(move |AxState(s), h, q| list(kind, s, h, q))
                    .post(move |AxState(s), h, Body(b)| create(kind, s, h, b)),
            )
            .route(
                &format!("/v3/{}/{{id}}", kind.path),
                get(move |AxState(s), h, Path(id)| show(kind, s, h, id))
                    .patch(move |AxState(s), h, Path(id), Body(b)| update(kind, s, h, id, b))
                    .delete(move |AxState(s), h, Path(id)| delete(kind, s, h, id)),
            );
    }
    router
}
