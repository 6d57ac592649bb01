//! Multi-pattern matching for the keyed known-value scan and the base repo's genericity
//! rules: an Aho-Corasick automaton over every needle, reporting which needle (by label),
//! never the matched bytes.
//!
//! For each decrypted secret value ([`secret_values`]) the needles are ([`value_needles`]):
//! the value itself, its standard base64 (padding stripped, so it is found inside longer
//! base64 text too), its URL-encoded form when that differs, and, for a value holding a PEM
//! private key, each body line of at least [`MIN_PEM_LINE`] characters. Values shorter than
//! [`MIN_VALUE_LEN`] bytes, `PLACEHOLDER:` values and certificate-only PEM values (public)
//! are not searched for. The needles live in memory only and are wiped when dropped (the
//! automaton's own copy is freed with it).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use base64::Engine;
use zeroize::Zeroizing;

use crate::sops::cipher::is_encrypted;
use crate::sops::document::{EncryptedFile, PlainFile};
use crate::sops::tree::{Item, Map, Value};

use super::Kind;

/// Shorter decrypted values are not searched for (too many chance matches).
pub const MIN_VALUE_LEN: usize = 8;
/// Shorter PEM body lines (the last line of a block) are not searched for.
pub const MIN_PEM_LINE: usize = 40;

/// What a needle stands for. Holds names only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The rule a match reports.
    pub kind: Kind,
    /// The secret's name (`drone.rpc_secret`) or what the needle is (`instance domain`).
    pub name: String,
    /// The form searched for (`value`, `base64`, `url-encoded`, `PEM body line 3`).
    pub encoding: String,
}

/// A needle: the bytes to find and their label.
pub type Needle = (Zeroizing<Vec<u8>>, Label);

/// An automaton over needles.
pub struct Matcher {
    ac: AhoCorasick,
    labels: Vec<Label>,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("needles", &self.labels.len())
            .finish()
    }
}

/// One match: which label, at which byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Index into [`Matcher::label`].
    pub label: usize,
    /// Where the match starts.
    pub offset: usize,
}

impl Matcher {
    /// Builds the automaton; `None` when there is no needle.
    pub fn new(needles: Vec<Needle>, ascii_case_insensitive: bool) -> Option<Matcher> {
        if needles.is_empty() {
            return None;
        }
        let (patterns, labels): (Vec<_>, Vec<_>) = needles.into_iter().unzip();
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(ascii_case_insensitive)
            .build(patterns.iter().map(|p| p.as_slice()))
            .expect("needles are bounded in number and size");
        Some(Matcher { ac, labels })
    }

    /// The label of a match.
    pub fn label(&self, m: &Match) -> &Label {
        &self.labels[m.label]
    }

    /// The first match of each needle in `data`, in order of offset.
    pub fn find(&self, data: &[u8]) -> Vec<Match> {
        let mut seen = vec![false; self.labels.len()];
        let mut out = Vec::new();
        for m in self.ac.find_overlapping_iter(data) {
            let i = m.pattern().as_usize();
            if !seen[i] {
                seen[i] = true;
                out.push(Match {
                    label: i,
                    offset: m.start(),
                });
            }
        }
        out.sort_by_key(|m| m.offset);
        out
    }
}

/// The encrypted values of a decrypted file, by dotted key path (`drone.rpc_secret`,
/// `registry.0.password`): the values that are `ENC[…]` in `enc`, from `plain`.
pub fn secret_values(enc: &EncryptedFile, plain: &PlainFile) -> Vec<(String, Zeroizing<String>)> {
    let mut out = Vec::new();
    for (e, p) in enc.branches.iter().zip(&plain.branches) {
        walk_map(e, p, &mut Vec::new(), &mut out);
    }
    out
}

fn walk_map(e: &Map, p: &Map, path: &mut Vec<String>, out: &mut Vec<(String, Zeroizing<String>)>) {
    for (ei, pi) in e.0.iter().zip(&p.0) {
        if let (Item::Entry(k, ev), Item::Entry(_, pv)) = (ei, pi) {
            path.push(k.clone());
            walk_value(ev, pv, path, out);
            path.pop();
        }
    }
}

fn walk_value(
    e: &Value,
    p: &Value,
    path: &mut Vec<String>,
    out: &mut Vec<(String, Zeroizing<String>)>,
) {
    match (e, p) {
        (Value::Map(em), Value::Map(pm)) => walk_map(em, pm, path, out),
        (Value::Seq(es), Value::Seq(ps)) => {
            for (i, (ev, pv)) in es.iter().zip(ps).enumerate() {
                path.push(i.to_string());
                walk_value(ev, pv, path, out);
                path.pop();
            }
        }
        (Value::Str(s), plain) if is_encrypted(s) => {
            let text = match plain {
                Value::Str(v) => Zeroizing::new(v.clone()),
                Value::Bytes(b) => match std::str::from_utf8(b) {
                    Ok(v) => Zeroizing::new(v.to_owned()),
                    Err(_) => return,
                },
                _ => return, // numbers and booleans: too short to search for
            };
            out.push((path.join("."), text));
        }
        _ => {}
    }
}

/// The needles for one secret value (see the module documentation).
pub fn value_needles(name: &str, value: &str, out: &mut Vec<Needle>) {
    let label = |encoding: &str| Label {
        kind: Kind::KnownValue,
        name: name.to_owned(),
        encoding: encoding.to_owned(),
    };
    if value.starts_with(crate::instance::PLACEHOLDER_PREFIX) {
        return;
    }
    let has_key = value.contains("PRIVATE KEY-----");
    if value.contains("-----BEGIN ") && !has_key {
        return; // certificates are public
    }
    let trimmed = value.trim();
    if trimmed.len() < MIN_VALUE_LEN {
        return;
    }
    out.push((Zeroizing::new(trimmed.as_bytes().to_vec()), label("value")));
    if has_key {
        let mut n = 0;
        for line in trimmed.lines() {
            let line = line.trim();
            if line.starts_with("-----") || line.contains(':') {
                continue;
            }
            n += 1;
            if line.len() >= MIN_PEM_LINE {
                out.push((
                    Zeroizing::new(line.as_bytes().to_vec()),
                    label(&format!("PEM body line {n}")),
                ));
            }
        }
    }
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(trimmed.as_bytes()));
    let b64 = b64.trim_end_matches('=');
    if b64.len() >= MIN_VALUE_LEN {
        out.push((Zeroizing::new(b64.as_bytes().to_vec()), label("base64")));
    }
    let url = url_encode(trimmed.as_bytes());
    if url.as_slice() != trimmed.as_bytes() {
        out.push((url, label("URL-encoded")));
    }
}

fn url_encode(bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len() * 3));
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needles(value: &str) -> Vec<(Vec<u8>, String)> {
        let mut out = Vec::new();
        value_needles("s", value, &mut out);
        out.into_iter()
            .map(|(n, l)| (n.to_vec(), l.encoding))
            .collect()
    }

    #[test]
    fn encodings_of_a_value() {
        let n = needles("p@ss word/123");
        let forms: Vec<&str> = n.iter().map(|(_, e)| e.as_str()).collect();
        assert_eq!(forms, ["value", "base64", "URL-encoded"]);
        assert_eq!(n[1].0, b"cEBzcyB3b3JkLzEyMw".to_vec());
        assert_eq!(n[2].0, b"p%40ss%20word%2F123".to_vec());
    }

    #[test]
    fn short_placeholder_and_certificate_values_are_skipped() {
        assert!(needles("short").is_empty());
        assert!(needles("PLACEHOLDER: paste it here").is_empty());
        assert!(
            needles("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").is_empty()
        );
    }

    #[test]
    fn pem_body_lines_of_a_key() {
        let line = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj";
        let key = format!("-----BEGIN PRIVATE KEY-----\n{line}\nAbc=\n-----END PRIVATE KEY-----\n");
        let n = needles(&key);
        assert!(n
            .iter()
            .any(|(b, e)| b == line.as_bytes() && e == "PEM body line 1"));
        assert!(
            !n.iter().any(|(_, e)| e == "PEM body line 2"),
            "short last line skipped"
        );
    }

    #[test]
    fn matcher_reports_each_needle_once_by_label() {
        let mut v = Vec::new();
        value_needles("a", "f5257467204745134b5cfb03e257c8fa", &mut v);
        let m = Matcher::new(v, false).unwrap();
        let data = b"x f5257467204745134b5cfb03e257c8fa y f5257467204745134b5cfb03e257c8fa";
        let found = m.find(data);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].offset, 2);
        assert_eq!(m.label(&found[0]).encoding, "value");
    }
}
