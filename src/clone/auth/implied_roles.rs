//! Role inference rules (`/v3/roles/{prior}/implies/{implied}`): a prior role brings the
//! roles it implies, transitively, into tokens and effective assignments. Keystone's
//! bootstrap makes admin imply member and member imply reader; the clone seeds the same.
//! Domain-specific roles (a role with a `domain_id`) never reach a token themselves, only
//! the global roles they imply.

use std::collections::BTreeSet;

use super::error::AuthError;
use super::model::{Role, State};

/// Keystone's bootstrap rules, by role name: (prior, implied).
const BOOTSTRAP_RULES: &[(&str, &str)] = &[("admin", "member"), ("member", "reader")];

/// Keystone's `[assignment] prohibited_implied_role`: no rule may imply it.
const PROHIBITED_IMPLIED_ROLE: &str = "admin";

impl State {
    /// The inference rules, (prior id, implied id).
    pub fn rules(&self) -> impl Iterator<Item = &(String, String)> {
        self.implied_roles.iter().flatten()
    }

    /// Adds Keystone's bootstrap rules between the roles of those names that exist. A
    /// state saved before rules were kept gets them once, on load.
    pub fn seed_implied_roles(&mut self) {
        let id = |name: &str| {
            self.roles
                .values()
                .find(|r| r.name == name && r.domain_id.is_none())
                .map(|r| r.id.clone())
        };
        let rules: BTreeSet<(String, String)> = BOOTSTRAP_RULES
            .iter()
            .filter_map(|(p, i)| Some((id(p)?, id(i)?)))
            .collect();
        self.implied_roles.get_or_insert_default().extend(rules);
    }

    fn role(&self, id: &str) -> Result<&Role, AuthError> {
        self.roles.get(id).ok_or_else(|| AuthError::NotFound {
            kind: "role",
            id: id.into(),
        })
    }

    /// A rule from `prior` to `implied`, as Keystone allows it: not to the prohibited
    /// role, not from a global role to a domain's, not to itself.
    pub fn imply(&mut self, prior: &str, implied: &str) -> Result<(), AuthError> {
        let (p, i) = (self.role(prior)?, self.role(implied)?);
        if i.name == PROHIBITED_IMPLIED_ROLE && i.domain_id.is_none() {
            return Err(AuthError::Forbidden(format!(
                "{} may not be an implied role",
                i.name
            )));
        }
        if p.domain_id.is_none() && i.domain_id.is_some() {
            return Err(AuthError::Forbidden(
                "a global role may not imply a domain-specific role".into(),
            ));
        }
        if prior == implied || self.implied_by(&[implied]).iter().any(|r| r == prior) {
            return Err(AuthError::BadRequest(format!(
                "the rule {prior} -> {implied} would make a loop"
            )));
        }
        self.implied_roles
            .get_or_insert_default()
            .insert((prior.into(), implied.into()));
        Ok(())
    }

    pub fn has_rule(&self, prior: &str, implied: &str) -> Result<(), AuthError> {
        self.role(prior)?;
        self.role(implied)?;
        if self.rules().any(|(p, i)| p == prior && i == implied) {
            Ok(())
        } else {
            Err(AuthError::NotFound {
                kind: "implied role",
                id: format!("{prior} -> {implied}"),
            })
        }
    }

    pub fn unimply(&mut self, prior: &str, implied: &str) -> Result<(), AuthError> {
        self.has_rule(prior, implied)?;
        if let Some(r) = self.implied_roles.as_mut() {
            r.remove(&(prior.to_string(), implied.to_string()));
        }
        Ok(())
    }

    /// The rules that mention `role`, gone with it.
    pub fn forget_rules_of(&mut self, role: &str) {
        if let Some(r) = self.implied_roles.as_mut() {
            r.retain(|(p, i)| p != role && i != role);
        }
    }

    /// The roles `prior` implies directly.
    pub fn implies<'a>(&'a self, prior: &'a str) -> impl Iterator<Item = &'a Role> {
        self.rules()
            .filter(move |(p, _)| p == prior)
            .filter_map(|(_, i)| self.roles.get(i))
    }

    /// Every role the `held` ones imply, transitively (not the held ones themselves),
    /// nearest first.
    fn implied_by(&self, held: &[&str]) -> Vec<String> {
        let mut found: Vec<String> = Vec::new();
        let mut frontier: Vec<String> = held.iter().map(|s| s.to_string()).collect();
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for r in &frontier {
                for i in self.implies(r) {
                    if !found.contains(&i.id) {
                        found.push(i.id.clone());
                        next.push(i.id.clone());
                    }
                }
            }
            frontier = next;
        }
        found
    }

    /// What holding `held` amounts to: each held role with those it implies, each once
    /// (with the held role it came from, for the implied ones), domain-specific roles
    /// left out.
    pub fn effective_roles<'a>(&'a self, held: &[&'a Role]) -> Vec<(&'a Role, Option<&'a Role>)> {
        let mut out: Vec<(&Role, Option<&Role>)> = Vec::new();
        let mut seen = BTreeSet::new();
        for r in held {
            if seen.insert(r.id.clone()) {
                out.push((r, None));
            }
        }
        for prior in held {
            for id in self.implied_by(&[prior.id.as_str()]) {
                if let Some(role) = self.roles.get(&id)
                    && seen.insert(id)
                {
                    out.push((role, Some(prior)));
                }
            }
        }
        out.retain(|(r, _)| r.domain_id.is_none());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(names: &[&str]) -> (State, Vec<String>) {
        let mut st = State::new();
        let ids = names
            .iter()
            .map(|n| st.create_role(n, "", None).unwrap().id)
            .collect();
        (st, ids)
    }

    #[test]
    fn bootstrap_rules_make_a_member_a_reader_and_an_admin_both() {
        let (mut st, ids) = roles(&["admin", "member", "reader"]);
        st.seed_implied_roles();
        let admin = st.roles[&ids[0]].clone();
        let got: Vec<&str> = st
            .effective_roles(&[&admin])
            .iter()
            .map(|(r, _)| r.name.as_str())
            .collect();
        assert_eq!(got, ["admin", "member", "reader"]);
    }

    #[test]
    fn rules_refuse_admin_loops_and_global_to_domain_roles() {
        let (mut st, ids) = roles(&["admin", "a", "b"]);
        assert_eq!(st.imply(&ids[1], &ids[0]).unwrap_err().status(), 403);
        st.imply(&ids[1], &ids[2]).unwrap();
        assert_eq!(st.imply(&ids[2], &ids[1]).unwrap_err().status(), 400);
        let d = st.domains.keys().next().unwrap().clone();
        let local = st.create_role("local", "", Some(&d)).unwrap();
        assert_eq!(st.imply(&ids[1], &local.id).unwrap_err().status(), 403);
        st.imply(&local.id, &ids[1]).unwrap();
        // A domain role held brings its global implications, not itself.
        let held = st.roles[&local.id].clone();
        let mut got: Vec<&str> = st
            .effective_roles(&[&held])
            .iter()
            .map(|(r, _)| r.name.as_str())
            .collect();
        got.sort();
        assert_eq!(got, ["a", "b"]);
        st.delete_role(&ids[1]).unwrap();
        assert_eq!(st.rules().count(), 0);
    }
}
