//! `ccsecrets cert renew`: install a newly issued certificate in the instance and commit it.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ccsecrets_core::instance::renew::DEFAULT_MIN_DAYS;
use ccsecrets_core::instance::{renew, Instance, RenewError, RenewOutcome, RenewRequest};
use ccsecrets_core::sops::rules::Config;
use zeroize::Zeroizing;

use super::commit_flags::CommitFlags;
use super::with_key_problems;
use crate::env::{load_identities, Env};
use crate::error::{code, CliError};
use crate::output;

/// Certificate operations on an instance.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: CertCommand,
}

#[derive(clap::Subcommand)]
pub enum CertCommand {
    /// Replace tls.fullchain and tls.privkey with a newly issued pair, after checking it.
    Renew(RenewArgs),
}

/// Check the new chain and key (leaf first, key matches the leaf, SANs cover *.DOMAIN and
/// DOMAIN, valid now and for --min-days more, acceptable key type, expires later than the
/// installed certificate), then replace exactly tls.fullchain and tls.privkey in
/// secrets/secrets.yaml: every other value keeps its ciphertext. With --commit, commit on the
/// current branch with the leaf's SHA-256 fingerprint, serial, dates and SANs in the message.
/// Installing the same certificate again changes nothing and exits 0. A refusal changes no
/// file and no ref.
#[derive(clap::Args)]
pub struct RenewArgs {
    /// The new certificate chain, PEM, leaf first.
    #[arg(long, value_name = "F")]
    pub fullchain: PathBuf,
    /// The new private key, PEM (unencrypted; sops encrypts it).
    #[arg(long, value_name = "K")]
    pub key: PathBuf,
    /// The instance repository.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub instance: PathBuf,
    /// Commit the change (refused when secrets/secrets.yaml has uncommitted changes or the
    /// branch moved meanwhile).
    #[arg(long)]
    pub commit: bool,
    /// Refuse a certificate that expires within N days.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MIN_DAYS)]
    pub min_days: u32,
    #[command(flatten)]
    pub commit_flags: CommitFlags,
}

pub fn run(args: Args, env: &Env) -> Result<(), CliError> {
    match args.command {
        CertCommand::Renew(a) => run_renew(a, env),
    }
}

fn read_pem(path: &Path) -> Result<Zeroizing<String>, CliError> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
        CliError::new(
            code::COULD_NOT_READ_INPUT,
            format!("{}: {e}", path.display()),
        )
    })?);
    match std::str::from_utf8(&bytes) {
        Ok(s) => Ok(Zeroizing::new(s.to_owned())),
        Err(_) => Err(CliError::new(
            code::COULD_NOT_READ_INPUT,
            format!("{}: not a PEM text file", path.display()),
        )),
    }
}

fn run_renew(args: RenewArgs, env: &Env) -> Result<(), CliError> {
    let instance =
        Instance::open(&args.instance).map_err(|e| CliError::new(code::GENERIC, e.to_string()))?;
    let fullchain = read_pem(&args.fullchain)?;
    let key = read_pem(&args.key)?;
    let store = match Config::load(&instance.sops_config_path()) {
        Ok(c) => c.stores,
        Err(_) => Default::default(),
    };
    let ids = load_identities(env);
    let req = RenewRequest {
        fullchain: &fullchain,
        privkey: &key,
        now: SystemTime::now(),
        min_days: args.min_days,
        commit: if args.commit {
            Some(args.commit_flags.options()?)
        } else {
            None
        },
        expected_head: None,
        store,
    };
    let outcome = renew(&instance, &ids.identities, &req).map_err(|e| match e {
        RenewError::Decrypt { path, source } => {
            with_key_problems(CliError::decrypt(&path, &source), &ids)
        }
        RenewError::Dirty(_) => CliError::new(code::GENERIC, e.to_string())
            .hint("commit or `git checkout` secrets/secrets.yaml first"),
        other => CliError::new(code::GENERIC, format!("cert renew refused: {other}")),
    })?;
    match outcome {
        RenewOutcome::AlreadyInstalled { leaf } => output::info(&format!(
            "{}: the certificate sha256 {} (not after {}) is already installed; nothing to do",
            instance.secrets_path().display(),
            leaf.sha256,
            leaf.not_after_utc()
        )),
        RenewOutcome::Renewed {
            leaf,
            commit,
            warnings,
            message,
            ..
        } => {
            for w in &warnings {
                output::warn(&w.to_string());
            }
            output::info(&format!(
                "{}: installed leaf {} sha256 {} serial {} valid {} to {}, SANs {}",
                instance.secrets_path().display(),
                leaf.subject,
                leaf.sha256,
                leaf.serial,
                leaf.not_before_utc(),
                leaf.not_after_utc(),
                leaf.dns_names.join(", ")
            ));
            match commit {
                Some(id) => {
                    output::info(&format!("committed {id}"));
                    println!("{id}");
                }
                None => output::info(&format!(
                    "not committed (no --commit); suggested message:\n{message}"
                )),
            }
        }
        _ => {}
    }
    Ok(())
}
