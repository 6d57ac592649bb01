//! JSON store: any bytes that parse must emit without panicking, and the emitted text must
//! parse back to the same tree (TAB indent, sops's default, and 2 spaces).
#![no_main]

use ccsecrets_core::sops::store::{json, StoreOptions};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = json::parse(data) else {
        return;
    };
    for indent in [None, Some(2)] {
        let opts = StoreOptions {
            json_indent: indent,
            ..StoreOptions::default()
        };
        let Ok(out) = json::emit(&doc, &opts) else {
            continue;
        };
        let again = match json::parse(&out) {
            Ok(again) => again,
            Err(e) => panic!("emitted JSON ({indent:?}) does not parse again: {e}\n{out:?}"),
        };
        assert!(
            common::same_map(&doc, &again),
            "JSON round trip ({indent:?}) changed the tree:\nbefore {doc:?}\nafter  {again:?}\nemitted {:?}",
            String::from_utf8_lossy(&out)
        );
    }
});
