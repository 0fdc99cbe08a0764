//! Env directories are their user's alone: no other local user may read tokens,
//! keys, logs, journals, seeds or sockets, whatever umask the caller had.

mod common;

use std::os::unix::fs::PermissionsExt as _;

use common::{Harness, stderr};

fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        out.push(e.path());
        if e.file_type().unwrap().is_dir() {
            walk(&e.path(), out);
        }
    }
}

#[test]
fn nothing_under_an_env_is_readable_by_another_user() {
    let h = Harness::new();
    // A home other users may traverse, as ~/.local/state usually is.
    std::fs::set_permissions(h.home.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = h.template(&common::tiny_with_auth(1));
    // A caller with a permissive umask.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 000; exec \"$@\"")
        .arg("sh")
        .arg(common::bin())
        .args(["up", "-t", &file, "--name", "p"])
        .env("VSTAGE_HOME", h.home.path())
        .env("VSTAGE_CACHE", &h.cache)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // Tokens exist by now: issue one so tokens.jsonl has a bearer token in it.
    h.ok(&[
        "exec",
        "p",
        "--",
        "openstack",
        "--os-cloud",
        "admin",
        "token",
        "issue",
    ]);

    let env = h.env_dir("p");
    let mut paths = vec![env.clone()];
    walk(&env, &mut paths);
    assert!(
        paths.iter().any(|p| p.ends_with("tokens.jsonl")),
        "{paths:?}"
    );
    for p in &paths {
        let mode = std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", p.display());
    }
    // And as `nobody`, for real. First what nobody may read, next to the env: a
    // `runuser` that cannot run, or a home nobody cannot enter, would refuse everything.
    let control = h.home.path().join("readable");
    std::fs::write(&control, "ok").unwrap();
    std::fs::set_permissions(&control, std::fs::Permissions::from_mode(0o644)).unwrap();
    let as_nobody = |p: &std::path::Path| {
        std::process::Command::new("runuser")
            .args(["-u", "nobody", "--", "cat"])
            .arg(p)
            .output()
            .unwrap()
    };
    let out = as_nobody(&control);
    assert!(
        out.status.success() && out.stdout == b"ok",
        "nobody cannot read a readable file here: {}",
        stderr(&out)
    );
    for p in [
        env.clone(),
        env.join("clones/auth/tokens.jsonl"),
        env.join("journal.jsonl"),
    ] {
        let out = as_nobody(&p);
        assert!(!out.status.success(), "nobody read {}", p.display());
        assert!(
            stderr(&out).contains("Permission denied"),
            "{}: {}",
            p.display(),
            stderr(&out)
        );
    }
    h.ok(&["down", "p"]);
}
