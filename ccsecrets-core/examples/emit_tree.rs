//! Emits a tree given as JSON through the YAML store's emitter, for differential checks of
//! the emitter against another implementation of sops's YAML emission (fuzz/README.md says
//! how it was checked).
//!
//! Input (stdin): a JSON array of documents. In a mapping, a key starting with `#` is a
//! comment whose text is the value; in a sequence, an object `{"#": text}` is a comment.
//!
//!     cargo run -p ccsecrets-core --example emit_tree < docs.json

use std::io::{Read, Write};

use ccsecrets_core::sops::store::{json, yaml, StoreOptions};
use ccsecrets_core::sops::tree::{Item, Map, Value};

fn comments(v: Value) -> Value {
    match v {
        Value::Map(m) => {
            if let [Item::Entry(k, Value::Str(text))] = m.0.as_slice() {
                if k == "#" {
                    return Value::Comment(text.clone());
                }
            }
            Value::Map(map(m))
        }
        Value::Seq(items) => Value::Seq(items.into_iter().map(comments).collect()),
        other => other,
    }
}

fn map(m: Map) -> Map {
    Map(m
        .0
        .into_iter()
        .map(|item| match item {
            Item::Entry(k, Value::Str(text)) if k.starts_with('#') => Item::Comment(text),
            Item::Entry(k, v) => Item::Entry(k, comments(v)),
            c => c,
        })
        .collect())
}

fn main() {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .expect("read stdin");
    let wrapped = [b"{\"docs\":".as_slice(), &input, b"}"].concat();
    let top = json::parse(&wrapped).expect("a JSON array of documents");
    let Some(Value::Seq(docs)) = top.get("docs").cloned() else {
        panic!("a JSON array of documents");
    };
    let docs: Vec<Map> = docs
        .into_iter()
        .map(|d| match d {
            Value::Map(m) => map(m),
            _ => panic!("each document must be an object"),
        })
        .collect();
    let out = yaml::emit(&docs, &StoreOptions::default()).expect("emit");
    std::io::stdout().write_all(&out).expect("write stdout");
}
