//! Per-project quotas, as Neutron's quota extension keeps them: a limit per resource
//! (-1: unlimited, the clone's default for every resource, which also makes Nova skip
//! counting ports), set and reset by admins, and checked when a project creates one.

use std::collections::BTreeMap;

use super::error::SdnError;
use super::model::State;

/// The resources a quota limits.
pub const RESOURCES: &[&str] = &[
    "network",
    "subnet",
    "port",
    "security_group",
    "security_group_rule",
    "router",
    "floatingip",
    "subnetpool",
    "rbac_policy",
];

/// The default limit of every resource.
pub const UNLIMITED: i64 = -1;

impl State {
    /// The limits of a project without its own.
    pub fn default_quota() -> BTreeMap<&'static str, i64> {
        RESOURCES.iter().map(|r| (*r, UNLIMITED)).collect()
    }

    /// `project`'s limits: its own where set, the default elsewhere.
    pub fn quota(&self, project: &str) -> BTreeMap<&'static str, i64> {
        let own = self.quotas.get(project);
        RESOURCES
            .iter()
            .map(|r| {
                (
                    *r,
                    own.and_then(|q| q.get(*r)).copied().unwrap_or(UNLIMITED),
                )
            })
            .collect()
    }

    /// Sets some of `project`'s limits: known resources, each an integer of -1 or more.
    pub fn set_quota(
        &mut self,
        project: &str,
        limits: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), SdnError> {
        let mut checked = Vec::new();
        for (k, v) in limits {
            if matches!(k.as_str(), "project_id" | "tenant_id") {
                continue;
            }
            if !RESOURCES.contains(&k.as_str()) {
                return Err(SdnError::BadRequest(format!(
                    "Unrecognized attribute(s) '{k}'"
                )));
            }
            // Neutron takes numbers and numeric strings.
            let n = v
                .as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .filter(|n| *n >= UNLIMITED)
                .ok_or_else(|| {
                    SdnError::BadRequest(format!(
                        "Invalid input for {k}. Reason: '{v}' should be an integer of -1 or more."
                    ))
                })?;
            checked.push((k.clone(), n));
        }
        self.quotas
            .entry(project.into())
            .or_default()
            .extend(checked);
        Ok(())
    }

    /// Back to the defaults.
    pub fn reset_quota(&mut self, project: &str) {
        self.quotas.remove(project);
    }

    /// Whether `project` may have `more` new `resource`s (Neutron's OverQuota, a 409).
    pub fn within_quota(&self, project: &str, resource: &str, more: usize) -> Result<(), SdnError> {
        let limit = self
            .quota(project)
            .get(resource)
            .copied()
            .unwrap_or(UNLIMITED);
        if limit < 0 {
            return Ok(());
        }
        let used = match resource {
            "network" => self
                .networks
                .values()
                .filter(|x| x.tenant_id == project)
                .count(),
            "subnet" => self
                .subnets
                .values()
                .filter(|x| x.tenant_id == project)
                .count(),
            "port" => self
                .ports
                .values()
                .filter(|x| x.tenant_id == project)
                .count(),
            "security_group" => self
                .security_groups
                .values()
                .filter(|x| x.tenant_id == project)
                .count(),
            "security_group_rule" => self
                .rules
                .values()
                .filter(|x| x.tenant_id == project)
                .count(),
            "router" => self
                .routers
                .values()
                .filter(|x| x.tenant_id == project)
                .count(),
            "floatingip" => self
                .floating_ips
                .values()
                .filter(|x| x.tenant_id == project)
                .count(),
            "subnetpool" => self
                .subnetpools
                .values()
                .filter(|x| x.tenant_id == project)
                .count(),
            _ => 0,
        };
        if used + more > limit as usize {
            return Err(SdnError::Conflict(format!(
                "Quota exceeded for resources: ['{resource}']."
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_quota_is_checked_where_set_and_gone_on_reset() {
        let mut st = State::default();
        assert!(st.within_quota("p", "network", 1000).is_ok());
        let limits = json!({"network": 1, "port": "0"});
        st.set_quota("p", limits.as_object().unwrap()).unwrap();
        assert_eq!(st.quota("p")["port"], 0);
        st.create_network("n", "p", false, false, 1500);
        let e = st.within_quota("p", "network", 1).unwrap_err();
        assert_eq!(e.status(), 409);
        assert!(
            e.to_string()
                .starts_with("Quota exceeded for resources: ['network']")
        );
        for bad in [
            json!({"network": -2}),
            json!({"colour": 1}),
            json!({"port": "x"}),
        ] {
            assert_eq!(
                st.set_quota("p", bad.as_object().unwrap())
                    .unwrap_err()
                    .status(),
                400
            );
        }
        st.reset_quota("p");
        assert!(st.within_quota("p", "network", 1).is_ok());
    }
}
