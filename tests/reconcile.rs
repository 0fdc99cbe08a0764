//! `up` of an env that exists: it converges with the same plan (a node that went down
//! starts again, the others keep running), and refuses another plan without harm.

mod common;

use std::time::{Duration, Instant};

use common::{Harness, code, stderr};

fn qemu_of(h: &Harness, env: &str, node: &str) -> i32 {
    let qmp = h
        .env_dir(env)
        .join(format!("s/{node}.qmp"))
        .display()
        .to_string();
    let pids = Harness::processes_mentioning(&qmp);
    assert_eq!(pids.len(), 1, "{node}: {pids:?}");
    pids[0]
}

#[test]
fn up_starts_a_killed_node_again_and_leaves_the_other_running() {
    let h = Harness::new();
    h.ok(&["up", "-t", "tiny", "--name", "r"]);
    // Up again as planned: nothing to do.
    let out = h.run(&["up", "-t", "tiny", "--name", "r"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("up already"), "{}", stderr(&out));

    let n2 = qemu_of(&h, "r", "n2");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(qemu_of(&h, "r", "n1")),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = h.ok(&["status", "r", "--output", "json"]);
        if status.contains("\"degraded\"") {
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = h.run(&["up", "-t", "tiny", "--name", "r"]);
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), h.logs());
    assert!(
        stderr(&out).contains("starting n1 again"),
        "{}",
        stderr(&out)
    );
    let status = h.ok(&["status", "r", "--output", "json"]);
    assert!(status.contains("\"ready\""), "{status}");
    assert_eq!(qemu_of(&h, "r", "n2"), n2, "n2 was restarted");
    assert_eq!(
        h.ok(&["exec", "r", "--node", "n1", "--", "hostname"]),
        "n1\n"
    );

    // Another plan for the same name is refused, and the env stays as it is.
    let out = h.run(&["up", "-t", "tiny", "--name", "r", "--set", "memory=128"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("another plan"), "{}", stderr(&out));
    assert!(
        h.ok(&["status", "r", "--output", "json"])
            .contains("\"ready\"")
    );
    assert_eq!(qemu_of(&h, "r", "n2"), n2);
    h.ok(&["down", "r"]);
}

#[test]
fn run_never_takes_an_existing_env_and_a_kept_failed_env_is_refused_at_once() {
    let h = Harness::new();
    h.ok(&["up", "-t", "tiny", "--name", "mine"]);
    let n1 = qemu_of(&h, "mine", "n1");
    // `run` makes an env of its own: an existing name is someone else's.
    let out = h.run(&["run", "-t", "tiny", "--name", "mine", "--", "true"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("someone else"), "{}", stderr(&out));
    assert_eq!(qemu_of(&h, "mine", "n1"), n1, "run touched the env");
    assert!(
        h.ok(&["status", "mine", "--output", "json"])
            .contains("\"ready\"")
    );
    h.ok(&["down", "mine"]);

    // A failed env kept for inspection: `up` again says so at once instead of waiting.
    let out = h.up_hung(
        "kept",
        &[
            "--keep-on-failure",
            "--timeout",
            "20s",
            "--stall-timeout",
            "5s",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let out = h.run(&["up", "-t", "tiny", "--name", "kept"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("kept for inspection"),
        "{}",
        stderr(&out)
    );
    h.ok(&["down", "kept"]);
}
