//! The Nix glue against a real `nix-instantiate` (Debian's `nix-bin`; no nixpkgs): every
//! `.nix` file we ship parses; `ccsecrets nix` output and the module's data path
//! (`nix/declarations.nix` over the committed `sops-nix.json`) evaluate with
//! `--eval --strict --json` to exactly the declarations the test builds itself from the
//! decrypted secret set; `nix/module.nix` wires them into `sops` (with a stub `lib`).

use std::path::{Path, PathBuf};

use ccsecrets_core::instance::SecretSet;
use ccsecrets_core::keys::Identity;
use ccsecrets_core::sops::document::{DecryptOptions, EncryptedFile};
use ccsecrets_core::sops::store::Format;
use ccsecrets_tests::{fixture, nix_instantiate, ok, repo_root, run, Sandbox};
use serde_json::{json, Value};

fn nix(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    let mut c = sb.command(&nix_instantiate());
    // A private store/state for the evaluator, inside the sandbox.
    c.env("NIX_STATE_DIR", sb.dir.path().join("nix-state"))
        .env("NIX_LOG_DIR", sb.dir.path().join("nix-log"))
        .args(args);
    run(c, None)
}

fn eval_json(sb: &Sandbox, args: &[&str]) -> Value {
    let mut all = vec!["--eval", "--strict", "--json"];
    all.extend_from_slice(args);
    let out = ok(nix(sb, &all), "nix-instantiate --eval");
    serde_json::from_slice(&out).expect("nix-instantiate printed JSON")
}

/// A copy of the example instance in a directory whose name needs Nix escaping.
fn instance_copy(sb: &Sandbox) -> PathBuf {
    let dir = sb.work().join("inst ${x} \"q\" \\b");
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    let src = fixture("example-instance");
    for f in ["instance.nix", ".sops.yaml", "secrets/secrets.yaml"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    dir
}

/// The declarations the schema implies, built here from the decrypted secret set (not from
/// the code that prints them).
fn expected(instance: &Path) -> Value {
    let bytes = std::fs::read(instance.join("secrets/secrets.yaml")).unwrap();
    let file = EncryptedFile::parse(&bytes, Format::Yaml).unwrap();
    let key = std::fs::read_to_string(fixture("keys/key1.txt")).unwrap();
    let ids = Identity::parse_list(&key, "key1").unwrap();
    let plain = file.decrypt(&ids, DecryptOptions::default()).unwrap();
    let set = SecretSet::from_documents(&plain.branches).unwrap();
    let mut secrets = serde_json::Map::new();
    for s in set.secrets() {
        assert!(!s.name.contains('['), "the example has no list items");
        let key = s.name.replace('.', "/");
        let t = &s.target;
        secrets.insert(
            key.clone(),
            json!({
                "key": key,
                "path": t.path.to_str().unwrap(),
                "owner": t.owner,
                "group": t.group,
                "mode": format!("{:04o}", t.mode),
                "restartUnits": t.restart_units,
            }),
        );
    }
    assert_eq!(secrets.len(), set.secrets().len());
    assert!(secrets.len() >= 6, "the six fixed secrets at least");
    assert_eq!(
        secrets["tls/fullchain"]["path"],
        "/var/lib/ci-certs/live/fullchain.pem"
    );
    json!({
        "sops": {
            "defaultSopsFile": instance.join("secrets/secrets.yaml").to_str().unwrap(),
            "age": {
                "keyFile": "/var/lib/sops-nix/key.txt",
                "sshKeyPaths": ["/etc/ssh/ssh_host_ed25519_key"],
                "generateKey": false,
            },
            "secrets": secrets,
        }
    })
}

/// A Nix string literal for a test-controlled path (escaping done here, independently).
fn nix_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn shipped_nix_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            if !matches!(name.as_ref(), "target" | ".git" | ".venv") {
                shipped_nix_files(&p, out);
            }
        } else if name.ends_with(".nix") {
            out.push(p);
        }
    }
}

#[test]
fn every_shipped_nix_file_parses() {
    let sb = Sandbox::new();
    let root = repo_root();
    let mut files = Vec::new();
    shipped_nix_files(&root, &mut files);
    files.sort();
    for must in [
        "flake.nix",
        "nix/module.nix",
        "nix/package.nix",
        "nix/declarations.nix",
    ] {
        assert!(files.contains(&root.join(must)), "{must} is shipped");
    }
    for f in &files {
        ok(
            nix(&sb, &["--parse", f.to_str().unwrap()]),
            &format!("nix-instantiate --parse {}", f.display()),
        );
    }
}

#[test]
fn printed_declarations_evaluate_to_the_schema() {
    let sb = Sandbox::new();
    let inst = instance_copy(&sb);
    let mut c = sb.ccsecrets();
    c.args(["nix", "--instance"]).arg(&inst);
    let text = ok(run(c, None), "ccsecrets nix");
    let out = sb.work().join("declarations.nix");
    std::fs::write(&out, &text).unwrap();
    // The output alone: no free variables, the sops file a string (no store copy).
    let got = eval_json(&sb, &[out.to_str().unwrap()]);
    assert_eq!(got, expected(&inst));
}

#[test]
fn printed_declarations_take_the_host_key_flags() {
    let sb = Sandbox::new();
    let inst = instance_copy(&sb);
    let mut c = sb.ccsecrets();
    c.args(["nix", "--instance"])
        .arg(&inst)
        .args(["--age-key-file", "/etc/age/boot.txt", "--no-ssh-keys"])
        .args(["--sops-file", "/nix/store/x-instance/secrets/secrets.yaml"]);
    let text = ok(run(c, None), "ccsecrets nix");
    let out = sb.work().join("d.nix");
    std::fs::write(&out, &text).unwrap();
    let got = eval_json(&sb, &[out.to_str().unwrap()]);
    let mut want = expected(&inst);
    want["sops"]["age"]["keyFile"] = json!("/etc/age/boot.txt");
    want["sops"]["age"]["sshKeyPaths"] = json!([]);
    want["sops"]["defaultSopsFile"] = json!("/nix/store/x-instance/secrets/secrets.yaml");
    assert_eq!(got, want);
}

#[test]
fn module_data_path_evaluates_to_the_same_declarations() {
    let sb = Sandbox::new();
    let inst = instance_copy(&sb);
    let mut c = sb.ccsecrets();
    c.args(["nix", "--write", "--instance"]).arg(&inst);
    ok(run(c, None), "ccsecrets nix --write");
    assert!(inst.join("sops-nix.json").is_file());

    let decl = repo_root().join("nix/declarations.nix");
    let expr = format!(
        "{{ sops = import {} {{ instance = {}; }}; }}",
        nix_str(decl.to_str().unwrap()),
        nix_str(inst.to_str().unwrap())
    );
    let got = eval_json(&sb, &["--expr", &expr]);
    assert_eq!(got, expected(&inst));

    // The module puts exactly that under `sops` (lib stubbed: option types are not checked
    // without nixpkgs).
    let module = repo_root().join("nix/module.nix");
    let stub = r#"{
        mkOption = o: o;
        mkIf = condition: content: { inherit condition content; };
        literalExpression = s: s;
        types = { path = "path"; str = "str"; nullOr = t: t; listOf = t: t; };
    }"#;
    let expr = format!(
        "let m = import {} {{ lib = {stub}; config.ccsecrets = {{ instance = {}; \
         ageKeyFile = \"/var/lib/sops-nix/key.txt\"; \
         sshKeyPaths = [ \"/etc/ssh/ssh_host_ed25519_key\" ]; }}; }}; \
         in {{ enabled = m.config.condition; inherit (m.config.content) sops; \
         options = builtins.attrNames m.options.ccsecrets; }}",
        nix_str(module.to_str().unwrap()),
        nix_str(inst.to_str().unwrap())
    );
    let got = eval_json(&sb, &["--expr", &expr]);
    assert_eq!(got["enabled"], json!(true));
    assert_eq!(got["sops"], expected(&inst)["sops"]);
    assert_eq!(
        got["options"],
        json!(["ageKeyFile", "instance", "sshKeyPaths"])
    );
}

#[test]
fn missing_glue_is_a_clear_evaluation_error() {
    let sb = Sandbox::new();
    let inst = instance_copy(&sb);
    let decl = repo_root().join("nix/declarations.nix");
    let expr = format!(
        "(import {} {{ instance = {}; }}).secrets",
        nix_str(decl.to_str().unwrap()),
        nix_str(inst.to_str().unwrap())
    );
    let out = nix(&sb, &["--eval", "--strict", "--json", "--expr", &expr]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sops-nix.json does not exist") && err.contains("ccsecrets nix"),
        "{err}"
    );
}

/// Replaces the example's `registry: []` by `registry` (YAML text at the top level) and
/// encrypts the file again with the real sops to the example's test recipient.
fn with_registry(sb: &Sandbox, inst: &Path, registry: &str) {
    let file = inst.join("secrets/secrets.yaml");
    let mut c = sb.sops();
    c.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
        .arg("decrypt")
        .arg(&file);
    let plain = String::from_utf8(ok(run(c, None), "sops decrypt")).unwrap();
    assert!(plain.contains("registry: []"));
    let plain = plain.replace("registry: []", registry);
    let plain_file = sb.work().join("plain.yaml");
    std::fs::write(&plain_file, plain).unwrap();
    let mut c = sb.sops();
    c.args([
        "encrypt",
        "--age",
        "age1j47sfe2f86s58dy7ryuwpmxu00d5vwlz37ntn2me7vtksndn294s5z7f3s",
    ])
    .arg(&plain_file);
    let enc = ok(run(c, None), "sops encrypt");
    std::fs::write(&file, enc).unwrap();
}

#[test]
fn list_items_are_refused_with_a_hint() {
    let sb = Sandbox::new();
    let inst = instance_copy(&sb);
    // The older list form: sops-nix cannot address a list item.
    with_registry(
        &sb,
        &inst,
        "registry:\n    - host: registry.example.org\n      username: u\n      password: p",
    );
    let mut c = sb.ccsecrets();
    c.args(["nix", "--instance"]).arg(&inst);
    let out = run(c, None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("registry[0].username") && err.contains("registry: { LABEL:"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn labelled_registry_credentials_are_declared_where_sops_finds_them() {
    let sb = Sandbox::new();
    let inst = instance_copy(&sb);
    with_registry(
        &sb,
        &inst,
        "registry:\n    ghcr:\n        host: ghcr.io\n        username: ci-bot\n        password: REGISTRY-TOKEN",
    );
    let mut c = sb.ccsecrets();
    c.args(["nix", "--instance"]).arg(&inst);
    let text = ok(run(c, None), "ccsecrets nix");
    let out = sb.work().join("declarations.nix");
    std::fs::write(&out, &text).unwrap();
    let got = eval_json(&sb, &[out.to_str().unwrap()]);
    let want = expected(&inst);
    assert_eq!(got, want);
    let decl = &got["sops"]["secrets"]["registry/ghcr/password"];
    assert_eq!(decl["key"], "registry/ghcr/password");
    assert_eq!(decl["path"], "/run/secrets/registry/ghcr/password");
    assert_eq!(decl["restartUnits"], json!(["cc-ci-drone.service"]));
    assert!(got["sops"]["secrets"]["registry/ghcr/username"].is_object());
    assert!(got["sops"]["secrets"].get("registry/ghcr/host").is_none());

    // sops-nix looks a key up by its `/`-separated parts in the mappings: the real sops
    // finds the value at that same path.
    let mut c = sb.sops();
    c.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
        .args([
            "decrypt",
            "--extract",
            r#"["registry"]["ghcr"]["password"]"#,
        ])
        .arg(inst.join("secrets/secrets.yaml"));
    assert_eq!(ok(run(c, None), "sops --extract"), b"REGISTRY-TOKEN");
    let text = String::from_utf8_lossy(&text);
    assert!(!text.contains("REGISTRY-TOKEN") && !text.contains("ci-bot"));
}

#[test]
fn committed_example_glue_is_current() {
    let fixture_dir = fixture("example-instance");
    assert_eq!(
        ccsecrets_core::nix::glue_findings(&fixture_dir).unwrap(),
        vec![],
        "fixtures/example-instance/sops-nix.json disagrees with secrets.yaml"
    );
    let sb = Sandbox::new();
    let inst = instance_copy(&sb);
    let mut c = sb.ccsecrets();
    c.args(["nix", "--write", "--instance"]).arg(&inst);
    ok(run(c, None), "ccsecrets nix --write");
    assert_eq!(
        std::fs::read(inst.join("sops-nix.json")).unwrap(),
        std::fs::read(fixture_dir.join("sops-nix.json")).unwrap(),
        "regenerate fixtures/example-instance/sops-nix.json with ccsecrets nix --write"
    );
    // And the module evaluates over the committed fixture itself.
    let decl = repo_root().join("nix/declarations.nix");
    let expr = format!(
        "builtins.attrNames (import {} {{ instance = {}; }}).secrets",
        nix_str(decl.to_str().unwrap()),
        nix_str(fixture_dir.to_str().unwrap())
    );
    let got = eval_json(&sb, &["--expr", &expr]);
    assert_eq!(
        got,
        json!([
            "drone/oauth_client_id",
            "drone/oauth_client_secret",
            "drone/rpc_secret",
            "tls/fullchain",
            "tls/privkey",
            "webhook/hmac"
        ])
    );
}
