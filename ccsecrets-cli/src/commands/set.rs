//! `ccsecrets set`: sops set — change one value in place, re-encrypting only that value.

use std::io::Read;
use std::path::PathBuf;

use ccsecrets_core::sops::path;
use ccsecrets_core::sops::store::json;
use zeroize::Zeroizing;

use super::{emit_encrypted, open_encrypted_with, write_output, Destination, Global};
use crate::env::Env;
use crate::error::{code, CliError};

/// Set the value at INDEX (e.g. '["drone"]["rpc_secret"]') to VALUE, a JSON value
/// ('"text"', 5, true, {"a": 1}). The file is rewritten in place; every other value keeps its
/// exact ciphertext, so the diff shows only this value, `mac` and `lastmodified`.
#[derive(clap::Args)]
pub struct Args {
    /// The encrypted file.
    pub file: PathBuf,
    /// Where to set, in sops's path form: '["key"]["sub"][0]'.
    pub index: String,
    /// The value as JSON; with --value-file, the file holding it (omit with --value-stdin).
    /// A negative number (-5) is a value, not a flag, as in sops.
    #[arg(allow_negative_numbers = true)]
    pub value: Option<String>,
    /// VALUE is a path: read the JSON value from that file (as sops).
    #[arg(long, conflicts_with = "value_stdin")]
    pub value_file: bool,
    /// Read the JSON value from stdin.
    #[arg(long, conflicts_with = "value")]
    pub value_stdin: bool,
    /// Do not verify the MAC before changing the file.
    #[arg(long)]
    pub ignore_mac: bool,
    /// Do not rewrite the file when the value is already set.
    #[arg(long)]
    pub idempotent: bool,
    /// Format of the file (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
}

pub fn run(args: Args, global: &Global, env: &Env) -> Result<(), CliError> {
    let steps = path::parse(&args.index)
        .map_err(|e| CliError::new(code::INVALID_TREE_PATH, e.to_string()))?;
    let raw: Zeroizing<Vec<u8>> =
        match (&args.value, args.value_file, args.value_stdin) {
            (Some(f), true, _) => Zeroizing::new(
                std::fs::read(f)
                    .map_err(|e| CliError::new(code::COULD_NOT_READ_INPUT, format!("{f}: {e}")))?,
            ),
            (Some(v), false, _) => Zeroizing::new(v.as_bytes().to_vec()),
            (None, _, true) => read_all_wiped(std::io::stdin().lock())
                .map_err(|e| CliError::new(code::COULD_NOT_READ_INPUT, format!("<stdin>: {e}")))?,
            (None, _, false) => return Err(CliError::new(
                code::ERROR_INVALID_SET_FORMAT,
                "no value given",
            )
            .hint("give VALUE (JSON), --value-file with VALUE naming a file, or --value-stdin")),
        };
    let value = json::parse_value(&raw).map_err(|e| {
        CliError::new(
            code::ERROR_INVALID_SET_FORMAT,
            format!("the value is not valid JSON: {e}"),
        )
        .hint("strings need JSON quotes: '\"text\"'")
    })?;
    let mut opened =
        open_encrypted_with(&args.file, args.input_type.as_deref(), env, args.ignore_mac)?;
    let name = opened.name();
    let doc = opened.plain.branches.first_mut().ok_or_else(|| {
        CliError::new(
            code::GENERIC,
            format!("{}: the file has no document", name.display()),
        )
    })?;
    if args.idempotent && path::get(doc, &steps) == Some(&value) {
        return Ok(());
    }
    path::set(doc, &steps, value).map_err(|e| {
        CliError::new(
            code::ERROR_INVALID_SET_FORMAT,
            format!("{}: {e}", name.display()),
        )
    })?;
    let file = opened
        .plain
        .reencrypt()
        .map_err(|e| CliError::encrypt(&name, &e))?;
    let bytes = emit_encrypted(&file, opened.format, &name, global)?;
    write_output(Destination::InPlace(&opened.input), &bytes, false)
}

/// Reads `r` to the end into a buffer that never leaves a copy behind: when it must grow,
/// the old buffer is wiped (a `Vec` growing by itself would free it as it is).
fn read_all_wiped(mut r: impl Read) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(8192));
    let mut chunk = Zeroizing::new([0u8; 8192]);
    loop {
        let n = match r.read(&mut chunk[..]) {
            Ok(0) => return Ok(buf),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.len() + n > buf.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity((buf.len() + n) * 2));
            bigger.extend_from_slice(&buf);
            buf = bigger;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
