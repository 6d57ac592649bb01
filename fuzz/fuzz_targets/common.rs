//! Helpers shared by the fuzz targets.
#![allow(dead_code)]

use ccsecrets_core::sops::tree::{Item, Map, Value};

/// Tree equality up to what sops itself normalises on a round trip:
/// - a NaN float equals a NaN float (`PartialEq` says NaN != NaN, but a store that writes
///   `.nan` and reads it back has round-tripped it);
/// - an integral float read back as an integer: sops (Go yaml.v3) writes `1.0` and `5.` as
///   `1` and `5` (fixtures/sops/scalars.dec.yaml), which then parse as ints.
pub fn same_maps(a: &[Map], b: &[Map]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_map(x, y))
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
