//! The auth clone's errors, each with the status and title Keystone gives it.

/// Errors with the HTTP status Keystone gives them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    #[error("The request you have made requires authentication.")]
    Unauthorized,
    #[error("You are not authorized to perform the requested action: {0}.")]
    Forbidden(String),
    #[error("Could not find {kind}: {id}.")]
    NotFound { kind: &'static str, id: String },
    #[error(
        "Conflict occurred attempting to store {kind} - Duplicate entry found with name {name}."
    )]
    Conflict { kind: &'static str, name: String },
    #[error("{0}")]
    BadRequest(String),
}

impl AuthError {
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Unauthorized => 401,
            AuthError::Forbidden(_) => 403,
            AuthError::NotFound { .. } => 404,
            AuthError::Conflict { .. } => 409,
            AuthError::BadRequest(_) => 400,
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            AuthError::Unauthorized => "Unauthorized",
            AuthError::Forbidden(_) => "Forbidden",
            AuthError::NotFound { .. } => "Not Found",
            AuthError::Conflict { .. } => "Conflict",
            AuthError::BadRequest(_) => "Bad Request",
        }
    }
}

pub(super) fn not_found(kind: &'static str, id: &str) -> AuthError {
    AuthError::NotFound {
        kind,
        id: id.to_string(),
    }
}
