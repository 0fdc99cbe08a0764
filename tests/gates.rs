//! Readiness gates, forwarded ports and the hand-off a node writes, on tiny guests.

mod common;

use common::{Harness, code, osc_ok, stderr};

const GATED: &str = r#"apiVersion: vstage/v1
name: gated
networks: [{name: net0, cidr: 10.0.0.0/24}]
nodes:
  - name: n1
    image: tiny
    nics: [{network: net0}]
    ports: [8774]
services:
  auth:
    clone: keystone
    catalog:
      - {type: compute, name: nova, url: "http://n1:8774/v2.1"}
gates:
  - name: first
    node: n1
    run: "echo one > /tmp/first"
  - name: on-host
    host: true
    run: "OS_CLOUD=admin openstack token issue -f value -c id > host-token"
  - name: second
    node: n1
    run: "test -e /tmp/first && printf '[compute]\nimage_ref = img-1\n[service_available]\nnova = true\n' > /tmp/tempest.conf"
handoff:
  tempest_conf: {node: n1, path: /tmp/tempest.conf}
"#;

#[test]
fn gates_pass_in_order_and_the_node_hands_off_tempest_conf() {
    let h = Harness::new();
    let t = h.template(GATED);
    let out = h.cmd(&["up", "-t", &t, "--name", "g1"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let progress = stderr(&out);
    let first = progress.find("gate first: passed").expect(&progress);
    let on_host = progress.find("gate on-host: passed").expect(&progress);
    let second = progress.find("gate second: passed").expect(&progress);
    assert!(first < on_host && on_host < second, "{progress}");
    // The host gate ran the host's client in the env dir, with the hand-off's clouds.yaml.
    let token = std::fs::read_to_string(h.env_dir("g1").join("host-token")).unwrap();
    assert!(token.trim().len() >= 32, "{token:?}");

    // The node's sections are merged over the identity clone's, and exported.
    let out = h.ok(&[
        "exec",
        "g1",
        "--",
        "sh",
        "-c",
        "cat \"$TEMPEST_CONFIG_DIR/$TEMPEST_CONFIG\"",
    ]);
    assert!(out.contains("[compute]\nimage_ref = img-1\n"), "{out}");
    assert!(out.contains("nova = true\n"), "{out}");
    assert!(out.contains("uri_v3 = http://127.0.0.1:"), "{out}");

    // The catalog names the node's port through its forward, for callers on the host.
    let clouds = h.env_dir("g1").join("clones/auth/clouds.yaml");
    let catalog = osc_ok(
        &clouds,
        "admin",
        &["catalog", "show", "compute", "-f", "json"],
    );
    let port: u16 = catalog
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no host URL in {catalog}"));
    let qemu = Harness::processes_mentioning(&format!("hostfwd=tcp:127.0.0.1:{port}-"));
    assert_eq!(qemu.len(), 1, "QEMU forwards {port}");
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("the forward listens");
    h.ok(&["down", "g1"]);
}

#[test]
fn a_failing_gate_names_itself_shows_logs_and_rolls_back() {
    let h = Harness::new();
    let t = h.template(
        "apiVersion: vstage/v1
name: failing
networks: [{name: net0, cidr: 10.0.0.0/24}]
nodes:
  - {name: n1, image: tiny, nics: [{network: net0}]}
gates:
  - name: never
    node: n1
    run: \"echo not yet; exit 3\"
    timeout: 6
    logs: [/etc/hosts]
",
    );
    let out = h.cmd(&["up", "-t", &t, "--name", "g2"]).output().unwrap();
    assert_ne!(code(&out), 0);
    let err = stderr(&out);
    assert!(err.contains("gate never failed after"), "{err}");
    assert!(err.contains("exit 3: not yet"), "{err}");
    assert!(
        err.contains("--- n1:/etc/hosts ---\n127.0.0.1 localhost"),
        "{err}"
    );
    assert!(!h.env_dir("g2").exists(), "rolled back");
}
