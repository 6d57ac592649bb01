//! Unit tests for the parts that need no `git` binary: path mapping, opening, commits on a
//! fresh repository made with gix itself. The integration tests (`tests/tests/git.rs`) use
//! real repositories made with `git`.

use std::ops::ControlFlow;
use std::path::Path;

use super::*;

fn fresh() -> (tempfile::TempDir, Repo) {
    let dir = tempfile::tempdir().expect("temp dir");
    gix::init(dir.path()).expect("git init");
    let repo = Repo::open(dir.path()).expect("open");
    (dir, repo)
}

fn me() -> CommitOptions {
    CommitOptions {
        author: Some(Identity::new("Test", "test@example.invalid")),
        committer: None,
        time: Some(Time::new(1_700_000_000, 0)),
    }
}

#[test]
fn git_paths_map_to_slash_separated_relative_paths() {
    let (dir, repo) = fresh();
    let rel = repo.rela_path(Path::new("secrets/secrets.yaml")).unwrap();
    assert_eq!(rel, "secrets/secrets.yaml");
    let abs = repo
        .rela_path(&dir.path().join("secrets").join("x.yaml"))
        .unwrap();
    assert_eq!(abs, "secrets/x.yaml");
    assert_eq!(repo.rela_path(Path::new("./a/./b")).unwrap(), "a/b");
    assert!(matches!(
        repo.rela_path(Path::new("../escape")),
        Err(PathError::Invalid { .. })
    ));
    assert!(matches!(
        repo.rela_path(Path::new(".git/config")),
        Err(PathError::GitDir { .. })
    ));
    assert!(matches!(
        repo.rela_path(Path::new("/definitely/elsewhere")),
        Err(PathError::OutsideWorkTree { .. })
    ));
    assert!(matches!(
        repo.rela_path(Path::new("")),
        Err(PathError::Invalid { .. })
    ));
}

#[test]
fn git_open_outside_a_repository_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // A temp dir is normally not inside a repository; if it is, there is nothing to test.
    if gix::discover(dir.path()).is_err() {
        assert!(matches!(
            Repo::open(dir.path()),
            Err(OpenError::NotARepository { .. })
        ));
    }
}

#[test]
fn git_first_commit_on_an_unborn_branch_then_a_second() {
    let (dir, repo) = fresh();
    assert_eq!(repo.head_commit_id().unwrap(), None);
    let branch = repo.head_branch().unwrap().expect("HEAD names a branch");
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/s.yaml"), "a: 1\n").unwrap();
    let paths = [Path::new("secrets/s.yaml")];
    assert!(!repo.is_clean(&paths).unwrap());

    let mut request = CommitRequest::new(&paths, "first", None);
    request.options = me();
    let first = repo.commit_paths(&request).unwrap();
    assert_eq!(repo.head_commit_id().unwrap(), Some(first));
    assert_eq!(repo.head_branch().unwrap(), Some(branch));
    assert!(repo.is_clean(&paths).unwrap());

    // A stale base is refused before anything is written.
    std::fs::write(dir.path().join("secrets/s.yaml"), "a: 2\n").unwrap();
    let mut stale = CommitRequest::new(&paths, "second", None);
    stale.options = me();
    assert!(matches!(
        repo.commit_paths(&stale),
        Err(CommitError::BranchMoved { expected: None, actual: Some(a), .. }) if a == first
    ));

    let mut request = CommitRequest::new(&paths, "second", Some(first));
    request.options = me();
    let second = repo.commit_paths(&request).unwrap();
    let commit = repo.gix().find_commit(second).unwrap();
    assert_eq!(
        commit.parent_ids().map(|p| p.detach()).collect::<Vec<_>>(),
        vec![first]
    );
    assert_eq!(commit.message_raw().unwrap(), "second");
    assert_eq!(commit.author().unwrap().name, "Test");
    // The committer falls back to the author when git config has none.
    assert!(repo.is_clean(&paths).unwrap());
}

#[test]
fn git_deleted_file_is_removed_from_the_tree() {
    let (dir, repo) = fresh();
    std::fs::write(dir.path().join("a"), "a").unwrap();
    std::fs::write(dir.path().join("b"), "b").unwrap();
    let paths = [Path::new("a"), Path::new("b")];
    let mut request = CommitRequest::new(&paths, "both", None);
    request.options = me();
    let first = repo.commit_paths(&request).unwrap();

    std::fs::remove_file(dir.path().join("b")).unwrap();
    let paths = [Path::new("b")];
    let mut request = CommitRequest::new(&paths, "drop b", Some(first));
    request.options = me();
    let second = repo.commit_paths(&request).unwrap();
    let tree = repo.gix().find_commit(second).unwrap().tree().unwrap();
    assert!(tree.lookup_entry_by_path("a").unwrap().is_some());
    assert!(tree.lookup_entry_by_path("b").unwrap().is_none());
    assert!(repo.is_clean(&[]).unwrap());
}

#[test]
fn git_invalid_identity_and_directories_are_refused() {
    let (dir, repo) = fresh();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    let paths = [Path::new("d")];
    let mut request = CommitRequest::new(&paths, "m", None);
    request.options = me();
    assert!(matches!(
        repo.commit_paths(&request),
        Err(CommitError::NotAFile { .. })
    ));
    request.options.author = Some(Identity::new("Evil <x>", "e@x"));
    assert!(matches!(
        repo.commit_paths(&request),
        Err(CommitError::InvalidIdentity { role: "author" })
    ));
    assert_eq!(repo.head_commit_id().unwrap(), None);
}

struct Collect {
    blobs: Vec<(ObjectId, Vec<u8>, Option<ObjectId>, String)>,
    messages: Vec<String>,
}

impl HistoryVisitor for Collect {
    fn message(&mut self, m: &HistoryMessage<'_>) -> ControlFlow<()> {
        self.messages.push(m.message.to_string());
        ControlFlow::Continue(())
    }
    fn blob(&mut self, b: &HistoryBlob<'_>) -> ControlFlow<()> {
        self.blobs
            .push((b.id, b.data.to_vec(), b.commit, b.path.to_string()));
        ControlFlow::Continue(())
    }
}

#[test]
fn git_history_walk_attributes_blobs_to_the_commit_that_introduced_them() {
    let (dir, repo) = fresh();
    let commit = |paths: &[&Path], msg: &str, parent| {
        let mut request = CommitRequest::new(paths, msg, parent);
        request.options = me();
        repo.commit_paths(&request).unwrap()
    };
    std::fs::write(dir.path().join("a"), "same").unwrap();
    let c1 = commit(&[Path::new("a")], "one", None);
    std::fs::write(dir.path().join("b"), "same").unwrap(); // same blob, later path
    std::fs::write(dir.path().join("c"), "new").unwrap();
    let c2 = commit(&[Path::new("b"), Path::new("c")], "two", Some(c1));

    let mut seen = Collect {
        blobs: Vec::new(),
        messages: Vec::new(),
    };
    let stats = repo
        .walk_history(&HistoryOptions::default(), &mut seen)
        .unwrap();
    assert_eq!(stats.commits, 2);
    assert_eq!(stats.blobs, 2);
    assert_eq!(seen.messages, ["one", "two"]);
    let same = seen.blobs.iter().find(|b| b.1 == b"same").unwrap();
    assert_eq!((same.2, same.3.as_str()), (Some(c1), "a"));
    let new = seen.blobs.iter().find(|b| b.1 == b"new").unwrap();
    assert_eq!((new.2, new.3.as_str()), (Some(c2), "c"));

    // Early stop.
    struct Stop;
    impl HistoryVisitor for Stop {
        fn blob(&mut self, _: &HistoryBlob<'_>) -> ControlFlow<()> {
            ControlFlow::Break(())
        }
    }
    let stats = repo
        .walk_history(&HistoryOptions::default(), &mut Stop)
        .unwrap();
    assert!(stats.stopped);
    assert_eq!(stats.blobs, 1);

    // Size limit.
    let stats = repo
        .walk_history(
            &HistoryOptions {
                max_blob_size: Some(3),
            },
            &mut seen,
        )
        .unwrap();
    assert_eq!((stats.blobs, stats.skipped_large), (1, 1));
}
