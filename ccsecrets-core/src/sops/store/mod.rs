//! Stores: turn file bytes into a [`Map`] tree and back, one module per format.
//!
//! Each store has a `parse(&[u8]) -> Vec<Map>` for plain files and an `emit(&[Map])` that
//! reproduces sops's output byte for byte. The `sops` metadata block is split off and put back
//! here ([`split_metadata`], [`attach_metadata`]) so the rest of the core never sees it as data.

pub mod dotenv;
pub mod ini;
pub mod json;
pub mod yaml;

use std::path::Path;

use super::tree::{Item, Map, Value};

/// The file formats sops knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// YAML (`.yaml`, `.yml`).
    Yaml,
    /// JSON (`.json`).
    Json,
    /// dotenv (`.env`).
    Dotenv,
    /// INI (`.ini`).
    Ini,
    /// Anything else: the whole file is one `data` value.
    Binary,
}

impl Format {
    /// The format sops infers from a file name's extension (anything unknown is binary).
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Format::Yaml,
            Some("json") => Format::Json,
            Some("env") => Format::Dotenv,
            Some("ini") => Format::Ini,
            _ => Format::Binary,
        }
    }

    /// Parses a `--input-type`/`--output-type` name.
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "yaml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            "dotenv" => Some(Format::Dotenv),
            "ini" => Some(Format::Ini),
            "binary" => Some(Format::Binary),
            _ => None,
        }
    }

    /// The name sops uses for this format.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }
}

/// Output switches a store honours (`stores:` in `.sops.yaml`, `--indent`).
#[derive(Clone, Copy, Debug)]
pub struct StoreOptions {
    /// YAML indentation (sops default 4).
    pub yaml_indent: usize,
    /// JSON indentation: `None` is one TAB (sops's `-1`), `Some(n)` is n spaces.
    pub json_indent: Option<usize>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            yaml_indent: 4,
            json_indent: None,
        }
    }
}

/// Why a file could not be read or written in a format. Messages never quote values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The bytes are not valid in the format (the message gives the position and reason).
    #[error("invalid {format}: {message}")]
    Parse {
        /// Format name.
        format: &'static str,
        /// Position and reason, never the offending value.
        message: String,
    },
    /// The input holds no document at all.
    #[error("file cannot be completely empty, it must contain at least one document")]
    Empty,
    /// A mapping key that is not a string (sops only supports string keys).
    #[error("tree contains a non-string key ({0}); only string keys are supported")]
    NonStringKey(String),
    /// An encrypted file without a top-level `sops` mapping.
    #[error("sops metadata not found")]
    NoMetadata,
    /// A plain file that already carries a top-level `sops` key.
    #[error("file already encrypted (it has a top-level `sops` key)")]
    AlreadyEncrypted,
    /// The tree cannot be represented in this output format.
    #[error("cannot write this document as {format}: {reason}")]
    Unrepresentable {
        /// Format name.
        format: &'static str,
        /// What cannot be written.
        reason: String,
    },
}

/// Parses a plain (unencrypted) file into its documents.
pub fn parse(format: Format, bytes: &[u8]) -> Result<Vec<Map>, StoreError> {
    match format {
        Format::Yaml => yaml::parse(bytes),
        Format::Json => json::parse(bytes).map(|m| vec![m]),
        Format::Binary => Ok(vec![binary_tree(bytes)]),
        Format::Dotenv => dotenv::parse(bytes).map(|m| vec![m]),
        Format::Ini => ini::parse(bytes).map(|m| vec![m]),
    }
}

/// Parses an encrypted file's documents (metadata still inside; see [`split_metadata`]).
///
/// JSON is read strictly here, as sops reads encrypted JSON (`json.Unmarshal`): nothing but
/// whitespace may follow the top-level object.
pub fn parse_encrypted(format: Format, bytes: &[u8]) -> Result<Vec<Map>, StoreError> {
    match format {
        Format::Json => json::parse_strict(bytes).map(|m| vec![m]),
        Format::Dotenv => dotenv::parse_encrypted(bytes).map(|m| vec![m]),
        Format::Ini => ini::parse_encrypted(bytes).map(|m| vec![m]),
        _ => parse(format, bytes),
    }
}

/// Emits an encrypted file's documents (metadata already attached).
pub fn emit_encrypted(
    format: Format,
    branches: &[Map],
    opts: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    match format {
        Format::Dotenv => dotenv::emit_encrypted(branches),
        Format::Ini => ini::emit_encrypted(branches),
        _ => emit(format, branches, opts),
    }
}

/// Emits an encrypted file's documents with `metadata` appended as the last top-level `sops`
/// key of each (YAML without copying the documents; see [`attach_metadata`]).
pub fn emit_encrypted_with_metadata(
    format: Format,
    branches: &[Map],
    metadata: &Map,
    opts: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    match format {
        Format::Yaml => {
            let trailer = Item::Entry("sops".into(), Value::Map(metadata.clone()));
            yaml::emit_with_trailer(branches, Some(&trailer), opts)
        }
        _ => emit_encrypted(format, &attach_metadata(branches, metadata), opts),
    }
}

/// Emits documents in a format.
pub fn emit(format: Format, branches: &[Map], opts: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    match format {
        Format::Yaml => yaml::emit(branches, opts),
        Format::Json => {
            let first = branches.first().cloned().unwrap_or_default();
            json::emit(&first, opts)
        }
        Format::Binary => binary_bytes(branches),
        Format::Dotenv => dotenv::emit(branches),
        Format::Ini => ini::emit(branches),
    }
}

/// Emits a single value, as `--extract` prints a non-string leaf or a subtree.
pub fn emit_value(
    format: Format,
    value: &Value,
    opts: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    match format {
        Format::Yaml => yaml::emit_value(value, opts),
        Format::Json => json::emit_value(value, opts),
        Format::Dotenv => dotenv::emit_value(value),
        Format::Ini => ini::emit_value(value),
        _ => Err(StoreError::Unrepresentable {
            format: format.name(),
            reason: "only strings can be extracted to this format".into(),
        }),
    }
}

/// The binary store's tree: the whole file as the string `data`.
fn binary_tree(bytes: &[u8]) -> Map {
    let value = match std::str::from_utf8(bytes) {
        Ok(s) => Value::Str(s.to_owned()),
        Err(_) => Value::Bytes(bytes.to_vec()),
    };
    let mut m = Map::new();
    m.push("data", value);
    m
}

/// The binary store's output: the raw `data` string.
fn binary_bytes(branches: &[Map]) -> Result<Vec<u8>, StoreError> {
    match branches.first().and_then(|b| b.get("data")) {
        Some(Value::Str(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Bytes(b)) => Ok(b.clone()),
        _ => Err(StoreError::Unrepresentable {
            format: "binary",
            reason: "the document has no string `data` key".into(),
        }),
    }
}

/// The encrypted layout's container format: binary files are stored as JSON.
pub fn container_format(format: Format) -> Format {
    match format {
        Format::Binary => Format::Json,
        other => other,
    }
}

/// Splits the `sops` metadata mapping off an encrypted file's documents.
///
/// The first document's `sops` is the metadata; a top-level `sops` entry is removed from every
/// document (sops writes a copy into each document of a YAML stream).
pub fn split_metadata(branches: &mut [Map]) -> Result<Map, StoreError> {
    let mut meta = None;
    for (i, branch) in branches.iter_mut().enumerate() {
        if let Some(v) = branch.remove("sops") {
            if i == 0 {
                meta = Some(v);
            }
        }
    }
    match meta {
        Some(Value::Map(m)) => Ok(m),
        _ => Err(StoreError::NoMetadata),
    }
}

/// Appends the metadata as the last top-level key `sops` of every document.
pub fn attach_metadata(branches: &[Map], metadata: &Map) -> Vec<Map> {
    branches
        .iter()
        .map(|b| {
            let mut b = b.clone();
            b.0.push(Item::Entry("sops".into(), Value::Map(metadata.clone())));
            b
        })
        .collect()
}
