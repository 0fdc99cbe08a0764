//! Template errors through the CLI: file:line:column and exit code 2.

mod common;

use common::{Harness, code, stderr};

const BASE: &str = "apiVersion: vstage/v1
name: t
networks:
  - name: net0
    cidr: 10.0.0.0/24
nodes:
  - name: n1
    image: tiny
    cpus: 1
    nics:
      - network: net0
";

fn check(h: &Harness, text: &str, at: &str, says: &str) {
    let file = h.home.path().join("t.yaml");
    std::fs::write(&file, text).unwrap();
    let path = file.display().to_string();
    for verb in ["plan", "up"] {
        let out = h
            .run(&[verb, "-t", &path, "--set", "x=1"][..if text.contains("${x}") { 5 } else { 3 }]);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{verb}: {err}");
        assert!(
            err.contains(&format!("{path}:{at}:")),
            "{verb}: want {path}:{at}: in {err}"
        );
        assert!(err.contains(says), "{verb}: want '{says}' in {err}");
    }
    assert!(
        !h.home.path().join("envs/t").exists(),
        "no env made from a bad template"
    );
}

#[test]
fn unknown_field() {
    let h = Harness::new();
    check(
        &h,
        &BASE.replace("    cpus: 1\n", "    cpus: 1\n    disk: 10G\n"),
        "10:5",
        "disk",
    );
}

#[test]
fn wrong_type() {
    let h = Harness::new();
    check(
        &h,
        &BASE.replace("cpus: 1", "cpus: many"),
        "9:11",
        "expected a whole number",
    );
    check(
        &h,
        &BASE.replace(
            "    nics:\n      - network: net0\n",
            "    nics: {network: net0}\n",
        ),
        "10:11",
        "",
    );
}

#[test]
fn unknown_network() {
    let h = Harness::new();
    check(
        &h,
        &BASE.replace("- network: net0", "- network: net9"),
        "11:18",
        "unknown network 'net9'",
    );
}

#[test]
fn missing_image() {
    let h = Harness::new();
    check(
        &h,
        &BASE.replace("image: tiny", "image: fedora"),
        "8:12",
        "image 'fedora' does not exist",
    );
}

#[test]
fn bad_set_is_bad_input() {
    let h = Harness::new();
    let out = h.run(&["plan", "-t", "tiny", "--set", "nope=1"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("no parameter 'nope'"));
    let out = h.run(&["plan", "-t", "no-such-template"]);
    assert_eq!(code(&out), 2);
}
