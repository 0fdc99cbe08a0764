//! The hand-off: what an env gives the tools that use it. Files in the env dir
//! (`ssh_config`, each clone's `url`; the clones write their own `clouds.yaml`, openrc
//! and `tempest.conf` beside it) and the variables `vstage exec` sets for a host
//! command. `vstage run` will reuse the same.

use std::ffi::OsString;

use crate::clone::registry::{self, Role};
use crate::env::EnvInfo;
use crate::layout::{self, EnvDir, write_atomic};
use crate::plan::ServicePlan;

/// `ssh_config` naming each node that runs sshd, for `vstage ssh`, Ansible and friends.
pub fn write_ssh_config(dir: &EnvDir, ports: &[(String, u16)]) -> std::io::Result<()> {
    let key = dir.join(layout::SSH_KEY);
    let mut config = String::new();
    for (name, port) in ports {
        config.push_str(&format!(
            "Host {name}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {key}\n  \
             IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n\n",
            user = crate::seed::LOGIN_USER,
            key = key.display(),
        ));
    }
    write_atomic(&dir.join(layout::SSH_CONFIG), config.as_bytes())
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
        ("VSTAGE_ENV_JSON", dir.join(layout::ENV_JSON).into()),
    ];
    if dir.join(layout::SSH_CONFIG).exists() {
        vars.push(("VSTAGE_SSH_CONFIG", dir.join(layout::SSH_CONFIG).into()));
    }
    if let Some(identity) = identity(info) {
        let clone_dir = dir.join(&identity.dir);
        vars.push((
            "OS_CLIENT_CONFIG_FILE",
            clone_dir.join(registry::CLOUDS_YAML).into(),
        ));
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
