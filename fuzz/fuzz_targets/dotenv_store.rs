//! dotenv store: any bytes that parse (plain or encrypted layout) must emit without
//! panicking, and the emitted text must parse back to the same tree.
#![no_main]

use ccsecrets_core::sops::store::dotenv;
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = dotenv::parse(data) {
        let out = dotenv::emit(std::slice::from_ref(&doc))
            .expect("a parsed dotenv tree is flat strings, so it always emits");
        let again = match dotenv::parse(&out) {
            Ok(again) => again,
            Err(e) => panic!("emitted dotenv does not parse again: {e}\n{out:?}"),
        };
        assert!(
            common::same_map(&doc, &again),
            "dotenv round trip changed the tree:\nbefore {doc:?}\nafter  {again:?}\nemitted {:?}",
            String::from_utf8_lossy(&out)
        );
    }
    // The encrypted layout: `sops_…` lines become the nested metadata and back.
    if let Ok(doc) = dotenv::parse_encrypted(data) {
        let Ok(out) = dotenv::emit_encrypted(std::slice::from_ref(&doc)) else {
            return;
        };
        let again = match dotenv::parse_encrypted(&out) {
            Ok(again) => again,
            Err(e) => panic!("emitted encrypted dotenv does not parse again: {e}\n{out:?}"),
        };
        assert!(
            common::same_map(&common::sorted_meta(&doc), &common::sorted_meta(&again)),
            "encrypted dotenv round trip changed the tree:\nbefore {doc:?}\nafter  {again:?}\nemitted {:?}",
            String::from_utf8_lossy(&out)
        );
    }
});
