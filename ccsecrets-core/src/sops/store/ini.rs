//! The INI store: the file as gopkg.in/ini.v1 (v1.67, as sops 3.11 loads it with non-unique
//! sections allowed and every other option at its default) reads and writes it.
//!
//! The tree has one top-level entry per section, in file order, starting with `DEFAULT` (the
//! keys before the first header; always present, possibly empty). A section's value is a
//! mapping of `key → string`. Comments: the comment lines before a section header become
//! the section's first item; the comment lines before a key (and its inline comment) become
//! an item right **after** the key. On output a comment item sets the comment of the key
//! before it, which is written above that key.
//!
//! Encrypted files hold the metadata in a final `[sops]` section, flattened like the dotenv
//! store's keys but without the `sops_` prefix. sops writes those keys in random order
//! (a Go map); we write them sorted.

use super::dotenv::{find_metadata, flatten_metadata, unflatten_metadata, val_to_string};
use super::StoreError;
use crate::sops::store::json::format_float;
use crate::sops::tree::{Item, Map, Value};

/// ini.v1's name of the section holding the keys before any header.
const DEFAULT_SECTION: &str = "DEFAULT";

fn parse_err(line: usize, message: &str) -> StoreError {
    StoreError::Parse {
        format: "ini",
        message: format!("line {line}: {message}"),
    }
}

/// Go's `unicode.IsSpace` (the same set as Rust's `char::is_whitespace`).
fn is_space(c: char) -> bool {
    c.is_whitespace()
}

fn trim(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// One key as ini.v1 holds it.
struct Key {
    name: String,
    value: String,
    comment: String,
}

/// One section as ini.v1 holds it.
struct Section {
    name: String,
    comment: String,
    keys: Vec<Key>,
}

impl Section {
    fn new(name: String) -> Self {
        Section {
            name,
            comment: String::new(),
            keys: Vec::new(),
        }
    }

    /// ini.v1's `NewKey`: a key already in the section gets the new value in place.
    fn new_key(&mut self, name: &str, value: String) -> Result<usize, &'static str> {
        if name.is_empty() {
            return Err("empty key name");
        }
        if let Some(i) = self.keys.iter().position(|k| k.name == name) {
            self.keys[i].value = value;
            return Ok(i);
        }
        self.keys.push(Key {
            name: name.to_owned(),
            value,
            comment: String::new(),
        });
        Ok(self.keys.len() - 1)
    }
}

/// The line reader: lines with their `\n`, like Go's `bufio.Reader.ReadBytes('\n')`.
struct Lines<'a> {
    rest: &'a str,
    number: usize,
}

impl<'a> Lines<'a> {
    fn next_line(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let end = self.rest.find('\n').map_or(self.rest.len(), |i| i + 1);
        let (line, rest) = self.rest.split_at(end);
        self.rest = rest;
        self.number += 1;
        Some(line)
    }
}

/// ini.v1's `cleanComment`: from the first `#` or `;` on.
fn clean_comment(s: &str) -> Option<&str> {
    s.find(['#', ';']).map(|i| &s[i..])
}

/// ini.v1's `hasSurroundedQuote`.
fn has_surrounded_quote(s: &str, q: char) -> bool {
    s.len() >= 2 && s.starts_with(q) && s.ends_with(q) && s[1..].find(q) == Some(s.len() - 2)
}

struct Parser<'a> {
    lines: Lines<'a>,
    /// Comment lines (and inline comments) waiting for the next key or section.
    comment: String,
}

impl Parser<'_> {
    /// ini.v1's `readKeyName`: the key and the offset just after its delimiter (`=` or `:`).
    fn read_key_name(&self, line: &str) -> Result<(String, usize), StoreError> {
        let n = self.lines.number;
        let quote = if line.starts_with('"') {
            if line.len() > 6 && line.starts_with("\"\"\"") {
                "\"\"\""
            } else {
                "\""
            }
        } else if line.starts_with('`') {
            "`"
        } else {
            ""
        };
        if !quote.is_empty() {
            let start = quote.len();
            let pos = line[start..]
                .find(quote)
                .ok_or_else(|| parse_err(n, "missing closing key quote"))?
                + start;
            let i = line[pos + start..]
                .find(['=', ':'])
                .ok_or_else(|| parse_err(n, "key-value delimiter not found"))?;
            return Ok((trim(&line[start..pos]).to_owned(), pos + i + start + 1));
        }
        let end = line
            .find(['=', ':'])
            .ok_or_else(|| parse_err(n, "key-value delimiter not found"))?;
        Ok((trim(&line[..end]).to_owned(), end + 1))
    }

    /// ini.v1's `readValue` (continuation lines on, inline comments on, no Python multi-line).
    fn read_value(&mut self, input: &str) -> Result<String, StoreError> {
        let line = input.trim_start_matches(is_space);
        if line.is_empty() {
            return Ok(String::new());
        }
        let quote = if line.len() > 3 && line.starts_with("\"\"\"") {
            "\"\"\""
        } else if line.starts_with('`') {
            "`"
        } else {
            ""
        };
        if !quote.is_empty() {
            let start = quote.len();
            return match line[start..].rfind(quote) {
                Some(pos) => Ok(line[start..start + pos].to_owned()),
                None => self.read_multilines(&line[start..], quote),
            };
        }
        let mut line = trim(line);
        if let Some(head) = line.strip_suffix('\\') {
            return Ok(self.read_continuation_lines(head.to_owned()));
        }
        if let Some(i) = line.find(['#', ';']) {
            self.comment.push_str(&line[i..]);
            line = trim(&line[..i]);
        }
        if has_surrounded_quote(line, '\'') || has_surrounded_quote(line, '"') {
            line = &line[1..line.len() - 1];
        }
        Ok(line.to_owned())
    }

    fn read_multilines(&mut self, first: &str, quote: &str) -> Result<String, StoreError> {
        let start_line = self.lines.number;
        let mut value = first.to_owned();
        loop {
            let next = self.lines.next_line().unwrap_or("");
            if let Some(pos) = next.rfind(quote) {
                value.push_str(&next[..pos]);
                if let Some(c) = clean_comment(&next[pos..]) {
                    self.comment.push_str(trim(c));
                }
                return Ok(value);
            }
            value.push_str(next);
            if self.lines.rest.is_empty() {
                return Err(parse_err(start_line, "missing closing value quote"));
            }
        }
    }

    fn read_continuation_lines(&mut self, mut value: String) -> String {
        loop {
            let next = trim(self.lines.next_line().unwrap_or(""));
            if next.is_empty() {
                return value;
            }
            value.push_str(next);
            if !value.ends_with('\\') {
                return value;
            }
            value.pop();
        }
    }
}

/// ini.v1's parse: the sections in file order, `DEFAULT` first.
fn parse_sections(bytes: &[u8]) -> Result<Vec<Section>, StoreError> {
    // ini.v1 drops a UTF-8 BOM (and the two bytes of a UTF-16 one).
    let bytes = if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        rest
    } else if bytes.starts_with(b"\xFE\xFF") || bytes.starts_with(b"\xFF\xFE") {
        &bytes[2..]
    } else {
        bytes
    };
    let text = std::str::from_utf8(bytes).map_err(|e| StoreError::Parse {
        format: "ini",
        message: format!("not UTF-8 (byte {})", e.valid_up_to()),
    })?;
    let mut p = Parser {
        lines: Lines {
            rest: text,
            number: 0,
        },
        comment: String::new(),
    };
    let mut sections = vec![Section::new(DEFAULT_SECTION.into())];
    let mut auto = 1;
    while let Some(raw) = p.lines.next_line() {
        let n = p.lines.number;
        let line = raw.trim_start_matches(is_space);
        if line.is_empty() {
            continue;
        }
        if line.starts_with(['#', ';']) {
            p.comment.push_str(line);
            continue;
        }
        if line.starts_with('[') {
            let close = line
                .rfind(']')
                .ok_or_else(|| parse_err(n, "unclosed section"))?;
            let name = &line[1..close];
            if name.is_empty() {
                return Err(parse_err(n, "empty section name"));
            }
            if let Some(c) = clean_comment(&line[close + 1..]) {
                p.comment.push_str(c);
            }
            let mut section = Section::new(name.to_owned());
            section.comment = trim(&p.comment).to_owned();
            p.comment.clear();
            sections.push(section);
            auto = 1;
            continue;
        }
        let (mut name, offset) = p.read_key_name(line)?;
        if name == "-" {
            name = format!("#{auto}");
            auto += 1;
        }
        let value = p.read_value(&line[offset..])?;
        let section = sections.last_mut().expect("DEFAULT is always there");
        let at = section.new_key(&name, value).map_err(|m| parse_err(n, m))?;
        section.keys[at].comment = trim(&p.comment).to_owned();
        p.comment.clear();
    }
    Ok(sections)
}

/// sops's `stripCommentChar`.
fn strip_comment_char(c: &str) -> String {
    if c.starts_with(';') {
        c.trim_start_matches([';', ' ']).to_owned()
    } else if c.starts_with('#') {
        c.trim_start_matches(['#', ' ']).to_owned()
    } else {
        c.to_owned()
    }
}

fn sections_to_tree(sections: Vec<Section>) -> Map {
    let mut top = Map::new();
    for s in sections {
        let mut m = Map::new();
        if !s.comment.is_empty() {
            m.0.push(Item::Comment(strip_comment_char(&s.comment)));
        }
        for k in s.keys {
            m.push(k.name, Value::Str(k.value));
            if !k.comment.is_empty() {
                m.0.push(Item::Comment(strip_comment_char(&k.comment)));
            }
        }
        top.push(s.name, Value::Map(m));
    }
    top
}

/// Parses a plain INI file.
pub fn parse(bytes: &[u8]) -> Result<Map, StoreError> {
    Ok(sections_to_tree(parse_sections(bytes)?))
}

/// Parses an encrypted INI file: every `[sops]` section is taken out and the first one's
/// keys become the nested metadata mapping, put first under the key `sops`.
pub fn parse_encrypted(bytes: &[u8]) -> Result<Map, StoreError> {
    let mut sections = parse_sections(bytes)?;
    let meta_keys = sections
        .iter()
        .position(|s| s.name == "sops")
        .map(|i| std::mem::take(&mut sections[i].keys));
    sections.retain(|s| s.name != "sops");
    let mut tree = sections_to_tree(sections);
    if let Some(keys) = meta_keys {
        let flat = keys.into_iter().map(|k| (k.name, k.value)).collect();
        let meta = unflatten_metadata(flat, "ini")?;
        tree.0
            .insert(0, Item::Entry("sops".into(), Value::Map(meta)));
    }
    Ok(tree)
}

fn unrepresentable(reason: String) -> StoreError {
    StoreError::Unrepresentable {
        format: "ini",
        reason,
    }
}

/// Builds ini.v1's sections from the tree (sops's `encodeTree`).
fn tree_to_sections<'a>(
    items: impl Iterator<Item = &'a Item>,
    sections: &mut Vec<Section>,
) -> Result<(), StoreError> {
    for item in items {
        let Item::Entry(name, value) = item else {
            continue;
        };
        if name.is_empty() {
            return Err(unrepresentable("empty section name".into()));
        }
        let Value::Map(body) = value else {
            return Err(unrepresentable(
                "section values should always be mappings".into(),
            ));
        };
        let mut section = Section::new(name.clone());
        let mut rest = body.0.as_slice();
        if let Some((Item::Comment(c), tail)) = rest.split_first() {
            section.comment = c.clone();
            rest = tail;
        }
        let mut last: Option<usize> = None;
        for item in rest {
            match item {
                Item::Comment(c) => {
                    if let Some(i) = last {
                        section.keys[i].comment = c.clone();
                    }
                }
                Item::Entry(k, v) => {
                    let at = section
                        .new_key(k, val_to_string(v))
                        .map_err(|m| unrepresentable(format!("section {name}: {m}")))?;
                    last = Some(at);
                }
            }
        }
        sections.push(section);
    }
    Ok(())
}

/// Writes comment lines as ini.v1 does (`; text`, or the line's own `#`/`;` kept).
fn write_comment(out: &mut String, comment: &str, trim_plain: bool) {
    for line in comment.split('\n') {
        match line.chars().next() {
            Some(c @ ('#' | ';')) => {
                out.push(c);
                out.push(' ');
                out.push_str(trim(&line[1..]));
            }
            _ => {
                out.push_str("; ");
                out.push_str(if trim_plain { trim(line) } else { line });
            }
        }
        out.push('\n');
    }
}

/// ini.v1's `WriteTo` with its default pretty format: `[name]` headers (none for a leading
/// `DEFAULT`, which is left out when empty), `=` aligned per section, values quoted when
/// needed, a blank line between sections.
fn write_sections(sections: &[Section]) -> Vec<u8> {
    let mut out = String::new();
    let mut wrote = false;
    for (i, s) in sections.iter().enumerate() {
        let header = i > 0 || s.name.to_uppercase() != DEFAULT_SECTION;
        if !header && s.keys.is_empty() {
            if !s.comment.is_empty() {
                write_comment(&mut out, &s.comment, false);
            }
            continue;
        }
        if wrote {
            out.push('\n');
        }
        wrote = true;
        if !s.comment.is_empty() {
            write_comment(&mut out, &s.comment, false);
        }
        if header {
            out.push('[');
            out.push_str(&s.name);
            out.push_str("]\n");
        }
        let quoted_name = |k: &str| -> String {
            if k.contains(['"', '=', ':']) {
                format!("`{k}`")
            } else if k.contains('`') {
                format!("\"\"\"{k}\"\"\"")
            } else {
                k.to_owned()
            }
        };
        let align = s
            .keys
            .iter()
            .map(|k| quoted_name(&k.name).len())
            .max()
            .unwrap_or(0);
        for k in &s.keys {
            if !k.comment.is_empty() {
                write_comment(&mut out, &k.comment, true);
            }
            let name = quoted_name(&k.name);
            out.push_str(&name);
            out.extend(std::iter::repeat_n(' ', align - name.len()));
            out.push_str(" = ");
            let v = &k.value;
            if v.contains(['\n', '`']) {
                out.push_str("\"\"\"");
                out.push_str(v);
                out.push_str("\"\"\"");
            } else if v.contains(['#', ';']) {
                out.push('`');
                out.push_str(v);
                out.push('`');
            } else if trim(v).len() != v.len() {
                out.push('"');
                out.push_str(v);
                out.push('"');
            } else {
                out.push_str(v);
            }
            out.push('\n');
        }
    }
    out.into_bytes()
}

/// Emits documents as INI: every top-level entry of every document is a section.
pub fn emit(branches: &[Map]) -> Result<Vec<u8>, StoreError> {
    let mut sections = Vec::new();
    for b in branches {
        tree_to_sections(b.0.iter(), &mut sections)?;
    }
    Ok(write_sections(&sections))
}

/// Emits an encrypted file: the sections, then the metadata (the last top-level `sops`
/// mapping) as a final `[sops]` section of flat keys, sorted.
pub fn emit_encrypted(branches: &[Map]) -> Result<Vec<u8>, StoreError> {
    let first = branches.first().ok_or(StoreError::NoMetadata)?;
    let (meta_at, meta) = find_metadata(first).ok_or(StoreError::NoMetadata)?;
    let mut sections = Vec::new();
    for (bi, b) in branches.iter().enumerate() {
        let items = b.0.iter().enumerate().filter(move |(i, item)| {
            if bi == 0 {
                *i != meta_at
            } else {
                !matches!(item, Item::Entry(k, Value::Map(_)) if k == "sops")
            }
        });
        tree_to_sections(items.map(|(_, item)| item), &mut sections)?;
    }
    let mut section = Section::new("sops".into());
    for (k, v) in flatten_metadata(meta) {
        section.keys.push(Key {
            name: k,
            value: v,
            comment: String::new(),
        });
    }
    sections.push(section);
    Ok(write_sections(&sections))
}

/// `--extract` of a single non-string value: Go's compact `json.Marshal` of it, as sops's
/// INI store prints it (a mapping is a list of `{"Key":…,"Value":…}` objects).
pub fn emit_value(value: &Value) -> Result<Vec<u8>, StoreError> {
    let mut out = String::new();
    marshal(&mut out, value)?;
    Ok(out.into_bytes())
}

fn marshal(out: &mut String, v: &Value) -> Result<(), StoreError> {
    match v {
        Value::Map(m) => {
            out.push('[');
            for (i, item) in m.0.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match item {
                    Item::Entry(k, v) => {
                        out.push_str("{\"Key\":");
                        go_json_string(out, k);
                        out.push_str(",\"Value\":");
                        marshal(out, v)?;
                        out.push('}');
                    }
                    Item::Comment(c) => {
                        out.push_str("{\"Key\":{\"Value\":");
                        go_json_string(out, c);
                        out.push_str("},\"Value\":null}");
                    }
                }
            }
            out.push(']');
        }
        Value::Seq(s) => {
            out.push('[');
            for (i, v) in s.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                marshal(out, v)?;
            }
            out.push(']');
        }
        Value::Str(s) => go_json_string(out, s),
        Value::Bytes(b) => go_json_string(out, &String::from_utf8_lossy(b)),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out
            .push_str(&format_float(*f).map_err(|_| {
                unrepresentable("NaN and infinite floats have no JSON form".into())
            })?),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
        Value::Time(t) => go_json_string(out, t.as_str()),
        Value::Comment(c) => {
            out.push_str("{\"Value\":");
            go_json_string(out, c);
            out.push('}');
        }
    }
    Ok(())
}

/// Go's `encoding/json` string (HTML-safe escaping, U+2028/2029 escaped).
fn go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\0'..='\u{1f}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(input: &str) -> String {
        String::from_utf8(emit(&[parse(input.as_bytes()).unwrap()]).unwrap()).unwrap()
    }

    #[test]
    fn basic_ini_like_sops() {
        // sops-lab/basic.ini → basic.dec.ini (`sops decrypt` of sops 3.11's encryption).
        let input = "; file comment\nglobal_key = gv\n\n[database]\n; section comment\nuser = admin\npassword = \"p@ss;word\" ; trailing\nport = 5432\nmulti = \"\"\"line1\nline2\"\"\"\nempty =\n\n[server]\n# hash comment\nhost=example.com\nsecret_unencrypted = plain\n";
        let want = "; file comment\nglobal_key = gv\n\n[database]\n; section comment\nuser     = admin\n; word\" ; trailing\npassword = \"p@ss\nport     = 5432\nmulti    = \"\"\"line1\nline2\"\"\"\nempty    = \n\n[server]\n; hash comment\nhost               = example.com\nsecret_unencrypted = plain\n";
        assert_eq!(round(input), want);
        let m = parse(input.as_bytes()).unwrap();
        let db = m.get("database").unwrap().as_map().unwrap();
        assert_eq!(db.get("password"), Some(&Value::Str("\"p@ss".into())));
        assert_eq!(db.get("multi"), Some(&Value::Str("line1\nline2".into())));
        assert_eq!(db.0[1], Item::Comment("section comment".into()));
    }

    #[test]
    fn value_forms_like_ini_v1() {
        // The tree the real sops 3.11 reads from this file (`--output-type json`), and its
        // `sops decrypt` output.
        let input = "; c1\n# c2\nk1 = v1 ; inline\nk2 : v2\n  k3=  spaced value   \nk4 = \"quoted\"\nk5 = 'single'\nk6 = `bt;#`  ; after\nk7 = \"\"\"multi\nline\"\"\" ; after7\nk8 = a\\\n  b\\\nc\nk9 = \"a\"b\"\n\"q k\" = qv\n`b=k` = bv\nk1 = dup\nk10 =\n;trailing comment\n";
        let m = parse(input.as_bytes()).unwrap();
        let d = m.get("DEFAULT").unwrap().as_map().unwrap();
        let got: Vec<(&str, &str)> = d.entries().map(|(k, v)| (k, v.as_str().unwrap())).collect();
        assert_eq!(
            got,
            [
                ("k1", "dup"),
                ("k2", "v2"),
                ("k3", "spaced value"),
                ("k4", "quoted"),
                ("k5", "single"),
                ("k6", "bt;#"),
                ("k7", "multi\nline"),
                ("k8", "abc"),
                ("k9", "\"a\"b\""),
                ("q k", "qv"),
                ("b=k", "bv"),
                ("k10", ""),
            ]
        );
        assert_eq!(
            round(input),
            "k1    = dup\nk2    = v2\nk3    = spaced value\nk4    = quoted\nk5    = single\nk6    = `bt;#`\n; after7\nk7    = \"\"\"multi\nline\"\"\"\nk8    = abc\nk9    = \"a\"b\"\nq k   = qv\n`b=k` = bv\nk10   = \n"
        );
    }

    #[test]
    fn section_comments_and_sections() {
        // Real sops 3.11: plain section comment lines keep their trailing spaces.
        assert_eq!(
            round("; a  \n;  b  \n[s]  ; hc  \nk = v\n"),
            "; a  \n; b\n; hc\n[s]\nk = v\n"
        );
        // Non-unique sections; an explicit [DEFAULT] later is a section of its own.
        let m = parse(b"[b]\ny=2\n[DEFAULT]\nz=1\n[b]\nw=3\n").unwrap();
        let names: Vec<&str> = m.entries().map(|(k, _)| k).collect();
        assert_eq!(names, ["DEFAULT", "b", "DEFAULT", "b"]);
        assert_eq!(
            round("[b]\ny=2\n[DEFAULT]\nz=1\n[b]\nw=3\n"),
            "[b]\ny = 2\n\n[DEFAULT]\nz = 1\n\n[b]\nw = 3\n"
        );
        for bad in [
            "[a\nk=v\n",
            "[]\n",
            "k11\n",
            "= v\n",
            "k = \"\"\"open\nmore\n",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn writes_values_like_ini_v1() {
        // `sops decrypt --output-type ini` of sops-lab/ini-src.json (real sops 3.11).
        let mut sec = Map::new();
        for (k, v) in [
            ("semi", "a;b"),
            ("hash", "a#b"),
            ("lead", " x"),
            ("quote", "say \"hi\""),
            ("bt", "a`b"),
            ("nl", "l1\nl2"),
            ("both", "\"q\" and `b`"),
            ("eq", "a=b"),
        ] {
            sec.push(k, Value::Str(v.into()));
        }
        sec.push("num", Value::Float(5.0));
        sec.push("f", Value::Float(1.5));
        sec.push("b", Value::Bool(true));
        sec.push("empty", Value::Str(String::new()));
        let mut other = Map::new();
        other.push("k", Value::Str("v".into()));
        let mut top = Map::new();
        top.push("sec", Value::Map(sec));
        top.push("other", Value::Map(other));
        assert_eq!(
            String::from_utf8(emit(&[top]).unwrap()).unwrap(),
            "[sec]\nsemi  = `a;b`\nhash  = `a#b`\nlead  = \" x\"\nquote = say \"hi\"\nbt    = \"\"\"a`b\"\"\"\nnl    = \"\"\"l1\nl2\"\"\"\nboth  = \"\"\"\"q\" and `b`\"\"\"\neq    = a=b\nnum   = 5.0\nf     = 1.5\nb     = true\nempty = \n\n[other]\nk = v\n"
        );
        // Empty sections, the leading DEFAULT without a header, nested values as Go's %v.
        let mut top = Map::new();
        top.push("a", Value::Map(Map::new()));
        top.push("b", Value::Map(Map::new()));
        assert_eq!(emit(&[top]).unwrap(), b"[a]\n\n[b]\n");
        let mut d = Map::new();
        d.push("x", Value::Str("1".into()));
        let mut inner = Map::new();
        inner.push("b", Value::Float(1.0));
        let mut s = Map::new();
        s.push("a", Value::Seq(vec![Value::Map(inner)]));
        let mut top = Map::new();
        top.push("default", Value::Map(d));
        top.push("s", Value::Map(s));
        assert_eq!(emit(&[top]).unwrap(), b"x = 1\n\n[s]\na = [[{b 1}]]\n");
        let mut top = Map::new();
        top.push("top", Value::Str("x".into()));
        assert!(emit(&[top]).is_err());
        assert_eq!(emit(&[Map::new()]).unwrap(), b"");
    }

    #[test]
    fn extract_values_as_go_json() {
        // `sops decrypt --output-type ini --extract '["b"]'` of
        // {"b":[1,"x",{"k":"v"},null]} (real sops 3.11).
        let mut kv = Map::new();
        kv.push("k", Value::Str("v".into()));
        let v = Value::Seq(vec![
            Value::Float(1.0),
            Value::Str("x".into()),
            Value::Map(kv),
            Value::Null,
        ]);
        assert_eq!(
            emit_value(&v).unwrap(),
            b"[1,\"x\",[{\"Key\":\"k\",\"Value\":\"v\"}],null]"
        );
        assert_eq!(emit_value(&Value::Float(1.5e300)).unwrap(), b"1.5e+300");
        assert_eq!(emit_value(&Value::Bool(true)).unwrap(), b"true");
    }

    #[test]
    fn metadata_section() {
        // Layout of sops-lab/basic.enc.ini (real sops 3.11; key order there is random).
        let enc = "[s]\nA = ENC[x]\n\n[sops]\nmac                        = ENC[m]\nunencrypted_suffix         = _unencrypted\nversion                    = 3.11.0\nage__list_0__map_enc       = -----BEGIN AGE ENCRYPTED FILE-----\\nAAA\\n-----END AGE ENCRYPTED FILE-----\\n\nage__list_0__map_recipient = age1x\nlastmodified               = 2026-11-26T18:59:17Z\n";
        let mut m = parse_encrypted(enc.as_bytes()).unwrap();
        let Some(Value::Map(meta)) = m.remove("sops") else {
            panic!("no metadata")
        };
        let age = meta.get("age").unwrap().as_seq().unwrap()[0]
            .as_map()
            .unwrap();
        assert_eq!(
            age.get("enc").unwrap().as_str().unwrap(),
            "-----BEGIN AGE ENCRYPTED FILE-----\nAAA\n-----END AGE ENCRYPTED FILE-----\n"
        );
        m.push("sops", Value::Map(meta));
        assert_eq!(
            String::from_utf8(emit_encrypted(&[m]).unwrap()).unwrap(),
            "[s]\nA = ENC[x]\n\n[sops]\nage__list_0__map_enc       = -----BEGIN AGE ENCRYPTED FILE-----\\nAAA\\n-----END AGE ENCRYPTED FILE-----\\n\nage__list_0__map_recipient = age1x\nlastmodified               = 2026-11-26T18:59:17Z\nmac                        = ENC[m]\nunencrypted_suffix         = _unencrypted\nversion                    = 3.11.0\n"
        );
    }
}
