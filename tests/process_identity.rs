//! A pid in a journal names a process only while it is still the one the env started:
//! the kernel reuses pids, and `down` must never kill another env's process.

mod common;

use common::Harness;

/// The journal's supervisor pid entry of env `name`, as a JSON value.
fn supervisor_pid_entry(h: &Harness, name: &str) -> serde_json::Value {
    let journal = std::fs::read_to_string(h.env_dir(name).join("journal.jsonl")).unwrap();
    journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["kind"] == "pid" && e["name"] == "supervisor")
        .expect("the supervisor's pid is journalled")
}

#[test]
fn a_stale_pid_that_now_belongs_to_another_env_is_left_alone() {
    let h = Harness::new();
    h.ok(&["up", "-t", "tiny", "--name", "m"]);
    h.ok(&["up", "-t", "tiny", "--name", "m1"]);
    let m_entry = supervisor_pid_entry(&h, "m");
    let m1_pid = supervisor_pid_entry(&h, "m1")["pid"].as_i64().unwrap();

    // m's supervisor dies; the kernel hands its pid to m1's supervisor (planted: m's
    // journal now names m1's pid, with the start time m's own supervisor had).
    let m_pid = m_entry["pid"].as_i64().unwrap();
    std::process::Command::new("kill")
        .args(["-9", &m_pid.to_string()])
        .status()
        .unwrap();
    let mut stale = m_entry.clone();
    stale["pid"] = m1_pid.into();
    let journal = h.env_dir("m").join("journal.jsonl");
    let mut text = std::fs::read_to_string(&journal).unwrap();
    text.push_str(&format!("{stale}\n"));
    std::fs::write(&journal, text).unwrap();
    // Wait until m is unowned (its supervisor gone), so `down` cleans up from the journal.
    for _ in 0..100 {
        if Harness::processes_mentioning(&format!("__supervise {}", h.env_dir("m").display()))
            .is_empty()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    h.ok(&["down", "m"]);
    assert!(!h.env_dir("m").exists());
    // m1 and its guests are untouched.
    assert!(std::path::Path::new(&format!("/proc/{m1_pid}")).exists());
    let out = h.ok(&["exec", "m1", "--node", "n1", "--", "hostname"]);
    assert_eq!(out, "n1\n");
    h.ok(&["down", "m1"]);
}
