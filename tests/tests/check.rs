//! `ccsecrets check` on real git repositories built in temp dirs with the git CLI, and sops
//! files made by the real sops: leaks planted in the tree, only in history (deleted later),
//! only in a merge resolution, only in a commit message, only in the index; an instance and
//! base pair; a sops file with a value decrypted by hand; stale recipients; a tampered MAC
//! (keyed); the allowlist; exit codes; JSON and SARIF; and no output holding any secret.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ccsecrets_core::keys::Identity;
use ccsecrets_tests::{fixture, run, Sandbox};
use serde_json::Value;

const DOMAIN: &str = "ci.example.test";
const RPC: &str = "f5257467204745134b5cfb03e257c8fa";
const HMAC: &str = "7bb97d1312b2cc952b053ca548e6229104bb2ab634be12c7c42f5b3ac922c2cb";
const OAUTH: &str = "gto_2o4jwihwrqp22v6h4x7rylmdlv4jfltitz5w5bfkw3kpffrqcvona";

fn public_key(keyfile: &str) -> String {
    let text = std::fs::read_to_string(fixture(keyfile)).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned()
}

/// A git repository driven by the git CLI with a fixed identity, no user or system config,
/// and a clock that ticks one minute per commit (so "first commit" is deterministic).
struct Git {
    dir: PathBuf,
    home: PathBuf,
    tick: std::cell::Cell<u32>,
}

impl Git {
    fn init(dir: &Path, home: &Path) -> Git {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(home.join("empty.gitconfig"), "").unwrap();
        let g = Git {
            dir: dir.to_owned(),
            home: home.to_owned(),
            tick: std::cell::Cell::new(0),
        };
        g.run(&["init", "-q", "-b", "main"]);
        g
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let t = self.tick.get();
        let date = format!("{} +0000", 1_700_000_000 + 60 * u64::from(t));
        let mut c = Command::new("git");
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.home.join("empty.gitconfig"))
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .args(["-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"])
            .args(args)
            .current_dir(&self.dir);
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let out = run(self.cmd(args), None);
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Stages everything and commits; returns the full commit id.
    fn commit(&self, message: &str) -> String {
        self.run(&["add", "-A"]);
        self.tick.set(self.tick.get() + 1);
        self.run(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    fn head(&self) -> String {
        self.run(&["rev-parse", "HEAD"]).trim().to_owned()
    }
}

/// Encrypts YAML with the real sops for the given recipients (outside any repo, so no
/// `.sops.yaml` applies).
fn sops_encrypt(sb: &Sandbox, plain: &str, age: &[&str]) -> String {
    let input = sb.dir.path().join("plain-input.yaml");
    std::fs::write(&input, plain).unwrap();
    let mut cmd = sb.sops();
    cmd.args([
        "encrypt",
        "--age",
        &age.join(","),
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
    ])
    .arg(&input);
    let out = run(cmd, None);
    assert!(
        out.status.success(),
        "sops: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&input).unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn pem_key() -> String {
    rcgen::KeyPair::generate().unwrap().serialize_pem()
}

fn age_secret() -> String {
    let (_, secret) = Identity::generate();
    secret.to_string()
}

/// Runs `ccsecrets check ARGS` in the sandbox, with an optional identity file.
fn check(sb: &Sandbox, args: &[&str], key: Option<&Path>) -> Output {
    let mut cmd = sb.ccsecrets();
    cmd.arg("check").args(args);
    if let Some(k) = key {
        cmd.env("SOPS_AGE_KEY_FILE", k);
    }
    run(cmd, None)
}

fn json_findings(out: &Output) -> (Vec<Value>, Value) {
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v["findings"].as_array().unwrap().clone(), v)
}

fn of_kind<'a>(findings: &'a [Value], kind: &str) -> Vec<&'a Value> {
    findings.iter().filter(|f| f["kind"] == kind).collect()
}

fn assert_no_secret(out: &Output, secrets: &[String]) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for s in secrets {
        assert!(
            !stdout.contains(s.as_str()) && !stderr.contains(s.as_str()),
            "a secret was printed: {}…",
            &s[..s.len().min(12)]
        );
    }
}

/// Every value that must never be printed: planted secrets, their PEM body lines, and the
/// example instance's decrypted values.
fn secret_strings(planted: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = vec![RPC.into(), HMAC.into(), OAUTH.into()];
    let dec = std::fs::read_to_string(fixture("example-instance.dec.yaml")).unwrap();
    let key_start = dec.find("-----BEGIN PRIVATE KEY-----").unwrap();
    for line in dec[key_start..].lines().skip(1).take(3) {
        out.push(line.trim().to_owned());
    }
    for p in planted {
        out.push(p.trim().to_owned());
        for line in p.lines() {
            let line = line.trim();
            if line.len() >= 20 && !line.starts_with("-----") {
                out.push(line.to_owned());
            }
        }
    }
    out
}

struct Seeded {
    sb: Sandbox,
    instance: PathBuf,
    base: PathBuf,
    secrets: Vec<String>,
    pem_commit: String,
    age_script_commit: String,
    message_commit: String,
    merge_commit: String,
    readme_commit: String,
    key2: String,
}

/// The issue's seeded pair: an instance (the bundled example, plus a stale-recipient file, a
/// file with a value decrypted by hand, an ssh stanza, a declared bootstrap recipient) and a
/// base repo with a PEM key committed then deleted three commits later, an age key in a shell
/// script, an age key in a commit message, a token only in a merge resolution, a key only in
/// the index, the domain in a doc, a secret value pasted in the README (keyed only), lock
/// files with checksums, and an allowlisted test fixture.
fn seeded() -> Seeded {
    let sb = Sandbox::new();
    let key1 = public_key("keys/key1.txt");
    let key2 = public_key("keys/key2.txt");
    let ssh = std::fs::read_to_string(fixture("keys/ssh_ed25519.pub")).unwrap();
    let ssh = ssh.split_whitespace().take(2).collect::<Vec<_>>().join(" ");

    // --- instance
    let instance = sb.work().join("instance");
    copy_dir(&fixture("example-instance"), &instance);
    let inst = Git::init(&instance, &sb.home());
    inst.write(
        "instance.nix",
        &format!("{{\n  domain = \"{DOMAIN}\";\n  hostname = \"build01.{DOMAIN}\";\n  bootstrap.recipient = \"{key1}\";\n}}\n"),
    );
    inst.commit("instance");
    let old = sops_encrypt(&sb, "db_password: old-value-9c1e2d3f4a5b\n", &[&key2]);
    inst.write("secrets/old.yaml", &old);
    let ssh_file = sops_encrypt(&sb, "token: abc\n", &[&key1, &ssh]);
    inst.write("secrets/ssh.yaml", &ssh_file);
    let hand = sops_encrypt(
        &sb,
        "db_password: hunter2-but-longer-9f8e7d6c\napi_url: https://db.internal\n",
        &[&key1],
    );
    let hand: String = hand
        .lines()
        .map(|l| {
            if l.starts_with("db_password: ENC[") {
                "db_password: hunter2-but-longer-9f8e7d6c".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    inst.write("secrets/hand.yaml", &hand);
    // A tampered file: an unencrypted value (covered by the MAC) changed by hand.
    let tampered = sops_encrypt(
        &sb,
        "note_unencrypted: rotated monthly
smtp_password: Qm4x8Lp2Zr7Vn3Ks
",
        &[&key1],
    )
    .replace(
        "note_unencrypted: rotated monthly",
        "note_unencrypted: rotated yearly",
    );
    inst.write("secrets/tampered.yaml", &tampered);
    inst.commit("more secrets files");

    // --- base
    let base = sb.work().join("base");
    let g = Git::init(&base, &sb.home());
    g.write("README.md", "# base\n\nA generic CI host configuration.\n");
    g.write(
        "Cargo.lock",
        "[[package]]\nname = \"x\"\nversion = \"1.0.0\"\nchecksum = \"a3c9e8b7d6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9\"\n",
    );
    g.write(
        "flake.lock",
        "{\n  \"nodes\": {\"nixpkgs\": {\"locked\": {\"narHash\": \"sha256-Q4n7n5rJ2x1xGg0cX0fQ7H4u9vS3z2kq8mNpLrTy6Wc=\", \"rev\": \"4e331f4b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f\"}}}\n}\n",
    );
    g.commit("initial");
    let pem = pem_key();
    g.write("deploy/id_ecdsa.pem", &pem);
    let pem_commit = g.commit("add deploy key");
    g.write("modules/a.nix", "{ }\n");
    g.commit("a");
    g.write("modules/b.nix", "{ }\n");
    g.commit("b");
    std::fs::remove_file(base.join("deploy/id_ecdsa.pem")).unwrap();
    g.commit("remove deploy key");
    let script_key = age_secret();
    g.write(
        "scripts/bootstrap.sh",
        &format!("#!/bin/sh\n# bootstrap\necho '{script_key}' > /var/lib/sops/key.txt\n"),
    );
    let age_script_commit = g.commit("bootstrap script");
    // Later versions of the script still hold the key: still one finding, at the first.
    g.write(
        "scripts/bootstrap.sh",
        &format!("#!/bin/sh\n# bootstrap\necho '{script_key}' > /var/lib/sops/key.txt\nchmod 600 /var/lib/sops/key.txt\n"),
    );
    g.commit("bootstrap script: mode");
    let message_key = age_secret();
    g.write("modules/c.nix", "{ }\n");
    let message_commit = g.commit(&format!("c\n\nused key {message_key} for testing"));

    // A token that only a merge commit's resolution holds.
    let merge_token = "api_token = \"Zt8q2Lw9Xr4Vb7Nc1Mk6Hj3Gf5Ds0Pa\"";
    g.run(&["checkout", "-q", "-b", "feature"]);
    g.write("conf/app.conf", "mode = feature\n");
    g.commit("feature");
    g.run(&["checkout", "-q", "main"]);
    g.write("conf/other.conf", "x = 1\n");
    g.commit("main side");
    g.run(&["merge", "-q", "--no-commit", "--no-ff", "feature"]);
    g.write("conf/app.conf", &format!("mode = feature\n{merge_token}\n"));
    g.run(&["add", "-A"]);
    g.tick.set(g.tick.get() + 1);
    g.run(&["commit", "-q", "-m", "Merge branch 'feature'"]);
    let merge_commit = g.head();
    // Hide it from the tip: the next commit removes the line again.
    g.write("conf/app.conf", "mode = feature\n");
    g.commit("tidy");

    g.write(
        "docs/setup.md",
        &format!("Point https://{DOMAIN}/ at the host.\n"),
    );
    g.commit("docs");
    g.write(
        "README.md",
        &format!("# base\n\nA generic CI host configuration.\n\nDebug notes: {RPC}\n"),
    );
    let readme_commit = g.commit("notes");
    let fixture_key = pem_key();
    g.write("tests/fixtures/test-key.pem", &fixture_key);
    g.commit("test fixture");

    // Only in the index: staged, then the work-tree copy cleaned without staging.
    let staged_key = pem_key();
    g.write("deploy/staged.pem", &staged_key);
    g.run(&["add", "deploy/staged.pem"]);
    g.write("deploy/staged.pem", "moved to the instance repo\n");

    let secrets = secret_strings(&[
        &pem,
        &script_key,
        &message_key,
        "Zt8q2Lw9Xr4Vb7Nc1Mk6Hj3Gf5Ds0Pa",
        &fixture_key,
        &staged_key,
        "hunter2-but-longer-9f8e7d6c",
        "old-value-9c1e2d3f4a5b",
        "Qm4x8Lp2Zr7Vn3Ks",
    ]);
    Seeded {
        sb,
        instance,
        base,
        secrets,
        pem_commit,
        age_script_commit,
        message_commit,
        merge_commit,
        readme_commit,
        key2,
    }
}

fn pair_args<'a>(s: &'a Seeded, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "--instance",
        s.instance.to_str().unwrap(),
        "--base",
        s.base.to_str().unwrap(),
    ];
    v.extend_from_slice(extra);
    v
}

fn fingerprint_of(findings: &[Value], path: &str) -> String {
    findings
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no finding for {path}"))["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn seeded_pair_keyless_finds_each_leak_once_with_commit_and_path() {
    let s = seeded();
    let out = check(&s.sb, &pair_args(&s, &["--format", "json"]), None);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_secret(&out, &s.secrets);
    let (f, _) = json_findings(&out);
    let base: Vec<Value> = f.iter().filter(|x| x["repo"] == "base").cloned().collect();
    let inst: Vec<Value> = f
        .iter()
        .filter(|x| x["repo"] == "instance")
        .cloned()
        .collect();

    // The PEM key, committed then deleted three commits later: once, at its commit.
    let pem = of_kind(&base, "pem-private-key");
    let deploy: Vec<_> = pem
        .iter()
        .filter(|x| x["path"] == "deploy/id_ecdsa.pem")
        .collect();
    assert_eq!(deploy.len(), 1, "{pem:?}");
    assert_eq!(deploy[0]["commit"], s.pem_commit.as_str());
    assert_eq!(deploy[0]["source"], "commit");
    assert_eq!(deploy[0]["line"], 1);

    // The age key in a shell script (still in the tree): once, at the commit adding it.
    let age = of_kind(&base, "age-secret-key");
    let script: Vec<_> = age
        .iter()
        .filter(|x| x["path"] == "scripts/bootstrap.sh")
        .collect();
    assert_eq!(script.len(), 1, "{age:?}");
    assert_eq!(script[0]["commit"], s.age_script_commit.as_str());
    assert_eq!(script[0]["line"], 3);

    // The age key in a commit message.
    let msg: Vec<_> = age
        .iter()
        .filter(|x| x["source"] == "commit-message")
        .collect();
    assert_eq!(msg.len(), 1, "{age:?}");
    assert_eq!(msg[0]["commit"], s.message_commit.as_str());
    assert_eq!(msg[0]["line"], 3);
    assert_eq!(age.len(), 2, "{age:?}");

    // The token only in the merge resolution.
    let tok = of_kind(&base, "high-entropy-assignment");
    assert_eq!(tok.len(), 1, "{tok:?}");
    assert_eq!(tok[0]["path"], "conf/app.conf");
    assert_eq!(tok[0]["commit"], s.merge_commit.as_str());
    assert_eq!(tok[0]["line"], 2);

    // The key only in the index.
    let staged: Vec<_> = pem
        .iter()
        .filter(|x| x["path"] == "deploy/staged.pem")
        .collect();
    assert_eq!(staged.len(), 1, "{pem:?}");
    assert_eq!(staged[0]["source"], "index");

    // The test fixture (not yet allowlisted) is a finding too.
    assert!(pem
        .iter()
        .any(|x| x["path"] == "tests/fixtures/test-key.pem"));
    assert_eq!(pem.len(), 3, "{pem:?}");

    // The domain in the base repo; the pasted value is not found without a key.
    let names = of_kind(&base, "instance-name-in-base");
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(names[0]["path"], "docs/setup.md");
    assert!(of_kind(&base, "known-secret-value").is_empty());
    // Lock files, git SHAs and checksums are not findings.
    assert!(!base
        .iter()
        .any(|x| x["path"] == "Cargo.lock" || x["path"] == "flake.lock"));

    // Instance policy: the stale recipient, the hand-decrypted value, the ssh stanza.
    let stale = of_kind(&inst, "stale-recipient");
    assert_eq!(stale.len(), 2, "{stale:?}"); // key2 on old.yaml, the ssh key on ssh.yaml
    assert!(stale.iter().any(
        |x| x["path"] == "secrets/old.yaml" && x["message"].as_str().unwrap().contains(&s.key2)
    ));
    let missing = of_kind(&inst, "missing-recipient");
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0]["path"], "secrets/old.yaml");
    let boot = of_kind(&inst, "bootstrap-recipient-missing");
    assert_eq!(boot.len(), 1);
    assert_eq!(boot[0]["path"], "secrets/old.yaml");
    let ssh = of_kind(&inst, "ssh-recipient");
    assert_eq!(ssh.len(), 1);
    assert_eq!(ssh[0]["path"], "secrets/ssh.yaml");
    let plain = of_kind(&inst, "plaintext-value");
    assert_eq!(plain.len(), 1, "{plain:?}");
    assert_eq!(plain[0]["path"], "secrets/hand.yaml");
    assert_eq!(plain[0]["secret"], "db_password");
    // The sops files themselves, and the hand-decrypted value, give no other finding.
    assert!(!inst.iter().any(|x| x["kind"] == "high-entropy-assignment"));
    assert!(
        !inst.iter().any(|x| x["path"] == "secrets/secrets.yaml"),
        "{inst:?}"
    );

    // Human output: grouped by file, each with a fix hint, nothing secret.
    let out = check(&s.sb, &pair_args(&s, &[]), None);
    assert_eq!(out.status.code(), Some(1));
    assert_no_secret(&out, &s.secrets);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("base:deploy/id_ecdsa.pem\n"), "{text}");
    assert!(
        text.contains(&format!(
            "commit {}, line 1: error [pem-private-key]",
            s.pem_commit
        )),
        "{text}"
    );
    assert!(text.contains("    fix: "), "{text}");
}

#[test]
fn seeded_pair_keyed_finds_pasted_values_and_tampered_macs() {
    let s = seeded();
    let out = check(
        &s.sb,
        &pair_args(&s, &["--keyed", "--format", "json"]),
        Some(&fixture("keys/key1.txt")),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_secret(&out, &s.secrets);
    let (f, v) = json_findings(&out);
    assert_eq!(v["keyed"], true);
    let known = of_kind(&f, "known-secret-value");
    assert_eq!(known.len(), 1, "{known:?}");
    assert_eq!(known[0]["repo"], "base");
    assert_eq!(known[0]["path"], "README.md");
    assert_eq!(known[0]["commit"], s.readme_commit.as_str());
    assert_eq!(known[0]["line"], 5);
    assert_eq!(known[0]["secret"], "drone.rpc_secret");
    let mac = of_kind(&f, "mac-mismatch");
    assert_eq!(mac.len(), 1, "{mac:?}");
    assert_eq!(mac[0]["path"], "secrets/tampered.yaml");
    assert!(mac[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("MAC mismatch"));
    // old.yaml is for key2 only: reported as not checked, a warning; hand.yaml's plaintext
    // value does not decrypt (an error, beside its keyless plaintext-value finding).
    let und = of_kind(&f, "undecryptable");
    assert_eq!(und.len(), 2, "{und:?}");
    assert_eq!(und[0]["path"], "secrets/hand.yaml");
    assert_eq!(und[0]["severity"], "error");
    assert!(und[0]["message"]
        .as_str()
        .unwrap()
        .contains("`db_password:`"));
    assert_eq!(und[1]["path"], "secrets/old.yaml");
    assert_eq!(und[1]["severity"], "warning");
    // The example instance validates (its certificate is valid until 2036).
    assert!(of_kind(&f, "instance-validation").is_empty(), "{f:?}");
}

#[test]
fn a_pasted_pem_key_line_base64_and_url_forms_are_found_keyed() {
    let sb = Sandbox::new();
    let instance = sb.work().join("instance");
    copy_dir(&fixture("example-instance"), &instance);
    Git::init(&instance, &sb.home()).commit("instance");
    let base = sb.work().join("base");
    let g = Git::init(&base, &sb.home());
    let dec = std::fs::read_to_string(fixture("example-instance.dec.yaml")).unwrap();
    let line2 = dec
        .lines()
        .skip_while(|l| !l.contains("BEGIN PRIVATE KEY"))
        .nth(2)
        .unwrap()
        .trim();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(HMAC);
    g.write("a.txt", &format!("x\n{line2}\n"));
    g.write("b.txt", &format!("header: {b64}\n"));
    g.write(
        "c.txt",
        "https://u:gto_2o4jwihwrqp22v6h4x7rylmdlv4jfltitz5w5bfkw3kpffrqcvona@host/\n",
    );
    g.commit("paste");
    let out = check(
        &sb,
        &[
            "--instance",
            instance.to_str().unwrap(),
            "--base",
            base.to_str().unwrap(),
            "--format",
            "json",
        ],
        Some(&fixture("keys/key1.txt")),
    );
    assert_eq!(out.status.code(), Some(1));
    let mut planted = secret_strings(&[line2, &b64]);
    planted.push(HMAC.into());
    assert_no_secret(&out, &planted);
    let (f, _) = json_findings(&out);
    let known: BTreeSet<(String, String)> = of_kind(&f, "known-secret-value")
        .iter()
        .map(|x| {
            (
                x["path"].as_str().unwrap().to_owned(),
                x["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        known.contains(&(
            "a.txt".into(),
            "the value of secret `tls.privkey` (PEM body line 2)".into()
        )),
        "{known:?}"
    );
    assert!(
        known.contains(&(
            "b.txt".into(),
            "the value of secret `webhook.hmac` (base64)".into()
        )),
        "{known:?}"
    );
    assert!(
        known.contains(&(
            "c.txt".into(),
            "the value of secret `drone.oauth_client_secret` (value)".into()
        )),
        "{known:?}"
    );
}

#[test]
fn allowlist_hides_reviewed_findings_and_reports_stale_entries() {
    let s = seeded();
    let out = check(&s.sb, &pair_args(&s, &["--format", "json"]), None);
    let (f, _) = json_findings(&out);
    let fp = fingerprint_of(&f, "tests/fixtures/test-key.pem");
    std::fs::write(
        s.base.join(".ccsecrets-allow.toml"),
        format!("[[allow]]\nfingerprint = \"{fp}\"\nreason = \"test fixture, never used\"\n\n[[allow]]\nfingerprint = \"0000000000deadbeef00\"\nreason = \"old\"\n"),
    )
    .unwrap();
    let out = check(&s.sb, &pair_args(&s, &["--format", "json"]), None);
    let (f, v) = json_findings(&out);
    assert!(
        !f.iter().any(|x| x["path"] == "tests/fixtures/test-key.pem"),
        "{f:?}"
    );
    let allowed = v["allowed"].as_array().unwrap();
    assert_eq!(allowed.len(), 1);
    assert_eq!(allowed[0]["reason"], "test fixture, never used");
    let stale = of_kind(&f, "stale-allowlist-entry");
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0]["severity"], "warning");
    assert!(stale[0]["message"]
        .as_str()
        .unwrap()
        .contains("0000000000deadbeef00"));

    // A bad allowlist is a configuration error.
    std::fs::write(
        s.base.join(".ccsecrets-allow.toml"),
        "[[allow]]\nfingerprint = \"x\"\n",
    )
    .unwrap();
    let out = check(&s.sb, &pair_args(&s, &[]), None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(".ccsecrets-allow.toml: allow entry 1: `reason`"),
        "{stderr}"
    );
}

#[test]
fn clean_pair_exits_zero_keyless_and_keyed() {
    let sb = Sandbox::new();
    let instance = sb.work().join("instance");
    copy_dir(&fixture("example-instance"), &instance);
    Git::init(&instance, &sb.home()).commit("instance");
    let base = sb.work().join("base");
    let g = Git::init(&base, &sb.home());
    g.write("README.md", "# base\n\nDeploy with the instance repo.\n");
    g.write(
        "module.nix",
        "{ config, ... }: {\n  services.drone.rpcSecretFile = config.sops.secrets.\"drone/rpc_secret\".path;\n  passwordFile = \"/run/secrets/registry-password-1\";\n}\n",
    );
    g.write(
        "Cargo.lock",
        "checksum = \"a3c9e8b7d6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9\"\n",
    );
    g.commit("base");
    for (args, key) in [
        (vec!["--format", "json"], None),
        (
            vec!["--keyed", "--format", "json"],
            Some(fixture("keys/key1.txt")),
        ),
    ] {
        let mut all = vec![
            "--instance",
            instance.to_str().unwrap(),
            "--base",
            base.to_str().unwrap(),
        ];
        all.extend(args);
        let out = check(&sb, &all, key.as_deref());
        let (f, _) = json_findings(&out);
        assert_eq!(f, Vec::<Value>::new());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Human output of a clean run: the summary line only.
    let out = check(&sb, &["--instance", instance.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(
            "ccsecrets check: 0 errors, 0 warnings, 0 allowed; keyless; instance: 1 commits"
        ),
        "{text}"
    );
}

#[test]
fn staged_checks_the_index_only() {
    let sb = Sandbox::new();
    let repo = sb.work().join("repo");
    let g = Git::init(&repo, &sb.home());
    g.write("a.txt", "hello\n");
    g.commit("a");
    // History leak that --staged does not look at (a hook checks what is about to be committed).
    let old = age_secret();
    g.write("old.sh", &format!("K={old}\n"));
    g.commit("old");
    std::fs::remove_file(repo.join("old.sh")).unwrap();
    g.commit("rm");
    // An untracked file is not staged.
    let untracked = pem_key();
    g.write("untracked.pem", &untracked);
    let mut cmd = sb.ccsecrets();
    cmd.current_dir(&repo)
        .args(["check", "--staged", "--format", "json"]);
    let out = run(cmd, None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let staged = pem_key();
    g.write("new.pem", &staged);
    g.run(&["add", "new.pem"]);
    let mut cmd = sb.ccsecrets();
    cmd.current_dir(&repo)
        .args(["check", "--staged", "--format", "json"]);
    let out = run(cmd, None);
    assert_eq!(out.status.code(), Some(1));
    assert_no_secret(&out, &secret_strings(&[&old, &untracked, &staged]));
    let (f, _) = json_findings(&out);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["path"], "new.pem");
    assert_eq!(f[0]["source"], "index");

    // Without --staged the history and the untracked file are found too.
    let mut cmd = sb.ccsecrets();
    cmd.current_dir(&repo).args(["check", "--format", "json"]);
    let (f, _) = json_findings(&run(cmd, None));
    let paths: BTreeSet<&str> = f.iter().map(|x| x["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        BTreeSet::from(["new.pem", "old.sh", "untracked.pem"])
    );
    // --no-history: not the deleted one.
    let mut cmd = sb.ccsecrets();
    cmd.current_dir(&repo)
        .args(["check", "--no-history", "--format", "json"]);
    let (f, _) = json_findings(&run(cmd, None));
    let paths: BTreeSet<&str> = f.iter().map(|x| x["path"].as_str().unwrap()).collect();
    assert_eq!(paths, BTreeSet::from(["new.pem", "untracked.pem"]));
}

#[test]
fn plain_sops_repo_rules_and_history_plaintext() {
    // No instance model: rules, encryption, recipients, leaks.
    let sb = Sandbox::new();
    let key1 = public_key("keys/key1.txt");
    let key3 = public_key("keys/key3.txt");
    let repo = sb.work().join("repo");
    let g = Git::init(&repo, &sb.home());
    g.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: ^secrets/.*\\.yaml$\n    age: {key1}\n  - path_regex: ^other/.*\n    age: {key3}\n"),
    );
    // A file encrypted to the other rule's key only: extra + missing.
    g.write("secrets/a.yaml", &sops_encrypt(&sb, "x: 1\n", &[&key3]));
    // A plaintext file under the rule.
    g.write("secrets/b.yaml", "password: plain-pass-77\n");
    // A value decrypted by hand in an old version only.
    let good = sops_encrypt(&sb, "token: abcdefgh12345678\n", &[&key1]);
    let bad = good
        .lines()
        .map(|l| {
            if l.starts_with("token: ENC[") {
                "token: abcdefgh12345678"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    g.write("secrets/c.yaml", &bad);
    let bad_commit = g.commit("c");
    g.write("secrets/c.yaml", &good);
    g.commit("fix c");
    let mut cmd = sb.ccsecrets();
    cmd.current_dir(&repo).args(["check", "--format", "json"]);
    let out = run(cmd, None);
    assert_eq!(out.status.code(), Some(1));
    assert_no_secret(
        &out,
        &["abcdefgh12345678".to_owned(), "plain-pass-77".to_owned()],
    );
    let (f, _) = json_findings(&out);
    let kinds: BTreeSet<(&str, &str)> = f
        .iter()
        .map(|x| (x["kind"].as_str().unwrap(), x["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            ("extra-recipient", "secrets/a.yaml"),
            ("missing-recipient", "secrets/a.yaml"),
            ("not-encrypted", "secrets/b.yaml"),
            ("plaintext-value", "secrets/c.yaml"),
        ])
    );
    let p = of_kind(&f, "plaintext-value");
    assert_eq!(p[0]["commit"], bad_commit.as_str());
}

#[test]
fn usage_and_config_errors_exit_2() {
    let sb = Sandbox::new();
    let out = check(&sb, &["--bogus"], None);
    assert_eq!(out.status.code(), Some(2));
    let out = check(&sb, &["--format", "xml"], None);
    assert_eq!(out.status.code(), Some(2));
    // Not a git repository.
    let out = check(&sb, &["--base", sb.work().to_str().unwrap()], None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --keyed without any identity.
    let repo = sb.work().join("r");
    Git::init(&repo, &sb.home()).commit("empty");
    let out = check(&sb, &["--keyed", "--base", repo.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--keyed: no age identity found"));
    // A bad .sops.yaml and a bad --domain.
    std::fs::write(repo.join(".sops.yaml"), "creation_rules: 3\n").unwrap();
    let out = check(&sb, &["--base", repo.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_file(repo.join(".sops.yaml")).unwrap();
    let out = check(
        &sb,
        &["--base", repo.to_str().unwrap(), "--domain", "not a domain"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    // A clean repo alone: exit 0.
    let out = check(
        &sb,
        &["--base", repo.to_str().unwrap(), "--domain", DOMAIN],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn sarif_output_has_the_required_shape() {
    let s = seeded();
    let out = check(&s.sb, &pair_args(&s, &["--format", "sarif"]), None);
    assert_eq!(out.status.code(), Some(1));
    assert_no_secret(&out, &s.secrets);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Required by the SARIF 2.1.0 schema: sarifLog.version, runs; run.tool.driver.name;
    // result.message (text); plus what GitHub code scanning needs: a physical location with
    // an artifact uri and a startLine >= 1, rule ids that the driver declares.
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "ccsecrets");
    let rules = driver["rules"].as_array().unwrap();
    let rule_ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    for r in rules {
        assert!(r["shortDescription"]["text"].is_string());
    }
    let results = runs[0]["results"].as_array().unwrap();
    assert!(results.len() >= 10, "{}", results.len());
    for r in results {
        let id = r["ruleId"].as_str().unwrap();
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rule_ids[idx], id);
        assert!(["error", "warning", "note", "none"].contains(&r["level"].as_str().unwrap()));
        assert!(!r["message"]["text"].as_str().unwrap().is_empty());
        let loc = &r["locations"][0]["physicalLocation"];
        assert!(!loc["artifactLocation"]["uri"].as_str().unwrap().is_empty());
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
        assert!(r["partialFingerprints"].as_object().unwrap().len() == 1);
    }
}

#[test]
fn diff_textconv_shows_changed_keys_without_a_key_and_values_with_one() {
    let sb = Sandbox::new();
    let key1 = public_key("keys/key1.txt");
    let repo = sb.work().join("repo");
    let g = Git::init(&repo, &sb.home());
    g.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: ^secrets/.*\\.yaml$\n    age: {key1}\n"),
    );
    g.write(".gitattributes", "secrets/*.yaml diff=sopsdiffer\n");
    let bin = ccsecrets_tests::ccsecrets_bin();
    g.run(&[
        "config",
        "diff.sopsdiffer.textconv",
        &format!("{} diff-textconv", bin.display()),
    ]);
    g.write(
        "secrets/app.yaml",
        &sops_encrypt(
            &sb,
            "db_password: first-pass-4821\napi_token: tok-unchanged-9917\n",
            &[&key1],
        ),
    );
    g.commit("app secrets");
    // Change one value with the real sops (it keeps the other value's IV).
    let mut cmd = sb.sops();
    cmd.current_dir(&repo)
        .env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
        .args([
            "set",
            "secrets/app.yaml",
            "[\"db_password\"]",
            "\"second-pass-7310\"",
        ]);
    let out = run(cmd, None);
    assert!(
        out.status.success(),
        "sops set: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Keyless: the changed key's line (and the metadata lines) differ, never a value.
    let diff = g.run(&["diff", "secrets/app.yaml"]);
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect();
    assert_eq!(changed.len(), 2, "{diff}");
    assert!(
        changed[0].starts_with("-db_password: encrypted str "),
        "{diff}"
    );
    assert!(
        changed[1].starts_with("+db_password: encrypted str "),
        "{diff}"
    );
    for s in ["first-pass", "second-pass", "tok-unchanged"] {
        assert!(!diff.contains(s), "{diff}");
    }

    // With the key: the decrypted values.
    let mut cmd = g.cmd(&["diff", "secrets/app.yaml"]);
    cmd.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"));
    let out = run(cmd, None);
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(diff.contains("-db_password: first-pass-4821"), "{diff}");
    assert!(diff.contains("+db_password: second-pass-7310"), "{diff}");
    assert!(!diff.contains("+api_token"), "{diff}");
}

#[test]
fn an_instance_in_a_subdirectory_of_a_repository() {
    let sb = Sandbox::new();
    let key2 = public_key("keys/key2.txt");
    let repo = sb.work().join("mono");
    let g = Git::init(&repo, &sb.home());
    copy_dir(&fixture("example-instance"), &repo.join("inst"));
    g.write(
        "inst/secrets/old.yaml",
        &sops_encrypt(&sb, "x: 1\n", &[&key2]),
    );
    g.write("README.md", "a monorepo\n");
    g.commit("instance in a subdirectory");
    let dir = repo.join("inst");
    let out = check(
        &sb,
        &[
            "--instance",
            dir.to_str().unwrap(),
            "--keyed",
            "--format",
            "json",
        ],
        Some(&fixture("keys/key1.txt")),
    );
    let (f, _) = json_findings(&out);
    let kinds: BTreeSet<(&str, &str, &str)> = f
        .iter()
        .map(|x| {
            (
                x["kind"].as_str().unwrap(),
                x["path"].as_str().unwrap(),
                x["severity"].as_str().unwrap(),
            )
        })
        .collect();
    // The rule of inst/.sops.yaml applies (relative to inst/); the secrets file opens and
    // validates; old.yaml is for key2 only.
    assert_eq!(
        kinds,
        BTreeSet::from([
            ("missing-recipient", "inst/secrets/old.yaml", "error"),
            ("stale-recipient", "inst/secrets/old.yaml", "error"),
            ("undecryptable", "inst/secrets/old.yaml", "warning"),
        ])
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn tag_messages_and_a_base_alone_with_a_domain() {
    let sb = Sandbox::new();
    let base = sb.work().join("base");
    let g = Git::init(&base, &sb.home());
    g.write(
        "hosts.nix",
        &format!("{{ fqdn = \"build.{}\"; }}\n", DOMAIN.to_uppercase()),
    );
    let tagged = g.commit("hosts");
    let key = age_secret();
    g.run(&["tag", "-a", "v1", "-m", &format!("release\n\n{key}")]);
    let tag_id = g.run(&["rev-parse", "v1"]).trim().to_owned();
    let out = check(
        &sb,
        &[
            "--base",
            base.to_str().unwrap(),
            "--domain",
            DOMAIN,
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_no_secret(&out, std::slice::from_ref(&key));
    let (f, _) = json_findings(&out);
    let tag = of_kind(&f, "age-secret-key");
    assert_eq!(tag.len(), 1, "{f:?}");
    assert_eq!(tag[0]["source"], "tag-message");
    assert_eq!(tag[0]["commit"], tag_id.as_str());
    // The domain, in any case, at the commit that added it.
    let names = of_kind(&f, "instance-name-in-base");
    assert_eq!(names.len(), 1, "{f:?}");
    assert_eq!(names[0]["path"], "hosts.nix");
    assert_eq!(names[0]["commit"], tagged.as_str());
    assert_eq!(f.len(), 2, "{f:?}");
}
