//! How a command fails: the error it ends with, and the exit code its kind gives.
//! Each error type a verb can meet is classified once, where it converts into a
//! [`Failure`] (by `?`), so nothing downstream has to guess from a message.

use vstage::clone::standalone::StandaloneError;
use vstage::env::EnvError;
use vstage::lifecycle::UpError;
use vstage::snapshot::SnapshotError;
use vstage::template::TemplateError;

pub const EXIT_FAILURE: u8 = 1;
/// The user's input is wrong (a template, a flag, a name): not a failure of the host.
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_NOT_FOUND: u8 = 3;
/// As a shell reports a command ended by SIGINT.
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug)]
pub struct Failure {
    code: u8,
    error: anyhow::Error,
}

pub type Result<T> = std::result::Result<T, Failure>;

impl Failure {
    /// The user's input is wrong; `message` says how to put it right.
    pub fn bad_input(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_BAD_INPUT,
            error: anyhow::Error::msg(message.into()),
        }
    }

    pub fn code(&self) -> u8 {
        self.code
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

fn env_code(e: &EnvError) -> u8 {
    match e {
        EnvError::NotFound(_) => EXIT_NOT_FOUND,
        EnvError::BadName(_) => EXIT_BAD_INPUT,
        EnvError::Exists(..) | EnvError::Io(_) => EXIT_FAILURE,
    }
}

fn up_code(e: &UpError) -> u8 {
    match e {
        UpError::Template(_) | UpError::Plan(_) | UpError::Driver(_) | UpError::BadInput(_) => {
            EXIT_BAD_INPUT
        }
        UpError::Env(e) => env_code(e),
        UpError::Snapshot(e) => snapshot_code(e),
        UpError::Interrupted => EXIT_INTERRUPTED,
        UpError::Image(_) | UpError::Failed(_) | UpError::Io(_) | UpError::Capacity(_) => {
            EXIT_FAILURE
        }
    }
}

fn snapshot_code(e: &SnapshotError) -> u8 {
    match e {
        SnapshotError::NotFound(_) => EXIT_NOT_FOUND,
        SnapshotError::BadName(_)
        | SnapshotError::Exists(_)
        | SnapshotError::InUse { .. }
        | SnapshotError::Expired { .. } => EXIT_BAD_INPUT,
        _ => EXIT_FAILURE,
    }
}

fn standalone_code(e: &StandaloneError) -> u8 {
    match e {
        StandaloneError::BadInput(_) => EXIT_BAD_INPUT,
        _ => EXIT_FAILURE,
    }
}

/// `From` for each error type, with the code its value gives.
macro_rules! classify {
    ($($ty:ty => $code:expr),* $(,)?) => {$(
        impl From<$ty> for Failure {
            fn from(e: $ty) -> Failure {
                let code: fn(&$ty) -> u8 = $code;
                Failure { code: code(&e), error: e.into() }
            }
        }
    )*};
}

classify! {
    UpError => up_code,
    EnvError => env_code,
    TemplateError => |_| EXIT_BAD_INPUT,
    StandaloneError => standalone_code,
    SnapshotError => snapshot_code,
    // Failures of the host or of vstage, with the context the verb gave them.
    anyhow::Error => |_| EXIT_FAILURE,
    std::io::Error => |_| EXIT_FAILURE,
    serde_json::Error => |_| EXIT_FAILURE,
    vstage::image::ImageError => |_| EXIT_FAILURE,
}
