//! The env journal: one JSON line per resource, appended (and synced) *before* the
//! resource is created, so a teardown after any crash knows everything there is to undo.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

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
    },
    /// A host TCP port the env listens on. Recorded right after the bind (the kernel
    /// picks it); the supervisor's exit frees it, so no cleanup can be owed for it.
    Port { name: String, port: u16 },
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

/// Processes the journal knows, with their last recorded pid.
pub fn processes(entries: &[Entry]) -> Vec<Recorded> {
    let mut out: Vec<Recorded> = Vec::new();
    for e in entries {
        match e {
            Entry::Process { name, argv } => out.push(Recorded {
                name: name.clone(),
                argv: argv.clone(),
                pid: None,
            }),
            Entry::Pid { name, pid, started } => {
                if let Some(p) = out.iter_mut().rev().find(|p| &p.name == name) {
                    p.pid = Some((*pid, started.clone()));
                }
            }
            Entry::Path { .. } | Entry::Port { .. } => {}
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
            }]
        );
    }

    /// A process of ours: `sleep` with a distinctive argument.
    fn sleeper(arg: &str) -> std::process::Child {
        std::process::Command::new("sleep")
            .arg(arg)
            .spawn()
            .unwrap()
    }

    #[test]
    fn a_process_matches_by_whole_argv_elements_and_start() {
        let mut child = sleeper("1000.25");
        let pid = child.id() as i32;
        let rec = |argv: &[&str], started| Recorded {
            name: "p".into(),
            argv: argv.iter().map(|a| a.to_string()).collect(),
            pid: Some((pid, started)),
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
}
