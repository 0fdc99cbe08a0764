//! The auth clone inside an env: run by the supervisor, reached by guests at a fixed
//! in-env address (`auth:5000`) and by the host through the hand-off.

mod common;

use common::Harness;

const TEMPLATE: &str = "apiVersion: vstage/v1
name: tinyauth
networks:
  - name: net0
    cidr: 10.0.0.0/24
nodes:
  - name: n1
    image: tiny
    nics: [{network: net0}]
services:
  auth:
    clone: keystone
    users:
      - {name: admin, password: adminpw, project: admin, roles: [admin]}
      - {name: demo, project: demo, roles: [member]}
  sdn:
    clone: neutron
";

#[test]
fn guests_and_host_reach_the_envs_auth_clone() {
    let h = Harness::new();
    let file = h.home.path().join("auth.yaml");
    std::fs::write(&file, TEMPLATE).unwrap();
    h.ok(&["up", "-t", &file.display().to_string(), "--name", "a"]);

    // Host side: `vstage exec` points OpenStack clients at the env's clouds.yaml.
    let out = h.ok(&[
        "exec",
        "a",
        "--",
        "openstack",
        "--os-cloud",
        "admin",
        "token",
        "issue",
        "-f",
        "value",
        "-c",
        "user_id",
    ]);
    assert_eq!(out.trim().len(), 32, "{out}");
    let out = h.ok(&[
        "exec",
        "a",
        "--",
        "openstack",
        "--os-cloud",
        "demo",
        "project",
        "list",
        "-f",
        "value",
        "-c",
        "Name",
    ]);
    assert_eq!(out.trim(), "demo");

    // Guest side: the same clone at auth:5000, with links and catalog in the guest's terms.
    let out = h.ok(&[
        "exec",
        "a",
        "--node",
        "n1",
        "--",
        "wget",
        "-qO-",
        "http://auth:5000/v3",
    ]);
    assert!(out.contains("\"href\":\"http://auth:5000/v3/\""), "{out}");
    let body = r#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","password":"adminpw","domain":{"name":"Default"}}}},"scope":{"project":{"name":"admin","domain":{"name":"Default"}}}}}"#;
    let out = h.ok(&[
        "exec",
        "a",
        "--node",
        "n1",
        "--",
        "wget",
        "-qO-",
        "--header",
        "Content-Type: application/json",
        "--post-data",
        body,
        "http://auth:5000/v3/auth/tokens",
    ]);
    assert!(
        out.contains("\"url\":\"http://auth:5000\""),
        "catalog in guest terms: {out}"
    );

    // The SDN clone shows the env's own network, and n1's NIC as a port with the MAC and
    // address the guest uses.
    let out = h.ok(&[
        "exec",
        "a",
        "--",
        "openstack",
        "--os-cloud",
        "demo",
        "network",
        "list",
        "-f",
        "value",
        "-c",
        "Name",
    ]);
    assert_eq!(out.trim(), "net0");
    let ports = h.ok(&[
        "exec",
        "a",
        "--",
        "openstack",
        "--os-cloud",
        "demo",
        "port",
        "list",
        "-f",
        "value",
        "-c",
        "MAC Address",
        "-c",
        "Fixed IP Addresses",
    ]);
    let mac = h.ok(&[
        "exec",
        "a",
        "--node",
        "n1",
        "--",
        "cat",
        "/sys/class/net/eth1/address",
    ]);
    assert!(ports.contains(mac.trim()), "{ports} / {mac}");
    assert!(ports.contains("10.0.0.10"), "{ports}");
    let out = h.ok(&[
        "exec",
        "a",
        "--node",
        "n1",
        "--",
        "wget",
        "-qO-",
        "http://sdn:9696/",
    ]);
    assert!(out.contains("v2.0"), "{out}");

    // The guest-view clouds.yaml is in the hand-off too.
    let guest =
        std::fs::read_to_string(h.env_dir("a").join("clones/auth/clouds.guest.yaml")).unwrap();
    assert!(guest.contains("\"http://auth:5000/v3\""), "{guest}");

    let dir = h.env_dir("a").display().to_string();
    h.ok(&["down", "a"]);
    assert!(
        Harness::processes_mentioning(&dir).is_empty(),
        "no QEMU, supervisor or __connect left"
    );
}
