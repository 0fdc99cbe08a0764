//! `vstage up`: an env from a template, ready when this returns.

use std::io::Write as _;
use std::time::Duration;

use vstage::env::{self, Owner};
use vstage::home::Home;
use vstage::lifecycle::{self, UpRequest};
use vstage::progress::Reporter;

use crate::Out;
use crate::cli::{EnvArgs, UpArgs};
use crate::failure::{Failure, Result};

/// The request `up` and `run` make from their shared flags.
pub(crate) fn request<'a>(
    args: &'a EnvArgs,
    timeout: Option<Duration>,
    owner: Option<Owner>,
) -> Result<UpRequest<'a>> {
    if !args.mounts.is_empty() && args.from.is_none() {
        return Err(Failure::bad_input(
            "--mount needs --from SNAPSHOT; from a template, its mounts: choose the \
             directories (e.g. --set nova_src=DIR)"
                .to_string(),
        ));
    }
    Ok(UpRequest {
        template: &args.template.template,
        from: args.from.as_deref(),
        mounts: lifecycle::parse_mounts(&args.mounts).map_err(Failure::bad_input)?,
        name: args.name.as_deref(),
        sets: &args.template.sets,
        driver: args.template.driver.as_deref(),
        keep_on_failure: args.keep_on_failure.is_some(),
        keep_for: args.keep_on_failure.flatten(),
        ttl: args.ttl,
        labels: env::parse_labels(&args.labels).map_err(Failure::bad_input)?,
        owner,
        logs_to: None,
        must_be_new: false,
        wait_for_capacity: args.wait_for_capacity,
        timeout,
        stall: args.stall_timeout,
    })
}

pub(crate) async fn up(home: &Home, args: &UpArgs) -> Result<u8> {
    let report = Reporter::new();
    let req = request(&args.env, args.timeout, Some(Owner::until_ready()))?;
    let info = lifecycle::up(home, &req, &report).await?;
    report.finish();
    say!(
        "env {} is ready ({} nodes):",
        info.name,
        info.plan.nodes.len()
    );
    for node in &info.plan.nodes {
        let ips: Vec<String> = node
            .nics
            .iter()
            .map(|n| format!("{}={}", n.network, n.ip))
            .collect();
        say!("  {:<12} {}", node.name, ips.join(" "));
    }
    if let Some(at) = info.options.expires_unix {
        say!(
            "ttl: taken down in {} (vstage extend {} DURATION for more)",
            super::left(at),
            info.name
        );
    }
    let first = &info.plan.nodes[0].name;
    say!("try: vstage exec {} --node {first} -- hostname", info.name);
    say!("     vstage down {}", info.name);
    Ok(0)
}
