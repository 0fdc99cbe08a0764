//! Credentials (`/v3/credentials`): blobs a user keeps with Keystone for other services,
//! and their EC2 form (`/v3/users/{id}/credentials/OS-EC2`), an access/secret pair kept
//! as a credential of type `ec2` whose id is the SHA-256 of its access key, as Keystone
//! stores it. The clone does not authenticate with EC2 signatures (`/v3/ec2tokens`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use super::error::AuthError;
use super::model::State;
use crate::clone::new_id;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credential {
    pub id: String,
    pub user_id: String,
    pub project_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    /// As given: a string (JSON text for `ec2`).
    pub blob: String,
}

pub const EC2: &str = "ec2";

/// Keystone's id of an EC2 credential: the hex SHA-256 of its access key.
fn ec2_id(access: &str) -> String {
    sha2::Sha256::digest(access.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn bad(msg: impl Into<String>) -> AuthError {
    AuthError::BadRequest(msg.into())
}

fn field<'a>(o: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, AuthError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!(
            "Invalid input for field '{key}': it is not a string"
        ))),
    }
}

/// The access key of an `ec2` blob, which must be JSON with one.
fn ec2_access(blob: &str) -> Result<String, AuthError> {
    serde_json::from_str::<Value>(blob)
        .ok()
        .and_then(|b| b.get("access").and_then(Value::as_str).map(String::from))
        .ok_or_else(|| {
            bad("Invalid blob in credential: an ec2 blob is JSON with an \"access\" key")
        })
}

impl State {
    /// A credential from the API's fields (who may make it for whom is the API's check):
    /// its user and project exist; an `ec2` one has a project and an access key.
    pub fn create_credential(&mut self, o: &Map<String, Value>) -> Result<Credential, AuthError> {
        let need = |key: &str| -> Result<String, AuthError> {
            field(o, key)?.map(String::from).ok_or_else(|| {
                bad(format!(
                    "Invalid input for field '{key}': it is a required property"
                ))
            })
        };
        let (user_id, kind, blob) = (need("user_id")?, need("type")?, need("blob")?);
        let project_id = field(o, "project_id")?.map(String::from);
        self.check_owner(&user_id, project_id.as_deref())?;
        let id = if kind == EC2 {
            if project_id.is_none() {
                return Err(bad(
                    "Invalid input for field 'project_id': an ec2 credential needs a project",
                ));
            }
            ec2_id(&ec2_access(&blob)?)
        } else {
            new_id()
        };
        if self.credentials.contains_key(&id) {
            return Err(AuthError::Conflict {
                kind: "credential",
                name: id,
            });
        }
        let c = Credential {
            id: id.clone(),
            user_id,
            project_id,
            kind,
            blob,
        };
        self.credentials.insert(id, c.clone());
        Ok(c)
    }

    fn check_owner(&self, user_id: &str, project_id: Option<&str>) -> Result<(), AuthError> {
        if !self.users.contains_key(user_id) {
            return Err(AuthError::NotFound {
                kind: "user",
                id: user_id.into(),
            });
        }
        if let Some(p) = project_id.filter(|p| !self.projects.contains_key(*p)) {
            return Err(AuthError::NotFound {
                kind: "project",
                id: p.into(),
            });
        }
        Ok(())
    }

    /// Changes `blob`, `type` and `project_id`; the id, and for `ec2` the need of a
    /// project, stay.
    pub fn update_credential(
        &mut self,
        id: &str,
        o: &Map<String, Value>,
    ) -> Result<Credential, AuthError> {
        let mut c = self
            .credentials
            .get(id)
            .cloned()
            .ok_or_else(|| AuthError::NotFound {
                kind: "credential",
                id: id.into(),
            })?;
        if let Some(u) = field(o, "user_id")? {
            c.user_id = u.into();
        }
        if let Some(k) = field(o, "type")? {
            c.kind = k.into();
        }
        if let Some(b) = field(o, "blob")? {
            c.blob = b.into();
        }
        if o.contains_key("project_id") {
            c.project_id = field(o, "project_id")?.map(String::from);
        }
        self.check_owner(&c.user_id, c.project_id.as_deref())?;
        if c.kind == EC2 {
            ec2_access(&c.blob)?;
            if c.project_id.is_none() {
                return Err(bad(
                    "Invalid input for field 'project_id': an ec2 credential needs a project",
                ));
            }
        }
        self.credentials.insert(id.into(), c.clone());
        Ok(c)
    }

    /// A new EC2 access/secret pair for `user_id` on `project_id`.
    pub fn create_ec2_credential(
        &mut self,
        user_id: &str,
        project_id: &str,
    ) -> Result<Credential, AuthError> {
        let blob = json!({"access": new_id(), "secret": new_id(), "trust_id": null}).to_string();
        let mut o = Map::new();
        o.insert("user_id".into(), user_id.into());
        o.insert("project_id".into(), project_id.into());
        o.insert("type".into(), EC2.into());
        o.insert("blob".into(), blob.into());
        self.create_credential(&o)
    }

    /// `user_id`'s EC2 credential with access key `access`.
    pub fn ec2_credential(&self, user_id: &str, access: &str) -> Result<&Credential, AuthError> {
        self.credentials
            .get(&ec2_id(access))
            .filter(|c| c.kind == EC2 && c.user_id == user_id)
            .ok_or_else(|| AuthError::NotFound {
                kind: "credential",
                id: access.into(),
            })
    }

    /// Drops the credentials of users and projects that are gone (Keystone deletes them
    /// with their user, and a project's EC2 credentials with it).
    pub fn prune_credentials(&mut self) {
        let (users, projects) = (&self.users, &self.projects);
        self.credentials.retain(|_, c| {
            users.contains_key(&c.user_id)
                && c.project_id
                    .as_ref()
                    .is_none_or(|p| projects.contains_key(p))
        });
    }
}

impl Credential {
    /// The EC2 view: access, secret, trust, the user and its project as `tenant_id`.
    pub fn ec2_json(&self) -> Value {
        let blob: Value = serde_json::from_str(&self.blob).unwrap_or(Value::Null);
        json!({
            "user_id": self.user_id, "tenant_id": self.project_id,
            "access": blob.get("access"), "secret": blob.get("secret"),
            "trust_id": blob.get("trust_id"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> (State, String, String) {
        let mut st = State::default();
        st.create_domain("Default", "", true).ok();
        let d = st.domains.keys().next().unwrap().clone();
        let p = st.create_project("p", &d, None, "", true).unwrap().id;
        let u = st
            .create_user("u", &d, None, true, None, Map::new())
            .unwrap()
            .id;
        (st, u, p)
    }

    #[test]
    fn an_ec2_credential_is_found_by_its_access_key_and_goes_with_its_project() {
        let (mut st, u, p) = state();
        let c = st.create_ec2_credential(&u, &p).unwrap();
        let access = c.ec2_json()["access"].as_str().unwrap().to_string();
        assert_eq!(c.id, ec2_id(&access));
        assert_eq!(st.ec2_credential(&u, &access).unwrap().id, c.id);
        assert!(st.ec2_credential("someone", &access).is_err());
        st.delete_project(&p).unwrap();
        assert!(st.credentials.is_empty());
    }

    #[test]
    fn an_ec2_blob_needs_an_access_key_and_a_project() {
        let (mut st, u, p) = state();
        let mut o = Map::new();
        o.insert("user_id".into(), u.clone().into());
        o.insert("type".into(), EC2.into());
        o.insert("blob".into(), r#"{"access": "a"}"#.into());
        assert_eq!(st.create_credential(&o).unwrap_err().status(), 400);
        o.insert("project_id".into(), p.into());
        o.insert("blob".into(), "not json".into());
        assert_eq!(st.create_credential(&o).unwrap_err().status(), 400);
        o.insert("blob".into(), r#"{"access": "a", "secret": "s"}"#.into());
        let c = st.create_credential(&o).unwrap();
        assert_eq!(st.create_credential(&o).unwrap_err().status(), 409);
        st.delete_user(&u).unwrap();
        assert!(!st.credentials.contains_key(&c.id));
    }
}
