//! A node's guest as the rest of vstage reaches it: commands with their output, a
//! liveness ping, the console, files copied out. Gates, the hand-off, `exec`, `sync`,
//! `logs` and the artifacts all go through this; how a driver gets there (QEMU's guest
//! agent and console file, a cloud's console API and SSH) stays inside the driver.
//!
//! Everything here comes from the guest, so every read is bounded.

use std::io::Write;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    #[error("cannot reach the guest: {0}")]
    Unreachable(String),
    #[error("guest: {0}")]
    Failed(String),
    #[error("writing output: {0}")]
    Output(std::io::Error),
    #[error("the command did not end within {0:?}")]
    TimedOut(Duration),
    #[error("console: {0}")]
    Console(std::io::Error),
    /// A file copied out: what the guest's reader said.
    #[error("{path}: exit {code}: {message}")]
    Read {
        path: String,
        code: i32,
        message: String,
    },
}

/// What a command run with [`Guest::output`] gave: its exit code and the tails of its
/// output.
#[derive(Debug, Default)]
pub struct Ran {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Ran {
    /// stdout then stderr, as one text (for messages).
    pub fn text(&self) -> String {
        let mut all = String::from_utf8_lossy(&self.stdout).into_owned();
        all.push_str(&String::from_utf8_lossy(&self.stderr));
        all
    }
}

/// Bytes of the console from some offset on, and how long it is now.
#[derive(Debug, Default)]
pub struct Console {
    pub bytes: Vec<u8>,
    pub len: u64,
    /// The node has written a console at all (it has booted).
    pub exists: bool,
}

/// The most [`Guest::output`] keeps of each stream: its tail, where failures are.
pub const OUTPUT_KEEP: usize = 1 << 20;

/// A node's guest. Each driver's handle implements the first four; the rest is built
/// on them.
#[allow(async_fn_in_trait)]
pub trait Guest {
    /// Runs `argv` in the guest, streaming its stdout and stderr; returns its exit code.
    async fn exec(
        &self,
        argv: &[String],
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<i32, GuestError>;

    /// Whether the guest answers within `bound`, without starting a process in it.
    async fn ping(&self, bound: Duration) -> bool;

    /// At most `max` bytes of the console from byte `from` on.
    async fn console(&self, from: u64, max: usize) -> Result<Console, GuestError>;

    /// Runs `argv` for at most `bound`, keeping the last [`OUTPUT_KEEP`] bytes of each
    /// stream.
    async fn output(&self, argv: &[String], bound: Duration) -> Result<Ran, GuestError> {
        let mut out = Capped::new(OUTPUT_KEEP);
        let mut err = Capped::new(OUTPUT_KEEP);
        let code = tokio::time::timeout(bound, self.exec(argv, &mut out, &mut err))
            .await
            .map_err(|_| GuestError::TimedOut(bound))??;
        Ok(Ran {
            code,
            stdout: out.into_bytes(),
            stderr: err.into_bytes(),
        })
    }

    /// The last `max` bytes of the guest file at `path`, read within `bound`.
    async fn copy_out(
        &self,
        path: &str,
        max: usize,
        bound: Duration,
    ) -> Result<Vec<u8>, GuestError> {
        let argv = ["tail".into(), "-c".into(), max.to_string(), path.into()];
        let mut out = Capped::new(max);
        let mut err = Capped::new(4096);
        let code = tokio::time::timeout(bound, self.exec(&argv, &mut out, &mut err))
            .await
            .map_err(|_| GuestError::TimedOut(bound))??;
        if code != 0 {
            return Err(GuestError::Read {
                path: path.into(),
                code,
                message: String::from_utf8_lossy(&err.into_bytes())
                    .trim()
                    .to_string(),
            });
        }
        Ok(out.into_bytes())
    }

    /// The console's last `lines` lines, as text ("" when it has none).
    async fn console_tail(&self, lines: usize) -> String {
        const TAIL: usize = 64 * 1024;
        let len = match self.console(u64::MAX, 0).await {
            Ok(c) => c.len,
            Err(_) => return String::new(),
        };
        let from = len.saturating_sub(TAIL as u64);
        let Ok(read) = self.console(from, TAIL).await else {
            return String::new();
        };
        let text = String::from_utf8_lossy(&read.bytes);
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// A sink that keeps the last `keep` bytes written to it (a guest that ignores the
/// bound its command was given costs no more than that).
pub struct Capped {
    keep: usize,
    bytes: Vec<u8>,
}

impl Capped {
    pub fn new(keep: usize) -> Capped {
        Capped {
            keep,
            bytes: Vec::new(),
        }
    }

    pub fn into_bytes(mut self) -> Vec<u8> {
        let cut = self.bytes.len().saturating_sub(self.keep);
        self.bytes.drain(..cut);
        self.bytes
    }
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        // Trimmed in batches, so a stream of small writes is not quadratic.
        if self.bytes.len() > 2 * self.keep {
            let cut = self.bytes.len() - self.keep;
            self.bytes.drain(..cut);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_keeps_the_tail() {
        let mut c = Capped::new(4);
        for chunk in [&b"abc"[..], b"defgh", b"ij"] {
            c.write_all(chunk).unwrap();
        }
        assert_eq!(c.into_bytes(), b"ghij");
        let mut short = Capped::new(4);
        short.write_all(b"ab").unwrap();
        assert_eq!(short.into_bytes(), b"ab");
    }
}
