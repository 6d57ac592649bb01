//! The ordered document tree, as sops models a file.
//!
//! A document is one or more [`Map`]s (one per YAML document; every other format has one).
//! Maps keep their key order and carry comments as items, exactly where sops keeps them:
//! a comment in a mapping is an [`Item::Comment`], a comment inside a sequence is a
//! [`Value::Comment`] element. No I/O and no crypto happen here.
//!
//! Trees hold plaintext once decrypted, so `Debug` prints the shape only (lengths, not
//! values) and [`Zeroize`] wipes every string.

use std::fmt;
use zeroize::Zeroize;

/// An ordered mapping: keys in file order, comments between them.
#[derive(Clone, Default, PartialEq)]
pub struct Map(pub Vec<Item>);

/// One entry of a [`Map`].
#[derive(Clone, PartialEq)]
pub enum Item {
    /// `key: value`. Keys are always strings (sops refuses other key types).
    Entry(String, Value),
    /// A comment line, without the leading `#` (leading space kept: `# a` is `" a"`).
    Comment(String),
}

/// A value in the tree.
#[derive(Clone, PartialEq)]
pub enum Value {
    /// A nested mapping.
    Map(Map),
    /// A sequence; comments inside it are [`Value::Comment`] elements.
    Seq(Vec<Value>),
    /// A UTF-8 string.
    Str(String),
    /// A string that is not valid UTF-8 (binary files, `!!binary`); encrypted as `type:str`.
    Bytes(Vec<u8>),
    /// A 64-bit integer (Go `int`).
    Int(i64),
    /// A 64-bit float (Go `float64`).
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A timestamp, kept as Go's `time.MarshalText` form (RFC 3339, fraction trimmed).
    Time(Timestamp),
    /// YAML `null` / `~` / empty, JSON `null`. Never encrypted, never in the MAC.
    Null,
    /// A comment that is an element of a sequence.
    Comment(String),
}

/// A timestamp in the canonical text Go's `time.Time.MarshalText` produces:
/// RFC 3339 with nanoseconds, trailing fractional zeros trimmed, `Z` for UTC.
#[derive(Clone, PartialEq, Eq)]
pub struct Timestamp(String);

impl Timestamp {
    /// Wraps an already canonical RFC 3339 text (see [`crate::sops::scalar::parse_timestamp`]
    /// to build one from YAML source text).
    pub fn from_canonical(text: String) -> Self {
        Timestamp(text)
    }

    /// The canonical text (`2001-12-14T21:59:43.1-05:00`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form Go's `time.RFC3339` layout prints: the fraction dropped.
    pub fn rfc3339_seconds(&self) -> String {
        let s = &self.0;
        match s.find('.') {
            Some(dot) => {
                let rest = &s[dot + 1..];
                let end = rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len());
                format!("{}{}", &s[..dot], &rest[end..])
            }
            None => s.clone(),
        }
    }
}

impl Map {
    /// An empty map.
    pub fn new() -> Self {
        Map(Vec::new())
    }

    /// The value of the first entry named `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find_map(|item| match item {
            Item::Entry(k, v) if k == key => Some(v),
            _ => None,
        })
    }

    /// A mutable reference to the value of the first entry named `key`.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.iter_mut().find_map(|item| match item {
            Item::Entry(k, v) if k == key => Some(v),
            _ => None,
        })
    }

    /// Appends an entry.
    pub fn push(&mut self, key: impl Into<String>, value: Value) {
        self.0.push(Item::Entry(key.into(), value));
    }

    /// Removes every entry named `key`, returning the first removed value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let pos = self
            .0
            .iter()
            .position(|item| matches!(item, Item::Entry(k, _) if k == key))?;
        match self.0.remove(pos) {
            Item::Entry(_, v) => Some(v),
            Item::Comment(_) => unreachable!("position matched an entry"),
        }
    }

    /// Iterates over the entries (comments skipped).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().filter_map(|item| match item {
            Item::Entry(k, v) => Some((k.as_str(), v)),
            Item::Comment(_) => None,
        })
    }

    /// True when the map has no entries and no comments.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Value {
    /// The string, when this is a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The map, when this is a [`Value::Map`].
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The sequence, when this is a [`Value::Seq`].
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the value's kind, for error messages (never the value).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Map(_) => "mapping",
            Value::Seq(_) => "sequence",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Bool(_) => "boolean",
            Value::Time(_) => "timestamp",
            Value::Null => "null",
            Value::Comment(_) => "comment",
        }
    }
}

impl Value {
    /// The text sops uses for a value in an environment variable, dotenv or INI file (its
    /// `ValToString`): strings as they are, floats with at least one decimal (`5.0`, `1.5`,
    /// `1E+06`), `true`/`false`, timestamps in RFC 3339 with seconds. `None` for containers.
    pub fn to_flat_string(&self) -> Option<String> {
        Some(match self {
            Value::Str(s) | Value::Comment(s) => s.clone(),
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Value::Int(i) => i.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Time(t) => t.rfc3339_seconds(),
            Value::Null => String::new(),
            Value::Float(f) => go_float_upper_g(*f),
            Value::Map(_) | Value::Seq(_) => return None,
        })
    }
}

/// Go's `FormatFloat(f, 'G', -1, 64)`, then `FormatFloat(f, 'f', 1, 64)` when that has neither
/// a `.` nor an `E` (sops's ValToString).
fn go_float_upper_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    // Shortest 'G' switches to exponent form when the exponent is < -4 or >= 6.
    let text = if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}E{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    };
    if text.contains('.') || text.contains('E') {
        text
    } else {
        format!("{f:.1}")
    }
}

impl Zeroize for Map {
    fn zeroize(&mut self) {
        for item in &mut self.0 {
            match item {
                Item::Entry(k, v) => {
                    k.zeroize();
                    v.zeroize();
                }
                Item::Comment(c) => c.zeroize(),
            }
        }
        self.0.clear();
    }
}

impl Zeroize for Value {
    fn zeroize(&mut self) {
        match self {
            Value::Map(m) => m.zeroize(),
            Value::Seq(s) => {
                for v in s.iter_mut() {
                    v.zeroize();
                }
                s.clear();
            }
            Value::Str(s) | Value::Comment(s) => s.zeroize(),
            Value::Bytes(b) => b.zeroize(),
            Value::Time(t) => t.0.zeroize(),
            Value::Int(i) => *i = 0,
            Value::Float(f) => *f = 0.0,
            Value::Bool(b) => *b = false,
            Value::Null => {}
        }
    }
}

// Debug shows the shape of the tree, never a value or a comment text.
impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_list();
        for item in &self.0 {
            m.entry(item);
        }
        m.finish()
    }
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Entry(k, v) => write!(f, "{k:?}: {v:?}"),
            Item::Comment(c) => write!(f, "#<comment, {} bytes>", c.len()),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Map(m) => m.fmt(f),
            Value::Seq(s) => f.debug_list().entries(s).finish(),
            Value::Null => f.write_str("null"),
            Value::Str(s) => write!(f, "<str, {} bytes>", s.len()),
            Value::Bytes(b) => write!(f, "<bytes, {} bytes>", b.len()),
            Value::Comment(c) => write!(f, "<comment, {} bytes>", c.len()),
            other => write!(f, "<{}>", other.kind()),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<timestamp>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_values() {
        let mut m = Map::new();
        m.push("password", Value::Str("hunter2".into()));
        m.0.push(Item::Comment(" secret note".into()));
        let shown = format!("{m:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("secret note"), "{shown}");
        assert!(shown.contains("password"));
    }

    #[test]
    fn rfc3339_seconds_drops_fraction_keeps_offset() {
        let t = Timestamp::from_canonical("2001-12-14T21:59:43.1-05:00".into());
        assert_eq!(t.rfc3339_seconds(), "2001-12-14T21:59:43-05:00");
        let t = Timestamp::from_canonical("2024-01-02T00:00:00Z".into());
        assert_eq!(t.rfc3339_seconds(), "2024-01-02T00:00:00Z");
    }

    #[test]
    fn flat_strings_match_sops_val_to_string() {
        // Values as sops 3.11 writes them into dotenv/INI output (ValToString).
        for (f, s) in [
            (5.0, "5.0"),
            (1.5, "1.5"),
            (1e6, "1E+06"),
            (1e-5, "1E-05"),
            (123456.0, "123456.0"),
            (0.25, "0.25"),
        ] {
            assert_eq!(Value::Float(f).to_flat_string().unwrap(), s, "{f}");
        }
        assert_eq!(Value::Bool(true).to_flat_string().unwrap(), "true");
        assert!(Value::Map(Map::new()).to_flat_string().is_none());
    }
}
