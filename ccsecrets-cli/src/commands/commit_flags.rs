//! `--author`/`--committer` for the subcommands that commit (init, cert renew, rekey).

use ccsecrets_core::git::{CommitOptions, Identity};

use crate::error::{code, CliError};

/// Who a commit is by; the default is git config's `user.name`/`user.email`.
#[derive(Debug, Clone, clap::Args)]
pub struct CommitFlags {
    /// Author of the commit, `Name <email>` (default: git config user.name/user.email).
    #[arg(long, value_name = "NAME <EMAIL>")]
    pub author: Option<String>,
    /// Committer of the commit, `Name <email>` (default: the author's config identity).
    #[arg(long, value_name = "NAME <EMAIL>")]
    pub committer: Option<String>,
}

impl CommitFlags {
    /// The core's commit options.
    pub fn options(&self) -> Result<CommitOptions, CliError> {
        Ok(CommitOptions {
            author: self.author.as_deref().map(parse).transpose()?,
            committer: self.committer.as_deref().map(parse).transpose()?,
            time: None,
        })
    }
}

fn parse(s: &str) -> Result<Identity, CliError> {
    let bad = || {
        CliError::new(
            code::GENERIC,
            format!("invalid identity {s:?}: expected `Name <email>`"),
        )
    };
    let (name, rest) = s.split_once('<').ok_or_else(bad)?;
    let email = rest.strip_suffix('>').ok_or_else(bad)?;
    if name.trim().is_empty() || email.trim().is_empty() {
        return Err(bad());
    }
    Ok(Identity::new(name.trim(), email.trim()))
}
