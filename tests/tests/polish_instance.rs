//! Hardening of the instance commands: where `init` may put the bootstrap key, and how.

mod instance_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ccsecrets_tests::ok;
use instance_support::*;

fn init_with_key(sb: &ccsecrets_tests::Sandbox, inst: &Path, key: &str) -> std::process::Output {
    run_init(sb, inst, Path::new(key), &[])
}

/// Every entry under `dir`, for "nothing was created" checks.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() && !p.is_symlink() && p.file_name().unwrap() != ".git" {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn init_refuses_key_paths_that_reach_a_work_tree_through_dot_dot_or_symlinks() {
    let sb = sandbox();
    let repo = sb.work().join("repo");
    std::fs::create_dir_all(repo.join("sub")).unwrap();
    git(&sb, &repo, &["init", "-q"]);
    std::os::unix::fs::symlink(repo.join("sub"), sb.work().join("link")).unwrap();
    let inst = sb.work().join("inst");
    let before = tree(&sb.work());

    let work = sb.work();
    let cases = [
        // A directory that does not exist yet, then `..`: the key would land in the repo.
        work.join("new/../repo/boot.txt").display().to_string(),
        work.join("new/deeper/../../repo/sub/boot.txt")
            .display()
            .to_string(),
        // Relative to the working directory (the sandbox's work dir).
        "new/../repo/boot.txt".to_owned(),
        // Through a symlink to a directory inside the repo.
        work.join("link/boot.txt").display().to_string(),
        work.join("link/fresh/../boot.txt").display().to_string(),
        // Into the instance being created.
        work.join("x/../inst/boot.txt").display().to_string(),
    ];
    for key in &cases {
        let out = init_with_key(&sb, &inst, key);
        assert_eq!(out.status.code(), Some(1), "{key}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("inside the git work tree") && err.contains(key.as_str()),
            "{key}: names the key and the problem: {err}"
        );
        assert_eq!(tree(&sb.work()), before, "{key}: nothing created");
    }
}

#[test]
fn init_never_follows_or_replaces_a_planted_symlink_at_the_key_path() {
    let sb = sandbox();
    let inst = sb.work().join("inst");
    let victim = sb.dir.path().join("victim.txt");
    let link = sb.dir.path().join("boot.txt");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    for existing_target in [false, true] {
        if existing_target {
            std::fs::write(&victim, "keep me\n").unwrap();
        }
        let out = init_with_key(&sb, &inst, link.to_str().unwrap());
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read_to_string(&victim).ok(),
            existing_target.then(|| "keep me\n".to_owned())
        );
        assert!(!inst.exists());
    }
}

#[test]
fn init_writes_the_key_0600_where_the_dot_dot_path_resolves() {
    let sb = sandbox();
    let inst = sb.work().join("inst");
    let keys = sb.dir.path().join("keys");
    let given = keys.join("tmp/../boot.txt");
    let out = init_with_key(&sb, &inst, given.to_str().unwrap());
    ok(out, "init");
    let key = keys.join("boot.txt");
    let meta = std::fs::symlink_metadata(&key).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert!(!keys.join("tmp").exists(), "no stray directory");
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(text.contains("AGE-SECRET-KEY-1"));
    // Only the key is left: no temp file beside it.
    assert_eq!(std::fs::read_dir(&keys).unwrap().count(), 1);
}

/// Clears the immutable attribute again however the test ends (else the sandbox cannot be
/// removed).
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn set(path: &Path) -> Immutable {
        let out = ccsecrets_tests::run(
            {
                let mut c = std::process::Command::new("chattr");
                c.arg("+i").arg(path);
                c
            },
            None,
        );
        assert!(
            out.status.success(),
            "chattr +i (needs root on ext2/3/4, like this test): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Immutable(path.to_owned())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

/// The write phase itself fails on the 2nd of 3 files: its rename is refused (an immutable
/// file), after the 1st was already renamed into place. The 1st must get its bytes and mode
/// back, the 3rd must never change, and no temp file may be left behind.
#[test]
fn rekey_rolls_back_the_first_file_when_renaming_the_second_fails() {
    let sb = sandbox();
    let (inst, boot, _) = init_instance(&sb, &[]);
    let i = inst.to_str().unwrap();
    for name in ["app", "zz"] {
        let p = format!("secrets/{name}.yaml");
        std::fs::write(inst.join(&p), "token: s3cret\n").unwrap();
        let mut c = sb.sops();
        c.current_dir(&inst).args(["encrypt", "-i", &p]);
        ok(ccsecrets_tests::run(c, None), "sops encrypt");
    }
    std::fs::set_permissions(
        inst.join("secrets/app.yaml"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let (_, new_r) = age_keygen(&sb, "new.txt");
    ok(
        ccs(
            &sb,
            None,
            &["recipients", "add", "--instance", i, "--age", &new_r],
        ),
        "add",
    );
    // Files in path order: secrets/app.yaml, secrets/secrets.yaml, secrets/zz.yaml.
    let second = inst.join("secrets/secrets.yaml");
    let before = snapshot(&sb, &inst);
    let out = {
        let _guard = Immutable::set(&second);
        ccs(&sb, Some(&boot), &["rekey", "--instance", i])
    };
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("secrets/secrets.yaml"),
        "names the file: {}",
        stderr(&out)
    );
    assert_eq!(
        snapshot(&sb, &inst),
        before,
        "every file has its bytes back"
    );
    assert_eq!(
        std::fs::metadata(inst.join("secrets/app.yaml"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640,
        "and its mode"
    );
    let leftovers: Vec<_> = std::fs::read_dir(inst.join("secrets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("ccsecrets-"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    // And with the attribute gone the same rekey goes through.
    ok(ccs(&sb, Some(&boot), &["rekey", "--instance", i]), "rekey");
}

/// A private host key given where the public one belongs (as text or as a file) is refused
/// without a single line of it reaching the terminal.
#[test]
fn a_private_key_given_as_host_key_is_never_echoed() {
    let sb = sandbox();
    let (private, _) = ssh_host_key(&sb, "host");
    let text = std::fs::read_to_string(&private).unwrap();
    let body: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 8)
        .collect();
    assert!(!body.is_empty());
    let inst = sb.work().join("inst");
    let key = sb.dir.path().join("boot.txt");
    for value in [text.as_str(), private.to_str().unwrap()] {
        let out = run_init(&sb, &inst, &key, &["--host-key", value]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let all = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
        assert!(all.contains("private key"), "{all}");
        for line in &body {
            assert!(!all.contains(line), "key material echoed: {all}");
        }
        assert!(!inst.exists() && !key.exists());
    }
    let (inst, _, _) = init_instance(&sb, &[]);
    let before = snapshot(&sb, &inst);
    let out = ccs(
        &sb,
        None,
        &[
            "recipients",
            "add",
            "--instance",
            inst.to_str().unwrap(),
            "--host-key",
            &text,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    for line in &body {
        assert!(!stderr(&out).contains(line), "echoed: {}", stderr(&out));
    }
    assert_eq!(snapshot(&sb, &inst), before);
}

/// `recipients add|remove` edit only the groups they concern: an unrelated rule keeps its
/// scalar `age:` form and settings, comments between key groups and above recipients stay, a
/// `--group` that would silently start a new group in one rule but not in another is refused,
/// and the real sops still reads the result.
#[test]
fn recipient_edits_leave_unrelated_rules_and_comments_alone() {
    let sb = sandbox();
    let (inst, _, bootstrap) = init_instance(&sb, &[]);
    let (_, alice) = age_keygen(&sb, "alice.txt");
    let (_, carol) = age_keygen(&sb, "carol.txt");
    let (_, offline) = age_keygen(&sb, "offline.txt");
    let (_, bob) = age_keygen(&sb, "bob.txt");
    let policy = format!(
        "# Top comment, keep me.\n\
         creation_rules:\n\
         \x20   # rule for other files\n\
         \x20   - path_regex: other/.*\\.json$\n\
         \x20     age: {bootstrap},{carol}\n\
         \x20     encrypted_regex: ^(data|stringData)$\n\
         \x20   - path_regex: secrets/.*\\.yaml$\n\
         \x20     key_groups:\n\
         \x20         # group 0: online keys\n\
         \x20         - age:\n\
         \x20             # bootstrap key\n\
         \x20             - {bootstrap}\n\
         \x20             # operator alice\n\
         \x20             - {alice}\n\
         \x20         # group 1: the offline key\n\
         \x20         - age:\n\
         \x20             - {offline}\n\
         # trailing comment\n"
    );
    let path = inst.join(".sops.yaml");
    std::fs::write(&path, &policy).unwrap();
    let i = inst.to_str().unwrap();
    ok(
        ccs(
            &sb,
            None,
            &["recipients", "remove", "--instance", i, "--age", &alice],
        ),
        "remove",
    );
    let after = std::fs::read_to_string(&path).unwrap();
    for kept in [
        "# Top comment, keep me.",
        "# rule for other files",
        &format!("age: {bootstrap},{carol}"),
        "encrypted_regex: ^(data|stringData)$",
        "# group 0: online keys",
        "# bootstrap key",
        "# group 1: the offline key",
        "# trailing comment",
    ] {
        assert!(after.contains(kept), "{kept:?} kept in:\n{after}");
    }
    assert!(
        !after.contains(&alice) && !after.contains("# operator alice"),
        "{after}"
    );

    // Group 1 exists in the second rule but would be a new group in the first.
    let out = ccs(
        &sb,
        None,
        &[
            "recipients",
            "add",
            "--instance",
            i,
            "--age",
            &bob,
            "--group",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(".sops.yaml") && stderr(&out).contains("new key group"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        after,
        "refusal changed the policy"
    );

    ok(
        ccs(
            &sb,
            None,
            &[
                "recipients",
                "add",
                "--instance",
                i,
                "--age",
                &bob,
                "--label",
                "operator bob",
            ],
        ),
        "add",
    );
    let after = std::fs::read_to_string(&path).unwrap();
    for kept in [
        "# group 0: online keys",
        "# group 1: the offline key",
        "# operator bob",
    ] {
        assert!(after.contains(kept), "{kept:?} kept in:\n{after}");
    }
    // The real sops encrypts a file under the first rule to its recipients, bob included.
    std::fs::create_dir_all(inst.join("other")).unwrap();
    std::fs::write(inst.join("other/a.json"), "{\"data\": \"x\"}").unwrap();
    let mut c = sb.sops();
    c.current_dir(&inst).args(["encrypt", "other/a.json"]);
    let enc = String::from_utf8(ok(ccsecrets_tests::run(c, None), "sops encrypt")).unwrap();
    for r in [&bootstrap, &carol, &bob] {
        assert!(enc.contains(r.as_str()), "{r} in {enc}");
    }
    assert!(
        !enc.contains(&offline),
        "the first rule has no offline group: {enc}"
    );
}

/// A read-only file among those rekey replaces refuses the whole batch before anything is
/// written (a rename would otherwise replace it regardless of its mode, even as root).
#[test]
fn rekey_refuses_a_read_only_file_and_changes_nothing() {
    let sb = sandbox();
    let (inst, boot, _) = init_instance(&sb, &[]);
    let i = inst.to_str().unwrap();
    for name in ["app", "zz"] {
        let p = format!("secrets/{name}.yaml");
        std::fs::write(inst.join(&p), "token: s3cret\n").unwrap();
        let mut c = sb.sops();
        c.current_dir(&inst).args(["encrypt", "-i", &p]);
        ok(ccsecrets_tests::run(c, None), "sops encrypt");
    }
    let (_, new_r) = age_keygen(&sb, "new.txt");
    ok(
        ccs(
            &sb,
            None,
            &["recipients", "add", "--instance", i, "--age", &new_r],
        ),
        "add",
    );
    let second = inst.join("secrets/secrets.yaml");
    std::fs::set_permissions(&second, std::fs::Permissions::from_mode(0o444)).unwrap();
    let before = snapshot(&sb, &inst);
    let out = ccs(&sb, Some(&boot), &["rekey", "--instance", i]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("secrets/secrets.yaml") && stderr(&out).contains("read-only"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(&sb, &inst), before);
    assert_eq!(
        std::fs::metadata(&second).unwrap().permissions().mode() & 0o777,
        0o444
    );
    std::fs::set_permissions(&second, std::fs::Permissions::from_mode(0o644)).unwrap();
    ok(ccs(&sb, Some(&boot), &["rekey", "--instance", i]), "rekey");
}

/// A failed init (here: no git identity for the commit) also removes the parent directories
/// it created for the repository, not only the repository.
#[test]
fn a_failed_init_removes_the_directories_it_created() {
    let sb = ccsecrets_tests::Sandbox::new(); // no git identity
    let before = tree(sb.dir.path());
    let inst = sb.work().join("x/y/inst");
    let key = sb.dir.path().join("k/l/boot.txt");
    let out = run_init(&sb, &inst, &key, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("identity"), "{}", stderr(&out));
    assert_eq!(tree(sb.dir.path()), before, "nothing left behind");
}

/// A `.sops.yaml` written with 2-space indentation keeps it: `recipients add` inserts its two
/// lines and changes no other.
#[test]
fn recipients_add_keeps_the_files_indentation() {
    let sb = sandbox();
    let (inst, _, bootstrap) = init_instance(&sb, &[]);
    let (_, bob) = age_keygen(&sb, "bob.txt");
    let head = format!(
        "# two-space style\ncreation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    key_groups:\n      - age:\n          - {bootstrap}\n"
    );
    let path = inst.join(".sops.yaml");
    std::fs::write(&path, &head).unwrap();
    ok(
        ccs(
            &sb,
            None,
            &[
                "recipients",
                "add",
                "--instance",
                inst.to_str().unwrap(),
                "--age",
                &bob,
                "--label",
                "bob",
            ],
        ),
        "add",
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{head}          # bob\n          - {bob}\n")
    );
}
