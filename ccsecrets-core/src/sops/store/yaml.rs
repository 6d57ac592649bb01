//! The YAML store. Not implemented yet: every call returns a clear error (no panic), so
//! the rest of the engine (JSON, binary) is usable meanwhile.
use super::{StoreError, StoreOptions};
use crate::sops::tree::{Map, Value};

fn missing() -> StoreError {
    StoreError::Unrepresentable {
        format: "yaml",
        reason: "the YAML store is not implemented yet".into(),
    }
}

/// Parses a plain YAML stream (not implemented yet).
pub fn parse(_bytes: &[u8]) -> Result<Vec<Map>, StoreError> {
    Err(missing())
}

/// Emits documents as sops does (not implemented yet).
pub fn emit(_branches: &[Map], _opts: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    Err(missing())
}

/// Emits one value (not implemented yet).
pub fn emit_value(_value: &Value, _opts: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    Err(missing())
}
