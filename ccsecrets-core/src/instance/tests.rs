//! Unit tests of the secret-set model and of validation (certificates made with `rcgen`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::sops::tree::{Map, Value};

/// 2030-01-01 00:00:00 UTC.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_893_456_000)
}

const DOMAIN: &str = "ci.example.test";
const RPC: &str = "f5257467204745134b5cfb03e257c8fa";
const HMAC: &str = "7bb97d1312b2cc952b053ca548e6229104bb2ab634be12c7c42f5b3ac922c2cb";

struct Pki {
    fullchain: String,
    key: String,
}

/// A CA and a wildcard leaf for `*.ci.example.test` + `ci.example.test`, valid 2029–2031.
fn pki() -> Pki {
    use rcgen::{
        date_time_ymd, BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "unit test CA");
    ca.not_before = date_time_ymd(2025, 1, 1);
    ca.not_after = date_time_ymd(2040, 1, 1);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec![format!("*.{DOMAIN}"), DOMAIN.into()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, format!("*.{DOMAIN}"));
    leaf.not_before = date_time_ymd(2029, 1, 1);
    leaf.not_after = date_time_ymd(2031, 1, 1);
    let leaf = leaf.signed_by(&key, &issuer).unwrap();
    Pki {
        fullchain: format!("{}{}", leaf.pem(), ca_cert.pem()),
        key: key.serialize_pem(),
    }
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    let mut m = Map::new();
    for (k, v) in entries {
        m.push(k, v);
    }
    Value::Map(m)
}

fn doc(pki: &Pki) -> Map {
    let Value::Map(m) = map(vec![
        (
            "tls",
            map(vec![
                ("fullchain", s(&pki.fullchain)),
                ("privkey", s(&pki.key)),
            ]),
        ),
        (
            "drone",
            map(vec![
                ("oauth_client_id", s("1ad7fd56-7138-4f11-bbd2-dbea3acdfcef")),
                (
                    "oauth_client_secret",
                    s("gto_2o4jwihwrqp22v6h4x7rylmdlv4jfltitz5w5bfkw3kpffrqcvona"),
                ),
                ("rpc_secret", s(RPC)),
            ]),
        ),
        ("webhook", map(vec![("hmac", s(HMAC))])),
        ("registry", Value::Seq(vec![])),
    ]) else {
        unreachable!()
    };
    m
}

fn set_path(doc: &mut Map, path: &[&str], v: Value) {
    let (last, parents) = path.split_last().unwrap();
    let mut cur = doc;
    for p in parents {
        cur = match cur.get_mut(p) {
            Some(Value::Map(m)) => m,
            _ => panic!("no map at {p}"),
        };
    }
    match cur.get_mut(last) {
        Some(slot) => *slot = v,
        None => cur.push(*last, v),
    }
}

fn findings(doc: &Map) -> Vec<Finding> {
    let set = SecretSet::from_map(doc).expect("model builds");
    validate(&set, &ValidateOptions::new(DOMAIN, now())).findings
}

fn model_err(doc: &Map) -> Vec<KeyProblem> {
    match SecretSet::from_map(doc).expect_err("model refuses") {
        SecretSetError::Keys(p) => p,
        other => panic!("{other}"),
    }
}

#[test]
fn a_good_set_has_no_finding_and_reports_its_leaf() {
    let pki = pki();
    let set = SecretSet::from_map(&doc(&pki)).unwrap();
    let v = validate(&set, &ValidateOptions::new(DOMAIN, now()));
    assert_eq!(v.findings, vec![], "{:?}", v.findings);
    let leaf = v.leaf.unwrap();
    assert_eq!(leaf.dns_names, [format!("*.{DOMAIN}"), DOMAIN.into()]);
    assert_eq!(leaf.key, KeyKind::P256);
    assert_eq!(leaf.not_after_utc(), "2031-01-01 00:00:00 UTC");
    assert_eq!(v.checked.len(), 6);
}

#[test]
fn default_install_targets_follow_the_plan() {
    let set = SecretSet::from_map(&doc(&pki())).unwrap();
    let t = &set.tls.fullchain.target;
    assert_eq!(
        t.path.to_str(),
        Some("/var/lib/ci-certs/live/fullchain.pem")
    );
    assert_eq!(t.mode, 0o444);
    let t = &set.tls.privkey.target;
    assert_eq!(t.path.to_str(), Some("/var/lib/ci-certs/live/privkey.pem"));
    assert_eq!((t.owner.as_str(), t.mode), ("root", 0o400));
    let t = &set.drone.rpc_secret.target;
    assert_eq!(t.path.to_str(), Some("/run/secrets/drone/rpc_secret"));
    assert_eq!(t.restart_units, ["cc-ci-drone.service"]);
    assert_eq!(
        InstallTarget::default_for("registry[1].password")
            .path
            .to_str(),
        Some("/run/secrets/registry/1/password")
    );
}

#[test]
fn missing_mistyped_and_unknown_keys_are_all_named() {
    let mut d = doc(&pki());
    d.remove("webhook");
    set_path(&mut d, &["drone", "rpc_secret"], Value::Int(12));
    set_path(&mut d, &["drone", "rpc_secert"], s("x"));
    d.push("webhok", map(vec![("hmac", s(HMAC))]));
    let problems = model_err(&d);
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "unknown key `webhok` (expected tls, drone, webhook, registry, extra; an instance's own secrets go under `extra:`)",
            "unknown key `drone.rpc_secert`",
            "`drone.rpc_secret` must be a string, found an integer (quote it)",
            "`webhook` is missing",
        ]
    );
    // Never a value in the message.
    let all = SecretSetError::Keys(problems).to_string();
    assert!(!all.contains(HMAC) && !all.contains("BEGIN"), "{all}");
}

#[test]
fn registry_and_extra_secrets() {
    let mut d = doc(&pki());
    d.remove("registry");
    d.push(
        "registry",
        map(vec![
            (
                "ghcr",
                map(vec![
                    ("host", s("ghcr.io")),
                    ("username", s("bot")),
                    ("password", s("pw")),
                ]),
            ),
            (
                "bad.label",
                map(vec![
                    ("host", s("https://bad")),
                    ("username", s("bot")),
                    ("password", s("")),
                ]),
            ),
        ]),
    );
    d.push(
        "extra",
        map(vec![("smtp_password", s("x")), ("empty", s(""))]),
    );
    let set = SecretSet::from_map(&d).unwrap();
    assert_eq!(set.registry.len(), 2);
    assert_eq!(set.registry[0].name, "registry.ghcr");
    assert_eq!(set.registry[0].password.name, "registry.ghcr.password");
    assert_eq!(
        set.registry[0].password.target.path.to_str(),
        Some("/run/secrets/registry/ghcr/password")
    );
    assert_eq!(
        set.registry[0].password.target.restart_units,
        ["cc-ci-drone.service"]
    );
    assert_eq!(set.extra[0].name, "extra.smtp_password");
    assert_eq!(
        set.extra[0].target.path.to_str(),
        Some("/run/secrets/extra/smtp_password")
    );
    let shown: Vec<String> = validate(&set, &ValidateOptions::new(DOMAIN, now()))
        .findings
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        shown,
        [
            "registry.bad.label: error: a registry label must not be empty or contain `.` or `/` (it is a path component of the sops-nix key)",
            "registry.bad.label.host: error: \"https://bad\" has a URL scheme; give the host name only (`registry.example.org`)",
            "registry.bad.label.password: error: is empty",
            "extra.empty: warning: is empty",
        ]
    );

    // The older list form is read, with a warning that sops-nix cannot address it.
    let mut d = doc(&pki());
    set_path(
        &mut d,
        &["registry"],
        Value::Seq(vec![map(vec![
            ("host", s("registry.example.org")),
            ("username", s("bot")),
            ("password", s("pw")),
        ])]),
    );
    let set = SecretSet::from_map(&d).unwrap();
    assert_eq!(set.registry[0].password.name, "registry[0].password");
    let shown: Vec<String> = validate(&set, &ValidateOptions::new(DOMAIN, now()))
        .findings
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(shown[0].starts_with("registry[0]: warning: is an item of the list form"));

    let mut d = doc(&pki());
    set_path(
        &mut d,
        &["registry"],
        map(vec![("r", map(vec![("host", s("r.example"))]))]),
    );
    let keys: Vec<String> = model_err(&d).iter().map(|p| p.key().to_owned()).collect();
    assert_eq!(keys, ["registry.r.username", "registry.r.password"]);
    set_path(&mut d, &["registry"], s("x"));
    let keys: Vec<String> = model_err(&d).iter().map(|p| p.key().to_owned()).collect();
    assert_eq!(keys, ["registry"]);
}

#[test]
fn placeholders_are_errors_and_skip_other_checks() {
    let mut d = doc(&pki());
    let ph = format!("{PLACEHOLDER_PREFIX} paste the certificate chain");
    set_path(&mut d, &["tls", "fullchain"], s(&ph));
    set_path(
        &mut d,
        &["drone", "oauth_client_secret"],
        s(&format!("{PLACEHOLDER_PREFIX} x")),
    );
    let f = findings(&d);
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(f.iter().all(|f| f.severity == Severity::Error));
    assert_eq!(f[0].secret, "tls.fullchain");
    assert!(f[0].message.contains("placeholder"));
    assert_eq!(f[1].secret, "drone.oauth_client_secret");
}

#[test]
fn short_or_repetitive_random_secrets_are_errors() {
    for (path, value, want) in [
        (
            ["drone", "rpc_secret"],
            &RPC[..31],
            "31 hex characters give at most 124 bits, need 128",
        ),
        (
            ["webhook", "hmac"],
            RPC,
            "32 hex characters give at most 128 bits, need 256",
        ),
        (["webhook", "hmac"], &"ab".repeat(32)[..], "only 2 distinct"),
    ] {
        let mut d = doc(&pki());
        set_path(&mut d, &path, s(value));
        let f = findings(&d);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].secret, path.join("."));
        assert!(f[0].message.contains(want), "{}", f[0].message);
        assert!(
            !f[0].message.contains(value),
            "value leaked: {}",
            f[0].message
        );
    }
    // Alphanumeric secrets count log2(62) bits a character: 22 are enough for 128 bits.
    let mut d = doc(&pki());
    set_path(
        &mut d,
        &["drone", "rpc_secret"],
        s("Zq8Xw3Lm9Pa2Rt7Yk4Nb6V"),
    );
    assert_eq!(findings(&d), vec![]);
}

#[test]
fn empty_oauth_credentials_are_errors() {
    let mut d = doc(&pki());
    set_path(&mut d, &["drone", "oauth_client_id"], s(" "));
    let f = findings(&d);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].secret, "drone.oauth_client_id");
}

#[test]
fn a_key_in_the_chain_file_or_garbage_is_reported() {
    let pki = pki();
    let mut d = doc(&pki);
    set_path(
        &mut d,
        &["tls", "fullchain"],
        s(&format!("{}{}", pki.fullchain, pki.key)),
    );
    let f = findings(&d);
    assert!(f[0].message.contains("private key block"), "{f:?}");

    set_path(&mut d, &["tls", "fullchain"], s("not a certificate"));
    set_path(&mut d, &["tls", "privkey"], s("not a key"));
    let f = findings(&d);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].message.contains("no `-----BEGIN CERTIFICATE-----`"));

    let mut d = doc(&pki);
    set_path(
        &mut d,
        &["tls", "privkey"],
        s("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
    );
    let f = findings(&d);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].secret, "tls.privkey");
}

#[test]
fn multi_document_files_are_refused() {
    let d = doc(&pki());
    let err = SecretSet::from_documents(&[d.clone(), d]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "secrets file must hold exactly one document, found 2"
    );
    assert_eq!(model_findings(&err)[0].secret, "secrets");
}
