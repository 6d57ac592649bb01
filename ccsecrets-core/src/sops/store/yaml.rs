//! The YAML store (placeholder; being written).
use super::{StoreError, StoreOptions};
use crate::sops::tree::{Map, Value};

/// Parses a plain YAML stream.
pub fn parse(_bytes: &[u8]) -> Result<Vec<Map>, StoreError> {
    todo!("yaml parse")
}
/// Emits documents as sops does.
pub fn emit(_branches: &[Map], _opts: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    todo!("yaml emit")
}
/// Emits one value.
pub fn emit_value(_value: &Value, _opts: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    todo!("yaml emit_value")
}
