//! `ccsecrets install` end to end on the bundled example instance: every file's content
//! (checked against the real `sops decrypt --extract`), SHA-256, mode, owner and group;
//! relative links valid under ROOT and as seen from `/`; idempotency; a wrong key or a
//! tampered file installs nothing and leaves the previous generation live; a changed secret
//! makes a new generation and prunes the old one; `--swarm` names match `openssl`'s
//! fingerprint of the leaf.

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use ccsecrets_core::instance::SecretSet;
use ccsecrets_core::keys::Identity;
use ccsecrets_core::sops::document::{DecryptOptions, EncryptedFile};
use ccsecrets_core::sops::store::Format;
use ccsecrets_tests::{fixture, ok, run, Sandbox};
use sha2::{Digest, Sha256};

const KEY1: &str = "keys/key1.txt";

/// The effective uid/gid of this test process (owner of /proc/self).
fn me() -> (u32, u32) {
    let m = std::fs::metadata("/proc/self").unwrap();
    (m.uid(), m.gid())
}

/// A copy of the example instance (so a test may change it).
fn instance_copy(sb: &Sandbox) -> PathBuf {
    let dir = sb.work().join("instance");
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    let src = fixture("example-instance");
    for f in ["instance.nix", ".sops.yaml", "secrets/secrets.yaml"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    dir
}

fn install(sb: &Sandbox, inst: &Path, root: &Path, key: &str) -> std::process::Output {
    let mut c = sb.ccsecrets();
    c.args(["install", "--instance"])
        .arg(inst)
        .arg("--root")
        .arg(root)
        .arg("--identity")
        .arg(fixture(key));
    if me().0 != 0 {
        // Documented: without root, files can only stay the invoking user's.
        c.arg("--no-chown");
    }
    run(c, None)
}

/// What sops itself decrypts at `["a"]["b"]`.
fn sops_extract(sb: &Sandbox, file: &Path, name: &str) -> Vec<u8> {
    let path: String = name
        .split('.')
        .map(|p| format!("[\"{p}\"]"))
        .collect::<Vec<_>>()
        .concat();
    let mut c = sb.sops();
    c.env("SOPS_AGE_KEY_FILE", fixture(KEY1))
        .args(["decrypt", "--extract", &path])
        .arg(file);
    ok(run(c, None), &format!("sops decrypt --extract {path}"))
}

fn set_of(file: &Path) -> SecretSet {
    let bytes = std::fs::read(file).unwrap();
    let parsed = EncryptedFile::parse(&bytes, Format::Yaml).unwrap();
    let key = std::fs::read_to_string(fixture(KEY1)).unwrap();
    let ids = Identity::parse_list(&key, "key1").unwrap();
    let plain = parsed.decrypt(&ids, DecryptOptions::default()).unwrap();
    SecretSet::from_documents(&plain.branches).unwrap()
}

fn under(root: &Path, host: &Path) -> PathBuf {
    root.join(host.strip_prefix("/").unwrap())
}

/// Every entry under `dir`, with its kind, mode, ids and (for files) content hash: a
/// snapshot that must not change when nothing is installed.
fn snapshot(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            if m.file_type().is_symlink() {
                out.push(format!(
                    "{rel} -> {}",
                    std::fs::read_link(&p).unwrap().display()
                ));
            } else if m.is_dir() {
                out.push(format!("{rel}/ {:o} ino {}", m.mode() & 0o7777, m.ino()));
                walk(&p, base, out);
            } else {
                let h = hex(&Sha256::digest(std::fs::read(&p).unwrap()));
                out.push(format!(
                    "{rel} {:o} {}:{} ino {} {h}",
                    m.mode() & 0o7777,
                    m.uid(),
                    m.gid(),
                    m.ino()
                ));
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Resolves `link`'s relative target lexically against `dir` (no filesystem access).
fn resolve_lexically(dir: &Path, target: &Path) -> PathBuf {
    let mut p = dir.to_path_buf();
    for c in target.components() {
        match c {
            Component::ParentDir => {
                p.pop();
            }
            Component::Normal(n) => p.push(n),
            other => panic!("unexpected component {other:?} in a relative link"),
        }
    }
    p
}

#[test]
fn installs_every_secret_with_content_hash_mode_and_owner() {
    let sb = Sandbox::new();
    let inst = fixture("example-instance");
    let root = sb.work().join("root");
    let out = ok(install(&sb, &inst, &root, KEY1), "ccsecrets install");
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("generation 1 installed (6 secrets)"),
        "{text}"
    );

    let file = inst.join("secrets/secrets.yaml");
    let set = set_of(&file);
    let (uid, gid) = if me().0 == 0 { (0, 0) } else { me() };
    for s in set.secrets() {
        let t = &s.target;
        let installed = under(&root, &t.path);
        let got =
            std::fs::read(&installed).unwrap_or_else(|e| panic!("{}: {e}", installed.display()));
        // Content: what the real sops decrypts, byte for byte, and its hash.
        let want = sops_extract(&sb, &file, &s.name);
        assert_eq!(got, want, "{}", s.name);
        assert_eq!(
            hex(&Sha256::digest(&got)),
            hex(&Sha256::digest(s.value.expose().as_bytes()))
        );
        let m = std::fs::metadata(&installed).unwrap();
        assert_eq!(m.mode() & 0o7777, t.mode, "{} mode", s.name);
        assert_eq!((m.uid(), m.gid()), (uid, gid), "{} owner", s.name);
        assert!(text.contains(&format!("{} -> {}", s.name, t.path.display())));
    }
    // Defaults: root:root 0400, the certificate chain world-readable.
    let rpc = std::fs::metadata(root.join("run/secrets/drone/rpc_secret")).unwrap();
    assert_eq!(rpc.mode() & 0o777, 0o400);
    let chain = std::fs::metadata(root.join("var/lib/ci-certs/live/fullchain.pem")).unwrap();
    assert_eq!(chain.mode() & 0o777, 0o444);
    // No secret on stdout.
    for s in set.secrets() {
        if s.value.len() >= 8 {
            assert!(!text.contains(s.value.expose()), "{} leaked", s.name);
        }
    }
}

#[test]
fn links_are_relative_and_valid_under_root_and_at_slash() {
    let sb = Sandbox::new();
    let inst = fixture("example-instance");
    let root = sb.work().join("root");
    ok(install(&sb, &inst, &root, KEY1), "ccsecrets install");

    let live = std::fs::read_link(root.join("run/secrets")).unwrap();
    assert_eq!(live, Path::new("secrets.d/1"));

    for (host, key) in [
        ("/var/lib/ci-certs/live/fullchain.pem", "tls/fullchain"),
        ("/var/lib/ci-certs/live/privkey.pem", "tls/privkey"),
    ] {
        let at = under(&root, Path::new(host));
        let target = std::fs::read_link(&at).unwrap();
        assert!(target.is_relative(), "{host} -> {}", target.display());
        // As seen on the host (ROOT = /): lands on /run/secrets/<key>.
        let from_slash = resolve_lexically(Path::new(host).parent().unwrap(), &target);
        assert_eq!(from_slash, Path::new("/run/secrets").join(key));
        // Under ROOT: the same file as the generation's.
        assert_eq!(
            std::fs::read(&at).unwrap(),
            std::fs::read(root.join("run/secrets.d/1").join(key)).unwrap()
        );
    }

    // Moving the whole tree elsewhere keeps every link valid (nothing absolute in it).
    let moved = sb.work().join("moved");
    std::fs::rename(&root, &moved).unwrap();
    assert!(
        std::fs::read(moved.join("var/lib/ci-certs/live/fullchain.pem"))
            .unwrap()
            .starts_with(b"-----BEGIN CERTIFICATE-----")
    );
}

#[test]
fn second_run_with_nothing_changed_changes_nothing() {
    let sb = Sandbox::new();
    let inst = fixture("example-instance");
    let root = sb.work().join("root");
    ok(install(&sb, &inst, &root, KEY1), "first install");
    let before = snapshot(&root);
    let out = ok(install(&sb, &inst, &root, KEY1), "second install");
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("generation 1 unchanged, already live"),
        "{text}"
    );
    assert!(!text.contains("linked "), "{text}");
    assert_eq!(snapshot(&root), before);
}

#[test]
fn identity_from_sops_age_key_file() {
    let sb = Sandbox::new();
    let root = sb.work().join("root");
    let mut c = sb.ccsecrets();
    c.env("SOPS_AGE_KEY_FILE", fixture(KEY1))
        .args(["install", "--instance"])
        .arg(fixture("example-instance"))
        .arg("--root")
        .arg(&root);
    if me().0 != 0 {
        c.arg("--no-chown");
    }
    ok(run(c, None), "install with SOPS_AGE_KEY_FILE");
    assert!(root.join("run/secrets/webhook/hmac").is_file());
}

#[test]
fn wrong_key_installs_nothing_and_keeps_the_previous_generation() {
    let sb = Sandbox::new();
    let inst = fixture("example-instance");
    let root = sb.work().join("root");
    ok(install(&sb, &inst, &root, KEY1), "first install");
    let before = snapshot(&root);

    let out = install(&sb, &inst, &root, "keys/key2.txt");
    assert_eq!(out.status.code(), Some(128));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("secrets.yaml") && err.contains("no identity"),
        "{err}"
    );
    assert_eq!(snapshot(&root), before);

    // Into an empty root: nothing at all.
    let empty = sb.work().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_eq!(
        install(&sb, &inst, &empty, "keys/key2.txt").status.code(),
        Some(128)
    );
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}

#[test]
fn tampered_file_installs_nothing_and_keeps_the_previous_generation() {
    let sb = Sandbox::new();
    let inst = instance_copy(&sb);
    let root = sb.work().join("root");
    ok(install(&sb, &inst, &root, KEY1), "first install");
    let before = snapshot(&root);

    // Flip one character of the webhook HMAC's ciphertext.
    let file = inst.join("secrets/secrets.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let at = text.find("hmac: ENC[AES256_GCM,data:").unwrap() + 27;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&file, &bytes).unwrap();

    let out = install(&sb, &inst, &root, KEY1);
    assert_eq!(out.status.code(), Some(25), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("webhook:hmac"), "{err}");
    assert_eq!(snapshot(&root), before);

    // A changed lastmodified breaks the MAC: also nothing.
    let text = std::fs::read_to_string(fixture("example-instance/secrets/secrets.yaml")).unwrap();
    let tampered = text.replace("lastmodified: \"2026-", "lastmodified: \"2025-");
    assert_ne!(tampered, text);
    let text = tampered;
    std::fs::write(&file, text).unwrap();
    let out = install(&sb, &inst, &root, KEY1);
    assert_eq!(out.status.code(), Some(51), "{out:?}");
    assert_eq!(snapshot(&root), before);
}

#[test]
fn changed_secret_makes_a_new_generation_and_prunes_the_old() {
    let sb = Sandbox::new();
    let inst = instance_copy(&sb);
    let root = sb.work().join("root");
    ok(install(&sb, &inst, &root, KEY1), "first install");

    let file = inst.join("secrets/secrets.yaml");
    let mut c = sb.sops();
    c.env("SOPS_AGE_KEY_FILE", fixture(KEY1))
        .arg("set")
        .arg(&file)
        .arg(r#"["drone"]["rpc_secret"]"#)
        .arg(r#""0123456789abcdef0123456789abcdef""#);
    ok(run(c, None), "sops set");

    let out = ok(install(&sb, &inst, &root, KEY1), "second install");
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("generation 2 installed"), "{text}");
    assert!(text.contains("pruned generation 1"), "{text}");
    assert_eq!(
        std::fs::read_link(root.join("run/secrets")).unwrap(),
        Path::new("secrets.d/2")
    );
    assert_eq!(
        std::fs::read(root.join("run/secrets/drone/rpc_secret")).unwrap(),
        b"0123456789abcdef0123456789abcdef"
    );
    let gens: Vec<String> = std::fs::read_dir(root.join("run/secrets.d"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(gens, ["2"]);
    // The certificate link still resolves (through run/secrets).
    assert!(root.join("var/lib/ci-certs/live/fullchain.pem").is_file());
}

#[test]
fn swarm_prints_docker_secret_commands_named_by_the_leaf_fingerprint() {
    let sb = Sandbox::new();
    let inst = fixture("example-instance");
    let root = sb.work().join("root");
    let mut c = sb.ccsecrets();
    c.args(["install", "--swarm", "--instance"])
        .arg(&inst)
        .arg("--root")
        .arg(&root)
        .arg("--identity")
        .arg(fixture(KEY1));
    if me().0 != 0 {
        c.arg("--no-chown");
    }
    let text = String::from_utf8(ok(run(c, None), "install --swarm")).unwrap();

    // The leaf's SHA-256 fingerprint as openssl computes it.
    let chain = root.join("var/lib/ci-certs/live/fullchain.pem");
    let mut o = sb.command(Path::new("openssl"));
    o.args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&chain);
    let fp = String::from_utf8(ok(run(o, None), "openssl x509 -fingerprint")).unwrap();
    let fp: String = fp
        .split('=')
        .nth(1)
        .unwrap()
        .trim()
        .replace(':', "")
        .to_ascii_lowercase();
    let short = &fp[..12];
    let want = [
        format!("docker secret create ssl_cert_{short} {}", chain.display()),
        format!(
            "docker secret create ssl_key_{short} {}",
            root.join("var/lib/ci-certs/live/privkey.pem").display()
        ),
    ];
    for w in &want {
        assert!(text.lines().any(|l| l == w), "missing {w:?} in\n{text}");
    }
}

#[test]
fn without_root_refuses_foreign_owners_unless_no_chown() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    // A place an unprivileged user can write, and a key it can read.
    let shared = sb.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    for d in [sb.dir.path(), &shared] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let key = shared.join("key.txt");
    std::fs::copy(fixture(KEY1), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let root = shared.join("root");

    // As root, drop to nobody (util-linux setpriv); otherwise this process is unprivileged.
    let unprivileged = |extra: &[&str]| {
        let mut c = if me().0 == 0 {
            let mut c = sb.command(Path::new("setpriv"));
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(ccsecrets_tests::ccsecrets_bin());
            c
        } else {
            sb.ccsecrets()
        };
        c.current_dir(&shared)
            .args(["install", "--instance"])
            .arg(fixture("example-instance"))
            .arg("--root")
            .arg(&root)
            .arg("--identity")
            .arg(&key)
            .args(extra);
        run(c, None)
    };
    let out = unprivileged(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--no-chown") && err.contains("run as root"),
        "{err}"
    );
    assert!(!root.exists(), "nothing written");

    let out = unprivileged(&["--no-chown"]);
    ok(out, "install --no-chown");
    let m = std::fs::metadata(root.join("run/secrets/drone/rpc_secret")).unwrap();
    let uid = if me().0 == 0 { 65534 } else { me().0 };
    assert_eq!((m.uid(), m.mode() & 0o7777), (uid, 0o400));
}
