//! Property: random trees (unicode keys and values, nesting, every scalar type) survive
//! emit → parse → encrypt → emit → parse → decrypt unchanged, through the YAML and JSON stores.

use ccsecrets_core::keys::{Identity, Recipient};
use ccsecrets_core::sops::document::{encrypt, DecryptOptions, EncryptOptions, EncryptedFile};
use ccsecrets_core::sops::store::{self, Format, StoreOptions};
use ccsecrets_core::sops::tree::{Item, Map, Value};
use proptest::prelude::*;

fn key_strategy() -> impl Strategy<Value = String> {
    // Keys: ASCII words and arbitrary unicode, never the reserved `sops`.
    prop_oneof!["[a-z_][a-z0-9_]{0,8}", "\\PC{1,8}"].prop_filter("reserved", |k| k != "sops")
}

fn leaf(json: bool) -> BoxedStrategy<Value> {
    let s = prop_oneof![
        "\\PC{0,12}".prop_map(Value::Str),
        "[ -~]{0,20}".prop_map(Value::Str),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    if json {
        // JSON numbers are float64 in sops 3.11.
        prop_oneof![s, (-1e15f64..1e15).prop_map(Value::Float)].boxed()
    } else {
        prop_oneof![
            s,
            any::<i64>().prop_map(Value::Int),
            // An integral float is written `5` and read back as an int, as in sops.
            (-1e15f64..1e15)
                .prop_filter("integral", |f| f.fract() != 0.0)
                .prop_map(Value::Float),
        ]
        .boxed()
    }
}

fn value(json: bool) -> impl Strategy<Value = Value> {
    leaf(json).prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Seq),
            proptest::collection::vec((key_strategy(), inner), 0..4)
                .prop_map(|kv| Value::Map(dedup(kv))),
        ]
    })
}

fn dedup(kv: Vec<(String, Value)>) -> Map {
    let mut m = Map::new();
    for (k, v) in kv {
        if m.get(&k).is_none() {
            m.0.push(Item::Entry(k, v));
        }
    }
    m
}

fn doc(json: bool) -> impl Strategy<Value = Map> {
    proptest::collection::vec((key_strategy(), value(json)), 1..6).prop_map(dedup)
}

fn round_trip(format: Format, doc: Map, id: &Identity, r: &Recipient) -> Result<(), TestCaseError> {
    let opts = StoreOptions::default();
    let bytes = store::emit(format, std::slice::from_ref(&doc), &opts).expect("emit plain");
    let parsed = store::parse(format, &bytes).expect("parse plain");
    prop_assert_eq!(&parsed, &vec![doc.clone()]);
    let enc = encrypt(
        parsed,
        &EncryptOptions {
            key_groups: vec![vec![r.clone()]],
            ..Default::default()
        },
    )
    .expect("encrypt");
    let enc_bytes = enc.emit(format, &opts).expect("emit encrypted");
    let back = EncryptedFile::parse(&enc_bytes, format).expect("parse encrypted");
    let plain = back
        .decrypt(std::slice::from_ref(id), DecryptOptions::default())
        .expect("decrypt");
    prop_assert_eq!(&plain.branches, &vec![doc]);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn yaml_trees_round_trip(d in doc(false)) {
        let (id, _) = Identity::generate();
        let r: Recipient = id.public().parse().unwrap();
        round_trip(Format::Yaml, d, &id, &r)?;
    }

    #[test]
    fn json_trees_round_trip(d in doc(true)) {
        let (id, _) = Identity::generate();
        let r: Recipient = id.public().parse().unwrap();
        round_trip(Format::Json, d, &id, &r)?;
    }
}

/// The fuzz target's equality (what sops itself normalises on a round trip).
#[path = "../../fuzz/fuzz_targets/common.rs"]
mod fuzz_common;

/// Every input the `yaml_store` fuzz target kept (`fuzz/regressions/yaml_store*/`) now passes
/// its property: what parses emits (indent 4 and 2) and parses back with every value and
/// every comment (where a comment lands is compared with sops in `yaml_comments.rs`).
#[test]
fn yaml_fuzz_regressions_round_trip() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let mut checked = 0;
    let entries = ["yaml_store", "yaml_store-sops"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).expect("fuzz/regressions"));
    for entry in entries {
        let path = entry.unwrap().path();
        let Ok(docs) = store::yaml::parse(&std::fs::read(&path).unwrap()) else {
            continue;
        };
        checked += 1;
        for indent in [4, 2] {
            let opts = StoreOptions {
                yaml_indent: indent,
                ..StoreOptions::default()
            };
            let out = store::yaml::emit(&docs, &opts).unwrap();
            let again = store::yaml::parse(&out).unwrap();
            assert!(
                fuzz_common::same_values_and_comments(&docs, &again),
                "{} (indent {indent}): the round trip lost or changed a value or a comment\n{}",
                path.display(),
                String::from_utf8_lossy(&out)
            );
        }
    }
    assert!(
        checked >= 3,
        "expected the fuzz regression inputs, parsed {checked}"
    );
}
