//! Who may call what, declared once per resource as Keystone's
//! `common/policies/<resource>.py` declare it (the 2025.1 defaults, read for the
//! project-scoped tokens the clone issues): admins do everything; others read only what
//! is theirs (the resource says what that is: a user itself, a project its members, a
//! domain the members of its projects) or what every token may read (regions). Keystone
//! refuses with 403 and hides nothing, so a refusal never depends on whether the
//! resource exists.

use super::model::{AuthError, State, Token};

/// Who may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Any valid token.
    Token,
    /// Admins, and the resource's own (see [`Policy::check`]).
    Own,
    /// Admins only.
    Admin,
}

/// The five calls on a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    List,
    Show,
    Create,
    Update,
    Delete,
}

/// One resource's policy.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Its name in Keystone's rule names (`identity:get_user`).
    pub kind: &'static str,
    pub list: Rule,
    pub show: Rule,
    pub create: Rule,
    pub update: Rule,
    pub delete: Rule,
}

impl Policy {
    /// Whether `caller` may do `op`; `own` says whether the target is the caller's.
    pub fn check(
        &self,
        st: &State,
        caller: &Token,
        op: Op,
        own: impl FnOnce() -> bool,
    ) -> Result<(), AuthError> {
        let rule = match op {
            Op::List => self.list,
            Op::Show => self.show,
            Op::Create => self.create,
            Op::Update => self.update,
            Op::Delete => self.delete,
        };
        let allowed = match rule {
            Rule::Token => true,
            Rule::Admin => st.has_role(caller, "admin"),
            Rule::Own => st.has_role(caller, "admin") || own(),
        };
        if allowed {
            Ok(())
        } else {
            Err(AuthError::Forbidden(self.action(op)))
        }
    }

    /// Keystone's name for the call (`identity:list_users`).
    pub fn action(&self, op: Op) -> String {
        let verb = match op {
            Op::List => return format!("identity:list_{}s", self.kind),
            Op::Show => "get",
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
        };
        format!("identity:{verb}_{}", self.kind)
    }
}

/// The policies, one per resource. A new resource names its own here.
pub mod of {
    use super::{Policy, Rule};

    /// Listed and changed by admins; shown to admins and to its own.
    const fn admin_or_own_show(kind: &'static str) -> Policy {
        Policy {
            kind,
            list: Rule::Admin,
            show: Rule::Own,
            create: Rule::Admin,
            update: Rule::Admin,
            delete: Rule::Admin,
        }
    }

    const fn admin(kind: &'static str) -> Policy {
        Policy {
            kind,
            list: Rule::Admin,
            show: Rule::Admin,
            create: Rule::Admin,
            update: Rule::Admin,
            delete: Rule::Admin,
        }
    }

    /// A user sees itself.
    pub const USER: Policy = admin_or_own_show("user");
    /// A project is seen by those with a token scoped to it.
    pub const PROJECT: Policy = admin_or_own_show("project");
    /// A domain is seen by those scoped to it or to one of its projects.
    pub const DOMAIN: Policy = admin_or_own_show("domain");
    pub const GROUP: Policy = admin("group");
    pub const ROLE: Policy = admin("role");
    pub const SERVICE: Policy = admin("service");
    pub const ENDPOINT: Policy = admin("endpoint");
    /// Regions are read by every token (`identity:get_region` is empty).
    pub const REGION: Policy = Policy {
        kind: "region",
        list: Rule::Token,
        show: Rule::Token,
        create: Rule::Admin,
        update: Rule::Admin,
        delete: Rule::Admin,
    };
}
