//! Key groups with Shamir secret sharing, and SSH recipients through age, both directions
//! against the real sops 3.11:
//!
//! - files sops made with 3 key groups and `shamir_threshold: 2` (`fixtures/sops/shamir/`)
//!   open in ccsecrets with any two groups' keys and not with one; files ccsecrets makes from
//!   the same `.sops.yaml` open in sops with any two keys and not with one;
//! - files sops made for an `ssh-ed25519` or `ssh-rsa` recipient (`fixtures/sops/ssh/`) open
//!   in ccsecrets with the SSH private key; files ccsecrets makes for them open in sops, and
//!   ccsecrets warns that sops-nix cannot open an `ssh-ed25519` stanza with its host key.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ccsecrets_tests::{fixture, ok, recipient, run, Sandbox};

const PAIRS: [(u8, u8); 3] = [(1, 2), (1, 3), (2, 3)];

/// One identity file holding keyA and keyB (as a `keys.txt` with two identities).
fn pair_file(sb: &Sandbox, a: u8, b: u8) -> PathBuf {
    let p = sb.dir.path().join(format!("key{a}{b}.txt"));
    let mut text = std::fs::read_to_string(fixture(&format!("keys/key{a}.txt"))).unwrap();
    text.push_str(&std::fs::read_to_string(fixture(&format!("keys/key{b}.txt"))).unwrap());
    std::fs::write(&p, text).unwrap();
    p
}

fn decrypt_with(mut cmd: Command, var: &str, key: &Path, file: &Path) -> Output {
    cmd.env(var, key).arg("decrypt").arg(file);
    run(cmd, None)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ------------------------------------------------------------------------------------------
// Key groups and Shamir
// ------------------------------------------------------------------------------------------

fn ccsecrets_opens_sops_shamir_file(ext: &str) {
    let sb = Sandbox::new();
    let enc = fixture(&format!("sops/shamir/secrets.enc.{ext}"));
    let want = std::fs::read(fixture(&format!("sops/shamir/secrets.dec.{ext}"))).unwrap();
    for (a, b) in PAIRS {
        let keys = pair_file(&sb, a, b);
        let out = decrypt_with(sb.ccsecrets(), "SOPS_AGE_KEY_FILE", &keys, &enc);
        let got = ok(out, &format!("ccsecrets decrypt with key{a}+key{b}"));
        assert_eq!(got, want, "key{a}+key{b}: not what sops printed");
    }
    for n in 1..=3 {
        let key = fixture(&format!("keys/key{n}.txt"));
        let out = decrypt_with(sb.ccsecrets(), "SOPS_AGE_KEY_FILE", &key, &enc);
        assert_eq!(
            out.status.code(),
            Some(128),
            "key{n} alone: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty());
        assert!(
            stderr(&out).contains("key groups opened: 1, needed: 2")
                && stderr(&out).contains("only 1 of the 2 key groups needed could be opened"),
            "key{n} alone: {}",
            stderr(&out)
        );
    }
}

#[test]
fn ccsecrets_opens_sops_shamir_yaml_with_any_two_keys_and_not_one() {
    ccsecrets_opens_sops_shamir_file("yaml");
}

#[test]
fn ccsecrets_opens_sops_shamir_json_with_any_two_keys_and_not_one() {
    ccsecrets_opens_sops_shamir_file("json");
}

/// Key groups and threshold of an encrypted file, read with the core's parser (the real sops
/// opening the file with two keys and refusing one is the interop proof; this only checks
/// the layout).
fn group_count_and_threshold(file: &Path) -> (usize, usize) {
    use ccsecrets_core::sops::document::EncryptedFile;
    use ccsecrets_core::sops::store::Format;
    let bytes = std::fs::read(file).unwrap();
    let f = EncryptedFile::parse(&bytes, Format::from_path(file)).unwrap();
    (f.metadata.key_groups.len(), f.metadata.shamir_threshold)
}

fn sops_opens_ccsecrets_shamir_file(ext: &str) {
    let sb = Sandbox::new();
    // The same .sops.yaml and plaintext sops used for the fixture.
    std::fs::copy(
        fixture("sops/shamir/.sops.yaml"),
        sb.work().join(".sops.yaml"),
    )
    .unwrap();
    let plain = format!("secrets.{ext}");
    std::fs::copy(
        fixture(&format!("sops/shamir/{plain}")),
        sb.work().join(&plain),
    )
    .unwrap();
    let ours = sb.work().join(format!("ours.{ext}"));
    let mut cmd = sb.ccsecrets();
    cmd.args(["encrypt", "--output"]).arg(&ours).arg(&plain);
    ok(run(cmd, None), "ccsecrets encrypt through the shamir rule");
    assert_eq!(group_count_and_threshold(&ours), (3, 2));
    let text = std::fs::read_to_string(&ours).unwrap();
    for n in 1..=3 {
        assert_eq!(
            text.matches(&recipient(n)).count(),
            1,
            "key{n} in one group"
        );
    }

    let want = std::fs::read(fixture(&format!("sops/shamir/secrets.dec.{ext}"))).unwrap();
    for (a, b) in PAIRS {
        let keys = pair_file(&sb, a, b);
        let out = decrypt_with(sb.sops(), "SOPS_AGE_KEY_FILE", &keys, &ours);
        let got = ok(out, &format!("sops decrypt with key{a}+key{b}"));
        assert_eq!(
            got, want,
            "key{a}+key{b}: sops decrypts our file differently"
        );
    }
    for n in 1..=3 {
        let key = fixture(&format!("keys/key{n}.txt"));
        let out = decrypt_with(sb.sops(), "SOPS_AGE_KEY_FILE", &key, &ours);
        assert_eq!(
            out.status.code(),
            Some(128),
            "sops opened it with key{n} alone"
        );
        assert!(
            stderr(&out).contains("Shamir threshold of\n2"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn sops_opens_ccsecrets_shamir_yaml_with_any_two_keys_and_not_one() {
    sops_opens_ccsecrets_shamir_file("yaml");
}

#[test]
fn sops_opens_ccsecrets_shamir_json_with_any_two_keys_and_not_one() {
    sops_opens_ccsecrets_shamir_file("json");
}

/// `set` on a file sops split over three groups keeps the split: sops still opens the result
/// with any two keys, and still refuses one.
#[test]
fn set_on_a_sops_shamir_file_keeps_the_groups() {
    let sb = Sandbox::new();
    let f = sb.work().join("s.yaml");
    std::fs::copy(fixture("sops/shamir/secrets.enc.yaml"), &f).unwrap();
    let keys = pair_file(&sb, 2, 3);
    let mut cmd = sb.ccsecrets();
    cmd.env("SOPS_AGE_KEY_FILE", &keys)
        .arg("set")
        .arg(&f)
        .args([r#"["api_token"]"#, r#""rotated-by-ccsecrets""#]);
    ok(run(cmd, None), "ccsecrets set with key2+key3");
    assert_eq!(group_count_and_threshold(&f), (3, 2));
    for (a, b) in PAIRS {
        let keys = pair_file(&sb, a, b);
        let out = decrypt_with(sb.sops(), "SOPS_AGE_KEY_FILE", &keys, &f);
        let got = String::from_utf8(ok(out, "sops decrypt")).unwrap();
        assert!(got.contains("api_token: rotated-by-ccsecrets"), "{got}");
    }
    let out = decrypt_with(
        sb.sops(),
        "SOPS_AGE_KEY_FILE",
        &fixture("keys/key1.txt"),
        &f,
    );
    assert!(!out.status.success());
}

// ------------------------------------------------------------------------------------------
// SSH recipients
// ------------------------------------------------------------------------------------------

fn ssh_key(name: &str) -> PathBuf {
    fixture(&format!("keys/{name}"))
}

fn ssh_public(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("keys/{name}.pub")))
        .unwrap()
        .trim()
        .to_owned()
}

const SSH_CASES: [(&str, &str); 3] = [
    ("ed25519.enc.yaml", "ssh_ed25519"),
    ("ed25519.enc.json", "ssh_ed25519"),
    ("rsa.enc.yaml", "ssh_rsa"),
];

fn expected_ssh_plaintext(enc: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!(
        "sops/ssh/{}",
        enc.replace(".enc.", ".dec-ssh.")
    )))
    .unwrap()
}

#[test]
fn ccsecrets_opens_sops_ssh_files_with_the_ssh_private_key_file() {
    let sb = Sandbox::new();
    for (enc, key) in SSH_CASES {
        let file = fixture(&format!("sops/ssh/{enc}"));
        let out = decrypt_with(
            sb.ccsecrets(),
            "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
            &ssh_key(key),
            &file,
        );
        assert_eq!(ok(out, enc), expected_ssh_plaintext(enc), "{enc}");
        // The other SSH key, or every age key, does not open it.
        let other = if key == "ssh_rsa" {
            "ssh_ed25519"
        } else {
            "ssh_rsa"
        };
        let out = decrypt_with(
            sb.ccsecrets(),
            "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
            &ssh_key(other),
            &file,
        );
        assert_eq!(out.status.code(), Some(128), "{enc} opened with {other}");
        let out = decrypt_with(
            sb.ccsecrets(),
            "SOPS_AGE_KEY_FILE",
            &fixture("keys/all.txt"),
            &file,
        );
        assert_eq!(
            out.status.code(),
            Some(128),
            "{enc} opened with keys/all.txt"
        );
    }
}

/// `~/.ssh/id_ed25519` and `~/.ssh/id_rsa` are found without any variable, as sops does.
#[test]
fn ccsecrets_finds_the_default_ssh_keys_in_home() {
    use std::os::unix::fs::PermissionsExt;
    for (enc, key, default) in [
        ("ed25519.enc.yaml", "ssh_ed25519", "id_ed25519"),
        ("rsa.enc.yaml", "ssh_rsa", "id_rsa"),
    ] {
        let sb = Sandbox::new();
        let dot_ssh = sb.home().join(".ssh");
        std::fs::create_dir_all(&dot_ssh).unwrap();
        let dest = dot_ssh.join(default);
        std::fs::copy(ssh_key(key), &dest).unwrap();
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut cmd = sb.ccsecrets();
        cmd.arg("decrypt").arg(fixture(&format!("sops/ssh/{enc}")));
        assert_eq!(
            ok(run(cmd, None), enc),
            expected_ssh_plaintext(enc),
            "{enc} with ~/.ssh/{default}"
        );
        // sops agrees that this is where it looks.
        let mut cmd = sb.sops();
        cmd.arg("decrypt").arg(fixture(&format!("sops/ssh/{enc}")));
        assert_eq!(ok(run(cmd, None), "sops"), expected_ssh_plaintext(enc));
    }
}

#[test]
fn sops_opens_ccsecrets_files_for_ssh_recipients_and_the_sops_nix_warning_is_shown() {
    let sb = Sandbox::new();
    for (plain, key) in [
        ("ed25519.yaml", "ssh_ed25519"),
        ("ed25519.json", "ssh_ed25519"),
        ("rsa.yaml", "ssh_rsa"),
    ] {
        let (stem, ext) = plain.split_once('.').unwrap();
        let ours = sb.work().join(format!("{stem}.ours.{ext}"));
        let mut cmd = sb.ccsecrets();
        cmd.args(["encrypt", "--age", &ssh_public(key), "--output"])
            .arg(&ours)
            .arg(fixture(&format!("sops/ssh/{plain}")));
        let out = run(cmd, None);
        let err = stderr(&out);
        ok(out, &format!("ccsecrets encrypt {plain}"));
        assert!(
            err.contains("warning:") && err.contains("sops-nix") && err.contains("ssh-to-age"),
            "{plain}: no sops-nix warning: {err}"
        );
        let text = std::fs::read_to_string(&ours).unwrap();
        let key_type = ssh_public(key).split(' ').next().unwrap().to_owned();
        assert!(
            text.contains(&format!("recipient: {key_type} "))
                || text.contains(&format!("\"recipient\": \"{key_type} ")),
            "{plain}: the SSH recipient is not recorded as sops records it"
        );
        let out = decrypt_with(
            sb.sops(),
            "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
            &ssh_key(key),
            &ours,
        );
        let enc = format!("{stem}.enc.{ext}");
        assert_eq!(
            ok(out, &format!("sops decrypt our {plain}")),
            expected_ssh_plaintext(&enc),
            "{plain}"
        );
    }
}

/// A `.sops.yaml` rule naming an SSH recipient warns too (and an X25519-only one does not).
#[test]
fn creation_rule_with_an_ssh_recipient_warns() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.work().join(".sops.yaml"),
        format!(
            "creation_rules:\n    - path_regex: ssh\\.yaml$\n      age: {}, {}\n    - age: {}\n",
            recipient(1),
            ssh_public("ssh_ed25519"),
            recipient(1)
        ),
    )
    .unwrap();
    std::fs::write(sb.work().join("ssh.yaml"), "a: secret-a\n").unwrap();
    std::fs::write(sb.work().join("plain.yaml"), "a: secret-a\n").unwrap();
    let mut cmd = sb.ccsecrets();
    cmd.args(["encrypt", "--output", "ssh.enc.yaml", "ssh.yaml"]);
    let out = run(cmd, None);
    let err = stderr(&out);
    ok(out, "encrypt ssh.yaml");
    assert!(err.contains("sops-nix"), "{err}");
    let mut cmd = sb.ccsecrets();
    cmd.args(["encrypt", "--output", "plain.enc.yaml", "plain.yaml"]);
    let out = run(cmd, None);
    let err = stderr(&out);
    ok(out, "encrypt plain.yaml");
    assert!(!err.contains("sops-nix"), "{err}");
    // sops opens the rule's file with the SSH key alone, and with key1 alone.
    let enc = sb.work().join("ssh.enc.yaml");
    let out = decrypt_with(
        sb.sops(),
        "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
        &ssh_key("ssh_ed25519"),
        &enc,
    );
    assert_eq!(ok(out, "sops decrypt with the SSH key"), b"a: secret-a\n");
    let out = decrypt_with(
        sb.sops(),
        "SOPS_AGE_KEY_FILE",
        &fixture("keys/key1.txt"),
        &enc,
    );
    assert_eq!(ok(out, "sops decrypt with key1"), b"a: secret-a\n");
}

fn ssh_keygen_bin() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("ssh-keygen"))
        .find(|p| p.is_file())
        .expect("ssh-keygen is required (openssh-client; scripts/install-oracles.sh)")
}

/// RSA keys in the other private-key formats sops reads (`ssh-keygen -m PEM`: PKCS#1,
/// `-m PKCS8`), made here by the real ssh-keygen: both directions with sops.
#[test]
fn rsa_keys_in_pkcs1_and_pkcs8_form_work_both_ways() {
    let sb = Sandbox::new();
    std::fs::write(sb.work().join("p.yaml"), "a: rsa-format-secret\n").unwrap();
    for format in ["PEM", "PKCS8"] {
        let key = sb.work().join(format!("id_{format}"));
        let mut cmd = sb.command(&ssh_keygen_bin());
        cmd.args(["-q", "-t", "rsa", "-b", "2048", "-m", format, "-N", ""])
            .args(["-C", "ccsecrets-test-key"])
            .arg("-f")
            .arg(&key);
        ok(run(cmd, None), "ssh-keygen");
        let head = std::fs::read_to_string(&key).unwrap();
        let want = if format == "PEM" {
            "-----BEGIN RSA PRIVATE KEY-----"
        } else {
            "-----BEGIN PRIVATE KEY-----"
        };
        assert!(
            head.starts_with(want),
            "{format}: ssh-keygen wrote another format"
        );
        let public = std::fs::read_to_string(sb.work().join(format!("id_{format}.pub")))
            .unwrap()
            .trim()
            .to_owned();

        let theirs = sb.work().join(format!("theirs-{format}.yaml"));
        let mut cmd = sb.sops();
        cmd.args(["encrypt", "--age", &public, "--output"])
            .arg(&theirs)
            .arg("p.yaml");
        ok(run(cmd, None), "sops encrypt");
        let out = decrypt_with(
            sb.ccsecrets(),
            "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
            &key,
            &theirs,
        );
        assert_eq!(
            ok(out, &format!("ccsecrets decrypt with a {format} key")),
            b"a: rsa-format-secret\n"
        );

        let ours = sb.work().join(format!("ours-{format}.yaml"));
        let mut cmd = sb.ccsecrets();
        cmd.args(["encrypt", "--age", &public, "--output"])
            .arg(&ours)
            .arg("p.yaml");
        ok(run(cmd, None), "ccsecrets encrypt");
        let out = decrypt_with(sb.sops(), "SOPS_AGE_SSH_PRIVATE_KEY_FILE", &key, &ours);
        assert_eq!(ok(out, "sops decrypt"), b"a: rsa-format-secret\n");
    }
}

/// `rotate --add-age` and `groups add` with an SSH recipient warn too, and sops opens the
/// result with the SSH key.
#[test]
fn rotate_and_groups_add_to_an_ssh_recipient_warn() {
    let sb = Sandbox::new();
    let public = ssh_public("ssh_ed25519");
    for (n, args) in [
        (1, vec!["rotate", "-i", "--add-age", public.as_str()]),
        (
            2,
            vec!["groups", "add", "-i", "--age", public.as_str(), "-f"],
        ),
    ] {
        let f = sb.work().join(format!("f{n}.yaml"));
        std::fs::copy(fixture("sops/app.enc.yaml"), &f).unwrap();
        let mut cmd = sb.ccsecrets();
        cmd.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
            .args(&args)
            .arg(&f);
        let out = run(cmd, None);
        let err = stderr(&out);
        ok(out, args[0]);
        assert!(err.contains("sops-nix"), "{}: {err}", args[0]);
        if n == 1 {
            // One group: the SSH key alone opens it.
            let out = decrypt_with(
                sb.sops(),
                "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
                &ssh_key("ssh_ed25519"),
                &f,
            );
            assert_eq!(
                ok(out, "sops decrypt with the SSH key"),
                std::fs::read(fixture("sops/app.dec.yaml")).unwrap()
            );
        }
    }
}
