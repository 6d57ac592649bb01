//! The JSON store, with Go `encoding/json` semantics as sops 3.11 has them: key order and
//! duplicate keys kept, every number a float64, parsing stops after the first object; output
//! laid out like Go's `json.Indent` with Go's string escaping (HTML characters included).
//!
//! Parser and emitter keep an explicit stack instead of recursing, so deeply nested input
//! cannot overflow the thread's stack.

use std::fmt::Write as _;

use zeroize::Zeroize;

use super::{StoreError, StoreOptions};
use crate::sops::tree::{Item, Map, Value};

/// The deepest nesting accepted: Go's JSON scanner limit (`json.Unmarshal`, which sops uses
/// for encrypted files, refuses more; its token stream for plain files has no limit).
pub const MAX_DEPTH: usize = 10_000;

/// Parses a plain JSON file: the first object of the input, whatever follows it ignored (sops
/// reads plain JSON with Go's token stream). The top level must be an object.
///
/// sops 3.11 accepts some truncated inputs (end of input where a value should start drops the
/// unfinished entry and succeeds); this parser refuses every truncated input instead.
pub fn parse(bytes: &[u8]) -> Result<Map, StoreError> {
    parse_object(bytes).map(|(m, _)| m)
}

/// Parses an encrypted JSON file as sops reads its metadata (`json.Unmarshal`): like
/// [`parse`], but only whitespace may follow the object.
pub fn parse_strict(bytes: &[u8]) -> Result<Map, StoreError> {
    let (m, mut p) = parse_object(bytes)?;
    if p.peek().is_some() {
        return Err(p.err(p.pos, "unexpected data after the top-level object"));
    }
    Ok(m)
}

/// Parses one JSON value of any type, with nothing but whitespace after it (Go's
/// `json.Unmarshal`; `sops set` reads its VALUE argument this way).
pub fn parse_value(bytes: &[u8]) -> Result<Value, StoreError> {
    let mut p = Parser { b: bytes, pos: 0 };
    let v = p.value()?;
    if p.peek().is_some() {
        return Err(p.err(p.pos, "unexpected data after the top-level value"));
    }
    Ok(v)
}

fn parse_object(bytes: &[u8]) -> Result<(Map, Parser<'_>), StoreError> {
    let mut p = Parser { b: bytes, pos: 0 };
    match p.peek() {
        // Go's decoder reports EOF for empty (or all-whitespace) input: a parse error in sops
        // (`sops encrypt` exits 2), not the YAML store's "no document" (92).
        None => Err(p.err(p.pos, "unexpected end of JSON input")),
        Some(b'{') => match p.value()? {
            Value::Map(m) => Ok((m, p)),
            _ => unreachable!("a value that starts with a brace is an object"),
        },
        Some(_) => Err(p.err(p.pos, "the top level must be a JSON object")),
    }
}

/// A container being parsed: an object with the key of the value being read, or an array.
enum Open {
    Object(Map, String),
    Array(Vec<Value>),
}

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    /// A parse error at byte `pos`, by line and column; never quotes the input.
    fn err(&self, pos: usize, reason: &str) -> StoreError {
        let before = &self.b[..pos.min(self.b.len())];
        let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
        let column = pos
            - before
                .iter()
                .rposition(|&c| c == b'\n')
                .map_or(0, |i| i + 1)
            + 1;
        StoreError::Parse {
            format: "json",
            message: format!("{reason} at line {line}, column {column}"),
        }
    }

    /// `reason` at `pos`, or "unexpected end of JSON input" when the input ends there.
    fn err_or_eof(&self, pos: usize, reason: &str) -> StoreError {
        if pos >= self.b.len() {
            self.err(pos, "unexpected end of JSON input")
        } else {
            self.err(pos, reason)
        }
    }

    /// The next byte after whitespace (JSON's four whitespace bytes only).
    fn peek(&mut self) -> Option<u8> {
        while let Some(c) = self.b.get(self.pos) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(*c);
            }
            self.pos += 1;
        }
        None
    }

    /// An object key and the colon after it.
    fn key(&mut self) -> Result<String, StoreError> {
        if self.peek() != Some(b'"') {
            return Err(self.err_or_eof(self.pos, "expected a string key"));
        }
        let k = self.string()?;
        if self.peek() != Some(b':') {
            return Err(self.err_or_eof(self.pos, "expected ':' after object key"));
        }
        self.pos += 1;
        Ok(k)
    }

    /// One complete value, containers included.
    fn value(&mut self) -> Result<Value, StoreError> {
        let mut stack: Vec<Open> = Vec::new();
        loop {
            // The start of a value: an empty container or a scalar is complete at once.
            let mut done = match self.peek() {
                Some(c @ (b'{' | b'[')) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(self.err(self.pos, "exceeded max nesting depth"));
                    }
                    self.pos += 1;
                    let close = if c == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        if c == b'{' {
                            Value::Map(Map::new())
                        } else {
                            Value::Seq(Vec::new())
                        }
                    } else {
                        stack.push(if c == b'{' {
                            Open::Object(Map::new(), self.key()?)
                        } else {
                            Open::Array(Vec::new())
                        });
                        continue;
                    }
                }
                _ => self.scalar()?,
            };
            // Store the value in its container, closing every container that ends after it.
            loop {
                let close = match stack.last_mut() {
                    None => return Ok(done),
                    Some(Open::Object(m, k)) => {
                        m.0.push(Item::Entry(std::mem::take(k), done));
                        b'}'
                    }
                    Some(Open::Array(items)) => {
                        items.push(done);
                        b']'
                    }
                };
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if close == b'}' {
                            let k = self.key()?;
                            if let Some(Open::Object(_, slot)) = stack.last_mut() {
                                *slot = k;
                            }
                        }
                        break;
                    }
                    Some(c) if c == close => {
                        self.pos += 1;
                        done = match stack.pop() {
                            Some(Open::Object(m, _)) => Value::Map(m),
                            Some(Open::Array(items)) => Value::Seq(items),
                            None => unreachable!("a container was open"),
                        };
                    }
                    _ if close == b'}' => {
                        return Err(self.err_or_eof(self.pos, "expected ',' or '}' after value"))
                    }
                    _ => return Err(self.err_or_eof(self.pos, "expected ',' or ']' after value")),
                }
            }
        }
    }

    /// A string, number, `true`, `false` or `null` (whitespace already skipped).
    fn scalar(&mut self) -> Result<Value, StoreError> {
        match self.b.get(self.pos) {
            Some(b'"') => self.string().map(Value::Str),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(c) if *c == b'-' || c.is_ascii_digit() => self.number(),
            _ => Err(self.err_or_eof(self.pos, "invalid character looking for beginning of value")),
        }
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, StoreError> {
        let rest = &self.b[self.pos..];
        if rest.starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else if word.as_bytes().starts_with(rest) {
            Err(self.err(self.b.len(), "unexpected end of JSON input"))
        } else {
            Err(self.err(self.pos, "invalid literal"))
        }
    }

    /// Four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Result<u32, StoreError> {
        let mut n = 0;
        for i in 0..4 {
            let Some(d) = self
                .b
                .get(self.pos + i)
                .and_then(|&c| (c as char).to_digit(16))
            else {
                return Err(self.err_or_eof(self.pos + i, "invalid character in \\u escape"));
            };
            n = n * 16 + d;
        }
        self.pos += 4;
        Ok(n)
    }

    /// A quoted string, decoded as Go does: lone surrogates and invalid UTF-8 bytes become
    /// U+FFFD.
    fn string(&mut self) -> Result<String, StoreError> {
        self.pos += 1; // the opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.b.get(self.pos) else {
                return Err(self.err(self.pos, "unexpected end of JSON input in string"));
            };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.b.get(self.pos) else {
                        return Err(self.err(self.pos, "unexpected end of JSON input in string"));
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
                        b'u' => self.unicode_escape()?,
                        _ => return Err(self.err(self.pos - 1, "invalid escape in string")),
                    };
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
                c if c < 0x20 => {
                    out.zeroize();
                    return Err(self.err(self.pos - 1, "invalid control character in string"));
                }
                c => out.push(c),
            }
        }
        Ok(go_utf8(out))
    }

    /// The character of a `\uXXXX` escape (the `\u` already read), joining a surrogate pair.
    fn unicode_escape(&mut self) -> Result<char, StoreError> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) && self.b[self.pos..].starts_with(b"\\u") {
            let save = self.pos;
            self.pos += 2;
            let second = self.hex4()?;
            if (0xDC00..0xE000).contains(&second) {
                let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                return Ok(char::from_u32(c).expect("a surrogate pair is a valid scalar"));
            }
            // Not a pair: the second escape is read again on its own.
            self.pos = save;
        }
        Ok(char::from_u32(first).unwrap_or(char::REPLACEMENT_CHARACTER))
    }

    /// A number, as Go's `strconv.ParseFloat` reads it (out of float64 range is an error).
    fn number(&mut self) -> Result<Value, StoreError> {
        let b = self.b;
        let start = self.pos;
        let digits = |mut i: usize| {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        i = match b.get(i) {
            Some(b'0') => i + 1,
            Some(c) if c.is_ascii_digit() => digits(i),
            _ => return Err(self.err_or_eof(i, "invalid character in number")),
        };
        if b.get(i) == Some(&b'.') {
            if !b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                return Err(self.err_or_eof(i + 1, "invalid character after decimal point"));
            }
            i = digits(i + 1);
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !b.get(i).is_some_and(u8::is_ascii_digit) {
                return Err(self.err_or_eof(i, "invalid character in exponent"));
            }
            i = digits(i);
        }
        self.pos = i;
        let text = std::str::from_utf8(&b[start..i]).expect("ASCII");
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err(self.err(start, "number out of range for float64")),
        }
    }
}

/// Length of the well-formed UTF-8 sequence at the start of `bytes` (whose first byte is not
/// ASCII), or `None` where Go's `utf8.DecodeRune` reports an error of width 1.
fn utf8_len(bytes: &[u8]) -> Option<usize> {
    let len = match bytes.first()? {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return None,
    };
    let seq = bytes.get(..len)?;
    std::str::from_utf8(seq).ok().map(|_| len)
}

/// Bytes to a string the way Go's JSON decoder does: every byte that does not start a
/// well-formed sequence becomes one U+FFFD (Rust's lossy conversion would merge some).
fn go_utf8(bytes: Vec<u8>) -> String {
    let mut bytes = match String::from_utf8(bytes) {
        Ok(s) => return s,
        Err(e) => e.into_bytes(),
    };
    let mut s = String::with_capacity(bytes.len() + 8);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] < 0x80 {
            s.push(bytes[i] as char);
            i += 1;
        } else if let Some(n) = utf8_len(&bytes[i..]) {
            s.push_str(std::str::from_utf8(&bytes[i..i + n]).expect("checked"));
            i += n;
        } else {
            s.push(char::REPLACEMENT_CHARACTER);
            i += 1;
        }
    }
    bytes.zeroize();
    s
}

/// Go's `json.Marshal` text of a float64: shortest round-trip digits, plain decimal when
/// 1e-6 <= |f| < 1e21, else exponent form (`1e+21`, `1e-7`). NaN and infinities are errors.
pub fn format_float(f: f64) -> Result<String, StoreError> {
    if !f.is_finite() {
        return Err(StoreError::Unrepresentable {
            format: "json",
            reason: "NaN and infinite floats have no JSON form".into(),
        });
    }
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        return Ok(format!("{f}"));
    }
    // Rust's `{:e}` is shortest digits with a bare exponent (`1e21`, `1e-7`); Go writes a sign
    // and at least two digits, then drops the zero of `e-0X`. Here |exponent| >= 7, so only
    // the `+` is missing.
    let text = format!("{f:e}");
    Ok(match text.split_once('e') {
        Some((mant, exp)) if !exp.starts_with('-') => format!("{mant}e+{exp}"),
        _ => text,
    })
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Go's JSON string encoding (HTML-safe): short escapes for `"` `\` and `\b\f\n\r\t`, other
/// controls and `<` `>` `&` as `\u00XX`, U+2028/2029 escaped, each byte of an ill-formed
/// UTF-8 sequence as `\ufffd`, everything else raw.
fn write_string(out: &mut String, bytes: &[u8]) {
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
                b'<' | b'>' | b'&' | 0x00..=0x1f => {
                    out.push_str("\\u00");
                    out.push(HEX[usize::from(c >> 4)] as char);
                    out.push(HEX[usize::from(c & 0xf)] as char);
                }
                _ => out.push(c as char),
            }
            i += 1;
        } else if let Some(n) = utf8_len(&bytes[i..]) {
            match &bytes[i..i + n] {
                [0xE2, 0x80, 0xA8] => out.push_str("\\u2028"),
                [0xE2, 0x80, 0xA9] => out.push_str("\\u2029"),
                seq => out.push_str(std::str::from_utf8(seq).expect("checked")),
            }
            i += n;
        } else {
            out.push_str("\\ufffd");
            i += 1;
        }
    }
    out.push('"');
}

/// A container being written: the rest of its items, and whether one was written yet.
enum Writing<'a> {
    Object(std::slice::Iter<'a, Item>, bool),
    Array(std::slice::Iter<'a, Value>, bool),
}

struct Emitter {
    indent: String,
    out: String,
}

impl Emitter {
    fn new(opts: &StoreOptions) -> Self {
        Emitter {
            indent: match opts.json_indent {
                None => "\t".into(),
                Some(n) => " ".repeat(n),
            },
            out: String::new(),
        }
    }

    fn newline(&mut self, depth: usize) {
        self.out.push('\n');
        for _ in 0..depth {
            self.out.push_str(&self.indent);
        }
    }

    /// Writes a scalar, or opens a container on `stack` (empty ones are written whole).
    fn start<'a>(&mut self, v: &'a Value, stack: &mut Vec<Writing<'a>>) -> Result<(), StoreError> {
        match v {
            Value::Map(m) => self.start_map(m, stack),
            Value::Seq(items) if items.iter().all(|v| matches!(v, Value::Comment(_))) => {
                self.out.push_str("[]");
            }
            Value::Seq(items) => {
                self.out.push('[');
                stack.push(Writing::Array(items.iter(), false));
            }
            Value::Str(s) => write_string(&mut self.out, s.as_bytes()),
            Value::Bytes(b) => write_string(&mut self.out, b),
            Value::Int(i) => write!(self.out, "{i}").expect("writing to a String"),
            Value::Float(f) => self.out.push_str(&format_float(*f)?),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Time(t) => write_string(&mut self.out, t.as_str().as_bytes()),
            Value::Null => self.out.push_str("null"),
            // JSON has no comments; sops drops them.
            Value::Comment(_) => {}
        }
        Ok(())
    }

    fn start_map<'a>(&mut self, m: &'a Map, stack: &mut Vec<Writing<'a>>) {
        if m.entries().next().is_none() {
            self.out.push_str("{}");
        } else {
            self.out.push('{');
            stack.push(Writing::Object(m.0.iter(), false));
        }
    }

    /// Writes the open containers' items until all are closed.
    fn finish<'a>(&mut self, mut stack: Vec<Writing<'a>>) -> Result<(), StoreError> {
        while !stack.is_empty() {
            let depth = stack.len();
            let top = stack.last_mut().expect("not empty");
            let (next, wrote): (Option<(Option<&'a str>, &'a Value)>, &mut bool) = match top {
                Writing::Object(items, wrote) => (
                    items.find_map(|item| match item {
                        Item::Entry(k, v) => Some((Some(k.as_str()), v)),
                        Item::Comment(_) => None,
                    }),
                    wrote,
                ),
                Writing::Array(items, wrote) => (
                    items
                        .find(|v| !matches!(v, Value::Comment(_)))
                        .map(|v| (None, v)),
                    wrote,
                ),
            };
            match next {
                Some((key, v)) => {
                    if std::mem::replace(wrote, true) {
                        self.out.push(',');
                    }
                    self.newline(depth);
                    if let Some(k) = key {
                        write_string(&mut self.out, k.as_bytes());
                        self.out.push_str(": ");
                    }
                    self.start(v, &mut stack)?;
                }
                None => {
                    let close = match stack.pop() {
                        Some(Writing::Object(..)) => '}',
                        _ => ']',
                    };
                    self.newline(depth - 1);
                    self.out.push(close);
                }
            }
        }
        Ok(())
    }
}

/// Emits one document as sops writes JSON: `json.Indent` layout with `opts.json_indent`
/// (`None` one TAB, `Some(n)` n spaces), comments dropped, a final newline.
pub fn emit(branch: &Map, opts: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    let mut e = Emitter::new(opts);
    let mut stack = Vec::new();
    e.start_map(branch, &mut stack);
    e.finish(stack)?;
    e.out.push('\n');
    Ok(e.out.into_bytes())
}

/// Emits one value laid out like [`emit`] but without the final newline, as sops prints a
/// non-string `--extract` result (a scalar is just its JSON text: `42`, `true`, `null`).
pub fn emit_value(value: &Value, opts: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    let mut e = Emitter::new(opts);
    let mut stack = Vec::new();
    e.start(value, &mut stack)?;
    e.finish(stack)?;
    Ok(e.out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::tree::Timestamp;
    use proptest::prelude::*;

    fn opts(json_indent: Option<usize>) -> StoreOptions {
        StoreOptions {
            json_indent,
            ..StoreOptions::default()
        }
    }

    /// `emit(parse(input))` with the given indent, as text.
    fn round(input: &[u8], indent: Option<usize>) -> String {
        let m = parse(input).expect("parses");
        String::from_utf8(emit(&m, &opts(indent)).expect("emits")).expect("UTF-8")
    }

    // Every `(input, expected)` pair below is a plain file given to sops 3.11 and what
    // `sops decrypt (sops encrypt FILE)` printed (same for `sops --indent N -d`).

    #[test]
    fn string_escapes_like_sops() {
        let input = b"{\"ctl\": \"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\\u007f\x7f\", \"q\": \"\\\"\\\\\\/\", \"html\": \"<a href=\\\"x\\\">&amp;</a>\", \"ls\": \"\\u2028\\u2029\", \"uni\": \"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80 \\ud83d\\ude00\", \"lone\": \"\\ud800x\\udc00\", \"k<&>\\t\": 1}\n";
        let sops = "{\n\t\"ctl\": \"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\u{7f}\u{7f}\",\n\t\"q\": \"\\\"\\\\/\",\n\t\"html\": \"\\u003ca href=\\\"x\\\"\\u003e\\u0026amp;\\u003c/a\\u003e\",\n\t\"ls\": \"\\u2028\\u2029\",\n\t\"uni\": \"é中😀 😀\",\n\t\"lone\": \"\u{fffd}x\u{fffd}\",\n\t\"k\\u003c\\u0026\\u003e\\t\": 1\n}\n";
        assert_eq!(round(input, None), sops);
        let m = parse(input).unwrap();
        assert_eq!(m.get("uni").and_then(Value::as_str), Some("é中😀 😀"));
        assert_eq!(m.get("k<&>\t"), Some(&Value::Float(1.0)));
    }

    #[test]
    fn numbers_like_sops() {
        let input = b"{\"int\": 42, \"neg\": -17, \"big\": 9007199254740993, \"huge\": 123456789012345678901234567890, \"e21\": 1e21, \"e20\": 1e20, \"small\": 1e-7, \"edge\": 0.000001, \"f\": 1.50, \"z\": -0, \"zf\": -0.0, \"under\": -1e-400, \"max\": 1.7976931348623157e308, \"tiny\": 5e-324, \"mixed\": [1, 2.5e-9, -3E+30]}\n";
        let sops = "{\n\t\"int\": 42,\n\t\"neg\": -17,\n\t\"big\": 9007199254740992,\n\t\"huge\": 1.2345678901234568e+29,\n\t\"e21\": 1e+21,\n\t\"e20\": 100000000000000000000,\n\t\"small\": 1e-7,\n\t\"edge\": 0.000001,\n\t\"f\": 1.5,\n\t\"z\": -0,\n\t\"zf\": -0,\n\t\"under\": -0,\n\t\"max\": 1.7976931348623157e+308,\n\t\"tiny\": 5e-324,\n\t\"mixed\": [\n\t\t1,\n\t\t2.5e-9,\n\t\t-3e+30\n\t]\n}\n";
        assert_eq!(round(input, None), sops);
        // Every JSON number is a float64, integers included.
        let m = parse(input).unwrap();
        assert_eq!(m.get("int"), Some(&Value::Float(42.0)));
        assert_eq!(m.get("big"), Some(&Value::Float(9007199254740992.0)));
    }

    #[test]
    fn go_float_forms() {
        // What Go's json.Marshal (so sops 3.11) prints for these float64 values.
        for (f, s) in [
            (42.0, "42"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1e-7, "1e-7"),
            (1.5e-10, "1.5e-10"),
            (0.000001, "0.000001"),
            (0.0000012345, "0.0000012345"),
            (1.5e300, "1.5e+300"),
            (-0.0, "-0"),
            (0.0, "0"),
            (3.25, "3.25"),
            (0.1, "0.1"),
            (12345678.9, "12345678.9"),
            (-1.25e-5, "-0.0000125"),
            (1.23456789e-7, "1.23456789e-7"),
        ] {
            assert_eq!(format_float(f).unwrap(), s, "{f}");
        }
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(matches!(
                format_float(bad),
                Err(StoreError::Unrepresentable { .. })
            ));
            let mut m = Map::new();
            m.push("x", Value::Float(bad));
            assert!(emit(&m, &opts(None)).is_err());
        }
    }

    #[test]
    fn structure_and_indents_like_sops() {
        let input = b"{\"dup\": 1, \"dup\": \"x\", \"nest\": [[1, [2, []]], [{}], [{\"a\": [{}]}]], \"e\": {}, \"l\": [], \"n\": null, \"t\": true, \"f\": false, \"s\": \"\"}\n";
        // sops decrypt (default: one TAB)
        let tab = "{\n\t\"dup\": 1,\n\t\"dup\": \"x\",\n\t\"nest\": [\n\t\t[\n\t\t\t1,\n\t\t\t[\n\t\t\t\t2,\n\t\t\t\t[]\n\t\t\t]\n\t\t],\n\t\t[\n\t\t\t{}\n\t\t],\n\t\t[\n\t\t\t{\n\t\t\t\t\"a\": [\n\t\t\t\t\t{}\n\t\t\t\t]\n\t\t\t}\n\t\t]\n\t],\n\t\"e\": {},\n\t\"l\": [],\n\t\"n\": null,\n\t\"t\": true,\n\t\"f\": false,\n\t\"s\": \"\"\n}\n";
        // sops --indent 0 -d
        let zero = "{\n\"dup\": 1,\n\"dup\": \"x\",\n\"nest\": [\n[\n1,\n[\n2,\n[]\n]\n],\n[\n{}\n],\n[\n{\n\"a\": [\n{}\n]\n}\n]\n],\n\"e\": {},\n\"l\": [],\n\"n\": null,\n\"t\": true,\n\"f\": false,\n\"s\": \"\"\n}\n";
        // sops --indent 2 -d
        let two = "{\n  \"dup\": 1,\n  \"dup\": \"x\",\n  \"nest\": [\n    [\n      1,\n      [\n        2,\n        []\n      ]\n    ],\n    [\n      {}\n    ],\n    [\n      {\n        \"a\": [\n          {}\n        ]\n      }\n    ]\n  ],\n  \"e\": {},\n  \"l\": [],\n  \"n\": null,\n  \"t\": true,\n  \"f\": false,\n  \"s\": \"\"\n}\n";
        // sops --indent 4 -d
        let four = "{\n    \"dup\": 1,\n    \"dup\": \"x\",\n    \"nest\": [\n        [\n            1,\n            [\n                2,\n                []\n            ]\n        ],\n        [\n            {}\n        ],\n        [\n            {\n                \"a\": [\n                    {}\n                ]\n            }\n        ]\n    ],\n    \"e\": {},\n    \"l\": [],\n    \"n\": null,\n    \"t\": true,\n    \"f\": false,\n    \"s\": \"\"\n}\n";
        assert_eq!(round(input, None), tab);
        assert_eq!(round(input, Some(0)), zero);
        assert_eq!(round(input, Some(2)), two);
        assert_eq!(round(input, Some(4)), four);
        // Duplicate keys are both kept, in order.
        let m = parse(input).unwrap();
        let dups: Vec<&Value> = m
            .entries()
            .filter(|(k, _)| *k == "dup")
            .map(|e| e.1)
            .collect();
        assert_eq!(dups, [&Value::Float(1.0), &Value::Str("x".into())]);
        // Output of sops parses back to the same tree.
        for out in [tab, zero, two, four] {
            assert_eq!(parse(out.as_bytes()).unwrap(), m);
        }
        assert_eq!(round(b"{}", None), "{}\n");
    }

    #[test]
    fn trailing_garbage_is_ignored_like_sops() {
        assert_eq!(
            round(b"{\"a\": 1} this is ignored [", None),
            "{\n\t\"a\": 1\n}\n"
        );
        assert_eq!(
            round(b"\r\n {\"a\":1}}]{\"b\": 2}", None),
            "{\n\t\"a\": 1\n}\n"
        );
        // Encrypted files are read with json.Unmarshal, which refuses it.
        assert!(parse_strict(b"{\"a\": 1} x").is_err());
        assert_eq!(
            parse_strict(b" {\"a\": 1} \n").unwrap(),
            parse(b"{\"a\": 1}").unwrap()
        );
    }

    #[test]
    fn invalid_utf8_becomes_one_replacement_per_byte_like_sops() {
        let input = b"{\"a\": \"x\xe2\x82y\", \"b\": \"\xf0\x9f\x98\", \"c\": \"\xed\xa0\x80\"}";
        let sops = "{\n\t\"a\": \"x\u{fffd}\u{fffd}y\",\n\t\"b\": \"\u{fffd}\u{fffd}\u{fffd}\",\n\t\"c\": \"\u{fffd}\u{fffd}\u{fffd}\"\n}\n";
        assert_eq!(round(input, None), sops);
        // A non-UTF-8 value (binary file) as `sops decrypt --output-type json` of an encrypted
        // binary file holding these bytes prints it.
        let mut m = Map::new();
        m.push("data", Value::Bytes(b"a\xe2\x82\xff\xc3\xa9<".to_vec()));
        assert_eq!(
            String::from_utf8(emit(&m, &opts(None)).unwrap()).unwrap(),
            "{\n\t\"data\": \"a\\ufffd\\ufffd\\ufffdé\\u003c\"\n}\n"
        );
    }

    #[test]
    fn errors_are_positioned_and_never_quote_values() {
        // sops 3.11: "Expected JSON object start, got delimiter [ instead", exit 2.
        for top in [&b"[1, 2]"[..], b"\"secret\"", b"42", b"null"] {
            let e = parse(top).unwrap_err();
            assert!(matches!(e, StoreError::Parse { .. }), "{e}");
            assert!(!e.to_string().contains("secret"), "{e}");
        }
        for empty in [&b""[..], b" \r\n\t"] {
            for e in [parse(empty).unwrap_err(), parse_strict(empty).unwrap_err()] {
                assert!(matches!(e, StoreError::Parse { .. }), "{e}");
                assert!(
                    e.to_string().contains("unexpected end of JSON input"),
                    "{e}"
                );
            }
        }
        for bad in [
            &b"{\"a\": secretword}"[..],
            b"{\"a\": tru}",
            b"{\"a\": \"x\"  \"secretword\": 1}",
            b"{\"a\": [1, 2}",
            b"{\"a\": [1, 2]]",
            b"{\"a\": 1,}",
            b"{\"a\": [1,]}",
            b"{\"a\" 1}",
            b"{\"a\": 01}",
            b"{\"a\": 1.}",
            b"{\"a\": .5}",
            b"{\"a\": +1}",
            b"{\"a\": 1e}",
            b"{\"a\": 1e400}",
            b"{\"a\": \"\\x\"}",
            b"{\"a\": \"\\u12g4\"}",
            b"{\"a\": \"\\u+123\"}",
            b"{\"a\": \"tab\there\"}",
            b"{'a': 1}",
            b"{a: 1}",
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("line 1, column "), "{e}");
            assert!(!e.contains("secretword"), "{e}");
        }
        let e = parse(b"{\n  \"a\": 1,\n  \"b\": nope\n}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3, column 8"), "{e}");
    }

    #[test]
    fn truncated_input_is_an_error() {
        // sops 3.11 errors on most of these but succeeds on some, silently dropping the
        // unfinished entry (`{"x": "s", "a": [1, 2` gives `{"x": "s"}`); refuse them all.
        let whole = b"{\"x\": \"s\", \"a\": [1, {\"b\": true}, \"c\"], \"n\": -1.5e3}";
        for end in 1..whole.len() {
            let e = parse(&whole[..end]).unwrap_err();
            assert!(e.to_string().contains("unexpected end"), "{end}: {e}");
        }
        assert!(parse(whole).is_ok());
    }

    #[test]
    fn encrypted_file_round_trips_byte_for_byte() {
        // Written by `sops --mac-only-encrypted -e` (sops 3.11, two age key groups,
        // shamir_threshold 2); throwaway keys.
        let file = concat!(
        "{\n",
        "\t\"pw\": \"ENC[AES256_GCM,data:3tDhhwE6hq4=,iv:S/wsZ63WBd+0baPexr5dlHlTeUddoAhZGSxuv9OFxe4=,tag:vSzQeeU7mTE1Ah61j9Zsnw==,type:str]\",\n",
        "\t\"n\": \"ENC[AES256_GCM,data:MQ==,iv:6bBhLEHYx+oftQ9fMoaMghEfyTiFAn3d7lbIOJqxXp8=,tag:pm4wb2x6nFXj4Gq1HJIj7A==,type:float]\",\n",
        "\t\"l\": [\n",
        "\t\t\"ENC[AES256_GCM,data:zO4WbA==,iv:XyNFlC9m9aqJZh36GiO1GFyYnO/gaB9M+9z7HsacJeo=,tag:TTHq8VFjce7gaK94RTeBVQ==,type:bool]\",\n",
        "\t\tnull\n",
        "\t],\n",
        "\t\"sops\": {\n",
        "\t\t\"shamir_threshold\": 2,\n",
        "\t\t\"key_groups\": [\n",
        "\t\t\t{\n",
        "\t\t\t\t\"hc_vault\": null,\n",
        "\t\t\t\t\"age\": [\n",
        "\t\t\t\t\t{\n",
        "\t\t\t\t\t\t\"recipient\": \"age1fav39hwwleexgfng5ey6rknntcrp8xgautqpy6sy2sfzt6zxe3hs9xnrfc\",\n",
        "\t\t\t\t\t\t\"enc\": \"-----BEGIN AGE ENCRYPTED FILE-----\\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBENGxPcVRBN0pxY2FIY3J6\\nM1M5VEVNMjJFd0hvL09LOFRDMjlQdHc5Mno0ClRBSjdnUFo5SDRyOU13KzNsSGNE\\nZ3BIazN3MzZudUVIMFdkN2RJa3JjTjQKLS0tIHpieWl2NWc4cUhDSFcvcWdEa3V2\\nOHVrbFZuQzgxcGpRbXhFODllWk01MlUKguo5pTkVIuaxVUNvvPFDhn54wUNlBuOY\\niRcbpjuFp7yLUxweK79SYMVxd82BCcQtq1fV7BfnsjQ1H1DBMqvENks=\\n-----END AGE ENCRYPTED FILE-----\\n\"\n",
        "\t\t\t\t\t}\n",
        "\t\t\t\t]\n",
        "\t\t\t},\n",
        "\t\t\t{\n",
        "\t\t\t\t\"hc_vault\": null,\n",
        "\t\t\t\t\"age\": [\n",
        "\t\t\t\t\t{\n",
        "\t\t\t\t\t\t\"recipient\": \"age1rwg32k6wn66saf6qrzvdca6v2rhrjhvyw76x6kllkesl2mswx4wsenplkq\",\n",
        "\t\t\t\t\t\t\"enc\": \"-----BEGIN AGE ENCRYPTED FILE-----\\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBlMXdqazE1eksydndzVE1H\\naXBrSUdWRUFMMTJiYUJlYXZrMTlJYlNENURZCkVOYmpzUm5SSktHbTBISkx1Wlh6\\ndlcwaUZMK000RnBqMFN3eUpIWVFXQTQKLS0tIDRvVENBbndZTUxTOGVXTWtEZFlx\\nYUdLczQ5THN6UURORXo3ditaekJpMjQKO76nePq8SynPuI4n3hVP6PcdT7cZppuz\\nY2lNCrgnRLpCwjL4kom95L+oG6ij9UqALwt+uYhBvNYVStOyXvQ7iYI=\\n-----END AGE ENCRYPTED FILE-----\\n\"\n",
        "\t\t\t\t\t}\n",
        "\t\t\t\t]\n",
        "\t\t\t}\n",
        "\t\t],\n",
        "\t\t\"lastmodified\": \"2026-11-26T21:17:50Z\",\n",
        "\t\t\"mac\": \"ENC[AES256_GCM,data:ABJ3MLqVtFdFddxvc6PB/qiql1ba9dF6V9QeOIA38Lgi8c8fGa/8oOLuMaFA/sjQhayFq4X/P+PHceU9/T94goSIiou5jtJ67gPpqD+ErtrUmo89yO3ltNJkvpnTEvi/7JXwYXeJHRVxEzdE93AQ7FapuHCfpIr8hwUsyKoPI7g=,iv:043EHcapiYlO5ddtiyaeqNcHhOWPO01vYWKXNFA6b/E=,tag:GasSBke+igGMevcOyjLIMg==,type:str]\",\n",
        "\t\t\"unencrypted_suffix\": \"_unencrypted\",\n",
        "\t\t\"mac_only_encrypted\": true,\n",
        "\t\t\"version\": \"3.11.0\"\n",
        "\t}\n",
        "}\n",
        );
        let m = parse_strict(file.as_bytes()).unwrap();
        assert_eq!(emit(&m, &opts(None)).unwrap(), file.as_bytes());
        let sops = m.get("sops").and_then(Value::as_map).unwrap();
        assert_eq!(sops.get("shamir_threshold"), Some(&Value::Float(2.0)));
        assert_eq!(sops.get("mac_only_encrypted"), Some(&Value::Bool(true)));
        let groups = sops.get("key_groups").and_then(Value::as_seq).unwrap();
        assert_eq!(
            groups[0].as_map().unwrap().get("hc_vault"),
            Some(&Value::Null)
        );
        // The caller may rebuild the metadata with an integer threshold: same bytes.
        let mut rebuilt = m.clone();
        let meta = rebuilt.get_mut("sops").unwrap();
        if let Value::Map(meta) = meta {
            *meta.get_mut("shamir_threshold").unwrap() = Value::Int(2);
        }
        assert_eq!(emit(&rebuilt, &opts(None)).unwrap(), file.as_bytes());
    }

    #[test]
    fn extract_values_like_sops() {
        // `sops decrypt --extract '["k"]'` output for non-string values (no final newline).
        let m = parse(b"{\"arr\": [1, 2.5, -3e30, 4e-9], \"i\": 42, \"t\": true, \"n\": null, \"l\": [], \"o\": {\"dup\": [1], \"dup\": {\"k\": null}}}").unwrap();
        let ev = |k: &str, indent| {
            String::from_utf8(emit_value(m.get(k).unwrap(), &opts(indent)).unwrap()).unwrap()
        };
        assert_eq!(ev("arr", None), "[\n\t1,\n\t2.5,\n\t-3e+30,\n\t4e-9\n]");
        assert_eq!(ev("arr", Some(2)), "[\n  1,\n  2.5,\n  -3e+30,\n  4e-9\n]");
        assert_eq!(ev("arr", Some(0)), "[\n1,\n2.5,\n-3e+30,\n4e-9\n]");
        assert_eq!(ev("i", None), "42");
        assert_eq!(ev("t", None), "true");
        assert_eq!(ev("n", None), "null");
        assert_eq!(ev("l", None), "[]");
        // A mapping is printed by sops as a whole document (see `emit`); as a value it is the
        // same text without the final newline.
        let o = m.get("o").unwrap().as_map().unwrap();
        let doc = emit(o, &opts(None)).unwrap();
        assert_eq!(ev("o", None).as_bytes(), &doc[..doc.len() - 1]);
        assert_eq!(
            doc,
            b"{\n\t\"dup\": [\n\t\t1\n\t],\n\t\"dup\": {\n\t\t\"k\": null\n\t}\n}\n"
        );
    }

    #[test]
    fn other_tree_values() {
        let mut inner = Map::new();
        inner.0.push(Item::Comment(" only a comment".into()));
        let mut m = Map::new();
        m.0.push(Item::Comment(" dropped".into()));
        m.push("i", Value::Int(-9_007_199_254_740_993));
        m.push(
            "t",
            Value::Time(Timestamp::from_canonical(
                "2001-12-14T21:59:43.1-05:00".into(),
            )),
        );
        m.push(
            "s",
            Value::Seq(vec![
                Value::Comment("c".into()),
                Value::Int(1),
                Value::Comment("d".into()),
            ]),
        );
        m.push("c", Value::Seq(vec![Value::Comment("c".into())]));
        m.push("m", Value::Map(inner));
        let out = String::from_utf8(emit(&m, &opts(Some(1))).unwrap()).unwrap();
        assert_eq!(
            out,
            "{\n \"i\": -9007199254740993,\n \"t\": \"2001-12-14T21:59:43.1-05:00\",\n \"s\": [\n  1\n ],\n \"c\": [],\n \"m\": {}\n}\n"
        );
    }

    #[test]
    fn parse_value_takes_any_single_value() {
        assert_eq!(parse_value(b" 42 ").unwrap(), Value::Float(42.0));
        assert_eq!(
            parse_value(b"\"a\\u0026\"").unwrap(),
            Value::Str("a&".into())
        );
        assert_eq!(parse_value(b"[]").unwrap(), Value::Seq(vec![]));
        assert!(parse_value(b"1 2").is_err());
        assert!(parse_value(b"").is_err());
    }

    #[test]
    fn deep_nesting_neither_overflows_nor_exceeds_go_limit() {
        // Parser and emitter do not recurse; the tree's own Drop does, so give it room.
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(|| {
                let ok = format!(
                    "{}{}",
                    "{\"a\":[".repeat(MAX_DEPTH / 2),
                    "]}".repeat(MAX_DEPTH / 2)
                );
                let m = parse(ok.as_bytes()).unwrap();
                let out = emit(&m, &opts(Some(0))).unwrap();
                assert_eq!(parse(&out).unwrap(), m);
                let too_deep = format!(
                    "{ok_open}[]{ok_close}",
                    ok_open = "[".repeat(MAX_DEPTH),
                    ok_close = "]".repeat(MAX_DEPTH)
                );
                let e = parse_value(too_deep.as_bytes()).unwrap_err();
                assert!(e.to_string().contains("depth"), "{e}");
            })
            .unwrap()
            .join()
            .unwrap();
    }

    /// What a tree reads back as from JSON: integers are floats, bytes are Go-decoded text.
    fn as_json_reads_it(v: &Value) -> Value {
        match v {
            Value::Map(m) => Value::Map(as_json_reads_map(m)),
            Value::Seq(items) => Value::Seq(items.iter().map(as_json_reads_it).collect()),
            Value::Int(i) => Value::Float(*i as f64),
            Value::Bytes(b) => Value::Str(go_utf8(b.clone())),
            other => other.clone(),
        }
    }

    fn as_json_reads_map(m: &Map) -> Map {
        Map(m
            .0
            .iter()
            .map(|item| match item {
                Item::Entry(k, v) => Item::Entry(k.clone(), as_json_reads_it(v)),
                Item::Comment(c) => Item::Comment(c.clone()),
            })
            .collect())
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<String>().prop_map(Value::Str),
            "[<>&\"\\\\\u{0}-\u{1f}\u{7f}\u{2028}\u{2029}a]{0,8}".prop_map(Value::Str),
            prop::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
            any::<i64>().prop_map(Value::Int),
            any::<f64>()
                .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
                .prop_map(Value::Float),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), "[a-c<&\"\\\\\n]{0,3}"]
    }

    fn tree() -> impl Strategy<Value = Map> {
        let value = leaf().prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Seq),
                prop::collection::vec((key(), inner), 0..6).prop_map(|kv| Value::Map(Map(kv
                    .into_iter()
                    .map(|(k, v)| Item::Entry(k, v))
                    .collect()))),
            ]
        });
        prop::collection::vec((key(), value), 0..8)
            .prop_map(|kv| Map(kv.into_iter().map(|(k, v)| Item::Entry(k, v)).collect()))
    }

    proptest! {
        #[test]
        fn emitted_trees_parse_back(t in tree(), indent in prop::option::of(0usize..9)) {
            let out = emit(&t, &opts(indent)).unwrap();
            let back = parse(&out).unwrap();
            prop_assert_eq!(back, as_json_reads_map(&t));
        }
    }
}
