//! Format conversion on output (`decrypt --output-type`), differentially against the real
//! sops 3.11: every encrypted fixture sops made in YAML, JSON, dotenv and INI, printed as
//! each of those four formats by both tools. Where sops succeeds, ccsecrets prints the same
//! bytes; where sops refuses (a nested tree as dotenv, say), ccsecrets refuses with the same
//! exit code and prints nothing.

use std::path::PathBuf;

use ccsecrets_tests::{fixture, run, Sandbox};

/// Cases left out, with the reason.
const KNOWN: &[(&str, &str, &str)] = &[];

fn sources() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(fixture("sops"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.contains(".enc.")
                && [".yaml", ".json", ".env", ".ini"]
                    .iter()
                    .any(|e| n.ends_with(e))
        })
        .collect();
    out.sort();
    assert!(out.len() >= 20, "expected the sops-made fixtures");
    out
}

#[test]
fn output_types_match_sops() {
    let sb = Sandbox::new();
    let mut failures = Vec::new();
    let mut compared = 0;
    for src in sources() {
        let name = src.file_name().unwrap().to_string_lossy().into_owned();
        for ty in ["yaml", "json", "dotenv", "ini"] {
            if KNOWN.iter().any(|(f, t, _)| *f == name && *t == ty) {
                continue;
            }
            let out = |mut cmd: std::process::Command| {
                cmd.env("SOPS_AGE_KEY_FILE", fixture("keys/all.txt"))
                    .args(["decrypt", "--output-type", ty])
                    .arg(&src);
                run(cmd, None)
            };
            let theirs = out(sb.sops());
            let ours = out(sb.ccsecrets());
            if theirs.status.code() != ours.status.code() {
                failures.push(format!(
                    "{name} as {ty}: exit {:?} (sops) vs {:?} (ccsecrets): {}",
                    theirs.status.code(),
                    ours.status.code(),
                    String::from_utf8_lossy(&ours.stderr)
                ));
            } else if theirs.stdout != ours.stdout {
                failures.push(format!(
                    "{name} as {ty}: output differs\n--- sops\n{}\n--- ccsecrets\n{}",
                    String::from_utf8_lossy(&theirs.stdout),
                    String::from_utf8_lossy(&ours.stdout)
                ));
            } else if theirs.status.success() {
                compared += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(compared >= 40, "only {compared} conversions compared");
}
