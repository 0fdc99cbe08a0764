//! `/v3/auth/tokens` (issue, validate, revoke) and what a token reads about itself
//! (`/v3/auth/catalog`, `projects`, `domains`, `system`).

use axum::extract::{Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::*;

impl Service {
    fn token_json(&self, st: &State, t: &Token, with_catalog: bool) -> Value {
        let user = st.users.get(&t.user_id);
        let domain_of = |id: &str| {
            let name = st
                .domains
                .get(id)
                .map(|d| d.name.clone())
                .unwrap_or_default();
            json!({"id": id, "name": name})
        };
        let mut body = json!({
            "methods": t.methods,
            "expires_at": timestamp(t.expires_at),
            "issued_at": timestamp(t.issued_at),
            "audit_ids": [t.audit_id],
            "user": {
                "id": t.user_id,
                "name": user.map(|u| u.name.clone()).unwrap_or_default(),
                "domain": domain_of(user.map(|u| u.domain_id.as_str()).unwrap_or("default")),
                "password_expires_at": null,
            },
        });
        match &t.scope {
            Scope::Unscoped => return json!({"token": body}),
            Scope::Project(id) => {
                let p = st.projects.get(id);
                body["project"] = json!({
                    "id": id,
                    "name": p.map(|p| p.name.clone()).unwrap_or_default(),
                    "domain": domain_of(p.map(|p| p.domain_id.as_str()).unwrap_or("default")),
                });
                body["is_domain"] = json!(false);
                body["is_admin_project"] = json!(p.is_some_and(|p| p.name == "admin"));
            }
            Scope::Domain(id) => body["domain"] = domain_of(id),
            Scope::System => body["system"] = json!({"all": true}),
        }
        let roles: Vec<Value> = st
            .token_roles(t)
            .iter()
            .map(|r| json!({"id": r.id, "name": r.name}))
            .collect();
        body["roles"] = Value::Array(roles);
        if let Some(c) = t
            .app_credential
            .as_ref()
            .and_then(|c| st.app_credentials.get(c))
        {
            body["application_credential"] =
                json!({"id": c.id, "name": c.name, "restricted": !c.unrestricted});
        }
        if let Some(tr) = t.trust.as_ref().and_then(|id| st.trusts.get(id)) {
            body["OS-TRUST:trust"] = json!({
                "id": tr.id, "impersonation": tr.impersonation,
                "trustor_user": {"id": tr.trustor_user_id},
                "trustee_user": {"id": tr.trustee_user_id},
            });
        }
        if with_catalog {
            body["catalog"] = self.catalog(st);
        }
        json!({"token": body})
    }
}

pub(super) async fn issue_token(
    AxState(s): AxState<Shared>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    Body(req): Body,
) -> Reply {
    let auth = req
        .get("auth")
        .ok_or_else(|| ApiError::from(bad("expected {\"auth\": ...}")))?;
    let identity = auth
        .get("identity")
        .ok_or_else(|| ApiError::from(bad("auth needs identity")))?;
    let methods: Vec<String> = identity
        .get("methods")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    // A password is checked before the state is locked for the token: bcrypt takes its
    // time by design, and other requests must not wait for it.
    // An application credential's secret is a password too, and checked the same way.
    let app_login = if methods.iter().any(|m| m == "application_credential") {
        let c = identity.get("application_credential").ok_or_else(|| {
            ApiError::from(bad("application_credential needs id or name, and secret"))
        })?;
        let secret = c
            .get("secret")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let which = match (str_at(c, &["id"]), str_at(c, &["name"])) {
            (Some(id), _) => AppCredentialRef::Id(id.into()),
            (None, Some(name)) => {
                let u = c.get("user").ok_or_else(|| {
                    ApiError::from(bad("an application credential's name needs its user"))
                })?;
                let user = match (str_at(u, &["id"]), str_at(u, &["name"])) {
                    (Some(id), _) => UserRef::Id(id.into()),
                    (None, Some(name)) => UserRef::Name {
                        name: name.into(),
                        domain: domain_ref(u.get("domain"))?,
                    },
                    _ => return Err(ApiError::from(bad("user needs an id or a name"))),
                };
                AppCredentialRef::Name {
                    name: name.into(),
                    user,
                }
            }
            _ => {
                return Err(ApiError::from(bad(
                    "application_credential needs an id or a name",
                )));
            }
        };
        let cred = s.lock().app_credential_login(&which, now_micros())?;
        let stored = cred.secret_hash.clone();
        let matches = tokio::task::spawn_blocking(move || {
            crate::clone::auth::tokens::password_matches(&stored, &secret)
        })
        .await
        .unwrap_or(false);
        if !matches {
            return Err(ApiError::from(AuthError::Unauthorized));
        }
        Some(cred)
    } else {
        None
    };
    let password_login = if app_login.is_some() {
        None
    } else if methods.iter().any(|m| m == "password") {
        let u = identity
            .pointer("/password/user")
            .ok_or_else(|| ApiError::from(bad("password needs user")))?;
        let password = u.get("password").and_then(Value::as_str).unwrap_or("");
        let user = match (str_at(u, &["id"]), str_at(u, &["name"])) {
            (Some(id), _) => UserRef::Id(id.into()),
            (None, Some(name)) => UserRef::Name {
                name: name.into(),
                domain: domain_ref(u.get("domain"))?,
            },
            _ => return Err(ApiError::from(bad("user needs an id or a name"))),
        };
        let (id, hash) = s.lock().login_hash(&user)?;
        let (given, stored) = (password.to_string(), hash.clone());
        let matches = tokio::task::spawn_blocking(move || {
            crate::clone::auth::tokens::password_matches(&stored, &given)
        })
        .await
        .unwrap_or(false);
        if !matches {
            return Err(ApiError::from(AuthError::Unauthorized));
        }
        Some((id, hash))
    } else {
        None
    };
    let now = now_micros();
    let mut st = s.lock();
    if let Some(cred) = app_login {
        // Scoped to its project, always: Keystone refuses a scope in the request.
        if auth.get("scope").is_some() {
            return Err(ApiError::from(AuthError::Unauthorized));
        }
        // Still there (not deleted meanwhile) now that the state is locked.
        if !st.app_credentials.contains_key(&cred.id) {
            return Err(ApiError::from(AuthError::Unauthorized));
        }
        let lifetime = now + s.config.token_ttl * 1_000_000;
        let expires_at = cred.expires_at.map_or(lifetime, |e| e.min(lifetime));
        let mut token = st.issue(
            &cred.user_id,
            Scope::Project(cred.project_id.clone()),
            vec!["application_credential".to_string()],
            now,
            expires_at,
        );
        token.app_credential = Some(cred.id.clone());
        st.tokens.insert(token.id.clone(), token.clone());
        return s.issued(st, &token, !q.contains_key("nocatalog"));
    }
    // Who: a password, or an existing token (rescoping keeps its expiry and methods).
    let (user_id, mut all_methods, expires_at) = if let Some((id, hash)) = password_login {
        // Still the same password, and still allowed to log in, now that it is locked.
        match st.login_hash(&UserRef::Id(id.clone())) {
            Ok((_, now_hash)) if now_hash == hash => {}
            _ => return Err(ApiError::from(AuthError::Unauthorized)),
        }
        (
            id,
            vec!["password".to_string()],
            now + s.config.token_ttl * 1_000_000,
        )
    } else if methods.iter().any(|m| m == "token") {
        let id = str_at(identity, &["token", "id"])
            .ok_or_else(|| ApiError::from(bad("token needs id")))?;
        let t = st
            .valid_token(id, now, false)
            .ok_or_else(|| ApiError::from(AuthError::Unauthorized))?;
        (t.user_id.clone(), t.methods.clone(), t.expires_at)
    } else {
        return Err(ApiError::from(bad(
            "supported methods: password, token, application_credential",
        )));
    };
    for m in &methods {
        if !all_methods.contains(m) {
            all_methods.push(m.clone());
        }
    }
    if let Some(trust) = auth
        .get("scope")
        .and_then(|sc| str_at(sc, &["OS-TRUST:trust", "id"]))
    {
        // The trustee logs in with the trust: a token of its project, with its roles.
        let (who, project) = st.use_trust(trust, &user_id, now)?;
        let ends = st.trusts.get(trust).and_then(|t| t.expires_at);
        let scope = project.map_or(Scope::Unscoped, Scope::Project);
        let expires_at = ends.map_or(expires_at, |e| e.min(expires_at));
        let mut token = st.issue(&who, scope, all_methods, now, expires_at);
        token.trust = Some(trust.to_string());
        st.tokens.insert(token.id.clone(), token.clone());
        s.save(&st);
        return s.issued(st, &token, !q.contains_key("nocatalog"));
    }
    let scope = requested_scope(&st, &user_id, auth.get("scope"))?;
    let scope = st.resolve_scope(&user_id, &scope)?;
    let token = st.issue(&user_id, scope, all_methods, now, expires_at);
    s.issued(st, &token, !q.contains_key("nocatalog"))
}

impl Service {
    /// The answer to a token request that issued `token`: recorded, with its body.
    fn issued(
        &self,
        mut st: std::sync::MutexGuard<'_, State>,
        token: &Token,
        with_catalog: bool,
    ) -> Reply {
        // Bound memory: drop long-expired tokens now and then (cheap, amortised).
        if st.tokens.len().is_multiple_of(4096) {
            st.purge_tokens(token.issued_at, EXPIRED_GRACE_MICROS);
        }
        let body = self.token_json(&st, token, with_catalog);
        drop(st);
        if let Err(e) = self.store.lock().expect("store lock").issued(token) {
            eprintln!("auth clone: recording a token: {e}");
        }
        let mut resp = json_response(StatusCode::CREATED, body);
        resp.headers_mut().insert(
            "X-Subject-Token",
            HeaderValue::from_str(&token.id).expect("hex token"),
        );
        Ok(resp)
    }
}

/// The scope a token request asks for: its `scope`, or else the user's default project
/// when the user has a role there (as Keystone does), or else none.
fn requested_scope(
    st: &State,
    user_id: &str,
    scope: Option<&Value>,
) -> Result<ScopeRef, AuthError> {
    Ok(match scope {
        None => match st
            .users
            .get(user_id)
            .and_then(|u| u.default_project_id.clone())
        {
            Some(p)
                if st
                    .resolve_scope(user_id, &ScopeRef::ProjectId(p.clone()))
                    .is_ok() =>
            {
                ScopeRef::ProjectId(p)
            }
            _ => ScopeRef::Unscoped,
        },
        Some(Value::String(u)) if u == "unscoped" => ScopeRef::Unscoped,
        Some(scope) => {
            if let Some(p) = scope.get("project") {
                match (str_at(p, &["id"]), str_at(p, &["name"])) {
                    (Some(id), _) => ScopeRef::ProjectId(id.into()),
                    (None, Some(name)) => ScopeRef::ProjectName {
                        name: name.into(),
                        domain: domain_ref(p.get("domain"))?,
                    },
                    _ => return Err(bad("project scope needs an id or a name")),
                }
            } else if let Some(d) = scope.get("domain") {
                ScopeRef::Domain(domain_ref(Some(d))?)
            } else if scope.get("system").is_some() {
                ScopeRef::System
            } else {
                return Err(bad("unknown scope"));
            }
        }
    })
}

/// GET (and HEAD) /v3/auth/tokens: validate `X-Subject-Token` for the caller.
pub(super) async fn validate_token(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Reply {
    let st = s.lock();
    let caller = s.caller(&st, &headers)?;
    let subject_id = header(&headers, "x-subject-token").ok_or_else(|| missing("token", ""))?;
    // Expired tokens are shown to those who validate others' (admins and services).
    let may_see_expired =
        truthy(&q, "allow_expired") && of::TOKEN.check(&st, &caller, Op::Show, || false).is_ok();
    let subject = st
        .valid_token(subject_id, now_micros(), may_see_expired)
        .filter(|t| {
            !may_see_expired || t.expires_at.saturating_add(EXPIRED_GRACE_MICROS) > now_micros()
        })
        .cloned()
        .ok_or_else(|| missing("token", subject_id))?;
    of::TOKEN.check(&st, &caller, Op::Show, || caller.user_id == subject.user_id)?;
    let body = s.token_json(&st, &subject, !q.contains_key("nocatalog"));
    let mut resp = json_response(StatusCode::OK, body);
    resp.headers_mut().insert(
        "X-Subject-Token",
        HeaderValue::from_str(&subject.id).expect("hex token"),
    );
    Ok(resp)
}

pub(super) async fn revoke_token(AxState(s): AxState<Shared>, headers: HeaderMap) -> Reply {
    let mut st = s.lock();
    let caller = s.caller(&st, &headers)?;
    let subject_id = header(&headers, "x-subject-token")
        .unwrap_or("")
        .to_string();
    let subject = st
        .valid_token(&subject_id, now_micros(), false)
        .cloned()
        .ok_or_else(|| missing("token", &subject_id))?;
    of::TOKEN.check(&st, &caller, Op::Delete, || {
        caller.user_id == subject.user_id
    })?;
    st.revoke(&subject_id);
    drop(st);
    let _ = s.store.lock().expect("store lock").revoked(&subject_id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn auth_catalog(AxState(s): AxState<Shared>, headers: HeaderMap) -> Reply {
    let st = s.lock();
    let t = s.authorize(&st, &headers, &of::AUTH, Op::List, |_| false)?;
    if t.scope == Scope::Unscoped {
        return Err(ApiError::from(AuthError::Forbidden(
            "a catalog needs a scoped token".into(),
        )));
    }
    Ok(json_response(
        StatusCode::OK,
        json!({"catalog": s.catalog(&st), "links": s.link("auth/catalog")}),
    ))
}

/// The projects, or domains, the caller holds a role on and may scope a token to.
pub(super) async fn auth_projects(AxState(s): AxState<Shared>, headers: HeaderMap) -> Reply {
    let st = s.lock();
    let t = s.authorize(&st, &headers, &of::AUTH, Op::List, |_| false)?;
    let items = st
        .user_projects(&t.user_id)
        .into_iter()
        .filter(|p| p.enabled);
    let items: Vec<Value> = items.map(|p| s.project_json(p)).collect();
    scopes(&s, "projects", items)
}

pub(super) async fn auth_domains(AxState(s): AxState<Shared>, headers: HeaderMap) -> Reply {
    let st = s.lock();
    let t = s.authorize(&st, &headers, &of::AUTH, Op::List, |_| false)?;
    let items = st
        .user_domains(&t.user_id)
        .into_iter()
        .filter(|d| d.enabled);
    let items: Vec<Value> = items.map(|d| s.domain_json(d)).collect();
    scopes(&s, "domains", items)
}

fn scopes(s: &Service, kind: &str, items: Vec<Value>) -> Reply {
    Ok(json_response(
        StatusCode::OK,
        json!({kind: items, "links": s.list_links(&format!("auth/{kind}"))}),
    ))
}

pub(super) async fn auth_system(AxState(s): AxState<Shared>, headers: HeaderMap) -> Reply {
    let st = s.lock();
    let t = s.authorize(&st, &headers, &of::AUTH, Op::List, |_| false)?;
    let system: Vec<Value> = if st.roles_on(&t.user_id, &Target::System).is_empty() {
        vec![]
    } else {
        vec![json!({"all": true})]
    };
    Ok(json_response(
        StatusCode::OK,
        json!({"system": system, "links": s.link("auth/system")}),
    ))
}
