//! `ccsecrets check`: the CI guard. Runs `ccsecrets_core::leaks::check` and renders its report.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::SystemTime;

use ccsecrets_core::leaks::{self, report, CheckError, CheckOptions, Progress};

use crate::error::CliError;

/// Exit codes of `check` (and `diff-textconv`): not sops's table.
pub mod exit {
    /// Findings (errors) were reported.
    pub const FINDINGS: i32 = 1;
    /// Usage or configuration error: bad flags, no repository, invalid `.sops.yaml`,
    /// allowlist or `instance.nix`, `--keyed` without an identity.
    pub const USAGE: i32 = 2;
}

/// Prove that no plaintext secret leaks and the sops policy holds, in the work tree, the
/// index, every blob reachable from any ref and every commit message.
///
/// Without a key: every file a .sops.yaml rule matches is a complete sops file with every
/// value encrypted and the rule's recipients; no PEM or age private key and no high-entropy
/// secret-like assignment anywhere; the base repo names nothing of the instance. With an
/// identity (SOPS_AGE_KEY_FILE etc.): every MAC verifies, no decrypted value (or its
/// base64 / URL / PEM-line form) appears in either repo, and the instance validates.
///
/// Exit status: 0 clean, 1 findings, 2 usage or configuration error. Findings never contain
/// a secret value. Reviewed findings go in .ccsecrets-allow.toml by fingerprint.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The instance repository (its instance.nix gives the domain; a repo without one is
    /// checked as a plain sops repo).
    #[arg(long, value_name = "DIR")]
    pub instance: Option<PathBuf>,

    /// The base repository: also checked to stay generic (no instance domain or host name,
    /// no secrets/ file, no value copied from the instance).
    #[arg(long, value_name = "DIR")]
    pub base: Option<PathBuf>,

    /// The instance domain, when no instance.nix gives it.
    #[arg(long, value_name = "D")]
    pub domain: Option<String>,

    /// Check the work tree and index only, not the history.
    #[arg(long)]
    pub no_history: bool,

    /// Check the staged files (the index) only: for a pre-commit hook.
    #[arg(long)]
    pub staged: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,

    /// Require the keyed checks: a missing identity is an error (exit 2).
    #[arg(long)]
    pub keyed: bool,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Grouped by file, with a fix hint per finding.
    Human,
    /// One JSON object.
    Json,
    /// SARIF 2.1.0 (GitHub code scanning).
    Sarif,
}

/// The exit code for a command-line parse error: 2 for `check` and `diff-textconv`
/// (their documented usage code), else 1 as sops.
pub fn usage_exit_code(args: &[OsString]) -> i32 {
    let first = args
        .iter()
        .skip(1)
        .find(|a| !a.to_string_lossy().starts_with('-'));
    match first.map(|a| a.to_string_lossy().into_owned()).as_deref() {
        Some("check") | Some("diff-textconv") => exit::USAGE,
        _ => 1,
    }
}

fn usage(message: impl Into<String>) -> CliError {
    CliError::new(exit::USAGE, message)
}

pub fn run(args: Args, env: &crate::env::Env) -> Result<(), CliError> {
    let ids = crate::env::load_identities(env);
    if args.keyed && ids.identities.is_empty() {
        let mut err = usage("--keyed: no age identity found").hint(
            "set SOPS_AGE_KEY_FILE (or SOPS_AGE_KEY, SOPS_AGE_KEY_CMD) to the bootstrap key file",
        );
        for p in &ids.problems {
            err = err.detail(format!("key source problem: {p}"));
        }
        return Err(err);
    }
    let mut opts = CheckOptions::new(args.instance.clone(), args.base.clone());
    if args.instance.is_none() && args.base.is_none() {
        opts.repo = Some(PathBuf::from("."));
    }
    opts.domain = args.domain.clone();
    opts.history = !args.no_history && !args.staged;
    opts.staged = args.staged;
    opts.identities = ids.identities;
    opts.now = SystemTime::now();

    let mut bar = ProgressLine::new();
    let result = leaks::check(&opts, &mut |p| bar.update(p));
    bar.finish();
    let report = result.map_err(|e| config_error(&e))?;

    let text = match args.format {
        OutputFormat::Human => report::human(&report),
        OutputFormat::Json => report::json(&report),
        OutputFormat::Sarif => report::sarif(&report),
    };
    super::write_stdout(text.as_bytes()).map_err(|e| usage(format!("<stdout>: {e}")))?;
    if report.has_errors() {
        let n = report
            .findings
            .iter()
            .filter(|f| f.severity == leaks::Severity::Error)
            .count();
        return Err(CliError::new(
            exit::FINDINGS,
            format!("check found {n} problem{}", if n == 1 { "" } else { "s" }),
        ));
    }
    Ok(())
}

fn config_error(e: &CheckError) -> CliError {
    let mut err = usage(e.to_string());
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        err = err.detail(s.to_string());
        source = s.source();
    }
    err
}

/// A spinner with counts (indicatif) while history is walked, on stderr and only when stderr
/// is a terminal.
struct ProgressLine {
    bar: Option<indicatif::ProgressBar>,
}

impl ProgressLine {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_message("checking the work tree");
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        ProgressLine { bar }
    }

    fn update(&mut self, p: Progress) {
        let Some(bar) = &self.bar else { return };
        match p {
            Progress::History {
                repo,
                commits,
                blobs,
            } => bar.set_message(format!(
                "checking {} history: {commits} commits, {blobs} blobs",
                repo.name()
            )),
            Progress::HistoryDone { repo } => {
                bar.set_message(format!("checking {}: index and work tree", repo.name()))
            }
            _ => {}
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
