//! `ccsecrets rebuild-check`: the cold-rebuild harness. Proves that a blank host given the
//! base repo, the instance repo and the one bootstrap age key becomes the working system
//! with the steps of `docs/install.md` and nothing else.
//!
//! The command re-runs itself in a clean environment (empty `HOME`, no `SOPS_*` variable but
//! `SOPS_AGE_KEY_FILE` for the given key, no SSH keys, no system git config) and that child
//! runs the steps; `check` and `install` run as subprocesses of this same binary, exactly as
//! an operator would run them. The steps, their timings and what they proved go to the
//! evidence file ([`ccsecrets_core::rebuild::Evidence`]); no secret reaches it or the output.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccsecrets_core::fsutil::{self, PrivateDir};
use ccsecrets_core::git;
use ccsecrets_core::install::under;
use ccsecrets_core::instance::{Instance, SecretSet};
use ccsecrets_core::keys::Identity;
use ccsecrets_core::rebuild::{
    self, tls, verify, Evidence, KeyRecord, Recorder, RepoRecord, StepFailed,
};
use ccsecrets_core::sops::document::{DecryptOptions, EncryptedFile};
use ccsecrets_core::sops::store::Format;
use zeroize::Zeroizing;

use crate::error::{code, CliError};

/// Where the bootstrap key is provisioned, relative to the root (sops-nix's default).
const KEY_PATH: &str = "var/lib/sops-nix/key.txt";

/// The bundled example (`--example`): the source tree's fixtures.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures");

/// [`FIXTURES`] without the `..`, when it exists.
fn fixtures_dir() -> PathBuf {
    fs::canonicalize(FIXTURES).unwrap_or_else(|_| PathBuf::from(FIXTURES))
}

/// Run the cold-rebuild check: clone the base and instance repos (gix; file://, git://,
/// ssh:// URLs or paths), run `check` without and with the bootstrap key, `install` into a
/// fresh root, verify every installed secret's path, mode and content, then serve the
/// installed certificate and key over TLS on 127.0.0.1 and complete a handshake with SNI
/// HOST.DOMAIN, verifying the chain against --ca-bundle (the system roots when absent).
/// Runs in a clean environment (empty HOME, only the given key, no SSH keys). Exit 0 when
/// every step passed, 1 naming the first failed step.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The base repository's URL or path.
    #[arg(long, value_name = "URL", required_unless_present = "example")]
    pub base: Option<String>,

    /// The instance repository's URL or path.
    #[arg(long, value_name = "URL", required_unless_present = "example")]
    pub instance: Option<String>,

    /// The bootstrap age key (age-keygen format): the one secret given out of band.
    #[arg(long, value_name = "FILE", required_unless_present = "example")]
    pub age_key: Option<PathBuf>,

    /// Work here (must be new or empty; kept afterwards, the installed root wiped) instead of
    /// a private temporary directory.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,

    /// CA certificates (PEM) to verify the served chain against, instead of the system roots.
    #[arg(long, value_name = "PEM")]
    pub ca_bundle: Option<PathBuf>,

    /// Write the evidence (JSON: repos and commits, public key fingerprints, every step with
    /// its result and duration; no secret) here.
    #[arg(long, value_name = "OUT.json")]
    pub evidence: Option<PathBuf>,

    /// The host name under the instance domain used for SNI (HOST.DOMAIN).
    #[arg(long, value_name = "HOST", default_value = "drone")]
    pub host: String,

    /// Run on the bundled example instance (fixtures/example-instance, its test key and test
    /// CA), served from temporary git repos over git:// on 127.0.0.1; works offline.
    #[arg(long, conflicts_with_all = ["base", "instance", "age_key"])]
    pub example: bool,

    /// Internal: this process is the clean-environment child that runs the steps.
    #[arg(long, hide = true)]
    pub clean_env: bool,
}

pub fn run(args: Args, env: &crate::env::Env) -> Result<(), CliError> {
    if args.clean_env {
        return run_steps(&args);
    }
    let example = if args.example {
        Some(Example::start(env)?)
    } else {
        None
    };
    let (base, instance, key, ca) = match &example {
        Some(ex) => (
            ex.base_url(),
            ex.instance_url(),
            fixtures_dir().join("keys/key1.txt"),
            args.ca_bundle
                .clone()
                .or_else(|| Some(fixtures_dir().join("certs/ca.crt"))),
        ),
        None => (
            args.base.clone().unwrap_or_default(),
            args.instance.clone().unwrap_or_default(),
            args.age_key.clone().unwrap_or_default(),
            args.ca_bundle.clone(),
        ),
    };
    if example.is_some() {
        println!(
            "example instance: {} (TEST bootstrap key fixtures/keys/key1.txt, test CA fixtures/certs/ca.crt)",
            fixtures_dir().join("example-instance").display()
        );
    }

    let key = absolute(&key)?;
    let (workdir, temp) = match &args.workdir {
        Some(dir) => {
            prepare_workdir(dir)?;
            (absolute(dir)?, None)
        }
        None => {
            let d = PrivateDir::create_in(&env.private_dir_bases()).map_err(|e| {
                CliError::new(
                    code::COULD_NOT_WRITE_OUTPUT,
                    format!("temporary directory: {e}"),
                )
            })?;
            crate::cleanup::register(d.path());
            (d.path().to_owned(), Some(d))
        }
    };
    let home = workdir.join("home");
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&home)
        .map_err(|e| {
            CliError::new(
                code::COULD_NOT_WRITE_OUTPUT,
                format!("{}: {e}", home.display()),
            )
        })?;

    let exe = std::env::current_exe()
        .map_err(|e| CliError::new(code::GENERIC, format!("cannot find this program: {e}")))?;
    let mut child_args: Vec<OsString> = vec![
        "rebuild-check".into(),
        "--clean-env".into(),
        "--base".into(),
        base.into(),
        "--instance".into(),
        instance.into(),
        "--age-key".into(),
        key.clone().into(),
        "--workdir".into(),
        workdir.clone().into(),
        "--host".into(),
        args.host.clone().into(),
    ];
    if let Some(ca) = ca {
        child_args.push("--ca-bundle".into());
        child_args.push(absolute(&ca)?.into());
    }
    if let Some(ev) = &args.evidence {
        child_args.push("--evidence".into());
        child_args.push(absolute(ev)?.into());
    }
    let mut cmd = Command::new(exe);
    cmd.args(&child_args).env_clear();
    for (k, v) in clean_env_vars(&home, &key) {
        cmd.env(k, v);
    }
    let status = cmd.status().map_err(|e| {
        CliError::new(
            code::GENERIC,
            format!("cannot run the clean-environment child: {e}"),
        )
    })?;
    drop(example);
    if let Some(d) = temp {
        d.remove();
        crate::cleanup::unregister(d.path());
    }
    match status.code() {
        Some(0) => Ok(()),
        Some(c) => std::process::exit(c),
        None => Err(CliError::new(
            code::GENERIC,
            "the clean-environment child was killed",
        )),
    }
}

/// The whole environment of the child: nothing of the caller's but `PATH`, and for ssh://
/// clones an agent socket and `GIT_SSH_COMMAND` (how a deploy key is given to git and gix).
/// Neither is an age identity source: with `HOME` empty and no `SOPS_AGE_SSH_PRIVATE_KEY_FILE`,
/// only the given key can open the secrets.
fn clean_env_vars(home: &Path, key: &Path) -> Vec<(OsString, OsString)> {
    let mut vars: Vec<(OsString, OsString)> = vec![
        ("HOME".into(), home.into()),
        ("SOPS_AGE_KEY_FILE".into(), key.into()),
        ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
        ("GIT_TERMINAL_PROMPT".into(), "0".into()),
        ("LC_ALL".into(), "C".into()),
    ];
    for name in ["PATH", "SSH_AUTH_SOCK", "GIT_SSH_COMMAND"] {
        if let Some(v) = std::env::var_os(name) {
            vars.push((name.into(), v));
        }
    }
    vars
}

fn absolute(p: &Path) -> Result<PathBuf, CliError> {
    std::path::absolute(p)
        .map_err(|e| CliError::new(code::GENERIC, format!("{}: {e}", p.display())))
}

fn prepare_workdir(dir: &Path) -> Result<(), CliError> {
    let err = |m: String| {
        CliError::new(
            code::COULD_NOT_WRITE_OUTPUT,
            format!("--workdir {}: {m}", dir.display()),
        )
    };
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(err("exists and is not empty".into()));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| err(e.to_string())),
        Err(e) => Err(err(e.to_string())),
    }
}

// ---- the clean-environment child: the steps ----

fn run_steps(args: &Args) -> Result<(), CliError> {
    let workdir = args
        .workdir
        .clone()
        .ok_or_else(|| CliError::new(code::GENERIC, "--clean-env needs --workdir"))?;
    let root = workdir.join("root");
    let mut rec = Recorder::new(env!("CARGO_PKG_VERSION"));
    println!("rebuild-check in {}", workdir.display());
    // The installed root holds plaintext (and the provisioned key): wipe it in every case,
    // a signal included.
    crate::cleanup::register(&root);
    let result = steps(args, &workdir, &root, &mut rec);
    fsutil::wipe_dir(&root);
    crate::cleanup::unregister(&root);
    let evidence = rec.finish();
    if let Some(path) = &args.evidence {
        fsutil::write_atomic(path, evidence.to_json().as_bytes(), None)
            .map_err(|e| CliError::new(code::COULD_NOT_WRITE_OUTPUT, e.to_string()))?;
        println!("evidence: {}", path.display());
    }
    match result {
        Ok(()) => {
            println!("rebuild-check: ok, {} steps passed", evidence.steps.len());
            Ok(())
        }
        Err(failed) => Err(
            CliError::new(code::GENERIC, failed.to_string()).hint(format!(
                "the evidence lists every step run; fix step `{}` and run again",
                failed.step
            )),
        ),
    }
}

/// Prints the step just recorded.
fn report(rec: &Recorder) {
    if let Some(s) = rec.evidence().steps.last() {
        let tag = if s.ok { "ok    " } else { "FAILED" };
        println!("{tag} {:<17} {:>6} ms  {}", s.name, s.duration_ms, s.detail);
        let _ = std::io::stdout().flush();
    }
}

fn steps(args: &Args, workdir: &Path, root: &Path, rec: &mut Recorder) -> Result<(), StepFailed> {
    let base_url = args.base.clone().unwrap_or_default();
    let instance_url = args.instance.clone().unwrap_or_default();
    let given_key = args.age_key.clone().unwrap_or_default();
    let src = workdir.join("src");
    let key_file = root.join(KEY_PATH);

    macro_rules! step {
        ($name:expr, $body:expr) => {{
            let r = rec.step($name, $body);
            report(rec);
            r?
        }};
    }

    step!("clean-environment", |_| clean_environment(&given_key));

    let identities = step!("provision-key", |ev: &mut Evidence| {
        provision_key(&given_key, &key_file, ev)
    });

    step!(
        "clone",
        |ev: &mut Evidence| -> Result<((), String), String> {
            let mut detail = Vec::new();
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&src)
                .map_err(|e| format!("{}: {e}", src.display()))?;
            for (role, url) in [("base", &base_url), ("instance", &instance_url)] {
                let (commit, via) =
                    clone_one(url, &src.join(role)).map_err(|e| format!("{role}: {e}"))?;
                detail.push(format!("{role} {} ({via})", &commit[..12]));
                ev.repos.push(RepoRecord {
                    role: role.into(),
                    url: redact_url(url),
                    commit,
                });
            }
            Ok(((), detail.join(", ")))
        }
    );
    let base_dir = src.join("base");
    let instance_dir = src.join("instance");

    let dirs: Vec<OsString> = vec![
        "--base".into(),
        base_dir.clone().into(),
        "--instance".into(),
        instance_dir.clone().into(),
    ];
    step!("check", |_| {
        let mut a: Vec<OsString> = vec!["check".into()];
        a.extend(dirs.iter().cloned());
        run_self(&a, None).map(|d| ((), d))
    });
    step!("check-keyed", |_| {
        let mut a: Vec<OsString> = vec!["check".into()];
        a.extend(dirs.iter().cloned());
        a.push("--keyed".into());
        run_self(&a, Some(&key_file)).map(|d| ((), d))
    });
    step!("install", |_| {
        let mut a: Vec<OsString> = vec![
            "install".into(),
            "--instance".into(),
            instance_dir.clone().into(),
            "--root".into(),
            root.into(),
            "--identity".into(),
            key_file.clone().into(),
        ];
        if !running_as_root(workdir) {
            // A scratch root, not the host: without root, files stay the invoking user's.
            a.push("--no-chown".into());
        }
        run_self(&a, None).map(|d| ((), d))
    });

    let (set, domain) = step!("verify-files", |ev: &mut Evidence| {
        verify_files(&instance_dir, &identities, root, ev)
    });

    step!("tls-handshake", |ev: &mut Evidence| {
        tls_step(args, &set, &domain, root, ev)
    });
    Ok(())
}

fn clean_environment(key: &Path) -> Result<((), String), String> {
    let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
    let home = PathBuf::from(home);
    let entries = fs::read_dir(&home)
        .map_err(|e| format!("HOME {}: {e}", home.display()))?
        .count();
    if entries != 0 {
        return Err(format!("HOME {} is not empty", home.display()));
    }
    let mut names: Vec<String> = std::env::vars_os()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    names.sort();
    let stray: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("SOPS_") && *n != "SOPS_AGE_KEY_FILE")
        .collect();
    if !stray.is_empty() {
        return Err(format!("unexpected variables: {stray:?}"));
    }
    match std::env::var_os("SOPS_AGE_KEY_FILE") {
        Some(v) if Path::new(&v) == key => {}
        _ => return Err("SOPS_AGE_KEY_FILE is not the given key".into()),
    }
    Ok((
        (),
        format!("HOME empty, no SSH keys, variables: {}", names.join(" ")),
    ))
}

fn provision_key(
    given: &Path,
    dest: &Path,
    ev: &mut Evidence,
) -> Result<(Vec<Identity>, String), String> {
    let text = fs::read_to_string(given)
        .map(Zeroizing::new)
        .map_err(|e| format!("bootstrap key {}: {e}", given.display()))?;
    let ids =
        Identity::parse_list(&text, &given.display().to_string()).map_err(|e| e.to_string())?;
    if ids.is_empty() {
        return Err(format!(
            "bootstrap key {}: no age identity in it",
            given.display()
        ));
    }
    let parent = dest.parent().ok_or("key path has no parent")?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(|e| format!("{}: {e}", parent.display()))?;
    fsutil::write_private(dest, text.as_bytes(), None).map_err(|e| e.to_string())?;
    for id in &ids {
        ev.keys.push(KeyRecord {
            role: "bootstrap age key".into(),
            public_key: id.public().to_owned(),
            sha256: rebuild::sha256_hex(id.public().as_bytes()),
        });
    }
    let pubs: Vec<String> = ids.iter().map(|i| i.public().to_owned()).collect();
    let detail = format!("{} (0600) for {}", dest.display(), pubs.join(", "));
    Ok((ids, detail))
}

/// Clones `url` into `dest` and returns the checked-out commit (40 hex digits). Paths,
/// `file://`, `git://` and `ssh://` go through gix. `http(s)://` goes through the `git`
/// binary (its curl transport), because gix's HTTP client would bring reqwest with a C TLS
/// library; the clone is then opened with gix like any other.
fn clone_one(url: &str, dest: &Path) -> Result<(String, &'static str), String> {
    let lower = url.to_ascii_lowercase();
    let (repo, via) = if lower.starts_with("http://") || lower.starts_with("https://") {
        let out = Command::new("git")
            .args(["clone", "--quiet", "--", url])
            .arg(dest)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run `git clone` for {url}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`git clone {url}` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        (git::Repo::open(dest).map_err(|e| error_chain(&e))?, "git")
    } else {
        (git::clone(url, dest).map_err(|e| error_chain(&e))?, "gix")
    };
    let head = repo
        .head_commit_id()
        .map_err(|e| error_chain(&e))?
        .ok_or_else(|| format!("{url}: the clone has no commit checked out"))?;
    Ok((head.to_string(), via))
}

/// `url` without a password in its user info (`https://user:TOKEN@host/…` →
/// `https://user:***@host/…`), for the evidence.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{path}")
        }
        _ => url.to_owned(),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Runs this binary with `args`; with `key`, `SOPS_AGE_KEY_FILE` points at it, without, the
/// variable is removed (a keyless run). Returns the last line of its output, or why it failed.
fn run_self(args: &[OsString], key: Option<&Path>) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.args(args).stdin(Stdio::null());
    match key {
        Some(k) => cmd.env("SOPS_AGE_KEY_FILE", k),
        None => cmd.env_remove("SOPS_AGE_KEY_FILE"),
    };
    let shown = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let out = cmd
        .output()
        .map_err(|e| format!("ccsecrets {shown}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        let last = stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Ok(format!(
            "`ccsecrets {}` exit 0: {last}",
            args[0].to_string_lossy()
        ));
    }
    let tail: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| !l.trim().is_empty())
        .collect();
    let tail = tail[tail.len().saturating_sub(8)..].join(" | ");
    Err(format!(
        "`ccsecrets {shown}` exit {}: {tail}",
        out.status
            .code()
            .map(|c| c.to_string())
            .unwrap_or_else(|| "by signal".into())
    ))
}

/// Root can give files to their declared owners; the work dir we just made tells who we are.
fn running_as_root(workdir: &Path) -> bool {
    fs::metadata(workdir).map(|m| m.uid() == 0).unwrap_or(false)
}

fn verify_files(
    instance_dir: &Path,
    identities: &[Identity],
    root: &Path,
    ev: &mut Evidence,
) -> Result<((SecretSet, String), String), String> {
    let instance = Instance::open(instance_dir).map_err(|e| e.to_string())?;
    let path = instance.secrets_path();
    let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = EncryptedFile::parse(&bytes, Format::from_path(&path))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    for group in &file.metadata.key_groups {
        for k in &group.age {
            ev.keys.push(KeyRecord {
                role: "recipient of secrets/secrets.yaml (age)".into(),
                public_key: k.recipient.clone(),
                sha256: rebuild::sha256_hex(k.recipient.as_bytes()),
            });
        }
    }
    let plain = file
        .decrypt(identities, DecryptOptions::default())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let set = SecretSet::from_documents(&plain.branches)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // As root, install gave each file its declared owner: check that too.
    let accounts = running_as_root(root).then_some(Path::new("/etc"));
    let files = verify::verify_installed(&set, root, accounts).map_err(|e| e.to_string())?;
    let n = files.len();
    ev.files = files;
    let domain = instance.facts.domain().to_owned();
    Ok((
        (set, domain),
        format!(
            "{n} secrets at their paths with their modes{} and decrypted content",
            if accounts.is_some() { ", owners" } else { "" }
        ),
    ))
}

fn tls_step(
    args: &Args,
    set: &SecretSet,
    domain: &str,
    root: &Path,
    ev: &mut Evidence,
) -> Result<((), String), String> {
    let chain_path = under(root, &set.tls.fullchain.target.path);
    let key_path = under(root, &set.tls.privkey.target.path);
    let chain = fs::read(&chain_path).map_err(|e| format!("{}: {e}", chain_path.display()))?;
    let key =
        Zeroizing::new(fs::read(&key_path).map_err(|e| format!("{}: {e}", key_path.display()))?);
    let roots = match &args.ca_bundle {
        Some(p) => {
            let pem = fs::read(p).map_err(|e| format!("--ca-bundle {}: {e}", p.display()))?;
            tls::Roots::from_pem(&p.display().to_string(), &pem)
        }
        None => tls::Roots::system(),
    }
    .map_err(|e| e.to_string())?;
    let name = format!("{}.{domain}", args.host);
    let report = tls::handshake(&chain, &key, &name, &roots).map_err(|e| e.to_string())?;
    ev.keys.push(KeyRecord {
        role: "TLS leaf certificate (SubjectPublicKeyInfo)".into(),
        public_key: String::new(),
        sha256: report.leaf_spki_sha256.clone(),
    });
    let detail = format!(
        "{} {} with SNI {} on {}, chain of {} verified against {}",
        report.protocol,
        report.cipher_suite,
        report.server_name,
        report.address,
        report.chain_len,
        report.roots
    );
    ev.tls = Some(report);
    Ok(((), detail))
}

// ---- --example: the bundled instance, served over git:// on loopback ----

/// Temporary git repos made from the fixtures, served by `git daemon` on 127.0.0.1.
struct Example {
    _dir: PrivateDir,
    daemon: Child,
    port: u16,
}

impl Example {
    fn start(env: &crate::env::Env) -> Result<Example, CliError> {
        let fixtures = &fixtures_dir();
        let err = |m: String| CliError::new(code::GENERIC, format!("--example: {m}"));
        if !fixtures.join("example-instance/instance.nix").is_file() {
            return Err(err(format!(
                "the bundled example is not at {} (run it from the ccsecrets source tree)",
                fixtures.display()
            )));
        }
        let dir =
            PrivateDir::create_in(&env.private_dir_bases()).map_err(|e| err(e.to_string()))?;
        let home = dir.path().join("home");
        fs::create_dir(&home).map_err(|e| err(e.to_string()))?;
        let repos = dir.path().join("repos");
        for (name, from) in [("base", "example-base"), ("instance", "example-instance")] {
            make_repo(&fixtures.join(from), &repos.join(name), &home)
                .map_err(|e| err(format!("{name}: {e}")))?;
        }
        let port = free_port().map_err(|e| err(format!("no free port: {e}")))?;
        let mut daemon = Command::new("git")
            .arg("daemon")
            .arg("--export-all")
            .arg("--reuseaddr")
            .arg("--informative-errors")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", repos.display()))
            .arg(&repos)
            .env_clear()
            .envs(std::env::var_os("PATH").map(|p| ("PATH", p)))
            .env("HOME", &home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| err(format!("cannot start `git daemon`: {e}")))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                let _ = daemon.kill();
                let _ = daemon.wait();
                return Err(err(format!(
                    "`git daemon` did not listen on 127.0.0.1:{port}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Example {
            _dir: dir,
            daemon,
            port,
        })
    }

    fn base_url(&self) -> String {
        format!("git://127.0.0.1:{}/base", self.port)
    }

    fn instance_url(&self) -> String {
        format!("git://127.0.0.1:{}/instance", self.port)
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// A one-commit repo holding a copy of `from`, with a fixed author and date (so the example's
/// commit ids are the same on every run).
fn make_repo(from: &Path, dest: &Path, home: &Path) -> Result<(), String> {
    copy_tree(from, dest).map_err(|e| format!("copy {}: {e}", from.display()))?;
    let git = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("git")
            .args([
                "-c",
                "init.defaultBranch=main",
                "-c",
                "user.name=ccsecrets example",
                "-c",
                "user.email=example@ccsecrets.invalid",
            ])
            .args(args)
            .current_dir(dest)
            .env_clear()
            .envs(std::env::var_os("PATH").map(|p| ("PATH", p)))
            .env("HOME", home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
            .output()
            .map_err(|e| format!("git {}: {e}", args.join(" ")))?;
        if !out.status.success() {
            return Err(format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    };
    git(&["init", "-q"])?;
    git(&["add", "-A"])?;
    git(&["commit", "-q", "-m", "example"])
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_the_evidence() {
        assert_eq!(
            redact_url("https://bot:ghp_SECRET@git.example.org/ops/inst.git"),
            "https://bot:***@git.example.org/ops/inst.git"
        );
        for kept in [
            "ssh://git@git.example.org/ops/inst",
            "git://127.0.0.1:9418/base",
            "/srv/repos/base",
            "https://git.example.org/a@b",
        ] {
            assert_eq!(redact_url(kept), kept);
        }
    }
}
