//! `ccsecrets filestatus`: sops filestatus.

use std::path::PathBuf;

use ccsecrets_core::sops::document::EncryptedFile;
use ccsecrets_core::sops::store::Format;

use super::{format_for, read_input, write_output, Destination};
use crate::error::{code, CliError};

/// Print {"encrypted":true} when FILE is a complete sops file (metadata with a version and a
/// MAC), {"encrypted":false} otherwise. No key is needed.
#[derive(clap::Args)]
pub struct Args {
    /// The file to inspect.
    pub file: PathBuf,

    /// Format of the input (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
}

pub fn run(args: Args) -> Result<(), CliError> {
    use ccsecrets_core::sops::document::DecryptError;
    use ccsecrets_core::sops::store::StoreError;
    // sops exits 1 for a missing or unparseable file here (not 100/2).
    let input = read_input(Some(&args.file)).map_err(|mut e| {
        e.code = code::GENERIC;
        e
    })?;
    let format: Format = format_for(args.input_type.as_deref(), Some(&args.file))?;
    let encrypted = match EncryptedFile::parse(&input.bytes, format) {
        Ok(f) => f.is_complete(),
        Err(DecryptError::Store(StoreError::NoMetadata)) | Err(DecryptError::Metadata(_)) => false,
        // An empty YAML file is a tree without metadata to sops (empty JSON does not parse).
        Err(DecryptError::Store(StoreError::Empty)) if format == Format::Yaml => false,
        Err(e) => {
            let mut err = CliError::decrypt(&args.file, &e);
            err.code = code::GENERIC;
            return Err(err);
        }
    };
    let line = format!("{{\"encrypted\":{encrypted}}}\n");
    write_output(Destination::Stdout, line.as_bytes(), false)
}
