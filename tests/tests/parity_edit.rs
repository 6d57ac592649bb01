//! `edit` on YAML files with a scripted editor (a shell script as `EDITOR`), checked with the
//! real sops 3.11: unchanged → exit 200 and the file byte-identical; a change → sops decrypts
//! the new value and only that value's line, `mac` and `lastmodified` differ; a parse error
//! re-opens the editor; a new file is created from the `.sops.yaml` rule (and refused before
//! the editor starts when no rule matches); SIGTERM/SIGINT remove the scratch directory.
//! `set`/`unset` on the same YAML files change only their own line, `mac` and `lastmodified`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ccsecrets_tests::{fixture, ok, recipient, run, Sandbox};

const SECRET: &str = "edit-yaml-secret";

/// `.sops.yaml` for `*.yaml` → key1 only.
fn yaml_rule(sb: &Sandbox) {
    std::fs::write(
        sb.work().join(".sops.yaml"),
        format!(
            "creation_rules:\n    - path_regex: \\.yaml$\n      age: {}\n",
            recipient(1)
        ),
    )
    .unwrap();
}

/// A YAML file encrypted by the real sops through the rule.
fn sops_file(sb: &Sandbox, name: &str) -> PathBuf {
    let p = sb.work().join(name);
    std::fs::write(
        &p,
        format!("# database\ndb:\n    user: app\n    password: {SECRET}\n    port: 5432\nhosts:\n    - a.example.test\n    - b.example.test\n"),
    )
    .unwrap();
    let mut cmd = sb.sops();
    cmd.args(["encrypt", "-i", name]);
    ok(run(cmd, None), "sops encrypt -i");
    p
}

fn editor_script(sb: &Sandbox, name: &str, body: &str) -> PathBuf {
    let p = sb.dir.path().join(name);
    std::fs::write(&p, format!("#!/bin/sh\nset -e\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn edit(sb: &Sandbox, editor: &Path, file: &str, stdin: Option<&[u8]>) -> Output {
    let mut cmd = sb.ccsecrets();
    cmd.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
        .env("EDITOR", editor)
        .args(["edit", file]);
    run(cmd, stdin)
}

fn sops_decrypt(sb: &Sandbox, file: &Path) -> String {
    let mut cmd = sb.sops();
    cmd.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
        .arg("decrypt")
        .arg(file);
    String::from_utf8(ok(run(cmd, None), "sops decrypt")).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The keys of the lines that differ (same line count required).
fn changed_keys(before: &str, after: &str) -> Vec<String> {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    assert_eq!(
        a.len(),
        b.len(),
        "line count changed:\n{before}\n---\n{after}"
    );
    let mut keys: Vec<String> = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .map(|(x, _)| x.trim().split(':').next().unwrap_or("").to_owned())
        .collect();
    keys.sort();
    keys
}

#[test]
fn unchanged_exits_200_and_leaves_the_file_byte_identical() {
    let sb = Sandbox::new();
    yaml_rule(&sb);
    let f = sops_file(&sb, "s.yaml");
    let before = std::fs::read(&f).unwrap();
    // An editor that only looks at the file (and one that rewrites the same bytes).
    for body in [
        "cat \"$1\" > /dev/null",
        "cp \"$1\" \"$1.x\"; cat \"$1.x\" > \"$1\"; rm \"$1.x\"",
    ] {
        let ed = editor_script(&sb, "look.sh", body);
        let out = edit(&sb, &ed, "s.yaml", None);
        assert_eq!(out.status.code(), Some(200), "{}", stderr(&out));
        assert_eq!(std::fs::read(&f).unwrap(), before, "file rewritten");
    }
    // sops agrees on the exit status.
    let ed = editor_script(&sb, "look.sh", "cat \"$1\" > /dev/null");
    let mut cmd = sb.sops();
    cmd.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
        .env("EDITOR", &ed)
        .args(["edit", "s.yaml"]);
    assert_eq!(run(cmd, None).status.code(), Some(200));
    assert_eq!(std::fs::read(&f).unwrap(), before);
}

#[test]
fn a_change_is_what_sops_decrypts_and_the_diff_is_minimal() {
    let sb = Sandbox::new();
    yaml_rule(&sb);
    let f = sops_file(&sb, "s.yaml");
    let before = std::fs::read_to_string(&f).unwrap();
    // The editor sees sops's own plaintext.
    let seen = sb.dir.path().join("seen.yaml");
    let ed = editor_script(
        &sb,
        "port.sh",
        &format!(
            "cp \"$1\" {seen}\nsed -i 's/port: 5432/port: 6543/' \"$1\"",
            seen = seen.display()
        ),
    );
    std::thread::sleep(Duration::from_millis(1100)); // lastmodified has seconds
    ok(edit(&sb, &ed, "s.yaml", None), "edit");
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        sops_decrypt(&sb, &sb.work().join("s.yaml")).replace("6543", "5432"),
        "the editor got something else than sops decrypt prints"
    );
    let after = std::fs::read_to_string(&f).unwrap();
    assert_eq!(
        changed_keys(&before, &after),
        ["lastmodified", "mac", "port"]
    );
    let plain = sops_decrypt(&sb, &f);
    assert!(plain.contains("port: 6543"), "{plain}");
    assert!(plain.contains(SECRET));
    assert!(plain.starts_with("# database\n"), "{plain}");
}

#[test]
fn invalid_yaml_reopens_the_editor_and_a_failing_editor_changes_nothing() {
    let sb = Sandbox::new();
    yaml_rule(&sb);
    let f = sops_file(&sb, "s.yaml");
    let before = std::fs::read(&f).unwrap();

    // An editor that fails after writing garbage: nothing written, exit non-zero.
    let ed = editor_script(&sb, "fail.sh", "echo 'db: [broken' > \"$1\"\nexit 3");
    let out = edit(&sb, &ed, "s.yaml", None);
    assert!(!out.status.success());
    assert_eq!(std::fs::read(&f).unwrap(), before);

    // Invalid YAML, stdin at its end: the error is shown, nothing written (exit 2).
    let ed = editor_script(&sb, "bad.sh", "echo 'db: [broken' > \"$1\"");
    let out = edit(&sb, &ed, "s.yaml", None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(std::fs::read(&f).unwrap(), before);

    // Invalid first, then (after Enter) valid: the editor runs twice and sees its own
    // broken text the second time, as sops does.
    let count = sb.dir.path().join("count");
    let second_saw = sb.dir.path().join("second.yaml");
    let ed = editor_script(
        &sb,
        "twice.sh",
        &format!(
            "echo x >> {count}\nif [ \"$(wc -l < {count})\" -eq 1 ]; then echo 'db: [broken' > \"$1\"; \
             else cp \"$1\" {second}; printf 'db:\\n    password: fixed-{SECRET}\\n' > \"$1\"; fi",
            count = count.display(),
            second = second_saw.display()
        ),
    );
    let out = edit(&sb, &ed, "s.yaml", Some(b"\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("s.yaml"),
        "the parse error names the file"
    );
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 2);
    assert_eq!(
        std::fs::read_to_string(&second_saw).unwrap(),
        "db: [broken\n"
    );
    let plain = sops_decrypt(&sb, &f);
    assert_eq!(plain, format!("db:\n    password: fixed-{SECRET}\n"));

    // A top-level `sops` key is refused like a parse error.
    let ed = editor_script(&sb, "meta.sh", "echo 'sops: 1' > \"$1\"");
    let before = std::fs::read(&f).unwrap();
    let out = edit(&sb, &ed, "s.yaml", None);
    assert!(!out.status.success());
    assert_eq!(std::fs::read(&f).unwrap(), before);
}

#[test]
fn a_new_file_is_created_from_the_creation_rule() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.work().join(".sops.yaml"),
        format!(
            "creation_rules:\n    - path_regex: secrets/.*\\.yaml$\n      encrypted_regex: ^(password|token)$\n      age:\n          - {}\n          - {}\n",
            recipient(1),
            recipient(2)
        ),
    )
    .unwrap();
    std::fs::create_dir(sb.work().join("secrets")).unwrap();
    let ed = editor_script(
        &sb,
        "new.sh",
        &format!("printf 'user: app\\npassword: {SECRET}\\n' > \"$1\""),
    );
    ok(edit(&sb, &ed, "secrets/new.yaml", None), "edit a new file");
    let f = sb.work().join("secrets/new.yaml");
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(
        text.contains("user: app"),
        "encrypted_regex from the rule: {text}"
    );
    assert!(!text.contains(SECRET));
    assert!(text.contains(&recipient(2)));
    assert_eq!(
        std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        sops_decrypt(&sb, &f),
        format!("user: app\npassword: {SECRET}\n")
    );

    // No rule for the path: refused before the editor runs (as sops), nothing created.
    let ran = sb.dir.path().join("ran");
    let ed = editor_script(&sb, "mark.sh", &format!("touch {}", ran.display()));
    let out = edit(&sb, &ed, "elsewhere.yaml", None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!ran.exists(), "the editor ran although no rule matches");
    assert!(!sb.work().join("elsewhere.yaml").exists());
    let mut cmd = sb.sops();
    cmd.env("EDITOR", &ed).args(["edit", "elsewhere.yaml"]);
    assert_eq!(
        run(cmd, None).status.code(),
        Some(1),
        "sops: same exit status"
    );
    assert!(!ran.exists());

    // A matching rule without keys: refused before the editor runs too.
    std::fs::write(
        sb.work().join(".sops.yaml"),
        "creation_rules:\n    - path_regex: nokeys\\.yaml$\n      encrypted_regex: ^x$\n",
    )
    .unwrap();
    let out = edit(&sb, &ed, "nokeys.yaml", None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        !ran.exists(),
        "the editor ran although the rule has no keys"
    );
    assert!(!sb.work().join("nokeys.yaml").exists());
    std::fs::write(
        sb.work().join(".sops.yaml"),
        format!(
            "creation_rules:\n    - path_regex: secrets/.*\\.yaml$\n      age: {}\n",
            recipient(1)
        ),
    )
    .unwrap();

    // Saving the template unchanged creates nothing (exit 200, as sops).
    let out = edit(&sb, Path::new("/bin/true"), "secrets/other.yaml", None);
    assert_eq!(out.status.code(), Some(200));
    assert!(!sb.work().join("secrets/other.yaml").exists());
}

/// Starts `ccsecrets edit` with an editor that records its scratch path and PID and then
/// waits; sends `signal` to ccsecrets; returns (exit code, scratch path).
fn interrupted_edit(sb: &Sandbox, file: &str, signal: &str) -> (Option<i32>, PathBuf) {
    use std::os::unix::process::ExitStatusExt;
    let log = sb.dir.path().join(format!("{signal}.log"));
    let ed = editor_script(
        sb,
        &format!("{signal}.sh"),
        &format!(
            "echo \"$$ $1\" > {log}.tmp\nmv {log}.tmp {log}\nexec sleep 30",
            log = log.display()
        ),
    );
    let mut cmd: Command = sb.ccsecrets();
    cmd.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
        .env("EDITOR", &ed)
        .args(["edit", file])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn ccsecrets edit");
    let start = Instant::now();
    while !log.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the editor never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    let (editor_pid, scratch) = logged.trim().split_once(' ').unwrap();
    let scratch = PathBuf::from(scratch);
    assert!(scratch.is_file(), "the plaintext is there while editing");
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let exit = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "ccsecrets did not exit on {signal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // The editor is ours to end (by its PID, recorded above).
    let _ = Command::new("kill").arg(editor_pid).status();
    (exit.code().or(exit.signal().map(|s| 128 + s)), scratch)
}

#[test]
fn sigterm_and_sigint_remove_the_scratch_directory_and_change_nothing() {
    let sb = Sandbox::new();
    yaml_rule(&sb);
    let f = sops_file(&sb, "s.yaml");
    let before = std::fs::read(&f).unwrap();
    for (signal, code) in [("TERM", 143), ("INT", 130)] {
        let (exit, scratch) = interrupted_edit(&sb, "s.yaml", signal);
        assert_eq!(exit, Some(code), "SIG{signal}");
        assert!(
            !scratch.exists(),
            "SIG{signal}: plaintext left at {}",
            scratch.display()
        );
        assert!(
            !scratch.parent().unwrap().exists(),
            "SIG{signal}: scratch directory left behind"
        );
        assert!(
            !scratch.starts_with(sb.work()),
            "the scratch file was in the work tree"
        );
        assert_eq!(
            std::fs::read(&f).unwrap(),
            before,
            "SIG{signal} changed the file"
        );
    }
}

#[test]
fn set_and_unset_on_yaml_touch_only_their_lines() {
    let sb = Sandbox::new();
    yaml_rule(&sb);
    let f = sops_file(&sb, "s.yaml");
    let before = std::fs::read_to_string(&f).unwrap();
    std::thread::sleep(Duration::from_millis(1100)); // lastmodified has seconds
    let mut cmd = sb.ccsecrets();
    cmd.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
        .args(["set", "s.yaml", r#"["db"]["user"]"#, r#""app2""#]);
    ok(run(cmd, None), "set");
    let after = std::fs::read_to_string(&f).unwrap();
    assert_eq!(
        changed_keys(&before, &after),
        ["lastmodified", "mac", "user"]
    );
    let plain = sops_decrypt(&sb, &f);
    assert!(
        plain.contains("user: app2") && plain.contains(SECRET),
        "{plain}"
    );

    // unset: that line goes, every other ciphertext stays.
    let mut cmd = sb.ccsecrets();
    cmd.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
        .args(["unset", "s.yaml", r#"["db"]["port"]"#]);
    ok(run(cmd, None), "unset");
    let unset = std::fs::read_to_string(&f).unwrap();
    let kept: Vec<&str> = after
        .lines()
        .filter(|l| !l.trim_start().starts_with("port:"))
        .filter(|l| {
            !l.trim_start().starts_with("mac:") && !l.trim_start().starts_with("lastmodified:")
        })
        .collect();
    let now: Vec<&str> = unset
        .lines()
        .filter(|l| {
            !l.trim_start().starts_with("mac:") && !l.trim_start().starts_with("lastmodified:")
        })
        .collect();
    assert_eq!(now, kept, "unset changed other lines");
    let plain = sops_decrypt(&sb, &f);
    assert!(!plain.contains("port:"), "{plain}");
}

/// `edit --ignore-mac` (also in the legacy form `--ignore-mac FILE`) repairs a file whose MAC
/// is gone: the saved file has a valid MAC again, which sops verifies.
#[test]
fn ignore_mac_edit_repairs_a_file() {
    let sb = Sandbox::new();
    yaml_rule(&sb);
    let f = sops_file(&sb, "s.yaml");
    let no_mac: String = std::fs::read_to_string(&f)
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with("mac:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&f, &no_mac).unwrap();
    let ed = editor_script(&sb, "port.sh", "sed -i 's/port: 5432/port: 7000/' \"$1\"");
    let out = edit(&sb, &ed, "s.yaml", None);
    assert_eq!(out.status.code(), Some(51), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), no_mac);

    let mut cmd = sb.ccsecrets();
    cmd.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
        .env("EDITOR", &ed)
        .args(["--ignore-mac", "s.yaml"]);
    ok(run(cmd, None), "legacy --ignore-mac FILE");
    let plain = sops_decrypt(&sb, &f);
    assert!(
        plain.contains("port: 7000") && plain.contains(SECRET),
        "{plain}"
    );
}
