//! `ccsecrets ssh-to-age`: SSH ed25519 keys as age keys, like Mic92's ssh-to-age.

use std::path::{Path, PathBuf};

use ccsecrets_core::keys::ssh_to_age::{self, SshToAgeError};
use zeroize::Zeroizing;

use super::{read_input, write_output, Destination};
use crate::error::{code, CliError};

/// Convert SSH ed25519 public keys to age recipients (age1…), or with --private-key an SSH
/// ed25519 private key to an age identity (AGE-SECRET-KEY-1…).
///
/// Public keys: authorized_keys or known_hosts lines (e.g. ssh-keyscan output), several at
/// once, one recipient per ssh-ed25519 key; keys of other types are skipped with a warning.
/// Private keys must not be passphrase-protected.
#[derive(clap::Args)]
pub struct Args {
    /// Read the key(s) from FILE instead of stdin (`-` is stdin).
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Write to FILE (atomically; mode 0600 for a private key) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Convert a private key instead of public keys.
    #[arg(long)]
    pub private_key: bool,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let input = read_input(args.input.as_deref())?;
    let source = input.display_path();
    let dest = match args.output.as_deref() {
        Some(p) if p != Path::new("-") => Destination::File(p),
        _ => Destination::Stdout,
    };
    if args.private_key {
        let secret = ssh_to_age::private_key_to_age(&input.bytes)
            .map_err(|e| conversion_error(&source, &e))?;
        let mut out = Zeroizing::new(String::with_capacity(secret.len() + 1));
        out.push_str(&secret);
        out.push('\n');
        write_output(dest, out.as_bytes(), true)
    } else {
        let warn = |skipped: &[ssh_to_age::SkippedKey]| {
            for s in skipped {
                crate::output::warn(&format!("{}: {s}", source.display()));
            }
        };
        let keys = ssh_to_age::public_keys_to_age(&input.bytes).map_err(|e| {
            if let SshToAgeError::NoEd25519Key { skipped } = &e {
                warn(skipped);
            }
            conversion_error(&source, &e)
        })?;
        warn(&keys.skipped);
        let out: String = keys
            .converted
            .iter()
            .map(|k| format!("{}\n", k.recipient))
            .collect();
        write_output(dest, out.as_bytes(), false)
    }
}

fn conversion_error(source: &Path, e: &SshToAgeError) -> CliError {
    let err = CliError::new(
        code::COULD_NOT_READ_INPUT,
        format!("{}: {e}", source.display()),
    );
    match e {
        SshToAgeError::PrivateKeyGiven { .. } => {
            err.hint("to convert a private key, add --private-key")
        }
        SshToAgeError::PublicKeyGiven => err.hint("to convert public keys, drop --private-key"),
        SshToAgeError::Encrypted => err.hint(
            "`ssh-keygen -p -f FILE` removes the passphrase (do it on a private copy if the original must keep it)",
        ),
        SshToAgeError::NoEd25519Key { skipped } if !skipped.is_empty() => {
            err.hint("only ssh-ed25519 keys have an age equivalent")
        }
        _ => err,
    }
}
