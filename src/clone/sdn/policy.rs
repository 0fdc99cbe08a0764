//! Who may do what to each kind of resource, declared once per resource as Neutron's
//! `conf/policies/<resource>.py` declare it, and enforced in one place (`api::resource`):
//! handlers never check roles themselves.
//!
//! The reference is Neutron 2025.1's defaults (`enforce_new_defaults`): a project's
//! readers see its resources, its members change them, admins do everything. Zed's
//! defaults also let a project reader write; the clone follows the newer, stricter rule
//! (`docs/clones.md`). How a refusal is answered is Neutron's too (`api/v2/base.py`): a
//! caller who may not see a resource is told it is not there (404), one who may see it
//! but not change it gets 403, and a list leaves out what the caller may not see.

use super::error::SdnError;
use super::model::State;
use super::token::Caller;

/// Who may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Admins, and the owning project's readers (or members, for a change).
    Owner,
    /// Admins only.
    Admin,
}

/// One resource's policy.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// The resource's name in errors (`network`, `security-group`).
    pub kind: &'static str,
    /// Who sees it (list and show). Shared resources are seen by all besides.
    pub read: Rule,
    /// Who makes one.
    pub create: Rule,
    /// Who changes or deletes one.
    pub write: Rule,
    /// Fields only an admin sets (Neutron's `create_network:shared` and the like): on a
    /// create, when given other than false, null or empty (Neutron checks what differs
    /// from the default); on an update, when given. `a.b` is `b` inside the object `a`,
    /// checked when given at all.
    pub admin_fields: &'static [&'static str],
    /// Whether a caller who may not see one is told it is not there (404, Neutron's
    /// resource controller) rather than refused (403, extensions such as quotas that
    /// enforce their policy themselves).
    pub hides: bool,
}

/// Something a project owns, under a policy.
pub trait Guarded {
    const POLICY: Policy;
    /// Its project; "" for the env's own (its template networks, its nodes' NICs), which
    /// every project sees and only admins change.
    fn project(&self) -> &str;
    /// Whether `caller` sees it although it is not theirs (a shared or external
    /// network, a shared pool, a rule in the caller's own group).
    fn shared_with(&self, _st: &State, _caller: &Caller) -> bool {
        false
    }
}

impl Policy {
    /// Whether `caller` sees `item`.
    pub fn may_read<T: Guarded>(&self, st: &State, caller: &Caller, item: &T) -> bool {
        let owner = item.project();
        match self.read {
            Rule::Admin => caller.admin,
            Rule::Owner => {
                caller.admin
                    || owner.is_empty()
                    || (caller.reader && caller.project_id == owner)
                    || item.shared_with(st, caller)
            }
        }
    }

    /// Show: what the caller may not see is not there.
    pub fn show<T: Guarded>(
        &self,
        st: &State,
        caller: &Caller,
        id: &str,
        item: Option<&T>,
    ) -> Result<(), SdnError> {
        match item {
            Some(item) if self.may_read(st, caller, item) => Ok(()),
            Some(_) if !self.hides => Err(SdnError::Forbidden(format!("get_{}", self.rule_name()))),
            _ => Err(self.not_found(id)),
        }
    }

    /// Update or delete: 404 to who may not see it, 403 to who may see but not change it.
    pub fn change<T: Guarded>(
        &self,
        st: &State,
        caller: &Caller,
        id: &str,
        item: Option<&T>,
    ) -> Result<(), SdnError> {
        self.show(st, caller, id, item)?;
        let owner = item.map(Guarded::project).unwrap_or_default();
        if self.may_write(self.write, caller, owner) {
            Ok(())
        } else {
            Err(SdnError::Forbidden(format!("update_{}", self.rule_name())))
        }
    }

    /// Create, for `project` (the caller's own unless an admin named another).
    pub fn create(&self, caller: &Caller, project: &str) -> Result<(), SdnError> {
        if self.may_write(self.create, caller, project) {
            Ok(())
        } else {
            Err(SdnError::Forbidden(format!("create_{}", self.rule_name())))
        }
    }

    /// An action beyond the five that only admins take (DHCP scheduling, the L2 agents'
    /// reports): Neutron answers others 403.
    pub fn admin_action(&self, caller: &Caller, action: &str) -> Result<(), SdnError> {
        if caller.admin {
            Ok(())
        } else {
            Err(SdnError::Forbidden(action.to_string()))
        }
    }

    /// The fields of a create or update body that only an admin may set.
    pub fn fields(
        &self,
        caller: &Caller,
        o: &serde_json::Map<String, serde_json::Value>,
        creating: bool,
    ) -> Result<(), SdnError> {
        use serde_json::Value;
        if caller.admin {
            return Ok(());
        }
        let set = |field: &str| match field.split_once('.') {
            Some((outer, inner)) => o
                .get(outer)
                .and_then(Value::as_object)
                .and_then(|x| x.get(inner))
                .is_some_and(|v| !v.is_null()),
            None => match o.get(field) {
                None => false,
                Some(Value::Null | Value::Bool(false)) => !creating,
                Some(Value::Array(a)) if a.is_empty() => !creating,
                Some(_) => true,
            },
        };
        match self.admin_fields.iter().find(|f| set(f)) {
            Some(f) => {
                let verb = if creating { "create" } else { "update" };
                let field = f.replace('.', ":");
                Err(SdnError::Forbidden(format!(
                    "{verb}_{}:{field}",
                    self.rule_name()
                )))
            }
            None => Ok(()),
        }
    }

    fn may_write(&self, rule: Rule, caller: &Caller, owner: &str) -> bool {
        caller.admin
            || (rule == Rule::Owner
                && !owner.is_empty()
                && caller.member
                && caller.project_id == owner)
    }

    pub fn not_found(&self, id: &str) -> SdnError {
        SdnError::NotFound {
            kind: self.kind,
            id: id.to_string(),
        }
    }

    fn rule_name(&self) -> String {
        self.kind.replace(['-', ' '], "_")
    }
}

/// The policies, one per resource. A new resource names its own here and implements
/// [`Guarded`] with it.
pub mod of {
    use super::{Policy, Rule};

    const fn owned(kind: &'static str, admin_fields: &'static [&'static str]) -> Policy {
        Policy {
            kind,
            read: Rule::Owner,
            create: Rule::Owner,
            write: Rule::Owner,
            admin_fields,
            hides: true,
        }
    }

    pub const NETWORK: Policy = owned("network", &["shared", "router:external"]);
    pub const SUBNET: Policy = owned("subnet", &[]);
    pub const PORT: Policy = owned("port", &["binding:host_id", "binding:profile"]);
    pub const SECURITY_GROUP: Policy = owned("security-group", &[]);
    pub const SECURITY_GROUP_RULE: Policy = owned("security-group-rule", &[]);
    pub const ROUTER: Policy = owned(
        "router",
        &[
            "distributed",
            "ha",
            "external_gateway_info.enable_snat",
            "external_gateway_info.external_fixed_ips",
        ],
    );
    pub const FLOATING_IP: Policy = owned("floating IP", &["floating_ip_address"]);
    pub const SUBNETPOOL: Policy = owned("subnetpool", &["shared", "is_default"]);
    /// A project sees its own quota, whatever its role; only admins list, set and
    /// reset them, and see others' (403, not 404: `extensions/quotasv2.py`).
    pub const QUOTA: Policy = Policy {
        kind: "quota",
        read: Rule::Owner,
        create: Rule::Admin,
        write: Rule::Admin,
        admin_fields: &[],
        hides: false,
    };
    /// Agents are the deployment's: admins only, others see none.
    pub const AGENT: Policy = Policy {
        kind: "agent",
        read: Rule::Admin,
        create: Rule::Admin,
        write: Rule::Admin,
        admin_fields: &[],
        hides: true,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Thing(&'static str);
    impl Guarded for Thing {
        const POLICY: Policy = of::NETWORK;
        fn project(&self) -> &str {
            self.0
        }
    }

    fn caller(project: &str, roles: &[&str]) -> Caller {
        Caller::new("u", project, roles.iter().map(|r| r.to_string()))
    }

    #[test]
    fn readers_see_members_change_others_are_told_nothing() {
        let st = State::default();
        let p = of::NETWORK;
        let mine = Thing("a");
        let status = |c: &Caller| match p.change(&st, c, "x", Some(&mine)) {
            Ok(()) => 200,
            Err(e) => e.status(),
        };
        assert_eq!(status(&caller("a", &["member", "reader"])), 200);
        assert_eq!(status(&caller("a", &["reader"])), 403);
        assert_eq!(status(&caller("b", &["member", "reader"])), 404);
        assert_eq!(status(&caller("admin", &["admin"])), 200);
        assert!(p.create(&caller("a", &["reader"]), "a").is_err());
        assert!(p.create(&caller("a", &["Member"]), "a").is_ok());
        // The env's own resources: seen by all, changed by admins.
        let env = Thing("");
        assert!(
            p.show(&st, &caller("b", &["member"]), "x", Some(&env))
                .is_ok()
        );
        let refused = p.change(&st, &caller("b", &["member"]), "x", Some(&env));
        assert_eq!(refused.unwrap_err().status(), 403);
    }
}
