//! `ccsecrets nix`: the sops-nix declarations of an instance, as Nix or as committed glue.

use std::path::PathBuf;

use ccsecrets_core::fsutil::{self, FileStamp};
use ccsecrets_core::instance::Instance;
use ccsecrets_core::nix::{Declarations, HostKeys, NixError, DEFAULT_AGE_KEY_FILE, GLUE_FILE};

use crate::error::{code, CliError};

/// Print the sops-nix declarations of an instance as a self-contained Nix attribute set:
/// `{ sops = { defaultSopsFile; age.keyFile; age.sshKeyPaths; secrets."<key>" = { key; path;
/// owner; group; mode; restartUnits; }; }; }`. No key is needed: the secret list comes from
/// the structure of the encrypted secrets/secrets.yaml.
///
/// With --write, writes the committed glue (sops-nix.json in the instance root) instead,
/// which the flake's nixosModules.default reads and `ccsecrets check` compares with the
/// secrets file.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The instance repository (holding instance.nix and secrets/secrets.yaml).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub instance: PathBuf,

    /// `sops.age.keyFile`: where the host keeps the bootstrap age key.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_AGE_KEY_FILE)]
    pub age_key_file: String,

    /// `sops.age.sshKeyPaths` (repeatable; replaces the default
    /// /etc/ssh/ssh_host_ed25519_key). Give --no-ssh-keys for none.
    #[arg(long = "ssh-key-path", value_name = "PATH")]
    pub ssh_key_paths: Vec<String>,

    /// `sops.age.sshKeyPaths = [ ]`.
    #[arg(long, conflicts_with = "ssh_key_paths")]
    pub no_ssh_keys: bool,

    /// `sops.defaultSopsFile` as printed (default: the absolute path of
    /// DIR/secrets/secrets.yaml).
    #[arg(long, value_name = "PATH")]
    pub sops_file: Option<String>,

    /// Write DIR/sops-nix.json (the committed glue) instead of printing Nix.
    #[arg(long)]
    pub write: bool,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let instance =
        Instance::open(&args.instance).map_err(|e| CliError::new(code::GENERIC, e.to_string()))?;
    let mut keys = HostKeys {
        age_key_file: args.age_key_file,
        ..HostKeys::default()
    };
    if args.no_ssh_keys {
        keys.ssh_key_paths.clear();
    } else if !args.ssh_key_paths.is_empty() {
        keys.ssh_key_paths = args.ssh_key_paths;
    }
    let mut decl = Declarations::for_instance(&instance, keys).map_err(nix_error)?;
    if let Some(f) = args.sops_file {
        decl.sops_file = f;
    }

    if args.write {
        let path = instance.root.join(GLUE_FILE);
        let stamp = FileStamp::current(&path).map_err(|e| {
            CliError::new(
                code::COULD_NOT_READ_INPUT,
                format!("{}: {e}", path.display()),
            )
        })?;
        let glue = decl.glue_json();
        if stamp == FileStamp::of_bytes(glue.as_bytes()) {
            crate::output::info(&format!("{}: up to date", path.display()));
            return Ok(());
        }
        fsutil::write_atomic(&path, glue.as_bytes(), Some(&stamp))
            .map_err(|e| CliError::write(&e))?;
        if stamp == FileStamp::absent() {
            // Not a secret: a new file is world-readable like any other committed file.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).map_err(
                |e| {
                    CliError::new(
                        code::COULD_NOT_WRITE_OUTPUT,
                        format!("{}: {e}", path.display()),
                    )
                },
            )?;
        }
        crate::output::info(&format!(
            "{}: {} secrets declared; commit it with secrets/secrets.yaml",
            path.display(),
            decl.secrets.len()
        ));
        return Ok(());
    }

    let text = decl.to_nix();
    super::print(text.as_bytes())
}

/// Maps a glue error to an exit code (input problems are 2, model problems 1).
pub fn nix_error(e: NixError) -> CliError {
    match &e {
        NixError::Io { .. } | NixError::Secrets { .. } | NixError::Glue { .. } => {
            CliError::new(code::COULD_NOT_READ_INPUT, e.to_string())
        }
        NixError::ListItem { .. } => CliError::new(code::GENERIC, e.to_string()).hint(
            "`ccsecrets install` can install list items; for sops-nix, move the value under \
             `extra:` (a mapping)",
        ),
        _ => CliError::new(code::GENERIC, e.to_string()),
    }
}
