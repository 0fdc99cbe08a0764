//! The QEMU driver's guest handle: commands through the node's guest agent, the
//! console from its serial log. Built from the env's files alone, so a verb reaches a
//! node without its supervisor.

use super::files::NodeFiles;
use std::io::{Read as _, Seek as _, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

use super::agent::{self, AgentError};
use crate::driver::guest::{Console, Guest, GuestError};
use crate::envdir::EnvDir;
use crate::plan::NodePlan;

pub struct QemuGuest {
    agent: PathBuf,
    serial: PathBuf,
}

impl QemuGuest {
    pub fn new(dir: &EnvDir, node: &NodePlan) -> QemuGuest {
        QemuGuest {
            agent: dir.join(&NodeFiles::of(node).agent),
            serial: dir.join(&NodeFiles::of(node).serial),
        }
    }
}

impl From<AgentError> for GuestError {
    fn from(e: AgentError) -> GuestError {
        match e {
            AgentError::Unreachable(why) => GuestError::Unreachable(why),
            AgentError::Agent(e) => GuestError::Failed(e.to_string()),
            AgentError::Output(e) => GuestError::Output(e),
            AgentError::TimedOut(bound) => GuestError::TimedOut(bound),
        }
    }
}

impl Guest for QemuGuest {
    async fn exec(
        &self,
        argv: &[String],
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<i32, GuestError> {
        Ok(agent::exec(&self.agent, argv, out, err).await?)
    }

    async fn ping(&self, bound: Duration) -> bool {
        agent::ping(&self.agent, bound).await
    }

    async fn console(&self, from: u64, max: usize) -> Result<Console, GuestError> {
        let mut file = match std::fs::File::open(&self.serial) {
            Ok(f) => f,
            // Not written yet: an empty console.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Console::default()),
            Err(e) => return Err(GuestError::Console(e)),
        };
        let len = file.metadata().map_err(GuestError::Console)?.len();
        let mut bytes = Vec::new();
        if from < len {
            file.seek(SeekFrom::Start(from))
                .map_err(GuestError::Console)?;
            file.take(max as u64)
                .read_to_end(&mut bytes)
                .map_err(GuestError::Console)?;
        }
        Ok(Console {
            bytes,
            len,
            exists: true,
        })
    }
}
