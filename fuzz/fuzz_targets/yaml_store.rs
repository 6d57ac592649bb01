//! YAML store: any bytes that parse must emit without panicking, and the emitted text must
//! parse back (at sops's indent 4 and at indent 2) with every value and every comment. Where a
//! comment lands may move, as it does with sops: its output places some comments where its
//! YAML parser reads them back elsewhere, and ccsecrets writes what sops writes
//! (`tests/tests/yaml_comments.rs` compares placements with the real sops).
#![no_main]

use ccsecrets_core::sops::store::{yaml, StoreOptions};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(docs) = yaml::parse(data) else {
        return;
    };
    for indent in [4, 2] {
        let opts = StoreOptions {
            yaml_indent: indent,
            ..StoreOptions::default()
        };
        // A parsed tree that the emitter refuses (an error, not a panic) is allowed.
        let Ok(out) = yaml::emit(&docs, &opts) else {
            continue;
        };
        let again = match yaml::parse(&out) {
            Ok(again) => again,
            Err(e) => panic!("emitted YAML (indent {indent}) does not parse again: {e}\n{out:?}"),
        };
        assert!(
            common::same_values_and_comments(&docs, &again),
            "YAML round trip (indent {indent}) lost or changed a value or a comment:\nbefore {docs:?}\nafter  {again:?}\nemitted {:?}",
            String::from_utf8_lossy(&out)
        );
    }
});
