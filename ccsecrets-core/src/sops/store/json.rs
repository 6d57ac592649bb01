//! The JSON store (placeholder; being written).
use super::{StoreError, StoreOptions};
use crate::sops::tree::{Map, Value};

/// Parses a plain JSON object.
pub fn parse(_bytes: &[u8]) -> Result<Map, StoreError> {
    todo!("json parse")
}
/// Emits documents as sops does.
pub fn emit(_branch: &Map, _opts: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    todo!("json emit")
}
/// Emits one value.
pub fn emit_value(_value: &Value, _opts: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    todo!("json emit_value")
}
