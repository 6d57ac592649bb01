//! The keyless plaintext-secret detectors: PEM private keys, age secret keys, and
//! high-entropy values assigned to secret-like names.
//!
//! A detector reports *where* (the 1-based line) and *what kind*, never the matched text.
//!
//! The assignment rule, in full (`docs/ci.md` says the same):
//! - a name containing one of `secret`, `passwd`, `password`, `passphrase`, `token`,
//!   `api_key`/`apikey`, `private_key`/`privkey`, `access_key`, `signing_key`,
//!   `encryption_key`, `hmac`, `credential`, `auth_key` (any case, `_`, `-` or `.` between
//!   the words), followed by `=`, `:`, `:=` or `=>` — so `KEY=value`, YAML, JSON, TOML and
//!   Nix assignments all count;
//! - a value of at least [`MIN_VALUE_LEN`] characters from `[A-Za-z0-9+/=_.~-]`, containing
//!   a letter and a digit, that is not a path (`/…`, `./…`, `~/…`) or an `age1…` recipient;
//! - whose Shannon entropy is at least [`ENTROPY_THRESHOLD`] bits per character.
//!
//! Names that say the value is *not* the secret are skipped: ones containing `hash`, `sha`,
//! `checksum`, `digest`, `fingerprint`, `integrity`, or ending in `file`/`path` (the
//! conventional `passwordFile = "/run/secrets/…"`). Lines holding a sops `ENC[AES256_GCM,…]`
//! value are skipped, and binary data (a NUL byte in its first 8000 bytes) is only searched
//! for PEM and age keys.

use std::sync::OnceLock;

use memchr::memmem;
use regex::bytes::Regex;

/// The minimum Shannon entropy, in bits per character, of an assigned value to be reported.
/// Random hex (the Drone RPC secret) has about 3.7–4.0; random base64 about 4.5–5.2; English
/// words and identifiers mostly stay below 3.5. gitleaks's `generic-api-key` uses the same 3.5.
pub const ENTROPY_THRESHOLD: f64 = 3.5;

/// The shortest assigned value the entropy rule looks at.
pub const MIN_VALUE_LEN: usize = 16;

/// Which kind of PEM private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PemKind {
    /// `BEGIN RSA PRIVATE KEY` (PKCS#1).
    Rsa,
    /// `BEGIN EC PRIVATE KEY` (SEC 1).
    Ec,
    /// `BEGIN DSA PRIVATE KEY`.
    Dsa,
    /// `BEGIN OPENSSH PRIVATE KEY`.
    OpenSsh,
    /// `BEGIN PRIVATE KEY` (PKCS#8).
    Pkcs8,
    /// `BEGIN ENCRYPTED PRIVATE KEY` (PKCS#8, passphrase-protected: still a leak).
    Pkcs8Encrypted,
    /// Any other `BEGIN … PRIVATE KEY` label (PGP, PuTTY-converted, …).
    Other,
}

impl PemKind {
    /// A human name.
    pub fn name(self) -> &'static str {
        match self {
            PemKind::Rsa => "RSA",
            PemKind::Ec => "EC",
            PemKind::Dsa => "DSA",
            PemKind::OpenSsh => "OpenSSH",
            PemKind::Pkcs8 => "PKCS#8",
            PemKind::Pkcs8Encrypted => "encrypted PKCS#8",
            PemKind::Other => "PEM",
        }
    }
}

/// What a detector found.
#[derive(Debug, Clone, PartialEq)]
pub enum Detection {
    /// A PEM private key block with a body.
    PemPrivateKey(PemKind),
    /// An `AGE-SECRET-KEY-1…` (or post-quantum `AGE-SECRET-KEY-PQ-1…`) identity.
    AgeSecretKey,
    /// A high-entropy value assigned to a secret-like name.
    EntropyAssignment {
        /// The assigned name (not secret).
        name: String,
        /// The value's Shannon entropy, bits per character.
        entropy: f64,
    },
}

/// One detection and its 1-based line.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// What was found.
    pub detection: Detection,
    /// The line it starts on.
    pub line: usize,
    /// A digest of the matched secret (SHA-256, truncated), to report the same secret in the
    /// same file once across its versions. In memory only: never printed or stored.
    pub digest: [u8; 16],
}

/// SHA-256 of `bytes`, truncated to 16 bytes.
pub fn digest(bytes: &[u8]) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let mut out = [0u8; 16];
    out.copy_from_slice(&Sha256::digest(bytes)[..16]);
    out
}

/// The 1-based line of byte `offset` in `data`.
pub fn line_of(data: &[u8], offset: usize) -> usize {
    memchr::memchr_iter(b'\n', &data[..offset.min(data.len())]).count() + 1
}

/// Runs every detector over `data`, appending hits in order of appearance per detector.
pub fn detect(data: &[u8], out: &mut Vec<Hit>) {
    detect_with(data, true, out);
}

/// Runs the key detectors, and the assignment rule when `assignments` is true (the check
/// leaves it out for sops files, whose plaintext values the sops policy reports by key).
pub fn detect_with(data: &[u8], assignments: bool, out: &mut Vec<Hit>) {
    pem_keys(data, out);
    age_keys(data, out);
    let probe = &data[..data.len().min(8000)];
    if assignments && memchr::memchr(0, probe).is_none() {
        self::assignments(data, out);
    }
}

/// Whether `data` looks like a sops file (holds `ENC[AES256_GCM,` and `sops`).
pub fn looks_like_sops(data: &[u8]) -> bool {
    memmem::find(data, b"ENC[AES256_GCM,").is_some() && memmem::find(data, b"sops").is_some()
}

fn pem_keys(data: &[u8], out: &mut Vec<Hit>) {
    const BEGIN: &[u8] = b"-----BEGIN ";
    for start in memmem::find_iter(data, BEGIN) {
        let rest = &data[start + BEGIN.len()..];
        let Some(label_end) = memmem::find(&rest[..rest.len().min(100)], b"-----") else {
            continue;
        };
        let label = &rest[..label_end];
        if !label.ends_with(b"PRIVATE KEY") && !label.ends_with(b"PRIVATE KEY BLOCK") {
            continue;
        }
        let kind = match label {
            b"RSA PRIVATE KEY" => PemKind::Rsa,
            b"EC PRIVATE KEY" => PemKind::Ec,
            b"DSA PRIVATE KEY" => PemKind::Dsa,
            b"OPENSSH PRIVATE KEY" => PemKind::OpenSsh,
            b"PRIVATE KEY" => PemKind::Pkcs8,
            b"ENCRYPTED PRIVATE KEY" => PemKind::Pkcs8Encrypted,
            _ => PemKind::Other,
        };
        let b64 = pem_body(&rest[label_end + 5..]);
        if b64.len() >= 64 {
            out.push(Hit {
                detection: Detection::PemPrivateKey(kind),
                line: line_of(data, start),
                digest: digest(&b64),
            });
        }
    }
}

/// The base64 body after a `-----BEGIN … PRIVATE KEY-----` marker: the rest of the marker's
/// line must be empty, then lines of base64 (headers such as `Proc-Type:` skipped) up to the
/// END line or the first line that is not base64. Lines may be indented, quoted or commented
/// (`#`), or joined by a literal `\n` (JSON, escaped strings). A key has at least 64 base64
/// characters; documentation stubs (`...`) and prose after a marker do not.
fn pem_body(after: &[u8]) -> zeroize::Zeroizing<Vec<u8>> {
    let window = &after[..after.len().min(8192)];
    let mut out = zeroize::Zeroizing::new(Vec::new());
    let trim = |b: &u8| {
        b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b',' | b'#' | b'+' | b';' | b'\\')
    };
    for (i, raw) in split_pem_lines(window).enumerate() {
        let start = raw.iter().position(|b| !trim(b)).unwrap_or(raw.len());
        let end = raw.iter().rposition(|b| !trim(b)).map_or(start, |e| e + 1);
        let line = &raw[start..end.max(start)];
        if i == 0 {
            if line.is_empty() {
                continue;
            }
            break;
        }
        if line.starts_with(b"-----END") {
            break;
        }
        if line.is_empty() || line.contains(&b':') {
            continue;
        }
        if line
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        {
            out.extend_from_slice(line);
        } else {
            break;
        }
    }
    out
}

/// Splits on newlines and on the two-character escape `\n`.
fn split_pem_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let nl = memchr::memchr(b'\n', rest);
        let esc = memmem::find(rest, b"\\n");
        let (end, skip) = match (nl, esc) {
            (Some(a), Some(b)) if b < a => (b, 2),
            (Some(a), _) => (a, 1),
            (None, Some(b)) => (b, 2),
            (None, None) => (rest.len(), 0),
        };
        let line = &rest[..end];
        rest = &rest[(end + skip).min(rest.len())..];
        Some(line)
    })
}

const BECH32: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7lQPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L";

fn age_keys(data: &[u8], out: &mut Vec<Hit>) {
    const PREFIX: &[u8] = b"AGE-SECRET-KEY-";
    for start in memmem::find_iter(data, PREFIX) {
        let rest = &data[start + PREFIX.len()..];
        let rest = rest
            .strip_prefix(b"PQ-1")
            .or_else(|| rest.strip_prefix(b"1"));
        let Some(rest) = rest else { continue };
        let n = rest.iter().take_while(|b| BECH32.contains(b)).count();
        if n >= 58 {
            out.push(Hit {
                detection: Detection::AgeSecretKey,
                line: line_of(data, start),
                digest: digest(&rest[..n]),
            });
        }
    }
}

fn assignment_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?i)([a-z0-9_.-]*(?:secret|passwd|password|passphrase|token|api[_.-]?key|private[_.-]?key|privkey|access[_.-]?key|signing[_.-]?key|encryption[_.-]?key|hmac|credential|auth[_.-]?key)[a-z0-9_.-]*)["']?[ \t]*(?::=|=>|[:=])[ \t]*["']?([A-Za-z0-9+/=_.~-]{16,})"#,
        )
        .expect("the assignment regex compiles")
    })
}

fn name_is_not_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "hash",
        "sha",
        "checksum",
        "digest",
        "fingerprint",
        "integrity",
    ]
    .iter()
    .any(|w| lower.contains(w))
        || lower.ends_with("file")
        || lower.ends_with("path")
        || lower.ends_with("_id")
}

fn assignments(data: &[u8], out: &mut Vec<Hit>) {
    let re = assignment_regex();
    for caps in re.captures_iter(data) {
        let (Some(name), Some(value)) = (caps.get(1), caps.get(2)) else {
            continue;
        };
        // A template (`${…}`, `$(…)`, `{{ … }}`) right after the value: not a literal.
        if let Some(next) = data.get(value.end()) {
            if matches!(next, b'$' | b'{' | b'(' | b'[' | b'<' | b'%') {
                continue;
            }
        }
        let v = value.as_bytes();
        let name = String::from_utf8_lossy(name.as_bytes());
        if name_is_not_secret(&name) {
            continue;
        }
        if !v.iter().any(u8::is_ascii_digit) || !v.iter().any(u8::is_ascii_alphabetic) {
            continue;
        }
        if v.starts_with(b"/") || v.starts_with(b"./") || v.starts_with(b"~/") {
            continue;
        }
        if v.starts_with(b"age1") && v.len() == 62 {
            continue; // an age recipient: public
        }
        let whole_start = caps.get(0).map_or(0, |m| m.start());
        let line_start = memchr::memrchr(b'\n', &data[..whole_start]).map_or(0, |i| i + 1);
        let line_end =
            memchr::memchr(b'\n', &data[value.end()..]).map_or(data.len(), |i| value.end() + i);
        if memmem::find(&data[line_start..line_end], b"ENC[AES256_GCM,").is_some() {
            continue;
        }
        let entropy = shannon_entropy(v);
        if entropy >= ENTROPY_THRESHOLD {
            out.push(Hit {
                detection: Detection::EntropyAssignment {
                    name: name.into_owned(),
                    entropy,
                },
                line: line_of(data, value.start()),
                digest: digest(v),
            });
        }
    }
}

/// Shannon entropy of `s` in bits per byte.
pub fn shannon_entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0usize; 256];
    for b in s {
        counts[*b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What and where (the digest is checked separately).
    fn run(text: &str) -> Vec<(Detection, usize)> {
        let mut out = Vec::new();
        detect(text.as_bytes(), &mut out);
        out.into_iter().map(|h| (h.detection, h.line)).collect()
    }

    fn body(n: usize) -> String {
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
            .chars()
            .cycle()
            .take(n)
            .collect()
    }

    #[test]
    fn pem_kinds_and_lines() {
        for (label, kind) in [
            ("RSA PRIVATE KEY", PemKind::Rsa),
            ("EC PRIVATE KEY", PemKind::Ec),
            ("OPENSSH PRIVATE KEY", PemKind::OpenSsh),
            ("PRIVATE KEY", PemKind::Pkcs8),
            ("ENCRYPTED PRIVATE KEY", PemKind::Pkcs8Encrypted),
        ] {
            let text = format!(
                "a\nb\n-----BEGIN {label}-----\n{}\n{}\n-----END {label}-----\n",
                body(64),
                body(20)
            );
            assert_eq!(
                run(&text),
                vec![(Detection::PemPrivateKey(kind), 3)],
                "{label}"
            );
        }
    }

    #[test]
    fn pem_in_json_yaml_and_comments() {
        let b = body(64);
        for text in [
            format!("{{\"key\": \"-----BEGIN PRIVATE KEY-----\\n{b}\\n{b}\\n-----END PRIVATE KEY-----\\n\"}}"),
            format!("tls:\n  key: |\n    -----BEGIN EC PRIVATE KEY-----\n    {b}\n    -----END EC PRIVATE KEY-----\n"),
            format!("# -----BEGIN RSA PRIVATE KEY-----\n# Proc-Type: 4,ENCRYPTED\n# DEK-Info: AES-128-CBC,00FF\n#\n# {b}\n# -----END RSA PRIVATE KEY-----\n"),
        ] {
            assert_eq!(run(&text).len(), 1, "{text}");
        }
        // Prose after a marker is not a body.
        let prose = format!(
            "`-----BEGIN … PRIVATE KEY-----` (RSA, EC, DSA) followed by {b} characters\n{b}\n"
        );
        assert!(run(&prose).is_empty());
    }

    #[test]
    fn pem_stubs_and_certificates_are_not_keys() {
        assert!(run("-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n").is_empty());
        let cert = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            body(200)
        );
        assert!(run(&cert).is_empty());
        let age = format!(
            "-----BEGIN AGE ENCRYPTED FILE-----\n{}\n-----END AGE ENCRYPTED FILE-----\n",
            body(200)
        );
        assert!(run(&age).is_empty());
    }

    #[test]
    fn age_secret_keys() {
        // A synthetic test value (32 bytes of 0x01, Bech32-encoded), not anybody's key.
        let key = "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSHN7RWW";
        let hits = run(&format!("#!/bin/sh\nexport K={key}\n"));
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0], (Detection::AgeSecretKey, 2));
        // Too short, or the documentation form.
        assert!(run("AGE-SECRET-KEY-1QYQSZQGPQYQ\nAGE-SECRET-KEY-1...").is_empty());
    }

    #[test]
    fn entropy_assignments_in_every_syntax() {
        let secret = "f5257467204745134b5cfb03e257c8fa";
        for text in [
            format!("RPC_SECRET={secret}\n"),
            format!("rpc_secret: {secret}\n"),
            format!("{{\"client_secret\": \"{secret}\"}}"),
            format!("  apiKey = \"{secret}\";\n"),
            format!("DB_PASSWORD := '{secret}'\n"),
        ] {
            let hits = run(&text);
            assert_eq!(hits.len(), 1, "{text}: {hits:?}");
            assert!(matches!(hits[0].0, Detection::EntropyAssignment { .. }));
        }
    }

    #[test]
    fn ordinary_values_are_not_secrets() {
        for text in [
            // git SHAs and lock-file checksums under non-secret names
            "rev = \"4e331f4b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f\";\n".to_string(),
            "checksum = \"a3c9e8b7d6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9\"\n"
                .into(),
            "password_sha256: a3c9e8b7d6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9\n"
                .into(),
            // paths, references, templates, low entropy, no digit
            "passwordFile = \"/run/secrets/drone-rpc-secret-2\";\n".into(),
            "token: ${{ secrets.GITHUB_TOKEN }}\n".into(),
            "secret_key: aaaaaaaaaaaaaaaa1111\n".into(),
            "secretKeyFile = config.sops.secrets.webhook.path;\n".into(),
            // sops values and recipients
            "rpc_secret: ENC[AES256_GCM,data:q83hXw9V+2/abcDEF12345678==,iv:x,tag:y,type:str]\n"
                .into(),
            "secret_recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n"
                .into(),
        ] {
            assert!(run(&text).is_empty(), "{text}: {:?}", run(&text));
        }
    }

    #[test]
    fn binary_data_is_searched_for_keys_only() {
        let mut data = b"\0\0token=f5257467204745134b5cfb03e257c8fa\n".to_vec();
        data.extend_from_slice(
            b"AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSHN7RWW",
        );
        let mut out = Vec::new();
        detect(&data, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].detection, Detection::AgeSecretKey);
    }

    #[test]
    fn the_digest_identifies_the_secret_not_its_layout() {
        let body = body(80);
        let mut a = Vec::new();
        detect(
            format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n").as_bytes(),
            &mut a,
        );
        let mut b = Vec::new();
        let indented = format!(
            "key: |\n    -----BEGIN PRIVATE KEY-----\n    {body}\n    -----END PRIVATE KEY-----\n"
        );
        detect(indented.as_bytes(), &mut b);
        assert_eq!(a[0].digest, b[0].digest);
        let mut c = Vec::new();
        detect(
            format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                &body[1..]
            )
            .as_bytes(),
            &mut c,
        );
        assert_ne!(a[0].digest, c[0].digest);
    }

    #[test]
    fn entropy_reference_values() {
        assert_eq!(shannon_entropy(b"aaaa"), 0.0);
        assert!((shannon_entropy(b"0123456789abcdef") - 4.0).abs() < 1e-9);
    }
}
