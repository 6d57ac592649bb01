//! Interop with the real sops 3.11, both directions, on every fixture the real sops made.
//!
//! - sops → ccsecrets: every `fixtures/sops/**/NAME.enc.EXT` decrypts with ccsecrets to exactly
//!   the bytes `sops decrypt` printed (`NAME.dec.EXT`).
//! - ccsecrets → sops: every plaintext `NAME.EXT` that sops encrypted is encrypted by
//!   ccsecrets with the same options (read from sops's own metadata), and the real sops
//!   decrypts our file to exactly what it printed for its own; `sops filestatus` says
//!   `encrypted: true`.

use std::path::{Path, PathBuf};

use ccsecrets_core::sops::document::EncryptedFile;
use ccsecrets_core::sops::store::Format;
use ccsecrets_tests::{fixture, ok, run, Sandbox};

/// Every encrypted fixture in format `ext` that has the expected plaintext beside it.
fn encrypted_fixtures(ext: &str) -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![fixture("sops")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if let Some((stem, e)) = name.split_once(".enc.") {
                let dec = p.with_file_name(format!("{stem}.dec.{e}"));
                if e == ext && dec.is_file() {
                    out.push((p, dec));
                }
            }
        }
    }
    out.sort();
    assert!(
        out.len() >= 3,
        "expected the sops-made .{ext} fixtures under fixtures/sops (found {})",
        out.len()
    );
    out
}

fn keys_file() -> PathBuf {
    fixture("keys/all.txt")
}

#[test]
fn json_files_from_sops_decrypt_to_exactly_what_sops_prints() {
    sops_files_decrypt_to_exactly_what_sops_prints("json");
}

#[test]
fn yaml_files_from_sops_decrypt_to_exactly_what_sops_prints() {
    sops_files_decrypt_to_exactly_what_sops_prints("yaml");
}

#[test]
fn env_files_from_sops_decrypt_to_exactly_what_sops_prints() {
    sops_files_decrypt_to_exactly_what_sops_prints("env");
}

#[test]
fn ini_files_from_sops_decrypt_to_exactly_what_sops_prints() {
    sops_files_decrypt_to_exactly_what_sops_prints("ini");
}

fn sops_files_decrypt_to_exactly_what_sops_prints(ext: &str) {
    let sb = Sandbox::new();
    let mut failures = Vec::new();
    for (enc, dec) in encrypted_fixtures(ext) {
        let mut cmd = sb.ccsecrets();
        cmd.env("SOPS_AGE_KEY_FILE", keys_file())
            .arg("decrypt")
            .arg(&enc);
        let out = run(cmd, None);
        if !out.status.success() {
            failures.push(format!(
                "{}: exit {:?}: {}",
                enc.display(),
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        let want = std::fs::read(&dec).unwrap();
        if out.stdout != want {
            failures.push(format!(
                "{}: output differs from sops's\n--- sops\n{}\n--- ccsecrets\n{}",
                enc.display(),
                String::from_utf8_lossy(&want),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The `ccsecrets encrypt` flags that reproduce how sops made `enc` (from its metadata).
fn flags_like(enc: &Path) -> Vec<String> {
    let bytes = std::fs::read(enc).unwrap();
    let file = EncryptedFile::parse(&bytes, Format::from_path(enc)).expect("sops fixture parses");
    let meta = &file.metadata;
    assert_eq!(
        meta.key_groups.len(),
        1,
        "{}: key groups are tested elsewhere",
        enc.display()
    );
    let mut flags = vec!["--age".to_owned(), meta.recipients().join(",")];
    if let Some(sel) = &meta.selector {
        let (field, value) = sel.field();
        flags.push(format!("--{}", field.replace('_', "-")));
        flags.push(value);
    }
    if meta.mac_only_encrypted {
        flags.push("--mac-only-encrypted".into());
    }
    flags
}

#[test]
fn sops_decrypts_ccsecrets_json_files_to_the_same_plaintext() {
    sops_decrypts_ccsecrets_files_to_the_same_plaintext("json", 2);
}

#[test]
fn sops_decrypts_ccsecrets_yaml_files_to_the_same_plaintext() {
    sops_decrypts_ccsecrets_files_to_the_same_plaintext("yaml", 8);
}

#[test]
fn sops_decrypts_ccsecrets_env_files_to_the_same_plaintext() {
    sops_decrypts_ccsecrets_files_to_the_same_plaintext("env", 4);
}

#[test]
fn sops_decrypts_ccsecrets_ini_files_to_the_same_plaintext() {
    sops_decrypts_ccsecrets_files_to_the_same_plaintext("ini", 3);
}

fn sops_decrypts_ccsecrets_files_to_the_same_plaintext(ext: &str, at_least: usize) {
    let sb = Sandbox::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (enc, dec) in encrypted_fixtures(ext) {
        let name = enc.file_name().unwrap().to_string_lossy().into_owned();
        let (stem, ext) = name.split_once(".enc.").unwrap();
        let plain = enc.with_file_name(format!("{stem}.{ext}"));
        if !plain.is_file() || enc.parent().unwrap().join(".sops.yaml").is_file() {
            continue; // made from another source, or through creation rules (see rules tests)
        }
        checked += 1;
        let ours = sb.work().join(format!("{stem}.ours.{ext}"));
        let mut cmd = sb.ccsecrets();
        cmd.arg("encrypt")
            .args(flags_like(&enc))
            .arg("--output")
            .arg(&ours)
            .arg(&plain);
        let out = run(cmd, None);
        if !out.status.success() {
            failures.push(format!(
                "{name}: ccsecrets encrypt failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        let mut cmd = sb.sops();
        cmd.env("SOPS_AGE_KEY_FILE", keys_file())
            .arg("decrypt")
            .arg(&ours);
        let out = run(cmd, None);
        if !out.status.success() {
            failures.push(format!(
                "{name}: sops cannot decrypt our file (exit {:?}): {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        if out.stdout != std::fs::read(&dec).unwrap() {
            failures.push(format!(
                "{name}: sops decrypts our file differently\n--- expected\n{}\n--- got\n{}",
                String::from_utf8_lossy(&std::fs::read(&dec).unwrap()),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        let mut cmd = sb.sops();
        cmd.arg("filestatus").arg(&ours);
        let status = ok(run(cmd, None), "sops filestatus");
        if !String::from_utf8_lossy(&status).contains("\"encrypted\":true") {
            failures.push(format!(
                "{name}: sops filestatus says {}",
                String::from_utf8_lossy(&status)
            ));
        }
    }
    assert!(
        checked >= at_least,
        "too few plaintext fixtures checked: {checked}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn decrypt_output_option_writes_private_files() {
    let sb = Sandbox::new();
    for (enc, dec) in encrypted_fixtures("json") {
        let ext = enc.extension().unwrap().to_string_lossy().into_owned();
        let plain = sb.work().join(format!("plain.{ext}"));
        let mut cmd = sb.ccsecrets();
        cmd.env("SOPS_AGE_KEY_FILE", keys_file())
            .arg("decrypt")
            .arg("--output")
            .arg(&plain)
            .arg(&enc);
        ok(run(cmd, None), "ccsecrets decrypt --output");
        assert_eq!(std::fs::read(&plain).unwrap(), std::fs::read(&dec).unwrap());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&plain).unwrap().permissions().mode() & 0o777,
            0o600,
            "decrypted output must be private"
        );
    }
}

#[test]
fn deterministic_vectors_decrypt_with_both_tools() {
    let sb = Sandbox::new();
    let file = fixture("vectors/deterministic.enc.yaml");
    let key = fixture("vectors/key.txt");
    let mut cmd = sb.sops();
    cmd.env("SOPS_AGE_KEY_FILE", &key).arg("decrypt").arg(&file);
    let theirs = ok(run(cmd, None), "sops decrypt vectors");
    let mut cmd = sb.ccsecrets();
    cmd.env("SOPS_AGE_KEY_FILE", &key).arg("decrypt").arg(&file);
    let ours = ok(run(cmd, None), "ccsecrets decrypt vectors");
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs)
    );
}

#[test]
fn cipher_matches_the_deterministic_vectors() {
    use ccsecrets_core::sops::cipher::{seal, DataKey};
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("vectors/vectors.json")).unwrap()).unwrap();
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    };
    let key = DataKey::from_bytes(&hex(v["data_key_hex"].as_str().unwrap())).unwrap();
    let values = v["values"].as_array().unwrap();
    assert!(values.len() >= 10);
    for case in values {
        let iv: [u8; 32] = hex(case["iv_hex"].as_str().unwrap()).try_into().unwrap();
        let got = seal(
            &key,
            case["plaintext"].as_str().unwrap().as_bytes(),
            case["type"].as_str().unwrap(),
            case["aad"].as_str().unwrap(),
            &iv,
        );
        assert_eq!(
            got,
            case["enc"].as_str().unwrap(),
            "value at {}",
            case["aad"]
        );
    }
    // The MAC: SHA-512 over the plaintexts in walk order, upper-case hex, sealed with the
    // lastmodified text as AAD.
    use sha2::{Digest, Sha512};
    let mac = &v["mac"];
    let mut h = Sha512::new();
    for p in mac["hashed_in_order"].as_array().unwrap() {
        h.update(p.as_str().unwrap().as_bytes());
    }
    let hexd: String = h.finalize().iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(hexd, mac["sha512_upper_hex"].as_str().unwrap());
    let iv: [u8; 32] = hex(mac["iv_hex"].as_str().unwrap()).try_into().unwrap();
    assert_eq!(
        seal(
            &key,
            hexd.as_bytes(),
            "str",
            mac["lastmodified_aad"].as_str().unwrap(),
            &iv
        ),
        mac["enc"].as_str().unwrap()
    );
}

/// A sops YAML file's data part with every `ENC[…]` reduced to its type: the layout (which
/// collection each encrypted comment and value sits in) without the random ciphertexts.
fn yaml_layout(file: &[u8]) -> String {
    let text = String::from_utf8_lossy(file);
    let mut out = String::new();
    for line in text.lines() {
        if line == "sops:" {
            break;
        }
        let mut rest = line;
        while let Some(i) = rest.find("ENC[AES256_GCM,") {
            out.push_str(&rest[..i]);
            let end = rest[i..].find(']').map_or(rest.len(), |j| i + j + 1);
            let typ = rest[i..end].rsplit("type:").next().unwrap_or("?");
            out.push_str(&format!("E({}", typ.trim_end_matches(']')));
            out.push(')');
            rest = &rest[end..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}

/// The YAML regressions found by fuzzing (`fixtures/sops/regress-*.yaml`, see
/// `fixtures/make.sh`): ccsecrets encrypts each to the same layout as sops did (every encrypted
/// comment in the same place), decrypts sops's file to what sops prints, and sops decrypts ours
/// to the same plaintext.
#[test]
fn yaml_regressions_match_sops_layout_and_plaintext() {
    let sb = Sandbox::new();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (enc, dec) in encrypted_fixtures("yaml") {
        let name = enc.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("regress-") {
            continue;
        }
        checked += 1;
        let stem = name.split_once(".enc.").unwrap().0;
        let plain = enc.with_file_name(format!("{stem}.yaml"));
        let ours = sb.work().join(format!("{stem}.ours.yaml"));
        let mut cmd = sb.ccsecrets();
        cmd.arg("encrypt")
            .args(flags_like(&enc))
            .arg("--output")
            .arg(&ours)
            .arg(&plain);
        ok(run(cmd, None), &format!("ccsecrets encrypt {name}"));
        let (want, got) = (
            yaml_layout(&std::fs::read(&enc).unwrap()),
            yaml_layout(&std::fs::read(&ours).unwrap()),
        );
        if want != got {
            failures.push(format!(
                "{name}: layout differs\n--- sops\n{want}--- ccsecrets\n{got}"
            ));
        }
        let want = std::fs::read(&dec).unwrap();
        let mut cmd = sb.ccsecrets();
        cmd.env("SOPS_AGE_KEY_FILE", keys_file())
            .arg("decrypt")
            .arg(&enc);
        if ok(run(cmd, None), &format!("ccsecrets decrypt {name}")) != want {
            failures.push(format!(
                "{name}: ccsecrets decrypts sops's file differently"
            ));
        }
        let mut cmd = sb.sops();
        cmd.env("SOPS_AGE_KEY_FILE", keys_file())
            .arg("decrypt")
            .arg(&ours);
        if ok(run(cmd, None), &format!("sops decrypt ours {name}")) != want {
            failures.push(format!("{name}: sops decrypts our file differently"));
        }
    }
    assert_eq!(checked, 10, "expected the ten regress-*.yaml fixtures");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
