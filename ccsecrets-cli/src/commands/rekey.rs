//! `ccsecrets rekey`: bring every sops file of the instance to the recipient policy.

use std::path::PathBuf;

use ccsecrets_core::instance::rekey::{self, RekeyError};

use super::commit_flags::CommitFlags;
use super::with_key_problems;
use crate::env::{load_identities, Env};
use crate::error::{code, CliError};
use crate::output;

/// Bring every file the instance's .sops.yaml covers to exactly the recipients of its rule.
/// Added recipients get the existing data key; when any recipient is removed, that file's data
/// key is rotated and every value re-encrypted. Shows the per-file recipient diff. All or
/// nothing: every file is prepared before any is written. With --commit, commits the files
/// together with the .sops.yaml change, listing added and removed recipients.
#[derive(clap::Args)]
pub struct Args {
    /// The instance repository.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub instance: PathBuf,
    /// Show what would change; write nothing.
    #[arg(long, conflicts_with = "commit")]
    pub dry_run: bool,
    /// Commit the rekeyed files and .sops.yaml.
    #[arg(long)]
    pub commit: bool,
    #[command(flatten)]
    pub commit_flags: CommitFlags,
}

pub fn run(args: Args, env: &Env) -> Result<(), CliError> {
    let ids = load_identities(env);
    let fail = |e: RekeyError| match e {
        RekeyError::Update { path, source } => with_key_problems(
            CliError::new(
                code::COULD_NOT_RETRIEVE_KEY,
                format!(
                    "rekey refused, no file changed: {}: {source}",
                    path.display()
                ),
            ),
            &ids,
        ),
        other => CliError::new(code::GENERIC, format!("rekey refused: {other}")),
    };
    let plan = rekey::plan(&args.instance, &ids.identities).map_err(fail)?;
    for f in &plan.files {
        if !f.changes() {
            output::info(&format!("{}: already up to date", f.path.display()));
            continue;
        }
        output::info(&format!("{}:", f.path.display()));
        for (g, r) in &f.diff.added {
            output::info(&format!("  group {g}: +++ {r}"));
        }
        for (g, r) in &f.diff.removed {
            output::info(&format!("  group {g}: --- {r}"));
        }
        if f.rotated {
            output::info(
                "  a recipient is removed: the data key is rotated, every value re-encrypted",
            );
        }
    }
    if args.dry_run {
        output::info("dry run: nothing written");
        return Ok(());
    }
    let options = if args.commit {
        Some(args.commit_flags.options()?)
    } else {
        None
    };
    let ids2 = load_identities(env);
    let commit = rekey::apply(&plan, options.as_ref()).map_err(|e| {
        with_key_problems(
            CliError::new(code::GENERIC, format!("rekey refused: {e}")),
            &ids2,
        )
    })?;
    let n = plan.changed().count();
    output::info(&format!(
        "{n} file{} rekeyed",
        if n == 1 { "" } else { "s" }
    ));
    if let Some(id) = commit {
        output::info(&format!("committed {id}"));
        println!("{id}");
    } else if args.commit {
        output::info("nothing to commit");
    }
    if n > 0 && !plan.removed().is_empty() {
        output::warn(
            "the removed recipients can still read every earlier version of these files from \
             git history; rotate the secrets themselves if that matters",
        );
    }
    Ok(())
}
