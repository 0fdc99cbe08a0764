//! The cloud-config vstage writes means to cloud-init's YAML 1.1 reader (PyYAML) what it
//! means to vstage: strings that YAML 1.1 would retype stay strings.

use std::io::Write;
use std::process::{Command, Stdio};

use vstage::driver::qemu::seed;
use vstage::plan;
use vstage::template::{self, Source};

const TEMPLATE: &str = r#"apiVersion: vstage/v1
name: yaml11
networks: [{name: net0, cidr: 10.0.0.0/24}]
nodes:
  - name: d1
    image: debian-12
    nics: [{network: net0}]
    cloud_init:
      write_files:
        - {path: /etc/x, content: "no", permissions: "0755"}
      runcmd:
        - [echo, "on", "yes", "no", "off", "0755", "1_000", "12:30", "~", "null", "0x1F", "1e3", ".inf"]
      bootcmd: ["echo y", "n"]
      timezone: "12:30"
      ssh_pwauth: no
      package_upgrade: false
"#;

/// Loads `text` with Debian's PyYAML (what cloud-init uses) and returns it as JSON.
fn pyyaml(text: &str) -> serde_json::Value {
    let mut child = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 with python3-yaml: run `make setup`");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "PyYAML: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn generated_seeds_mean_the_same_to_pyyaml() {
    let source = Source {
        label: "yaml11.yaml".into(),
        text: TEMPLATE.into(),
    };
    let plan = plan::build(&template::load(&source, &[]).unwrap()).unwrap();
    let node = &plan.nodes[0];
    let seed = seed::cloud_init(
        &plan,
        node,
        "ssh-ed25519 AAAA test",
        node.user_data.as_ref(),
    );

    assert!(seed.user_data.starts_with("#cloud-config\n"));
    let body = seed.user_data.split_once('\n').unwrap().1;
    let ours: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(pyyaml(&seed.user_data), ours, "user-data");
    let runcmd = ours["runcmd"][0].as_array().unwrap();
    for s in [
        "on", "yes", "no", "off", "0755", "1_000", "12:30", "~", "null", "0x1F", "1e3", ".inf",
    ] {
        assert!(runcmd.contains(&serde_json::json!(s)), "{s} stays a string");
    }
    assert_eq!(ours["write_files"][1]["permissions"], "0755");
    assert_eq!(ours["timezone"], "12:30");
    for (name, text) in [
        ("meta-data", &seed.meta_data),
        ("network-config", &seed.network_config),
    ] {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(pyyaml(text), v, "{name}");
    }
    // vstage's own entries come first and the template's follow.
    assert_eq!(ours["write_files"][0]["path"], "/etc/hosts");
    assert_eq!(ours["users"][0]["name"], seed::LOGIN_USER);
    assert_eq!(ours["hostname"], "d1");
}

#[test]
fn the_cidata_volume_is_an_iso_named_cidata() {
    let source = Source {
        label: "yaml11.yaml".into(),
        text: TEMPLATE.into(),
    };
    let plan = plan::build(&template::load(&source, &[]).unwrap()).unwrap();
    let seed = seed::cloud_init(&plan, &plan.nodes[0], "ssh-ed25519 AAAA test", None);
    let iso = seed::cidata_iso(&seed).unwrap();
    // Primary volume descriptor at sector 16: "CD001", volume id at offset 40.
    let pvd = &iso[16 * 2048..17 * 2048];
    assert_eq!(&pvd[1..6], b"CD001");
    assert_eq!(std::str::from_utf8(&pvd[40..46]).unwrap(), "cidata");
    // The file contents are in the image as written.
    let find = |needle: &str| iso.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(find(&seed.user_data));
    assert!(find(&seed.network_config));
    // Joliet: a supplementary volume descriptor carries the UCS-2 names.
    let name: Vec<u8> = "network-config"
        .encode_utf16()
        .flat_map(|c| c.to_be_bytes())
        .collect();
    assert!(
        iso.windows(name.len()).any(|w| w == name.as_slice()),
        "Joliet name network-config"
    );
}
