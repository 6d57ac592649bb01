//! Secret names are plaintext structure in `secrets.yaml` (only values are encrypted), so
//! anyone who can commit to the instance repo chooses them. `ccsecrets nix` must render any
//! name as data: the real `nix-instantiate` evaluates its output to exactly the names in the
//! file, and a name Nix cannot carry (NUL) is refused rather than silently cut short.

use std::path::{Path, PathBuf};

use ccsecrets_tests::{fixture, nix_instantiate, ok, run, Sandbox};
use serde_json::Value;

/// The example instance with `extra` secrets named `names`, encrypted by the real sops.
fn instance_with_extra(sb: &Sandbox, names: &[&str]) -> PathBuf {
    let dir = sb.work().join("instance");
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    let src = fixture("example-instance");
    for f in ["instance.nix", ".sops.yaml"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let mut plain = std::fs::read_to_string(fixture("example-instance.dec.yaml")).unwrap();
    plain.push_str("extra:\n");
    for (i, n) in names.iter().enumerate() {
        // A YAML double-quoted key, escaped here independently of the code under test.
        let mut q = String::new();
        for c in n.chars() {
            match c {
                '"' => q.push_str("\\\""),
                '\\' => q.push_str("\\\\"),
                '\n' => q.push_str("\\n"),
                '\t' => q.push_str("\\t"),
                '\0' => q.push_str("\\0"),
                c => q.push(c),
            }
        }
        plain.push_str(&format!("    \"{q}\": value{i}\n"));
    }
    let file = dir.join("secrets/secrets.yaml");
    std::fs::write(&file, plain).unwrap();
    let mut c = sb.sops();
    c.current_dir(&dir)
        .args(["encrypt", "-i", "secrets/secrets.yaml"]);
    ok(run(c, None), "sops encrypt");
    dir
}

fn ccsecrets_nix(sb: &Sandbox, inst: &Path) -> std::process::Output {
    let mut c = sb.ccsecrets();
    c.args(["nix", "--instance"]).arg(inst);
    run(c, None)
}

const ADVERSARIAL: [&str; 6] = [
    "quote\"name",
    "dollar${abort \"pwned\"}",
    "esc\\${abort \"pwned\"}",
    "back\\slash",
    "new\nline",
    "tab\there''${x}",
];

#[test]
fn adversarial_secret_names_stay_data_in_the_nix_output() {
    let sb = Sandbox::new();
    let inst = instance_with_extra(&sb, &ADVERSARIAL);
    let out = ok(ccsecrets_nix(&sb, &inst), "ccsecrets nix");
    let file = sb.work().join("out.nix");
    std::fs::write(&file, &out).unwrap();
    let mut c = sb.command(&nix_instantiate());
    c.env("NIX_STATE_DIR", sb.dir.path().join("nix-state"))
        .env("NIX_LOG_DIR", sb.dir.path().join("nix-log"))
        .args(["--eval", "--strict", "--json"])
        .arg(&file);
    let json: Value = serde_json::from_slice(&ok(run(c, None), "nix-instantiate")).unwrap();
    let secrets = json["sops"]["secrets"].as_object().unwrap();
    for n in ADVERSARIAL {
        let key = format!("extra/{n}");
        let d = secrets
            .get(&key)
            .unwrap_or_else(|| panic!("{key:?} missing: {:?}", secrets.keys()));
        assert_eq!(d["key"], Value::String(key.clone()));
        assert_eq!(d["path"], Value::String(format!("/run/secrets/{key}")));
    }
    let extras = secrets.keys().filter(|k| k.starts_with("extra/")).count();
    assert_eq!(extras, ADVERSARIAL.len());
}

#[test]
fn a_nul_in_a_secret_name_is_refused_not_truncated() {
    let sb = Sandbox::new();
    let inst = instance_with_extra(&sb, &["plain", "nul\0cut"]);
    let out = ccsecrets_nix(&sb, &inst);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "printed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(err.contains("NUL"), "{err}");
    assert!(err.contains("extra.nul\\0cut"), "{err}");

    // install refuses it while planning: nothing at all is written under ROOT.
    let root = sb.work().join("root");
    let mut c = sb.ccsecrets();
    c.args(["install", "--no-chown", "--instance"])
        .arg(&inst)
        .arg("--root")
        .arg(&root)
        .arg("--identity")
        .arg(fixture("keys/key1.txt"));
    let out = run(c, None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("NUL"), "{err}");
    assert!(!root.exists(), "install wrote under ROOT before refusing");
}
