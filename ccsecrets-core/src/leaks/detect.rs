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
}

/// The 1-based line of byte `offset` in `data`.
pub fn line_of(data: &[u8], offset: usize) -> usize {
    memchr::memchr_iter(b'\n', &data[..offset.min(data.len())]).count() + 1
}

/// Runs every detector over `data`, appending hits in order of appearance per detector.
pub fn detect(data: &[u8], out: &mut Vec<Hit>) {
    pem_keys(data, out);
    age_keys(data, out);
    let probe = &data[..data.len().min(8000)];
    if memchr::memchr(0, probe).is_none() {
        assignments(data, out);
    }
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
        // A key has a body: at least 64 base64 characters before its END line (stubs such as
        // documentation's `-----BEGIN PRIVATE KEY-----\n...` do not count).
        let body = &rest[label_end + 5..];
        let window = &body[..body.len().min(2048)];
        let end = memmem::find(window, b"-----END").unwrap_or(window.len());
        let b64 = window[..end]
            .iter()
            .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
            .count();
        if b64 >= 64 {
            out.push(Hit {
                detection: Detection::PemPrivateKey(kind),
                line: line_of(data, start),
            });
        }
    }
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

    fn run(text: &str) -> Vec<Hit> {
        let mut out = Vec::new();
        detect(text.as_bytes(), &mut out);
        out
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
                vec![Hit {
                    detection: Detection::PemPrivateKey(kind),
                    line: 3
                }],
                "{label}"
            );
        }
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
        let key = "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSHN7RWW";
        let hits = run(&format!("#!/bin/sh\nexport K={key}\n"));
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].detection, Detection::AgeSecretKey);
        assert_eq!(hits[0].line, 2);
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
            assert!(matches!(
                hits[0].detection,
                Detection::EntropyAssignment { .. }
            ));
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
    fn entropy_reference_values() {
        assert_eq!(shannon_entropy(b"aaaa"), 0.0);
        assert!((shannon_entropy(b"0123456789abcdef") - 4.0).abs() < 1e-9);
    }
}
