//! The instance repo as a git repository, thin over [`gix`]: open it, ask whether the files we
//! are about to touch are clean, commit them with a compare-and-swap on the branch, walk every
//! blob and message in its history for the leak check, and (feature `clone`) clone it.
//!
//! Which API for which job:
//! - find the repository around a path: [`Repo::open`]; where HEAD is: [`Repo::head_branch`],
//!   [`Repo::head_commit_id`];
//! - refuse to edit files with uncommitted changes: [`Repo::dirty_paths`] / [`Repo::is_clean`];
//! - commit edited work-tree files on the current branch without overwriting a concurrent
//!   commit: [`Repo::commit_paths`], or [`Repo::prepare_commit`] then [`Repo::finish_commit`];
//! - scan everything a clone would publish: [`Repo::walk_history`] (each distinct blob once,
//!   with the first commit and path where it appeared, and every commit and tag message), plus
//!   [`Repo::walk_index`] (staged blobs) and [`Repo::walk_worktree`] (tracked and
//!   untracked-not-ignored files);
//! - clone a repository from a local path or `file://` URL: `clone` (feature `clone`).
//!
//! No `git` subprocess is spawned, except by `clone`, where gix runs `git upload-pack` for
//! local transports. Like git, gix reads the repository's, the user's and the system's git
//! configuration (for `user.name`/`user.email` and the excludes files); that is the only outside
//! state this module sees.
//!
//! ```no_run
//! use ccsecrets_core::git::{CommitRequest, Repo};
//! use std::path::Path;
//!
//! let repo = Repo::open(Path::new("instance"))?;
//! let base = repo.head_commit_id()?;
//! let file = Path::new("secrets/secrets.yaml");
//! assert!(repo.is_clean(&[file])?);
//! // … rewrite secrets/secrets.yaml …
//! let commit = repo.commit_paths(&CommitRequest::new(&[file], "Renew certificate", base))?;
//! println!("committed {commit}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod commit;
mod history;
mod paths;
mod status;

#[cfg(feature = "clone")]
mod clone;

#[cfg(feature = "clone")]
pub use clone::{clone, CloneError};
pub use commit::{CommitError, CommitOptions, CommitRequest, Identity, PreparedCommit};
pub use history::{
    HistoryBlob, HistoryError, HistoryMessage, HistoryOptions, HistoryStats, HistoryVisitor,
    IndexBlob, MessageKind, WorktreeFile,
};
pub use paths::PathError;
pub use status::{DirtyPath, DirtyReason, StatusError};

/// Byte strings for paths and messages as git stores them (not necessarily UTF-8).
pub use gix::bstr::{BStr, BString};
/// A commit time (seconds since the epoch and UTC offset), for [`CommitOptions::time`].
pub use gix::date::Time;
/// A git object id (SHA-1); `Display` gives the full 40 hex digits.
pub use gix::ObjectId;

use std::path::{Path, PathBuf};

/// An open git repository with a work tree.
pub struct Repo {
    repo: gix::Repository,
    /// The work tree root, canonicalised (symlinks resolved) so absolute paths can be mapped.
    workdir: PathBuf,
}

/// Why [`Repo::open`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// No git repository contains `path` (or it could not be read).
    #[error("no git repository at or above {}", path.display())]
    NotARepository {
        /// The path we started looking from.
        path: PathBuf,
        /// What gix reported.
        #[source]
        source: gix::Error,
    },
    /// The repository is bare: there are no work-tree files to check or commit.
    #[error("the git repository at {} is bare (no work tree)", path.display())]
    Bare {
        /// The repository's git directory.
        path: PathBuf,
    },
    /// A new repository could not be created (by [`Repo::init`]).
    #[error("cannot create a git repository in {}: {source}", path.display())]
    Init {
        /// The directory.
        path: PathBuf,
        /// What gix reported.
        #[source]
        source: gix::Error,
    },
    /// The work tree directory could not be resolved.
    #[error("cannot resolve the work tree {}", path.display())]
    WorkTree {
        /// The work tree path gix reported.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Why reading HEAD failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeadError {
    /// HEAD, or the ref it points to, could not be read or does not point to a commit.
    #[error("cannot read HEAD")]
    Read(#[source] gix::Error),
}

impl Repo {
    /// Opens the repository whose work tree contains `path` (a file or directory inside it;
    /// parent directories are searched as git does).
    pub fn open(path: &Path) -> Result<Repo, OpenError> {
        let repo = gix::discover(path).map_err(|source| OpenError::NotARepository {
            path: path.to_owned(),
            source,
        })?;
        let Some(workdir) = repo.workdir() else {
            return Err(OpenError::Bare {
                path: repo.git_dir().to_owned(),
            });
        };
        let workdir = std::fs::canonicalize(workdir).map_err(|source| OpenError::WorkTree {
            path: workdir.to_owned(),
            source,
        })?;
        Ok(Repo { repo, workdir })
    }

    /// Creates a new repository with a work tree in `dir` (created if missing; it must hold no
    /// `.git` yet) on an unborn branch (`init.defaultBranch`, else `main`), and opens it.
    pub fn init(dir: &Path) -> Result<Repo, OpenError> {
        gix::init(dir).map_err(|source| OpenError::Init {
            path: dir.to_owned(),
            source,
        })?;
        Repo::open(dir)
    }

    /// The work tree root (canonical path).
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// The `.git` directory.
    pub fn git_dir(&self) -> &Path {
        self.repo.git_dir()
    }

    /// The underlying gix repository, for what this module does not wrap.
    pub fn gix(&self) -> &gix::Repository {
        &self.repo
    }

    /// The current branch's short name (`main` for `refs/heads/main`), also when it has no
    /// commit yet; `None` when HEAD is detached.
    pub fn head_branch(&self) -> Result<Option<String>, HeadError> {
        let head = self.repo.head_name().map_err(HeadError::Read)?;
        Ok(head.map(|name| name.shorten().to_string()))
    }

    /// The commit HEAD points to; `None` on an unborn branch (no commit yet).
    pub fn head_commit_id(&self) -> Result<Option<ObjectId>, HeadError> {
        let mut head = self.repo.head().map_err(HeadError::Read)?;
        let id = head.try_peel_to_id().map_err(HeadError::Read)?;
        Ok(id.map(|id| id.detach()))
    }
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("workdir", &self.workdir)
            .field("git_dir", &self.repo.git_dir())
            .finish()
    }
}

#[cfg(test)]
mod tests;
