//! The QEMU driver: one `qemu-system-x86_64` per node, a child of the supervisor.
//!
//! Each QEMU gets `PR_SET_PDEATHSIG`, so it dies with the supervisor instead of lingering
//! unnoticed; it is recorded in the journal before it is spawned, with a marker (its
//! QMP socket path) that lets a later teardown check a pid still belongs to the env.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use super::{Driver, DriverError, NodeState};
use crate::accel::Accel;
use crate::image::Image;
use crate::journal::{Entry, Journal};
use crate::layout::{self, EnvDir};
use crate::plan::{NodePlan, Plan};
use crate::qmp::Channel;
use crate::seed;

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
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(&bin))
            .find(|p| p.is_file())
    })
}

struct Running {
    child: Child,
    state: NodeState,
}

pub struct Qemu {
    dir: EnvDir,
    plan: Plan,
    images: HashMap<String, Image>,
    accel: Accel,
    journal: Arc<Mutex<Journal>>,
    nodes: HashMap<String, Running>,
}

impl Qemu {
    pub fn new(
        dir: EnvDir,
        plan: Plan,
        images: HashMap<String, Image>,
        accel: Accel,
        journal: Arc<Mutex<Journal>>,
    ) -> Qemu {
        Qemu {
            dir,
            plan,
            images,
            accel,
            journal,
            nodes: HashMap::new(),
        }
    }

    fn record(&self, entry: Entry, node: &str) -> Result<(), DriverError> {
        self.journal
            .lock()
            .expect("journal lock")
            .record(&entry)
            .map_err(|source| DriverError::Io {
                node: node.to_string(),
                source,
            })
    }

    /// A string the QEMU command line of `node` contains and no other process's does.
    pub fn marker(dir: &EnvDir, node: &NodePlan) -> String {
        dir.join(&node.files.qmp).display().to_string()
    }

    fn args(&self, node: &NodePlan, image: &Image) -> Vec<OsString> {
        let path = |rel: &str| self.dir.join(rel).into_os_string();
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
        push(&[
            "-name",
            &format!("vstage:{}:{}", self.dir.name(), node.name),
        ]);
        push(&[
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
        ]);
        push(&["-machine", "q35", "-accel", self.accel.as_str()]);
        if self.accel == Accel::Kvm {
            push(&["-cpu", "host"]);
        }
        push(&[
            "-m",
            &node.memory_mib.to_string(),
            "-smp",
            &node.cpus.to_string(),
        ]);
        a.push("-kernel".into());
        a.push(image.kernel().into_os_string());
        a.push("-initrd".into());
        a.push(image.initrd().into_os_string());
        a.push("-append".into());
        a.push(image.manifest.append.clone().into());
        let mut pair = |flag: &str, value: OsString| {
            a.push(flag.into());
            a.push(value);
        };
        let mut serial = OsString::from("file:");
        serial.push(path(&node.files.serial));
        pair("-serial", serial);
        let mut qmp = OsString::from("unix:");
        qmp.push(path(&node.files.qmp));
        qmp.push(",server=on,wait=off");
        pair("-qmp", qmp);
        let mut pidfile = OsString::new();
        pidfile.push(path(&node.files.pidfile));
        pair("-pidfile", pidfile);
        let mut fw = OsString::from("name=opt/vstage/seed,file=");
        fw.push(path(&node.files.seed));
        pair("-fw_cfg", fw);
        if image.manifest.agent {
            let mut chardev = OsString::from("socket,id=qga,server=on,wait=off,path=");
            chardev.push(path(&node.files.agent));
            pair("-chardev", chardev);
            pair("-device", "virtio-serial-pci".into());
            pair(
                "-device",
                "virtserialport,chardev=qga,name=org.qemu.guest_agent.0".into(),
            );
        }
        if let (Some(nic), Some(auth)) = (&node.service_nic, &self.plan.auth) {
            // Clones answer on the service network: QEMU hands each guest connection to
            // `vstage __connect`, which joins it to the clone's socket in the env dir.
            let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("vstage"));
            let mut netdev = OsString::from(format!(
                "user,id=svc,restrict=on,net={},guestfwd=tcp:{}:{}-cmd:",
                crate::plan::SERVICE_NET,
                auth.ip,
                auth.port
            ));
            netdev.push(exe.as_os_str());
            netdev.push(" __connect ");
            netdev.push(path(&auth.socket));
            pair("-netdev", netdev);
            pair(
                "-device",
                format!("virtio-net-pci,netdev=svc,mac={}", nic.mac).into(),
            );
        }
        for (i, nic) in node.nics.iter().enumerate() {
            let net = self
                .plan
                .networks
                .iter()
                .find(|n| n.name == nic.network)
                .expect("plan networks cover every nic");
            let mut netdev = OsString::from(format!("dgram,id=nic{i},local.type=unix,local.path="));
            netdev.push(path(&nic.socket));
            netdev.push(",remote.type=unix,remote.path=");
            netdev.push(path(&net.switch_socket));
            pair("-netdev", netdev);
            pair(
                "-device",
                format!("virtio-net-pci,netdev=nic{i},mac={}", nic.mac).into(),
            );
        }
        a
    }

    fn serial_tail(&self, node: &NodePlan) -> String {
        let text = std::fs::read_to_string(self.dir.join(&node.files.serial)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n    ");
        if tail.is_empty() {
            String::new()
        } else {
            format!(
                "\n  last console lines ({}):\n    {tail}",
                self.dir.join(&node.files.serial).display()
            )
        }
    }

    async fn qmp(&self, node: &NodePlan) -> Option<Channel> {
        let path = self.dir.join(&node.files.qmp);
        tokio::time::timeout(Duration::from_secs(2), Channel::qmp(&path))
            .await
            .ok()?
            .ok()
    }
}

impl Driver for Qemu {
    async fn boot(&mut self, node: &NodePlan) -> Result<(), DriverError> {
        let image = self
            .images
            .get(&node.image)
            .ok_or_else(|| DriverError::Start {
                node: node.name.clone(),
                detail: format!("image {} is not built", node.image),
            })?;
        let io = |source| DriverError::Io {
            node: node.name.clone(),
            source,
        };
        std::fs::create_dir_all(self.dir.join(&layout::node_dir(&node.name))).map_err(io)?;
        let seed_path = self.dir.join(&node.files.seed);
        std::fs::write(&seed_path, seed::tiny(&self.plan, node)).map_err(io)?;

        let name = format!("qemu {}", node.name);
        for f in [
            &node.files.qmp,
            &node.files.agent,
            &node.files.serial,
            &node.files.pidfile,
        ] {
            self.record(Entry::Path { path: f.clone() }, &node.name)?;
        }
        for nic in &node.nics {
            self.record(
                Entry::Path {
                    path: nic.socket.clone(),
                },
                &node.name,
            )?;
        }
        self.record(
            Entry::Process {
                name: name.clone(),
                marker: Qemu::marker(&self.dir, node),
            },
            &node.name,
        )?;
        let mut cmd = Command::new(binary());
        cmd.args(self.args(node, image))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(
                std::fs::File::create(self.dir.join(&layout::qemu_stderr(&node.name)))
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
        self.record(Entry::Pid { name, pid }, &node.name)?;
        self.nodes.insert(
            node.name.clone(),
            Running {
                child,
                state: NodeState::Booting,
            },
        );
        Ok(())
    }

    async fn wait_ready(&mut self, node: &NodePlan, bound: Duration) -> Result<(), DriverError> {
        let start = Instant::now();
        let agent = self.dir.join(&node.files.agent);
        loop {
            if let NodeState::Exited { detail } = self.state(&node.name) {
                let stderr =
                    std::fs::read_to_string(self.dir.join(&layout::qemu_stderr(&node.name)))
                        .unwrap_or_default();
                return Err(DriverError::Died {
                    node: node.name.clone(),
                    status: format!("{detail}{}", first_line(&stderr)),
                    tail: self.serial_tail(node),
                });
            }
            if start.elapsed() >= bound {
                return Err(DriverError::NotReady {
                    node: node.name.clone(),
                    secs: bound.as_secs(),
                    tail: self.serial_tail(node),
                });
            }
            let attempt = async {
                let mut ch = Channel::agent(&agent).await.ok()?;
                ch.execute(&qapi::qga::guest_ping {}).await.ok()
            };
            if tokio::time::timeout(Duration::from_secs(2), attempt)
                .await
                .ok()
                .flatten()
                .is_some()
            {
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
        // 1. ACPI power button for every node at once, then one shared wait.
        let mut left = running(self);
        if !graceful.is_zero() && !left.is_empty() {
            for node in &left {
                if let Some(mut ch) = self.qmp(node).await {
                    let _ = ch.execute(&qapi::qmp::system_powerdown {}).await;
                }
            }
            let deadline = Instant::now() + graceful;
            while !left.is_empty() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
                left = running(self);
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
        }
    }

    fn state(&mut self, node: &str) -> NodeState {
        let Some(running) = self.nodes.get_mut(node) else {
            return NodeState::Stopped;
        };
        if let Ok(Some(status)) = running.child.try_wait() {
            running.state = NodeState::Exited {
                detail: status.to_string(),
            };
        }
        running.state.clone()
    }

    fn pid(&self, node: &str) -> Option<i32> {
        self.nodes
            .get(node)
            .and_then(|r| r.child.id())
            .map(|p| p as i32)
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!("; qemu said: {l}"))
        .unwrap_or_default()
}
