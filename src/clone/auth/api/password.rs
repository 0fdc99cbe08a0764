//! `POST /v3/users/{id}/password`: a user changes their own password, proving the old
//! one (Keystone takes no token for it). The user's tokens end, as with any new password.

use super::{ApiError, missing};
use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::Value;

use super::{Body, Reply, Shared, bad, now_micros, object};
use crate::clone::auth::error::AuthError;
use crate::clone::auth::model::UserRef;

pub(super) async fn change(
    AxState(s): AxState<Shared>,
    Path(id): Path<String>,
    Body(body): Body,
) -> Reply {
    let o = object(&body, "user")?;
    let field = |key: &str| {
        o.get(key)
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| {
                ApiError::from(bad(format!(
                    "Invalid input for field '{key}': it is a required property"
                )))
            })
    };
    let (old, new) = (field("original_password")?, field("password")?);
    if new.is_empty() {
        return Err(ApiError::from(bad(
            "Invalid input for field 'password': it is empty",
        )));
    }
    let (_, stored) = s.lock().login_hash(&UserRef::Id(id.clone()))?;
    // bcrypt is slow by design: off the runtime's threads, and outside the lock.
    let hashing = s.lock().hashing;
    let checked = tokio::task::spawn_blocking(move || {
        crate::clone::auth::tokens::password_matches(&stored, &old).then(|| hashing.hash(&new))
    })
    .await
    .ok()
    .flatten();
    let Some(hash) = checked else {
        return Err(ApiError::from(AuthError::Unauthorized));
    };
    let mut st = s.lock();
    let user = st.users.get_mut(&id).ok_or_else(|| missing("user", &id))?;
    user.password = hash;
    user.revoked_before = now_micros();
    s.save(&st);
    Ok(StatusCode::NO_CONTENT.into_response())
}
