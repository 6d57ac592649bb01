//! `ccsecrets updatekeys`: sops updatekeys, all or nothing across files, rotating the data key
//! when a recipient is removed.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use ccsecrets_core::fsutil;
use ccsecrets_core::sops::document::{EncryptedFile, KeyUpdate};
use zeroize::Zeroizing;

use super::{emit_encrypted, format_for, load_config, read_input, with_key_problems, Global};
use crate::env::{load_identities, Env};
use crate::error::{code, CliError};
use crate::output;

/// Bring each FILE to exactly the recipients of its .sops.yaml creation rule. Added
/// recipients get the existing data key; when a recipient is removed the data key is rotated
/// (every value re-encrypted) so the removed key cannot open this or any later version. Every
/// file is prepared and verified before any is replaced: one failure changes nothing.
#[derive(clap::Args)]
pub struct Args {
    /// The encrypted files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Apply without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Format of the files (default: from each extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
}

pub fn run(args: Args, global: &Global, env: &Env) -> Result<(), CliError> {
    let config = load_config(global)?
        .filter(|c| c.has_rules())
        .ok_or_else(|| {
            CliError::new(
                code::GENERIC,
                "updatekeys needs a .sops.yaml with creation rules",
            )
            .hint("run it inside the repository, or pass --config")
        })?;
    let ids = load_identities(env);
    let mut planned: Vec<(PathBuf, Zeroizing<Vec<u8>>, fsutil::FileStamp)> = Vec::new();
    // The same file named twice (`a.yaml ./a.yaml`) is updated once.
    let mut seen = std::collections::HashSet::new();
    for path in &args.files {
        if !seen.insert(std::fs::canonicalize(path).unwrap_or_else(|_| path.clone())) {
            continue;
        }
        let input = read_input(Some(path))?;
        let format = format_for(args.input_type.as_deref(), Some(path))?;
        let file =
            EncryptedFile::parse(&input.bytes, format).map_err(|e| CliError::decrypt(path, &e))?;
        let rule = config.rule_for(path).map_err(|e| CliError::rules(&e))?;
        let diff = file.key_diff(&rule.key_groups);
        if diff.is_empty() {
            output::info(&format!("{}: already up to date", path.display()));
            continue;
        }
        output::info(&format!(
            "{}: the following changes will be made to the key groups:",
            path.display()
        ));
        for (g, r) in &diff.added {
            output::info(&format!("  group {}: +++ {r}", g + 1));
        }
        for (g, r) in &diff.removed {
            output::info(&format!("  group {}: --- {r}", g + 1));
        }
        if rule.key_groups.iter().flatten().any(|r| r.is_ssh()) {
            output::warn(crate::commands::SSH_STANZA_WARNING);
        }
        if !args.yes && !confirm()? {
            output::info(&format!("{}: changes not applied", path.display()));
            continue;
        }
        let (_, update) = file
            .update_keys(&ids.identities, &rule.key_groups)
            .map_err(|e| match e {
                ccsecrets_core::sops::document::UpdateKeysError::Decrypt(d) => {
                    with_key_problems(CliError::decrypt(path, &d), &ids)
                }
                ccsecrets_core::sops::document::UpdateKeysError::Encrypt(en) => {
                    CliError::encrypt(path, &en)
                }
                other => CliError::new(code::GENERIC, format!("{}: {other}", path.display())),
            })?;
        let new = match update {
            KeyUpdate::Unchanged => continue,
            KeyUpdate::Rewrapped(f) => f,
            KeyUpdate::Rotated(f) => {
                output::info(&format!(
                    "{}: a recipient was removed, so the data key was rotated and every value re-encrypted",
                    path.display()
                ));
                f
            }
            _ => unreachable!("no other key update kinds"),
        };
        let bytes = emit_encrypted(&new, format, path, global)?;
        planned.push((path.clone(), bytes, input.stamp));
    }
    let batch: Vec<(&std::path::Path, &[u8], &fsutil::FileStamp)> = planned
        .iter()
        .map(|(p, b, s)| (p.as_path(), b.as_slice(), s))
        .collect();
    fsutil::write_all_or_nothing(&batch).map_err(|e| CliError::write(&e))?;
    for (p, _, _) in &planned {
        output::info(&format!("{}: updated", p.display()));
    }
    Ok(())
}

/// Asks on stderr, reads the answer from stdin. No answer (no terminal) means no.
fn confirm() -> Result<bool, CliError> {
    let mut err = std::io::stderr();
    let _ = write!(err, "Is this okay? (y/n): ");
    let _ = err.flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::new(code::GENERIC, format!("cannot read the answer: {e}")))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
