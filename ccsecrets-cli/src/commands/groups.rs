//! `ccsecrets groups add|delete`: sops groups — add or remove a key group, re-splitting the
//! same data key.

use std::path::PathBuf;

use ccsecrets_core::keys::Recipient;

use super::{destination, emit_encrypted, open_encrypted, parse_recipients, write_output, Global};
use crate::env::Env;
use crate::error::{code, CliError};

/// Add or delete key groups (Shamir secret sharing).
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand)]
pub enum Action {
    /// Add a key group made of the given age recipients.
    Add {
        /// The encrypted file.
        #[arg(short = 'f', long)]
        file: PathBuf,
        /// Comma-separated age recipients of the new group.
        #[arg(long, value_name = "RECIPIENTS", required = true)]
        age: Vec<String>,
        /// Number of groups needed to decrypt.
        #[arg(long, value_name = "N")]
        shamir_secret_sharing_threshold: Option<usize>,
        /// Write the result over the file (otherwise it is printed).
        #[arg(short = 'i', long)]
        in_place: bool,
        /// Format of the file.
        #[arg(long, value_name = "TYPE")]
        input_type: Option<String>,
    },
    /// Delete the key group at INDEX (0-based).
    Delete {
        /// The encrypted file.
        #[arg(short = 'f', long)]
        file: PathBuf,
        /// The group to delete.
        index: usize,
        /// Write the result over the file (otherwise it is printed).
        #[arg(short = 'i', long)]
        in_place: bool,
        /// Format of the file.
        #[arg(long, value_name = "TYPE")]
        input_type: Option<String>,
    },
}

/// The file's key groups as parsed recipients (shared with `rotate`).
pub fn current_groups(opened: &super::Opened) -> Result<Vec<Vec<Recipient>>, CliError> {
    opened
        .file
        .metadata
        .key_groups
        .iter()
        .map(|g| {
            g.age
                .iter()
                .map(|k| {
                    k.recipient
                        .parse()
                        .map_err(|e: ccsecrets_core::keys::RecipientError| {
                            CliError::new(code::GENERIC, e.to_string())
                        })
                })
                .collect()
        })
        .collect()
}

pub fn run(args: Args, global: &Global, env: &Env) -> Result<(), CliError> {
    let (file, in_place, input_type) = match &args.action {
        Action::Add {
            file,
            in_place,
            input_type,
            ..
        }
        | Action::Delete {
            file,
            in_place,
            input_type,
            ..
        } => (file.clone(), *in_place, input_type.clone()),
    };
    let mut opened = open_encrypted(&file, input_type.as_deref(), env)?;
    let name = opened.name();
    let mut groups = current_groups(&opened)?;
    match &args.action {
        Action::Add {
            age,
            shamir_secret_sharing_threshold,
            ..
        } => {
            let mut g = Vec::new();
            for list in age {
                g.extend(parse_recipients(list)?);
            }
            if g.iter().any(|r| r.is_ssh()) {
                crate::output::warn(super::SSH_STANZA_WARNING);
            }
            groups.push(g);
            if let Some(t) = shamir_secret_sharing_threshold {
                opened.file.metadata.shamir_threshold = *t;
            }
        }
        Action::Delete { index, .. } => {
            if *index >= groups.len() {
                return Err(CliError::new(
                    code::GENERIC,
                    format!("{}: there is no key group {index}", name.display()),
                ));
            }
            let threshold = opened.file.metadata.shamir_threshold;
            if groups.len() - 1 < threshold {
                return Err(CliError::new(
                    code::GENERIC,
                    format!(
                        "{}: removing a group would leave fewer groups ({}) than the threshold ({threshold})",
                        name.display(),
                        groups.len() - 1
                    ),
                ));
            }
            groups.remove(*index);
        }
    }
    let key = opened
        .file
        .data_key(&crate::env::load_identities(env).identities)
        .map_err(|e| CliError::decrypt(&name, &e))?;
    let new = opened
        .file
        .rewrap(&key, &groups)
        .map_err(|e| CliError::encrypt(&name, &e))?;
    let bytes = emit_encrypted(&new, opened.format, &name, global)?;
    let dest = destination(&opened.input, in_place, None)?;
    write_output(dest, &bytes, false)
}
