//! Everything a scanner must read: every blob reachable from any ref (each distinct blob once,
//! with the first commit and path where it appeared), every commit and tag message, the index,
//! and the work tree.
//!
//! The history walk reads the trees of *every* commit rather than diffs, so content that exists
//! only in a merge commit's resolution is found (a `git log -p` reader misses it), and trees and
//! blobs already seen are skipped, so each is decoded once.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use gix::bstr::{BStr, BString, ByteSlice, ByteVec};
use gix::hashtable::HashSet;
use gix::objs::tree::EntryKind;
use gix::objs::Kind;

use super::{ObjectId, Repo};

/// Switches for the walks.
#[derive(Debug, Clone, Default)]
pub struct HistoryOptions {
    /// Blobs and files larger than this many bytes are counted in
    /// [`HistoryStats::skipped_large`] but not read or visited; `None` reads everything.
    pub max_blob_size: Option<u64>,
}

/// Where a message comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageKind {
    /// A commit message.
    Commit,
    /// An annotated tag's message.
    Tag,
}

/// A commit or tag message, as stored (not necessarily UTF-8).
#[derive(Debug, Clone, Copy)]
pub struct HistoryMessage<'a> {
    /// Commit or tag.
    pub kind: MessageKind,
    /// The commit or tag object's id.
    pub id: ObjectId,
    /// The raw message.
    pub message: &'a BStr,
}

/// A blob from the history, visited once per distinct blob id.
#[derive(Debug, Clone, Copy)]
pub struct HistoryBlob<'a> {
    /// The blob id.
    pub id: ObjectId,
    /// Its contents.
    pub data: &'a [u8],
    /// The first commit (parents before children, older before newer) whose tree contains it;
    /// `None` for a blob reached only through a ref or tag pointing at a tree or blob.
    pub commit: Option<ObjectId>,
    /// Its path in that commit's tree (for a blob a ref points at directly: the ref name).
    pub path: &'a BStr,
}

/// A blob in the index (staging area).
#[derive(Debug, Clone, Copy)]
pub struct IndexBlob<'a> {
    /// The blob id.
    pub id: ObjectId,
    /// Its contents.
    pub data: &'a [u8],
    /// The path of its (first) index entry.
    pub path: &'a BStr,
}

/// A file in the work tree.
#[derive(Debug, Clone, Copy)]
pub struct WorktreeFile<'a> {
    /// The path relative to the work tree root, slash-separated.
    pub path: &'a BStr,
    /// The file's contents on disk.
    pub data: &'a [u8],
    /// Whether the index tracks it (else it is untracked and not ignored).
    pub tracked: bool,
}

/// Receives what [`Repo::walk_history`] finds. Return `ControlFlow::Break(())` to stop early.
pub trait HistoryVisitor {
    /// A commit or tag message. A commit's message comes before the blobs it introduces.
    fn message(&mut self, message: &HistoryMessage<'_>) -> ControlFlow<()> {
        let _ = message;
        ControlFlow::Continue(())
    }

    /// A blob seen for the first time.
    fn blob(&mut self, blob: &HistoryBlob<'_>) -> ControlFlow<()>;
}

/// Counts from a walk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistoryStats {
    /// Commits visited.
    pub commits: usize,
    /// Annotated tags visited.
    pub tags: usize,
    /// Distinct trees decoded.
    pub trees: usize,
    /// Distinct blobs (or files) visited.
    pub blobs: usize,
    /// Blobs or files skipped for [`HistoryOptions::max_blob_size`].
    pub skipped_large: usize,
    /// Whether the visitor stopped the walk early.
    pub stopped: bool,
}

/// Why a walk failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// The refs could not be listed or read.
    #[error("cannot read the repository's refs")]
    Refs(#[source] gix::Error),
    /// An object reachable from a ref is missing or corrupt.
    #[error("cannot read object {id}")]
    Object {
        /// The object's id.
        id: ObjectId,
        /// What gix reported.
        #[source]
        source: gix::Error,
    },
    /// The index could not be read.
    #[error("cannot read the index")]
    Index(#[source] gix::Error),
    /// The work tree could not be walked.
    #[error("cannot walk the work tree")]
    Worktree(#[source] gix::Error),
    /// A work-tree file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// One commit of the walk: its parents inside the walk and its committer time.
struct CommitNode {
    parents: Vec<ObjectId>,
    time: i64,
}

impl Repo {
    /// Visits every commit and annotated tag message and every distinct blob reachable from
    /// any ref (branches, tags, remotes, notes, stash, and a detached HEAD), each blob once
    /// with the first commit and path where it appeared. Commits go parents first (ties: older
    /// committer time first), so "first" is a commit that introduced the blob.
    pub fn walk_history(
        &self,
        options: &HistoryOptions,
        visitor: &mut dyn HistoryVisitor,
    ) -> Result<HistoryStats, HistoryError> {
        let mut repo = self.repo.clone();
        // Each tree and blob is read once, so an object cache would only copy them; the pack's
        // delta-base cache (kept) is what speeds up reading delta chains.
        repo.object_cache_size(None);
        let mut walk = Walk {
            repo: &repo,
            options,
            visitor,
            stats: HistoryStats::default(),
            seen_trees: HashSet::default(),
            seen_blobs: HashSet::default(),
            seen_tags: HashSet::default(),
        };
        match walk.run() {
            Ok(ControlFlow::Continue(())) => {}
            Ok(ControlFlow::Break(())) => walk.stats.stopped = true,
            Err(e) => return Err(e),
        }
        Ok(walk.stats)
    }

    /// Visits each distinct blob in the index (staged content, all conflict stages), with the
    /// path of its first entry. Submodule entries are skipped.
    pub fn walk_index(
        &self,
        options: &HistoryOptions,
        visit: &mut dyn FnMut(&IndexBlob<'_>) -> ControlFlow<()>,
    ) -> Result<HistoryStats, HistoryError> {
        let index = self.repo.index_or_empty().map_err(HistoryError::Index)?;
        let mut stats = HistoryStats::default();
        let mut seen: HashSet<ObjectId> = HashSet::default();
        for entry in index.entries() {
            use gix::index::entry::Mode;
            if !(entry.mode == Mode::FILE
                || entry.mode == Mode::FILE_EXECUTABLE
                || entry.mode == Mode::SYMLINK)
            {
                continue;
            }
            if !seen.insert(entry.id) {
                continue;
            }
            if too_large(options, u64::from(entry.stat.size))
                && self.blob_size(entry.id)? > options.max_blob_size.unwrap_or(u64::MAX)
            {
                stats.skipped_large += 1;
                continue;
            }
            let blob = self
                .repo
                .find_blob(entry.id)
                .map_err(|source| HistoryError::Object {
                    id: entry.id,
                    source,
                })?;
            stats.blobs += 1;
            let item = IndexBlob {
                id: entry.id,
                data: &blob.data,
                path: entry.path(&index),
            };
            if visit(&item).is_break() {
                stats.stopped = true;
                break;
            }
        }
        Ok(stats)
    }

    /// Visits the work tree's files as they are on disk: the tracked ones (per the index) and
    /// the untracked ones that are not ignored. Symlinks, submodules and nested repositories
    /// are not followed; tracked files missing from disk are skipped.
    pub fn walk_worktree(
        &self,
        options: &HistoryOptions,
        visit: &mut dyn FnMut(&WorktreeFile<'_>) -> ControlFlow<()>,
    ) -> Result<HistoryStats, HistoryError> {
        let index = self.repo.index_or_empty().map_err(HistoryError::Index)?;
        let mut paths: Vec<(BString, bool)> = Vec::new();
        let mut last: Option<&BStr> = None;
        for entry in index.entries() {
            let path = entry.path(&index);
            if last == Some(path) {
                continue; // conflict stages of one path
            }
            last = Some(path);
            use gix::index::entry::Mode;
            if entry.mode == Mode::FILE || entry.mode == Mode::FILE_EXECUTABLE {
                paths.push((path.to_owned(), true));
            }
        }

        let dirwalk_options = self
            .repo
            .dirwalk_options()
            .map_err(HistoryError::Worktree)?
            .emit_untracked(gix::dir::walk::EmissionMode::Matching)
            .emit_ignored(None)
            .emit_tracked(false);
        let mut collect = gix::dir::walk::delegate::Collect::default();
        let interrupt = AtomicBool::new(false);
        self.repo
            .dirwalk(
                &index,
                None::<&str>,
                &interrupt,
                dirwalk_options,
                &mut collect,
            )
            .map_err(HistoryError::Worktree)?;
        for (entry, _) in collect.into_entries_by_path() {
            if entry.status == gix::dir::entry::Status::Untracked
                && entry.disk_kind == Some(gix::dir::entry::Kind::File)
            {
                paths.push((entry.rela_path, false));
            }
        }

        let mut stats = HistoryStats::default();
        for (rela, tracked) in paths {
            let abs = self.abs_path(&rela);
            let meta = match std::fs::symlink_metadata(&abs) {
                Ok(m) if m.is_file() => m,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(HistoryError::Read { path: abs, source }),
            };
            if too_large(options, meta.len()) {
                stats.skipped_large += 1;
                continue;
            }
            let data = match std::fs::read(&abs) {
                Ok(d) => d,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(HistoryError::Read { path: abs, source }),
            };
            stats.blobs += 1;
            let item = WorktreeFile {
                path: rela.as_bstr(),
                data: &data,
                tracked,
            };
            if visit(&item).is_break() {
                stats.stopped = true;
                break;
            }
        }
        Ok(stats)
    }

    fn blob_size(&self, id: ObjectId) -> Result<u64, HistoryError> {
        let header = self
            .repo
            .find_header(id)
            .map_err(|source| HistoryError::Object { id, source })?;
        Ok(header.size())
    }
}

fn too_large(options: &HistoryOptions, size: u64) -> bool {
    options.max_blob_size.is_some_and(|max| size > max)
}

struct Walk<'a> {
    repo: &'a gix::Repository,
    options: &'a HistoryOptions,
    visitor: &'a mut dyn HistoryVisitor,
    stats: HistoryStats,
    seen_trees: HashSet<ObjectId>,
    seen_blobs: HashSet<ObjectId>,
    seen_tags: HashSet<ObjectId>,
}

impl Walk<'_> {
    fn object_err(id: ObjectId) -> impl FnOnce(gix::Error) -> HistoryError {
        move |source| HistoryError::Object { id, source }
    }

    fn run(&mut self) -> Result<ControlFlow<()>, HistoryError> {
        // Tips: every ref's target, plus HEAD (a detached HEAD is in no ref).
        let mut tips: Vec<(ObjectId, BString)> = Vec::new();
        let platform = self.repo.references().map_err(HistoryError::Refs)?;
        for reference in platform.all().map_err(HistoryError::Refs)? {
            let reference = reference.map_err(HistoryError::Refs)?;
            // Symbolic refs (`refs/remotes/origin/HEAD`) name refs listed themselves.
            if let Some(id) = reference.target().try_id() {
                tips.push((id.to_owned(), reference.name().as_bstr().to_owned()));
            }
        }
        if let Ok(head) = self.repo.head_id() {
            tips.push((head.detach(), BString::from("HEAD")));
        }

        // Peel tags (visiting their messages); sort out commits from trees and blobs.
        let mut commit_tips: Vec<ObjectId> = Vec::new();
        let mut other_tips: Vec<(ObjectId, Kind, BString)> = Vec::new();
        for (mut id, name) in tips {
            loop {
                let object = self.repo.find_object(id).map_err(Self::object_err(id))?;
                match object.kind {
                    Kind::Tag => {
                        let tag = object.into_tag();
                        let decoded = tag.decode().map_err(Self::object_err(id))?;
                        let target = decoded.target();
                        if self.seen_tags.insert(id) {
                            self.stats.tags += 1;
                            let message = HistoryMessage {
                                kind: MessageKind::Tag,
                                id,
                                message: decoded.message,
                            };
                            if self.visitor.message(&message).is_break() {
                                return Ok(ControlFlow::Break(()));
                            }
                        }
                        id = target;
                    }
                    Kind::Commit => {
                        commit_tips.push(id);
                        break;
                    }
                    kind @ (Kind::Tree | Kind::Blob) => {
                        other_tips.push((id, kind, name));
                        break;
                    }
                }
            }
        }

        for id in self.commits_parents_first(commit_tips)? {
            self.stats.commits += 1;
            let commit = self.repo.find_commit(id).map_err(Self::object_err(id))?;
            let message = HistoryMessage {
                kind: MessageKind::Commit,
                id,
                message: commit.message_raw().map_err(Self::object_err(id))?,
            };
            if self.visitor.message(&message).is_break() {
                return Ok(ControlFlow::Break(()));
            }
            let tree = commit.tree_id().map_err(Self::object_err(id))?.detach();
            drop(commit);
            if self.walk_tree(tree, Some(id))?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }

        for (id, kind, name) in other_tips {
            let flow = match kind {
                Kind::Tree => self.walk_tree(id, None)?,
                _ => self.visit_blob(id, None, name.as_bstr())?,
            };
            if flow.is_break() {
                return Ok(flow);
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// All commits reachable from `tips`, parents before children, older before newer.
    fn commits_parents_first(&self, tips: Vec<ObjectId>) -> Result<Vec<ObjectId>, HistoryError> {
        let shallow = self.repo.is_shallow().unwrap_or(false);
        let mut nodes: HashMap<ObjectId, CommitNode> = HashMap::new();
        let mut queue = tips;
        while let Some(id) = queue.pop() {
            if nodes.contains_key(&id) {
                continue;
            }
            let commit = match self.repo.find_commit(id) {
                Ok(c) => c,
                // The history of a shallow clone ends at its shallow boundary.
                Err(_) if shallow => continue,
                Err(source) => return Err(HistoryError::Object { id, source }),
            };
            let parents: Vec<ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
            let time = commit.time().map_or(0, |t| t.seconds);
            queue.extend(parents.iter().copied());
            nodes.insert(id, CommitNode { parents, time });
        }

        // Kahn's algorithm over the parent edges present in the walk.
        let mut pending: HashMap<ObjectId, usize> = HashMap::with_capacity(nodes.len());
        let mut children: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
        for (id, node) in &nodes {
            let mut count = 0;
            for parent in &node.parents {
                if nodes.contains_key(parent) {
                    count += 1;
                    children.entry(*parent).or_default().push(*id);
                }
            }
            pending.insert(*id, count);
        }
        let mut ready: BinaryHeap<Reverse<(i64, ObjectId)>> = pending
            .iter()
            .filter(|(_, count)| **count == 0)
            .map(|(id, _)| Reverse((nodes[id].time, *id)))
            .collect();
        let mut order = Vec::with_capacity(nodes.len());
        while let Some(Reverse((_, id))) = ready.pop() {
            order.push(id);
            for child in children.get(&id).map(Vec::as_slice).unwrap_or_default() {
                let count = pending.get_mut(child).expect("every child is a node");
                *count -= 1;
                if *count == 0 {
                    ready.push(Reverse((nodes[child].time, *child)));
                }
            }
        }
        Ok(order)
    }

    /// Visits the blobs of a tree not seen before; skips trees seen before (their blobs were
    /// visited with them).
    fn walk_tree(
        &mut self,
        root: ObjectId,
        commit: Option<ObjectId>,
    ) -> Result<ControlFlow<()>, HistoryError> {
        let mut stack: Vec<(ObjectId, BString)> = vec![(root, BString::default())];
        while let Some((tree_id, prefix)) = stack.pop() {
            if !self.seen_trees.insert(tree_id) {
                continue;
            }
            self.stats.trees += 1;
            let tree = self
                .repo
                .find_tree(tree_id)
                .map_err(Self::object_err(tree_id))?;
            let hash_kind = tree.id.kind();
            let mut blobs: Vec<(ObjectId, BString)> = Vec::new();
            // Most entries of a large tree were seen with an earlier commit: test the id
            // before building the path, so unchanged entries cost a hash lookup only.
            let path_of = |name: &BStr| {
                let mut path = BString::from(Vec::with_capacity(prefix.len() + name.len() + 1));
                path.push_str(&prefix);
                if !path.is_empty() {
                    path.push_byte(b'/');
                }
                path.push_str(name);
                path
            };
            // Iterate without decoding the whole tree into a list first.
            for entry in gix::objs::TreeRefIter::from_bytes(&tree.data, hash_kind) {
                let entry = entry.map_err(|e| HistoryError::Object {
                    id: tree_id,
                    source: gix::Error::from_error(e),
                })?;
                match entry.mode.kind() {
                    EntryKind::Tree => {
                        if !self.seen_trees.contains(entry.oid) {
                            stack.push((entry.oid.to_owned(), path_of(entry.filename)));
                        }
                    }
                    EntryKind::Blob | EntryKind::BlobExecutable | EntryKind::Link => {
                        if !self.seen_blobs.contains(entry.oid) {
                            blobs.push((entry.oid.to_owned(), path_of(entry.filename)));
                        }
                    }
                    EntryKind::Commit => {} // a submodule: another repository
                }
            }
            drop(tree);
            for (id, path) in blobs {
                if self.visit_blob(id, commit, path.as_bstr())?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn visit_blob(
        &mut self,
        id: ObjectId,
        commit: Option<ObjectId>,
        path: &BStr,
    ) -> Result<ControlFlow<()>, HistoryError> {
        if !self.seen_blobs.insert(id) {
            return Ok(ControlFlow::Continue(()));
        }
        if let Some(max) = self.options.max_blob_size {
            let header = self.repo.find_header(id).map_err(Self::object_err(id))?;
            if header.size() > max {
                self.stats.skipped_large += 1;
                return Ok(ControlFlow::Continue(()));
            }
        }
        let blob = self.repo.find_blob(id).map_err(Self::object_err(id))?;
        self.stats.blobs += 1;
        Ok(self.visitor.blob(&HistoryBlob {
            id,
            data: &blob.data,
            commit,
            path,
        }))
    }
}
