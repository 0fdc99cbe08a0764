//! Validation: raw YAML and parameters in, a [`Template`] of plain, checked values out.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_saphyr::Spanned;

use super::params::{Params, is_name};
use super::raw::{
    RawGate, RawHandoff, RawMount, RawNetwork, RawNic, RawNode, RawServiceHead, RawTemplate, Scalar,
};
use super::{
    API_VERSION, Ctx, DEFAULT_GATE_TIMEOUT, Gate, GateOn, Handoff, MAX_GATE_TIMEOUT, MAX_GATES,
    MAX_INSTANCES, MAX_MOUNTS, MAX_NICS, MAX_NODE_LOGS, MAX_PORTS, Mount, Network, Nic, Node,
    NodeFile, SERVICE_NET, Service, Template, TemplateError,
};
use crate::clone::registry::{self, Role};
use crate::clone::section::Section;
use crate::image;
use crate::net::Cidr;

/// The instances a node makes: its name, or `name-1`..`name-N` for `count: N`.
pub fn instance_names(name: &str, count: u32) -> Vec<String> {
    if count == 1 {
        vec![name.to_string()]
    } else {
        (1..=count).map(|i| format!("{name}-{i}")).collect()
    }
}

impl RawTemplate {
    pub(super) fn validate(self, ctx: &Ctx, sets: &[String]) -> Result<Template, TemplateError> {
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
        // Which drivers exist is the driver module's to say (`driver::choose`).
        let driver = match &self.driver {
            Some(d) => Some((params.name(ctx, "driver", d)?, ctx.location(&d.referenced))),
            None => None,
        };

        let networks = networks(ctx, &params, &self.networks)?;
        let mut nodes: Vec<Node> = Vec::new();
        let mut instances: Vec<String> = Vec::new();
        for raw in &self.nodes.value {
            nodes.push(node(ctx, &params, raw, &networks, &nodes, &mut instances)?);
        }
        if nodes.is_empty() {
            return Err(ctx.at(
                &self.nodes.referenced,
                "nodes: the template has no nodes: add at least one",
            ));
        }
        let services = services(ctx, self.services.unwrap_or_default(), &instances)?;
        let gates = gates(ctx, &params, &self.gates, &instances)?;
        let handoff = handoff(ctx, &params, self.handoff.as_ref(), &instances)?;
        Ok(Template {
            name,
            driver,
            networks,
            nodes,
            services,
            gates,
            handoff,
        })
    }
}

/// `networks:`: names unique, ranges apart from each other and the service network.
fn networks(ctx: &Ctx, params: &Params, raw: &[RawNetwork]) -> Result<Vec<Network>, TemplateError> {
    let mut networks: Vec<Network> = Vec::new();
    for raw in raw {
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
        let service: Cidr = SERVICE_NET.parse().expect("a valid constant");
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
    Ok(networks)
}

/// One node of `nodes:`, and the instance names it adds to `instances`.
fn node(
    ctx: &Ctx,
    params: &Params,
    raw: &RawNode,
    networks: &[Network],
    nodes: &[Node],
    instances: &mut Vec<String>,
) -> Result<Node, TemplateError> {
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
    let nics = nics(ctx, params, &raw.nics, networks, count)?;
    let cloud_init = cloud_init(ctx, raw, &image)?;
    let ports = ports(ctx, params, &raw.ports)?;
    let mounts = mounts(ctx, params, &raw.mounts, image_runs_cloud_init(&image))?;
    let logs = logs(ctx, params, &raw.logs)?;
    Ok(Node {
        cloud_init,
        ports,
        mounts,
        logs,
        at: ctx.location(&raw.name.referenced),
        name,
        image,
        cpus: params.number(ctx, "cpus", raw.cpus.as_ref(), 1, 1..=64)?,
        memory_mib: params.memory(ctx, raw.memory.as_ref())?,
        count,
        nics,
    })
}

/// A node's NICs, each on a declared network, fixed addresses inside it.
fn nics(
    ctx: &Ctx,
    params: &Params,
    raw: &[RawNic],
    networks: &[Network],
    count: u32,
) -> Result<Vec<Nic>, TemplateError> {
    let mut nics = Vec::new();
    for nic in raw {
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
    Ok(nics)
}

/// A node's `ports:`: guest TCP ports, each forwarded once from the host's loopback.
fn ports(ctx: &Ctx, params: &Params, raw: &[Spanned<Scalar>]) -> Result<Vec<u16>, TemplateError> {
    if let Some(extra) = raw.get(MAX_PORTS) {
        return Err(ctx.at(
            &extra.referenced,
            format!("ports: a node may forward at most {MAX_PORTS} ports"),
        ));
    }
    let mut ports = Vec::new();
    for p in raw {
        let port = params.number(ctx, "ports", Some(p), 0, 1..=65535)?;
        let port = u16::try_from(port).expect("bounded to 65535 above");
        if port == 22 || ports.contains(&port) {
            return Err(ctx.at(
                &p.referenced,
                format!(
                    "ports: {port} is forwarded already (22 is the node's ssh, always forwarded)"
                ),
            ));
        }
        ports.push(port);
    }
    Ok(ports)
}

fn image_runs_cloud_init(image: &str) -> bool {
    image::recipe(image).is_some_and(|r| r.cloud_init)
}

/// A node's `mounts:`. A `source` that is empty after parameters leaves its mount out, so
/// a template can offer one (`source: ${nova_src}`) that is off by default.
fn mounts(
    ctx: &Ctx,
    params: &Params,
    raw: &[RawMount],
    cloud_init: bool,
) -> Result<Vec<Mount>, TemplateError> {
    if let Some(extra) = raw.get(MAX_MOUNTS) {
        return Err(ctx.at(
            &extra.source.referenced,
            format!("mounts: a node may have at most {MAX_MOUNTS} mounts"),
        ));
    }
    let mut mounts: Vec<Mount> = Vec::new();
    for m in raw {
        let source = params.expand(ctx, &m.source)?;
        if source.is_empty() {
            continue;
        }
        let source = std::fs::canonicalize(&source)
            .ok()
            .filter(|p| p.is_dir())
            .ok_or_else(|| {
                ctx.at(
                    &m.source.referenced,
                    format!("source: '{source}' is not a directory on this host"),
                )
            })?;
        if source.to_str().is_none_or(|s| s.contains([',', '\n'])) {
            return Err(ctx.at(
                &m.source.referenced,
                format!(
                    "source: '{}' must be UTF-8 without ',' or a newline (QEMU and virtiofsd options)",
                    source.display()
                ),
            ));
        }
        let target = guest_path(ctx, params, "target", &m.target)?;
        if target == "/" || mounts.iter().any(|o| o.target == target) {
            return Err(ctx.at(
                &m.target.referenced,
                format!("target: '{target}' is the root or another mount's target"),
            ));
        }
        if !cloud_init
            && let Some(at) = m
                .install
                .as_ref()
                .map(|i| &i.referenced)
                .or(m.restart.first().map(|r| &r.referenced))
        {
            return Err(ctx.at(
                at,
                "install and restart need an image that runs cloud-init; this node's only mounts the directory",
            ));
        }
        let install = m
            .install
            .as_ref()
            .map(|i| params.text(ctx, "install", i))
            .transpose()?;
        let mut restart = Vec::new();
        for unit in &m.restart {
            let name = params.text(ctx, "restart", unit)?;
            if !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"@._:-".contains(&b))
                || name.starts_with('-')
            {
                return Err(ctx.at(
                    &unit.referenced,
                    format!("restart: '{name}' is not a systemd unit name"),
                ));
            }
            restart.push(name);
        }
        mounts.push(Mount {
            source,
            target,
            install,
            restart,
        });
    }
    Ok(mounts)
}

/// A node's `logs:`: absolute guest paths whose last component may hold `*` or `?`.
/// The collector expands them with the guest's shell, so anything that shell would
/// read as more than a path (spaces, quotes, `$`, `;`) is refused here.
fn logs(ctx: &Ctx, params: &Params, raw: &[Spanned<Scalar>]) -> Result<Vec<String>, TemplateError> {
    if let Some(extra) = raw.get(MAX_NODE_LOGS) {
        return Err(ctx.at(
            &extra.referenced,
            format!("logs: a node may name at most {MAX_NODE_LOGS} logs"),
        ));
    }
    let mut logs = Vec::new();
    for s in raw {
        let path = guest_path(ctx, params, "logs", s)?;
        let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+@%=:,".contains(c);
        let (dir, file) = path.rsplit_once('/').unwrap_or(("", &path));
        if !dir.chars().all(plain)
            || !file.chars().all(|c| plain(c) || c == '*' || c == '?')
            || path.split('/').any(|c| c == "..")
        {
            return Err(ctx.at(
                &s.referenced,
                format!(
                    "logs: '{path}' is not a plain guest path: use letters, digits and ./_-+@%=:, (and * or ? in the file name)"
                ),
            ));
        }
        if !logs.contains(&path) {
            logs.push(path);
        }
    }
    Ok(logs)
}

/// `gates:`: names unique, each on the host or on an instance of the env.
fn gates(
    ctx: &Ctx,
    params: &Params,
    raw: &[RawGate],
    instances: &[String],
) -> Result<Vec<Gate>, TemplateError> {
    if let Some(extra) = raw.get(MAX_GATES) {
        return Err(ctx.at(
            &extra.name.referenced,
            format!("gates: an env may have at most {MAX_GATES} gates"),
        ));
    }
    let mut gates: Vec<Gate> = Vec::new();
    for g in raw {
        let name = params.name(ctx, "gate name", &g.name)?;
        if gates.iter().any(|x| x.name == name) {
            return Err(ctx.at(
                &g.name.referenced,
                format!("gate '{name}' is declared twice"),
            ));
        }
        let host = match &g.host {
            Some(h) => params.boolean(ctx, "host", h)?,
            None => false,
        };
        let on = match (&g.node, host) {
            (Some(node), false) => {
                GateOn::Node(instance(ctx, params, "gates: node", node, instances)?)
            }
            (None, true) => GateOn::Host,
            (Some(node), true) => {
                return Err(ctx.at(
                    &node.referenced,
                    format!(
                        "gate '{name}': `node` and `host: true` exclude each other: name one place"
                    ),
                ));
            }
            (None, false) => {
                return Err(ctx.at(
                    &g.name.referenced,
                    format!("gate '{name}': says where it runs with `node: NAME` or `host: true`"),
                ));
            }
        };
        if let (GateOn::Host, Some(log)) = (&on, g.logs.first()) {
            return Err(ctx.at(
                &log.referenced,
                format!("gate '{name}': `logs` are files on a node; a gate on the host has none"),
            ));
        }
        let restore = match &g.restore {
            Some(r) => params.boolean(ctx, "restore", r)?,
            None => true,
        };
        let run = params.text(ctx, "run", &g.run)?;
        let timeout_s = params.number(
            ctx,
            "timeout",
            g.timeout.as_ref(),
            DEFAULT_GATE_TIMEOUT,
            1..=MAX_GATE_TIMEOUT,
        )?;
        let logs = g
            .logs
            .iter()
            .map(|l| guest_path(ctx, params, "logs", l))
            .collect::<Result<_, _>>()?;
        gates.push(Gate {
            name,
            on,
            run,
            timeout_s,
            logs,
            restore,
        });
    }
    Ok(gates)
}

/// `handoff:`.
fn handoff(
    ctx: &Ctx,
    params: &Params,
    raw: Option<&RawHandoff>,
    instances: &[String],
) -> Result<Handoff, TemplateError> {
    let Some(raw) = raw else {
        return Ok(Handoff::default());
    };
    let tempest_conf = match &raw.tempest_conf {
        None => None,
        Some(f) => Some(NodeFile {
            node: instance(ctx, params, "handoff: node", &f.node, instances)?,
            path: guest_path(ctx, params, "path", &f.path)?,
        }),
    };
    Ok(Handoff { tempest_conf })
}

/// The name of one of the env's instances (`compute-2` for the second of `count: 2`).
fn instance(
    ctx: &Ctx,
    params: &Params,
    field: &str,
    s: &Spanned<Scalar>,
    instances: &[String],
) -> Result<String, TemplateError> {
    let name = params.text(ctx, field, s)?;
    if !instances.contains(&name) {
        return Err(ctx.at(
            &s.referenced,
            format!(
                "{field}: '{name}' is not an instance of this env (instances: {})",
                instances.join(", ")
            ),
        ));
    }
    Ok(name)
}

/// An absolute path inside a guest.
fn guest_path(
    ctx: &Ctx,
    params: &Params,
    field: &str,
    s: &Spanned<Scalar>,
) -> Result<String, TemplateError> {
    let path = params.text(ctx, field, s)?;
    if !path.starts_with('/') || path.contains('\0') || path.len() > 4096 {
        return Err(ctx.at(
            &s.referenced,
            format!("{field}: '{path}' is not an absolute path in the guest"),
        ));
    }
    Ok(path)
}

/// A node's `cloud_init:` user-data: a mapping, for an image that runs cloud-init.
fn cloud_init(
    ctx: &Ctx,
    raw: &RawNode,
    image: &str,
) -> Result<Option<serde_json::Value>, TemplateError> {
    Ok(match &raw.cloud_init {
        None => None,
        Some(ci) => {
            if !image::recipe(image).is_some_and(|r| r.cloud_init) {
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
    })
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
