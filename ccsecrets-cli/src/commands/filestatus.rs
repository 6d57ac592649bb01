//! `ccsecrets filestatus`: sops filestatus.

use std::path::PathBuf;

use ccsecrets_core::sops::document::EncryptedFile;
use ccsecrets_core::sops::store::Format;

use super::{format_for, read_input, write_output, Destination};
use crate::error::CliError;

/// Print {"encrypted":true} when FILE is a complete sops file (metadata with a version and a
/// MAC), {"encrypted":false} otherwise. No key is needed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to inspect.
    pub file: PathBuf,

    /// Format of the input (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let input = read_input(Some(&args.file))?;
    let format: Format = format_for(args.input_type.as_deref(), Some(&args.file))?;
    let encrypted = EncryptedFile::parse(&input.bytes, format)
        .map(|f| f.is_complete())
        .unwrap_or(false);
    let line = format!("{{\"encrypted\":{encrypted}}}\n");
    write_output(Destination::Stdout, line.as_bytes(), false)
}
