//! A nightly rebuild: `image build NAME --force --output json` says, per image, which
//! package versions changed against the build it replaced.

mod common;

use common::Harness;

#[test]
fn a_rebuild_reports_its_previous_build_and_the_changed_packages() {
    let h = Harness::new();
    // Its own cache: the shared one must not change under other tests.
    let cache = h.home.path().join("cache");
    let build = |force: bool| {
        let mut args = vec!["image", "build", "tiny", "--output", "json"];
        if force {
            args.push("--force");
        }
        let out = h.cmd(&args).env("VSTAGE_CACHE", &cache).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v[0].clone()
    };
    let first = build(false);
    assert_eq!(first["name"], "tiny");
    assert!(first["previous_hash"].is_null(), "{first}");
    let again = build(true);
    assert_eq!(again["previous_hash"], first["hash"], "{again}");
    // The same recipe from the same packages: nothing changed, and it says so.
    assert_eq!(again["changed"], serde_json::json!([]), "{again}");
    let text = h
        .cmd(&["image", "build", "tiny", "--force"])
        .env("VSTAGE_CACHE", &cache)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("no package version changed"), "{text}");
}
