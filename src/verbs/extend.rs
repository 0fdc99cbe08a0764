//! `vstage extend ENV DURATION`: the env's end moves later.

use std::io::Write as _;
use std::time::Duration;

use vstage::envdir;
use vstage::home::Home;
use vstage::supervisor::api::{self, Event, Request};

use super::{left, open_env};
use crate::Out;
use crate::failure::Result;

pub(crate) async fn extend(home: &Home, name: &str, by: Duration) -> Result<u8> {
    let (dir, _) = open_env(home, name)?;
    let mut reply = api::send(
        &dir.join(envdir::SUPERVISOR_SOCK),
        &Request::Extend {
            secs: by.as_secs().max(1),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("env {name}: {e}"))?;
    match tokio::time::timeout(Duration::from_secs(5), reply.next()).await {
        Ok(Ok(Event::Status(s))) => {
            say!(
                "env {name}: taken down in {}",
                s.expires_unix.map_or("never".into(), left)
            );
            Ok(0)
        }
        _ => Err(anyhow::anyhow!("env {name}: the supervisor did not confirm").into()),
    }
}
