//! The instance model and its validation: certificates made with rcgen (a test CA, a wildcard
//! leaf, expired, another domain, a key that does not match, a chain in the wrong order, a
//! leaf close to expiry), the bundled example instance, and `ccsecrets validate`.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ccsecrets_core::instance::{
    validate, Facts, Finding, Instance, KeyKind, SecretSet, Severity, ValidateOptions, Validation,
    PLACEHOLDER_PREFIX,
};
use ccsecrets_core::keys::{Identity, Recipient};
use ccsecrets_core::sops::document::{encrypt, DecryptOptions, EncryptOptions};
use ccsecrets_core::sops::tree::{Map, Value};
use ccsecrets_tests::{fixture, run, Sandbox};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair,
    SignatureAlgorithm, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519,
};

const DOMAIN: &str = "ci.example.test";
const RPC: &str = "f5257467204745134b5cfb03e257c8fa";
const HMAC: &str = "7bb97d1312b2cc952b053ca548e6229104bb2ab634be12c7c42f5b3ac922c2cb";

/// The clock of these tests: 2030-01-01 00:00:00 UTC.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_893_456_000)
}

// ---------------------------------------------------------------------------------------------
// A test PKI
// ---------------------------------------------------------------------------------------------

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn ca(name: &str, parent: Option<&Ca>) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.not_before = date_time_ymd(2025, 1, 1);
    p.not_after = date_time_ymd(2040, 1, 1);
    let cert = match parent {
        Some(parent) => p.signed_by(&key, &parent.issuer).unwrap(),
        None => p.self_signed(&key).unwrap(),
    };
    Ca {
        issuer: Issuer::new(p, key),
        pem: cert.pem(),
    }
}

struct Leaf {
    pem: String,
    key: String,
}

struct LeafSpec {
    sans: Vec<String>,
    not_before: (i32, u8, u8),
    not_after: (i32, u8, u8),
    alg: &'static SignatureAlgorithm,
}

fn wildcard() -> LeafSpec {
    LeafSpec {
        sans: vec![format!("*.{DOMAIN}"), DOMAIN.into()],
        not_before: (2029, 1, 1),
        not_after: (2031, 1, 1),
        alg: &PKCS_ECDSA_P256_SHA256,
    }
}

fn leaf(spec: LeafSpec, ca: &Ca) -> Leaf {
    let key = KeyPair::generate_for(spec.alg).unwrap();
    let mut p = CertificateParams::new(spec.sans.clone()).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, spec.sans[0].clone());
    let ymd = |(y, m, d): (i32, u8, u8)| date_time_ymd(y, m, d);
    p.not_before = ymd(spec.not_before);
    p.not_after = ymd(spec.not_after);
    Leaf {
        pem: p.signed_by(&key, &ca.issuer).unwrap().pem(),
        key: key.serialize_pem(),
    }
}

// ---------------------------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------------------------

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

fn map(entries: Vec<(&str, Value)>) -> Map {
    let mut m = Map::new();
    for (k, v) in entries {
        m.push(k, v);
    }
    m
}

fn doc(fullchain: &str, privkey: &str) -> Map {
    map(vec![
        (
            "tls",
            Value::Map(map(vec![
                ("fullchain", s(fullchain)),
                ("privkey", s(privkey)),
            ])),
        ),
        (
            "drone",
            Value::Map(map(vec![
                ("oauth_client_id", s("1ad7fd56-7138-4f11-bbd2-dbea3acdfcef")),
                (
                    "oauth_client_secret",
                    s("gto_2o4jwihwrqp22v6h4x7rylmdlv4jfltitz5w5bfkw3kpffrqcvona"),
                ),
                ("rpc_secret", s(RPC)),
            ])),
        ),
        ("webhook", Value::Map(map(vec![("hmac", s(HMAC))]))),
        ("registry", Value::Seq(vec![])),
    ])
}

fn check_with(fullchain: &str, privkey: &str, opts: &ValidateOptions) -> Validation {
    let set = SecretSet::from_map(&doc(fullchain, privkey)).expect("the document fits the model");
    let v = validate(&set, opts);
    // Whatever happened, no message carries a value.
    for f in &v.findings {
        for secret in [RPC, HMAC, "PRIVATE KEY", "BEGIN CERTIFICATE"] {
            assert!(!f.to_string().contains(secret), "value in finding: {f}");
        }
    }
    v
}

fn check(fullchain: &str, privkey: &str) -> Validation {
    check_with(fullchain, privkey, &ValidateOptions::new(DOMAIN, now()))
}

fn errors(v: &Validation) -> Vec<&Finding> {
    v.findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------

#[test]
fn wildcard_leaf_then_ca_is_valid() {
    let ca = ca("test CA", None);
    let l = leaf(wildcard(), &ca);
    let v = check(&format!("{}{}", l.pem, ca.pem), &l.key);
    assert_eq!(v.findings, vec![]);
    let info = v.leaf.expect("leaf facts");
    assert_eq!(info.subject, format!("CN=*.{DOMAIN}"));
    assert_eq!(info.sha256.len(), 64);
    assert_eq!(info.not_before_utc(), "2029-01-01 00:00:00 UTC");
}

#[test]
fn leaf_with_intermediate_is_valid_and_a_missing_intermediate_is_not() {
    let root = ca("test root", None);
    let mid = ca("test intermediate", Some(&root));
    let l = leaf(wildcard(), &mid);
    let v = check(&format!("{}{}{}", l.pem, mid.pem, root.pem), &l.key);
    assert_eq!(v.findings, vec![]);

    // Leaf then root: the root did not issue the leaf.
    let v = check(&format!("{}{}", l.pem, root.pem), &l.key);
    let e = errors(&v);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].message
            .contains("not issued by certificate #2 (CN=test root)"),
        "{}",
        e[0]
    );
}

#[test]
fn expired_leaf_is_an_error() {
    let ca = ca("test CA", None);
    let l = leaf(
        LeafSpec {
            not_before: (2027, 1, 1),
            not_after: (2029, 6, 1),
            ..wildcard()
        },
        &ca,
    );
    let v = check(&format!("{}{}", l.pem, ca.pem), &l.key);
    let e = errors(&v);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].secret, "tls.fullchain");
    assert_eq!(
        e[0].message,
        format!("leaf CN=*.{DOMAIN} expired on 2029-06-01 00:00:00 UTC")
    );
}

#[test]
fn not_yet_valid_leaf_is_an_error() {
    let ca = ca("test CA", None);
    let l = leaf(
        LeafSpec {
            not_before: (2030, 2, 1),
            ..wildcard()
        },
        &ca,
    );
    let e = check(&format!("{}{}", l.pem, ca.pem), &l.key);
    assert!(errors(&e)[0]
        .message
        .contains("not valid before 2030-02-01"));
}

#[test]
fn leaf_expiring_within_the_window_is_a_warning_only() {
    let ca = ca("test CA", None);
    let l = leaf(
        LeafSpec {
            not_after: (2030, 1, 11),
            ..wildcard()
        },
        &ca,
    );
    let chain = format!("{}{}", l.pem, ca.pem);
    let v = check(&chain, &l.key);
    assert!(!v.has_errors());
    assert_eq!(v.findings.len(), 1, "{:?}", v.findings);
    assert_eq!(v.findings[0].severity, Severity::Warning);
    assert!(
        v.findings[0]
            .message
            .contains("expires in 10 days, on 2030-01-11"),
        "{}",
        v.findings[0]
    );
    // The window is configurable.
    let opts = ValidateOptions {
        warn_days: 7,
        ..ValidateOptions::new(DOMAIN, now())
    };
    assert_eq!(check_with(&chain, &l.key, &opts).findings, vec![]);
}

#[test]
fn leaf_for_another_domain_is_an_error_for_each_name() {
    let ca = ca("test CA", None);
    let l = leaf(
        LeafSpec {
            sans: vec!["*.other.test".into(), "other.test".into()],
            ..wildcard()
        },
        &ca,
    );
    let v = check(&format!("{}{}", l.pem, ca.pem), &l.key);
    let e: Vec<String> = errors(&v).iter().map(|f| f.message.clone()).collect();
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains(&format!(
        "does not cover *.{DOMAIN}: its SANs are *.other.test, other.test"
    )));
    assert!(e[1].contains(&format!("does not cover {DOMAIN}:")));

    // The wildcard alone does not cover the apex.
    let l = leaf(
        LeafSpec {
            sans: vec![format!("*.{DOMAIN}")],
            ..wildcard()
        },
        &ca,
    );
    let v = check(&format!("{}{}", l.pem, ca.pem), &l.key);
    let e = errors(&v);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].message.contains(&format!("does not cover {DOMAIN}:")));
}

#[test]
fn key_that_does_not_match_the_leaf_is_an_error() {
    let ca = ca("test CA", None);
    let l = leaf(wildcard(), &ca);
    let other = leaf(wildcard(), &ca);
    let v = check(&format!("{}{}", l.pem, ca.pem), &other.key);
    let e = errors(&v);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].secret, "tls.privkey");
    assert!(
        e[0].message
            .starts_with("does not match the leaf certificate"),
        "{}",
        e[0]
    );
    assert!(e[0].message.contains(&v.leaf.as_ref().unwrap().sha256));
}

#[test]
fn chain_in_the_wrong_order_is_an_error() {
    let ca = ca("test CA", None);
    let l = leaf(wildcard(), &ca);
    let v = check(&format!("{}{}", ca.pem, l.pem), &l.key);
    let e: Vec<String> = errors(&v).iter().map(|f| f.message.clone()).collect();
    assert!(
        e.iter()
            .any(|m| m.contains("chain order") && m.contains("is the chain reversed?")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("is a CA certificate, not a server leaf")),
        "{e:?}"
    );
}

#[test]
fn p384_and_ed25519_leaves_are_accepted_and_their_keys_compared() {
    let ca = ca("test CA", None);
    for (alg, kind) in [
        (&PKCS_ECDSA_P384_SHA384, KeyKind::P384),
        (&PKCS_ED25519, KeyKind::Ed25519),
    ] {
        let l = leaf(LeafSpec { alg, ..wildcard() }, &ca);
        let other = leaf(LeafSpec { alg, ..wildcard() }, &ca);
        let chain = format!("{}{}", l.pem, ca.pem);
        let v = check(&chain, &l.key);
        assert_eq!(v.findings, vec![], "{kind}");
        assert_eq!(v.leaf.unwrap().key, kind);
        let v = check(&chain, &other.key);
        assert!(errors(&v)[0].message.contains("does not match"), "{kind}");
    }
}

#[test]
fn a_leaf_without_its_chain_is_a_warning() {
    let ca = ca("test CA", None);
    let l = leaf(wildcard(), &ca);
    let v = check(&l.pem, &l.key);
    assert!(!v.has_errors(), "{:?}", v.findings);
    assert!(v.findings[0].message.contains("holds only the leaf"));
}

// ---------------------------------------------------------------------------------------------
// The example instance (fixtures/certs, fixtures/example-instance)
// ---------------------------------------------------------------------------------------------

fn read(rel: &str) -> String {
    std::fs::read_to_string(fixture(rel)).unwrap()
}

#[test]
fn example_instance_facts_and_certificates_validate() {
    let instance = Instance::open(&fixture("example-instance")).unwrap();
    assert_eq!(instance.facts.domain(), DOMAIN);
    assert!(instance.secrets_path().ends_with("secrets/secrets.yaml"));
    let chain = read("certs/leaf.crt") + &read("certs/ca.crt");
    let v = check(&chain, &read("certs/leaf.key"));
    assert_eq!(v.findings, vec![]);
    assert_eq!(v.leaf.unwrap().key, KeyKind::P256);
}

#[test]
fn decrypted_in_memory_then_validated() {
    let chain = read("certs/leaf.crt") + &read("certs/ca.crt");
    let plain = doc(&chain, &read("certs/leaf.key"));
    let (identity, _) = Identity::generate();
    let recipient: Recipient = identity.public().parse().unwrap();
    let opts = EncryptOptions {
        key_groups: vec![vec![recipient]],
        ..Default::default()
    };
    let encrypted = encrypt(vec![plain], &opts).unwrap();
    let decrypted = encrypted
        .decrypt(&[identity], DecryptOptions::default())
        .unwrap();
    let set = SecretSet::from_documents(&decrypted.branches).unwrap();
    let v = validate(&set, &ValidateOptions::new(DOMAIN, now()));
    assert_eq!(v.findings, vec![]);
}

#[test]
fn init_placeholders_are_errors() {
    let p = format!("{PLACEHOLDER_PREFIX} paste the wildcard certificate chain");
    let v = check(&p, &p);
    let e = errors(&v);
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(
        (e[0].secret.as_str(), e[1].secret.as_str()),
        ("tls.fullchain", "tls.privkey")
    );
    assert!(v.leaf.is_none());
}

#[test]
fn facts_only_from_a_domain() {
    assert_eq!(
        Facts::for_domain("a.example").unwrap().domain(),
        "a.example"
    );
    assert!(Facts::for_domain("*.a.example").is_err());
}

// ---------------------------------------------------------------------------------------------
// The CLI
// ---------------------------------------------------------------------------------------------

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

#[test]
fn cli_validate_example_instance() {
    let sb = Sandbox::new();
    let inst = sb.work().join("instance");
    copy_dir(&fixture("example-instance"), &inst);
    let mut cmd = sb.ccsecrets();
    cmd.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
        .args(["validate", "--instance"])
        .arg(&inst);
    let out = run(cmd, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("tls.fullchain: leaf CN=*.{DOMAIN} sha256 ")),
        "{stdout}"
    );
    assert!(stdout.contains("0 errors, 0 warnings"), "{stdout}");
    let dec = read("example-instance.dec.yaml");
    for secret in [RPC, HMAC, "PRIVATE KEY", "gto_"] {
        assert!(dec.contains(secret));
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} printed"
        );
    }

    // Another domain: errors, exit 1; a wide warning window: a warning.
    let mut cmd = sb.ccsecrets();
    cmd.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
        .args([
            "validate",
            "--domain",
            "other.test",
            "--warn-days",
            "100000",
            "--instance",
        ])
        .arg(&inst);
    let out = run(cmd, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("tls.fullchain: error: leaf CN=*.ci.example.test"),
        "{stdout}"
    );
    assert!(stdout.contains("tls.fullchain: warning:"), "{stdout}");
    assert!(stdout.contains("2 errors, 2 warnings"), "{stdout}");
}

#[test]
fn cli_validate_reports_placeholders_and_weak_secrets() {
    let sb = Sandbox::new();
    let inst = sb.work().join("instance");
    copy_dir(&fixture("example-instance"), &inst);
    let secrets = inst.join("secrets/secrets.yaml");
    for (path, value) in [
        ("[\"webhook\"][\"hmac\"]", "\"abc123\"".to_owned()),
        (
            "[\"drone\"][\"oauth_client_secret\"]",
            format!("\"{PLACEHOLDER_PREFIX} from the forge\""),
        ),
    ] {
        let mut cmd = sb.ccsecrets();
        cmd.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
            .arg("set")
            .arg(&secrets)
            .args([path, &value]);
        ccsecrets_tests::ok(run(cmd, None), "ccsecrets set");
    }
    let mut cmd = sb.ccsecrets();
    cmd.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
        .args(["validate", "--instance"])
        .arg(&inst);
    let out = run(cmd, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "drone.oauth_client_secret: error: still holds the `ccsecrets init` placeholder"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("webhook.hmac: error: too short: 6 hex characters"),
        "{stdout}"
    );
    assert!(!stdout.contains("abc123"));
}

#[test]
fn cli_validate_outside_an_instance_says_what_is_missing() {
    let sb = Sandbox::new();
    let out = run(
        {
            let mut c = sb.ccsecrets();
            c.arg("validate");
            c
        },
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("instance.nix: not found"), "{stderr}");
    assert!(
        stderr.contains("hint: give --instance DIR, or --domain D"),
        "{stderr}"
    );
}

#[test]
fn cli_validate_names_the_line_of_a_bad_instance_nix() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.work().join("instance.nix"),
        "{\n  domain = \"ci.example.test\"\n}\n",
    )
    .unwrap();
    let out = run(
        {
            let mut c = sb.ccsecrets();
            c.arg("validate");
            c
        },
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("instance.nix: line 2: missing `;` at the end of the attribute"),
        "{stderr}"
    );
}
