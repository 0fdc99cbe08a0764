//! How long `up` waits for nodes: a deadline that follows progress.
//!
//! One fixed wall time fails healthy guests on a busy host (cloud-init still printing at
//! 153 s when a 180 s bound ran out) and waits too long for a hung one. So a node may
//! take as long as it keeps making progress (its console grows, its agent answers,
//! cloud-init moves on), up to an overall ceiling; it fails early only when it has shown
//! no sign of life for `stall`. Both scale with the accelerator and the env's size.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::driver::qemu::accel::Accel;

/// The bounds for one `up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The whole bring-up of every node must end within this.
    pub timeout_secs: u64,
    /// A node that shows no progress for this long is taken as hung.
    pub stall_secs: u64,
}

/// Under KVM a node boots in seconds; under TCG ~20x slower, and more when the host is
/// shared. Nodes boot together, so each extra node adds to the ceiling.
const KVM_BASE: Duration = Duration::from_secs(120);
const KVM_PER_NODE: Duration = Duration::from_secs(30);
const KVM_STALL: Duration = Duration::from_secs(60);
/// Measured: a Debian node under TCG reached cloud-init's config stage after 300-340 s
/// with two CPU hogs and a build beside it (65 s on an idle host).
const TCG_BASE: Duration = Duration::from_secs(600);
const TCG_PER_NODE: Duration = Duration::from_secs(300);
/// A Debian guest under TCG on a loaded host was seen silent (no console line, agent not
/// yet started) for up to ~40 s while its initrd unpacked; three times that is still
/// far below the ceiling.
const TCG_STALL: Duration = Duration::from_secs(120);

impl Limits {
    /// The defaults for `nodes` nodes under `accel`; `timeout` and `stall` override them.
    pub fn new(
        accel: Accel,
        nodes: usize,
        timeout: Option<Duration>,
        stall: Option<Duration>,
    ) -> Limits {
        let (base, per_node, default_stall) = match accel {
            Accel::Kvm => (KVM_BASE, KVM_PER_NODE, KVM_STALL),
            Accel::Tcg => (TCG_BASE, TCG_PER_NODE, TCG_STALL),
        };
        let timeout = timeout.unwrap_or(base + per_node * nodes.max(1) as u32);
        // A stall longer than the whole wait would never fire.
        let stall = stall.unwrap_or(default_stall).min(timeout);
        Limits {
            timeout_secs: timeout.as_secs().max(1),
            stall_secs: stall.as_secs().max(1),
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    pub fn stall(&self) -> Duration {
        Duration::from_secs(self.stall_secs)
    }
}

/// Why a wait ended without the node being ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// The overall ceiling passed while the node was still progressing.
    Timeout(Duration),
    /// The node showed no sign of life for this long.
    Stalled(Duration),
}

impl std::fmt::Display for Expired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expired::Timeout(d) => write!(
                f,
                "not ready after {}s (the env's timeout; `up --timeout` raises it)",
                d.as_secs()
            ),
            Expired::Stalled(d) => write!(
                f,
                "hung: no console output and no answer from its agent for {}s",
                d.as_secs()
            ),
        }
    }
}

/// Watches one node: the ceiling is shared by the env, the stall clock is the node's own.
#[derive(Debug, Clone)]
pub struct Watch {
    started: Instant,
    deadline: Instant,
    stall: Duration,
    last_progress: Instant,
    /// The console's size and the stage last seen: a repeat is not progress.
    console: u64,
    stage: Option<String>,
}

/// What a driver can observe of a booting node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sign {
    /// The console log has this many bytes.
    Console(u64),
    /// The guest agent answered.
    Agent,
    /// The guest reported this stage of its own start-up (e.g. cloud-init's status).
    Stage(String),
}

impl Watch {
    pub fn new(now: Instant, deadline: Instant, stall: Duration) -> Watch {
        Watch {
            started: now,
            deadline,
            stall,
            last_progress: now,
            console: 0,
            stage: None,
        }
    }

    /// Records what was seen at `now`. The agent answering always counts; a console
    /// or stage counts only when it changed.
    pub fn saw(&mut self, now: Instant, sign: Sign) {
        let progressed = match sign {
            Sign::Agent => true,
            Sign::Console(n) => std::mem::replace(&mut self.console, n) < n,
            Sign::Stage(s) => self.stage.replace(s.clone()) != Some(s),
        };
        if progressed {
            self.last_progress = now;
        }
    }

    /// Whether the wait is over at `now`, and why.
    pub fn check(&self, now: Instant) -> Result<(), Expired> {
        if now >= self.deadline {
            return Err(Expired::Timeout(self.deadline - self.started));
        }
        if now.duration_since(self.last_progress) >= self.stall {
            return Err(Expired::Stalled(self.stall));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn defaults_scale_with_accel_and_size() {
        let tcg1 = Limits::new(Accel::Tcg, 1, None, None);
        let tcg3 = Limits::new(Accel::Tcg, 3, None, None);
        let kvm1 = Limits::new(Accel::Kvm, 1, None, None);
        assert!(tcg3.timeout_secs > tcg1.timeout_secs);
        assert!(tcg1.timeout_secs > kvm1.timeout_secs);
        assert!(tcg1.stall_secs > kvm1.stall_secs);
        assert!(tcg1.stall_secs < tcg1.timeout_secs);
    }

    #[test]
    fn overrides_win_and_stall_never_exceeds_timeout() {
        let l = Limits::new(Accel::Tcg, 2, Some(S(30)), None);
        assert_eq!((l.timeout_secs, l.stall_secs), (30, 30));
        let l = Limits::new(Accel::Tcg, 2, None, Some(S(5)));
        assert_eq!(l.stall_secs, 5);
    }

    #[test]
    fn a_node_that_keeps_printing_outlives_the_stall_bound() {
        let t0 = Instant::now();
        let mut w = Watch::new(t0, t0 + S(600), S(10));
        for i in 1..=50u64 {
            let now = t0 + S(i * 5);
            w.saw(now, Sign::Console(i * 100));
            assert_eq!(w.check(now), Ok(()), "at {}s", i * 5);
        }
    }

    #[test]
    fn a_silent_node_fails_after_the_stall_bound() {
        let t0 = Instant::now();
        let mut w = Watch::new(t0, t0 + S(600), S(10));
        w.saw(t0 + S(1), Sign::Console(500));
        for i in 2..=10 {
            w.saw(t0 + S(i), Sign::Console(500));
        }
        assert_eq!(w.check(t0 + S(10)), Ok(()));
        assert_eq!(w.check(t0 + S(11)), Err(Expired::Stalled(S(10))));
    }

    #[test]
    fn agent_answers_and_new_stages_count_as_progress() {
        let t0 = Instant::now();
        let mut w = Watch::new(t0, t0 + S(600), S(10));
        w.saw(t0 + S(8), Sign::Agent);
        assert_eq!(w.check(t0 + S(15)), Ok(()));
        w.saw(t0 + S(16), Sign::Stage("running".into()));
        w.saw(t0 + S(20), Sign::Console(0));
        w.saw(t0 + S(20), Sign::Stage("running".into()));
        assert_eq!(w.check(t0 + S(25)), Ok(()));
        assert_eq!(w.check(t0 + S(26)), Err(Expired::Stalled(S(10))));
    }

    #[test]
    fn the_ceiling_ends_even_a_progressing_wait() {
        let t0 = Instant::now();
        let mut w = Watch::new(t0, t0 + S(30), S(10));
        w.saw(t0 + S(29), Sign::Agent);
        assert_eq!(w.check(t0 + S(30)), Err(Expired::Timeout(S(30))));
    }
}
