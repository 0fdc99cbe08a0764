//! [`RecordKind`]s (policies, OAuth1 consumers, endpoint groups) as collections under
//! `/v3/<path>`, all for admins, as Keystone's default policy has them.

use axum::Router;
use serde_json::Value;

use super::collection::{self, Answer, Call, Collection, Fields, Meta, Query_};
use super::{Service, Shared};
use crate::clone::auth::error::AuthError;
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

impl Collection for RecordKind {
    fn meta(&self) -> Meta {
        Meta {
            kind: self.singular,
            plural: self.plural,
            path: self.path,
            policy: self.policy,
        }
    }

    fn list(&self, c: &Call, q: &Query_) -> Vec<Value> {
        let (s, st) = (c.s, &*c.st);
        self.list(st, q)
            .into_iter()
            .map(|r| s.record_json(self, &self.shown(r)))
            .collect()
    }

    fn show(&self, c: &Call, id: &str) -> Answer {
        let (s, st) = (c.s, &*c.st);
        Ok(s.record_json(self, &self.shown(self.get(st, id)?)))
    }

    fn create(&self, c: &mut Call, o: &Fields) -> Answer {
        let (s, st) = (c.s, &mut *c.st);
        Ok(s.record_json(self, &RecordKind::create(self, st, o)?))
    }

    fn update(&self, c: &mut Call, id: &str, o: &Fields) -> Answer {
        let (s, st) = (c.s, &mut *c.st);
        let r = RecordKind::update(self, st, id, o)?;
        Ok(s.record_json(self, &self.shown(&r)))
    }

    fn delete(&self, c: &mut Call, id: &str) -> Result<(), AuthError> {
        let st = &mut *c.st;
        RecordKind::delete(self, st, id)
    }
}

/// Every kind's routes.
pub(super) fn routes(router: Router<Shared>) -> Router<Shared> {
    KINDS
        .iter()
        .fold(router, |router, &kind| collection::routes(router, kind))
}
