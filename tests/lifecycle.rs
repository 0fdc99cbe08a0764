//! Integration tests that boot real tiny guests (TCG here: seconds each).

mod common;

use common::{Harness, code, stderr};

#[test]
fn up_exec_ping_down_leaves_nothing() {
    let h = Harness::new();
    h.ok(&["up", "-t", "tiny", "--name", "t1"]);
    let dir = h.env_dir("t1");
    let dir_text = dir.display().to_string();
    assert_eq!(
        Harness::processes_mentioning(&dir_text).len(),
        3,
        "supervisor + 2 QEMU"
    );

    let out = h.ok(&["exec", "t1", "--node", "n1", "--", "ping", "-c", "1", "n2"]);
    assert!(out.contains("1 packets received"), "{out}");

    // The guest command's exit code and both streams come back.
    let out = h.run(&[
        "exec",
        "t1",
        "--node",
        "n2",
        "--",
        "sh",
        "-c",
        "hostname; echo oops >&2; exit 7",
    ]);
    assert_eq!(code(&out), 7);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "n2\n");
    assert_eq!(stderr(&out), "oops\n");

    // Host side: the hand-off variables point at the env.
    let out = h.ok(&[
        "exec",
        "t1",
        "--",
        "sh",
        "-c",
        "echo $VSTAGE_ENV; cat $VSTAGE_ENV_JSON",
    ]);
    assert!(out.starts_with("t1\n"), "{out}");
    assert!(out.contains("\"10.0.0.12\""), "{out}");

    let status = h.ok(&["status", "t1", "-o", "json"]);
    assert!(status.contains("\"phase\": \"ready\""), "{status}");

    h.ok(&["down", "t1"]);
    assert!(!dir.exists(), "env dir removed");
    assert!(
        Harness::processes_mentioning(&dir_text).is_empty(),
        "no process of t1 remains"
    );
    // Idempotent in effect: a second down says 'not found' with its own exit code.
    let out = h.run(&["down", "t1"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("no environment named 't1'"));
}

#[test]
fn two_envs_from_one_template_never_see_each_other() {
    let h = Harness::new();
    h.ok(&["up", "-t", "tiny", "--name", "a"]);
    h.ok(&["up", "-t", "tiny", "--name", "b"]);
    for env in ["a", "b"] {
        let serve =
            format!("mkdir -p /www && echo marker-{env} > /www/index.html && httpd -p 80 -h /www");
        h.ok(&["exec", env, "--node", "n2", "--", "sh", "-c", &serve]);
    }
    for env in ["a", "b"] {
        // Same address inside both envs; each reaches its own n2.
        let out = h.ok(&[
            "exec",
            env,
            "--node",
            "n1",
            "--",
            "wget",
            "-qO-",
            "http://10.0.0.12/",
        ]);
        assert_eq!(out, format!("marker-{env}\n"));
    }
    h.ok(&["down", "a"]);
    h.ok(&["down", "b"]);
}

#[test]
fn a_failed_up_rolls_back_and_says_why() {
    let h = Harness::new();
    // A QEMU that refuses its command line: the node dies while booting.
    let fake = h.qemu_with("qemu-broken", "-device no-such-device");
    let out = h
        .cmd(&["up", "-t", "tiny", "--name", "bad"])
        .env("VSTAGE_QEMU", &fake)
        .env("VSTAGE_ACCEL", "tcg")
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("exited while booting"), "{err}");
    assert!(
        err.contains("no-such-device"),
        "QEMU's own complaint is shown: {err}"
    );
    assert!(!h.env_dir("bad").exists(), "rolled back");
    assert!(Harness::processes_mentioning(&h.env_dir("bad").display().to_string()).is_empty());
}

#[test]
fn a_crashed_supervisor_takes_its_guests_and_down_cleans_up() {
    let h = Harness::new();
    h.ok(&["up", "-t", "tiny", "--name", "c"]);
    let dir = h.env_dir("c").display().to_string();
    let supervisor = Harness::processes_mentioning(&format!("__supervise {dir}"));
    assert_eq!(supervisor.len(), 1);
    std::process::Command::new("kill")
        .args(["-9", &supervisor[0].to_string()])
        .status()
        .unwrap();
    // QEMU has PDEATHSIG: it must not linger once its supervisor is gone.
    let mut left = Harness::processes_mentioning(&dir);
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        left = Harness::processes_mentioning(&dir);
    }
    assert!(
        left.is_empty(),
        "processes left after the supervisor died: {left:?}"
    );
    let ls = h.ok(&["ls"]);
    assert!(ls.contains("broken"), "{ls}");
    h.ok(&["down", "c"]);
    assert!(!h.env_dir("c").exists());
}

#[test]
fn unknown_envs_and_nodes_have_their_exit_codes() {
    let h = Harness::new();
    for args in [
        &["down", "nope"][..],
        &["status", "nope"],
        &["exec", "nope", "--", "true"],
        &["exec", "nope", "--node", "n1", "--", "true"],
    ] {
        let out = h.run(args);
        assert_eq!(code(&out), 3, "{args:?}: {}", stderr(&out));
    }
    let out = h.run(&["up", "--name", "Bad Name!"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn a_hung_guest_fails_up_after_the_stall_bound_with_its_console() {
    let h = Harness::new();
    // A real QEMU whose guest prints its panic, then says nothing again.
    let hang = h.hanging_qemu();
    let out = h
        .cmd(&[
            "up",
            "-t",
            "tiny",
            "--name",
            "hang",
            "--stall-timeout",
            "8s",
        ])
        .env("VSTAGE_QEMU", &hang)
        .env("VSTAGE_ACCEL", "tcg")
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("hung: no console output and no answer from its agent for 8s"),
        "{err}"
    );
    assert!(err.contains("last console lines"), "{err}");
    assert!(
        err.contains("Kernel panic"),
        "the console's own last words: {err}"
    );
    assert!(!h.env_dir("hang").exists(), "rolled back");
    assert!(Harness::processes_mentioning(&h.env_dir("hang").display().to_string()).is_empty());
}

#[test]
fn a_killed_node_makes_the_env_degraded_and_exec_says_why() {
    let h = Harness::new();
    h.ok(&["up", "-t", "tiny", "--name", "k"]);
    let qmp = h.env_dir("k").join("s/n1.qmp").display().to_string();
    let qemu = Harness::processes_mentioning(&qmp);
    assert_eq!(qemu.len(), 1, "{qemu:?}");
    std::process::Command::new("kill")
        .args(["-9", &qemu[0].to_string()])
        .status()
        .unwrap();
    let mut status = String::new();
    for _ in 0..50 {
        status = h.ok(&["status", "k", "--output", "json"]);
        if status.contains("\"degraded\"") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(status.contains("\"degraded\""), "{status}");
    assert!(h.ok(&["ls"]).contains("degraded"));
    let out = h.run(&["exec", "k", "--node", "n1", "--", "true"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("node n1 is not running"),
        "{}",
        stderr(&out)
    );
    // The other node still answers.
    assert_eq!(
        h.ok(&["exec", "k", "--node", "n2", "--", "hostname"]),
        "n2\n"
    );
    h.ok(&["down", "k"]);
}

#[test]
fn an_interrupted_up_takes_the_env_down() {
    let h = Harness::new();
    // A guest that never becomes ready keeps `up` waiting long enough to interrupt.
    let hang = h.hanging_qemu();
    let mut child = h
        .cmd(&["up", "-t", "tiny", "--name", "int"])
        .env("VSTAGE_QEMU", &hang)
        .env("VSTAGE_ACCEL", "tcg")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let serial = h.env_dir("int").join("nodes/n1/serial.log");
    for _ in 0..100 {
        if serial.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(serial.exists(), "the node was booting");
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(!h.env_dir("int").exists(), "taken down");
    assert!(Harness::processes_mentioning(&h.env_dir("int").display().to_string()).is_empty());
}
