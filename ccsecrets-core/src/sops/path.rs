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
}
