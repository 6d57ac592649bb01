//! Key tools: `ccsecrets ssh-to-age` against ssh-to-age's published vectors and against keys
//! made here by the real `ssh-keygen`, checked with the real `age`/`age-keygen`; and
//! `ccsecrets keygen` checked with the real `age`/`age-keygen`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ccsecrets_tests::{age_bin, fixture, ok, run, Sandbox};

/// From the ssh-to-age README (fixtures/ssh-to-age/README.md).
const VECTOR_SECRET: &str =
    "AGE-SECRET-KEY-1K3VN4N03PTHJWSJSCCMQCN33RY5FSKQPJ4KRRTG3JMQUYE0TUSEQEDH6V8";
const VECTOR_PUBLIC: &str = "age17044m9wgakla6pzftf4srtl3h5mcsr85jysgt5fg23zpnta8sfdqhzn452";
/// Computed independently of ccsecrets (fixtures/ssh-to-age/README.md).
const KEYSCAN_PUBLIC: [&str; 2] = [
    "age1hjm3aujg9e79f5yth8a2cejzdjg5n9vnu96l05p70uvfpeltnpms7yy3pp",
    "age1v8zjc47jmlqwefyu66s0d4ke98qr4vnuj3cpvs4z9npfdw833dxqwjrhzv",
];
const PASSPHRASE_KEY_PUBLIC: &str =
    "age1pa3t6c94xl4z6k02rt0lw2za7e7tdjsse46xjh8y7tluy59qu5tqaqgauq";

const PLAINTEXT: &[u8] = b"a secret for the age oracle\n";

fn vector(name: &str) -> PathBuf {
    fixture(&format!("ssh-to-age/{name}"))
}

fn age_keygen_bin() -> PathBuf {
    let p = age_bin().with_file_name("age-keygen");
    assert!(
        p.is_file(),
        "the real age-keygen is required (oracle) next to {}",
        age_bin().display()
    );
    p
}

fn ssh_keygen_bin() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("ssh-keygen"))
        .find(|p| p.is_file())
        .expect("ssh-keygen is required (openssh-client; scripts/install-oracles.sh)")
}

fn ccs(sb: &Sandbox, args: &[&str]) -> Command {
    let mut c = sb.ccsecrets();
    c.args(args);
    c
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("UTF-8 output")
}

/// `ssh-keygen -t TYPE -N PASSPHRASE -f work/NAME`; returns the private key path.
fn ssh_keygen(sb: &Sandbox, name: &str, key_type: &str, passphrase: &str) -> PathBuf {
    let path = sb.work().join(name);
    let mut c = sb.command(&ssh_keygen_bin());
    c.args([
        "-q",
        "-t",
        key_type,
        "-N",
        passphrase,
        "-C",
        "ccsecrets-test",
        "-f",
    ])
    .arg(&path);
    if key_type == "rsa" {
        c.args(["-b", "2048"]);
    }
    ok(run(c, None), "ssh-keygen");
    path
}

fn pub_path(key: &Path) -> PathBuf {
    let mut s = key.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The real age encrypts to `recipient`, then decrypts with the identity file.
fn age_round_trip(sb: &Sandbox, recipient: &str, identity_file: &Path) {
    let mut enc = sb.command(&age_bin());
    enc.args(["-e", "-r", recipient]);
    let ct = ok(run(enc, Some(PLAINTEXT)), "age -e -r");
    let mut dec = sb.command(&age_bin());
    dec.args(["-d", "-i"]).arg(identity_file);
    let pt = ok(run(dec, Some(&ct)), "age -d -i");
    assert_eq!(pt, PLAINTEXT);
}

fn age_keygen_y(sb: &Sandbox, identity_file: &Path) -> String {
    let mut c = sb.command(&age_keygen_bin());
    c.arg("-y").arg(identity_file);
    text(ok(run(c, None), "age-keygen -y"))
}

/// The base64 lines of a key file (public: the blob; private: the PEM body).
fn key_material(file: &Path) -> Vec<String> {
    let content = std::fs::read_to_string(file).unwrap();
    let mut out: Vec<String> = Vec::new();
    for line in content.lines() {
        if line.starts_with("-----") || line.trim().is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() >= 2 && words[0].starts_with("ssh-") {
            out.push(words[1].to_owned());
        } else {
            out.push(line.trim().to_owned());
        }
    }
    assert!(!out.is_empty());
    out
}

/// Fails with exit != 0, nothing on stdout, and none of the key's base64 on stderr.
fn assert_refused_without_echo(out: &Output, input: &Path, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{what} should fail; stderr: {stderr}"
    );
    assert!(out.stdout.is_empty(), "{what}: stdout not empty");
    for chunk in key_material(input) {
        // Any 16-character piece of the body would be an echo.
        for piece in chunk.as_bytes().chunks(16).filter(|c| c.len() == 16) {
            let piece = std::str::from_utf8(piece).unwrap();
            assert!(
                !stderr.contains(piece),
                "{what}: stderr echoes key material: {stderr}"
            );
        }
    }
    assert!(
        stderr.contains("error"),
        "{what}: no error message: {stderr}"
    );
    stderr
}

#[test]
fn ssh_to_age_published_vectors() {
    let sb = Sandbox::new();
    let pubkey = vector("id_ed25519.pub");
    let key = vector("id_ed25519");

    let out = ok(
        run(
            ccs(&sb, &["ssh-to-age", "-i", pubkey.to_str().unwrap()]),
            None,
        ),
        "ssh-to-age public",
    );
    assert_eq!(text(out), format!("{VECTOR_PUBLIC}\n"));

    let stdin = std::fs::read(&key).unwrap();
    let out = ok(
        run(ccs(&sb, &["ssh-to-age", "--private-key"]), Some(&stdin)),
        "ssh-to-age --private-key (stdin)",
    );
    assert_eq!(text(out), format!("{VECTOR_SECRET}\n"));

    let out = ok(
        run(
            ccs(
                &sb,
                &[
                    "ssh-to-age",
                    "-i",
                    vector("id_ed25519_passphrase.pub").to_str().unwrap(),
                ],
            ),
            None,
        ),
        "ssh-to-age public (passphrase key's .pub)",
    );
    assert_eq!(text(out), format!("{PASSPHRASE_KEY_PUBLIC}\n"));

    // The unclamped secret is what age itself derives the same recipient from.
    let id_file = sb.work().join("vector.age");
    std::fs::write(&id_file, format!("{VECTOR_SECRET}\n")).unwrap();
    assert_eq!(age_keygen_y(&sb, &id_file), format!("{VECTOR_PUBLIC}\n"));
}

#[test]
fn ssh_to_age_keyscan_skips_rsa_with_a_warning() {
    let sb = Sandbox::new();
    let keyscan = vector("keyscan.txt");
    let out = run(
        ccs(&sb, &["ssh-to-age", "-i", keyscan.to_str().unwrap()]),
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = text(ok(out, "ssh-to-age keyscan"));
    assert_eq!(
        stdout,
        format!("{}\n{}\n", KEYSCAN_PUBLIC[0], KEYSCAN_PUBLIC[1])
    );
    let warnings: Vec<&str> = stderr.lines().collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(
        warnings[0].contains("line 2") && warnings[0].contains("ssh-rsa"),
        "{stderr}"
    );
    assert!(
        warnings[1].contains("line 6") && warnings[1].contains("ssh-rsa"),
        "{stderr}"
    );
    assert!(!stderr.contains("AAAAB3NzaC1yc2E"), "{stderr}");
}

#[test]
fn ssh_to_age_output_files() {
    let sb = Sandbox::new();
    let secret_out = sb.work().join("id.age");
    ok(
        run(
            ccs(
                &sb,
                &[
                    "ssh-to-age",
                    "--private-key",
                    "-i",
                    vector("id_ed25519").to_str().unwrap(),
                    "-o",
                    secret_out.to_str().unwrap(),
                ],
            ),
            None,
        ),
        "ssh-to-age --private-key -o",
    );
    assert_eq!(
        std::fs::read_to_string(&secret_out).unwrap(),
        format!("{VECTOR_SECRET}\n")
    );
    assert_eq!(mode(&secret_out), 0o600);

    let public_out = sb.work().join("recipients.txt");
    let stdin = std::fs::read(vector("id_ed25519.pub")).unwrap();
    ok(
        run(
            ccs(&sb, &["ssh-to-age", "-o", public_out.to_str().unwrap()]),
            Some(&stdin),
        ),
        "ssh-to-age -o",
    );
    assert_eq!(
        std::fs::read_to_string(&public_out).unwrap(),
        format!("{VECTOR_PUBLIC}\n")
    );
    // Only the target remains (atomic write, no temp file left).
    assert_eq!(std::fs::read_dir(sb.work()).unwrap().count(), 2);
}

#[test]
fn ssh_keygen_keys_work_with_the_real_age() {
    let sb = Sandbox::new();
    let mut recipients = Vec::new();
    for n in 0..3 {
        let key = ssh_keygen(&sb, &format!("id_{n}"), "ed25519", "");
        let public = text(ok(
            run(
                ccs(&sb, &["ssh-to-age", "-i", pub_path(&key).to_str().unwrap()]),
                None,
            ),
            "ssh-to-age public",
        ));
        let lines: Vec<&str> = public.lines().collect();
        assert_eq!(lines.len(), 1, "{public}");
        let recipient = lines[0].to_owned();
        assert!(recipient.starts_with("age1"), "{recipient}");

        let identity = sb.work().join(format!("id_{n}.age"));
        ok(
            run(
                ccs(
                    &sb,
                    &[
                        "ssh-to-age",
                        "--private-key",
                        "-i",
                        key.to_str().unwrap(),
                        "-o",
                        identity.to_str().unwrap(),
                    ],
                ),
                None,
            ),
            "ssh-to-age --private-key",
        );
        assert_eq!(mode(&identity), 0o600);
        let secret = std::fs::read_to_string(&identity).unwrap();
        assert!(secret.starts_with("AGE-SECRET-KEY-1") && secret.ends_with('\n'));

        assert_eq!(age_keygen_y(&sb, &identity), format!("{recipient}\n"));
        age_round_trip(&sb, &recipient, &identity);
        recipients.push((recipient, pub_path(&key)));
    }

    // Several keys at once, authorized_keys options and known_hosts host columns in front.
    let mut list = String::from("# keys\n\n");
    for (i, (_, p)) in recipients.iter().enumerate() {
        let line = std::fs::read_to_string(p).unwrap();
        match i {
            0 => list.push_str(&line),
            1 => list.push_str(&format!("no-pty,command=\"echo a b\" {line}")),
            _ => list.push_str(&format!("host.example,10.0.0.1 {line}")),
        }
    }
    let out = text(ok(
        run(ccs(&sb, &["ssh-to-age"]), Some(list.as_bytes())),
        "ssh-to-age several keys",
    ));
    let want: String = recipients.iter().map(|(r, _)| format!("{r}\n")).collect();
    assert_eq!(out, want);
}

#[test]
fn keygen_file_is_private_refuses_overwrite_and_works_with_the_real_age() {
    let sb = Sandbox::new();
    let file = sb.work().join("keys.txt");
    let out = run(ccs(&sb, &["keygen", "-o", file.to_str().unwrap()]), None);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(ok(out, "keygen -o").is_empty());
    assert_eq!(mode(&file), 0o600);

    let content = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = content.lines().collect();
    assert_eq!(lines.len(), 3, "{content}");
    let created = lines[0].strip_prefix("# created: ").expect("created line");
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "{created}"
    );
    let recipient = lines[1]
        .strip_prefix("# public key: ")
        .expect("public key line");
    assert!(lines[2].starts_with("AGE-SECRET-KEY-1"));
    assert_eq!(stderr, format!("Public key: {recipient}\n"));

    // age-keygen -y and ours agree, and match the comment.
    assert_eq!(age_keygen_y(&sb, &file), format!("{recipient}\n"));
    let ours = text(ok(
        run(ccs(&sb, &["keygen", "-y", file.to_str().unwrap()]), None),
        "keygen -y FILE",
    ));
    assert_eq!(ours, format!("{recipient}\n"));
    let ours_stdin = text(ok(
        run(ccs(&sb, &["keygen", "-y", "-"]), Some(content.as_bytes())),
        "keygen -y -",
    ));
    assert_eq!(ours_stdin, ours);

    age_round_trip(&sb, recipient, &file);

    // Never overwritten.
    let again = run(ccs(&sb, &["keygen", "-o", file.to_str().unwrap()]), None);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), content);
    assert_eq!(mode(&file), 0o600);
    assert_eq!(std::fs::read_dir(sb.work()).unwrap().count(), 1);
}

#[test]
fn keygen_stdout_and_several_identities() {
    let sb = Sandbox::new();
    let mut all = String::new();
    let mut want = String::new();
    for _ in 0..2 {
        let out = run(ccs(&sb, &["keygen"]), None);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let stdout = text(ok(out, "keygen"));
        let recipient = stdout
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .unwrap()
            .to_owned();
        // stdout is a pipe here, so age-keygen's "Public key:" line goes to stderr.
        assert_eq!(stderr, format!("Public key: {recipient}\n"));
        all.push_str(&stdout);
        want.push_str(&format!("{recipient}\n"));
    }
    let file = sb.work().join("all.txt");
    std::fs::write(&file, &all).unwrap();
    assert_eq!(age_keygen_y(&sb, &file), want);
    let ours = text(ok(
        run(ccs(&sb, &["keygen", "-y", file.to_str().unwrap()]), None),
        "keygen -y",
    ));
    assert_eq!(ours, want);
    // Distinct keys each time.
    let mut lines: Vec<&str> = want.lines().collect();
    lines.dedup();
    assert_eq!(lines.len(), 2);
}

#[test]
fn bad_inputs_fail_without_echoing_key_material() {
    let sb = Sandbox::new();

    // Garbage.
    let garbage = sb.work().join("garbage");
    std::fs::write(
        &garbage,
        "c29tZSBnYXJiYWdlIHRoYXQgbG9va3MgbGlrZSBiYXNlNjQ=\n",
    )
    .unwrap();
    for private in [false, true] {
        let mut args = vec!["ssh-to-age", "-i", garbage.to_str().unwrap()];
        if private {
            args.push("--private-key");
        }
        let out = run(ccs(&sb, &args), None);
        assert_refused_without_echo(&out, &garbage, "garbage");
    }

    // RSA: public mode warns and skips (and fails, nothing converted); private mode refuses.
    let rsa = ssh_keygen(&sb, "id_rsa", "rsa", "");
    let out = run(
        ccs(&sb, &["ssh-to-age", "-i", pub_path(&rsa).to_str().unwrap()]),
        None,
    );
    let stderr = assert_refused_without_echo(&out, &pub_path(&rsa), "rsa public");
    assert!(
        stderr.contains("warning") && stderr.contains("line 1") && stderr.contains("ssh-rsa"),
        "{stderr}"
    );
    let out = run(
        ccs(
            &sb,
            &["ssh-to-age", "--private-key", "-i", rsa.to_str().unwrap()],
        ),
        None,
    );
    let stderr = assert_refused_without_echo(&out, &rsa, "rsa private");
    assert!(stderr.contains("ssh-rsa"), "{stderr}");

    // A mix: the ed25519 key converts, the RSA one is skipped with a warning.
    let ed = ssh_keygen(&sb, "id_ed", "ed25519", "");
    let mixed = format!(
        "{}{}",
        std::fs::read_to_string(pub_path(&rsa)).unwrap(),
        std::fs::read_to_string(pub_path(&ed)).unwrap()
    );
    let out = run(ccs(&sb, &["ssh-to-age"]), Some(mixed.as_bytes()));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(text(ok(out, "mixed")).lines().count(), 1);
    assert!(
        stderr.contains("line 1") && stderr.contains("ssh-rsa"),
        "{stderr}"
    );

    // Passphrase-protected: the published one and one made here.
    let protected = ssh_keygen(&sb, "id_protected", "ed25519", "correct horse");
    for key in [vector("id_ed25519_passphrase"), protected] {
        let out = run(
            ccs(
                &sb,
                &["ssh-to-age", "--private-key", "-i", key.to_str().unwrap()],
            ),
            None,
        );
        let stderr = assert_refused_without_echo(&out, &key, "passphrase key");
        assert!(stderr.contains("passphrase"), "{stderr}");
    }

    // A private key in public mode is refused, not echoed.
    let out = run(ccs(&sb, &["ssh-to-age", "-i", ed.to_str().unwrap()]), None);
    let stderr = assert_refused_without_echo(&out, &ed, "private key in public mode");
    assert!(stderr.contains("--private-key"), "{stderr}");

    // A damaged private key (one body line missing).
    let original = std::fs::read_to_string(&ed).unwrap();
    let damaged: String = original
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let damaged_file = sb.work().join("damaged");
    std::fs::write(&damaged_file, &damaged).unwrap();
    let out = run(
        ccs(
            &sb,
            &[
                "ssh-to-age",
                "--private-key",
                "-i",
                damaged_file.to_str().unwrap(),
            ],
        ),
        None,
    );
    assert_refused_without_echo(&out, &damaged_file, "damaged key");

    // keygen -y on something that is not an identity.
    let out = run(ccs(&sb, &["keygen", "-y", ed.to_str().unwrap()]), None);
    assert_refused_without_echo(&out, &ed, "keygen -y on an SSH key");
}
