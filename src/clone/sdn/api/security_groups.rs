//! `/v2.0/security-groups`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::resource::{Answer, Fields, Resource};
use super::typed;
use crate::clone::sdn::error::SdnError;
use crate::clone::sdn::model::{State, new_uuid};
use crate::clone::sdn::policy::{Guarded, Policy, of};
use crate::clone::sdn::security_groups::SecurityGroup;
use crate::clone::sdn::service::Locked;
use crate::clone::sdn::token::Caller;

impl Guarded for SecurityGroup {
    const POLICY: Policy = of::SECURITY_GROUP;
    fn project(&self) -> &str {
        &self.tenant_id
    }
}

#[derive(Deserialize)]
struct Request {
    name: Option<String>,
    description: Option<String>,
}

impl Resource for SecurityGroup {
    const SINGULAR: &'static str = "security_group";
    const PLURAL: &'static str = "security_groups";
    const PATH: &'static str = "security-groups";

    fn map(st: &State) -> &BTreeMap<String, SecurityGroup> {
        &st.security_groups
    }

    fn json(&self, st: &State) -> Value {
        st.group_json(self)
    }

    /// Every project has its `default` group, made on first use as Neutron makes it.
    fn before_list(st: &mut Locked<'_>, caller: &Caller) {
        let has = st
            .security_groups
            .values()
            .any(|g| g.tenant_id == caller.project_id && g.name == "default");
        if !has {
            st.default_group(&caller.project_id);
        }
    }

    fn create(st: &mut State, _: &Caller, project: &str, o: &Fields) -> Answer {
        let r: Request = typed(o)?;
        let name = r.name.unwrap_or_default();
        if name == "default" {
            return Err(SdnError::Conflict(
                "Default security group already exists.".into(),
            ));
        }
        st.within_quota(project, "security_group", 1)?;
        let g = SecurityGroup {
            id: new_uuid(),
            name,
            tenant_id: project.to_string(),
            description: r.description.unwrap_or_default(),
        };
        st.security_groups.insert(g.id.clone(), g.clone());
        for ethertype in ["IPv4", "IPv6"] {
            st.add_rule(
                &g.id, project, "egress", ethertype, None, None, None, None, None,
            );
        }
        Ok(st.group_json(&g))
    }

    /// Name and description. No group may take the name `default`, and the default
    /// group keeps its name (Neutron's 409s).
    fn update(st: &mut State, _: &Caller, id: &str, o: &Fields) -> Answer {
        let r: Request = typed(o)?;
        let g = st.security_groups.get_mut(id).expect("the policy found it");
        if let Some(name) = r.name.filter(|n| *n != g.name) {
            if g.name == "default" {
                return Err(SdnError::Conflict(
                    "Updating default security group not allowed.".into(),
                ));
            }
            if name == "default" {
                return Err(SdnError::Conflict(
                    "Default security group already exists.".into(),
                ));
            }
            g.name = name;
        }
        if let Some(d) = r.description {
            g.description = d;
        }
        let g = g.clone();
        Ok(st.group_json(&g))
    }

    fn delete(st: &mut State, id: &str) -> Result<(), SdnError> {
        st.delete_group(id)
    }
}
