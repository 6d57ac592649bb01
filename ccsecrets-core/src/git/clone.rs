//! Cloning a repository (feature `clone`): gix's fetch, then a checkout of the default branch.
//! Local paths and `file://` URLs work; gix runs `git upload-pack` for them, so the `git`
//! binary must be on `PATH`.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::{OpenError, Repo};

/// Why [`clone`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloneError {
    /// The source is neither a path nor a URL gix understands.
    #[error("cannot parse {url:?} as a repository URL or path")]
    Url {
        /// The source given.
        url: String,
        /// What gix reported.
        #[source]
        source: gix::Error,
    },
    /// The destination exists and is not an empty directory.
    #[error("{} exists and is not an empty directory", path.display())]
    DestinationExists {
        /// The destination given.
        path: PathBuf,
    },
    /// Fetching failed (unreachable source, no `git` binary for `upload-pack`, I/O).
    #[error("cannot fetch {url}")]
    Fetch {
        /// The source given.
        url: String,
        /// What gix reported.
        #[source]
        source: gix::Error,
    },
    /// Checking out the work tree failed.
    #[error("cannot check out the work tree in {}", path.display())]
    Checkout {
        /// The destination.
        path: PathBuf,
        /// What gix reported.
        #[source]
        source: gix::Error,
    },
    /// The new clone could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
}

/// Clones `url` (a local path, or a `file://` URL) into the new or empty directory `dest`
/// and checks out the remote's default branch. On failure gix removes what it created.
pub fn clone(url: &str, dest: &Path) -> Result<Repo, CloneError> {
    let usable = match std::fs::read_dir(dest) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    };
    if !usable {
        return Err(CloneError::DestinationExists {
            path: dest.to_owned(),
        });
    }
    let parsed = gix::url::parse(url).map_err(|source| CloneError::Url {
        url: url.to_owned(),
        source,
    })?;
    let interrupt = AtomicBool::new(false);
    let fetch_err = |source| CloneError::Fetch {
        url: url.to_owned(),
        source,
    };
    let mut prepare = gix::prepare_clone(parsed, dest).map_err(fetch_err)?;
    let (mut checkout, _) = prepare
        .fetch_then_checkout(gix::progress::Discard, &interrupt)
        .map_err(fetch_err)?;
    let (repo, _) = checkout
        .main_worktree(gix::progress::Discard, &interrupt)
        .map_err(|source| CloneError::Checkout {
            path: dest.to_owned(),
            source,
        })?;
    let workdir = repo.workdir().unwrap_or(dest).to_owned();
    drop(repo);
    Ok(Repo::open(&workdir)?)
}
