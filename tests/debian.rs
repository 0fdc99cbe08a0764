//! Debian 12 guests configured by cloud-init (TCG here: about a minute per boot).

mod common;

use common::{Harness, code, stderr};

#[test]
fn heavy_debian_nodes_run_user_data_and_answer_ssh_and_exec() {
    let h = Harness::new();
    h.ok(&["up", "-t", "debian", "--name", "deb"]);
    // The file user-data wrote, read both ways.
    let over_ssh = h.ok(&["ssh", "deb", "d1", "--", "cat", "/etc/vstage-hello"]);
    assert_eq!(over_ssh, "hello from cloud-init\n");
    let over_agent = h.ok(&[
        "exec",
        "deb",
        "--node",
        "d2",
        "--",
        "cat",
        "/etc/vstage-hello",
    ]);
    assert_eq!(over_agent, "hello from cloud-init\n");
    // runcmd ran, with the planned hostname.
    assert_eq!(
        h.ok(&["ssh", "deb", "d2", "--", "cat", "/var/tmp/vstage-runcmd"]),
        "d2\n"
    );
    // The nodes reach each other by name on the env's network.
    let ping = h.ok(&[
        "exec", "deb", "--node", "d1", "--", "ping", "-c", "1", "-W", "5", "d2",
    ]);
    assert!(ping.contains("1 received"), "{ping}");
    // ssh_config works for other tools too.
    let dir = h.env_dir("deb");
    let out = std::process::Command::new("ssh")
        .arg("-F")
        .arg(dir.join("ssh_config"))
        .args(["d1", "sudo", "-n", "id", "-u"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "0\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = std::fs::metadata(dir.join("id_ed25519")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777,
        0o600
    );

    let dir_text = dir.display().to_string();
    h.ok(&["down", "deb"]);
    assert!(!dir.exists());
    assert!(Harness::processes_mentioning(&dir_text).is_empty());
}

#[test]
fn heavy_a_cloud_init_error_fails_up_with_the_nodes_error() {
    let h = Harness::new();
    let file = h.home.path().join("broken.yaml");
    std::fs::write(
        &file,
        "apiVersion: vstage/v1
name: broken
networks: [{name: net0, cidr: 10.0.0.0/24}]
nodes:
  - name: b1
    image: debian-12
    memory: 1024
    nics: [{network: net0}]
    cloud_init:
      runcmd:
        - [sh, -c, 'echo vstage-test-failure >&2; exit 3']
",
    )
    .unwrap();
    let out = h.run(&["up", "-t", &file.display().to_string(), "--name", "broken"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("cloud-init failed"), "{err}");
    assert!(err.contains("b1"), "{err}");
    assert!(
        err.contains("/var/log/cloud-init.log"),
        "says where the full log is: {err}"
    );
    assert!(!h.env_dir("broken").exists(), "rolled back");
    assert!(Harness::processes_mentioning(&h.env_dir("broken").display().to_string()).is_empty());
}
