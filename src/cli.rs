//! Command-line flags (clap derive). Turning them into settings happens in `main.rs`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  failure (an env did not come up, a guest did not answer, ...)
  2  bad input: template errors (with file:line:column), flags, names
  3  environment not found
  124  vstage run: the command ran out of its --timeout (the env was taken down)
  125  vstage run: the env did not come up (the command never ran)
  130  `up` or `run` interrupted (Ctrl-C or SIGTERM): the env was taken down
  vstage exec and vstage run pass the command's own exit code through.

State lives under $VSTAGE_HOME (default $XDG_STATE_HOME/vstage or ~/.local/state/vstage);
images and probe results under $VSTAGE_CACHE (default $XDG_CACHE_HOME/vstage or ~/.cache/vstage).";

#[derive(Parser, Debug)]
#[command(name = "vstage", version, about = "Throwaway OpenStack-on-QEMU staging topologies from templates", after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Bring an environment up from a template and wait until every node is ready.
    Up(UpArgs),
    /// List environments: state, age, TTL left, labels.
    Ls(LsArgs),
    /// Bring an env up, run a command on the host against it, and always tear it down;
    /// exits with the command's code (see the exit codes below).
    Run(RunArgs),
    /// Move an env's end (its TTL) later by DURATION.
    Extend {
        env: String,
        #[arg(value_parser = humantime::parse_duration)]
        by: Duration,
    },
    /// Remove expired and broken envs, logs of failed envs older than a week, images
    /// no recipe makes any more that no env boots from, and expired snapshots no env
    /// was restored from.
    Gc {
        /// Say what would go, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Every env with the labels, running or not (a closed pull request's).
        #[arg(long, requires = "labels")]
        all: bool,
        /// Only envs with this label (repeatable: all must match).
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
    },
    /// An env's timeline: one line per event, with its time.
    Events {
        env: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// An env's logs: the supervisor's, or a node's serial console.
    Logs {
        env: String,
        node: Option<String>,
        /// Keep printing what is appended, until the env is gone or Ctrl-C.
        #[arg(short, long)]
        follow: bool,
    },
    /// Shell completions for bash, zsh or fish, on stdout.
    Completions { shell: clap_complete::Shell },
    /// Write a man page per verb into DIR (what `make install` installs).
    #[command(name = "__man", hide = true)]
    Man { dir: PathBuf },
    /// Show one environment and its nodes.
    Status {
        env: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Run a command on the host with the env's hand-off variables, or in a node.
    Exec {
        env: String,
        /// Run inside this node (through its guest agent) instead of on the host.
        #[arg(long)]
        node: Option<String>,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Make the env's mounts live after their host directories changed: run each
    /// changed mount's install and restart its units, in the running nodes.
    Sync {
        env: String,
        /// Only this node's mounts.
        #[arg(long)]
        node: Option<String>,
        /// Install and restart also what did not change.
        #[arg(long)]
        force: bool,
    },
    /// SSH into a node (cloud-init images), or run CMD there over SSH.
    Ssh {
        env: String,
        node: String,
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Tear an environment down: stop its guests and remove every trace.
    Down {
        env: String,
        /// Skip the graceful guest shutdown.
        #[arg(long)]
        force: bool,
    },
    /// Print the plan a template gives (nodes, addresses, MACs, files), without IO.
    Plan(TemplateArgs),
    /// Check this host: QEMU, images, and whether KVM really runs guests.
    Doctor {
        /// Probe KVM again instead of using the cached verdict.
        #[arg(long)]
        refresh: bool,
    },
    /// Build and list guest images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Run a clone of another team's service on its own, outside any env.
    #[command(subcommand)]
    Clone(CloneCommand),
    /// Snapshot a whole running env (every node's memory and disk, the clones' state)
    /// and list, inspect or remove snapshots; `up --from NAME` resumes one.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Internal: the per-env supervisor process.
    #[command(name = "__supervise", hide = true)]
    Supervise { dir: PathBuf },
    /// Internal: joins stdin/stdout to a unix socket (QEMU's guestfwd to a clone).
    #[command(name = "__connect", hide = true)]
    Connect {
        /// The node's connection slots (see `clone::CONNECTIONS_PER_NODE`).
        #[arg(long)]
        slots: Option<PathBuf>,
        socket: PathBuf,
    },
}

#[derive(Args, Debug)]
pub struct TemplateArgs {
    /// A template file, or the name of a built-in template (e.g. `tiny`).
    #[arg(short, long, default_value = "tiny")]
    pub template: String,
    /// Override a template parameter (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// What runs the nodes (default: the template's `driver:`, else qemu).
    #[arg(long, value_name = "NAME")]
    pub driver: Option<String>,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Only envs with this label (repeatable: all must match).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Only envs in this state (creating, ready, degraded, failed, stopping, broken, expired).
    #[arg(long)]
    pub state: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What `up` and `run` share: the env, its life and its labels.
#[derive(Args, Debug)]
pub struct EnvArgs {
    #[command(flatten)]
    pub template: TemplateArgs,
    /// Resume a snapshot (`vstage snapshot create`) as a new env instead of booting a
    /// template: ready in seconds, identical inside, its own outside.
    #[arg(long, value_name = "SNAPSHOT", conflicts_with_all = ["template", "sets", "driver"])]
    pub from: Option<String>,
    /// With --from: the host directory behind the snapshot's mounts at guest path
    /// TARGET (repeatable), e.g. `--mount /opt/vstage/src/nova=.`; what changed since
    /// the snapshot is installed before the env is ready.
    #[arg(long = "mount", value_name = "TARGET=DIR")]
    pub mounts: Vec<String>,
    /// Env name (`up`: template name plus the git branch; `run`: from the CI's job or
    /// pull request variables, else the branch, with a random suffix).
    #[arg(long)]
    pub name: Option<String>,
    /// A label for `ls`/`gc` to select by (repeatable), e.g. pr=123.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Tear the env down by itself after this long, e.g. 2h (default: the host's
    /// `default_ttl` in $VSTAGE_HOME/config.yaml or $VSTAGE_DEFAULT_TTL, else never).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub ttl: Option<Duration>,
    /// On failure, leave the env running for inspection instead of rolling it back; with
    /// a DURATION, for that long (its TTL from the failure).
    #[arg(long, value_name = "DURATION", num_args = 0..=1,
          value_parser = humantime::parse_duration)]
    pub keep_on_failure: Option<Option<Duration>>,
    /// A node with no console output and no agent answer for this long is taken as hung
    /// and fails the bring-up (default: 120s under TCG, 60s under KVM).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub stall_timeout: Option<Duration>,
    /// When the host has no room for the env (memory, guests per core; limits in
    /// $VSTAGE_HOME/config.yaml), wait this long for it, first come first served,
    /// instead of failing at once.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub wait_for_capacity: Option<Duration>,
}

#[derive(Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Ceiling for the whole bring-up, e.g. 15m (default: 10 min + 5 min per node under
    /// TCG, 2 min + 30 s per node under KVM). Nodes that keep making progress may use it
    /// all.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Ceiling for the bring-up (as `up --timeout`).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub up_timeout: Option<Duration>,
    /// Stop the command after this long (exit 124).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// Write a JUnit XML file: one test case per phase (up, test, down).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// JUnit XML the command wrote itself (e.g. Tempest's), merged into --junit.
    #[arg(long, value_name = "FILE", requires = "junit")]
    pub junit_from: Option<PathBuf>,
    /// Collect logs, the plan, the timeline and timings here, whatever happens.
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,
    /// The command, run on the host with the env's hand-off variables.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct OutputArgs {
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Output {
    Table,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum SnapshotCommand {
    /// Pause every node of ENV, save the env as snapshot NAME, and let it run on.
    Create {
        env: String,
        name: String,
        /// Leave the env's nodes stopped afterwards instead of running on.
        #[arg(long)]
        stop: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// List snapshots: source, age, expiry, disk use, envs restored from each.
    Ls(OutputArgs),
    /// Show one snapshot's manifest.
    Inspect {
        name: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Remove snapshots (refused while an env restored from one exists).
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Build an image (or all) into the cache, unless its recipe is already built.
    Build {
        name: Option<String>,
        #[arg(long, conflicts_with = "name")]
        all: bool,
        /// Rebuild even if the cache has this recipe.
        #[arg(long)]
        force: bool,
        /// With `json`: per image, its hash and the package versions that changed.
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// List built images.
    Ls(OutputArgs),
    /// Remove built images (NAME for the current build, NAME-HASH or HASH for any).
    Rm {
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Remove every built image no recipe of this vstage makes any more.
    Prune,
    /// Which package versions differ between two built images.
    Diff { a: String, b: String },
}

#[derive(Subcommand, Debug)]
pub enum CloneCommand {
    /// The identity clone: OpenStack Identity API v3, as real clients use it.
    Auth {
        /// Address to listen on (port 0 picks a free one; the URL is printed).
        #[arg(long, default_value = "127.0.0.1:5000")]
        listen: std::net::SocketAddr,
        /// Seed config (YAML: region, projects, roles, users, catalog); default: an
        /// `admin` and a `demo` user with random passwords.
        #[arg(long)]
        config: Option<PathBuf>,
        /// State directory (default: $VSTAGE_HOME/clones/auth); `clouds.yaml` is written here.
        #[arg(long)]
        state: Option<PathBuf>,
        /// URL clients reach the clone at, if not the listen address.
        #[arg(long)]
        public_url: Option<String>,
    },
    /// The network clone: OpenStack Networking API v2.0 (state in memory).
    Sdn {
        #[arg(long, default_value = "127.0.0.1:9696")]
        listen: std::net::SocketAddr,
        /// The identity service that vouches for tokens (the auth clone or a real one).
        #[arg(long)]
        auth_url: String,
        /// An extension alias to advertise (repeatable; default: none).
        #[arg(long = "extension")]
        extensions: Vec<String>,
        /// Keep bound ports DOWN until Nova (the catalog's compute endpoint) has been sent
        /// `network-vif-plugged`, as this admin user: USER:PASSWORD:PROJECT.
        #[arg(long, value_name = "USER:PASSWORD:PROJECT")]
        vif_plugged_event: Option<String>,
    },
}
