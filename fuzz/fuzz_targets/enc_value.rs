//! Value cipher: an arbitrary string given to `decrypt_value` with a fixed data key must never
//! panic. Input: `AAD\nTEXT` (no newline: the whole input is TEXT, AAD empty).
//!
//! The input is also sealed, as a plaintext of every sops type, under the same key, so the
//! typed plaintext parsers see arbitrary text behind a valid tag; whatever decrypts must
//! encrypt and decrypt again to the same value.
#![no_main]

use ccsecrets_core::sops::cipher::{decrypt_value, encrypt_value, is_encrypted, seal, DataKey};
use ccsecrets_core::sops::tree::Value;
use libfuzzer_sys::fuzz_target;

mod common;

/// The data key of `fixtures/vectors/vectors.json`, so its `ENC[…]` values are useful seeds.
const KEY_HEX: &str = "39a5b2e087cb6e430af4b99a4d18a9d4c35f7d5f2d03784bf226951413a91b83";
const TYPES: [&str; 8] = [
    "str", "bytes", "int", "float", "bool", "time", "comment", "x",
];

fn key() -> DataKey {
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&KEY_HEX[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    DataKey::from_bytes(&bytes).unwrap()
}

fuzz_target!(|data: &[u8]| {
    let key = key();
    let input = String::from_utf8_lossy(data);
    let (aad, text) = input.split_once('\n').unwrap_or(("", &input));

    let _ = is_encrypted(text);
    let _ = decrypt_value(&key, text, aad, None);

    for typ in TYPES {
        let enc = seal(&key, text.as_bytes(), typ, aad, &[7u8; 32]);
        let Ok(value) = decrypt_value(&key, &enc, aad, None) else {
            continue;
        };
        if matches!(&value, Value::Str(s) | Value::Comment(s) if s.is_empty()) {
            continue; // empty strings are written as "" and read back as Str("")
        }
        let enc2 = encrypt_value(&key, &value, aad, None)
            .unwrap_or_else(|e| panic!("decrypted {typ} value does not encrypt again: {e}"));
        let back = decrypt_value(&key, &enc2, aad, None)
            .unwrap_or_else(|e| panic!("re-encrypted {typ} value does not decrypt: {e}"));
        assert!(
            common::same_value(&value, &back),
            "{typ} value changed across encrypt/decrypt: {value:?} -> {back:?}"
        );
    }
});
