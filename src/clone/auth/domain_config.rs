//! Domain-specific configuration (`/v3/domains/{id}/config`), kept as Keystone keeps it
//! for domains with a backend of their own: the `identity` and `ldap` groups, only the
//! options Keystone lets a domain set, sensitive ones (`ldap.password`) stored but never
//! shown. The clone has one SQL-like backend: a configuration is data, nothing connects
//! to an LDAP server.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::error::AuthError;
use super::model::State;

/// group -> option -> value
pub type Config = BTreeMap<String, BTreeMap<String, Value>>;

/// Options a domain may set, with Keystone's defaults.
fn options(group: &str) -> Option<Vec<(&'static str, Value)>> {
    match group {
        "identity" => Some(vec![("driver", json!("sql")), ("list_limit", Value::Null)]),
        "ldap" => Some(vec![
            ("url", json!("ldap://localhost")),
            ("user", Value::Null),
            ("password", Value::Null),
            ("suffix", json!("cn=example,cn=com")),
            ("query_scope", json!("one")),
            ("page_size", json!(0)),
            ("alias_dereferencing", json!("default")),
            ("debug_level", Value::Null),
            ("chase_referrals", Value::Null),
            ("user_tree_dn", Value::Null),
            ("user_filter", Value::Null),
            ("user_objectclass", json!("inetOrgPerson")),
            ("user_id_attribute", json!("cn")),
            ("user_name_attribute", json!("sn")),
            ("user_description_attribute", json!("description")),
            ("user_mail_attribute", json!("mail")),
            ("user_pass_attribute", json!("userPassword")),
            ("user_enabled_attribute", json!("enabled")),
            ("user_enabled_invert", json!(false)),
            ("user_enabled_mask", json!(0)),
            ("user_enabled_default", json!("True")),
            ("user_attribute_ignore", json!(["default_project_id"])),
            ("user_default_project_id_attribute", Value::Null),
            ("user_enabled_emulation", json!(false)),
            ("user_enabled_emulation_dn", Value::Null),
            ("user_additional_attribute_mapping", json!([])),
            ("group_tree_dn", Value::Null),
            ("group_filter", Value::Null),
            ("group_objectclass", json!("groupOfNames")),
            ("group_id_attribute", json!("cn")),
            ("group_name_attribute", json!("ou")),
            ("group_member_attribute", json!("member")),
            ("group_members_are_ids", json!(false)),
            ("group_desc_attribute", json!("description")),
            ("group_attribute_ignore", json!([])),
            ("group_additional_attribute_mapping", json!([])),
            ("tls_cacertfile", Value::Null),
            ("tls_cacertdir", Value::Null),
            ("use_tls", json!(false)),
            ("tls_req_cert", json!("demand")),
            ("use_pool", json!(true)),
            ("pool_size", json!(10)),
            ("pool_retry_max", json!(3)),
            ("pool_retry_delay", json!(0.1)),
            ("pool_connection_timeout", json!(-1)),
            ("pool_connection_lifetime", json!(600)),
            ("use_auth_pool", json!(true)),
            ("auth_pool_size", json!(100)),
            ("auth_pool_connection_lifetime", json!(60)),
        ]),
        _ => None,
    }
}

fn sensitive(group: &str, option: &str) -> bool {
    (group, option) == ("ldap", "password")
}

fn invalid(msg: String) -> AuthError {
    // Keystone's InvalidDomainConfig is a 403.
    AuthError::Forbidden(format!("Invalid domain specific configuration: {msg}"))
}

fn missing(what: String) -> AuthError {
    AuthError::NotFound {
        kind: "domain config",
        id: what,
    }
}

/// A `config` body, checked: known groups, known options, objects all the way.
pub fn parse(v: &Value) -> Result<Config, AuthError> {
    let groups = v
        .as_object()
        .ok_or_else(|| AuthError::BadRequest("expected {\"config\": {group: {...}}}".into()))?;
    let mut config = Config::new();
    for (group, opts) in groups {
        let known =
            options(group).ok_or_else(|| invalid(format!("group {group} is not supported")))?;
        let opts = opts
            .as_object()
            .ok_or_else(|| AuthError::BadRequest(format!("group {group}: expected an object")))?;
        for (option, value) in opts {
            if !known.iter().any(|(o, _)| o == option) {
                return Err(invalid(format!(
                    "option {option} in group {group} is not supported"
                )));
            }
            config
                .entry(group.clone())
                .or_default()
                .insert(option.clone(), value.clone());
        }
    }
    Ok(config)
}

/// The configuration as it is shown: without sensitive options.
pub fn shown(config: &Config) -> Value {
    let groups: Map<String, Value> = config
        .iter()
        .map(|(g, opts)| {
            let opts: Map<String, Value> = opts
                .iter()
                .filter(|(o, _)| !sensitive(g, o))
                .map(|(o, v)| (o.clone(), v.clone()))
                .collect();
            (g.clone(), Value::Object(opts))
        })
        .collect();
    Value::Object(groups)
}

/// Keystone's defaults: every group, or one, or one option (sensitive ones are not).
pub fn defaults(group: Option<&str>, option: Option<&str>) -> Result<Value, AuthError> {
    let groups: Vec<&str> = match group {
        Some(g) => {
            options(g).ok_or_else(|| invalid(format!("group {g} is not supported")))?;
            vec![g]
        }
        None => vec!["identity", "ldap"],
    };
    let mut out = Map::new();
    for g in groups {
        let opts = options(g).expect("known above");
        if let Some(o) = option {
            let (_, v) = opts
                .into_iter()
                .find(|(name, _)| *name == o && !sensitive(g, o))
                .ok_or_else(|| invalid(format!("option {o} in group {g} has no default shown")))?;
            return Ok(json!({ o: v }));
        }
        let opts: Map<String, Value> = opts
            .into_iter()
            .filter(|(o, _)| !sensitive(g, o))
            .map(|(o, v)| (o.to_string(), v))
            .collect();
        out.insert(g.to_string(), Value::Object(opts));
    }
    Ok(Value::Object(out))
}

impl State {
    fn domain_config(&self, domain: &str) -> Result<&Config, AuthError> {
        if !self.domains.contains_key(domain) {
            return Err(AuthError::NotFound {
                kind: "domain",
                id: domain.into(),
            });
        }
        self.domain_configs
            .get(domain)
            .ok_or_else(|| missing(format!("domain {domain}")))
    }

    /// Replaces the domain's configuration; whether it had one.
    pub fn put_domain_config(&mut self, domain: &str, config: Config) -> Result<bool, AuthError> {
        if !self.domains.contains_key(domain) {
            return Err(AuthError::NotFound {
                kind: "domain",
                id: domain.into(),
            });
        }
        Ok(self.domain_configs.insert(domain.into(), config).is_some())
    }

    /// Shows the whole configuration, a group, or an option.
    pub fn show_domain_config(
        &self,
        domain: &str,
        group: Option<&str>,
        option: Option<&str>,
    ) -> Result<Value, AuthError> {
        let config = self.domain_config(domain)?;
        let Some(g) = group else {
            return Ok(shown(config));
        };
        let opts = config
            .get(g)
            .ok_or_else(|| missing(format!("group {g} of domain {domain}")))?;
        match option {
            None => Ok(json!({ g: shown(&Config::from([(g.to_string(), opts.clone())]))[g] })),
            Some(o) => {
                let v = opts.get(o).filter(|_| !sensitive(g, o)).ok_or_else(|| {
                    missing(format!("option {o} in group {g} of domain {domain}"))
                })?;
                Ok(json!({ o: v }))
            }
        }
    }

    /// Merges `change` (already narrowed to `group`/`option` by the caller's path) into
    /// the configuration; the result, as shown.
    pub fn update_domain_config(
        &mut self,
        domain: &str,
        change: Config,
    ) -> Result<Value, AuthError> {
        self.domain_config(domain)?;
        let config = self.domain_configs.get_mut(domain).expect("checked above");
        for (g, opts) in change {
            config.entry(g).or_default().extend(opts);
        }
        Ok(shown(config))
    }

    /// Deletes the whole configuration, a group, or an option.
    pub fn delete_domain_config(
        &mut self,
        domain: &str,
        group: Option<&str>,
        option: Option<&str>,
    ) -> Result<(), AuthError> {
        self.domain_config(domain)?;
        let Some(g) = group else {
            self.domain_configs.remove(domain);
            return Ok(());
        };
        let config = self.domain_configs.get_mut(domain).expect("checked above");
        let opts = config
            .get_mut(g)
            .ok_or_else(|| missing(format!("group {g} of domain {domain}")))?;
        match option {
            None => {
                config.remove(g);
            }
            Some(o) => {
                opts.remove(o).ok_or_else(|| {
                    missing(format!("option {o} in group {g} of domain {domain}"))
                })?;
                if opts.is_empty() {
                    config.remove(g);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_options_and_no_secret_is_shown() {
        assert_eq!(
            parse(&json!({"ldap": {"colour": "red"}}))
                .unwrap_err()
                .status(),
            403
        );
        assert_eq!(parse(&json!({"nis": {}})).unwrap_err().status(), 403);
        let c = parse(&json!({"ldap": {"url": "ldap://x", "password": "s3cret"}})).unwrap();
        assert_eq!(shown(&c), json!({"ldap": {"url": "ldap://x"}}));
        let d = defaults(None, None).unwrap();
        assert_eq!(d["identity"]["driver"], "sql");
        assert!(d["ldap"].get("password").is_none());
        assert!(defaults(Some("ldap"), Some("password")).is_err());
        assert_eq!(
            defaults(Some("identity"), Some("driver")).unwrap(),
            json!({"driver": "sql"})
        );
    }
}
