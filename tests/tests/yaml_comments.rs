//! Where YAML comments land, case by case, against the real sops.
//!
//! Each input is encrypted by sops and by ccsecrets with `--encrypted-regex '^$'`, which
//! encrypts nothing (values and comments stay readable), and the data parts of the two outputs
//! must be byte-identical. The cases are the comment placements that yaml.v3 and sops decide in
//! surprising ways (found with `fuzz/diff-sops.py`): runs of comments that yaml.v3 splits into
//! foot and head parts, comments between a key or a `-` and its block value, after empty items,
//! after flow collections, and at the end of a stream with or without a final line break.

use ccsecrets_tests::{ok, recipient, run, Sandbox};

const CASES: &[&str] = &[
    // Between `key:` and its block value.
    "a:\n    b:\n   # c\n    - - x\n",
    "a:\n    b:\n# c\n        k: v\n",
    "a:\n    b:\n      # c\n        k: v\n",
    "a:\n    b:\n# c\n\n        k: v\n",
    "a:\n    b:\n# c\n  # d\n        k: v\n",
    "a:\n    b:\n      # c\n\n  # d\n        k: v\n",
    "a:\n    b: # i\n  # d\n        k: v\n",
    // Between a `-` and its block value on later lines.
    "port:\n-\n# c\n\n  - true\n",
    "labels:\n- image: x\n-\n  # c\n  tags: q\n",
    "timeout:\n    -\n        # c\n# d\n      - ~\n",
    // Runs between entries.
    "a:\n    b: 1\n# c\n    # d\ne: 1\n",
    "a:\n    b: 1\n  # c\n    # d\ne: 1\n",
    "a:\n  b: 1 # x\n  # y\n  c: 2\n",
    "a:\n  - 1 # x\n  # y\n  - 2\n",
    "tags:\n- - a b\n  # c\n- - x\n",
    "a:\n  - x\n# c\n\nb: 1\nd: 2\n",
    "servers:\n-\n  tls: q\n# c\n- db: ~\n",
    // Empty items.
    "replicas:\n  - - x\n# c\n  -\n",
    "tls:\n-\n  # c\n",
    "a:\n  - x\n  -\n    # c\n  - y\n",
    // After flow collections.
    "a:\n    - - [x]\n# c\n    - - [y]\n",
    "a:\n    - - [x]\n# c\n    - y\n    - z\n",
    "a:\n    - - [x]\n# c\n    - b: 1\n",
    // The end of the document.
    "tags:\n    timeout:\n  # t\n    # u\n  # v\n",
    "host:\n  - 20\n# t\n    # u\n# v\n",
    "a:\n  b:\n  # c\n",
    "a:\n  b:\n    - x\n    # c\n# d\n",
    "a:\n  b: 1\n  # c\n---\nb: 2\n",
    // The end of a stream without a final line break.
    "port:\n- tls: 3.5\n# c",
    "name:\n  port:\n# c",
    "a:\n  b:\n    c:\n      - x\n# z",
    "a:\n  b:\n    c:\n      - x\n  # z",
    "a:\n  - b: 1\n    c: x\n# z",
    "paths:\n    host:\n    # c",
    "a:\n  b:\n# c\n  # d",
    "  k:\n    - - x\n# s\n    # b",
    // A foot part no mapping end takes goes to the next item's first scalar.
    "tags:\n    - - ~\n      # c\n  # d\n    - - x\n",
    "a:\n  - - x\n    # c\n# d\n  - k: 1\n    j: 2\n",
    // At the end of a stream the blocks end at the earliest part at their column.
    "paths:\n  timeout:\n  # t\n# u",
    "  servers:\n    timeout: db\n    # t\n# u",
    // yaml.v3 ends a comment at U+2028 (a line break in YAML 1.1).
    "# head\u{2028}\na: 1 # line\u{2028}\nb: 2\n",
];

/// Whether `ours` is `sops` plus comment lines: where go-yaml v3 overwrites a comment it has
/// not written yet, sops drops it and ccsecrets keeps it (docs/cli.md).
fn same_but_kept_comments(sops: &str, ours: &str) -> bool {
    let want: Vec<&str> = sops.lines().collect();
    let mut matched = 0;
    for line in ours.lines() {
        if want.get(matched) == Some(&line) {
            matched += 1;
        } else if !line.trim_start().starts_with('#') {
            return false;
        }
    }
    matched == want.len()
}

fn data_part(out: &[u8]) -> String {
    let text = String::from_utf8_lossy(out);
    match text.find("\nsops:\n") {
        Some(i) => text[..=i].to_string(),
        None => text.into_owned(),
    }
}

/// Encrypts `input` with sops and with ccsecrets, selecting nothing for encryption; `None`
/// when both refuse it, else the data parts (sops's, ours).
fn both(sb: &Sandbox, r: &str, input: &std::path::Path) -> Option<(String, String)> {
    let encrypt = |mut cmd: std::process::Command| {
        cmd.args(["encrypt", "--age", r, "--encrypted-regex", "^$"])
            .arg(input);
        run(cmd, None)
    };
    let (theirs, ours) = (encrypt(sb.sops()), encrypt(sb.ccsecrets()));
    if !theirs.status.success() && !ours.status.success() {
        return None;
    }
    Some((
        data_part(&ok(theirs, "sops encrypt")),
        data_part(&ok(ours, "ccsecrets encrypt")),
    ))
}

/// The inputs the `yaml_store` fuzz target kept (`fuzz/regressions/yaml_store*/`): both tools
/// refuse them, or they place every comment alike (ccsecrets may keep a comment sops drops).
#[test]
fn fuzz_regressions_place_comments_as_sops_does() {
    let sb = Sandbox::new();
    let r = recipient(1);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let mut checked = 0;
    let mut failures = Vec::new();
    for dir in ["yaml_store", "yaml_store-sops"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("fuzz/regressions") {
            let path = entry.unwrap().path();
            checked += 1;
            // (Copied to a `.yaml` name: the tools pick the format by extension.)
            let input = sb.work().join("in.yaml");
            std::fs::copy(&path, &input).unwrap();
            if let Some((want, got)) = both(&sb, &r, &input) {
                if want != got && !same_but_kept_comments(&want, &got) {
                    failures.push(format!(
                        "{}\n--- sops\n{want}--- ccsecrets\n{got}",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(
        checked >= 14,
        "expected the fuzz regression inputs, found {checked}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn comments_land_where_sops_puts_them() {
    let sb = Sandbox::new();
    let r = recipient(1);
    let input = sb.work().join("in.yaml");
    let mut failures = Vec::new();
    for case in CASES {
        std::fs::write(&input, case).unwrap();
        let (want, got) = both(&sb, &r, &input).expect("both tools accept the input");
        if want != got {
            failures.push(format!(
                "input {case:?}\n--- sops\n{want}--- ccsecrets\n{got}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
