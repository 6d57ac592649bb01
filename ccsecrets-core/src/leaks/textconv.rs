//! A text view of a sops file for git's `diff.<driver>.textconv`, so `git diff` and `git log
//! -p` show what changed in an encrypted file.
//!
//! Without a key the view lists the recipients (by key group), the selection rule, and every
//! key path with a short SHA-256 digest of its ciphertext: sops keeps the IV of a value whose
//! plaintext did not change, so only the changed values' lines differ. With an identity that
//! opens the file, the view is the decrypted document instead (what the operator asked for by
//! giving the key). Neither needs `.sops.yaml`: the format comes from the file name, else
//! from the content, so the view works for files that `path_regex` rules cover and for git's
//! temporary copies.

use std::fmt::Write as _;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::keys::Identity;
use crate::sops::document::{DecryptOptions, EncryptedFile};
use crate::sops::store::{self, Format, StoreOptions};
use crate::sops::tree::{Item, Map, Value};

/// Which view [`textconv`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Not a sops file: the bytes unchanged.
    Unchanged,
    /// Key paths, recipients and ciphertext digests.
    Keyless,
    /// The decrypted document.
    Decrypted,
}

/// The text view of `data` (a file named `path`). `identities` may be empty.
pub fn textconv(path: &Path, data: &[u8], identities: &[Identity]) -> (View, Vec<u8>) {
    let guessed = Format::from_path(path);
    let candidates = [
        guessed,
        Format::Yaml,
        Format::Json,
        Format::Dotenv,
        Format::Ini,
    ];
    let Some((format, file)) = candidates
        .iter()
        .find_map(|f| EncryptedFile::parse(data, *f).ok().map(|file| (*f, file)))
    else {
        return (View::Unchanged, data.to_vec());
    };
    let mut out = String::new();
    let _ = writeln!(out, "# sops file ({})", format.name());
    for (i, g) in file.metadata.key_groups.iter().enumerate() {
        let mut rs: Vec<&str> = g.age.iter().map(|k| k.recipient.as_str()).collect();
        rs.sort();
        for r in rs {
            let _ = writeln!(out, "# recipient (group {}): {r}", i + 1);
        }
    }
    let (field, value) = file.metadata.effective_selector().field();
    let _ = writeln!(out, "# {field}: {value}");
    if !identities.is_empty() {
        if let Ok(plain) = file.decrypt(identities, DecryptOptions::default()) {
            if let Ok(bytes) = store::emit(format, &plain.branches, &StoreOptions::default()) {
                let mut v = out.into_bytes();
                v.extend_from_slice(&bytes);
                return (View::Decrypted, v);
            }
        }
        let _ = writeln!(out, "# (no given identity opens this file: keyless view)");
    }
    for (i, b) in file.branches.iter().enumerate() {
        if file.branches.len() > 1 {
            let _ = writeln!(out, "--- document {}", i + 1);
        }
        map_lines(b, "", &mut out);
    }
    (View::Keyless, out.into_bytes())
}

fn map_lines(m: &Map, prefix: &str, out: &mut String) {
    for item in &m.0 {
        match item {
            Item::Entry(k, v) => value_lines(v, &join(prefix, k), out),
            Item::Comment(c) => {
                let _ = writeln!(out, "{}# comment {}", indent(prefix), shown(c));
            }
        }
    }
}

fn value_lines(v: &Value, path: &str, out: &mut String) {
    match v {
        Value::Map(m) => map_lines(m, path, out),
        Value::Seq(items) => {
            for (i, e) in items.iter().enumerate() {
                value_lines(e, &format!("{path}[{i}]"), out);
            }
        }
        Value::Str(s) => {
            let _ = writeln!(out, "{path}: {}", shown(s));
        }
        Value::Comment(c) => {
            let _ = writeln!(out, "{path}: # comment {}", shown(c));
        }
        Value::Null => {
            let _ = writeln!(out, "{path}: null");
        }
        other => {
            // Numbers, booleans and timestamps are plaintext here (sops stores encrypted ones
            // as ENC strings): shown by kind and digest, like plaintext strings.
            let flat = other.to_flat_string().unwrap_or_default();
            let _ = writeln!(out, "{path}: plaintext {} {}", other.kind(), digest(&flat));
        }
    }
}

/// An `ENC[…]` value as its type and a ciphertext digest; anything else as "plaintext"
/// with its length (the view never prints values, not even unencrypted ones).
fn shown(s: &str) -> String {
    if let Some(rest) = s.strip_prefix("ENC[AES256_GCM,") {
        let typ = rest
            .rsplit("type:")
            .next()
            .unwrap_or("")
            .trim_end_matches(']');
        format!("encrypted {typ} {}", digest(s))
    } else {
        format!("plaintext ({} bytes) {}", s.len(), digest(s))
    }
}

/// The first 6 bytes of SHA-256, hex: enough to see a change, too short to test guesses of
/// a low-entropy plaintext against.
fn digest(s: &str) -> String {
    Sha256::digest(s.as_bytes())[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn join(prefix: &str, k: &str) -> String {
    if prefix.is_empty() {
        k.to_owned()
    } else {
        format!("{prefix}.{k}")
    }
}

fn indent(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}: ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Recipient;
    use crate::sops::document::{encrypt, EncryptOptions};

    fn file(value: &str, id: &Identity) -> Vec<u8> {
        let r: Recipient = id.public().parse().unwrap();
        let mut m = Map::new();
        m.push(
            "db",
            Value::Map({
                let mut d = Map::new();
                d.push("password", Value::Str(value.into()));
                d.push("port_unencrypted", Value::Int(5432));
                d
            }),
        );
        let opts = EncryptOptions {
            key_groups: vec![vec![r]],
            ..Default::default()
        };
        encrypt(vec![m], &opts)
            .unwrap()
            .emit(Format::Yaml, &StoreOptions::default())
            .unwrap()
    }

    #[test]
    fn keyless_view_shows_paths_and_recipients_never_values() {
        let (id, _) = Identity::generate();
        let bytes = file("s3cret-value-123", &id);
        // A temporary name without the extension still works (content sniffing).
        let (view, text) = textconv(Path::new("/tmp/XyZ_secrets"), &bytes, &[]);
        assert_eq!(view, View::Keyless);
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains(&format!("# recipient (group 1): {}", id.public())),
            "{text}"
        );
        assert!(text.contains("db.password: encrypted str "), "{text}");
        assert!(
            text.contains("db.port_unencrypted: plaintext integer "),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn decrypted_view_with_a_key_and_unchanged_for_other_files() {
        let (id, _) = Identity::generate();
        let bytes = file("s3cret-value-123", &id);
        let (view, text) = textconv(Path::new("a.yaml"), &bytes, &[id]);
        assert_eq!(view, View::Decrypted);
        assert!(String::from_utf8(text)
            .unwrap()
            .contains("password: s3cret-value-123"));
        let (view, text) = textconv(Path::new("a.txt"), b"hello\n", &[]);
        assert_eq!((view, text), (View::Unchanged, b"hello\n".to_vec()));
    }
}
