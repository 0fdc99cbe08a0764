//! Who may call what, declared once per resource as Keystone's
//! `common/policies/<resource>.py` declare it (the 2025.1 defaults, read for the
//! project-scoped tokens the clone issues): admins do everything; others read only what
//! is theirs (the resource says what that is: a user itself, a project its members, a
//! domain the members of its projects) or what every token may read (regions). Keystone
//! refuses with 403 and hides nothing, so a refusal never depends on whether the
//! resource exists.

use super::error::AuthError;
use super::model::{State, Token};

/// Who may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Any valid token.
    Token,
    /// Admins, and the resource's own (see [`Policy::check`]).
    Own,
    /// Admins, `service` users (other services validating tokens), and the own.
    OwnOrService,
    /// The own only, admins included (a trust or application credential is made by
    /// its user, for itself).
    Subject,
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
    /// HEAD on an item, where Keystone names it apart (`check_grant`).
    Check,
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
            Op::Check => self.show,
        };
        let admin = || st.has_role(caller, "admin");
        let allowed = match rule {
            Rule::Token => true,
            Rule::Admin => admin(),
            Rule::Own => admin() || own(),
            Rule::OwnOrService => admin() || st.has_role(caller, "service") || own(),
            Rule::Subject => own(),
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
            Op::Check => "check",
        };
        format!("identity:{verb}_{}", self.kind)
    }
}

/// The policies, one per resource. A new resource names its own here.
pub mod of {
    use super::{Policy, Rule};

    const fn all(kind: &'static str, rule: Rule) -> Policy {
        Policy {
            kind,
            list: rule,
            show: rule,
            create: rule,
            update: rule,
            delete: rule,
        }
    }

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
        all(kind, Rule::Admin)
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

    pub const DOMAIN_CONFIG: Policy = admin("domain_config");
    pub const IMPLIED_ROLE: Policy = admin("implied_role");
    pub const GRANT: Policy = admin("grant");
    pub const ROLE_ASSIGNMENT: Policy = admin("role_assignment");
    /// Who is in a group: admins; a user lists its own groups (`USER_GROUPS`).
    pub const GROUP_MEMBER: Policy = admin("user_in_group");
    pub const USER_GROUPS: Policy = all("groups_for_user", Rule::Own);
    /// A user lists its own projects.
    pub const USER_PROJECTS: Policy = all("user_project", Rule::Own);
    /// A project's tags are read by those scoped to it, set by admins.
    pub const PROJECT_TAG: Policy = Policy {
        kind: "project_tag",
        list: Rule::Own,
        show: Rule::Own,
        create: Rule::Admin,
        update: Rule::Admin,
        delete: Rule::Admin,
    };
    /// A credential is its user's (and an admin's); a list shows each caller what it
    /// may show.
    pub const CREDENTIAL: Policy = Policy {
        list: Rule::Token,
        ..all("credential", Rule::Own)
    };
    pub const EC2_CREDENTIAL: Policy = all("ec2_credential", Rule::Own);
    /// Made by its user only; read and deleted by its user or an admin.
    pub const APPLICATION_CREDENTIAL: Policy = Policy {
        kind: "application_credential",
        list: Rule::Own,
        show: Rule::Own,
        create: Rule::Subject,
        update: Rule::Admin,
        delete: Rule::Own,
    };
    /// Made by its trustor only; seen by trustor and trustee, deleted by the trustor
    /// (and admins); listing them all is an admin's.
    pub const TRUST: Policy = Policy {
        kind: "trust",
        list: Rule::Own,
        show: Rule::Own,
        create: Rule::Subject,
        update: Rule::Admin,
        delete: Rule::Own,
    };
    /// A token is validated by its user, admins and services, revoked by its user and
    /// admins; anyone logs in.
    pub const TOKEN: Policy = Policy {
        kind: "token",
        list: Rule::Admin,
        show: Rule::OwnOrService,
        create: Rule::Token,
        update: Rule::Admin,
        delete: Rule::Own,
    };
    /// What every scoped token reads about itself (`/v3/auth/catalog`, `projects`,
    /// `domains`, `system`).
    pub const AUTH: Policy = all("auth", Rule::Token);
    /// Kept and served, not acted on: policies, OAuth1 consumers, endpoint groups.
    pub const POLICY: Policy = admin("policy");
    pub const CONSUMER: Policy = admin("consumer");
    pub const ENDPOINT_GROUP: Policy = admin("endpoint_group");
}
