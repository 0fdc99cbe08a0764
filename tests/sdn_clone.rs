//! The SDN clone against real clients: python-openstackclient and Tempest's network API
//! tests, with tokens checked by the auth clone.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Clones {
    children: Vec<Child>,
    sdn: String,
    clouds: std::path::PathBuf,
    state: std::path::PathBuf,
}

impl Drop for Clones {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(common::bin())
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    (child, url)
}

/// An auth clone whose catalog names the SDN clone, and the SDN clone checking tokens with it.
fn start(dir: &Path) -> Clones {
    let (auth_port, sdn_port) = (free_port(), free_port());
    let sdn_url = format!("http://127.0.0.1:{sdn_port}");
    let config = dir.join("auth.yaml");
    std::fs::write(
        &config,
        format!("catalog:\n  - {{type: network, name: neutron, url: \"{sdn_url}\"}}\n"),
    )
    .unwrap();
    let state = dir.join("auth");
    let (auth, auth_url) = spawn(&[
        "clone",
        "auth",
        "--listen",
        &format!("127.0.0.1:{auth_port}"),
        "--state",
        &state.display().to_string(),
        "--config",
        &config.display().to_string(),
    ]);
    let (sdn, url) = spawn(&[
        "clone",
        "sdn",
        "--listen",
        &format!("127.0.0.1:{sdn_port}"),
        "--auth-url",
        &auth_url,
    ]);
    assert_eq!(url, sdn_url);
    Clones {
        children: vec![auth, sdn],
        sdn: url,
        clouds: state.join("clouds.yaml"),
        state,
    }
}

impl Clones {
    fn osc(&self, cloud: &str, args: &[&str]) -> String {
        let out = Command::new("openstack")
            .arg("--os-cloud")
            .arg(cloud)
            .args(args)
            .env("OS_CLIENT_CONFIG_FILE", &self.clouds)
            .output()
            .expect("openstack (python3-openstackclient): run `make setup`");
        assert!(
            out.status.success(),
            "openstack {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn http(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
        let addr = self.sdn.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).unwrap();
        let auth = token
            .map(|t| format!("X-Auth-Token: {t}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let status = resp.split_whitespace().nth(1).unwrap().parse().unwrap();
        (
            status,
            resp.split_once("\r\n\r\n")
                .map(|x| x.1.to_string())
                .unwrap_or_default(),
        )
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

/// Tempest's network API tests (IPv4; the router filter needs routers, not served yet).
#[test]
fn tempest_network_api_passes() {
    let dir = tempfile::tempdir().unwrap();
    let c = start(dir.path());
    let ws = dir.path().join("ws");
    let init = Command::new("tempest")
        .arg("init")
        .arg(&ws)
        .env("HOME", dir.path())
        .output()
        .expect("tempest: run `make setup`");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let mut conf = std::fs::read_to_string(c.state.join("tempest.conf"))
        .unwrap()
        .replace("neutron = false", "neutron = true");
    conf.push_str(
        "\n[network]\nproject_network_cidr = 10.100.0.0/16\nproject_network_mask_bits = 28\n\n\
         [network-feature-enabled]\napi_extensions =\nipv6 = false\nport_security = false\n",
    );
    std::fs::write(ws.join("etc/tempest.conf"), conf).unwrap();
    let out = Command::new("tempest")
        .args(["run", "--serial", "--regex"])
        .arg(r"^tempest\.api\.network\.(test_versions|test_extensions|test_networks\.NetworksTest|test_ports\.PortsTestJSON)\.")
        .args(["--exclude-regex", "test_port_list_filter_by_router_id"])
        .current_dir(&ws)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("... ") || l.contains(" - "))
        .collect();
    assert!(
        out.status.success(),
        "tempest failed:\n{}",
        summary.join("\n")
    );
    let passed: u32 = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("- Passed:")
                .map(|n| n.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    assert!(passed >= 25, "{}", summary.join("\n"));
}
