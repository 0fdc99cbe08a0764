//! Many envs at once, and envs killed at random moments: names and ports never collide,
//! a duplicate name fails at once without harming the first, and whatever is killed
//! when, `gc` leaves nothing behind.

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Harness, code, stderr};

fn random_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    u64::from_le_bytes(b) % n
}

fn wait(child: &mut Child, bound: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn eight_envs_started_together_all_come_up_apart() {
    let h = Harness::new();
    let template = h.template(&common::tiny_with_auth(1));
    let children: Vec<Child> = (0..8)
        .map(|i| {
            h.cmd(&["up", "-t", &template, "--name", &format!("p{i}")])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "p{i}: {}\n{}", stderr(&out), h.logs());
    }
    let mut urls: Vec<String> = (0..8)
        .map(|i| {
            std::fs::read_to_string(h.env_dir(&format!("p{i}")).join("clones/auth/url"))
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    urls.sort();
    urls.dedup();
    assert_eq!(urls.len(), 8, "host ports collided: {urls:?}");
}

#[test]
fn a_second_up_of_one_name_fails_at_once_and_leaves_the_first_alone() {
    let h = Harness::new();
    let mut first = h
        .cmd(&["up", "-t", "tiny", "--name", "same"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The first has made the env's dir: the second comes while it comes up.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !h.env_dir("same").exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = h.run(&["up", "-t", "tiny", "--name", "same"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // Refused for being made, not after waiting for the first to finish.
    assert!(stderr(&out).contains("is being made"), "{}", stderr(&out));
    assert!(
        wait(&mut first, Duration::from_secs(120))
            .unwrap()
            .success(),
        "{}",
        h.logs()
    );
    let status = h.ok(&["status", "same", "--output", "json"]);
    assert!(status.contains("\"ready\""), "{status}");
}

#[test]
fn envs_killed_at_random_moments_leave_nothing_after_gc() {
    let h = Harness::new();
    let template = h.template(&common::tiny_with_auth(1));
    let mut ready = Vec::new();
    for i in 0..20 {
        let name = format!("k{i}");
        let mut up = h
            .cmd(&["up", "-t", &template, "--name", &name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(random_below(3000)));
        // Half the time the CLI, half the time the env's supervisor (if it has one yet).
        let victim = match (i % 2, h.supervisor_pid(&name)) {
            (1, Some(pid)) => pid,
            _ => up.id() as i32,
        };
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(victim),
            nix::sys::signal::Signal::SIGKILL,
        );
        let status = wait(&mut up, Duration::from_secs(90)).expect("up ends");
        // Handed to its user before the kill (`up` released it, even if it died before
        // it could exit): an env its user has, not a leak.
        if status.success() || h.released(&name) {
            ready.push(name);
        }
    }
    assert!(
        ready.len() < 15,
        "too few kills landed while envs came up: {ready:?}"
    );
    for name in &ready {
        h.ok(&["down", name]);
    }
    // Supervisors whose owner died tear down by themselves; give them their bound.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        h.ok(&["gc"]);
        let left: Vec<_> = std::fs::read_dir(h.home.path().join("envs"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "envs left after gc: {left:?}\n{}",
            h.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // No process, so no socket or port of theirs either: QEMU, clones and switches
    // live in the supervisor and die with it.
    let home = h.home.path().display().to_string();
    let left = Harness::processes_mentioning(&home);
    assert!(left.is_empty(), "processes left: {left:?}");
}
