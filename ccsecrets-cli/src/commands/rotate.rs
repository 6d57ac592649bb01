//! `ccsecrets rotate`: sops rotate — new data key, every value re-encrypted.

use std::path::PathBuf;

use ccsecrets_core::keys::Recipient;

use super::{destination, emit_encrypted, open_encrypted, parse_recipients, write_output, Global};
use crate::env::Env;
use crate::error::{code, CliError};

/// Generate a new data key and re-encrypt every value with it, optionally adding or removing
/// age recipients (added ones go to the first key group). Prints the result unless -i/--output.
#[derive(clap::Args)]
pub struct Args {
    /// The encrypted file.
    pub file: PathBuf,
    /// Comma-separated age recipients to add.
    #[arg(long, value_name = "RECIPIENTS")]
    pub add_age: Option<String>,
    /// Comma-separated age recipients to remove.
    #[arg(long, value_name = "RECIPIENTS")]
    pub rm_age: Option<String>,
    /// Write the result over the file.
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// Write the result to this file.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Format of the file (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
}

pub fn run(args: Args, global: &Global, env: &Env) -> Result<(), CliError> {
    let add = args
        .add_age
        .as_deref()
        .map(parse_recipients)
        .transpose()?
        .unwrap_or_default();
    let rm = args
        .rm_age
        .as_deref()
        .map(parse_recipients)
        .transpose()?
        .unwrap_or_default();
    let opened = open_encrypted(&args.file, args.input_type.as_deref(), env)?;
    let name = opened.name();
    let mut groups: Vec<Vec<Recipient>> = super::groups::current_groups(&opened)?;
    if groups.is_empty() {
        groups.push(Vec::new());
    }
    if add.iter().any(|r| r.is_ssh()) {
        crate::output::warn(super::SSH_STANZA_WARNING);
    }
    for r in add {
        if !groups[0].contains(&r) {
            groups[0].push(r);
        }
    }
    for (i, g) in groups.iter_mut().enumerate() {
        let had_keys = !g.is_empty();
        g.retain(|r| !rm.contains(r));
        // As sops ("empty key group provided"): removing a group's last key is refused rather
        // than silently dropping the group, which would change how many keys open the file.
        if had_keys && g.is_empty() {
            return Err(CliError::new(
                code::GENERIC,
                format!(
                    "{}: --rm-age would leave key group {} without a key",
                    name.display(),
                    i + 1
                ),
            )
            .hint("remove the whole group with `ccsecrets groups delete`, or add its replacement with --add-age"));
        }
    }
    let file = opened
        .plain
        .rotate(&groups)
        .map_err(|e| CliError::encrypt(&name, &e))?;
    let bytes = emit_encrypted(&file, opened.format, &name, global)?;
    let dest = destination(&opened.input, args.in_place, args.output.as_deref())?;
    write_output(dest, &bytes, false)
}
