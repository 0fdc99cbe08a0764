//! `mounts:`: host directories in tiny guests over virtiofs, read-only and live, `vstage
//! sync`, and what teardown leaves.

mod common;

use common::{Harness, code, stderr};

fn template(source: &str) -> String {
    format!(
        "apiVersion: vstage/v1\nname: m\nparams:\n  src: \"{source}\"\nnodes:\n  - name: n1\n    image: tiny\n    memory: 256\n    mounts:\n      - source: ${{src}}\n        target: /mnt/src\n"
    )
}

/// Reads `path` in the guest until it says `want` (virtiofs caches for about a second).
fn wait_for_content(h: &Harness, env: &str, path: &str, want: &str) -> String {
    let mut last = String::new();
    for _ in 0..50 {
        let out = h.run(&["exec", env, "--node", "n1", "--", "cat", path]);
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        if last == want {
            return last;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    last
}

/// Runs `command` in node n1 of env m1.
fn in_n1(h: &Harness, command: &[&str]) -> std::process::Output {
    let mut args = vec!["exec", "m1", "--node", "n1", "--"];
    args.extend_from_slice(command);
    h.run(&args)
}

#[test]
fn a_host_directory_is_live_and_read_only_in_the_node_and_gone_after_down() {
    let h = Harness::new();
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir(src.path().join("pkg")).unwrap();
    std::fs::write(src.path().join("pkg/code.txt"), "first\n").unwrap();
    let file = h.template(&template(&src.path().display().to_string()));
    h.ok(&["up", "-t", &file, "--name", "m1"]);
    let dir = h.env_dir("m1");

    assert_eq!(
        wait_for_content(&h, "m1", "/mnt/src/pkg/code.txt", "first\n"),
        "first\n"
    );
    // Read-only: the guest cannot write into the host's directory, not even as root.
    let out = in_n1(&h, &["sh", "-c", "echo x > /mnt/src/new"]);
    assert_ne!(code(&out), 0, "a write succeeded");
    assert!(!src.path().join("new").exists());
    in_n1(&h, &["mount", "-o", "remount,rw", "/mnt/src"]);
    let out = in_n1(&h, &["sh", "-c", "echo x > /mnt/src/new2"]);
    assert_ne!(code(&out), 0, "a write after remount succeeded");
    assert!(
        !src.path().join("new2").exists(),
        "virtiofsd itself is read-only"
    );

    let out = h.ok(&["sync", "m1"]);
    assert!(out.contains("n1 /mnt/src: unchanged"), "{out}");
    std::fs::write(src.path().join("pkg/code.txt"), "second change\n").unwrap();
    assert_eq!(
        wait_for_content(&h, "m1", "/mnt/src/pkg/code.txt", "second change\n"),
        "second change\n",
        "the host's change is live in the guest"
    );
    let out = h.ok(&["sync", "m1"]);
    assert!(out.contains("n1 /mnt/src: changed"), "{out}");
    let out = h.ok(&["sync", "m1"]);
    assert!(out.contains("n1 /mnt/src: unchanged"), "{out}");

    let dir_text = dir.display().to_string();
    // Supervisor, QEMU and one virtiofsd, which as root serves from a child in
    // namespaces of its own.
    let n = Harness::processes_mentioning(&dir_text).len();
    assert!((3..=4).contains(&n), "{n} processes");

    h.ok(&["down", "m1"]);
    assert!(!dir.exists());
    assert!(Harness::processes_mentioning(&dir_text).is_empty());
    assert_eq!(
        std::fs::read_to_string(src.path().join("pkg/code.txt")).unwrap(),
        "second change\n",
        "teardown leaves the host's directory alone"
    );
}

#[test]
fn mounts_are_checked_where_they_are_written() {
    let h = Harness::new();
    let file = h.template(&template("/nonexistent/vstage-src"));
    let out = h.run(&["up", "-t", &file, "--name", "bad"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(":10:") && stderr(&out).contains("not a directory on this host"),
        "{}",
        stderr(&out)
    );
    // An empty source leaves the mount out.
    let plan = h.ok(&["plan", "-t", &file, "--set", "src="]);
    assert!(!plan.contains("\"mounts\""), "{plan}");
    // Install needs cloud-init: the tiny image has none.
    let src = tempfile::tempdir().unwrap();
    let text = template(&src.path().display().to_string()) + "        install: make install\n";
    let file = h.template(&text);
    let out = h.run(&["plan", "-t", &file]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("need an image that runs cloud-init"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_snapshot_with_a_mount_restores_onto_the_directory_chosen_at_restore() {
    let h = Harness::new();
    let first = tempfile::tempdir().unwrap();
    std::fs::write(first.path().join("code.txt"), "first\n").unwrap();
    let second = tempfile::tempdir().unwrap();
    std::fs::write(second.path().join("code.txt"), "second\n").unwrap();
    let file = h.template(&template(&first.path().display().to_string()));
    h.ok(&["up", "-t", &file, "--name", "m1"]);
    assert_eq!(
        wait_for_content(&h, "m1", "/mnt/src/code.txt", "first\n"),
        "first\n"
    );
    let name = h.snapshot_name("mnt");
    h.ok(&["snapshot", "create", "m1", &name]);
    // The source runs on with its mount back in place.
    assert_eq!(
        wait_for_content(&h, "m1", "/mnt/src/code.txt", "first\n"),
        "first\n"
    );

    // The same device, another host directory behind it.
    let second_flag = format!("/mnt/src={}", second.path().display());
    h.ok(&[
        "up",
        "--from",
        &name,
        "--name",
        "r1",
        "--mount",
        &second_flag,
    ]);
    assert_eq!(
        wait_for_content(&h, "r1", "/mnt/src/code.txt", "second\n"),
        "second\n"
    );
    // The restore installed it: `sync` finds nothing new.
    let out = h.ok(&["sync", "r1"]);
    assert!(out.contains("n1 /mnt/src: unchanged"), "{out}");
    // Without --mount, the snapshot's own directory, as it is now.
    std::fs::write(first.path().join("code.txt"), "first, later\n").unwrap();
    h.ok(&["up", "--from", &name, "--name", "r2"]);
    assert_eq!(
        wait_for_content(&h, "r2", "/mnt/src/code.txt", "first, later\n"),
        "first, later\n"
    );
    // Live in the restored env too, and still read-only.
    std::fs::write(second.path().join("code.txt"), "second, later\n").unwrap();
    assert_eq!(
        wait_for_content(&h, "r1", "/mnt/src/code.txt", "second, later\n"),
        "second, later\n"
    );
    // `sync` compares with what the restore installed.
    let out = h.ok(&["sync", "r1"]);
    assert!(out.contains("n1 /mnt/src: changed"), "{out}");
    let out = h.ok(&["sync", "r1"]);
    assert!(out.contains("n1 /mnt/src: unchanged"), "{out}");
    let out = h.run(&[
        "exec",
        "r1",
        "--node",
        "n1",
        "--",
        "sh",
        "-c",
        "echo x > /mnt/src/new",
    ]);
    assert_ne!(code(&out), 0, "a write succeeded");

    // Flags that cannot be right say what to do.
    let out = h.run(&[
        "up",
        "--from",
        &name,
        "--name",
        "bad",
        "--mount",
        "/elsewhere=/tmp",
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("its mounts: /mnt/src"),
        "{}",
        stderr(&out)
    );
    let out = h.run(&[
        "up",
        "--from",
        &name,
        "--name",
        "bad",
        "--mount",
        "/mnt/src=/nonexistent/x",
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("not a directory"), "{}", stderr(&out));
    let out = h.run(&["up", "--from", &name, "--name", "bad", "--mount", "mnt/src"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("expected TARGET=DIR"),
        "{}",
        stderr(&out)
    );
    let out = h.run(&["up", "-t", &file, "--name", "bad", "--mount", &second_flag]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--mount needs --from"),
        "{}",
        stderr(&out)
    );

    for env in ["r1", "r2", "m1"] {
        h.ok(&["down", env]);
    }
    h.ok(&["snapshot", "rm", &name]);
    // A snapshot whose directory is gone asks for one.
    h.ok(&["up", "-t", &file, "--name", "m2"]);
    h.ok(&["snapshot", "create", "m2", &name]);
    h.ok(&["down", "m2"]);
    drop(first);
    let out = h.run(&["up", "--from", &name, "--name", "bad"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("give its directory with --mount /mnt/src=DIR"),
        "{}",
        stderr(&out)
    );
    h.ok(&["snapshot", "rm", &name]);
    assert!(Harness::processes_mentioning(&h.home.path().display().to_string()).is_empty());
}
