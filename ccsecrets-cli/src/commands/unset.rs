//! `ccsecrets unset`: sops unset — remove one key or list element in place.

use std::path::PathBuf;

use ccsecrets_core::sops::path;

use super::{emit_encrypted, open_encrypted_with, write_output, Destination, Global};
use crate::env::Env;
use crate::error::{code, CliError};

/// Remove the value at INDEX (e.g. `'["registry"][0]'`); other values keep their ciphertext.
#[derive(clap::Args)]
pub struct Args {
    /// The encrypted file.
    pub file: PathBuf,
    /// What to remove, in sops's path form: `'["key"]["sub"][0]'`.
    pub index: String,
    /// Succeed without changes when INDEX is absent (a missing key, an index past the end of a
    /// list). A path through a scalar value still fails, as in sops.
    #[arg(long)]
    pub idempotent: bool,
    /// Do not verify the MAC before changing the file.
    #[arg(long)]
    pub ignore_mac: bool,
    /// Format of the file (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
}

pub fn run(args: Args, global: &Global, env: &Env) -> Result<(), CliError> {
    let steps = path::parse(&args.index)
        .map_err(|e| CliError::new(code::INVALID_TREE_PATH, e.to_string()))?;
    let mut opened =
        open_encrypted_with(&args.file, args.input_type.as_deref(), env, args.ignore_mac)?;
    let name = opened.name();
    let doc = opened.plain.branches.first_mut().ok_or_else(|| {
        CliError::new(
            code::GENERIC,
            format!("{}: the file has no document", name.display()),
        )
    })?;
    match path::unset(doc, &steps) {
        Ok(()) => {}
        Err(path::EditError::Missing) if args.idempotent => return Ok(()),
        Err(e) => {
            return Err(CliError::new(
                code::GENERIC,
                format!("{}: cannot unset {}: {e}", name.display(), args.index),
            ))
        }
    }
    let file = opened
        .plain
        .reencrypt()
        .map_err(|e| CliError::encrypt(&name, &e))?;
    let bytes = emit_encrypted(&file, opened.format, &name, global)?;
    write_output(Destination::InPlace(&opened.input), &bytes, false)
}
