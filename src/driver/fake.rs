//! A driver for tests, in-process: a node is a task that answers commands from a few
//! files it holds, reports its state, and can be told to die, hang, or fail to boot.
//! Its nodes and segments live on a pretend cloud (one per env dir, in this process),
//! recorded in the journal as a remote driver's would be (`Entry::Driver`), so
//! teardown and crash cleanup reach them through `driver::undo`. Boots nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::guest::{Console, Guest, GuestError};
use super::readiness::Watch;
use super::{
    Access, Driver, DriverError, Features, Network, NodeState, PortNic, RouterPort, SavedNode,
};
use crate::envdir::EnvDir;
use crate::envdir::journal::{Entry, Recorder};
use crate::net::Route;
use crate::plan::NodePlan;

/// How the journal names this driver.
pub const NAME: &str = "fake";

/// Nodes, networks and commands; no snapshots, mounts or ports.
pub const FEATURES: Features = Features {
    hotplug: true,
    snapshots: false,
    mounts: false,
    forwarded_ports: false,
    console: true,
};

/// What a node does when booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fate {
    #[default]
    Boots,
    /// Its boot call fails (the cloud refuses the server).
    Refused,
    /// It exits before it is ready.
    Dies,
    /// Its hypervisor aborts before it is ready, this many more times; then it boots.
    Aborts(u32),
    /// It never becomes ready, and never answers.
    Hangs,
}

/// The pretend cloud: per env dir, the resources that exist on it, and the order in
/// which they were undone.
#[derive(Default)]
pub struct Cloud {
    pub live: BTreeSet<(String, String)>,
    pub undone: Vec<(String, String)>,
}

static CLOUDS: Mutex<BTreeMap<PathBuf, Cloud>> = Mutex::new(BTreeMap::new());

fn clouds() -> MutexGuard<'static, BTreeMap<PathBuf, Cloud>> {
    CLOUDS.lock().unwrap_or_else(|p| p.into_inner())
}

/// What exists on the cloud of the env at `dir`, as (resource, id).
pub fn live(dir: &Path) -> Vec<(String, String)> {
    clouds()
        .get(dir)
        .map(|c| c.live.iter().cloned().collect())
        .unwrap_or_default()
}

/// What was undone there, in order.
pub fn undone(dir: &Path) -> Vec<(String, String)> {
    clouds()
        .get(dir)
        .map(|c| c.undone.clone())
        .unwrap_or_default()
}

/// Makes a resource on the cloud, recorded in the journal first.
fn create(journal: &Recorder, dir: &Path, resource: &str, id: &str) -> std::io::Result<()> {
    journal.record(&Entry::Driver {
        driver: NAME.into(),
        resource: resource.into(),
        id: id.into(),
    })?;
    clouds()
        .entry(dir.to_path_buf())
        .or_default()
        .live
        .insert((resource.into(), id.into()));
    Ok(())
}

/// `driver::undo` for this driver.
pub fn undo(dir: &Path, resource: &str, id: &str) -> std::io::Result<bool> {
    let mut clouds = clouds();
    let cloud = clouds.entry(dir.to_path_buf()).or_default();
    let key = (resource.to_string(), id.to_string());
    let was = cloud.live.remove(&key);
    if was {
        cloud.undone.push(key);
    }
    Ok(was)
}

/// A command sent to a node's task.
struct Run {
    argv: Vec<String>,
    reply: oneshot::Sender<(i32, Vec<u8>, Vec<u8>)>,
}

struct FakeNode {
    state: NodeState,
    fate: Fate,
    commands: mpsc::Sender<Run>,
    task: tokio::task::JoinHandle<()>,
    booted_at: Instant,
}

/// What tests tell the driver, and read from it; shared with its guests.
#[derive(Default)]
pub struct Control {
    pub fates: HashMap<String, Fate>,
    /// Files each node holds (node -> path -> content).
    pub files: HashMap<String, BTreeMap<String, String>>,
    /// Every call, in order: `boot n1`, `wait n1`, `stop n1`, `segment lan`, ...
    pub calls: Vec<String>,
    /// NICs on nodes: port id -> (node, segment).
    pub nics: BTreeMap<String, (String, String)>,
    /// Routers: id -> their segments.
    pub routers: BTreeMap<String, Vec<String>>,
}

pub type Shared = Arc<Mutex<Control>>;

fn control(shared: &Shared) -> MutexGuard<'_, Control> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct Fake {
    dir: EnvDir,
    journal: Recorder,
    nodes: HashMap<String, FakeNode>,
    pub control: Shared,
}

impl Fake {
    pub fn new(dir: EnvDir, journal: Recorder) -> Fake {
        Fake {
            dir,
            journal,
            nodes: HashMap::new(),
            control: Shared::default(),
        }
    }

    /// Ends a node's task, as a server that crashed.
    pub fn kill(&mut self, node: &str) {
        if let Some(n) = self.nodes.get_mut(node) {
            n.task.abort();
            n.state = NodeState::Exited {
                detail: "killed".into(),
            };
        }
    }

    fn io(node: &str) -> impl Fn(std::io::Error) -> DriverError + '_ {
        move |source| DriverError::Io {
            node: node.to_string(),
            source,
        }
    }
}

/// A node: answers commands until it is stopped. `/bin/sh -c CMD` runs CMD as one
/// of `true`, `false`, `cat FILE`, `echo WORDS`; `tail -c N FILE` reads a file.
async fn node_task(name: String, shared: Shared, mut commands: mpsc::Receiver<Run>) {
    while let Some(run) = commands.recv().await {
        let files = control(&shared)
            .files
            .get(&name)
            .cloned()
            .unwrap_or_default();
        let argv: Vec<&str> = run.argv.iter().map(String::as_str).collect();
        let words: Vec<&str> = match argv.as_slice() {
            ["/bin/sh", "-c", cmd, ..] => cmd.split_whitespace().collect(),
            other => other.to_vec(),
        };
        let read = |path: &str| match files.get(path) {
            Some(text) => (0, text.clone().into_bytes(), Vec::new()),
            None => (1, Vec::new(), format!("{path}: No such file").into_bytes()),
        };
        let answer = match words.as_slice() {
            ["true"] => (0, Vec::new(), Vec::new()),
            ["false"] => (1, Vec::new(), b"false said no".to_vec()),
            ["echo", rest @ ..] => (0, format!("{}\n", rest.join(" ")).into_bytes(), Vec::new()),
            ["cat", path] => read(path),
            ["tail", "-c", n, path] | ["tail", "-n", n, path] => {
                let (code, mut out, err) = read(path);
                let keep: usize = n.parse().unwrap_or(0);
                out.drain(..out.len().saturating_sub(keep));
                (code, out, err)
            }
            _ => (127, Vec::new(), format!("{argv:?}: not found").into_bytes()),
        };
        let _ = run.reply.send(answer);
    }
}

impl Driver for Fake {
    type Guest = FakeGuest;
    type Network = FakeNetwork;

    async fn boot(&mut self, node: &NodePlan, _access: &Access) -> Result<(), DriverError> {
        let fate = {
            let mut c = control(&self.control);
            c.calls.push(format!("boot {}", node.name));
            c.fates.get(&node.name).copied().unwrap_or_default()
        };
        create(&self.journal, self.dir.path(), "node", &node.name).map_err(Fake::io(&node.name))?;
        if fate == Fate::Refused {
            return Err(DriverError::Start {
                node: node.name.clone(),
                detail: "the cloud refused the server".into(),
            });
        }
        let (tx, rx) = mpsc::channel(8);
        let task = match fate {
            Fate::Hangs => tokio::spawn(std::future::pending()),
            _ => tokio::spawn(node_task(node.name.clone(), self.control.clone(), rx)),
        };
        self.nodes.insert(
            node.name.clone(),
            FakeNode {
                state: NodeState::Booting,
                fate,
                commands: tx,
                task,
                booted_at: Instant::now(),
            },
        );
        Ok(())
    }

    async fn wait_ready(
        &mut self,
        node: &NodePlan,
        deadline: Instant,
        stall: Duration,
    ) -> Result<(), DriverError> {
        control(&self.control)
            .calls
            .push(format!("wait {}", node.name));
        let watch = Watch::new(Instant::now(), deadline, stall);
        loop {
            let Some(n) = self.nodes.get_mut(&node.name) else {
                return Err(DriverError::Start {
                    node: node.name.clone(),
                    detail: "not booted".into(),
                });
            };
            match n.fate {
                Fate::Dies => {
                    n.task.abort();
                    n.state = NodeState::Exited {
                        detail: "exit status: 1".into(),
                    };
                    return Err(DriverError::Died {
                        node: node.name.clone(),
                        status: "exit status: 1".into(),
                        tail: String::new(),
                        aborted: false,
                    });
                }
                Fate::Aborts(left) if left > 0 => {
                    n.task.abort();
                    let detail = "signal: 6 (SIGABRT) (core dumped)".to_string();
                    n.state = NodeState::Exited {
                        detail: detail.clone(),
                    };
                    control(&self.control)
                        .fates
                        .insert(node.name.clone(), Fate::Aborts(left - 1));
                    return Err(DriverError::Died {
                        node: node.name.clone(),
                        status: detail,
                        tail: String::new(),
                        aborted: true,
                    });
                }
                // Ready a moment after its boot, as a guest would be.
                Fate::Boots | Fate::Aborts(0)
                    if n.booted_at.elapsed() >= Duration::from_millis(5) =>
                {
                    n.state = NodeState::Ready;
                    return Ok(());
                }
                _ => {}
            }
            watch
                .check(Instant::now())
                .map_err(|why| DriverError::NotReady {
                    node: node.name.clone(),
                    why,
                    tail: String::new(),
                })?;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn discard(&mut self, node: &NodePlan) -> Result<(), DriverError> {
        control(&self.control)
            .calls
            .push(format!("discard {}", node.name));
        if let Some(n) = self.nodes.remove(&node.name) {
            n.task.abort();
        }
        Ok(())
    }

    async fn stop(&mut self, nodes: &[NodePlan], _graceful: Duration) {
        for node in nodes {
            if let Some(n) = self.nodes.remove(&node.name) {
                control(&self.control)
                    .calls
                    .push(format!("stop {}", node.name));
                n.task.abort();
            }
        }
    }

    fn close(&mut self) {
        control(&self.control).calls.push("close".into());
    }

    fn state(&mut self, node: &str) -> NodeState {
        self.nodes
            .get(node)
            .map(|n| n.state.clone())
            .unwrap_or(NodeState::Stopped)
    }

    fn pid(&self, _node: &str) -> Option<i32> {
        None
    }

    async fn pause(&mut self, nodes: &[NodePlan]) -> Result<(), DriverError> {
        Err(no_snapshots(nodes))
    }

    async fn save(
        &mut self,
        nodes: &[NodePlan],
        _into: &Path,
    ) -> Result<Vec<SavedNode>, DriverError> {
        Err(no_snapshots(nodes))
    }

    async fn resume(&mut self, nodes: &[NodePlan]) -> Result<(), DriverError> {
        Err(no_snapshots(nodes))
    }

    fn guest(&self, node: &NodePlan) -> FakeGuest {
        FakeGuest {
            commands: self.nodes.get(&node.name).map(|n| n.commands.clone()),
        }
    }

    fn expose(&self, service: &crate::plan::ServicePlan) -> super::Exposed {
        super::Exposed {
            url: service.guest_url(),
            socket: None,
        }
    }

    fn network(&self) -> FakeNetwork {
        FakeNetwork {
            dir: self.dir.path().to_path_buf(),
            journal: self.journal.clone(),
            control: self.control.clone(),
        }
    }
}

fn no_snapshots(nodes: &[NodePlan]) -> DriverError {
    DriverError::Snapshot {
        node: nodes.first().map(|n| n.name.clone()).unwrap_or_default(),
        detail: "the fake driver has no snapshots".into(),
    }
}

pub struct FakeGuest {
    commands: Option<mpsc::Sender<Run>>,
}

impl Guest for FakeGuest {
    async fn exec(
        &self,
        argv: &[String],
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<i32, GuestError> {
        let unreachable = || GuestError::Unreachable("the node is not running".into());
        let commands = self.commands.as_ref().ok_or_else(unreachable)?;
        let (reply, answer) = oneshot::channel();
        commands
            .send(Run {
                argv: argv.to_vec(),
                reply,
            })
            .await
            .map_err(|_| unreachable())?;
        let (code, stdout, stderr) = answer.await.map_err(|_| unreachable())?;
        out.write_all(&stdout).map_err(GuestError::Output)?;
        err.write_all(&stderr).map_err(GuestError::Output)?;
        Ok(code)
    }

    async fn ping(&self, _bound: Duration) -> bool {
        self.commands.as_ref().is_some_and(|c| !c.is_closed())
    }

    async fn console(&self, from: u64, max: usize) -> Result<Console, GuestError> {
        let text = b"fake console\n";
        let from = (from as usize).min(text.len());
        Ok(Console {
            bytes: text[from..].iter().take(max).copied().collect(),
            len: text.len() as u64,
            exists: true,
        })
    }
}

#[derive(Clone)]
pub struct FakeNetwork {
    dir: PathBuf,
    journal: Recorder,
    control: Shared,
}

impl FakeNetwork {
    fn failed(what: &str, e: std::io::Error) -> DriverError {
        DriverError::Network {
            what: what.to_string(),
            detail: e.to_string(),
        }
    }

    fn has_segment(&self, segment: &str) -> bool {
        live(&self.dir).contains(&("segment".into(), segment.into()))
    }
}

impl Network for FakeNetwork {
    fn add_segment(&mut self, name: &str) -> Result<(), DriverError> {
        control(&self.control).calls.push(format!("segment {name}"));
        create(&self.journal, &self.dir, "segment", name).map_err(|e| Self::failed(name, e))
    }

    fn remove_segment(&mut self, name: &str) {
        let _ = undo(&self.dir, "segment", name);
    }

    async fn attach(
        &mut self,
        node: &str,
        segment: &str,
        nic: &PortNic,
        _restored: bool,
    ) -> Result<(), DriverError> {
        if !self.has_segment(segment) {
            return Err(DriverError::Network {
                what: format!("segment {segment}"),
                detail: "no such segment".into(),
            });
        }
        create(&self.journal, &self.dir, "nic", &nic.id).map_err(|e| Self::failed(node, e))?;
        control(&self.control)
            .nics
            .insert(nic.id.clone(), (node.to_string(), segment.to_string()));
        Ok(())
    }

    async fn detach(&mut self, id: &str) -> Result<(), DriverError> {
        control(&self.control).nics.remove(id);
        undo(&self.dir, "nic", id).map_err(|e| Self::failed(id, e))?;
        Ok(())
    }

    fn set_router(
        &mut self,
        id: &str,
        ports: &[RouterPort],
        _routes: Vec<Route>,
    ) -> Result<(), DriverError> {
        self.remove_router(id);
        if let Some(p) = ports.iter().find(|p| !self.has_segment(&p.segment)) {
            return Err(DriverError::Network {
                what: format!("router {id}"),
                detail: format!("no segment {}", p.segment),
            });
        }
        create(&self.journal, &self.dir, "router", id).map_err(|e| Self::failed(id, e))?;
        let segments = ports.iter().map(|p| p.segment.clone()).collect();
        control(&self.control)
            .routers
            .insert(id.to_string(), segments);
        Ok(())
    }

    fn remove_router(&mut self, id: &str) {
        control(&self.control).routers.remove(id);
        let _ = undo(&self.dir, "router", id);
    }
}
