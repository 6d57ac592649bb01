//! `set --value-stdin` reads its value through a buffer that wipes itself as it grows: a
//! value far larger than one read (several hundred KiB, read in many chunks) arrives whole,
//! checked with the real sops.

use ccsecrets_tests::{fixture, ok, run, Sandbox};

#[test]
fn set_value_stdin_reads_a_large_value_whole() {
    let sb = Sandbox::new();
    let w = sb.work();
    let recipient = std::fs::read_to_string(fixture("keys/key1.txt"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();
    std::fs::write(w.join("s.yaml"), "a: small\n").unwrap();
    let mut c = sb.sops();
    c.args(["encrypt", "-i", "--age", &recipient, "s.yaml"]);
    ok(run(c, None), "sops encrypt");

    // 300 KiB of varied text: any lost or repeated chunk changes it.
    let big: String = (0..300 * 1024u32)
        .map(|i| char::from(b'a' + ((i * 7 + i / 8192) % 26) as u8))
        .collect();
    let mut c = sb.ccsecrets();
    c.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
        .args(["set", "--value-stdin", "s.yaml", "[\"a\"]"]);
    ok(run(c, Some(format!("\"{big}\"").as_bytes())), "set --value-stdin");

    let mut c = sb.sops();
    c.env("SOPS_AGE_KEY_FILE", fixture("keys/key1.txt"))
        .args(["decrypt", "--extract", "[\"a\"]", "s.yaml"]);
    let got = ok(run(c, None), "sops decrypt --extract");
    assert_eq!(got.len(), big.len());
    assert!(got == big.as_bytes(), "the value differs");
}
