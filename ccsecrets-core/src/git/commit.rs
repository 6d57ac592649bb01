//! Committing work-tree files on the current branch, with a compare-and-swap on the branch so
//! a concurrent commit or push is detected instead of overwritten.
//!
//! Two steps, so callers can do slow work in between and tests can race them:
//! [`Repo::prepare_commit`] writes the blobs, tree and commit objects (unreferenced objects are
//! harmless), [`Repo::finish_commit`] moves the branch only if it still points at the expected
//! parent, then updates the index so `git status` stays clean.

use std::path::{Path, PathBuf};

use gix::bstr::{BString, ByteSlice};
use gix::objs::tree::EntryKind;
use gix::refs::transaction::{PreviousValue, RefEdit};
use gix::refs::{FullName, Target};

use super::{ObjectId, PathError, Repo, Time};

/// A person as git records them: `Name <email>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The name (`user.name`).
    pub name: String,
    /// The email address (`user.email`).
    pub email: String,
}

impl Identity {
    /// An identity from a name and an email address.
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> Identity {
        Identity {
            name: name.into(),
            email: email.into(),
        }
    }
}

/// Switches for a commit; the defaults take author and committer from git config and the
/// time from the clock.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// The author; default: `user.name`/`user.email` (or `author.*`) from git config, else
    /// [`committer`](Self::committer).
    pub author: Option<Identity>,
    /// The committer; default: `user.name`/`user.email` (or `committer.*`) from git config,
    /// else [`author`](Self::author).
    pub committer: Option<Identity>,
    /// The author and committer time; default: now (or what git config and git's own
    /// variables say, for identities taken from config).
    pub time: Option<Time>,
}

/// What to commit: the current work-tree contents of `paths` on top of `expected_parent`.
#[derive(Debug, Clone)]
pub struct CommitRequest<'a> {
    /// Work-tree files (absolute, or relative to the work tree root) whose current contents go
    /// into the commit. A path that no longer exists is removed from the tree.
    pub paths: &'a [&'a Path],
    /// The commit message.
    pub message: &'a str,
    /// The commit the change is based on, as read with [`Repo::head_commit_id`] before the
    /// files were touched; `None` for the first commit on an unborn branch. The branch moves
    /// only if it still points here.
    pub expected_parent: Option<ObjectId>,
    /// Author, committer and time.
    pub options: CommitOptions,
}

impl<'a> CommitRequest<'a> {
    /// A request with default [`CommitOptions`].
    pub fn new(
        paths: &'a [&'a Path],
        message: &'a str,
        expected_parent: Option<ObjectId>,
    ) -> CommitRequest<'a> {
        CommitRequest {
            paths,
            message,
            expected_parent,
            options: CommitOptions::default(),
        }
    }
}

/// Why a commit was not made. Unless stated otherwise, the branch and the index are unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommitError {
    /// A path does not name a file in the work tree.
    #[error(transparent)]
    Path(#[from] PathError),
    /// HEAD is detached: there is no branch to move.
    #[error("HEAD is detached; check out a branch to commit")]
    DetachedHead,
    /// The branch no longer points at the expected parent: someone committed, pushed into or
    /// reset it since the change was based on it. Nothing was overwritten.
    #[error(
        "branch {branch} moved: expected {}, found {}",
        show(expected),
        show(actual)
    )]
    BranchMoved {
        /// The branch's full name (`refs/heads/main`).
        branch: String,
        /// Where the caller expected it (`None`: not to exist yet).
        expected: Option<ObjectId>,
        /// Where it is (`None`: it does not exist).
        actual: Option<ObjectId>,
    },
    /// HEAD was switched to another branch between preparing and finishing the commit.
    #[error("HEAD moved from {expected} to {}", actual.as_deref().unwrap_or("a detached commit"))]
    HeadSwitched {
        /// The branch the commit was prepared for.
        expected: String,
        /// The branch HEAD names now (`None`: detached).
        actual: Option<String>,
    },
    /// No author or committer identity: set `user.name` and `user.email`, or pass one.
    #[error("no {role} identity: set git config user.name and user.email, or pass one")]
    NoIdentity {
        /// `"author"` or `"committer"`.
        role: &'static str,
    },
    /// A name or email contains `<`, `>` or a newline, which git cannot store.
    #[error("invalid {role} identity: names and emails cannot contain '<', '>' or newlines")]
    InvalidIdentity {
        /// `"author"` or `"committer"`.
        role: &'static str,
    },
    /// A path names a directory or another non-file; only files and symlinks are committed.
    #[error("{} is not a file", path.display())]
    NotAFile {
        /// The path relative to the work tree root.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The path relative to the work tree root.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file changed while it was being read; nothing was committed.
    #[error("{} changed while it was being read", path.display())]
    Unstable {
        /// The path relative to the work tree root.
        path: PathBuf,
    },
    /// Reading the repository or writing objects failed.
    #[error("cannot write the commit objects")]
    Objects(#[source] gix::Error),
    /// Moving the branch failed for another reason than a moved branch (e.g. the ref is
    /// locked by a concurrent git process).
    #[error("cannot update branch {branch}")]
    UpdateBranch {
        /// The branch's full name.
        branch: String,
        /// What gix reported.
        #[source]
        source: gix::Error,
    },
    /// The commit was made and the branch moved, but the index could not be updated:
    /// `git status` may show the committed files as changed until `git reset` refreshes it.
    #[error("committed {commit}, but could not update the index")]
    IndexNotUpdated {
        /// The new commit, now the tip of the branch.
        commit: ObjectId,
        /// What gix reported.
        #[source]
        source: gix::Error,
    },
}

fn show(id: &Option<ObjectId>) -> String {
    id.map_or_else(|| "no commit".to_owned(), |id| id.to_string())
}

/// A commit written to the object database but not yet on the branch: pass it to
/// [`Repo::finish_commit`].
#[derive(Debug, Clone)]
pub struct PreparedCommit {
    id: ObjectId,
    tree: ObjectId,
    parent: Option<ObjectId>,
    branch: FullName,
    reflog_message: BString,
    committer: gix::actor::Signature,
    files: Vec<PreparedFile>,
}

#[derive(Debug, Clone)]
struct PreparedFile {
    rela: BString,
    /// `None` when the file was deleted.
    entry: Option<(ObjectId, EntryKind, gix::index::entry::Stat)>,
}

impl PreparedCommit {
    /// The new commit's id.
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// The new commit's tree.
    pub fn tree(&self) -> ObjectId {
        self.tree
    }

    /// The parent (the expected branch tip), `None` for a first commit.
    pub fn parent(&self) -> Option<ObjectId> {
        self.parent
    }

    /// The branch it will move (`refs/heads/main`).
    pub fn branch(&self) -> String {
        self.branch.as_bstr().to_string()
    }
}

impl Repo {
    /// Commits the current contents of `request.paths` on the current branch, moving it only
    /// if it still points at `request.expected_parent`, and updates the index for those paths.
    /// Returns the new commit id. [`prepare_commit`](Self::prepare_commit) followed by
    /// [`finish_commit`](Self::finish_commit).
    pub fn commit_paths(&self, request: &CommitRequest<'_>) -> Result<ObjectId, CommitError> {
        let prepared = self.prepare_commit(request)?;
        self.finish_commit(prepared)
    }

    /// Writes blobs for the files, HEAD's tree with them replaced, and the commit object; does
    /// not touch any ref or the index. Fails with [`CommitError::BranchMoved`] already here
    /// when the branch is not at `expected_parent`.
    ///
    /// File contents are committed as they are on disk (no clean filters such as
    /// `core.autocrlf` or LFS are applied).
    pub fn prepare_commit(
        &self,
        request: &CommitRequest<'_>,
    ) -> Result<PreparedCommit, CommitError> {
        let repo = &self.repo;
        let branch = repo
            .head_name()
            .map_err(CommitError::Objects)?
            .ok_or(CommitError::DetachedHead)?;
        let actual = self.branch_tip(&branch)?;
        if actual != request.expected_parent {
            return Err(CommitError::BranchMoved {
                branch: branch.as_bstr().to_string(),
                expected: request.expected_parent,
                actual,
            });
        }

        let (author, committer) = self.signatures(&request.options)?;

        let base_tree = match request.expected_parent {
            Some(parent) => repo
                .find_commit(parent)
                .and_then(|c| c.tree_id())
                .map_err(CommitError::Objects)?
                .detach(),
            None => ObjectId::empty_tree(repo.object_hash()),
        };
        let base = repo.find_tree(base_tree).map_err(CommitError::Objects)?;
        let file_mode_matters = repo
            .config_snapshot()
            .boolean("core.fileMode")
            .unwrap_or(true);

        let mut editor = repo.edit_tree(base_tree).map_err(CommitError::Objects)?;
        let mut files = Vec::with_capacity(request.paths.len());
        for path in request.paths {
            let rela = self.rela_path(path)?;
            let previous_kind = base
                .lookup_entry_by_path(Repo::native(rela.as_bstr()))
                .map_err(CommitError::Objects)?
                .map(|e| e.mode().kind());
            let entry = match self.read_worktree_file(&rela, file_mode_matters, previous_kind)? {
                Some((data, kind, stat)) => {
                    let id = repo
                        .write_blob(&data)
                        .map_err(CommitError::Objects)?
                        .detach();
                    editor
                        .upsert(rela.as_bstr(), kind, id)
                        .map_err(CommitError::Objects)?;
                    Some((id, kind, stat))
                }
                None => {
                    editor
                        .remove(rela.as_bstr())
                        .map_err(CommitError::Objects)?;
                    None
                }
            };
            files.push(PreparedFile { rela, entry });
        }
        let tree = editor.write().map_err(CommitError::Objects)?.detach();

        let commit = gix::objs::Commit {
            message: request.message.into(),
            tree,
            author,
            committer: committer.clone(),
            encoding: None,
            parents: request.expected_parent.into_iter().collect(),
            extra_headers: Vec::new(),
        };
        let id = repo
            .write_object(&commit)
            .map_err(CommitError::Objects)?
            .detach();
        Ok(PreparedCommit {
            id,
            tree,
            parent: request.expected_parent,
            branch,
            reflog_message: gix::reference::log::message(
                "commit",
                commit.message.as_bstr(),
                commit.parents.len(),
            ),
            committer,
            files,
        })
    }

    /// Moves the branch to the prepared commit with a compare-and-swap on its old value
    /// ([`CommitError::BranchMoved`] when it moved since; then nothing changes), writes the
    /// reflog, and updates the index entries of the committed paths so `git status` is clean.
    pub fn finish_commit(&self, prepared: PreparedCommit) -> Result<ObjectId, CommitError> {
        let repo = &self.repo;
        let branch_name = prepared.branch.as_bstr().to_string();
        match repo.head_name().map_err(CommitError::Objects)? {
            Some(name) if name == prepared.branch => {}
            other => {
                return Err(CommitError::HeadSwitched {
                    expected: branch_name,
                    actual: other.map(|n| n.as_bstr().to_string()),
                })
            }
        }
        let expected = match prepared.parent {
            // Stricter than `ExistingMustMatch`: a branch deleted meanwhile is a conflict too.
            Some(parent) => PreviousValue::MustExistAndMatch(Target::Object(parent)),
            None => PreviousValue::MustNotExist,
        };
        let edit = RefEdit::update(
            "HEAD".try_into().expect("HEAD is a valid ref name"),
            prepared.id,
            expected,
            prepared.reflog_message.clone(),
        )
        .with_deref(true);
        let mut time_buf = gix::date::parse::TimeBuf::default();
        let committer = prepared.committer.to_ref(&mut time_buf);
        if let Err(source) = repo.edit_references_as(Some(edit), Some(committer)) {
            return Err(self.classify_ref_error(&prepared, branch_name, source));
        }

        self.update_index(&prepared)
            .map_err(|source| CommitError::IndexNotUpdated {
                commit: prepared.id,
                source,
            })?;
        Ok(prepared.id)
    }

    fn classify_ref_error(
        &self,
        prepared: &PreparedCommit,
        branch: String,
        source: gix::Error,
    ) -> CommitError {
        use gix::refs::file::transaction::prepare::{MustNotExist, ReferenceOutOfDate};
        let conflict = source.downcast_any_ref::<ReferenceOutOfDate>().is_some()
            || source.downcast_any_ref::<MustNotExist>().is_some();
        let actual = self.branch_tip(&prepared.branch).ok().flatten();
        if conflict || actual != prepared.parent {
            CommitError::BranchMoved {
                branch,
                expected: prepared.parent,
                actual,
            }
        } else {
            CommitError::UpdateBranch { branch, source }
        }
    }

    /// Where `branch` points, `None` when it does not exist.
    fn branch_tip(&self, branch: &FullName) -> Result<Option<ObjectId>, CommitError> {
        let reference = self
            .repo
            .try_find_reference(branch.as_ref())
            .map_err(CommitError::Objects)?;
        match reference {
            None => Ok(None),
            Some(mut r) => Ok(Some(r.peel_to_id().map_err(CommitError::Objects)?.detach())),
        }
    }

    /// Author and committer signatures from the options, falling back to git config.
    fn signatures(
        &self,
        options: &CommitOptions,
    ) -> Result<(gix::actor::Signature, gix::actor::Signature), CommitError> {
        let from_config = |sig: Option<gix::Result<gix::actor::SignatureRef<'_>>>| {
            sig.and_then(|s| s.ok())
                .and_then(|s| s.to_owned().ok())
                .map(|mut s| {
                    if let Some(time) = options.time {
                        s.time = time;
                    }
                    s
                })
        };
        let time = options.time.unwrap_or_else(Time::now_local_or_utc);
        let given = |identity: &Option<Identity>, role| -> Result<_, CommitError> {
            identity
                .as_ref()
                .map(|i| {
                    let bad = |s: &str| s.contains(['<', '>', '\n', '\0']);
                    if bad(&i.name) || bad(&i.email) {
                        return Err(CommitError::InvalidIdentity { role });
                    }
                    Ok(gix::actor::Signature {
                        name: i.name.as_str().into(),
                        email: i.email.as_str().into(),
                        time,
                    })
                })
                .transpose()
        };
        let author = given(&options.author, "author")?;
        let committer = given(&options.committer, "committer")?;
        let author = author
            .or_else(|| from_config(self.repo.author()))
            .or_else(|| committer.clone())
            .ok_or(CommitError::NoIdentity { role: "author" })?;
        let committer = committer
            .or_else(|| from_config(self.repo.committer()))
            .unwrap_or_else(|| author.clone());
        Ok((author, committer))
    }

    /// Reads a work-tree file for committing: its bytes, tree entry kind and stat (taken before
    /// and after reading, which must agree). `None` when it does not exist.
    #[allow(clippy::type_complexity)]
    fn read_worktree_file(
        &self,
        rela: &BString,
        file_mode_matters: bool,
        previous_kind: Option<EntryKind>,
    ) -> Result<Option<(Vec<u8>, EntryKind, gix::index::entry::Stat)>, CommitError> {
        let abs = self.abs_path(rela);
        let shown = || Repo::native(rela.as_bstr());
        let read_err = |source| CommitError::Read {
            path: shown(),
            source,
        };
        let stat = |p: &Path| -> Result<
            Option<(std::fs::Metadata, gix::index::entry::Stat)>,
            CommitError,
        > {
            let meta = match std::fs::symlink_metadata(p) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(read_err(e)),
            };
            let fs_meta = gix::index::fs::Metadata::from_path_no_follow(p).map_err(read_err)?;
            let stat = gix::index::entry::Stat::from_fs(&fs_meta)
                .map_err(|e| read_err(std::io::Error::other(e)))?;
            Ok(Some((meta, stat)))
        };

        let Some((meta, before)) = stat(&abs)? else {
            return Ok(None);
        };
        let (data, kind) = if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&abs).map_err(read_err)?;
            let target = gix::path::into_bstr(target)
                .map_err(|e| read_err(std::io::Error::other(e)))?
                .into_owned();
            (Vec::from(target), EntryKind::Link)
        } else if meta.is_file() {
            let data = std::fs::read(&abs).map_err(read_err)?;
            let kind = if file_mode_matters {
                if is_executable(&meta) {
                    EntryKind::BlobExecutable
                } else {
                    EntryKind::Blob
                }
            } else {
                match previous_kind {
                    Some(EntryKind::BlobExecutable) => EntryKind::BlobExecutable,
                    _ => EntryKind::Blob,
                }
            };
            (data, kind)
        } else {
            return Err(CommitError::NotAFile { path: shown() });
        };
        match stat(&abs)? {
            Some((_, after)) if after == before => Ok(Some((data, kind, before))),
            _ => Err(CommitError::Unstable { path: shown() }),
        }
    }

    /// Sets the index entries of the committed paths to the committed blobs and the stat seen
    /// when reading them (a file edited since then shows as modified, as it should), and drops
    /// the cached tree extension, which no longer matches.
    fn update_index(&self, prepared: &PreparedCommit) -> Result<(), gix::Error> {
        let mut index = if self.repo.index_path().exists() {
            self.repo.open_index()?
        } else {
            // A fresh repository has no index until something is staged.
            gix::index::File::from_state(
                gix::index::State::new(self.repo.object_hash()),
                self.repo.index_path(),
            )
        };
        index.remove_entries(|_, path, _| prepared.files.iter().any(|f| f.rela == path));
        for file in &prepared.files {
            if let Some((id, kind, stat)) = &file.entry {
                index.dangerously_push_entry(
                    *stat,
                    *id,
                    gix::index::entry::Flags::empty(),
                    gix::index::entry::Mode::from(*kind),
                    file.rela.as_bstr(),
                );
            }
        }
        index.sort_entries();
        index.remove_tree();
        index.write(Default::default())?;
        Ok(())
    }
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}
