use std::path::Path;

use super::*;
use crate::keys::{Identity, Recipient};
use crate::sops::document::{encrypt, EncryptOptions};
use crate::sops::store::StoreOptions;
use crate::sops::tree::Map;

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

fn map(entries: &[(&str, Value)]) -> Value {
    let mut m = Map::new();
    for (k, v) in entries {
        m.push(*k, v.clone());
    }
    Value::Map(m)
}

/// A plaintext instance document with the given extra secrets and registry entries.
fn doc(extra: &[&str], registry: usize) -> Map {
    let extra_entries: Vec<(&str, Value)> = extra.iter().map(|k| (*k, s("value"))).collect();
    let reg: Vec<Value> = (0..registry)
        .map(|_| {
            map(&[
                ("host", s("registry.example.org")),
                ("username", s("u")),
                ("password", s("p")),
            ])
        })
        .collect();
    let Value::Map(m) = map(&[
        (
            "tls",
            map(&[("fullchain", s("chain")), ("privkey", s("key"))]),
        ),
        (
            "drone",
            map(&[
                ("oauth_client_id", s("id")),
                ("oauth_client_secret", s("secret")),
                ("rpc_secret", s("rpc")),
            ]),
        ),
        ("webhook", map(&[("hmac", s("hmac"))])),
        ("registry", Value::Seq(reg)),
        ("extra", map(&extra_entries)),
    ]) else {
        unreachable!()
    };
    m
}

/// An instance directory whose `secrets/secrets.yaml` is `doc` encrypted to a fresh key.
fn instance_with(doc: Map) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("instance.nix"),
        "{ domain = \"ci.example.test\"; }\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    let (id, _) = Identity::generate();
    let r: Recipient = id.public().parse().unwrap();
    let opts = EncryptOptions {
        key_groups: vec![vec![r]],
        ..Default::default()
    };
    let file = encrypt(vec![doc], &opts).unwrap();
    let bytes = file.emit(Format::Yaml, &StoreOptions::default()).unwrap();
    std::fs::write(dir.path().join("secrets/secrets.yaml"), bytes).unwrap();
    dir
}

fn write_glue(dir: &Path) -> String {
    let inst = Instance::open(dir).unwrap();
    let glue = Declarations::for_instance(&inst, HostKeys::default())
        .unwrap()
        .glue_json();
    std::fs::write(dir.join(GLUE_FILE), &glue).unwrap();
    glue
}

#[test]
fn declarations_follow_the_install_targets() {
    let dir = instance_with(doc(&["grafana_password"], 0));
    let inst = Instance::open(dir.path()).unwrap();
    let d = Declarations::for_instance(&inst, HostKeys::default()).unwrap();
    let keys: Vec<&str> = d.secrets.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "tls/fullchain",
            "tls/privkey",
            "drone/oauth_client_id",
            "drone/oauth_client_secret",
            "drone/rpc_secret",
            "webhook/hmac",
            "extra/grafana_password"
        ]
    );
    let fullchain = &d.secrets[0].target;
    assert_eq!(
        fullchain.path,
        Path::new("/var/lib/ci-certs/live/fullchain.pem")
    );
    assert!(d.sops_file.ends_with("/secrets/secrets.yaml"));
    assert!(Path::new(&d.sops_file).is_absolute());
}

#[test]
fn list_items_are_refused() {
    let dir = instance_with(doc(&[], 1));
    let inst = Instance::open(dir.path()).unwrap();
    let err = Declarations::for_instance(&inst, HostKeys::default()).unwrap_err();
    match err {
        NixError::ListItem { secret, key } => {
            assert_eq!(secret, "registry[0].username");
            assert_eq!(key, "registry/0/username");
        }
        other => panic!("expected ListItem, got {other}"),
    }
}

#[test]
fn nix_strings_never_interpolate() {
    assert_eq!(nix_string("a${b}\"c\\\n"), r#""a\${b}\"c\\\n""#);
    assert_eq!(mode_string(0o400), "0400");
    assert_eq!(mode_string(0o4755), "4755");
}

#[test]
fn no_glue_no_findings() {
    let dir = instance_with(doc(&[], 0));
    assert_eq!(glue_findings(dir.path()).unwrap(), vec![]);
}

#[test]
fn fresh_glue_agrees() {
    let dir = instance_with(doc(&["a"], 0));
    write_glue(dir.path());
    assert_eq!(glue_findings(dir.path()).unwrap(), vec![]);
}

#[test]
fn secret_added_after_glue_is_undeclared() {
    let dir = instance_with(doc(&[], 0));
    write_glue(dir.path());
    // The secrets file gains extra.new; the committed glue was not regenerated.
    let newer = instance_with(doc(&["new"], 0));
    std::fs::copy(
        newer.path().join("secrets/secrets.yaml"),
        dir.path().join("secrets/secrets.yaml"),
    )
    .unwrap();
    let f = glue_findings(dir.path()).unwrap();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].secret, "extra/new");
    assert_eq!(f[0].problem, GlueProblem::PresentButUndeclared);
    assert!(f[0].to_string().contains("does not declare `extra/new`"));
}

#[test]
fn secret_removed_after_glue_is_declared_but_missing() {
    let dir = instance_with(doc(&["old", "kept"], 0));
    write_glue(dir.path());
    let newer = instance_with(doc(&["kept"], 0));
    std::fs::copy(
        newer.path().join("secrets/secrets.yaml"),
        dir.path().join("secrets/secrets.yaml"),
    )
    .unwrap();
    let f = glue_findings(dir.path()).unwrap();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].secret, "extra/old");
    assert_eq!(f[0].problem, GlueProblem::DeclaredButMissing);
}

#[test]
fn edited_target_differs() {
    let dir = instance_with(doc(&[], 0));
    let glue = write_glue(dir.path());
    let edited = glue.replacen("\"mode\": \"0444\"", "\"mode\": \"0644\"", 1);
    assert_ne!(edited, glue);
    std::fs::write(dir.path().join(GLUE_FILE), edited).unwrap();
    let f = glue_findings(dir.path()).unwrap();
    assert_eq!(
        f,
        vec![GlueFinding {
            glue_file: dir.path().join(GLUE_FILE),
            secret: "tls/fullchain".into(),
            problem: GlueProblem::Differs { field: "mode" },
        }]
    );
}

#[test]
fn registry_items_count_as_undeclared() {
    let dir = instance_with(doc(&[], 0));
    write_glue(dir.path());
    let newer = instance_with(doc(&[], 1));
    std::fs::copy(
        newer.path().join("secrets/secrets.yaml"),
        dir.path().join("secrets/secrets.yaml"),
    )
    .unwrap();
    let f: Vec<String> = glue_findings(dir.path())
        .unwrap()
        .into_iter()
        .map(|f| f.secret)
        .collect();
    assert_eq!(f, ["registry/0/username", "registry/0/password"]);
}

#[test]
fn malformed_glue_is_an_error_naming_the_file() {
    let dir = instance_with(doc(&[], 0));
    std::fs::write(dir.path().join(GLUE_FILE), "{\"secrets\": {}}").unwrap();
    let e = glue_findings(dir.path()).unwrap_err().to_string();
    assert!(e.contains(GLUE_FILE) && e.contains("format"), "{e}");
    std::fs::write(dir.path().join(GLUE_FILE), "not json").unwrap();
    let e = glue_findings(dir.path()).unwrap_err().to_string();
    assert!(e.contains(GLUE_FILE), "{e}");
}

#[test]
fn dotted_extra_names_are_refused() {
    assert_eq!(secret_key("extra.grafana").unwrap(), "extra/grafana");
    assert_eq!(secret_key("tls.fullchain").unwrap(), "tls/fullchain");
    for bad in ["extra.db.password", "extra.a/b", "extra."] {
        assert!(
            matches!(secret_key(bad), Err(NixError::AmbiguousName { .. })),
            "{bad}"
        );
    }
    let dir = instance_with(doc(&["db.password"], 0));
    let inst = Instance::open(dir.path()).unwrap();
    let e = Declarations::for_instance(&inst, HostKeys::default()).unwrap_err();
    assert!(e.to_string().contains("extra.db.password"), "{e}");
}

#[test]
fn a_path_spelled_differently_differs() {
    let dir = instance_with(doc(&[], 0));
    let glue = write_glue(dir.path());
    let edited = glue.replacen(
        "\"/run/secrets/drone/rpc_secret\"",
        "\"/run/secrets/./drone//rpc_secret/\"",
        1,
    );
    assert_ne!(edited, glue);
    std::fs::write(dir.path().join(GLUE_FILE), edited).unwrap();
    let f = glue_findings(dir.path()).unwrap();
    assert_eq!(
        f,
        vec![GlueFinding {
            glue_file: dir.path().join(GLUE_FILE),
            secret: "drone/rpc_secret".into(),
            problem: GlueProblem::Differs { field: "path" },
        }]
    );
}
