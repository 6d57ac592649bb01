//! Checks what an install left under a root against the decrypted secret set: each secret is
//! reachable at its host path, has its declared mode (and, when asked, its declared owner and
//! group) and exactly its value (compared by SHA-256; neither the value nor its hash is kept).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
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
    /// Its owner and group ids.
    pub uid: u32,
    /// Its group id.
    pub gid: u32,
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
    /// The owner or group differs from the declared one.
    #[error("`{secret}`: {} is owned by {found}, declared {want}", path.display())]
    Owner {
        /// The secret.
        secret: String,
        /// The path.
        path: PathBuf,
        /// Found (`uid:gid`).
        found: String,
        /// Declared (`owner:group`, resolved to `uid:gid`).
        want: String,
    },
    /// A declared owner or group is not in the account files.
    #[error("`{secret}`: {message}")]
    Account {
        /// The secret.
        secret: String,
        /// What is wrong.
        message: String,
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
/// order; the first mismatch is the error. With `accounts_dir` (`/etc`), each file's owner and
/// group must also be the declared ones, resolved through its `passwd` and `group` (numeric
/// ids are taken as they are).
pub fn verify_installed(
    set: &SecretSet,
    root: &Path,
    accounts_dir: Option<&Path>,
) -> Result<Vec<VerifiedFile>, VerifyError> {
    let accounts = accounts_dir.map(|d| {
        (
            fs::read_to_string(d.join("passwd")).unwrap_or_default(),
            fs::read_to_string(d.join("group")).unwrap_or_default(),
        )
    });
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
        if let Some((passwd, group)) = &accounts {
            let account = |message: String| VerifyError::Account {
                secret: s.name.clone(),
                message,
            };
            let uid = lookup_id(passwd, &s.target.owner)
                .ok_or_else(|| account(format!("no user {:?} in passwd", s.target.owner)))?;
            let gid = lookup_id(group, &s.target.group)
                .ok_or_else(|| account(format!("no group {:?} in group", s.target.group)))?;
            if (meta.uid(), meta.gid()) != (uid, gid) {
                return Err(VerifyError::Owner {
                    secret: s.name.clone(),
                    path,
                    found: format!("{}:{}", meta.uid(), meta.gid()),
                    want: format!("{}:{} ({uid}:{gid})", s.target.owner, s.target.group),
                });
            }
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
            uid: meta.uid(),
            gid: meta.gid(),
            link,
        });
    }
    Ok(out)
}

/// The id of `name` in a `passwd` or `group` file (third field), or `name` itself when numeric.
fn lookup_id(file: &str, name: &str) -> Option<u32> {
    if let Ok(id) = name.parse() {
        return Some(id);
    }
    file.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next() == Some(name))
            .then(|| fields.nth(1).and_then(|id| id.parse().ok()))
            .flatten()
    })
}
