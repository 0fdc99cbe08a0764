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
  130  `up` interrupted (Ctrl-C or SIGTERM): the env was taken down
  vstage exec passes the command's own exit code through.

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
    /// List environments.
    Ls(OutputArgs),
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
}

#[derive(Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub template: TemplateArgs,
    /// Env name (default: template name plus the current git branch).
    #[arg(long)]
    pub name: Option<String>,
    /// On failure, leave the env running for inspection instead of rolling it back.
    #[arg(long)]
    pub keep_on_failure: bool,
    /// Ceiling for the whole bring-up, e.g. 15m (default: 10 min + 5 min per node under
    /// TCG, 2 min + 30 s per node under KVM). Nodes that keep making progress may use it
    /// all.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// A node with no console output and no agent answer for this long is taken as hung
    /// and fails `up` (default: 120s under TCG, 60s under KVM).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub stall_timeout: Option<Duration>,
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
pub enum ImageCommand {
    /// Build an image (or all) into the cache, unless its recipe is already built.
    Build {
        name: Option<String>,
        #[arg(long, conflicts_with = "name")]
        all: bool,
        /// Rebuild even if the cache has this recipe.
        #[arg(long)]
        force: bool,
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
