//! `ccsecrets exec-env`: sops exec-env — run a command with the file's top-level values as
//! environment variables.

use std::path::PathBuf;
use std::process::Command;

use zeroize::Zeroizing;

use super::open_encrypted;
use crate::env::Env;
use crate::error::{code, CliError};

/// Run COMMAND (with `sh -c`) with every top-level key of FILE as an environment variable.
/// Nested values cannot be exported and are an error. The plaintext never touches the disk.
#[derive(clap::Args)]
pub struct Args {
    /// The encrypted file.
    pub file: PathBuf,
    /// The command line to run.
    pub command: String,
    /// Start from an empty environment instead of the current one.
    #[arg(long)]
    pub pristine: bool,
    /// Format of the file (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
}

pub fn run(args: Args, env: &Env) -> Result<(), CliError> {
    let opened = open_encrypted(&args.file, args.input_type.as_deref(), env)?;
    let name = opened.name();
    let mut vars: Vec<(String, Zeroizing<String>)> = Vec::new();
    for branch in &opened.plain.branches {
        for (k, v) in branch.entries() {
            // A null is Go's `%v` of nil, `<nil>`, exactly as sops passes it.
            let flat = match v {
                ccsecrets_core::sops::tree::Value::Null => Some("<nil>".to_owned()),
                other => other.to_flat_string(),
            };
            let value = flat.ok_or_else(|| {
                CliError::new(
                    code::GENERIC,
                    format!(
                        "{}: `{k}` is a {}, which cannot be an environment variable",
                        name.display(),
                        v.kind()
                    ),
                )
            })?;
            if k.contains('=') || k.is_empty() {
                return Err(CliError::new(
                    code::GENERIC,
                    format!("{}: `{k}` is not a valid variable name", name.display()),
                ));
            }
            vars.push((k.to_owned(), Zeroizing::new(value)));
        }
    }
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(&args.command);
    if args.pristine {
        cmd.env_clear();
    }
    for (k, v) in &vars {
        cmd.env(k, v.as_str());
    }
    let status = cmd
        .status()
        .map_err(|e| CliError::new(code::GENERIC, format!("cannot run sh: {e}")))?;
    // Wipe the plaintext before exiting with the child's status.
    drop(vars);
    drop(opened);
    exit_like(status)
}

/// Exits with the child's status (its code, or 128 + signal).
pub fn exit_like(status: std::process::ExitStatus) -> Result<(), CliError> {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(()),
        (Some(c), _) => std::process::exit(c),
        (None, Some(s)) => std::process::exit(128 + s),
        _ => std::process::exit(1),
    }
}
