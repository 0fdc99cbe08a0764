//! Test harness: every test gets its own `VSTAGE_HOME` and, on drop (also when the test
//! fails), takes down every env in it and kills any process still naming that home.
//! Images and the KVM verdict live in a cache shared by all tests (built once).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Harness {
    pub home: tempfile::TempDir,
    pub cache: PathBuf,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vstage")
}

impl Harness {
    pub fn new() -> Harness {
        let cache = std::env::var_os("VSTAGE_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("vstage-cache"));
        // Short prefix: socket paths must stay under 108 bytes.
        let home = tempfile::Builder::new()
            .prefix("vs")
            .tempdir_in("/tmp")
            .unwrap();
        Harness { home, cache }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .env("VSTAGE_HOME", self.home.path())
            .env("VSTAGE_CACHE", &self.cache)
            .env_remove("VSTAGE_ACCEL");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("vstage runs")
    }

    /// Runs and asserts success, showing vstage's output (and the env's logs) if not.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        if !out.status.success() {
            panic!(
                "vstage {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.logs()
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A real QEMU with `extra` appended to its command line, as a script in this
    /// test's home, for `VSTAGE_QEMU`.
    pub fn qemu_with(&self, name: &str, extra: &str) -> PathBuf {
        let script = self.home.path().join(name);
        std::fs::write(
            &script,
            format!("#!/bin/sh\nexec qemu-system-x86_64 \"$@\" {extra}\n"),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        script
    }

    /// A QEMU whose guest kernel finds no init and hangs after its panic: its console
    /// and agent then stay silent for good.
    pub fn hanging_qemu(&self) -> PathBuf {
        self.qemu_with(
            "qemu-hangs",
            "-append 'console=ttyS0 rdinit=/vstage-no-init panic=0'",
        )
    }

    /// `vstage up -t tiny --name NAME EXTRA...` on [`Harness::hanging_qemu`]: an up
    /// whose guests never become ready.
    pub fn up_hung(&self, name: &str, extra: &[&str]) -> Output {
        let qemu = self.hanging_qemu();
        let mut args = vec!["up", "-t", "tiny", "--name", name];
        args.extend_from_slice(extra);
        self.cmd(&args).env("VSTAGE_QEMU", &qemu).output().unwrap()
    }

    /// Writes `text` as a template file in this test's home; returns its path.
    pub fn template(&self, text: &str) -> String {
        let file = self.home.path().join("template.yaml");
        std::fs::write(&file, text).unwrap();
        file.display().to_string()
    }

    /// A snapshot name of this test's own: snapshots live in the cache all tests share,
    /// and go when the harness does.
    pub fn snapshot_name(&self, base: &str) -> String {
        format!("{base}-{}", self.suffix())
    }

    fn suffix(&self) -> String {
        let id = self.home.path().file_name().unwrap().to_string_lossy();
        id.to_ascii_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "")
    }

    /// `vstage up --from SNAPSHOT --name ENV` for every env at the same time; asserts
    /// that each came up.
    pub fn restore_at_once(&self, snapshot: &str, envs: &[&str]) {
        let children: Vec<_> = envs
            .iter()
            .map(|env| {
                self.cmd(&["up", "--from", snapshot, "--name", env])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}\n{}", stderr(&out), self.logs());
        }
    }

    /// The name of the interface with MAC `mac` in `node` of `env`, once it is there
    /// (`present`), or once it is gone (then empty).
    pub fn wait_for_nic(&self, env: &str, node: &str, mac: &str, present: bool) -> String {
        let find = format!(
            "for d in /sys/class/net/*; do [ \"$(cat $d/address)\" = {mac} ] && echo ${{d##*/}}; done; true"
        );
        let start = std::time::Instant::now();
        loop {
            let name = self.ok(&["exec", env, "--node", node, "--", "sh", "-c", &find]);
            if name.trim().is_empty() != present {
                return name.trim().to_string();
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "{env}/{node}: NIC {mac} present={present} not reached\n{}",
                self.logs()
            );
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    }

    pub fn env_dir(&self, name: &str) -> PathBuf {
        self.home.path().join("envs").join(name)
    }

    /// Supervisor logs of every env, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        if let Ok(entries) = std::fs::read_dir(self.home.path().join("envs")) {
            for e in entries.flatten() {
                let log =
                    std::fs::read_to_string(e.path().join("supervisor.log")).unwrap_or_default();
                s.push_str(&format!("--- {} supervisor.log\n{log}", e.path().display()));
            }
        }
        s
    }

    /// The pid env `name`'s journal records for its supervisor, once it has one.
    pub fn supervisor_pid(&self, name: &str) -> Option<i32> {
        let journal = std::fs::read_to_string(self.env_dir(name).join("journal.jsonl")).ok()?;
        journal
            .lines()
            .find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                (v["kind"] == "pid" && v["name"] == "supervisor").then(|| v["pid"].as_i64())?
            })
            .map(|p| p as i32)
    }

    /// Whether env `name` runs, ready, with no owner left: its `up` handed it over.
    pub fn released(&self, name: &str) -> bool {
        let out = self.run(&["status", name, "--output", "json"]);
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
            return false;
        };
        let status = &json["status"];
        status["phase"] == "ready" && status["owner_pid"].is_null()
    }

    /// Pids of live processes whose command line mentions `needle`.
    pub fn processes_mentioning(needle: &str) -> Vec<i32> {
        let mut pids = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) {
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                if cmdline.contains(needle) && pid != std::process::id() as i32 {
                    pids.push(pid);
                }
            }
        }
        pids
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(self.home.path().join("envs")) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let _ = self.cmd(&["down", "--force", &name]).output();
            }
        }
        let suffix = format!("-{}", self.suffix());
        if let Ok(out) = self.cmd(&["snapshot", "ls", "-o", "json"]).output()
            && let Ok(rows) = serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout)
        {
            for name in rows.iter().filter_map(|r| r["name"].as_str()) {
                if name.ends_with(&suffix) {
                    let _ = self.cmd(&["snapshot", "rm", name]).output();
                }
            }
        }
        // Belt and braces: nothing this test started may outlive it.
        let home = self.home.path().display().to_string();
        for pid in Harness::processes_mentioning(&home) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// Two tiny nodes with the auth and SDN clones: the env's fabric follows the SDN API.
pub const FABRIC: &str = "apiVersion: vstage/v1
name: fabric
networks: [{name: net0, cidr: 10.0.0.0/24}]
nodes:
  - {name: n1, image: tiny, nics: [{network: net0}]}
  - {name: n2, image: tiny, nics: [{network: net0}]}
services:
  auth: {clone: keystone}
  sdn: {clone: neutron}
";

/// A template of tiny nodes `n1`, `n2`, ... on one network, with the auth clone.
pub fn tiny_with_auth(nodes: usize) -> String {
    let mut t = String::from(
        "apiVersion: vstage/v1\nname: tinyauth\nnetworks:\n  - name: net0\n    cidr: 10.0.0.0/24\nnodes:\n",
    );
    for i in 1..=nodes {
        t.push_str(&format!(
            "  - name: n{i}\n    image: tiny\n    nics: [{{network: net0}}]\n"
        ));
    }
    t.push_str("services:\n  auth:\n    clone: keystone\n");
    t
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What a Tempest run reported.
pub struct TempestRun {
    pub ok: bool,
    pub passed: u32,
    pub failed: u32,
    /// One line per test and the totals, for assertion messages.
    pub summary: String,
}

/// Runs Tempest in a workspace of its own under `dir` (its workspace registry too: it
/// lives under $HOME) with `conf` as tempest.conf.
pub fn tempest(dir: &Path, conf: &str, regex: &str, exclude: Option<&str>) -> TempestRun {
    let ws = dir.join("ws");
    // `tempest init` writes tempest.log into its working directory: never the repository.
    let init = Command::new("tempest")
        .arg("init")
        .arg(&ws)
        .current_dir(dir)
        .env("HOME", dir)
        .output()
        .expect("tempest is installed: run `make setup`");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    std::fs::write(ws.join("etc/tempest.conf"), conf).unwrap();
    let mut cmd = Command::new("tempest");
    cmd.args(["run", "--serial", "--regex", regex]);
    if let Some(x) = exclude {
        cmd.args(["--exclude-regex", x]);
    }
    // Upstream's SubnetsClient, without Debian's ten seconds per subnet delete
    // (ci/tempest-upstream/sitecustomize.py).
    let out = cmd
        .current_dir(&ws)
        .env("HOME", dir)
        .env(
            "PYTHONPATH",
            concat!(env!("CARGO_MANIFEST_DIR"), "/ci/tempest-upstream"),
        )
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let count = |label: &str| -> u32 {
        text.lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(label)
                    .map(|n| n.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0)
    };
    // Shown with --nocapture, for notes and comparisons between runs.
    println!(
        "tempest {regex}: passed={} failed={} skipped={}",
        count("- Passed:"),
        count("- Failed:"),
        count("- Skipped:")
    );
    TempestRun {
        ok: out.status.success(),
        passed: count("- Passed:"),
        failed: count("- Failed:"),
        summary: text
            .lines()
            .filter(|l| l.contains("... ") || l.trim_start().starts_with("- "))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// A free TCP port on loopback, for a clone to listen on.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher as _, Hasher as _};
    // RandomState: randomly keyed per process, a new key each time.
    // Below the kernel's ephemeral range (32768 up): a port the kernel hands out for
    // `bind(0)` or an outgoing connection (other tests, envs' forwarded ports) would be
    // taken between this check and the caller's bind; one drawn here rarely is.
    loop {
        let draw = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let port = 20000 + (draw % 12768) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The processes a test started (clones), killed and reaped when it ends, pass or fail.
pub struct Children(pub Vec<std::process::Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `vstage clone ...` in the background: its first line ends with the URL it listens on.
pub fn spawn_clone(args: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead as _;
    let mut child = Command::new(bin())
        .arg("clone")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("vstage runs");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .filter(|u| u.starts_with("http://"))
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    (child, url)
}

/// One HTTP request to `base` + `path`, through the clones' own client
/// (`vstage::clone::http`); returns (status, header block, body).
pub fn http(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, head, body) = runtime
        .block_on(vstage::clone::http::request(
            method, base, path, headers, body,
        ))
        .unwrap_or_else(|e| panic!("{method} {base}{path}: {e}"));
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

/// `openstack --os-cloud CLOUD ARGS` (python3-openstackclient) with `clouds`.
pub fn openstack(clouds: &Path, cloud: &str, args: &[&str]) -> Output {
    Command::new("openstack")
        .arg("--os-cloud")
        .arg(cloud)
        .args(args)
        .env("OS_CLIENT_CONFIG_FILE", clouds)
        .output()
        .expect("openstack (python3-openstackclient) is installed: run `make setup`")
}

/// As [`openstack`], asserting success; its stdout.
pub fn osc_ok(clouds: &Path, cloud: &str, args: &[&str]) -> String {
    let out = openstack(clouds, cloud, args);
    assert!(
        out.status.success(),
        "openstack {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
