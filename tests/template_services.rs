//! `services:` in templates: each section read by its registered clone kind, with
//! errors at the line and column of the template's text.

use vstage::template::{Source, Template, TemplateError, load};

const GOOD: &str = include_str!("templates/good.yaml");

fn parse(text: &str) -> Result<Template, TemplateError> {
    let source = Source {
        label: "t.yaml".into(),
        text: text.into(),
    };
    load(&source, &[])
}

fn at(err: TemplateError) -> (u64, u64, String) {
    match err {
        TemplateError::At {
            line,
            column,
            message,
            ..
        } => (line, column, message),
        other => panic!("expected a located error, got {other}"),
    }
}

#[test]
fn auth_service_is_read_and_checked() {
    let text = format!("{GOOD}services:\n  auth:\n    clone: keystone\n    region: R2\n");
    let t = parse(&text).unwrap();
    let auth = &t.services[0];
    assert_eq!(
        (auth.name.as_str(), auth.kind.as_str()),
        ("auth", "keystone")
    );
    assert_eq!(auth.settings["region"], "R2");
    assert_eq!(
        auth.settings["users"].as_array().unwrap().len(),
        2,
        "default users"
    );
    let text = format!("{GOOD}services:\n  auth:\n    clone: ldap\n");
    let (line, col, msg) = at(parse(&text).unwrap_err());
    assert_eq!((line, col), (22, 12));
    assert!(msg.contains("keystone"), "{msg}");
    let text = format!("{GOOD}services:\n  auth:\n    clone: keystone\n    colour: red\n");
    let (line, _, _) = at(parse(&text).unwrap_err());
    assert_eq!(line, 23);
}

#[test]
fn sdn_service_needs_auth_and_a_known_mode() {
    let text = format!("{GOOD}services:\n  sdn:\n    clone: neutron\n");
    let (line, _, msg) = at(parse(&text).unwrap_err());
    assert_eq!(line, 22);
    assert!(msg.contains("services.auth"), "{msg}");
    let text = format!(
        "{GOOD}services:\n  auth: {{clone: keystone}}\n  sdn: {{clone: neutron, vif_plugged: event}}\n"
    );
    let t = parse(&text).unwrap();
    assert_eq!(t.services[1].settings["vif_plugged_event"], true);
    let text = format!(
        "{GOOD}services:\n  auth: {{clone: keystone}}\n  sdn: {{clone: neutron, vif_plugged: later}}\n"
    );
    let (_, _, msg) = at(parse(&text).unwrap_err());
    assert!(msg.contains("immediate"), "{msg}");
    // Only what the clone serves may be advertised, with the place of what it does not.
    let text = format!(
        "{GOOD}services:\n  auth: {{clone: keystone}}\n  sdn:\n    clone: neutron\n    extensions: [router, metering]\n"
    );
    let (line, col, msg) = at(parse(&text).unwrap_err());
    assert_eq!((line, col), (24, 26), "{msg}");
    assert!(
        msg.contains("'metering'") && msg.contains("router"),
        "{msg}"
    );
    let text = format!(
        "{GOOD}services:\n  auth: {{clone: keystone}}\n  sdn:\n    clone: neutron\n    extensions: [router, standard-attr-tag]\n"
    );
    assert_eq!(
        parse(&text).unwrap().services[1].settings["extensions"][1],
        "standard-attr-tag"
    );
}

#[test]
fn service_names_are_hostnames_and_roles_are_unique() {
    // A service named like a node would give guests one hostname for two machines.
    let text = format!("{GOOD}services:\n  a:\n    clone: keystone\n");
    let (line, col, msg) = at(parse(&text).unwrap_err());
    assert_eq!((line, col), (22, 12));
    assert!(msg.contains("hostname 'a'"), "{msg}");
    let text = format!("{GOOD}services:\n  Auth_1:\n    clone: keystone\n");
    let (_, _, msg) = at(parse(&text).unwrap_err());
    assert!(msg.contains("not a valid service name"), "{msg}");
    let text = format!("{GOOD}services:\n  id1: {{clone: keystone}}\n  id2: {{clone: keystone}}\n");
    let (line, _, msg) = at(parse(&text).unwrap_err());
    assert_eq!(line, 22);
    assert!(msg.contains("services.id1"), "{msg}");
    // Errors inside a kind's own fields keep their place in the template's text.
    let text = format!(
        "{GOOD}services:\n  auth:\n    clone: keystone\n    users:\n      - name: x\n        colour: red\n"
    );
    let (line, col, msg) = at(parse(&text).unwrap_err());
    assert_eq!((line, col), (25, 9));
    assert!(msg.contains("colour"), "{msg}");
}
