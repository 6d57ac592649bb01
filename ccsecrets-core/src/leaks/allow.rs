//! `.ccsecrets-allow.toml`: reviewed findings, by fingerprint, each with a reason.
//!
//! ```toml
//! [[allow]]
//! fingerprint = "3f0c9a1b2c4d5e6f7a8b"   # from `ccsecrets check` output
//! reason = "test fixture key, never used anywhere"
//! ```
//!
//! The file lives at the root of the repository whose findings it allows. A fingerprint
//! identifies a finding (rule, path, detail, and the blob or commit it is in), not a secret:
//! the same key in another file, or an edited file, is reported again. An entry matching no
//! finding in a full run (history walked, not `--staged`) is reported as stale (a warning).

use std::path::{Path, PathBuf};

use super::CheckError;

/// The allowlist's file name, at a repository's root.
pub const ALLOW_FILE: &str = ".ccsecrets-allow.toml";

/// One reviewed finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The finding's fingerprint.
    pub fingerprint: String,
    /// Why it is allowed.
    pub reason: String,
}

/// A parsed allowlist.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its entries, in file order.
    pub entries: Vec<Entry>,
}

impl Allowlist {
    /// Reads `ROOT/.ccsecrets-allow.toml`; `None` when there is none.
    pub fn load(root: &Path) -> Result<Option<Allowlist>, CheckError> {
        let path = root.join(ALLOW_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Allowlist::parse(&text, &path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CheckError::Allowlist {
                path,
                reason: e.to_string(),
            }),
        }
    }

    /// Parses the text of an allowlist read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Allowlist, CheckError> {
        let bad = |reason: String| CheckError::Allowlist {
            path: path.to_owned(),
            reason,
        };
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| bad(e.to_string()))?;
        let mut entries = Vec::new();
        for (key, value) in &table {
            if key != "allow" {
                return Err(bad(format!(
                    "unknown key `{key}` (expected [[allow]] entries)"
                )));
            }
            let list = value
                .as_array()
                .ok_or_else(|| bad("`allow` must be an array of tables ([[allow]])".into()))?;
            for (i, item) in list.iter().enumerate() {
                let t = item
                    .as_table()
                    .ok_or_else(|| bad(format!("allow entry {} is not a table", i + 1)))?;
                for k in t.keys() {
                    if k != "fingerprint" && k != "reason" {
                        return Err(bad(format!("allow entry {}: unknown key `{k}`", i + 1)));
                    }
                }
                let field = |name: &str| {
                    t.get(name)
                        .and_then(|v| v.as_str())
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            bad(format!(
                                "allow entry {}: `{name}` must be a non-empty string",
                                i + 1
                            ))
                        })
                };
                entries.push(Entry {
                    fingerprint: field("fingerprint")?.to_ascii_lowercase(),
                    reason: field("reason")?,
                });
            }
        }
        Ok(Allowlist {
            path: path.to_owned(),
            entries,
        })
    }

    /// The entry allowing `fingerprint`.
    pub fn find(&self, fingerprint: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.fingerprint == fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_rejects_bad_ones() {
        let p = Path::new("a.toml");
        let ok = Allowlist::parse(
            "[[allow]]\nfingerprint = \"ABC123\"\nreason = \"fixture\"\n",
            p,
        )
        .unwrap();
        assert_eq!(ok.entries[0].fingerprint, "abc123");
        assert_eq!(ok.find("abc123").unwrap().reason, "fixture");
        for bad in [
            "[[allow]]\nfingerprint = \"abc\"\n",
            "[[allow]]\nfingerprint = \"abc\"\nreason = \"\"\n",
            "[[allow]]\nfingerprint = \"abc\"\nreason = \"r\"\npath = \"x\"\n",
            "allow = 3\n",
            "[other]\n",
            "not toml [",
        ] {
            let e = Allowlist::parse(bad, p).unwrap_err();
            assert!(e.to_string().starts_with("a.toml: "), "{e}");
        }
    }
}
