//! Templates: the YAML a user writes, turned into validated, typed settings.
//!
//! Parsing happens in one step, like ripgrep's flags: raw YAML with positions
//! (`Raw*`), then parameters substituted and every value checked, giving a
//! [`Template`] whose fields are plain values. Every error carries file:line:column.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_saphyr::Spanned;

use crate::clone::registry::{self, Role};
use crate::clone::section::{ConfigError, Section, plain_message};
use crate::image;
use crate::net::Cidr;

/// The only template format this build reads.
pub const API_VERSION: &str = "vstage/v1";

/// Built-in templates, embedded so `vstage up -t tiny` works from any directory.
const BUILTIN: &[(&str, &str)] = &[
    ("tiny", include_str!("../templates/tiny.yaml")),
    ("debian", include_str!("../templates/debian.yaml")),
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
/// The service network every node with clones or cloud-init has (`plan::SERVICE_NET`);
/// a template network on it would be unreachable.
const SERVICE_CIDR: &str = crate::plan::SERVICE_NET;

/// A validated template: everything a plan needs, with parameters applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub name: String,
    pub networks: Vec<Network>,
    pub nodes: Vec<Node>,
    /// Clones of other teams' services the env runs (DESIGN §6), by name.
    pub services: Vec<Service>,
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
    let raw: RawTemplate = serde_saphyr::from_str(&source.text).map_err(|e| ctx.yaml(&e))?;
    raw.validate(&ctx, sets)
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn location(&self, loc: &serde_saphyr::Location) -> Location {
        Location {
            file: self.file.to_string(),
            line: loc.line(),
            column: loc.column(),
        }
    }

    fn at(&self, loc: &serde_saphyr::Location, message: impl Into<String>) -> TemplateError {
        TemplateError::At {
            file: self.file.to_string(),
            line: loc.line(),
            column: loc.column(),
            message: message.into(),
        }
    }

    /// An error a clone kind found in its section.
    fn config(&self, e: ConfigError) -> TemplateError {
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

    fn yaml(&self, e: &serde_saphyr::Error) -> TemplateError {
        let message = plain_message(e);
        match e.location() {
            Some(loc) => self.at(&loc, message),
            None => TemplateError::Other(format!("{}: {message}", self.file)),
        }
    }
}

// ---- raw YAML shape -------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    #[serde(rename = "apiVersion")]
    api_version: Spanned<String>,
    name: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<Scalar>>,
    #[serde(default)]
    networks: Vec<RawNetwork>,
    nodes: Spanned<Vec<RawNode>>,
    #[serde(default)]
    services: Option<BTreeMap<String, RawServiceHead>>,
}

/// Of a `services.<name>` section, what the template reads itself: the kind. The
/// kind's parser reads the rest (`clone::section`).
#[derive(Deserialize)]
struct RawServiceHead {
    clone: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    name: Spanned<Scalar>,
    cidr: Spanned<Scalar>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Spanned<Scalar>,
    image: Spanned<Scalar>,
    #[serde(default)]
    cpus: Option<Spanned<Scalar>>,
    #[serde(default)]
    memory: Option<Spanned<Scalar>>,
    #[serde(default)]
    count: Option<Spanned<Scalar>>,
    #[serde(default)]
    nics: Vec<RawNic>,
    #[serde(default)]
    cloud_init: Option<Spanned<serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNic {
    network: Spanned<Scalar>,
    #[serde(default)]
    ip: Option<Spanned<Scalar>>,
}

/// Any YAML scalar, kept as its text so `${param}` can be substituted before
/// the value is checked against the type its field wants.
#[derive(Debug, Clone, PartialEq)]
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

// ---- validation -----------------------------------------------------------

/// The instances a node makes: its name, or `name-1`..`name-N` for `count: N`.
pub fn instance_names(name: &str, count: u32) -> Vec<String> {
    if count == 1 {
        vec![name.to_string()]
    } else {
        (1..=count).map(|i| format!("{name}-{i}")).collect()
    }
}

/// A name used in hostnames and file names: lowercase letters, digits, '-'.
fn is_name(v: &str) -> bool {
    v.len() <= 32
        && v.starts_with(|c: char| c.is_ascii_lowercase())
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Parameter values: template defaults overridden by `--set`.
struct Params(BTreeMap<String, String>);

impl Params {
    fn new(
        ctx: &Ctx,
        raw: &BTreeMap<String, Spanned<Scalar>>,
        sets: &[String],
    ) -> Result<Self, TemplateError> {
        let mut values: BTreeMap<String, String> = raw
            .iter()
            .map(|(k, v)| (k.clone(), v.value.0.clone()))
            .collect();
        for set in sets {
            let Some((key, value)) = set.split_once('=') else {
                return Err(TemplateError::Other(format!(
                    "--set {set}: expected key=value"
                )));
            };
            if !values.contains_key(key) {
                let known: Vec<_> = values.keys().cloned().collect();
                return Err(TemplateError::Other(format!(
                    "--set {set}: {} has no parameter '{key}' (it has: {})",
                    ctx.file,
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            values.insert(key.to_string(), value.to_string());
        }
        Ok(Params(values))
    }

    /// Substitutes every `${name}` in `s`.
    fn expand(&self, ctx: &Ctx, s: &Spanned<Scalar>) -> Result<String, TemplateError> {
        let text = &s.value.0;
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(ctx.at(&s.referenced, format!("unclosed '${{' in '{text}'")));
            };
            let name = &after[..end];
            let Some(value) = self.0.get(name) else {
                return Err(ctx.at(
                    &s.referenced,
                    format!("unknown parameter '{name}': declare it under `params:`"),
                ));
            };
            out.push_str(value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn text(&self, ctx: &Ctx, field: &str, s: &Spanned<Scalar>) -> Result<String, TemplateError> {
        let v = self.expand(ctx, s)?;
        if v.is_empty() {
            return Err(ctx.at(&s.referenced, format!("{field}: must not be empty")));
        }
        Ok(v)
    }

    /// A name used in hostnames and file names: lowercase letters, digits, '-'.
    fn name(&self, ctx: &Ctx, field: &str, s: &Spanned<Scalar>) -> Result<String, TemplateError> {
        let v = self.text(ctx, field, s)?;
        if !is_name(&v) {
            return Err(ctx.at(
                &s.referenced,
                format!("{field}: '{v}' is not a valid name (lowercase letters, digits and '-', starting with a letter, at most 32)"),
            ));
        }
        Ok(v)
    }

    fn number(
        &self,
        ctx: &Ctx,
        field: &str,
        s: Option<&Spanned<Scalar>>,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<u32, TemplateError> {
        let Some(s) = s else { return Ok(default) };
        let v = self.expand(ctx, s)?;
        let n: u32 = v.trim().parse().map_err(|_| {
            ctx.at(
                &s.referenced,
                format!("{field}: expected a whole number, found '{v}'"),
            )
        })?;
        if !range.contains(&n) {
            return Err(ctx.at(
                &s.referenced,
                format!(
                    "{field}: {n} is out of range {}..={}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(n)
    }

    /// Memory in MiB: a number, or a number with an `M`/`G` suffix.
    fn memory(&self, ctx: &Ctx, s: Option<&Spanned<Scalar>>) -> Result<u32, TemplateError> {
        let Some(s) = s else { return Ok(256) };
        let v = self.expand(ctx, s)?;
        let t = v.trim();
        let (digits, factor) = match t.strip_suffix(['G', 'g']) {
            Some(d) => (d, 1024),
            None => (t.strip_suffix(['M', 'm']).unwrap_or(t), 1),
        };
        let n = digits
            .parse::<u32>()
            .ok()
            .and_then(|n| n.checked_mul(factor))
            .filter(|n| (64..=262_144).contains(n))
            .ok_or_else(|| {
                ctx.at(
                    &s.referenced,
                    format!(
                        "memory: expected MiB from 64 to 262144, or e.g. '512M', '2G'; found '{v}'"
                    ),
                )
            })?;
        Ok(n)
    }
}

impl RawTemplate {
    fn validate(self, ctx: &Ctx, sets: &[String]) -> Result<Template, TemplateError> {
        if self.api_version.value != API_VERSION {
            return Err(ctx.at(
                &self.api_version.referenced,
                format!(
                    "apiVersion '{}' is not supported: this vstage reads '{API_VERSION}'",
                    self.api_version.value
                ),
            ));
        }
        let params = Params::new(ctx, &self.params, sets)?;
        let name_scalar = Spanned::new(
            Scalar(self.name.value.clone()),
            self.name.referenced,
            self.name.defined,
        );
        let name = params.name(ctx, "name", &name_scalar)?;
        let _ = self.description;

        let mut networks: Vec<Network> = Vec::new();
        for raw in &self.networks {
            let name = params.name(ctx, "network name", &raw.name)?;
            if networks.iter().any(|n| n.name == name) {
                return Err(ctx.at(
                    &raw.name.referenced,
                    format!("network '{name}' is declared twice"),
                ));
            }
            let text = params.text(ctx, "cidr", &raw.cidr)?;
            let cidr: Cidr = text
                .parse()
                .map_err(|e| ctx.at(&raw.cidr.referenced, format!("cidr: {e}")))?;
            let service: Cidr = SERVICE_CIDR.parse().expect("a valid constant");
            if cidr.overlaps(&service) {
                return Err(ctx.at(
                    &raw.cidr.referenced,
                    format!("cidr: {cidr} overlaps {service}, the service network every node's clones and SSH use: choose another range"),
                ));
            }
            if let Some(other) = networks.iter().find(|n| n.cidr.overlaps(&cidr)) {
                return Err(ctx.at(
                    &raw.cidr.referenced,
                    format!(
                        "cidr: {cidr} overlaps network '{}' ({}): networks of an env must not share addresses",
                        other.name, other.cidr
                    ),
                ));
            }
            networks.push(Network { name, cidr });
        }

        let mut nodes: Vec<Node> = Vec::new();
        let mut instances: Vec<String> = Vec::new();
        for raw in &self.nodes.value {
            let name = params.name(ctx, "node name", &raw.name)?;
            if nodes.iter().any(|n| n.name == name) {
                return Err(ctx.at(
                    &raw.name.referenced,
                    format!("node '{name}' is declared twice"),
                ));
            }
            let image = params.text(ctx, "image", &raw.image)?;
            if image::recipe(&image).is_none() {
                let known: Vec<_> = image::recipe_names().collect();
                return Err(ctx.at(
                    &raw.image.referenced,
                    format!(
                        "image '{image}' does not exist (images: {})",
                        known.join(", ")
                    ),
                ));
            }
            let count = params.number(ctx, "count", raw.count.as_ref(), 1, 1..=MAX_INSTANCES)?;
            for instance in instance_names(&name, count) {
                if instances.contains(&instance) {
                    return Err(ctx.at(
                        &raw.name.referenced,
                        format!("node '{name}' makes an instance named '{instance}', which another node makes too: rename one of them"),
                    ));
                }
                instances.push(instance);
            }
            if instances.len() > MAX_INSTANCES as usize {
                let at = raw
                    .count
                    .as_ref()
                    .map_or(&raw.name.referenced, |c| &c.referenced);
                return Err(ctx.at(
                    at,
                    format!(
                        "the env would have {} instances, more than the {MAX_INSTANCES} an env may have",
                        instances.len()
                    ),
                ));
            }
            if let Some(nic) = raw.nics.get(MAX_NICS) {
                return Err(ctx.at(
                    &nic.network.referenced,
                    format!("nics: a node may have at most {MAX_NICS} NICs"),
                ));
            }
            let mut nics = Vec::new();
            for nic in &raw.nics {
                let network = params.text(ctx, "network", &nic.network)?;
                let Some(net) = networks.iter().find(|n| n.name == network) else {
                    let known: Vec<_> = networks.iter().map(|n| n.name.as_str()).collect();
                    return Err(ctx.at(
                        &nic.network.referenced,
                        format!(
                            "unknown network '{network}' (declared: {})",
                            if known.is_empty() {
                                "none".into()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                };
                let ip = match &nic.ip {
                    None => None,
                    Some(s) => {
                        if count > 1 {
                            return Err(ctx.at(
                                &s.referenced,
                                "ip: a fixed address needs count: 1 (each instance needs its own)",
                            ));
                        }
                        let text = params.text(ctx, "ip", s)?;
                        let ip: Ipv4Addr = text.parse().map_err(|_| {
                            ctx.at(
                                &s.referenced,
                                format!("ip: '{text}' is not an IPv4 address"),
                            )
                        })?;
                        if !net.cidr.is_host(ip) {
                            return Err(ctx.at(
                                &s.referenced,
                                format!(
                                    "ip: {ip} is not a host address of {} ({})",
                                    net.name, net.cidr
                                ),
                            ));
                        }
                        Some(ip)
                    }
                };
                nics.push(Nic {
                    network,
                    ip,
                    at: ctx.location(&nic.network.referenced),
                });
            }
            let cloud_init = match &raw.cloud_init {
                None => None,
                Some(ci) => {
                    if !image::recipe(&image).is_some_and(|r| r.cloud_init) {
                        return Err(ctx.at(
                            &ci.referenced,
                            format!("cloud_init: image '{image}' does not run cloud-init"),
                        ));
                    }
                    if !ci.value.is_object() {
                        return Err(ctx.at(
                            &ci.referenced,
                            "cloud_init: expected a mapping of cloud-config keys (packages, write_files, runcmd, users, ...)",
                        ));
                    }
                    Some(ci.value.clone())
                }
            };
            nodes.push(Node {
                cloud_init,
                at: ctx.location(&raw.name.referenced),
                name,
                image,
                cpus: params.number(ctx, "cpus", raw.cpus.as_ref(), 1, 1..=64)?,
                memory_mib: params.memory(ctx, raw.memory.as_ref())?,
                count,
                nics,
            });
        }
        if nodes.is_empty() {
            return Err(ctx.at(
                &self.nodes.referenced,
                "nodes: the template has no nodes: add at least one",
            ));
        }
        let services = services(ctx, self.services.unwrap_or_default(), &instances)?;
        Ok(Template {
            name,
            networks,
            nodes,
            services,
        })
    }
}

/// The clones of `services:`, each checked by its registered kind, with what each needs
/// of the others present.
fn services(
    ctx: &Ctx,
    raw: BTreeMap<String, RawServiceHead>,
    instances: &[String],
) -> Result<Vec<Service>, TemplateError> {
    let mut services: Vec<(Service, Role)> = Vec::new();
    for (name, head) in raw {
        let at = &head.clone.referenced;
        if !is_name(&name) {
            return Err(ctx.at(
                at,
                format!("services.{name}: not a valid service name (lowercase letters, digits and '-', starting with a letter, at most 32): it is the service's hostname in guests"),
            ));
        }
        if instances.contains(&name) {
            return Err(ctx.at(
                at,
                format!("services.{name}: a node is named '{name}' too, and both would be the hostname '{name}' in guests: rename one of them"),
            ));
        }
        let Some(kind) = registry::kind(&head.clone.value) else {
            return Err(ctx.at(
                at,
                format!(
                    "services.{name}.clone: '{}' is not a clone vstage has (it has: {})",
                    head.clone.value,
                    registry::kind_names().join(", ")
                ),
            ));
        };
        if let Some((other, _)) = services.iter().find(|(_, r)| *r == kind.role()) {
            return Err(ctx.at(
                at,
                format!(
                    "services.{name}: the env has its {} service already (services.{}): an env has one of each",
                    kind.role().as_str(),
                    other.name
                ),
            ));
        }
        let section = Section {
            text: ctx.text,
            name: &name,
        };
        let settings = kind.parse(&section).map_err(|e| ctx.config(e))?;
        let service = Service {
            kind: kind.name().to_string(),
            at: ctx.location(at),
            settings,
            name,
        };
        services.push((service, kind.role()));
    }
    for (service, _) in &services {
        let needs = registry::kind(&service.kind).and_then(|k| k.needs());
        if let Some(role) = needs
            && !services.iter().any(|(_, r)| *r == role)
        {
            let offered: Vec<_> = registry::KINDS
                .iter()
                .filter(|k| k.role() == role)
                .map(|k| k.name())
                .collect();
            return Err(TemplateError::At {
                file: ctx.file.to_string(),
                line: service.at.line,
                column: service.at.column,
                message: format!(
                    "services.{} needs the env's {} service: add services.{} (clone: {})",
                    service.name,
                    role.as_str(),
                    role.usual_name(),
                    offered.join(" or ")
                ),
            });
        }
    }
    Ok(services.into_iter().map(|(s, _)| s).collect())
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

    const GOOD: &str = "apiVersion: vstage/v1
name: demo
params:
  mem: 128
  img: tiny
networks:
  - name: lan
    cidr: 10.1.0.0/24
nodes:
  - name: a
    image: ${img}
    memory: ${mem}
    nics:
      - network: lan
        ip: 10.1.0.5
  - name: b
    image: tiny
    count: 2
    nics: [{network: lan}]
";

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
}
