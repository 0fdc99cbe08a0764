//! The SDN clone against real clients: python-openstackclient and Tempest's network API
//! tests, with tokens checked by the auth clone.

mod common;

use std::path::Path;
use std::process::Command;

struct Clones {
    _children: common::Children,
    sdn: String,
    clouds: std::path::PathBuf,
    state: std::path::PathBuf,
}

/// An auth clone whose catalog names the SDN clone, and the SDN clone checking tokens with it.
fn start(dir: &Path) -> Clones {
    start_with(dir, "", &[])
}

/// As [`start`], with more catalog entries and more SDN clone flags.
fn start_with(dir: &Path, catalog: &str, sdn_flags: &[&str]) -> Clones {
    let (auth_port, sdn_port) = (common::free_port(), common::free_port());
    let sdn_url = format!("http://127.0.0.1:{sdn_port}");
    let config = dir.join("auth.yaml");
    let users = "users:\n  - {name: admin, password: adminpw, project: admin, roles: [admin]}\n  - {name: demo, project: demo, roles: [member]}\n";
    let network = format!("  - {{type: network, name: neutron, url: \"{sdn_url}\"}}\n");
    std::fs::write(&config, format!("{users}catalog:\n{network}{catalog}")).unwrap();
    let state = dir.join("auth");
    let (auth, auth_url) = common::spawn_clone(&[
        "auth",
        "--listen",
        &format!("127.0.0.1:{auth_port}"),
        "--state",
        &state.display().to_string(),
        "--config",
        &config.display().to_string(),
    ]);
    let listen = format!("127.0.0.1:{sdn_port}");
    let mut args = vec!["sdn", "--listen", &listen, "--auth-url", &auth_url];
    args.extend_from_slice(sdn_flags);
    let (sdn, url) = common::spawn_clone(&args);
    assert_eq!(url, sdn_url);
    Clones {
        _children: common::Children(vec![auth, sdn]),
        sdn: url,
        clouds: state.join("clouds.yaml"),
        state,
    }
}

impl Clones {
    /// An admin's external network `public` with the subnet `public-sub`
    /// (172.24.4.0/24, no DHCP), as DevStack makes it; its id.
    fn public_network(&self) -> String {
        let id = self.osc(
            "admin",
            &[
                "network",
                "create",
                "--external",
                "public",
                "-f",
                "value",
                "-c",
                "id",
            ],
        );
        self.osc(
            "admin",
            &[
                "subnet",
                "create",
                "--network",
                "public",
                "--subnet-range",
                "172.24.4.0/24",
                "--no-dhcp",
                "public-sub",
            ],
        );
        id
    }

    fn osc(&self, cloud: &str, args: &[&str]) -> String {
        common::osc_ok(&self.clouds, cloud, args).trim().to_string()
    }

    fn http(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
        let headers: Vec<(&str, &str)> = token.map(|t| ("X-Auth-Token", t)).into_iter().collect();
        let (status, _, body) = common::http(&self.sdn, method, path, &headers, body);
        (status, body)
    }
}

#[test]
fn openstackclient_manages_networks_subnets_ports() {
    let dir = tempfile::tempdir().unwrap();
    let c = start(dir.path());
    let net = c.osc(
        "demo",
        &["network", "create", "blue", "-f", "value", "-c", "id"],
    );
    let sub = c.osc(
        "demo",
        &[
            "subnet",
            "create",
            "--network",
            "blue",
            "--subnet-range",
            "10.20.0.0/24",
            "blue-sub",
            "-f",
            "value",
            "-c",
            "gateway_ip",
        ],
    );
    assert_eq!(sub, "10.20.0.1");
    let port = c.osc(
        "demo",
        &[
            "port",
            "create",
            "--network",
            "blue",
            "p1",
            "-f",
            "value",
            "-c",
            "id",
        ],
    );
    let shown = c.osc(
        "demo",
        &["port", "show", &port, "-f", "value", "-c", "fixed_ips"],
    );
    assert!(shown.contains("10.20.0.2"), "{shown}");
    let list = c.osc("demo", &["network", "list", "-f", "value", "-c", "ID"]);
    assert!(list.contains(&net), "{list}");
    assert_eq!(
        c.osc(
            "demo",
            &["network", "show", "blue", "-f", "value", "-c", "status"]
        ),
        "ACTIVE"
    );
    let groups = c.osc(
        "demo",
        &["security", "group", "list", "-f", "value", "-c", "Name"],
    );
    assert_eq!(groups, "default");
    // Another project sees none of it.
    assert_eq!(
        c.osc(
            "admin",
            &[
                "network",
                "list",
                "--project",
                "admin",
                "-f",
                "value",
                "-c",
                "ID"
            ]
        ),
        ""
    );
    c.osc("demo", &["port", "delete", &port]);
    c.osc("demo", &["network", "delete", "blue"]);
    assert_eq!(
        c.osc("demo", &["network", "list", "-f", "value", "-c", "ID"]),
        ""
    );
}

/// The L3 API through openstackclient: a router with a gateway on an external network
/// and an interface on a subnet, a floating IP mapped to a port behind it, and what
/// Neutron refuses on the way (deleting a router that has ports, an interface a floating
/// IP needs).
#[test]
fn openstackclient_routes_and_floats() {
    let dir = tempfile::tempdir().unwrap();
    let c = start(dir.path());
    c.public_network();
    c.osc("demo", &["network", "create", "blue"]);
    c.osc(
        "demo",
        &[
            "subnet",
            "create",
            "--network",
            "blue",
            "--subnet-range",
            "10.30.0.0/24",
            "blue-sub",
        ],
    );
    c.osc("demo", &["router", "create", "r1"]);
    c.osc(
        "demo",
        &["router", "set", "--external-gateway", "public", "r1"],
    );
    c.osc("demo", &["router", "add", "subnet", "r1", "blue-sub"]);
    let interface = c.osc(
        "demo",
        &[
            "port",
            "list",
            "--router",
            "r1",
            "--network",
            "blue",
            "-f",
            "value",
            "-c",
            "Fixed IP Addresses",
        ],
    );
    assert!(
        interface.contains("10.30.0.1"),
        "the interface holds the gateway: {interface}"
    );
    let vm = c.osc(
        "demo",
        &[
            "port",
            "create",
            "--network",
            "blue",
            "vm",
            "-f",
            "value",
            "-c",
            "id",
        ],
    );
    let fip = c.osc(
        "demo",
        &[
            "floating", "ip", "create", "--port", &vm, "public", "-f", "json",
        ],
    );
    let fip: serde_json::Value = serde_json::from_str(&fip).unwrap();
    assert!(
        fip["floating_ip_address"]
            .as_str()
            .unwrap()
            .starts_with("172.24.4."),
        "{fip}"
    );
    assert_eq!(
        fip["fixed_ip_address"]
            .as_str()
            .unwrap()
            .split('.')
            .take(3)
            .collect::<Vec<_>>(),
        ["10", "30", "0"]
    );
    assert_eq!(fip["status"], "ACTIVE", "{fip}");
    let router = c.osc("demo", &["router", "show", "r1", "-f", "value", "-c", "id"]);
    assert_eq!(fip["router_id"], router.as_str());
    // Neutron's refusals: the router has ports, the interface carries a floating IP.
    let refused = common::openstack(&c.clouds, "demo", &["router", "delete", "r1"]);
    assert!(!refused.status.success(), "a router with ports is kept");
    let refused = common::openstack(
        &c.clouds,
        "demo",
        &["router", "remove", "subnet", "r1", "blue-sub"],
    );
    assert!(
        !refused.status.success(),
        "an interface a floating IP needs is kept"
    );
    // Unwound in order, everything goes.
    c.osc(
        "demo",
        &["floating", "ip", "delete", fip["id"].as_str().unwrap()],
    );
    c.osc("demo", &["router", "remove", "subnet", "r1", "blue-sub"]);
    c.osc("demo", &["router", "delete", "r1"]);
    let left = c.osc("admin", &["port", "list", "-f", "value", "-c", "id"]);
    assert_eq!(left, vm, "only the server's port is left");
}

#[test]
fn no_token_no_access_and_neutron_errors() {
    let dir = tempfile::tempdir().unwrap();
    let c = start(dir.path());
    assert_eq!(c.http("GET", "/v2.0/networks", None, "").0, 401);
    assert_eq!(c.http("GET", "/v2.0/networks", Some("forged"), "").0, 401);
    assert_eq!(
        c.http("GET", "/", None, "").0,
        200,
        "version discovery is open"
    );
    let token = c.osc("demo", &["token", "issue", "-f", "value", "-c", "id"]);
    let (status, body) = c.http("GET", "/v2.0/networks/nope", Some(&token), "");
    assert_eq!(status, 404);
    assert!(
        body.contains("\"NeutronError\"") && body.contains("NetworkNotFound"),
        "{body}"
    );
    let (status, _) = c.http("GET", "/v2.0/networks", Some(&token), "");
    assert_eq!(status, 200);
}

#[test]
fn fifty_concurrent_port_creates_get_fifty_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let c = start(dir.path());
    let net = c.osc(
        "demo",
        &["network", "create", "many", "-f", "value", "-c", "id"],
    );
    c.osc(
        "demo",
        &[
            "subnet",
            "create",
            "--network",
            "many",
            "--subnet-range",
            "10.30.0.0/24",
            "many-sub",
        ],
    );
    let token = c.osc("demo", &["token", "issue", "-f", "value", "-c", "id"]);
    let body = format!(r#"{{"port": {{"network_id": "{net}"}}}}"#);
    let c = &c;
    let answers: Vec<(u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..50)
            .map(|_| s.spawn(|| c.http("POST", "/v2.0/ports", Some(&token), &body)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ips = std::collections::BTreeSet::new();
    let mut macs = std::collections::BTreeSet::new();
    for (status, body) in &answers {
        assert_eq!(*status, 201, "{body}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        ips.insert(
            v["port"]["fixed_ips"][0]["ip_address"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        macs.insert(v["port"]["mac_address"].as_str().unwrap().to_string());
    }
    assert_eq!(ips.len(), 50, "distinct addresses");
    assert_eq!(macs.len(), 50, "distinct MACs");
}

/// A body that is not JSON gets Neutron's JSON 400, which clients parse, where axum's
/// plain-text 415 or 422 came before.
#[test]
fn bodies_that_are_not_json_get_neutron_s_400() {
    let dir = tempfile::tempdir().unwrap();
    let c = start(dir.path());
    let token = c.osc("demo", &["token", "issue", "-f", "value", "-c", "id"]);
    let (status, body) = c.http("POST", "/v2.0/networks", Some(&token), r#"{"network": {"#);
    assert_eq!(status, 400, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["NeutronError"]["type"], "HTTPBadRequest", "{body}");
    assert_eq!(
        v["NeutronError"]["message"], "Malformed request body",
        "{body}"
    );
}

/// Event mode, as Neutron does it: a server's bound port is DOWN, and nothing is sent,
/// until the L2 agent of its host reports the VIF (`tap` + 11 characters of the port id)
/// on its bridges; then the clone sends Nova `network-vif-plugged` (to the catalog's
/// compute endpoint, with an admin token), sends it again while Nova does not take it,
/// and turns the port ACTIVE once Nova has. The VIF gone, the port is DOWN again. Nova
/// is not installed here: a recorder stands in for its external-events endpoint and
/// refuses the first event as Nova refuses one for a server not on a host yet (422).
#[test]
fn vif_plugged_is_sent_when_the_vif_appears_and_again_until_nova_takes_it() {
    let dir = tempfile::tempdir().unwrap();
    let nova_port = common::free_port();
    let record = dir.path().join("events.jsonl");
    let mut nova = Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/nova_events_recorder.py"
        ))
        .arg(nova_port.to_string())
        .arg(&record)
        .arg("1")
        .spawn()
        .unwrap();
    let catalog =
        format!("  - {{type: compute, name: nova, url: \"http://127.0.0.1:{nova_port}/v2.1\"}}\n");
    let c = start_with(
        dir.path(),
        &catalog,
        &["--vif-plugged-event", "admin:adminpw:admin"],
    );
    let net = c.osc(
        "admin",
        &["network", "create", "ev", "-f", "value", "-c", "id"],
    );
    c.osc(
        "admin",
        &[
            "subnet",
            "create",
            "--network",
            "ev",
            "--subnet-range",
            "10.40.0.0/24",
            "ev-sub",
        ],
    );
    let token = c.osc("admin", &["token", "issue", "-f", "value", "-c", "id"]);
    let server = "0b6f8c3e-1a2b-4c5d-8e9f-001122334455";
    let (status, body) = c.http(
        "POST",
        "/v2.0/ports",
        Some(&token),
        &format!(r#"{{"port": {{"network_id": "{net}", "device_id": "{server}"}}}}"#),
    );
    assert_eq!(status, 201, "{body}");
    let port: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = port["port"]["id"].as_str().unwrap().to_string();
    let tap = format!("tap{}", &id[..11]);
    let (status, body) = c.http(
        "PUT",
        &format!("/v2.0/ports/{id}"),
        Some(&token),
        r#"{"port": {"binding:host_id": "compute-1", "device_owner": "compute:nova"}}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"DOWN\""), "{body}");
    assert!(body.contains("\"binding:vif_type\":\"bridge\""), "{body}");
    let report = |host: &str, devices: &[&str]| {
        let (status, body) = c.http(
            "PUT",
            &format!("/v2.0/vstage/l2-agents/{host}/devices"),
            Some(&token),
            &serde_json::json!({ "devices": devices }).to_string(),
        );
        assert_eq!(status, 200, "{body}");
    };
    let status_of = || {
        let (_, body) = c.http("GET", &format!("/v2.0/ports/{id}"), Some(&token), "");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["port"]["status"].as_str().unwrap().to_string()
    };
    // Bound, but no VIF yet: on another host, or not on this one's bridges.
    report("compute-2", &[&tap]);
    report("compute-1", &["tap00000000-00"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(!record.exists(), "nothing is sent before the VIF appears");
    assert_eq!(status_of(), "DOWN");
    let plugged_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    report("compute-1", &["tap00000000-00", &tap]);
    let start = std::time::Instant::now();
    while status_of() != "ACTIVE" {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "port never became ACTIVE"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = nova.kill();
    let _ = nova.wait();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "refused once, sent again: {lines:?}");
    assert_eq!(
        (lines[0]["answer"].clone(), lines[1]["answer"].clone()),
        (422.into(), 200.into())
    );
    for event in &lines {
        assert!(event["time"].as_f64().unwrap() >= plugged_at, "{event}");
        assert_eq!(event["path"], "/v2.1/os-server-external-events");
        assert!(event["token"].as_str().is_some_and(|t| !t.is_empty()));
        assert_eq!(
            event["body"],
            serde_json::json!({"events": [{"name": "network-vif-plugged", "server_uuid": server, "tag": id, "status": "completed"}]})
        );
    }
    // The VIF unplugged: DOWN, as Neutron's agent reports a device down.
    report("compute-1", &["tap00000000-00"]);
    assert_eq!(status_of(), "DOWN");
}

/// openstacksdk pages with `limit` and follows `networks_links` (it gave up with
/// "Endless pagination loop" while the clone ignored `marker`); sorting is the
/// server's; a subnet of an admin's external, unshared network stays the admin's.
#[test]
fn openstacksdk_pages_and_sorts_and_external_subnets_stay_private() {
    let dir = tempfile::tempdir().unwrap();
    let c = start(dir.path());
    for name in ["n-b", "n-c", "n-a"] {
        c.osc("demo", &["network", "create", name]);
    }
    c.osc("admin", &["network", "create", "--external", "ext"]);
    c.osc(
        "admin",
        &[
            "subnet",
            "create",
            "--network",
            "ext",
            "--subnet-range",
            "10.60.0.0/24",
            "ext-sub",
        ],
    );
    let script = r#"
import openstack, sys
demo = openstack.connect(cloud="demo")
paged = [n.name for n in demo.network.networks(limit=1)]
print(sorted(paged) == sorted(n.name for n in demo.network.networks()), len(paged), len(set(paged)))
got = demo.network.get("/networks?sort_key=name&sort_dir=desc").json()["networks"]
print(",".join(n["name"] for n in got if n["name"].startswith("n-")))
print([s.name for s in demo.network.subnets()], "ext" in [n.name for n in demo.network.networks()])
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .env("OS_CLIENT_CONFIG_FILE", &c.clouds)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("True "),
        "paging lists every network once: {text}"
    );
    let (_, counts) = lines[0].split_once(' ').unwrap();
    let mut counts = counts.split(' ');
    assert_eq!(counts.next(), counts.next(), "no network twice: {text}");
    assert_eq!(lines[1], "n-c,n-b,n-a", "{text}");
    assert_eq!(
        lines[2], "[] True",
        "the external network is seen, its subnet not: {text}"
    );
}

/// The extensions of a default ML2/OVS Neutron (issue 15's measure).
const ML2_EXTENSIONS: &str = "router,external-net,extraroute,allowed-address-pairs,security-group,port-security,binding,quotas,standard-attr-description,standard-attr-tag,subnet_allocation,dhcp_agent_scheduler,availability_zone,network-ip-availability,project-id";

/// Tempest's whole network API suite with a default ML2 Neutron's extensions advertised
/// (and `ext-gw-mode`), IPv6 on and an external network as `public_network_id`, so the
/// router gateway and floating IP tests run too. Nothing is left out: what is skipped is
/// what the extension list does not name (metering, DVR, extra DHCP options, ...).
#[test]
fn heavy_tempest_network_api_passes() {
    let dir = tempfile::tempdir().unwrap();
    let extensions = format!("{ML2_EXTENSIONS},ext-gw-mode");
    let flags: Vec<&str> = extensions
        .split(',')
        .flat_map(|e| ["--extension", e])
        .collect();
    let c = start_with(dir.path(), "", &flags);
    let public = c.public_network();
    let conf = network_tempest_conf(&c, &extensions).replace(
        "\n[network]\n",
        &format!("\n[network]\npublic_network_id = {public}\nfloating_network_name = public\n"),
    );
    let run = common::tempest(dir.path(), &conf, r"^tempest\.api\.network\.", None);
    assert!(run.ok, "tempest failed:\n{}", run.summary);
    assert_eq!(run.failed, 0, "{}", run.summary);
    assert!(run.passed >= 215, "{}", run.summary);
}

/// The clone's tempest.conf with Neutron on, the network section this clone offers and
/// `extensions` as the ones Tempest may use.
fn network_tempest_conf(c: &Clones, extensions: &str) -> String {
    let mut conf = std::fs::read_to_string(c.state.join("tempest.conf"))
        .unwrap()
        .replace("neutron = false", "neutron = true");
    conf.push_str(&format!(
        "\n[network]\nproject_network_cidr = 10.100.0.0/16\nproject_network_mask_bits = 28\n\
         project_network_v6_cidr = 2001:db8::/48\nproject_network_v6_mask_bits = 64\n\n\
         [network-feature-enabled]\napi_extensions = {extensions}\nipv6 = true\n\
         ipv6_subnet_attributes = true\nport_security = true\n",
    ));
    conf
}
