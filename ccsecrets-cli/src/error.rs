//! The one CLI error type and the exit-code table (sops's codes where we mirror sops).
//! `docs/cli.md` lists the same table.

use std::fmt;
use std::path::Path;

use ccsecrets_core::fsutil::WriteError;
use ccsecrets_core::sops::document::{DecryptError, EncryptError};
use ccsecrets_core::sops::rules::RulesError;
use ccsecrets_core::sops::store::StoreError;

/// Exit codes. Values follow sops 3.11 (`cmd/sops/codes`) for the cases both tools share.
pub mod code {
    /// Anything else (also: sops metadata not found, config errors, unknown recipient).
    pub const GENERIC: i32 = 1;
    /// The input could not be read or parsed.
    pub const COULD_NOT_READ_INPUT: i32 = 2;
    /// The output could not be written.
    pub const COULD_NOT_WRITE_OUTPUT: i32 = 3;
    /// The tree cannot be written in the output format.
    pub const ERROR_DUMPING_TREE: i32 = 4;
    /// A `set` value or path is malformed.
    pub const ERROR_INVALID_SET_FORMAT: i32 = 7;
    /// Flags that cannot be used together.
    pub const CONFLICTING_PARAMETERS: i32 = 8;
    /// A value could not be encrypted.
    pub const ERROR_ENCRYPTING_TREE: i32 = 23;
    /// A value could not be decrypted (e.g. plaintext where ciphertext is expected).
    pub const ERROR_DECRYPTING_TREE: i32 = 25;
    /// The MAC does not verify, is missing, or cannot be decrypted.
    pub const MAC_MISMATCH: i32 = 51;
    /// An `--extract` path is malformed.
    pub const INVALID_TREE_PATH: i32 = 91;
    /// The input has no document.
    pub const NEED_AT_LEAST_ONE_DOCUMENT: i32 = 92;
    /// No file given, or it does not exist.
    pub const NO_FILE_SPECIFIED: i32 = 100;
    /// No identity could open the data key.
    pub const COULD_NOT_RETRIEVE_KEY: i32 = 128;
    /// `edit` found no change.
    pub const FILE_HAS_NOT_BEEN_MODIFIED: i32 = 200;
    /// `edit` found no editor.
    pub const NO_EDITOR_FOUND: i32 = 201;
    /// The input is already encrypted.
    pub const FILE_ALREADY_ENCRYPTED: i32 = 203;
}

/// A failure to report: exit code, message (naming the file), optional hint and details.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
    pub details: Vec<String>,
    pub hint: Option<String>,
}

impl CliError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
            details: Vec::new(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn detail(mut self, line: impl Into<String>) -> Self {
        self.details.push(line.into());
        self
    }

    pub fn store(file: &Path, e: &StoreError) -> Self {
        let code = match e {
            StoreError::Empty => code::NEED_AT_LEAST_ONE_DOCUMENT,
            StoreError::NoMetadata => code::GENERIC,
            StoreError::AlreadyEncrypted => code::FILE_ALREADY_ENCRYPTED,
            StoreError::Unrepresentable { .. } => code::ERROR_DUMPING_TREE,
            _ => code::COULD_NOT_READ_INPUT,
        };
        let err = CliError::new(code, format!("{}: {e}", file.display()));
        match e {
            StoreError::NoMetadata => err.hint("is this file encrypted? Use --input-type if its extension does not match its format"),
            _ => err,
        }
    }

    pub fn decrypt(file: &Path, e: &DecryptError) -> Self {
        let name = file.display();
        match e {
            // sops loads an encrypted file through one path that reports every failure,
            // parse errors and empty input included, with exit 1 (only `encrypt` uses 2/92).
            DecryptError::Store(s) => {
                let mut err = CliError::store(file, s);
                if matches!(
                    err.code,
                    code::COULD_NOT_READ_INPUT | code::NEED_AT_LEAST_ONE_DOCUMENT
                ) {
                    err.code = code::GENERIC;
                }
                err
            }
            DecryptError::Metadata(m) => CliError::new(code::GENERIC, format!("{name}: {m}")),
            DecryptError::NoIdentity { recipients, tried, groups } => {
                // With key groups, some identities may have matched: say how far it got.
                let why = match groups {
                    Some((opened, needed)) if *opened > 0 => format!(
                        "only {opened} of the {needed} key groups needed could be opened"
                    ),
                    _ => e.to_string(),
                };
                let mut err = CliError::new(
                    code::COULD_NOT_RETRIEVE_KEY,
                    format!("{name}: could not decrypt the data key: {why}"),
                );
                if let Some((opened, needed)) = groups {
                    err = err.detail(format!("key groups opened: {opened}, needed: {needed}"));
                }
                for r in recipients {
                    err = err.detail(format!("file recipient: {r}"));
                }
                if tried.is_empty() {
                    err = err.detail("identities tried: none found");
                }
                for t in tried {
                    err = err.detail(format!("identity tried (public key): {t}"));
                }
                err.hint("set SOPS_AGE_KEY_FILE (or SOPS_AGE_KEY, SOPS_AGE_KEY_CMD) to a key file holding one of the file's recipients")
            }
            DecryptError::DataKey(_) => CliError::new(code::COULD_NOT_RETRIEVE_KEY, format!("{name}: {e}")),
            DecryptError::Value { .. } => CliError::new(code::ERROR_DECRYPTING_TREE, format!("{name}: {e}"))
                .hint("the file was modified by hand or by a tool that does not understand sops"),
            DecryptError::MacMissing | DecryptError::MacUndecryptable | DecryptError::MacMismatch => {
                CliError::new(code::MAC_MISMATCH, format!("{name}: {e}"))
                    .hint("the file was tampered with or corrupted; restore it from git. --ignore-mac skips this check")
            }
            _ => CliError::new(code::GENERIC, format!("{name}: {e}")),
        }
    }

    pub fn encrypt(file: &Path, e: &EncryptError) -> Self {
        let name = file.display();
        match e {
            EncryptError::Store(s) => CliError::store(file, s),
            EncryptError::NoRecipients => CliError::new(code::GENERIC, format!("{name}: {e}")),
            EncryptError::Value { .. } => {
                CliError::new(code::ERROR_ENCRYPTING_TREE, format!("{name}: {e}"))
            }
            _ => CliError::new(code::GENERIC, format!("{name}: {e}")),
        }
    }

    pub fn rules(e: &RulesError) -> Self {
        CliError::new(code::GENERIC, e.to_string())
    }

    pub fn write(e: &WriteError) -> Self {
        CliError::new(code::COULD_NOT_WRITE_OUTPUT, e.to_string())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        for d in &self.details {
            write!(f, "\n  {d}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}
