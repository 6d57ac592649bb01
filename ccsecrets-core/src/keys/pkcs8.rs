//! PKCS#8 RSA private keys (`-----BEGIN PRIVATE KEY-----`, what `openssl genpkey` and
//! `ssh-keygen -m PKCS8` write) as SSH identities.
//!
//! sops reads SSH keys with Go's `ssh.ParseRawPrivateKey`, which takes OpenSSH, PKCS#1 and
//! PKCS#8 keys; age's SSH identity parser takes only the first two. A PKCS#8 `PrivateKeyInfo`
//! for RSA wraps the PKCS#1 `RSAPrivateKey` in an OCTET STRING (RFC 5208 §5), so the key is
//! handed to age as the PKCS#1 PEM block holding exactly those bytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::Zeroizing;

/// DER of the rsaEncryption OID, 1.2.840.113549.1.1.1.
const RSA_ENCRYPTION: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// What a PEM text holds, as far as PKCS#8 goes.
#[derive(Debug, PartialEq)]
pub(crate) enum Pkcs8 {
    /// No PKCS#8 block at all (an OpenSSH or PKCS#1 key, or garbage): left to age.
    Absent,
    /// A passphrase-protected PKCS#8 key (`ENCRYPTED PRIVATE KEY`).
    Encrypted,
    /// A PKCS#8 key that is not RSA, or does not parse.
    Unsupported,
}

/// The PKCS#1 PEM form of a PKCS#8 RSA private key in `text`, or why there is none.
pub(crate) fn rsa_as_pkcs1_pem(text: &[u8]) -> Result<Zeroizing<String>, Pkcs8> {
    let text = std::str::from_utf8(text).map_err(|_| Pkcs8::Absent)?;
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(Pkcs8::Encrypted);
    }
    let body = pem_body(text, "PRIVATE KEY").ok_or(Pkcs8::Absent)?;
    let der = Zeroizing::new(
        STANDARD
            .decode(body.as_bytes())
            .map_err(|_| Pkcs8::Unsupported)?,
    );
    let pkcs1 = rsa_private_key(&der).ok_or(Pkcs8::Unsupported)?;
    let b64 = Zeroizing::new(STANDARD.encode(pkcs1));
    let mut pem = Zeroizing::new(String::with_capacity(b64.len() + b64.len() / 64 + 64));
    pem.push_str("-----BEGIN RSA PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END RSA PRIVATE KEY-----\n");
    Ok(pem)
}

/// The base64 text between `-----BEGIN LABEL-----` and `-----END LABEL-----`.
fn pem_body(text: &str, label: &str) -> Option<Zeroizing<String>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut lines = text.lines().map(str::trim);
    lines.find(|l| *l == begin)?;
    // Sized up front: a growing String would leave copies of the key in freed memory.
    let mut body = Zeroizing::new(String::with_capacity(text.len()));
    for l in lines {
        if l == end {
            return Some(body);
        }
        body.push_str(l);
    }
    None
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 v1/v2 `PrivateKeyInfo` for rsaEncryption.
fn rsa_private_key(der: &[u8]) -> Option<&[u8]> {
    let (tag, info, rest) = tlv(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (tag, version, info) = tlv(info)?;
    if tag != 0x02 || !matches!(version, [0] | [1]) {
        return None;
    }
    let (tag, algorithm, info) = tlv(info)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, oid, _params) = tlv(algorithm)?;
    if tag != 0x06 || oid != RSA_ENCRYPTION {
        return None;
    }
    let (tag, key, _attributes) = tlv(info)?;
    (tag == 0x04).then_some(key)
}

/// One DER tag-length-value: (tag, content, the bytes after it).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &x| (acc << 8) | usize::from(x));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `PrivateKeyInfo` around `inner` for the algorithm `oid` (not a real key: the
    /// conversion only moves bytes; the real keys are tested against sops in tests/).
    fn info(oid: &[u8], inner: &[u8]) -> Vec<u8> {
        let mut alg = vec![0x06, oid.len() as u8];
        alg.extend_from_slice(oid);
        alg.extend_from_slice(&[0x05, 0x00]);
        let mut body = vec![0x02, 0x01, 0x00, 0x30, alg.len() as u8];
        body.extend_from_slice(&alg);
        body.push(0x04);
        if inner.len() < 0x80 {
            body.push(inner.len() as u8);
        } else {
            body.extend_from_slice(&[0x82, (inner.len() >> 8) as u8, inner.len() as u8]);
        }
        body.extend_from_slice(inner);
        let mut out = vec![0x30, 0x82, (body.len() >> 8) as u8, body.len() as u8];
        out.extend_from_slice(&body);
        out
    }

    fn pem(der: &[u8]) -> String {
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(der)
        )
    }

    #[test]
    fn rsa_key_is_rewrapped_as_pkcs1() {
        let inner: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let out = rsa_as_pkcs1_pem(pem(&info(&RSA_ENCRYPTION, &inner)).as_bytes()).unwrap();
        let body = pem_body(&out, "RSA PRIVATE KEY").unwrap();
        assert_eq!(STANDARD.decode(body.as_bytes()).unwrap(), inner);
        assert!(out.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
    }

    #[test]
    fn other_inputs_are_told_apart() {
        let ed25519_oid = [0x2b, 0x65, 0x70];
        assert_eq!(
            rsa_as_pkcs1_pem(pem(&info(&ed25519_oid, &[4, 32])).as_bytes()).unwrap_err(),
            Pkcs8::Unsupported
        );
        assert_eq!(
            rsa_as_pkcs1_pem(
                b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
            )
            .unwrap_err(),
            Pkcs8::Absent
        );
        assert_eq!(
            rsa_as_pkcs1_pem(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
                .unwrap_err(),
            Pkcs8::Encrypted
        );
        assert_eq!(
            rsa_as_pkcs1_pem(b"-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----\n")
                .unwrap_err(),
            Pkcs8::Unsupported
        );
        // Truncated DER.
        let der = info(&RSA_ENCRYPTION, &[1, 2, 3]);
        assert_eq!(
            rsa_as_pkcs1_pem(pem(&der[..der.len() - 1]).as_bytes()).unwrap_err(),
            Pkcs8::Unsupported
        );
    }
}
