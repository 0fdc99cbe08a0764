//! Records Keystone keeps for others to read and the clone keeps the same way, without
//! acting on them: policies (`/v3/policies`, a blob and its type: Keystone only stores
//! them too), OAuth1 consumers (`/v3/OS-OAUTH1/consumers`; the clone has no OAuth1 token
//! flow) and endpoint groups (`/v3/OS-EP-FILTER/endpoint_groups`; the clone's catalog is
//! not filtered by project). Each kind is a [`RecordKind`]: its names, what a create or
//! an update must hold, the list filters it honours.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::AuthError;
use super::model::State;
use crate::clone::new_id;

/// A record as stored: its id under `"id"`, and the fields it was given.
pub type Record = Map<String, Value>;

pub struct RecordKind {
    /// In bodies and errors ("policy").
    pub singular: &'static str,
    /// The list's key, and where the state keeps them ("policies").
    pub plural: &'static str,
    /// Under `/v3/`.
    pub path: &'static str,
    /// Query keys a list is filtered on (equality, as Keystone's hints).
    pub filters: &'static [&'static str],
    /// A generated field shown only in the create's answer (a consumer's secret).
    pub secret: Option<&'static str>,
    /// Checks a create (`true`) or an update's fields.
    check: fn(&Record, bool) -> Result<(), AuthError>,
    /// Who may do what with them.
    pub policy: &'static crate::clone::auth::policy::Policy,
}

pub const POLICY: RecordKind = RecordKind {
    singular: "policy",
    plural: "policies",
    path: "policies",
    filters: &["type"],
    secret: None,
    check: check_policy,
    policy: &crate::clone::auth::policy::of::POLICY,
};

pub const CONSUMER: RecordKind = RecordKind {
    singular: "consumer",
    plural: "consumers",
    path: "OS-OAUTH1/consumers",
    filters: &[],
    secret: Some("secret"),
    check: check_consumer,
    policy: &crate::clone::auth::policy::of::CONSUMER,
};

pub const ENDPOINT_GROUP: RecordKind = RecordKind {
    singular: "endpoint_group",
    plural: "endpoint_groups",
    path: "OS-EP-FILTER/endpoint_groups",
    filters: &["name"],
    secret: None,
    check: check_endpoint_group,
    policy: &crate::clone::auth::policy::of::ENDPOINT_GROUP,
};

pub const KINDS: &[&RecordKind] = &[&POLICY, &CONSUMER, &ENDPOINT_GROUP];

fn invalid(field: &str, why: &str) -> AuthError {
    AuthError::BadRequest(format!("Invalid input for field '{field}': {why}"))
}

/// A string field, required or not, of at most `max` characters.
fn string(o: &Record, field: &str, required: bool, max: usize) -> Result<(), AuthError> {
    match o.get(field) {
        None if required => Err(invalid(field, "it is a required property")),
        None => Ok(()),
        Some(Value::Null) if !required => Ok(()),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(()),
        Some(Value::String(_)) => Err(invalid(field, &format!("longer than {max} characters"))),
        Some(_) => Err(invalid(field, "it is not a string")),
    }
}

fn check_policy(o: &Record, creating: bool) -> Result<(), AuthError> {
    string(o, "blob", creating, usize::MAX)?;
    string(o, "type", creating, 255)
}

fn check_consumer(o: &Record, creating: bool) -> Result<(), AuthError> {
    if !creating && o.contains_key("secret") {
        return Err(AuthError::BadRequest(
            "Cannot change consumer secret".into(),
        ));
    }
    string(o, "description", false, usize::MAX)
}

/// Keystone's endpoint group filters: a subset of these keys, each a string.
const ENDPOINT_FILTERS: &[&str] = &["interface", "service_id", "region_id"];

fn check_endpoint_group(o: &Record, creating: bool) -> Result<(), AuthError> {
    string(o, "name", creating, 255)?;
    string(o, "description", false, usize::MAX)?;
    match o.get("filters") {
        None if creating => Err(invalid("filters", "it is a required property")),
        None => Ok(()),
        Some(Value::Object(f))
            if !f.is_empty()
                && f.iter()
                    .all(|(k, v)| ENDPOINT_FILTERS.contains(&k.as_str()) && v.is_string()) =>
        {
            Ok(())
        }
        Some(_) => Err(AuthError::BadRequest(format!(
            "Invalid filters: a non-empty object of {} strings",
            ENDPOINT_FILTERS.join(", ")
        ))),
    }
}

fn not_found(kind: &RecordKind, id: &str) -> AuthError {
    AuthError::NotFound {
        kind: kind.singular,
        id: id.into(),
    }
}

impl RecordKind {
    fn all<'a>(&self, st: &'a State) -> Option<&'a BTreeMap<String, Record>> {
        st.records.get(self.plural)
    }

    /// The records passing the query's filters.
    pub fn list<'a>(
        &self,
        st: &'a State,
        query: &std::collections::HashMap<String, String>,
    ) -> Vec<&'a Record> {
        self.all(st)
            .into_iter()
            .flat_map(|m| m.values())
            .filter(|r| {
                self.filters.iter().all(|f| {
                    query
                        .get(*f)
                        .is_none_or(|want| r.get(*f).and_then(Value::as_str) == Some(want))
                })
            })
            .collect()
    }

    pub fn get<'a>(&self, st: &'a State, id: &str) -> Result<&'a Record, AuthError> {
        self.all(st)
            .and_then(|m| m.get(id))
            .ok_or_else(|| not_found(self, id))
    }

    /// Stores a new record; the answer carries the secret, if the kind has one.
    pub fn create(&self, st: &mut State, fields: &Record) -> Result<Record, AuthError> {
        (self.check)(fields, true)?;
        let mut r = fields.clone();
        let id = new_id();
        r.insert("id".into(), Value::String(id.clone()));
        let mut shown = r.clone();
        if let Some(secret) = self.secret {
            let value = Value::String(new_id());
            r.insert(secret.into(), value.clone());
            shown.insert(secret.into(), value);
        }
        r.remove("links");
        shown.remove("links");
        st.records
            .entry(self.plural.into())
            .or_default()
            .insert(id, r);
        Ok(shown)
    }

    /// Merges `fields` into the record (the id stays).
    pub fn update(&self, st: &mut State, id: &str, fields: &Record) -> Result<Record, AuthError> {
        (self.check)(fields, false)?;
        if fields.get("id").is_some_and(|v| v.as_str() != Some(id)) {
            return Err(invalid("id", "it cannot be changed"));
        }
        let r = st
            .records
            .get_mut(self.plural)
            .and_then(|m| m.get_mut(id))
            .ok_or_else(|| not_found(self, id))?;
        for (k, v) in fields.iter().filter(|(k, _)| *k != "links") {
            r.insert(k.clone(), v.clone());
        }
        Ok(r.clone())
    }

    pub fn delete(&self, st: &mut State, id: &str) -> Result<(), AuthError> {
        st.records
            .get_mut(self.plural)
            .and_then(|m| m.remove(id))
            .map(|_| ())
            .ok_or_else(|| not_found(self, id))
    }

    /// The record as shown after its creation: without its secret.
    pub fn shown(&self, r: &Record) -> Record {
        let mut r = r.clone();
        if let Some(secret) = self.secret {
            r.remove(secret);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Record {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_policy_needs_its_blob_and_type_and_keeps_them() {
        let mut st = State::default();
        let e = POLICY
            .create(&mut st, &obj(json!({"blob": "x"})))
            .unwrap_err();
        assert!(e.to_string().contains("'type'"), "{e}");
        let p = POLICY
            .create(&mut st, &obj(json!({"blob": "x", "type": "t"})))
            .unwrap();
        let id = p["id"].as_str().unwrap();
        POLICY
            .update(&mut st, id, &obj(json!({"type": "u"})))
            .unwrap();
        let got = POLICY.get(&st, id).unwrap();
        assert_eq!(
            (got["blob"].as_str(), got["type"].as_str()),
            (Some("x"), Some("u"))
        );
        let q = [("type".to_string(), "t".to_string())].into();
        assert!(POLICY.list(&st, &q).is_empty());
        POLICY.delete(&mut st, id).unwrap();
        assert!(POLICY.get(&st, id).is_err());
    }

    #[test]
    fn a_consumer_s_secret_is_shown_once_and_never_changed() {
        let mut st = State::default();
        let c = CONSUMER
            .create(&mut st, &obj(json!({"description": "d"})))
            .unwrap();
        assert!(c["secret"].as_str().is_some_and(|s| !s.is_empty()));
        let id = c["id"].as_str().unwrap();
        assert!(
            !CONSUMER
                .shown(CONSUMER.get(&st, id).unwrap())
                .contains_key("secret")
        );
        let e = CONSUMER
            .update(&mut st, id, &obj(json!({"secret": "mine"})))
            .unwrap_err();
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn an_endpoint_group_s_filters_are_keystone_s_keys() {
        let mut st = State::default();
        for bad in [
            json!({}),
            json!({"colour": "red"}),
            json!({"service_id": 1}),
        ] {
            let e = ENDPOINT_GROUP
                .create(&mut st, &obj(json!({"name": "g", "filters": bad})))
                .unwrap_err();
            assert_eq!(e.status(), 400);
        }
        ENDPOINT_GROUP
            .create(
                &mut st,
                &obj(json!({"name": "g", "filters": {"service_id": "s", "interface": "public"}})),
            )
            .unwrap();
    }
}
