//! A node whose QEMU aborts before the node is ready (QEMU 10.0.2 failed an assertion
//! of its own once under load) boots once more from a fresh disk; a second abort fails
//! `up`. The abort is made on purpose: SIGABRT to the node's QEMU, sent as soon as the
//! journal records its pid, long before a tiny guest can be ready under TCG.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Harness;

const ONE_NODE: &str = "apiVersion: vstage/v1
name: one
networks: [{name: net0, cidr: 10.0.0.0/24}]
nodes:
  - {name: n1, image: tiny, nics: [{network: net0}]}
";

/// The pids the journal of env `name` has recorded for n1's QEMU, in order.
fn qemu_pids(h: &Harness, name: &str) -> Vec<i32> {
    let journal =
        std::fs::read_to_string(h.env_dir(name).join("journal.jsonl")).unwrap_or_default();
    journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "pid" && v["name"] == "qemu n1")
        .filter_map(|v| v["pid"].as_i64().map(|p| p as i32))
        .collect()
}

/// Runs `up` and aborts n1's first `aborts` QEMU processes as each appears; returns
/// `up`'s exit status and its stderr.
fn up_aborting(h: &Harness, name: &str, aborts: usize) -> (std::process::ExitStatus, String) {
    let template = h.template(ONE_NODE);
    let child = h
        .cmd(&["up", "-t", &template, "--name", name])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut done = 0;
    while done < aborts && Instant::now() < deadline {
        if let Some(&pid) = qemu_pids(h, name).get(done) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGABRT,
            );
            done += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(done, aborts, "QEMU pids never appeared\n{}", h.logs());
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_node_whose_qemu_aborts_before_ready_is_booted_again_once() {
    let h = Harness::new();
    let (status, progress) = up_aborting(&h, "ab1", 1);
    assert!(status.success(), "{progress}\n{}", h.logs());
    assert!(
        progress.contains("node n1: its hypervisor aborted before the node was ready (signal: 6"),
        "{progress}"
    );
    assert!(
        progress.contains("node n1: booting (second try)"),
        "{progress}"
    );
    // The timeline keeps it too, for `vstage events` and the run's artifacts.
    let events = h.ok(&["events", "ab1"]);
    assert!(events.contains("its hypervisor aborted"), "{events}");
    let out = h.ok(&["exec", "ab1", "--node", "n1", "--", "echo", "alive"]);
    assert_eq!(out.trim(), "alive");
    h.ok(&["down", "ab1"]);
}

#[test]
fn a_second_abort_fails_up_and_says_so() {
    let h = Harness::new();
    let (status, progress) = up_aborting(&h, "ab2", 2);
    assert!(!status.success(), "{progress}");
    assert!(
        progress.contains("its hypervisor aborted a second time"),
        "{progress}"
    );
    // Rolled back: nothing of the env is left.
    assert!(!h.env_dir("ab2").exists(), "{progress}");
}
