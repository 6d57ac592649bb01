//! Shared helpers for the cross-crate tests: locating the oracles (the real `sops` and `age`)
//! and the `ccsecrets` binary, and running them in an isolated environment.
//!
//! Oracles are found through `CCSECRETS_SOPS` / `CCSECRETS_AGE` (set by `scripts/test.sh`),
//! else `.venv/bin/sops` and `age` on `PATH`. A missing oracle is a test **failure**, never a
//! skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repo root")
        .to_owned()
}

/// `fixtures/…`.
pub fn fixture(rel: &str) -> PathBuf {
    repo_root().join("fixtures").join(rel)
}

/// The real `nix-instantiate` (Debian's `nix-bin`): `CCSECRETS_NIX_INSTANTIATE` or `PATH`.
/// Panics (fails the test) when it is missing.
pub fn nix_instantiate() -> PathBuf {
    std::env::var_os("CCSECRETS_NIX_INSTANTIATE")
        .map(PathBuf::from)
        .or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path)
                .map(|d| d.join("nix-instantiate"))
                .find(|p| p.is_file())
        })
        .filter(|p| p.is_file())
        .expect(
            "nix-instantiate is required (oracle): run scripts/install-oracles.sh \
             (Debian package nix-bin) or set CCSECRETS_NIX_INSTANTIATE",
        )
}

/// The public recipient of the test age key `fixtures/keys/key{n}.txt` (its `# public key:`
/// line, as age-keygen wrote it).
pub fn recipient(n: u8) -> String {
    let text = std::fs::read_to_string(fixture(&format!("keys/key{n}.txt"))).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen writes the public key comment")
        .to_owned()
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The real sops binary. Panics (fails the test) when it is missing.
pub fn sops_bin() -> PathBuf {
    static SOPS: OnceLock<PathBuf> = OnceLock::new();
    SOPS.get_or_init(|| {
        let p = std::env::var_os("CCSECRETS_SOPS")
            .map(PathBuf::from)
            .or_else(|| Some(repo_root().join(".venv/bin/sops")).filter(|p| p.is_file()))
            .or_else(|| find_on_path("sops"));
        match p {
            Some(p) if p.is_file() => p,
            _ => panic!(
                "the real sops binary is required (oracle): run scripts/install-oracles.sh or set CCSECRETS_SOPS"
            ),
        }
    })
    .clone()
}

/// The real age binary. Panics (fails the test) when it is missing.
pub fn age_bin() -> PathBuf {
    std::env::var_os("CCSECRETS_AGE")
        .map(PathBuf::from)
        .or_else(|| find_on_path("age"))
        .filter(|p| p.is_file())
        .expect(
            "the real age binary is required (oracle): apt-get install age or set CCSECRETS_AGE",
        )
}

/// The `ccsecrets` binary, built once for this test run.
pub fn ccsecrets_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        // The test harness's own per-package variables (CARGO_MANIFEST_DIR, CARGO_PKG_*,
        // OUT_DIR, ...) would look like changed build-script inputs to the nested cargo and
        // make it rebuild dependencies such as ring.
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            let keep = matches!(k.as_ref(), "CARGO" | "CARGO_HOME" | "CARGO_TARGET_DIR")
                || k.starts_with("CARGO_BUILD_")
                || k.starts_with("CARGO_PROFILE_")
                || k.starts_with("CARGO_REGISTRIES_")
                || k.starts_with("CARGO_NET_");
            if (k.starts_with("CARGO_") && !keep) || k == "OUT_DIR" {
                build.env_remove(&key);
            }
        }
        let status = build
            .args([
                "build",
                "--quiet",
                "-p",
                "ccsecrets-cli",
                "--bin",
                "ccsecrets",
            ])
            .current_dir(repo_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building ccsecrets failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target"));
        let bin = target.join("debug").join("ccsecrets");
        assert!(bin.is_file(), "{} not built", bin.display());
        bin
    })
    .clone()
}

/// A scratch environment: an empty HOME and working directory (no `.sops.yaml` above it
/// that could interfere), no `SOPS_*` variables unless given.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("ccsecrets-test-")
            .tempdir()
            .expect("temp dir");
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir_all(dir.path().join("work")).unwrap();
        Sandbox { dir }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// A command with a clean environment rooted in this sandbox.
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .current_dir(self.work())
            .stdin(Stdio::null());
        c
    }

    pub fn sops(&self) -> Command {
        self.command(&sops_bin())
    }

    pub fn ccsecrets(&self) -> Command {
        self.command(&ccsecrets_bin())
    }
}

/// Runs a command with `stdin` bytes (or none) and returns its output.
pub fn run(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("spawn");
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    child.wait_with_output().expect("wait")
}

/// Asserts success and returns stdout.
pub fn ok(out: Output, what: &str) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{what} failed with {:?}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
