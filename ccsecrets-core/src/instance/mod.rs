//! The cc-ci instance repository and its typed, validated secret set.
//!
//! An instance repo holds:
//! - `instance.nix`: the instance's facts, at least `domain` ([`facts`]);
//! - `.sops.yaml`: who may decrypt;
//! - `secrets/secrets.yaml`: the secrets, encrypted with sops ([`secrets::SecretSet`]).
//!
//! What changes an instance: [`init()`] creates one; [`renew()`] installs a new certificate;
//! [`Policy`] edits who may decrypt and [`rekey::plan`]/[`rekey::apply`] bring every file to
//! that policy.
//!
//! Validation needs the decrypted set, in memory only:
//!
//! ```
//! use std::time::SystemTime;
//! use ccsecrets_core::instance::{validate, SecretSet, Severity, ValidateOptions};
//! use ccsecrets_core::sops::tree::{Map, Value};
//!
//! fn map(entries: &[(&str, Value)]) -> Value {
//!     let mut m = Map::new();
//!     for (k, v) in entries {
//!         m.push(*k, v.clone());
//!     }
//!     Value::Map(m)
//! }
//! let s = |v: &str| Value::Str(v.into());
//! let Value::Map(doc) = map(&[
//!     ("tls", map(&[("fullchain", s("PLACEHOLDER: the operator's certificate")),
//!                   ("privkey", s("PLACEHOLDER: its key"))])),
//!     ("drone", map(&[("oauth_client_id", s("id")), ("oauth_client_secret", s("secret")),
//!                     ("rpc_secret", s("f5257467204745134b5cfb03e257c8fa"))])),
//!     ("webhook", map(&[("hmac", s("too short"))])),
//! ]) else { unreachable!() };
//!
//! let set = SecretSet::from_map(&doc).expect("every key is there");
//! let result = validate(&set, &ValidateOptions::new("ci.example.test", SystemTime::now()));
//! assert!(result.has_errors());
//! let bad: Vec<&str> = result.findings.iter().map(|f| f.secret.as_str()).collect();
//! assert_eq!(bad, ["tls.fullchain", "tls.privkey", "webhook.hmac"]);
//! ```

pub mod cert;
pub mod facts;
pub mod init;
pub mod policy;
pub mod rekey;
pub mod renew;
pub mod secrets;
pub mod validate;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use cert::{CertInfo, KeyKind};
pub use facts::{FactValue, Facts, FactsError};
pub use init::{init, InitError, InitOptions, Initialized};
pub use policy::{Policy, PolicyEntry, PolicyError};
pub use rekey::{RekeyError, RekeyFile, RekeyPlan};
pub use renew::{renew, RenewError, RenewOutcome, RenewRequest};
pub use secrets::{
    InstallTarget, KeyProblem, RegistryCredential, Secret, SecretSet, SecretSetError, SecretValue,
};
pub use validate::{
    model_findings, validate, Finding, Severity, ValidateOptions, Validation, DEFAULT_WARN_DAYS,
};

/// The prefix of a value `ccsecrets init` writes where only the operator can supply the real
/// secret (`PLACEHOLDER: paste the wildcard certificate chain here`). Validation reports any
/// value starting with it as an error.
pub const PLACEHOLDER_PREFIX: &str = "PLACEHOLDER:";

/// `instance.nix`, relative to the instance root.
pub const FACTS_FILE: &str = "instance.nix";
/// `.sops.yaml`, relative to the instance root.
pub const SOPS_CONFIG_FILE: &str = ".sops.yaml";
/// `secrets/secrets.yaml`, relative to the instance root.
pub const SECRETS_FILE: &str = "secrets/secrets.yaml";

/// An instance repository on disk, with its facts read.
#[derive(Clone, Debug)]
pub struct Instance {
    /// The repository's root directory.
    pub root: PathBuf,
    /// The facts from `instance.nix`.
    pub facts: Facts,
}

/// Why an instance could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstanceError {
    /// `instance.nix` does not exist: not an instance repository.
    #[error("{}: not found; is {} an instance repository?", .0.display(), .0.parent().unwrap_or(Path::new(".")).display())]
    NotAnInstance(PathBuf),
    /// `instance.nix` could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `instance.nix` is not in the form ccsecrets reads.
    #[error("{}: {source}", path.display())]
    Facts {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: FactsError,
    },
}

impl Instance {
    /// Opens the instance at `root`: reads and checks its facts.
    pub fn open(root: &Path) -> Result<Instance, InstanceError> {
        let path = root.join(FACTS_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(InstanceError::NotAnInstance(path))
            }
            Err(source) => return Err(InstanceError::Io { path, source }),
        };
        let facts = Facts::parse(&text).map_err(|source| InstanceError::Facts { path, source })?;
        Ok(Instance {
            root: root.to_owned(),
            facts,
        })
    }

    /// `ROOT/secrets/secrets.yaml`.
    pub fn secrets_path(&self) -> PathBuf {
        self.root.join(SECRETS_FILE)
    }

    /// `ROOT/.sops.yaml`.
    pub fn sops_config_path(&self) -> PathBuf {
        self.root.join(SOPS_CONFIG_FILE)
    }
}
