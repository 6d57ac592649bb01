//! Helpers shared by the fuzz targets.
#![allow(dead_code)]

use ccsecrets_core::sops::tree::{Item, Map, Value};

/// Tree equality up to what sops itself normalises on a round trip:
/// - a NaN float equals a NaN float (`PartialEq` says NaN != NaN, but a store that writes
///   `.nan` and reads it back has round-tripped it);
/// - an integral float read back as an integer: sops (Go yaml.v3) writes `1.0` and `5.` as
///   `1` and `5` (fixtures/sops/scalars.dec.yaml), which then parse as ints.
pub fn same_map(a: &Map, b: &Map) -> bool {
    a.0.len() == b.0.len()
        && a.0.iter().zip(&b.0).all(|(x, y)| match (x, y) {
            (Item::Entry(ka, va), Item::Entry(kb, vb)) => ka == kb && same_value(va, vb),
            (Item::Comment(ca), Item::Comment(cb)) => ca == cb,
            _ => false,
        })
}

pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Map(x), Value::Map(y)) => same_map(x, y),
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q))
        }
        (Value::Float(x), Value::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Value::Float(x), Value::Int(y)) => x.fract() == 0.0 && *x == *y as f64,
        _ => a == b,
    }
}

/// The tree without its comments.
pub fn strip_comments(m: &Map) -> Map {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Map(m) => Value::Map(strip_comments(m)),
            Value::Seq(s) => Value::Seq(
                s.iter()
                    .filter(|i| !matches!(i, Value::Comment(_)))
                    .map(strip)
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    Map(m
        .0
        .iter()
        .filter_map(|i| match i {
            Item::Entry(k, v) => Some(Item::Entry(k.clone(), strip(v))),
            Item::Comment(_) => None,
        })
        .collect())
}

/// Every comment text in the tree, sorted.
pub fn comment_texts(docs: &[Map]) -> Vec<String> {
    fn walk_map(m: &Map, out: &mut Vec<String>) {
        for i in &m.0 {
            match i {
                Item::Entry(_, v) => walk(v, out),
                Item::Comment(c) => out.push(c.clone()),
            }
        }
    }
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Map(m) => walk_map(m, out),
            Value::Seq(s) => s.iter().for_each(|i| walk(i, out)),
            Value::Comment(c) => out.push(c.clone()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    docs.iter().for_each(|m| walk_map(m, &mut out));
    out.sort();
    out
}

/// What a YAML store round trip keeps, as sops's does: every value (in order, up to the
/// normalisations of [`same_value`]) and every comment. Where a comment lands may change: sops
/// writes some comments where yaml.v3 reads them back elsewhere (a nested collection's foot
/// comment after the next `- `, for one), and ccsecrets writes what sops writes.
pub fn same_values_and_comments(a: &[Map], b: &[Map]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| same_map(&strip_comments(x), &strip_comments(y)))
        && comment_texts(a) == comment_texts(b)
}

/// A copy of `m` with the mappings under its top-level `sops` key sorted by key, recursively:
/// the flat `sops_…` lines of dotenv and INI carry no order of their own (sops writes them
/// sorted, or in Go map order), so only their content must survive a round trip.
pub fn sorted_meta(m: &Map) -> Map {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Map(m) => {
                let mut items: Vec<Item> =
                    m.0.iter()
                        .map(|i| match i {
                            Item::Entry(k, v) => Item::Entry(k.clone(), sort(v)),
                            other => other.clone(),
                        })
                        .collect();
                items.sort_by(|a, b| match (a, b) {
                    (Item::Entry(x, _), Item::Entry(y, _)) => x.cmp(y),
                    _ => std::cmp::Ordering::Equal,
                });
                Value::Map(Map(items))
            }
            Value::Seq(s) => Value::Seq(s.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    Map(m
        .0
        .iter()
        .map(|i| match i {
            Item::Entry(k, v) if k == "sops" => Item::Entry(k.clone(), sort(v)),
            other => other.clone(),
        })
        .collect())
}
