//! Binary store: any bytes are one `data` value that emits back to exactly the same bytes,
//! also after a trip through the JSON container sops stores binary files in.
#![no_main]

use ccsecrets_core::sops::store::{self, json, Format, StoreOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let docs = store::parse(Format::Binary, data).expect("binary input always parses");
    assert_eq!(docs.len(), 1, "the binary store has one document");
    let out = store::emit(Format::Binary, &docs, &StoreOptions::default())
        .expect("a parsed binary tree always emits");
    assert_eq!(out, data, "binary round trip changed the bytes");
    // The container: the tree written as JSON and read back gives the same bytes again,
    // as long as the input was text (invalid UTF-8 cannot be a JSON string).
    if std::str::from_utf8(data).is_ok() {
        let text = json::emit(&docs[0], &StoreOptions::default()).expect("JSON container emits");
        let back = json::parse(&text).expect("emitted JSON container parses");
        let out = store::emit(Format::Binary, &[back], &StoreOptions::default())
            .expect("the container tree emits as binary");
        assert_eq!(
            out, data,
            "binary through the JSON container changed the bytes"
        );
    }
});
