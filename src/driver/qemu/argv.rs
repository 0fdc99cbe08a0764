//! QEMU's command line for one node, built apart from the driver's lifecycle (Lima
//! keeps its `qemu.Cmdline` apart the same way): a pure function of the plan, the image
//! and the host-facing choices, snapshot-tested like the plan.
//!
//! Every path in it is UTF-8 without `,` or white space: `up` refuses any other home,
//! cache or binary path (`envdir::check_option_path`) before it gets here.

use super::files;
use super::files::NodeFiles;
use std::path::Path;

use crate::driver::qemu::accel::Accel;
use crate::envdir::EnvDir;
use crate::image::Image;
use crate::plan::{NodePlan, Plan};

/// Free PCIe root ports per node, for NICs the SDN clone's fabric hot-plugs later.
pub const SPARE_SLOTS: usize = 4;

/// The device id of spare root port `slot`.
pub fn slot_id(slot: usize) -> String {
    format!("hp{slot}")
}

/// What a node's command line is made from.
pub struct Inputs<'a> {
    pub dir: &'a EnvDir,
    pub plan: &'a Plan,
    pub node: &'a NodePlan,
    pub image: &'a Image,
    pub accel: Accel,
    /// The host port forwarded to the node's sshd.
    pub ssh_port: Option<u16>,
    /// The node's other forwards: (guest port, host port).
    pub forwards: &'a [(u16, u16)],
    /// The vstage binary QEMU runs for each guest connection to a clone.
    pub exe: &'a Path,
    /// The snapshot the node resumes from instead of booting.
    pub restore: Option<Restore<'a>>,
}

/// A node resumed from a snapshot: it starts paused, waiting for its state
/// (`-incoming defer`, then `migrate-incoming` over QMP, which can set capabilities
/// first), with its RAM mapped privately from the snapshot's file where it can be.
pub struct Restore<'a> {
    pub memory: &'a Path,
    pub shared_ram_offset: Option<u64>,
    /// NICs that were hot-plugged when the snapshot was taken, back in their slots.
    pub nics: &'a [crate::driver::SavedNic],
}

/// The QMP option of `node`. Its socket path is in no other process's command line, so
/// these two elements also identify the QEMU process in the journal.
pub fn qmp_option(dir: &EnvDir, node: &NodePlan) -> [String; 2] {
    [
        "-qmp".into(),
        format!(
            "unix:{},server=on,wait=off",
            path(dir, &NodeFiles::of(node).qmp)
        ),
    ]
}

fn path(dir: &EnvDir, relative: &str) -> String {
    dir.join(relative).display().to_string()
}

/// QEMU's command line for one node. One function on purpose (~140 lines): it reads
/// top to bottom in the order of QEMU's own documentation (machine, memory, disks,
/// seed, agent, hot-plug slots, service network, env NICs), and its snapshot test
/// pins the result.
pub fn argv(i: &Inputs) -> Vec<String> {
    let (dir, node) = (i.dir, i.node);
    let mut a: Vec<String> = Vec::new();
    let mut add = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
    add(&["-name", &format!("vstage:{}:{}", dir.name(), node.name)]);
    add(&[
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ]);
    // A restored node's RAM maps the snapshot's pages copy-on-write; the backend takes
    // the name of `-m`'s own RAM block so the migration stream matches it.
    let shared = i
        .restore
        .as_ref()
        .and_then(|r| r.shared_ram_offset.map(|offset| (r.memory, offset)));
    // vhost-user devices (virtiofsd) map guest RAM: it must be shareable memory.
    let mounts = !node.mounts.is_empty();
    let machine = match (shared, mounts) {
        (Some(_), _) | (None, true) => format!("q35,memory-backend={}", super::snapshot::RAM_BLOCK),
        (None, false) => "q35".to_string(),
    };
    add(&["-machine", &machine, "-accel", i.accel.as_str()]);
    if i.accel == Accel::Kvm {
        add(&["-cpu", "host"]);
    }
    add(&[
        "-m",
        &node.memory_mib.to_string(),
        "-smp",
        &node.cpus.to_string(),
    ]);
    if let Some((memory, offset)) = shared {
        add(&[
            "-object",
            &format!(
                "memory-backend-file,id={},size={}M,mem-path={},share=off,offset={offset}",
                super::snapshot::RAM_BLOCK,
                node.memory_mib,
                memory.display()
            ),
        ]);
    }
    if mounts && shared.is_none() {
        add(&[
            "-object",
            &format!(
                "memory-backend-memfd,id={},size={}M,share=on",
                super::snapshot::RAM_BLOCK,
                node.memory_mib
            ),
        ]);
    }
    if i.restore.is_some() {
        add(&["-S", "-incoming", "defer"]);
    }
    add(&["-kernel", &i.image.kernel().display().to_string()]);
    add(&["-initrd", &i.image.initrd().display().to_string()]);
    add(&["-append", &i.image.manifest.append]);
    add(&[
        "-serial",
        &format!("file:{}", path(dir, &NodeFiles::of(node).serial)),
    ]);
    // A generation id that QEMU changes on every start: a guest resumed from a snapshot
    // sees it change and reseeds its RNG, so no two copies share random numbers.
    add(&["-device", "vmgenid,guid=auto"]);
    let [flag, qmp] = qmp_option(dir, node);
    add(&[&flag, &qmp]);
    add(&["-pidfile", &path(dir, &NodeFiles::of(node).pidfile)]);
    if let Some(disk) = &NodeFiles::of(node).disk {
        add(&[
            "-drive",
            &format!("if=virtio,format=qcow2,file={}", path(dir, disk)),
        ]);
    }
    if node.cloud_init {
        let seed = path(dir, &NodeFiles::of(node).seed);
        add(&[
            "-drive",
            &format!("if=virtio,format=raw,readonly=on,file={seed}"),
        ]);
    } else {
        let seed = path(dir, &NodeFiles::of(node).seed);
        add(&["-fw_cfg", &format!("name=opt/vstage/seed,file={seed}")]);
    }
    if i.image.manifest.agent {
        let agent = path(dir, &NodeFiles::of(node).agent);
        add(&[
            "-chardev",
            &format!("socket,id=qga,server=on,wait=off,path={agent}"),
        ]);
        add(&["-device", "virtio-serial-pci"]);
        add(&[
            "-device",
            "virtserialport,chardev=qga,name=org.qemu.guest_agent.0",
        ]);
    }
    for (n, m) in node.mounts.iter().enumerate() {
        add(&[
            "-chardev",
            &format!(
                "socket,id=fs{n},path={}",
                path(dir, &files::mount_socket(&node.name, &m.tag))
            ),
        ]);
        add(&[
            "-device",
            &format!("vhost-user-fs-pci,chardev=fs{n},tag={}", m.tag),
        ]);
    }
    if i.plan.hotplug {
        for slot in 0..SPARE_SLOTS {
            let port = format!(
                "pcie-root-port,id={},chassis={n},slot={n}",
                slot_id(slot),
                n = slot + 1
            );
            add(&["-device", &port]);
        }
    }
    for nic in i.restore.as_ref().map_or(&[][..], |r| r.nics) {
        let t = files::short(&nic.id);
        add(&[
            "-netdev",
            &format!(
                "dgram,id=p-{t},local.type=unix,local.path={},remote.type=unix,remote.path={}",
                path(dir, &nic.socket),
                path(dir, &nic.segment)
            ),
        ]);
        add(&[
            "-device",
            &format!(
                "virtio-net-pci,id=d-{t},netdev=p-{t},mac={},bus={}",
                nic.mac,
                slot_id(nic.slot)
            ),
        ]);
    }
    if let Some(nic) = &node.service_nic {
        // The service network: user-mode, isolated from the host's networks
        // (restrict=on), with explicit forwards only.
        let mut netdev = format!("user,id=svc,restrict=on,net={}", crate::plan::SERVICE_NET);
        if let Some(port) = i.ssh_port {
            netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{port}-{}:22", nic.ip));
        }
        for (guest, host) in i.forwards {
            netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-{}:{guest}", nic.ip));
        }
        // QEMU hands each guest connection to a clone's address to `vstage __connect`,
        // which joins it to the clone's socket in the env dir while the node has a free
        // connection slot.
        for clone in &i.plan.services {
            netdev.push_str(&format!(
                ",guestfwd=tcp:{}:{}-cmd:{} __connect --slots {} {}",
                clone.ip,
                clone.port,
                i.exe.display(),
                path(dir, &files::connection_slots(&node.name)),
                path(dir, &files::clone_socket(&clone.name))
            ));
        }
        add(&["-netdev", &netdev]);
        add(&[
            "-device",
            &format!("virtio-net-pci,netdev=svc,mac={}", nic.mac),
        ]);
    }
    for (n, nic) in node.nics.iter().enumerate() {
        let net = i
            .plan
            .networks
            .iter()
            .find(|net| net.name == nic.network)
            .expect("plan networks cover every nic");
        let netdev = format!(
            "dgram,id=nic{n},local.type=unix,local.path={},remote.type=unix,remote.path={}",
            path(dir, &files::nic_socket(&node.name, n)),
            path(dir, &files::switch_socket(&net.name))
        );
        add(&["-netdev", &netdev]);
        add(&[
            "-device",
            &format!("virtio-net-pci,netdev=nic{n},mac={}", nic.mac),
        ]);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Manifest;
    use crate::template::{Source, load};

    /// The argv of every node of `template`, one element per line, in a fixed env dir.
    fn render(template: &str, image: &str, disk: Option<&str>) -> String {
        let source = Source {
            label: "t.yaml".into(),
            text: template.into(),
        };
        let plan = crate::plan::build(&load(&source, &[]).unwrap()).unwrap();
        let image = Image {
            name: image.into(),
            hash: String::new(),
            dir: "/cache/images/img".into(),
            manifest: Manifest {
                kernel: "vmlinuz".into(),
                initrd: "initrd".into(),
                append: "console=ttyS0".into(),
                agent: true,
                disk: disk.map(String::from),
                cloud_init: disk.is_some(),
            },
        };
        let dir = EnvDir("/h/envs/e".into());
        let mut out = String::new();
        for (n, node) in plan.nodes.iter().enumerate() {
            let argv = argv(&Inputs {
                dir: &dir,
                plan: &plan,
                node,
                image: &image,
                accel: Accel::Tcg,
                ssh_port: node.cloud_init.then_some(2200 + n as u16),
                forwards: &[],
                exe: Path::new("/usr/bin/vstage"),
                restore: None,
            });
            out.push_str(&format!("# {}\n{}\n", node.name, argv.join("\n")));
        }
        out
    }

    /// Compares with the snapshot; `VSTAGE_BLESS=1 cargo test --lib argv` rewrites it
    /// after an intended change (review the diff).
    fn check(actual: &str, expected: &str, file: &str) {
        if std::env::var_os("VSTAGE_BLESS").is_some() {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/snapshots")
                .join(file);
            std::fs::write(path, actual).unwrap();
            return;
        }
        assert!(
            actual == expected,
            "QEMU's argv changed; if intended, rerun with VSTAGE_BLESS=1 and review \
             tests/snapshots/{file}:\n{actual}"
        );
    }

    #[test]
    fn a_mount_is_a_vhost_user_fs_device_over_shared_ram() {
        let text = "apiVersion: vstage/v1\nname: m\nnodes:\n  - name: n1\n    image: tiny\n    memory: 256\n    mounts:\n      - {source: /, target: /mnt/host}\n";
        let argv = render(text, "tiny", None);
        let lines: Vec<&str> = argv.lines().collect();
        let after =
            |flag: &str, value: &str| lines.windows(2).any(|w| w[0] == flag && w[1] == value);
        assert!(after("-machine", "q35,memory-backend=pc.ram"), "{argv}");
        assert!(
            after(
                "-object",
                "memory-backend-memfd,id=pc.ram,size=256M,share=on"
            ),
            "{argv}"
        );
        assert!(
            after("-chardev", "socket,id=fs0,path=/h/envs/e/s/n1.vstage0.fs"),
            "{argv}"
        );
        assert!(
            after("-device", "vhost-user-fs-pci,chardev=fs0,tag=vstage0"),
            "{argv}"
        );
    }

    #[test]
    fn a_restored_node_waits_for_its_state_and_maps_its_ram() {
        let tiny = Source::resolve("tiny").unwrap();
        let plan = crate::plan::build(&load(&tiny, &[]).unwrap()).unwrap();
        let image = Image {
            name: "tiny".into(),
            hash: String::new(),
            dir: "/cache/images/tiny".into(),
            manifest: Manifest {
                kernel: "vmlinuz".into(),
                initrd: "initrd".into(),
                append: "console=ttyS0".into(),
                agent: true,
                disk: None,
                cloud_init: false,
            },
        };
        let memory = Path::new("/cache/snapshots/0123/nodes/n1/memory");
        let argv = |offset| {
            argv(&Inputs {
                dir: &EnvDir("/h/envs/e".into()),
                plan: &plan,
                node: &plan.nodes[0],
                image: &image,
                accel: Accel::Tcg,
                ssh_port: None,
                forwards: &[],
                exe: Path::new("/usr/bin/vstage"),
                restore: Some(Restore {
                    memory,
                    shared_ram_offset: offset,
                    nics: &[],
                }),
            })
            .join(" ")
        };
        let shared = argv(Some(1 << 20));
        assert!(shared.contains("-S -incoming defer"), "{shared}");
        assert!(
            shared.contains("-machine q35,memory-backend=pc.ram"),
            "{shared}"
        );
        assert!(shared.contains(
            "memory-backend-file,id=pc.ram,size=256M,mem-path=/cache/snapshots/0123/nodes/n1/memory,share=off,offset=1048576"
        ), "{shared}");
        let plain = argv(None);
        assert!(plain.contains("-S -incoming defer"), "{plain}");
        assert!(!plain.contains("memory-backend"), "{plain}");
    }

    #[test]
    fn tiny_argv_matches_snapshot() {
        let tiny = Source::resolve("tiny").unwrap().text;
        check(
            &render(&tiny, "tiny", None),
            include_str!("../../../tests/snapshots/qemu-argv-tiny.txt"),
            "qemu-argv-tiny.txt",
        );
    }

    #[test]
    fn clones_and_cloud_init_argv_matches_snapshot() {
        let text = include_str!("../../../tests/templates/clones.yaml");
        check(
            &render(text, "debian-12", Some("disk.qcow2")),
            include_str!("../../../tests/snapshots/qemu-argv-clones.txt"),
            "qemu-argv-clones.txt",
        );
    }
}
