//! `ccsecrets_core::git` against real repositories: the `git` binary builds them (setup only),
//! gix through our module is what is tested, and `git` checks the results.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;

use ccsecrets_core::git::{
    CommitError, CommitRequest, DirtyPath, DirtyReason, HistoryBlob, HistoryMessage,
    HistoryOptions, HistoryVisitor, MessageKind, ObjectId, Repo,
};
use ccsecrets_tests::Sandbox;

/// Runs git in `dir` with a clean environment; panics on failure; returns trimmed stdout.
fn git(sandbox: &Sandbox, dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(sandbox, dir, args).output().expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn git_cmd(sandbox: &Sandbox, dir: &Path, args: &[&str]) -> Command {
    let mut c = sandbox.command(Path::new("git"));
    c.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("LC_ALL", "C")
        .args(["-c", "core.quotepath=off", "-c", "init.defaultBranch=main"])
        .args(args);
    c
}

fn oid(hex: &str) -> ObjectId {
    ObjectId::from_hex(hex.as_bytes()).expect("40 hex digits")
}

/// A repository in the sandbox with an identity in its local config and one commit holding
/// `secrets/secrets.yaml`, `README.md` and a `.gitignore` ignoring `*.tmp`.
fn instance_repo(sandbox: &Sandbox) -> PathBuf {
    let dir = sandbox.work().join("instance");
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    git(sandbox, &dir, &["init", "-q"]);
    git(sandbox, &dir, &["config", "user.name", "Config User"]);
    git(
        sandbox,
        &dir,
        &["config", "user.email", "config@example.invalid"],
    );
    std::fs::write(dir.join("secrets/secrets.yaml"), "tls: ENC[old]\n").unwrap();
    std::fs::write(dir.join("README.md"), "# instance\n").unwrap();
    std::fs::write(dir.join(".gitignore"), "*.tmp\n").unwrap();
    git(sandbox, &dir, &["add", "."]);
    git(sandbox, &dir, &["commit", "-q", "-m", "initial"]);
    dir
}

#[test]
fn commit_of_a_modified_file_moves_the_branch_and_leaves_status_clean() {
    let sandbox = Sandbox::new();
    let dir = instance_repo(&sandbox);
    let repo = Repo::open(&dir.join("secrets")).expect("open from a subdirectory");
    assert_eq!(repo.head_branch().unwrap().as_deref(), Some("main"));
    let base = repo.head_commit_id().unwrap().expect("one commit");
    assert_eq!(
        base.to_string(),
        git(&sandbox, &dir, &["rev-parse", "HEAD"])
    );

    std::fs::write(dir.join("secrets/secrets.yaml"), "tls: ENC[new]\n").unwrap();
    let file = Path::new("secrets/secrets.yaml");
    let message = "Renew certificate\n\nfingerprint: ab:cd\n";
    let id = repo
        .commit_paths(&CommitRequest::new(&[file], message, Some(base)))
        .expect("commit");

    assert_eq!(id.to_string(), git(&sandbox, &dir, &["rev-parse", "main"]));
    assert_eq!(
        git(&sandbox, &dir, &["rev-parse", "HEAD^"]),
        base.to_string()
    );
    assert_eq!(
        git(&sandbox, &dir, &["log", "-1", "--format=%B"]),
        message.trim_end()
    );
    assert_eq!(
        git(
            &sandbox,
            &dir,
            &["log", "-1", "--format=%an <%ae>|%cn <%ce>"]
        ),
        "Config User <config@example.invalid>|Config User <config@example.invalid>"
    );
    // The tree: the new blob at the path, everything else as before.
    assert_eq!(
        git(&sandbox, &dir, &["rev-parse", "HEAD:secrets/secrets.yaml"]),
        git(&sandbox, &dir, &["hash-object", "secrets/secrets.yaml"])
    );
    assert_eq!(
        git(&sandbox, &dir, &["diff", "--name-only", "HEAD^", "HEAD"]),
        "secrets/secrets.yaml"
    );
    assert_eq!(git(&sandbox, &dir, &["status", "--porcelain"]), "");
    assert_eq!(
        git(&sandbox, &dir, &["diff", "--cached", "--name-only"]),
        ""
    );
    assert!(git(&sandbox, &dir, &["log", "--format=%s"]).starts_with("Renew certificate\n"));
    assert!(git(&sandbox, &dir, &["reflog", "-1", "main"]).contains("commit: Renew certificate"));
    git(&sandbox, &dir, &["fsck", "--strict", "--no-progress"]);
    assert!(repo.is_clean(&[file]).unwrap());
}

#[test]
fn commit_refuses_when_the_branch_moved_behind_its_back() {
    let sandbox = Sandbox::new();
    let dir = instance_repo(&sandbox);
    let repo = Repo::open(&dir).unwrap();
    let base = repo.head_commit_id().unwrap();

    std::fs::write(dir.join("secrets/secrets.yaml"), "tls: ENC[ours]\n").unwrap();
    let file = Path::new("secrets/secrets.yaml");
    let prepared = repo
        .prepare_commit(&CommitRequest::new(&[file], "ours", base))
        .expect("prepare");
    assert_eq!(prepared.parent(), base);
    assert_eq!(prepared.branch(), "refs/heads/main");

    // Someone else commits in between.
    std::fs::write(dir.join("README.md"), "# theirs\n").unwrap();
    git(
        &sandbox,
        &dir,
        &["commit", "-q", "-m", "theirs", "README.md"],
    );
    let theirs = oid(&git(&sandbox, &dir, &["rev-parse", "main"]));

    match repo.finish_commit(prepared) {
        Err(CommitError::BranchMoved {
            branch,
            expected,
            actual,
        }) => {
            assert_eq!(branch, "refs/heads/main");
            assert_eq!(expected, base);
            assert_eq!(actual, Some(theirs));
        }
        other => panic!("expected BranchMoved, got {other:?}"),
    }
    assert_eq!(
        git(&sandbox, &dir, &["rev-parse", "main"]),
        theirs.to_string()
    );
    assert_eq!(git(&sandbox, &dir, &["log", "-1", "--format=%s"]), "theirs");
    // Our edit is still in the work tree, uncommitted.
    assert_eq!(
        git(&sandbox, &dir, &["status", "--porcelain"]),
        "M secrets/secrets.yaml"
    );

    // Starting from the stale base again is refused at once.
    assert!(matches!(
        repo.commit_paths(&CommitRequest::new(&[file], "ours", base)),
        Err(CommitError::BranchMoved { .. })
    ));
    assert_eq!(
        git(&sandbox, &dir, &["rev-parse", "main"]),
        theirs.to_string()
    );
}

#[test]
fn dirty_check_finds_modified_staged_untracked_and_deleted_files() {
    let sandbox = Sandbox::new();
    let dir = instance_repo(&sandbox);
    let repo = Repo::open(&dir).unwrap();
    let secrets = Path::new("secrets/secrets.yaml");
    let dirty = |paths: &[&Path]| -> Vec<(String, DirtyReason)> {
        repo.dirty_paths(paths)
            .unwrap()
            .into_iter()
            .map(|DirtyPath { path, reason }| (path.display().to_string(), reason))
            .collect()
    };
    let one = |reason| vec![("secrets/secrets.yaml".to_owned(), reason)];

    assert!(repo.is_clean(&[secrets]).unwrap());
    assert!(repo.is_clean(&[]).unwrap(), "whole tree clean");

    // Modified in the work tree; an unrelated dirty file does not matter.
    std::fs::write(dir.join("secrets/secrets.yaml"), "tls: ENC[edited]\n").unwrap();
    std::fs::write(dir.join("README.md"), "# edited\n").unwrap();
    assert_eq!(dirty(&[secrets]), one(DirtyReason::Modified));
    assert!(!repo.is_clean(&[secrets]).unwrap());
    // Absolute paths work too.
    assert_eq!(
        dirty(&[&dir.join("secrets/secrets.yaml")]),
        one(DirtyReason::Modified)
    );

    // Staged.
    git(&sandbox, &dir, &["add", "secrets/secrets.yaml"]);
    assert_eq!(dirty(&[secrets]), one(DirtyReason::Staged));

    // Staged, then changed back in the work tree: the index still differs from HEAD.
    std::fs::write(dir.join("secrets/secrets.yaml"), "tls: ENC[old]\n").unwrap();
    assert_eq!(
        dirty(&[secrets]),
        vec![
            ("secrets/secrets.yaml".to_owned(), DirtyReason::Staged),
            ("secrets/secrets.yaml".to_owned(), DirtyReason::Modified),
        ]
    );
    git(&sandbox, &dir, &["reset", "-q"]);
    git(&sandbox, &dir, &["checkout", "--", "README.md"]);
    assert!(repo.is_clean(&[secrets]).unwrap());
    assert!(repo.is_clean(&[]).unwrap());

    // Deleted.
    std::fs::remove_file(dir.join("secrets/secrets.yaml")).unwrap();
    assert_eq!(dirty(&[secrets]), one(DirtyReason::Deleted));
    git(&sandbox, &dir, &["checkout", "--", "secrets/secrets.yaml"]);

    // Untracked secret file, named directly or through its directory.
    std::fs::write(dir.join("secrets/extra.yaml"), "x: 1\n").unwrap();
    let extra = Path::new("secrets/extra.yaml");
    assert_eq!(
        dirty(&[extra]),
        vec![("secrets/extra.yaml".to_owned(), DirtyReason::Untracked)]
    );
    assert_eq!(
        dirty(&[Path::new("secrets")]),
        vec![("secrets/extra.yaml".to_owned(), DirtyReason::Untracked)]
    );
    assert!(repo.is_clean(&[secrets]).unwrap());
    std::fs::remove_file(dir.join("secrets/extra.yaml")).unwrap();

    // An ignored file is not in HEAD either when named explicitly, but does not make its
    // directory dirty.
    std::fs::write(dir.join("secrets/plain.tmp"), "secret\n").unwrap();
    assert_eq!(
        dirty(&[Path::new("secrets/plain.tmp")]),
        vec![("secrets/plain.tmp".to_owned(), DirtyReason::Untracked)]
    );
    assert!(repo.is_clean(&[Path::new("secrets")]).unwrap());

    // A file name with glob characters is taken literally.
    std::fs::write(dir.join("secrets/[ab].yaml"), "x\n").unwrap();
    std::fs::write(dir.join("secrets/a.yaml"), "x\n").unwrap();
    assert_eq!(
        dirty(&[Path::new("secrets/[ab].yaml")]),
        vec![("secrets/[ab].yaml".to_owned(), DirtyReason::Untracked)]
    );
}

#[derive(Default)]
struct Seen {
    blobs: Vec<(ObjectId, Vec<u8>, Option<ObjectId>, String)>,
    messages: Vec<(MessageKind, ObjectId, String)>,
}

impl HistoryVisitor for Seen {
    fn message(&mut self, m: &HistoryMessage<'_>) -> ControlFlow<()> {
        self.messages.push((m.kind, m.id, m.message.to_string()));
        ControlFlow::Continue(())
    }
    fn blob(&mut self, b: &HistoryBlob<'_>) -> ControlFlow<()> {
        self.blobs
            .push((b.id, b.data.to_vec(), b.commit, b.path.to_string()));
        ControlFlow::Continue(())
    }
}

impl Seen {
    fn blob_with(&self, needle: &str) -> &(ObjectId, Vec<u8>, Option<ObjectId>, String) {
        let found: Vec<_> = self
            .blobs
            .iter()
            .filter(|b| String::from_utf8_lossy(&b.1).contains(needle))
            .collect();
        assert_eq!(found.len(), 1, "blobs containing {needle:?}: {found:?}");
        found[0]
    }
}

#[test]
fn history_walk_visits_every_reachable_blob_once_with_its_first_commit() {
    let sandbox = Sandbox::new();
    let dir = sandbox.work().join("history");
    std::fs::create_dir_all(&dir).unwrap();
    let g = |args: &[&str]| git(&sandbox, &dir, args);
    let write = |path: &str, text: &str| {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    g(&["init", "-q"]);
    g(&["config", "user.name", "T"]);
    g(&["config", "user.email", "t@example.invalid"]);

    write("README.md", "readme v1\n");
    write("shared.txt", "base line\n");
    g(&["add", "."]);
    g(&["commit", "-q", "-m", "c1"]);
    g(&["tag", "-a", "v1", "-m", "release TAG-MESSAGE-TOKEN"]);

    write("keys/old.pem", "-----BEGIN PRIVATE KEY----- DELETED-KEY\n");
    g(&["add", "."]);
    g(&["commit", "-q", "-m", "c2 add key"]);
    let c2 = g(&["rev-parse", "HEAD"]);

    // A side branch, never merged.
    g(&["checkout", "-q", "-b", "side"]);
    write("side.key", "SIDE-BRANCH-SECRET\n");
    g(&["add", "."]);
    g(&["commit", "-q", "-m", "side"]);
    let side = g(&["rev-parse", "HEAD"]);
    g(&["checkout", "-q", "main"]);

    // Three commits later the key is deleted; one commit message carries a token.
    write("README.md", "readme v2\n");
    g(&[
        "commit",
        "-q",
        "-am",
        "c3 token AGE-SECRET-KEY-1MESSAGETOKEN",
    ]);
    write("README.md", "readme v3\n");
    g(&["commit", "-q", "-am", "c4"]);
    g(&["rm", "-q", "keys/old.pem"]);
    g(&["commit", "-q", "-m", "c5 delete key"]);

    // A conflicting merge whose resolution holds content in neither parent.
    g(&["checkout", "-q", "-b", "feature", "HEAD~2"]);
    write("shared.txt", "feature line\n");
    g(&["commit", "-q", "-am", "feature"]);
    g(&["checkout", "-q", "main"]);
    write("shared.txt", "main line\n");
    g(&["commit", "-q", "-am", "main side of conflict"]);
    let merge = git_cmd(&sandbox, &dir, &["merge", "-q", "feature"])
        .output()
        .unwrap();
    assert!(!merge.status.success(), "the merge must conflict");
    write("shared.txt", "MERGE-ONLY-RESOLUTION\n");
    g(&["add", "shared.txt"]);
    g(&["commit", "-q", "--no-edit"]);
    let merge_commit = g(&["rev-parse", "HEAD"]);
    assert_eq!(
        g(&["rev-list", "--parents", "-n1", "HEAD"])
            .split(' ')
            .count(),
        3
    );

    // Stash-only content.
    write("README.md", "STASHED-ONLY\n");
    g(&["stash", "-q"]);

    let repo = Repo::open(&dir).unwrap();
    let mut seen = Seen::default();
    let stats = repo
        .walk_history(&HistoryOptions::default(), &mut seen)
        .unwrap();

    // Exactly the blobs git considers reachable from all refs, each once.
    let expected: BTreeSet<String> = g(&["rev-list", "--objects", "--all"])
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .filter(|id| g(&["cat-file", "-t", id]) == "blob")
        .collect();
    let visited: Vec<String> = seen.blobs.iter().map(|b| b.0.to_string()).collect();
    let unique: BTreeSet<String> = visited.iter().cloned().collect();
    assert_eq!(visited.len(), unique.len(), "a blob was visited twice");
    assert_eq!(unique, expected);
    assert_eq!(stats.blobs, expected.len());

    // Every blob's content is the object's content.
    for (id, data, _, _) in &seen.blobs {
        let out = git_cmd(&sandbox, &dir, &["cat-file", "blob", &id.to_string()])
            .output()
            .unwrap();
        assert_eq!(&out.stdout, data);
    }

    let key = seen.blob_with("DELETED-KEY");
    assert_eq!(key.2.map(|c| c.to_string()), Some(c2.clone()));
    assert_eq!(key.3, "keys/old.pem");
    let side_blob = seen.blob_with("SIDE-BRANCH-SECRET");
    assert_eq!(side_blob.2.map(|c| c.to_string()), Some(side));
    assert_eq!(side_blob.3, "side.key");
    let resolution = seen.blob_with("MERGE-ONLY-RESOLUTION");
    assert_eq!(resolution.2.map(|c| c.to_string()), Some(merge_commit));
    assert_eq!(resolution.3, "shared.txt");
    let stashed = seen.blob_with("STASHED-ONLY");
    assert_eq!(stashed.3, "README.md");
    let readme = seen.blob_with("readme v1");
    assert_eq!(
        readme.2.map(|c| c.to_string()),
        Some(g(&["rev-list", "--max-parents=0", "HEAD"]))
    );

    // Messages: every commit once, the tag's, and the token.
    let commits: BTreeMap<String, usize> = seen
        .messages
        .iter()
        .filter(|m| m.0 == MessageKind::Commit)
        .fold(BTreeMap::new(), |mut acc, m| {
            *acc.entry(m.1.to_string()).or_default() += 1;
            acc
        });
    let all_commits: BTreeSet<String> = g(&["rev-list", "--all"])
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(
        commits.keys().cloned().collect::<BTreeSet<_>>(),
        all_commits
    );
    assert!(commits.values().all(|n| *n == 1));
    assert_eq!(stats.commits, all_commits.len());
    assert!(seen
        .messages
        .iter()
        .any(|m| m.0 == MessageKind::Commit && m.2.contains("AGE-SECRET-KEY-1MESSAGETOKEN")));
    assert!(seen
        .messages
        .iter()
        .any(|m| m.0 == MessageKind::Tag && m.2.contains("TAG-MESSAGE-TOKEN")));
    assert_eq!(stats.tags, 1);

    // Commits come parents first: each commit's message before any of its children's.
    let position: BTreeMap<String, usize> = seen
        .messages
        .iter()
        .filter(|m| m.0 == MessageKind::Commit)
        .enumerate()
        .map(|(i, m)| (m.1.to_string(), i))
        .collect();
    for line in g(&["rev-list", "--all", "--parents"]).lines() {
        let mut ids = line.split(' ');
        let child = position[ids.next().unwrap()];
        for parent in ids {
            assert!(position[parent] < child, "parent after child");
        }
    }
}

/// A long history (more commits than one walker thread takes, so the walk is split into
/// stretches on any machine with two or more cores), made with `git fast-import`: nested
/// directories that change a file at a time, a blob deleted and re-added hundreds of commits
/// later, a merge whose resolution alone holds a file, and tree entries whose names make one
/// entry's bytes run into the next tree's unchanged tail. git is the oracle for every answer.
#[test]
fn history_walk_over_a_long_split_history_matches_git() {
    let sandbox = Sandbox::new();
    let dir = sandbox.work().join("long");
    std::fs::create_dir_all(&dir).unwrap();
    let g = |args: &[&str]| git(&sandbox, &dir, args);
    g(&["init", "-q"]);

    let mut stream: Vec<u8> = Vec::new();
    let mut mark = 0usize;
    let mut commit = |stream: &mut Vec<u8>,
                      parents: &[usize],
                      message: &str,
                      ops: &[(&str, Option<String>)]| {
        mark += 1;
        let t = 1_700_000_000 + 60 * mark;
        stream.extend_from_slice(
            format!("commit refs/heads/main\nmark :{mark}\ncommitter T <t@example.invalid> {t} +0000\ndata {}\n{message}\n", message.len()).as_bytes(),
        );
        for (n, parent) in parents.iter().enumerate() {
            let verb = if n == 0 { "from" } else { "merge" };
            stream.extend_from_slice(format!("{verb} :{parent}\n").as_bytes());
        }
        for (path, content) in ops {
            match content {
                Some(body) => stream.extend_from_slice(
                    format!("M 100644 inline {path}\ndata {}\n{body}\n", body.len()).as_bytes(),
                ),
                None => stream.extend_from_slice(format!("D {path}\n").as_bytes()),
            }
        }
        mark
    };
    let file = |i: usize| format!("d{}/sub{}/f{i:03}.txt", i % 3, i % 2);
    let initial: Vec<(String, Option<String>)> = (0..60)
        .map(|i| (file(i), Some(format!("file {i} rev 0\n"))))
        .collect();
    let ops: Vec<(&str, Option<String>)> = initial
        .iter()
        .map(|(p, c)| (p.as_str(), c.clone()))
        .collect();
    let mut head = commit(&mut stream, &[], "initial", &ops);
    let mut marks = vec![head];
    for n in 1..700usize {
        let path = file(n % 60);
        let body = format!("file {} rev {n}\n", n % 60);
        let mut ops: Vec<(String, Option<String>)> = vec![(path, Some(body))];
        match n {
            50 => ops.push((
                "old/returning.txt".into(),
                Some("RETURNING-CONTENT\n".into()),
            )),
            60 => ops.push(("old/returning.txt".into(), None)),
            // Same blob, new path, far later: still attributed to commit 50.
            600 => ops.push((
                "new/returned.txt".into(),
                Some("RETURNING-CONTENT\n".into()),
            )),
            100 => {
                ops.push(("s/b".into(), Some("B\n".into())));
                ops.push(("s/name2".into(), Some("N\n".into())));
            }
            101 => {
                ops.push(("s/name2".into(), None));
                ops.push(("s/c100644 name2".into(), Some("N\n".into())));
            }
            102 => ops.push(("s/c100644 name2".into(), Some("STRADDLE-CHANGED\n".into()))),
            103 => ops.push(("s/z".into(), Some("Z-ADDED-LATER\n".into()))),
            _ => {}
        }
        let ops: Vec<(&str, Option<String>)> =
            ops.iter().map(|(p, c)| (p.as_str(), c.clone())).collect();
        if n == 500 {
            // A side commit and a merge whose resolution adds a file neither parent has.
            let side = commit(
                &mut stream,
                &[head],
                "side",
                &[("side.txt", Some("side\n".into()))],
            );
            let mut merge_ops = ops.clone();
            merge_ops.push(("side.txt", Some("side\n".into())));
            merge_ops.push(("merge-only.txt", Some("MERGE-ONLY-CONTENT\n".into())));
            head = commit(&mut stream, &[head, side], "merge side", &merge_ops);
        } else {
            head = commit(&mut stream, &[head], &format!("change {n}"), &ops);
        }
        marks.push(head);
    }
    let mut import = git_cmd(&sandbox, &dir, &["fast-import", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(import.stdin.as_mut().unwrap(), &stream).unwrap();
    assert!(import.wait().unwrap().success());

    let repo = Repo::open(&dir).unwrap();
    let mut seen = Seen::default();
    let stats = repo
        .walk_history(&HistoryOptions::default(), &mut seen)
        .unwrap();

    // Exactly git's reachable blobs, each once.
    let check = |input: String| {
        let mut child = git_cmd(&sandbox, &dir, &["cat-file", "--batch-check"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Written from a thread: git answers while it reads, and both pipes must keep moving.
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            std::io::Write::write_all(&mut stdin, input.as_bytes()).unwrap();
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let objects = g(&["rev-list", "--objects", "--all"]);
    let ids: String = objects
        .lines()
        .map(|l| format!("{}\n", l.split(' ').next().unwrap()))
        .collect();
    let expected: BTreeSet<String> = check(ids)
        .lines()
        .filter(|l| l.split(' ').nth(1) == Some("blob"))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    let visited: Vec<String> = seen.blobs.iter().map(|b| b.0.to_string()).collect();
    let unique: BTreeSet<String> = visited.iter().cloned().collect();
    assert_eq!(visited.len(), unique.len(), "a blob was visited twice");
    assert_eq!(unique, expected);
    assert_eq!(stats.commits, 701);

    // Each blob is at its reported path in its reported commit ...
    let lookups: String = seen
        .blobs
        .iter()
        .map(|b| format!("{}:{}\n", b.2.unwrap(), b.3))
        .collect();
    let found: Vec<String> = check(lookups)
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(found, visited, "a blob is not where the walk says");
    // ... and that commit introduced it: no parent has it anywhere.
    let mut parent_blobs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for b in &seen.blobs {
        let commit = b.2.unwrap().to_string();
        let parents = g(&["rev-list", "--parents", "-n1", &commit]);
        for parent in parents.split(' ').skip(1) {
            let blobs = parent_blobs.entry(parent.to_owned()).or_insert_with(|| {
                g(&["ls-tree", "-r", parent])
                    .lines()
                    .map(|l| l.split(['\t', ' ']).nth(2).unwrap().to_owned())
                    .collect()
            });
            assert!(
                !blobs.contains(&b.0.to_string()),
                "{} ({}) is already in a parent of {commit}",
                b.0,
                b.3
            );
        }
    }

    let returning = seen.blob_with("RETURNING-CONTENT");
    assert_eq!(returning.3, "old/returning.txt");
    let at = |n: usize| g(&["rev-parse", &format!("main~{}", 699 - n)]);
    assert_eq!(returning.2.unwrap().to_string(), at(50));
    assert_eq!(seen.blob_with("STRADDLE-CHANGED").3, "s/c100644 name2");
    assert_eq!(
        seen.blob_with("STRADDLE-CHANGED").2.unwrap().to_string(),
        at(102)
    );
    assert_eq!(seen.blob_with("Z-ADDED-LATER").3, "s/z");
    assert_eq!(seen.blob_with("MERGE-ONLY-CONTENT").3, "merge-only.txt");

    // Messages: every commit once, parents first.
    let position: BTreeMap<String, usize> = seen
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| (m.1.to_string(), i))
        .collect();
    assert_eq!(position.len(), seen.messages.len());
    assert_eq!(position.len(), stats.commits);
    for line in g(&["rev-list", "--all", "--parents"]).lines() {
        let mut ids = line.split(' ');
        let child = position[ids.next().unwrap()];
        for parent in ids {
            assert!(position[parent] < child, "parent after child");
        }
    }
    let _ = marks;

    // Stopping inside a later stretch ends the walk (every walker thread stops and is joined).
    struct StopAfter(usize);
    impl HistoryVisitor for StopAfter {
        fn blob(&mut self, _: &HistoryBlob<'_>) -> ControlFlow<()> {
            if self.0 == 0 {
                return ControlFlow::Break(());
            }
            self.0 -= 1;
            ControlFlow::Continue(())
        }
    }
    let total = seen.blobs.len();
    assert!(total > 750, "{total} blobs");
    let stats = repo
        .walk_history(&HistoryOptions::default(), &mut StopAfter(total - 50))
        .unwrap();
    assert!(stats.stopped);
    assert_eq!(stats.blobs, total - 49);
}

#[test]
fn index_and_worktree_sources() {
    let sandbox = Sandbox::new();
    let dir = instance_repo(&sandbox);
    std::fs::write(dir.join("staged.txt"), "STAGED-CONTENT\n").unwrap();
    git(&sandbox, &dir, &["add", "staged.txt"]);
    std::fs::write(dir.join("staged.txt"), "WORKTREE-CONTENT\n").unwrap();
    std::fs::create_dir_all(dir.join("new")).unwrap();
    std::fs::write(dir.join("new/untracked.txt"), "UNTRACKED\n").unwrap();
    std::fs::write(dir.join("ignored.tmp"), "IGNORED\n").unwrap();
    let repo = Repo::open(&dir).unwrap();

    let mut index = Vec::new();
    repo.walk_index(&HistoryOptions::default(), &mut |b| {
        index.push((b.path.to_string(), b.data.to_vec()));
        ControlFlow::Continue(())
    })
    .unwrap();
    let index: BTreeMap<_, _> = index.into_iter().collect();
    assert_eq!(index["staged.txt"], b"STAGED-CONTENT\n");
    assert!(index.contains_key("secrets/secrets.yaml"));
    assert_eq!(index.len(), 4);

    let mut files = Vec::new();
    repo.walk_worktree(&HistoryOptions::default(), &mut |f| {
        files.push((f.path.to_string(), (f.tracked, f.data.to_vec())));
        ControlFlow::Continue(())
    })
    .unwrap();
    let files: BTreeMap<_, _> = files.into_iter().collect();
    assert_eq!(files["staged.txt"], (true, b"WORKTREE-CONTENT\n".to_vec()));
    assert_eq!(files["new/untracked.txt"], (false, b"UNTRACKED\n".to_vec()));
    assert!(files["README.md"].0);
    assert!(!files.contains_key("ignored.tmp"));
    assert!(!files.keys().any(|k| k.starts_with(".git/")));
}

#[test]
fn clone_of_a_local_repository_by_path_and_file_url() {
    let sandbox = Sandbox::new();
    let dir = instance_repo(&sandbox);
    std::fs::write(dir.join("README.md"), "# second\n").unwrap();
    git(&sandbox, &dir, &["commit", "-q", "-am", "second"]);
    let head = git(&sandbox, &dir, &["rev-parse", "HEAD"]);

    let by_path = sandbox.work().join("by-path");
    let url = format!("file://{}", dir.display());
    let by_url = sandbox.work().join("by-url");
    for (source, dest) in [(dir.display().to_string(), &by_path), (url, &by_url)] {
        let clone = ccsecrets_core::git::clone(&source, dest).expect("clone");
        assert_eq!(
            clone.head_commit_id().unwrap().map(|c| c.to_string()),
            Some(head.clone())
        );
        assert_eq!(clone.head_branch().unwrap().as_deref(), Some("main"));
        assert_eq!(
            std::fs::read(dest.join("secrets/secrets.yaml")).unwrap(),
            b"tls: ENC[old]\n"
        );
        assert_eq!(git(&sandbox, dest, &["status", "--porcelain"]), "");
        assert!(clone.is_clean(&[]).unwrap());
    }

    // A non-empty destination is refused.
    assert!(matches!(
        ccsecrets_core::git::clone(&dir.display().to_string(), &by_path),
        Err(ccsecrets_core::git::CloneError::DestinationExists { .. })
    ));
}
