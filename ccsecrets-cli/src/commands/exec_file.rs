//! `ccsecrets exec-file`: sops exec-file — run a command on a private plaintext copy.

use std::path::PathBuf;
use std::process::Command;

use ccsecrets_core::fsutil::PrivateDir;
use ccsecrets_core::sops::store;
use zeroize::Zeroizing;

use super::{format_for, open_encrypted};
use crate::env::Env;
use crate::error::{code, CliError};
use crate::{cleanup, commands::exec_env::exit_like};

/// Run COMMAND (with `sh -c`) where `{}` is replaced by the path of a plaintext copy of FILE.
/// The copy lives in a private 0700 directory on a RAM-backed filesystem when one exists and
/// is wiped and removed when the command ends (or on Ctrl+C). ccsecrets always uses a private
/// file; --no-fifo is accepted for compatibility with sops.
#[derive(clap::Args)]
pub struct Args {
    /// The encrypted file.
    pub file: PathBuf,
    /// The command line to run; `{}` is replaced by the plaintext file's path.
    pub command: String,
    /// Accepted for sops compatibility (a private file is always used).
    #[arg(long)]
    pub no_fifo: bool,
    /// Name of the plaintext file.
    #[arg(long, default_value = "tmp-file")]
    pub filename: String,
    /// Format of the plaintext (default: from the file's extension).
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
    /// Format of the file (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
}

pub fn run(args: Args, env: &Env) -> Result<(), CliError> {
    let opened = open_encrypted(&args.file, args.input_type.as_deref(), env)?;
    let name = opened.name();
    let out_format = match &args.output_type {
        Some(t) => format_for(Some(t), None)?,
        None => opened.format,
    };
    let text = Zeroizing::new(
        store::emit(out_format, &opened.plain.branches, &Default::default())
            .map_err(|e| CliError::store(&name, &e))?,
    );
    if args.filename.contains('/') || args.filename.is_empty() || args.filename == ".." {
        return Err(CliError::new(
            code::GENERIC,
            "--filename must be a plain file name",
        ));
    }
    let dir = PrivateDir::create_in(&env.private_dir_bases()).map_err(|e| {
        CliError::new(
            code::COULD_NOT_WRITE_OUTPUT,
            format!("cannot create a private temporary directory: {e}"),
        )
    })?;
    cleanup::register(dir.path());
    let result = (|| {
        let path = dir.write_file(&args.filename, &text).map_err(|e| {
            CliError::new(
                code::COULD_NOT_WRITE_OUTPUT,
                format!("cannot write the plaintext copy: {e}"),
            )
        })?;
        let command = args.command.replace("{}", &path.to_string_lossy());
        Command::new("sh")
            .arg("-c")
            .arg(&command)
            .status()
            .map_err(|e| CliError::new(code::GENERIC, format!("cannot run sh: {e}")))
    })();
    cleanup::unregister(dir.path());
    dir.remove();
    exit_like(result?)
}
