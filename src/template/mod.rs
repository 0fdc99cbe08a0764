//! Templates: the YAML a user writes, turned into validated, typed settings.
//!
//! Parsing happens in one step, like ripgrep's flags: raw YAML with positions
//! (`Raw*`), then parameters substituted and every value checked, giving a
//! [`Template`] whose fields are plain values. Every error carries file:line:column.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::clone::section::{ConfigError, plain_message};
use crate::net::Cidr;

mod params;
mod raw;
mod validate;

pub use validate::instance_names;

/// The only template format this build reads.
pub const API_VERSION: &str = "vstage/v1";

/// Built-in templates, embedded so `vstage up -t tiny` works from any directory.
const BUILTIN: &[(&str, &str)] = &[
    ("tiny", include_str!("../../templates/tiny.yaml")),
    ("debian", include_str!("../../templates/debian.yaml")),
    ("openstack", include_str!("../../templates/openstack.yaml")),
];

/// Names of the built-in templates.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(name, _)| *name)
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template is wrong at a known place.
    #[error("{file}:{line}:{column}: {message}")]
    At {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("{0}")]
    Other(String),
}

/// Where something was written in a template, for errors found after validation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub file: String,
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// How big an env may be. Each instance is a QEMU process and its MACs number nodes in
/// 16 bits and NICs in 8 (`net::Mac::for_nic`); far below both, these keep a typo
/// (`count: 6400`) from planning an env no host could run.
pub const MAX_INSTANCES: u32 = 64;
pub const MAX_NICS: usize = 8;
/// The service network every node with clones or cloud-init has (the plan puts the
/// clones on it); a template network on it would be unreachable.
pub const SERVICE_NET: &str = "10.0.2.0/24";

/// A validated template: everything a plan needs, with parameters applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub name: String,
    /// `driver:` as written (a name, unchecked), and where.
    pub driver: Option<(String, Location)>,
    pub networks: Vec<Network>,
    pub nodes: Vec<Node>,
    /// Clones of other teams' services the env runs (DESIGN §6), by name.
    pub services: Vec<Service>,
    /// What must hold, in order, before the env counts as ready.
    pub gates: Vec<Gate>,
    pub handoff: Handoff,
}

/// How long a gate may take when the template does not say (seconds).
pub const DEFAULT_GATE_TIMEOUT: u32 = 900;
/// The longest a gate may take (seconds).
pub const MAX_GATE_TIMEOUT: u32 = 4 * 3600;
pub const MAX_GATES: usize = 32;
pub const MAX_PORTS: usize = 16;
pub const MAX_MOUNTS: usize = 4;
/// Patterns of a node's `logs:`.
pub const MAX_NODE_LOGS: usize = 16;

/// `gates:`: a shell command run until it exits 0, or its timeout passes; then the
/// tails of its `logs` say why. It runs on a node through the node's guest, or on the
/// host with the hand-off's variables (`OS_CLIENT_CONFIG_FILE`, ...) and the host's own
/// clients, where asking an API is many times cheaper than in an emulated guest.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Gate {
    pub name: String,
    pub on: GateOn,
    pub run: String,
    pub timeout_s: u32,
    /// Files on its node whose tails a failure shows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
    /// Whether it runs again in an env restored from a snapshot: what a restore cannot
    /// break (a registered image, a database schema) need not be checked twice.
    pub restore: bool,
}

/// Where a gate runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GateOn {
    Host,
    /// On this instance, through its guest.
    Node(String),
}

impl std::fmt::Display for GateOn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GateOn::Host => f.write_str("the host"),
            GateOn::Node(n) => f.write_str(n),
        }
    }
}

/// `handoff:`: files nodes write for the host's tools, read once the gates pass.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Handoff {
    /// Sections merged over the identity clone's `tempest.conf` (what only the
    /// deployment knows: image and flavor ids, networks, enabled services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tempest_conf: Option<NodeFile>,
}

impl Handoff {
    pub fn is_empty(&self) -> bool {
        self.tempest_conf.is_none()
    }
}

/// A file on one of the env's instances.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NodeFile {
    pub node: String,
    pub path: String,
}

/// `services.<name>`: a clone of the registered kind its `clone:` names.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// Its hostname in guests, and its directory in the env.
    pub name: String,
    /// The kind (`clone::registry`).
    pub kind: String,
    /// Where its `clone:` is written.
    pub at: Location,
    /// What the kind made of its section.
    pub settings: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub name: String,
    pub cidr: Cidr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    /// Where the node is declared.
    pub at: Location,
    pub image: String,
    pub cpus: u32,
    pub memory_mib: u32,
    pub count: u32,
    pub nics: Vec<Nic>,
    /// User-data (a mapping) merged into the node's cloud-init seed.
    pub cloud_init: Option<serde_json::Value>,
    /// Guest TCP ports forwarded from the host's loopback (`ports:`).
    pub ports: Vec<u16>,
    /// Host directories shared into the node (`mounts:`).
    pub mounts: Vec<Mount>,
    /// Guest files (absolute paths, `*` and `?` allowed) that `vstage run --artifacts`
    /// copies from each instance (`logs:`).
    pub logs: Vec<String>,
}

/// A host directory shared read-only into a node (virtiofs): the branch's own code in
/// the env. `install` runs in the node before the template's `runcmd` (so before the
/// services it starts) and again on `vstage sync` when the directory changed, followed
/// by a restart of `restart`'s units.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// Absolute, canonical.
    pub source: std::path::PathBuf,
    /// Absolute path in the guest.
    pub target: String,
    pub install: Option<String>,
    /// systemd units.
    pub restart: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Nic {
    pub network: String,
    pub ip: Option<Ipv4Addr>,
    /// Where the NIC is declared.
    pub at: Location,
}

/// Where a template came from: a file path or a built-in name.
#[derive(Debug, Clone)]
pub struct Source {
    /// What errors call it: the path, or `builtin:NAME`.
    pub label: String,
    pub text: String,
}

impl Source {
    /// `arg` is a path to a file, or the name of a built-in template.
    pub fn resolve(arg: &str) -> Result<Source, TemplateError> {
        let path = Path::new(arg);
        if path.exists() {
            return Ok(Source {
                label: arg.to_string(),
                text: read_bounded(arg, path)?,
            });
        }
        if let Some((name, text)) = BUILTIN.iter().find(|(name, _)| *name == arg) {
            return Ok(Source {
                label: format!("builtin:{name}"),
                text: text.to_string(),
            });
        }
        let names: Vec<_> = builtin_names().collect();
        Err(TemplateError::Other(format!(
            "no template file '{arg}' and no built-in template of that name (built-ins: {})",
            names.join(", ")
        )))
    }
}

/// The largest template file read; the built-ins are a few KiB.
pub const MAX_TEMPLATE_BYTES: u64 = 1024 * 1024;

/// Reads a template file: at most [`MAX_TEMPLATE_BYTES`] (`-t /dev/zero` must not read
/// until memory runs out), and UTF-8, with the place of the first byte that is not.
fn read_bounded(label: &str, path: &Path) -> Result<String, TemplateError> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| TemplateError::Other(format!("{label}: cannot read: {e}"));
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(cannot)?
        .take(MAX_TEMPLATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_TEMPLATE_BYTES {
        return Err(TemplateError::Other(format!(
            "{label}: larger than {} KiB: not a template",
            MAX_TEMPLATE_BYTES / 1024
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|b| **b == b'\n').count() as u64 + 1;
        let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[line_start..]).chars().count() as u64 + 1;
        TemplateError::At {
            file: label.to_string(),
            line,
            column,
            message: "not UTF-8: a template is UTF-8 text".into(),
        }
    })
}

/// Parses and validates `source`, applying `--set` overrides (`key=value`).
pub fn load(source: &Source, sets: &[String]) -> Result<Template, TemplateError> {
    let ctx = Ctx {
        file: &source.label,
        text: &source.text,
    };
    let raw: raw::RawTemplate = serde_saphyr::from_str(&source.text).map_err(|e| ctx.yaml(&e))?;
    raw.validate(&ctx, sets)
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    pub(super) fn location(&self, loc: &serde_saphyr::Location) -> Location {
        Location {
            file: self.file.to_string(),
            line: loc.line(),
            column: loc.column(),
        }
    }

    pub(super) fn at(
        &self,
        loc: &serde_saphyr::Location,
        message: impl Into<String>,
    ) -> TemplateError {
        TemplateError::At {
            file: self.file.to_string(),
            line: loc.line(),
            column: loc.column(),
            message: message.into(),
        }
    }

    /// An error a clone kind found in its section.
    pub(super) fn config(&self, e: ConfigError) -> TemplateError {
        match e.at {
            Some((line, column)) => TemplateError::At {
                file: self.file.to_string(),
                line,
                column,
                message: e.message,
            },
            None => TemplateError::Other(format!("{}: {}", self.file, e.message)),
        }
    }

    pub(super) fn yaml(&self, e: &serde_saphyr::Error) -> TemplateError {
        let message = plain_message(e);
        match e.location() {
            Some(loc) => self.at(&loc, message),
            None => TemplateError::Other(format!("{}: {message}", self.file)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, sets: &[&str]) -> Result<Template, TemplateError> {
        let source = Source {
            label: "t.yaml".into(),
            text: text.into(),
        };
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        load(&source, &sets)
    }

    /// One template every field of which is valid, for the tests to spoil.
    const GOOD: &str = include_str!("../../tests/templates/good.yaml");

    fn at(err: TemplateError) -> (u64, u64, String) {
        match err {
            TemplateError::At {
                line,
                column,
                message,
                ..
            } => (line, column, message),
            other => panic!("expected a located error, got {other}"),
        }
    }

    #[test]
    fn builtin_tiny_parses() {
        let t = load(&Source::resolve("tiny").unwrap(), &[]).unwrap();
        assert_eq!(t.name, "tiny");
        assert_eq!(t.nodes.len(), 2);
    }

    #[test]
    fn params_apply_and_set_overrides() {
        let t = parse(GOOD, &[]).unwrap();
        assert_eq!(t.nodes[0].memory_mib, 128);
        assert_eq!(t.nodes[0].image, "tiny");
        let t = parse(GOOD, &["mem=1G"]).unwrap();
        assert_eq!(t.nodes[0].memory_mib, 1024);
    }

    #[test]
    fn set_of_unknown_param_is_refused() {
        let e = parse(GOOD, &["nope=1"]).unwrap_err().to_string();
        assert!(e.contains("no parameter 'nope'"), "{e}");
        assert!(e.contains("img, mem"), "{e}");
    }

    #[test]
    fn wrong_type_after_substitution_points_at_the_field() {
        let (line, col, msg) = at(parse(GOOD, &["mem=lots"]).unwrap_err());
        assert_eq!((line, col), (12, 13));
        assert!(msg.contains("memory"), "{msg}");
    }

    #[test]
    fn unknown_field_is_located() {
        let text = GOOD.replace("    count: 2\n", "    count: 2\n    colour: red\n");
        let (line, col, msg) = at(parse(&text, &[]).unwrap_err());
        assert_eq!(line, 19);
        assert_eq!(col, 5);
        assert!(msg.contains("colour"), "{msg}");
    }

    #[test]
    fn wrong_yaml_type_is_located() {
        let text = GOOD.replace("    nics: [{network: lan}]\n", "    nics: 3\n");
        let (line, _, _) = at(parse(&text, &[]).unwrap_err());
        assert_eq!(line, 19);
    }

    #[test]
    fn unknown_network_is_located() {
        let text = GOOD.replace("nics: [{network: lan}]", "nics: [{network: wan}]");
        let (line, col, msg) = at(parse(&text, &[]).unwrap_err());
        assert_eq!((line, col), (19, 22));
        assert!(msg.contains("unknown network 'wan'"), "{msg}");
    }

    #[test]
    fn missing_image_is_located() {
        let text = GOOD.replace("    image: tiny\n", "    image: centos\n");
        let (line, col, msg) = at(parse(&text, &[]).unwrap_err());
        assert_eq!((line, col), (17, 12));
        assert!(msg.contains("image 'centos' does not exist"), "{msg}");
    }

    #[test]
    fn fixed_ip_outside_the_network_is_refused() {
        let text = GOOD.replace("10.1.0.5", "10.2.0.5");
        let (line, _, msg) = at(parse(&text, &[]).unwrap_err());
        assert_eq!(line, 15);
        assert!(msg.contains("not a host address"), "{msg}");
    }

    #[test]
    fn wrong_api_version_is_refused() {
        let text = GOOD.replace("vstage/v1", "vstage/v9");
        let (line, col, _) = at(parse(&text, &[]).unwrap_err());
        assert_eq!((line, col), (1, 13));
    }

    #[test]
    fn logs_take_plain_paths_and_file_name_patterns() {
        let with = |logs: &str| {
            GOOD.replace(
                "    memory: ${mem}\n",
                &format!("    memory: ${{mem}}\n    logs: {logs}\n"),
            )
        };
        let t = parse(
            &with("[/var/log/nova/*.log, /var/log/syslog, /var/log/syslog]"),
            &[],
        )
        .unwrap();
        assert_eq!(t.nodes[0].logs, ["/var/log/nova/*.log", "/var/log/syslog"]);
        assert!(t.nodes[1].logs.is_empty());
        for bad in [
            "var/log/x",
            "/var/log/$(reboot)",
            "/var/*/x.log",
            "/var/log/../../etc/shadow",
            "\"/var/log/a b\"",
        ] {
            let (line, col, msg) = at(parse(&with(&format!("[{bad}]")), &[]).unwrap_err());
            assert_eq!((line, col), (13, 12), "{bad}: {msg}");
            assert!(msg.starts_with("logs: "), "{bad}: {msg}");
        }
        let many = format!("[{}]", vec!["/x"; MAX_NODE_LOGS + 1].join(", "));
        let (_, _, msg) = at(parse(&with(&many), &[]).unwrap_err());
        assert!(msg.contains("at most 16"), "{msg}");
    }
}
