//! `vstage events ENV`: the env's timeline, one event a line with its time.

use std::io::{BufRead as _, Write as _};

use vstage::envdir;
use vstage::home::Home;

use super::open_env;
use crate::Out;
use crate::cli::Output;
use crate::failure::Result;

pub(crate) fn events(home: &Home, name: &str, output: Output) -> Result<u8> {
    let (dir, _) = open_env(home, name)?;
    let file = std::fs::File::open(dir.join(envdir::EVENTS))
        .map_err(|e| anyhow::anyhow!("env {name}: no timeline yet ({e})"))?;
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        if output == Output::Json {
            say!("{line}");
            continue;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let at = v["at_unix_ms"].as_u64().unwrap_or(0);
        let when = humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(at),
        );
        let event = &v["event"];
        let kind = event["event"].as_str().unwrap_or("?");
        let detail = event["message"]
            .as_str()
            .or(event["error"].as_str())
            .unwrap_or("");
        say!("{when}  {kind:<8} {detail}");
    }
    Ok(0)
}
