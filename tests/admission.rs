//! Admission: an env the host has no room for fails with the shortfall, or waits its
//! turn with --wait-for-capacity and starts when another env goes.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Harness, code, stderr};

#[test]
fn short_memory_fails_with_the_shortfall_or_waits_for_room() {
    let h = Harness::new();
    std::fs::create_dir_all(h.home.path()).unwrap();
    // tiny: two 256 MiB nodes, plus QEMU's 64 MiB each: 640 MiB an env.
    std::fs::write(h.home.path().join("config.yaml"), "memory_limit: 600M\n").unwrap();
    let out = h.run(&["up", "-t", "tiny", "--name", "a"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("needs 640 MiB, 40 MiB more"), "{err}");
    assert!(err.contains("--wait-for-capacity"), "{err}");
    assert!(!h.env_dir("a").exists());

    // Room for one env: the second waits until the first goes.
    std::fs::write(h.home.path().join("config.yaml"), "memory_limit: 1000M\n").unwrap();
    h.ok(&["up", "-t", "tiny", "--name", "a"]);
    let second = h
        .cmd(&[
            "up",
            "-t",
            "tiny",
            "--name",
            "b",
            "--wait-for-capacity",
            "5m",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It has said it waits, and has not made its env.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!h.env_dir("b").exists(), "b started past the limit");
    h.ok(&["down", "a"]);
    let out = second.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("waiting for capacity"),
        "{}",
        stderr(&out)
    );
    h.ok(&["down", "b"]);
    // A limit that is not memory is bad input, where it is written.
    std::fs::write(h.home.path().join("config.yaml"), "memory_limit: lots\n").unwrap();
    let out = h.run(&["up", "-t", "tiny", "--name", "c"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("config.yaml: memory_limit"),
        "{}",
        stderr(&out)
    );
}
