//! The SDN clone inside an env drives the env's fabric: a network made through the API
//! is an L2 segment of its own, and binding a port to a node plugs a NIC with the
//! port's MAC into that node.

mod common;

use common::Harness;

#[test]
fn api_networks_are_segments_and_bound_ports_attach_nodes() {
    let h = Harness::new();
    let file = h.home.path().join("fabric.yaml");
    std::fs::write(&file, common::FABRIC).unwrap();
    h.ok(&["up", "-t", &file.display().to_string(), "--name", "fab"]);
    let osc = |args: &[&str]| {
        let mut all = vec!["exec", "fab", "--", "openstack", "--os-cloud", "demo"];
        all.extend_from_slice(args);
        h.ok(&all).trim().to_string()
    };
    osc(&["network", "create", "blue"]);
    osc(&[
        "subnet",
        "create",
        "--network",
        "blue",
        "--subnet-range",
        "10.50.0.0/24",
        "blue-sub",
    ]);
    let mut ports = Vec::new();
    for node in ["n1", "n2"] {
        let id = osc(&[
            "port",
            "create",
            "--network",
            "blue",
            "--host",
            node,
            &format!("{node}-blue"),
            "-f",
            "value",
            "-c",
            "id",
        ]);
        let mac = osc(&["port", "show", &id, "-f", "value", "-c", "mac_address"]);
        let ip = osc(&["port", "show", &id, "-f", "json", "-c", "fixed_ips"]);
        let ip: serde_json::Value = serde_json::from_str(&ip).unwrap();
        let ip = ip["fixed_ips"][0]["ip_address"]
            .as_str()
            .unwrap()
            .to_string();
        ports.push((node, id, mac, ip));
    }
    // Each node gets a NIC with its port's MAC; configured with the port's address,
    // the two reach each other over the new segment.
    for (node, _, mac, ip) in &ports {
        let dev = h.wait_for_nic("fab", node, mac, true);
        h.ok(&[
            "exec",
            "fab",
            "--node",
            node,
            "--",
            "sh",
            "-c",
            &format!("ip addr add {ip}/24 dev {dev} && ip link set {dev} up"),
        ]);
    }
    let ping = h.ok(&[
        "exec",
        "fab",
        "--node",
        "n1",
        "--",
        "ping",
        "-c",
        "1",
        "-W",
        "5",
        &ports[1].3,
    ]);
    assert!(ping.contains("1 packets received"), "{ping}");
    // Deleting the port unplugs the NIC.
    osc(&["port", "delete", &ports[0].1]);
    h.wait_for_nic("fab", "n1", &ports[0].2, false);
    let dir = h.env_dir("fab").display().to_string();
    h.ok(&["down", "fab"]);
    assert!(Harness::processes_mentioning(&dir).is_empty());
}
