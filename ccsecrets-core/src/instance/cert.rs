//! Certificate checks: the chain parses and is leaf first, the key matches the leaf, the SANs
//! cover the domain, the dates and the key type are acceptable.
//!
//! Certificates are parsed with `x509-parser` (signatures verified with its `ring` backend);
//! the private key is loaded by rustls's `ring` provider, which derives its public key so it
//! can be compared with the leaf's SubjectPublicKeyInfo. Everything reported is public:
//! subjects, fingerprints, serials, dates, SANs, key types.

use std::time::{SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
};
use x509_parser::prelude::FromDer;

use super::validate::{Finding, Severity};

/// The public facts of one certificate (what `cert renew` writes in its commit message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject distinguished name (`CN=*.ci.example.test`).
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Serial number, lowercase hex, `:`-separated (`8c:98:…`).
    pub serial: String,
    /// SHA-256 of the DER certificate, lowercase hex.
    pub sha256: String,
    /// notBefore, seconds since the Unix epoch.
    pub not_before: i64,
    /// notAfter, seconds since the Unix epoch.
    pub not_after: i64,
    /// DNS subject alternative names, in certificate order.
    pub dns_names: Vec<String>,
    /// The subject public key's type and size.
    pub key: KeyKind,
    /// basicConstraints CA flag.
    pub is_ca: bool,
}

/// A certificate's public key type.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyKind {
    /// RSA with a modulus of this many bits.
    Rsa(usize),
    /// ECDSA on NIST P-256.
    P256,
    /// ECDSA on NIST P-384.
    P384,
    /// ECDSA on NIST P-521.
    P521,
    /// Ed25519.
    Ed25519,
    /// Anything else (the algorithm OID, dotted).
    Other(String),
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyKind::Rsa(bits) => write!(f, "RSA {bits}"),
            KeyKind::P256 => f.write_str("EC P-256"),
            KeyKind::P384 => f.write_str("EC P-384"),
            KeyKind::P521 => f.write_str("EC P-521"),
            KeyKind::Ed25519 => f.write_str("Ed25519"),
            KeyKind::Other(oid) => write!(f, "key algorithm {oid}"),
        }
    }
}

impl KeyKind {
    /// `None` when acceptable for the leaf (RSA ≥ 2048, P-256, P-384, Ed25519), else why not.
    pub fn unacceptable(&self) -> Option<String> {
        match self {
            KeyKind::Rsa(bits) if *bits >= 2048 => None,
            KeyKind::Rsa(bits) => {
                Some(format!("RSA key of {bits} bits is too small (need ≥ 2048)"))
            }
            KeyKind::P256 | KeyKind::P384 | KeyKind::Ed25519 => None,
            other => Some(format!(
                "{other} is not accepted (use RSA ≥ 2048, EC P-256/P-384 or Ed25519)"
            )),
        }
    }
}

impl CertInfo {
    /// Reads the public facts of a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<CertInfo, String> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
        Ok(info(&cert, der))
    }

    /// `notAfter` as `YYYY-MM-DD HH:MM:SS UTC`.
    pub fn not_after_utc(&self) -> String {
        format_utc(self.not_after)
    }

    /// `notBefore` as `YYYY-MM-DD HH:MM:SS UTC`.
    pub fn not_before_utc(&self) -> String {
        format_utc(self.not_before)
    }
}

fn info(cert: &X509Certificate<'_>, der: &[u8]) -> CertInfo {
    let mut dns_names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(d) = name {
                dns_names.push(d.to_string());
            }
        }
    }
    let spki = cert.public_key();
    let alg = &spki.algorithm.algorithm;
    let key = if *alg == OID_PKCS1_RSAENCRYPTION {
        KeyKind::Rsa(spki.parsed().map(|k| k.key_size()).unwrap_or(0))
    } else if *alg == OID_SIG_ED25519 {
        KeyKind::Ed25519
    } else if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        match curve {
            Some(c) if c == OID_EC_P256 => KeyKind::P256,
            Some(c) if c == OID_NIST_EC_P384 => KeyKind::P384,
            Some(c) if c == OID_NIST_EC_P521 => KeyKind::P521,
            Some(c) => KeyKind::Other(format!("EC curve {c}")),
            None => KeyKind::Other("EC without a named curve".into()),
        }
    } else {
        KeyKind::Other(alg.to_id_string())
    };
    CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: serial_hex(cert.raw_serial()),
        sha256: hex(&Sha256::digest(der)),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        dns_names,
        key,
        is_ca: cert.is_ca(),
    }
}

/// The serial as openssl prints it: without DER's leading sign byte.
fn serial_hex(raw: &[u8]) -> String {
    let raw = match raw {
        [0, next, ..] if next & 0x80 != 0 => &raw[1..],
        _ => raw,
    };
    raw.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian).
pub fn format_utc(secs: i64) -> String {
    // `YYYY-MM-DDTHH:MM:SSZ` → `YYYY-MM-DD HH:MM:SS UTC`.
    let rfc3339 = crate::sops::metadata::format_unix_utc(secs);
    let body = rfc3339.strip_suffix('Z').unwrap_or(&rfc3339);
    format!("{} UTC", body.replacen('T', " ", 1))
}

/// Seconds since the epoch (negative before 1970).
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Parses a PEM chain into DER certificates. Errors name the position, never content.
pub fn parse_pem_chain(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut out = Vec::new();
    for (i, item) in CertificateDer::pem_slice_iter(pem.as_bytes()).enumerate() {
        match item {
            Ok(der) => out.push(der),
            Err(e) => return Err(format!("PEM block #{} is malformed: {e}", i + 1)),
        }
    }
    if out.is_empty() {
        return Err("no `-----BEGIN CERTIFICATE-----` block found".into());
    }
    Ok(out)
}

/// The public facts of every certificate of a PEM chain, leaf first.
pub fn inspect_chain(pem: &str) -> Result<Vec<CertInfo>, String> {
    parse_pem_chain(pem)?
        .iter()
        .enumerate()
        .map(|(i, der)| {
            CertInfo::from_der(der)
                .map_err(|e| format!("certificate #{} does not parse: {e}", i + 1))
        })
        .collect()
}

/// True when `san` (a DNS SAN, maybe `*.` wildcard) covers `name` (maybe itself `*.…`).
/// A wildcard covers exactly one label; a wildcard name is only covered by the same wildcard.
pub fn san_covers(san: &str, name: &str) -> bool {
    let (san, name) = (san.to_ascii_lowercase(), name.to_ascii_lowercase());
    if san == name {
        return true;
    }
    match (san.strip_prefix("*."), name.starts_with("*.")) {
        (Some(parent), false) => name
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        _ => false,
    }
}

/// The checks on `tls.fullchain` (and `tls.privkey`, when given): every finding, and the
/// leaf's facts when the chain parsed.
pub(crate) fn check_tls(
    fullchain: &str,
    privkey: Option<&str>,
    domain: &str,
    now: i64,
    warn_days: u32,
    out: &mut Vec<Finding>,
) -> Option<CertInfo> {
    const FC: &str = "tls.fullchain";
    let mut push = |severity, secret: &str, message: String| {
        out.push(Finding {
            severity,
            secret: secret.to_owned(),
            message,
        })
    };
    if fullchain.contains("PRIVATE KEY-----") {
        push(
            Severity::Error,
            FC,
            "holds a private key block; the chain file is installed world-readable, the key \
             belongs in tls.privkey only"
                .into(),
        );
    }
    let ders = match parse_pem_chain(fullchain) {
        Ok(d) => d,
        Err(e) => {
            push(Severity::Error, FC, e);
            return None;
        }
    };
    let mut certs = Vec::new();
    for (i, der) in ders.iter().enumerate() {
        match X509Certificate::from_der(der) {
            Ok((_, c)) => certs.push(c),
            Err(e) => {
                push(
                    Severity::Error,
                    FC,
                    format!("certificate #{} does not parse: {e}", i + 1),
                );
                return None;
            }
        }
    }
    let infos: Vec<CertInfo> = certs.iter().zip(&ders).map(|(c, d)| info(c, d)).collect();
    let leaf = &infos[0];

    // Order: each certificate is issued (name and signature) by the next one.
    for i in 0..certs.len().saturating_sub(1) {
        let (c, next) = (&certs[i], &certs[i + 1]);
        let named = c.issuer().as_raw() == next.subject().as_raw();
        let signed = named && c.verify_signature(Some(next.public_key())).is_ok();
        if !signed {
            let why = if named {
                "its signature does not verify with that certificate's key"
            } else {
                "its issuer is not that certificate's subject"
            };
            let mut msg = format!(
                "chain order: certificate #{} ({}) is not issued by certificate #{} ({}): {why}; \
                 the chain must be leaf first, each certificate followed by its issuer",
                i + 1,
                infos[i].subject,
                i + 2,
                infos[i + 1].subject
            );
            if leaf.is_ca && infos.iter().any(|c| !c.is_ca) {
                msg.push_str(" (the first certificate is a CA: is the chain reversed?)");
            }
            push(Severity::Error, FC, msg);
            break;
        }
    }
    if certs.len() == 1 && leaf.subject != leaf.issuer {
        push(
            Severity::Warning,
            FC,
            format!(
                "holds only the leaf; clients may need the intermediate certificate(s) of {}",
                leaf.issuer
            ),
        );
    }
    if leaf.is_ca {
        push(
            Severity::Error,
            FC,
            format!(
                "the first certificate ({}) is a CA certificate, not a server leaf",
                leaf.subject
            ),
        );
    }

    // Names.
    for want in [format!("*.{domain}"), domain.to_owned()] {
        if !leaf.dns_names.iter().any(|san| san_covers(san, &want)) {
            let have = if leaf.dns_names.is_empty() {
                "it has no DNS SAN".to_owned()
            } else {
                format!("its SANs are {}", leaf.dns_names.join(", "))
            };
            push(
                Severity::Error,
                FC,
                format!(
                    "leaf {} (sha256 {}) does not cover {want}: {have}",
                    leaf.subject, leaf.sha256
                ),
            );
        }
    }

    // Dates, for every certificate of the chain.
    for (i, c) in infos.iter().enumerate() {
        let which = if i == 0 {
            format!("leaf {}", c.subject)
        } else {
            format!("certificate #{} ({})", i + 1, c.subject)
        };
        if c.not_after < now {
            push(
                Severity::Error,
                FC,
                format!("{which} expired on {}", c.not_after_utc()),
            );
        } else if c.not_before > now {
            push(
                Severity::Error,
                FC,
                format!("{which} is not valid before {}", c.not_before_utc()),
            );
        } else {
            let days_left = (c.not_after - now) / 86_400;
            if days_left < i64::from(warn_days) {
                push(
                    Severity::Warning,
                    FC,
                    format!(
                        "{which} expires in {days_left} days, on {} (warning window: {warn_days} days)",
                        c.not_after_utc()
                    ),
                );
            }
        }
    }

    // Key type.
    if let Some(why) = leaf.key.unacceptable() {
        push(Severity::Error, FC, format!("leaf {}: {why}", leaf.subject));
    }

    // The private key matches the leaf.
    if let Some(key_pem) = privkey {
        check_key(key_pem, &ders[0], leaf, out);
    }
    Some(infos.into_iter().next().expect("the chain has a leaf"))
}

fn check_key(
    key_pem: &str,
    leaf_der: &CertificateDer<'_>,
    leaf: &CertInfo,
    out: &mut Vec<Finding>,
) {
    const PK: &str = "tls.privkey";
    let mut push = |severity, message: String| {
        out.push(Finding {
            severity,
            secret: PK.into(),
            message,
        })
    };
    if key_pem.contains("ENCRYPTED PRIVATE KEY") || key_pem.contains("Proc-Type: 4,ENCRYPTED") {
        push(
            Severity::Error,
            "is passphrase-protected; the host cannot unlock it (store it unencrypted: sops \
             already encrypts it)"
                .into(),
        );
        return;
    }
    let key = match PrivateKeyDer::from_pem_slice(key_pem.as_bytes()) {
        Ok(k) => k,
        Err(_) => {
            push(
                Severity::Error,
                "is not a PEM private key (PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY` or \
                 PKCS#1 `RSA PRIVATE KEY`)"
                    .into(),
            );
            return;
        }
    };
    let provider = rustls::crypto::ring::default_provider();
    let signing_key = match provider.key_provider.load_private_key(key) {
        Ok(k) => k,
        Err(_) => {
            push(
                Severity::Error,
                "is malformed or of an unsupported type (RSA, EC P-256/P-384 or Ed25519)".into(),
            );
            return;
        }
    };
    let certified =
        rustls::sign::CertifiedKey::new(vec![leaf_der.clone().into_owned()], signing_key);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => push(
            Severity::Error,
            format!(
                "does not match the leaf certificate {} (sha256 {}): its public key differs \
                 from the leaf's",
                leaf.subject, leaf.sha256
            ),
        ),
        Err(rustls::Error::InconsistentKeys(_)) => push(
            Severity::Warning,
            "could not derive the public key of this key type to compare it with the leaf".into(),
        ),
        Err(e) => push(
            Severity::Error,
            format!("could not compare with the leaf certificate: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_drop_the_sign_byte() {
        assert_eq!(serial_hex(&[0, 0x8c, 0x01]), "8c:01");
        assert_eq!(serial_hex(&[0x01, 0x02]), "01:02");
        assert_eq!(serial_hex(&[0]), "00");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(2_111_000_000), "2036-11-22 20:53:20 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn wildcards_cover_one_label() {
        assert!(san_covers("*.ci.example.test", "*.ci.example.test"));
        assert!(san_covers("CI.example.test", "ci.EXAMPLE.test"));
        assert!(san_covers("*.example.test", "ci.example.test"));
        assert!(!san_covers("*.example.test", "*.ci.example.test"));
        assert!(!san_covers("*.ci.example.test", "ci.example.test"));
        assert!(!san_covers("*.ci.example.test", "a.b.ci.example.test"));
        assert!(!san_covers("ci.example.test", "*.ci.example.test"));
    }

    #[test]
    fn key_sizes() {
        assert!(KeyKind::Rsa(2048).unacceptable().is_none());
        assert!(KeyKind::Rsa(4096).unacceptable().is_none());
        assert!(KeyKind::Rsa(1024).unacceptable().unwrap().contains("1024"));
        assert!(KeyKind::P256.unacceptable().is_none());
        assert!(KeyKind::P384.unacceptable().is_none());
        assert!(KeyKind::Ed25519.unacceptable().is_none());
        assert!(KeyKind::P521.unacceptable().is_some());
        assert!(KeyKind::Other("1.2.3".into()).unacceptable().is_some());
    }
}
