//! `ccsecrets decrypt`: sops decrypt.

use std::path::PathBuf;

use ccsecrets_core::sops::document::{DecryptOptions, EncryptedFile};
use ccsecrets_core::sops::path;
use ccsecrets_core::sops::store::{self, StoreOptions};
use ccsecrets_core::sops::tree::Value;
use zeroize::Zeroizing;

use super::{
    apply_indent, destination, format_for, load_config, read_input, warn_all, write_output, Global,
};
use crate::env::{load_identities, Env};
use crate::error::{code, CliError};

/// Decrypt a sops file and print the plaintext (or write it with --output / --in-place).
#[derive(clap::Args)]
pub struct Args {
    /// The encrypted file; stdin when absent or `-`.
    pub file: Option<PathBuf>,

    /// Print only this part of the tree, e.g. `'["drone"]["rpc_secret"]'`.
    #[arg(long, value_name = "PATH")]
    pub extract: Option<String>,

    /// Format of the input: yaml, json, dotenv, ini or binary (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,

    /// Format of the output (default: from the file's extension).
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,

    /// Write the plaintext over the input file.
    #[arg(short = 'i', long)]
    pub in_place: bool,

    /// Write the plaintext to this file (mode 0600) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Do not verify the MAC (for recovering a damaged file).
    #[arg(long)]
    pub ignore_mac: bool,

    /// Use this path to pick formats (and rules) instead of FILE's.
    #[arg(long, value_name = "PATH")]
    pub filename_override: Option<PathBuf>,
}

pub fn run(args: Args, global: &Global, env: &Env) -> Result<(), CliError> {
    let input = read_input(args.file.as_deref())?;
    let name = input.display_path();
    let type_path = args
        .filename_override
        .clone()
        .or_else(|| input.path.clone());
    let in_format = format_for(args.input_type.as_deref(), type_path.as_deref())?;
    let out_format = match &args.output_type {
        Some(_) => format_for(args.output_type.as_deref(), None)?,
        None => type_path
            .as_deref()
            .map(store::Format::from_path)
            .unwrap_or(in_format),
    };
    let dest = destination(&input, args.in_place, args.output.as_deref())?;
    let extract = args
        .extract
        .as_deref()
        .map(|p| path::parse(p).map_err(|e| CliError::new(code::INVALID_TREE_PATH, e.to_string())))
        .transpose()?;
    // A broken .sops.yaml in the search path breaks decrypt in sops too (its stores section).
    let stores = load_config(global)?
        .map(|c| c.stores)
        .unwrap_or_else(StoreOptions::default);
    let opts = apply_indent(stores, global.indent)?;

    let file =
        EncryptedFile::parse(&input.bytes, in_format).map_err(|e| CliError::decrypt(&name, &e))?;
    let ids = load_identities(env);
    let plain = file
        .into_decrypted(
            &ids.identities,
            DecryptOptions {
                ignore_mac: args.ignore_mac,
                keep_ivs: false,
            },
        )
        .map_err(|e| {
            let mut err = CliError::decrypt(&name, &e);
            for p in &ids.problems {
                err = err.detail(format!("key source problem: {p}"));
            }
            err
        })?;
    warn_all(&name, &plain.warnings);

    let bytes = Zeroizing::new(match &extract {
        None => store::emit(out_format, &plain.branches, &opts)
            .map_err(|e| CliError::store(&name, &e))?,
        Some(steps) => {
            let first = plain.branches.first().cloned().unwrap_or_default();
            let value = path::get(&first, steps).ok_or_else(|| {
                CliError::new(
                    code::GENERIC,
                    format!(
                        "{}: component {:?} not found",
                        name.display(),
                        args.extract.as_deref().unwrap_or("")
                    ),
                )
            })?;
            match value {
                Value::Str(s) => s.as_bytes().to_vec(),
                Value::Bytes(b) => b.clone(),
                Value::Map(m) => store::emit(out_format, std::slice::from_ref(m), &opts)
                    .map_err(|e| CliError::store(&name, &e))?,
                other => store::emit_value(out_format, other, &opts)
                    .map_err(|e| CliError::store(&name, &e))?,
            }
        }
    });
    write_output(dest, &bytes, true)
}
