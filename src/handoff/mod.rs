//! The hand-off: what an env gives the tools that use it. Files in the env dir
//! (`ssh_config`, each clone's `url`; the clones write their own `clouds.yaml`, openrc
//! and `tempest.conf` beside it) and the variables `vstage exec` sets for a host
//! command; and what a `vstage run` keeps of it: the artifacts (`artifacts.rs`) and a
//! JUnit report (`junit.rs`).

pub mod artifacts;
pub mod junit;

use std::ffi::OsString;

use crate::clone::registry::{self, Role};
use crate::env::EnvInfo;
use crate::envdir::{self, EnvDir, write_atomic};
use crate::plan::ServicePlan;

/// `ssh_config` naming each node that runs sshd, for `vstage ssh`, Ansible and friends.
pub fn write_ssh_config(dir: &EnvDir, ports: &[(String, u16)]) -> std::io::Result<()> {
    let key = dir.join(envdir::SSH_KEY);
    let mut config = String::new();
    for (name, port) in ports {
        config.push_str(&format!(
            "Host {name}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {key}\n  \
             IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n\n",
            user = crate::driver::qemu::seed::LOGIN_USER,
            key = key.display(),
        ));
    }
    write_atomic(&dir.join(envdir::SSH_CONFIG), config.as_bytes())
}

/// An Ansible inventory (INI) of the nodes that run sshd, grouped by the template node
/// each is an instance of, reached as `ssh_config` reaches them; `vstage_ip` is a node's
/// first address inside the env.
pub fn write_inventory(
    dir: &EnvDir,
    nodes: &[crate::plan::NodePlan],
    ports: &[(String, u16)],
) -> std::io::Result<()> {
    let mut groups: Vec<(&str, String)> = Vec::new();
    for (name, port) in ports {
        let Some(node) = nodes.iter().find(|n| &n.name == name) else {
            continue;
        };
        let group = node.group.as_deref().unwrap_or(&node.name);
        let ip = node.nics.first().map(|n| n.ip.to_string());
        let line = format!(
            "{name} ansible_host=127.0.0.1 ansible_port={port}{}\n",
            ip.map(|ip| format!(" vstage_ip={ip}")).unwrap_or_default()
        );
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, hosts)) => hosts.push_str(&line),
            None => groups.push((group, line)),
        }
    }
    let mut ini = String::new();
    for (group, hosts) in &groups {
        ini.push_str(&format!("[{group}]\n{hosts}\n"));
    }
    ini.push_str(&format!(
        "[all:vars]\nansible_user={user}\nansible_become=true\nansible_ssh_private_key_file={key}\n\
         ansible_ssh_common_args='-o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n",
        user = crate::driver::qemu::seed::LOGIN_USER,
        key = dir.join(envdir::SSH_KEY).display(),
    ));
    write_atomic(&dir.join(envdir::INVENTORY), ini.as_bytes())
}

/// The identity clone's Tempest configuration, in its directory.
use crate::clone::registry::TEMPEST_CONF;

#[derive(Debug, thiserror::Error)]
pub enum IniError {
    #[error("line {0}: expected '[section]', 'key = value' or a comment")]
    Line(usize),
    #[error("line {0}: a key before any [section]")]
    NoSection(usize),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// An INI file as Tempest (oslo.config) reads it: sections of `key = value`, in order.
type Ini = Vec<(String, Vec<(String, String)>)>;

fn parse_ini(text: &str) -> Result<Ini, IniError> {
    let mut ini: Ini = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim();
            if name.is_empty() || name.contains(['[', ']']) {
                return Err(IniError::Line(n + 1));
            }
            if !ini.iter().any(|(s, _)| s == name) {
                ini.push((name.to_string(), Vec::new()));
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(IniError::Line(n + 1));
        };
        let key = key.trim();
        if key.is_empty() || key.contains(['[', ']']) {
            return Err(IniError::Line(n + 1));
        }
        let Some((_, entries)) = ini.last_mut() else {
            return Err(IniError::NoSection(n + 1));
        };
        entries.retain(|(k, _)| k != key);
        entries.push((key.to_string(), value.trim().to_string()));
    }
    Ok(ini)
}

/// Merges `fragment`'s sections over the `tempest.conf` at `path` (its keys win), and
/// writes it back. Lines of the fragment are checked one by one: it comes from a guest.
pub fn merge_tempest_conf(path: &std::path::Path, fragment: &str) -> Result<(), IniError> {
    let base = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    let mut merged = parse_ini(&base)?;
    for (section, entries) in parse_ini(fragment)? {
        let at = match merged.iter().position(|(s, _)| *s == section) {
            Some(i) => i,
            None => {
                merged.push((section, Vec::new()));
                merged.len() - 1
            }
        };
        for (key, value) in entries {
            let kept = &mut merged[at].1;
            match kept.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => kept.push((key, value)),
            }
        }
    }
    let mut text = String::new();
    for (section, entries) in &merged {
        text.push_str(&format!("[{section}]\n"));
        for (key, value) in entries {
            text.push_str(&format!("{key} = {value}\n"));
        }
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())?;
    Ok(())
}

/// The file in a clone's directory that holds its host URL.
pub const CLONE_URL: &str = "url";

/// A clone's host URL, in `CLONE_DIR/url`.
pub fn write_clone_url(dir: &EnvDir, clone_dir: &str, url: &str) -> std::io::Result<()> {
    let state = dir.join(clone_dir);
    std::fs::create_dir_all(&state)?;
    write_atomic(&state.join(CLONE_URL), format!("{url}\n").as_bytes())
}

/// The environment a host command gets from `vstage exec ENV -- CMD`.
pub fn variables(dir: &EnvDir, info: &EnvInfo) -> Vec<(&'static str, OsString)> {
    let mut vars: Vec<(&'static str, OsString)> = vec![
        ("VSTAGE_ENV", info.name.clone().into()),
        ("VSTAGE_ENV_DIR", dir.path().into()),
        ("VSTAGE_ENV_JSON", dir.join(envdir::ENV_JSON).into()),
    ];
    if dir.join(envdir::SSH_CONFIG).exists() {
        vars.push(("VSTAGE_SSH_CONFIG", dir.join(envdir::SSH_CONFIG).into()));
    }
    if dir.join(envdir::INVENTORY).exists() {
        vars.push(("ANSIBLE_INVENTORY", dir.join(envdir::INVENTORY).into()));
    }
    if let Some(identity) = identity(info) {
        let clone_dir = dir.join(&identity.dir);
        vars.push((
            "OS_CLIENT_CONFIG_FILE",
            clone_dir.join(registry::CLOUDS_YAML).into(),
        ));
        if clone_dir.join(TEMPEST_CONF).exists() {
            vars.push(("TEMPEST_CONFIG_DIR", clone_dir.clone().into()));
            vars.push(("TEMPEST_CONFIG", TEMPEST_CONF.into()));
        }
        if let Ok(url) = std::fs::read_to_string(clone_dir.join(CLONE_URL)) {
            vars.push(("VSTAGE_AUTH_URL", url.trim().into()));
        }
    }
    vars
}

/// The env's identity service, whose `clouds.yaml` the host's clients use.
pub fn identity(info: &EnvInfo) -> Option<&ServicePlan> {
    info.plan
        .services
        .iter()
        .find(|s| registry::kind(&s.kind).is_some_and(|k| k.role() == Role::Identity))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fragment_overrides_and_adds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tempest.conf");
        std::fs::write(
            &path,
            "[auth]\nadmin_username = admin\n[service_available]\nnova = false\n",
        )
        .unwrap();
        merge_tempest_conf(
            &path,
            "# from the controller\n[service_available]\nnova = true\n[compute]\nimage_ref = abc\n",
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "[auth]\nadmin_username = admin\n\n[service_available]\nnova = true\n\n[compute]\nimage_ref = abc\n\n"
        );
    }

    #[test]
    fn a_guest_fragment_is_checked_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tempest.conf");
        assert!(matches!(
            merge_tempest_conf(&path, "key = before\n"),
            Err(IniError::NoSection(1))
        ));
        assert!(matches!(
            merge_tempest_conf(&path, "[a]\nnot ini\n"),
            Err(IniError::Line(2))
        ));
        assert!(!path.exists());
    }
}
