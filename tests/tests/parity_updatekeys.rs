//! `updatekeys` and `groups` with YAML files and a YAML `.sops.yaml`, checked with the real
//! sops 3.11 and the real `age`:
//!
//! - the `+++`/`---` diff is shown and applied only after a `y` (or with `-y`);
//! - after a recipient is removed, its identity no longer opens the file (sops says so too)
//!   and the data key is a new one (both unwrapped with the `age` binary, not with our code);
//!   after a recipient is only added, the data key and every ciphertext stay;
//! - one bad file among several changes no file at all;
//! - `groups add`/`groups delete` give files sops opens with exactly the right keys.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ccsecrets_core::sops::document::EncryptedFile;
use ccsecrets_core::sops::store::Format;
use ccsecrets_tests::{age_bin, fixture, ok, recipient, run, Sandbox};

const SECRET: &str = "updatekeys-secret-value";

fn key(n: u8) -> PathBuf {
    fixture(&format!("keys/key{n}.txt"))
}

/// Writes `.sops.yaml` with one catch-all rule for these keys (a YAML list).
fn rule_for(sb: &Sandbox, keys: &[u8]) {
    let mut text = String::from("creation_rules:\n    - path_regex: \\.yaml$\n      age:\n");
    for n in keys {
        text.push_str(&format!("          - {}\n", recipient(*n)));
    }
    std::fs::write(sb.work().join(".sops.yaml"), text).unwrap();
}

/// A YAML file encrypted by the real sops through the current `.sops.yaml`.
fn sops_file(sb: &Sandbox, name: &str) -> PathBuf {
    let p = sb.work().join(name);
    std::fs::write(
        &p,
        format!(
            "# a comment\ndb:\n    user: app\n    password: {SECRET}\nlist:\n    - 1\n    - two\n"
        ),
    )
    .unwrap();
    let mut cmd = sb.sops();
    cmd.args(["encrypt", "-i", name]);
    ok(run(cmd, None), "sops encrypt -i");
    p
}

fn with_key(mut cmd: Command, key: &Path) -> Command {
    cmd.env("SOPS_AGE_KEY_FILE", key);
    cmd
}

fn sops_decrypt(sb: &Sandbox, file: &Path, key: &Path) -> Output {
    let mut cmd = with_key(sb.sops(), key);
    cmd.arg("decrypt").arg(file);
    run(cmd, None)
}

fn updatekeys(sb: &Sandbox, key: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = with_key(sb.ccsecrets(), key);
    cmd.arg("updatekeys").args(args);
    run(cmd, stdin)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The data key wrapped for recipient `n` in a single-group file, unwrapped by the real `age`.
fn data_key_via_age(file: &Path, n: u8) -> Vec<u8> {
    let bytes = std::fs::read(file).unwrap();
    let f = EncryptedFile::parse(&bytes, Format::from_path(file)).unwrap();
    assert_eq!(f.metadata.key_groups.len(), 1);
    let me = recipient(n);
    let stanza = f.metadata.key_groups[0]
        .age
        .iter()
        .find(|k| k.recipient == me)
        .unwrap_or_else(|| panic!("key{n} is not a recipient of {}", file.display()));
    let mut cmd = Command::new(age_bin());
    cmd.arg("-d").arg("-i").arg(key(n));
    let out = ok(run(cmd, Some(stanza.enc.as_bytes())), "age -d");
    assert_eq!(out.len(), 32, "a sops data key is 32 bytes");
    out
}

fn enc_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.contains("ENC[") && !l.trim_start().starts_with("mac:"))
        .collect()
}

#[test]
fn removing_a_recipient_shows_the_diff_asks_and_rotates_the_data_key() {
    let sb = Sandbox::new();
    rule_for(&sb, &[1, 2]);
    let f = sops_file(&sb, "s.yaml");
    let before = std::fs::read(&f).unwrap();
    let old_key = data_key_via_age(&f, 1);
    assert_eq!(data_key_via_age(&f, 2), old_key);
    rule_for(&sb, &[1, 3]);

    // Answer "n": the diff is shown, the file stays as it was.
    let out = updatekeys(&sb, &key(1), &["s.yaml"], Some(b"n\n"));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&format!("+++ {}", recipient(3))), "{err}");
    assert!(err.contains(&format!("--- {}", recipient(2))), "{err}");
    assert!(!err.contains(&format!("+++ {}", recipient(1))), "{err}");
    assert!(!err.contains(&format!("--- {}", recipient(1))), "{err}");
    assert!(err.contains("Is this okay? (y/n)"), "{err}");
    assert!(!err.contains(SECRET));
    assert_eq!(
        std::fs::read(&f).unwrap(),
        before,
        "answered no, yet written"
    );
    // No answer at all (stdin closed) is a no too.
    let out = updatekeys(&sb, &key(1), &["s.yaml"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&f).unwrap(), before);

    // Answer "y": applied, and the removal rotates the data key.
    let out = updatekeys(&sb, &key(1), &["s.yaml"], Some(b"y\n"));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("rotated"), "the rotation is announced: {err}");
    assert_ne!(std::fs::read(&f).unwrap(), before);

    // The removed key no longer opens it, in sops; the others do.
    let out = sops_decrypt(&sb, &f, &key(2));
    assert_eq!(
        out.status.code(),
        Some(128),
        "removed key2 still opens the file"
    );
    for n in [1, 3] {
        let text = String::from_utf8(ok(sops_decrypt(&sb, &f, &key(n)), "sops decrypt")).unwrap();
        assert!(text.contains(SECRET), "key{n}: {text}");
        assert!(text.starts_with("# a comment\n"), "{text}");
    }
    // A new data key, as unwrapped by age; the old one was never given to key3.
    let new_key = data_key_via_age(&f, 1);
    assert_ne!(new_key, old_key, "the data key did not change");
    assert_eq!(data_key_via_age(&f, 3), new_key);
}

#[test]
fn yes_flag_applies_without_asking_and_adding_keeps_the_data_key() {
    let sb = Sandbox::new();
    rule_for(&sb, &[1]);
    let f = sops_file(&sb, "a.yaml");
    let before = std::fs::read_to_string(&f).unwrap();
    let old_key = data_key_via_age(&f, 1);
    rule_for(&sb, &[1, 2]);
    let out = updatekeys(&sb, &key(1), &["-y", "a.yaml"], None);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&format!("+++ {}", recipient(2))), "{err}");
    assert!(!err.contains("Is this okay"), "-y must not ask: {err}");
    assert!(!err.contains("rotated"), "{err}");
    let after = std::fs::read_to_string(&f).unwrap();
    // Only recipients were added: values, MAC and lastmodified are untouched (as sops).
    assert_eq!(enc_lines(&after), enc_lines(&before));
    let mac = |t: &str| t.lines().find(|l| l.contains("mac:")).unwrap().to_owned();
    assert_eq!(mac(&after), mac(&before));
    assert_eq!(
        data_key_via_age(&f, 2),
        old_key,
        "the same data key for key2"
    );
    let text = String::from_utf8(ok(sops_decrypt(&sb, &f, &key(2)), "sops decrypt key2")).unwrap();
    assert!(text.contains(SECRET));
    // Running again: nothing to do, nothing written.
    let out = updatekeys(&sb, &key(1), &["-y", "a.yaml"], None);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("already up to date"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), after);
}

#[test]
fn updatekeys_to_key_groups_like_sops() {
    let sb = Sandbox::new();
    rule_for(&sb, &[1]);
    let ours = sops_file(&sb, "ours.yaml");
    let theirs = sb.work().join("theirs.yaml");
    std::fs::copy(&ours, &theirs).unwrap();
    std::fs::write(
        sb.work().join(".sops.yaml"),
        format!(
            "creation_rules:\n    - shamir_threshold: 2\n      key_groups:\n          - age:\n                - {}\n          - age:\n                - {}\n          - age:\n                - {}\n",
            recipient(1),
            recipient(2),
            recipient(3)
        ),
    )
    .unwrap();
    ok(
        updatekeys(&sb, &key(1), &["-y", "ours.yaml"], None),
        "ccsecrets updatekeys",
    );
    let mut cmd = with_key(sb.sops(), &key(1));
    cmd.args(["updatekeys", "-y", "theirs.yaml"]);
    ok(run(cmd, None), "sops updatekeys");
    let meta = |p: &Path| {
        let f = EncryptedFile::parse(&std::fs::read(p).unwrap(), Format::Yaml).unwrap();
        let groups: Vec<Vec<String>> = f
            .metadata
            .key_groups
            .iter()
            .map(|g| g.age.iter().map(|k| k.recipient.clone()).collect())
            .collect();
        (groups, f.metadata.shamir_threshold)
    };
    assert_eq!(
        meta(&ours),
        meta(&theirs),
        "same groups and threshold as sops"
    );
    // sops 3.11 keeps the file's threshold on updatekeys, not the rule's: a file that had
    // none (one group) gets "all groups" (3). ccsecrets does the same.
    assert_eq!(meta(&ours).1, 3);
    let pair = sb.dir.path().join("pair.txt");
    for (a, b) in [(1, 2), (1, 3), (2, 3)] {
        let mut text = std::fs::read_to_string(key(a)).unwrap();
        text.push_str(&std::fs::read_to_string(key(b)).unwrap());
        std::fs::write(&pair, text).unwrap();
        assert_eq!(sops_decrypt(&sb, &ours, &pair).status.code(), Some(128));
        let mut cmd = with_key(sb.ccsecrets(), &pair);
        cmd.arg("decrypt").arg(&theirs);
        assert_eq!(run(cmd, None).status.code(), Some(128));
    }
    let all = fixture("keys/all.txt");
    let text = String::from_utf8(ok(sops_decrypt(&sb, &ours, &all), "sops")).unwrap();
    assert!(text.contains(SECRET));
    let mut cmd = with_key(sb.ccsecrets(), &all);
    cmd.arg("decrypt").arg(&theirs);
    let text = String::from_utf8(ok(run(cmd, None), "ccsecrets")).unwrap();
    assert!(text.contains(SECRET));
}

/// Several files, the third of which cannot be updated: every file stays byte-identical.
#[test]
fn a_failure_on_the_third_file_leaves_every_file_as_it_was() {
    let sb = Sandbox::new();
    rule_for(&sb, &[1, 2]);
    let names = ["a.yaml", "b.yaml", "c.yaml", "d.yaml"];
    for n in names {
        sops_file(&sb, n);
    }
    let snapshot = || -> Vec<Vec<u8>> {
        names
            .iter()
            .map(|n| std::fs::read(sb.work().join(n)).unwrap())
            .collect()
    };

    // 1. The third file is encrypted to key3 only: key1 cannot open it.
    std::fs::write(
        sb.work().join(".sops.yaml"),
        format!("creation_rules:\n    - age: {}\n", recipient(3)),
    )
    .unwrap();
    std::fs::remove_file(sb.work().join("c.yaml")).unwrap();
    sops_file(&sb, "c.yaml");
    rule_for(&sb, &[1]); // removes key2 (and key3 from c.yaml): a rotation for every file
    let before = snapshot();
    let out = updatekeys(
        &sb,
        &key(1),
        &["-y", "a.yaml", "b.yaml", "c.yaml", "d.yaml"],
        None,
    );
    assert_eq!(out.status.code(), Some(128), "{}", stderr(&out));
    assert!(stderr(&out).contains("c.yaml"), "{}", stderr(&out));
    assert_eq!(snapshot(), before, "a file changed although c.yaml failed");

    // 2. The third file was tampered with (its MAC no longer verifies).
    std::fs::write(
        sb.work().join(".sops.yaml"),
        format!(
            "creation_rules:\n    - age: {},{}\n",
            recipient(1),
            recipient(2)
        ),
    )
    .unwrap();
    std::fs::remove_file(sb.work().join("c.yaml")).unwrap();
    let c = sops_file(&sb, "c.yaml");
    let text = std::fs::read_to_string(&c).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (a, b) = (
        lines
            .iter()
            .position(|l| l.trim_start().starts_with("user:"))
            .unwrap(),
        lines
            .iter()
            .position(|l| l.trim_start().starts_with("password:"))
            .unwrap(),
    );
    let swapped: String = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let l = if i == a {
                lines[b].replacen("password:", "user:", 1)
            } else if i == b {
                lines[a].replacen("user:", "password:", 1)
            } else {
                (*l).to_owned()
            };
            l + "\n"
        })
        .collect();
    std::fs::write(&c, swapped).unwrap();
    rule_for(&sb, &[1]);
    let before = snapshot();
    let out = updatekeys(
        &sb,
        &key(1),
        &["-y", "a.yaml", "b.yaml", "c.yaml", "d.yaml"],
        None,
    );
    assert!(!out.status.success(), "a moved value must not be accepted");
    assert!(stderr(&out).contains("c.yaml"), "{}", stderr(&out));
    assert!(!stderr(&out).contains(SECRET));
    assert_eq!(snapshot(), before, "a file changed although c.yaml failed");

    // 3. The third file does not parse.
    std::fs::write(&c, "db: [unclosed\n").unwrap();
    let before = snapshot();
    let out = updatekeys(
        &sb,
        &key(1),
        &["-y", "a.yaml", "b.yaml", "c.yaml", "d.yaml"],
        None,
    );
    // Exit 1, as sops (an encrypted file that does not parse is not "bad input" there).
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(snapshot(), before);

    // 4. The third file does not exist.
    std::fs::remove_file(&c).unwrap();
    let names_present: Vec<&str> = names.iter().copied().filter(|n| *n != "c.yaml").collect();
    let before: Vec<Vec<u8>> = names_present
        .iter()
        .map(|n| std::fs::read(sb.work().join(n)).unwrap())
        .collect();
    let out = updatekeys(
        &sb,
        &key(1),
        &["-y", "a.yaml", "b.yaml", "c.yaml", "d.yaml"],
        None,
    );
    assert_eq!(out.status.code(), Some(100), "{}", stderr(&out));
    let after: Vec<Vec<u8>> = names_present
        .iter()
        .map(|n| std::fs::read(sb.work().join(n)).unwrap())
        .collect();
    assert_eq!(after, before);

    // And with every file healthy, all of them are updated, and sops agrees.
    sops_file(&sb, "c.yaml");
    ok(
        updatekeys(
            &sb,
            &key(1),
            &["-y", "a.yaml", "b.yaml", "c.yaml", "d.yaml"],
            None,
        ),
        "updatekeys over healthy files",
    );
    for n in names {
        let f = sb.work().join(n);
        assert_eq!(
            sops_decrypt(&sb, &f, &key(2)).status.code(),
            Some(128),
            "{n}"
        );
        ok(sops_decrypt(&sb, &f, &key(1)), n);
    }
}

#[test]
fn groups_add_and_delete_agree_with_sops() {
    let sb = Sandbox::new();
    rule_for(&sb, &[1]);
    let ours = sops_file(&sb, "g.yaml");
    let before = std::fs::read_to_string(&ours).unwrap();
    let theirs = sb.work().join("h.yaml");
    std::fs::copy(&ours, &theirs).unwrap();
    let groups_cmd = |mut cmd: Command, args: &[&str], file: &Path| {
        cmd.env("SOPS_AGE_KEY_FILE", fixture("keys/all.txt"))
            .arg("groups")
            .args(args)
            .arg("-f")
            .arg(file)
            .arg("-i");
        run(cmd, None)
    };
    let r2 = recipient(2);
    let r3 = recipient(3);
    let add2 = [
        "add",
        "--age",
        &r2,
        "--shamir-secret-sharing-threshold",
        "2",
    ];
    ok(
        groups_cmd(sb.ccsecrets(), &add2, &ours),
        "ccsecrets groups add",
    );
    ok(groups_cmd(sb.sops(), &add2, &theirs), "sops groups add");
    // The same data key re-split: values and MAC untouched.
    let after = std::fs::read_to_string(&ours).unwrap();
    assert_eq!(enc_lines(&after), enc_lines(&before));

    let pair12 = sb.dir.path().join("key12.txt");
    let mut text = std::fs::read_to_string(key(1)).unwrap();
    text.push_str(&std::fs::read_to_string(key(2)).unwrap());
    std::fs::write(&pair12, text).unwrap();
    let text = String::from_utf8(ok(sops_decrypt(&sb, &ours, &pair12), "sops key1+key2")).unwrap();
    assert!(text.contains(SECRET));
    assert_eq!(sops_decrypt(&sb, &ours, &key(1)).status.code(), Some(128));
    let mut cmd = with_key(sb.ccsecrets(), &pair12);
    cmd.arg("decrypt").arg(&theirs);
    assert!(String::from_utf8(ok(run(cmd, None), "ccsecrets key1+key2"))
        .unwrap()
        .contains(SECRET));
    let mut cmd = with_key(sb.ccsecrets(), &key(2));
    cmd.arg("decrypt").arg(&theirs);
    assert_eq!(run(cmd, None).status.code(), Some(128));

    // Deleting a group below the threshold is refused by both, changing nothing.
    let snapshot = std::fs::read(&ours).unwrap();
    let out = groups_cmd(sb.ccsecrets(), &["delete", "1"], &ours);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(std::fs::read(&ours).unwrap(), snapshot);
    let out = groups_cmd(sb.sops(), &["delete", "1"], &theirs);
    assert_eq!(out.status.code(), Some(1));

    // A third group, then delete the second: key1+key3 open it, key2 holds no share.
    let add3 = ["add", "--age", &r3];
    ok(
        groups_cmd(sb.ccsecrets(), &add3, &ours),
        "ccsecrets groups add key3",
    );
    ok(
        groups_cmd(sb.ccsecrets(), &["delete", "1"], &ours),
        "ccsecrets groups delete 1",
    );
    let f = EncryptedFile::parse(&std::fs::read(&ours).unwrap(), Format::Yaml).unwrap();
    let groups: Vec<Vec<String>> = f
        .metadata
        .key_groups
        .iter()
        .map(|g| g.age.iter().map(|k| k.recipient.clone()).collect())
        .collect();
    assert_eq!(groups, [vec![recipient(1)], vec![recipient(3)]]);
    let pair13 = sb.dir.path().join("key13.txt");
    let mut text = std::fs::read_to_string(key(1)).unwrap();
    text.push_str(&std::fs::read_to_string(key(3)).unwrap());
    std::fs::write(&pair13, text).unwrap();
    let text = String::from_utf8(ok(sops_decrypt(&sb, &ours, &pair13), "sops key1+key3")).unwrap();
    assert!(text.contains(SECRET));
    assert_eq!(sops_decrypt(&sb, &ours, &pair12).status.code(), Some(128));
}

/// A rule that adds an SSH recipient: sops opens the result with the SSH key, and the
/// sops-nix warning is shown.
#[test]
fn updatekeys_to_an_ssh_recipient_warns_and_sops_opens_it() {
    let sb = Sandbox::new();
    rule_for(&sb, &[1]);
    let f = sops_file(&sb, "s.yaml");
    let ssh = std::fs::read_to_string(fixture("keys/ssh_ed25519.pub"))
        .unwrap()
        .trim()
        .to_owned();
    std::fs::write(
        sb.work().join(".sops.yaml"),
        format!(
            "creation_rules:\n    - age:\n          - {}\n          - {ssh}\n",
            recipient(1)
        ),
    )
    .unwrap();
    let out = updatekeys(&sb, &key(1), &["-y", "s.yaml"], None);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("sops-nix") && err.contains("ssh-to-age"),
        "{err}"
    );
    let mut cmd = sb.sops();
    cmd.env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", fixture("keys/ssh_ed25519"))
        .arg("decrypt")
        .arg(&f);
    let text = String::from_utf8(ok(run(cmd, None), "sops decrypt with the SSH key")).unwrap();
    assert!(text.contains(SECRET));
}

/// A file named twice (`a.yaml ./a.yaml`) is prepared and written once.
#[test]
fn the_same_file_named_twice_is_updated_once() {
    let sb = Sandbox::new();
    rule_for(&sb, &[1, 2]);
    let f = sops_file(&sb, "a.yaml");
    rule_for(&sb, &[1]);
    let out = updatekeys(&sb, &key(1), &["-y", "a.yaml", "./a.yaml", "a.yaml"], None);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("updated").count(), 1, "{err}");
    assert_eq!(err.matches("rotated").count(), 1, "{err}");
    assert_eq!(sops_decrypt(&sb, &f, &key(2)).status.code(), Some(128));
    ok(sops_decrypt(&sb, &f, &key(1)), "sops decrypt key1");
}
