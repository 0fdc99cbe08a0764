//! The QEMU driver: one `qemu-system-x86_64` per node, a child of the supervisor.
//!
//! Each QEMU gets `PR_SET_PDEATHSIG`, so it dies with the supervisor instead of lingering
//! unnoticed; it is recorded in the journal before it is spawned, with the argv elements
//! (its QMP option) and, once spawned, the start time that let a later teardown check
//! a pid still belongs to the env.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

pub mod accel;
pub mod agent;
pub(crate) mod argv;
pub(crate) mod files;
pub(crate) mod guest;
pub(crate) mod hotplug;
pub(crate) mod mapped_ram;
pub(crate) mod network;
pub(crate) mod qmp;
pub(crate) mod router;
pub mod seed;
pub(crate) mod snapshot;
pub(crate) mod switch;
pub mod version;
pub mod virtiofsd;

use super::{Access, Driver, DriverError, Features, NodeState, SavedNode, Setup};
use crate::driver::qemu::accel::Accel;
use crate::driver::qemu::files::NodeFiles;
use crate::driver::qemu::qmp::Channel;
use crate::driver::readiness::{Sign, Watch};
use crate::envdir::journal::{Entry, Recorder};
use crate::envdir::{self, EnvDir};
use crate::image::{Image, Manifest};
use crate::plan::{NodePlan, Plan};

/// The QEMU binary: `$VSTAGE_QEMU`, else `qemu-system-x86_64` from `PATH`.
pub fn binary() -> PathBuf {
    std::env::var_os("VSTAGE_QEMU")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("qemu-system-x86_64"))
}

/// Resolves `binary()` through `PATH`, for probes and `doctor`.
pub fn find_binary() -> Option<PathBuf> {
    let bin = binary();
    if bin.components().count() > 1 {
        return bin.exists().then_some(bin);
    }
    on_path(&bin)
}

/// `name` resolved through `PATH`, as a shell would find it.
pub fn on_path(name: &Path) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Everything: nodes on this host can have NICs added, be saved, mount host
/// directories, forward ports and show their console.
pub const FEATURES: Features = Features {
    hotplug: true,
    snapshots: true,
    mounts: true,
    forwarded_ports: true,
    console: true,
};

struct Running {
    child: Child,
    state: NodeState,
    /// How its process ended, once it has.
    exit: Option<std::process::ExitStatus>,
}

pub struct Qemu {
    dir: EnvDir,
    plan: Plan,
    images: HashMap<String, Image>,
    accel: Accel,
    journal: Recorder,
    network: network::QemuNetwork,
    nodes: HashMap<String, Running>,
    /// The snapshot directory and saved nodes of a restored env; a node is taken out
    /// once it has resumed, so a repair boots it from its disk like any other.
    restore: Option<(PathBuf, HashMap<String, SavedNode>)>,
    /// Restored nodes not yet given their fresh identity (`wait_ready` does).
    resumed: HashSet<String>,
    /// The NICs hot-plugged into each node's spare slots (shared with `Hotplug`).
    hot: hotplug::Slots,
    /// Each node's virtiofsd daemons, one per mount.
    daemons: HashMap<String, Vec<Child>>,
}

impl Qemu {
    pub fn new(
        dir: EnvDir,
        plan: Plan,
        images: HashMap<String, Image>,
        accel: Accel,
        journal: Recorder,
    ) -> Qemu {
        let hot = hotplug::Slots::default();
        let hotplug = hotplug::Hotplug::new(dir.clone(), &plan, hot.clone());
        let network = network::QemuNetwork::new(dir.clone(), &plan, journal.clone(), hotplug);
        Qemu {
            dir,
            plan,
            images,
            accel,
            journal,
            network,
            nodes: HashMap::new(),
            restore: None,
            resumed: HashSet::new(),
            hot,
            daemons: HashMap::new(),
        }
    }

    /// The env's QEMU driver, with the images `up` resolved for it.
    pub fn open(setup: &Setup<'_>, journal: Recorder) -> Result<Qemu, DriverError> {
        let mut images = HashMap::new();
        for (name, path) in setup.images {
            let open = |detail: String| DriverError::Open {
                what: format!("image {name} at {}", path.display()),
                detail,
            };
            let text = std::fs::read_to_string(path.join("image.json"))
                .map_err(|e| open(e.to_string()))?;
            let manifest: Manifest =
                serde_json::from_str(&text).map_err(|e| open(e.to_string()))?;
            images.insert(
                name.clone(),
                Image {
                    name: name.clone(),
                    hash: String::new(),
                    dir: path.clone(),
                    manifest,
                },
            );
        }
        let dir = setup.dir;
        let mut qemu = Qemu::new(
            dir.clone(),
            setup.plan.clone(),
            images,
            setup.accel,
            journal,
        );
        qemu.restore = setup.restore.map(|(snapshot, nodes)| {
            let nodes = nodes.iter().map(|n| (n.name.clone(), n.clone()));
            (snapshot.to_path_buf(), nodes.collect())
        });
        // A restored node starts with the NICs it had, in the slots they had.
        for saved in setup.restore.iter().flat_map(|(_, nodes)| nodes.iter()) {
            let mut hot = qemu.hot.lock().expect("slots lock");
            let slots = hot.entry(saved.name.clone()).or_default();
            for nic in &saved.hot_nics {
                if let Some(slot) = slots.get_mut(nic.slot) {
                    *slot = Some(hotplug::HotNic {
                        id: nic.id.clone(),
                        mac: nic.mac,
                        socket: dir.join(&nic.socket),
                        segment: dir.join(&nic.segment),
                    });
                }
            }
        }
        Ok(qemu)
    }

    /// What `node` resumes from, if it is restored and has not resumed yet.
    fn saved(&self, node: &str) -> Option<(PathBuf, &SavedNode)> {
        let (dir, nodes) = self.restore.as_ref()?;
        nodes.get(node).map(|n| (dir.clone(), n))
    }

    /// The node's files before its process: connection slots, its seed (cloud-init's
    /// `cidata` volume, or the tiny image's), and its disk as an overlay on the image.
    fn prepare(&self, node: &NodePlan, image: &Image, access: &Access) -> Result<(), DriverError> {
        let io = |source| DriverError::Io {
            node: node.name.clone(),
            source,
        };
        std::fs::create_dir_all(self.dir.join(&envdir::node_dir(&node.name))).map_err(io)?;
        if node.service_nic.is_some() {
            let slots = files::connection_slots(&node.name);
            self.record(
                Entry::Path {
                    path: slots.clone(),
                },
                &node.name,
            )?;
            std::fs::create_dir_all(self.dir.join(&slots)).map_err(io)?;
        }
        let seed_path = self.dir.join(&NodeFiles::of(node).seed);
        self.record(
            Entry::Path {
                path: NodeFiles::of(node).seed.clone(),
            },
            &node.name,
        )?;
        if node.cloud_init {
            let seed = seed::cloud_init(
                &self.plan,
                node,
                &access.ssh_public_key,
                node.user_data.as_ref(),
            );
            std::fs::write(&seed_path, seed::cidata_iso(&seed).map_err(io)?).map_err(io)?;
        } else {
            std::fs::write(&seed_path, seed::tiny(&self.plan, node)).map_err(io)?;
        }
        // A restored node's disk stands on the snapshot's frozen one.
        let base = match self.saved(&node.name) {
            Some((dir, saved)) => saved.disk.as_ref().map(|d| dir.join(d)),
            None => image.disk(),
        };
        // A node started again (a repair) keeps its disk.
        if let (Some(disk), Some(base)) = (&NodeFiles::of(node).disk, base)
            && !self.dir.join(disk).exists()
        {
            self.record(Entry::Path { path: disk.clone() }, &node.name)?;
            let out = std::process::Command::new("qemu-img")
                .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
                .arg(&base)
                .arg(self.dir.join(disk))
                .output()
                .map_err(io)?;
            if !out.status.success() {
                return Err(DriverError::Start {
                    node: node.name.clone(),
                    detail: format!(
                        "qemu-img create: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                });
            }
        }

        Ok(())
    }

    /// A virtiofsd per mount of `node`, each recorded before it exists, serving before
    /// QEMU connects.
    async fn start_mounts(&self, node: &NodePlan) -> Result<Vec<Child>, DriverError> {
        if node.mounts.is_empty() {
            return Ok(Vec::new());
        }
        let start = |detail: String| DriverError::Start {
            node: node.name.clone(),
            detail,
        };
        let bin = virtiofsd::find_binary().ok_or_else(|| {
            start(
                "mounts: need virtiofsd (`make setup` installs it; or set VSTAGE_VIRTIOFSD)".into(),
            )
        })?;
        let mut daemons = Vec::new();
        for m in &node.mounts {
            let log = files::virtiofsd_log(&node.name, &m.tag);
            self.record(Entry::Path { path: log.clone() }, &node.name)?;
            self.record(
                Entry::Path {
                    path: files::mount_socket(&node.name, &m.tag),
                },
                &node.name,
            )?;
            let name = format!("virtiofsd {} {}", node.name, m.tag);
            self.record(
                Entry::Process {
                    name: name.clone(),
                    argv: virtiofsd::identity(&self.dir, &node.name, m),
                },
                &node.name,
            )?;
            let file =
                std::fs::File::create(self.dir.join(&log)).map_err(|source| DriverError::Io {
                    node: node.name.clone(),
                    source,
                })?;
            let child = virtiofsd::spawn(&bin, &self.dir, &node.name, m, file)
                .await
                .map_err(|e| {
                    let log = std::fs::read_to_string(self.dir.join(&log)).unwrap_or_default();
                    start(format!("mount {}: {e}\n{}", m.target, log.trim()))
                })?;
            self.record(Entry::pid(name, child.id().unwrap_or(0) as i32), &node.name)?;
            daemons.push(child);
        }
        Ok(daemons)
    }

    fn record(&self, entry: Entry, node: &str) -> Result<(), DriverError> {
        self.journal
            .record(&entry)
            .map_err(|source| DriverError::Io {
                node: node.to_string(),
                source,
            })
    }

    fn args(&self, node: &NodePlan, image: &Image, access: &Access) -> Vec<String> {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("vstage"));
        let saved = self.saved(&node.name);
        let memory = saved.as_ref().map(|(dir, n)| dir.join(&n.memory));
        argv::argv(&argv::Inputs {
            dir: &self.dir,
            plan: &self.plan,
            node,
            image,
            accel: self.accel,
            ssh_port: access.ssh_port,
            forwards: &access.forwards,
            exe: &exe,
            restore: saved
                .as_ref()
                .zip(memory.as_ref())
                .map(|((_, n), memory)| argv::Restore {
                    memory,
                    shared_ram_offset: n.shared_ram_offset,
                    nics: &n.hot_nics,
                }),
        })
    }

    /// Loads a node started paused from its snapshot and lets it run; from then on it is
    /// a node like any other.
    async fn resume_from_snapshot(&mut self, node: &NodePlan) -> Result<(), DriverError> {
        let Some((dir, saved)) = self.saved(&node.name).map(|(d, n)| (d, n.clone())) else {
            return Ok(());
        };
        // QEMU binds its monitor's socket a moment before it listens on it: retry a
        // refused connection while QEMU lives, for as long as a loaded host may take.
        let qmp = self.dir.join(&NodeFiles::of(node).qmp);
        let started = Instant::now();
        let mut ch = loop {
            match snapshot::channel(&node.name, &qmp).await {
                Ok(ch) => break ch,
                Err(e) if started.elapsed() > Duration::from_secs(60) => return Err(e),
                Err(_) => {}
            }
            if let NodeState::Exited { detail } = self.state(&node.name) {
                return Err(DriverError::Died {
                    node: node.name.clone(),
                    status: detail,
                    tail: self.serial_tail(node),
                    aborted: self.aborted(&node.name),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let memory = dir.join(&saved.memory);
        // `save` writes mapped-ram files only: with their RAM image shared, or read in.
        let mapped = saved.shared_ram_offset.is_some() || saved.own_ram;
        snapshot::restore(&mut ch, &node.name, &memory, mapped).await?;
        if let Some((_, nodes)) = self.restore.as_mut() {
            nodes.remove(&node.name);
        }
        self.resumed.insert(node.name.clone());
        Ok(())
    }

    fn serial_tail(&self, node: &NodePlan) -> String {
        let text =
            std::fs::read_to_string(self.dir.join(&NodeFiles::of(node).serial)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n    ");
        if tail.is_empty() {
            String::new()
        } else {
            format!(
                "\n  last console lines ({}):\n    {tail}",
                self.dir.join(&NodeFiles::of(node).serial).display()
            )
        }
    }

    async fn qmp(&self, node: &NodePlan) -> Option<Channel> {
        let path = self.dir.join(&NodeFiles::of(node).qmp);
        tokio::time::timeout(Duration::from_secs(2), Channel::qmp(&path))
            .await
            .ok()?
            .ok()
    }
}

impl Qemu {
    /// Whether the node's QEMU ended by SIGABRT: one of QEMU's own assertions failed
    /// (seen under load while a guest enumerated its PCI devices), not the guest.
    fn aborted(&self, node: &str) -> bool {
        use std::os::unix::process::ExitStatusExt as _;
        self.nodes
            .get(node)
            .and_then(|r| r.exit)
            .is_some_and(|s| s.signal() == Some(nix::sys::signal::Signal::SIGABRT as i32))
    }

    /// Fails the wait if the node's process ended, or if the watch says time is up;
    /// the console growing counts as progress.
    fn check_progress(&mut self, node: &NodePlan, watch: &mut Watch) -> Result<(), DriverError> {
        if let NodeState::Exited { detail } = self.state(&node.name) {
            let stderr = std::fs::read_to_string(self.dir.join(&files::qemu_stderr(&node.name)))
                .unwrap_or_default();
            return Err(DriverError::Died {
                node: node.name.clone(),
                status: format!("{detail}{}", first_line(&stderr)),
                tail: self.serial_tail(node),
                aborted: self.aborted(&node.name),
            });
        }
        let console = std::fs::metadata(self.dir.join(&NodeFiles::of(node).serial))
            .map(|m| m.len())
            .unwrap_or(0);
        let now = Instant::now();
        watch.saw(now, Sign::Console(console));
        watch.check(now).map_err(|why| DriverError::NotReady {
            node: node.name.clone(),
            why,
            tail: self.serial_tail(node),
        })
    }

    /// Runs `argv` in the node through its agent, waiting at most `bound`; returns
    /// (exit code, stdout+stderr).
    async fn guest_output(
        &self,
        node: &NodePlan,
        argv: &[&str],
        bound: Duration,
    ) -> Option<(i32, String)> {
        let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let socket = self.dir.join(&NodeFiles::of(node).agent);
        let run = crate::driver::qemu::agent::exec(&socket, &argv, &mut out, &mut err);
        let code = tokio::time::timeout(bound, run).await.ok()?.ok()?;
        out.extend_from_slice(&err);
        Some((code, String::from_utf8_lossy(&out).into_owned()))
    }

    /// A cloud-init node is ready when cloud-init has finished; an error ends the wait
    /// with its own words and where to read more.
    ///
    /// Progress is read from what cloud-init writes as it goes (`status.json`: its
    /// stage) with `cat`: `cloud-init status` is Python, which under TCG on a busy host
    /// can take longer than a poll should, so it runs once, when `result.json` says
    /// cloud-init is done.
    async fn wait_cloud_init(
        &mut self,
        node: &NodePlan,
        watch: &mut Watch,
    ) -> Result<(), DriverError> {
        let agent = self.dir.join(&NodeFiles::of(node).agent);
        loop {
            self.check_progress(node, watch)?;
            if crate::driver::qemu::agent::ping(&agent, AGENT_PING).await {
                watch.saw(Instant::now(), Sign::Agent);
            }
            let status = self
                .guest_output(node, &["cat", "/run/cloud-init/status.json"], GUEST_CAT)
                .await;
            if let Some((0, text)) = status {
                watch.saw(Instant::now(), Sign::Stage(cloud_init_stage(&text)));
            }
            let finished = self
                .guest_output(node, &["cat", "/run/cloud-init/result.json"], GUEST_CAT)
                .await
                .is_some_and(|(code, _)| code == 0);
            if finished
                && let Some((_, text)) = self
                    .guest_output(node, &["cloud-init", "status"], CLOUD_INIT_STATUS)
                    .await
            {
                let status = text
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("status:"))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default();
                match status.as_str() {
                    "done" => return Ok(()),
                    "error" | "degraded done" | "degraded error" => {
                        let long = self
                            .guest_output(
                                node,
                                &["cloud-init", "status", "--long"],
                                CLOUD_INIT_STATUS,
                            )
                            .await
                            .map(|(_, t)| t)
                            .unwrap_or_default();
                        let log = self
                            .guest_output(node, &["sh", "-c", "grep -E 'ERROR|WARNING|Traceback|failed' /var/log/cloud-init.log | tail -n 15"], GUEST_CAT)
                            .await
                            .map(|(_, t)| t)
                            .unwrap_or_default();
                        return Err(DriverError::CloudInit {
                            env: self.dir.name(),
                            node: node.name.clone(),
                            detail: format!("{}\n{}", long.trim_end(), log.trim_end()),
                        });
                    }
                    _ => {}
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// How long a readiness poll waits for the agent's `guest-ping` (answered by qemu-ga
/// itself, no process in the guest), for a `cat` in the guest, and for `cloud-init
/// status` (Python: 11-13x slower under TCG, more on a loaded host).
const AGENT_PING: Duration = Duration::from_secs(5);
const GUEST_CAT: Duration = Duration::from_secs(30);
const CLOUD_INIT_STATUS: Duration = Duration::from_secs(180);

/// cloud-init's current stage and how many stages have finished, from its
/// `status.json` (`{"v1": {"stage": "modules-config", "init": {"finished": 12.3}, ...}}`).
fn cloud_init_stage(status_json: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(status_json) else {
        return String::new();
    };
    let v1 = &v["v1"];
    let finished = ["init-local", "init", "modules-config", "modules-final"]
        .iter()
        .filter(|s| v1[**s]["finished"].is_number())
        .count();
    format!(
        "{} ({finished} finished)",
        v1["stage"].as_str().unwrap_or("between stages")
    )
}

/// See `driver::guest`.
pub fn guest(dir: &EnvDir, node: &NodePlan) -> guest::QemuGuest {
    guest::QemuGuest::new(dir, node)
}

/// See `driver::host_logs`.
pub fn host_logs(node: &NodePlan) -> Vec<(String, String)> {
    vec![
        (
            NodeFiles::of(node).serial,
            format!("nodes/{}/serial.log", node.name),
        ),
        (
            files::qemu_stderr(&node.name),
            format!("nodes/{}/qemu.stderr", node.name),
        ),
    ]
}

/// See `driver::check_paths`: the sockets QEMU binds or connects to.
pub fn check_paths(dir: &EnvDir, plan: &Plan) -> Result<(), crate::envdir::PathError> {
    for node in &plan.nodes {
        let f = NodeFiles::of(node);
        let nics = (0..node.nics.len()).map(|i| files::nic_socket(&node.name, i));
        for rel in [f.qmp, f.agent].into_iter().chain(nics) {
            crate::envdir::check_socket_path(&dir.join(&rel))?;
        }
    }
    Ok(())
}

impl Driver for Qemu {
    type Guest = guest::QemuGuest;
    type Network = network::QemuNetwork;

    fn guest(&self, node: &NodePlan) -> guest::QemuGuest {
        guest::QemuGuest::new(&self.dir, node)
    }

    fn network(&self) -> network::QemuNetwork {
        self.network.clone()
    }

    fn close(&mut self) {
        self.network.close();
    }

    /// Guests' connections to a clone's address go through `vstage __connect` (QEMU's
    /// `guestfwd`, see `argv`) to a socket in the env dir.
    fn expose(&self, service: &crate::plan::ServicePlan) -> super::Exposed {
        super::Exposed {
            url: service.guest_url(),
            socket: Some(files::clone_socket(&service.name)),
        }
    }

    async fn boot(&mut self, node: &NodePlan, access: &Access) -> Result<(), DriverError> {
        let image = self
            .images
            .get(&node.image)
            .ok_or_else(|| DriverError::Start {
                node: node.name.clone(),
                detail: format!("image {} is not built", node.image),
            })?;
        self.prepare(node, image, access)?;
        let io = |source| DriverError::Io {
            node: node.name.clone(),
            source,
        };
        let name = format!("qemu {}", node.name);
        for f in [
            &NodeFiles::of(node).qmp,
            &NodeFiles::of(node).agent,
            &NodeFiles::of(node).serial,
            &NodeFiles::of(node).pidfile,
        ] {
            self.record(Entry::Path { path: f.clone() }, &node.name)?;
        }
        for index in 0..node.nics.len() {
            self.record(
                Entry::Path {
                    path: files::nic_socket(&node.name, index),
                },
                &node.name,
            )?;
        }
        let restored_nics = self
            .saved(&node.name)
            .map(|(_, n)| n.hot_nics.clone())
            .unwrap_or_default();
        for nic in restored_nics {
            self.record(
                Entry::Nic {
                    node: node.name.clone(),
                    port: nic.id,
                    socket: nic.socket,
                },
                &node.name,
            )?;
        }
        let daemons = self.start_mounts(node).await?;
        self.record(
            Entry::Process {
                name: name.clone(),
                argv: argv::qmp_option(&self.dir, node).to_vec(),
            },
            &node.name,
        )?;
        let mut cmd = Command::new(binary());
        cmd.args(self.args(node, image, access))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(
                std::fs::File::create(self.dir.join(&files::qemu_stderr(&node.name)))
                    .map_err(io)?,
            )
            .kill_on_drop(true);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                    .map_err(std::io::Error::from)
            });
        }
        let child = cmd.spawn().map_err(|e| DriverError::Start {
            node: node.name.clone(),
            detail: format!("{}: {e}", binary().display()),
        })?;
        let pid = child.id().unwrap_or(0) as i32;
        self.record(Entry::pid(name, pid), &node.name)?;
        self.nodes.insert(
            node.name.clone(),
            Running {
                child,
                state: NodeState::Booting,
                exit: None,
            },
        );
        self.daemons.insert(node.name.clone(), daemons);
        // Restored nodes resume here, one right after the other, rather than each
        // when its turn to be waited for comes.
        self.resume_from_snapshot(node).await
    }

    async fn wait_ready(
        &mut self,
        node: &NodePlan,
        deadline: Instant,
        stall: Duration,
    ) -> Result<(), DriverError> {
        let mut watch = Watch::new(Instant::now(), deadline, stall);
        let agent = self.dir.join(&NodeFiles::of(node).agent);
        loop {
            self.check_progress(node, &mut watch)?;
            if crate::driver::qemu::agent::ping(&agent, AGENT_PING).await {
                watch.saw(Instant::now(), Sign::Agent);
                if self.resumed.remove(&node.name) {
                    // Its cloud-init finished before the snapshot.
                    snapshot::fresh_identity(&agent).await.map_err(|detail| {
                        DriverError::Snapshot {
                            node: node.name.clone(),
                            detail: detail.to_string(),
                        }
                    })?;
                    snapshot::drop_host_connections(&self.guest(node), node).await;
                    snapshot::mount(&self.guest(node), node).await?;
                } else if node.cloud_init {
                    self.wait_cloud_init(node, &mut watch).await?;
                }
                snapshot::write_instance_id(&agent)
                    .await
                    .map_err(|detail| DriverError::Start {
                        node: node.name.clone(),
                        detail: detail.to_string(),
                    })?;
                if let Some(r) = self.nodes.get_mut(&node.name) {
                    r.state = NodeState::Ready;
                }
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn stop(&mut self, nodes: &[NodePlan], graceful: Duration) {
        let running = |me: &mut Qemu| -> Vec<NodePlan> {
            nodes
                .iter()
                .filter(|n| {
                    !matches!(
                        me.state(&n.name),
                        NodeState::Stopped | NodeState::Exited { .. }
                    )
                })
                .cloned()
                .collect()
        };
        // 1. ACPI power button for every node at once, then one shared wait. A paused
        // guest (a restore that never reached `cont`, a snapshot cut short) cannot answer
        // the button, so it is not waited for.
        let mut left = running(self);
        if !graceful.is_zero() && !left.is_empty() {
            let mut pressed = Vec::new();
            for node in &left {
                if let Some(mut ch) = self.qmp(node).await {
                    let status = ch.execute_raw("query-status", serde_json::json!({})).await;
                    let paused = status.is_ok_and(|s| s["running"] == false);
                    if !paused {
                        let _ = ch.execute(&qapi::qmp::system_powerdown {}).await;
                        pressed.push(node.name.clone());
                    }
                }
            }
            left.retain(|n| pressed.contains(&n.name));
            let deadline = Instant::now() + graceful;
            while !left.is_empty() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
                left = running(self);
                left.retain(|n| pressed.contains(&n.name));
            }
        }
        // 2. `quit`: QEMU exits at once, whatever the guest does.
        for node in &running(self) {
            if let Some(mut ch) = self.qmp(node).await {
                let _ = ch.execute(&qapi::qmp::quit {}).await;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while !running(self).is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // 3. SIGKILL for anything still there.
        for node in nodes {
            if let Some(mut r) = self.nodes.remove(&node.name) {
                let _ = r.child.kill().await;
            }
            // Their QEMU is gone: nothing is left for them to serve.
            for mut d in self.daemons.remove(&node.name).unwrap_or_default() {
                let _ = d.kill().await;
            }
        }
    }

    fn discard(&mut self, node: &NodePlan) -> Result<(), DriverError> {
        if let Some(mut r) = self.nodes.remove(&node.name) {
            let _ = r.child.start_kill();
        }
        for mut d in self.daemons.remove(&node.name).unwrap_or_default() {
            let _ = d.start_kill();
        }
        // `prepare` makes a fresh overlay on the image when the node boots again.
        if let Some(disk) = &NodeFiles::of(node).disk {
            match std::fs::remove_file(self.dir.join(disk)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(DriverError::Io {
                        node: node.name.clone(),
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    fn state(&mut self, node: &str) -> NodeState {
        let Some(running) = self.nodes.get_mut(node) else {
            return NodeState::Stopped;
        };
        if let Ok(Some(status)) = running.child.try_wait() {
            running.state = NodeState::Exited {
                detail: status.to_string(),
            };
            running.exit = Some(status);
        }
        running.state.clone()
    }

    fn pid(&self, node: &str) -> Option<i32> {
        self.nodes
            .get(node)
            .and_then(|r| r.child.id())
            .map(|p| p as i32)
    }

    async fn pause(&mut self, nodes: &[NodePlan]) -> Result<(), DriverError> {
        for (n, node) in nodes.iter().enumerate() {
            if let Err(e) = snapshot::unmount(&self.guest(node), node).await {
                for node in &nodes[..=n] {
                    let _ = snapshot::mount(&self.guest(node), node).await;
                }
                return Err(e);
            }
        }
        snapshot::each(&self.dir, nodes, "stop").await
    }

    async fn save(
        &mut self,
        nodes: &[NodePlan],
        into: &Path,
    ) -> Result<Vec<SavedNode>, DriverError> {
        // Every node is paused and writes a file of its own: all migrations run at once.
        let mut running = Vec::new();
        for node in nodes {
            let rel = envdir::node_dir(&node.name);
            std::fs::create_dir_all(into.join(&rel)).map_err(|source| DriverError::Io {
                node: node.name.clone(),
                source,
            })?;
            let memory = into.join(format!("{rel}/memory"));
            let mut ch =
                snapshot::channel(&node.name, &self.dir.join(&NodeFiles::of(node).qmp)).await?;
            let mapped = snapshot::start_save(&mut ch, &node.name, &memory).await?;
            running.push((node, ch, mapped));
        }
        let mut saved = Vec::new();
        for (node, mut ch, mapped) in running {
            snapshot::wait(&mut ch, &node.name).await?;
            saved.push(self.saved_node(node, into, mapped)?);
        }
        Ok(saved)
    }

    async fn resume(&mut self, nodes: &[NodePlan]) -> Result<(), DriverError> {
        snapshot::each(&self.dir, nodes, "cont").await?;
        for node in nodes {
            snapshot::mount(&self.guest(node), node).await?;
        }
        Ok(())
    }
}

impl Qemu {
    /// The rest of a node's save once its memory file is written: its disk, where its
    /// RAM image is in that file, the NICs attached to it.
    fn saved_node(
        &self,
        node: &NodePlan,
        into: &Path,
        mapped: bool,
    ) -> Result<SavedNode, DriverError> {
        let rel = envdir::node_dir(&node.name);
        let memory = format!("{rel}/memory");
        // Paused and migrated, QEMU has flushed the disk and writes nothing to it: a
        // copy now is the disk at the pause.
        let disk = match &NodeFiles::of(node).disk {
            Some(d) => {
                let to = format!("{rel}/disk.qcow2");
                crate::envdir::copy_tree(&self.dir.join(d), &into.join(&to)).map_err(|e| {
                    DriverError::Snapshot {
                        node: node.name.clone(),
                        detail: e.to_string(),
                    }
                })?;
                Some(to)
            }
            None => None,
        };
        let own_ram = mapped && !node.mounts.is_empty();
        let shared_ram_offset = if mapped && !own_ram {
            let bytes = u64::from(node.memory_mib) << 20;
            let block = mapped_ram::share_block(&into.join(&memory), snapshot::RAM_BLOCK, bytes)
                .map_err(|e| DriverError::Snapshot {
                    node: node.name.clone(),
                    detail: e.to_string(),
                })?;
            Some(block.pages_offset)
        } else {
            None
        };
        let relative = |p: &Path| {
            p.strip_prefix(self.dir.path())
                .map(|r| r.display().to_string())
                .unwrap_or_default()
        };
        let hot_nics = self
            .hot
            .lock()
            .expect("slots lock")
            .get(&node.name)
            .into_iter()
            .flat_map(|slots| slots.iter().enumerate())
            .filter_map(|(slot, nic)| {
                let nic = nic.as_ref()?;
                Some(crate::driver::SavedNic {
                    id: nic.id.clone(),
                    mac: nic.mac,
                    slot,
                    socket: relative(&nic.socket),
                    segment: relative(&nic.segment),
                })
            })
            .collect();
        Ok(SavedNode {
            name: node.name.clone(),
            memory,
            disk,
            shared_ram_offset,
            own_ram,
            hot_nics,
        })
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!("; qemu said: {l}"))
        .unwrap_or_default()
}
