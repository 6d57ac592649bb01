//! `unset` against the real sops 3.11: for each path, with and without `--idempotent`, both
//! tools succeed or both fail, and leave the same plaintext behind.
//!
//! The interesting cases are paths that go *through* a scalar (`["a"]["b"]` where `a: 1`):
//! sops fails on them even with `--idempotent`, because such a path cannot exist in a document
//! of that shape; only an absent key, an index past the end of a list, or an index used on a
//! mapping count as "missing".

use std::path::Path;
use std::process::Command;

use ccsecrets_tests::{ok, run, Sandbox};

const PLAIN: &str = "a: 1\nm:\n    x: s\nl:\n    - 1\n    - 2\nm2: {}\n";

fn keygen(sb: &Sandbox) -> (std::path::PathBuf, String) {
    let key = sb.dir.path().join("key.txt");
    let mut c = Command::new("age-keygen");
    c.arg("-o").arg(&key);
    ok(run(c, None), "age-keygen");
    let mut c = Command::new("age-keygen");
    c.arg("-y").arg(&key);
    let r = String::from_utf8(ok(run(c, None), "age-keygen -y")).unwrap();
    (key, r.trim().to_owned())
}

fn decrypt(sb: &Sandbox, key: &Path, file: &Path) -> Vec<u8> {
    let mut c = sb.sops();
    c.env("SOPS_AGE_KEY_FILE", key).arg("decrypt").arg(file);
    ok(run(c, None), "sops decrypt")
}

#[test]
fn unset_matches_sops_on_missing_and_impossible_paths() {
    let sb = Sandbox::new();
    let (key, recipient) = keygen(&sb);
    let plain = sb.work().join("p.yaml");
    std::fs::write(&plain, PLAIN).unwrap();
    let mut c = sb.sops();
    c.args(["encrypt", "--age", &recipient]).arg(&plain);
    let encrypted = ok(run(c, None), "sops encrypt");

    let paths = [
        // Through a scalar: an error even with --idempotent.
        r#"["a"]["b"]"#,
        r#"["a"][0]"#,
        r#"["a"]["b"]["c"]"#,
        r#"["m"]["x"]["y"]"#,
        r#"["l"][0]["y"]"#,
        // A key on a list: sops 3.11 panics (exit 2); both must fail.
        r#"["l"]["x"]"#,
        // Missing: accepted by --idempotent.
        r#"["zz"]"#,
        r#"["zz"]["y"]"#,
        r#"["zz"]["y"]["z"]"#,
        r#"["m"]["zz"]"#,
        r#"["m"][0]"#,
        r#"["m2"]["q"]"#,
        r#"["l"][5]"#,
        r#"["l"][9]["q"]"#,
        r#"[0]"#,
        // Present: removed by both.
        r#"["a"]"#,
        r#"["m"]["x"]"#,
        r#"["l"][1]"#,
    ];
    for path in paths {
        for idempotent in [false, true] {
            let mut results = Vec::new();
            for tool in ["sops", "ccsecrets"] {
                let file = sb.work().join(format!("{tool}.yaml"));
                std::fs::write(&file, &encrypted).unwrap();
                let mut c = if tool == "sops" {
                    sb.sops()
                } else {
                    sb.ccsecrets()
                };
                c.env("SOPS_AGE_KEY_FILE", &key).arg("unset");
                if idempotent {
                    c.arg("--idempotent");
                }
                c.arg(&file).arg(path);
                let out = run(c, None);
                let after = std::fs::read(&file).unwrap();
                let unchanged = after == encrypted;
                if !out.status.success() {
                    assert!(
                        unchanged,
                        "{tool} unset {path}: failed but changed the file"
                    );
                    let err = String::from_utf8_lossy(&out.stderr).into_owned();
                    if tool == "ccsecrets" {
                        assert_eq!(out.status.code(), Some(1), "{path}: {err}");
                        assert!(err.contains("ccsecrets.yaml"), "names the file: {err}");
                    }
                }
                let plaintext = decrypt(&sb, &key, &file);
                results.push((out.status.success(), unchanged, plaintext));
            }
            assert_eq!(
                (results[0].0, results[0].1),
                (results[1].0, results[1].1),
                "unset {}{path}: (success, unchanged) of sops vs ccsecrets",
                if idempotent { "--idempotent " } else { "" }
            );
            assert_eq!(
                String::from_utf8_lossy(&results[0].2),
                String::from_utf8_lossy(&results[1].2),
                "unset {path}: the plaintext left behind"
            );
        }
    }
}
