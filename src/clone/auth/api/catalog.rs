//! `/v3/services`, `/v3/endpoints`, `/v3/regions` and the catalog tokens carry: what the
//! template seeds (rendered in the caller's terms, read-only) and what the API made
//! (`catalog.rs`), together, as collections (`policy::of::SERVICE`, `ENDPOINT`,
//! `REGION`).

use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::collection::{Answer, Call, Collection, Fields, Meta, Query_};
use super::{Body, Reply, Service, Shared, authorized_change, object, opt_str};
use crate::clone::auth::catalog::{CatalogService, Endpoint, Region, Seeded, seeded_refusal};
use crate::clone::auth::error::{AuthError, not_found};
use crate::clone::auth::model::State;
use crate::clone::auth::policy::{Op, of};

/// A service of the catalog as the API shows it, with its endpoints.
struct Entry {
    service: CatalogService,
    endpoints: Vec<Endpoint>,
}

impl Service {
    pub(super) fn seeded(&self) -> Seeded<'_> {
        let mut services = vec!["identity"];
        services.extend(self.config.catalog.iter().map(|s| s.name.as_str()));
        Seeded {
            services,
            region: &self.config.region,
        }
    }

    /// Every service, seeded first, each with every endpoint it has.
    fn entries(&self, st: &State) -> Vec<Entry> {
        let region = &self.config.region;
        let endpoints = |id: &str, public: &str, internal: &str, admin: &str| {
            [("public", public), ("internal", internal), ("admin", admin)]
                .into_iter()
                .map(|(iface, url)| Endpoint {
                    id: format!("{id}-{iface}"),
                    service_id: id.into(),
                    interface: iface.into(),
                    url: url.into(),
                    region_id: Some(region.clone()),
                    enabled: true,
                })
                .collect::<Vec<_>>()
        };
        let seeded = |id: &str, kind: &str, name: &str| CatalogService {
            id: id.into(),
            kind: kind.into(),
            name: name.into(),
            description: String::new(),
            enabled: true,
        };
        let base = self.base();
        let mut entries = vec![Entry {
            service: seeded("identity", "identity", "keystone"),
            endpoints: endpoints("identity", &base, &base, &base),
        }];
        // A caller that reached the clone at its host URL is on the host.
        let on_host = base == self.public_url;
        for s in &self.config.catalog {
            let url = match &s.host_url {
                Some(h) if on_host => h,
                _ => &s.url,
            };
            let internal = s.internal.as_deref().unwrap_or(url);
            let admin = s.admin.as_deref().unwrap_or(url);
            entries.push(Entry {
                service: seeded(&s.name, &s.kind, &s.name),
                endpoints: endpoints(&s.name, url, internal, admin),
            });
        }
        entries.extend(st.services.values().map(|s| Entry {
            service: s.clone(),
            endpoints: Vec::new(),
        }));
        for e in st.endpoints.values() {
            if let Some(entry) = entries.iter_mut().find(|x| x.service.id == e.service_id) {
                entry.endpoints.push(e.clone());
            }
        }
        entries
    }

    /// The catalog of a token: enabled services with their enabled endpoints.
    pub(super) fn catalog(&self, st: &State) -> Value {
        let services: Vec<Value> = self
            .entries(st)
            .into_iter()
            .filter(|x| x.service.enabled)
            .map(|x| {
                let endpoints: Vec<Value> = x
                    .endpoints
                    .iter()
                    .filter(|e| e.enabled)
                    .map(|e| {
                        json!({"id": e.id, "interface": e.interface, "region": e.region_id,
                                    "region_id": e.region_id, "url": e.url})
                    })
                    .collect();
                json!({"id": x.service.id, "type": x.service.kind, "name": x.service.name,
                       "endpoints": endpoints})
            })
            .collect();
        Value::Array(services)
    }

    fn service_json(&self, s: &CatalogService) -> Value {
        json!({"id": s.id, "type": s.kind, "name": s.name, "description": s.description,
               "enabled": s.enabled, "links": self.link(&format!("services/{}", s.id))})
    }

    fn endpoint_json(&self, e: &Endpoint) -> Value {
        json!({"id": e.id, "service_id": e.service_id, "interface": e.interface, "url": e.url,
               "region": e.region_id, "region_id": e.region_id, "enabled": e.enabled,
               "links": self.link(&format!("endpoints/{}", e.id))})
    }

    fn region_json(&self, r: &Region) -> Value {
        json!({"id": r.id, "description": r.description, "parent_region_id": r.parent_region_id,
               "links": self.link(&format!("regions/{}", r.id))})
    }

    fn regions(&self, st: &State) -> Vec<Region> {
        let seeded = Region {
            id: self.config.region.clone(),
            description: String::new(),
            parent_region_id: None,
        };
        std::iter::once(seeded)
            .chain(st.regions.values().cloned())
            .collect()
    }
}

/// `enabled` as Keystone's schema takes it: a JSON boolean (`"False"` is a 400).
fn enabled(o: &Map<String, Value>, default: bool) -> Result<bool, AuthError> {
    match o.get("enabled") {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(super::bad(format!(
            "Invalid input for field 'enabled': {other} is not of type 'boolean'."
        ))),
    }
}

fn matches(q: &std::collections::HashMap<String, String>, key: &str, value: &str) -> bool {
    q.get(key).is_none_or(|v| v == value)
}

pub(super) struct Services;
pub(super) struct Endpoints;
pub(super) struct Regions;

pub(super) static SERVICES: Services = Services;
pub(super) static ENDPOINTS: Endpoints = Endpoints;
pub(super) static REGIONS: Regions = Regions;

fn text(o: &Map<String, Value>, k: &str) -> String {
    opt_str(o, k).unwrap_or_default()
}

impl Collection for Services {
    fn meta(&self) -> Meta {
        Meta {
            kind: "service",
            plural: "services",
            path: "services",
            policy: &of::SERVICE,
        }
    }

    fn list(&self, c: &Call, q: &Query_) -> Vec<Value> {
        let (s, st) = (c.s, &*c.st);
        s.entries(st)
            .iter()
            .filter(|x| matches(q, "type", &x.service.kind) && matches(q, "name", &x.service.name))
            .map(|x| s.service_json(&x.service))
            .collect()
    }

    fn show(&self, c: &Call, id: &str) -> Answer {
        let (s, st) = (c.s, &*c.st);
        let entries = s.entries(st);
        let x = entries
            .iter()
            .find(|x| x.service.id == id)
            .ok_or_else(|| not_found("service", id))?;
        Ok(s.service_json(&x.service))
    }

    fn create(&self, c: &mut Call, o: &Fields) -> Answer {
        let (s, st) = (c.s, &mut *c.st);
        let svc = st.create_service(
            &text(o, "type"),
            &text(o, "name"),
            &text(o, "description"),
            enabled(o, true)?,
        )?;
        Ok(s.service_json(&svc))
    }

    fn update(&self, c: &mut Call, id: &str, o: &Fields) -> Answer {
        let (s, st) = (c.s, &mut *c.st);
        if s.seeded().services.contains(&id) {
            return Err(seeded_refusal("service", id));
        }
        let svc = st
            .services
            .get_mut(id)
            .ok_or_else(|| not_found("service", id))?;
        if let Some(t) = opt_str(o, "type") {
            svc.kind = t;
        }
        if let Some(n) = opt_str(o, "name") {
            svc.name = n;
        }
        if let Some(d) = opt_str(o, "description") {
            svc.description = d;
        }
        svc.enabled = enabled(o, svc.enabled)?;
        Ok(s.service_json(svc))
    }

    fn delete(&self, c: &mut Call, id: &str) -> Result<(), AuthError> {
        let (s, st) = (c.s, &mut *c.st);
        st.delete_service(&s.seeded(), id)
    }
}

fn all_endpoints(s: &Service, st: &State) -> Vec<Endpoint> {
    s.entries(st)
        .into_iter()
        .flat_map(|x| x.endpoints)
        .collect()
}

/// The region an endpoint body names (`region_id`, or the older `region`).
fn region_of(o: &Map<String, Value>) -> Option<String> {
    opt_str(o, "region_id").or_else(|| opt_str(o, "region"))
}

/// Why an endpoint the API did not make cannot change: seeded, or not there at all.
fn not_made_here(s: &Service, st: &State, id: &str) -> AuthError {
    if all_endpoints(s, st).iter().any(|e| e.id == id) {
        seeded_refusal("endpoint", id)
    } else {
        not_found("endpoint", id)
    }
}

impl Collection for Endpoints {
    fn meta(&self) -> Meta {
        Meta {
            kind: "endpoint",
            plural: "endpoints",
            path: "endpoints",
            policy: &of::ENDPOINT,
        }
    }

    fn list(&self, c: &Call, q: &Query_) -> Vec<Value> {
        let (s, st) = (c.s, &*c.st);
        all_endpoints(s, st)
            .iter()
            .filter(|e| {
                matches(q, "service_id", &e.service_id)
                    && matches(q, "interface", &e.interface)
                    && matches(q, "region_id", e.region_id.as_deref().unwrap_or(""))
            })
            .map(|e| s.endpoint_json(e))
            .collect()
    }

    fn show(&self, c: &Call, id: &str) -> Answer {
        let (s, st) = (c.s, &*c.st);
        let e = all_endpoints(s, st)
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| not_found("endpoint", id))?;
        Ok(s.endpoint_json(&e))
    }

    fn create(&self, c: &mut Call, o: &Fields) -> Answer {
        let (s, st) = (c.s, &mut *c.st);
        let e = st.create_endpoint(
            &s.seeded(),
            &text(o, "service_id"),
            &text(o, "interface"),
            &text(o, "url"),
            region_of(o),
            enabled(o, true)?,
        )?;
        Ok(s.endpoint_json(&e))
    }

    fn update(&self, c: &mut Call, id: &str, o: &Fields) -> Answer {
        let (s, st) = (c.s, &mut *c.st);
        let old = st
            .endpoints
            .get(id)
            .cloned()
            .ok_or_else(|| not_made_here(s, st, id))?;
        // Checked as a new one would be, then put in the old one's place.
        let new = st.create_endpoint(
            &s.seeded(),
            &opt_str(o, "service_id").unwrap_or(old.service_id.clone()),
            &opt_str(o, "interface").unwrap_or(old.interface.clone()),
            &opt_str(o, "url").unwrap_or(old.url.clone()),
            region_of(o).or(old.region_id.clone()),
            enabled(o, old.enabled)?,
        )?;
        st.endpoints.remove(&new.id);
        let e = Endpoint { id: old.id, ..new };
        st.endpoints.insert(e.id.clone(), e.clone());
        Ok(s.endpoint_json(&e))
    }

    fn delete(&self, c: &mut Call, id: &str) -> Result<(), AuthError> {
        let (s, st) = (c.s, &mut *c.st);
        match st.endpoints.remove(id) {
            Some(_) => Ok(()),
            None => Err(not_made_here(s, st, id)),
        }
    }
}

impl Collection for Regions {
    fn meta(&self) -> Meta {
        Meta {
            kind: "region",
            plural: "regions",
            path: "regions",
            policy: &of::REGION,
        }
    }

    fn list(&self, c: &Call, q: &Query_) -> Vec<Value> {
        let (s, st) = (c.s, &*c.st);
        s.regions(st)
            .iter()
            .filter(|r| {
                matches(
                    q,
                    "parent_region_id",
                    r.parent_region_id.as_deref().unwrap_or(""),
                )
            })
            .map(|r| s.region_json(r))
            .collect()
    }

    fn show(&self, c: &Call, id: &str) -> Answer {
        let (s, st) = (c.s, &*c.st);
        let r = s
            .regions(st)
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| not_found("region", id))?;
        Ok(s.region_json(&r))
    }

    /// The id given, or made.
    fn create(&self, c: &mut Call, o: &Fields) -> Answer {
        let (s, st) = (c.s, &mut *c.st);
        make_region(s, st, opt_str(o, "id"), o)
    }

    fn update(&self, c: &mut Call, id: &str, o: &Fields) -> Answer {
        let (s, st) = (c.s, &mut *c.st);
        if id == s.config.region {
            return Err(seeded_refusal("region", id));
        }
        let r = st
            .regions
            .get_mut(id)
            .ok_or_else(|| not_found("region", id))?;
        if let Some(d) = opt_str(o, "description") {
            r.description = d;
        }
        if let Some(p) = o.get("parent_region_id") {
            let parent = p.as_str().map(String::from);
            st.reparent_region(&s.seeded(), id, parent)?;
        }
        Ok(s.region_json(&st.regions[id]))
    }

    fn delete(&self, c: &mut Call, id: &str) -> Result<(), AuthError> {
        let (s, st) = (c.s, &mut *c.st);
        st.delete_region(&s.seeded(), id)
    }
}

fn make_region(
    s: &Service,
    st: &mut State,
    id: Option<String>,
    o: &Map<String, Value>,
) -> Result<Value, AuthError> {
    let description = opt_str(o, "description").unwrap_or_default();
    let r = st.create_region(
        &s.seeded(),
        id,
        &description,
        opt_str(o, "parent_region_id"),
    )?;
    Ok(s.region_json(&r))
}

/// PUT /v3/regions/{id}: Keystone's way to make a region with a chosen id.
pub(super) async fn put_region(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    let o = object(&body, "region")?;
    authorized_change(&s, &headers, &of::REGION, Op::Create, |st| {
        let r = make_region(&s, st, Some(id), o)?;
        Ok(Some((StatusCode::CREATED, json!({"region": r}))))
    })
}
