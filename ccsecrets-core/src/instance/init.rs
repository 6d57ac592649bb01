//! `ccsecrets init`: a new instance repository, and the bootstrap identity that opens it.
//!
//! The repository gets `instance.nix` (the domain), `.sops.yaml` (the bootstrap recipient and
//! any host recipients) and `secrets/secrets.yaml`, encrypted, holding a fresh
//! `drone.rpc_secret` (128 random bits, 32 hex) and `webhook.hmac` (256 bits, 64 hex), an
//! empty `registry`, and [`PLACEHOLDER_PREFIX`] values for what only the operator can supply:
//! the certificate, its key and the OAuth client. Everything is committed with gix.
//!
//! The bootstrap identity is written last, with mode 0600, to a path **outside** every git work
//! tree (a key inside a repository is one `git add -A` away from being published). Until then
//! nothing irreversible has happened: a failure removes what was created.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use zeroize::Zeroizing;

use super::facts::{Facts, FactsError};
use super::{FACTS_FILE, PLACEHOLDER_PREFIX, SECRETS_FILE, SOPS_CONFIG_FILE};
use crate::fsutil::{self, FileStamp};
use crate::git::{CommitError, CommitOptions, CommitRequest, ObjectId, OpenError, Repo};
use crate::keys::ssh_to_age::{public_keys_to_age, SshToAgeError};
use crate::keys::{Identity, Recipient};
use crate::sops::document::{encrypt, EncryptError, EncryptOptions};
use crate::sops::store::{Format, StoreError, StoreOptions};
use crate::sops::tree::{Map, Value};

use super::policy::{Policy, PolicyError};

/// What `init` needs.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The instance's domain (`ci.example.org`).
    pub domain: String,
    /// The new repository's directory: absent, or an empty directory.
    pub dir: PathBuf,
    /// Where the bootstrap identity goes: a new file outside every git work tree.
    pub key_out: PathBuf,
    /// Host SSH public keys (`ssh-ed25519 AAAA… comment`), added as age recipients.
    pub host_keys: Vec<String>,
    /// Author and committer of the first commit.
    pub commit: CommitOptions,
    /// The time recorded in the identity file's `# created:` line.
    pub now: SystemTime,
}

/// What `init` made.
#[derive(Debug, Clone)]
pub struct Initialized {
    /// The repository root.
    pub root: PathBuf,
    /// The bootstrap identity's public recipient (`age1…`).
    pub bootstrap_recipient: String,
    /// The host keys' age recipients, in the order given.
    pub host_recipients: Vec<String>,
    /// Where the bootstrap identity was written.
    pub key_file: PathBuf,
    /// The first commit.
    pub commit: ObjectId,
    /// The secrets that still hold placeholders.
    pub placeholders: Vec<&'static str>,
}

/// Why `init` refused or failed. After an error nothing `init` created is left behind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// The domain is not a DNS name.
    #[error("--domain: {0}")]
    Domain(#[source] FactsError),
    /// The target directory exists and is not empty (or is not a directory).
    #[error("{}: exists and is not an empty directory; init creates a new repository", .0.display())]
    DirNotEmpty(PathBuf),
    /// The key file already exists.
    #[error("{}: already exists; init never overwrites a key", .0.display())]
    KeyExists(PathBuf),
    /// The key file would be inside a git work tree.
    #[error("{}: is inside the git work tree {}; the bootstrap key must live outside every repository", key.display(), worktree.display())]
    KeyInWorkTree {
        /// The key path.
        key: PathBuf,
        /// The work tree that contains it.
        worktree: PathBuf,
    },
    /// A host key could not be converted.
    #[error("host key #{index}: {source}")]
    HostKey {
        /// 1-based position among the host keys given.
        index: usize,
        /// Why.
        source: SshToAgeError,
    },
    /// A host key line held more than one key.
    #[error("host key #{0}: give one public key per --host-key")]
    HostKeyCount(usize),
    /// A file or directory could not be created.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error(transparent)]
    Write(#[from] fsutil::WriteError),
    /// The secrets could not be encrypted.
    #[error("{SECRETS_FILE}: {0}")]
    Encrypt(#[from] EncryptError),
    /// The secrets could not be written as YAML.
    #[error("{SECRETS_FILE}: {0}")]
    Store(#[from] StoreError),
    /// `.sops.yaml` could not be made.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The repository could not be created.
    #[error("{0}")]
    Repo(#[from] OpenError),
    /// The first commit could not be made.
    #[error("cannot commit: {0}")]
    Commit(#[from] CommitError),
    /// The system random generator failed.
    #[error("the system random number generator failed")]
    Random,
}

/// The secrets `init` leaves for the operator, in model order.
pub const INIT_PLACEHOLDERS: [&str; 4] = [
    "tls.fullchain",
    "tls.privkey",
    "drone.oauth_client_id",
    "drone.oauth_client_secret",
];

/// Creates the instance repository and the bootstrap identity. See the module docs.
pub fn init(opts: &InitOptions) -> Result<Initialized, InitError> {
    let facts = Facts::for_domain(&opts.domain).map_err(InitError::Domain)?;
    let domain = facts.domain().to_owned();

    // Everything that can be refused is checked before anything is written.
    let dir_existed = match fs::read_dir(&opts.dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(InitError::DirNotEmpty(opts.dir.clone()));
            }
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(_) if opts.dir.exists() => return Err(InitError::DirNotEmpty(opts.dir.clone())),
        Err(source) => {
            return Err(InitError::Io {
                path: opts.dir.clone(),
                source,
            })
        }
    };
    let key_path = check_key_destination(&opts.key_out, &opts.dir)?;
    // The directories init creates (above the repository and the key), removed on failure.
    let created_dirs: Vec<PathBuf> = [opts.dir.as_path(), key_path.parent().unwrap_or(&key_path)]
        .into_iter()
        .filter_map(topmost_missing)
        .collect();

    let mut host_recipients = Vec::new();
    for (i, key) in opts.host_keys.iter().enumerate() {
        host_recipients.push(host_key_to_age(key, i + 1)?);
    }

    let (identity, secret) = Identity::generate();
    let bootstrap = identity.public().to_owned();
    let mut recipients: Vec<Recipient> = vec![parse_recipient(&bootstrap)];
    for r in &host_recipients {
        let r = parse_recipient(r);
        if !recipients.contains(&r) {
            recipients.push(r);
        }
    }

    let created = rfc3339(super::cert::unix_seconds(opts.now));
    let mut policy = Policy::new_instance();
    policy.add(
        &bootstrap,
        0,
        Some(&format!("bootstrap key (ccsecrets init, {created})")),
    )?;
    for (r, key) in host_recipients.iter().zip(&opts.host_keys) {
        policy.add(r, 0, Some(&format!("host key {}", ssh_key_summary(key))))?;
    }
    let sops_yaml = policy.to_bytes()?;

    let doc = initial_secrets(&domain)?;
    let encrypted = encrypt(
        vec![doc],
        &EncryptOptions {
            key_groups: vec![recipients],
            ..Default::default()
        },
    )?;
    let secrets_yaml = encrypted.emit(Format::Yaml, &StoreOptions::default())?;
    // Built in one allocation of the final size: a growing String would leave copies of the
    // secret key in freed memory.
    let header = format!("# created: {created}\n# public key: {bootstrap}\n");
    let mut key_text = Zeroizing::new(String::with_capacity(header.len() + secret.len() + 1));
    key_text.push_str(&header);
    key_text.push_str(&secret);
    key_text.push('\n');

    // Now create; on failure, remove what was created.
    let result = (|| {
        let repo = Repo::init(&opts.dir)?;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| InitError::Io { path, source }
        };
        let root = opts.dir.clone();
        fs::create_dir_all(root.join("secrets")).map_err(io(&root.join("secrets")))?;
        fsutil::write_atomic(
            &root.join(FACTS_FILE),
            instance_nix(&domain, &bootstrap).as_bytes(),
            Some(&FileStamp::absent()),
        )?;
        fsutil::write_atomic(
            &root.join(SOPS_CONFIG_FILE),
            &sops_yaml,
            Some(&FileStamp::absent()),
        )?;
        fsutil::write_atomic(
            &root.join(SECRETS_FILE),
            &secrets_yaml,
            Some(&FileStamp::absent()),
        )?;
        // Files other than the secrets are world-readable like any checkout.
        for f in [FACTS_FILE, SOPS_CONFIG_FILE, SECRETS_FILE] {
            set_mode(&root.join(f), 0o644).map_err(io(&root.join(f)))?;
        }
        let message = init_message(&domain, &bootstrap, &host_recipients);
        let paths = [
            Path::new(FACTS_FILE),
            Path::new(SOPS_CONFIG_FILE),
            Path::new(SECRETS_FILE),
        ];
        let commit = repo.commit_paths(&CommitRequest {
            paths: &paths,
            message: &message,
            expected_parent: None,
            options: opts.commit.clone(),
        })?;
        write_key(&key_path, key_text.as_bytes())?;
        Ok(commit)
    })();
    match result {
        Ok(commit) => Ok(Initialized {
            root: opts.dir.clone(),
            bootstrap_recipient: bootstrap,
            host_recipients,
            key_file: opts.key_out.clone(),
            commit,
            placeholders: INIT_PLACEHOLDERS.to_vec(),
        }),
        Err(e) => {
            if dir_existed {
                if let Ok(entries) = fs::read_dir(&opts.dir) {
                    for entry in entries.flatten() {
                        let p = entry.path();
                        let _ = if p.is_dir() {
                            fs::remove_dir_all(&p)
                        } else {
                            fs::remove_file(&p)
                        };
                    }
                }
            } else {
                let _ = fs::remove_dir_all(&opts.dir);
            }
            for d in &created_dirs {
                let _ = fs::remove_dir_all(d);
            }
            Err(e)
        }
    }
}

fn parse_recipient(r: &str) -> Recipient {
    r.parse()
        .expect("recipients made by age or ssh_to_age parse")
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// The age recipient of one `ssh-ed25519` public key line. `index` is 1-based, for messages.
pub fn host_key_to_age(key: &str, index: usize) -> Result<String, InitError> {
    let converted = public_keys_to_age(key.as_bytes())
        .map_err(|source| InitError::HostKey { index, source })?;
    match converted.converted.as_slice() {
        [one] if converted.skipped.is_empty() => Ok(one.recipient.clone()),
        _ => Err(InitError::HostKeyCount(index)),
    }
}

/// `ssh-ed25519 AAAAC3…ab12 comment`: the key type, the last 8 characters of the key and the
/// comment, enough to recognise a public key in `.sops.yaml`.
pub fn ssh_key_summary(key: &str) -> String {
    let mut parts = key.split_whitespace();
    let ty = parts.next().unwrap_or("");
    let blob = parts.next().unwrap_or("");
    let comment: Vec<&str> = parts.collect();
    let tail = &blob[blob.len().saturating_sub(8)..];
    let mut s = format!("{ty} …{tail}");
    if !comment.is_empty() {
        s.push(' ');
        s.push_str(&comment.join(" "));
    }
    s
}

/// Refuses a key path that exists, or that lies inside a git work tree (or the new instance).
///
/// Both paths are resolved the way the kernel will when the files are created: symlinks in the
/// existing part are followed (`canonicalize`), and in the part still to be created (plain new
/// directories) `..` removes the previous component. So neither a symlinked directory nor
/// `new/../repo/key.txt` hides a work tree. Returns the resolved path, which is where the key
/// is then written.
fn check_key_destination(key: &Path, instance_dir: &Path) -> Result<PathBuf, InitError> {
    if fs::symlink_metadata(key).is_ok() {
        return Err(InitError::KeyExists(key.to_owned()));
    }
    let io = |source| InitError::Io {
        path: key.to_owned(),
        source,
    };
    if !matches!(key.components().next_back(), Some(Component::Normal(_))) {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file name",
        )));
    }
    let resolved = resolve_to_be_created(key).map_err(io)?;
    if resolved.exists() || fs::symlink_metadata(&resolved).is_ok() {
        return Err(InitError::KeyExists(key.to_owned()));
    }
    let instance = resolve_to_be_created(instance_dir).map_err(|source| InitError::Io {
        path: instance_dir.to_owned(),
        source,
    })?;
    if resolved.starts_with(&instance) {
        return Err(InitError::KeyInWorkTree {
            key: key.to_owned(),
            worktree: instance_dir.to_owned(),
        });
    }
    if let Some(worktree) = resolved.parent().and_then(enclosing_worktree) {
        return Err(InitError::KeyInWorkTree {
            key: key.to_owned(),
            worktree,
        });
    }
    Ok(resolved)
}

/// Where `path` will be once its missing directories are created: the existing leading part
/// with every symlink resolved, then the rest with `..` taken lexically (those directories will
/// be new, real directories). Fails when an existing component cannot be resolved (a dangling
/// symlink, no permission).
fn resolve_to_be_created(path: &Path) -> std::io::Result<PathBuf> {
    let abs = std::path::absolute(path)?;
    let mut resolved = PathBuf::from("/");
    let mut existing = true;
    for component in abs.components() {
        match component {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            // `resolved` has no symlinks, so its parent is the real `..`.
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(name) => {
                let next = resolved.join(name);
                if existing && fs::symlink_metadata(&next).is_ok() {
                    resolved = fs::canonicalize(&next)?;
                } else {
                    existing = false;
                    resolved = next;
                }
            }
        }
    }
    Ok(resolved)
}

/// The highest ancestor of `path` (or `path` itself) that does not exist yet: what creating
/// `path` with all its parents creates. `None` when `path` exists.
fn topmost_missing(path: &Path) -> Option<PathBuf> {
    let abs = std::path::absolute(path).ok()?;
    abs.ancestors()
        .take_while(|a| fs::symlink_metadata(a).is_err())
        .last()
        .map(Path::to_path_buf)
}

/// The nearest directory at or above `dir` holding a `.git` entry (a repository, a linked work
/// tree or a submodule).
pub fn enclosing_worktree(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| fs::symlink_metadata(d.join(".git")).is_ok())
        .map(Path::to_path_buf)
}

/// Writes a new private file (0600 from creation, never replacing or following anything already
/// at `path`), creating missing parent directories with mode 0700.
fn write_key(path: &Path, bytes: &[u8]) -> Result<(), InitError> {
    use std::os::unix::fs::DirBuilderExt;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|source| InitError::Io {
                    path: parent.to_owned(),
                    source,
                })?;
        }
    }
    fsutil::write_new_private(path, bytes).map_err(|e| match e {
        fsutil::WriteError::Changed(p) => InitError::KeyExists(p),
        other => InitError::Write(other),
    })
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> Result<Zeroizing<String>, InitError> {
    let mut bytes = Zeroizing::new(vec![0u8; n]);
    getrandom::getrandom(&mut bytes).map_err(|_| InitError::Random)?;
    let mut s = Zeroizing::new(String::with_capacity(2 * n));
    for b in bytes.iter() {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    Ok(s)
}

/// The plaintext document `init` encrypts.
///
/// The generated values are moved into the returned tree, never copied; the caller hands it to
/// [`encrypt`], which wipes every value (as it encrypts it, or on refusal).
fn initial_secrets(domain: &str) -> Result<Map, InitError> {
    // Generated first, so a failure leaves no half-built tree holding one of them.
    let mut rpc_secret = random_hex(16)?;
    let mut hmac = random_hex(32)?;
    let placeholder = |what: &str| Value::Str(format!("{PLACEHOLDER_PREFIX} {what}"));
    let mut tls = Map::new();
    tls.push(
        "fullchain",
        placeholder(&format!(
            "the certificate chain for *.{domain} and {domain} (PEM, leaf first); \
             install it with `ccsecrets cert renew`"
        )),
    );
    tls.push(
        "privkey",
        placeholder("the certificate's private key (PEM); installed by `ccsecrets cert renew`"),
    );
    let mut drone = Map::new();
    drone.push(
        "oauth_client_id",
        placeholder(
            "the client ID of the Drone OAuth application registered at the forge; \
             set it with `ccsecrets set`",
        ),
    );
    drone.push(
        "oauth_client_secret",
        placeholder("that OAuth application's client secret; set it with `ccsecrets set`"),
    );
    // Moved into the tree, not copied: the tree is wiped as `encrypt` seals it.
    drone.push("rpc_secret", Value::Str(std::mem::take(&mut *rpc_secret)));
    let mut webhook = Map::new();
    webhook.push("hmac", Value::Str(std::mem::take(&mut *hmac)));
    let mut doc = Map::new();
    doc.push("tls", Value::Map(tls));
    doc.push("drone", Value::Map(drone));
    doc.push("webhook", Value::Map(webhook));
    doc.push("registry", Value::Map(Map::new()));
    Ok(doc)
}

/// The `instance.nix` init writes: an attribute set of literals, as [`Facts::parse`] reads,
/// with the domain and the bootstrap recipient (which `ccsecrets check` then requires on
/// every secrets file).
pub fn instance_nix(domain: &str, bootstrap_recipient: &str) -> String {
    format!(
        "# The facts of this cc-ci instance, imported by the base repo's NixOS module and read\n\
         # by ccsecrets. Keep it one attribute set of literal values (see docs/secrets.md).\n\
         {{\n  domain = \"{domain}\";\n\
         \x20 # The bootstrap key's recipient: `ccsecrets check` requires every secrets file to be\n\
         \x20 # encrypted to it. Change it when the bootstrap key is rotated (docs/secrets.md).\n\
         \x20 bootstrapRecipient = \"{bootstrap_recipient}\";\n}}\n"
    )
}

fn init_message(domain: &str, bootstrap: &str, hosts: &[String]) -> String {
    let mut m = format!(
        "Initialise the cc-ci instance {domain}\n\n\
         Created by `ccsecrets init`:\n\
         - {FACTS_FILE}: domain = {domain}\n\
         - {SOPS_CONFIG_FILE}: bootstrap recipient {bootstrap}\n"
    );
    for h in hosts {
        m.push_str(&format!("  host recipient {h}\n"));
    }
    m.push_str(&format!(
        "- {SECRETS_FILE}: fresh drone.rpc_secret (128 bits) and webhook.hmac (256 bits),\n  \
         empty registry, placeholders for {}\n",
        INIT_PLACEHOLDERS.join(", ")
    ));
    m
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (the identity file's `# created:`).
pub fn rfc3339(secs: i64) -> String {
    let s = super::cert::format_utc(secs);
    // `YYYY-MM-DD HH:MM:SS UTC` → `YYYY-MM-DDTHH:MM:SSZ`
    format!("{}T{}Z", &s[..10], &s[11..19])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_nix_is_read_back_by_the_facts_parser() {
        let facts = Facts::parse(&instance_nix("ci.example.org", "age1xyz")).unwrap();
        assert_eq!(facts.domain(), "ci.example.org");
        let checked = crate::leaks::InstanceFacts::from_facts(&facts);
        assert_eq!(checked.bootstrap_recipient.as_deref(), Some("age1xyz"));
    }

    #[test]
    fn random_hex_has_the_length_and_alphabet() {
        let a = random_hex(16).unwrap();
        let b = random_hex(16).unwrap();
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_ne!(*a, *b);
        assert_eq!(random_hex(32).unwrap().len(), 64);
    }

    #[test]
    fn initial_secrets_fit_the_model_with_exactly_the_placeholders() {
        let doc = initial_secrets("ci.example.org").unwrap();
        let set = super::super::SecretSet::from_map(&doc).unwrap();
        let placeholders: Vec<&str> = set
            .secrets()
            .into_iter()
            .filter(|s| s.value.is_placeholder())
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(placeholders, INIT_PLACEHOLDERS);
        assert!(set.registry.is_empty());
    }

    #[test]
    fn dates_and_key_summaries() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            ssh_key_summary("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIabcdefgh root@ci"),
            "ssh-ed25519 …abcdefgh root@ci"
        );
    }

    #[test]
    fn a_key_path_under_a_dot_git_parent_is_inside_a_work_tree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("repo/.git")).unwrap();
        let key = dir.path().join("repo/a/b/key.txt");
        let err = check_key_destination(&key, &dir.path().join("inst")).unwrap_err();
        assert!(matches!(err, InitError::KeyInWorkTree { .. }), "{err}");
        // A directory still to be created, then `..`, lands in the repository all the same.
        let sneaky = dir.path().join("new/../repo/key.txt");
        let err = check_key_destination(&sneaky, &dir.path().join("inst")).unwrap_err();
        assert!(matches!(err, InitError::KeyInWorkTree { .. }), "{err}");
        let sneaky = dir.path().join("inst/../inst/x/../key.txt");
        let err = check_key_destination(&sneaky, &dir.path().join("inst")).unwrap_err();
        assert!(matches!(err, InitError::KeyInWorkTree { .. }), "{err}");
        let ok = check_key_destination(&dir.path().join("a/../key.txt"), &dir.path().join("inst"))
            .unwrap();
        assert_eq!(ok, dir.path().canonicalize().unwrap().join("key.txt"));
    }
}
