//! The editing commands (set, unset, rotate, edit, exec-env, exec-file, legacy flags) on real
//! files, checked with the real sops. JSON files here; the YAML and `.sops.yaml`-driven cases
//! (updatekeys, groups) follow with the YAML store.

use std::path::{Path, PathBuf};

use ccsecrets_tests::{fixture, ok, recipient, run, Sandbox};

const SECRET: &str = "s3cret-value-do-not-print";

/// A JSON secrets file encrypted by the real sops for key1.
fn sops_file(sb: &Sandbox, name: &str) -> PathBuf {
    let p = sb.work().join(name);
    std::fs::write(
        &p,
        format!("{{\"db\": {{\"user\": \"app\", \"password\": \"{SECRET}\", \"port\": 5432}}, \"token\": \"abc\", \"list\": [1, 2]}}"),
    )
    .unwrap();
    let mut cmd = sb.sops();
    cmd.args(["encrypt", "-i", "--age", &recipient(1)]).arg(&p);
    ok(run(cmd, None), "sops encrypt -i");
    p
}

fn sops_decrypt(sb: &Sandbox, file: &Path, key: &str) -> std::process::Output {
    let mut cmd = sb.sops();
    cmd.env("SOPS_AGE_KEY_FILE", fixture(key))
        .arg("decrypt")
        .arg(file);
    run(cmd, None)
}

fn ccs(sb: &Sandbox, args: &[&str]) -> std::process::Command {
    let mut cmd = sb.ccsecrets();
    cmd.env("SOPS_AGE_KEY_FILE", fixture("keys/all.txt"))
        .args(args);
    cmd
}

fn changed_lines(before: &str, after: &str) -> Vec<String> {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    assert_eq!(a.len(), b.len(), "line count changed");
    a.iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .map(|(x, _)| x.trim().split(':').next().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn set_touches_only_that_value_mac_and_lastmodified() {
    let sb = Sandbox::new();
    let f = sops_file(&sb, "s.json");
    let before = std::fs::read_to_string(&f).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100)); // lastmodified has seconds
    let p = f.to_str().unwrap();
    ok(
        run(ccs(&sb, &["set", p, r#"["db"]["port"]"#, "6543"]), None),
        "set",
    );
    let after = std::fs::read_to_string(&f).unwrap();
    let mut changed = changed_lines(&before, &after);
    changed.sort();
    assert_eq!(changed, ["\"lastmodified\"", "\"mac\"", "\"port\""]);
    let out =
        String::from_utf8(ok(sops_decrypt(&sb, &f, "keys/key1.txt"), "sops decrypt")).unwrap();
    assert!(out.contains("\"port\": 6543"), "{out}");
    // --idempotent: the same value again writes nothing.
    ok(
        run(
            ccs(
                &sb,
                &["set", "--idempotent", p, r#"["db"]["port"]"#, "6543"],
            ),
            None,
        ),
        "set idempotent",
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), after);
    // --value-stdin and a new nested key.
    ok(
        run(
            ccs(&sb, &["set", "--value-stdin", p, r#"["new"]["k"]"#]),
            Some(b"\"from stdin\""),
        ),
        "set --value-stdin",
    );
    let out =
        String::from_utf8(ok(sops_decrypt(&sb, &f, "keys/key1.txt"), "sops decrypt")).unwrap();
    assert!(out.contains("from stdin"));
}

#[test]
fn bad_set_input_changes_nothing() {
    let sb = Sandbox::new();
    let f = sops_file(&sb, "s.json");
    let before = std::fs::read(&f).unwrap();
    let p = f.to_str().unwrap();
    let out = run(ccs(&sb, &["set", p, r#"["a"]"#, "not json"]), None);
    assert_eq!(out.status.code(), Some(7));
    let out = run(ccs(&sb, &["set", p, "a", "1"]), None);
    assert_eq!(out.status.code(), Some(91));
    assert_eq!(std::fs::read(&f).unwrap(), before);
}

#[test]
fn unset_removes_and_sops_agrees() {
    let sb = Sandbox::new();
    let f = sops_file(&sb, "u.json");
    let p = f.to_str().unwrap();
    ok(run(ccs(&sb, &["unset", p, r#"["token"]"#]), None), "unset");
    let out =
        String::from_utf8(ok(sops_decrypt(&sb, &f, "keys/key1.txt"), "sops decrypt")).unwrap();
    assert!(!out.contains("token"));
    assert_eq!(
        run(ccs(&sb, &["unset", p, r#"["token"]"#]), None)
            .status
            .code(),
        Some(1)
    );
    ok(
        run(
            ccs(&sb, &["unset", "--idempotent", p, r#"["token"]"#]),
            None,
        ),
        "unset --idempotent",
    );
}

#[test]
fn rotate_changes_every_value_and_recipients() {
    let sb = Sandbox::new();
    let f = sops_file(&sb, "r.json");
    let before = std::fs::read_to_string(&f).unwrap();
    let p = f.to_str().unwrap();
    let r1 = recipient(1);
    let r2 = recipient(2);
    ok(
        run(
            ccs(&sb, &["rotate", "-i", "--add-age", &r2, "--rm-age", &r1, p]),
            None,
        ),
        "rotate",
    );
    let after = std::fs::read_to_string(&f).unwrap();
    for line in before.lines().filter(|l| l.contains("ENC[")) {
        assert!(
            !after.contains(line.trim()),
            "a ciphertext survived rotation"
        );
    }
    assert!(
        !sops_decrypt(&sb, &f, "keys/key1.txt").status.success(),
        "removed key still opens it"
    );
    let out = String::from_utf8(ok(
        sops_decrypt(&sb, &f, "keys/key2.txt"),
        "sops decrypt key2",
    ))
    .unwrap();
    assert!(out.contains(SECRET));
}

fn editor_script(sb: &Sandbox, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = sb.dir.path().join(name);
    std::fs::write(&p, format!("#!/bin/sh\nset -e\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn leftover_scratch_dirs(bases: &[&Path]) -> Vec<PathBuf> {
    bases
        .iter()
        .filter_map(|b| std::fs::read_dir(b).ok())
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("ccsecrets-"))
        })
        .collect()
}

#[test]
fn edit_with_a_scripted_editor() {
    let sb = Sandbox::new();
    let f = sops_file(&sb, "e.json");
    let p = f.to_str().unwrap();
    let log = sb.dir.path().join("editor.log");
    // The editor records where and with what mode it found the plaintext, then edits it.
    let ed = editor_script(
        &sb,
        "ed.sh",
        &format!(
            "stat -c '%a %n' \"$1\" \"$(dirname \"$1\")\" >> {log}\nsed -i 's/\"app\"/\"app2\"/' \"$1\"",
            log = log.display()
        ),
    );
    let before = std::fs::read_to_string(&f).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100)); // lastmodified has seconds
    let mut cmd = ccs(&sb, &["edit", p]);
    cmd.env("EDITOR", &ed);
    ok(run(cmd, None), "edit");
    let logged = std::fs::read_to_string(&log).unwrap();
    let modes: Vec<&str> = logged
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(modes, ["600", "700"], "{logged}");
    assert!(
        !logged.contains(&sb.work().display().to_string()),
        "plaintext in the work tree: {logged}"
    );
    let after = std::fs::read_to_string(&f).unwrap();
    let mut changed = changed_lines(&before, &after);
    changed.sort();
    assert_eq!(changed, ["\"lastmodified\"", "\"mac\"", "\"user\""]);
    let out = String::from_utf8(ok(sops_decrypt(&sb, &f, "keys/key1.txt"), "sops")).unwrap();
    assert!(out.contains("app2"));
    let scratch = logged
        .lines()
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(!Path::new(&scratch).exists(), "scratch file left behind");

    // Unchanged: exit 200, file untouched.
    let mut cmd = ccs(&sb, &["edit", p]);
    cmd.env("EDITOR", "true");
    assert_eq!(run(cmd, None).status.code(), Some(200));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), after);

    // An editor that fails: nothing written.
    let mut cmd = ccs(&sb, &["edit", p]);
    cmd.env(
        "EDITOR",
        editor_script(&sb, "fail.sh", "echo '{broken' > \"$1\"\nexit 3"),
    );
    let out = run(cmd, None);
    assert!(!out.status.success());
    assert_eq!(std::fs::read_to_string(&f).unwrap(), after);

    // Invalid content first: the editor is opened again (Enter on stdin), then it is fixed.
    let state = sb.dir.path().join("state");
    let twice = editor_script(
        &sb,
        "twice.sh",
        &format!(
            "if [ ! -e {s} ]; then touch {s}; echo '{{\"broken\": ' > \"$1\"; else echo '{{\"fixed\": true}}' > \"$1\"; fi",
            s = state.display()
        ),
    );
    let mut cmd = ccs(&sb, &["edit", p]);
    cmd.env("EDITOR", &twice);
    ok(run(cmd, Some(b"\n")), "edit after a parse error");
    let out = String::from_utf8(ok(sops_decrypt(&sb, &f, "keys/key1.txt"), "sops")).unwrap();
    assert!(out.contains("\"fixed\": true"), "{out}");
    assert!(leftover_scratch_dirs(&[Path::new("/dev/shm")])
        .iter()
        .all(|d| !d.join("e.json").exists()));
}

#[test]
fn exec_env_and_exec_file_see_plaintext_only_in_the_child() {
    let sb = Sandbox::new();
    let f = sops_file(&sb, "x.json");
    let p = f.to_str().unwrap();
    // Nested values cannot be environment variables: an error, as in sops (exit 1).
    let out = run(ccs(&sb, &["exec-env", p, "true"]), None);
    assert_eq!(out.status.code(), Some(1), "db is a mapping");
    let flat = sb.work().join("flat.json");
    std::fs::write(&flat, "{\"token\": \"abc\", \"n\": 5}").unwrap();
    let mut cmd = sb.sops();
    cmd.args(["encrypt", "-i", "--age", &recipient(1)])
        .arg(&flat);
    ok(run(cmd, None), "sops encrypt");
    let fl = flat.to_str().unwrap();
    let out = ok(
        run(
            ccs(&sb, &["exec-env", fl, "printf '%s %s' \"$token\" \"$n\""]),
            None,
        ),
        "exec-env",
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "abc 5.0",
        "JSON numbers are floats, as sops prints them"
    );
    assert_eq!(
        run(ccs(&sb, &["exec-env", fl, "exit 7"]), None)
            .status
            .code(),
        Some(7)
    );

    let out = ok(
        run(
            ccs(
                &sb,
                &["exec-file", p, "stat -c %a {}; grep -c s3cret {}; echo {}"],
            ),
            None,
        ),
        "exec-file",
    );
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "600");
    assert_eq!(lines[1], "1");
    assert!(!Path::new(lines[2]).exists(), "plaintext copy left behind");
}

#[test]
fn legacy_flag_form_works_like_sops() {
    let sb = Sandbox::new();
    let f = sops_file(&sb, "l.json");
    let p = f.to_str().unwrap();
    let ours = ok(run(ccs(&sb, &["-d", p]), None), "ccsecrets -d");
    let theirs = ok(sops_decrypt(&sb, &f, "keys/all.txt"), "sops decrypt");
    assert_eq!(ours, theirs);
    ok(
        run(ccs(&sb, &["--set", r#"["token"] "xyz""#, p]), None),
        "ccsecrets --set",
    );
    let out = String::from_utf8(ok(sops_decrypt(&sb, &f, "keys/key1.txt"), "sops")).unwrap();
    assert!(out.contains("\"token\": \"xyz\""));
    let extracted = ok(
        run(ccs(&sb, &["-d", "--extract", r#"["db"]["user"]"#, p]), None),
        "-d --extract",
    );
    assert_eq!(extracted, b"app");
    ok(run(ccs(&sb, &["-d", "-i", p]), None), "ccsecrets -d -i");
    assert!(std::fs::read_to_string(&f).unwrap().contains(SECRET));
    ok(
        run(ccs(&sb, &["-e", "-i", "--age", &recipient(1), p]), None),
        "ccsecrets -e -i",
    );
    let out = String::from_utf8(ok(sops_decrypt(&sb, &f, "keys/key1.txt"), "sops")).unwrap();
    assert!(out.contains(SECRET));
}
