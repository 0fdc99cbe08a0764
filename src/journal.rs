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
    /// A process about to be started; `marker` is a string its command line contains,
    /// so a pid is only ever signalled while it still belongs to this env.
    Process { name: String, marker: String },
    /// The pid of a process recorded above.
    Pid { name: String, pid: i32 },
    /// A host TCP port the env listens on. Recorded right after the bind (the kernel
    /// picks it); the supervisor's exit frees it, so no cleanup can be owed for it.
    Port { name: String, port: u16 },
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

/// Processes the journal knows, with their last recorded pid.
pub fn processes(entries: &[Entry]) -> Vec<(String, String, Option<i32>)> {
    let mut out: Vec<(String, String, Option<i32>)> = Vec::new();
    for e in entries {
        match e {
            Entry::Process { name, marker } => out.push((name.clone(), marker.clone(), None)),
            Entry::Pid { name, pid } => {
                if let Some(p) = out.iter_mut().rev().find(|p| &p.0 == name) {
                    p.2 = Some(*pid);
                }
            }
            Entry::Path { .. } | Entry::Port { .. } => {}
        }
    }
    out
}

/// Whether `pid` is alive and its command line contains `marker`.
pub fn process_matches(pid: i32, marker: &str) -> bool {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains(marker)
        }
        Err(_) => false,
    }
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
            marker: "/x".into(),
        })
        .unwrap();
        j.record(&Entry::Pid {
            name: "qemu n1".into(),
            pid: 42,
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
            vec![("qemu n1".into(), "/x".into(), Some(42))]
        );
    }

    #[test]
    fn only_matching_processes_match() {
        let me = std::process::id() as i32;
        assert!(!process_matches(me, "no-such-marker-in-a-test-cmdline"));
        assert!(!process_matches(i32::MAX, ""));
    }
}
