//! Which QEMU this is, and whether vstage supports it.
//!
//! The pin lives in `setup/host.sh` (QEMU 10.0 from bookworm-backports); docs/qemu.md
//! says why. Other versions may work, so they are warned about, not refused.

use std::path::Path;
use std::process::Command;

/// The series vstage is tested on: from this version up to, not including, the next major.
pub const SUPPORTED_MIN: Version = Version {
    major: 10,
    minor: 0,
    micro: 0,
};
pub const SUPPORTED_BELOW: Version = Version {
    major: 11,
    minor: 0,
    micro: 0,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub micro: u32,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("cannot run {binary} --version: {source}")]
    Run {
        binary: String,
        source: std::io::Error,
    },
    #[error("cannot read a version from {binary} --version: {text:?}")]
    Unreadable { binary: String, text: String },
}

impl Version {
    /// Reads the version from `QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-...)`.
    pub fn parse(text: &str) -> Option<Version> {
        let rest = text.split("version").nth(1)?.trim_start();
        let number = rest
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()?;
        let mut parts = number.split('.').map(|p| p.parse::<u32>().ok());
        Some(Version {
            major: parts.next()??,
            minor: parts.next()??,
            micro: parts.next().flatten().unwrap_or(0),
        })
    }

    pub fn of(binary: &Path) -> Result<Version, VersionError> {
        let out = Command::new(binary)
            .arg("--version")
            .output()
            .map_err(|source| VersionError::Run {
                binary: binary.display().to_string(),
                source,
            })?;
        let text = String::from_utf8_lossy(&out.stdout);
        Version::parse(&text).ok_or_else(|| VersionError::Unreadable {
            binary: binary.display().to_string(),
            text: text.lines().next().unwrap_or_default().to_string(),
        })
    }

    pub fn supported(&self) -> bool {
        SUPPORTED_MIN <= *self && *self < SUPPORTED_BELOW
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debian_and_upstream_banners() {
        let v = Version::parse("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\nCopyright (c) 2003-2025 Fabrice Bellard").unwrap();
        assert_eq!(v.to_string(), "10.0.2");
        assert!(v.supported());
        let old =
            Version::parse("QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)").unwrap();
        assert!(!old.supported());
        assert_eq!(
            Version::parse("QEMU emulator version 11.1").unwrap().minor,
            1
        );
        assert!(
            !Version::parse("QEMU emulator version 11.1")
                .unwrap()
                .supported()
        );
        assert_eq!(Version::parse("no version here"), None);
    }
}
