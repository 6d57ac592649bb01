//! The dotenv store: sops's line format, not a real dotenv parser.
//!
//! Input is split on LF (a CR before it stays in the value); empty lines are dropped; a line
//! starting with `#` (column 0 only) is a comment; every other line must hold a `=`: the key is
//! everything before the first `=` (verbatim, spaces and `export ` included), the value
//! everything after it with each two-character `\n` turned into a line feed. Quotes are part
//! of the value and there are no other escapes. Every value is a string.
//!
//! Encrypted files carry the metadata as flat `sops_…` keys after the data, sorted by key
//! (see `flatten_metadata`). The flattening helpers here are shared with the INI store.

use super::StoreError;
use crate::sops::tree::{Item, Map, Value};

/// Prefix of the metadata keys in an encrypted dotenv file.
const SOPS_PREFIX: &str = "sops_";

fn parse_err(message: String) -> StoreError {
    StoreError::Parse {
        format: "dotenv",
        message,
    }
}

/// Parses the lines of a dotenv file, metadata keys included.
fn parse_lines(bytes: &[u8]) -> Result<Map, StoreError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| parse_err(format!("not UTF-8 (byte {})", e.valid_up_to())))?;
    let mut m = Map::new();
    for (n, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            m.0.push(Item::Comment(c.to_owned()));
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(parse_err(format!(
                "line {}: invalid dotenv input line (no `=`; comments must start at column 0)",
                n + 1
            )));
        };
        m.push(key, Value::Str(value.replace("\\n", "\n")));
    }
    Ok(m)
}

/// Parses a plain dotenv file. A `sops_…` key means the file is already encrypted.
pub fn parse(bytes: &[u8]) -> Result<Map, StoreError> {
    let m = parse_lines(bytes)?;
    if m.entries().any(|(k, _)| k.starts_with(SOPS_PREFIX)) {
        return Err(StoreError::AlreadyEncrypted);
    }
    Ok(m)
}

/// Parses an encrypted dotenv file: the `sops_…` keys (wherever they are) become the nested
/// metadata mapping, put first under the key `sops` so that it wins over a data key `sops`.
/// No `sops_…` key at all gives a tree without metadata.
pub fn parse_encrypted(bytes: &[u8]) -> Result<Map, StoreError> {
    let all = parse_lines(bytes)?;
    let mut data = Map::new();
    let mut flat: Vec<(String, String)> = Vec::new();
    for item in all.0 {
        match item {
            Item::Entry(k, Value::Str(v)) if k.starts_with(SOPS_PREFIX) => {
                let key = k[SOPS_PREFIX.len()..].to_owned();
                // Later duplicates win (sops reads them into a Go map).
                flat.retain(|(f, _)| *f != key);
                flat.push((key, v));
            }
            other => data.0.push(other),
        }
    }
    if flat.is_empty() {
        return Ok(data);
    }
    let meta = unflatten_metadata(flat, "dotenv")?;
    data.0
        .insert(0, Item::Entry("sops".into(), Value::Map(meta)));
    Ok(data)
}

/// Emits the first document as dotenv lines.
pub fn emit(branches: &[Map]) -> Result<Vec<u8>, StoreError> {
    let Some(branch) = branches.first() else {
        return Ok(Vec::new());
    };
    emit_items(branch.0.iter())
}

fn emit_items<'a>(items: impl Iterator<Item = &'a Item>) -> Result<Vec<u8>, StoreError> {
    let mut out = String::new();
    for item in items {
        match item {
            Item::Comment(c) => {
                out.push('#');
                out.push_str(c);
            }
            Item::Entry(k, v) => {
                if matches!(v, Value::Map(_) | Value::Seq(_)) {
                    return Err(StoreError::Unrepresentable {
                        format: "dotenv",
                        reason: format!(
                            "cannot use complex value in dotenv file; offending key {k}"
                        ),
                    });
                }
                out.push_str(k);
                out.push('=');
                out.push_str(&val_to_string(v).replace('\n', "\\n"));
            }
        }
        out.push('\n');
    }
    Ok(out.into_bytes())
}

/// Emits an encrypted file: the data, then the metadata (the last top-level `sops` mapping)
/// as `sops_…` lines sorted by key.
pub fn emit_encrypted(branches: &[Map]) -> Result<Vec<u8>, StoreError> {
    let Some(branch) = branches.first() else {
        return Err(StoreError::NoMetadata);
    };
    let (meta_at, meta) = find_metadata(branch).ok_or(StoreError::NoMetadata)?;
    let flat = flatten_metadata(meta);
    let meta_items: Vec<Item> = flat
        .into_iter()
        .map(|(k, v)| Item::Entry(format!("{SOPS_PREFIX}{k}"), Value::Str(v)))
        .collect();
    let data = branch
        .0
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != meta_at)
        .map(|(_, item)| item);
    emit_items(data.chain(meta_items.iter()))
}

/// `--extract` of a single value: strings only (sops's dotenv store refuses anything else).
pub fn emit_value(value: &Value) -> Result<Vec<u8>, StoreError> {
    match value {
        Value::Str(s) => Ok(s.as_bytes().to_vec()),
        Value::Bytes(b) => Ok(b.clone()),
        other => Err(StoreError::Unrepresentable {
            format: "dotenv",
            reason: format!(
                "the dotenv store only supports emitting strings, got a {}",
                other.kind()
            ),
        }),
    }
}

/// The position and value of the metadata: the last top-level `sops` entry holding a mapping
/// ([`super::attach_metadata`] appends it).
pub(super) fn find_metadata(branch: &Map) -> Option<(usize, &Map)> {
    branch
        .0
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, item)| match item {
            Item::Entry(k, Value::Map(m)) if k == "sops" => Some((i, m)),
            _ => None,
        })
}

/// sops's `ValToString` for a dotenv/INI value (`<nil>` for null, as Go's `%v` prints it).
/// Mappings and lists are written as Go's `%v` text (the INI store's lossy output).
pub(super) fn val_to_string(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Map(_) | Value::Seq(_) => go_value_text(v),
        other => other.to_flat_string().unwrap_or_default(),
    }
}

/// Go's `fmt.Sprintf("%v", x)` of a sops tree value nested in a mapping or list.
fn go_value_text(v: &Value) -> String {
    match v {
        Value::Map(m) => {
            let items: Vec<String> =
                m.0.iter()
                    .map(|item| match item {
                        Item::Entry(k, v) => format!("{{{k} {}}}", go_value_text(v)),
                        Item::Comment(c) => format!("{{{{{c}}} <nil>}}"),
                    })
                    .collect();
            format!("[{}]", items.join(" "))
        }
        Value::Seq(s) => {
            let items: Vec<String> = s.iter().map(go_value_text).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Str(s) => s.clone(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => go_float_v(*f),
        Value::Bool(b) => b.to_string(),
        Value::Null => "<nil>".into(),
        Value::Comment(c) => format!("{{{c}}}"),
        Value::Time(t) => go_time_string(t.as_str()),
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, what `%v` prints for a float64: the shortest
/// digits, in exponent form when the decimal exponent is < -4 or >= 6 (`1e+06`, `1.5`).
fn go_float_v(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    if (-4..6).contains(&exp) {
        format!("{f}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    }
}

/// Go's `time.Time.String()` for a canonical RFC 3339 text: `2006-01-02 15:04:05.5 +0000 UTC`
/// (an offset zone parsed from text has no name, so Go prints the offset twice).
fn go_time_string(rfc: &str) -> String {
    let (date, rest) = rfc.split_once('T').unwrap_or((rfc, ""));
    let zone_at = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let zone = match zone {
        "Z" | "" => "+0000 UTC".to_owned(),
        z => {
            let z = z.replace(':', "");
            format!("{z} {z}")
        }
    };
    format!("{date} {clock} {zone}")
}

/// Flattens the metadata mapping as sops does for dotenv and INI: `__map_KEY` and `__list_N`
/// joined onto the field name, nulls (and empty containers) dropped, booleans `true`/`false`,
/// line feeds written as the two characters `\n`. Sorted by key.
pub(super) fn flatten_metadata(meta: &Map) -> Vec<(String, String)> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Map(m) => {
                for (k, v) in m.entries() {
                    walk(&format!("{prefix}__map_{k}"), v, out);
                }
            }
            Value::Seq(s) => {
                for (i, v) in s.iter().enumerate() {
                    walk(&format!("{prefix}__list_{i}"), v, out);
                }
            }
            Value::Null | Value::Comment(_) => {}
            Value::Time(t) => out.push((prefix.to_owned(), t.as_str().to_owned())),
            leaf => out.push((
                prefix.to_owned(),
                leaf.to_flat_string()
                    .unwrap_or_default()
                    .replace('\n', "\\n"),
            )),
        }
    }
    let mut out = Vec::new();
    for (k, v) in meta.entries() {
        walk(k, v, &mut out);
    }
    // Sorted by key; of duplicate keys the last one wins (sops builds a Go map).
    out.reverse();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// One step of a flattened metadata key.
enum Token {
    Key(String),
    Index(usize),
}

/// Splits a flat key at every `__map_` / `__list_` (sops's `tokenize`).
fn tokenize(path: &str, format: &'static str) -> Result<Vec<Token>, StoreError> {
    const MAP: &str = "__map_";
    const LIST: &str = "__list_";
    let mut tokens = Vec::new();
    let mut kind_is_list = false;
    let mut start = 0;
    let mut i = 0;
    let finish = |tokens: &mut Vec<Token>, text: &str, list: bool| -> Result<(), StoreError> {
        if list {
            let n = text.parse::<usize>().map_err(|_| StoreError::Parse {
                format,
                message: format!("metadata key `{path}`: bad list index"),
            })?;
            tokens.push(Token::Index(n));
        } else {
            tokens.push(Token::Key(text.to_owned()));
        }
        Ok(())
    };
    while i < path.len() {
        let rest = &path[i..];
        let sep = if rest.starts_with(MAP) {
            Some((MAP.len(), false))
        } else if rest.starts_with(LIST) {
            Some((LIST.len(), true))
        } else {
            None
        };
        match sep {
            Some((len, list)) => {
                finish(&mut tokens, &path[start..i], kind_is_list)?;
                kind_is_list = list;
                i += len;
                start = i;
            }
            None => i += rest.chars().next().map_or(1, char::len_utf8),
        }
    }
    finish(&mut tokens, &path[start..], kind_is_list)?;
    Ok(tokens)
}

/// A metadata value being rebuilt from flat keys.
enum Node {
    Map(Vec<(String, Node)>),
    List(Vec<Node>),
    Leaf(String),
    Empty,
}

impl Node {
    fn into_value(self) -> Value {
        match self {
            Node::Map(entries) => {
                let mut m = Map::new();
                for (k, v) in entries {
                    m.push(k, v.into_value());
                }
                Value::Map(m)
            }
            Node::List(items) => Value::Seq(items.into_iter().map(Node::into_value).collect()),
            Node::Leaf(s) => Value::Str(s),
            Node::Empty => Value::Null,
        }
    }
}

/// Rebuilds the nested metadata mapping from flat `(key, value)` pairs (sops's `Unflatten`
/// plus `DecodeNewLines` and `DecodeNonStrings`): `\n` in values becomes a line feed and
/// `mac_only_encrypted` a boolean; everything else stays a string. A list index that skips
/// positions leaves nulls there.
pub(super) fn unflatten_metadata(
    flat: Vec<(String, String)>,
    format: &'static str,
) -> Result<Map, StoreError> {
    let conflict = |path: &str| StoreError::Parse {
        format,
        message: format!("metadata key `{path}` conflicts with another metadata key"),
    };
    let mut root = Node::Map(Vec::new());
    for (path, value) in flat {
        let tokens = tokenize(&path, format)?;
        let mut node = &mut root;
        for token in tokens {
            if matches!(node, Node::Empty) {
                *node = match token {
                    Token::Key(_) => Node::Map(Vec::new()),
                    Token::Index(_) => Node::List(Vec::new()),
                };
            }
            node = match (node, token) {
                (Node::Map(entries), Token::Key(k)) => {
                    let at = match entries.iter().position(|(e, _)| *e == k) {
                        Some(at) => at,
                        None => {
                            entries.push((k, Node::Empty));
                            entries.len() - 1
                        }
                    };
                    &mut entries[at].1
                }
                (Node::List(items), Token::Index(n)) => {
                    if n >= items.len() {
                        if n > 10_000 {
                            return Err(conflict(&path));
                        }
                        items.resize_with(n + 1, || Node::Empty);
                    }
                    &mut items[n]
                }
                _ => return Err(conflict(&path)),
            };
        }
        if !matches!(node, Node::Empty | Node::Leaf(_)) {
            return Err(conflict(&path));
        }
        *node = Node::Leaf(value.replace("\\n", "\n"));
    }
    let Value::Map(mut m) = root.into_value() else {
        unreachable!("the root is a mapping");
    };
    if let Some(v) = m.get_mut("mac_only_encrypted") {
        *v = Value::Bool(v.as_str() == Some("true"));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn line_format_like_sops() {
        // sops-lab/basic.env and its `sops decrypt` output basic.dec.env (real sops 3.11).
        let input = "# a comment\nFOO=bar\nEMPTY=\nQUOTED=\"with quotes\"\nSPACED = x y \nMULTI=line1\\nline2\nexport EXP=1\nURL=a=b=c\n\n#another\nNUM=42\nsecret_unencrypted=plain\n";
        let want = "# a comment\nFOO=bar\nEMPTY=\nQUOTED=\"with quotes\"\nSPACED = x y \nMULTI=line1\\nline2\nexport EXP=1\nURL=a=b=c\n#another\nNUM=42\nsecret_unencrypted=plain\n";
        let m = parse(input.as_bytes()).unwrap();
        assert_eq!(m.get("SPACED "), Some(&s(" x y ")));
        assert_eq!(m.get("MULTI"), Some(&s("line1\nline2")));
        assert_eq!(m.get("export EXP"), Some(&s("1")));
        assert_eq!(m.get("URL"), Some(&s("a=b=c")));
        assert_eq!(m.0[0], Item::Comment(" a comment".into()));
        assert_eq!(String::from_utf8(emit(&[m]).unwrap()).unwrap(), want);
    }

    #[test]
    fn crlf_stays_in_values_and_bad_lines_fail() {
        let m = parse(b"A=1\r\nB=two\r\n").unwrap();
        assert_eq!(m.get("A"), Some(&s("1\r")));
        assert_eq!(emit(&[m]).unwrap(), b"A=1\r\nB=two\r\n");
        for bad in [&b"  # indented comment\n"[..], b"NOVAL\n", b"A=1\n\r\n"] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("line"), "{e}");
            assert!(!e.contains("NOVAL"), "errors never quote the line: {e}");
        }
        assert!(parse(b"").unwrap().is_empty());
    }

    #[test]
    fn sops_keys_mean_already_encrypted() {
        assert!(matches!(
            parse(b"A=1\nsops_version=3.11.0\n"),
            Err(StoreError::AlreadyEncrypted)
        ));
        // A key named exactly `sops` is data for sops.
        assert!(parse(b"sops=1\n").is_ok());
    }

    #[test]
    fn non_strings_like_val_to_string() {
        // `sops decrypt --output-type dotenv` of
        // {"n":null,"f":1e21,"t":true,"z":0,"neg":-0.0,"s":" x "} (real sops 3.11).
        let mut m = Map::new();
        m.push("n", Value::Null);
        m.push("f", Value::Float(1e21));
        m.push("t", Value::Bool(true));
        m.push("z", Value::Float(0.0));
        m.push("neg", Value::Float(-0.0));
        m.push("s", s(" x "));
        assert_eq!(
            String::from_utf8(emit(&[m]).unwrap()).unwrap(),
            "n=<nil>\nf=1E+21\nt=true\nz=0.0\nneg=-0.0\ns= x \n"
        );
        let mut m = Map::new();
        m.push("sec", Value::Map(Map::new()));
        let e = emit(&[m]).unwrap_err().to_string();
        assert!(e.contains("cannot use complex value in dotenv file"), "{e}");
        assert!(emit_value(&Value::Int(5)).is_err());
        assert_eq!(emit_value(&s("s<>")).unwrap(), b"s<>");
    }

    #[test]
    fn metadata_round_trip_sorted_and_escaped() {
        // Layout of sops-lab/groups/shamir.enc.env (real sops 3.11), values shortened.
        let enc = "A=ENC[x]\n\
sops_key_groups__list_0__map_age__list_0__map_enc=-----BEGIN AGE ENCRYPTED FILE-----\\nAAA\\n-----END AGE ENCRYPTED FILE-----\\n\n\
sops_key_groups__list_0__map_age__list_0__map_recipient=age1a\n\
sops_key_groups__list_1__map_age__list_0__map_enc=E2\n\
sops_key_groups__list_1__map_age__list_0__map_recipient=age1b\n\
sops_lastmodified=2026-11-26T19:03:40Z\n\
sops_mac=ENC[mac]\n\
sops_mac_only_encrypted=true\n\
sops_shamir_threshold=2\n\
sops_unencrypted_suffix=_unencrypted\n\
sops_version=3.11.0\n";
        let mut m = parse_encrypted(enc.as_bytes()).unwrap();
        let Some(Value::Map(meta)) = m.remove("sops") else {
            panic!("no metadata")
        };
        assert_eq!(meta.get("shamir_threshold"), Some(&s("2")));
        assert_eq!(meta.get("mac_only_encrypted"), Some(&Value::Bool(true)));
        let groups = meta.get("key_groups").unwrap().as_seq().unwrap();
        let age0 = groups[0]
            .as_map()
            .unwrap()
            .get("age")
            .unwrap()
            .as_seq()
            .unwrap();
        assert_eq!(
            age0[0].as_map().unwrap().get("enc"),
            Some(&s(
                "-----BEGIN AGE ENCRYPTED FILE-----\nAAA\n-----END AGE ENCRYPTED FILE-----\n"
            ))
        );
        // Back out: the same bytes (metadata appended last, as attach_metadata does; a null
        // `hc_vault` in a key group is dropped).
        let mut meta2 = meta.clone();
        if let Some(Value::Seq(groups)) = meta2.get_mut("key_groups") {
            for g in groups {
                if let Value::Map(g) = g {
                    g.push("hc_vault", Value::Null);
                }
            }
        }
        m.push("sops", Value::Map(meta2));
        assert_eq!(
            String::from_utf8(emit_encrypted(&[m]).unwrap()).unwrap(),
            enc
        );
    }

    #[test]
    fn metadata_wins_over_a_data_key_named_sops() {
        let m = parse_encrypted(b"sops=data\nsops_version=3.11.0\n").unwrap();
        let mut branches = vec![m];
        let meta = super::super::split_metadata(&mut branches).unwrap();
        assert_eq!(meta.get("version"), Some(&s("3.11.0")));
        assert_eq!(branches[0].get("sops"), Some(&s("data")));
        assert!(parse_encrypted(b"A=1\n").unwrap().get("sops").is_none());
    }

    #[test]
    fn go_value_text_of_nested_values() {
        // `sops decrypt --output-type ini` of {"s":{"l":[1.5,1e21,"x",null,true,{"k":[]}]}}
        let mut inner = Map::new();
        inner.push("k", Value::Seq(vec![]));
        let l = Value::Seq(vec![
            Value::Float(1.5),
            Value::Float(1e21),
            s("x"),
            Value::Null,
            Value::Bool(true),
            Value::Map(inner),
        ]);
        assert_eq!(val_to_string(&l), "[1.5 1e+21 x <nil> true [{k []}]]");
        assert_eq!(
            go_time_string("2001-12-14T21:59:43.1-05:00"),
            "2001-12-14 21:59:43.1 -0500 -0500"
        );
        assert_eq!(
            go_time_string("2024-01-02T00:00:00Z"),
            "2024-01-02 00:00:00 +0000 UTC"
        );
    }
}
