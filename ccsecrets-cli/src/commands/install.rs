//! `ccsecrets install`: decrypt an instance's secrets and install them as sops-nix would.

use std::path::PathBuf;

use ccsecrets_core::install::{
    install, InstallError, InstallOptions, Report, DEFAULT_KEEP_GENERATIONS,
};
use ccsecrets_core::instance::Instance;
use ccsecrets_core::keys::Identity;
use zeroize::Zeroizing;

use crate::error::{code, CliError};

/// Decrypt every secret of an instance and install it under ROOT, as sops-nix does at
/// activation: a new generation directory ROOT/run/secrets.d/N with each file's owner, group
/// and mode (default root:root 0400), an atomic switch of the ROOT/run/secrets symlink,
/// pruning of old generations, and relative symlinks for custom paths (the certificate
/// path). All or nothing: on any failure (wrong key, tampered file, unknown owner) nothing is
/// installed and the previous generation stays live. Running it again with nothing changed
/// makes no new generation.
///
/// The identity comes from --identity, else from the usual sops lookup (SOPS_AGE_KEY,
/// SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, ~/.config/sops/age/keys.txt, SSH keys).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The instance repository (holding instance.nix and secrets/secrets.yaml).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub instance: PathBuf,

    /// Install under this directory instead of / (paths and links stay valid when it is /).
    #[arg(long, value_name = "ROOT", default_value = "/")]
    pub root: PathBuf,

    /// An age identity file (age-keygen format); only it is used.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,

    /// Generations to keep, the live one included (0: never prune).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_KEEP_GENERATIONS)]
    pub keep_generations: usize,

    /// Leave every file owned by the invoking user instead of its declared owner and group
    /// (for installing without root; modes still apply).
    #[arg(long)]
    pub no_chown: bool,

    /// Also print the `docker secret create` commands for Traefik's ssl_cert and ssl_key
    /// swarm secrets, made from the installed certificate and key files.
    #[arg(long)]
    pub swarm: bool,
}

pub fn run(args: Args, env: &crate::env::Env) -> Result<(), CliError> {
    let instance =
        Instance::open(&args.instance).map_err(|e| CliError::new(code::GENERIC, e.to_string()))?;
    let (identities, problems) = match &args.identity {
        Some(path) => (read_identity_file(path)?, Vec::new()),
        None => {
            let ids = crate::env::load_identities(env);
            (ids.identities, ids.problems)
        }
    };
    let opts = InstallOptions {
        keep_generations: args.keep_generations,
        chown: !args.no_chown,
        swarm: args.swarm,
        ..InstallOptions::new(&args.root)
    };
    let report = install(&instance, &identities, &opts).map_err(|e| {
        let mut err = install_error(&e);
        for p in &problems {
            err = err.detail(format!("key source problem: {p}"));
        }
        err
    })?;
    for w in &report.warnings {
        crate::output::warn(w);
    }
    print(&args, &report)
}

fn read_identity_file(path: &std::path::Path) -> Result<Vec<Identity>, CliError> {
    let text = std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| {
            CliError::new(
                code::COULD_NOT_RETRIEVE_KEY,
                format!("--identity {}: {e}", path.display()),
            )
        })?;
    Identity::parse_list(&text, &path.display().to_string())
        .map_err(|e| CliError::new(code::COULD_NOT_RETRIEVE_KEY, e.to_string()))
}

fn install_error(e: &InstallError) -> CliError {
    match e {
        InstallError::Decrypt { path, source } => CliError::decrypt(path, source),
        InstallError::Read { .. } => CliError::new(code::COULD_NOT_READ_INPUT, e.to_string()),
        InstallError::Io { .. } => CliError::new(code::COULD_NOT_WRITE_OUTPUT, e.to_string())
            .detail("nothing was installed; the previous generation is still live"),
        InstallError::Permission(_) => CliError::new(code::GENERIC, e.to_string()),
        _ => CliError::new(code::GENERIC, e.to_string())
            .detail("nothing was installed; the previous generation is still live"),
    }
}

fn print(args: &Args, r: &Report) -> Result<(), CliError> {
    let mut text = String::new();
    for f in &r.files {
        text.push_str(&format!(
            "{} -> {} ({}:{} {:04o})\n",
            f.secret,
            f.path.display(),
            f.uid,
            f.gid,
            f.mode
        ));
    }
    for l in &r.links {
        text.push_str(&format!("linked {}\n", l.display()));
    }
    for n in &r.pruned {
        text.push_str(&format!("pruned generation {n}\n"));
    }
    text.push_str(&format!(
        "{}: generation {} {} ({} secrets)\n",
        args.root.display(),
        r.generation,
        if r.changed {
            "installed"
        } else {
            "unchanged, already live"
        },
        r.files.len()
    ));
    for s in &r.swarm {
        let file = s.file.to_string_lossy();
        let quoted = shlex::try_quote(&file)
            .map(|q| q.into_owned())
            .unwrap_or_else(|_| file.into_owned());
        text.push_str(&format!("docker secret create {} {quoted}\n", s.name));
    }
    super::print(text.as_bytes())
}
