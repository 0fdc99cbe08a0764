//! Drivers register with one line in `driver/mod.rs`: `"name" => Variant(module::Type)`.
//! From that list this makes what the rest of vstage uses to name and reach a driver
//! without knowing which it is: [`DriverKind`](super::DriverKind) (what `env.json`
//! records), `open`, `guest`, `host_logs`, `check_paths`, and the enums `EnvDriver`,
//! `EnvGuest` and `EnvNetwork` that delegate each call to the env's driver.
//!
//! What a registered driver provides: `Type: Driver` with `Type::open(&Setup,
//! Recorder)`, and in its module `FEATURES`, `guest(dir, node)` (the guest handle from
//! the env's files alone), `host_logs(node)` and `check_paths(dir, plan)`.

macro_rules! drivers {
    ($($name:literal => $Variant:ident($module:ident :: $Type:ident)),+ $(,)?) => {
        /// The drivers this build has.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum DriverKind {
            $(#[serde(rename = $name)] $Variant,)+
        }

        impl DriverKind {
            pub const ALL: &'static [DriverKind] = &[$(DriverKind::$Variant),+];

            pub fn name(self) -> &'static str {
                match self {
                    $(DriverKind::$Variant => $name,)+
                }
            }

            pub fn named(name: &str) -> Option<DriverKind> {
                DriverKind::ALL.iter().copied().find(|k| k.name() == name)
            }

            pub fn features(self) -> Features {
                match self {
                    $(DriverKind::$Variant => $module::FEATURES,)+
                }
            }
        }

        /// The first registered: what an env whose `env.json` names none runs on.
        impl Default for DriverKind {
            fn default() -> DriverKind {
                DriverKind::ALL[0]
            }
        }

        /// Opens the env's driver.
        pub fn open(setup: &Setup<'_>, journal: Recorder) -> Result<EnvDriver, DriverError> {
            match setup.kind {
                $(DriverKind::$Variant => {
                    Ok(EnvDriver::$Variant($module::$Type::open(setup, journal)?))
                })+
            }
        }

        /// A node's guest, from the env's files alone (for verbs, which run outside
        /// the supervisor).
        pub fn guest(kind: DriverKind, dir: &EnvDir, node: &NodePlan) -> EnvGuest {
            match kind {
                $(DriverKind::$Variant => EnvGuest::$Variant($module::guest(dir, node)),)+
            }
        }

        /// Host-side files a node's driver writes that are worth keeping when the env
        /// ends (its console, its hypervisor's complaints): (path in the env dir, name
        /// under the artifacts). They outlive the node, so a failed `up` keeps them.
        pub fn host_logs(kind: DriverKind, node: &NodePlan) -> Vec<(String, String)> {
            match kind {
                $(DriverKind::$Variant => $module::host_logs(node),)+
            }
        }

        /// Checks before anything exists that the paths the env's driver will use are
        /// usable (sockets fit `sun_path`); says which and why not.
        pub fn check_paths(
            kind: DriverKind,
            dir: &EnvDir,
            plan: &crate::plan::Plan,
        ) -> Result<(), crate::envdir::PathError> {
            match kind {
                $(DriverKind::$Variant => $module::check_paths(dir, plan),)+
            }
        }

        /// The env's driver, whichever it is: delegates to it.
        pub enum EnvDriver {
            $($Variant($module::$Type),)+
        }

        /// A node's guest, whichever the driver.
        pub enum EnvGuest {
            $($Variant(<$module::$Type as Driver>::Guest),)+
        }

        /// The env's networks, whichever the driver.
        pub enum EnvNetwork {
            $($Variant(<$module::$Type as Driver>::Network),)+
        }

        impl Driver for EnvDriver {
            type Guest = EnvGuest;
            type Network = EnvNetwork;

            async fn boot(&mut self, node: &NodePlan, access: &Access) -> Result<(), DriverError> {
                match self {
                    $(EnvDriver::$Variant(d) => d.boot(node, access).await,)+
                }
            }
            async fn wait_ready(
                &mut self,
                node: &NodePlan,
                deadline: Instant,
                stall: Duration,
            ) -> Result<(), DriverError> {
                match self {
                    $(EnvDriver::$Variant(d) => d.wait_ready(node, deadline, stall).await,)+
                }
            }
            async fn stop(&mut self, nodes: &[NodePlan], graceful: Duration) {
                match self {
                    $(EnvDriver::$Variant(d) => d.stop(nodes, graceful).await,)+
                }
            }
            fn close(&mut self) {
                match self {
                    $(EnvDriver::$Variant(d) => d.close(),)+
                }
            }
            fn discard(&mut self, node: &NodePlan) -> Result<(), DriverError> {
                match self {
                    $(EnvDriver::$Variant(d) => d.discard(node),)+
                }
            }
            fn state(&mut self, node: &str) -> NodeState {
                match self {
                    $(EnvDriver::$Variant(d) => d.state(node),)+
                }
            }
            fn pid(&self, node: &str) -> Option<i32> {
                match self {
                    $(EnvDriver::$Variant(d) => d.pid(node),)+
                }
            }
            async fn pause(&mut self, nodes: &[NodePlan]) -> Result<(), DriverError> {
                match self {
                    $(EnvDriver::$Variant(d) => d.pause(nodes).await,)+
                }
            }
            async fn save(
                &mut self,
                nodes: &[NodePlan],
                into: &Path,
            ) -> Result<Vec<SavedNode>, DriverError> {
                match self {
                    $(EnvDriver::$Variant(d) => d.save(nodes, into).await,)+
                }
            }
            async fn resume(&mut self, nodes: &[NodePlan]) -> Result<(), DriverError> {
                match self {
                    $(EnvDriver::$Variant(d) => d.resume(nodes).await,)+
                }
            }
            fn guest(&self, node: &NodePlan) -> EnvGuest {
                match self {
                    $(EnvDriver::$Variant(d) => EnvGuest::$Variant(d.guest(node)),)+
                }
            }
            fn network(&self) -> EnvNetwork {
                match self {
                    $(EnvDriver::$Variant(d) => EnvNetwork::$Variant(d.network()),)+
                }
            }
            fn expose(&self, service: &crate::plan::ServicePlan) -> Exposed {
                match self {
                    $(EnvDriver::$Variant(d) => d.expose(service),)+
                }
            }
        }

        impl Guest for EnvGuest {
            async fn exec(
                &self,
                argv: &[String],
                out: &mut dyn std::io::Write,
                err: &mut dyn std::io::Write,
            ) -> Result<i32, GuestError> {
                match self {
                    $(EnvGuest::$Variant(g) => g.exec(argv, out, err).await,)+
                }
            }
            async fn ping(&self, bound: Duration) -> bool {
                match self {
                    $(EnvGuest::$Variant(g) => g.ping(bound).await,)+
                }
            }
            async fn console(&self, from: u64, max: usize) -> Result<Console, GuestError> {
                match self {
                    $(EnvGuest::$Variant(g) => g.console(from, max).await,)+
                }
            }
            async fn output(&self, argv: &[String], bound: Duration) -> Result<Ran, GuestError> {
                match self {
                    $(EnvGuest::$Variant(g) => g.output(argv, bound).await,)+
                }
            }
            async fn copy_out(
                &self,
                path: &str,
                max: usize,
                bound: Duration,
            ) -> Result<Vec<u8>, GuestError> {
                match self {
                    $(EnvGuest::$Variant(g) => g.copy_out(path, max, bound).await,)+
                }
            }
        }

        impl Network for EnvNetwork {
            fn add_segment(&mut self, name: &str) -> Result<(), DriverError> {
                match self {
                    $(EnvNetwork::$Variant(n) => n.add_segment(name),)+
                }
            }
            fn remove_segment(&mut self, name: &str) {
                match self {
                    $(EnvNetwork::$Variant(n) => n.remove_segment(name),)+
                }
            }
            async fn attach(
                &mut self,
                node: &str,
                segment: &str,
                nic: &PortNic,
                restored: bool,
            ) -> Result<(), DriverError> {
                match self {
                    $(EnvNetwork::$Variant(n) => n.attach(node, segment, nic, restored).await,)+
                }
            }
            async fn detach(&mut self, id: &str) -> Result<(), DriverError> {
                match self {
                    $(EnvNetwork::$Variant(n) => n.detach(id).await,)+
                }
            }
            fn set_router(
                &mut self,
                id: &str,
                ports: &[RouterPort],
                routes: Vec<Route>,
            ) -> Result<(), DriverError> {
                match self {
                    $(EnvNetwork::$Variant(n) => n.set_router(id, ports, routes),)+
                }
            }
            fn remove_router(&mut self, id: &str) {
                match self {
                    $(EnvNetwork::$Variant(n) => n.remove_router(id),)+
                }
            }
        }
    };
}

pub(super) use drivers;
