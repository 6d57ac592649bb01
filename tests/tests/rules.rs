//! `.sops.yaml` creation rules, found and matched as sops finds and matches them: for every
//! file the real sops encrypted through `fixtures/sops/rules/.sops.yaml`, ccsecrets (run the same
//! way, with no key flags) picks the same recipients and selection rule, and sops decrypts the
//! result to the same plaintext.

use std::path::Path;

use ccsecrets_core::sops::document::EncryptedFile;
use ccsecrets_core::sops::store::Format;
use ccsecrets_tests::{fixture, ok, run, Sandbox};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let dest = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

fn policy(path: &Path) -> (Vec<String>, Option<(&'static str, String)>) {
    let f = EncryptedFile::parse(&std::fs::read(path).unwrap(), Format::from_path(path)).unwrap();
    let mut r = f.metadata.recipients();
    r.sort();
    (r, f.metadata.selector.as_ref().map(|s| s.field()))
}

#[test]
fn creation_rules_pick_what_sops_picked() {
    let sb = Sandbox::new();
    let rules = sb.work().join("repo");
    copy_dir(&fixture("sops/rules"), &rules);
    let cases = [
        "k8s-db.yaml",
        "team.yaml",
        "service.json",
        "secrets/db.yaml",
        "other.yaml",
    ];
    for rel in cases {
        let (stem, ext) = rel.rsplit_once('.').unwrap();
        let sops_file = rules.join(format!("{stem}.enc.{ext}"));
        let ours = rules.join(format!("{stem}.ours.{ext}"));
        // Run from a subdirectory: the config is found by walking up, and the rule matches the
        // path relative to the config's directory.
        let sub = rules.join("secrets");
        let mut cmd = sb.ccsecrets();
        cmd.current_dir(&sub)
            .arg("encrypt")
            .arg("--filename-override")
            .arg(rules.join(rel))
            .arg("--output")
            .arg(&ours)
            .arg(rules.join(rel));
        ok(run(cmd, None), &format!("ccsecrets encrypt {rel}"));
        assert_eq!(
            policy(&ours),
            policy(&sops_file),
            "{rel}: recipients or selection rule differ"
        );

        let mut cmd = sb.sops();
        cmd.env("SOPS_AGE_KEY_FILE", fixture("keys/all.txt"))
            .arg("decrypt")
            .arg(&ours);
        let plain = ok(run(cmd, None), &format!("sops decrypt ours {rel}"));
        let want = std::fs::read(rules.join(format!("{stem}.dec.{ext}"))).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&plain),
            String::from_utf8_lossy(&want),
            "{rel}"
        );
    }
}

#[test]
fn no_matching_rule_is_an_error_even_with_age() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.work().join(".sops.yaml"),
        "creation_rules:\n  - path_regex: ^only-this\\.yaml$\n    age: age1j47sfe2f86s58dy7ryuwpmxu00d5vwlz37ntn2me7vtksndn294s5z7f3s\n",
    )
    .unwrap();
    std::fs::write(sb.work().join("other.yaml"), "a: 1\n").unwrap();
    let args = [
        "encrypt",
        "--age",
        "age1j47sfe2f86s58dy7ryuwpmxu00d5vwlz37ntn2me7vtksndn294s5z7f3s",
        "other.yaml",
    ];
    let mut ours = sb.ccsecrets();
    ours.args(args);
    let ours = run(ours, None);
    let mut theirs = sb.sops();
    theirs.args(args);
    let theirs = run(theirs, None);
    assert_eq!(ours.status.code(), theirs.status.code());
    assert_eq!(ours.status.code(), Some(1));
    assert!(ours.stdout.is_empty());
    assert!(String::from_utf8_lossy(&ours.stderr).contains("no matching creation rules"));
}
