//! `ccsecrets cert renew`: put a newly issued certificate and key into `secrets.yaml` and
//! commit them.
//!
//! The new pair is checked like `validate` checks the installed one (chain order, key match,
//! SANs covering `*.DOMAIN` and `DOMAIN`, dates, key type), must stay valid for at least
//! `min_days`, and must expire later than the installed certificate (a placeholder counts as
//! none). Only `tls.fullchain` and `tls.privkey` change: every other value keeps its
//! ciphertext byte for byte, so the diff is those two values plus `mac` and `lastmodified`.
//! The same certificate again changes nothing.
//!
//! Every refusal happens before the file is written; a commit that fails (the branch moved
//! under us) puts the file back as it was.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use zeroize::{Zeroize, Zeroizing};

use super::cert::{self, CertInfo};
use super::validate::{Finding, Severity, DEFAULT_WARN_DAYS};
use super::{Instance, SECRETS_FILE};
use crate::fsutil::{self, FileStamp};
use crate::git::{
    CommitError, CommitOptions, CommitRequest, DirtyPath, HeadError, ObjectId, OpenError, Repo,
    StatusError,
};
use crate::keys::Identity;
use crate::sops::document::{DecryptError, DecryptOptions, EncryptError, EncryptedFile};
use crate::sops::store::{Format, StoreError, StoreOptions};
use crate::sops::tree::Value;

/// Default `min_days`: a new certificate must be valid for at least this many days.
pub const DEFAULT_MIN_DAYS: u32 = 7;

/// A renewal to make.
pub struct RenewRequest<'a> {
    /// The new chain, PEM, leaf first.
    pub fullchain: &'a str,
    /// The new private key, PEM.
    pub privkey: &'a str,
    /// The time to judge validity at.
    pub now: SystemTime,
    /// Refuse a certificate that expires within this many days.
    pub min_days: u32,
    /// `Some`: commit the change with these options.
    pub commit: Option<CommitOptions>,
    /// The commit the caller based the renewal on; `None`: HEAD as read when `renew` starts.
    /// The commit is refused when the branch is not there.
    pub expected_head: Option<ObjectId>,
    /// Store options for writing the file back (`stores:` of `.sops.yaml`).
    pub store: StoreOptions,
}

/// What `renew` did.
#[derive(Debug)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)] // one value per run
pub enum RenewOutcome {
    /// The certificate is already installed: nothing was written or committed.
    AlreadyInstalled {
        /// The installed leaf.
        leaf: CertInfo,
    },
    /// The file was rewritten (and committed when asked).
    Renewed {
        /// The new leaf.
        leaf: CertInfo,
        /// The leaf it replaced; `None` when a placeholder (or an unreadable value) was there.
        previous: Option<CertInfo>,
        /// The commit, when one was asked for.
        commit: Option<ObjectId>,
        /// The commit message (also when no commit was made: what it would say).
        message: String,
        /// Warnings about the new pair (e.g. no intermediate certificate).
        warnings: Vec<Finding>,
    },
}

/// Why a renewal was refused. Unless it says otherwise, no file and no ref changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenewError {
    /// The new certificate or key is not acceptable.
    #[error("the new certificate/key is not acceptable:\n{}", list(.0))]
    Invalid(Vec<Finding>),
    /// The new certificate expires too soon.
    #[error("the new leaf {} expires on {} ({} days from now), within --min-days {min_days}", leaf.subject, leaf.not_after_utc(), days_left)]
    ExpiresTooSoon {
        /// The new leaf.
        leaf: Box<CertInfo>,
        /// Whole days of validity left.
        days_left: i64,
        /// The minimum asked for.
        min_days: u32,
    },
    /// The new certificate does not expire later than the installed one.
    #[error("the new leaf (sha256 {}, not after {}) does not expire later than the installed one (sha256 {}, not after {})", new.sha256, new.not_after_utc(), current.sha256, current.not_after_utc())]
    NotNewer {
        /// The new leaf.
        new: Box<CertInfo>,
        /// The installed leaf.
        current: Box<CertInfo>,
    },
    /// The secrets file differs from HEAD.
    #[error("{SECRETS_FILE} has uncommitted changes ({}); commit or discard them first", dirty_list(.0))]
    Dirty(Vec<DirtyPath>),
    /// The secrets file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The secrets file could not be decrypted.
    #[error("{}: {source}", path.display())]
    Decrypt {
        /// The file.
        path: PathBuf,
        /// Why.
        source: DecryptError,
    },
    /// The secrets file has no `tls.fullchain`/`tls.privkey` strings to replace.
    #[error(
        "{SECRETS_FILE}: has no string value `{0}` to replace; is it an instance secrets file?"
    )]
    Model(&'static str),
    /// The file could not be re-encrypted.
    #[error("{SECRETS_FILE}: {0}")]
    Encrypt(#[from] EncryptError),
    /// The file could not be emitted.
    #[error("{SECRETS_FILE}: {0}")]
    Store(#[from] StoreError),
    /// The file could not be written.
    #[error(transparent)]
    Write(#[from] fsutil::WriteError),
    /// The instance is not in a git repository.
    #[error(transparent)]
    Repo(#[from] OpenError),
    /// HEAD could not be read.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// The clean check failed.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// The commit failed; the secrets file was put back as it was.
    #[error("{0}; {SECRETS_FILE} was restored, nothing changed")]
    Commit(#[from] CommitError),
}

fn list(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("  {f}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn dirty_list(d: &[DirtyPath]) -> String {
    d.iter()
        .map(|p| format!("{}: {:?}", p.path.display(), p.reason))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Installs a new certificate and key in `instance`'s secrets, opening them with
/// `identities`. See the module docs.
pub fn renew(
    instance: &Instance,
    identities: &[Identity],
    req: &RenewRequest<'_>,
) -> Result<RenewOutcome, RenewError> {
    let domain = instance.facts.domain();
    let now = cert::unix_seconds(req.now);

    // 1. The new pair.
    let mut findings = Vec::new();
    let leaf = cert::check_tls(
        req.fullchain,
        Some(req.privkey),
        domain,
        now,
        DEFAULT_WARN_DAYS.max(req.min_days),
        &mut findings,
    );
    let (errors, warnings): (Vec<Finding>, Vec<Finding>) = findings
        .into_iter()
        .partition(|f| f.severity == Severity::Error);
    if !errors.is_empty() {
        return Err(RenewError::Invalid(errors));
    }
    let leaf = leaf.expect("a chain without errors has a leaf");
    let days_left = (leaf.not_after - now).div_euclid(86_400);
    if leaf.not_after - now < i64::from(req.min_days) * 86_400 {
        return Err(RenewError::ExpiresTooSoon {
            leaf: Box::new(leaf),
            days_left,
            min_days: req.min_days,
        });
    }

    // 2. The repository: clean, and where the caller expects it.
    let path = instance.secrets_path();
    let repo = match Repo::open(&instance.root) {
        Ok(r) => Some(r),
        Err(e) if req.commit.is_some() => return Err(e.into()),
        Err(_) => None,
    };
    let mut head = None;
    if let Some(repo) = &repo {
        let dirty = repo.dirty_paths(&[path.as_path()])?;
        if !dirty.is_empty() {
            return Err(RenewError::Dirty(dirty));
        }
        head = match req.expected_head {
            Some(h) => Some(h),
            None => repo.head_commit_id()?,
        };
    }

    // 3. The installed pair.
    let original = Zeroizing::new(std::fs::read(&path).map_err(|source| RenewError::Read {
        path: path.clone(),
        source,
    })?);
    let stamp = FileStamp::of_bytes(&original);
    let decrypt_err = |source| RenewError::Decrypt {
        path: path.clone(),
        source,
    };
    let file = EncryptedFile::parse(&original, Format::Yaml).map_err(decrypt_err)?;
    let mut plain = file
        .decrypt(
            identities,
            DecryptOptions {
                keep_ivs: true,
                ignore_mac: false,
            },
        )
        .map_err(decrypt_err)?;
    let doc = plain.branches.first_mut().ok_or(RenewError::Model("tls"))?;
    let tls = match doc.get_mut("tls") {
        Some(Value::Map(m)) => m,
        _ => return Err(RenewError::Model("tls")),
    };
    let current_chain = match tls.get("fullchain") {
        Some(Value::Str(s)) => Zeroizing::new(s.clone()),
        _ => return Err(RenewError::Model("tls.fullchain")),
    };
    let current_key = match tls.get("privkey") {
        Some(Value::Str(s)) => Zeroizing::new(s.clone()),
        _ => return Err(RenewError::Model("tls.privkey")),
    };
    let placeholder = current_chain.starts_with(super::PLACEHOLDER_PREFIX);
    let current = if placeholder {
        None
    } else {
        cert::inspect_chain(&current_chain)
            .ok()
            .and_then(|c| c.into_iter().next())
    };
    if let Some(cur) = &current {
        if cur.sha256 == leaf.sha256
            && current_chain.as_str() == req.fullchain
            && current_key.as_str() == req.privkey
        {
            return Ok(RenewOutcome::AlreadyInstalled { leaf });
        }
        let same = cur.sha256 == leaf.sha256;
        if !same && leaf.not_after <= cur.not_after {
            return Err(RenewError::NotNewer {
                new: Box::new(leaf),
                current: Box::new(cur.clone()),
            });
        }
    }

    // 4. Replace exactly the two values.
    for (k, v) in [("fullchain", req.fullchain), ("privkey", req.privkey)] {
        let slot = tls.get_mut(k).expect("checked above");
        let mut old = std::mem::replace(slot, Value::Str(v.to_owned()));
        old.zeroize();
    }
    let sealed = plain.reencrypt()?;
    let bytes = sealed.emit(Format::Yaml, &req.store)?;
    let previous = match (&current, placeholder) {
        (Some(c), _) => Previous::Certificate(c),
        (None, true) => Previous::Placeholder,
        (None, false) => Previous::Unreadable,
    };
    let message = message(domain, &leaf, previous);

    fsutil::write_atomic(&path, &bytes, Some(&stamp))?;
    let commit = match (&req.commit, &repo) {
        (Some(options), Some(repo)) => {
            let rel = Path::new(SECRETS_FILE);
            let abs = instance.root.join(rel);
            let paths = [abs.as_path()];
            let request = CommitRequest {
                paths: &paths,
                message: &message,
                expected_parent: head,
                options: options.clone(),
            };
            match repo.commit_paths(&request) {
                Ok(id) => Some(id),
                Err(e) => {
                    let _ =
                        fsutil::write_atomic(&path, &original, Some(&FileStamp::of_bytes(&bytes)));
                    return Err(e.into());
                }
            }
        }
        _ => None,
    };
    Ok(RenewOutcome::Renewed {
        leaf,
        previous: current,
        commit,
        message,
        warnings,
    })
}

/// What a renewal replaced, for its commit message.
#[derive(Debug, Clone, Copy)]
pub enum Previous<'a> {
    /// A certificate (its facts).
    Certificate(&'a CertInfo),
    /// The `ccsecrets init` placeholder.
    Placeholder,
    /// A value that is not a readable certificate chain.
    Unreadable,
}

/// The commit message of a renewal: public facts only.
pub fn message(domain: &str, leaf: &CertInfo, previous: Previous<'_>) -> String {
    let mut m = format!(
        "Renew the TLS certificate of {domain} (valid until {})\n\n\
         Leaf:        {}\n\
         SHA-256:     {}\n\
         Serial:      {}\n\
         Not before:  {}\n\
         Not after:   {}\n\
         SANs:        {}\n\
         Key:         {}\n\
         Issuer:      {}\n",
        &leaf.not_after_utc()[..10],
        leaf.subject,
        leaf.sha256,
        leaf.serial,
        leaf.not_before_utc(),
        leaf.not_after_utc(),
        leaf.dns_names.join(", "),
        leaf.key,
        leaf.issuer,
    );
    match previous {
        Previous::Certificate(p) => m.push_str(&format!(
            "Replaces:    SHA-256 {}, serial {}, not after {}\n",
            p.sha256,
            p.serial,
            p.not_after_utc()
        )),
        Previous::Placeholder => {
            m.push_str("Replaces:    the `ccsecrets init` placeholder (no certificate)\n")
        }
        Previous::Unreadable => {
            m.push_str("Replaces:    a value that was not a readable certificate chain\n")
        }
    }
    m.push_str("\nChanged: tls.fullchain, tls.privkey (every other value keeps its ciphertext).\n");
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::KeyKind;

    fn info(sha: &str) -> CertInfo {
        CertInfo {
            subject: "CN=*.ci.example.test".into(),
            issuer: "CN=test CA".into(),
            serial: "10:01".into(),
            sha256: sha.into(),
            not_before: 1_893_456_000,
            not_after: 1_901_232_000,
            dns_names: vec!["*.ci.example.test".into(), "ci.example.test".into()],
            key: KeyKind::P256,
            is_ca: false,
        }
    }

    #[test]
    fn the_message_names_the_facts_of_both_certificates() {
        let new = info("aa");
        let old = info("bb");
        let m = message("ci.example.test", &new, Previous::Certificate(&old));
        assert!(m.starts_with(
            "Renew the TLS certificate of ci.example.test (valid until 2030-04-01)\n\n"
        ));
        for want in [
            "SHA-256:     aa\n",
            "Serial:      10:01\n",
            "Not before:  2030-01-01 00:00:00 UTC\n",
            "Not after:   2030-04-01 00:00:00 UTC\n",
            "SANs:        *.ci.example.test, ci.example.test\n",
            "Replaces:    SHA-256 bb,",
        ] {
            assert!(m.contains(want), "{want:?} in {m}");
        }
        let m = message("ci.example.test", &new, Previous::Placeholder);
        assert!(m.contains("placeholder"));
    }
}
