//! Tampered and bad inputs: each gives a clear error naming the file, a non-zero exit code
//! equal to the real sops's for the same input, nothing on stdout, and no secret in stderr.

use std::path::{Path, PathBuf};
use std::process::Command;

use ccsecrets_tests::{age_bin, ok, run, Sandbox};

const SECRET_A: &str = "first-secret-value-4711";
const SECRET_B: &str = "second-secret-value-0815";

/// Makes an age key with the real `age-keygen`; returns (key file, recipient).
fn keygen(sb: &Sandbox, name: &str) -> (PathBuf, String) {
    let keygen = age_bin().with_file_name("age-keygen");
    let path = sb.dir.path().join(name);
    let out = Command::new(&keygen)
        .arg("-o")
        .arg(&path)
        .output()
        .expect("age-keygen");
    assert!(out.status.success(), "age-keygen failed");
    let out = Command::new(&keygen)
        .arg("-y")
        .arg(&path)
        .output()
        .expect("age-keygen -y");
    (
        path,
        String::from_utf8(out.stdout).unwrap().trim().to_owned(),
    )
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
}

fn replace_once(s: &str, from: &str, to: &str) -> String {
    assert!(s.contains(from), "fixture lacks {from:?}");
    s.replacen(from, to, 1)
}

/// The value text of the first line starting with `key: `.
fn value_of<'a>(doc: &'a str, key: &str) -> &'a str {
    doc.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key} line"))
}

fn flip_char_in_data(enc: &str) -> String {
    let start = enc.find("data:").unwrap() + 5;
    let mut b = enc.as_bytes().to_vec();
    b[start] = if b[start] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

/// `lastmodified` one second later in the last digit (still a valid time, always different).
fn bump_seconds(lm: &str) -> String {
    let z = lm.rfind('Z').expect("lastmodified ends in Z");
    let mut b = lm.as_bytes().to_vec();
    let d = b[z - 1];
    assert!(d.is_ascii_digit(), "lastmodified {lm:?}");
    b[z - 1] = if d == b'9' { b'0' } else { d + 1 };
    String::from_utf8(b).unwrap()
}

fn cases(original: &str) -> Vec<Case> {
    let a = value_of(original, "a");
    let b = value_of(original, "b");
    let mac = value_of(original, "    mac");
    let lm = value_of(original, "    lastmodified");
    let swapped = original
        .replacen(a, "@@A@@", 1)
        .replacen(b, a, 1)
        .replacen("@@A@@", b, 1);
    vec![
        Case {
            name: "flipped ciphertext byte",
            bytes: replace_once(original, a, &flip_char_in_data(a)).into(),
        },
        Case {
            name: "changed unencrypted value",
            bytes: replace_once(
                original,
                "note_unencrypted: hello",
                "note_unencrypted: hellx",
            )
            .into(),
        },
        Case {
            name: "removed MAC",
            bytes: original
                .lines()
                .filter(|l| !l.starts_with("    mac:"))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
                .into(),
        },
        Case {
            name: "altered MAC",
            bytes: replace_once(original, mac, &flip_char_in_data(mac)).into(),
        },
        Case {
            name: "changed lastmodified",
            bytes: replace_once(original, lm, &bump_seconds(lm)).into(),
        },
        Case {
            name: "values swapped between keys",
            bytes: swapped.into(),
        },
        Case {
            name: "truncated file",
            bytes: original.as_bytes()[..original.len() / 2].to_vec(),
        },
        Case {
            name: "not a sops file",
            bytes: format!("a: {SECRET_A}\nb: {SECRET_B}\n").into(),
        },
        Case {
            name: "malformed YAML",
            bytes: b"a: [unclosed\n  b: {\n".to_vec(),
        },
    ]
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn tampered_files_are_refused_like_sops_refuses_them() {
    let sb = Sandbox::new();
    let (key, recipient) = keygen(&sb, "key.txt");
    let plain = write(
        &sb.work(),
        "secrets.yaml",
        format!("a: {SECRET_A}\nb: {SECRET_B}\nnote_unencrypted: hello\n").as_bytes(),
    );
    let mut cmd = sb.sops();
    cmd.args(["encrypt", "--age", &recipient]).arg(&plain);
    let original = String::from_utf8(ok(run(cmd, None), "sops encrypt")).unwrap();
    assert_ne!(value_of(&original, "a"), value_of(&original, "b"));

    let mut report = Vec::new();
    for case in cases(&original) {
        let file = write(&sb.work(), "tampered.yaml", &case.bytes);
        let mut ours = sb.ccsecrets();
        ours.env("SOPS_AGE_KEY_FILE", &key)
            .arg("decrypt")
            .arg(&file);
        let ours = run(ours, None);
        let mut theirs = sb.sops();
        theirs
            .env("SOPS_AGE_KEY_FILE", &key)
            .arg("decrypt")
            .arg(&file);
        let theirs = run(theirs, None);
        let stderr = String::from_utf8_lossy(&ours.stderr);
        assert!(
            !ours.status.success(),
            "{}: ccsecrets accepted it",
            case.name
        );
        assert!(
            !theirs.status.success(),
            "{}: sops accepted it (bad test case)",
            case.name
        );
        assert!(ours.stdout.is_empty(), "{}: printed to stdout", case.name);
        assert!(
            stderr.contains("tampered.yaml"),
            "{}: error does not name the file: {stderr}",
            case.name
        );
        assert!(
            !stderr.contains(SECRET_A) && !stderr.contains(SECRET_B),
            "{}: a secret reached stderr",
            case.name
        );
        report.push(format!(
            "{}: ccsecrets {:?}, sops {:?}",
            case.name,
            ours.status.code(),
            theirs.status.code()
        ));
        // sops exits 2 when it panics on a malformed file; we give a parse error instead.
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "{}: exit codes differ\n{stderr}",
            case.name
        );
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn wrong_key_lists_recipients_and_public_keys_only() {
    let sb = Sandbox::new();
    let (_key, recipient) = keygen(&sb, "right.txt");
    let (wrong, wrong_public) = keygen(&sb, "wrong.txt");
    let plain = write(&sb.work(), "s.yaml", format!("a: {SECRET_A}\n").as_bytes());
    let mut cmd = sb.ccsecrets();
    cmd.args(["encrypt", "--age", &recipient, "-i"]).arg(&plain);
    ok(run(cmd, None), "ccsecrets encrypt -i");

    let mut cmd = sb.ccsecrets();
    cmd.env("SOPS_AGE_KEY_FILE", &wrong)
        .arg("decrypt")
        .arg(&plain);
    let out = run(cmd, None);
    let mut sops = sb.sops();
    sops.env("SOPS_AGE_KEY_FILE", &wrong)
        .arg("decrypt")
        .arg(&plain);
    let theirs = run(sops, None);
    assert_eq!(out.status.code(), Some(128));
    assert_eq!(theirs.status.code(), Some(128));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&recipient), "{stderr}");
    assert!(stderr.contains(&wrong_public), "{stderr}");
    let secret_key = std::fs::read_to_string(&wrong).unwrap();
    let secret_line = secret_key
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap();
    assert!(
        !stderr.contains(secret_line),
        "a private key reached stderr"
    );
    assert!(!stderr.contains(SECRET_A));
}

#[test]
fn failed_in_place_encrypt_leaves_the_file_as_it_was() {
    let sb = Sandbox::new();
    let (_key, recipient) = keygen(&sb, "k.txt");
    let bad = write(&sb.work(), "bad.yaml", b"a: [1, 2\n");
    let mut cmd = sb.ccsecrets();
    cmd.args(["encrypt", "--age", &recipient, "--in-place"])
        .arg(&bad);
    let out = run(cmd, None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&bad).unwrap(), b"a: [1, 2\n");
    assert_eq!(
        std::fs::read_dir(sb.work()).unwrap().count(),
        1,
        "no temp file left behind"
    );

    // Encrypting an encrypted file is refused with sops's code, file untouched.
    let good = write(&sb.work(), "good.yaml", b"a: 1\n");
    let mut cmd = sb.ccsecrets();
    cmd.args(["encrypt", "--age", &recipient, "-i"]).arg(&good);
    ok(run(cmd, None), "encrypt -i");
    let before = std::fs::read(&good).unwrap();
    let mut cmd = sb.ccsecrets();
    cmd.args(["encrypt", "--age", &recipient, "-i"]).arg(&good);
    let out = run(cmd, None);
    assert_eq!(out.status.code(), Some(203));
    assert_eq!(std::fs::read(&good).unwrap(), before);
}

/// Empty and unparsable inputs: `encrypt` and `decrypt` exit with the real sops's code (an
/// empty JSON file is a parse error, 2 on encrypt; an encrypted file that does not parse is
/// sops's unwrapped loader error, 1), print nothing, and name the file.
#[test]
fn empty_and_malformed_inputs_exit_like_sops() {
    let sb = Sandbox::new();
    let (key, recipient) = keygen(&sb, "k.txt");
    let inputs: [(&str, &[u8]); 6] = [
        ("empty.json", b""),
        ("blank.json", b" \n\t\n"),
        ("array.json", b"[1, 2]\n"),
        ("empty.yaml", b""),
        ("comment-only.yaml", b"# nothing here\n"),
        ("malformed.yaml", b"a: [unclosed\n  b: {\n"),
    ];
    let mut report = Vec::new();
    for (name, bytes) in inputs {
        let file = write(&sb.work(), name, bytes);
        for verb in ["encrypt", "decrypt"] {
            let args: Vec<&str> = match verb {
                "encrypt" => vec!["encrypt", "--age", &recipient],
                _ => vec!["decrypt"],
            };
            let mut ours = sb.ccsecrets();
            ours.env("SOPS_AGE_KEY_FILE", &key).args(&args).arg(&file);
            let ours = run(ours, None);
            let mut theirs = sb.sops();
            theirs.env("SOPS_AGE_KEY_FILE", &key).args(&args).arg(&file);
            let theirs = run(theirs, None);
            let stderr = String::from_utf8_lossy(&ours.stderr);
            report.push(format!(
                "{verb} {name}: ccsecrets {:?}, sops {:?}",
                ours.status.code(),
                theirs.status.code()
            ));
            assert!(!theirs.status.success(), "{verb} {name}: sops accepted it");
            assert_eq!(
                ours.status.code(),
                theirs.status.code(),
                "{verb} {name}: exit codes differ\n{stderr}"
            );
            assert!(ours.stdout.is_empty(), "{verb} {name}: printed to stdout");
            assert!(stderr.contains(name), "{verb} {name}: {stderr}");
            assert_eq!(std::fs::read(&file).unwrap(), bytes, "{verb} {name}");
        }
    }
    eprintln!("{}", report.join("\n"));
}
