//! A private key pasted where a recipient belongs (`--age`, `--add-age`, a `.sops.yaml`
//! rule) is refused without ever being echoed on stdout or stderr.

use std::path::Path;

use ccsecrets_tests::{fixture, run, Sandbox};

/// The `AGE-SECRET-KEY-1…` line of the fixture key.
fn secret_key() -> String {
    std::fs::read_to_string(fixture("keys/key1.txt"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap()
        .to_owned()
}

fn assert_refused_silently(out: &std::process::Output, key: &str, what: &str) {
    assert!(!out.status.success(), "{what}: accepted a private key");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Neither the key nor its lower-case form, nor any long piece of its data part.
    let data = &key["AGE-SECRET-KEY-1".len()..];
    for piece in [data, &data[..20], &data[data.len() - 20..]] {
        assert!(!all.contains(piece), "{what} echoed the key: {all}");
        assert!(
            !all.to_ascii_uppercase().contains(piece),
            "{what} echoed the key: {all}"
        );
    }
    assert!(all.contains("private key"), "{what}: {all}");
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn a_private_key_as_recipient_is_never_echoed() {
    let sb = Sandbox::new();
    let key = secret_key();
    let w = sb.work();
    write(&w, "plain.yaml", "a: 1\n");

    for form in [key.clone(), key.to_ascii_lowercase()] {
        let mut c = sb.ccsecrets();
        c.args(["encrypt", "--age", &form, "plain.yaml"]);
        assert_refused_silently(&run(c, None), &key, "encrypt --age");
    }

    write(
        &w,
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: .*\n    age: {key}\n"),
    );
    let mut c = sb.ccsecrets();
    c.args(["encrypt", "plain.yaml"]);
    assert_refused_silently(&run(c, None), &key, "a .sops.yaml rule");

    // rotate --add-age on a real encrypted file.
    std::fs::remove_file(w.join(".sops.yaml")).unwrap();
    std::fs::copy(
        fixture("example-instance/secrets/secrets.yaml"),
        w.join("s.yaml"),
    )
    .unwrap();
    let before = std::fs::read(w.join("s.yaml")).unwrap();
    let mut c = sb.ccsecrets();
    c.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt")).args([
        "rotate",
        "-i",
        "--add-age",
        &key,
        "s.yaml",
    ]);
    assert_refused_silently(&run(c, None), &key, "rotate --add-age");
    assert_eq!(std::fs::read(w.join("s.yaml")).unwrap(), before);
}
