//! How envs end without anyone asking (TTL, `extend`, the host's default), how `ls`
//! shows and selects them (state, TTL left, labels), what `gc` removes, and the
//! timeline and logs they keep.

mod common;

use std::time::{Duration, Instant};

use common::{Harness, code, stderr};

#[test]
fn an_env_past_its_ttl_is_gone_with_no_command_run() {
    let h = Harness::new();
    h.ok(&[
        "up", "-t", "tiny", "--name", "t1", "--ttl", "40s", "--label", "kind=ttl",
    ]);
    let ls = h.ok(&["ls", "--output", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&ls).unwrap();
    let row = &rows[0];
    assert_eq!(row["state"], "ready", "{ls}");
    assert!(row["expires_unix"].as_u64().is_some(), "{ls}");
    assert_eq!(row["labels"]["kind"], "ttl", "{ls}");
    let deadline = Instant::now() + Duration::from_secs(150);
    while h.env_dir("t1").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        !h.env_dir("t1").exists(),
        "the env outlived its TTL: {}",
        h.logs()
    );
    let home = h.home.path().display().to_string();
    assert!(Harness::processes_mentioning(&home).is_empty());
}

#[test]
fn extend_moves_the_end_and_the_host_default_applies() {
    let h = Harness::new();
    std::fs::create_dir_all(h.home.path()).unwrap();
    std::fs::write(h.home.path().join("config.yaml"), "default_ttl: 1h\n").unwrap();
    h.ok(&["up", "-t", "tiny", "--name", "t2"]);
    let expires = |h: &Harness| {
        let s: serde_json::Value =
            serde_json::from_str(&h.ok(&["ls", "--output", "json"])).unwrap();
        s[0]["expires_unix"].as_u64().unwrap()
    };
    let before = expires(&h);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        before > now + 3000 && before <= now + 3600,
        "{before} vs {now}"
    );
    let out = h.ok(&["extend", "t2", "1h"]);
    assert!(out.contains("taken down in"), "{out}");
    assert_eq!(expires(&h), before + 3600);
    // The environment variable overrides the file; a bad value is bad input.
    let out = h
        .cmd(&["up", "-t", "tiny", "--name", "t3"])
        .env("VSTAGE_DEFAULT_TTL", "soon")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("VSTAGE_DEFAULT_TTL"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ls_filters_by_state_and_label_and_gc_removes_only_the_broken() {
    let h = Harness::new();
    h.ok(&["up", "-t", "tiny", "--name", "live", "--label", "pr=1"]);
    h.ok(&["up", "-t", "tiny", "--name", "dead", "--label", "pr=2"]);
    // Kill the second env's supervisor: its QEMUs die with it, its dir stays.
    let sup = h.supervisor_pid("dead").expect("a supervisor");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !h.ok(&["ls", "--state", "broken"]).contains("dead") {
        assert!(Instant::now() < deadline, "never broken: {}", h.ok(&["ls"]));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!h.ok(&["ls", "--state", "broken"]).contains("live"));
    assert!(h.ok(&["ls", "--label", "pr=1"]).contains("live"));
    assert!(!h.ok(&["ls", "--label", "pr=1"]).contains("dead"));
    let dry = h.ok(&["gc", "--dry-run"]);
    assert!(dry.contains("would remove dead"), "{dry}");
    assert!(h.env_dir("dead").exists());
    let gc = h.ok(&["gc"]);
    assert!(gc.contains("removed dead"), "{gc}");
    assert!(!h.env_dir("dead").exists());
    assert!(h.env_dir("live").exists(), "gc removed a live env");
    let home = h.home.path().display().to_string();
    let dead_dir = h.env_dir("dead").display().to_string();
    assert!(Harness::processes_mentioning(&dead_dir).is_empty());
    assert!(
        !Harness::processes_mentioning(&home).is_empty(),
        "the live env's processes"
    );
    // A bad label is bad input.
    assert_eq!(code(&h.run(&["ls", "--label", "no spaces=x"])), 2);
}

#[test]
fn the_timeline_and_logs_are_there_while_the_env_lives_and_after_a_failed_up() {
    let h = Harness::new();
    h.ok(&["up", "-t", "tiny", "--name", "e1"]);
    let events = h.ok(&["events", "e1"]);
    assert!(events.contains("ready"), "{events}");
    let json = h.ok(&["events", "e1", "--output", "json"]);
    assert!(
        json.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    assert!(h.ok(&["logs", "e1"]).contains("env e1"));
    assert!(!h.ok(&["logs", "e1", "n1"]).is_empty(), "n1's console");
    assert_eq!(code(&h.run(&["logs", "e1", "nope"])), 2);
    h.ok(&["down", "e1"]);
    // A failed up keeps its logs under $VSTAGE_HOME/logs and says where.
    let out = h.up_hung("e2", &["--timeout", "20s", "--stall-timeout", "5s"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("logs of the failed env"),
        "{}",
        stderr(&out)
    );
    let logs: Vec<_> = std::fs::read_dir(h.home.path().join("logs"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(logs.len(), 1);
    for f in [
        "supervisor.log",
        "events.jsonl",
        "plan.json",
        "nodes/n1/serial.log",
    ] {
        assert!(logs[0].path().join(f).exists(), "{f} not kept");
    }
}

#[test]
fn completions_and_man_pages_come_from_the_cli_definitions() {
    let h = Harness::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = h.ok(&["completions", shell]);
        assert!(out.contains("vstage") && out.contains("run"), "{shell}");
    }
    let dir = h.home.path().join("man");
    h.ok(&["__man", &dir.display().to_string()]);
    for page in ["vstage.1", "vstage-run.1", "vstage-up.1", "vstage-gc.1"] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
    let run = std::fs::read_to_string(dir.join("vstage-run.1")).unwrap();
    assert!(run.contains("junit") && run.contains("keep"), "{run}");
}
