//! `ccsecrets edit`: sops edit — decrypt into a private scratch file, run the editor,
//! re-encrypt what changed.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;

use ccsecrets_core::fsutil::{self, FileStamp, PrivateDir};
use ccsecrets_core::sops::document::{encrypt, EncryptOptions};
use ccsecrets_core::sops::store::{self, Format};
use zeroize::{Zeroize, Zeroizing};

use super::{apply_indent, emit_encrypted, format_for, load_config, open_encrypted_with, Global};
use crate::env::Env;
use crate::error::{code, CliError};
use crate::{cleanup, output};

/// Edit an encrypted file with $SOPS_EDITOR or $EDITOR (else vim, nano, vi). The plaintext
/// lives only in a private 0700 directory on a RAM-backed filesystem when one exists
/// (/dev/shm, $XDG_RUNTIME_DIR), never in the repository, and is wiped on every exit path.
/// Unchanged values keep their exact ciphertext. A FILE that does not exist is created with
/// the recipients of its .sops.yaml creation rule.
#[derive(clap::Args)]
pub struct Args {
    /// The encrypted file (created when it does not exist).
    pub file: PathBuf,
    /// Format of the file (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Do not verify the MAC when opening the file (to repair a damaged file; the saved file
    /// gets a new, valid MAC).
    #[arg(long)]
    pub ignore_mac: bool,
}

const TEMPLATE_YAML: &str =
    "# New file: replace this example with your secrets.\nexample_key: example_value\n";
const TEMPLATE_JSON: &str = "{\n\t\"example_key\": \"example_value\"\n}\n";

pub fn run(args: Args, global: &Global, env: &Env) -> Result<(), CliError> {
    let editor = env.editor_command().ok_or_else(|| {
        CliError::new(code::NO_EDITOR_FOUND, "no editor found").hint("set SOPS_EDITOR or EDITOR")
    })?;
    let exists = args.file.exists();
    let format = format_for(args.input_type.as_deref(), Some(&args.file))?;
    let stores = load_config(global)?.map(|c| c.stores).unwrap_or_default();
    let opts = apply_indent(stores, global.indent)?;

    // What the editor starts from, and how to encrypt the result.
    let (start, mut opened, stamp) = if exists {
        let opened =
            open_encrypted_with(&args.file, args.input_type.as_deref(), env, args.ignore_mac)?;
        let text = store::emit(format, &opened.plain.branches, &opts)
            .map_err(|e| CliError::store(&args.file, &e))?;
        let stamp = opened.input.stamp.clone();
        (Zeroizing::new(text), Some(opened), stamp)
    } else {
        let template = match format {
            Format::Json => TEMPLATE_JSON,
            _ => TEMPLATE_YAML,
        };
        (
            Zeroizing::new(template.as_bytes().to_vec()),
            None,
            FileStamp::absent(),
        )
    };

    // A new file needs its creation rule: find it before anyone types secrets into the
    // editor (as sops, which refuses before starting the editor).
    let new_file_options = if exists {
        None
    } else {
        let config = load_config(global)?
            .filter(|c| c.has_rules())
            .ok_or_else(|| {
                CliError::new(
                    code::GENERIC,
                    format!(
                        "{}: no .sops.yaml creation rule to create it with",
                        args.file.display()
                    ),
                )
                .hint("add a creation rule for this path to .sops.yaml, or run ccsecrets inside the repository")
            })?;
        let rule = config
            .rule_for(&args.file)
            .map_err(|e| CliError::rules(&e))?;
        if rule.key_groups.iter().all(|g| g.is_empty()) {
            return Err(CliError::new(
                code::GENERIC,
                format!(
                    "{}: the matching .sops.yaml creation rule names no age recipients",
                    args.file.display()
                ),
            ));
        }
        if rule.key_groups.iter().flatten().any(|r| r.is_ssh()) {
            output::warn(super::SSH_STANZA_WARNING);
        }
        Some(EncryptOptions {
            key_groups: rule.key_groups.clone(),
            shamir_threshold: rule.shamir_threshold,
            selector: rule.selector.clone(),
            mac_only_encrypted: rule.mac_only_encrypted,
            binary: format == Format::Binary,
        })
    };

    let dir = PrivateDir::create_in(&env.private_dir_bases()).map_err(|e| {
        CliError::new(
            code::COULD_NOT_WRITE_OUTPUT,
            format!("cannot create a private temporary directory: {e}"),
        )
    })?;
    cleanup::register(dir.path());
    let result = edit_loop(&args.file, format, &editor, &dir, &start);
    cleanup::unregister(dir.path());
    dir.remove();
    let branches = result?;

    let name = args.file.clone();
    let encrypted = match &mut opened {
        Some(o) => {
            // The documents as they were before the edit are plaintext too: wipe them.
            for mut old in std::mem::replace(&mut o.plain.branches, branches) {
                old.zeroize();
            }
            o.plain
                .reencrypt()
                .map_err(|e| CliError::encrypt(&name, &e))?
        }
        None => {
            let options = new_file_options
                .as_ref()
                .expect("a new file has its creation rule");
            encrypt(branches, options).map_err(|e| CliError::encrypt(&name, &e))?
        }
    };
    let bytes = emit_encrypted(&encrypted, format, &name, global)?;
    fsutil::write_atomic(&args.file, &bytes, Some(&stamp)).map_err(|e| CliError::write(&e))
}

/// Runs the editor until the buffer parses; returns the parsed documents. Errors when the
/// editor fails or nothing changed (sops's exit code 200).
fn edit_loop(
    file: &Path,
    format: Format,
    editor: &[String],
    dir: &PrivateDir,
    start: &[u8],
) -> Result<Vec<ccsecrets_core::sops::tree::Map>, CliError> {
    let base = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "secrets".into());
    let scratch = dir.write_file(&base, start).map_err(|e| {
        CliError::new(
            code::COULD_NOT_WRITE_OUTPUT,
            format!("cannot write the edit buffer: {e}"),
        )
    })?;
    let original = FileStamp::of_bytes(start);
    loop {
        let status = Command::new(&editor[0])
            .args(&editor[1..])
            .arg(&scratch)
            .status()
            .map_err(|e| {
                CliError::new(
                    code::NO_EDITOR_FOUND,
                    format!("cannot run the editor {}: {e}", editor[0]),
                )
            })?;
        if !status.success() {
            return Err(CliError::new(
                code::GENERIC,
                format!(
                    "{}: the editor exited with {status}; nothing was changed",
                    file.display()
                ),
            ));
        }
        let edited = Zeroizing::new(std::fs::read(&scratch).map_err(|e| {
            CliError::new(
                code::COULD_NOT_READ_INPUT,
                format!("cannot read the edit buffer: {e}"),
            )
        })?);
        if FileStamp::of_bytes(&edited) == original {
            return Err(CliError::new(
                code::FILE_HAS_NOT_BEEN_MODIFIED,
                format!(
                    "{}: file has not changed, not re-encrypting",
                    file.display()
                ),
            ));
        }
        match store::parse(format, &edited) {
            Ok(mut branches) if branches.iter().any(|b| b.get("sops").is_some()) => {
                branches.iter_mut().for_each(Zeroize::zeroize);
                output::error("the edited document must not contain a top-level `sops` key");
            }
            Ok(branches) => return Ok(branches),
            Err(e) => output::error(&format!("{}: {e}", file.display())),
        }
        output::info("Press Enter to return to the editor, or Ctrl+C to exit without saving.");
        let mut line = String::new();
        let n = std::io::stdin().lock().read_line(&mut line).unwrap_or(0);
        if n == 0 {
            return Err(CliError::new(
                code::COULD_NOT_READ_INPUT,
                format!(
                    "{}: the edited document is invalid; nothing was changed",
                    file.display()
                ),
            ));
        }
    }
}
