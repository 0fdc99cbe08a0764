//! The service catalog's writable part: services, endpoints and regions made through the
//! API (`openstack service create`, `endpoint create`, `region create`, as deployment
//! tooling runs them). The services the template seeds (identity and the template's
//! `catalog:`) are not kept here: they are rendered from the config on every request,
//! in the caller's terms (host or guest URL), and cannot be changed through the API.

use crate::clone::auth::error::{AuthError, not_found};
use serde::{Deserialize, Serialize};

use super::model::*;
use crate::clone::new_id;

/// Keystone's endpoint interfaces.
pub const INTERFACES: [&str; 3] = ["public", "internal", "admin"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogService {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub service_id: String,
    pub interface: String,
    pub url: String,
    pub region_id: Option<String>,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    pub id: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub parent_region_id: Option<String>,
}

/// The ids of what the template seeds, which the API may read but not change.
pub struct Seeded<'a> {
    pub services: Vec<&'a str>,
    pub region: &'a str,
}

impl Seeded<'_> {
    fn refuse(&self, kind: &str, id: &str) -> AuthError {
        seeded_refusal(kind, id)
    }
}

/// What changing a seeded service, endpoint or region through the API gets.
pub fn seeded_refusal(kind: &str, id: &str) -> AuthError {
    AuthError::Forbidden(format!(
        "{kind} {id} is seeded by the env's template: change it there"
    ))
}

impl State {
    pub fn create_service(
        &mut self,
        kind: &str,
        name: &str,
        description: &str,
        enabled: bool,
    ) -> Result<CatalogService, AuthError> {
        if kind.is_empty() || kind.chars().count() > 255 || name.chars().count() > 255 {
            return Err(AuthError::BadRequest(
                "Invalid input for field 'type': a type of 1 to 255 characters.".into(),
            ));
        }
        let s = CatalogService {
            id: new_id(),
            kind: kind.into(),
            name: name.into(),
            description: description.into(),
            enabled,
        };
        self.services.insert(s.id.clone(), s.clone());
        Ok(s)
    }

    /// Removes a service and its endpoints.
    pub fn delete_service(&mut self, seeded: &Seeded, id: &str) -> Result<(), AuthError> {
        if seeded.services.contains(&id) {
            return Err(seeded.refuse("service", id));
        }
        self.services
            .remove(id)
            .ok_or_else(|| not_found("service", id))?;
        self.endpoints.retain(|_, e| e.service_id != id);
        Ok(())
    }

    pub fn create_endpoint(
        &mut self,
        seeded: &Seeded,
        service_id: &str,
        interface: &str,
        url: &str,
        region_id: Option<String>,
        enabled: bool,
    ) -> Result<Endpoint, AuthError> {
        if !INTERFACES.contains(&interface) {
            return Err(AuthError::BadRequest(format!(
                "Invalid input for field 'interface': '{interface}' is not one of public, internal, admin."
            )));
        }
        if url.is_empty() || url.len() > 225 {
            return Err(AuthError::BadRequest(
                "Invalid input for field 'url': a URL of 1 to 225 characters.".into(),
            ));
        }
        if !seeded.services.contains(&service_id) && !self.services.contains_key(service_id) {
            return Err(AuthError::BadRequest(format!(
                "Could not find service: {service_id}."
            )));
        }
        // An unknown region comes into being, as Keystone makes it for an endpoint.
        if let Some(r) = &region_id
            && r != seeded.region
            && !self.regions.contains_key(r)
        {
            self.create_region(seeded, Some(r.clone()), "", None)?;
        }
        let e = Endpoint {
            id: new_id(),
            service_id: service_id.into(),
            interface: interface.into(),
            url: url.into(),
            region_id,
            enabled,
        };
        self.endpoints.insert(e.id.clone(), e.clone());
        Ok(e)
    }

    pub fn create_region(
        &mut self,
        seeded: &Seeded,
        id: Option<String>,
        description: &str,
        parent_region_id: Option<String>,
    ) -> Result<Region, AuthError> {
        let id = id.unwrap_or_else(new_id);
        if id.is_empty() || id.chars().count() > 255 {
            return Err(AuthError::BadRequest(
                "Invalid input for field 'id': an id of 1 to 255 characters.".into(),
            ));
        }
        if id == seeded.region || self.regions.contains_key(&id) {
            return Err(AuthError::Conflict {
                kind: "region",
                name: id,
            });
        }
        if let Some(p) = &parent_region_id
            && p != seeded.region
            && !self.regions.contains_key(p)
        {
            return Err(AuthError::BadRequest(format!(
                "Could not find region: {p}."
            )));
        }
        let r = Region {
            id,
            description: description.into(),
            parent_region_id,
        };
        self.regions.insert(r.id.clone(), r.clone());
        Ok(r)
    }

    /// A new parent for `id`: a known region other than itself (no cycle checks beyond
    /// that: the clone's regions are shallow).
    pub fn reparent_region(
        &mut self,
        seeded: &Seeded,
        id: &str,
        parent: Option<String>,
    ) -> Result<(), AuthError> {
        if let Some(p) = &parent
            && (p == id || (p != seeded.region && !self.regions.contains_key(p)))
        {
            return Err(AuthError::BadRequest(format!(
                "Could not find region: {p}."
            )));
        }
        let r = self
            .regions
            .get_mut(id)
            .ok_or_else(|| not_found("region", id))?;
        r.parent_region_id = parent;
        Ok(())
    }

    /// Removes a region that no endpoint and no other region uses.
    pub fn delete_region(&mut self, seeded: &Seeded, id: &str) -> Result<(), AuthError> {
        if id == seeded.region {
            return Err(seeded.refuse("region", id));
        }
        if !self.regions.contains_key(id) {
            return Err(not_found("region", id));
        }
        let used = self
            .endpoints
            .values()
            .any(|e| e.region_id.as_deref() == Some(id))
            || self
                .regions
                .values()
                .any(|r| r.parent_region_id.as_deref() == Some(id));
        if used {
            return Err(AuthError::Forbidden(format!(
                "region {id} still has endpoints or child regions"
            )));
        }
        self.regions.remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_need_a_service_an_interface_and_a_region_and_go_with_their_service() {
        let mut s = State::new();
        let seeded = Seeded {
            services: vec!["identity"],
            region: "RegionOne",
        };
        let svc = s.create_service("volumev3", "cinderv3", "", true).unwrap();
        let e = s
            .create_endpoint(
                &seeded,
                &svc.id,
                "public",
                "http://c:8776/v3",
                Some("RegionOne".into()),
                true,
            )
            .unwrap();
        assert!(
            s.create_endpoint(&seeded, &svc.id, "private", "http://x", None, true)
                .is_err()
        );
        assert!(
            s.create_endpoint(&seeded, "nope", "public", "http://x", None, true)
                .is_err()
        );
        s.create_endpoint(
            &seeded,
            &svc.id,
            "public",
            "http://x",
            Some("Mars".into()),
            true,
        )
        .unwrap();
        assert!(s.regions.contains_key("Mars"), "made for the endpoint");
        assert!(
            s.create_endpoint(&seeded, "identity", "admin", "http://k", None, true)
                .is_ok()
        );
        assert!(matches!(
            s.delete_service(&seeded, "identity"),
            Err(AuthError::Forbidden(_))
        ));
        s.delete_service(&seeded, &svc.id).unwrap();
        assert!(!s.endpoints.contains_key(&e.id));
        let r = s
            .create_region(&seeded, Some("RegionTwo".into()), "", None)
            .unwrap();
        assert!(matches!(
            s.create_region(&seeded, Some(r.id.clone()), "", None),
            Err(AuthError::Conflict { .. })
        ));
        s.delete_region(&seeded, "RegionTwo").unwrap();
    }
}
