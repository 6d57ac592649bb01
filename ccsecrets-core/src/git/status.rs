//! Whether work-tree files differ from HEAD: gix's status (HEAD↔index and index↔work tree,
//! with git's filters and stat cache), limited to the paths asked about.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use gix::bstr::{BString, ByteSlice};
use gix::status::index_worktree::Item as WorktreeItem;
use gix::status::plumbing::index_as_worktree::{Change, EntryStatus};

use super::{PathError, Repo};

/// How a path differs from HEAD. A path can be listed with several reasons (staged, then
/// modified again in the work tree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum DirtyReason {
    /// The index (staging area) differs from HEAD: added, deleted or changed with `git add`/`git rm`.
    Staged,
    /// The work-tree file differs from the index: edited, type or executable bit changed.
    Modified,
    /// The file is tracked but missing from the work tree.
    Deleted,
    /// The file exists in the work tree but is not tracked (also when it is ignored, if it was
    /// named explicitly).
    Untracked,
    /// The path has unresolved merge conflicts.
    Conflicted,
}

/// One path that is not clean.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DirtyPath {
    /// The path relative to the work tree root (`secrets/secrets.yaml`).
    pub path: PathBuf,
    /// How it differs.
    pub reason: DirtyReason,
}

/// Why the clean check failed (not: "the files are dirty", which is its answer).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// A path does not name a file in the work tree.
    #[error(transparent)]
    Path(#[from] PathError),
    /// gix could not compute the status (unreadable index, objects or work tree).
    #[error("cannot compute the git status")]
    Status(#[source] gix::Error),
}

impl Repo {
    /// Whether every path in `paths` is identical in HEAD, the index and the work tree.
    /// See [`dirty_paths`](Self::dirty_paths).
    pub fn is_clean(&self, paths: &[&Path]) -> Result<bool, StatusError> {
        Ok(self.dirty_paths(paths)?.is_empty())
    }

    /// The paths among `paths` (files or directories, absolute or relative to the work tree
    /// root) whose state differs from HEAD: staged changes, work-tree edits, deletions,
    /// untracked files (not ignored ones, unless a file is named explicitly) and conflicts.
    /// An empty `paths` checks the whole work tree. Sorted by path, then reason.
    pub fn dirty_paths(&self, paths: &[&Path]) -> Result<Vec<DirtyPath>, StatusError> {
        let rela: Vec<BString> = paths
            .iter()
            .map(|p| self.rela_path(p))
            .collect::<Result<_, _>>()?;
        // `top` so patterns are not read relative to the process's current directory,
        // `literal` so `*` or `[` in a file name are not globs.
        let patterns: Vec<BString> = rela
            .iter()
            .map(|p| {
                let mut pattern = BString::from(":(top,literal)");
                pattern.extend_from_slice(p);
                pattern
            })
            .collect();

        let platform = self
            .repo
            .status(gix::progress::Discard)
            .map_err(StatusError::Status)?
            .untracked_files(gix::status::UntrackedFiles::Files)
            .index_worktree_submodules(None)
            .tree_index_track_renames(gix::status::tree_index::TrackRenames::Disabled)
            .index_worktree_rewrites(None);
        let iter = platform.into_iter(patterns).map_err(StatusError::Status)?;

        let mut dirty: BTreeSet<(BString, DirtyReason)> = BTreeSet::new();
        for item in iter {
            let item = item.map_err(StatusError::Status)?;
            match item {
                gix::status::Item::TreeIndex(change) => {
                    dirty.insert((change.location().to_owned(), DirtyReason::Staged));
                }
                gix::status::Item::IndexWorktree(item) => match item {
                    WorktreeItem::Modification {
                        rela_path, status, ..
                    } => {
                        let reason = match status {
                            EntryStatus::Conflict { .. } => DirtyReason::Conflicted,
                            EntryStatus::Change(Change::Removed) => DirtyReason::Deleted,
                            EntryStatus::Change(_) => DirtyReason::Modified,
                            EntryStatus::IntentToAdd => DirtyReason::Staged,
                            // Only the stat cache is stale; content is unchanged.
                            EntryStatus::NeedsUpdate(_) => continue,
                        };
                        dirty.insert((rela_path, reason));
                    }
                    WorktreeItem::DirectoryContents { entry, .. } => {
                        if entry.status == gix::dir::entry::Status::Untracked {
                            dirty.insert((entry.rela_path, DirtyReason::Untracked));
                        }
                    }
                    WorktreeItem::Rewrite {
                        source,
                        dirwalk_entry,
                        ..
                    } => {
                        dirty.insert((source.rela_path().to_owned(), DirtyReason::Deleted));
                        dirty.insert((dirwalk_entry.rela_path, DirtyReason::Untracked));
                    }
                },
            }
        }

        // An ignored file that was named explicitly is still not in HEAD: the dirwalk does not
        // report it, so look at it directly.
        let index = self.repo.index_or_empty().map_err(StatusError::Status)?;
        for path in &rela {
            let tracked = index.entry_index_by_path(path.as_bstr()).is_ok();
            let reported = dirty.iter().any(|(p, _)| p == path);
            if !tracked && !reported {
                let on_disk = std::fs::symlink_metadata(self.abs_path(path))
                    .is_ok_and(|m| m.is_file() || m.file_type().is_symlink());
                if on_disk {
                    dirty.insert((path.clone(), DirtyReason::Untracked));
                }
            }
        }

        Ok(dirty
            .into_iter()
            .map(|(path, reason)| DirtyPath {
                path: Repo::native(path.as_bstr()),
                reason,
            })
            .collect())
    }
}
