//! Installing an instance's secrets on a host, as sops-nix does at activation, for any host.
//!
//! Under a root directory `ROOT` (`/` on the host itself):
//!
//! ```text
//! ROOT/run/secrets.d/7/tls/fullchain      one generation: every secret, its owner and mode
//! ROOT/run/secrets.d/7/drone/rpc_secret
//! ROOT/run/secrets -> secrets.d/7         the live generation, switched by rename
//! ROOT/var/lib/ci-certs/live/fullchain.pem -> ../../../../run/secrets/tls/fullchain
//! ```
//!
//! - **All or nothing.** Every secret is decrypted (MAC verified) and every owner, group and
//!   path checked before anything is written. The new generation is written in a hidden
//!   directory and renamed into place; any failure removes it (files wiped first) and the
//!   previous generation stays live.
//! - **Atomic switch.** `ROOT/run/secrets` is replaced by renaming a new symlink over it.
//! - **Idempotent.** When the live generation already holds exactly the wanted files
//!   (content, mode, owner, group, no others), no generation is made.
//! - **Pruning.** Generations older than the newest `keep_generations` are wiped and removed
//!   (sops-nix's `keepGenerations`, default 1; 0 keeps all), and so is any `.new-*`
//!   directory an interrupted install left behind. Installs into one root are not meant to
//!   run concurrently; if they do, a clash makes one of them fail and install nothing.
//! - **Custom paths** (the certificate path) are symlinks to `/run/secrets/<key>`, made
//!   *relative*, so the tree is valid both where it was written and when `ROOT` is `/`. They
//!   point through the stable `run/secrets` link, so a switch updates them too.
//! - **No symlink is followed under ROOT.** `run`, `run/secrets.d` and every directory on
//!   the way to a custom path must be real directories (a planted `var/lib/ci-certs -> /etc`
//!   is refused before anything is written), owned by root or the installing user and
//!   writable by no one else (so no one can swap one for a link while the install runs),
//!   and pruning removes a link found among the generations without touching what it
//!   points to. Files are created new (`O_EXCL`) and chowned through their
//!   descriptor; a link already at a custom path is replaced by rename, never written through.
//! - **Ownership.** Owner and group names are looked up in `accounts_dir` (`/etc/passwd`,
//!   `/etc/group`; numeric ids are accepted). Without root, a file can only be given to the
//!   invoking user: the install refuses up front unless `chown` is off, in which case every
//!   file keeps the invoking user as owner (modes still apply).
//!
//! Secrets never reach an error message or the [`Report`].

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use zeroize::Zeroizing;

use crate::fsutil::wipe_dir;
use crate::instance::secrets::RUN_SECRETS_DIR;
use crate::instance::{Instance, SecretSet, SecretSetError};
use crate::keys::Identity;
use crate::sops::document::{DecryptError, DecryptOptions, EncryptedFile};
use crate::sops::store::Format;

/// `run/secrets.d`, relative to ROOT: the generation directories.
pub const GENERATIONS_DIR: &str = "run/secrets.d";
/// `run/secrets`, relative to ROOT: the link to the live generation.
pub const LIVE_LINK: &str = "run/secrets";
/// Generations kept by default (sops-nix's `keepGenerations`).
pub const DEFAULT_KEEP_GENERATIONS: usize = 1;

/// How to install.
#[derive(Clone, Debug)]
pub struct InstallOptions {
    /// The root the host paths are placed under (`/` on the host).
    pub root: PathBuf,
    /// Generations to keep, the live one included; 0 never prunes.
    pub keep_generations: usize,
    /// Give each file its declared owner and group. Off: files stay the invoking user's.
    pub chown: bool,
    /// Where `passwd` and `group` are read from (`/etc`).
    pub accounts_dir: PathBuf,
    /// Also report the Docker swarm secrets Traefik's `ssl_cert`/`ssl_key` are created from.
    pub swarm: bool,
}

impl InstallOptions {
    /// Defaults for `root`: keep 1 generation, chown, accounts from `/etc`, no swarm.
    pub fn new(root: impl Into<PathBuf>) -> InstallOptions {
        InstallOptions {
            root: root.into(),
            keep_generations: DEFAULT_KEEP_GENERATIONS,
            chown: true,
            accounts_dir: PathBuf::from("/etc"),
            swarm: false,
        }
    }
}

/// One installed file (never its content).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledFile {
    /// The secret (`tls.fullchain`).
    pub secret: String,
    /// Its sops-nix key, the file's name in the generation (`tls/fullchain`).
    pub key: String,
    /// The host path it is reachable at (`/var/lib/ci-certs/live/fullchain.pem`).
    pub path: PathBuf,
    /// Owner id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Permission bits.
    pub mode: u32,
}

/// A Docker swarm secret to create from an installed file (`--swarm`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwarmSecret {
    /// `ssl_cert_<first 12 hex digits of the leaf's SHA-256>` (or `ssl_key_…`): swarm
    /// secrets are immutable, so a renewed certificate needs a new name.
    pub name: String,
    /// The installed file, under ROOT.
    pub file: PathBuf,
}

/// What an install did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The live generation number after the install.
    pub generation: u64,
    /// False when the live generation already held exactly these files.
    pub changed: bool,
    /// Every secret, in the set's order.
    pub files: Vec<InstalledFile>,
    /// Custom-path links created or replaced in this run (host paths).
    pub links: Vec<PathBuf>,
    /// Generations removed.
    pub pruned: Vec<u64>,
    /// Swarm secrets (only with `swarm`).
    pub swarm: Vec<SwarmSecret>,
    /// Things the operator should know (never values).
    pub warnings: Vec<String>,
}

/// Why an install did not happen. In every case nothing was installed and the previous
/// generation, if any, is still live.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The secrets file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The secrets file could not be parsed or decrypted (wrong key, tampered file).
    #[error("{}: {source}", path.display())]
    Decrypt {
        /// The file.
        path: PathBuf,
        /// Why.
        source: DecryptError,
    },
    /// The decrypted document does not match the instance model.
    #[error("{}: {source}", path.display())]
    Model {
        /// The file.
        path: PathBuf,
        /// The problems.
        source: SecretSetError,
    },
    /// A secret's install target cannot be used (path, owner, group).
    #[error("`{secret}`: {message}")]
    Target {
        /// The secret.
        secret: String,
        /// What is wrong.
        message: String,
    },
    /// Files cannot be given their owners without root.
    #[error("{0}")]
    Permission(String),
    /// Something already on disk is in the way.
    #[error("{}: {message}", path.display())]
    Conflict {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Decrypts the instance's `secrets/secrets.yaml` with `identities` (MAC verified) and
/// installs every secret ([`install_set`]).
pub fn install(
    instance: &Instance,
    identities: &[Identity],
    opts: &InstallOptions,
) -> Result<Report, InstallError> {
    let path = instance.secrets_path();
    let bytes = fs::read(&path).map_err(|source| InstallError::Read {
        path: path.clone(),
        source,
    })?;
    let file = EncryptedFile::parse(&bytes, Format::from_path(&path)).map_err(|source| {
        InstallError::Decrypt {
            path: path.clone(),
            source,
        }
    })?;
    let plain = file
        .decrypt(identities, DecryptOptions::default())
        .map_err(|source| InstallError::Decrypt {
            path: path.clone(),
            source,
        })?;
    let set = SecretSet::from_documents(&plain.branches).map_err(|source| InstallError::Model {
        path: path.clone(),
        source,
    })?;
    install_set(&set, opts)
}

/// One file of the plan.
struct Planned<'a> {
    secret: &'a str,
    key: String,
    value: &'a [u8],
    host_path: PathBuf,
    uid: u32,
    gid: u32,
    mode: u32,
    /// A custom path: a link to `/run/secrets/<key>`.
    link: Option<PathBuf>,
}

/// Installs `set` under `opts.root`: see the module documentation.
pub fn install_set(set: &SecretSet, opts: &InstallOptions) -> Result<Report, InstallError> {
    let accounts = Accounts::read(&opts.accounts_dir)?;
    let (my_uid, my_gid) = current_ids();

    // 1. The plan: every path, owner and group checked before anything is written.
    let mut plan = Vec::new();
    let mut link_paths = BTreeSet::new();
    for s in set.secrets() {
        let t = &s.target;
        let target_err = |message: String| InstallError::Target {
            secret: s.name.clone(),
            message,
        };
        // The file's name inside the generation: the sops-nix key, as sops-nix names it. A
        // list item is fine here (only sops-nix's lookup cannot reach it); an ambiguous
        // `extra` name is not.
        let key = match crate::nix::secret_key(&s.name) {
            Ok(k) | Err(crate::nix::NixError::ListItem { key: k, .. }) => k,
            Err(e) => return Err(target_err(e.to_string())),
        };
        let key_ok = Path::new(&key)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if key.is_empty() || !key_ok {
            return Err(target_err(format!(
                "key `{key}` is not a plain relative file name"
            )));
        }
        check_host_path(&t.path).map_err(&target_err)?;
        let uid = accounts.uid(&t.owner).map_err(&target_err)?;
        let gid = accounts.gid(&t.group).map_err(&target_err)?;
        if t.mode & !0o7777 != 0 {
            return Err(target_err(format!(
                "mode {:o} is not a permission mode",
                t.mode
            )));
        }
        let default = Path::new(RUN_SECRETS_DIR).join(&key);
        let link = if t.path == default {
            None
        } else if t.path.starts_with(RUN_SECRETS_DIR) || t.path.starts_with("/run/secrets.d") {
            return Err(target_err(format!(
                "path {} is inside {RUN_SECRETS_DIR} but is not {}",
                t.path.display(),
                default.display()
            )));
        } else {
            if !link_paths.insert(t.path.clone()) {
                return Err(target_err(format!(
                    "path {} is the target of another secret too",
                    t.path.display()
                )));
            }
            Some(t.path.clone())
        };
        let (uid, gid) = if opts.chown {
            (uid, gid)
        } else {
            (my_uid, my_gid)
        };
        plan.push(Planned {
            secret: &s.name,
            key,
            value: s.value.expose().as_bytes(),
            host_path: t.path.clone(),
            uid,
            gid,
            mode: t.mode,
            link,
        });
    }
    let mut warnings = Vec::new();
    if opts.chown && my_uid != 0 {
        let foreign: Vec<String> = plan
            .iter()
            .filter(|p| p.uid != my_uid || p.gid != my_gid)
            .map(|p| p.secret.to_owned())
            .collect();
        if !foreign.is_empty() {
            return Err(InstallError::Permission(format!(
                "running as uid {my_uid}, which cannot give files to another owner or group \
                 ({}); run as root, or pass --no-chown to keep the invoking user as owner",
                foreign.join(", ")
            )));
        }
    }
    if !opts.chown {
        warnings.push(format!(
            "--no-chown: every file is owned by uid {my_uid}, gid {my_gid}, not its declared owner"
        ));
    }

    let root = &opts.root;
    // Named before anything is written, so a chain that does not parse installs nothing.
    let swarm = if opts.swarm {
        swarm_secrets(set, root)?
    } else {
        Vec::new()
    };
    let run_dir = root.join("run");
    let gens = root.join(GENERATIONS_DIR);
    let live = root.join(LIVE_LINK);
    // Nothing under ROOT is followed: a planted `run -> /etc` or `var/lib/ci-certs -> /etc`
    // would otherwise make this install write (or wipe) outside ROOT.
    check_real_dirs(root, Path::new(GENERATIONS_DIR), my_uid)?;
    for p in &plan {
        if let Some(l) = &p.link {
            if let Some(parent) = l.parent() {
                check_real_dirs(root, parent, my_uid)?;
            }
            check_link_slot(&under(root, l))?;
        }
    }

    // 2. Where we are.
    let current = live_generation(&live)?;
    let unchanged = match current {
        Some(n) => generation_matches(&gens.join(n.to_string()), &plan)?,
        None => false,
    };

    // 3. A new generation, unless the live one already is what we want.
    let mut generation = current.unwrap_or(0);
    let mut new_dir = None;
    if !unchanged {
        generation = next_generation(&gens, current);
        mkdir_all(&run_dir, 0o755)?;
        mkdir_all(&gens, 0o751)?;
        // Made just now, or checked above; checked again in case it changed meanwhile.
        check_real_dirs(root, Path::new(GENERATIONS_DIR), my_uid)?;
        let tmp = hidden_sibling(&gens, ".new")?;
        fs::DirBuilder::new()
            .mode(0o751)
            .create(&tmp)
            .and_then(|()| fs::set_permissions(&tmp, fs::Permissions::from_mode(0o751)))
            .map_err(io_at(&tmp))?;
        if let Err(e) = write_generation(&tmp, &plan, opts.chown) {
            wipe_dir(&tmp);
            return Err(e);
        }
        // `generation` is above every existing number, so `dest` is new; if another install
        // made it meanwhile the rename fails and this one installs nothing.
        let dest = gens.join(generation.to_string());
        if let Err(e) = fs::rename(&tmp, &dest) {
            wipe_dir(&tmp);
            return Err(io_at(&dest)(e));
        }
        new_dir = Some(dest);
    }

    // 4. Custom-path links (through the stable run/secrets link: generation-independent).
    let mut links = Vec::new();
    for p in &plan {
        let Some(l) = &p.link else { continue };
        let target = relative_link(l, &Path::new(RUN_SECRETS_DIR).join(&p.key));
        match ensure_link(root, l, &target, my_uid) {
            Ok(true) => links.push(l.clone()),
            Ok(false) => {}
            Err(e) => {
                if let Some(d) = &new_dir {
                    wipe_dir(d);
                }
                return Err(e);
            }
        }
    }

    // 5. The switch.
    if new_dir.is_some() {
        mkdir_all(&run_dir, 0o755)?;
        let rel = Path::new("secrets.d").join(generation.to_string());
        if let Err(e) = replace_with_symlink(&live, &rel) {
            if let Some(d) = &new_dir {
                wipe_dir(d);
            }
            return Err(e);
        }
    }

    // 6. Prune.
    let pruned = prune(&gens, generation, opts.keep_generations);

    Ok(Report {
        generation,
        changed: !unchanged,
        files: plan
            .iter()
            .map(|p| InstalledFile {
                secret: p.secret.to_owned(),
                key: p.key.clone(),
                path: p.host_path.clone(),
                uid: p.uid,
                gid: p.gid,
                mode: p.mode,
            })
            .collect(),
        links,
        pruned,
        swarm,
        warnings,
    })
}

/// The swarm secrets Traefik's `ssl_cert` and `ssl_key` are created from: the installed
/// certificate and key files, named after the leaf's fingerprint.
pub fn swarm_secrets(set: &SecretSet, root: &Path) -> Result<Vec<SwarmSecret>, InstallError> {
    let chain =
        crate::instance::cert::inspect_chain(set.tls.fullchain.value.expose()).map_err(|e| {
            InstallError::Target {
                secret: set.tls.fullchain.name.clone(),
                message: format!("cannot name the swarm secrets: {e}"),
            }
        })?;
    let leaf = chain.first().ok_or_else(|| InstallError::Target {
        secret: set.tls.fullchain.name.clone(),
        message: "no certificate in the chain".into(),
    })?;
    let fp: String = leaf
        .sha256
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(12)
        .collect::<String>()
        .to_ascii_lowercase();
    Ok(vec![
        SwarmSecret {
            name: format!("ssl_cert_{fp}"),
            file: under(root, &set.tls.fullchain.target.path),
        },
        SwarmSecret {
            name: format!("ssl_key_{fp}"),
            file: under(root, &set.tls.privkey.target.path),
        },
    ])
}

/// `ROOT` + an absolute host path.
pub fn under(root: &Path, host_path: &Path) -> PathBuf {
    root.join(host_path.strip_prefix("/").unwrap_or(host_path))
}

/// The relative link text from a link at host path `link` to host path `target`
/// (`/var/lib/ci-certs/live/fullchain.pem` → `../../../../run/secrets/tls/fullchain`).
pub fn relative_link(link: &Path, target: &Path) -> PathBuf {
    let depth = link.components().count().saturating_sub(2);
    let mut p = PathBuf::new();
    for _ in 0..depth {
        p.push("..");
    }
    p.push(target.strip_prefix("/").unwrap_or(target));
    p
}

fn check_host_path(p: &Path) -> Result<(), String> {
    if !p.is_absolute() {
        return Err(format!("path {} is not absolute", p.display()));
    }
    if p.components()
        .skip(1)
        .any(|c| !matches!(c, Component::Normal(_)))
        || p.components().count() < 2
    {
        return Err(format!(
            "path {} must be a plain absolute file path (no `.` or `..`)",
            p.display()
        ));
    }
    Ok(())
}

/// Every existing directory from `ROOT` down to `ROOT/<host_dir>` is a real directory, not a
/// symlink (ROOT itself may be one: the operator chose it), owned by the installing user or
/// root and writable by no one else, so no one else can swap one for a link between this
/// check and the write. Missing ones are fine: the install creates them.
fn check_real_dirs(root: &Path, host_dir: &Path, my_uid: u32) -> Result<(), InstallError> {
    let mut p = root.to_path_buf();
    for c in host_dir.components() {
        let Component::Normal(part) = c else { continue };
        p.push(part);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(InstallError::Conflict {
                    path: p,
                    message: "is a symlink; install never follows symlinks under the root \
                              (make it a real directory)"
                        .into(),
                })
            }
            Ok(m) if !m.is_dir() => {
                return Err(InstallError::Conflict {
                    path: p,
                    message: "is not a directory".into(),
                })
            }
            Ok(m) if (m.uid() != my_uid && m.uid() != 0) || m.mode() & 0o022 != 0 => {
                return Err(InstallError::Conflict {
                    path: p,
                    message: format!(
                        "is owned by uid {} with mode {:o}; another user could swap what is \
                         in it for a symlink during the install (it must belong to root or \
                         uid {my_uid} and be writable by no one else)",
                        m.uid(),
                        m.mode() & 0o7777
                    ),
                })
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_at(&p)(e)),
        }
    }
    Ok(())
}

/// A custom path may be absent, a symlink (replaced) or a regular file (replaced, as
/// sops-nix does); a directory is in the way.
fn check_link_slot(at: &Path) -> Result<(), InstallError> {
    match fs::symlink_metadata(at) {
        Ok(m) if m.is_dir() => Err(InstallError::Conflict {
            path: at.to_owned(),
            message: "is a directory; a secret's link belongs here".into(),
        }),
        _ => Ok(()),
    }
}

/// The live generation: the number `run/secrets` points to (`secrets.d/N`).
fn live_generation(live: &Path) -> Result<Option<u64>, InstallError> {
    match fs::read_link(live) {
        Ok(target) => {
            let parent_ok = target
                .parent()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n == "secrets.d");
            let n = target
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<u64>().ok());
            match (parent_ok, n) {
                (true, Some(n)) => Ok(Some(n)),
                _ => Err(InstallError::Conflict {
                    path: live.to_owned(),
                    message: format!(
                        "points to {}, not to a secrets.d generation",
                        target.display()
                    ),
                }),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Err(InstallError::Conflict {
            path: live.to_owned(),
            message: "exists and is not a symlink".into(),
        }),
        Err(e) => Err(io_at(live)(e)),
    }
}

/// The next free number above the live one and every existing generation.
fn next_generation(gens: &Path, current: Option<u64>) -> u64 {
    list_generations(gens)
        .into_iter()
        .chain(current)
        .max()
        .unwrap_or(0)
        + 1
}

fn list_generations(gens: &Path) -> Vec<u64> {
    let mut out: Vec<u64> = fs::read_dir(gens)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    out.sort_unstable();
    out
}

/// True when `dir` holds exactly the planned files with their content, mode and ids.
fn generation_matches(dir: &Path, plan: &[Planned<'_>]) -> Result<bool, InstallError> {
    let mut found = BTreeSet::new();
    if !collect_files(dir, Path::new(""), &mut found) {
        return Ok(false);
    }
    let wanted: BTreeSet<PathBuf> = plan.iter().map(|p| PathBuf::from(&p.key)).collect();
    if found != wanted {
        return Ok(false);
    }
    for p in plan {
        let f = dir.join(&p.key);
        let Ok(m) = fs::symlink_metadata(&f) else {
            return Ok(false);
        };
        if !m.is_file()
            || m.mode() & 0o7777 != p.mode
            || m.uid() != p.uid
            || m.gid() != p.gid
            || m.len() != p.value.len() as u64
        {
            return Ok(false);
        }
        let content = Zeroizing::new(fs::read(&f).map_err(io_at(&f))?);
        if content.as_slice() != p.value {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Every non-directory under `dir` (relative paths); false when `dir` cannot be read.
fn collect_files(dir: &Path, rel: &Path, out: &mut BTreeSet<PathBuf>) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    for e in entries.flatten() {
        let r = rel.join(e.file_name());
        match e.file_type() {
            Ok(t) if t.is_dir() => {
                if !collect_files(&e.path(), &r, out) {
                    return false;
                }
            }
            _ => {
                out.insert(r);
            }
        }
    }
    true
}

fn write_generation(dir: &Path, plan: &[Planned<'_>], chown: bool) -> Result<(), InstallError> {
    for p in plan {
        let f = dir.join(&p.key);
        // Every directory inside the generation is 0751 whatever the umask, so each owner
        // can reach its own file.
        let mut sub = dir.to_path_buf();
        for part in Path::new(&p.key)
            .parent()
            .into_iter()
            .flat_map(Path::components)
        {
            sub.push(part);
            let is_dir = fs::symlink_metadata(&sub).is_ok_and(|m| m.is_dir());
            if !is_dir {
                fs::create_dir(&sub).map_err(io_at(&sub))?;
            }
            fs::set_permissions(&sub, fs::Permissions::from_mode(0o751)).map_err(io_at(&sub))?;
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&f)
            .map_err(io_at(&f))?;
        file.write_all(p.value).map_err(io_at(&f))?;
        file.sync_all().map_err(io_at(&f))?;
        // The final mode first, then the owner: the new owner never holds the file while it
        // is still writable (0600), so cannot keep a write descriptor to it.
        file.set_permissions(fs::Permissions::from_mode(p.mode))
            .map_err(io_at(&f))?;
        let m = file.metadata().map_err(io_at(&f))?;
        if chown && (m.uid() != p.uid || m.gid() != p.gid) {
            std::os::unix::fs::fchown(&file, Some(p.uid), Some(p.gid)).map_err(io_at(&f))?;
            // chown clears set-id bits; a declared set-id mode is applied again.
            if p.mode & 0o6000 != 0 {
                file.set_permissions(fs::Permissions::from_mode(p.mode))
                    .map_err(io_at(&f))?;
            }
        }
    }
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Creates `dir` and its missing parents with `mode` (existing ones are left alone).
fn mkdir_all(dir: &Path, mode: u32) -> Result<(), InstallError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(io_at(dir))
}

/// A fresh hidden name beside `dir`'s children: `dir/.new-<random>`.
fn hidden_sibling(dir: &Path, prefix: &str) -> Result<PathBuf, InstallError> {
    let mut r = [0u8; 6];
    getrandom::getrandom(&mut r).map_err(|e| io_at(dir)(io::Error::other(e)))?;
    let suffix: String = r.iter().map(|b| format!("{b:02x}")).collect();
    Ok(dir.join(format!("{prefix}-{suffix}")))
}

/// Makes `ROOT/<host>` a symlink to `target` unless it already is one; true when it changed.
/// The directories on the way are checked again right before the link is made, so one
/// swapped for a symlink since the plan was checked is not followed.
fn ensure_link(root: &Path, host: &Path, target: &Path, my_uid: u32) -> Result<bool, InstallError> {
    let at = under(root, host);
    if let Some(parent) = host.parent() {
        check_real_dirs(root, parent, my_uid)?;
    }
    if fs::read_link(&at).is_ok_and(|t| t == target) {
        return Ok(false);
    }
    if let Some(parent) = host.parent() {
        mkdir_all(&under(root, parent), 0o755)?;
        check_real_dirs(root, parent, my_uid)?;
    }
    replace_with_symlink(&at, target)?;
    Ok(true)
}

/// Puts a symlink to `target` at `at` by renaming a new link over it (atomic).
fn replace_with_symlink(at: &Path, target: &Path) -> Result<(), InstallError> {
    let dir = at.parent().unwrap_or(Path::new("."));
    let name = at
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = hidden_sibling(dir, &format!(".{name}.ccsecrets"))?;
    std::os::unix::fs::symlink(target, &tmp).map_err(io_at(&tmp))?;
    if let Err(e) = fs::rename(&tmp, at) {
        let _ = fs::remove_file(&tmp);
        return Err(io_at(at)(e));
    }
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Removes (wiping files first) every generation older than the newest `keep`, never `live`,
/// and any `.new-*` directory an interrupted install left behind (it may hold plaintext).
fn prune(gens: &Path, live: u64, keep: usize) -> Vec<u64> {
    for e in fs::read_dir(gens).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(".new-") {
            wipe_dir(&e.path());
        }
    }
    if keep == 0 {
        return Vec::new();
    }
    let all = list_generations(gens);
    let cut = all.len().saturating_sub(keep);
    let mut pruned = Vec::new();
    for n in &all[..cut] {
        if *n != live {
            wipe_dir(&gens.join(n.to_string()));
            pruned.push(*n);
        }
    }
    pruned
}

/// The effective uid and gid of this process (the owner of `/proc/self`).
fn current_ids() -> (u32, u32) {
    match fs::metadata("/proc/self") {
        Ok(m) => (m.uid(), m.gid()),
        Err(_) => (u32::MAX, u32::MAX),
    }
}

/// Users and groups from `passwd` and `group` files.
struct Accounts {
    users: Vec<(String, u32)>,
    groups: Vec<(String, u32)>,
    dir: PathBuf,
}

impl Accounts {
    fn read(dir: &Path) -> Result<Accounts, InstallError> {
        let table = |name: &str| -> Result<Vec<(String, u32)>, InstallError> {
            let p = dir.join(name);
            let text = match fs::read_to_string(&p) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
                Err(source) => return Err(InstallError::Read { path: p, source }),
            };
            Ok(text
                .lines()
                .filter_map(|l| {
                    let mut f = l.split(':');
                    let name = f.next()?;
                    let id = f.nth(1)?.parse().ok()?;
                    Some((name.to_owned(), id))
                })
                .collect())
        };
        Ok(Accounts {
            users: table("passwd")?,
            groups: table("group")?,
            dir: dir.to_owned(),
        })
    }

    fn lookup(table: &[(String, u32)], name: &str) -> Option<u32> {
        if let Ok(n) = name.parse() {
            return Some(n);
        }
        table.iter().find(|(n, _)| n == name).map(|(_, id)| *id)
    }

    fn uid(&self, name: &str) -> Result<u32, String> {
        Accounts::lookup(&self.users, name).ok_or_else(|| {
            format!(
                "owner `{name}` is not a user in {}",
                self.dir.join("passwd").display()
            )
        })
    }

    fn gid(&self, name: &str) -> Result<u32, String> {
        Accounts::lookup(&self.groups, name).ok_or_else(|| {
            format!(
                "group `{name}` is not a group in {}",
                self.dir.join("group").display()
            )
        })
    }
}
