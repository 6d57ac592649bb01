//! The cold-rebuild harness end to end. A base repo and an instance repo are generated here
//! (the instance's secrets encrypted by the real `sops` to a key made by the real
//! `age-keygen`, with a test CA and a `*.DOMAIN` leaf made with rcgen), committed with the real
//! `git` and served by a real `git daemon` on loopback. Then:
//! - `ccsecrets rebuild-check` with only the bootstrap key succeeds, from a polluted caller
//!   environment, and writes complete evidence (commits checked against `git rev-parse`, the
//!   key against `age-keygen -y`, the leaf against its DER) holding no secret;
//! - no key, a wrong key, a corrupted secret: each fails naming the step;
//! - the `rebuild-step` blocks of `docs/install.md`, run in order in a scratch environment,
//!   rebuild the host (installed files checked against `sops decrypt --extract`), and the same
//!   blocks with one step left out fail, naming the step that broke.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccsecrets_core::rebuild::{procedure, DOCUMENTED_STEPS, HARNESS_STEPS};
use ccsecrets_tests::{age_bin, ccsecrets_bin, ok, repo_root, run, Sandbox};
use sha2::{Digest, Sha256};

const DOMAIN: &str = "rebuild.example.test";

/// A `git daemon` on 127.0.0.1 serving every repo under a directory; killed on drop.
struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    fn start(base: &Path, home: &Path) -> Daemon {
        let port = TcpListener::bind(("127.0.0.1", 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("git")
            .args([
                "daemon",
                "--export-all",
                "--reuseaddr",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon (is git installed?)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "git daemon did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { child, port }
    }

    fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 server on 127.0.0.1 in front of `git http-backend` (CGI): one request
/// per connection, then close. Enough for git's smart HTTP clone.
fn start_http_backend(project_root: PathBuf) -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = project_root.clone();
            std::thread::spawn(move || {
                let _ = serve_cgi(stream, &root);
            });
        }
    });
    port
}

fn serve_cgi(stream: TcpStream, root: &Path) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_owned();
    let target = parts.next().unwrap_or("/").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(n) = header("content-length") {
        body.resize(n.parse().unwrap_or(0), 0);
        reader.read_exact(&mut body)?;
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (h, var) in [
        ("content-type", "CONTENT_TYPE"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "HTTP_GIT_PROTOCOL"),
    ] {
        if let Some(v) = header(h) {
            cgi.env(var, v);
        }
    }
    let mut child = cgi.spawn()?;
    child.stdin.take().unwrap().write_all(&body)?;
    let out = child.wait_with_output()?;
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| {
            out.stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, 2))
        })
        .unwrap_or((out.stdout.len(), 0));
    let head = String::from_utf8_lossy(&out.stdout[..split.0]).into_owned();
    let payload = &out.stdout[(split.0 + split.1).min(out.stdout.len())..];
    let mut status = "200 OK".to_owned();
    let mut response = Vec::new();
    let mut lines = String::new();
    for h in head.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        match h.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_owned(),
            _ => lines.push_str(&format!("{h}\r\n")),
        }
    }
    response.extend_from_slice(
        format!(
            "HTTP/1.1 {status}\r\n{lines}Content-Length: {}\r\nConnection: close\r\n\r\n",
            payload.len()
        )
        .as_bytes(),
    );
    response.extend_from_slice(payload);
    let mut stream = stream;
    stream.write_all(&response)?;
    stream.flush()
}

/// The generated pair of repos, served.
struct World {
    sb: Sandbox,
    key: PathBuf,
    other_key: PathBuf,
    public: String,
    ca: PathBuf,
    leaf_der: Vec<u8>,
    /// The leaf's SubjectPublicKeyInfo (DER), as rcgen made it.
    leaf_spki: Vec<u8>,
    /// Every secret value (to prove none reaches the output or the evidence).
    values: Vec<String>,
    repos: PathBuf,
    daemon: Daemon,
}

fn git(sb: &Sandbox, dir: &Path, args: &[&str]) -> String {
    let mut c = sb.command(Path::new("git"));
    c.args([
        "-c",
        "init.defaultBranch=main",
        "-c",
        "user.name=rebuild test",
        "-c",
        "user.email=rebuild@test.invalid",
    ])
    .args(args)
    .current_dir(dir)
    .env("GIT_CONFIG_NOSYSTEM", "1");
    String::from_utf8(ok(run(c, None), &format!("git {args:?}")))
        .unwrap()
        .trim()
        .to_owned()
}

fn keygen(sb: &Sandbox, path: &Path) -> String {
    let mut c = sb.command(&age_bin().with_file_name("age-keygen"));
    c.arg("-o").arg(path);
    ok(run(c, None), "age-keygen");
    let mut c = sb.command(&age_bin().with_file_name("age-keygen"));
    c.arg("-y").arg(path);
    String::from_utf8(ok(run(c, None), "age-keygen -y"))
        .unwrap()
        .trim()
        .to_owned()
}

/// Test-only high-entropy strings (hex of SHA-256 over a label and the time).
fn random_hex(label: &str, len: usize) -> String {
    let seed = format!("{label}{:?}", std::time::SystemTime::now());
    let mut out = String::new();
    let mut i = 0u32;
    while out.len() < len {
        out.push_str(&hex(&Sha256::digest(format!("{seed}{i}"))));
        i += 1;
    }
    out.truncate(len);
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn indent(pem: &str) -> String {
    pem.lines().map(|l| format!("        {l}\n")).collect()
}

fn world() -> World {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PublicKeyData,
    };
    let sb = Sandbox::new();
    let w = sb.work();
    let key = w.join("bootstrap.txt");
    let public = keygen(&sb, &key);
    let other_key = w.join("other.txt");
    keygen(&sb, &other_key);

    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "rebuild test CA (never trust)");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec![format!("*.{DOMAIN}"), DOMAIN.into()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, format!("*.{DOMAIN}"));
    let leaf = leaf.signed_by(&leaf_key, &issuer).unwrap();
    let ca_path = w.join("ca.pem");
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    let fullchain = format!("{}{}", leaf.pem(), ca_cert.pem());
    let privkey = leaf_key.serialize_pem();

    let client_id = {
        let h = random_hex("id", 32);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    };
    let client_secret = format!("gto_{}", random_hex("secret", 52));
    let rpc = random_hex("rpc", 32);
    let hmac = random_hex("hmac", 64);
    let plain = format!(
        "tls:\n    fullchain: |\n{}    privkey: |\n{}drone:\n    oauth_client_id: {client_id}\n    \
         oauth_client_secret: {client_secret}\n    rpc_secret: {rpc}\nwebhook:\n    hmac: {hmac}\n\
         registry: []\n",
        indent(&fullchain),
        indent(&privkey),
    );

    let repos = w.join("repos");
    let inst = repos.join("instance");
    std::fs::create_dir_all(inst.join("secrets")).unwrap();
    std::fs::write(
        inst.join("instance.nix"),
        format!("{{\n  domain = \"{DOMAIN}\";\n}}\n"),
    )
    .unwrap();
    std::fs::write(
        inst.join(".sops.yaml"),
        format!("creation_rules:\n    - path_regex: secrets/.*\\.yaml$\n      age: {public}\n"),
    )
    .unwrap();
    std::fs::write(inst.join("secrets/secrets.yaml"), &plain).unwrap();
    let mut c = sb.sops();
    c.args(["encrypt", "--in-place", "secrets/secrets.yaml"])
        .current_dir(&inst);
    ok(run(c, None), "sops encrypt");
    git(&sb, &inst, &["init", "-q"]);
    git(&sb, &inst, &["add", "-A"]);
    git(&sb, &inst, &["commit", "-q", "-m", "instance"]);

    let base = repos.join("base");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::write(
        base.join("README.md"),
        "# cc-ci base\n\nGeneric host configuration.\n",
    )
    .unwrap();
    std::fs::write(
        base.join("configuration.nix"),
        "{ ... }:\n{\n  services.openssh.enable = true;\n}\n",
    )
    .unwrap();
    git(&sb, &base, &["init", "-q"]);
    git(&sb, &base, &["add", "-A"]);
    git(&sb, &base, &["commit", "-q", "-m", "base"]);

    let daemon = Daemon::start(&repos, &sb.home());
    World {
        leaf_der: leaf.der().to_vec(),
        leaf_spki: leaf_key.subject_public_key_info(),
        values: vec![client_id, client_secret, rpc, hmac, privkey],
        key,
        other_key,
        public,
        ca: ca_path,
        repos,
        daemon,
        sb,
    }
}

impl World {
    /// `ccsecrets rebuild-check` from a polluted environment: another key in SOPS_AGE_KEY_FILE,
    /// the default keys.txt and an SSH key in HOME. The clean child must see none of them.
    fn rebuild_check(&self, key: &Path, evidence: &Path) -> std::process::Output {
        self.rebuild_check_from(
            &self.daemon.url("base"),
            &self.daemon.url("instance"),
            key,
            evidence,
            &[],
        )
    }

    fn rebuild_check_from(
        &self,
        base_url: &str,
        instance_url: &str,
        key: &Path,
        evidence: &Path,
        envs: &[(&str, &Path)],
    ) -> std::process::Output {
        let home = self.sb.home();
        std::fs::create_dir_all(home.join(".config/sops/age")).unwrap();
        std::fs::copy(&self.other_key, home.join(".config/sops/age/keys.txt")).unwrap();
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::write(home.join(".ssh/id_ed25519"), "not a key\n").unwrap();
        let mut c = self.sb.ccsecrets();
        c.arg("rebuild-check")
            .arg("--base")
            .arg(base_url)
            .arg("--instance")
            .arg(instance_url)
            .arg("--age-key")
            .arg(key)
            .arg("--ca-bundle")
            .arg(&self.ca)
            .arg("--evidence")
            .arg(evidence)
            .env("SOPS_AGE_KEY_FILE", &self.other_key)
            .env("SOPS_AGE_KEY", "AGE-SECRET-KEY-1NOTAKEY")
            .env("SOPS_AGE_RECIPIENTS", &self.public);
        for (k, v) in envs {
            c.env(k, v);
        }
        run(c, None)
    }

    fn assert_no_secret(&self, what: &str, text: &str) {
        for v in &self.values {
            for line in v
                .lines()
                .filter(|l| l.len() > 16 && !l.starts_with("-----"))
            {
                assert!(!text.contains(line), "{what} holds a secret value");
            }
            let digest = hex(&Sha256::digest(v.as_bytes()));
            assert!(!text.contains(&digest), "{what} holds a secret's hash");
        }
        assert!(
            !text.contains("AGE-SECRET-KEY-1"),
            "{what} holds an age key"
        );
    }
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn evidence(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("evidence file")).expect("evidence JSON")
}

#[test]
fn rebuild_check_succeeds_with_only_the_bootstrap_key() {
    let w = world();
    let ev_path = w.sb.work().join("evidence.json");
    let out = w.rebuild_check(&w.key, &ev_path);
    let all = text(&out);
    assert!(out.status.success(), "rebuild-check failed:\n{all}");
    assert!(all.contains("rebuild-check: ok, 8 steps passed"), "{all}");
    w.assert_no_secret("output", &all);
    let raw = std::fs::read_to_string(&ev_path).unwrap();
    w.assert_no_secret("evidence", &raw);

    let ev = evidence(&ev_path);
    assert_eq!(ev["format"], "ccsecrets-rebuild-evidence/1");
    assert_eq!(ev["result"], "ok");
    assert!(ev["failed_step"].is_null());
    let steps = ev["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, HARNESS_STEPS);
    for s in steps {
        assert_eq!(s["result"], "ok", "{s}");
        assert!(s["duration_ms"].is_u64(), "{s}");
        assert!(!s["detail"].as_str().unwrap().is_empty(), "{s}");
    }
    // The clean child saw only its own variables.
    let env_detail = steps[0]["detail"].as_str().unwrap();
    assert!(
        !env_detail.contains("SOPS_AGE_KEY ") && !env_detail.contains("RECIPIENTS"),
        "{env_detail}"
    );

    // Commits: full ids, equal to what git says the served repos hold.
    for (i, role) in ["base", "instance"].iter().enumerate() {
        let r = &ev["repos"][i];
        assert_eq!(r["role"], *role);
        assert_eq!(r["url"], w.daemon.url(role));
        let head = git(&w.sb, &w.repos.join(role), &["rev-parse", "HEAD"]);
        assert_eq!(head.len(), 40);
        assert_eq!(r["commit"], head);
    }
    // The bootstrap key's public key as age-keygen -y prints it; the leaf's SPKI.
    assert_eq!(ev["keys"][0]["public_key"], w.public.as_str());
    assert_eq!(
        ev["keys"][0]["sha256"],
        hex(&Sha256::digest(w.public.as_bytes()))
    );
    let keys = ev["keys"].as_array().unwrap();
    let role = |r: &str| -> Vec<&serde_json::Value> {
        keys.iter()
            .filter(|k| k["role"].as_str().unwrap().starts_with(r))
            .collect()
    };
    let recipients = role("recipient of secrets/secrets.yaml");
    assert_eq!(recipients.len(), 1, "{keys:?}");
    assert_eq!(recipients[0]["public_key"], w.public.as_str());
    let leaf = role("TLS leaf certificate");
    assert_eq!(leaf.len(), 1, "{keys:?}");
    assert_eq!(leaf[0]["sha256"], hex(&Sha256::digest(&w.leaf_spki)));
    assert_eq!(keys.len(), 3, "{keys:?}");

    // Six secrets at their paths and modes.
    let files = ev["files"].as_array().unwrap();
    let got: Vec<(&str, &str, &str)> = files
        .iter()
        .map(|f| {
            (
                f["secret"].as_str().unwrap(),
                f["path"].as_str().unwrap(),
                f["mode"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "tls.fullchain",
                "/var/lib/ci-certs/live/fullchain.pem",
                "0444"
            ),
            ("tls.privkey", "/var/lib/ci-certs/live/privkey.pem", "0400"),
            (
                "drone.oauth_client_id",
                "/run/secrets/drone/oauth_client_id",
                "0400"
            ),
            (
                "drone.oauth_client_secret",
                "/run/secrets/drone/oauth_client_secret",
                "0400"
            ),
            ("drone.rpc_secret", "/run/secrets/drone/rpc_secret", "0400"),
            ("webhook.hmac", "/run/secrets/webhook/hmac", "0400"),
        ]
    );
    assert_eq!(files[4]["bytes"], 32);
    // As root, install gives each file its declared owner (root:root here) and the harness
    // checks it; without root, files stay the invoking user's (install --no-chown).
    use std::os::unix::fs::MetadataExt;
    let me = std::fs::metadata(w.sb.work()).unwrap();
    let want_owner = if me.uid() == 0 {
        "0:0".to_owned()
    } else {
        format!("{}:{}", me.uid(), me.gid())
    };
    for f in files {
        assert_eq!(f["owner"], want_owner.as_str(), "{f}");
    }
    let verify_detail = steps[6]["detail"].as_str().unwrap();
    assert_eq!(
        verify_detail.contains("owners"),
        me.uid() == 0,
        "{verify_detail}"
    );

    // The handshake: SNI, the leaf we made, verified against our CA.
    let tls = &ev["tls"];
    assert_eq!(tls["server_name"], format!("drone.{DOMAIN}"));
    assert_eq!(tls["protocol"], "TLSv1_3");
    assert_eq!(tls["chain_length"], 2);
    assert_eq!(tls["leaf_sha256"], hex(&Sha256::digest(&w.leaf_der)));
    assert!(tls["address"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(tls["roots"].as_str().unwrap().contains("ca.pem"));
}

#[test]
fn rebuild_check_fails_naming_the_step_without_the_key_or_with_another() {
    let w = world();
    let ev_path = w.sb.work().join("evidence.json");
    let out = w.rebuild_check(&w.sb.work().join("no-such-key.txt"), &ev_path);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("step `provision-key` failed"), "{all}");
    assert!(all.contains("no-such-key.txt"), "{all}");
    let ev = evidence(&ev_path);
    assert_eq!(ev["result"], "failed");
    assert_eq!(ev["failed_step"], "provision-key");
    assert_eq!(ev["steps"].as_array().unwrap().len(), 2);

    // A valid key that is not a recipient: the keyless check passes, the keyed one cannot
    // open the file.
    let out = w.rebuild_check(&w.other_key, &ev_path);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("step `check-keyed` failed"), "{all}");
    let ev = evidence(&ev_path);
    assert_eq!(ev["failed_step"], "check-keyed");
    assert_eq!(ev["steps"][3]["name"], "check");
    assert_eq!(ev["steps"][3]["result"], "ok");
    w.assert_no_secret("output", &all);
}

#[test]
fn rebuild_check_fails_naming_the_step_on_a_corrupted_secret() {
    let w = world();
    let inst = w.repos.join("instance");
    let file = inst.join("secrets/secrets.yaml");
    let text_before = std::fs::read_to_string(&file).unwrap();
    // Flip one base64 character of the rpc_secret ciphertext (still a well-formed ENC[]).
    let line = text_before
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with("rpc_secret: ENC[AES256_GCM,data:")
        })
        .expect("rpc_secret line");
    let at = line.find("data:").unwrap() + 5;
    let mut bad = line.to_owned().into_bytes();
    bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bad).unwrap();
    std::fs::write(&file, text_before.replace(line, &bad)).unwrap();
    git(&w.sb, &inst, &["commit", "-q", "-am", "corrupt rpc_secret"]);

    let ev_path = w.sb.work().join("evidence.json");
    let out = w.rebuild_check(&w.key, &ev_path);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("step `check-keyed` failed"), "{all}");
    let ev = evidence(&ev_path);
    assert_eq!(ev["failed_step"], "check-keyed");
    // The corrupted commit is the one that was checked.
    assert_eq!(
        ev["repos"][1]["commit"],
        git(&w.sb, &inst, &["rev-parse", "HEAD"])
    );
    w.assert_no_secret("output", &all);
}

/// Runs the documented steps in order, in a scratch environment (empty HOME, no SOPS_*
/// variable, no SSH key; `ccsecrets` and `git` on PATH). Err names the step that broke.
fn run_procedure(w: &World, doc: &str, scratch: &Path) -> Result<(), String> {
    let steps = procedure::parse(doc).map_err(|e| e.to_string())?;
    let home = scratch.join("home");
    let src = scratch.join("src");
    let root = scratch.join("root");
    for d in [&home, &src, &root] {
        std::fs::create_dir_all(d).unwrap();
    }
    let bin_dir = ccsecrets_bin().parent().unwrap().to_owned();
    let mut path = std::ffi::OsString::from(&bin_dir);
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    for step in &steps {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("set -euo pipefail\n{}", step.script))
            .current_dir(scratch)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", &home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("BOOTSTRAP_KEY", &w.key)
            .env("BASE_URL", w.daemon.url("base"))
            .env("INSTANCE_URL", w.daemon.url("instance"))
            .env("SRC", &src)
            .env("ROOT", &root)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(format!(
                "documented step `{}` (docs/install.md line {}) failed with {:?}: {}",
                step.name,
                step.line,
                out.status.code(),
                text(&out)
            ));
        }
    }
    Ok(())
}

fn install_md() -> String {
    std::fs::read_to_string(repo_root().join("docs/install.md")).expect("docs/install.md")
}

#[test]
fn documented_procedure_rebuilds_the_host() {
    let doc = install_md();
    let steps = procedure::parse(&doc).unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names, DOCUMENTED_STEPS,
        "docs/install.md's rebuild-step blocks"
    );
    // rebuild-check runs every documented step, in the same order.
    let mut harness = HARNESS_STEPS.iter();
    for s in DOCUMENTED_STEPS {
        assert!(harness.any(|h| h == s), "rebuild-check does not run `{s}`");
    }

    let w = world();
    let scratch = w.sb.work().join("host");
    run_procedure(&w, &doc, &scratch).unwrap();

    // The result, checked against the real sops on the served instance file.
    let root = scratch.join("root");
    let key_file = root.join("var/lib/sops-nix/key.txt");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let secrets = w.repos.join("instance/secrets/secrets.yaml");
    for (name, path, want_mode) in [
        (
            "tls.fullchain",
            "var/lib/ci-certs/live/fullchain.pem",
            0o444,
        ),
        ("tls.privkey", "var/lib/ci-certs/live/privkey.pem", 0o400),
        (
            "drone.oauth_client_id",
            "run/secrets/drone/oauth_client_id",
            0o400,
        ),
        (
            "drone.oauth_client_secret",
            "run/secrets/drone/oauth_client_secret",
            0o400,
        ),
        ("drone.rpc_secret", "run/secrets/drone/rpc_secret", 0o400),
        ("webhook.hmac", "run/secrets/webhook/hmac", 0o400),
    ] {
        let extract: String = name.split('.').map(|p| format!("[\"{p}\"]")).collect();
        let mut c = w.sb.sops();
        c.env("SOPS_AGE_KEY_FILE", &w.key)
            .args(["decrypt", "--extract", &extract])
            .arg(&secrets);
        let want = ok(run(c, None), "sops decrypt --extract");
        let installed = root.join(path);
        assert_eq!(std::fs::read(&installed).unwrap(), want, "{name}");
        let mode = std::fs::metadata(&installed).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, want_mode, "{name}");
    }
    // The clones are at the commits served.
    for role in ["base", "instance"] {
        assert_eq!(
            git(
                &w.sb,
                &scratch.join("src").join(role),
                &["rev-parse", "HEAD"]
            ),
            git(&w.sb, &w.repos.join(role), &["rev-parse", "HEAD"])
        );
    }
}

#[test]
fn an_undocumented_step_fails_naming_the_step() {
    // The procedure as if provisioning the key were not written down: the keyless check
    // still passes, the keyed check is the step that breaks, and says so.
    let doc = install_md();
    let steps = procedure::parse(&doc).unwrap();
    let provision = steps.iter().find(|s| s.name == "provision-key").unwrap();
    let fence = format!(
        "```sh rebuild-step provision-key\n{}```\n",
        provision.script
    );
    assert!(doc.contains(&fence));
    let without = doc.replace(&fence, "");

    let w = world();
    let err = run_procedure(&w, &without, &w.sb.work().join("host")).unwrap_err();
    assert!(err.starts_with("documented step `check-keyed`"), "{err}");
    assert!(err.contains("key.txt"), "{err}");
    w.assert_no_secret("failure", &err);
}

#[test]
fn example_runs_offline_on_the_bundled_instance() {
    let sb = Sandbox::new();
    let ev_path = sb.work().join("example.json");
    let mut c = sb.ccsecrets();
    c.args(["rebuild-check", "--example", "--evidence"])
        .arg(&ev_path);
    let out = run(c, None);
    let all = text(&out);
    assert!(
        out.status.success(),
        "rebuild-check --example failed:\n{all}"
    );
    let ev = evidence(&ev_path);
    assert_eq!(ev["result"], "ok");
    assert_eq!(ev["steps"].as_array().unwrap().len(), HARNESS_STEPS.len());
    for r in ev["repos"].as_array().unwrap() {
        let commit = r["commit"].as_str().unwrap();
        assert!(
            commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()),
            "{r}"
        );
        assert!(
            r["url"].as_str().unwrap().starts_with("git://127.0.0.1:"),
            "{r}"
        );
    }
    assert_eq!(ev["tls"]["server_name"], "drone.ci.example.test");
    // The example's bootstrap key is fixtures/keys/key1.txt, as age-keygen -y says.
    let mut c = sb.command(&age_bin().with_file_name("age-keygen"));
    c.arg("-y").arg(repo_root().join("fixtures/keys/key1.txt"));
    let public = String::from_utf8(ok(run(c, None), "age-keygen -y")).unwrap();
    assert_eq!(ev["keys"][0]["public_key"], public.trim());
}

/// A stand-in for `ssh` (this machine has no SSH server): it parses ssh's options, drops the
/// host and runs the remote command locally, logging each call, as git's own test suite does.
/// gix's ssh transport runs it through `GIT_SSH_COMMAND` exactly as it would run `ssh`.
fn fake_ssh(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("fake-ssh.log");
    let script = dir.join("fake-ssh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nwhile [ $# -gt 0 ]; do\n  case \"$1\" in\n    -G) exit 0 ;;\n    \
             -o|-p|-i|-l) shift 2 ;;\n    -*) shift ;;\n    *) break ;;\n  esac\ndone\n\
             echo \"host=$1 command=$*\" >> '{}'\nshift\nexec sh -c \"$*\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

#[test]
fn rebuild_check_clones_over_http_and_ssh() {
    let w = world();
    let port = start_http_backend(w.repos.clone());
    let (ssh, log) = fake_ssh(&w.sb.work());
    let ev_path = w.sb.work().join("evidence.json");
    let base = format!("http://127.0.0.1:{port}/base");
    let instance = format!(
        "ssh://git@git.example.invalid{}",
        w.repos.join("instance").display()
    );
    let out = w.rebuild_check_from(
        &base,
        &instance,
        &w.key,
        &ev_path,
        &[("GIT_SSH_COMMAND", &ssh)],
    );
    let all = text(&out);
    assert!(
        out.status.success(),
        "rebuild-check over http and ssh failed:\n{all}"
    );
    let ev = evidence(&ev_path);
    assert_eq!(ev["result"], "ok");
    assert_eq!(ev["repos"][0]["url"], base.as_str());
    assert_eq!(ev["repos"][1]["url"], instance.as_str());
    for (i, role) in ["base", "instance"].iter().enumerate() {
        assert_eq!(
            ev["repos"][i]["commit"],
            git(&w.sb, &w.repos.join(role), &["rev-parse", "HEAD"])
        );
    }
    let clone = ev["steps"][2]["detail"].as_str().unwrap();
    assert!(clone.contains("base") && clone.contains("(git)"), "{clone}");
    assert!(
        clone.contains("instance") && clone.contains("(gix)"),
        "{clone}"
    );
    let calls = std::fs::read_to_string(&log).expect("gix ran the ssh command");
    assert!(
        calls.contains("host=git@git.example.invalid") && calls.contains("git-upload-pack"),
        "{calls}"
    );
}
