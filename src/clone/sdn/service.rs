//! The SDN clone's state behind its lock: every change is written through to the env's
//! directory (so a copy of it is the service, for snapshots), and what changed in the
//! fabric (networks, bound ports, routers) or which VIFs appeared goes to the
//! supervisor when the lock is released.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use tokio::sync::mpsc::UnboundedSender;

use super::FabricEvent;
use super::model::State;
use super::token::Validator;
use crate::net::Mac;

pub struct Service {
    state: Mutex<State>,
    pub(super) validator: Validator,
    /// Where changes to the fabric go (the env's supervisor), if anywhere.
    fabric: Option<UnboundedSender<FabricEvent>>,
    /// Newly plugged VIFs to tell Nova about, in event mode.
    plugged: Option<UnboundedSender<super::notify::Plugged>>,
    /// Extension aliases `GET /v2.0/extensions` advertises.
    pub extensions: Vec<String>,
    pub public_url: String,
    /// Where the state is written through after every change (inside an env), so that
    /// a copy of the directory is the service (snapshots).
    store: Option<std::path::PathBuf>,
}

impl Service {
    pub fn new(
        state: State,
        validator: Validator,
        extensions: Vec<String>,
        public_url: String,
        fabric: Option<UnboundedSender<FabricEvent>>,
        plugged: Option<UnboundedSender<super::notify::Plugged>>,
        store: Option<std::path::PathBuf>,
    ) -> Service {
        Service {
            state: Mutex::new(state),
            validator,
            fabric,
            plugged,
            extensions,
            public_url,
            store,
        }
    }

    pub(super) fn lock(&self) -> Locked<'_> {
        let guard = self.state.lock().expect("sdn state lock");
        let watched = self.fabric.is_some() || self.plugged.is_some();
        let before = watched.then(|| Fabric::of(&guard));
        Locked {
            guard,
            fabric: self.fabric.as_ref(),
            plugged: self.plugged.as_ref(),
            before,
            store: self.store.as_deref(),
            changed: false,
        }
    }
}

/// What the fabric cares about: which networks exist and where ports are bound.
#[derive(PartialEq)]
struct Fabric {
    networks: BTreeSet<String>,
    /// port id -> (host, network id, MAC), of ports that give their node a NIC
    bound: BTreeMap<String, (String, String, Mac)>,
    /// port id -> host, of servers' ports whose VIF their host's L2 agent has seen:
    /// each new one is a VIF Nova may wait for.
    plugged: BTreeMap<String, String>,
    routers: BTreeMap<String, super::routers::InFabric>,
}

impl Fabric {
    fn of(st: &State) -> Fabric {
        Fabric {
            networks: st.networks.keys().cloned().collect(),
            bound: st
                .ports
                .values()
                .filter(|p| p.plugs_a_nic())
                .map(|p| {
                    (
                        p.id.clone(),
                        (p.host_id.clone(), p.network_id.clone(), p.mac),
                    )
                })
                .collect(),
            plugged: st
                .ports
                .values()
                .filter(|p| p.plugged && !p.host_id.is_empty() && !p.plugs_a_nic())
                .map(|p| (p.id.clone(), p.host_id.clone()))
                .collect(),
            routers: st.routers_in_fabric(),
        }
    }

    /// VIFs plugged, or plugged elsewhere, since `self`.
    fn newly_plugged<'a>(
        &'a self,
        after: &'a Fabric,
    ) -> impl Iterator<Item = (&'a String, &'a String)> {
        after
            .plugged
            .iter()
            .filter(|(id, host)| self.plugged.get(*id) != Some(*host))
    }

    /// The events that turn `self` into `after`, in an order the supervisor can follow.
    fn changes(&self, after: &Fabric) -> Vec<FabricEvent> {
        let mut events: Vec<FabricEvent> = after
            .networks
            .difference(&self.networks)
            .map(|id| FabricEvent::NetworkCreated { id: id.clone() })
            .collect();
        for (id, (host, net, mac)) in &self.bound {
            if after.bound.get(id) != Some(&(host.clone(), net.clone(), *mac)) {
                events.push(FabricEvent::PortUnbound {
                    id: id.clone(),
                    host: host.clone(),
                });
            }
        }
        for (id, (host, net, mac)) in &after.bound {
            if self.bound.get(id) != Some(&(host.clone(), net.clone(), *mac)) {
                events.push(FabricEvent::PortBound {
                    id: id.clone(),
                    network_id: net.clone(),
                    host: host.clone(),
                    mac: *mac,
                });
            }
        }
        for id in self.routers.keys() {
            if !after.routers.contains_key(id) {
                events.push(FabricEvent::RouterDeleted { id: id.clone() });
            }
        }
        for (id, now @ (interfaces, routes)) in &after.routers {
            if self.routers.get(id) != Some(now) {
                events.push(FabricEvent::RouterSet {
                    id: id.clone(),
                    interfaces: interfaces.clone(),
                    routes: routes.clone(),
                });
            }
        }
        events.extend(
            self.networks
                .difference(&after.networks)
                .map(|id| FabricEvent::NetworkDeleted { id: id.clone() }),
        );
        events
    }
}

/// The state, locked; on release, what changed in the fabric goes to the supervisor.
pub(super) struct Locked<'a> {
    guard: std::sync::MutexGuard<'a, State>,
    fabric: Option<&'a UnboundedSender<FabricEvent>>,
    plugged: Option<&'a UnboundedSender<super::notify::Plugged>>,
    before: Option<Fabric>,
    store: Option<&'a std::path::Path>,
    /// Borrowed mutably: written through on release.
    changed: bool,
}

impl std::ops::Deref for Locked<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.guard
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        self.changed = true;
        &mut self.guard
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if self.changed {
            self.guard.forget_tags_of_the_gone();
            self.guard.forget_networks_of_the_gone();
        }
        if let (Some(path), true) = (self.store, self.changed)
            && let Err(e) = super::save(path, &self.guard)
        {
            eprintln!("sdn clone: writing {}: {e}", path.display());
        }
        let Some(before) = &self.before else { return };
        let after = Fabric::of(&self.guard);
        if let Some(tx) = self.plugged {
            for (id, host) in before.newly_plugged(&after) {
                if let Some(port) = self.guard.ports.get(id) {
                    let _ = tx.send(super::notify::Plugged {
                        port: id.clone(),
                        server: port.device_id.clone(),
                        host: host.clone(),
                    });
                }
            }
        }
        if let Some(tx) = self.fabric {
            for event in before.changes(&after) {
                let _ = tx.send(event);
            }
        }
    }
}
