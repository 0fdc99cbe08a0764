//! The SDN clone inside an env drives the env's fabric: a network made through the API
//! is an L2 segment of its own, and binding a port to a node plugs a NIC with the
//! port's MAC into that node.

mod common;

use common::Harness;

/// A port on `network` made through openstackclient as a project's member (`osc`) and
/// bound to `node` by an admin (`admin`), as Nova binds with its service credentials
/// (binding is an admin's in Neutron's policy): its id, MAC and first address.
fn bound_port(
    osc: &impl Fn(&[&str]) -> String,
    admin: &impl Fn(&[&str]) -> String,
    network: &str,
    node: &str,
    name: &str,
) -> (String, String, String) {
    let id = osc(&[
        "port",
        "create",
        "--network",
        network,
        name,
        "-f",
        "value",
        "-c",
        "id",
    ]);
    admin(&["port", "set", "--host", node, &id]);
    let mac = osc(&["port", "show", &id, "-f", "value", "-c", "mac_address"]);
    let ips = osc(&["port", "show", &id, "-f", "json", "-c", "fixed_ips"]);
    let ips: serde_json::Value = serde_json::from_str(&ips).unwrap();
    let ip = ips["fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap()
        .to_string();
    (id, mac, ip)
}

#[test]
fn api_networks_are_segments_and_bound_ports_attach_nodes() {
    let h = Harness::new();
    let file = h.home.path().join("fabric.yaml");
    std::fs::write(&file, common::FABRIC).unwrap();
    h.ok(&["up", "-t", &file.display().to_string(), "--name", "fab"]);
    let as_cloud = |cloud: &str, args: &[&str]| {
        let mut all = vec!["exec", "fab", "--", "openstack", "--os-cloud", cloud];
        all.extend_from_slice(args);
        h.ok(&all).trim().to_string()
    };
    let osc = |args: &[&str]| as_cloud("demo", args);
    let admin = |args: &[&str]| as_cloud("admin", args);
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
        let (id, mac, ip) = bound_port(&osc, &admin, "blue", node, &format!("{node}-blue"));
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

/// A router of the network service forwards between its subnets in the env's fabric:
/// n1 on `blue` and n2 on `red`, each routed through the router's interface on its
/// subnet (the subnet's gateway address), ping each other and the router; with the
/// interface removed, the way is gone.
#[test]
fn routers_forward_between_their_subnets() {
    let h = Harness::new();
    let file = h.home.path().join("fabric.yaml");
    std::fs::write(&file, common::FABRIC).unwrap();
    h.ok(&["up", "-t", &file.display().to_string(), "--name", "l3"]);
    let as_cloud = |cloud: &str, args: &[&str]| {
        let mut all = vec!["exec", "l3", "--", "openstack", "--os-cloud", cloud];
        all.extend_from_slice(args);
        h.ok(&all).trim().to_string()
    };
    let osc = |args: &[&str]| as_cloud("demo", args);
    let admin = |args: &[&str]| as_cloud("admin", args);
    let mut ports = Vec::new();
    for (node, net, cidr) in [("n1", "blue", "10.60.0"), ("n2", "red", "10.61.0")] {
        osc(&["network", "create", net]);
        osc(&[
            "subnet",
            "create",
            "--network",
            net,
            "--subnet-range",
            &format!("{cidr}.0/24"),
            &format!("{net}-sub"),
        ]);
        let (_, mac, ip) = bound_port(&osc, &admin, net, node, node);
        ports.push((node, mac, ip, cidr));
    }
    osc(&["router", "create", "r1"]);
    osc(&["router", "add", "subnet", "r1", "blue-sub"]);
    osc(&["router", "add", "subnet", "r1", "red-sub"]);
    for (node, mac, ip, cidr) in &ports {
        let dev = h.wait_for_nic("l3", node, mac, true);
        let other = if *cidr == "10.60.0" {
            "10.61.0"
        } else {
            "10.60.0"
        };
        h.ok(&[
            "exec",
            "l3",
            "--node",
            node,
            "--",
            "sh",
            "-c",
            &format!(
                "ip addr add {ip}/24 dev {dev} && ip link set {dev} up && ip route add {other}.0/24 via {cidr}.1"
            ),
        ]);
    }
    let ping = |node: &str, to: &str| {
        let out = h.run(&[
            "exec", "l3", "--node", node, "--", "ping", "-c", "2", "-W", "3", to,
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let through = ping("n1", &ports[1].2);
    assert!(
        through.contains(" 1 packets received") || through.contains(" 2 packets received"),
        "n1 reaches n2 through the router: {through}"
    );
    let gateway = ping("n2", "10.61.0.1");
    assert!(
        gateway.contains(" 2 packets received"),
        "the router answers: {gateway}"
    );
    osc(&["router", "remove", "subnet", "r1", "red-sub"]);
    let cut = ping("n1", &ports[1].2);
    assert!(
        cut.contains(" 0 packets received"),
        "no interface, no way: {cut}"
    );
    let dir = h.env_dir("l3").display().to_string();
    h.ok(&["down", "l3"]);
    assert!(Harness::processes_mentioning(&dir).is_empty());
}
