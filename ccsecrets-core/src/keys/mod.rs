//! Keys: age recipients and identities (X25519 and SSH), and wrapping the data key for them
//! exactly as sops does (one armored, single-recipient age file per recipient).
//!
//! Identity *discovery* (environment variables, default files) is the CLI's job; this module
//! parses what it is handed.

mod pkcs8;
pub mod shamir;
pub mod ssh_to_age;

use std::fmt;
use std::io::{BufReader, Read};
use std::str::FromStr;

use zeroize::Zeroizing;

/// An age recipient as sops stores it: the parsed key and its exact string form.
#[derive(Clone)]
pub struct Recipient {
    text: String,
    kind: RecipientKind,
}

#[derive(Clone)]
enum RecipientKind {
    X25519(age::x25519::Recipient),
    Ssh(age::ssh::Recipient),
}

/// A recipient string could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid age recipient {recipient:?}: {reason}")]
pub struct RecipientError {
    /// The recipient as given (public, safe to show).
    pub recipient: String,
    /// Why it was refused.
    pub reason: String,
}

impl FromStr for Recipient {
    type Err = RecipientError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // A private key pasted where a recipient belongs must not be echoed back.
        if looks_private(s) {
            return Err(RecipientError {
                recipient: "<redacted>".into(),
                reason: "this is a private key, not a public recipient (use its age1… or \
                         ssh-… public key; the private key belongs in a key file)"
                    .into(),
            });
        }
        let text = s.trim().to_owned();
        let err = |reason: &str| RecipientError {
            recipient: text.clone(),
            reason: reason.into(),
        };
        let kind = if text.starts_with("age1pq1") {
            return Err(err("post-quantum age recipients are not supported"));
        } else if let Some(rest) = text.strip_prefix("age1") {
            if rest.contains('1') {
                return Err(err("age plugin recipients are not supported"));
            }
            RecipientKind::X25519(text.parse().map_err(|e: &str| err(e))?)
        } else if text.starts_with("ssh-") {
            RecipientKind::Ssh(
                text.parse()
                    .map_err(|_| err("not a valid ssh-ed25519 or ssh-rsa public key"))?,
            )
        } else {
            return Err(err("expected an age1… or ssh-… public key"));
        };
        Ok(Recipient { text, kind })
    }
}

/// True for text holding an age secret key or a PEM/OpenSSH private key.
fn looks_private(text: &str) -> bool {
    let has = |needle: &[u8]| {
        text.as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    has(b"AGE-SECRET-KEY-") || has(b"PRIVATE KEY")
}

impl Recipient {
    /// The recipient exactly as written in the file or policy.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for `ssh-ed25519`/`ssh-rsa` recipients.
    pub fn is_ssh(&self) -> bool {
        matches!(self.kind, RecipientKind::Ssh(_))
    }

    fn as_age(&self) -> &dyn age::Recipient {
        match &self.kind {
            RecipientKind::X25519(r) => r,
            RecipientKind::Ssh(r) => r,
        }
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({})", self.text)
    }
}

impl PartialEq for Recipient {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// A private key that may open sops data keys. Never printed; only its public form is.
pub struct Identity {
    inner: Box<dyn age::Identity + Send + Sync>,
    public: String,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity(public: {})", self.public)
    }
}

/// Identities could not be read from a source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A line is not an age identity (the line itself is never shown).
    #[error("{source_name}: line {line} is not an age identity (expected AGE-SECRET-KEY-1…)")]
    BadLine {
        /// Where the identities came from (a path or variable name).
        source_name: String,
        /// 1-based line number.
        line: usize,
    },
    /// An SSH private key could not be used.
    #[error("{source_name}: {reason}")]
    Ssh {
        /// Where the key came from.
        source_name: String,
        /// Why it was refused.
        reason: String,
    },
}

impl Identity {
    /// The public recipient of this identity (`age1…` or the SSH public key).
    pub fn public(&self) -> &str {
        &self.public
    }

    /// Generates a new X25519 identity; returns it with its secret `AGE-SECRET-KEY-1…` text.
    pub fn generate() -> (Identity, Zeroizing<String>) {
        use secrecy::ExposeSecret;
        let id = age::x25519::Identity::generate();
        let secret = Zeroizing::new(id.to_string().expose_secret().to_owned());
        let public = id.to_public().to_string();
        (
            Identity {
                inner: Box::new(id),
                public,
            },
            secret,
        )
    }

    /// Parses sops's key list format: one identity per line, `#` comments and blank lines
    /// ignored, `\r\n` tolerated. `source_name` names the source in errors.
    pub fn parse_list(text: &str, source_name: &str) -> Result<Vec<Identity>, IdentityError> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r').trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || IdentityError::BadLine {
                source_name: source_name.to_owned(),
                line: i + 1,
            };
            if !line.starts_with("AGE-SECRET-KEY-1") {
                return Err(bad());
            }
            let id: age::x25519::Identity = line.parse().map_err(|_| bad())?;
            let public = id.to_public().to_string();
            out.push(Identity {
                inner: Box::new(id),
                public,
            });
        }
        Ok(out)
    }

    /// Reads an OpenSSH private key (ed25519 or RSA, unencrypted) as an age identity.
    pub fn from_ssh_private_key(
        bytes: &[u8],
        source_name: &str,
    ) -> Result<Identity, IdentityError> {
        let err = |reason: &str| IdentityError::Ssh {
            source_name: source_name.to_owned(),
            reason: reason.into(),
        };
        // PKCS#8 RSA keys (which sops reads) go to age in their PKCS#1 form.
        let converted = match pkcs8::rsa_as_pkcs1_pem(bytes) {
            Ok(pem) => Some(pem),
            Err(pkcs8::Pkcs8::Absent) => None,
            Err(pkcs8::Pkcs8::Encrypted) => {
                return Err(err("passphrase-protected SSH keys are not supported; decrypt the key or use an age identity"))
            }
            Err(pkcs8::Pkcs8::Unsupported) => {
                return Err(err("unsupported PKCS#8 key (only RSA keys are read in this form)"))
            }
        };
        let bytes = converted.as_ref().map_or(bytes, |pem| pem.as_bytes());
        let id = age::ssh::Identity::from_buffer(BufReader::new(bytes), Some(source_name.into()))
            .map_err(|_| err("not a supported OpenSSH private key"))?;
        match &id {
            age::ssh::Identity::Unencrypted(_) => {}
            age::ssh::Identity::Encrypted(_) => {
                return Err(err("passphrase-protected SSH keys are not supported; decrypt the key or use an age identity"))
            }
            age::ssh::Identity::Unsupported(_) => return Err(err("unsupported SSH key type")),
        }
        let public = age::ssh::Recipient::try_from(id.clone())
            .map(|r| r.to_string())
            .map_err(|_| err("cannot derive the public key"))?;
        Ok(Identity {
            inner: Box::new(id),
            public,
        })
    }
}

/// The data key could not be wrapped for or unwrapped from a recipient.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WrapError {
    /// age refused to encrypt to the recipient.
    #[error("could not encrypt the data key to {0}")]
    Encrypt(String),
    /// None of the identities opens the stanza (or it is malformed).
    #[error("no identity opens this key")]
    NoMatch,
}

/// Encrypts `secret` (the data key or a Shamir share) to one recipient as an armored age file,
/// the layout sops writes into `enc`.
pub fn wrap(secret: &[u8], recipient: &Recipient) -> Result<String, WrapError> {
    let fail = || WrapError::Encrypt(recipient.as_str().to_owned());
    let mut out = Vec::new();
    {
        let enc = age::Encryptor::with_recipients(std::iter::once(recipient.as_age()))
            .map_err(|_| fail())?;
        let armor =
            age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
                .map_err(|_| fail())?;
        let mut w = enc.wrap_output(armor).map_err(|_| fail())?;
        std::io::Write::write_all(&mut w, secret).map_err(|_| fail())?;
        w.finish().and_then(|a| a.finish()).map_err(|_| fail())?;
    }
    String::from_utf8(out).map_err(|_| fail())
}

/// Decrypts an `enc` armored age file with any of `identities`.
pub fn unwrap(enc: &str, identities: &[Identity]) -> Result<Zeroizing<Vec<u8>>, WrapError> {
    let reader = age::armor::ArmoredReader::new(enc.as_bytes());
    let dec = age::Decryptor::new_buffered(reader).map_err(|_| WrapError::NoMatch)?;
    let ids = identities
        .iter()
        .map(|i| i.inner.as_ref() as &dyn age::Identity);
    let mut r = dec.decrypt(ids).map_err(|_| WrapError::NoMatch)?;
    let mut out = Zeroizing::new(Vec::new());
    r.read_to_end(&mut out).map_err(|_| WrapError::NoMatch)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_round_trip_and_layout() {
        let (id, _secret) = Identity::generate();
        let r: Recipient = id.public().parse().unwrap();
        let enc = wrap(&[7u8; 32], &r).unwrap();
        assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
        assert!(enc.ends_with("-----END AGE ENCRYPTED FILE-----\n"));
        assert!(enc.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
        assert_eq!(&unwrap(&enc, &[id]).unwrap()[..], &[7u8; 32]);
        let (other, _) = Identity::generate();
        assert!(unwrap(&enc, &[other]).is_err());
    }

    #[test]
    fn key_list_errors_name_line_not_content() {
        let err =
            Identity::parse_list("# c\n\nAGE-SECRET-KEY-1NOTVALID\n", "keys.txt").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 3"), "{msg}");
        assert!(!msg.contains("NOTVALID"), "{msg}");
    }

    #[test]
    fn recipients_parse_and_reject() {
        assert!(
            "age1prqcfgspj0gkcalcaq60jkyud8632sdjc3tmt54zu5j90w5wjymspwsz6h"
                .parse::<Recipient>()
                .is_ok()
        );
        assert!("bogus".parse::<Recipient>().is_err());
        assert!("age1yubikey1qabc".parse::<Recipient>().is_err());
    }

    #[test]
    fn a_private_key_given_as_recipient_is_never_echoed() {
        let (_, secret) = Identity::generate();
        for text in [secret.to_string(), secret.to_ascii_lowercase()] {
            let err = text.parse::<Recipient>().unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(&text[16..]), "{shown}");
            assert!(shown.contains("private key"), "{shown}");
        }
    }
}
