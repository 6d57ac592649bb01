//! `ccsecrets keygen`: a new age X25519 identity in age-keygen's file format, or (`-y`) the
//! recipients of existing identities.

use std::fs::{self, OpenOptions};
use std::io::{IsTerminal, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ccsecrets_core::keys::Identity;
use zeroize::Zeroizing;

use super::{read_input, write_output, Destination};
use crate::error::{code, CliError};

/// Generate a new age identity (like age-keygen), or print the recipients of identities (-y).
///
/// The identity file is age-keygen's format: `# created:` and `# public key:` comment lines,
/// then the AGE-SECRET-KEY-1… line. It is usable as SOPS_AGE_KEY_FILE.
#[derive(clap::Args)]
pub struct Args {
    /// Write to FILE, created with mode 0600; an existing FILE is never overwritten.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Print the recipient (age1…) of each identity in FILE instead (`-` or none: stdin).
    #[arg(
        short = 'y',
        value_name = "FILE",
        num_args = 0..=1,
        default_missing_value = "-"
    )]
    pub convert: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<(), CliError> {
    match &args.convert {
        Some(input) => recipients(input, args.output.as_deref()),
        None => generate(args.output.as_deref()),
    }
}

fn generate(output: Option<&Path>) -> Result<(), CliError> {
    let (identity, secret) = Identity::generate();
    let mut text = Zeroizing::new(String::with_capacity(256));
    text.push_str(&format!(
        "# created: {}\n# public key: {}\n",
        rfc3339_utc_now(),
        identity.public()
    ));
    text.push_str(&secret);
    text.push('\n');
    let to_terminal = match output {
        Some(p) => {
            write_new_file(p, text.as_bytes())?;
            false
        }
        None => {
            warn_if_stdout_world_readable();
            let tty = std::io::stdout().is_terminal();
            write_output(Destination::Stdout, text.as_bytes(), true)?;
            tty
        }
    };
    // As age-keygen: the public key goes to stderr when the identity is not shown on screen.
    if !to_terminal {
        crate::output::info(&format!("Public key: {}", identity.public()));
    }
    Ok(())
}

fn recipients(input: &Path, output: Option<&Path>) -> Result<(), CliError> {
    let input = read_input(Some(input))?;
    let source = input.display_path();
    let name = source.display().to_string();
    let text = std::str::from_utf8(&input.bytes).map_err(|_| {
        CliError::new(
            code::COULD_NOT_READ_INPUT,
            format!("{name}: not an age identity file (not UTF-8 text)"),
        )
    })?;
    let identities = Identity::parse_list(text, &name)
        .map_err(|e| CliError::new(code::COULD_NOT_READ_INPUT, e.to_string()))?;
    if identities.is_empty() {
        return Err(CliError::new(
            code::COULD_NOT_READ_INPUT,
            format!("{name}: no age identity found"),
        ));
    }
    let out: String = identities
        .iter()
        .map(|i| format!("{}\n", i.public()))
        .collect();
    match output {
        Some(p) if p != Path::new("-") => write_new_file(p, out.as_bytes()),
        _ => write_output(Destination::Stdout, out.as_bytes(), false),
    }
}

/// Creates `path` with mode 0600 and writes `bytes`, refusing an existing file (as age-keygen
/// does with O_EXCL). A partly written file is removed.
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let fail = |e: std::io::Error| {
        CliError::new(
            code::COULD_NOT_WRITE_OUTPUT,
            format!("cannot write {}: {e}", path.display()),
        )
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                CliError::new(
                    code::COULD_NOT_WRITE_OUTPUT,
                    format!("{} already exists; not overwriting it", path.display()),
                )
                .hint("choose another file name, or remove the old file first")
            } else {
                fail(e)
            }
        })?;
    // The umask may have narrowed the mode further, never widened it; make it exactly 0600.
    let written = f
        .set_permissions(fs::Permissions::from_mode(0o600))
        .and_then(|_| f.write_all(bytes))
        .and_then(|_| f.sync_all());
    if let Err(e) = written {
        drop(f);
        let _ = fs::remove_file(path);
        return Err(fail(e));
    }
    Ok(())
}

/// age-keygen warns before writing a secret key to a world-readable file; so do we when stdout
/// is redirected to one.
fn warn_if_stdout_world_readable() {
    use std::os::fd::AsFd;
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return;
    };
    let file = fs::File::from(fd);
    if let Ok(m) = file.metadata() {
        if m.is_file() && m.permissions().mode() & 0o004 != 0 {
            crate::output::warn("writing secret key to a world-readable file");
        }
    }
}

/// The current time as RFC 3339 in UTC (`2006-01-02T15:04:05Z`).
fn rfc3339_utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339_utc(secs)
}

fn rfc3339_utc(secs: u64) -> String {
    ccsecrets_core::sops::metadata::format_unix_utc(i64::try_from(secs).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_utc(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
