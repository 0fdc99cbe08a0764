//! The env's L2 switch: one unix datagram socket per network, one datagram per frame.
//!
//! Each QEMU NIC is a `-netdev dgram` bound at its own path and sending to the
//! network's switch socket. The switch learns which path each source MAC came from,
//! forwards unicast to that path and floods the rest to the network's other ports.
//! Only the env's NIC paths are ports (the plan's, and those the SDN clone attaches
//! later through [`Ports`]), so nothing outside the env can join.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::net::UnixDatagram;

use crate::net::Mac;

pub struct Switch {
    socket: UnixDatagram,
    ports: Ports,
    table: HashMap<Mac, PathBuf>,
}

/// A switch's port list, shared so ports can be added and removed while it runs.
#[derive(Clone, Default)]
pub struct Ports(Arc<Mutex<Vec<PathBuf>>>);

impl Ports {
    pub fn add(&self, path: PathBuf) {
        let mut ports = self.0.lock().expect("ports lock");
        if !ports.contains(&path) {
            ports.push(path);
        }
    }

    pub fn remove(&self, path: &Path) {
        self.0.lock().expect("ports lock").retain(|p| p != path);
    }

    fn snapshot(&self) -> Vec<PathBuf> {
        self.0.lock().expect("ports lock").clone()
    }
}

/// Ethernet frames are at most 64 KiB through QEMU's dgram backend.
const MAX_FRAME: usize = 65_536;

impl Switch {
    /// Binds the network's switch socket at `path`; `ports` are the NIC socket paths.
    pub fn bind(path: &Path, ports: Vec<PathBuf>) -> std::io::Result<Switch> {
        let socket = UnixDatagram::bind(path)?;
        Ok(Switch {
            socket,
            ports: Ports(Arc::new(Mutex::new(ports))),
            table: HashMap::new(),
        })
    }

    /// The handle that adds and removes ports of this switch while it runs.
    pub fn ports(&self) -> Ports {
        self.ports.clone()
    }

    /// Forwards frames until the task is dropped.
    pub async fn run(mut self) {
        let mut buf = vec![0u8; MAX_FRAME];
        loop {
            let (len, from) = match self.socket.recv_from(&mut buf).await {
                Ok(x) => x,
                Err(_) => continue,
            };
            let Some(from) = from.as_pathname() else {
                continue;
            };
            let ports = self.ports.snapshot();
            if len < 14 || !ports.iter().any(|p| p == from) {
                continue; // a runt, or not one of this env's NICs
            }
            let frame = &buf[..len];
            let dst = Mac(frame[0..6].try_into().expect("6 bytes"));
            let src = Mac(frame[6..12].try_into().expect("6 bytes"));
            if !src.is_multicast() {
                self.table.insert(src, from.to_path_buf());
            }
            match self.table.get(&dst) {
                Some(port) if !dst.is_multicast() && ports.contains(port) => {
                    if port != from {
                        self.send(port, frame).await;
                    }
                }
                _ => {
                    for port in ports.iter().filter(|p| p.as_path() != from) {
                        self.send(port, frame).await;
                    }
                }
            }
        }
    }

    async fn send(&self, port: &Path, frame: &[u8]) {
        // A port whose QEMU is not up yet (or gone) just misses the frame, like a
        // cable that is not plugged in.
        let _ = self.socket.send_to(frame, port).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(dst: [u8; 6], src: [u8; 6], payload: &[u8]) -> Vec<u8> {
        let mut f = dst.to_vec();
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(payload);
        f
    }

    async fn recv(
        s: &UnixDatagram,
        buf: &mut [u8],
    ) -> Result<std::io::Result<usize>, tokio::time::error::Elapsed> {
        tokio::time::timeout(std::time::Duration::from_millis(300), s.recv(buf)).await
    }

    #[tokio::test]
    async fn floods_then_learns_and_ignores_strangers() {
        let dir = tempfile::tempdir().unwrap();
        let sw = dir.path().join("sw");
        let paths: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("p{i}"))).collect();
        let ports: Vec<UnixDatagram> = paths
            .iter()
            .map(|p| UnixDatagram::bind(p).unwrap())
            .collect();
        let stranger = UnixDatagram::bind(dir.path().join("x")).unwrap();
        let switch = Switch::bind(&sw, paths.clone()).unwrap();
        let handle = switch.ports();
        let task = tokio::spawn(switch.run());
        let a = [0x52, 0x54, 0, 0, 0, 1];
        let b = [0x52, 0x54, 0, 0, 0, 2];
        let mut buf = [0u8; 128];

        // Unknown destination: flooded to both other ports.
        ports[0].send_to(&frame(b, a, b"hi"), &sw).await.unwrap();
        assert!(recv(&ports[1], &mut buf).await.is_ok());
        assert!(recv(&ports[2], &mut buf).await.is_ok());
        // Port 1 answers: a was learnt, so only port 0 gets it.
        ports[1].send_to(&frame(a, b, b"yo"), &sw).await.unwrap();
        let n = recv(&ports[0], &mut buf).await.unwrap().unwrap();
        assert_eq!(&buf[12..n], b"\x08\x00yo");
        assert!(recv(&ports[2], &mut buf).await.is_err());
        // A socket that is not a port of the plan reaches nobody.
        stranger
            .send_to(&frame([0xff; 6], [0x52, 0x54, 0, 0, 0, 9], b"x"), &sw)
            .await
            .unwrap();
        assert!(recv(&ports[0], &mut buf).await.is_err());
        // A port added while running takes part; a removed one no longer does.
        let late = UnixDatagram::bind(dir.path().join("late")).unwrap();
        handle.add(dir.path().join("late"));
        late.send_to(&frame([0xff; 6], [0x52, 0x54, 0, 0, 0, 7], b"new"), &sw)
            .await
            .unwrap();
        assert!(recv(&ports[0], &mut buf).await.is_ok());
        handle.remove(&paths[0]);
        late.send_to(&frame([0xff; 6], [0x52, 0x54, 0, 0, 0, 7], b"new"), &sw)
            .await
            .unwrap();
        assert!(recv(&ports[0], &mut buf).await.is_err());
        task.abort();
    }
}
