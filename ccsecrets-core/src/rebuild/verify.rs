//! Checks what an install left under a root against the decrypted secret set: each secret is
//! reachable at its host path, has its declared mode and exactly its value (compared by
//! SHA-256; neither the value nor its hash is kept).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::install::under;
use crate::instance::SecretSet;

/// One verified file (no content, no hash of it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedFile {
    /// The secret (`tls.fullchain`).
    pub secret: String,
    /// Its host path (`/var/lib/ci-certs/live/fullchain.pem`).
    pub host_path: String,
    /// Its permission bits.
    pub mode: u32,
    /// Its size in bytes.
    pub bytes: u64,
    /// Where the host path links to, when it is a symlink (relative link text).
    pub link: Option<String>,
}

/// Why an installed file does not match its secret. Messages name the secret and the path,
/// never the value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The host path does not lead to a regular file.
    #[error("`{secret}`: {} is missing or not a regular file: {reason}", path.display())]
    Missing {
        /// The secret.
        secret: String,
        /// The path under the root.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// A link under the root is absolute (it would point outside the root).
    #[error("`{secret}`: {} is a symlink to the absolute path {target}; links under a root must be relative", path.display())]
    AbsoluteLink {
        /// The secret.
        secret: String,
        /// The link.
        path: PathBuf,
        /// Its text.
        target: String,
    },
    /// The mode differs from the declared one.
    #[error("`{secret}`: {} has mode {found:04o}, declared {want:04o}", path.display())]
    Mode {
        /// The secret.
        secret: String,
        /// The path.
        path: PathBuf,
        /// Found.
        found: u32,
        /// Declared.
        want: u32,
    },
    /// The content differs from the decrypted value.
    #[error("`{secret}`: the content of {} is not the decrypted value (SHA-256 differs)", path.display())]
    Content {
        /// The secret.
        secret: String,
        /// The path.
        path: PathBuf,
    },
}

/// Verifies every secret of `set` under `root` (see the module documentation), in the set's
/// order; the first mismatch is the error.
pub fn verify_installed(set: &SecretSet, root: &Path) -> Result<Vec<VerifiedFile>, VerifyError> {
    let mut out = Vec::new();
    for s in set.secrets() {
        let host = &s.target.path;
        let path = under(root, host);
        let missing = |reason: String| VerifyError::Missing {
            secret: s.name.clone(),
            path: path.clone(),
            reason,
        };
        let link = match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let text = fs::read_link(&path).map_err(|e| missing(e.to_string()))?;
                if text.is_absolute() {
                    return Err(VerifyError::AbsoluteLink {
                        secret: s.name.clone(),
                        path: path.clone(),
                        target: text.display().to_string(),
                    });
                }
                Some(text.display().to_string())
            }
            Ok(_) => None,
            Err(e) => return Err(missing(e.to_string())),
        };
        let meta = fs::metadata(&path).map_err(|e| missing(e.to_string()))?;
        if !meta.is_file() {
            return Err(missing("not a regular file".into()));
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode != s.target.mode {
            return Err(VerifyError::Mode {
                secret: s.name.clone(),
                path,
                found: mode,
                want: s.target.mode,
            });
        }
        let content = Zeroizing::new(fs::read(&path).map_err(|e| missing(e.to_string()))?);
        if Sha256::digest(&content[..]) != Sha256::digest(s.value.expose().as_bytes()) {
            return Err(VerifyError::Content {
                secret: s.name.clone(),
                path,
            });
        }
        out.push(VerifiedFile {
            secret: s.name.clone(),
            host_path: host.display().to_string(),
            mode,
            bytes: meta.len(),
            link,
        });
    }
    Ok(out)
}
