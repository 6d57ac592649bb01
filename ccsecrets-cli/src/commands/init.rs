//! `ccsecrets init`: a new instance repository and its bootstrap key.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ccsecrets_core::instance::{init, InitError, InitOptions};

use super::commit_flags::CommitFlags;
use crate::env::Env;
use crate::error::{code, CliError};
use crate::output;

/// Create an instance repository: a git repo with instance.nix (the domain), .sops.yaml (the
/// bootstrap recipient and any host recipients) and secrets/secrets.yaml, encrypted, holding a
/// fresh Drone RPC secret and webhook HMAC, an empty registry list and placeholders for the
/// certificate, its key and the OAuth client; then commit it.
///
/// The new bootstrap age identity is written with mode 0600 to --bootstrap-key-out, which must
/// be outside every git work tree. Its public recipient is printed on stdout.
#[derive(clap::Args)]
pub struct Args {
    /// The instance's domain: the certificate must cover *.DOMAIN and DOMAIN.
    #[arg(long, value_name = "D")]
    pub domain: String,
    /// Where to create the repository (absent or empty).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Where to write the bootstrap identity (default:
    /// ~/.config/sops/age/ccsecrets-bootstrap-DOMAIN.txt). Never overwritten.
    #[arg(long, value_name = "FILE")]
    pub bootstrap_key_out: Option<PathBuf>,
    /// A host's SSH ed25519 public key (the key line, or a file holding it, such as
    /// /etc/ssh/ssh_host_ed25519_key.pub), added as its age recipient. Repeatable.
    #[arg(long, value_name = "PUB")]
    pub host_key: Vec<String>,
    #[command(flatten)]
    pub commit: CommitFlags,
}

pub fn run(args: Args, env: &Env) -> Result<(), CliError> {
    let key_out = match args.bootstrap_key_out {
        Some(p) => p,
        None => {
            let base = env
                .xdg_config_home
                .clone()
                .or_else(|| env.home.as_ref().map(|h| h.join(".config")))
                .ok_or_else(|| {
                    CliError::new(code::GENERIC, "no HOME to put the bootstrap key under")
                        .hint("give --bootstrap-key-out FILE")
                })?;
            base.join("sops")
                .join("age")
                .join(format!("ccsecrets-bootstrap-{}.txt", args.domain))
        }
    };
    let host_keys = args
        .host_key
        .iter()
        .map(|k| read_public_key(k))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = InitOptions {
        domain: args.domain.clone(),
        dir: args.dir.clone(),
        key_out,
        host_keys,
        commit: args.commit.options()?,
        now: SystemTime::now(),
    };
    let done = init(&opts).map_err(|e| {
        let err = CliError::new(code::GENERIC, e.to_string());
        match e {
            InitError::Commit(_) => {
                err.hint("set git config user.name and user.email, or pass --author")
            }
            InitError::KeyInWorkTree { .. } => {
                err.hint("choose --bootstrap-key-out outside any repository, e.g. under ~/.config")
            }
            _ => err,
        }
    })?;
    output::info(&format!(
        "{}: created the instance repository for {} (commit {})",
        done.root.display(),
        args.domain,
        done.commit
    ));
    output::info(&format!(
        "{}: the bootstrap identity (mode 0600). It is the one secret that lives outside git: \
         copy it to offline storage now; whoever holds it can decrypt every secret of this instance",
        done.key_file.display()
    ));
    for h in &done.host_recipients {
        output::info(&format!("host recipient: {h}"));
    }
    output::info(&format!(
        "still placeholders (validate fails until they are set): {}",
        done.placeholders.join(", ")
    ));
    output::info(&format!(
        "next: export SOPS_AGE_KEY_FILE={}; ccsecrets cert renew --instance {} --fullchain F --key K --commit; \
         ccsecrets set {}/secrets/secrets.yaml '[\"drone\"][\"oauth_client_id\"]' '\"…\"'",
        done.key_file.display(),
        done.root.display(),
        done.root.display()
    ));
    println!("{}", done.bootstrap_recipient);
    Ok(())
}

/// An SSH public key given on the command line: the key line itself, or a file holding it.
pub fn read_public_key(arg: &str) -> Result<String, CliError> {
    let t = arg.trim();
    if t.starts_with("ssh-") || t.starts_with("ecdsa-") || t.starts_with("sk-") {
        return Ok(t.to_owned());
    }
    std::fs::read_to_string(Path::new(arg))
        .map(|s| s.trim().to_owned())
        .map_err(|e| {
            CliError::new(
                code::COULD_NOT_READ_INPUT,
                format!("{arg}: {e} (expected an ssh public key line or a file holding one)"),
            )
        })
}
