//! The JSON store, with Go `encoding/json` semantics as sops 3.11 has them: key order and
//! duplicate keys kept, every number a float64, parsing stops after the first object; output
//! re-indented like Go's `json.Indent` with Go's string escaping (HTML characters included).

use super::{StoreError, StoreOptions};
use crate::sops::tree::{Item, Map, Value};

fn err(pos: usize, reason: &str) -> StoreError {
    StoreError::Parse {
        format: "json",
        message: format!("{reason} at byte {pos}"),
    }
}

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 10_000;

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(c) = self.b.get(self.pos) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), StoreError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(err(self.pos, &format!("expected '{}'", c as char)))
        }
    }

    fn value(&mut self) -> Result<Value, StoreError> {
        match self.peek() {
            Some(b'{') => self.object().map(Value::Map),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(Value::Str),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(c) if c == b'-' || c.is_ascii_digit() => self.number(),
            Some(_) => Err(err(
                self.pos,
                "invalid character looking for beginning of value",
            )),
            None => Err(err(self.pos, "unexpected end of JSON input")),
        }
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, StoreError> {
        if self.b[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(err(self.pos, "invalid literal"))
        }
    }

    fn enter(&mut self) -> Result<(), StoreError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err(self.pos, "nesting too deep"));
        }
        Ok(())
    }

    fn object(&mut self) -> Result<Map, StoreError> {
        self.enter()?;
        self.expect(b'{')?;
        let mut m = Map::new();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(m);
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(err(self.pos, "expected a string key"));
            }
            let k = self.string()?;
            self.expect(b':')?;
            let v = self.value()?;
            m.0.push(Item::Entry(k, v));
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(m);
                }
                Some(_) => return Err(err(self.pos, "expected ',' or '}' after object value")),
                None => return Err(err(self.pos, "unexpected end of JSON input")),
            }
        }
    }

    fn array(&mut self) -> Result<Value, StoreError> {
        self.enter()?;
        self.expect(b'[')?;
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::Seq(items));
        }
        loop {
            items.push(self.value()?);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Value::Seq(items));
                }
                Some(_) => return Err(err(self.pos, "expected ',' or ']' after array element")),
                None => return Err(err(self.pos, "unexpected end of JSON input")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, StoreError> {
        let h = self
            .b
            .get(self.pos..self.pos + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| err(self.pos, "invalid \\u escape"))?;
        self.pos += 4;
        Ok(h)
    }

    fn string(&mut self) -> Result<String, StoreError> {
        self.expect(b'"')?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.b.get(self.pos) else {
                return Err(err(self.pos, "unexpected end of JSON input in string"));
            };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.b.get(self.pos) else {
                        return Err(err(self.pos, "unexpected end of JSON input in string"));
                    };
                    self.pos += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi)
                                && self.b[self.pos..].starts_with(b"\\u")
                            {
                                let save = self.pos;
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                        .unwrap_or('\u{FFFD}')
                                } else {
                                    self.pos = save;
                                    '\u{FFFD}'
                                }
                            } else {
                                char::from_u32(hi).unwrap_or('\u{FFFD}')
                            }
                        }
                        _ => return Err(err(self.pos - 1, "invalid escape in string")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => {
                    return Err(err(self.pos - 1, "invalid control character in string"))
                }
                c => out.push(c),
            }
        }
        // Go replaces invalid UTF-8 in strings with U+FFFD.
        Ok(match String::from_utf8(out) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    fn number(&mut self) -> Result<Value, StoreError> {
        let start = self.pos;
        let b = self.b;
        let mut i = self.pos;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(c) if c.is_ascii_digit() => {
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
            _ => return Err(err(i, "invalid number")),
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !b.get(i).is_some_and(u8::is_ascii_digit) {
                return Err(err(i, "invalid number"));
            }
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !b.get(i).is_some_and(u8::is_ascii_digit) {
                return Err(err(i, "invalid number"));
            }
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        self.pos = i;
        let text = std::str::from_utf8(&b[start..i]).expect("ASCII digits");
        let f: f64 = text.parse().map_err(|_| err(start, "invalid number"))?;
        if !f.is_finite() {
            return Err(err(start, "number out of range for float64"));
        }
        Ok(Value::Float(f))
    }
}

/// Parses a plain JSON object (trailing bytes after it are ignored, as sops does).
pub fn parse(bytes: &[u8]) -> Result<Map, StoreError> {
    let mut p = Parser {
        b: bytes,
        pos: 0,
        depth: 0,
    };
    match p.peek() {
        Some(b'{') => p.object(),
        None => Err(StoreError::Empty),
        Some(_) => Err(err(p.pos, "the top level must be a JSON object")),
    }
}

/// Parses one JSON value (any type), as `sops set` reads its VALUE argument.
pub fn parse_value(bytes: &[u8]) -> Result<Value, StoreError> {
    let mut p = Parser {
        b: bytes,
        pos: 0,
        depth: 0,
    };
    let v = p.value()?;
    if p.peek().is_some() {
        return Err(err(p.pos, "unexpected data after the value"));
    }
    Ok(v)
}

/// Go's `json.Marshal` text of a float64.
pub fn format_float(f: f64) -> Result<String, StoreError> {
    if !f.is_finite() {
        return Err(StoreError::Unrepresentable {
            format: "json",
            reason: "NaN and infinite floats have no JSON form".into(),
        });
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let e = format!("{f:e}");
        let (mant, exp) = e.split_once('e').expect("{:e} has an exponent");
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d.to_owned()),
            None => (
                '+',
                if exp.len() < 2 {
                    format!("0{exp}")
                } else {
                    exp.to_owned()
                },
            ),
        };
        Ok(format!("{mant}e{sign}{digits}"))
    } else {
        Ok(format!("{f}"))
    }
}

/// Go's JSON string encoding (HTML-safe): `<`, `>`, `&` as `\u003c`…, U+2028/2029 escaped,
/// invalid UTF-8 bytes as `\ufffd`.
fn write_str_bytes(out: &mut String, bytes: &[u8]) {
    out.push('"');
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c < 0x80 {
            match c {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                b'\n' => out.push_str("\\n"),
                b'\r' => out.push_str("\\r"),
                b'\t' => out.push_str("\\t"),
                0x08 => out.push_str("\\b"),
                0x0c => out.push_str("\\f"),
                b'<' | b'>' | b'&' | 0x00..=0x1f => out.push_str(&format!("\\u00{c:02x}")),
                _ => out.push(c as char),
            }
            i += 1;
            continue;
        }
        let len = match c {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 0,
        };
        match bytes
            .get(i..i + len)
            .and_then(|s| std::str::from_utf8(s).ok())
        {
            Some(s) if len > 0 => {
                match s {
                    "\u{2028}" => out.push_str("\\u2028"),
                    "\u{2029}" => out.push_str("\\u2029"),
                    _ => out.push_str(s),
                }
                i += len;
            }
            _ => {
                out.push_str("\\ufffd");
                i += 1;
            }
        }
    }
    out.push('"');
}

struct Emitter {
    indent: String,
    out: String,
}

impl Emitter {
    fn newline(&mut self, depth: usize) {
        self.out.push('\n');
        for _ in 0..depth {
            self.out.push_str(&self.indent.clone());
        }
    }

    fn value(&mut self, v: &Value, depth: usize) -> Result<(), StoreError> {
        match v {
            Value::Map(m) => self.map(m, depth)?,
            Value::Seq(items) => {
                let items: Vec<&Value> = items
                    .iter()
                    .filter(|v| !matches!(v, Value::Comment(_)))
                    .collect();
                if items.is_empty() {
                    self.out.push_str("[]");
                } else {
                    self.out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            self.out.push(',');
                        }
                        self.newline(depth + 1);
                        self.value(item, depth + 1)?;
                    }
                    self.newline(depth);
                    self.out.push(']');
                }
            }
            Value::Str(s) => write_str_bytes(&mut self.out, s.as_bytes()),
            Value::Bytes(b) => write_str_bytes(&mut self.out, b),
            Value::Int(i) => self.out.push_str(&i.to_string()),
            Value::Float(f) => self.out.push_str(&format_float(*f)?),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Time(t) => write_str_bytes(&mut self.out, t.as_str().as_bytes()),
            Value::Null => self.out.push_str("null"),
            Value::Comment(_) => {}
        }
        Ok(())
    }

    fn map(&mut self, m: &Map, depth: usize) -> Result<(), StoreError> {
        let entries: Vec<(&str, &Value)> = m.entries().collect();
        if entries.is_empty() {
            self.out.push_str("{}");
            return Ok(());
        }
        self.out.push('{');
        for (i, (k, v)) in entries.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.newline(depth + 1);
            write_str_bytes(&mut self.out, k.as_bytes());
            self.out.push_str(": ");
            self.value(v, depth + 1)?;
        }
        self.newline(depth);
        self.out.push('}');
        Ok(())
    }
}

fn emitter(opts: &StoreOptions) -> Emitter {
    Emitter {
        indent: match opts.json_indent {
            None => "\t".into(),
            Some(n) => " ".repeat(n),
        },
        out: String::new(),
    }
}

/// Emits one document as sops writes JSON (with a final newline).
pub fn emit(branch: &Map, opts: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    let mut e = emitter(opts);
    e.map(branch, 0)?;
    e.out.push('\n');
    Ok(e.out.into_bytes())
}

/// Emits one value, indented, without a trailing newline (`--extract`).
pub fn emit_value(value: &Value, opts: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    let mut e = emitter(opts);
    e.value(value, 0)?;
    Ok(e.out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(text: &str) -> String {
        String::from_utf8(emit(&parse(text.as_bytes()).unwrap(), &StoreOptions::default()).unwrap())
            .unwrap()
    }

    #[test]
    fn go_float_forms() {
        // Expected strings are what Go's json.Marshal (and so sops 3.11) prints.
        for (f, s) in [
            (42.0, "42"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1e-7, "1e-7"),
            (0.000001, "0.000001"),
            (1.5e300, "1.5e+300"),
            (-0.0, "-0"),
            (3.25, "3.25"),
            (9007199254740993.0, "9007199254740992"),
        ] {
            assert_eq!(format_float(f).unwrap(), s, "{f}");
        }
    }

    #[test]
    fn keeps_order_and_duplicates_and_escapes_like_go() {
        let out = round("{\"b\": 1, \"a\": \"<x&y>\", \"a\": [true, null, {}, []], \"u\": \"\\u2028\\u00e9\\ud83d\\ude00\"} trailing");
        assert_eq!(
            out,
            "{\n\t\"b\": 1,\n\t\"a\": \"\\u003cx\\u0026y\\u003e\",\n\t\"a\": [\n\t\ttrue,\n\t\tnull,\n\t\t{},\n\t\t[]\n\t],\n\t\"u\": \"\\u2028é😀\"\n}\n"
        );
    }

    #[test]
    fn errors_name_positions_not_values() {
        for bad in [
            "[1,2]",
            "{\"a\": secretword}",
            "{\"a\": 1",
            "\"x\"",
            "{\"a\": 1e400}",
        ] {
            let e = parse(bad.as_bytes()).unwrap_err().to_string();
            assert!(!e.contains("secretword"), "{e}");
        }
        assert!(matches!(parse(b"  \n"), Err(StoreError::Empty)));
    }

    #[test]
    fn indent_options() {
        let m = parse(b"{\"a\": {\"b\": 1}}").unwrap();
        let two = StoreOptions {
            json_indent: Some(2),
            ..Default::default()
        };
        assert_eq!(
            emit(&m, &two).unwrap(),
            b"{\n  \"a\": {\n    \"b\": 1\n  }\n}\n"
        );
        let zero = StoreOptions {
            json_indent: Some(0),
            ..Default::default()
        };
        assert_eq!(emit(&m, &zero).unwrap(), b"{\n\"a\": {\n\"b\": 1\n}\n}\n");
    }
}
