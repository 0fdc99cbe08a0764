//! Seeds: the per-node configuration a guest reads at boot.
//!
//! The tiny image reads a line format from fw_cfg (`opt/vstage/seed`): one
//! `hostname`, a `nic MAC ADDR/PREFIX` per NIC and a `host ADDR NAME` per env node.

use std::fmt::Write as _;

use crate::plan::{NodePlan, Plan};

pub fn tiny(plan: &Plan, node: &NodePlan) -> String {
    let mut s = String::new();
    writeln!(s, "hostname {}", node.name).expect("writing to a String");
    for nic in &node.nics {
        writeln!(s, "nic {} {}/{}", nic.mac, nic.ip, nic.prefix).expect("writing to a String");
    }
    if let Some(nic) = &node.service_nic {
        writeln!(s, "nic {} {}/{}", nic.mac, nic.ip, nic.prefix).expect("writing to a String");
    }
    for host in &plan.hosts {
        writeln!(s, "host {} {}", host.ip, host.name).expect("writing to a String");
    }
    for m in &node.mounts {
        writeln!(s, "mount {} {}", m.tag, m.target).expect("writing to a String");
    }
    s
}

/// The command that mounts `m` in the guest, read-only.
pub fn mount_command(m: &crate::plan::MountPlan) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        r#"mkdir -p "$2" && mount -t virtiofs -o ro "$1" "$2""#.into(),
        "mount".into(),
        m.tag.clone(),
        m.target.clone(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Source, load};

    #[test]
    fn tiny_seed_names_every_node() {
        let plan =
            crate::plan::build(&load(&Source::resolve("tiny").unwrap(), &[]).unwrap()).unwrap();
        let seed = tiny(&plan, &plan.nodes[0]);
        assert_eq!(
            seed,
            "hostname n1\nnic 52:54:00:00:00:00 10.0.0.11/24\nhost 10.0.0.11 n1\nhost 10.0.0.12 n2\n"
        );
    }
}

/// A NoCloud seed: the three files cloud-init reads from the `cidata` volume.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudInit {
    pub user_data: String,
    pub meta_data: String,
    pub network_config: String,
}

/// The user vstage logs in as (SSH, sudo without password).
pub const LOGIN_USER: &str = "vstage";

/// Lists in user-data that vstage's own entries are appended to, not replaced by.
const MERGED_LISTS: &[&str] = &["write_files", "runcmd", "bootcmd", "packages", "users"];

/// Builds a node's seed: the template's `cloud_init` with vstage's own settings merged
/// in (hostname, `/etc/hosts` of the env, the env's SSH key, and a network-config for
/// every NIC of the plan).
///
/// Every file is written as JSON, which is YAML that PyYAML (YAML 1.1) reads with the
/// same meaning: strings are always quoted, so `no`, `on`, `0755`, `12:30` or `~`
/// stay strings.
pub fn cloud_init(
    plan: &Plan,
    node: &NodePlan,
    ssh_public_key: &str,
    user: Option<&serde_json::Value>,
) -> CloudInit {
    use serde_json::{Map, Value, json};
    let mut hosts = String::from("127.0.0.1 localhost\n");
    for h in &plan.hosts {
        writeln!(hosts, "{} {}", h.ip, h.name).expect("writing to a String");
    }
    let ours = json!({
        "hostname": node.name,
        "manage_etc_hosts": false,
        "ssh_pwauth": false,
        "users": [{
            "name": LOGIN_USER,
            "shell": "/bin/bash",
            "sudo": "ALL=(ALL) NOPASSWD:ALL",
            "lock_passwd": true,
            "ssh_authorized_keys": [ssh_public_key.trim()],
        }],
        "write_files": [{"path": "/etc/hosts", "content": hosts, "permissions": "0644"}],
    });
    let mut ours = ours;
    if !node.mounts.is_empty() {
        // Mounted on every boot, early; installed before the template's runcmd, which
        // starts what the image left stopped.
        ours["bootcmd"] = json!(node.mounts.iter().map(mount_command).collect::<Vec<_>>());
        ours["runcmd"] = json!(
            node.mounts
                .iter()
                .filter_map(|m| m.install.as_ref())
                .map(|i| json!(["sh", "-c", i]))
                .collect::<Vec<_>>()
        );
    }
    let mut merged: Map<String, Value> =
        user.and_then(Value::as_object).cloned().unwrap_or_default();
    for (key, value) in ours.as_object().expect("an object").clone() {
        let theirs = merged.remove(&key);
        let value = match (theirs, value) {
            // Ours first: the template's entries may build on them.
            (Some(Value::Array(theirs)), Value::Array(mut mine))
                if MERGED_LISTS.contains(&key.as_str()) =>
            {
                mine.extend(theirs);
                Value::Array(mine)
            }
            // The hostname is the plan's; for the rest the template has the last word.
            (Some(theirs), mine) => {
                if key == "hostname" {
                    mine
                } else {
                    theirs
                }
            }
            (None, mine) => mine,
        };
        merged.insert(key, value);
    }
    let mut ethernets = Map::new();
    for (i, nic) in node.nics.iter().enumerate() {
        ethernets.insert(
            format!("nic{i}"),
            json!({"match": {"macaddress": nic.mac.to_string()}, "set-name": format!("net{i}"),
                   "addresses": [format!("{}/{}", nic.ip, nic.prefix)]}),
        );
    }
    if let Some(nic) = &node.service_nic {
        ethernets.insert(
            "svc".into(),
            json!({"match": {"macaddress": nic.mac.to_string()}, "set-name": "svc0",
                   "addresses": [format!("{}/{}", nic.ip, nic.prefix)]}),
        );
    }
    let pretty = |v: &Value| serde_json::to_string_pretty(v).expect("JSON values serialise") + "\n";
    CloudInit {
        user_data: format!("#cloud-config\n{}", pretty(&Value::Object(merged))),
        meta_data: pretty(
            &json!({"instance-id": format!("vstage-{}", node.name), "local-hostname": node.name}),
        ),
        network_config: pretty(&json!({"version": 2, "ethernets": ethernets})),
    }
}

/// The `cidata` volume: ISO 9660 with Joliet and Rock Ridge, so the names stay
/// `user-data`, `meta-data` and `network-config`.
pub fn cidata_iso(seed: &CloudInit) -> std::io::Result<Vec<u8>> {
    use hadris_iso::read::PathSeparator;
    use hadris_iso::write::options::{CreationFeatures, FormatOptions};
    use hadris_iso::write::{File, InputFiles, IsoImageWriter};
    use std::sync::Arc;
    let file = |name: &str, text: &str| File::File {
        name: Arc::new(name.to_string()),
        contents: text.as_bytes().to_vec(),
    };
    let files = InputFiles {
        path_separator: PathSeparator::ForwardSlash,
        files: vec![
            file("user-data", &seed.user_data),
            file("meta-data", &seed.meta_data),
            file("network-config", &seed.network_config),
        ],
    };
    let options = FormatOptions {
        volume_name: "cidata".into(),
        system_id: None,
        volume_set_id: None,
        publisher_id: None,
        preparer_id: None,
        application_id: Some("vstage".into()),
        sector_size: 2048,
        features: CreationFeatures::with_extensions(),
        path_separator: PathSeparator::ForwardSlash,
        strict_charset: false,
    };
    let size = 1024 * 1024 + seed.user_data.len() + seed.network_config.len();
    let mut image = std::io::Cursor::new(vec![0u8; size]);
    IsoImageWriter::format_new(&mut image, files, options)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(image.into_inner())
}

#[cfg(test)]
mod mount_tests {
    use crate::template::{Source, load};

    /// Mounted early, installed before the template's own runcmd (which starts services).
    #[test]
    fn mounts_are_mounted_at_boot_and_installed_before_the_templates_runcmd() {
        let text = "apiVersion: vstage/v1\nname: m\nnodes:\n  - name: c\n    image: debian-12\n    mounts:\n      - {source: /, target: /opt/src, install: make install, restart: [app]}\n    cloud_init:\n      runcmd: [[systemctl, start, app]]\n";
        let source = Source {
            label: "t.yaml".into(),
            text: text.into(),
        };
        let plan = crate::plan::build(&load(&source, &[]).unwrap()).unwrap();
        let node = &plan.nodes[0];
        let seed = super::cloud_init(&plan, node, "ssh-ed25519 AAAA k", node.user_data.as_ref());
        let data: serde_json::Value =
            serde_json::from_str(seed.user_data.trim_start_matches("#cloud-config\n")).unwrap();
        assert_eq!(
            data["bootcmd"],
            serde_json::json!([super::mount_command(&node.mounts[0])])
        );
        assert_eq!(
            data["runcmd"],
            serde_json::json!([["sh", "-c", "make install"], ["systemctl", "start", "app"]])
        );
    }
}
