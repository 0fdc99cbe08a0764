//! Template errors through the CLI: file:line:column and exit code 2.

mod common;

use common::{Harness, code, stderr};

const BASE: &str = "apiVersion: vstage/v1
name: t
networks:
  - name: net0
    cidr: 10.0.0.0/24
nodes:
  - name: n1
    image: tiny
    cpus: 1
    nics:
      - network: net0
";

fn check(h: &Harness, text: &str, at: &str, says: &str) {
    let file = h.home.path().join("t.yaml");
    std::fs::write(&file, text).unwrap();
    let path = file.display().to_string();
    for verb in ["plan", "up"] {
        let out = h
            .run(&[verb, "-t", &path, "--set", "x=1"][..if text.contains("${x}") { 5 } else { 3 }]);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{verb}: {err}");
        assert!(
            err.contains(&format!("{path}:{at}:")),
            "{verb}: want {path}:{at}: in {err}"
        );
        assert!(err.contains(says), "{verb}: want '{says}' in {err}");
    }
    assert!(
        !h.home.path().join("envs/t").exists(),
        "no env made from a bad template"
    );
}

#[test]
fn unknown_field() {
    let h = Harness::new();
    check(
        &h,
        &BASE.replace("    cpus: 1\n", "    cpus: 1\n    disk: 10G\n"),
        "10:5",
        "disk",
    );
}

#[test]
fn wrong_type() {
    let h = Harness::new();
    check(
        &h,
        &BASE.replace("cpus: 1", "cpus: many"),
        "9:11",
        "expected a whole number",
    );
    check(
        &h,
        &BASE.replace(
            "    nics:\n      - network: net0\n",
            "    nics: {network: net0}\n",
        ),
        "10:11",
        "",
    );
}

#[test]
fn unknown_network() {
    let h = Harness::new();
    check(
        &h,
        &BASE.replace("- network: net0", "- network: net9"),
        "11:18",
        "unknown network 'net9'",
    );
}

#[test]
fn missing_image() {
    let h = Harness::new();
    check(
        &h,
        &BASE.replace("image: tiny", "image: fedora"),
        "8:12",
        "image 'fedora' does not exist",
    );
}

#[test]
fn bad_set_is_bad_input() {
    let h = Harness::new();
    let out = h.run(&["plan", "-t", "tiny", "--set", "nope=1"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("no parameter 'nope'"));
    let out = h.run(&["plan", "-t", "no-such-template"]);
    assert_eq!(code(&out), 2);
}

/// Each error is said once (no "X: X"), at its place.
fn check_once(h: &Harness, text: &str, at: &str, says: &str) {
    check(h, text, at, says);
    let file = h.home.path().join("t.yaml");
    let out = h.run(&["plan", "-t", &file.display().to_string()]);
    let err = stderr(&out);
    assert_eq!(err.matches(says).count(), 1, "said once: {err}");
}

#[test]
fn expanded_instance_names_must_not_collide() {
    let h = Harness::new();
    let text = BASE.replace("  - name: n1\n", "  - name: a\n    count: 2\n")
        + "  - name: a-1\n    image: tiny\n";
    check_once(&h, &text, "13:11", "another node makes too");
}

#[test]
fn overlapping_networks_and_the_service_network_are_refused() {
    let h = Harness::new();
    let overlap = BASE.replace(
        "nodes:\n",
        "  - name: net1\n    cidr: 10.0.0.128/25\nnodes:\n",
    );
    check_once(&h, &overlap, "7:11", "overlaps network 'net0'");
    let service = BASE.replace("10.0.0.0/24", "10.0.2.0/24");
    check_once(&h, &service, "5:11", "the service network");
}

#[test]
fn sizes_are_bounded() {
    let h = Harness::new();
    check_once(
        &h,
        &BASE.replace("    cpus: 1\n", "    cpus: 1\n    count: 65\n"),
        "10:12",
        "out of range 1..=64",
    );
    // Many nodes, each within bounds, still add up to too many instances.
    let mut many = BASE.to_string();
    for i in 0..3 {
        many.push_str(&format!("  - name: m{i}\n    image: tiny\n    count: 30\n"));
    }
    check_once(&h, &many, "20:12", "more than the 64 an env may have");
    let nics = "      - network: net0\n".repeat(9);
    check_once(
        &h,
        &BASE.replace("      - network: net0\n", &nics),
        "19:18",
        "at most 8 NICs",
    );
}

#[test]
fn duplicate_addresses_and_full_networks_are_located() {
    let h = Harness::new();
    let text = BASE.replace(
        "      - network: net0\n",
        "      - network: net0\n        ip: 10.0.0.5\n",
    ) + "  - name: n2\n    image: tiny\n    nics:\n      - network: net0\n        ip: 10.0.0.5\n";
    check_once(
        &h,
        &text,
        "16:18",
        "address 10.0.0.5 is given to both n1 and n2",
    );
    // A /28 has 5 addresses from .10 up: n1 takes one, n2's five instances lack one.
    let full = BASE.replace("10.0.0.0/24", "10.0.0.0/28")
        + "  - name: n2\n    image: tiny\n    count: 5\n    nics: [{network: net0}]\n";
    check_once(&h, &full, "15:22", "no free address left");
}

#[test]
fn token_ttl_is_bounded() {
    let h = Harness::new();
    let text = BASE.to_string()
        + "services:\n  auth:\n    clone: keystone\n    token_ttl: 18446744073709551615\n";
    check_once(&h, &text, "15:16", "token_ttl");
    let text =
        BASE.to_string() + "services:\n  auth:\n    clone: keystone\n    password_hash_rounds: 3\n";
    check_once(&h, &text, "15:27", "out of bcrypt's range 4..=31");
}

#[test]
fn no_nodes_non_utf8_and_endless_files_are_located_or_refused() {
    let h = Harness::new();
    let empty = "apiVersion: vstage/v1\nname: t\nnodes: []\n";
    check_once(&h, empty, "3:8", "the template has no nodes");
    let file = h.home.path().join("t.yaml");
    let mut bytes = BASE.as_bytes().to_vec();
    bytes.splice(30..30, [0xff, 0xfe]);
    std::fs::write(&file, &bytes).unwrap();
    let out = h.run(&["plan", "-t", &file.display().to_string()]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains(":3:"), "{}", stderr(&out));
    assert!(stderr(&out).contains("not UTF-8"), "{}", stderr(&out));
    // A file with no end is refused after a bounded read.
    let out = h.run(&["plan", "-t", "/dev/zero"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("not a template"), "{}", stderr(&out));
}

#[test]
fn ports_are_forwarded_once_each() {
    let h = Harness::new();
    check(
        &h,
        &BASE.replace("    cpus: 1\n", "    cpus: 1\n    ports: [8774, 8774]\n"),
        "10:19",
        "ports: 8774 is forwarded already",
    );
    check(
        &h,
        &BASE.replace("    cpus: 1\n", "    cpus: 1\n    ports: [70000]\n"),
        "10:13",
        "out of range",
    );
}

#[test]
fn a_gate_runs_on_an_instance_of_the_env() {
    let h = Harness::new();
    check(
        &h,
        &format!("{BASE}gates:\n  - {{name: up, node: n9, run: \"true\"}}\n"),
        "13:22",
        "gates: node: 'n9' is not an instance of this env (instances: n1)",
    );
    check(
        &h,
        &format!("{BASE}gates:\n  - {{name: up, node: n1, run: \"true\", timeout: 0}}\n"),
        "13:48",
        "timeout: 0 is out of range",
    );
    check(
        &h,
        &format!("{BASE}gates:\n  - {{name: up, node: n1, host: true, run: \"true\"}}\n"),
        "13:22",
        "gate 'up': `node` and `host: true` exclude each other",
    );
    check(
        &h,
        &format!("{BASE}gates:\n  - {{name: up, run: \"true\"}}\n"),
        "13:12",
        "gate 'up': says where it runs with `node: NAME` or `host: true`",
    );
    check(
        &h,
        &format!("{BASE}gates:\n  - {{name: up, host: maybe, run: \"true\"}}\n"),
        "13:22",
        "host: expected true or false, found 'maybe'",
    );
    check(
        &h,
        &format!("{BASE}gates:\n  - {{name: up, host: true, run: \"true\", logs: [/var/log/x]}}\n"),
        "13:48",
        "`logs` are files on a node; a gate on the host has none",
    );
    check(
        &h,
        &format!("{BASE}handoff:\n  tempest_conf: {{node: n1, path: etc/t.conf}}\n"),
        "13:34",
        "is not an absolute path in the guest",
    );
}
