//! `/v2.0/security-group-rules`: a rule belongs to its group's project, and is seen and
//! removed as its group is.

use std::collections::BTreeMap;

use serde_json::Value;

use super::resource::{Answer, Fields, Resource};
use crate::clone::sdn::error::SdnError;
use crate::clone::sdn::model::State;
use crate::clone::sdn::policy::{Guarded, Policy, of};
use crate::clone::sdn::security_groups::Rule;
use crate::clone::sdn::token::Caller;
use crate::clone::sdn::view::rule_json;

impl Guarded for Rule {
    const POLICY: Policy = of::SECURITY_GROUP_RULE;
    fn project(&self) -> &str {
        &self.tenant_id
    }
    /// The readers of the group's project see its rules (Neutron's `sg_owner`).
    fn shared_with(&self, st: &State, caller: &Caller) -> bool {
        caller.reader
            && st
                .security_groups
                .get(&self.security_group_id)
                .is_some_and(|g| !g.tenant_id.is_empty() && g.tenant_id == caller.project_id)
    }
}

impl Resource for Rule {
    const SINGULAR: &'static str = "security_group_rule";
    const PLURAL: &'static str = "security_group_rules";
    const PATH: &'static str = "security-group-rules";
    const UPDATABLE: bool = false;

    fn map(st: &State) -> &BTreeMap<String, Rule> {
        &st.rules
    }

    fn json(&self, _: &State) -> Value {
        rule_json(self)
    }

    /// The group's project: the policy then lets only its members add a rule (Neutron
    /// 2025.1's `sg_owner`: 403 to others, whether or not they see the group).
    fn project_of(st: &State, _: &Caller, o: &Fields) -> Result<String, SdnError> {
        let group = o
            .get("security_group_id")
            .and_then(Value::as_str)
            .ok_or_else(|| SdnError::BadRequest("rule needs security_group_id".into()))?;
        let g = st
            .security_groups
            .get(group)
            .ok_or_else(|| of::SECURITY_GROUP.not_found(group))?;
        Ok(g.tenant_id.clone())
    }

    fn create(st: &mut State, _: &Caller, project: &str, o: &Fields) -> Answer {
        let group = o["security_group_id"]
            .as_str()
            .expect("checked by project_of");
        st.within_quota(project, "security_group_rule", 1)?;
        let r = crate::clone::sdn::rules::from_request(st, group, project, o)?;
        st.rules.insert(r.id.clone(), r.clone());
        Ok(rule_json(&r))
    }

    fn delete(st: &mut State, id: &str) -> Result<(), SdnError> {
        st.rules.remove(id);
        Ok(())
    }
}
