use super::procedure::{parse, ProcedureError};
use super::tls::{handshake, Roots, TlsError};
use super::*;

const DOMAIN: &str = "ci.example.test";

struct Pki {
    ca: String,
    fullchain: String,
    key: String,
}

/// A CA and a wildcard leaf for `*.ci.example.test` + `ci.example.test`, valid now.
fn pki(cn: &str) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, cn);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec![format!("*.{DOMAIN}"), DOMAIN.into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    Pki {
        ca: ca_cert.pem(),
        fullchain: format!("{}{}", leaf.pem(), ca_cert.pem()),
        key: key.serialize_pem(),
    }
}

#[test]
fn handshake_verifies_chain_and_sni() {
    let p = pki("rebuild unit CA");
    let roots = Roots::from_pem("ca.pem", p.ca.as_bytes()).unwrap();
    let name = format!("drone.{DOMAIN}");
    let r = handshake(p.fullchain.as_bytes(), p.key.as_bytes(), &name, &roots).unwrap();
    assert_eq!(r.server_name, name);
    assert_eq!(r.protocol, "TLSv1_3");
    assert_eq!(r.chain_len, 2);
    assert_eq!(r.leaf_sha256.len(), 64);
    assert!(r.address.starts_with("127.0.0.1:"));
    // The apex is in the SANs too.
    handshake(p.fullchain.as_bytes(), p.key.as_bytes(), DOMAIN, &roots).unwrap();
}

#[test]
fn handshake_fails_on_untrusted_ca_and_wrong_name() {
    let p = pki("rebuild unit CA");
    let other = pki("another CA");
    let wrong_roots = Roots::from_pem("other.pem", other.ca.as_bytes()).unwrap();
    let e = handshake(
        p.fullchain.as_bytes(),
        p.key.as_bytes(),
        &format!("drone.{DOMAIN}"),
        &wrong_roots,
    )
    .unwrap_err();
    assert!(matches!(e, TlsError::Handshake { .. }), "{e}");
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");

    let roots = Roots::from_pem("ca.pem", p.ca.as_bytes()).unwrap();
    let e = handshake(
        p.fullchain.as_bytes(),
        p.key.as_bytes(),
        "drone.other.test",
        &roots,
    )
    .unwrap_err();
    assert!(e.to_string().contains("not valid for name"), "{e}");
    // A second-level name is not covered by the wildcard.
    let e = handshake(
        p.fullchain.as_bytes(),
        p.key.as_bytes(),
        &format!("a.b.{DOMAIN}"),
        &roots,
    )
    .unwrap_err();
    assert!(e.to_string().contains("not valid for name"), "{e}");
}

#[test]
fn handshake_refuses_a_key_that_is_not_the_leafs() {
    let p = pki("rebuild unit CA");
    let other = pki("another CA");
    let roots = Roots::from_pem("ca.pem", p.ca.as_bytes()).unwrap();
    let e = handshake(
        p.fullchain.as_bytes(),
        other.key.as_bytes(),
        &format!("drone.{DOMAIN}"),
        &roots,
    )
    .unwrap_err();
    assert!(matches!(e, TlsError::Server(_)), "{e}");
    assert!(!e.to_string().contains("PRIVATE KEY"), "{e}");
}

#[test]
fn roots_from_pem_rejects_empty_bundles() {
    let e = Roots::from_pem("empty.pem", b"no certificates here\n").unwrap_err();
    assert!(e.to_string().contains("empty.pem"), "{e}");
}

#[test]
fn procedure_blocks_in_order() {
    let doc = "# Doc\n\n```sh\necho not a step\n```\n\n```sh rebuild-step one\na\nb\n```\n\
               text\n```nix\n{ }\n```\n```sh rebuild-step two\nc\n```\n";
    let steps = parse(doc).unwrap();
    let names: Vec<_> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["one", "two"]);
    assert_eq!(steps[0].script, "a\nb\n");
    assert_eq!(steps[0].line, 7);
    assert_eq!(steps[1].script, "c\n");
}

#[test]
fn procedure_errors() {
    assert_eq!(
        parse("```sh rebuild-step\nx\n```\n").unwrap_err(),
        ProcedureError::NoName { line: 1 }
    );
    assert!(matches!(
        parse("\n```sh rebuild-step a\nx\n").unwrap_err(),
        ProcedureError::Unclosed { line: 2, .. }
    ));
    assert!(matches!(
        parse("```sh rebuild-step a\n```\n```sh rebuild-step a\n```\n").unwrap_err(),
        ProcedureError::Duplicate { line: 3, .. }
    ));
}

#[test]
fn recorder_names_the_failed_step_and_evidence_is_json() {
    let mut r = Recorder::new("0.0.0");
    r.step("clean-environment", |_| Ok::<_, String>(((), "ok".into())))
        .unwrap();
    let e = r
        .step("provision-key", |_| Err::<((), String), _>("no key file"))
        .unwrap_err();
    assert_eq!(e.to_string(), "step `provision-key` failed: no key file");
    let ev = r.finish();
    assert!(!ev.complete());
    let v: serde_json::Value = serde_json::from_str(&ev.to_json()).unwrap();
    assert_eq!(v["result"], "failed");
    assert_eq!(v["failed_step"], "provision-key");
    assert_eq!(v["steps"][1]["result"], "failed");
    assert_eq!(v["steps"].as_array().unwrap().len(), 2);
}

fn secret_set(p: &Pki) -> crate::instance::SecretSet {
    use crate::sops::tree::{Map, Value};
    let m = |entries: &[(&str, &str)]| {
        let mut m = Map::new();
        for (k, v) in entries {
            m.push(*k, Value::Str((*v).to_owned()));
        }
        Value::Map(m)
    };
    let mut doc = Map::new();
    doc.push(
        "tls",
        m(&[("fullchain", &p.fullchain), ("privkey", &p.key)]),
    );
    doc.push(
        "drone",
        m(&[
            ("oauth_client_id", "1ad7fd56-7138-4f11-bbd2-dbea3acdfcef"),
            (
                "oauth_client_secret",
                "gto_2o4jwihwrqp22v6h4x7rylmdlv4jfltitz5w5bfkw3kpffrqcvona",
            ),
            ("rpc_secret", "9f3c1d7e5b2a4c6e8d0f1a3b5c7e9d2f"),
        ]),
    );
    doc.push(
        "webhook",
        m(&[(
            "hmac",
            "7bb97d1312b2cc952b053ca548e6229104bb2ab634be12c7c42f5b3ac922c2cb",
        )]),
    );
    doc.push("registry", Value::Seq(vec![]));
    crate::instance::SecretSet::from_map(&doc).unwrap()
}

#[test]
fn verify_installed_catches_missing_mode_content_and_absolute_links() {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    let p = pki("rebuild unit CA");
    let set = secret_set(&p);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let e = verify::verify_installed(&set, root, None).unwrap_err();
    assert!(matches!(e, verify::VerifyError::Missing { .. }), "{e}");
    assert!(e.to_string().contains("tls.fullchain"), "{e}");
    let write = |path: &std::path::Path, bytes: &[u8], mode: u32| {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        if path.exists() {
            fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
        }
        fs::write(path, bytes).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    };
    for s in set.secrets() {
        let path = crate::install::under(root, &s.target.path);
        write(&path, s.value.expose().as_bytes(), s.target.mode);
    }
    let files = verify::verify_installed(&set, root, None).unwrap();
    assert_eq!(files.len(), set.secrets().len());
    assert_eq!(files[1].mode, 0o400);

    // Owners: every secret declares root:root; account files that map root to our own ids
    // pass, files that map it elsewhere do not, and an unknown name is reported.
    use std::os::unix::fs::MetadataExt;
    let me = fs::metadata(root).unwrap();
    let etc = tempfile::tempdir().unwrap();
    let accounts = |uid: u32, gid: u32| {
        fs::write(
            etc.path().join("passwd"),
            format!("daemon:x:1:1::/:/bin/false\nroot:x:{uid}:{gid}::/root:/bin/sh\n"),
        )
        .unwrap();
        fs::write(etc.path().join("group"), format!("root:x:{gid}:\n")).unwrap();
    };
    accounts(me.uid(), me.gid());
    verify::verify_installed(&set, root, Some(etc.path())).unwrap();
    accounts(me.uid() + 1, me.gid());
    let e = verify::verify_installed(&set, root, Some(etc.path())).unwrap_err();
    assert!(matches!(e, verify::VerifyError::Owner { .. }), "{e}");
    fs::write(etc.path().join("passwd"), "daemon:x:1:1::/:/bin/false\n").unwrap();
    let e = verify::verify_installed(&set, root, Some(etc.path())).unwrap_err();
    assert!(matches!(e, verify::VerifyError::Account { .. }), "{e}");

    let key = &set.tls.privkey;
    let key_path = crate::install::under(root, &key.target.path);
    fs::set_permissions(&key_path, fs::Permissions::from_mode(0o644)).unwrap();
    let e = verify::verify_installed(&set, root, None).unwrap_err();
    assert!(
        matches!(
            e,
            verify::VerifyError::Mode {
                found: 0o644,
                want: 0o400,
                ..
            }
        ),
        "{e}"
    );

    write(&key_path, b"something else", key.target.mode);
    let e = verify::verify_installed(&set, root, None).unwrap_err();
    assert!(matches!(e, verify::VerifyError::Content { .. }), "{e}");
    assert!(!e.to_string().contains("something else"), "{e}");

    fs::remove_file(&key_path).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &key_path).unwrap();
    let e = verify::verify_installed(&set, root, None).unwrap_err();
    assert!(matches!(e, verify::VerifyError::AbsoluteLink { .. }), "{e}");
}
