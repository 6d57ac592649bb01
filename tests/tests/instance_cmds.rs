//! `ccsecrets init`, `cert renew`, `recipients` and `rekey` on real temp git repositories,
//! checked with the real `sops` (decryption), `git` (history, status) and `ssh-keygen`/
//! `age-keygen` (keys). Certificates are made here with rcgen.

mod instance_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ccsecrets_core::git::CommitError;
use ccsecrets_core::instance::{renew, Instance, RenewError, RenewRequest};
use ccsecrets_core::keys::Identity;
use ccsecrets_tests::ok;
use instance_support::*;

fn secrets(inst: &Path) -> std::path::PathBuf {
    inst.join("secrets/secrets.yaml")
}

/// The keys whose lines differ, besides `lastmodified` (which changes unless both writes fall
/// in the same second).
fn tls_only(before: &str, after: &str) -> Vec<String> {
    let mut changed = changed_keys(before, after);
    changed.retain(|k| k != "lastmodified");
    changed.sort();
    changed
}

fn renew_args<'a>(inst: &'a str, chain: &'a str, key: &'a str) -> Vec<&'a str> {
    vec![
        "cert",
        "renew",
        "--instance",
        inst,
        "--fullchain",
        chain,
        "--key",
        key,
        "--commit",
    ]
}

#[test]
fn init_makes_a_repo_sops_opens_with_the_bootstrap_key_and_validate_lists_the_placeholders() {
    let sb = sandbox();
    let (inst, key, recipient) = init_instance(&sb, &[]);

    // The key: 0600, age-keygen's format, its recipient printed.
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let key_text = std::fs::read_to_string(&key).unwrap();
    assert!(key_text.contains(&format!("# public key: {recipient}\n")));
    assert!(recipient.starts_with("age1"));
    assert!(!inst.join("bootstrap.txt").exists());

    // The files, and one clean commit made through gix, seen by git.
    let nix = std::fs::read_to_string(inst.join("instance.nix")).unwrap();
    assert!(nix.contains(&format!("domain = \"{DOMAIN}\";")), "{nix}");
    let policy = std::fs::read_to_string(inst.join(".sops.yaml")).unwrap();
    assert!(policy.contains(&recipient), "{policy}");
    assert_eq!(git(&sb, &inst, &["status", "--porcelain"]), "");
    let files = git(&sb, &inst, &["ls-tree", "-r", "--name-only", "HEAD"]);
    assert_eq!(files, ".sops.yaml\ninstance.nix\nsecrets/secrets.yaml\n");
    assert_eq!(
        git(&sb, &inst, &["rev-list", "--count", "HEAD"]).trim(),
        "1"
    );
    let raw = std::fs::read_to_string(secrets(&inst)).unwrap();
    assert!(!raw.contains("PLACEHOLDER"), "values are encrypted");

    // The real sops opens it with the bootstrap key.
    let plain =
        String::from_utf8(ok(sops_decrypt(&sb, &key, &secrets(&inst)), "sops decrypt")).unwrap();
    let value = |k: &str| {
        plain
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{k}: ")))
            .unwrap_or_else(|| panic!("{k} in {plain}"))
            .to_owned()
    };
    let rpc = value("rpc_secret");
    let hmac = value("hmac");
    assert_eq!(rpc.len(), 32);
    assert_eq!(hmac.len(), 64);
    assert!(rpc
        .chars()
        .chain(hmac.chars())
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert!(plain.contains("registry: {}"), "{plain}");
    for k in [
        "fullchain",
        "privkey",
        "oauth_client_id",
        "oauth_client_secret",
    ] {
        assert!(value(k).starts_with("'PLACEHOLDER: "), "{k}");
    }

    // A second instance has different random secrets.
    let sb2 = sandbox();
    let (inst2, key2, _) = init_instance(&sb2, &[]);
    let plain2 = String::from_utf8(ok(
        sops_decrypt(&sb2, &key2, &secrets(&inst2)),
        "sops decrypt",
    ))
    .unwrap();
    assert!(!plain2.contains(&rpc) && !plain2.contains(&hmac));

    // validate: exactly the four placeholders are errors.
    let out = ccs(
        &sb,
        Some(&key),
        &["validate", "--instance", inst.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut errors: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(": error: "))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        [
            "drone.oauth_client_id",
            "drone.oauth_client_secret",
            "tls.fullchain",
            "tls.privkey"
        ],
        "{stdout}"
    );
    assert!(!stdout.contains(&rpc) && !stdout.contains(&hmac));
}

#[test]
fn init_refuses_a_key_inside_a_work_tree_an_existing_key_and_a_non_empty_dir() {
    let sb = sandbox();
    let repo = sb.work().join("other-repo");
    std::fs::create_dir_all(repo.join("sub")).unwrap();
    git(&sb, &repo, &["init", "-q"]);
    let inst = sb.work().join("inst");
    let inside = repo.join("sub/deeper/boot.txt");
    let out = run_init(&sb, &inst, &inside, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("inside the git work tree"),
        "{}",
        stderr(&out)
    );
    assert!(!inst.exists() && !inside.exists() && !repo.join("sub/deeper").exists());

    // The new instance itself is a work tree too.
    let out = run_init(&sb, &inst, &inst.join("boot.txt"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!inst.exists());

    // An existing key is never overwritten.
    let existing = sb.dir.path().join("existing.txt");
    std::fs::write(&existing, "keep me\n").unwrap();
    let out = run_init(&sb, &inst, &existing, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me\n");
    assert!(!inst.exists());

    // A directory with files in it is refused; a bad domain too.
    std::fs::create_dir_all(&inst).unwrap();
    std::fs::write(inst.join("notes"), "x").unwrap();
    let key = sb.dir.path().join("k.txt");
    let out = run_init(&sb, &inst, &key, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!key.exists() && !inst.join(".git").exists());
    let out = ccs(
        &sb,
        None,
        &[
            "init",
            "--domain",
            "not a domain",
            "--dir",
            sb.work().join("x").to_str().unwrap(),
            "--bootstrap-key-out",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!key.exists());
}

#[test]
fn init_host_keys_open_the_secrets_through_the_ssh_to_age_identity() {
    let sb = sandbox();
    let (host, host_pub) = ssh_host_key(&sb, "host");
    let pub_file = host.with_extension("pub");
    let (inst, _key, _) = init_instance(&sb, &["--host-key", pub_file.to_str().unwrap()]);
    let policy = std::fs::read_to_string(inst.join(".sops.yaml")).unwrap();
    assert!(
        !policy.contains("ssh-ed25519 AAAA"),
        "converted to age: {policy}"
    );
    assert!(policy.contains("# host key ssh-ed25519 …"), "{policy}");
    let _ = host_pub;
    let identity = host_age_identity(&sb, &host);
    ok(
        sops_decrypt(&sb, &identity, &secrets(&inst)),
        "sops decrypt with the host's converted identity",
    );
}

#[test]
fn cert_renew_replaces_only_the_tls_values_commits_and_is_idempotent() {
    let sb = sandbox();
    let (inst, key, _) = init_instance(&sb, &[]);
    let i = inst.to_str().unwrap();
    let ca = ca("renew test CA");
    let first = wildcard(&ca, 90, 0x1001);
    let (c1, k1) = write_pair(&sb, "first", &first.fullchain, &first.key);
    let before = std::fs::read_to_string(secrets(&inst)).unwrap();
    let head0 = git(&sb, &inst, &["rev-parse", "HEAD"]);

    let out = ccs(
        &sb,
        Some(&key),
        &renew_args(i, c1.to_str().unwrap(), k1.to_str().unwrap()),
    );
    let commit = String::from_utf8(ok(out, "cert renew"))
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(git(&sb, &inst, &["rev-parse", "HEAD"]).trim(), commit);
    assert_eq!(git(&sb, &inst, &["rev-parse", "HEAD~1"]), head0);
    assert_eq!(git(&sb, &inst, &["status", "--porcelain"]), "");

    // Only the two tls values, mac and lastmodified changed: every other ciphertext (and
    // every age stanza) is byte for byte the same.
    let after = std::fs::read_to_string(secrets(&inst)).unwrap();
    assert_eq!(tls_only(&before, &after), ["fullchain", "mac", "privkey"]);
    assert_eq!(
        git(&sb, &inst, &["diff", "--name-only", "HEAD~1", "HEAD"]),
        "secrets/secrets.yaml\n"
    );

    // The commit message carries the leaf's public facts.
    let msg = git(&sb, &inst, &["log", "-1", "--format=%B"]);
    assert!(msg.contains(&first.sha256), "{msg}");
    assert!(
        msg.contains(&format!("Serial:      {}", first.serial)),
        "{msg}"
    );
    assert!(msg.contains(&format!("*.{DOMAIN}, {DOMAIN}")), "{msg}");
    assert!(
        msg.contains("Not before:") && msg.contains("Not after:"),
        "{msg}"
    );
    assert!(!msg.contains("PRIVATE KEY"));

    // The real sops gives back the new chain and key.
    let plain = String::from_utf8(ok(sops_decrypt(&sb, &key, &secrets(&inst)), "sops")).unwrap();
    let leaf_body = first.pem.lines().nth(1).unwrap();
    assert!(plain.contains(leaf_body));
    assert!(plain.contains(first.key.lines().nth(1).unwrap()));

    // The same certificate again: exit 0, nothing written, no commit.
    let out = ccs(
        &sb,
        Some(&key),
        &renew_args(i, c1.to_str().unwrap(), k1.to_str().unwrap()),
    );
    ok(out, "cert renew again");
    assert_eq!(std::fs::read_to_string(secrets(&inst)).unwrap(), after);
    assert_eq!(git(&sb, &inst, &["rev-parse", "HEAD"]).trim(), commit);

    // A newer certificate replaces it.
    let second = wildcard(&ca, 180, 0x1002);
    let (c2, k2) = write_pair(&sb, "second", &second.fullchain, &second.key);
    let out = ccs(
        &sb,
        Some(&key),
        &renew_args(i, c2.to_str().unwrap(), k2.to_str().unwrap()),
    );
    ok(out, "cert renew with a newer certificate");
    let msg = git(&sb, &inst, &["log", "-1", "--format=%B"]);
    assert!(
        msg.contains(&second.sha256) && msg.contains(&first.sha256),
        "{msg}"
    );
    assert_eq!(
        git(&sb, &inst, &["rev-list", "--count", "HEAD"]).trim(),
        "3"
    );
    let final_text = std::fs::read_to_string(secrets(&inst)).unwrap();
    assert_eq!(
        tls_only(&after, &final_text),
        ["fullchain", "mac", "privkey"]
    );
}

#[test]
fn cert_renew_refusals_change_nothing() {
    let sb = sandbox();
    let (inst, key, _) = init_instance(&sb, &[]);
    let i = inst.to_str().unwrap();
    let ca = ca("refusal test CA");
    let current = wildcard(&ca, 120, 7);
    let (c, k) = write_pair(&sb, "current", &current.fullchain, &current.key);
    ok(
        ccs(
            &sb,
            Some(&key),
            &renew_args(i, c.to_str().unwrap(), k.to_str().unwrap()),
        ),
        "first renew",
    );

    let other_key = wildcard(&ca, 200, 8).key;
    let older = wildcard(&ca, 60, 9);
    let other_domain = leaf_for(&ca, &["*.other.test", "other.test"], -1, 200, 10);
    // Valid from 30 days ago until yesterday.
    let expired = leaf_for(&ca, &[&format!("*.{DOMAIN}"), DOMAIN], -30, -1, 11);
    let short = wildcard(&ca, 3, 12);
    let newer = wildcard(&ca, 300, 13);
    let reversed = format!("{}{}", ca.pem, newer.pem);
    let cases: Vec<(&str, String, String, &str)> = vec![
        (
            "mismatched key",
            newer.fullchain.clone(),
            other_key,
            "does not match the leaf",
        ),
        (
            "older",
            older.fullchain.clone(),
            older.key.clone(),
            "does not expire later",
        ),
        (
            "wrong SANs",
            other_domain.fullchain.clone(),
            other_domain.key.clone(),
            "does not cover",
        ),
        (
            "expired",
            expired.fullchain.clone(),
            expired.key.clone(),
            "expired",
        ),
        (
            "expires too soon",
            short.fullchain.clone(),
            short.key.clone(),
            "--min-days",
        ),
        ("chain reversed", reversed, newer.key.clone(), "chain order"),
    ];
    for (what, chain, pkey, expect) in cases {
        let before = snapshot(&sb, &inst);
        let (c, k) = write_pair(&sb, "case", &chain, &pkey);
        let out = ccs(
            &sb,
            Some(&key),
            &renew_args(i, c.to_str().unwrap(), k.to_str().unwrap()),
        );
        assert_eq!(out.status.code(), Some(1), "{what}: {}", stderr(&out));
        assert!(stderr(&out).contains(expect), "{what}: {}", stderr(&out));
        assert!(!stderr(&out).contains("PRIVATE KEY"), "{what}");
        assert_eq!(snapshot(&sb, &inst), before, "{what} changed something");
    }

    // Uncommitted changes in the secrets file: refused, the edit kept as it was.
    let path = secrets(&inst);
    let mut dirty = std::fs::read(&path).unwrap();
    dirty.extend_from_slice(b"# local edit\n");
    std::fs::write(&path, &dirty).unwrap();
    let before = snapshot(&sb, &inst);
    let (c, k) = write_pair(&sb, "newer", &newer.fullchain, &newer.key);
    let out = ccs(
        &sb,
        Some(&key),
        &renew_args(i, c.to_str().unwrap(), k.to_str().unwrap()),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("uncommitted changes"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(&sb, &inst), before);

    // Once clean again, the valid newer pair goes in.
    git(&sb, &inst, &["checkout", "--", "secrets/secrets.yaml"]);
    ok(
        ccs(
            &sb,
            Some(&key),
            &renew_args(i, c.to_str().unwrap(), k.to_str().unwrap()),
        ),
        "renew after cleaning",
    );
}

#[test]
fn cert_renew_refuses_when_the_branch_moved_and_restores_the_file() {
    let sb = sandbox();
    let (inst, key, _) = init_instance(&sb, &[]);
    let base = git(&sb, &inst, &["rev-parse", "HEAD"]).trim().to_owned();
    // Someone else commits meanwhile.
    std::fs::write(inst.join("README.md"), "# instance\n").unwrap();
    git(&sb, &inst, &["add", "README.md"]);
    git(&sb, &inst, &["commit", "-q", "-m", "concurrent"]);
    let before = snapshot(&sb, &inst);

    let ca = ca("cas test CA");
    let leaf = wildcard(&ca, 90, 1);
    let ids = Identity::parse_list(&std::fs::read_to_string(&key).unwrap(), "key").unwrap();
    let instance = Instance::open(&inst).unwrap();
    let req = RenewRequest {
        fullchain: &leaf.fullchain,
        privkey: &leaf.key,
        now: std::time::SystemTime::now(),
        min_days: 7,
        commit: Some(Default::default()),
        expected_head: Some(ccsecrets_core::git::ObjectId::from_hex(base.as_bytes()).unwrap()),
        store: Default::default(),
    };
    let err = renew(&instance, &ids, &req).unwrap_err();
    assert!(
        matches!(err, RenewError::Commit(CommitError::BranchMoved { .. })),
        "{err}"
    );
    assert_eq!(snapshot(&sb, &inst), before);
}

#[test]
fn recipients_add_remove_and_rekey_across_three_files() {
    let sb = sandbox();
    let (inst, boot, boot_r) = init_instance(&sb, &[]);
    let i = inst.to_str().unwrap();
    // Two more secrets files, encrypted by the real sops under the instance's own policy.
    for name in ["app", "extra"] {
        let p = inst.join(format!("secrets/{name}.yaml"));
        std::fs::write(&p, format!("{name}_token: s3cret-{name}\n")).unwrap();
        let mut c = sb.sops();
        c.current_dir(&inst)
            .args(["encrypt", "-i", &format!("secrets/{name}.yaml")]);
        ok(ccsecrets_tests::run(c, None), "sops encrypt");
    }
    git(&sb, &inst, &["add", "secrets"]);
    git(&sb, &inst, &["commit", "-q", "-m", "more secrets"]);
    let files: Vec<_> = ["app", "extra", "secrets"]
        .iter()
        .map(|n| inst.join(format!("secrets/{n}.yaml")))
        .collect();

    // Add a host key (converted to age) and a new operator key.
    let (host, _) = ssh_host_key(&sb, "host");
    let (newkey, new_r) = age_keygen(&sb, "new-bootstrap.txt");
    ok(
        ccs(
            &sb,
            None,
            &[
                "recipients",
                "add",
                "--instance",
                i,
                "--host-key",
                host.with_extension("pub").to_str().unwrap(),
            ],
        ),
        "recipients add --host-key",
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
                &new_r,
                "--label",
                "new bootstrap key",
            ],
        ),
        "recipients add --age",
    );
    let list = String::from_utf8(ok(
        ccs(&sb, None, &["recipients", "list", "--instance", i]),
        "list",
    ))
    .unwrap();
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(
        list.contains(&new_r) && list.contains("# new bootstrap key"),
        "{list}"
    );
    // Policy only: no file changed yet, the new key opens nothing.
    assert!(!sops_decrypt(&sb, &newkey, &files[0]).status.success());

    // Dry run writes nothing.
    let before = snapshot(&sb, &inst);
    ok(
        ccs(&sb, Some(&boot), &["rekey", "--instance", i, "--dry-run"]),
        "dry run",
    );
    assert_eq!(snapshot(&sb, &inst), before);

    let out = ccs(&sb, Some(&boot), &["rekey", "--instance", i, "--commit"]);
    ok(out, "rekey --commit");
    assert_eq!(git(&sb, &inst, &["status", "--porcelain"]), "");
    let changed = git(&sb, &inst, &["diff", "--name-only", "HEAD~1", "HEAD"]);
    assert_eq!(
        changed,
        ".sops.yaml\nsecrets/app.yaml\nsecrets/extra.yaml\nsecrets/secrets.yaml\n"
    );
    let msg = git(&sb, &inst, &["log", "-1", "--format=%B"]);
    assert!(msg.contains(&format!("Added:   {new_r}")), "{msg}");
    let host_id = host_age_identity(&sb, &host);
    for f in &files {
        ok(sops_decrypt(&sb, &newkey, f), "new key opens");
        ok(
            sops_decrypt(&sb, &host_id, f),
            "host's converted identity opens",
        );
    }
    let added_only = snapshot(&sb, &inst);

    // Remove the old bootstrap key: rotation.
    ok(
        ccs(
            &sb,
            None,
            &["recipients", "remove", "--instance", i, "--age", &boot_r],
        ),
        "recipients remove",
    );
    ok(
        ccs(&sb, Some(&newkey), &["rekey", "--instance", i, "--commit"]),
        "rekey after removal",
    );
    let msg = git(&sb, &inst, &["log", "-1", "--format=%B"]);
    assert!(msg.contains(&format!("Removed: {boot_r}")), "{msg}");
    assert!(msg.contains("data key rotated"), "{msg}");
    let rotated = snapshot(&sb, &inst);
    for f in &files {
        let out = sops_decrypt(&sb, &boot, f);
        assert!(
            !out.status.success(),
            "the removed key must open none: {}",
            f.display()
        );
        ok(sops_decrypt(&sb, &newkey, f), "new key still opens");
        ok(sops_decrypt(&sb, &host_id, f), "host still opens");
        // Every value was re-encrypted under a new data key.
        let old = &added_only.0.iter().find(|(p, _)| p == f).unwrap().1;
        let new = &rotated.0.iter().find(|(p, _)| p == f).unwrap().1;
        let old_enc: Vec<&str> = std::str::from_utf8(old)
            .unwrap()
            .lines()
            .filter(|l| l.contains("ENC["))
            .collect();
        let new_s = std::str::from_utf8(new).unwrap();
        assert!(
            old_enc.iter().all(|l| !new_s.contains(l)),
            "{}: ciphertext kept",
            f.display()
        );
    }
    // The last recipient of a group cannot be removed.
    let out = ccs(
        &sb,
        None,
        &["recipients", "remove", "--instance", i, "--age", &boot_r],
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn rekey_is_all_or_nothing_when_the_third_file_fails() {
    let sb = sandbox();
    let (inst, boot, _) = init_instance(&sb, &[]);
    let i = inst.to_str().unwrap();
    let (_, stranger_r) = age_keygen(&sb, "stranger.txt");
    // secrets/app.yaml under the policy; secrets/zz.yaml encrypted to a stranger only, so
    // our key cannot open it (it sorts last: the third file).
    for (name, recipient) in [("app", None), ("zz", Some(stranger_r.as_str()))] {
        let p = format!("secrets/{name}.yaml");
        std::fs::write(inst.join(&p), "token: s3cret\n").unwrap();
        let mut c = sb.sops();
        c.current_dir(&inst).arg("encrypt").arg("-i");
        if let Some(r) = recipient {
            c.args(["--age", r]);
        }
        c.arg(&p);
        ok(ccsecrets_tests::run(c, None), "sops encrypt");
    }
    git(&sb, &inst, &["add", "secrets"]);
    git(&sb, &inst, &["commit", "-q", "-m", "secrets"]);
    let (_, new_r) = age_keygen(&sb, "new.txt");
    ok(
        ccs(
            &sb,
            None,
            &["recipients", "add", "--instance", i, "--age", &new_r],
        ),
        "add",
    );
    let before = snapshot(&sb, &inst);
    let out = ccs(&sb, Some(&boot), &["rekey", "--instance", i, "--commit"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("secrets/zz.yaml"), "{}", stderr(&out));
    assert_eq!(snapshot(&sb, &inst), before, "no file and no ref changed");
}

/// The bootstrap-key rotation exactly as docs/secrets.md describes it.
#[test]
fn bootstrap_rotation_as_documented() {
    let sb = sandbox();
    let (inst, old, old_r) = init_instance(&sb, &[]);
    let i = inst.to_str().unwrap();
    let file = secrets(&inst);
    let first_version = git(&sb, &inst, &["rev-parse", "HEAD"]).trim().to_owned();

    // 1. The new key, outside any repository (ccsecrets keygen).
    let new = sb.dir.path().join("keys/bootstrap-2027.txt");
    ok(
        ccs(&sb, None, &["keygen", "-o", new.to_str().unwrap()]),
        "keygen",
    );
    let new_r = std::fs::read_to_string(&new)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(String::from))
        .unwrap();
    // 2. Add it and re-wrap with the old key.
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
                &new_r,
                "--label",
                "bootstrap key 2027",
            ],
        ),
        "add",
    );
    ok(
        ccs(&sb, Some(&old), &["rekey", "--instance", i, "--commit"]),
        "rekey (add)",
    );
    // 3. The new key alone opens every file (ccsecrets and the real sops).
    ok(
        ccs(&sb, Some(&new), &["decrypt", file.to_str().unwrap()]),
        "decrypt with the new key",
    );
    ok(sops_decrypt(&sb, &new, &file), "sops with the new key");
    // 4. Remove the old key; rotate the data keys with the new key.
    ok(
        ccs(
            &sb,
            None,
            &["recipients", "remove", "--instance", i, "--age", &old_r],
        ),
        "remove",
    );
    ok(
        ccs(&sb, Some(&new), &["rekey", "--instance", i, "--commit"]),
        "rekey (remove)",
    );
    assert!(
        !sops_decrypt(&sb, &old, &file).status.success(),
        "old key locked out"
    );
    let policy = std::fs::read_to_string(inst.join(".sops.yaml")).unwrap();
    assert!(
        !policy.contains(&old_r) && policy.contains("# bootstrap key 2027"),
        "{policy}"
    );
    // init declared the old key in instance.nix, so `check` now fails until the declaration
    // follows the rotation; then it passes.
    let check = || ccs(&sb, None, &["check", "--instance", i]);
    let out = check();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("bootstrap-recipient-missing"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let facts = std::fs::read_to_string(inst.join("instance.nix")).unwrap();
    assert!(
        facts.contains(&format!("bootstrapRecipient = \"{old_r}\";")),
        "{facts}"
    );
    std::fs::write(inst.join("instance.nix"), facts.replace(&old_r, &new_r)).unwrap();
    git(
        &sb,
        &inst,
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.invalid",
            "commit",
            "-q",
            "-am",
            "instance.nix: the new bootstrap recipient",
        ],
    );
    ok(check(), "check after the rotation");

    // The warning holds: the first version, from history, still opens with the old key.
    let old_version = sb.dir.path().join("old-version.yaml");
    std::fs::write(
        &old_version,
        git(
            &sb,
            &inst,
            &["show", &format!("{first_version}:secrets/secrets.yaml")],
        ),
    )
    .unwrap();
    ok(
        sops_decrypt(&sb, &old, &old_version),
        "history stays readable to the old key",
    );
    assert_eq!(
        git(&sb, &inst, &["rev-list", "--count", "HEAD"]).trim(),
        "4"
    );
}

#[test]
fn a_host_key_can_be_removed_by_its_ssh_form() {
    let sb = sandbox();
    let (host, _) = ssh_host_key(&sb, "host");
    let pub_file = host.with_extension("pub");
    let (inst, boot, _) = init_instance(&sb, &["--host-key", pub_file.to_str().unwrap()]);
    let i = inst.to_str().unwrap();
    let host_id = host_age_identity(&sb, &host);
    ok(sops_decrypt(&sb, &host_id, &secrets(&inst)), "host opens");
    ok(
        ccs(
            &sb,
            None,
            &[
                "recipients",
                "remove",
                "--instance",
                i,
                "--host-key",
                pub_file.to_str().unwrap(),
            ],
        ),
        "remove --host-key",
    );
    ok(
        ccs(&sb, Some(&boot), &["rekey", "--instance", i, "--commit"]),
        "rekey",
    );
    assert!(!sops_decrypt(&sb, &host_id, &secrets(&inst))
        .status
        .success());
    ok(
        sops_decrypt(&sb, &boot, &secrets(&inst)),
        "bootstrap still opens",
    );
}

#[test]
fn rekey_commit_refuses_files_left_uncommitted_by_an_earlier_rekey() {
    let sb = sandbox();
    let (inst, boot, _) = init_instance(&sb, &[]);
    let i = inst.to_str().unwrap();
    let (_, r) = age_keygen(&sb, "other.txt");
    ok(
        ccs(
            &sb,
            None,
            &["recipients", "add", "--instance", i, "--age", &r],
        ),
        "add",
    );
    ok(
        ccs(&sb, Some(&boot), &["rekey", "--instance", i]),
        "rekey without --commit",
    );
    let before = snapshot(&sb, &inst);
    let out = ccs(&sb, Some(&boot), &["rekey", "--instance", i, "--commit"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("uncommitted changes in secrets/secrets.yaml"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(&sb, &inst), before);
}

#[test]
fn init_without_a_git_identity_leaves_nothing_behind() {
    let sb = ccsecrets_tests::Sandbox::new(); // no ~/.gitconfig
    let inst = sb.work().join("inst");
    let key = sb.dir.path().join("keys/boot.txt");
    let out = run_init(&sb, &inst, &key, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("identity"), "{}", stderr(&out));
    assert!(!inst.exists(), "the half-made repository is removed");
    assert!(!key.exists(), "no key for a repository that does not exist");

    // With --author it works.
    ok(
        run_init(
            &sb,
            &inst,
            &key,
            &["--author", "Op Erator <op@example.invalid>"],
        ),
        "init --author",
    );
    let who = git(&sb, &inst, &["log", "-1", "--format=%an <%ae>|%cn <%ce>"]);
    assert_eq!(
        who.trim(),
        "Op Erator <op@example.invalid>|Op Erator <op@example.invalid>"
    );
}

#[test]
fn native_ssh_recipients_keep_the_ssh_stanza_that_the_ssh_key_itself_opens() {
    let sb = sandbox();
    let (inst, boot, _) = init_instance(&sb, &[]);
    let i = inst.to_str().unwrap();
    let (host, host_pub) = ssh_host_key(&sb, "host");
    let out = ccs(
        &sb,
        None,
        &[
            "recipients",
            "add",
            "--instance",
            i,
            "--host-key",
            &host_pub,
            "--native-ssh",
        ],
    );
    ok(out, "add --native-ssh");
    let policy = std::fs::read_to_string(inst.join(".sops.yaml")).unwrap();
    let stanza: String = host_pub
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(policy.contains(&format!("- {stanza}\n")), "{policy}");
    ok(
        ccs(&sb, Some(&boot), &["rekey", "--instance", i, "--commit"]),
        "rekey",
    );
    // The real sops opens it with the ssh private key itself.
    let mut c = sb.sops();
    c.env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &host)
        .arg("decrypt")
        .arg(secrets(&inst));
    ok(
        ccsecrets_tests::run(c, None),
        "sops decrypt with the ssh key",
    );
}
