//! SSH ed25519 keys as age X25519 keys, the conversion Mic92's `ssh-to-age` does.
//!
//! - Public: the Ed25519 point in Montgomery form, u = (1 + y) / (1 − y) mod 2^255 − 19,
//!   Bech32 with HRP `age`.
//! - Private: the first 32 bytes of SHA-512(ed25519 seed), **not clamped** (ssh-to-age writes
//!   it so; age clamps when it uses the key), Bech32 with HRP `AGE-SECRET-KEY-`, upper case.
//!
//! Only `ssh-ed25519` keys convert. Errors and skip notes never contain key material or input
//! lines, only line numbers and key type names.

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use bech32::{Bech32, Hrp};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use sha2::{Digest, Sha512};
use zeroize::{Zeroize, Zeroizing};

const ED25519: &str = "ssh-ed25519";
const OPENSSH_MAGIC: &[u8] = b"openssh-key-v1\0";
/// PKCS#8 v1 `PrivateKeyInfo` for Ed25519 (RFC 8410), followed by the 32-byte seed.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const ED25519_OID: [u8; 3] = [0x2b, 0x65, 0x70];

/// Standard base64, as OpenSSH writes it; padding and stray trailing bits tolerated like Go's
/// decoder (which ssh-to-age uses).
const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// An SSH key could not be converted. The messages name lines and key types only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SshToAgeError {
    /// A line is neither blank, a comment, nor an authorized_keys/known_hosts key line.
    #[error(
        "line {line}: not an SSH public key (expected an authorized_keys or known_hosts line)"
    )]
    NotAPublicKey {
        /// 1-based line number.
        line: usize,
    },
    /// A private key was given where public keys were expected.
    #[error("line {line}: this is an SSH private key, not a public key")]
    PrivateKeyGiven {
        /// 1-based line number of its `-----BEGIN` line.
        line: usize,
    },
    /// An `ssh-ed25519` key whose bytes are not a usable curve point.
    #[error("line {line}: the ssh-ed25519 key is malformed (not a valid Ed25519 public key)")]
    InvalidPublicKey {
        /// 1-based line number.
        line: usize,
    },
    /// The input holds no `ssh-ed25519` public key.
    #[error("no ssh-ed25519 public key in the input{}", skipped_note(.skipped.len()))]
    NoEd25519Key {
        /// The keys of other types that were skipped (to report them).
        skipped: Vec<SkippedKey>,
    },
    /// The input is not a private key in a known format.
    #[error("not an OpenSSH private key (expected -----BEGIN OPENSSH PRIVATE KEY-----)")]
    NotAPrivateKey,
    /// A public key was given where a private key was expected.
    #[error("this is an SSH public key, not a private key")]
    PublicKeyGiven,
    /// The private key is protected by a passphrase.
    #[error("the SSH private key is passphrase-protected; passphrases are not supported")]
    Encrypted,
    /// A private key of a type other than ed25519.
    #[error("{key_type} keys cannot be converted to age; only ssh-ed25519 keys can")]
    UnsupportedKeyType {
        /// The key type (`ssh-rsa`, `ecdsa-sha2-nistp256`, …).
        key_type: String,
    },
    /// The private key is damaged.
    #[error("malformed SSH private key: {reason}")]
    MalformedPrivateKey {
        /// What is wrong (never the key).
        reason: &'static str,
    },
}

fn skipped_note(skipped: usize) -> String {
    match skipped {
        0 => String::new(),
        1 => " (1 key of another type was skipped)".into(),
        n => format!(" ({n} keys of other types were skipped)"),
    }
}

/// One converted public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertedKey {
    /// 1-based line number in the input.
    pub line: usize,
    /// The age recipient, `age1…`.
    pub recipient: String,
}

/// A public key that was not converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// 1-based line number in the input.
    pub line: usize,
    /// Its key type (`ssh-rsa`, …).
    pub key_type: String,
    /// True when the key was skipped because a known_hosts line marks it `@revoked`.
    pub revoked: bool,
}

impl fmt::Display for SkippedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.revoked {
            write!(
                f,
                "line {}: skipped {} key: marked @revoked",
                self.line, self.key_type
            )
        } else {
            write!(
                f,
                "line {}: skipped {} key: only ssh-ed25519 keys can be converted to age",
                self.line, self.key_type
            )
        }
    }
}

/// The result of converting a list of public keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicKeys {
    /// The `ssh-ed25519` keys, converted, in input order.
    pub converted: Vec<ConvertedKey>,
    /// Keys of other types (or revoked ones), in input order.
    pub skipped: Vec<SkippedKey>,
}

/// The age recipient (`age1…`) of a raw 32-byte Ed25519 public key; `None` when the bytes are
/// not a point on the curve or the point has small order (no usable X25519 key).
pub fn ed25519_public_key_to_age(key: &[u8; 32]) -> Option<String> {
    let point = CompressedEdwardsY(*key).decompress()?;
    if point.is_small_order() {
        return None;
    }
    let u = point.to_montgomery().to_bytes();
    bech32::encode::<Bech32>(Hrp::parse_unchecked("age"), &u).ok()
}

/// Converts every `ssh-ed25519` key in `input`: authorized_keys or known_hosts lines (options
/// or host patterns before the key type, `@cert-authority`, hashed hosts and comments are
/// allowed). Keys of other types are reported in [`PublicKeys::skipped`]; a line that holds no
/// key is an error, as is an input without any `ssh-ed25519` key.
pub fn public_keys_to_age(input: &[u8]) -> Result<PublicKeys, SshToAgeError> {
    let mut out = PublicKeys::default();
    for (i, raw) in input.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let Ok(text) = std::str::from_utf8(raw) else {
            return Err(SshToAgeError::NotAPublicKey { line });
        };
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        if text.starts_with("-----BEGIN") {
            return Err(SshToAgeError::PrivateKeyGiven { line });
        }
        let Some(found) = find_public_key(text) else {
            return Err(SshToAgeError::NotAPublicKey { line });
        };
        if found.key_type != ED25519 || found.revoked {
            out.skipped.push(SkippedKey {
                line,
                key_type: found.key_type,
                revoked: found.revoked,
            });
            continue;
        }
        let recipient = ed25519_from_blob(&found.blob)
            .and_then(|k| ed25519_public_key_to_age(&k))
            .ok_or(SshToAgeError::InvalidPublicKey { line })?;
        out.converted.push(ConvertedKey { line, recipient });
    }
    if out.converted.is_empty() {
        return Err(SshToAgeError::NoEd25519Key {
            skipped: out.skipped,
        });
    }
    Ok(out)
}

/// Converts an unencrypted ed25519 private key (OpenSSH format, or PKCS#8 `PRIVATE KEY`) to
/// its age identity, `AGE-SECRET-KEY-1…` (unclamped scalar, as ssh-to-age writes it).
pub fn private_key_to_age(input: &[u8]) -> Result<Zeroizing<String>, SshToAgeError> {
    let text = std::str::from_utf8(input).map_err(|_| SshToAgeError::NotAPrivateKey)?;
    let Some((label, body)) = pem_block(text)? else {
        let looks_public = text.lines().any(|l| find_public_key(l.trim()).is_some());
        return Err(if looks_public {
            SshToAgeError::PublicKeyGiven
        } else {
            SshToAgeError::NotAPrivateKey
        });
    };
    let seed = match label {
        "OPENSSH PRIVATE KEY" => openssh_ed25519_seed(&body)?,
        "PRIVATE KEY" => pkcs8_ed25519_seed(&body)?,
        "ENCRYPTED PRIVATE KEY" => return Err(SshToAgeError::Encrypted),
        "RSA PRIVATE KEY" => return Err(unsupported("ssh-rsa")),
        "DSA PRIVATE KEY" => return Err(unsupported("ssh-dss")),
        "EC PRIVATE KEY" => return Err(unsupported("ecdsa")),
        _ => return Err(SshToAgeError::NotAPrivateKey),
    };
    Ok(secret_from_seed(&seed))
}

fn unsupported(key_type: &str) -> SshToAgeError {
    SshToAgeError::UnsupportedKeyType {
        key_type: key_type.to_owned(),
    }
}

fn malformed(reason: &'static str) -> SshToAgeError {
    SshToAgeError::MalformedPrivateKey { reason }
}

/// The age identity string of an Ed25519 seed.
fn secret_from_seed(seed: &[u8; 32]) -> Zeroizing<String> {
    let mut hash = Sha512::digest(seed);
    let mut scalar = Zeroizing::new([0u8; 32]);
    scalar.copy_from_slice(&hash[..32]);
    hash.as_mut_slice().zeroize();
    // 16 (HRP + separator) + 52 (data) + 6 (checksum): no reallocation leaves copies behind.
    let mut out = Zeroizing::new(String::with_capacity(80));
    bech32::encode_upper_to_fmt::<Bech32, _>(
        &mut *out,
        Hrp::parse_unchecked("age-secret-key-"),
        &scalar[..],
    )
    .expect("32 bytes always fit a Bech32 string");
    out
}

/// The Ed25519 public key an OpenSSH/RFC 8032 seed belongs to.
fn public_from_seed(seed: &[u8; 32]) -> [u8; 32] {
    let mut hash = Sha512::digest(seed);
    let mut scalar = Zeroizing::new([0u8; 32]);
    scalar.copy_from_slice(&hash[..32]);
    hash.as_mut_slice().zeroize();
    EdwardsPoint::mul_base_clamped(*scalar)
        .compress()
        .to_bytes()
}

struct FoundKey {
    key_type: String,
    blob: Vec<u8>,
    revoked: bool,
}

/// Finds `TYPE BASE64` in an authorized_keys/known_hosts line: the first token followed by a
/// base64 blob whose own type string is that token. This skips options (even quoted ones with
/// spaces), markers and host patterns without having to parse them.
fn find_public_key(line: &str) -> Option<FoundKey> {
    let tokens: Vec<&str> = line.split_ascii_whitespace().collect();
    let revoked = tokens.first() == Some(&"@revoked");
    tokens.windows(2).find_map(|w| {
        let (ty, b64) = (w[0], w[1]);
        if !is_key_type_name(ty) {
            return None;
        }
        let blob = B64.decode(b64).ok()?;
        let inner = Reader(&blob).string().ok()?;
        (inner == ty.as_bytes()).then(|| FoundKey {
            key_type: ty.to_owned(),
            blob,
            revoked,
        })
    })
}

fn is_key_type_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
}

/// A key type read from a key blob, safe to show.
fn key_type_name(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) if is_key_type_name(s) => s.to_owned(),
        _ => "unknown".to_owned(),
    }
}

/// The 32 key bytes of an `ssh-ed25519` public key blob (`string type, string key`).
fn ed25519_from_blob(blob: &[u8]) -> Option<[u8; 32]> {
    let mut r = Reader(blob);
    if r.string().ok()? != ED25519.as_bytes() {
        return None;
    }
    let key: [u8; 32] = r.string().ok()?.try_into().ok()?;
    r.0.is_empty().then_some(key)
}

/// The first PEM block: its label and decoded body. `Ok(None)` when there is no BEGIN line.
#[allow(clippy::type_complexity)]
fn pem_block(text: &str) -> Result<Option<(&str, Zeroizing<Vec<u8>>)>, SshToAgeError> {
    let mut lines = text.lines().map(str::trim);
    let label = loop {
        match lines.next() {
            None => return Ok(None),
            Some(l) => {
                if let Some(label) = l
                    .strip_prefix("-----BEGIN ")
                    .and_then(|r| r.strip_suffix("-----"))
                {
                    break label;
                }
            }
        }
    };
    let mut b64 = Zeroizing::new(String::with_capacity(text.len()));
    let mut ended = false;
    let mut proc_encrypted = false;
    for l in lines {
        if let Some(end) = l
            .strip_prefix("-----END ")
            .and_then(|r| r.strip_suffix("-----"))
        {
            if end != label {
                return Err(malformed("BEGIN and END lines do not match"));
            }
            ended = true;
            break;
        }
        if l.contains(':') {
            // RFC 1421 headers of legacy PEM keys, e.g. `Proc-Type: 4,ENCRYPTED`.
            proc_encrypted |= l.starts_with("Proc-Type:") && l.contains("ENCRYPTED");
            continue;
        }
        b64.push_str(l);
    }
    if !ended {
        return Err(malformed("no END line"));
    }
    if proc_encrypted && label == "PRIVATE KEY" {
        return Err(SshToAgeError::Encrypted);
    }
    let mut body = Zeroizing::new(Vec::with_capacity(b64.len() / 4 * 3 + 3));
    B64.decode_vec(b64.as_bytes(), &mut body)
        .map_err(|_| malformed("the body is not valid base64"))?;
    Ok(Some((label, body)))
}

/// The seed of an `openssh-key-v1` ed25519 key (PROTOCOL.key in OpenSSH).
fn openssh_ed25519_seed(body: &[u8]) -> Result<Zeroizing<[u8; 32]>, SshToAgeError> {
    let truncated = || malformed("truncated");
    let rest = body
        .strip_prefix(OPENSSH_MAGIC)
        .ok_or(malformed("not an openssh-key-v1 key"))?;
    let mut r = Reader(rest);
    let cipher = r.string().map_err(|_| truncated())?;
    let kdf = r.string().map_err(|_| truncated())?;
    let _kdf_options = r.string().map_err(|_| truncated())?;
    if r.u32().map_err(|_| truncated())? != 1 {
        return Err(malformed("expected exactly one key"));
    }
    let public_blob = r.string().map_err(|_| truncated())?;
    let private = r.string().map_err(|_| truncated())?;

    let key_type = Reader(public_blob).string().map_err(|_| truncated())?;
    if key_type != ED25519.as_bytes() {
        return Err(unsupported(&key_type_name(key_type)));
    }
    if cipher != b"none" || kdf != b"none" {
        return Err(SshToAgeError::Encrypted);
    }
    let public = ed25519_from_blob(public_blob).ok_or(malformed("bad public key"))?;

    let mut p = Reader(private);
    let check1 = p.u32().map_err(|_| truncated())?;
    let check2 = p.u32().map_err(|_| truncated())?;
    if check1 != check2 {
        return Err(malformed("check numbers differ"));
    }
    if p.string().map_err(|_| truncated())? != ED25519.as_bytes() {
        return Err(malformed("private and public key types differ"));
    }
    let inner_public = p.string().map_err(|_| truncated())?;
    let keypair = p.string().map_err(|_| truncated())?;
    let _comment = p.string().map_err(|_| truncated())?;
    if !p
        .0
        .iter()
        .enumerate()
        .all(|(i, &b)| usize::from(b) == i + 1)
    {
        return Err(malformed("bad padding"));
    }
    if inner_public != public || keypair.len() != 64 || keypair[32..] != public {
        return Err(malformed("public key does not match the private key"));
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(&keypair[..32]);
    if public_from_seed(&seed) != public {
        return Err(malformed("public key does not match the private key"));
    }
    Ok(seed)
}

/// The seed of a PKCS#8 v1 Ed25519 key (`openssl genpkey -algorithm ed25519`).
fn pkcs8_ed25519_seed(body: &[u8]) -> Result<Zeroizing<[u8; 32]>, SshToAgeError> {
    match body.strip_prefix(&PKCS8_ED25519_PREFIX[..]) {
        Some(seed) if seed.len() == 32 => {
            let mut out = Zeroizing::new([0u8; 32]);
            out.copy_from_slice(seed);
            Ok(out)
        }
        _ if body.windows(3).any(|w| w == ED25519_OID) => {
            Err(malformed("unsupported PKCS#8 Ed25519 layout"))
        }
        _ => Err(unsupported("non-Ed25519 PKCS#8")),
    }
}

/// Reads SSH wire-format values (RFC 4251 §5).
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Result<u32, ()> {
        let (head, rest) = self.0.split_first_chunk::<4>().ok_or(())?;
        self.0 = rest;
        Ok(u32::from_be_bytes(*head))
    }

    fn string(&mut self) -> Result<&'a [u8], ()> {
        let len = self.u32()? as usize;
        if self.0.len() < len {
            return Err(());
        }
        let (s, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    // ssh-to-age's own TEST key pair and its published results (cmd/ssh-to-age/test-assets),
    // kept with the other test keys in fixtures/ssh-to-age (see its README).
    const KEY: &str = include_str!("../../../fixtures/ssh-to-age/id_ed25519");
    const PUB: &str = include_str!("../../../fixtures/ssh-to-age/id_ed25519.pub");
    const AGE_SECRET: &str =
        "AGE-SECRET-KEY-1K3VN4N03PTHJWSJSCCMQCN33RY5FSKQPJ4KRRTG3JMQUYE0TUSEQEDH6V8";
    const AGE_PUBLIC: &str = "age17044m9wgakla6pzftf4srtl3h5mcsr85jysgt5fg23zpnta8sfdqhzn452";

    fn ssh_string(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s);
    }

    fn public_blob(key: &[u8; 32]) -> Vec<u8> {
        let mut b = Vec::new();
        ssh_string(&mut b, ED25519.as_bytes());
        ssh_string(&mut b, key);
        b
    }

    /// An unencrypted openssh-key-v1 file for `seed`, laid out as ssh-keygen writes it.
    fn openssh_key(seed: &[u8; 32], cipher: &str) -> String {
        let public = public_from_seed(seed);
        let mut private = Vec::new();
        private.extend_from_slice(&[0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56, 0x78]);
        ssh_string(&mut private, ED25519.as_bytes());
        ssh_string(&mut private, &public);
        let mut keypair = seed.to_vec();
        keypair.extend_from_slice(&public);
        ssh_string(&mut private, &keypair);
        ssh_string(&mut private, b"test");
        let mut pad = 1u8;
        while private.len() % 8 != 0 {
            private.push(pad);
            pad += 1;
        }
        let mut body = OPENSSH_MAGIC.to_vec();
        ssh_string(&mut body, cipher.as_bytes());
        ssh_string(
            &mut body,
            if cipher == "none" { b"none" } else { b"bcrypt" },
        );
        ssh_string(&mut body, b"");
        body.extend_from_slice(&1u32.to_be_bytes());
        ssh_string(&mut body, &public_blob(&public));
        ssh_string(&mut body, &private);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&body);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(70)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn published_vectors() {
        assert_eq!(&*private_key_to_age(KEY.as_bytes()).unwrap(), AGE_SECRET);
        let out = public_keys_to_age(PUB.as_bytes()).unwrap();
        assert_eq!(
            out.converted,
            vec![ConvertedKey {
                line: 1,
                recipient: AGE_PUBLIC.into()
            }]
        );
        assert!(out.skipped.is_empty());
    }

    #[test]
    fn private_is_unclamped_and_age_accepts_it() {
        let secret = private_key_to_age(KEY.as_bytes()).unwrap();
        let id = age::x25519::Identity::from_str(&secret).unwrap();
        assert_eq!(id.to_public().to_string(), AGE_PUBLIC);
        // The unclamped scalar round-trips through age's own encoding unchanged.
        use secrecy::ExposeSecret;
        assert_eq!(id.to_string().expose_secret(), &*secret);
    }

    #[test]
    fn generated_keys_agree_both_ways() {
        for i in 0..32u8 {
            let mut seed = [0u8; 32];
            seed.iter_mut()
                .enumerate()
                .for_each(|(j, b)| *b = i.wrapping_mul(31) ^ (j as u8).wrapping_mul(7));
            let key = openssh_key(&seed, "none");
            let secret = private_key_to_age(key.as_bytes()).unwrap();
            let id = age::x25519::Identity::from_str(&secret).unwrap();
            let public = ed25519_public_key_to_age(&public_from_seed(&seed)).unwrap();
            assert_eq!(id.to_public().to_string(), public);
        }
    }

    #[test]
    fn known_hosts_options_and_skips() {
        let blob = B64.encode(public_blob(&public_from_seed(&[9; 32])));
        let rsa = B64.encode({
            let mut b = Vec::new();
            ssh_string(&mut b, b"ssh-rsa");
            ssh_string(&mut b, &[1, 0, 1]);
            ssh_string(&mut b, &[0xc5; 64]);
            b
        });
        let input = format!(
            "# comment\n\
             \n\
             host1,10.0.0.1 ssh-rsa {rsa}\n\
             |1|c2FsdA==|aGFzaA== ssh-ed25519 {blob}\n\
             command=\"echo ssh-ed25519 x\",no-pty ssh-ed25519 {blob} me@host\r\n\
             @revoked * ssh-ed25519 {blob}\n\
             @cert-authority *.example ssh-ed25519 {blob}\n"
        );
        let out = public_keys_to_age(input.as_bytes()).unwrap();
        let want = ed25519_public_key_to_age(&public_from_seed(&[9; 32])).unwrap();
        let lines: Vec<usize> = out.converted.iter().map(|c| c.line).collect();
        assert_eq!(lines, vec![4, 5, 7]);
        assert!(out.converted.iter().all(|c| c.recipient == want));
        assert_eq!(out.skipped.len(), 2);
        assert_eq!(
            out.skipped[0].to_string(),
            "line 3: skipped ssh-rsa key: only ssh-ed25519 keys can be converted to age"
        );
        assert!(out.skipped[1].revoked);
        assert_eq!(out.skipped[1].line, 6);
    }

    #[test]
    fn public_errors_name_lines_only() {
        let rsa_only = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAQQDFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXFxcXF\n";
        assert_eq!(
            public_keys_to_age(rsa_only.as_bytes()),
            Err(SshToAgeError::NoEd25519Key {
                skipped: vec![SkippedKey {
                    line: 1,
                    key_type: "ssh-rsa".into(),
                    revoked: false
                }]
            })
        );
        assert_eq!(
            public_keys_to_age(rsa_only.as_bytes())
                .unwrap_err()
                .to_string(),
            "no ssh-ed25519 public key in the input (1 key of another type was skipped)"
        );
        assert_eq!(
            public_keys_to_age(b"\n# only a comment\n"),
            Err(SshToAgeError::NoEd25519Key { skipped: vec![] })
        );
        let e = public_keys_to_age(format!("{PUB}garbage SECRETSTUFF\n").as_bytes()).unwrap_err();
        assert_eq!(e, SshToAgeError::NotAPublicKey { line: 2 });
        assert!(!e.to_string().contains("SECRETSTUFF"));
        assert_eq!(
            public_keys_to_age(KEY.as_bytes()),
            Err(SshToAgeError::PrivateKeyGiven { line: 1 })
        );
        // Not a curve point (y = 2 has no x on Ed25519).
        let mut bad = [0u8; 32];
        bad[0] = 2;
        assert!(CompressedEdwardsY(bad).decompress().is_none());
        let line = format!("ssh-ed25519 {}\n", B64.encode(public_blob(&bad)));
        assert_eq!(
            public_keys_to_age(line.as_bytes()),
            Err(SshToAgeError::InvalidPublicKey { line: 1 })
        );
        // The identity point (small order).
        let mut ident = [0u8; 32];
        ident[0] = 1;
        assert_eq!(ed25519_public_key_to_age(&ident), None);
    }

    #[test]
    fn private_errors() {
        assert_eq!(
            private_key_to_age(b"garbage").unwrap_err(),
            SshToAgeError::NotAPrivateKey
        );
        assert_eq!(
            private_key_to_age(PUB.as_bytes()).unwrap_err(),
            SshToAgeError::PublicKeyGiven
        );
        assert_eq!(
            private_key_to_age(openssh_key(&[3; 32], "aes256-ctr").as_bytes()).unwrap_err(),
            SshToAgeError::Encrypted
        );
        assert_eq!(
            private_key_to_age(
                b"-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"
            )
            .unwrap_err(),
            SshToAgeError::UnsupportedKeyType {
                key_type: "ssh-rsa".into()
            }
        );
        // Truncated body.
        let cut: String = KEY
            .lines()
            .take(3)
            .chain(KEY.lines().last())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(matches!(
            private_key_to_age(cut.as_bytes()),
            Err(SshToAgeError::MalformedPrivateKey { .. })
        ));
        // A flipped byte in the seed no longer matches the public key.
        let mut body = B64
            .decode(
                KEY.lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<String>(),
            )
            .unwrap();
        let pos = body.len() - 60;
        body[pos] ^= 1;
        let damaged = format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
            B64.encode(&body)
        );
        assert_eq!(
            private_key_to_age(damaged.as_bytes()).unwrap_err(),
            malformed("public key does not match the private key")
        );
    }

    #[test]
    fn pkcs8_ed25519() {
        let seed = [5u8; 32];
        let mut der = PKCS8_ED25519_PREFIX.to_vec();
        der.extend_from_slice(&seed);
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            B64.encode(&der)
        );
        let from_pkcs8 = private_key_to_age(pem.as_bytes()).unwrap();
        let from_openssh = private_key_to_age(openssh_key(&seed, "none").as_bytes()).unwrap();
        assert_eq!(from_pkcs8, from_openssh);
    }
}
