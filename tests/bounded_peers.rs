//! What comes from a guest or a local socket is untrusted: an endless line, a flood of
//! idle connections or of connections to the clones costs the host a bounded amount.

mod common;

use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::Harness;

fn up(h: &Harness, name: &str) {
    let file = h.template(&common::tiny_with_auth(2));
    h.ok(&["up", "-t", &file, "--name", name]);
}

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Memory only `pid` has (private pages), in KiB: what another process costs the host.
fn private_kib(pid: i32) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    rollup
        .lines()
        .filter(|l| l.starts_with("Private_"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

fn supervisor_pid(h: &Harness, name: &str) -> i32 {
    let pids = Harness::processes_mentioning(&format!("__supervise {}", h.env_dir(name).display()));
    assert_eq!(pids.len(), 1, "{pids:?}");
    pids[0]
}

/// CPU time (user + system, in clock ticks) `pid` has used so far.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn the_supervisor_api_survives_an_endless_line_and_an_idle_flood() {
    let h = Harness::new();
    up(&h, "s");
    let sock = h.env_dir("s").join("supervisor.sock");
    let pid = supervisor_pid(&h, "s");
    let before = rss_kib(pid);

    // 256 MiB without a newline: the supervisor drops the connection early.
    let mut s = UnixStream::connect(&sock).unwrap();
    let chunk = vec![b'x'; 1024 * 1024];
    let mut sent = 0usize;
    for _ in 0..256 {
        if s.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    assert!(sent < 256 * 1024 * 1024, "the whole line was accepted");
    // 300 connections that never send a request.
    let idle: Vec<UnixStream> = (0..300)
        .map(|_| UnixStream::connect(&sock).unwrap())
        .collect();
    let ticks = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    // Still answering, with bounded memory (state the bound: +32 MiB), and idle.
    let status = h.ok(&["status", "s", "--output", "json"]);
    assert!(status.contains("\"ready\""), "{status}");
    let after = rss_kib(pid);
    assert!(
        after < before + 32 * 1024,
        "supervisor RSS {before} KiB -> {after} KiB"
    );
    let used = cpu_ticks(pid) - ticks;
    assert!(
        used < 100,
        "the supervisor used {used} ticks in 2 s while idle connections waited"
    );
    // Idle connections are closed after the request wait (10 s).
    std::thread::sleep(Duration::from_secs(10));
    let mut closed = 0;
    for mut c in idle {
        c.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = [0u8; 1];
        if matches!(std::io::Read::read(&mut c, &mut buf), Ok(0)) {
            closed += 1;
        }
    }
    assert_eq!(closed, 300);
    h.ok(&["down", "s"]);
}

#[test]
fn a_guest_holding_many_clone_connections_costs_a_bounded_number_of_processes() {
    let h = Harness::new();
    up(&h, "c");
    let slots = h.env_dir("c").join("nodes/n1/conn");
    // The connector processes (QEMU's own command line names them too: not QEMU).
    let connectors = || {
        Harness::processes_mentioning(&format!("__connect --slots {}", slots.display()))
            .into_iter()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| !c.starts_with("qemu"))
            })
            .collect::<Vec<_>>()
    };
    // n1 opens 200 connections to the auth clone and holds them open.
    h.ok(&[
        "exec",
        "c",
        "--node",
        "n1",
        "--",
        "sh",
        "-c",
        "for i in $(seq 200); do (sleep 120 | nc auth 5000) </dev/null >/dev/null 2>&1 & done",
    ]);
    std::thread::sleep(Duration::from_secs(6));
    // The bound: 32 connector processes per node (clone::CONNECTIONS_PER_NODE), plus
    // the few that are refused a slot and exit within milliseconds.
    let mut most = Vec::new();
    let mut rss = 0;
    for _ in 0..10 {
        let held = connectors();
        rss = rss.max(held.iter().map(|p| private_kib(*p)).sum::<u64>());
        if held.len() > most.len() {
            most = held;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(most.len() <= 32 + 4, "{} connector processes", most.len());
    assert!(
        most.len() >= 8,
        "the guest did open connections: {}",
        most.len()
    );
    // Memory of their own (the binary's pages are shared among them): 32 x ~1 MiB.
    assert!(
        rss < 64 * 1024,
        "connectors hold {rss} KiB of private memory"
    );
    eprintln!(
        "n1 holds up to {} connections: {rss} KiB of private host memory",
        most.len()
    );
    // Other guests still reach the clone.
    let out = h.ok(&[
        "exec",
        "c",
        "--node",
        "n2",
        "--",
        "wget",
        "-q",
        "-O",
        "-",
        "http://auth:5000/v3",
    ]);
    assert!(out.contains("\"v3."), "{out}");
    h.ok(&["down", "c"]);
    assert!(connectors().is_empty());
}

#[test]
fn a_guest_flooding_its_agent_channel_costs_exec_a_bounded_amount() {
    let h = Harness::new();
    h.ok(&["up", "-t", "tiny", "--name", "f"]);
    // n1's agent is replaced by a stream of zeros with no newline.
    h.ok(&[
        "exec",
        "f",
        "--node",
        "n1",
        "--",
        "sh",
        "-c",
        "(sleep 1; kill $(cat /run/qga.pid); for p in /sys/class/virtio-ports/*; do \
         [ \"$(cat $p/name)\" = org.qemu.guest_agent.0 ] && cat /dev/zero > /dev/${p##*/}; done) \
         >/dev/null 2>&1 &",
    ]);
    std::thread::sleep(Duration::from_secs(4));
    let out = h.run(&["exec", "f", "--node", "n1", "--", "true"]);
    assert!(!out.status.success());
    // The peak RSS of the largest child this test binary waited for: the exec above.
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    let peak_kib = usage.max_rss();
    assert!(peak_kib < 96 * 1024, "vstage exec peaked at {peak_kib} KiB");
    // n2 is not affected.
    assert_eq!(
        h.ok(&["exec", "f", "--node", "n2", "--", "hostname"]),
        "n2\n"
    );
    h.ok(&["down", "--force", "f"]);
}
