//! The bring-up, repair and teardown with the fake driver: what the actions ask of a
//! driver, in which order, and what the journal lets teardown undo. Nothing boots.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::{ActionError, Context};
use crate::driver::fake::{self, Fake, Fate};
use crate::driver::qemu::accel::Accel;
use crate::driver::readiness::Limits;
use crate::driver::{Driver, DriverError, DriverKind, NodeState};
use crate::env::{EnvInfo, Options};
use crate::envdir::journal::{self, Journal, Recorder};
use crate::envdir::{self, EnvDir};

/// Two nodes on one network; a gate on each; a hand-off-free template.
const TWO_NODES: &str = "apiVersion: vstage/v1
name: pair
networks: [{name: lan, cidr: 10.9.0.0/24}]
nodes:
  - {name: a, image: tiny, nics: [{network: lan}]}
  - {name: b, image: tiny, nics: [{network: lan}]}
gates:
  - {name: a-up, node: a, run: 'true', timeout: 1}
  - {name: b-up, node: b, run: 'echo fine', timeout: 1}
";

/// An env on the fake driver: its dir, description, journal and driver.
struct Bench {
    _root: tempfile::TempDir,
    dir: EnvDir,
    info: EnvInfo,
    journal: Recorder,
    driver: Fake,
    tasks: Vec<JoinHandle<()>>,
    lines: RefCell<Vec<String>>,
}

impl Bench {
    fn new(template: &str) -> Bench {
        let root = tempfile::tempdir().unwrap();
        let dir = EnvDir(root.path().join("env"));
        std::fs::create_dir_all(dir.path()).unwrap();
        let source = crate::template::Source {
            label: "t.yaml".into(),
            text: template.into(),
        };
        let template = crate::template::load(&source, &[]).unwrap();
        let plan = crate::plan::build(&template).unwrap();
        let info = EnvInfo {
            name: "t".into(),
            dir: dir.path().to_path_buf(),
            template: "t.yaml".into(),
            created_unix: 0,
            driver: DriverKind::default(),
            accel: Accel::Tcg,
            images: BTreeMap::new(),
            options: Options {
                keep_on_failure: false,
                limits: Limits {
                    timeout_secs: 5,
                    stall_secs: 1,
                },
                expires_unix: None,
                keep_for_secs: None,
                owner: None,
            },
            labels: BTreeMap::new(),
            plan,
            restore: None,
        };
        let journal = Recorder::new(Journal::open(&dir.join(envdir::JOURNAL)).unwrap());
        let driver = Fake::new(dir.clone(), journal.clone());
        Bench {
            _root: root,
            dir,
            info,
            journal,
            driver,
            tasks: Vec::new(),
            lines: RefCell::new(Vec::new()),
        }
    }

    fn fate(&self, node: &str, fate: Fate) {
        self.driver
            .control
            .lock()
            .unwrap()
            .fates
            .insert(node.into(), fate);
    }

    fn calls(&self) -> Vec<String> {
        self.driver.control.lock().unwrap().calls.clone()
    }

    async fn up(&mut self) -> Result<(), ActionError> {
        let lines = &self.lines;
        let progress = |m: String| lines.borrow_mut().push(m);
        let changed = |_: &mut Fake| {};
        let mut ctx = Context {
            info: &self.info,
            dir: &self.dir,
            driver: &mut self.driver,
            journal: &self.journal,
            tasks: &mut self.tasks,
            progress: &progress,
            nodes_changed: &changed,
            access: HashMap::new(),
        };
        super::bring_up(&mut ctx).await
    }

    /// The gates alone, as `bring_up` runs them once the nodes are ready.
    async fn gates(&mut self) -> Result<(), ActionError> {
        let lines = &self.lines;
        let progress = |m: String| lines.borrow_mut().push(m);
        let changed = |_: &mut Fake| {};
        let mut ctx = Context {
            info: &self.info,
            dir: &self.dir,
            driver: &mut self.driver,
            journal: &self.journal,
            tasks: &mut self.tasks,
            progress: &progress,
            nodes_changed: &changed,
            access: HashMap::new(),
        };
        super::gates::run(&mut ctx).await
    }

    async fn down(&mut self) {
        super::tear_down(
            &mut self.driver,
            &self.info.plan,
            &mut self.tasks,
            Duration::ZERO,
        )
        .await;
    }

    /// What teardown leaves to the journal, undone as `down` and crash cleanup do.
    fn undo(&self) -> journal::Undone {
        journal::undo(self.dir.path(), &crate::driver::undo).unwrap()
    }

    fn live(&self) -> Vec<(String, String)> {
        fake::live(self.dir.path())
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn bring_up_makes_segments_boots_all_then_waits_then_gates() {
    let mut b = Bench::new(TWO_NODES);
    b.up().await.unwrap();
    assert_eq!(
        b.calls(),
        ["segment lan", "boot a", "boot b", "wait a", "wait b"]
    );
    assert_eq!(b.driver.state("a"), NodeState::Ready);
    assert_eq!(b.driver.state("b"), NodeState::Ready);
    let lines = b.lines.borrow().clone();
    assert!(
        lines.iter().any(|l| l.starts_with("gate a-up: passed")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("gate b-up: passed")),
        "{lines:?}"
    );
    // Each resource was journalled before it existed.
    let entries = journal::read(&b.dir.join(envdir::JOURNAL)).unwrap();
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert_eq!(
        b.live(),
        pairs(&[("node", "a"), ("node", "b"), ("segment", "lan")])
    );
    b.down().await;
    assert_eq!(b.calls()[5..], ["stop a", "stop b", "close"]);
    b.undo();
    assert!(b.live().is_empty());
}

#[tokio::test]
async fn a_node_that_dies_mid_bring_up_fails_it_and_rollback_undoes_newest_first() {
    let mut b = Bench::new(TWO_NODES);
    b.fate("b", Fate::Dies);
    let err = b.up().await.unwrap_err();
    assert!(
        matches!(&err, ActionError::Node(DriverError::Died { node, .. }) if node == "b"),
        "{err}"
    );
    // Gates never ran: a failed node ends the bring-up.
    assert!(!b.lines.borrow().iter().any(|l| l.starts_with("gate")));
    b.down().await;
    let undone = b.undo();
    assert_eq!(undone.removed, 3);
    assert_eq!(
        fake::undone(b.dir.path()),
        pairs(&[("node", "b"), ("node", "a"), ("segment", "lan")])
    );
    assert!(b.live().is_empty());
}

#[tokio::test]
async fn a_node_refused_at_boot_was_recorded_first_so_it_is_undone_too() {
    let mut b = Bench::new(TWO_NODES);
    b.fate("a", Fate::Refused);
    let err = b.up().await.unwrap_err();
    assert!(
        matches!(err, ActionError::Node(DriverError::Start { .. })),
        "{err}"
    );
    assert_eq!(b.calls(), ["segment lan", "boot a"]);
    b.down().await;
    b.undo();
    assert_eq!(
        fake::undone(b.dir.path()),
        pairs(&[("node", "a"), ("segment", "lan")])
    );
}

#[tokio::test]
async fn a_hung_node_fails_by_its_stall_limit() {
    let mut b = Bench::new(TWO_NODES);
    b.fate("a", Fate::Hangs);
    let err = b.up().await.unwrap_err();
    assert!(
        matches!(&err, ActionError::Node(DriverError::NotReady { node, .. }) if node == "a"),
        "{err}"
    );
}

#[tokio::test]
async fn a_failing_gate_ends_the_bring_up_with_its_output_and_logs() {
    let text = TWO_NODES.replace("run: 'true'", "run: 'false', logs: [/var/log/a.log]");
    let mut b = Bench::new(&text);
    b.driver
        .control
        .lock()
        .unwrap()
        .files
        .entry("a".into())
        .or_default()
        .insert("/var/log/a.log".into(), "why it failed\n".into());
    let err = b.up().await.unwrap_err().to_string();
    assert!(err.starts_with("gate a-up failed after"), "{err}");
    assert!(err.contains("exit 1: false said no"), "{err}");
    assert!(
        err.contains("--- a:/var/log/a.log ---\nwhy it failed"),
        "{err}"
    );
}

#[tokio::test]
async fn repair_starts_only_the_nodes_that_went_down() {
    let mut b = Bench::new(TWO_NODES);
    b.up().await.unwrap();
    b.driver.kill("a");
    assert!(matches!(b.driver.state("a"), NodeState::Exited { .. }));
    let lines = &b.lines;
    let progress = |m: String| lines.borrow_mut().push(m);
    let access = HashMap::new();
    let start = super::nodes::Start {
        dir: &b.dir,
        journal: &b.journal,
        access: &access,
        limits: b.info.options.limits,
        progress: &progress,
        restored: false,
    };
    let changed = |_: &mut Fake| {};
    let repaired = super::nodes::repair(&start, &mut b.driver, &b.info.plan, &changed)
        .await
        .unwrap();
    assert_eq!(repaired, ["a"]);
    assert_eq!(b.driver.state("a"), NodeState::Ready);
    let calls = b.driver.control.lock().unwrap().calls.clone();
    assert_eq!(calls[5..], ["boot a", "wait a"]);
    // Ready again, a second repair has nothing to do.
    let again = super::nodes::repair(&start, &mut b.driver, &b.info.plan, &changed)
        .await
        .unwrap();
    assert!(again.is_empty());
}

#[tokio::test]
async fn after_a_crash_the_journal_alone_takes_the_env_down() {
    let mut b = Bench::new(TWO_NODES);
    b.up().await.unwrap();
    // The supervisor dies: nothing stops or closes anything.
    let fresh = Fake::new(b.dir.clone(), b.journal.clone());
    drop(std::mem::replace(&mut b.driver, fresh));
    b.tasks.clear();
    assert_eq!(b.live().len(), 3);
    // What `gc` and `down` of a broken env run.
    crate::env::remove(&b.dir).unwrap();
    assert!(b.live().is_empty());
    assert!(!b.dir.path().exists());
    assert_eq!(
        fake::undone(b.dir.path()),
        pairs(&[("node", "b"), ("node", "a"), ("segment", "lan")])
    );
}

/// One node, and gates on the host around the node's.
const HOST_GATES: &str = "apiVersion: vstage/v1
name: hosted
networks: [{name: lan, cidr: 10.9.0.0/24}]
nodes:
  - {name: a, image: tiny, nics: [{network: lan}]}
gates:
  - {name: env-known, host: true, run: 'test \"$VSTAGE_ENV\" = t && test -f \"$VSTAGE_ENV_JSON\" || exit 3; echo seen > host-ran'}
  - {name: in-node, node: a, run: 'true', timeout: 1, restore: false}
";

#[tokio::test]
async fn a_host_gate_runs_on_the_host_in_the_env_dir_with_the_hand_off_variables() {
    let mut b = Bench::new(HOST_GATES);
    std::fs::write(b.dir.join(envdir::ENV_JSON), "{}").unwrap();
    b.up().await.unwrap();
    assert_eq!(
        std::fs::read_to_string(b.dir.join("host-ran")).unwrap(),
        "seen\n"
    );
    let lines = b.lines.borrow().clone();
    assert!(
        lines.contains(&"gate env-known: waiting (on the host)".to_string()),
        "{lines:?}"
    );
    // Its shell was journalled, as the leader of its own group, before it ran.
    let entries = journal::read(&b.dir.join(envdir::JOURNAL)).unwrap();
    let recorded = journal::processes(&entries);
    let gate = recorded
        .iter()
        .find(|p| p.name == "gate env-known #1")
        .expect("the host gate is in the journal");
    assert!(gate.group && gate.pid.is_some(), "{gate:?}");
}

#[tokio::test]
async fn a_host_gate_that_fails_says_its_exit_and_output() {
    let text = HOST_GATES.replace("exit 3;", "exit 3; echo not yet; exit 4;");
    let mut b = Bench::new(&text.replace("host: true,", "host: true, timeout: 1,"));
    std::fs::write(b.dir.join(envdir::ENV_JSON), "{}").unwrap();
    let err = b.gates().await.unwrap_err().to_string();
    assert!(
        err.starts_with("gate env-known failed after") && err.contains("on the host"),
        "{err}"
    );
    assert!(err.contains("exit 4: not yet"), "{err}");
}

#[tokio::test]
async fn a_host_gate_that_outlives_its_timeout_is_killed_with_its_whole_group() {
    let text = HOST_GATES.replace(
        "run: 'test",
        "timeout: 1, run: 'sleep 300 & sleep 300; test",
    );
    let mut b = Bench::new(&text);
    let err = b.gates().await.unwrap_err().to_string();
    assert!(err.contains("still running after"), "{err}");
    let entries = journal::read(&b.dir.join(envdir::JOURNAL)).unwrap();
    let (pid, _) = journal::processes(&entries)
        .into_iter()
        .find(|p| p.group)
        .and_then(|p| p.pid)
        .expect("the gate's shell was recorded");
    // No process is left in its group (the backgrounded sleep included).
    let group = nix::unistd::Pid::from_raw(pid);
    let mut gone = false;
    for _ in 0..100 {
        if nix::sys::signal::killpg(group, None) == Err(nix::errno::Errno::ESRCH) {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(gone, "processes left in group {pid}");
}

#[tokio::test]
async fn a_restored_env_runs_only_the_gates_marked_to_run_again() {
    let mut b = Bench::new(HOST_GATES);
    std::fs::write(b.dir.join(envdir::ENV_JSON), "{}").unwrap();
    b.info.restore = Some(crate::env::Restore {
        name: "warm".into(),
        snapshot: "s1".into(),
        dir: b.dir.path().to_path_buf(),
        nodes: Vec::new(),
    });
    b.gates().await.unwrap();
    let lines = b.lines.borrow().clone();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("gate env-known: passed")),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("in-node")), "{lines:?}");
}

#[tokio::test]
async fn a_node_whose_hypervisor_aborts_before_ready_boots_once_more_from_a_fresh_disk() {
    let mut b = Bench::new(TWO_NODES);
    b.fate("b", Fate::Aborts(1));
    b.up().await.unwrap();
    assert_eq!(
        b.calls(),
        [
            "segment lan",
            "boot a",
            "boot b",
            "wait a",
            "wait b",
            "discard b",
            "boot b",
            "wait b"
        ]
    );
    let lines = b.lines.borrow().clone();
    assert!(
        lines.iter().any(|l| l
            .starts_with("node b: its hypervisor aborted before the node was ready (signal: 6")),
        "{lines:?}"
    );
    assert_eq!(b.driver.state("b"), NodeState::Ready);
}

#[tokio::test]
async fn a_second_abort_fails_the_bring_up_and_says_it_was_the_second() {
    let mut b = Bench::new(TWO_NODES);
    b.fate("b", Fate::Aborts(2));
    let err = b.up().await.unwrap_err();
    assert!(
        matches!(&err, ActionError::Node(DriverError::Died { node, aborted: true, .. }) if node == "b"),
        "{err}"
    );
    assert!(err.to_string().contains("aborted a second time"), "{err}");
    assert_eq!(b.calls().iter().filter(|c| *c == "boot b").count(), 2);
}
