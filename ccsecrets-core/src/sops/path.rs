//! Tree paths as sops writes them for `--extract`, `set` and `unset`: `["a"]["b"][0]`.

use super::tree::{Map, Value};

/// One step of a path: a mapping key or a list index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// A path string is malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid tree path {0:?}: expected a form like [\"key\"][0]")]
pub struct PathError(pub String);

/// Parses `["a"]['b'][0]`: keys in double or single quotes (no escapes), indexes as decimals.
pub fn parse(text: &str) -> Result<Vec<Step>, PathError> {
    let err = || PathError(text.to_owned());
    let mut steps = Vec::new();
    let mut rest = text;
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        rest = rest.strip_prefix('[').ok_or_else(err)?;
        let close = rest.find(']').ok_or_else(err)?;
        let comp = &rest[..close];
        rest = &rest[close + 1..];
        let quoted = |q: char| comp.len() >= 2 && comp.starts_with(q) && comp.ends_with(q);
        if quoted('"') || quoted('\'') {
            steps.push(Step::Key(comp[1..comp.len() - 1].to_owned()));
        } else {
            steps.push(Step::Index(comp.parse().map_err(|_| err())?));
        }
    }
    Ok(steps)
}

/// Looks a path up in a document. Comments are not counted as list elements.
pub fn get<'a>(doc: &'a Map, steps: &[Step]) -> Option<&'a Value> {
    let (first, rest) = steps.split_first()?;
    let Step::Key(k) = first else { return None };
    let mut cur = doc.get(k)?;
    for step in rest {
        cur = match (step, cur) {
            (Step::Key(k), Value::Map(m)) => m.get(k)?,
            (Step::Index(i), Value::Seq(items)) => items
                .iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .nth(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Why a value could not be set or unset at a path.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EditError {
    /// The path starts with an index (the document root is a mapping).
    #[error("a path must start with a key")]
    RootIndex,
    /// A step goes through a value that is not a mapping or list.
    #[error("cannot descend into a {0} at step {1}")]
    NotAContainer(&'static str, usize),
    /// An index was used on a mapping, or a key on a list.
    #[error("step {0} does not match the container (key on a list or index on a mapping)")]
    WrongStep(usize),
    /// The path does not exist (unset).
    #[error("the path does not exist")]
    Missing,
}

fn real_index(items: &[Value], i: usize) -> Option<usize> {
    items
        .iter()
        .enumerate()
        .filter(|(_, v)| !matches!(v, Value::Comment(_)))
        .nth(i)
        .map(|(pos, _)| pos)
}

/// Sets the value at `steps`, creating missing mappings (and lists for index steps); an
/// index at or past the end appends, as sops does.
pub fn set(doc: &mut Map, steps: &[Step], value: Value) -> Result<(), EditError> {
    let Some((Step::Key(first), rest)) = steps.split_first() else {
        return Err(EditError::RootIndex);
    };
    let slot = match doc.get_mut(first) {
        Some(v) => v,
        None => {
            doc.push(first.clone(), Value::Null);
            doc.get_mut(first).expect("just pushed")
        }
    };
    set_in(slot, rest, value, 1)
}

fn set_in(slot: &mut Value, steps: &[Step], value: Value, depth: usize) -> Result<(), EditError> {
    let Some((step, rest)) = steps.split_first() else {
        *slot = value;
        return Ok(());
    };
    if matches!(slot, Value::Null) {
        *slot = match step {
            Step::Key(_) => Value::Map(Map::new()),
            Step::Index(_) => Value::Seq(Vec::new()),
        };
    }
    match (step, slot) {
        (Step::Key(k), Value::Map(m)) => {
            if m.get(k).is_none() {
                m.push(k.clone(), Value::Null);
            }
            set_in(m.get_mut(k).expect("present"), rest, value, depth + 1)
        }
        (Step::Index(i), Value::Seq(items)) => match real_index(items, *i) {
            Some(pos) => set_in(&mut items[pos], rest, value, depth + 1),
            None => {
                items.push(Value::Null);
                let last = items.len() - 1;
                set_in(&mut items[last], rest, value, depth + 1)
            }
        },
        (_, Value::Map(_) | Value::Seq(_)) => Err(EditError::WrongStep(depth)),
        (_, other) => Err(EditError::NotAContainer(other.kind(), depth)),
    }
}

/// Removes the value at `steps`, as `sops unset` does.
///
/// [`EditError::Missing`] (which `--idempotent` accepts) means only that a key is absent from a
/// mapping, an index is past the end of a list, or an index was used on a mapping (sops looks
/// it up as a key and does not find it). A step that goes through a scalar is
/// [`EditError::NotAContainer`] and a key used on a list is [`EditError::WrongStep`]: sops fails
/// on both even with `--idempotent`, since the path cannot exist in a document of this shape.
pub fn unset(doc: &mut Map, steps: &[Step]) -> Result<(), EditError> {
    let Some((last, parents)) = steps.split_last() else {
        return Err(EditError::Missing);
    };
    let Some((first, between)) = parents.split_first() else {
        return match last {
            Step::Key(k) => doc_remove(doc, k),
            Step::Index(_) => Err(EditError::Missing),
        };
    };
    let Step::Key(k) = first else {
        return Err(EditError::Missing);
    };
    let mut container = doc.get_mut(k).ok_or(EditError::Missing)?;
    for (i, step) in between.iter().enumerate() {
        container = child_mut(container, step, i + 1)?.ok_or(EditError::Missing)?;
    }
    let depth = parents.len();
    match (last, container) {
        (Step::Key(k), Value::Map(m)) => doc_remove(m, k),
        (Step::Index(_), Value::Map(_)) => Err(EditError::Missing),
        (Step::Index(i), Value::Seq(items)) => {
            let pos = real_index(items, *i).ok_or(EditError::Missing)?;
            items.remove(pos);
            Ok(())
        }
        (Step::Key(_), Value::Seq(_)) => Err(EditError::WrongStep(depth)),
        (_, other) => Err(EditError::NotAContainer(other.kind(), depth)),
    }
}

fn doc_remove(m: &mut Map, k: &str) -> Result<(), EditError> {
    m.remove(k).map(|_| ()).ok_or(EditError::Missing)
}

/// One step down from `v` for [`unset`]: `Ok(None)` when the step is absent.
fn child_mut<'a>(
    v: &'a mut Value,
    step: &Step,
    depth: usize,
) -> Result<Option<&'a mut Value>, EditError> {
    match (step, v) {
        (Step::Key(k), Value::Map(m)) => Ok(m.get_mut(k)),
        (Step::Index(_), Value::Map(_)) => Ok(None),
        (Step::Index(i), Value::Seq(items)) => Ok(match real_index(items, *i) {
            Some(pos) => Some(&mut items[pos]),
            None => None,
        }),
        (Step::Key(_), Value::Seq(_)) => Err(EditError::WrongStep(depth)),
        (_, other) => Err(EditError::NotAContainer(other.kind(), depth)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sops_paths() {
        assert_eq!(
            parse(r#"["a"]['b'][3]"#).unwrap(),
            vec![Step::Key("a".into()), Step::Key("b".into()), Step::Index(3)]
        );
        for bad in ["", "a", "[\"a\"", "[x]", "[\"a\"]b", "[-1]"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn looks_up_nested_values() {
        let mut inner = Map::new();
        inner.push(
            "l",
            Value::Seq(vec![
                Value::Comment("c".into()),
                Value::Int(1),
                Value::Int(2),
            ]),
        );
        let mut m = Map::new();
        m.push("a", Value::Map(inner));
        assert_eq!(
            get(&m, &parse(r#"["a"]["l"][1]"#).unwrap()),
            Some(&Value::Int(2))
        );
        assert_eq!(get(&m, &parse(r#"["a"]["x"]"#).unwrap()), None);
    }

    #[test]
    fn set_creates_and_appends_unset_removes() {
        let mut m = Map::new();
        set(&mut m, &parse(r#"["a"]["b"]"#).unwrap(), Value::Int(1)).unwrap();
        set(
            &mut m,
            &parse(r#"["l"][5]"#).unwrap(),
            Value::Str("x".into()),
        )
        .unwrap();
        set(
            &mut m,
            &parse(r#"["l"][0]"#).unwrap(),
            Value::Str("y".into()),
        )
        .unwrap();
        assert_eq!(
            get(&m, &parse(r#"["a"]["b"]"#).unwrap()),
            Some(&Value::Int(1))
        );
        assert_eq!(
            get(&m, &parse(r#"["l"]"#).unwrap()),
            Some(&Value::Seq(vec![Value::Str("y".into())]))
        );
        assert_eq!(
            set(&mut m, &parse(r#"["a"]["b"]["c"]"#).unwrap(), Value::Null),
            Err(EditError::NotAContainer("integer", 2))
        );
        unset(&mut m, &parse(r#"["a"]["b"]"#).unwrap()).unwrap();
        assert_eq!(
            unset(&mut m, &parse(r#"["a"]["b"]"#).unwrap()),
            Err(EditError::Missing)
        );
        unset(&mut m, &parse(r#"["l"][0]"#).unwrap()).unwrap();
        assert_eq!(
            get(&m, &parse(r#"["l"]"#).unwrap()),
            Some(&Value::Seq(vec![]))
        );
    }
}
