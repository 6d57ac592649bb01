//! Bad input, differentially against the real sops 3.11: malformed and empty files in every
//! format, given to every command that reads an encrypted file. Both tools must exit with
//! the same status, ccsecrets must print nothing on stdout when it fails, and no file may
//! change.

use ccsecrets_tests::{fixture, run, Sandbox};

const R1: &str = "age1j47sfe2f86s58dy7ryuwpmxu00d5vwlz37ntn2me7vtksndn294s5z7f3s";

#[test]
fn bad_input_exit_codes_match_sops() {
    // The recipient above is key1's (the fixtures' .sops.yaml files list it too).
    let key1 = std::fs::read_to_string(fixture("keys/key1.txt")).unwrap();
    assert!(
        key1.contains(R1),
        "fixtures/keys/key1.txt changed; update R1"
    );

    let sb = Sandbox::new();
    let inputs: [(&str, &[u8]); 9] = [
        ("bad.yaml", b"a: [unclosed\n  b: {\n"),
        ("bad.json", b"{\"a\": [1"),
        ("bad.env", b"A=1\nno equals sign\n"),
        ("bad.ini", b"[unclosed\nb = 1\n"),
        ("empty.yaml", b""),
        ("empty.json", b""),
        ("empty.env", b""),
        ("empty.ini", b""),
        ("empty.bin", b""),
    ];
    for (name, bytes) in inputs {
        std::fs::write(sb.work().join(name), bytes).unwrap();
    }
    let mut failures = Vec::new();
    let mut compared = 0;
    for (name, bytes) in inputs {
        let commands: Vec<Vec<&str>> = vec![
            vec!["decrypt", name],
            vec!["filestatus", name],
            vec!["set", name, r#"["a"]"#, "1"],
            vec!["unset", name, r#"["a"]"#],
            vec!["rotate", name],
            vec!["exec-env", name, "true"],
            vec!["exec-file", name, "true"],
            vec!["groups", "add", "--age", R1, "-f", name],
            vec!["edit", name],
        ];
        for args in commands {
            let go = |mut cmd: std::process::Command| {
                cmd.env("SOPS_AGE_KEY_FILE", fixture("keys/all.txt"))
                    .env("EDITOR", "true")
                    .args(&args);
                run(cmd, None)
            };
            let theirs = go(sb.sops());
            let ours = go(sb.ccsecrets());
            compared += 1;
            let what = args.join(" ");
            if theirs.status.code() != ours.status.code() {
                failures.push(format!(
                    "{what}: exit {:?} (sops) vs {:?} (ccsecrets): {}",
                    theirs.status.code(),
                    ours.status.code(),
                    String::from_utf8_lossy(&ours.stderr)
                ));
            }
            if !ours.status.success() && !ours.stdout.is_empty() {
                failures.push(format!("{what}: ccsecrets failed but wrote to stdout"));
            }
            if std::fs::read(sb.work().join(name)).unwrap() != bytes {
                failures.push(format!("{what}: {name} changed"));
                std::fs::write(sb.work().join(name), bytes).unwrap();
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(compared, 81);
}
