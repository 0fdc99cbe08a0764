//! Names and paths from the command line and the environment are untrusted: no verb may
//! reach outside `$VSTAGE_HOME/envs/`, `down` removes only what is provably an env
//! directory, and a path QEMU's command line cannot carry is refused before anything runs.

mod common;

use common::{Harness, code, stderr};

#[test]
fn bad_env_names_are_refused_by_every_verb_and_nothing_is_removed() {
    let h = Harness::new();
    // A decoy next to VSTAGE_HOME, one inside it, and a real-looking env.
    let decoy = tempfile::Builder::new()
        .prefix("vs-decoy")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::write(decoy.path().join("precious"), "keep me").unwrap();
    let inside = h.home.path().join("x");
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::write(inside.join("precious"), "keep me").unwrap();
    let env = h.env_dir("real");
    std::fs::create_dir_all(&env).unwrap();
    std::fs::write(env.join("lock"), "").unwrap();

    let decoy_name = decoy.path().file_name().unwrap().to_string_lossy();
    let relative = format!("../../{decoy_name}");
    let absolute = decoy.path().display().to_string();
    let long = "a".repeat(300);
    let names = [
        "", ".", "..", "../x", &relative, &absolute, "real/..", &long,
    ];
    for name in names {
        for args in [
            vec!["down", name],
            vec!["down", "--force", name],
            vec!["status", name],
            vec!["exec", name, "--", "true"],
            vec!["exec", name, "--node", "n1", "--", "true"],
            vec!["ssh", name, "n1"],
        ] {
            let out = h.run(&args);
            assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
            assert!(
                stderr(&out).contains("is not a valid env name"),
                "{args:?}: {}",
                stderr(&out)
            );
        }
    }
    assert!(decoy.path().join("precious").exists());
    assert!(inside.join("precious").exists());
    assert!(env.join("lock").exists());
}

#[test]
fn down_refuses_a_directory_that_is_not_an_env() {
    let h = Harness::new();
    let plain = h.env_dir("plain");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::write(plain.join("precious"), "keep me").unwrap();
    let out = h.run(&["down", "plain"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not a vstage env directory"),
        "{}",
        stderr(&out)
    );
    assert!(plain.join("precious").exists());

    // A link under envs/ is not followed, and not removed either.
    let target = tempfile::Builder::new()
        .prefix("vs-target")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::write(target.path().join("lock"), "").unwrap();
    std::os::unix::fs::symlink(target.path(), h.env_dir("link")).unwrap();
    let out = h.run(&["down", "link"]);
    assert_ne!(code(&out), 0, "{}", stderr(&out));
    assert!(target.path().join("lock").exists());
}

#[test]
fn homes_whose_paths_qemu_cannot_carry_are_refused_up_front() {
    let h = Harness::new();
    for odd in ["with,comma", "with space"] {
        let home = h.home.path().join(odd);
        let out = h
            .cmd(&["up", "-t", "tiny", "--name", "x"])
            .env("VSTAGE_HOME", &home)
            .output()
            .unwrap();
        assert_eq!(code(&out), 2, "{odd}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("which QEMU's command line cannot carry"),
            "{odd}: {}",
            stderr(&out)
        );
        assert!(!home.join("envs/x").exists());
    }
}
