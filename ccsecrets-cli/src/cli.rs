//! Command-line definitions (clap only; no behaviour here).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::{
    decrypt, edit, encrypt, exec_env, exec_file, filestatus, groups, rotate, set, unset, updatekeys,
};

/// ccsecrets: sops-compatible secrets for a public base repo and a private instance repo.
///
/// The sops-like subcommands take sops's own flags, read the same environment
/// (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, SOPS_AGE_SSH_PRIVATE_KEY_FILE,
/// ~/.config/sops/age/keys.txt, SOPS_AGE_RECIPIENTS) and find .sops.yaml as sops does.
#[derive(Parser)]
#[command(name = "ccsecrets", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Use this .sops.yaml instead of searching upwards from the current directory
    /// (also SOPS_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Indentation of YAML and JSON output, as sops's global --indent.
    #[arg(long, global = true, value_name = "N")]
    pub indent: Option<i64>,

    /// Compute the MAC over encrypted values only (encrypt; a global flag, as in sops).
    #[arg(long, global = true)]
    pub mac_only_encrypted: bool,

    /// Encrypt only values marked by a comment matching this regex (encrypt).
    #[arg(long, global = true, value_name = "REGEX")]
    pub encrypted_comment_regex: Option<String>,

    /// Leave values marked by a comment matching this regex unencrypted (encrypt).
    #[arg(long, global = true, value_name = "REGEX")]
    pub unencrypted_comment_regex: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Encrypt a file (sops encrypt).
    Encrypt(encrypt::Args),
    /// Decrypt a file (sops decrypt).
    Decrypt(decrypt::Args),
    /// Tell whether a file is a complete sops file: prints {"encrypted":true|false}.
    Filestatus(filestatus::Args),
    /// Set one value in place (sops set).
    Set(set::Args),
    /// Remove one value in place (sops unset).
    Unset(unset::Args),
    /// New data key, every value re-encrypted; add or remove recipients (sops rotate).
    Rotate(rotate::Args),
    /// Apply the .sops.yaml recipients to files, all or nothing (sops updatekeys).
    Updatekeys(updatekeys::Args),
    /// Add or delete key groups (sops groups).
    Groups(groups::Args),
    /// Edit an encrypted file in $SOPS_EDITOR / $EDITOR (sops edit).
    Edit(edit::Args),
    /// Run a command with the file's values as environment variables (sops exec-env).
    ExecEnv(exec_env::Args),
    /// Run a command on a private plaintext copy of the file (sops exec-file).
    ExecFile(exec_file::Args),
    /// Convert SSH ed25519 keys to age recipients/identities (like ssh-to-age).
    SshToAge(crate::commands::ssh_to_age::Args),
    /// Generate an age identity, or print identities' recipients with -y (like age-keygen).
    Keygen(crate::commands::keygen::Args),
    /// Check an instance's secrets against the instance model (exit 1 on any error).
    Validate(crate::commands::validate::Args),
    /// Print an instance's sops-nix declarations as Nix, or write the committed glue (--write).
    Nix(crate::commands::nix::Args),
    /// Decrypt an instance's secrets and install them under ROOT as sops-nix would.
    Install(crate::commands::install::Args),
    /// Create an instance repository and its bootstrap key, and commit it.
    Init(crate::commands::init::Args),
    /// Certificate operations: `cert renew` installs a new certificate and commits it.
    Cert(crate::commands::cert::Args),
    /// List, add or remove the instance's recipients (.sops.yaml).
    Recipients(crate::commands::recipients::Args),
    /// Bring every file of the instance to the recipient policy, all or nothing.
    Rekey(crate::commands::rekey::Args),
}
