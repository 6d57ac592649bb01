//! The cases of sops's own functional tests (getsops/sops, `functional-tests/src/lib.rs`)
//! that apply to age keys, run differentially: every step runs once with the real sops 3.11
//! and once with ccsecrets, each in its own copy of the same directory (same `.sops.yaml`,
//! same inputs, same identities), and the results are compared with each other — exit
//! status, stdout, and the files each tool wrote, decrypted by the real sops. The expected
//! values are sops's own output, never ours.
//!
//! Written here from the cases' descriptions (PGP keys replaced by the age test keys in
//! `fixtures/keys`); publishing to S3/Vault and KMS cases do not apply.

use std::path::PathBuf;
use std::process::{Command, Output};

use ccsecrets_tests::{fixture, ok, recipient, run, Sandbox};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tool {
    Sops,
    Ccsecrets,
}

const TOOLS: [Tool; 2] = [Tool::Sops, Tool::Ccsecrets];

/// Two copies of one directory, `work/sops` and `work/ccsecrets`, with the functional tests'
/// `.sops.yaml` (age instead of PGP): two key groups (key1 | key2), two key groups of which
/// one has a key we do not hold (key1 | key3), and key1 for everything else. Identities:
/// key1 and key2.
struct Twin {
    sb: Sandbox,
    keys: PathBuf,
}

impl Twin {
    fn new(files: &[(&str, &[u8])]) -> Twin {
        let sb = Sandbox::new();
        let config = format!(
            "creation_rules:\n    - path_regex: test_roundtrip_keygroups.yaml\n      key_groups:\n          - age:\n                - {k1}\n          - age:\n                - {k2}\n    - path_regex: test_roundtrip_keygroups_missing_decryption_key.yaml\n      key_groups:\n          - age:\n                - {k1}\n          - age:\n                - {k3}\n    - age: {k1}\n",
            k1 = recipient(1),
            k2 = recipient(2),
            k3 = recipient(3)
        );
        for tool in TOOLS {
            let dir = sb.work().join(name(tool));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(".sops.yaml"), &config).unwrap();
            for (file, bytes) in files {
                std::fs::write(dir.join(file), bytes).unwrap();
            }
        }
        let keys = sb.dir.path().join("key12.txt");
        let mut text = std::fs::read_to_string(fixture("keys/key1.txt")).unwrap();
        text.push_str(&std::fs::read_to_string(fixture("keys/key2.txt")).unwrap());
        std::fs::write(&keys, text).unwrap();
        Twin { sb, keys }
    }

    fn dir(&self, tool: Tool) -> PathBuf {
        self.sb.work().join(name(tool))
    }

    fn command(&self, tool: Tool, args: &[&str]) -> Command {
        let mut cmd = match tool {
            Tool::Sops => self.sb.sops(),
            Tool::Ccsecrets => self.sb.ccsecrets(),
        };
        cmd.current_dir(self.dir(tool))
            .env("SOPS_AGE_KEY_FILE", &self.keys)
            .args(args);
        cmd
    }

    /// Runs `args` with both tools; asserts they agree on the exit status; returns both
    /// outputs (sops's first).
    fn both(&self, args: &[&str]) -> (Output, Output) {
        let s = run(self.command(Tool::Sops, args), None);
        let c = run(self.command(Tool::Ccsecrets, args), None);
        assert_eq!(
            s.status.code(),
            c.status.code(),
            "`{}`: sops and ccsecrets disagree on the exit status\nsops: {}\nccsecrets: {}",
            args.join(" "),
            String::from_utf8_lossy(&s.stderr),
            String::from_utf8_lossy(&c.stderr)
        );
        (s, c)
    }

    /// Runs `args` with both tools, both must succeed; returns both stdouts.
    fn both_ok(&self, args: &[&str]) -> (Vec<u8>, Vec<u8>) {
        let (s, c) = self.both(args);
        let what = args.join(" ");
        (
            ok(s, &format!("sops {what}")),
            ok(c, &format!("ccsecrets {what}")),
        )
    }

    /// Runs `args` with both tools; both must succeed and print the same bytes.
    fn same_stdout(&self, args: &[&str]) -> Vec<u8> {
        let (s, c) = self.both_ok(args);
        assert_eq!(
            String::from_utf8_lossy(&c),
            String::from_utf8_lossy(&s),
            "`{}`: ccsecrets prints something else than sops",
            args.join(" ")
        );
        s
    }

    /// The real sops decrypting `file` as each tool left it.
    fn sops_decrypts(&self, file: &str, extra: &[&str]) -> (Vec<u8>, Vec<u8>) {
        let out = |tool: Tool| {
            let mut cmd = self.command(Tool::Sops, &["decrypt"]);
            cmd.args(extra).arg(self.dir(tool).join(file));
            ok(
                run(cmd, None),
                &format!("sops decrypt of {:?}'s {file}", tool),
            )
        };
        (out(Tool::Sops), out(Tool::Ccsecrets))
    }

    /// Both files, as each tool left them, decrypt in sops to the same bytes.
    fn sops_decrypts_both_the_same(&self, file: &str) -> Vec<u8> {
        let (s, c) = self.sops_decrypts(file, &[]);
        assert_eq!(
            String::from_utf8_lossy(&c),
            String::from_utf8_lossy(&s),
            "{file}: ccsecrets's result decrypts to something else than sops's"
        );
        s
    }

    /// Each tool decrypts the file the other one encrypted: the same plaintext as sops's own.
    fn cross_decrypt(&self, file: &str) -> Vec<u8> {
        let own = {
            let mut cmd = self.command(Tool::Sops, &["decrypt"]);
            cmd.arg(self.dir(Tool::Sops).join(file));
            ok(run(cmd, None), "sops decrypt (own)")
        };
        let mut cmd = self.command(Tool::Ccsecrets, &["decrypt"]);
        cmd.arg(self.dir(Tool::Sops).join(file));
        let ours_of_theirs = ok(run(cmd, None), "ccsecrets decrypt of sops's file");
        let mut cmd = self.command(Tool::Sops, &["decrypt"]);
        cmd.arg(self.dir(Tool::Ccsecrets).join(file));
        let theirs_of_ours = ok(run(cmd, None), "sops decrypt of ccsecrets's file");
        assert_eq!(
            ours_of_theirs, own,
            "{file}: ccsecrets decrypts sops's file differently"
        );
        assert_eq!(
            theirs_of_ours, own,
            "{file}: sops decrypts ccsecrets's file differently"
        );
        own
    }

    fn read(&self, tool: Tool, file: &str) -> String {
        std::fs::read_to_string(self.dir(tool).join(file)).unwrap()
    }
}

fn name(tool: Tool) -> &'static str {
    match tool {
        Tool::Sops => "sops",
        Tool::Ccsecrets => "ccsecrets",
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `encrypt_json_file`, `encrypt_yaml_file`: every value becomes `ENC[…]`, a `sops` branch
/// is added, and the other tool decrypts it.
#[test]
fn encrypt_json_and_yaml_files() {
    let twin = Twin::new(&[
        (
            "test_encrypt.json",
            b"{\n    \"foo\": 2,\n    \"bar\": \"baz\"\n}",
        ),
        ("test_encrypt.yaml", b"foo: 2\nbar: baz"),
    ]);
    for (file, foo, bar, sops) in [
        (
            "test_encrypt.json",
            "\"foo\": \"ENC[",
            "\"bar\": \"ENC[",
            "\"sops\": {",
        ),
        ("test_encrypt.yaml", "foo: ENC[", "bar: ENC[", "\nsops:\n"),
    ] {
        let (s, c) = twin.both_ok(&["encrypt", file]);
        for (tool, out) in [(Tool::Sops, &s), (Tool::Ccsecrets, &c)] {
            let out = text(out);
            assert!(
                out.contains(foo) && out.contains(bar),
                "{tool:?} {file}: {out}"
            );
            assert!(out.contains(sops), "{tool:?} {file}: no sops branch");
            // (The plain value as a value: "baz" alone can turn up inside base64.)
            assert!(!out.contains(": baz") && !out.contains("\"baz\""), "{out}");
            std::fs::write(twin.dir(tool).join(format!("enc-{file}")), out).unwrap();
        }
        twin.cross_decrypt(&format!("enc-{file}"));
    }
}

/// `set_{json,yaml}_file_{update,insert}`: `set FILE '["a"]' '{"aa": "aaa"}'` replaces a
/// value by a mapping, `set FILE '["c"]' '{"cc": "ccc"}'` inserts one; the new leaves are
/// encrypted.
#[test]
fn set_update_and_insert_in_json_and_yaml() {
    let twin = Twin::new(&[
        ("test_set.json", br#"{"a": 2, "b": "ba"}"#),
        ("test_set.yaml", b"a: 2\nb: ba"),
    ]);
    for (file, aa, cc, plain_aa, plain_cc) in [
        (
            "test_set.json",
            "\"aa\": \"ENC[",
            "\"cc\": \"ENC[",
            "\"aaa\"",
            "\"ccc\"",
        ),
        ("test_set.yaml", "aa: ENC[", "cc: ENC[", ": aaa", ": ccc"),
    ] {
        twin.both_ok(&["encrypt", "-i", file]);
        twin.both_ok(&["set", file, r#"["a"]"#, r#"{"aa": "aaa"}"#]);
        twin.both_ok(&["set", file, r#"["c"]"#, r#"{"cc": "ccc"}"#]);
        for tool in TOOLS {
            let t = twin.read(tool, file);
            assert!(t.contains(aa) && t.contains(cc), "{tool:?} {file}:\n{t}");
            // (The plain values as values: "aaa" alone can turn up inside base64.)
            assert!(
                !t.contains(plain_aa) && !t.contains(plain_cc),
                "{tool:?} {file}:\n{t}"
            );
        }
        let plain = text(&twin.sops_decrypts_both_the_same(file));
        assert!(plain.contains("aaa") && plain.contains("ccc"), "{plain}");
    }
}

/// `set_yaml_file_string` (subcommands) and `set_yaml_file_string_compat` (legacy flags):
/// set a string, then decrypt in place; the plaintext files are byte-identical.
#[test]
fn set_a_string_then_decrypt_in_place_new_and_legacy_forms() {
    let twin = Twin::new(&[
        ("test_set_string.yaml", b"a: 2\nb: ba"),
        ("test_set_string_compat.yaml", b"a: 2\nb: ba"),
    ]);
    let f = "test_set_string.yaml";
    twin.both_ok(&["encrypt", "-i", f]);
    twin.both_ok(&["set", f, r#"["a"]"#, r#""aaa""#]);
    twin.both_ok(&["decrypt", "-i", f]);
    assert_eq!(twin.read(Tool::Ccsecrets, f), twin.read(Tool::Sops, f));
    assert_eq!(twin.read(Tool::Sops, f), "a: aaa\nb: ba\n");

    let f = "test_set_string_compat.yaml";
    twin.both_ok(&["-e", "-i", f]);
    twin.both_ok(&["--set", r#"["a"] "aaa""#, "-i", f]);
    twin.both_ok(&["-d", "-i", f]);
    assert_eq!(twin.read(Tool::Ccsecrets, f), twin.read(Tool::Sops, f));
    assert_eq!(twin.read(Tool::Sops, f), "a: aaa\nb: ba\n");
}

/// `decrypt_file_no_mac`: a file without its MAC is refused, and opens with `--ignore-mac`.
#[test]
fn decrypt_a_file_without_mac() {
    let twin = Twin::new(&[("src.yaml", b"a: secret\nb:\n    c: 1\n")]);
    // sops makes the file; both copies lose the `mac` line.
    let mut cmd = twin.command(Tool::Sops, &["encrypt", "src.yaml"]);
    cmd.current_dir(twin.dir(Tool::Sops));
    let enc = text(&ok(run(cmd, None), "sops encrypt"));
    let no_mac: String = enc
        .lines()
        .filter(|l| !l.trim_start().starts_with("mac:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(no_mac, enc);
    for tool in TOOLS {
        std::fs::write(twin.dir(tool).join("test_decrypt_no_mac.yaml"), &no_mac).unwrap();
    }
    let (s, c) = twin.both(&["decrypt", "test_decrypt_no_mac.yaml"]);
    assert!(!s.status.success() && !c.status.success());
    assert!(c.stdout.is_empty());
    let out = twin.same_stdout(&["decrypt", "--ignore-mac", "test_decrypt_no_mac.yaml"]);
    assert_eq!(text(&out), "a: secret\nb:\n    c: 1\n");
}

const COMMENTS: &str = "# first comment in file\nlorem: ipsum\n# this-is-a-comment\ndolor: sit\nnested:\n    # inside a map\n    amet: consectetur\n";
const COMMENTS_LIST: &str =
    "list:\n    # this-is-a-comment\n    - a\n    # another-comment\n    - b\nafter: x\n";

/// `encrypt_comments`, `encrypt_comments_list`, `decrypt_comments`: comments are encrypted
/// (also inside lists) and come back on decryption, in both directions.
#[test]
fn comments_are_encrypted_and_decrypted() {
    let twin = Twin::new(&[
        ("comments.yaml", COMMENTS.as_bytes()),
        ("comments_list.yaml", COMMENTS_LIST.as_bytes()),
    ]);
    for file in ["comments.yaml", "comments_list.yaml"] {
        let (s, c) = twin.both_ok(&["encrypt", file]);
        for (tool, out) in [(Tool::Sops, &s), (Tool::Ccsecrets, &c)] {
            let out = text(out);
            for secret in [
                "first comment in file",
                "this-is-a-comment",
                "another-comment",
            ] {
                assert!(
                    !out.contains(secret),
                    "{tool:?} {file}: comment not encrypted"
                );
            }
            std::fs::write(twin.dir(tool).join(format!("enc-{file}")), out).unwrap();
        }
        let plain = text(&twin.cross_decrypt(&format!("enc-{file}")));
        assert!(plain.contains("this-is-a-comment"), "{plain}");
    }
}

/// `decrypt_comments_unencrypted_comments`: an encrypted file whose comments are plain text
/// (as older sops versions wrote them) decrypts, comments included.
#[test]
fn plain_comments_in_an_encrypted_file() {
    let twin = Twin::new(&[("comments.yaml", COMMENTS.as_bytes())]);
    let mut cmd = twin.command(Tool::Sops, &["encrypt", "comments.yaml"]);
    cmd.current_dir(twin.dir(Tool::Sops));
    let enc = text(&ok(run(cmd, None), "sops encrypt"));
    let plain_comments = [
        "# first comment in file",
        "# this-is-a-comment",
        "# inside a map",
    ];
    let mut k = 0;
    let mixed: String = enc
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("#ENC[") {
                let indent = &l[..l.len() - t.len()];
                k += 1;
                format!("{indent}{}\n", plain_comments[k - 1])
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_eq!(k, 3, "sops encrypted three comments");
    for tool in TOOLS {
        std::fs::write(twin.dir(tool).join("unenc_comments.yaml"), &mixed).unwrap();
    }
    let out = text(&twin.same_stdout(&["decrypt", "unenc_comments.yaml"]));
    assert!(out.contains("first comment in file") && out.contains("this-is-a-comment"));
}

/// `roundtrip_shamir`, `roundtrip_shamir_missing_decryption_key`: two key groups from the
/// creation rule; with one group's key missing, decryption fails in both.
#[test]
fn shamir_round_trip_and_missing_key() {
    let twin = Twin::new(&[
        ("test_roundtrip_keygroups.yaml", b"a: secret"),
        (
            "test_roundtrip_keygroups_missing_decryption_key.yaml",
            b"a: secret",
        ),
    ]);
    let f = "test_roundtrip_keygroups.yaml";
    twin.both_ok(&["encrypt", "-i", f]);
    let plain = twin.cross_decrypt(f);
    assert_eq!(text(&plain), "a: secret\n");
    for tool in TOOLS {
        let t = twin.read(tool, f);
        assert_eq!(t.matches("recipient:").count(), 2, "{tool:?}: two groups");
        assert!(t.contains(&recipient(2)));
    }

    let f = "test_roundtrip_keygroups_missing_decryption_key.yaml";
    twin.both_ok(&["encrypt", "-i", f]);
    let (s, c) = twin.both(&["decrypt", f]);
    assert_eq!(s.status.code(), Some(128));
    assert!(c.stdout.is_empty());
    // Each tool also refuses the file the other one wrote.
    for (tool, other) in [(Tool::Sops, Tool::Ccsecrets), (Tool::Ccsecrets, Tool::Sops)] {
        let mut cmd = twin.command(tool, &["decrypt"]);
        cmd.arg(twin.dir(other).join(f));
        assert_eq!(
            run(cmd, None).status.code(),
            Some(128),
            "{tool:?} on {other:?}'s file"
        );
    }
}

/// `test_decrypt_file_multiple_keys`: a file for several recipients opens with any of them.
#[test]
fn decrypt_a_file_with_multiple_keys() {
    let twin = Twin::new(&[]);
    for tool in TOOLS {
        std::fs::copy(
            fixture("sops/two-recipients.enc.yaml"),
            twin.dir(tool).join("multiple_keys.yaml"),
        )
        .unwrap();
    }
    for key in ["keys/key1.txt", "keys/key2.txt"] {
        let outs: Vec<Vec<u8>> = TOOLS
            .iter()
            .map(|&tool| {
                let mut cmd = twin.command(tool, &["decrypt", "multiple_keys.yaml"]);
                cmd.env("SOPS_AGE_KEY_FILE", fixture(key));
                ok(run(cmd, None), &format!("{tool:?} with {key}"))
            })
            .collect();
        assert_eq!(outs[0], outs[1], "{key}");
    }
}

/// `extract_string`: `--extract` of a multi-line string prints it raw, without a newline.
#[test]
fn extract_a_multiline_string() {
    let twin = Twin::new(&[("test_extract_string.yaml", b"multiline: |\n  multi\n  line")]);
    twin.both_ok(&["encrypt", "-i", "test_extract_string.yaml"]);
    let out = twin.same_stdout(&[
        "decrypt",
        "--extract",
        "[\"multiline\"]",
        "test_extract_string.yaml",
    ]);
    assert_eq!(out, b"multi\nline");
}

/// `roundtrip_binary`: a file with an unknown extension is stored whole and comes back
/// byte for byte.
#[test]
fn binary_round_trip() {
    let data: &[u8] = b"\"\"{}this_is_binary_data";
    let twin = Twin::new(&[("test.binary", data)]);
    twin.both_ok(&["encrypt", "-i", "test.binary"]);
    assert_eq!(twin.cross_decrypt("test.binary"), data);
    let out = twin.same_stdout(&["decrypt", "test.binary"]);
    assert_eq!(out, data);
}

/// `output_flag`: `encrypt --output FILE` writes FILE and nothing to stdout.
#[test]
fn encrypt_output_flag() {
    let twin = Twin::new(&[("test_output_flag.binary", b"foo")]);
    let (s, c) = twin.both_ok(&[
        "encrypt",
        "--output",
        "output_flag.txt",
        "test_output_flag.binary",
    ]);
    assert!(s.is_empty() && c.is_empty(), "stdout must stay empty");
    for tool in TOOLS {
        assert!(!twin.read(tool, "output_flag.txt").is_empty());
    }
    // output_flag.txt has a .txt extension: binary too, so it decrypts to the bytes.
    assert_eq!(twin.cross_decrypt("output_flag.txt"), b"foo");
}

const EXEC_INPUT: &[u8] = b"foo: bar\nbar: |-\n  baz\n  bam\n";

/// `exec_env`: the child sees each top-level key as a variable (a multi-line value as sops
/// passes it).
#[test]
fn exec_env_prints_what_sops_prints() {
    let twin = Twin::new(&[
        ("test_exec_env.yaml", EXEC_INPUT),
        ("print_foo.sh", b"echo \"${foo}\"\n"),
        ("print_bar.sh", b"printf '%s\\n' \"${bar}\"\n"),
    ]);
    twin.both_ok(&["encrypt", "-i", "test_exec_env.yaml"]);
    let out = twin.same_stdout(&["exec-env", "test_exec_env.yaml", "/bin/sh print_foo.sh"]);
    assert_eq!(out, b"bar\n");
    twin.same_stdout(&["exec-env", "test_exec_env.yaml", "/bin/sh print_bar.sh"]);
}

/// `exec_file`: `{}` is the plaintext, converted with `--output-type json`.
#[test]
fn exec_file_with_output_type_json() {
    let twin = Twin::new(&[("test_exec_file.yaml", EXEC_INPUT)]);
    twin.both_ok(&["-e", "-i", "test_exec_file.yaml"]);
    let out = twin.same_stdout(&[
        "exec-file",
        "--output-type",
        "json",
        "test_exec_file.yaml",
        "cat {}",
    ]);
    assert_eq!(
        text(&out),
        "{\n\t\"foo\": \"bar\",\n\t\"bar\": \"baz\\nbam\"\n}\n"
    );
}

/// Not in the functional tests, but the same pattern: `unset` and `filestatus` agree too.
#[test]
fn unset_and_filestatus_agree() {
    let twin = Twin::new(&[("u.yaml", b"a: 1\nb:\n    c: x\n    d: y\n")]);
    let status = twin.same_stdout(&["filestatus", "u.yaml"]);
    assert_eq!(text(&status).trim(), r#"{"encrypted":false}"#);
    twin.both_ok(&["encrypt", "-i", "u.yaml"]);
    let status = twin.same_stdout(&["filestatus", "u.yaml"]);
    assert_eq!(text(&status).trim(), r#"{"encrypted":true}"#);
    twin.both_ok(&["unset", "u.yaml", r#"["b"]["c"]"#]);
    let plain = twin.sops_decrypts_both_the_same("u.yaml");
    // (`y` is a YAML 1.1 boolean to sops's YAML library, so it comes back quoted.)
    assert_eq!(text(&plain), "a: 1\nb:\n    d: \"y\"\n");
    let (s, _) = twin.both(&["unset", "u.yaml", r#"["b"]["c"]"#]);
    assert!(!s.status.success(), "unsetting a missing key fails in both");
    twin.both_ok(&["unset", "--idempotent", "u.yaml", r#"["b"]["c"]"#]);
}

/// Values sops takes that look like flags: a negative number is a value.
#[test]
fn set_negative_numbers() {
    let twin = Twin::new(&[("n.yaml", b"a: 1\nb: 2\n")]);
    twin.both_ok(&["encrypt", "-i", "n.yaml"]);
    twin.both_ok(&["set", "n.yaml", r#"["a"]"#, "-5"]);
    twin.both_ok(&["set", "n.yaml", r#"["b"]"#, "-0.25"]);
    let plain = twin.sops_decrypts_both_the_same("n.yaml");
    assert_eq!(text(&plain), "a: -5\nb: -0.25\n");
}

/// exec-env with every kind of scalar (YAML and JSON): the child sees what it sees in sops
/// (floats in Go's form, timestamps, `<nil>` for null, multi-line strings).
#[test]
fn exec_env_value_types_match_sops() {
    let twin = Twin::new(&[
        (
            "types.yaml",
            b"K_INT: 5\nK_FLOAT: 1.5\nK_FLOAT1: 1.0\nK_BIG: 1e20\nK_BOOL: true\nK_NULL: null\nK_EMPTY: \"\"\nK_DATE: 2001-12-14\nK_TS: 2001-12-14T21:59:43.10-05:00\nK_MULTI: |\n    a\n    b\nK_UNI: \"\xc3\xa9\"\nK_HEX: 0x1F\nK_YES: yes\nK_TILDE: ~\nK_INF: .inf\nK_NEG: -0.0\n",
        ),
        (
            "types.json",
            br#"{"K_A": 1, "K_B": 2.5, "K_C": 1e21, "K_D": 12345678901234567890, "K_E": false, "K_F": null, "K_G": "s"}"#,
        ),
    ]);
    for file in ["types.yaml", "types.json"] {
        twin.both_ok(&["encrypt", "-i", file]);
        let out = twin.same_stdout(&["exec-env", file, "env | grep '^K_' | sort"]);
        assert!(text(&out).contains("=<nil>\n"), "{}", text(&out));
    }
}

/// `rotate --rm-age` of a group's only key: refused by both (sops: "empty key group
/// provided"), the file unchanged; `rotate` itself and `--add-age` agree.
#[test]
fn rotate_with_key_groups_like_sops() {
    let twin = Twin::new(&[("test_roundtrip_keygroups.yaml", b"a: secret\nb: 2\n")]);
    let f = "test_roundtrip_keygroups.yaml";
    twin.both_ok(&["encrypt", "-i", f]);
    let before: Vec<String> = TOOLS.iter().map(|&t| twin.read(t, f)).collect();
    let r2 = recipient(2);
    let (s, c) = twin.both(&["rotate", "-i", "--rm-age", &r2, f]);
    assert_eq!(s.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&c.stderr).contains("key group 2"));
    let after: Vec<String> = TOOLS.iter().map(|&t| twin.read(t, f)).collect();
    assert_eq!(after, before, "a refused rotation changed a file");
    let r3 = recipient(3);
    twin.both_ok(&["rotate", "-i", "--add-age", &r3, f]);
    for tool in TOOLS {
        assert_eq!(
            twin.read(tool, f).matches("recipient:").count(),
            3,
            "{tool:?}"
        );
    }
    twin.sops_decrypts_both_the_same(f);
}

/// A `.sops.yaml` commented the way people write them: comments before and between the
/// rules, inside `key_groups`, inside an `age` list. Both tools pick the same rule, groups and
/// recipients.
#[test]
fn commented_sops_yaml_is_read_like_sops() {
    let twin = Twin::new(&[("groups.yaml", b"a: 1\n"), ("plain.yaml", b"a: 1\n")]);
    let config = format!(
        "# Who can decrypt what.\ncreation_rules:\n    # Two groups, both needed.\n    - path_regex: groups\\.yaml$\n      key_groups:\n          # the first group\n          - age:\n                # key1\n                - {k1}\n          # the second group\n          - age:\n                - {k2}\n    # Everything else: key1 and key3.\n    - age:\n          # key1\n          - {k1}\n          - {k3}\n# end\n",
        k1 = recipient(1),
        k2 = recipient(2),
        k3 = recipient(3)
    );
    for tool in TOOLS {
        std::fs::write(twin.dir(tool).join(".sops.yaml"), &config).unwrap();
    }
    for f in ["groups.yaml", "plain.yaml"] {
        twin.both_ok(&["encrypt", "-i", f]);
        let recipients = |tool: Tool| -> Vec<String> {
            twin.read(tool, f)
                .lines()
                .filter_map(|l| l.trim().strip_prefix("- recipient: ").map(str::to_owned))
                .collect()
        };
        assert_eq!(recipients(Tool::Ccsecrets), recipients(Tool::Sops), "{f}");
        let groups = |tool: Tool| twin.read(tool, f).matches("key_groups:").count();
        assert_eq!(groups(Tool::Ccsecrets), groups(Tool::Sops), "{f}");
        twin.cross_decrypt(f);
    }
    assert_eq!(
        twin.read(Tool::Sops, "plain.yaml")
            .matches("recipient:")
            .count(),
        2
    );
}

/// `--indent N` (global, legacy form) prints YAML and JSON exactly as sops does, 0 to 9.
#[test]
fn indent_flag_matches_sops() {
    let twin = Twin::new(&[
        (
            "i.yaml",
            b"a:\n    b:\n        - 1\n        - c: d\n# note\ne: f\n",
        ),
        ("i.json", br#"{"a": {"b": [1, {"c": "d"}]}, "e": "f"}"#),
    ]);
    for f in ["i.yaml", "i.json"] {
        twin.both_ok(&["encrypt", "-i", f]);
        for n in 0..=9 {
            let n = n.to_string();
            twin.same_stdout(&["--indent", &n, "-d", f]);
        }
    }
}
