//! `ccsecrets install` against a root holding planted symlinks: nothing outside ROOT is ever
//! written, chowned or wiped through a link, and a refused install leaves no generation.
//! Each test plants a "victim" directory outside ROOT with a file in it and checks, byte for
//! byte, that the file and the directory listing are unchanged afterwards.

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ccsecrets_tests::{fixture, ok, run, Sandbox};

const KEY1: &str = "keys/key1.txt";
const PRECIOUS: &[u8] = b"root:$y$precious-hash:19000:0:99999:7:::\n";

fn me() -> u32 {
    std::fs::metadata("/proc/self").unwrap().uid()
}

fn install(sb: &Sandbox, root: &Path) -> std::process::Output {
    let mut c = sb.ccsecrets();
    c.args(["install", "--instance"])
        .arg(fixture("example-instance"))
        .arg("--root")
        .arg(root)
        .arg("--identity")
        .arg(fixture(KEY1));
    if me() != 0 {
        c.arg("--no-chown");
    }
    run(c, None)
}

/// A directory outside ROOT with one file, standing in for `/etc`.
fn victim(sb: &Sandbox) -> PathBuf {
    let v = sb.work().join("victim");
    std::fs::create_dir_all(&v).unwrap();
    std::fs::write(v.join("shadow"), PRECIOUS).unwrap();
    v
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn assert_untouched(v: &Path) {
    assert_eq!(std::fs::read(v.join("shadow")).unwrap(), PRECIOUS);
    assert_eq!(listing(v), ["shadow"], "nothing was created in the victim");
}

/// `root/rel` and the directories on the way, 0755 whatever the umask.
fn mkdirs(root: &Path, rel: &str) -> PathBuf {
    let mut p = root.to_path_buf();
    std::fs::create_dir_all(&p).unwrap();
    for part in Path::new(rel).components() {
        p.push(part);
        if !p.is_dir() {
            std::fs::create_dir(&p).unwrap();
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    p
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn pruning_never_follows_a_planted_generation_link() {
    let sb = Sandbox::new();
    let v = victim(&sb);
    let root = sb.work().join("root");
    let gens = mkdirs(&root, "run/secrets.d");
    // An old "generation" and an "interrupted install" that are links to the victim.
    symlink(&v, gens.join("1")).unwrap();
    symlink(&v, gens.join(".new-0123456789ab")).unwrap();
    let out = install(&sb, &root);
    assert_untouched(&v);
    // Pruning removed the links themselves, not what they point to.
    ok(out, "ccsecrets install");
    assert!(std::fs::symlink_metadata(gens.join("1")).is_err());
    assert!(std::fs::symlink_metadata(gens.join(".new-0123456789ab")).is_err());
    assert_eq!(
        std::fs::read_link(root.join("run/secrets")).unwrap(),
        Path::new("secrets.d/2")
    );
}

#[test]
fn a_symlinked_run_directory_is_refused() {
    let sb = Sandbox::new();
    let v = victim(&sb);
    let root = sb.work().join("root");
    std::fs::create_dir_all(&root).unwrap();
    symlink(&v, root.join("run")).unwrap();
    let out = install(&sb, &root);
    assert!(!out.status.success(), "installed through a link");
    let err = stderr(&out);
    assert!(err.contains("is a symlink"), "{err}");
    assert!(
        err.contains(&root.join("run").display().to_string()),
        "{err}"
    );
    assert_untouched(&v);
    assert_eq!(listing(&root), ["run"]);
}

#[test]
fn a_symlinked_directory_on_a_certificate_path_is_refused() {
    let sb = Sandbox::new();
    let v = victim(&sb);
    let root = sb.work().join("root");
    mkdirs(&root, "var/lib");
    // ROOT/var/lib/ci-certs -> victim: the links would land in victim/live/.
    symlink(&v, root.join("var/lib/ci-certs")).unwrap();
    let out = install(&sb, &root);
    assert!(!out.status.success(), "installed through a link");
    let err = stderr(&out);
    assert!(err.contains("is a symlink"), "{err}");
    assert!(err.contains("ci-certs"), "{err}");
    assert_untouched(&v);
    // All or nothing: no generation was made.
    assert!(!root.join("run").exists(), "{:?}", listing(&root));
}

#[test]
fn a_planted_link_at_the_certificate_path_is_replaced_not_followed() {
    let sb = Sandbox::new();
    let v = victim(&sb);
    let root = sb.work().join("root");
    let live = mkdirs(&root, "var/lib/ci-certs/live");
    symlink(v.join("shadow"), live.join("fullchain.pem")).unwrap();
    symlink(v.join("shadow"), live.join("privkey.pem")).unwrap();
    let before = std::fs::metadata(v.join("shadow")).unwrap().mode();
    ok(install(&sb, &root), "ccsecrets install");
    assert_untouched(&v);
    let target = std::fs::read_link(live.join("privkey.pem")).unwrap();
    assert_eq!(target, Path::new("../../../../run/secrets/tls/privkey"));
    let after = std::fs::metadata(v.join("shadow")).unwrap().mode();
    assert_eq!(after, before, "mode untouched");
}

#[test]
fn a_generations_directory_others_can_write_is_refused() {
    let sb = Sandbox::new();
    let root = sb.work().join("root");
    let gens = mkdirs(&root, "run/secrets.d");
    std::fs::set_permissions(&gens, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = install(&sb, &root);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("writable by no one else"), "{err}");
    assert!(listing(&gens).is_empty(), "{:?}", listing(&gens));
    assert!(!root.join("run/secrets").exists());
}

/// A directory on the way to a certificate path that others can write is where a link could
/// be swapped in between the check and the write: refused before anything is written.
#[test]
fn a_writable_directory_on_a_certificate_path_is_refused() {
    let sb = Sandbox::new();
    let root = sb.work().join("root");
    for mode in [0o775, 0o757] {
        let certs = mkdirs(&root, "var/lib/ci-certs");
        std::fs::set_permissions(&certs, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = install(&sb, &root);
        assert!(!out.status.success(), "mode {mode:o} accepted");
        let err = stderr(&out);
        assert!(err.contains("ci-certs"), "{err}");
        assert!(err.contains("writable by no one else"), "{err}");
        assert!(!root.join("run").exists(), "nothing installed");
        assert!(!certs.join("live").exists(), "nothing installed");
    }
}
