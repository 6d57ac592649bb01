//! How `edit` starts the editor: `$SOPS_EDITOR` (before `$EDITOR`) split into words as sops
//! splits it (shell-like quoting, no shell), the scratch path appended as one argument, so a
//! file name full of shell syntax is never interpreted; the scratch file is 0600 in a 0700
//! directory outside the repository, and gone afterwards.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ccsecrets_tests::{fixture, ok, run, Sandbox};

const NAME: &str = "db $(touch pwned) `touch pwned2`;x.yaml";

fn recipient() -> String {
    std::fs::read_to_string(fixture("keys/key1.txt"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned()
}

fn script(sb: &Sandbox, body: &str) -> PathBuf {
    // A directory name with a space: the command line must be quoted to be split right.
    let dir = sb.dir.path().join("my editors");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("ed.sh");
    std::fs::write(&p, format!("#!/bin/sh\nset -e\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn editor_is_split_like_sops_and_the_file_name_never_reaches_a_shell() {
    let sb = Sandbox::new();
    let w = sb.work();
    std::fs::write(
        w.join(".sops.yaml"),
        format!(
            "creation_rules:\n    - path_regex: \\.yaml$\n      age: {}\n",
            recipient()
        ),
    )
    .unwrap();
    std::fs::write(w.join(NAME), "password: old-secret\n").unwrap();
    let mut c = sb.sops();
    c.args(["encrypt", "-i", NAME]);
    ok(run(c, None), "sops encrypt");

    let log = sb.dir.path().join("log");
    let ed = script(
        &sb,
        &format!(
            "log='{}'\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> \"$log\"; done\n\
             eval \"last=\\${{$#}}\"\n\
             stat -c '%a' \"$last\" >> \"$log\"\n\
             stat -c '%a' \"$(dirname \"$last\")\" >> \"$log\"\n\
             sed -i 's/old-secret/new-secret/' \"$last\"",
            log.display()
        ),
    );
    let mut c = sb.ccsecrets();
    c.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
        .env(
            "SOPS_EDITOR",
            format!("'{}' --flag \"two words\"", ed.display()),
        )
        .env("EDITOR", "/bin/false")
        .args(["edit", NAME]);
    ok(run(c, None), "ccsecrets edit");

    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert_eq!(lines[0], "--flag");
    assert_eq!(lines[1], "two words");
    let scratch = Path::new(&lines[2]);
    assert_eq!(
        scratch.file_name().unwrap(),
        NAME,
        "one argument, name kept"
    );
    assert!(!scratch.starts_with(sb.dir.path()), "{}", scratch.display());
    assert_eq!(lines[3], "600", "scratch file mode");
    assert_eq!(lines[4], "700", "scratch directory mode");
    assert!(!scratch.parent().unwrap().exists(), "scratch dir removed");
    for f in ["pwned", "pwned2"] {
        assert!(!w.join(f).exists(), "the file name ran as shell code");
    }

    let mut c = sb.sops();
    c.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
        .args(["decrypt", NAME]);
    let plain = String::from_utf8(ok(run(c, None), "sops decrypt")).unwrap();
    assert_eq!(plain, "password: new-secret\n");
}
