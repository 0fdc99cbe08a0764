//! `vstage plan -t tiny` is deterministic and matches the recorded snapshot.
//! After an intended change, regenerate it with:
//!   cargo run -q -- plan -t tiny > tests/snapshots/plan-tiny.json

mod common;

use common::Harness;

#[test]
fn plan_of_tiny_matches_snapshot() {
    let h = Harness::new();
    let first = h.ok(&["plan", "-t", "tiny"]);
    let second = h.ok(&["plan", "-t", "tiny"]);
    assert_eq!(first, second, "same template, same bytes");
    assert_eq!(first, include_str!("snapshots/plan-tiny.json"));
}

#[test]
fn set_changes_the_plan() {
    let h = Harness::new();
    let plan = h.ok(&["plan", "-t", "tiny", "--set", "memory=512"]);
    assert!(plan.contains("\"memory_mib\": 512"));
}
