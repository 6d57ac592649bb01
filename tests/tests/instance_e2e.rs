//! The whole life of an instance on a real temp git repository, through the `ccsecrets`
//! binary: `init` → fill the placeholders with `set` → `validate` passes → `cert renew
//! --commit` → `recipients add` + `rekey --commit` → the real sops opens the committed files
//! with the new key alone; the history holds exactly the expected commits.

mod instance_support;

use ccsecrets_tests::ok;
use instance_support::*;

#[test]
fn init_fill_validate_renew_rekey() {
    let sb = sandbox();
    let (inst, boot, boot_r) = init_instance(&sb, &[]);
    let i = inst.to_str().unwrap();
    let file = inst.join("secrets/secrets.yaml");
    let f = file.to_str().unwrap();

    // Fill every placeholder with `set` (values as JSON strings from files, never on argv).
    let ca = ca("e2e CA");
    let first = wildcard(&ca, 60, 0x0e2e);
    let value_file = |name: &str, value: &str| {
        let p = sb.dir.path().join(format!("{name}.json"));
        std::fs::write(&p, serde_json::to_string(value).unwrap()).unwrap();
        p
    };
    for (index, name, value) in [
        (
            r#"["tls"]["fullchain"]"#,
            "fullchain",
            first.fullchain.as_str(),
        ),
        (r#"["tls"]["privkey"]"#, "privkey", first.key.as_str()),
        (
            r#"["drone"]["oauth_client_id"]"#,
            "id",
            "7f3c2a9e-5b1d-4c8e-9a6f-0d2e4b8c1a3f",
        ),
        (
            r#"["drone"]["oauth_client_secret"]"#,
            "secret",
            "gto_q8w7e6r5t4y3u2i1o0p9a8s7d6f5g4h3j2k1l0z9x8c7v6b5",
        ),
    ] {
        let p = value_file(name, value);
        ok(
            ccs(
                &sb,
                Some(&boot),
                &["set", f, index, p.to_str().unwrap(), "--value-file"],
            ),
            &format!("set {index}"),
        );
    }
    git(
        &sb,
        &inst,
        &["commit", "-q", "-am", "Fill in the operator's secrets"],
    );

    // validate passes now (exit 0), and says nothing secret.
    let out = ccs(&sb, Some(&boot), &["validate", "--instance", i]);
    let stdout = String::from_utf8(ok(out, "validate")).unwrap();
    assert!(stdout.contains(&first.sha256), "{stdout}");
    assert!(stdout.contains("0 errors"), "{stdout}");

    // Renew with a later certificate and commit it.
    let second = wildcard(&ca, 120, 0x0e2f);
    let (c, k) = write_pair(&sb, "second", &second.fullchain, &second.key);
    let before = git(&sb, &inst, &["show", "HEAD:secrets/secrets.yaml"]);
    let renew = ok(
        ccs(
            &sb,
            Some(&boot),
            &[
                "cert",
                "renew",
                "--instance",
                i,
                "--fullchain",
                c.to_str().unwrap(),
                "--key",
                k.to_str().unwrap(),
                "--commit",
            ],
        ),
        "cert renew",
    );
    let renew_commit = String::from_utf8(renew).unwrap().trim().to_owned();
    let after = git(&sb, &inst, &["show", "HEAD:secrets/secrets.yaml"]);
    let mut changed = changed_keys(&before, &after);
    changed.retain(|k| k != "lastmodified");
    changed.sort();
    assert_eq!(changed, ["fullchain", "mac", "privkey"]);
    let msg = git(&sb, &inst, &["log", "-1", "--format=%B"]);
    assert!(
        msg.contains(&second.sha256) && msg.contains(&first.sha256),
        "{msg}"
    );
    ok(
        ccs(&sb, Some(&boot), &["validate", "--instance", i]),
        "validate after renew",
    );

    // A new operator key joins; rekey and commit.
    let (newkey, new_r) = age_keygen(&sb, "operator2.txt");
    ok(
        ccs(
            &sb,
            None,
            &[
                "recipients",
                "add",
                "--instance",
                i,
                "--age",
                &new_r,
                "--label",
                "operator 2",
            ],
        ),
        "recipients add",
    );
    ok(
        ccs(&sb, Some(&boot), &["rekey", "--instance", i, "--commit"]),
        "rekey",
    );

    // The committed file (not just the work tree) opens with the new key alone, via the real
    // sops, and holds the renewed certificate.
    let committed = sb.dir.path().join("committed.yaml");
    std::fs::write(
        &committed,
        git(&sb, &inst, &["show", "HEAD:secrets/secrets.yaml"]),
    )
    .unwrap();
    let plain =
        String::from_utf8(ok(sops_decrypt(&sb, &newkey, &committed), "sops decrypt")).unwrap();
    assert!(plain.contains(second.pem.lines().nth(1).unwrap()));
    assert!(plain.contains("7f3c2a9e-5b1d-4c8e-9a6f-0d2e4b8c1a3f"));
    ok(
        sops_decrypt(&sb, &boot, &committed),
        "the bootstrap key still opens it",
    );

    // History: four commits, newest first, the renewal where expected.
    let log = git(&sb, &inst, &["log", "--format=%H %s"]);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 4, "{log}");
    assert!(
        lines[0].ends_with("Rekey 1 secrets file to the recipient policy"),
        "{log}"
    );
    assert!(lines[1].starts_with(&renew_commit), "{log}");
    assert!(
        lines[1].contains("Renew the TLS certificate of ci.example.test"),
        "{log}"
    );
    assert!(
        lines[2].ends_with("Fill in the operator's secrets"),
        "{log}"
    );
    assert!(
        lines[3].ends_with("Initialise the cc-ci instance ci.example.test"),
        "{log}"
    );
    let rekey_msg = git(&sb, &inst, &["log", "-1", "--format=%B"]);
    assert!(
        rekey_msg.contains(&format!("Added:   {new_r}")),
        "{rekey_msg}"
    );
    assert!(!rekey_msg.contains(&boot_r), "nothing removed: {rekey_msg}");
    assert_eq!(
        git(&sb, &inst, &["diff", "--name-only", "HEAD~1", "HEAD"]),
        ".sops.yaml\nsecrets/secrets.yaml\n"
    );
    assert_eq!(git(&sb, &inst, &["status", "--porcelain"]), "");
    let fsck = git(&sb, &inst, &["fsck", "--strict"]);
    assert!(!fsck.contains("error"), "{fsck}");
}
