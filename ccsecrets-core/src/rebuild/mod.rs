//! The cold-rebuild harness's parts (feature `rebuild`): what `ccsecrets rebuild-check` uses
//! to prove that a blank host given the base repo, the instance repo and the one bootstrap
//! age key becomes the working system with no step outside `docs/install.md`.
//!
//! Which API for which job:
//! - time each step and keep what it proved, then write the evidence file (no secret in it):
//!   [`Recorder`], [`Evidence::to_json`];
//! - the documented procedure, read from `docs/install.md`'s marked shell blocks:
//!   [`procedure::parse`], and the step names it must hold, in order: [`DOCUMENTED_STEPS`];
//! - check what `ccsecrets install` wrote under a root against the decrypted secret set (path,
//!   mode, content hash): [`verify::verify_installed`];
//! - a real TLS handshake on loopback with the installed certificate and key:
//!   [`tls::handshake`], with roots from a CA bundle or the system ([`tls::Roots`]).
//!
//! Running `check` and `install` themselves is the caller's job (the CLI runs them as
//! subprocesses of its own binary in a clean environment), as is cloning ([`crate::git::clone`]).

pub mod procedure;
pub mod tls;
pub mod verify;

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// The steps of the documented rebuild procedure, in order: the names of the marked shell
/// blocks of `docs/install.md` ([`procedure::parse`]). `ccsecrets rebuild-check` runs a step of
/// the same name for each, then its own verification steps ([`HARNESS_STEPS`]).
pub const DOCUMENTED_STEPS: &[&str] =
    &["provision-key", "clone", "check", "check-keyed", "install"];

/// Every step `ccsecrets rebuild-check` records, in order: the clean environment, the
/// documented steps, then the verification of the result.
pub const HARNESS_STEPS: &[&str] = &[
    "clean-environment",
    "provision-key",
    "clone",
    "check",
    "check-keyed",
    "install",
    "verify-files",
    "tls-handshake",
];

/// The format tag of the evidence file.
pub const EVIDENCE_FORMAT: &str = "ccsecrets-rebuild-evidence/1";

/// One recorded step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRecord {
    /// The step's name (one of [`HARNESS_STEPS`]).
    pub name: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// Wall time, in milliseconds.
    pub duration_ms: u128,
    /// What it proved, or why it failed (never a secret value).
    pub detail: String,
}

/// A cloned repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoRecord {
    /// `base` or `instance`.
    pub role: String,
    /// The URL it was cloned from.
    pub url: String,
    /// The checked-out commit, 40 hex digits.
    pub commit: String,
}

/// A public key the run relied on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// What it is (`bootstrap age key`, `TLS leaf certificate`).
    pub role: String,
    /// The public key itself where it is short (an age recipient), else empty.
    pub public_key: String,
    /// SHA-256 fingerprint, lowercase hex (of the recipient string for age keys, of the
    /// SubjectPublicKeyInfo for certificates).
    pub sha256: String,
}

/// Everything a run proved, for the evidence file. It holds names, paths, public keys, hashes
/// of public data and timings — never a secret value or a hash of one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// The ccsecrets version that ran.
    pub tool_version: String,
    /// Unix time the run started.
    pub started_unix: u64,
    /// The cloned repositories.
    pub repos: Vec<RepoRecord>,
    /// Public keys and fingerprints.
    pub keys: Vec<KeyRecord>,
    /// Every step, in the order run.
    pub steps: Vec<StepRecord>,
    /// The verified installed files.
    pub files: Vec<verify::VerifiedFile>,
    /// The TLS handshake, when it ran.
    pub tls: Option<tls::HandshakeReport>,
}

impl Evidence {
    /// True when every step of [`HARNESS_STEPS`] ran and succeeded.
    pub fn complete(&self) -> bool {
        self.steps.len() == HARNESS_STEPS.len()
            && self
                .steps
                .iter()
                .zip(HARNESS_STEPS)
                .all(|(s, want)| s.ok && s.name == *want)
    }

    /// The first failed step, if any.
    pub fn failed_step(&self) -> Option<&StepRecord> {
        self.steps.iter().find(|s| !s.ok)
    }

    /// The evidence as a JSON document (pretty-printed, trailing newline).
    pub fn to_json(&self) -> String {
        let v = json!({
            "format": EVIDENCE_FORMAT,
            "tool": format!("ccsecrets {}", self.tool_version),
            "started_unix": self.started_unix,
            "result": if self.complete() { "ok" } else { "failed" },
            "failed_step": self.failed_step().map(|s| s.name.clone()),
            "repos": self.repos.iter().map(|r| json!({
                "role": r.role, "url": r.url, "commit": r.commit,
            })).collect::<Vec<_>>(),
            "keys": self.keys.iter().map(|k| json!({
                "role": k.role, "public_key": k.public_key, "sha256": k.sha256,
            })).collect::<Vec<_>>(),
            "steps": self.steps.iter().map(|s| json!({
                "name": s.name,
                "result": if s.ok { "ok" } else { "failed" },
                "duration_ms": s.duration_ms as u64,
                "detail": s.detail,
            })).collect::<Vec<_>>(),
            "files": self.files.iter().map(|f| json!({
                "secret": f.secret,
                "path": f.host_path,
                "mode": format!("{:04o}", f.mode),
                "bytes": f.bytes,
                "owner": format!("{}:{}", f.uid, f.gid),
                "content": "sha256 equal to the decrypted value",
                "link": f.link,
            })).collect::<Vec<_>>(),
            "tls": self.tls.as_ref().map(|t| json!({
                "server_name": t.server_name,
                "address": t.address,
                "protocol": t.protocol,
                "cipher_suite": t.cipher_suite,
                "chain_length": t.chain_len,
                "leaf_sha256": t.leaf_sha256,
                "roots": t.roots,
            })).unwrap_or(Value::Null),
        });
        let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// A step that failed: its name and why (never a secret value).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("step `{step}` failed: {message}")]
pub struct StepFailed {
    /// The step's name.
    pub step: String,
    /// Why.
    pub message: String,
}

/// Runs steps in order, timing each and recording its outcome into an [`Evidence`].
pub struct Recorder {
    evidence: Evidence,
}

impl Recorder {
    /// A new run of ccsecrets `tool_version`, started now.
    pub fn new(tool_version: &str) -> Recorder {
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Recorder {
            evidence: Evidence {
                tool_version: tool_version.to_owned(),
                started_unix,
                ..Evidence::default()
            },
        }
    }

    /// Runs `f` as step `name`. `f` returns its value and a one-line detail on success, or a
    /// message (which must name no secret) on failure.
    pub fn step<T, E: fmt::Display>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Evidence) -> Result<(T, String), E>,
    ) -> Result<T, StepFailed> {
        let start = Instant::now();
        let outcome = f(&mut self.evidence);
        let duration_ms = start.elapsed().as_millis();
        let (ok, detail, value) = match outcome {
            Ok((value, detail)) => (true, detail, Some(value)),
            Err(e) => (false, e.to_string(), None),
        };
        self.evidence.steps.push(StepRecord {
            name: name.to_owned(),
            ok,
            duration_ms,
            detail: detail.clone(),
        });
        value.ok_or(StepFailed {
            step: name.to_owned(),
            message: detail,
        })
    }

    /// What has been recorded so far.
    pub fn evidence(&self) -> &Evidence {
        &self.evidence
    }

    /// The finished evidence.
    pub fn finish(self) -> Evidence {
        self.evidence
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}
