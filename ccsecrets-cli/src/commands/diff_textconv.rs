//! `ccsecrets diff-textconv FILE`: a text view of a sops file for git's textconv.

use std::path::PathBuf;

use ccsecrets_core::leaks::textconv::textconv;

use super::check::exit;
use crate::error::CliError;

/// Print a text view of FILE for `git diff`: without a key, the recipients and every key path
/// with a digest of its ciphertext (so a diff shows which keys and recipients changed); with
/// an identity that opens the file (SOPS_AGE_KEY_FILE etc.), the decrypted document. Any other
/// file is printed unchanged. .sops.yaml is not consulted, so files under path_regex rules and
/// git's temporary copies work. Set up with:
///
///   git config diff.sopsdiffer.textconv "ccsecrets diff-textconv"
///   echo 'secrets/*.yaml diff=sopsdiffer' >> .gitattributes
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file git passes.
    pub file: PathBuf,
}

pub fn run(args: Args, env: &crate::env::Env) -> Result<(), CliError> {
    let data = std::fs::read(&args.file)
        .map_err(|e| CliError::new(exit::USAGE, format!("{}: {e}", args.file.display())))?;
    let data = zeroize::Zeroizing::new(data);
    let ids = crate::env::load_identities(env);
    let (_, text) = textconv(&args.file, &data, &ids.identities);
    let text = zeroize::Zeroizing::new(text);
    super::write_stdout(&text).map_err(|e| CliError::new(exit::USAGE, format!("<stdout>: {e}")))
}
