//! Hand-off files the deployment writes inside a node (`handoff:` in the template), read
//! once the gates pass: the node's `tempest.conf` sections are merged over the identity
//! clone's, which knows the host's URLs and credentials.

use std::time::Duration;

use super::{ActionError, Context};
use crate::driver::Driver;
use crate::driver::guest::Guest as _;
use crate::handoff;

/// The most read of a file a node hands off.
const MAX_FILE: usize = 64 * 1024;

pub async fn run<D: Driver>(ctx: &mut Context<'_, D>) -> Result<(), ActionError> {
    let Some(file) = &ctx.info.plan.handoff.tempest_conf else {
        return Ok(());
    };
    let node = ctx
        .info
        .plan
        .node(&file.node)
        .expect("the template checked the hand-off's node");
    let Some(identity) = handoff::identity(ctx.info) else {
        return Err(ActionError::Handoff(
            "tempest_conf: the env has no identity clone to merge it with".into(),
        ));
    };
    let what = format!("{}:{}", file.node, file.path);
    // One byte more than allowed tells a file that is too large.
    let out = ctx
        .driver
        .guest(node)
        .copy_out(&file.path, MAX_FILE + 1, Duration::from_secs(60))
        .await
        .map_err(|e| ActionError::Handoff(format!("{what}: {e}")))?;
    if out.len() > MAX_FILE {
        return Err(ActionError::Handoff(format!(
            "{what}: larger than {} KiB",
            MAX_FILE / 1024
        )));
    }
    let fragment =
        String::from_utf8(out).map_err(|_| ActionError::Handoff(format!("{what}: not UTF-8")))?;
    let path = ctx
        .dir
        .join(&identity.dir)
        .join(crate::clone::registry::TEMPEST_CONF);
    handoff::merge_tempest_conf(&path, &fragment)
        .map_err(|e| ActionError::Handoff(format!("{what}: {e}")))?;
    (ctx.progress)(format!("hand-off: {} (with {what})", path.display()));
    Ok(())
}
