//! The env journal: one JSON line per resource, appended (and synced) *before* the
//! resource is created, so a teardown after any crash knows everything there is to undo.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Entry {
    /// A file or socket at this path (relative to the env dir or absolute).
    Path { path: String },
    /// A process about to be started; `argv` is a run of its command line's elements,
    /// equal element by element, that no other env's process has.
    Process { name: String, argv: Vec<String> },
    /// The pid of a process recorded above, with what tells it from a later process
    /// that the kernel gives the same pid: its start time and the host's boot.
    Pid {
        name: String,
        pid: i32,
        #[serde(default)]
        started: Option<Started>,
        /// It leads a process group of its own (a host gate's shell): the group goes
        /// with it, and the process is told by its start alone, as it may have `exec`ed.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        group: bool,
    },
    /// A host TCP port the env listens on. Recorded right after the bind (the kernel
    /// picks it); the supervisor's exit frees it, so no cleanup can be owed for it.
    Port { name: String, port: u16 },
    /// A NIC hot-plugged into a running node for a port of the network service: the
    /// device goes with the node's process; its host-side socket (in the env dir) is
    /// removed like a path.
    Nic {
        node: String,
        port: String,
        socket: String,
    },
    /// A resource a driver made and knows by `id` (a server on a cloud): the driver
    /// undoes it (`driver::undo`), so teardown and crash cleanup reach it like a path.
    Driver {
        driver: String,
        resource: String,
        id: String,
    },
}

/// When a process started: clock ticks after boot (`/proc/PID/stat` field 22) in one
/// boot of the host (`boot_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    pub ticks: u64,
    pub boot: String,
}

impl Started {
    /// The start of `pid` as the kernel reports it now, if it runs.
    pub fn of(pid: i32) -> Option<Started> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name (field 2) may hold spaces and parentheses: count after its end.
        let after = &stat[stat.rfind(')')? + 1..];
        let ticks = after.split_whitespace().nth(19)?.parse().ok()?;
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        Some(Started {
            ticks,
            boot: boot.trim().to_string(),
        })
    }
}

impl Entry {
    /// The pid entry of a process just spawned, with its start read now.
    pub fn pid(name: impl Into<String>, pid: i32) -> Entry {
        Entry::Pid {
            name: name.into(),
            pid,
            started: Started::of(pid),
            group: false,
        }
    }

    /// The pid entry of a process just spawned as the leader of its own group.
    pub fn group(name: impl Into<String>, pid: i32) -> Entry {
        Entry::Pid {
            name: name.into(),
            pid,
            started: Started::of(pid),
            group: true,
        }
    }
}

pub struct Journal {
    file: File,
    path: PathBuf,
}

impl Journal {
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Journal {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn record(&mut self, entry: &Entry) -> std::io::Result<()> {
        let mut line = serde_json::to_string(entry).map_err(std::io::Error::other)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.sync_data()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The env's journal as everything that creates resources shares it (actions, the
/// driver, the fabric's task): each records an entry before it creates.
#[derive(Clone)]
pub struct Recorder(Arc<Mutex<Journal>>);

impl Recorder {
    pub fn new(journal: Journal) -> Recorder {
        Recorder(Arc::new(Mutex::new(journal)))
    }

    /// Appends and syncs `entry`. A panic while the journal was held leaves it as it
    /// was on disk, so the lock's poison is no reason to stop recording.
    pub fn record(&self, entry: &Entry) -> std::io::Result<()> {
        let mut journal = self.0.lock().unwrap_or_else(|p| p.into_inner());
        journal.record(entry)
    }
}

/// Reads every entry; a torn last line (crash mid-write) is skipped.
pub fn read(path: &Path) -> std::io::Result<Vec<Entry>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect())
}

/// A process the journal knows: its identifying argv and its last recorded pid.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub name: String,
    pub argv: Vec<String>,
    pub pid: Option<(i32, Option<Started>)>,
    /// Leads a process group of its own (`Entry::Pid`'s `group`).
    pub group: bool,
}

impl Recorded {
    /// Whether the recorded pid is alive and still this process: same argv elements,
    /// same start. A pid the kernel gave to another process since never matches.
    pub fn is_running(&self) -> bool {
        let Some((pid, started)) = &self.pid else {
            return false;
        };
        if *pid <= 0 {
            return false;
        }
        if let (true, Some(s)) = (self.group, started) {
            return Started::of(*pid).as_ref() == Some(s);
        }
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            return false;
        };
        let elements: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let wanted: Vec<&[u8]> = self.argv.iter().map(|a| a.as_bytes()).collect();
        let argv_matches = !wanted.is_empty()
            && elements
                .windows(wanted.len())
                .any(|w| w == wanted.as_slice());
        argv_matches
            && match started {
                Some(s) => Started::of(*pid).as_ref() == Some(s),
                // The process ended before its start could be read: argv alone.
                None => true,
            }
    }
}

/// What undoing the journal did, and what it could not.
#[derive(Debug, Default)]
pub struct Undone {
    pub killed: usize,
    pub removed: usize,
    /// Paths the journal names outside the env dir: recorded by mistake or planted,
    /// never removed.
    pub refused: Vec<String>,
    pub failed: Vec<String>,
}

/// How a driver's own resources are undone (`driver::undo`): by driver, resource and id;
/// `Ok(false)` for one that was gone.
pub type UndoDriven<'a> = &'a dyn Fn(&str, &Path, &str, &str) -> std::io::Result<bool>;

/// Undoes what the journal in `dir` records, newest first: a process that is still the
/// env's is killed (a process is recorded after the files it uses, so it goes before
/// them), a file, socket or directory inside `dir` is removed, a driver's resource is
/// undone by its driver (`driven`). Ports need no undo: they close with their process.
/// Idempotent; `down`, a failed `up` and crash cleanup all come here.
pub fn undo(dir: &Path, driven: UndoDriven<'_>) -> std::io::Result<Undone> {
    let entries = read(&dir.join(crate::envdir::JOURNAL))?;
    let processes = processes(&entries);
    let mut done = Undone::default();
    for entry in entries.iter().rev() {
        match entry {
            Entry::Pid { name, .. } => {
                let Some(p) = processes.iter().find(|p| &p.name == name) else {
                    continue;
                };
                if kill(p) {
                    done.killed += 1;
                }
            }
            Entry::Path { path } | Entry::Nic { socket: path, .. } => match inside(dir, path) {
                None => done.refused.push(path.clone()),
                Some(full) => match remove(&full) {
                    Ok(true) => done.removed += 1,
                    Ok(false) => {}
                    Err(e) => done.failed.push(format!("{}: {e}", full.display())),
                },
            },
            Entry::Driver {
                driver,
                resource,
                id,
            } => match driven(driver, dir, resource, id) {
                Ok(true) => done.removed += 1,
                Ok(false) => {}
                Err(e) => done.failed.push(format!("{driver} {resource} {id}: {e}")),
            },
            Entry::Process { .. } | Entry::Port { .. } => {}
        }
    }
    Ok(done)
}

/// `path` joined onto `dir`, if it stays inside it (relative, no `..`).
fn inside(dir: &Path, path: &str) -> Option<PathBuf> {
    let rel = Path::new(path);
    let plain = rel
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    (plain && !path.is_empty()).then(|| dir.join(rel))
}

/// Removes a file, socket or directory (not following links); false if it was gone.
fn remove(path: &Path) -> std::io::Result<bool> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if meta.is_dir() {
        std::fs::remove_dir_all(path)?;
    } else {
        std::fs::remove_file(path)?;
    }
    Ok(true)
}

/// Kills `p` if it is still the recorded process, and waits (bounded) for it to go.
fn kill(p: &Recorded) -> bool {
    let Some((pid, _)) = p.pid else { return false };
    // A supervisor undoing its own env (its TTL ended) is in the journal too.
    if pid == std::process::id() as i32 || !p.is_running() {
        return false;
    }
    let target = nix::unistd::Pid::from_raw(pid);
    let _ = if p.group {
        nix::sys::signal::killpg(target, nix::sys::signal::Signal::SIGKILL)
    } else {
        nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGKILL)
    };
    for _ in 0..100 {
        if !p.is_running() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    true
}

/// Processes the journal knows, with their last recorded pid.
pub fn processes(entries: &[Entry]) -> Vec<Recorded> {
    let mut out: Vec<Recorded> = Vec::new();
    for e in entries {
        match e {
            Entry::Process { name, argv } => out.push(Recorded {
                name: name.clone(),
                argv: argv.clone(),
                pid: None,
                group: false,
            }),
            Entry::Pid {
                name,
                pid,
                started,
                group,
            } => {
                if let Some(p) = out.iter_mut().rev().find(|p| &p.name == name) {
                    p.pid = Some((*pid, started.clone()));
                    p.group = *group;
                }
            }
            Entry::Path { .. } | Entry::Port { .. } | Entry::Nic { .. } | Entry::Driver { .. } => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut j = Journal::open(&path).unwrap();
        j.record(&Entry::Process {
            name: "qemu n1".into(),
            argv: vec!["/x".into()],
        })
        .unwrap();
        j.record(&Entry::Pid {
            name: "qemu n1".into(),
            pid: 42,
            started: None,
            group: false,
        })
        .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"kind\":\"pa")
            .unwrap();
        let entries = read(&path).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            processes(&entries),
            vec![Recorded {
                name: "qemu n1".into(),
                argv: vec!["/x".into()],
                pid: Some((42, None)),
                group: false,
            }]
        );
    }

    #[test]
    fn undo_removes_newest_first_and_never_outside_the_env() {
        let root = tempfile::tempdir().unwrap();
        let env = root.path().join("env");
        std::fs::create_dir_all(env.join("nodes/n1")).unwrap();
        std::fs::write(root.path().join("outside"), "keep").unwrap();
        let mut j = Journal::open(&env.join(crate::envdir::JOURNAL)).unwrap();
        for path in [
            "nodes/n1",
            "nodes/n1/seed",
            "../outside",
            "/etc/hostname",
            "gone",
        ] {
            j.record(&Entry::Path { path: path.into() }).unwrap();
        }
        std::fs::write(env.join("nodes/n1/seed"), "x").unwrap();
        let mut child = sleeper("1000.5");
        j.record(&Entry::Process {
            name: "p".into(),
            argv: vec!["1000.5".into()],
        })
        .unwrap();
        j.record(&Entry::pid("p", child.id() as i32)).unwrap();

        let done = undo(&env, &|_, _, _, _| Ok(false)).unwrap();
        assert_eq!(done.killed, 1);
        // Killed by the undo: its status says SIGKILL (bounded: a missed kill fails
        // here instead of hanging the test).
        use std::os::unix::process::ExitStatusExt as _;
        let status = (0..250)
            .find_map(|_| {
                let s = child.try_wait().unwrap();
                if s.is_none() {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                s
            })
            .expect("the process outlived the undo by 5 s");
        assert_eq!(status.signal(), Some(nix::libc::SIGKILL));
        assert_eq!(done.removed, 2, "{done:?}");
        assert_eq!(done.refused, ["/etc/hostname", "../outside"]);
        assert!(!env.join("nodes/n1").exists());
        assert!(root.path().join("outside").exists());
        assert!(Path::new("/etc/hostname").exists());
        // Again: nothing left to do.
        let again = undo(&env, &|_, _, _, _| Ok(false)).unwrap();
        assert_eq!((again.killed, again.removed), (0, 0));
    }

    /// A process of ours: `sleep` with a distinctive argument, once it has exec'd
    /// (until then its command line is still the test binary's).
    fn sleeper(arg: &str) -> std::process::Child {
        let child = std::process::Command::new("sleep")
            .arg(arg)
            .spawn()
            .unwrap();
        let cmdline = format!("/proc/{}/cmdline", child.id());
        for _ in 0..500 {
            if std::fs::read(&cmdline).is_ok_and(|c| c.starts_with(b"sleep\0")) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child
    }

    #[test]
    fn a_process_matches_by_whole_argv_elements_and_start() {
        let mut child = sleeper("1000.25");
        let pid = child.id() as i32;
        let rec = |argv: &[&str], started| Recorded {
            name: "p".into(),
            argv: argv.iter().map(|a| a.to_string()).collect(),
            pid: Some((pid, started)),
            group: false,
        };
        let now = Started::of(pid);
        assert!(now.is_some());
        assert!(rec(&["1000.25"], now.clone()).is_running());
        assert!(rec(&["sleep", "1000.25"], now.clone()).is_running());
        // A prefix of an element is not the element (env `m` vs `m1`).
        assert!(!rec(&["1000.2"], now.clone()).is_running());
        assert!(!rec(&["1000.25", "sleep"], now.clone()).is_running());
        // Same argv, other start: the pid was reused.
        let mut earlier = now.clone().unwrap();
        earlier.ticks -= 1;
        assert!(!rec(&["1000.25"], Some(earlier)).is_running());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!rec(&["1000.25"], now).is_running());
    }

    #[test]
    fn undo_kills_a_recorded_group_with_everything_in_it_even_after_its_leader_execs() {
        use std::os::unix::process::CommandExt as _;
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&dir.path().join(crate::envdir::JOURNAL)).unwrap();
        let argv = [
            "/bin/sh",
            "-c",
            "sleep 1000.75 & exec sleep 1000.5",
            "gate-test",
        ];
        j.record(&Entry::Process {
            name: "gate g #1".into(),
            argv: argv.iter().map(|a| a.to_string()).collect(),
        })
        .unwrap();
        let mut child = std::process::Command::new(argv[0])
            .args(&argv[1..])
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        j.record(&Entry::group("gate g #1", pid)).unwrap();
        // Wait until the shell has exec'ed: its command line no longer matches argv.
        for _ in 0..500 {
            if std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.starts_with(b"sleep\0"))
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let done = undo(dir.path(), &|_, _, _, _| Ok(false)).unwrap();
        assert_eq!(done.killed, 1);
        child.wait().unwrap();
        let group = nix::unistd::Pid::from_raw(pid);
        let mut gone = false;
        for _ in 0..100 {
            if nix::sys::signal::killpg(group, None) == Err(nix::errno::Errno::ESRCH) {
                gone = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(gone, "the backgrounded sleep outlived the undo");
    }
}
