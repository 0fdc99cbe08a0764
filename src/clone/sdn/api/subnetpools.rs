//! `/v2.0/subnetpools` (`subnet_allocation`) over `subnetpools.rs`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::resource::{Answer, Fields, Resource};
use crate::clone::sdn::error::SdnError;
use crate::clone::sdn::model::State;
use crate::clone::sdn::policy::{Guarded, Policy, of};
use crate::clone::sdn::subnetpools::SubnetPool;
use crate::clone::sdn::token::Caller;

impl Guarded for SubnetPool {
    const POLICY: Policy = of::SUBNETPOOL;
    fn project(&self) -> &str {
        &self.tenant_id
    }
    fn shared_with(&self, _: &State, _: &Caller) -> bool {
        self.shared
    }
}

impl Resource for SubnetPool {
    const SINGULAR: &'static str = "subnetpool";
    const PLURAL: &'static str = "subnetpools";
    const PATH: &'static str = "subnetpools";

    fn map(st: &State) -> &BTreeMap<String, SubnetPool> {
        &st.subnetpools
    }

    fn json(&self, _: &State) -> Value {
        SubnetPool::json(self)
    }

    fn create(st: &mut State, _: &Caller, project: &str, o: &Fields) -> Answer {
        st.within_quota(project, "subnetpool", 1)?;
        let pool = SubnetPool::from_request(o, project)?;
        st.subnetpools.insert(pool.id.clone(), pool.clone());
        Ok(pool.json())
    }

    fn update(st: &mut State, _: &Caller, id: &str, o: &Fields) -> Answer {
        let p = st.subnetpools.get_mut(id).expect("the policy found it");
        p.update(o)?;
        if let Some(v) = o.get("is_default").and_then(Value::as_bool) {
            p.is_default = v;
        }
        Ok(p.json())
    }

    fn delete(st: &mut State, id: &str) -> Result<(), SdnError> {
        st.delete_subnetpool(id)
    }
}
