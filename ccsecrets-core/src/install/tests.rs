use std::path::Path;

use super::*;
use crate::sops::tree::{Map, Value};

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

fn set(rpc: &str) -> SecretSet {
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
                ("rpc_secret", s(rpc)),
            ]),
        ),
        ("webhook", map(&[("hmac", s("hmac"))])),
        ("extra", map(&[("mine", s("own"))])),
    ]) else {
        unreachable!()
    };
    SecretSet::from_map(&m).unwrap()
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

#[test]
fn relative_links_climb_to_the_root() {
    assert_eq!(
        relative_link(
            Path::new("/var/lib/ci-certs/live/fullchain.pem"),
            Path::new("/run/secrets/tls/fullchain")
        ),
        Path::new("../../../../run/secrets/tls/fullchain")
    );
    assert_eq!(
        relative_link(Path::new("/top"), Path::new("/run/secrets/a")),
        Path::new("run/secrets/a")
    );
}

#[test]
fn installs_switches_and_is_idempotent() {
    let root = tempfile::tempdir().unwrap();
    let opts = InstallOptions::new(root.path());
    let r1 = install_set(&set("one"), &opts).unwrap();
    assert!(r1.changed);
    assert_eq!(r1.generation, 1);
    assert_eq!(
        fs::read_link(root.path().join("run/secrets")).unwrap(),
        Path::new("secrets.d/1")
    );
    let rpc = root.path().join("run/secrets/drone/rpc_secret");
    assert_eq!(fs::read(&rpc).unwrap(), b"one");
    assert_eq!(mode(&rpc), 0o400);
    let cert = root.path().join("var/lib/ci-certs/live/fullchain.pem");
    assert_eq!(fs::read(&cert).unwrap(), b"chain");
    assert_eq!(r1.links.len(), 2);

    let r2 = install_set(&set("one"), &opts).unwrap();
    assert!(!r2.changed);
    assert_eq!(r2.generation, 1);
    assert!(r2.links.is_empty());
    assert_eq!(list_generations(&root.path().join(GENERATIONS_DIR)), [1]);

    let r3 = install_set(&set("two"), &opts).unwrap();
    assert!(r3.changed);
    assert_eq!(r3.generation, 2);
    assert_eq!(r3.pruned, [1]);
    assert_eq!(fs::read(&rpc).unwrap(), b"two");
    assert_eq!(list_generations(&root.path().join(GENERATIONS_DIR)), [2]);
}

#[test]
fn keep_generations_zero_keeps_all() {
    let root = tempfile::tempdir().unwrap();
    let mut opts = InstallOptions::new(root.path());
    opts.keep_generations = 0;
    install_set(&set("a"), &opts).unwrap();
    install_set(&set("b"), &opts).unwrap();
    install_set(&set("c"), &opts).unwrap();
    assert_eq!(
        list_generations(&root.path().join(GENERATIONS_DIR)),
        [1, 2, 3]
    );
}

#[test]
fn owner_group_and_mode_from_the_target() {
    let root = tempfile::tempdir().unwrap();
    let mut set = set("x");
    for sec in set.secrets_mut() {
        if sec.name == "extra.mine" {
            sec.target.owner = "nobody".into();
            sec.target.group = "65534".into();
            sec.target.mode = 0o440;
        }
    }
    let opts = InstallOptions::new(root.path());
    let f = root.path().join("run/secrets/extra/mine");
    if current_ids().0 == 0 {
        install_set(&set, &opts).unwrap();
        let m = fs::metadata(&f).unwrap();
        assert_eq!((m.gid(), m.mode() & 0o7777), (65534, 0o440));
        assert_ne!(m.uid(), 0);
    } else {
        let e = install_set(&set, &opts).unwrap_err();
        assert!(matches!(e, InstallError::Permission(_)), "{e}");
        assert!(!root.path().join("run").exists(), "nothing written");
    }
}

#[test]
fn unknown_owner_installs_nothing() {
    let root = tempfile::tempdir().unwrap();
    let opts = InstallOptions::new(root.path());
    install_set(&set("first"), &opts).unwrap();
    let mut bad = set("second");
    bad.secrets_mut()[0].target.owner = "no-such-user-ccsecrets".into();
    let e = install_set(&bad, &opts).unwrap_err().to_string();
    assert!(
        e.contains("no-such-user-ccsecrets") && e.contains("passwd"),
        "{e}"
    );
    assert_eq!(
        fs::read(root.path().join("run/secrets/drone/rpc_secret")).unwrap(),
        b"first"
    );
    assert_eq!(list_generations(&root.path().join(GENERATIONS_DIR)), [1]);
}

#[test]
fn a_directory_in_the_way_installs_nothing() {
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path().join("var/lib/ci-certs/live/fullchain.pem")).unwrap();
    let e = install_set(&set("x"), &InstallOptions::new(root.path())).unwrap_err();
    assert!(matches!(e, InstallError::Conflict { .. }), "{e}");
    assert!(!root.path().join("run").exists());
}

#[test]
fn swarm_with_an_unparsable_chain_installs_nothing() {
    let root = tempfile::tempdir().unwrap();
    let mut opts = InstallOptions::new(root.path());
    opts.swarm = true;
    let e = install_set(&set("x"), &opts).unwrap_err();
    assert!(e.to_string().contains("swarm"), "{e}");
    assert!(!root.path().join("run").exists());
}

#[test]
fn generation_directories_are_0751() {
    let root = tempfile::tempdir().unwrap();
    install_set(&set("x"), &InstallOptions::new(root.path())).unwrap();
    let g = root.path().join("run/secrets.d/1");
    assert_eq!(mode(&g), 0o751);
    assert_eq!(mode(&g.join("drone")), 0o751);
}

#[test]
fn leftovers_of_an_interrupted_install_are_wiped() {
    let root = tempfile::tempdir().unwrap();
    let opts = InstallOptions::new(root.path());
    install_set(&set("a"), &opts).unwrap();
    let stale = root.path().join("run/secrets.d/.new-0123456789ab");
    fs::create_dir_all(stale.join("drone")).unwrap();
    fs::write(stale.join("drone/rpc_secret"), b"plaintext").unwrap();
    // Even a run that changes nothing cleans up.
    let r = install_set(&set("a"), &opts).unwrap();
    assert!(!r.changed);
    assert!(!stale.exists());
    assert_eq!(list_generations(&root.path().join(GENERATIONS_DIR)), [1]);
}

#[test]
fn a_key_that_climbs_out_of_the_generation_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let Value::Map(mut m) = map(&[
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
    ]) else {
        unreachable!()
    };
    m.push("extra", map(&[("../../../escaped", s("x"))]));
    let mut set = SecretSet::from_map(&m).unwrap();
    // Even with a custom path, the file inside the generation would escape it.
    for sec in set.secrets_mut() {
        if sec.name.starts_with("extra.") {
            sec.target.path = "/srv/ok".into();
        }
    }
    let e = install_set(&set, &InstallOptions::new(root.path())).unwrap_err();
    assert!(e.to_string().contains("contain `.` or `/`"), "{e}");
    assert!(!root.path().join("run").exists());
    assert!(!root.path().parent().unwrap().join("escaped").exists());
}
