//! The auth clone against real clients: python-openstackclient, keystonemiddleware's
//! auth_token and Tempest's identity tests (Debian packages that `make setup` installs),
//! plus raw HTTP checks of status codes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// A standalone `vstage clone auth` on a free port; killed on drop.
struct Clone {
    child: Child,
    url: String,
    state: PathBuf,
}

impl Clone {
    fn start(state: &Path, config: Option<&str>) -> Clone {
        let state_arg = state.display().to_string();
        let mut args = vec!["auth", "--listen", "127.0.0.1:0", "--state", &state_arg];
        let file = state.with_extension("yaml");
        let file_arg = file.display().to_string();
        if let Some(text) = config {
            std::fs::write(&file, text).unwrap();
            args.extend(["--config", &file_arg]);
        }
        let (child, url) = common::spawn_clone(&args);
        Clone {
            child,
            url,
            state: state.to_path_buf(),
        }
    }

    fn clouds(&self) -> PathBuf {
        self.state.join("clouds.yaml")
    }

    /// A password from the generated openrc of `user`.
    fn password(&self, user: &str) -> String {
        let rc = std::fs::read_to_string(self.state.join(format!("openrc-{user}"))).unwrap();
        rc.lines()
            .find_map(|l| l.strip_prefix("export OS_PASSWORD='"))
            .map(|p| p.trim_end_matches('\'').to_string())
            .unwrap()
    }

    fn openstack(&self, cloud: &str, args: &[&str]) -> std::process::Output {
        common::openstack(&self.clouds(), cloud, args)
    }

    fn osc_ok(&self, cloud: &str, args: &[&str]) -> String {
        common::osc_ok(&self.clouds(), cloud, args)
    }

    fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, String) {
        common::http(&self.url, method, path, headers, body)
    }

    /// Issues a project-scoped token by password; returns (status, token id).
    fn token(&self, user: &str, password: &str, project: &str) -> (u16, String) {
        let body = format!(
            r#"{{"auth":{{"identity":{{"methods":["password"],"password":{{"user":{{"name":"{user}","password":"{password}","domain":{{"name":"Default"}}}}}}}},"scope":{{"project":{{"name":"{project}","domain":{{"name":"Default"}}}}}}}}}}"#
        );
        let (status, head, _) = self.http("POST", "/v3/auth/tokens", &[], &body);
        let token = vstage::clone::http::header(&head, "x-subject-token").unwrap_or_default();
        (status, token.to_string())
    }
}

impl Drop for Clone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn openstackclient_works_against_the_clone() {
    let dir = tmp();
    let c = Clone::start(&dir.path().join("auth"), None);
    let token = c.osc_ok("admin", &["token", "issue", "-f", "value", "-c", "id"]);
    assert!(!token.trim().is_empty());
    let catalog = c.osc_ok("admin", &["catalog", "list", "-f", "value", "-c", "Type"]);
    assert!(catalog.contains("identity"), "{catalog}");
    let projects = c.osc_ok("admin", &["project", "list", "-f", "value", "-c", "Name"]);
    for p in ["admin", "demo", "service"] {
        assert!(projects.lines().any(|l| l == p), "{projects}");
    }
    c.osc_ok(
        "admin",
        &[
            "user",
            "create",
            "--domain",
            "default",
            "--password",
            "pw-alice",
            "alice",
        ],
    );
    c.osc_ok(
        "admin",
        &[
            "role",
            "add",
            "--user",
            "alice",
            "--project",
            "demo",
            "member",
        ],
    );
    let assignments = c.osc_ok(
        "admin",
        &[
            "role",
            "assignment",
            "list",
            "--user",
            "alice",
            "--names",
            "-f",
            "value",
        ],
    );
    assert!(
        assignments.contains("member alice@Default"),
        "{assignments}"
    );
    // The new user can log in to the project it was given.
    let (status, _) = c.token("alice", "pw-alice", "demo");
    assert_eq!(status, 201);
    // A member may not create users.
    let out = c.openstack("demo", &["user", "create", "--password", "x", "mallory"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn status_codes_for_bad_credentials_revoked_and_expired_tokens() {
    let dir = tmp();
    let c = Clone::start(
        &dir.path().join("auth"),
        Some(
            "token_ttl: 1\nusers:\n  - {name: admin, password: adminpw, project: admin, roles: [admin]}\n",
        ),
    );
    let (status, _) = c.token("admin", "wrong", "admin");
    assert_eq!(status, 401, "wrong password");
    let (status, admin) = c.token("admin", "adminpw", "admin");
    assert_eq!(status, 201);
    let (status, user) = c.token("admin", "adminpw", "admin");
    assert_eq!(status, 201);

    let validate = |subject: &str, query: &str| {
        let (s, _, _) = c.http(
            "GET",
            &format!("/v3/auth/tokens{query}"),
            &[("X-Auth-Token", &admin), ("X-Subject-Token", subject)],
            "",
        );
        s
    };
    assert_eq!(validate(&user, ""), 200);
    assert_eq!(validate("no-such-token", ""), 404);
    let (s, _, _) = c.http(
        "DELETE",
        "/v3/auth/tokens",
        &[("X-Auth-Token", &admin), ("X-Subject-Token", &user)],
        "",
    );
    assert_eq!(s, 204);
    assert_eq!(validate(&user, ""), 404, "revoked");

    let (_, fresh) = c.token("admin", "adminpw", "admin");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (s, head, _) = c.http(
        "GET",
        "/v3/auth/tokens",
        &[("X-Auth-Token", &fresh), ("X-Subject-Token", &fresh)],
        "",
    );
    assert_eq!(s, 401, "an expired token cannot authenticate a call");
    assert!(head.contains("Keystone uri="), "{head}");
    let (_, caller) = c.token("admin", "adminpw", "admin");
    let (s, _, _) = c.http(
        "GET",
        "/v3/auth/tokens",
        &[("X-Auth-Token", &caller), ("X-Subject-Token", &fresh)],
        "",
    );
    assert_eq!(s, 404, "an expired token does not validate");
    let (s, _, body) = c.http(
        "GET",
        "/v3/auth/tokens?allow_expired=1",
        &[("X-Auth-Token", &caller), ("X-Subject-Token", &fresh)],
        "",
    );
    assert_eq!(s, 200, "allow_expired for a service: {body}");
}

#[test]
fn state_survives_a_restart() {
    let dir = tmp();
    let state = dir.path().join("auth");
    let token = {
        let c = Clone::start(&state, None);
        c.osc_ok(
            "admin",
            &["project", "create", "--domain", "default", "kept"],
        );
        let (status, token) = c.token("admin", &c.password("admin"), "admin");
        assert_eq!(status, 201);
        token
    };
    let c = Clone::start(&state, None);
    let projects = c.osc_ok("admin", &["project", "list", "-f", "value", "-c", "Name"]);
    assert!(projects.lines().any(|l| l == "kept"), "{projects}");
    let (s, _, _) = c.http(
        "GET",
        "/v3/auth/tokens",
        &[("X-Auth-Token", &token), ("X-Subject-Token", &token)],
        "",
    );
    assert_eq!(s, 200, "a token issued before the restart still validates");
}

#[test]
fn keystonemiddleware_accepts_the_clone() {
    let dir = tmp();
    let c = Clone::start(&dir.path().join("auth"), None);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/middleware_check.py"
    );
    // Debian's interpreter: the packages are installed for it, not for other pythons on PATH.
    let out = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(&c.url)
        .arg(c.password("admin"))
        .arg(c.password("demo"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all middleware checks passed"), "{stdout}");
}

/// Tempest's identity tests named in clone-contracts.md §4, the application credential
/// tests and the catalog's (services, endpoints, regions), with the tempest.conf the
/// clone writes.
#[test]
fn heavy_tempest_identity_core_passes() {
    let dir = tmp();
    let c = Clone::start(&dir.path().join("auth"), None);
    let conf = std::fs::read_to_string(c.state.join("tempest.conf")).unwrap();
    // Tempest's whole identity v3 suite.
    let run = common::tempest(
        dir.path(),
        &conf,
        r"^tempest\.api\.identity\.(v3|admin\.v3)\.",
        None,
    );
    assert!(run.ok, "tempest failed:\n{}", run.summary);
    assert_eq!(run.failed, 0, "{}", run.summary);
    // Real Keystone passes 124 of 125 (issue 15's measure); with the domain
    // configuration tests, the clone passes 130.
    assert!(run.passed >= 130, "{}", run.summary);
}

/// A trust as Heat uses one: the trustee logs in with the trust as scope and acts, with
/// the delegated role only, as the trustor; deleting the trust ends that token.
#[test]
fn a_trustee_logs_in_with_the_trust_and_loses_it_with_the_trust() {
    let dir = tmp();
    let c = Clone::start(
        &dir.path().join("auth"),
        Some(
            "users:\n  - {name: admin, password: adminpw, project: admin, roles: [admin]}\n  - {name: alice, password: apw, project: demo, roles: [member, creator]}\n  - {name: bob, password: bpw, project: other, roles: [member]}\nprojects: [admin, demo, other]\nroles: [admin, member, reader, creator]\n",
        ),
    );
    let json = |body: &str| serde_json::from_str::<serde_json::Value>(body).unwrap();
    let (_, alice) = c.token("alice", "apw", "demo");
    let (_, _, b) = c.http(
        "GET",
        "/v3/auth/tokens",
        &[("X-Auth-Token", &alice), ("X-Subject-Token", &alice)],
        "",
    );
    let t = json(&b);
    let (alice_id, demo) = (
        t["token"]["user"]["id"].as_str().unwrap().to_string(),
        t["token"]["project"]["id"].as_str().unwrap().to_string(),
    );
    let (_, bob) = c.token("bob", "bpw", "other");
    let (_, _, b) = c.http(
        "GET",
        "/v3/auth/tokens",
        &[("X-Auth-Token", &bob), ("X-Subject-Token", &bob)],
        "",
    );
    let bob_id = json(&b)["token"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let body = format!(
        r#"{{"trust": {{"trustor_user_id": "{alice_id}", "trustee_user_id": "{bob_id}", "project_id": "{demo}", "impersonation": true, "roles": [{{"name": "member"}}]}}}}"#
    );
    // Only the trustor makes a trust.
    assert_eq!(
        c.http(
            "POST",
            "/v3/OS-TRUST/trusts",
            &[("X-Auth-Token", &bob)],
            &body
        )
        .0,
        403
    );
    let (s, _, b) = c.http(
        "POST",
        "/v3/OS-TRUST/trusts",
        &[("X-Auth-Token", &alice)],
        &body,
    );
    assert_eq!(s, 201, "{b}");
    let trust = json(&b)["trust"]["id"].as_str().unwrap().to_string();

    let login = format!(
        r#"{{"auth": {{"identity": {{"methods": ["password"], "password": {{"user": {{"id": "{bob_id}", "password": "bpw"}}}}}}, "scope": {{"OS-TRUST:trust": {{"id": "{trust}"}}}}}}}}"#
    );
    let (s, head, b) = c.http("POST", "/v3/auth/tokens", &[], &login);
    assert_eq!(s, 201, "{b}");
    let t = json(&b)["token"].clone();
    assert_eq!(
        t["user"]["id"],
        alice_id.as_str(),
        "impersonation: the trustor"
    );
    assert_eq!(t["project"]["id"], demo.as_str());
    assert_eq!(t["OS-TRUST:trust"]["id"], trust.as_str());
    let mut roles: Vec<&str> = t["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        ["member", "reader"],
        "the delegated role and what it implies, not creator"
    );
    let subject = vstage::clone::http::header(&head, "x-subject-token")
        .unwrap()
        .to_string();
    let validate = || {
        c.http(
            "GET",
            "/v3/auth/tokens",
            &[("X-Auth-Token", &alice), ("X-Subject-Token", &subject)],
            "",
        )
        .0
    };
    assert_eq!(validate(), 200);
    // Alice (not a trustee) cannot use it.
    let as_alice = login.replace(&bob_id, &alice_id).replace("bpw", "apw");
    assert_eq!(c.http("POST", "/v3/auth/tokens", &[], &as_alice).0, 401);
    assert_eq!(
        c.http(
            "DELETE",
            &format!("/v3/OS-TRUST/trusts/{trust}"),
            &[("X-Auth-Token", &alice)],
            ""
        )
        .0,
        204
    );
    assert_eq!(validate(), 404, "the token went with its trust");
}

/// OS-INHERIT and implied roles as a token sees them: a role inherited from a domain,
/// or from a parent project, holds on the projects below, with what it implies; a
/// domain-specific role brings only the global roles it implies.
#[test]
fn inherited_and_implied_roles_reach_tokens_as_keystone_s_do() {
    let dir = tmp();
    let c = Clone::start(
        &dir.path().join("auth"),
        Some(
            "users:\n  - {name: admin, password: adminpw, project: admin, roles: [admin]}\nprojects: [admin]\nroles: [admin, member, reader]\n",
        ),
    );
    let (_, admin) = c.token("admin", "adminpw", "admin");
    let auth = [("X-Auth-Token", admin.as_str())];
    let json = |body: &str| serde_json::from_str::<serde_json::Value>(body).unwrap();
    let made = |path: &str, body: &str, key: &str| {
        let (s, _, b) = c.http("POST", path, &auth, body);
        assert_eq!(s, 201, "{path}: {b}");
        json(&b)[key]["id"].as_str().unwrap().to_string()
    };
    let d = made("/v3/domains", r#"{"domain": {"name": "d1"}}"#, "domain");
    let top = made(
        "/v3/projects",
        &format!(r#"{{"project": {{"name": "top", "domain_id": "{d}"}}}}"#),
        "project",
    );
    let leaf = made(
        "/v3/projects",
        &format!(r#"{{"project": {{"name": "leaf", "parent_id": "{top}"}}}}"#),
        "project",
    );
    let (_, _, b) = c.http("GET", &format!("/v3/projects/{leaf}"), &auth, "");
    assert_eq!(json(&b)["project"]["parent_id"], top.as_str());
    assert_eq!(json(&b)["project"]["domain_id"], d.as_str());
    let u = made(
        "/v3/users",
        &format!(r#"{{"user": {{"name": "u", "password": "pw", "domain_id": "{d}"}}}}"#),
        "user",
    );
    let (_, _, b) = c.http("GET", "/v3/roles?name=member", &auth, "");
    let member = json(&b)["roles"][0]["id"].as_str().unwrap().to_string();
    let local = made(
        "/v3/roles",
        &format!(r#"{{"role": {{"name": "local", "domain_id": "{d}"}}}}"#),
        "role",
    );
    assert_eq!(
        c.http(
            "PUT",
            &format!("/v3/roles/{local}/implies/{member}"),
            &auth,
            ""
        )
        .0,
        201
    );
    // A global role may not imply a domain's role, and nothing implies admin.
    assert_eq!(
        c.http(
            "PUT",
            &format!("/v3/roles/{member}/implies/{local}"),
            &auth,
            ""
        )
        .0,
        403
    );

    let inherit =
        format!("/v3/OS-INHERIT/domains/{d}/users/{u}/roles/{local}/inherited_to_projects");
    assert_eq!(c.http("PUT", &inherit, &auth, "").0, 204);
    let login = |project: &str| {
        let body = format!(
            r#"{{"auth": {{"identity": {{"methods": ["password"], "password": {{"user": {{"id": "{u}", "password": "pw"}}}}}}, "scope": {{"project": {{"id": "{project}"}}}}}}}}"#
        );
        let (s, _, b) = c.http("POST", "/v3/auth/tokens", &[], &body);
        (s, b)
    };
    for p in [&top, &leaf] {
        let (s, b) = login(p);
        assert_eq!(s, 201, "{b}");
        let mut roles: Vec<String> = json(&b)["token"]["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect();
        roles.sort();
        assert_eq!(
            roles,
            ["member", "reader"],
            "domain roles stay out of tokens"
        );
    }
    // The inherited role is not held on the domain itself.
    let (_, _, b) = c.http(
        "GET",
        &format!("/v3/role_assignments?effective&user.id={u}&scope.domain.id={d}"),
        &auth,
        "",
    );
    assert_eq!(
        json(&b)["role_assignments"].as_array().unwrap().len(),
        0,
        "{b}"
    );
    assert_eq!(c.http("DELETE", &inherit, &auth, "").0, 204);
    assert_eq!(login(&leaf).0, 401, "no role is left on the leaf");

    // Inherited from the parent project: the leaf has it, the parent does not.
    let inherit =
        format!("/v3/OS-INHERIT/projects/{top}/users/{u}/roles/{member}/inherited_to_projects");
    assert_eq!(c.http("PUT", &inherit, &auth, "").0, 204);
    assert_eq!(login(&leaf).0, 201);
    assert_eq!(login(&top).0, 401);
    // A parent with children stays.
    assert_eq!(
        c.http("DELETE", &format!("/v3/projects/{top}"), &auth, "")
            .0,
        403
    );
}

/// Keystone's revocation events: a token dies with its user's password, its role, its
/// project; and a member's token carries `reader` (admin implies member, member reader).
#[test]
fn tokens_die_as_keystone_revokes_them_and_members_read() {
    let dir = tmp();
    let c = Clone::start(
        &dir.path().join("auth"),
        Some(
            "users:\n  - {name: admin, password: adminpw, project: admin, roles: [admin]}\nprojects: [admin, demo]\nroles: [admin, member, reader]\n",
        ),
    );
    let (_, admin) = c.token("admin", "adminpw", "admin");
    let auth = [("X-Auth-Token", admin.as_str())];
    let json = |body: &str| serde_json::from_str::<serde_json::Value>(body).unwrap();
    let (s, _, body) = c.http(
        "POST",
        "/v3/users",
        &auth,
        r#"{"user": {"name": "alice", "password": "pw1", "domain_id": "default"}}"#,
    );
    assert_eq!(s, 201, "{body}");
    let uid = json(&body)["user"]["id"].as_str().unwrap().to_string();
    let (_, _, body) = c.http("GET", "/v3/projects?name=demo", &auth, "");
    let pid = json(&body)["projects"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, _, body) = c.http("GET", "/v3/roles?name=member", &auth, "");
    let rid = json(&body)["roles"][0]["id"].as_str().unwrap().to_string();
    let grant = format!("/v3/projects/{pid}/users/{uid}/roles/{rid}");
    assert_eq!(c.http("PUT", &grant, &auth, "").0, 204);
    let validate = |subject: &str| {
        c.http(
            "GET",
            "/v3/auth/tokens",
            &[("X-Auth-Token", &admin), ("X-Subject-Token", subject)],
            "",
        )
    };

    let (s, t1) = c.token("alice", "pw1", "demo");
    assert_eq!(s, 201);
    let (s, _, body) = validate(&t1);
    assert_eq!(s, 200);
    let roles: Vec<String> = json(&body)["token"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        roles.contains(&"member".into()) && roles.contains(&"reader".into()),
        "{roles:?}"
    );

    // A new password ends the old tokens.
    let user = format!("/v3/users/{uid}");
    assert_eq!(
        c.http("PATCH", &user, &auth, r#"{"user": {"password": "pw2"}}"#)
            .0,
        200
    );
    assert_eq!(validate(&t1).0, 404, "a token outlived its user's password");
    let (_, t2) = c.token("alice", "pw2", "demo");
    assert_eq!(validate(&t2).0, 200);
    // A removed role ends them.
    assert_eq!(c.http("DELETE", &grant, &auth, "").0, 204);
    assert_eq!(validate(&t2).0, 404, "a token outlived its role");
    // A disabled project ends the tokens scoped to it.
    assert_eq!(c.http("PUT", &grant, &auth, "").0, 204);
    let (_, t3) = c.token("alice", "pw2", "demo");
    assert_eq!(validate(&t3).0, 200);
    // A role removed elsewhere (on the domain) leaves tokens scoped to the project alone.
    let on_domain = format!("/v3/domains/default/users/{uid}/roles/{rid}");
    assert_eq!(c.http("PUT", &on_domain, &auth, "").0, 204);
    assert_eq!(c.http("DELETE", &on_domain, &auth, "").0, 204);
    assert_eq!(
        validate(&t3).0,
        200,
        "a domain grant's removal took a project token"
    );
    let project = format!("/v3/projects/{pid}");
    assert_eq!(
        c.http(
            "PATCH",
            &project,
            &auth,
            r#"{"project": {"enabled": false}}"#
        )
        .0,
        200
    );
    assert_eq!(validate(&t3).0, 404, "a token outlived its project");
    // Enabled again, the project does not bring the old token back (Keystone revoked it).
    assert_eq!(
        c.http(
            "PATCH",
            &project,
            &auth,
            r#"{"project": {"enabled": true}}"#
        )
        .0,
        200
    );
    assert_eq!(
        validate(&t3).0,
        404,
        "re-enabling the project revived a token"
    );
    let (_, t4) = c.token("alice", "pw2", "demo");
    assert_eq!(validate(&t4).0, 200);
}

/// Names as Keystone's schema takes them, renames that would collide refused with 409,
/// and `?enabled=` filtering lists.
#[test]
fn names_are_checked_like_keystones_and_lists_filter_on_enabled() {
    let dir = tmp();
    let c = Clone::start(
        &dir.path().join("auth"),
        Some(
            "users:\n  - {name: admin, password: adminpw, project: admin, roles: [admin]}\nprojects: [admin, demo]\n",
        ),
    );
    let (_, admin) = c.token("admin", "adminpw", "admin");
    let auth = [("X-Auth-Token", admin.as_str())];
    let create = |name: &str| {
        c.http(
            "POST",
            "/v3/projects",
            &auth,
            &format!(r#"{{"project": {{"name": "{name}", "domain_id": "default"}}}}"#),
        )
    };
    assert_eq!(create("").0, 400, "an empty name");
    assert_eq!(
        create(&"p".repeat(65)).0,
        400,
        "a 65-character project name"
    );
    assert_eq!(create(&"p".repeat(64)).0, 201);
    let (s, _, body) = create("other");
    assert_eq!(s, 201);
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v3/projects/{id}");
    let (s, _, body) = c.http("PATCH", &path, &auth, r#"{"project": {"name": "demo"}}"#);
    assert_eq!(s, 409, "renamed onto another project: {body}");
    assert_eq!(
        c.http("PATCH", &path, &auth, r#"{"project": {"enabled": false}}"#)
            .0,
        200
    );
    let names = |query: &str| -> Vec<String> {
        let (_, _, body) = c.http("GET", &format!("/v3/projects{query}"), &auth, "");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["projects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        names("?enabled=false") == vec!["other".to_string()],
        "{:?}",
        names("?enabled=false")
    );
    assert!(!names("?enabled=true").contains(&"other".to_string()));
}

#[test]
fn application_credentials_log_in_as_keystone_s_do_and_go_with_their_secret() {
    let dir = tmp();
    let c = Clone::start(&dir.path().join("auth"), None);
    let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
    // openstackclient makes one with the admin's project-scoped token.
    let made = json(&c.osc_ok(
        "admin",
        &[
            "application",
            "credential",
            "create",
            "ci",
            "--description",
            "for CI",
            "-f",
            "json",
        ],
    ));
    let (id, secret) = (
        made["id"].as_str().unwrap(),
        made["secret"].as_str().unwrap(),
    );
    assert_eq!(made["unrestricted"], false, "{made}");
    // ... and logs in with it, as CI tooling does.
    let clouds = dir.path().join("clouds-ci.yaml");
    std::fs::write(
        &clouds,
        format!(
            "clouds:\n  ci:\n    auth_type: v3applicationcredential\n    identity_api_version: 3\n    auth:\n      auth_url: {}/v3\n      application_credential_id: {id}\n      application_credential_secret: {secret}\n",
            c.url
        ),
    )
    .unwrap();
    let token = json(&common::osc_ok(
        &clouds,
        "ci",
        &["token", "issue", "-f", "json"],
    ));
    assert_eq!(token["project_id"], made["project_id"], "{token}");
    let list = c.osc_ok(
        "admin",
        &[
            "application",
            "credential",
            "list",
            "-f",
            "value",
            "-c",
            "Name",
        ],
    );
    assert_eq!(list.trim(), "ci");

    // The secret is shown once; the token says which credential made it; a restricted
    // credential's token may not make another.
    let (_, admin) = c.token("admin", &c.password("admin"), "admin");
    let admin_h = [("X-Auth-Token", admin.as_str())];
    let user_id = made["user_id"].as_str().unwrap();
    let path = format!("/v3/users/{user_id}/application_credentials/{id}");
    let (s, _, body) = c.http("GET", &path, &admin_h, "");
    assert_eq!(s, 200, "{body}");
    assert!(
        json(&body)["application_credential"]
            .get("secret")
            .is_none(),
        "{body}"
    );
    let login = format!(
        r#"{{"auth":{{"identity":{{"methods":["application_credential"],"application_credential":{{"name":"ci","secret":"{secret}","user":{{"name":"admin","domain":{{"name":"Default"}}}}}}}}}}}}"#
    );
    let (s, head, body) = c.http("POST", "/v3/auth/tokens", &[], &login);
    assert_eq!(s, 201, "{body}");
    let t = json(&body)["token"].clone();
    assert_eq!(t["methods"], serde_json::json!(["application_credential"]));
    assert_eq!(t["application_credential"]["id"], id);
    assert_eq!(t["application_credential"]["restricted"], true);
    let from_cred = vstage::clone::http::header(&head, "x-subject-token")
        .unwrap()
        .to_string();
    let (s, _, body) = c.http(
        "POST",
        &format!("/v3/users/{user_id}/application_credentials"),
        &[("X-Auth-Token", &from_cred)],
        r#"{"application_credential": {"name": "more"}}"#,
    );
    assert_eq!(s, 403, "{body}");
    // A wrong secret, a scope in the request: 401.
    let wrong = login.replace(secret, "nope");
    assert_eq!(c.http("POST", "/v3/auth/tokens", &[], &wrong).0, 401);
    let mut scoped = json(&login);
    scoped["auth"]["scope"] =
        serde_json::json!({"project": {"name": "admin", "domain": {"name": "Default"}}});
    let scoped = scoped.to_string();
    assert_eq!(
        c.http("POST", "/v3/auth/tokens", &[], &scoped).0,
        401,
        "{scoped}"
    );
    // expires_at comes back as it was given (Tempest compares the strings).
    let (s, _, body) = c.http(
        "POST",
        &format!("/v3/users/{user_id}/application_credentials"),
        &admin_h,
        r#"{"application_credential": {"name": "later", "expires_at": "2030-01-02T03:04:05.123456"}}"#,
    );
    assert_eq!(s, 201, "{body}");
    assert_eq!(
        json(&body)["application_credential"]["expires_at"],
        "2030-01-02T03:04:05.123456"
    );
    let (s, _, _) = c.http(
        "POST",
        &format!("/v3/users/{user_id}/application_credentials"),
        &admin_h,
        r#"{"application_credential": {"name": "later"}}"#,
    );
    assert_eq!(s, 409, "a second credential of that name");

    // Deleted, it logs in no more and its tokens end.
    assert_eq!(c.http("DELETE", &path, &admin_h, "").0, 204);
    assert_eq!(c.http("POST", "/v3/auth/tokens", &[], &login).0, 401);
    let validate = [
        ("X-Auth-Token", admin.as_str()),
        ("X-Subject-Token", from_cred.as_str()),
    ];
    assert_eq!(c.http("GET", "/v3/auth/tokens", &validate, "").0, 404);
}

/// A body that is not JSON gets Keystone's JSON 400, not a plain-text 415 or 422.
#[test]
fn bodies_that_are_not_json_get_keystone_s_400() {
    let dir = tmp();
    let c = Clone::start(&dir.path().join("auth"), None);
    let (_, admin) = c.token("admin", &c.password("admin"), "admin");
    let typed = [
        ("X-Auth-Token", admin.as_str()),
        ("Content-Type", "text/plain"),
    ];
    let plain = [("X-Auth-Token", admin.as_str())];
    for (headers, body, says) in [
        (
            &typed[..],
            r#"{"project": {"name": "p"}}"#,
            "Expecting to find application/json in Content-Type header",
        ),
        (&plain[..], r#"{"project": {"name": "#, "malformed"),
    ] {
        let (s, head, text) = c.http("POST", "/v3/projects", headers, body);
        assert_eq!(s, 400, "{text}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], 400, "{text}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(says),
            "{text}"
        );
    }
}

/// The catalog as deployment tooling writes it: `openstack service/endpoint/region
/// create`, what it made in new tokens' catalogs, the seeded part read-only.
#[test]
fn openstackclient_writes_the_catalog_as_deployment_tooling_does() {
    let dir = tmp();
    let c = Clone::start(&dir.path().join("auth"), None);
    let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
    let osc = |args: &[&str]| c.osc_ok("admin", args);
    osc(&["region", "create", "RegionTwo", "--description", "second"]);
    let svc = json(&osc(&[
        "service",
        "create",
        "--name",
        "cinderv3",
        "--description",
        "Block Storage",
        "volumev3",
        "-f",
        "json",
    ]));
    let sid = svc["id"].as_str().unwrap();
    for iface in ["public", "internal", "admin"] {
        osc(&[
            "endpoint",
            "create",
            "--region",
            "RegionTwo",
            "cinderv3",
            iface,
            "http://block:8776/v3/%(project_id)s",
        ]);
    }
    // Found by name (one match, not "Multiple service matches found") and by type.
    let shown = json(&osc(&["service", "show", "cinderv3", "-f", "json"]));
    assert_eq!(shown["id"], sid);
    let shown = json(&osc(&["service", "show", "identity", "-f", "json"]));
    assert_eq!(shown["type"], "identity");
    let listed = osc(&[
        "endpoint",
        "list",
        "--service",
        "cinderv3",
        "-f",
        "value",
        "-c",
        "Interface",
    ]);
    assert_eq!(listed.lines().count(), 3, "{listed}");
    let catalog = osc(&["catalog", "show", "volumev3", "-f", "json"]);
    assert!(catalog.contains("http://block:8776/v3/"), "{catalog}");

    // The template's part stays as the template says.
    let out = c.openstack("admin", &["service", "delete", "identity"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("seeded"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A service goes with its endpoints; a region with none left goes too.
    osc(&["service", "delete", "cinderv3"]);
    let left = osc(&["endpoint", "list", "-f", "value", "-c", "Region"]);
    assert!(!left.contains("RegionTwo"), "{left}");
    osc(&["region", "delete", "RegionTwo"]);
    let regions = osc(&["region", "list", "-f", "value", "-c", "Region"]);
    assert_eq!(regions.trim(), "RegionOne");
}
