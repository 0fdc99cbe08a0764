//! `make bench`: vstage's lifecycle costs beside a plain-QEMU baseline measured in the
//! same run (the baseline starts the same QEMU guests directly and waits for them the
//! same way). Prints one table and writes it as JSON (target/bench/lifecycle.json).
//! Every figure is the median of BENCH_RUNS runs (default 3) with min and max.
//! Timings are reported, never asserted.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

#[derive(Clone, Debug)]
struct Stat {
    median: f64,
    min: f64,
    max: f64,
    n: usize,
}

impl Stat {
    fn of(mut xs: Vec<f64>) -> Stat {
        assert!(!xs.is_empty());
        xs.sort_by(|a, b| a.total_cmp(b));
        let n = xs.len();
        let median = if n % 2 == 1 {
            xs[n / 2]
        } else {
            (xs[n / 2 - 1] + xs[n / 2]) / 2.0
        };
        Stat {
            median,
            min: xs[0],
            max: xs[n - 1],
            n,
        }
    }
    fn text(&self, unit: &str) -> String {
        format!(
            "{:.0} {unit} ({:.0}–{:.0})",
            self.median, self.min, self.max
        )
    }
    fn json(&self) -> serde_json::Value {
        json!({"median": self.median, "min": self.min, "max": self.max, "runs": self.n})
    }
}

struct Row {
    figure: String,
    unit: &'static str,
    vstage: Stat,
    baseline: Option<(String, Stat)>,
    note: String,
}

struct Bench {
    bin: PathBuf,
    home: tempfile::TempDir,
    runs: usize,
}

impl Bench {
    fn vstage(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args).env("VSTAGE_HOME", self.home.path());
        c
    }

    fn timed_ok(&self, args: &[&str]) -> f64 {
        let t = Instant::now();
        let out = self
            .vstage(args)
            .stdout(Stdio::null())
            .output()
            .expect("vstage runs");
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if !out.status.success() {
            panic!("vstage {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        ms
    }

    /// The baseline: the same tiny guests vstage boots (kernel, initrd, seed, devices,
    /// memory), started directly with no supervisor, switch or journal, and waited for
    /// the same way (guest agent answers `guest-ping`).
    fn baseline(&self, count: usize) -> f64 {
        let image = image_dir(&self.bin);
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(image.join("image.json")).unwrap())
                .unwrap();
        let append = manifest["append"].as_str().unwrap().to_string();
        let work = self.home.path().join(format!("base{count}"));
        std::fs::create_dir_all(&work).unwrap();
        let t = Instant::now();
        let mut children = Vec::new();
        for i in 1..=count {
            let seed = work.join(format!("seed{i}"));
            std::fs::write(
                &seed,
                format!(
                    "hostname n{i}\nnic 52:54:00:00:00:{i:02x} 10.0.0.{}/24\n",
                    10 + i
                ),
            )
            .unwrap();
            let p = |name: &str| work.join(format!("{name}{i}")).display().to_string();
            let child = Command::new("qemu-system-x86_64")
                .args(["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"])
                .args(["-machine", "q35", "-accel", "tcg", "-m", "256", "-smp", "1"])
                .arg("-kernel").arg(image.join("vmlinuz"))
                .arg("-initrd").arg(image.join("initrd.img"))
                .args(["-append", &append])
                .args(["-serial", &format!("file:{}", p("serial"))])
                .args(["-fw_cfg", &format!("name=opt/vstage/seed,file={}", seed.display())])
                .args(["-chardev", &format!("socket,id=qga,server=on,wait=off,path={}", p("qga"))])
                .args(["-device", "virtio-serial-pci", "-device", "virtserialport,chardev=qga,name=org.qemu.guest_agent.0"])
                .args(["-netdev", &format!("dgram,id=nic0,local.type=unix,local.path={},remote.type=unix,remote.path={}", p("nic"), p("sw"))])
                .args(["-device", &format!("virtio-net-pci,netdev=nic0,mac=52:54:00:00:00:{i:02x}")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("qemu-system-x86_64 runs");
            children.push(child);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            for i in 1..=count {
                let socket = work.join(format!("qga{i}"));
                let deadline = Instant::now() + Duration::from_secs(180);
                loop {
                    if vstage::driver::qemu::agent::ping(&socket, Duration::from_secs(2)).await {
                        break;
                    }
                    assert!(Instant::now() < deadline, "baseline guest {i} not ready");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        });
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        for mut c in children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&work);
        ms
    }

    fn env_dir(&self, name: &str) -> PathBuf {
        self.home.path().join("envs").join(name)
    }
}

/// A bench that fails midway still takes its envs down (before its home goes) and
/// removes its snapshots from the cache.
impl Drop for Bench {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(self.home.path().join("envs")) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let _ = self.vstage(&["down", "--force", &name]).output();
            }
        }
        let suffix = format!("-{}", std::process::id());
        if let Ok(out) = self.vstage(&["snapshot", "ls", "-o", "json"]).output()
            && let Ok(rows) = serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout)
        {
            for name in rows.iter().filter_map(|r| r["name"].as_str()) {
                if name.starts_with("bench-") && name.ends_with(&suffix) {
                    let _ = self.vstage(&["snapshot", "rm", name]).output();
                }
            }
        }
    }
}

/// Directory of the built tiny image (builds it if the cache lacks it).
fn image_dir(bin: &Path) -> PathBuf {
    let out = Command::new(bin)
        .args(["image", "build", "tiny"])
        .output()
        .expect("vstage runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(text.split_whitespace().nth(2).expect("name hash dir"))
}

fn pid_of(needle: &str) -> Option<i32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(c) = std::fs::read(e.path().join("cmdline"))
            && String::from_utf8_lossy(&c)
                .replace('\0', " ")
                .contains(needle)
        {
            return Some(pid);
        }
    }
    None
}

/// Host memory of an env's guests: the proportional set size (shared pages divided
/// among the processes that map them) of each of its QEMUs, summed, in MiB.
fn env_pss_mib(bench: &Bench, env: &str) -> f64 {
    let dir = bench.env_dir(env).display().to_string();
    let mut kib = 0.0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(c) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let c = String::from_utf8_lossy(&c).replace('\0', " ");
        if c.starts_with("qemu-system") && c.contains(&format!("{dir}/s/")) {
            let rollup = std::fs::read_to_string(e.path().join("smaps_rollup")).unwrap_or_default();
            kib += rollup
                .lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
        }
    }
    kib / 1024.0
}

/// Starts `names` at once with `args` (the env name appended as `--name`); waits for
/// all; returns how many came up. Eight Debian guests on two cores under TCG go silent
/// for minutes, so the stall bound is wide: this measures memory, not patience.
fn up_at_once(bench: &Bench, args: &[&str], names: &[String]) -> usize {
    let children: Vec<_> = names
        .iter()
        .map(|n| {
            let mut all = args.to_vec();
            all.extend(["--name", n, "--stall-timeout", "20m", "--timeout", "60m"]);
            bench
                .vstage(&all)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut ready = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        if out.status.success() {
            ready += 1;
        } else {
            eprintln!("bench: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    ready
}

/// `up --from` against a cold `up` of the same template, in the same run; the host
/// memory of 4 envs restored from one snapshot against 4 cold envs; what a snapshot
/// costs to make and keep.
fn snapshot_rows(bench: &Bench, rows: &mut Vec<Row>) {
    for template in ["tiny", "debian"] {
        let name = format!("bench-{template}-{}", std::process::id());
        let (mut cold, mut warm, mut create, mut size) = (vec![], vec![], vec![], vec![]);
        for r in 0..bench.runs {
            eprintln!(
                "bench: snapshot of {template}, run {}/{}",
                r + 1,
                bench.runs
            );
            cold.push(bench.timed_ok(&["up", "-t", template, "--name", "sc"]));
            let t = Instant::now();
            let out = bench
                .vstage(&["snapshot", "create", "sc", &name, "-o", "json"])
                .output()
                .unwrap();
            create.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let made: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            size.push(made["disk_bytes"].as_f64().unwrap() / (1 << 20) as f64);
            bench.timed_ok(&["down", "--force", "sc"]);
            warm.push(bench.timed_ok(&["up", "--from", &name, "--name", "sw"]));
            bench.timed_ok(&["down", "--force", "sw"]);
            if r + 1 < bench.runs {
                bench.timed_ok(&["snapshot", "rm", &name]);
            }
        }
        let four: Vec<String> = (1..=4).map(|i| format!("m{i}")).collect();
        eprintln!("bench: 4 {template} envs restored at once");
        let ready_warm = up_at_once(bench, &["up", "--from", &name], &four);
        let restored: f64 = four.iter().map(|e| env_pss_mib(bench, e)).sum();
        for e in &four {
            bench.timed_ok(&["down", "--force", e]);
        }
        eprintln!("bench: 4 cold {template} envs at once");
        let ready_cold = up_at_once(bench, &["up", "-t", template], &four);
        let cold4: f64 = four.iter().map(|e| env_pss_mib(bench, e)).sum();
        for e in &four {
            bench.timed_ok(&["down", "--force", e]);
        }
        bench.timed_ok(&["snapshot", "rm", &name]);
        let nodes = if template == "tiny" {
            "2 × 256 MiB"
        } else {
            "2 × 1 GiB"
        };
        rows.push(Row {
            figure: format!("up --from snapshot, {template} ({nodes}), to ready"),
            unit: "ms",
            vstage: Stat::of(warm),
            baseline: Some((format!("cold up of {template}"), Stat::of(cold))),
            note: "memory mapped copy-on-write from the snapshot; agent answers, clock set, RNG reseeded".into(),
        });
        rows.push(Row {
            figure: format!("snapshot create, {template}, until stored"),
            unit: "ms",
            vstage: Stat::of(create),
            baseline: None,
            note: format!(
                "nodes paused, saved, hashed and committed; {:.0} MiB on disk (memory files are sparse)",
                Stat::of(size).median
            ),
        });
        rows.push(Row {
            figure: format!("host memory (PSS) of 4 {template} envs restored from one snapshot"),
            unit: "MiB",
            vstage: Stat::of(vec![restored]),
            baseline: Some((format!("4 cold {template} envs"), Stat::of(vec![cold4]))),
            note: format!(
                "QEMU processes only; measured once, right after ready ({ready_warm}/4 restored, {ready_cold}/4 cold envs up)"
            ),
        });
    }
}

/// A `/proc/PID/status` field in KiB (VmHWM: peak RSS; VmRSS: current).
fn kib(pid: i32, field: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn main() {
    // `cargo bench` passes flags such as --bench; nothing to parse.
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let bench = Bench {
        bin: PathBuf::from(env!("CARGO_BIN_EXE_vstage")),
        home: tempfile::Builder::new()
            .prefix("vsb")
            .tempdir_in("/tmp")
            .unwrap(),
        runs,
    };
    let tiny3 = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/tiny3.yaml");
    image_dir(&bench.bin);
    let doctor = bench.vstage(&["doctor"]).output().unwrap();
    let accel = String::from_utf8_lossy(&doctor.stdout)
        .lines()
        .find(|l| l.starts_with("accel:"))
        .map(|l| l.trim_start_matches("accel:").trim().to_string())
        .unwrap_or_default();
    eprintln!("bench: {runs} runs per figure, accel {accel}");

    let mut rows: Vec<Row> = Vec::new();
    // BENCH_ONLY=auth measures only the auth clone (e.g. against a real Keystone).
    // BENCH_ONLY=snapshot only the snapshot figures.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only.is_empty() {
        lifecycle_rows(&bench, tiny3, &mut rows);
    }
    if only.is_empty() || only == "snapshot" {
        snapshot_rows(&bench, &mut rows);
    }
    if only.is_empty() || only == "auth" {
        // bcrypt's cost: the clone's default, and Keystone's.
        for rounds in [4, 12] {
            rows.extend(auth_rows(&bench, rounds));
        }
    }

    println!();
    println!("| figure | vstage | baseline | ratio | note |");
    println!("|---|---|---|---|---|");
    let mut out = Vec::new();
    for row in &rows {
        let (base_text, ratio, base_json) = match &row.baseline {
            Some((what, s)) => (
                format!("{}: {}", what, s.text(row.unit)),
                format!("{:.2}", row.vstage.median / s.median),
                json!({"what": what, "stat": s.json()}),
            ),
            None => ("—".into(), "—".into(), serde_json::Value::Null),
        };
        println!(
            "| {} | {} | {} | {} | {} |",
            row.figure,
            row.vstage.text(row.unit),
            base_text,
            ratio,
            row.note
        );
        out.push(json!({
            "figure": row.figure, "unit": row.unit, "vstage": row.vstage.json(),
            "baseline": base_json, "note": row.note,
        }));
    }
    let machine = json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "accel": accel,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "runs": bench.runs,
    });
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&target).unwrap();
    let file = target.join("lifecycle.json");
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&json!({"machine": machine, "rows": out})).unwrap(),
    )
    .unwrap();
    println!("\nmachine: {machine}\nwritten: {}", file.display());
}

// ---- auth clone throughput ------------------------------------------------------

/// A keep-alive HTTP/1.1 connection: just enough client for a load loop. Not the
/// clones' one-shot client (`vstage::clone::http`), which opens a connection per
/// request and would measure connection setup instead of the clone.
struct Conn {
    stream: std::io::BufReader<std::net::TcpStream>,
    host: String,
}

impl Conn {
    fn open(addr: &str) -> Conn {
        let s = std::net::TcpStream::connect(addr).expect("the clone listens");
        s.set_nodelay(true).unwrap();
        Conn {
            stream: std::io::BufReader::new(s),
            host: addr.to_string(),
        }
    }

    /// Sends a request, returns (status, headers, body).
    fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, Vec<u8>) {
        use std::io::{BufRead, Read, Write};
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        self.stream.get_mut().write_all(req.as_bytes()).unwrap();
        let mut head = String::new();
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let len: usize = vstage::clone::http::header(&head, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        self.stream.read_exact(&mut body).unwrap();
        (status, head, body)
    }
}

fn subject_token(head: &str) -> String {
    vstage::clone::http::header(head, "x-subject-token")
        .expect("X-Subject-Token")
        .to_string()
}

/// Requests per second over `secs` with `threads` keep-alive connections.
fn rate(
    addr: &str,
    threads: usize,
    secs: f64,
    make: impl Fn(&mut Conn) + Send + Sync + Clone + 'static,
) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let addr = addr.to_string();
            let make = make.clone();
            std::thread::spawn(move || {
                let mut c = Conn::open(&addr);
                let mut n = 0u64;
                while Instant::now() < deadline {
                    make(&mut c);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

/// Tokens issued and validated per second by the auth clone (release build), beside
/// the same server's cheapest call (`GET /v3`, discovery) as the floor. To run the same
/// load against a real Keystone: BENCH_AUTH_URL=http://HOST:PORT BENCH_AUTH_PASSWORD=...
/// (user admin, project admin, domain Default). `rounds`: bcrypt's cost for passwords.
fn auth_rows(bench: &Bench, rounds: u32) -> Vec<Row> {
    let state = bench.home.path().join(format!("auth-{rounds}"));
    let config = bench.home.path().join(format!("auth-{rounds}.yaml"));
    std::fs::write(
        &config,
        format!("password_hash_rounds: {rounds}\nusers:\n  - {{name: admin, password: benchpw, project: admin, roles: [admin]}}\n"),
    )
    .unwrap();
    let (mut child, url) = match std::env::var("BENCH_AUTH_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let mut child = Command::new(&bench.bin)
                .args(["clone", "auth", "--listen", "127.0.0.1:0", "--config"])
                .arg(&config)
                .arg("--state")
                .arg(&state)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            std::io::BufRead::read_line(
                &mut std::io::BufReader::new(child.stdout.take().unwrap()),
                &mut line,
            )
            .unwrap();
            let url = line
                .trim()
                .trim_start_matches("auth clone listening on ")
                .to_string();
            (Some(child), url)
        }
    };
    let password = std::env::var("BENCH_AUTH_PASSWORD").unwrap_or_else(|_| "benchpw".into());
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let body = format!(
        r#"{{"auth":{{"identity":{{"methods":["password"],"password":{{"user":{{"name":"admin","password":"{password}","domain":{{"name":"Default"}}}}}}}},"scope":{{"project":{{"name":"admin","domain":{{"name":"Default"}}}}}}}}}}"#
    );
    let mut c = Conn::open(&addr);
    let (status, head, _) = c.call("POST", "/v3/auth/tokens", &[], &body);
    assert_eq!(status, 201, "auth clone issues tokens");
    let admin = subject_token(&head);
    let (_, head, _) = c.call("POST", "/v3/auth/tokens", &[], &body);
    let subject = subject_token(&head);
    let threads = 4;
    let secs = 3.0;
    let (mut floor, mut issue, mut validate) = (vec![], vec![], vec![]);
    for r in 0..bench.runs {
        eprintln!("bench: auth clone, run {}/{}", r + 1, bench.runs);
        floor.push(rate(&addr, threads, secs, |c| {
            assert_eq!(c.call("GET", "/v3", &[], "").0, 200);
        }));
        let b = body.clone();
        issue.push(rate(&addr, threads, secs, move |c| {
            assert_eq!(c.call("POST", "/v3/auth/tokens?nocatalog", &[], &b).0, 201);
        }));
        let (a, s) = (admin.clone(), subject.clone());
        validate.push(rate(&addr, threads, secs, move |c| {
            assert_eq!(
                c.call(
                    "GET",
                    "/v3/auth/tokens",
                    &[("X-Auth-Token", &a), ("X-Subject-Token", &s)],
                    ""
                )
                .0,
                200
            );
        }));
    }
    if let Some(child) = child.as_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let floor = Stat::of(floor);
    let note = format!("{threads} keep-alive connections, {secs} s per run, {url}");
    vec![
        Row {
            figure: format!(
                "auth clone: tokens issued per second (password, project scope, bcrypt cost {rounds})"
            ),
            unit: "/s",
            vstage: Stat::of(issue),
            baseline: Some(("GET /v3 on the same server".into(), floor.clone())),
            note: note.clone(),
        },
        Row {
            figure: format!(
                "auth clone: tokens validated per second (GET /v3/auth/tokens, bcrypt cost {rounds})"
            ),
            unit: "/s",
            vstage: Stat::of(validate),
            baseline: Some(("GET /v3 on the same server".into(), floor)),
            note,
        },
    ]
}

fn lifecycle_rows(bench: &Bench, tiny3: &str, rows: &mut Vec<Row>) {
    let (mut up2, mut up3, mut base2, mut base3, mut down_g, mut down_f) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut sup_peak, mut qemu_rss) = (vec![], vec![]);
    for r in 0..bench.runs {
        eprintln!("bench: run {}/{}", r + 1, bench.runs);
        base2.push(bench.baseline(2));
        up2.push(bench.timed_ok(&["up", "-t", "tiny", "--name", "b2"]));
        // Some API traffic before reading the supervisor's peak.
        for _ in 0..3 {
            bench.timed_ok(&["exec", "b2", "--node", "n1", "--", "true"]);
            bench.timed_ok(&["status", "b2"]);
        }
        let dir = bench.env_dir("b2").display().to_string();
        let sup = pid_of(&format!("__supervise {dir}")).expect("supervisor pid");
        sup_peak.push(kib(sup, "VmHWM:"));
        let qemu = pid_of(&format!("{dir}/s/n1.qmp")).expect("qemu pid");
        qemu_rss.push(kib(qemu, "VmRSS:"));
        down_g.push(bench.timed_ok(&["down", "b2"]));

        base3.push(bench.baseline(3));
        up3.push(bench.timed_ok(&["up", "-t", tiny3, "--name", "b3"]));
        down_f.push(bench.timed_ok(&["down", "--force", "b3"]));
    }
    rows.push(Row {
        figure: "up, tiny (2 nodes), to ready".into(),
        unit: "ms",
        vstage: Stat::of(up2),
        baseline: Some(("plain script, 2 guests".into(), Stat::of(base2))),
        note: "includes template, plan, journal, supervisor start, agent ping".into(),
    });
    rows.push(Row {
        figure: "up, 3 nodes, to ready".into(),
        unit: "ms",
        vstage: Stat::of(up3),
        baseline: Some(("plain script, 3 guests".into(), Stat::of(base3))),
        note: String::new(),
    });
    rows.push(Row {
        figure: "down, graceful (ACPI), 2 nodes".into(),
        unit: "ms",
        vstage: Stat::of(down_g),
        baseline: None,
        note: "guest powers off on the ACPI button".into(),
    });
    rows.push(Row {
        figure: "down --force, 3 nodes".into(),
        unit: "ms",
        vstage: Stat::of(down_f),
        baseline: None,
        note: "QMP quit, no guest shutdown".into(),
    });
    rows.push(Row {
        figure: "supervisor peak RSS (env of 2 nodes)".into(),
        unit: "KiB",
        vstage: Stat::of(sup_peak),
        baseline: Some(("RSS of one node's QEMU".into(), Stat::of(qemu_rss))),
        note: "all host memory vstage adds beyond the guests (switch included)".into(),
    });

    for n in [1usize, 4, 8] {
        let (mut wall, mut ready, mut base) = (vec![], vec![], vec![]);
        for r in 0..bench.runs {
            eprintln!("bench: {n} envs at once, run {}/{}", r + 1, bench.runs);
            base.push(bench.baseline(2 * n));
            let t = Instant::now();
            let children: Vec<_> = (0..n)
                .map(|i| {
                    bench
                        .vstage(&["up", "-t", "tiny", "--name", &format!("p{i}")])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap()
                })
                .collect();
            let ok = children
                .into_iter()
                .map(|mut c| c.wait().map(|s| s.success()).unwrap_or(false))
                .filter(|ok| *ok)
                .count();
            wall.push(t.elapsed().as_secs_f64() * 1000.0);
            ready.push(ok as f64);
            for i in 0..n {
                let _ = bench
                    .vstage(&["down", "--force", &format!("p{i}")])
                    .output();
            }
        }
        let ready = Stat::of(ready);
        rows.push(Row {
            figure: format!("{n} tiny envs at once ({} guests), all ready", 2 * n),
            unit: "ms",
            vstage: Stat::of(wall),
            baseline: Some((format!("plain script, {} guests", 2 * n), Stat::of(base))),
            note: format!(
                "{:.0} of {n} envs ready (median; min {:.0})",
                ready.median, ready.min
            ),
        });
    }
}
