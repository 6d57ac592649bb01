//! Encrypted files: arbitrary bytes parsed as an encrypted YAML and JSON file, then decrypted
//! with a fixed identity (key1 of `fixtures/keys`, which opens every file in
//! `fixtures/sops`, the seed corpus) must never panic; what decrypts must re-encrypt and
//! emit without panicking.
#![no_main]

use std::sync::OnceLock;

use ccsecrets_core::keys::Identity;
use ccsecrets_core::sops::document::{DecryptOptions, EncryptedFile};
use ccsecrets_core::sops::store::{Format, StoreOptions};
use libfuzzer_sys::fuzz_target;

/// A published TEST key (see fixtures/README.md).
const KEY1: &str = include_str!("../../fixtures/keys/key1.txt");

fn identities() -> &'static [Identity] {
    static IDS: OnceLock<Vec<Identity>> = OnceLock::new();
    IDS.get_or_init(|| Identity::parse_list(KEY1, "key1.txt").expect("key1 parses"))
}

fuzz_target!(|data: &[u8]| {
    for format in [Format::Yaml, Format::Json] {
        let Ok(file) = EncryptedFile::parse(data, format) else {
            continue;
        };
        let _ = file.is_complete();
        let _ = file.emit(format, &StoreOptions::default());
        // `decrypt` is `data_key` then `decrypt_with_key`; the key is recovered once here
        // (the age stanza parser sees the input too).
        let Ok(key) = file.data_key(identities()) else {
            continue;
        };
        let opts = DecryptOptions {
            ignore_mac: false,
            keep_ivs: true,
        };
        if let Ok(plain) = file.decrypt_with_key(key.clone(), opts) {
            if let Ok(again) = plain.reencrypt() {
                let _ = again.emit(format, &StoreOptions::default());
            }
            continue;
        }
        // Past a MAC mismatch too: the value walk must not panic on tampered values.
        let opts = DecryptOptions {
            ignore_mac: true,
            keep_ivs: false,
        };
        let _ = file.decrypt_with_key(key, opts);
    }
});
