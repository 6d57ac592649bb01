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
    /// Trees decoded (a tree two walker threads both meet is counted twice).
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

/// One commit of the walk: its parents, committer time, tree and message.
struct CommitNode {
    parents: Vec<ObjectId>,
    time: i64,
    tree: ObjectId,
    message: BString,
}

impl Repo {
    /// Visits every commit and annotated tag message and every distinct blob reachable from
    /// any ref (branches, tags, remotes, notes, stash, and a detached HEAD), each blob once
    /// with the first commit and path where it appeared. Commits go parents first (ties: older
    /// committer time first), so "first" is a commit that introduced the blob.
    ///
    /// The commits are read once, in that order; then one thread per core (at most four) each
    /// walk the trees of one stretch of them and report the blobs their stretch introduces,
    /// while the calling thread reads those blobs and runs the visitor, stretch by stretch in
    /// walk order, skipping blobs an earlier stretch had.
    pub fn walk_history(
        &self,
        options: &HistoryOptions,
        visitor: &mut dyn HistoryVisitor,
    ) -> Result<HistoryStats, HistoryError> {
        let mut repo = self.repo.clone();
        // Each tree is read about once, so an object cache would only copy them; the pack's
        // delta-base cache (kept) is what speeds up reading delta chains.
        repo.object_cache_size(None);
        let mut stats = HistoryStats::default();
        let tips = Tips::read(&repo)?;
        for (id, message) in &tips.tag_messages {
            stats.tags += 1;
            let message = HistoryMessage {
                kind: MessageKind::Tag,
                id: *id,
                message: message.as_bstr(),
            };
            if visitor.message(&message).is_break() {
                stats.stopped = true;
                return Ok(stats);
            }
        }
        let mut commits = commits_parents_first(&repo, tips.commits)?;
        stats.commits = commits.len();

        // Stretches of at least a few hundred commits, so a small history is one walk.
        let threads = walk_threads().min(commits.len().div_ceil(256)).max(1);
        let per = commits.len().div_ceil(threads).max(1);
        let mut stretches: Vec<Vec<(ObjectId, CommitNode)>> = Vec::with_capacity(threads);
        while commits.len() > per {
            let rest = commits.split_off(per);
            stretches.push(std::mem::replace(&mut commits, rest));
        }
        stretches.push(commits);
        let mut other_tips = Some(tips.others);

        std::thread::scope(|scope| {
            let count = stretches.len();
            let mut walkers = Vec::with_capacity(count);
            for (n, stretch) in stretches.into_iter().enumerate() {
                // The first stretch is visited as it is walked; later ones queue up meanwhile.
                let (tx, rx) = if n == 0 {
                    let (tx, rx) = std::sync::mpsc::sync_channel::<Event>(4096);
                    (Sender::Bounded(tx), rx)
                } else {
                    let (tx, rx) = std::sync::mpsc::channel::<Event>();
                    (Sender::Unbounded(tx), rx)
                };
                let mut repo = repo.clone();
                repo.object_cache_size(None);
                let others = if n + 1 == count {
                    other_tips.take().unwrap_or_default()
                } else {
                    Vec::new()
                };
                let handle = scope.spawn(move || {
                    let mut sink = |event: Event| match tx.send(event) {
                        Ok(()) => ControlFlow::Continue(()),
                        Err(_) => ControlFlow::Break(()), // the visitor stopped
                    };
                    let mut walk = Walk {
                        repo: &repo,
                        sink: &mut sink,
                        trees: 0,
                        seen_trees: HashSet::default(),
                        seen_blobs: HashSet::default(),
                        last_trees: HashMap::new(),
                    };
                    walk.run(stretch, others).map(|_| walk.trees)
                });
                walkers.push((rx, handle));
            }

            let mut seen: HashSet<ObjectId> = HashSet::default();
            let mut failed = None;
            let mut walkers = walkers.into_iter();
            'stretches: for (rx, handle) in walkers.by_ref() {
                for event in rx.iter() {
                    let flow = match event {
                        Event::Message { id, message } => visitor.message(&HistoryMessage {
                            kind: MessageKind::Commit,
                            id,
                            message: message.as_bstr(),
                        }),
                        Event::Blob { id, commit, path } => {
                            // Read with the walk's handle: no object cache to copy into.
                            match read_new_blob(&repo, options, &mut seen, &mut stats, id) {
                                Ok(Some(blob)) => visitor.blob(&HistoryBlob {
                                    id,
                                    data: &blob.data,
                                    commit,
                                    path: path.as_bstr(),
                                }),
                                Ok(None) => ControlFlow::Continue(()),
                                Err(e) => {
                                    failed = Some(e);
                                    ControlFlow::Break(())
                                }
                            }
                        }
                    };
                    if flow.is_break() {
                        stats.stopped = failed.is_none();
                        drop(rx); // this walker's next send fails and it stops
                        let _ = handle.join();
                        break 'stretches;
                    }
                }
                match handle.join().expect("a history walker does not panic") {
                    Ok(trees) => stats.trees += trees,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            // Stop the walkers not reached: their channels close, their sends fail.
            for (rx, handle) in walkers {
                drop(rx);
                let _ = handle.join();
            }
            match failed {
                Some(e) => Err(e),
                None => Ok(stats),
            }
        })
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

/// Reads blob `id` from `repo` unless it was visited already or is over the size limit.
fn read_new_blob<'r>(
    repo: &'r gix::Repository,
    options: &HistoryOptions,
    seen: &mut HashSet<ObjectId>,
    stats: &mut HistoryStats,
    id: ObjectId,
) -> Result<Option<gix::Blob<'r>>, HistoryError> {
    if !seen.insert(id) {
        return Ok(None);
    }
    if let Some(max) = options.max_blob_size {
        let header = repo.find_header(id).map_err(object_err(id))?;
        if header.size() > max {
            stats.skipped_large += 1;
            return Ok(None);
        }
    }
    let blob = repo.find_blob(id).map_err(object_err(id))?;
    stats.blobs += 1;
    Ok(Some(blob))
}

fn too_large(options: &HistoryOptions, size: u64) -> bool {
    options.max_blob_size.is_some_and(|max| size > max)
}

/// How many threads walk trees: the available cores, at most 4.
fn walk_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// What a history walk starts from: the commits the refs point at (after peeling tags), the
/// trees and blobs refs point at directly, and the annotated tags' messages.
struct Tips {
    commits: Vec<ObjectId>,
    others: Vec<(ObjectId, Kind, BString)>,
    tag_messages: Vec<(ObjectId, BString)>,
}

impl Tips {
    fn read(repo: &gix::Repository) -> Result<Self, HistoryError> {
        // Every ref's target, plus HEAD (a detached HEAD is in no ref).
        let mut tips: Vec<(ObjectId, BString)> = Vec::new();
        let platform = repo.references().map_err(HistoryError::Refs)?;
        for reference in platform.all().map_err(HistoryError::Refs)? {
            let reference = reference.map_err(HistoryError::Refs)?;
            // Symbolic refs (`refs/remotes/origin/HEAD`) name refs listed themselves.
            if let Some(id) = reference.target().try_id() {
                tips.push((id.to_owned(), reference.name().as_bstr().to_owned()));
            }
        }
        if let Ok(head) = repo.head_id() {
            tips.push((head.detach(), BString::from("HEAD")));
        }

        // Peel tags (keeping their messages); sort out commits from trees and blobs.
        let mut out = Tips {
            commits: Vec::new(),
            others: Vec::new(),
            tag_messages: Vec::new(),
        };
        let mut seen_tags: HashSet<ObjectId> = HashSet::default();
        for (mut id, name) in tips {
            loop {
                let object = repo.find_object(id).map_err(object_err(id))?;
                match object.kind {
                    Kind::Tag => {
                        let tag = object.into_tag();
                        let decoded = tag.decode().map_err(object_err(id))?;
                        let target = decoded.target();
                        if seen_tags.insert(id) {
                            out.tag_messages.push((id, decoded.message.to_owned()));
                        }
                        id = target;
                    }
                    Kind::Commit => {
                        out.commits.push(id);
                        break;
                    }
                    kind @ (Kind::Tree | Kind::Blob) => {
                        out.others.push((id, kind, name));
                        break;
                    }
                }
            }
        }
        Ok(out)
    }
}

fn object_err(id: ObjectId) -> impl FnOnce(gix::Error) -> HistoryError {
    move |source| HistoryError::Object { id, source }
}

/// All commits reachable from `tips`, parents before children, older before newer, each with
/// its tree and message (so a commit is read once).
fn commits_parents_first(
    repo: &gix::Repository,
    tips: Vec<ObjectId>,
) -> Result<Vec<(ObjectId, CommitNode)>, HistoryError> {
    let shallow = repo.is_shallow().unwrap_or(false);
    let mut nodes: HashMap<ObjectId, CommitNode> = HashMap::new();
    let mut queue = tips;
    while let Some(id) = queue.pop() {
        if nodes.contains_key(&id) {
            continue;
        }
        let commit = match repo.find_commit(id) {
            Ok(c) => c,
            // The history of a shallow clone ends at its shallow boundary.
            Err(_) if shallow => continue,
            Err(source) => return Err(HistoryError::Object { id, source }),
        };
        let parents: Vec<ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
        let time = commit.time().map_or(0, |t| t.seconds);
        let tree = commit.tree_id().map_err(object_err(id))?.detach();
        let message = commit.message_raw().map_err(object_err(id))?.to_owned();
        queue.extend(parents.iter().copied());
        nodes.insert(
            id,
            CommitNode {
                parents,
                time,
                tree,
                message,
            },
        );
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
    Ok(order
        .into_iter()
        .map(|id| {
            let node = nodes.remove(&id).expect("every ordered commit is a node");
            (id, node)
        })
        .collect())
}

/// A walker thread's end of its channel: the first stretch's is bounded (it is visited as it
/// is walked), later ones queue up until their turn.
enum Sender {
    Bounded(std::sync::mpsc::SyncSender<Event>),
    Unbounded(std::sync::mpsc::Sender<Event>),
}

impl Sender {
    fn send(&self, event: Event) -> Result<(), std::sync::mpsc::SendError<Event>> {
        match self {
            Sender::Bounded(tx) => tx.send(event),
            Sender::Unbounded(tx) => tx.send(event),
        }
    }
}

/// One walker thread: walks the trees of a stretch of commits and reports the commit messages
/// and the blobs not seen before in its stretch.
struct Walk<'a> {
    repo: &'a gix::Repository,
    sink: &'a mut dyn FnMut(Event) -> ControlFlow<()>,
    /// Trees decoded.
    trees: usize,
    seen_trees: HashSet<ObjectId>,
    seen_blobs: HashSet<ObjectId>,
    /// Per directory path, the last tree walked there: the comparand for the next tree at that
    /// path (see [`Walk::walk_tree`]).
    last_trees: HashMap<BString, WalkedTree>,
}

/// What a walker thread hands the visiting thread, in walk order.
enum Event {
    /// A commit's message.
    Message { id: ObjectId, message: BString },
    /// A blob the walker had not seen before.
    Blob {
        id: ObjectId,
        commit: Option<ObjectId>,
        path: BString,
    },
}

/// A tree whose every entry has been handled (blobs visited, subtrees walked), with the end
/// offset of each entry in its raw data.
struct WalkedTree {
    data: Vec<u8>,
    ends: Vec<u32>,
}

/// One raw tree entry: its kind, name and object id.
struct RawEntry<'a> {
    kind: Option<EntryKind>,
    name: &'a [u8],
    oid: &'a gix::hash::oid,
}

/// Parses the tree entry at the start of `data` (`<octal mode> <name>\0<id>`); returns it and
/// its length. `kind` is `None` for a mode git does not write.
fn raw_entry(data: &[u8], hash_len: usize) -> Option<(RawEntry<'_>, usize)> {
    let space = memchr::memchr(b' ', data)?;
    let mut mode: u32 = 0;
    for &d in &data[..space] {
        if !(b'0'..=b'7').contains(&d) || mode > 0o7_777_777 {
            return None;
        }
        mode = mode * 8 + u32::from(d - b'0');
    }
    let nul = space + 1 + memchr::memchr(0, &data[space + 1..])?;
    let end = nul + 1 + hash_len;
    let oid = gix::hash::oid::try_from_bytes(data.get(nul + 1..end)?).ok()?;
    let kind = match mode & 0o170_000 {
        0o040_000 => Some(EntryKind::Tree),
        0o100_000 if mode & 0o111 != 0 => Some(EntryKind::BlobExecutable),
        0o100_000 => Some(EntryKind::Blob),
        0o120_000 => Some(EntryKind::Link),
        0o160_000 => Some(EntryKind::Commit),
        _ => None,
    };
    let name = &data[space + 1..nul];
    Some((RawEntry { kind, name, oid }, end))
}

/// The length of the longest common prefix of `a` and `b` (compared a block at a time).
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 64;
    let n = a.len().min(b.len());
    let mut at = 0;
    while at + BLOCK <= n && a[at..at + BLOCK] == b[at..at + BLOCK] {
        at += BLOCK;
    }
    at + a[at..n]
        .iter()
        .zip(&b[at..n])
        .take_while(|(x, y)| x == y)
        .count()
}

/// The length of the longest common suffix of `a` and `b`.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 64;
    let n = a.len().min(b.len());
    let (a, b) = (&a[a.len() - n..], &b[b.len() - n..]);
    let mut len = 0;
    while len + BLOCK <= n && a[n - len - BLOCK..n - len] == b[n - len - BLOCK..n - len] {
        len += BLOCK;
    }
    len + a[..n - len]
        .iter()
        .rev()
        .zip(b[..n - len].iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

/// The byte range of `new` that can differ from the already-walked `last`, aligned to entry
/// boundaries: `(start, end_in_new, prefix_entries, suffix_start_entry)`, where `last`'s
/// entries `..prefix_entries` and `suffix_start_entry..` are byte-identical (and identically
/// placed, counting from the respective ends) in `new`.
fn changed_span(new: &[u8], last: &WalkedTree) -> (usize, usize, usize, usize) {
    let old = &last.data;
    let prefix = common_prefix(new, old);
    let i = last.ends.partition_point(|&e| e as usize <= prefix);
    let start = if i == 0 { 0 } else { last.ends[i - 1] as usize };
    let suffix = common_suffix(&new[start..], &old[start..]);
    // The first of last's entries (at or after i) from which on all lie wholly in the common
    // suffix (`j == n` when none does).
    let begin_of = |k: usize| if k == 0 { 0 } else { last.ends[k - 1] as usize };
    let (mut lo, mut hi) = (i, last.ends.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if old.len() - begin_of(mid) <= suffix {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let j = lo;
    let end = new.len() - (old.len() - begin_of(j));
    (start, end, i, j)
}

impl Walk<'_> {
    fn run(
        &mut self,
        commits: Vec<(ObjectId, CommitNode)>,
        others: Vec<(ObjectId, Kind, BString)>,
    ) -> Result<ControlFlow<()>, HistoryError> {
        for (id, node) in commits {
            let message = Event::Message {
                id,
                message: node.message,
            };
            if (self.sink)(message).is_break() {
                return Ok(ControlFlow::Break(()));
            }
            if self.walk_tree(node.tree, Some(id))?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        for (id, kind, name) in others {
            let flow = match kind {
                Kind::Tree => self.walk_tree(id, None)?,
                _ => self.visit_blob(id, None, name.as_bstr()),
            };
            if flow.is_break() {
                return Ok(flow);
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// Visits the blobs of a tree not seen before; skips trees seen before (their blobs were
    /// visited with them).
    ///
    /// A tree usually differs from the last tree walked at the same path in a few entries (a
    /// commit changes a file or two), and the rest of its bytes are identical. Entries inside
    /// the common prefix and suffix of the two trees' raw data are entries of the earlier
    /// tree, all handled already, so only the span between them is parsed: a full-history
    /// walk then costs about the size of the changes, not the size of every tree.
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
            self.trees += 1;
            let mut tree = self.repo.find_tree(tree_id).map_err(object_err(tree_id))?;
            let hash_len = tree.id.kind().len_in_bytes();
            let data = tree.take_data();
            drop(tree);
            let corrupt = || HistoryError::Object {
                id: tree_id,
                source: gix::Error::from_error(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "malformed tree entry",
                )),
            };
            let path_of = |name: &[u8]| {
                let mut path = BString::from(Vec::with_capacity(prefix.len() + name.len() + 1));
                path.push_str(&prefix);
                if !path.is_empty() {
                    path.push_byte(b'/');
                }
                path.push_str(name);
                path
            };

            let last = self.last_trees.remove(&prefix);
            let (start, end, head, tail) = match &last {
                Some(last) => changed_span(&data, last),
                None => (0, data.len(), 0, 0),
            };
            let mut ends: Vec<u32> = Vec::new();
            if let Some(last) = &last {
                ends.reserve(last.ends.len() + 4);
                ends.extend_from_slice(&last.ends[..head]);
            }
            let mut blobs: Vec<(ObjectId, BString)> = Vec::new();
            let (mut at, mut end, mut keep_tail) = (start, end, last.is_some());
            while at < end {
                let (entry, len) = raw_entry(&data[at..], hash_len).ok_or_else(corrupt)?;
                at += len;
                if at > end {
                    // An entry runs into the common suffix (crafted names can do that): its
                    // bytes there are not entries of the earlier tree, so parse the rest.
                    end = data.len();
                    keep_tail = false;
                }
                ends.push(u32::try_from(at).map_err(|_| corrupt())?);
                // Unchanged entries were seen with an earlier tree: test the id before
                // building the path, so they cost a hash lookup only.
                match entry.kind.ok_or_else(corrupt)? {
                    EntryKind::Tree => {
                        if !self.seen_trees.contains(entry.oid) {
                            stack.push((entry.oid.to_owned(), path_of(entry.name)));
                        }
                    }
                    EntryKind::Blob | EntryKind::BlobExecutable | EntryKind::Link => {
                        if !self.seen_blobs.contains(entry.oid) {
                            blobs.push((entry.oid.to_owned(), path_of(entry.name)));
                        }
                    }
                    EntryKind::Commit => {} // a submodule: another repository
                }
            }
            if let Some(last) = last.as_ref().filter(|_| keep_tail) {
                // The suffix entries keep their distance from the end.
                let shift = |e: u32| (e as usize + data.len() - last.data.len()) as u32;
                ends.extend(last.ends[tail..].iter().map(|&e| shift(e)));
            }
            self.last_trees.insert(prefix, WalkedTree { data, ends });
            for (id, path) in blobs {
                if self.visit_blob(id, commit, path.as_bstr()).is_break() {
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
    ) -> ControlFlow<()> {
        if !self.seen_blobs.insert(id) {
            return ControlFlow::Continue(());
        }
        (self.sink)(Event::Blob {
            id,
            commit,
            path: path.to_owned(),
        })
    }
}
