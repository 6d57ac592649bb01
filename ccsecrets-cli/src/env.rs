//! Everything the CLI reads from the environment, read once; and identity discovery as sops
//! does it (every source is consulted; a source that fails only matters if nothing opens
//! the file).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ccsecrets_core::keys::Identity;
use zeroize::Zeroizing;

/// The environment variables ccsecrets honours.
// No Debug: it holds SOPS_AGE_KEY.
#[derive(Default, Clone)]
pub struct Env {
    pub home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub sops_age_key: Option<Zeroizing<String>>,
    pub sops_age_key_file: Option<PathBuf>,
    pub sops_age_key_cmd: Option<String>,
    pub sops_age_ssh_private_key_file: Option<PathBuf>,
    pub sops_age_recipients: Option<String>,
    pub sops_config: Option<PathBuf>,
    /// `SOPS_EDITOR`, else `EDITOR`.
    pub editor: Option<String>,
    /// `XDG_RUNTIME_DIR` (a RAM-backed per-user directory on most Linux systems).
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `PATH`, for finding a fallback editor.
    pub path: Option<OsString>,
}

fn non_empty(v: Option<OsString>) -> Option<OsString> {
    v.filter(|s| !s.is_empty())
}

impl Env {
    pub fn read() -> Env {
        let var = |k: &str| non_empty(std::env::var_os(k));
        Env {
            home: var("HOME").map(PathBuf::from),
            xdg_config_home: var("XDG_CONFIG_HOME").map(PathBuf::from),
            sops_age_key: std::env::var("SOPS_AGE_KEY")
                .ok()
                .filter(|s| !s.is_empty())
                .map(Zeroizing::new),
            sops_age_key_file: var("SOPS_AGE_KEY_FILE").map(PathBuf::from),
            sops_age_key_cmd: std::env::var("SOPS_AGE_KEY_CMD")
                .ok()
                .filter(|s| !s.is_empty()),
            sops_age_ssh_private_key_file: var("SOPS_AGE_SSH_PRIVATE_KEY_FILE").map(PathBuf::from),
            sops_age_recipients: std::env::var("SOPS_AGE_RECIPIENTS")
                .ok()
                .filter(|s| !s.is_empty()),
            sops_config: var("SOPS_CONFIG").map(PathBuf::from),
            editor: std::env::var("SOPS_EDITOR")
                .ok()
                .filter(|s| !s.is_empty())
                .or_else(|| std::env::var("EDITOR").ok().filter(|s| !s.is_empty())),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
            path: var("PATH"),
        }
    }

    /// `$XDG_CONFIG_HOME/sops/age/keys.txt`, else `~/.config/sops/age/keys.txt`.
    pub fn default_keys_file(&self) -> Option<PathBuf> {
        let base = self
            .xdg_config_home
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".config")))?;
        Some(base.join("sops").join("age").join("keys.txt"))
    }
}

impl Env {
    /// Where plaintext scratch files may live, RAM-backed places first.
    pub fn private_dir_bases(&self) -> Vec<PathBuf> {
        let mut bases = vec![PathBuf::from("/dev/shm")];
        bases.extend(self.xdg_runtime_dir.clone());
        bases.push(std::env::temp_dir());
        bases
    }

    /// The editor command line: `$SOPS_EDITOR`, `$EDITOR`, else the first of vim, nano, vi.
    pub fn editor_command(&self) -> Option<Vec<String>> {
        if let Some(e) = &self.editor {
            return shlex::split(e).filter(|v| !v.is_empty());
        }
        let path = self.path.as_ref()?;
        ["vim", "nano", "vi"].iter().find_map(|name| {
            std::env::split_paths(path)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
                .map(|p| vec![p.to_string_lossy().into_owned()])
        })
    }
}

/// Identities found, and what went wrong with sources that could not be used (no secrets).
pub struct Identities {
    pub identities: Vec<Identity>,
    pub problems: Vec<String>,
}

/// Loads identities from every source sops consults, in sops's order.
pub fn load_identities(env: &Env) -> Identities {
    let mut out = Identities {
        identities: Vec::new(),
        problems: Vec::new(),
    };
    let mut ssh_files: Vec<(PathBuf, bool)> = Vec::new();
    if let Some(p) = &env.sops_age_ssh_private_key_file {
        ssh_files.push((p.clone(), true));
    }
    if let Some(home) = &env.home {
        ssh_files.push((home.join(".ssh/id_ed25519"), false));
        ssh_files.push((home.join(".ssh/id_rsa"), false));
    }
    for (path, explicit) in ssh_files {
        match std::fs::read(&path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                match Identity::from_ssh_private_key(&bytes, &path.display().to_string()) {
                    Ok(id) => out.identities.push(id),
                    Err(e) => out.problems.push(e.to_string()),
                }
            }
            Err(e) if explicit => out.problems.push(format!(
                "SOPS_AGE_SSH_PRIVATE_KEY_FILE {}: {e}",
                path.display()
            )),
            Err(_) => {}
        }
    }
    if let Some(text) = &env.sops_age_key {
        add_list(&mut out, text, "SOPS_AGE_KEY");
    }
    if let Some(p) = &env.sops_age_key_file {
        read_list_file(&mut out, p, "SOPS_AGE_KEY_FILE", true);
    }
    if let Some(cmd) = &env.sops_age_key_cmd {
        match run_key_cmd(cmd) {
            Ok(text) => add_list(&mut out, &text, "SOPS_AGE_KEY_CMD"),
            Err(e) => out.problems.push(format!("SOPS_AGE_KEY_CMD: {e}")),
        }
    }
    if let Some(p) = env.default_keys_file() {
        read_list_file(&mut out, &p, &p.display().to_string(), false);
    }
    out
}

fn add_list(out: &mut Identities, text: &str, source: &str) {
    match Identity::parse_list(text, source) {
        Ok(ids) => out.identities.extend(ids),
        Err(e) => out.problems.push(e.to_string()),
    }
}

fn read_list_file(out: &mut Identities, path: &Path, source: &str, explicit: bool) {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            add_list(out, &text, &format!("{source} ({})", path.display()));
        }
        Err(e) if explicit || e.kind() != std::io::ErrorKind::NotFound => out
            .problems
            .push(format!("{source} {}: {e}", path.display())),
        Err(_) => {}
    }
}

/// Runs `SOPS_AGE_KEY_CMD` (split like a shell would, run without a shell) and returns stdout.
fn run_key_cmd(cmd: &str) -> Result<Zeroizing<String>, String> {
    let argv = shlex::split(cmd).ok_or("cannot split the command line")?;
    let (prog, args) = argv.split_first().ok_or("empty command")?;
    let output = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {prog}: {e}"))?;
    let stdout = Zeroizing::new(output.stdout);
    if !output.status.success() {
        return Err(format!("{prog} exited with {}", output.status));
    }
    String::from_utf8(stdout.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| "output is not UTF-8".into())
}
