//! No command panics when its reader goes away (`vstage status ENV -o json | head`).

mod common;

use common::{Harness, code, stderr};

/// Runs vstage with a stdout whose read end is already closed.
fn with_closed_stdout(h: &Harness, args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    h.cmd(args).stdout(writer).output().unwrap()
}

#[test]
fn commands_end_quietly_when_stdout_is_closed() {
    let h = Harness::new();
    h.ok(&["up", "-t", "tiny", "--name", "p"]);
    for args in [
        vec!["status", "p", "--output", "json"],
        vec!["status", "p"],
        vec!["ls"],
        vec!["ls", "--output", "json"],
        vec!["plan", "-t", "tiny"],
        vec!["exec", "p", "--node", "n1", "--", "echo", "hello"],
        vec!["doctor"],
    ] {
        let out = with_closed_stdout(&h, &args);
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(code(&out), 0, "{args:?}: {err}");
    }
    h.ok(&["down", "p"]);
}
