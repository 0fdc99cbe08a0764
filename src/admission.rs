//! Admission: before an env boots, `up` checks that the host can hold it next to the
//! envs it holds already, and either waits its turn (first come, first served across
//! processes) or fails saying what is short and by how much. An env is never started
//! into the OOM killer.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::env::{self, EnvInfo};
use crate::home::Home;
use crate::home::config::Limits;
use crate::plan::Plan;

/// What a QEMU process costs beyond its guest's memory.
pub const QEMU_OVERHEAD_MIB: u64 = 64;

/// What envs ask of the host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Need {
    pub memory_mib: u64,
    pub guests: u64,
}

impl Need {
    pub fn of(plan: &Plan) -> Need {
        Need {
            memory_mib: plan
                .nodes
                .iter()
                .map(|n| u64::from(n.memory_mib) + QEMU_OVERHEAD_MIB)
                .sum(),
            guests: plan.nodes.len() as u64,
        }
    }
}

/// What the host has, as the kernel says now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    pub total_mib: u64,
    pub available_mib: u64,
    pub cores: u64,
}

impl Host {
    pub fn now() -> std::io::Result<Host> {
        let meminfo = std::fs::read_to_string("/proc/meminfo")?;
        let field = |name: &str| {
            meminfo
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .map(|kib| kib / 1024)
                .ok_or_else(|| std::io::Error::other(format!("/proc/meminfo has no {name}")))
        };
        Ok(Host {
            total_mib: field("MemTotal:")?,
            available_mib: field("MemAvailable:")?,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        })
    }
}

/// What keeps `need` out, next to `held` (the envs there already), if anything.
pub fn shortfall(need: Need, held: Need, host: Host, limits: Limits) -> Option<String> {
    let keep_free = host.total_mib * limits.keep_free_percent.min(90) / 100;
    let limit = limits
        .memory_limit_mib
        .unwrap_or(host.total_mib.saturating_sub(keep_free));
    let by_limit = limit.saturating_sub(held.memory_mib);
    let by_kernel = host.available_mib.saturating_sub(keep_free);
    let room = by_limit.min(by_kernel);
    if need.memory_mib > room {
        let why = if by_limit <= by_kernel {
            format!(
                "the host's limit for envs is {limit} MiB and envs hold {} MiB",
                held.memory_mib
            )
        } else {
            format!(
                "the host has {} MiB available and keeps {keep_free} MiB free",
                host.available_mib
            )
        };
        return Some(format!(
            "memory: the env needs {} MiB, {} MiB more than there is room for ({why})",
            need.memory_mib,
            need.memory_mib - room
        ));
    }
    let max_guests = host.cores * limits.guests_per_core;
    if held.guests + need.guests > max_guests {
        return Some(format!(
            "guests: the env has {} nodes and envs run {} already; the host takes {max_guests} \
             ({} cores x {} per core): {} too many",
            need.guests,
            held.guests,
            host.cores,
            limits.guests_per_core,
            held.guests + need.guests - max_guests
        ));
    }
    None
}

/// What the envs of `home` hold (every env with an env.json and an owner).
pub fn held(home: &Home) -> Need {
    let mut held = Need::default();
    for name in home.env_names().unwrap_or_default() {
        let Ok(dir) = home.env(&name) else { continue };
        if !env::is_owned(&dir) {
            continue;
        }
        if let Ok(info) = EnvInfo::read(&dir) {
            let need = Need::of(&info.plan);
            held.memory_mib += need.memory_mib;
            held.guests += need.guests;
        }
    }
    held
}

#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    #[error(
        "the host cannot take this env now: {0} (wait with --wait-for-capacity DURATION, or free some)"
    )]
    Short(String),
    #[error("waited {waited}s for capacity, still short: {why}")]
    TimedOut { waited: u64, why: String },
    #[error("admission: {0}")]
    Io(#[from] std::io::Error),
}

/// Held while an `up` is admitted and until its env.json exists (so the next `up`
/// counts it); drop it then.
pub struct Admitted {
    _lock: std::fs::File,
    ticket: Option<PathBuf>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some(t) = &self.ticket {
            let _ = std::fs::remove_file(t);
        }
    }
}

/// Admits an env of `need`: at once, or, with `wait`, when its turn comes and the host
/// has room, for at most that long. `waiting` is told once when it starts to wait.
pub fn admit(
    home: &Home,
    need: Need,
    limits: Limits,
    wait: Option<Duration>,
    waiting: &mut dyn FnMut(&str),
) -> Result<Admitted, AdmissionError> {
    let queue = home.state.join("queue");
    std::fs::create_dir_all(&queue)?;
    let ticket = match wait {
        Some(_) => Some(take_ticket(&queue)?),
        None => None,
    };
    let started = Instant::now();
    let mut told = false;
    let mut last_why = String::from("other envs are queued first");
    loop {
        if let Some(bound) = wait
            && started.elapsed() >= bound
        {
            if let Some(t) = &ticket {
                let _ = std::fs::remove_file(t);
            }
            return Err(AdmissionError::TimedOut {
                waited: started.elapsed().as_secs(),
                why: last_why,
            });
        }
        let first = ticket.as_ref().is_none_or(|t| first_in(&queue, t));
        if first {
            let lock = std::fs::File::create(home.state.join("admission.lock"))?;
            lock.lock()?;
            match shortfall(need, held(home), Host::now()?, limits) {
                None => {
                    return Ok(Admitted {
                        _lock: lock,
                        ticket,
                    });
                }
                Some(why) if wait.is_none() => return Err(AdmissionError::Short(why)),
                Some(why) => {
                    if !told {
                        waiting(&format!("waiting for capacity: {why}"));
                        told = true;
                    }
                    last_why = why;
                }
            }
        } else if !told {
            waiting("waiting for capacity: other envs are queued first");
            told = true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A ticket: its name orders it (time, then pid), its pid tells a live one.
fn take_ticket(queue: &Path) -> std::io::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let owner = env::Owner::this();
    let path = queue.join(format!("{nanos:024}-{}", owner.pid));
    // Whole or not at all: a waiter reading a half-written ticket would drop it.
    crate::envdir::write_atomic(
        &path,
        &serde_json::to_vec(&owner).map_err(std::io::Error::other)?,
    )?;
    Ok(path)
}

/// Whether `ticket` is the oldest live ticket; the tickets of processes that are gone
/// are removed on the way.
fn first_in(queue: &Path, ticket: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(queue) else {
        return true;
    };
    let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    names.sort();
    for path in names {
        if path == ticket {
            return true;
        }
        let alive = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<env::Owner>(&b).ok())
            .is_some_and(|o| o.is_alive());
        if !alive {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: Host = Host {
        total_mib: 10_000,
        available_mib: 8_000,
        cores: 2,
    };

    #[test]
    fn memory_is_short_by_the_tighter_of_limit_and_kernel() {
        let limits = Limits::default();
        let need = Need {
            memory_mib: 1000,
            guests: 2,
        };
        assert_eq!(shortfall(need, Need::default(), HOST, limits), None);
        // The kernel has 8000 available, 1000 kept free: 7000 of room.
        let big = Need {
            memory_mib: 7500,
            guests: 1,
        };
        let why = shortfall(big, Need::default(), HOST, limits).unwrap();
        assert!(why.contains("500 MiB more"), "{why}");
        // A configured limit of 2000 with 1500 held leaves 500.
        let limits = Limits {
            memory_limit_mib: Some(2000),
            ..limits
        };
        let held = Need {
            memory_mib: 1500,
            guests: 2,
        };
        let why = shortfall(need, held, HOST, limits).unwrap();
        assert!(why.contains("limit for envs is 2000 MiB"), "{why}");
        assert!(why.contains("500 MiB more"), "{why}");
    }

    #[test]
    fn guests_are_bounded_per_core() {
        let limits = Limits {
            guests_per_core: 3,
            ..Limits::default()
        };
        let need = Need {
            memory_mib: 100,
            guests: 2,
        };
        let held = Need {
            memory_mib: 100,
            guests: 5,
        };
        let why = shortfall(need, held, HOST, limits).unwrap();
        assert!(why.contains("1 too many"), "{why}");
    }
}
