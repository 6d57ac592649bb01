//! Shared by the instance command tests: a sandbox with a git identity, a test PKI made with
//! rcgen relative to the real clock (the CLI judges validity at `SystemTime::now()`), the
//! real `git` for inspecting results, and the real `sops` and `ssh-keygen` as oracles.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ccsecrets_tests::{ok, run, Sandbox};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair,
    PKCS_ECDSA_P256_SHA256,
};
use sha2::{Digest, Sha256};

pub const DOMAIN: &str = "ci.example.test";

/// A sandbox whose HOME holds a git identity (used by both gix in ccsecrets and git).
pub fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    std::fs::write(
        sb.home().join(".gitconfig"),
        "[user]\n\tname = Test Operator\n\temail = operator@example.invalid\n[init]\n\tdefaultBranch = main\n",
    )
    .unwrap();
    sb
}

/// Runs ccsecrets in the sandbox with `SOPS_AGE_KEY_FILE` (when given) and `args`.
pub fn ccs(sb: &Sandbox, key: Option<&Path>, args: &[&str]) -> Output {
    let mut c = sb.ccsecrets();
    c.env("GIT_CONFIG_NOSYSTEM", "1");
    if let Some(k) = key {
        c.env("SOPS_AGE_KEY_FILE", k);
    }
    c.args(args);
    run(c, None)
}

/// Runs the real sops `decrypt FILE` with the identity file `key`.
pub fn sops_decrypt(sb: &Sandbox, key: &Path, file: &Path) -> Output {
    let mut c = sb.sops();
    c.env("SOPS_AGE_KEY_FILE", key).arg("decrypt").arg(file);
    run(c, None)
}

/// Runs git in `dir`; panics on failure; returns stdout.
pub fn git(sb: &Sandbox, dir: &Path, args: &[&str]) -> String {
    let mut c = sb.command(Path::new("git"));
    c.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("LC_ALL", "C")
        .args(args);
    String::from_utf8(ok(run(c, None), &format!("git {args:?}"))).unwrap()
}

/// Runs `ccsecrets init --domain DOMAIN --dir inst --bootstrap-key-out key EXTRA…`.
pub fn run_init(sb: &Sandbox, inst: &Path, key: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "init",
        "--domain",
        DOMAIN,
        "--dir",
        inst.to_str().unwrap(),
        "--bootstrap-key-out",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ccs(sb, None, &args)
}

/// `ccsecrets init` in `work/inst` with the bootstrap key at `keys/bootstrap.txt` (outside
/// any work tree). Returns (instance dir, key file, bootstrap recipient).
pub fn init_instance(sb: &Sandbox, extra: &[&str]) -> (PathBuf, PathBuf, String) {
    let inst = sb.work().join("inst");
    let key = sb.dir.path().join("keys").join("bootstrap.txt");
    let out = ok(run_init(sb, &inst, &key, extra), "ccsecrets init");
    let recipient = String::from_utf8(out).unwrap().trim().to_owned();
    (inst, key, recipient)
}

/// A new age identity file made by the real age-keygen; returns (file, recipient).
pub fn age_keygen(sb: &Sandbox, name: &str) -> (PathBuf, String) {
    let path = sb.dir.path().join("keys").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let keygen = ccsecrets_tests::age_bin().with_file_name("age-keygen");
    let mut c = sb.command(&keygen);
    c.arg("-o").arg(&path);
    let out = run(c, None);
    assert!(
        out.status.success(),
        "age-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();
    (path, recipient)
}

/// A host key made by the real ssh-keygen; returns (private key path, public key line).
pub fn ssh_host_key(sb: &Sandbox, name: &str) -> (PathBuf, String) {
    let path = sb.dir.path().join("keys").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut c = sb.command(Path::new("ssh-keygen"));
    c.args(["-q", "-t", "ed25519", "-N", "", "-C", "root@ci", "-f"])
        .arg(&path);
    ok(run(c, None), "ssh-keygen");
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path, public.trim().to_owned())
}

/// The age identity sops-nix derives from a host's ssh key, as `ccsecrets ssh-to-age
/// --private-key` writes it, in a file.
pub fn host_age_identity(sb: &Sandbox, ssh_private: &Path) -> PathBuf {
    let out = ok(
        ccs(
            sb,
            None,
            &[
                "ssh-to-age",
                "--private-key",
                "-i",
                ssh_private.to_str().unwrap(),
            ],
        ),
        "ssh-to-age --private-key",
    );
    let path = ssh_private.with_extension("age.txt");
    std::fs::write(&path, out).unwrap();
    path
}

// ---------------------------------------------------------------------------------------------
// A test PKI, dated relative to the real clock.
// ---------------------------------------------------------------------------------------------

fn since_epoch(days_from_now: i64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Whole seconds, so certificates made in the same test run compare predictably.
    Duration::from_secs((now + days_from_now * 86_400) as u64)
}

fn validity(p: &mut CertificateParams, from: i64, until: i64) {
    p.not_before = date_time_ymd(1970, 1, 1) + since_epoch(from);
    p.not_after = date_time_ymd(1970, 1, 1) + since_epoch(until);
}

pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

pub fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    validity(&mut p, -400, 3650);
    let cert = p.self_signed(&key).unwrap();
    Ca {
        issuer: Issuer::new(p, key),
        pem: cert.pem(),
    }
}

/// A leaf and its key, with the chain (leaf then CA) and its public facts.
pub struct Leaf {
    pub pem: String,
    pub key: String,
    pub fullchain: String,
    pub sha256: String,
    pub serial: String,
}

/// A leaf for `sans`, valid from `from` to `until` days from now, issued by `ca`.
pub fn leaf_for(ca: &Ca, sans: &[&str], from: i64, until: i64, serial: u64) -> Leaf {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, sans[0]);
    validity(&mut p, from, until);
    p.serial_number = Some(rcgen::SerialNumber::from(serial));
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    let sha256 = Sha256::digest(cert.der())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let serial = serial
        .to_be_bytes()
        .iter()
        .skip_while(|b| **b == 0)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    Leaf {
        fullchain: format!("{}{}", cert.pem(), ca.pem),
        pem: cert.pem(),
        key: key.serialize_pem(),
        sha256,
        serial,
    }
}

/// A wildcard leaf for DOMAIN valid until `until` days from now.
pub fn wildcard(ca: &Ca, until: i64, serial: u64) -> Leaf {
    leaf_for(ca, &[&format!("*.{DOMAIN}"), DOMAIN], -1, until, serial)
}

/// Writes the leaf's chain and key as files in the sandbox; returns their paths.
pub fn write_pair(sb: &Sandbox, name: &str, chain: &str, key: &str) -> (PathBuf, PathBuf) {
    let dir = sb.dir.path().join("certs");
    std::fs::create_dir_all(&dir).unwrap();
    let (c, k) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, chain).unwrap();
    std::fs::write(&k, key).unwrap();
    (c, k)
}

/// Every file of the instance (except .git) with its bytes, and the branch tip: what a
/// refusal must leave as it was.
pub fn snapshot(sb: &Sandbox, inst: &Path) -> (Vec<(PathBuf, Vec<u8>)>, String) {
    let mut files = Vec::new();
    let mut stack = vec![inst.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_name() == ".git" {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                files.push((e.path(), std::fs::read(e.path()).unwrap()));
            }
        }
    }
    files.sort();
    (files, git(sb, inst, &["rev-parse", "HEAD"]))
}

/// The lines of two versions of a sops YAML file that differ, by their key (`fullchain`,
/// `mac`, …); each encrypted value is on one line, so equal lines are equal ciphertexts.
pub fn changed_keys(old: &str, new: &str) -> Vec<String> {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    assert_eq!(a.len(), b.len(), "same shape expected:\n{old}\n---\n{new}");
    a.iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .map(|(x, _)| {
            x.trim()
                .split(':')
                .next()
                .unwrap()
                .trim_start_matches("- ")
                .to_owned()
        })
        .collect()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
