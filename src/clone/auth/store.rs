//! Durable state for the auth clone, in a directory (the env dir's `clones/auth/`).
//!
//! Entities are small and change rarely: `state.json`, rewritten atomically on change.
//! Tokens are many and made on every login: appended to `tokens.jsonl` (issued and
//! revoked lines) and replayed on start, so issuing stays O(1); the start also compacts
//! it to the tokens still kept (expired ones go after their grace), so it does not grow
//! across restarts without bound.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::model::{EXPIRED_GRACE_MICROS, State, Token};
use crate::envdir::write_atomic;

pub const STATE_JSON: &str = "state.json";
pub const TOKENS: &str = "tokens.jsonl";

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum TokenLine {
    Issue(Token),
    Revoke { id: String },
}

pub struct Store {
    dir: PathBuf,
    tokens: File,
}

impl Store {
    /// Opens `dir`, returning the saved state if there is one.
    pub fn open(dir: &Path) -> std::io::Result<(Store, Option<State>)> {
        std::fs::create_dir_all(dir)?;
        let state = match std::fs::read_to_string(dir.join(STATE_JSON)) {
            Ok(text) => {
                let mut state: State =
                    serde_json::from_str(&text).map_err(std::io::Error::other)?;
                if state.implied_roles.is_none() {
                    state.seed_implied_roles();
                }
                if let Ok(f) = File::open(dir.join(TOKENS)) {
                    for line in BufReader::new(f).lines().map_while(Result::ok) {
                        match serde_json::from_str::<TokenLine>(&line) {
                            Ok(TokenLine::Issue(t)) => {
                                state.tokens.insert(t.id.clone(), t);
                            }
                            Ok(TokenLine::Revoke { id }) => {
                                state.revoke(&id);
                            }
                            Err(_) => {} // a torn last line
                        }
                    }
                }
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_micros() as u64)
                    .unwrap_or(0);
                state.purge_tokens(now, EXPIRED_GRACE_MICROS);
                compact(&dir.join(TOKENS), &state)?;
                Some(state)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let tokens = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(TOKENS))?;
        Ok((
            Store {
                dir: dir.to_path_buf(),
                tokens,
            },
            state,
        ))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn save(&self, state: &State) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
        write_atomic(&self.dir.join(STATE_JSON), &text)
    }

    pub fn issued(&mut self, token: &Token) -> std::io::Result<()> {
        self.append(&TokenLine::Issue(token.clone()))
    }

    pub fn revoked(&mut self, id: &str) -> std::io::Result<()> {
        self.append(&TokenLine::Revoke { id: id.to_string() })
    }

    fn append(&mut self, line: &TokenLine) -> std::io::Result<()> {
        let mut text = serde_json::to_string(line).map_err(std::io::Error::other)?;
        text.push('\n');
        self.tokens.write_all(text.as_bytes())
    }
}

/// Rewrites the token log as one line per token `state` keeps (revoked ones with their
/// mark), atomically.
fn compact(path: &Path, state: &State) -> std::io::Result<()> {
    let mut text = String::new();
    for t in state.tokens.values() {
        text.push_str(
            &serde_json::to_string(&TokenLine::Issue(t.clone())).map_err(std::io::Error::other)?,
        );
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::super::model::{DEFAULT_DOMAIN_ID, Scope};
    use super::*;

    #[test]
    fn state_and_tokens_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, none) = Store::open(dir.path()).unwrap();
        assert!(none.is_none());
        let mut state = State::new();
        let u = state
            .create_user(
                "bob",
                DEFAULT_DOMAIN_ID,
                Some("pw"),
                true,
                None,
                Default::default(),
            )
            .unwrap();
        store.save(&state).unwrap();
        let kept = state.issue(&u.id, Scope::Unscoped, vec!["password".into()], 1, u64::MAX);
        store.issued(&kept).unwrap();
        let gone = state.issue(&u.id, Scope::Unscoped, vec!["password".into()], 1, u64::MAX);
        store.issued(&gone).unwrap();
        store.revoked(&gone.id).unwrap();
        drop(store);

        let (_, again) = Store::open(dir.path()).unwrap();
        let again = again.unwrap();
        assert!(again.users.contains_key(&u.id));
        assert!(again.valid_token(&kept.id, 2, false).is_some());
        assert!(again.valid_token(&gone.id, 2, false).is_none());
        // Compacted: one line per token, and the revocation holds across another start.
        let log = std::fs::read_to_string(dir.path().join(TOKENS)).unwrap();
        assert_eq!(log.lines().count(), 2, "{log}");
        let (_, third) = Store::open(dir.path()).unwrap();
        let third = third.unwrap();
        assert!(third.valid_token(&kept.id, 2, false).is_some());
        assert!(third.valid_token(&gone.id, 2, false).is_none());
    }
}
