//! The QEMU driver's networks: a segment is a switch task on a datagram socket in the
//! env dir (`switch`), a port's NIC is a datagram netdev hot-plugged into the node and
//! joined to that switch (`hotplug`), a router is a task with a socket on each of its
//! segments (`router`). One handle, cloned into the fabric's task; it owns the tasks
//! until the driver closes.

use super::files;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::task::JoinHandle;

use super::hotplug::{HotNic, Hotplug};
use super::router;
use super::switch::{Ports, Switch};
use crate::driver::{DriverError, Network, PortNic, RouterPort};
use crate::envdir::EnvDir;
use crate::envdir::journal::{Entry, Recorder};
use crate::net::Route;
use crate::plan::Plan;

#[derive(Clone)]
pub struct QemuNetwork {
    dir: EnvDir,
    journal: Recorder,
    hotplug: Hotplug,
    /// Template network -> its switch socket and the plan's NIC sockets on it.
    planned: Arc<HashMap<String, (String, Vec<PathBuf>)>>,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    segments: HashMap<String, Segment>,
    /// Port id -> the NIC it has on a node.
    attached: HashMap<String, Attached>,
    routers: HashMap<String, RunningRouter>,
}

struct Segment {
    socket: PathBuf,
    ports: Ports,
    task: JoinHandle<()>,
}

struct Attached {
    node: String,
    segment: String,
    nic: HotNic,
}

/// A router: its task, and its NICs (segment, socket).
struct RunningRouter {
    task: JoinHandle<()>,
    nics: Vec<(String, PathBuf)>,
}

impl QemuNetwork {
    pub fn new(dir: EnvDir, plan: &Plan, journal: Recorder, hotplug: Hotplug) -> QemuNetwork {
        let planned = plan
            .networks
            .iter()
            .map(|net| {
                let ports = plan
                    .nodes
                    .iter()
                    .flat_map(|n| n.nics.iter().enumerate().map(move |(i, nic)| (n, i, nic)))
                    .filter(|(_, _, nic)| nic.network == net.name)
                    .map(|(n, i, _)| dir.join(&files::nic_socket(&n.name, i)))
                    .collect();
                (net.name.clone(), (files::switch_socket(&net.name), ports))
            })
            .collect();
        QemuNetwork {
            dir,
            journal,
            hotplug,
            planned: Arc::new(planned),
            state: Arc::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, entry: Entry, what: &str) -> Result<(), DriverError> {
        self.journal
            .record(&entry)
            .map_err(|e| DriverError::Network {
                what: what.to_string(),
                detail: format!("journal: {e}"),
            })
    }

    /// Ends every switch and router (teardown).
    pub fn close(&self) {
        let mut state = self.state();
        for (_, s) in state.segments.drain() {
            s.task.abort();
        }
        for (_, r) in state.routers.drain() {
            r.task.abort();
        }
    }

    fn segment(&self, name: &str) -> Result<(PathBuf, Ports), DriverError> {
        self.state()
            .segments
            .get(name)
            .map(|s| (s.socket.clone(), s.ports.clone()))
            .ok_or_else(|| DriverError::Network {
                what: format!("segment {name}"),
                detail: "no such segment".into(),
            })
    }
}

impl Network for QemuNetwork {
    fn add_segment(&mut self, name: &str) -> Result<(), DriverError> {
        let (rel, ports) = match self.planned.get(name) {
            Some((socket, ports)) => (socket.clone(), ports.clone()),
            None => (files::segment_socket(name), Vec::new()),
        };
        self.record(Entry::Path { path: rel.clone() }, name)?;
        let socket = self.dir.join(&rel);
        let switch = Switch::bind(&socket, ports).map_err(|e| DriverError::Network {
            what: format!("segment {name}"),
            detail: format!("binding {}: {e}", socket.display()),
        })?;
        let ports = switch.ports();
        let task = tokio::spawn(switch.run());
        let old = self.state().segments.insert(
            name.to_string(),
            Segment {
                socket,
                ports,
                task,
            },
        );
        if let Some(old) = old {
            old.task.abort();
        }
        Ok(())
    }

    fn remove_segment(&mut self, name: &str) {
        if let Some(seg) = self.state().segments.remove(name) {
            seg.task.abort();
            let _ = std::fs::remove_file(&seg.socket);
        }
    }

    async fn attach(
        &mut self,
        node: &str,
        segment: &str,
        nic: &PortNic,
        restored: bool,
    ) -> Result<(), DriverError> {
        let (segment_socket, ports) = self.segment(segment)?;
        let rel = files::attached_nic_socket(node, &nic.id);
        self.record(
            Entry::Nic {
                node: node.to_string(),
                port: nic.id.clone(),
                socket: rel.clone(),
            },
            node,
        )?;
        let hot = HotNic {
            id: nic.id.clone(),
            mac: nic.mac,
            socket: self.dir.join(&rel),
            segment: segment_socket,
        };
        ports.add(hot.socket.clone());
        if !restored && let Err(e) = self.hotplug.attach(node, &hot).await {
            ports.remove(&hot.socket);
            return Err(e);
        }
        self.state().attached.insert(
            nic.id.clone(),
            Attached {
                node: node.to_string(),
                segment: segment.to_string(),
                nic: hot,
            },
        );
        Ok(())
    }

    async fn detach(&mut self, id: &str) -> Result<(), DriverError> {
        let Some(a) = self.state().attached.remove(id) else {
            return Ok(());
        };
        if let Ok((_, ports)) = self.segment(&a.segment) {
            ports.remove(&a.nic.socket);
        }
        self.hotplug.detach(&a.node, &a.nic).await?;
        let _ = std::fs::remove_file(&a.nic.socket);
        Ok(())
    }

    fn set_router(
        &mut self,
        id: &str,
        ports: &[RouterPort],
        routes: Vec<Route>,
    ) -> Result<(), DriverError> {
        self.remove_router(id);
        let mut nics = Vec::new();
        let mut config = Vec::new();
        for p in ports {
            let (segment, _) = self.segment(&p.segment)?;
            let rel = files::router_nic_socket(id, &p.port);
            self.record(Entry::Path { path: rel.clone() }, id)?;
            // Ours (recorded): one a failed start left would refuse the bind.
            let _ = std::fs::remove_file(self.dir.join(&rel));
            nics.push(router::Nic {
                socket: self.dir.join(&rel),
                segment,
            });
            config.push(router::Interface {
                mac: p.mac,
                ip: p.ip,
                prefix: p.prefix,
            });
        }
        let task = router::spawn(router::Router::new(config, routes), &nics).map_err(|e| {
            DriverError::Network {
                what: format!("router {id}"),
                detail: e.to_string(),
            }
        })?;
        let mut joined = Vec::new();
        for (p, n) in ports.iter().zip(nics) {
            if let Ok((_, seg_ports)) = self.segment(&p.segment) {
                seg_ports.add(n.socket.clone());
            }
            joined.push((p.segment.clone(), n.socket));
        }
        self.state()
            .routers
            .insert(id.to_string(), RunningRouter { task, nics: joined });
        Ok(())
    }

    fn remove_router(&mut self, id: &str) {
        let Some(r) = self.state().routers.remove(id) else {
            return;
        };
        r.task.abort();
        for (segment, socket) in r.nics {
            if let Ok((_, ports)) = self.segment(&segment) {
                ports.remove(&socket);
            }
            let _ = std::fs::remove_file(&socket);
        }
    }
}
