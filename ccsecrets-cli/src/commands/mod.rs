//! One file per subcommand, plus the input/output plumbing they share.

pub mod cert;
pub mod check;
pub mod commit_flags;
pub mod decrypt;
pub mod diff_textconv;
pub mod edit;
pub mod encrypt;
pub mod exec_env;
pub mod exec_file;
pub mod filestatus;
pub mod groups;
pub mod init;
pub mod install;
pub mod keygen;
pub mod nix;
pub mod rebuild_check;
pub mod recipients;
pub mod rekey;
pub mod rotate;
pub mod set;
pub mod ssh_to_age;
pub mod unset;
pub mod updatekeys;
pub mod validate;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ccsecrets_core::fsutil::{self, FileStamp};
use ccsecrets_core::sops::store::{Format, StoreOptions};
use zeroize::Zeroizing;

use crate::error::{code, CliError};

/// Printed whenever a file is encrypted to an `ssh-*` recipient.
pub const SSH_STANZA_WARNING: &str = "a file encrypted to an ssh-ed25519/ssh-rsa recipient cannot be opened by \
sops-nix's converted X25519 host identity; for a host key, use its age form (`ccsecrets ssh-to-age`)";

/// The bytes of the input file (or stdin) and what they looked like when read.
pub struct Input {
    /// The path given, `None` for stdin.
    pub path: Option<PathBuf>,
    /// The content.
    pub bytes: Zeroizing<Vec<u8>>,
    /// Stamp for refusing to overwrite a file changed meanwhile.
    pub stamp: FileStamp,
}

impl Input {
    /// A name for messages.
    pub fn display_path(&self) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| PathBuf::from("<stdin>"))
    }
}

/// Reads FILE, or stdin when FILE is absent or `-`.
pub fn read_input(file: Option<&Path>) -> Result<Input, CliError> {
    match file {
        Some(p) if p != Path::new("-") => {
            let bytes = std::fs::read(p).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    CliError::new(
                        code::NO_FILE_SPECIFIED,
                        format!("cannot operate on non-existent file {}", p.display()),
                    )
                } else {
                    CliError::new(code::COULD_NOT_READ_INPUT, format!("{}: {e}", p.display()))
                }
            })?;
            let stamp = FileStamp::of_bytes(&bytes);
            Ok(Input {
                path: Some(p.to_owned()),
                bytes: Zeroizing::new(bytes),
                stamp,
            })
        }
        _ => {
            let mut buf = Zeroizing::new(Vec::new());
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| CliError::new(code::COULD_NOT_READ_INPUT, format!("<stdin>: {e}")))?;
            Ok(Input {
                path: None,
                bytes: buf,
                stamp: FileStamp::absent(),
            })
        }
    }
}

/// `--input-type`/`--output-type` value, else the format the path's extension implies.
pub fn format_for(explicit: Option<&str>, path: Option<&Path>) -> Result<Format, CliError> {
    match explicit {
        Some(name) => match Format::from_name(name) {
            Some(f) => Ok(f),
            None => {
                // sops falls back to the extension for an unknown type; say so.
                crate::output::warn(&format!(
                    "unknown file type {name:?} (use yaml, json, dotenv, ini or binary); using the file extension"
                ));
                Ok(path.map(Format::from_path).unwrap_or(Format::Binary))
            }
        },
        None => Ok(path.map(Format::from_path).unwrap_or(Format::Binary)),
    }
}

/// Applies the global `--indent` to the store options.
pub fn apply_indent(mut opts: StoreOptions, indent: Option<i64>) -> Result<StoreOptions, CliError> {
    if let Some(i) = indent {
        if !(0..=9).contains(&i) {
            return Err(CliError::new(
                code::GENERIC,
                format!("invalid --indent {i}: use 0 to 9"),
            ));
        }
        // 0 means sops's default 4; 1 is passed on and yaml.v3 (and our emitter) make it 2.
        opts.yaml_indent = if i == 0 { 4 } else { i as usize };
        opts.json_indent = Some(i as usize);
    }
    Ok(opts)
}

/// Where the result goes.
pub enum Destination<'a> {
    Stdout,
    File(&'a Path),
    InPlace(&'a Input),
}

/// Picks the destination from `--in-place` and `--output`.
pub fn destination<'a>(
    input: &'a Input,
    in_place: bool,
    output: Option<&'a Path>,
) -> Result<Destination<'a>, CliError> {
    match (in_place, output) {
        (true, Some(_)) => Err(CliError::new(
            code::CONFLICTING_PARAMETERS,
            "--in-place and --output cannot be used together",
        )),
        (true, None) if input.path.is_none() => Err(CliError::new(
            code::CONFLICTING_PARAMETERS,
            "--in-place needs a file, not stdin",
        )),
        (true, None) => Ok(Destination::InPlace(input)),
        (false, Some(p)) => Ok(Destination::File(p)),
        (false, None) => Ok(Destination::Stdout),
    }
}

/// Writes `bytes` to stdout in one write and flushes; a reader that went away (`| head`) is
/// not an error.
pub fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes `bytes` to stdout ([`write_stdout`]); a failure exits with
/// `COULD_NOT_WRITE_OUTPUT`.
pub fn print(bytes: &[u8]) -> Result<(), CliError> {
    write_stdout(bytes)
        .map_err(|e| CliError::new(code::COULD_NOT_WRITE_OUTPUT, format!("<stdout>: {e}")))
}

/// Writes the result: atomically to a file, or to stdout in one write. `private` forces mode
/// 0600 (decrypted plaintext).
pub fn write_output(dest: Destination<'_>, bytes: &[u8], private: bool) -> Result<(), CliError> {
    let write = if private {
        fsutil::write_private
    } else {
        fsutil::write_atomic
    };
    match dest {
        Destination::Stdout => print(bytes),
        Destination::File(p) => write(p, bytes, None).map_err(|e| CliError::write(&e)),
        Destination::InPlace(input) => {
            let p = input
                .path
                .as_deref()
                .expect("destination() checked in-place has a path");
            write(p, bytes, Some(&input.stamp)).map_err(|e| CliError::write(&e))
        }
    }
}

/// Prints warnings from the core to stderr (they never contain values).
pub fn warn_all(file: &Path, warnings: &[String]) {
    for w in warnings {
        crate::output::warn(&format!("{}: {w}", file.display()));
    }
}

/// Flags that apply to every subcommand.
pub struct Global {
    /// `--config` or `SOPS_CONFIG`.
    pub config: Option<PathBuf>,
    /// `--indent`.
    pub indent: Option<i64>,
    /// `--mac-only-encrypted`.
    pub mac_only_encrypted: bool,
    /// `--encrypted-comment-regex`.
    pub encrypted_comment_regex: Option<String>,
    /// `--unencrypted-comment-regex`.
    pub unencrypted_comment_regex: Option<String>,
}

/// Finds and loads `.sops.yaml`: `--config`/`SOPS_CONFIG`, else upwards from the current
/// directory. `Ok(None)` when there is none.
pub fn load_config(
    global: &Global,
) -> Result<Option<ccsecrets_core::sops::rules::Config>, CliError> {
    use ccsecrets_core::sops::rules::{find_config, Config};
    let path = match &global.config {
        Some(p) => Some(p.clone()),
        None => {
            let cwd = std::env::current_dir().map_err(|e| {
                CliError::new(
                    code::GENERIC,
                    format!("cannot read the current directory: {e}"),
                )
            })?;
            find_config(&cwd)
        }
    };
    match path {
        Some(p) => Config::load(&p).map(Some).map_err(|e| CliError::rules(&e)),
        None => Ok(None),
    }
}

/// An encrypted file read from disk and decrypted in memory.
pub struct Opened {
    pub input: Input,
    pub format: Format,
    pub file: ccsecrets_core::sops::document::EncryptedFile,
    pub plain: ccsecrets_core::sops::document::PlainFile,
}

impl Opened {
    pub fn name(&self) -> PathBuf {
        self.input.display_path()
    }
}

/// Reads, parses and decrypts FILE (MAC verified), with identities found as sops finds them.
pub fn open_encrypted(
    file: &Path,
    input_type: Option<&str>,
    env: &crate::env::Env,
) -> Result<Opened, CliError> {
    open_encrypted_with(file, input_type, env, false)
}

/// [`open_encrypted`], optionally without verifying the MAC (`--ignore-mac`).
pub fn open_encrypted_with(
    file: &Path,
    input_type: Option<&str>,
    env: &crate::env::Env,
    ignore_mac: bool,
) -> Result<Opened, CliError> {
    use ccsecrets_core::sops::document::{DecryptOptions, EncryptedFile};
    let input = read_input(Some(file))?;
    let name = input.display_path();
    let format = format_for(input_type, Some(file))?;
    let parsed =
        EncryptedFile::parse(&input.bytes, format).map_err(|e| CliError::decrypt(&name, &e))?;
    let ids = crate::env::load_identities(env);
    let plain = parsed
        .decrypt(
            &ids.identities,
            DecryptOptions {
                keep_ivs: true,
                ignore_mac,
            },
        )
        .map_err(|e| with_key_problems(CliError::decrypt(&name, &e), &ids))?;
    warn_all(&name, &plain.warnings);
    Ok(Opened {
        input,
        format,
        file: parsed,
        plain,
    })
}

/// Adds the identity sources that failed to an error, so "no identity" is explainable.
pub fn with_key_problems(mut err: CliError, ids: &crate::env::Identities) -> CliError {
    for p in &ids.problems {
        err = err.detail(format!("key source problem: {p}"));
    }
    err
}

/// Parses a comma-separated recipient list.
pub fn parse_recipients(list: &str) -> Result<Vec<ccsecrets_core::keys::Recipient>, CliError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|r| {
            r.parse()
                .map_err(|e: ccsecrets_core::keys::RecipientError| {
                    CliError::new(code::GENERIC, e.to_string())
                })
        })
        .collect()
}

/// Emits an encrypted file in its own format with the config's store options.
pub fn emit_encrypted(
    file: &ccsecrets_core::sops::document::EncryptedFile,
    format: Format,
    name: &Path,
    global: &Global,
) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let stores = load_config(global)?.map(|c| c.stores).unwrap_or_default();
    let opts = apply_indent(stores, global.indent)?;
    file.emit(format, &opts)
        .map(Zeroizing::new)
        .map_err(|e| CliError::store(name, &e))
}
