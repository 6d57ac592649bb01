//! Helpers shared by the fuzz targets.
#![allow(dead_code)]

use ccsecrets_core::sops::tree::{Item, Map, Value};

/// Tree equality up to what sops itself normalises on a round trip:
/// - a NaN float equals a NaN float (`PartialEq` says NaN != NaN, but a store that writes
///   `.nan` and reads it back has round-tripped it);
/// - an integral float read back as an integer: sops (Go yaml.v3) writes `1.0` and `5.` as
///   `1` and `5` (fixtures/sops/scalars.dec.yaml), which then parse as ints;
/// - the leading comments of a list item's mapping or nested list are written above the item's
///   `- ` (yaml.v3 head comments) and so read back as comments of the outer list
///   (fixtures/sops/regress-list-item-comment.*: sops prints them there too).
pub fn same_maps(a: &[Map], b: &[Map]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| same_map(&hoist_map(x), &hoist_map(y)))
}

/// The tree with list items' leading comments moved in front of the item (see [`same_maps`]).
pub fn hoist_map(m: &Map) -> Map {
    Map(m
        .0
        .iter()
        .map(|i| match i {
            Item::Entry(k, v) => Item::Entry(k.clone(), hoist(v)),
            c => c.clone(),
        })
        .collect())
}

fn hoist(v: &Value) -> Value {
    match v {
        Value::Map(m) => Value::Map(hoist_map(m)),
        Value::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match hoist(item) {
                    Value::Map(mut m) if m.0.iter().any(|i| matches!(i, Item::Entry(..))) => {
                        let lead =
                            m.0.iter()
                                .take_while(|i| matches!(i, Item::Comment(_)))
                                .count();
                        for c in m.0.drain(..lead) {
                            if let Item::Comment(c) = c {
                                out.push(Value::Comment(c));
                            }
                        }
                        out.push(Value::Map(m));
                    }
                    Value::Seq(mut s) if s.iter().any(|i| !matches!(i, Value::Comment(_))) => {
                        let lead = s
                            .iter()
                            .take_while(|i| matches!(i, Value::Comment(_)))
                            .count();
                        out.extend(s.drain(..lead));
                        out.push(Value::Seq(s));
                    }
                    other => out.push(other),
                }
            }
            Value::Seq(out)
        }
        other => other.clone(),
    }
}

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
