//! The raw YAML shape of a template, with positions, before parameters apply.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_saphyr::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTemplate {
    #[serde(rename = "apiVersion")]
    pub(super) api_version: Spanned<String>,
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
    /// What runs the nodes (`driver::DriverKind`); `up --driver` overrides it.
    #[serde(default)]
    pub(super) driver: Option<Spanned<Scalar>>,
    #[serde(default)]
    pub(super) params: BTreeMap<String, Spanned<Scalar>>,
    #[serde(default)]
    pub(super) networks: Vec<RawNetwork>,
    pub(super) nodes: Spanned<Vec<RawNode>>,
    #[serde(default)]
    pub(super) services: Option<BTreeMap<String, RawServiceHead>>,
    #[serde(default)]
    pub(super) gates: Vec<RawGate>,
    #[serde(default)]
    pub(super) handoff: Option<RawHandoff>,
}

/// `gates:`: a readiness check the env must pass, in order, after its nodes are up.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGate {
    pub(super) name: Spanned<Scalar>,
    #[serde(default)]
    pub(super) node: Option<Spanned<Scalar>>,
    /// `true`: on the host instead of a node.
    #[serde(default)]
    pub(super) host: Option<Spanned<Scalar>>,
    /// `false`: not again in an env restored from a snapshot.
    #[serde(default)]
    pub(super) restore: Option<Spanned<Scalar>>,
    pub(super) run: Spanned<Scalar>,
    #[serde(default)]
    pub(super) timeout: Option<Spanned<Scalar>>,
    #[serde(default)]
    pub(super) logs: Vec<Spanned<Scalar>>,
}

/// `handoff:`: files the env's nodes write for the tools on the host.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHandoff {
    #[serde(default)]
    pub(super) tempest_conf: Option<RawNodeFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNodeFile {
    pub(super) node: Spanned<Scalar>,
    pub(super) path: Spanned<Scalar>,
}

/// Of a `services.<name>` section, what the template reads itself: the kind. The
/// kind's parser reads the rest (`clone::section`).
#[derive(Deserialize)]
pub(super) struct RawServiceHead {
    pub(super) clone: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNetwork {
    pub(super) name: Spanned<Scalar>,
    pub(super) cidr: Spanned<Scalar>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNode {
    pub(super) name: Spanned<Scalar>,
    pub(super) image: Spanned<Scalar>,
    #[serde(default)]
    pub(super) cpus: Option<Spanned<Scalar>>,
    #[serde(default)]
    pub(super) memory: Option<Spanned<Scalar>>,
    #[serde(default)]
    pub(super) count: Option<Spanned<Scalar>>,
    #[serde(default)]
    pub(super) nics: Vec<RawNic>,
    #[serde(default)]
    pub(super) cloud_init: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    pub(super) ports: Vec<Spanned<Scalar>>,
    #[serde(default)]
    pub(super) mounts: Vec<RawMount>,
    #[serde(default)]
    pub(super) logs: Vec<Spanned<Scalar>>,
}

/// `mounts:`: a host directory shared read-only into the node.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMount {
    pub(super) source: Spanned<Scalar>,
    pub(super) target: Spanned<Scalar>,
    #[serde(default)]
    pub(super) install: Option<Spanned<Scalar>>,
    #[serde(default)]
    pub(super) restart: Vec<Spanned<Scalar>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNic {
    pub(super) network: Spanned<Scalar>,
    #[serde(default)]
    pub(super) ip: Option<Spanned<Scalar>>,
}

/// Any YAML scalar, kept as its text so `${param}` can be substituted before
/// the value is checked against the type its field wants.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Scalar(pub(super) String);

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
