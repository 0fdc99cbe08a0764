//! `/v2.0/networks`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::resource::{Answer, Fields, Resource};
use super::typed;
use crate::clone::sdn::error::SdnError;
use crate::clone::sdn::model::{Network, State};
use crate::clone::sdn::policy::{Guarded, Policy, of};
use crate::clone::sdn::token::Caller;

impl Guarded for Network {
    const POLICY: Policy = of::NETWORK;
    fn project(&self) -> &str {
        &self.tenant_id
    }
    /// Shared and external networks are seen by every project.
    fn shared_with(&self, _: &State, _: &Caller) -> bool {
        self.shared || self.external
    }
}

#[derive(Deserialize)]
struct Request {
    name: Option<String>,
    description: Option<String>,
    admin_state_up: Option<bool>,
    shared: Option<bool>,
    #[serde(rename = "router:external")]
    external: Option<bool>,
    mtu: Option<u32>,
}

impl Resource for Network {
    const SINGULAR: &'static str = "network";
    const PLURAL: &'static str = "networks";
    const PATH: &'static str = "networks";

    fn map(st: &State) -> &BTreeMap<String, Network> {
        &st.networks
    }

    fn json(&self, st: &State) -> Value {
        st.network_json(self)
    }

    fn create(st: &mut State, _: &Caller, project: &str, o: &Fields) -> Answer {
        let r: Request = typed(o)?;
        st.within_quota(project, "network", 1)?;
        let mut n = st.create_network(
            &r.name.unwrap_or_default(),
            project,
            r.shared.unwrap_or(false),
            r.external.unwrap_or(false),
            r.mtu.unwrap_or(1500),
        );
        n.admin_state_up = r.admin_state_up.unwrap_or(true);
        n.description = r.description.unwrap_or_default();
        st.networks.insert(n.id.clone(), n.clone());
        Ok(st.network_json(&n))
    }

    fn update(st: &mut State, _: &Caller, id: &str, o: &Fields) -> Answer {
        let r: Request = typed(o)?;
        let n = st.networks.get_mut(id).expect("the policy found it");
        n.name = r.name.unwrap_or(std::mem::take(&mut n.name));
        n.description = r.description.unwrap_or(std::mem::take(&mut n.description));
        n.admin_state_up = r.admin_state_up.unwrap_or(n.admin_state_up);
        n.shared = r.shared.unwrap_or(n.shared);
        n.external = r.external.unwrap_or(n.external);
        let n = n.clone();
        Ok(st.network_json(&n))
    }

    fn delete(st: &mut State, id: &str) -> Result<(), SdnError> {
        st.delete_network(id)
    }
}
