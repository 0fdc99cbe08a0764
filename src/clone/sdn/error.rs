//! The SDN clone's errors, each with the status and `type` Neutron gives it.

use std::net::IpAddr;

/// Neutron-style errors: `{"NeutronError": {"type", "message", "detail"}}`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SdnError {
    #[error("{kind} {id} could not be found.")]
    NotFound { kind: &'static str, id: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("No more IP addresses available on network {0}.")]
    IpExhausted(String),
    #[error("{0}")]
    InUse(String),
    #[error("IP address {ip} already allocated in subnet {subnet}")]
    IpAllocated { ip: IpAddr, subnet: String },
    /// A policy refused the call: the rule that did.
    #[error("({0}) is disallowed by policy")]
    Forbidden(String),
}

impl SdnError {
    pub fn status(&self) -> u16 {
        match self {
            SdnError::NotFound { .. } => 404,
            SdnError::BadRequest(_) => 400,
            SdnError::Conflict(_) | SdnError::IpExhausted(_) | SdnError::InUse(_) => 409,
            SdnError::Forbidden(_) => 403,
            SdnError::IpAllocated { .. } => 409,
        }
    }

    pub fn kind(&self) -> String {
        match self {
            SdnError::NotFound { kind, .. } => {
                let mut k: String = kind.split(['-', ' ']).map(capitalise).collect();
                k.push_str("NotFound");
                k
            }
            SdnError::BadRequest(_) => "HTTPBadRequest".into(),
            SdnError::Conflict(_) => "Conflict".into(),
            SdnError::IpExhausted(_) => "IpAddressGenerationFailure".into(),
            SdnError::InUse(_) => "InUse".into(),
            SdnError::Forbidden(_) => "PolicyNotAuthorized".into(),
            SdnError::IpAllocated { .. } => "IpAddressAlreadyAllocated".into(),
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub(super) fn missing(kind: &'static str, id: &str) -> SdnError {
    SdnError::NotFound {
        kind,
        id: id.to_string(),
    }
}
