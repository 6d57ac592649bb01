//! `ccsecrets recipients list|add|remove`: edit who may decrypt the instance (`.sops.yaml`).

use std::path::PathBuf;

use ccsecrets_core::instance::init::{host_key_to_age, ssh_key_summary};
use ccsecrets_core::instance::{Policy, SOPS_CONFIG_FILE};

use super::init::read_public_key;
use crate::error::{code, CliError};
use crate::output;

/// Show or change the instance's recipient policy (.sops.yaml). Changes apply to every
/// creation rule and touch no encrypted file: run `ccsecrets rekey --commit` afterwards.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: RecipientsCommand,
}

#[derive(clap::Subcommand)]
pub enum RecipientsCommand {
    /// Print every recipient: rule, group, recipient and its label.
    List(ListArgs),
    /// Add a recipient (a host's SSH key is converted to age by default).
    Add(AddArgs),
    /// Remove a recipient (refused when it is the last one of a group).
    Remove(Who),
}

#[derive(clap::Args)]
pub struct ListArgs {
    /// The instance repository.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub instance: PathBuf,
}

/// Which recipient: a host key or an age recipient.
#[derive(clap::Args)]
pub struct Who {
    /// The instance repository.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub instance: PathBuf,
    /// A host's SSH ed25519 public key (the line, or a file holding it); its age recipient is
    /// used, so sops-nix's converted host identity can open the files.
    #[arg(long, value_name = "PUB")]
    pub host_key: Option<String>,
    /// An age recipient (`age1…`).
    #[arg(
        long,
        value_name = "R",
        conflicts_with = "host_key",
        required_unless_present = "host_key"
    )]
    pub age: Option<String>,
    /// Use the host key as an ssh-ed25519 recipient instead of converting it (sops-nix's
    /// converted identity cannot open such a stanza).
    #[arg(long, requires = "host_key")]
    pub native_ssh: bool,
}

#[derive(clap::Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub who: Who,
    /// The key group (0-based; one past the last starts a new group).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub group: usize,
    /// The label written as a comment above the recipient (default: what the key is).
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,
}

pub fn run(args: Args) -> Result<(), CliError> {
    match args.command {
        RecipientsCommand::List(a) => list(a),
        RecipientsCommand::Add(a) => edit(a.who, Some((a.group, a.label))),
        RecipientsCommand::Remove(a) => edit(a, None),
    }
}

fn err(e: impl std::fmt::Display) -> CliError {
    CliError::new(code::GENERIC, e.to_string())
}

fn list(args: ListArgs) -> Result<(), CliError> {
    let policy = Policy::load(&args.instance.join(SOPS_CONFIG_FILE)).map_err(err)?;
    let mut out = String::new();
    for e in policy.entries() {
        out.push_str(&format!(
            "rule {} ({}) group {}: {}{}\n",
            e.rule,
            e.path_regex.as_deref().unwrap_or("every file"),
            e.group,
            e.recipient,
            e.label.map(|l| format!("  # {l}")).unwrap_or_default()
        ));
    }
    print!("{out}");
    Ok(())
}

/// Adds (with `Some((group, label))`) or removes the recipient `args` names.
fn edit(args: Who, add: Option<(usize, Option<String>)>) -> Result<(), CliError> {
    let path = args.instance.join(SOPS_CONFIG_FILE);
    let mut policy = Policy::load(&path).map_err(err)?;
    let (recipient, default_label) = match (&args.host_key, &args.age) {
        (Some(k), _) => {
            let key = read_public_key(k)?;
            let label = format!("host key {}", ssh_key_summary(&key));
            if args.native_ssh {
                output::warn(crate::commands::SSH_STANZA_WARNING);
                let mut parts = key.split_whitespace();
                let r = format!(
                    "{} {}",
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or("")
                );
                (r, label)
            } else {
                (host_key_to_age(&key, 1).map_err(err)?, label)
            }
        }
        (None, Some(r)) => (r.trim().to_owned(), "age recipient".to_owned()),
        (None, None) => unreachable!("clap requires --host-key or --age"),
    };
    if let Some((group, label)) = add {
        let label = label.unwrap_or(default_label);
        let changed = policy.add(&recipient, group, Some(&label)).map_err(err)?;
        if !changed {
            output::info(&format!(
                "{}: {recipient} is already a recipient",
                path.display()
            ));
            return Ok(());
        }
        policy.save().map_err(err)?;
        output::info(&format!("{}: added {recipient}", path.display()));
    } else {
        let n = policy.remove(&recipient).map_err(err)?;
        policy.save().map_err(err)?;
        output::info(&format!(
            "{}: removed {recipient} ({n} place{})",
            path.display(),
            if n == 1 { "" } else { "s" }
        ));
    }
    output::info(
        "no encrypted file changed yet: run `ccsecrets rekey --commit` to apply the policy \
         (a removal rotates each file's data key)",
    );
    Ok(())
}
