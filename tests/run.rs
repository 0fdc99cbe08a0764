//! `vstage run`: the env comes up, the command runs against it, and the env goes,
//! whatever the command does and however `run` ends; exit codes, JUnit and artifacts.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Harness, code, stderr};

/// Nothing of the env is left: no env dir, no process naming this test's home.
fn nothing_left(h: &Harness, name: &str) {
    assert!(!h.env_dir(name).exists(), "env dir {name} is left");
    let home = h.home.path().display().to_string();
    let left = Harness::processes_mentioning(&home);
    assert!(left.is_empty(), "processes left: {left:?}");
}

#[test]
fn run_returns_the_commands_code_and_leaves_nothing() {
    let h = Harness::new();
    let out = h.run(&["run", "-t", "tiny", "--name", "r0", "--", "true"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    nothing_left(&h, "r0");
    // The command sees the hand-off variables and its exit code comes back.
    let out = h.run(&[
        "run",
        "-t",
        "tiny",
        "--name",
        "r7",
        "--",
        "sh",
        "-c",
        "test -f \"$VSTAGE_ENV_JSON\" && test \"$VSTAGE_ENV\" = r7 && exit 7",
    ]);
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    nothing_left(&h, "r7");
}

#[test]
fn a_command_past_its_timeout_is_stopped_with_124() {
    let h = Harness::new();
    let out = h.run(&[
        "run",
        "-t",
        "tiny",
        "--name",
        "rt",
        "--timeout",
        "2s",
        "--",
        "sh",
        "-c",
        "sleep 613 & sleep 613",
    ]);
    assert_eq!(code(&out), 124, "{}", stderr(&out));
    assert!(stderr(&out).contains("ran out"), "{}", stderr(&out));
    nothing_left(&h, "rt");
    // The command's whole process group went, the background sleep too.
    let left = Harness::processes_mentioning("sleep 613");
    assert!(
        left.is_empty(),
        "the command's processes are left: {left:?}"
    );
}

#[test]
fn an_env_that_never_comes_up_gives_125_and_its_logs() {
    let h = Harness::new();
    let qemu = h.hanging_qemu();
    let artifacts = h.home.path().join("artifacts");
    let out = h
        .cmd(&[
            "run",
            "-t",
            "tiny",
            "--name",
            "rn",
            "--up-timeout",
            "20s",
            "--stall-timeout",
            "5s",
            "--artifacts",
            &artifacts.display().to_string(),
            "--",
            "true",
        ])
        .env("VSTAGE_QEMU", &qemu)
        .output()
        .unwrap();
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    nothing_left(&h, "rn");
    assert!(artifacts.join("nodes/n1/serial.log").exists());
    assert!(artifacts.join("supervisor.log").exists());
    let timings = std::fs::read_to_string(artifacts.join("timings.json")).unwrap();
    assert!(timings.contains("\"up\""), "{timings}");
}

#[test]
fn sigterm_during_the_test_tears_down_and_exits_non_zero() {
    let h = Harness::new();
    let mark = h.home.path().join("running");
    let script = format!("touch {}; sleep 600", mark.display());
    let mut child = h
        .cmd(&[
            "run", "-t", "tiny", "--name", "rs", "--", "sh", "-c", &script,
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The test phase: the command itself has started (ready alone is still `up`'s).
    let deadline = Instant::now() + Duration::from_secs(120);
    while !mark.exists() {
        assert!(
            Instant::now() < deadline,
            "the command never ran: {}",
            h.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{status}");
    nothing_left(&h, "rs");
}

#[test]
fn sigkill_of_run_takes_its_env_down_with_no_other_command() {
    let h = Harness::new();
    let mut child = h
        .cmd(&["run", "-t", "tiny", "--name", "rk", "--", "sleep", "600"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&h, "rk", Duration::from_secs(120));
    child.kill().unwrap();
    child.wait().unwrap();
    // The supervisor polls its owner twice a second, then tears down and removes the env.
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.env_dir("rk").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    nothing_left(&h, "rk");
}

/// Waits until the env `name` is ready (its command is running).
fn wait_for(h: &Harness, name: &str, bound: Duration) {
    let deadline = Instant::now() + bound;
    loop {
        let out = h.run(&["status", name, "--output", "json"]);
        if String::from_utf8_lossy(&out.stdout).contains("\"ready\"") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never became ready: {}",
            h.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn junit_and_artifacts_are_written_and_parse_with_a_junit_reader() {
    let h = Harness::new();
    let dir = h.home.path();
    let junit = dir.join("junit.xml");
    let from = dir.join("tempest.xml");
    std::fs::write(
        &from,
        "<?xml version=\"1.0\"?>\n<testsuite name=\"tempest\" tests=\"2\" failures=\"1\">\
         <testcase classname=\"t.A\" name=\"test_ok\" time=\"0.1\"/>\
         <testcase classname=\"t.A\" name=\"test_bad\" time=\"0.2\"><failure message=\"boom\">boom</failure></testcase>\
         </testsuite>\n",
    )
    .unwrap();
    let artifacts = dir.join("artifacts");
    let out = h.run(&[
        "run",
        "-t",
        "tiny",
        "--name",
        "rj",
        "--junit",
        &junit.display().to_string(),
        "--junit-from",
        &from.display().to_string(),
        "--artifacts",
        &artifacts.display().to_string(),
        "--",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    nothing_left(&h, "rj");
    for f in [
        "supervisor.log",
        "plan.json",
        "events.jsonl",
        "timings.json",
        "nodes/n1/serial.log",
        "nodes/n2/serial.log",
    ] {
        assert!(artifacts.join(f).exists(), "{f} missing in artifacts");
    }
    let timeline = std::fs::read_to_string(artifacts.join("events.jsonl")).unwrap();
    assert!(
        timeline.lines().all(|l| l.contains("\"at_unix_ms\"")),
        "{timeline}"
    );
    assert!(timeline.contains("\"ready\""), "{timeline}");
    // python3-junitparser, as `make setup` installs it: the reader CI plugins resemble.
    let check = r#"
import sys
from junitparser import JUnitXml
xml = JUnitXml.fromfile(sys.argv[1])
cases = {(s.name, c.name): c for s in xml for c in s}
assert ("vstage", "up") in cases and ("vstage", "test") in cases and ("vstage", "down") in cases, cases
assert not cases[("vstage", "test")].is_passed
assert cases[("vstage", "up")].is_passed
assert ("tempest", "test_ok") in cases and not cases[("tempest", "test_bad")].is_passed
print("ok", len(cases))
"#;
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", check, &junit.display().to_string()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&junit).unwrap()
    );
}

#[test]
fn keep_on_failure_leaves_the_env_with_a_ttl_and_gc_all_removes_it() {
    let h = Harness::new();
    let out = h.run(&[
        "run",
        "-t",
        "tiny",
        "--name",
        "rf",
        "--label",
        "pr=9",
        "--keep-on-failure",
        "1h",
        "--",
        "false",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("kept for debugging"),
        "{}",
        stderr(&out)
    );
    // Kept after its owner (`run`) ended, with its TTL: still ready.
    std::thread::sleep(Duration::from_secs(2));
    let ls = h.ok(&["ls", "--label", "pr=9"]);
    assert!(ls.contains("rf") && ls.contains("ready"), "{ls}");
    assert!(ls.contains("pr=9"), "{ls}");
    assert!(!h.ok(&["ls", "--label", "pr=10"]).contains("rf"));
    h.ok(&["gc", "--all", "--label", "pr=9"]);
    nothing_left(&h, "rf");
}

#[test]
fn names_come_from_the_ci_and_never_collide() {
    let h = Harness::new();
    let out = h
        .cmd(&["run", "-t", "tiny", "--", "sh", "-c", "echo $VSTAGE_ENV"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_REF", "refs/pull/123/merge")
        .env("GITHUB_RUN_ID", "999")
        .env("GITHUB_RUN_ATTEMPT", "2")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(name.starts_with("pr123-999-2-"), "{name}");
    assert!(!Path::new(&h.env_dir(&name)).exists());
}

#[test]
fn the_clones_requests_are_in_the_artifacts() {
    let h = Harness::new();
    let template = h.template(&common::tiny_with_auth(1));
    let artifacts = h.home.path().join("artifacts");
    let out = h.run(&[
        "run", "-t", &template, "--name", "ra",
        "--artifacts", &artifacts.display().to_string(),
        "--", "/usr/bin/python3", "-c",
        "import os, urllib.request; urllib.request.urlopen(os.environ['VSTAGE_AUTH_URL'] + '/v3').read()",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let log = std::fs::read_to_string(artifacts.join("clones/auth/requests.log")).unwrap();
    let line = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["path"] == "/v3")
        .unwrap_or_else(|| panic!("no GET /v3 in {log}"));
    assert_eq!(line["status"], 200);
    assert_eq!(line["method"], "GET");
    nothing_left(&h, "ra");
}

#[test]
fn a_nodes_logs_are_copied_into_the_artifacts_at_their_guest_path() {
    let h = Harness::new();
    let template = h.template(
        "apiVersion: vstage/v1\nname: tinylogs\nnetworks:\n  - name: net0\n    cidr: 10.0.0.0/24\n\
         nodes:\n  - name: n1\n    image: tiny\n    nics: [{network: net0}]\n\
         \x20   logs: [/tmp/app/*.log, /tmp/none/*.log, /tmp/app/a.log]\n",
    );
    let artifacts = h.home.path().join("artifacts");
    // The command writes two logs in the guest; run collects them before teardown.
    let write = format!(
        "{} exec \"$VSTAGE_ENV\" --node n1 -- sh -c 'mkdir -p /tmp/app && echo hello-a > /tmp/app/a.log && echo hello-b > /tmp/app/b.log && echo no > /tmp/app/c.txt'",
        common::bin()
    );
    let out = h.run(&[
        "run",
        "-t",
        &template,
        "--name",
        "rl",
        "--artifacts",
        &artifacts.display().to_string(),
        "--",
        "sh",
        "-c",
        &write,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    nothing_left(&h, "rl");
    let node = artifacts.join("nodes/n1");
    let read = |rel: &str| {
        std::fs::read_to_string(node.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    };
    assert_eq!(read("tmp/app/a.log"), "hello-a\n");
    assert_eq!(read("tmp/app/b.log"), "hello-b\n");
    assert!(
        !node.join("tmp/app/c.txt").exists(),
        "only what the patterns match"
    );
    assert!(
        !node.join("tmp/none").exists(),
        "a pattern that matches nothing copies nothing"
    );
}
