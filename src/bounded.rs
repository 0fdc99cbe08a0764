//! Reading lines from the untrusted side with a bound.
//!
//! A guest agent, a QMP socket or a local API client can send a line that never ends;
//! `read_line` of tokio would grow its buffer until memory runs out (a 256 MiB request
//! took the supervisor to 262 MiB). Every line that crosses a trust boundary is read here.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// A request line to the supervisor's API: small JSON objects.
pub const API_REQUEST: usize = 64 * 1024;
/// An event line from the supervisor: a status of every node, at most.
pub const API_EVENT: usize = 1024 * 1024;
/// A QMP reply or event from QEMU.
pub const QMP_LINE: usize = 1024 * 1024;
/// A guest agent reply: `guest-exec-status` carries up to 16 MiB of captured output
/// (qemu-ga's own cap), base64-encoded.
pub const AGENT_LINE: usize = 24 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("a line longer than {0} bytes")]
    TooLong(usize),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads up to and including the next `\n` into `line` (cleared first). `Ok(0)` is the
/// end of the stream. More than `max` bytes without a newline is an error; the peer is
/// then out of step and the connection should be dropped.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> Result<usize, LineError> {
    line.clear();
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(line.len());
        }
        let (take, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if line.len() + take > max {
            return Err(LineError::TooLong(max));
        }
        line.extend_from_slice(&available[..take]);
        reader.consume(take);
        if done {
            return Ok(line.len());
        }
    }
}

/// Reads a whole file of at most `max` bytes as text (a manifest, a state file): a
/// larger one is an error, not an allocation.
pub fn read_to_string(path: &std::path::Path, max: u64) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(std::io::Error::other(format!("larger than {max} bytes")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_within_the_bound_are_read_and_longer_ones_refused() {
        let mut input: &[u8] = b"{\"a\":1}\nsecond\nno newline at the end";
        let mut line = Vec::new();
        assert_eq!(read_line(&mut input, &mut line, 16).await.unwrap(), 8);
        assert_eq!(line, b"{\"a\":1}\n");
        assert_eq!(read_line(&mut input, &mut line, 16).await.unwrap(), 7);
        assert!(matches!(
            read_line(&mut input, &mut line, 16).await,
            Err(LineError::TooLong(16))
        ));
        let mut end: &[u8] = b"";
        assert_eq!(read_line(&mut end, &mut line, 16).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn an_endless_line_costs_no_more_than_the_bound() {
        // A peer that never sends a newline: 64 MiB of 'x'.
        let endless = std::io::Cursor::new(vec![b'x'; 64 * 1024 * 1024]);
        let mut reader = tokio::io::BufReader::new(endless);
        let mut line = Vec::new();
        assert!(
            read_line(&mut reader, &mut line, 1024 * 1024)
                .await
                .is_err()
        );
        assert!(line.capacity() <= 2 * 1024 * 1024, "{}", line.capacity());
    }
}
