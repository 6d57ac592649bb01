//! The facts of an instance, read from its `instance.nix` without evaluating Nix.
//!
//! `instance.nix` is one attribute set, the form `ccsecrets init` writes and the base repo's
//! module imports:
//!
//! ```nix
//! # comments: `# …` and `/* … */`
//! {
//!   domain = "ci.example.test";
//!   gateway.address = "203.0.113.7";   # dotted paths nest
//!   ports = [ 80 443 ];
//!   acme = false;
//!   notes = builtins.readFile ./notes.txt;   # any other expression: kept as opaque
//! }
//! ```
//!
//! Literal values are understood: double-quoted strings without `${…}`, integers, `true`,
//! `false`, `null`, lists and nested attribute sets of those. Any other expression (a
//! function call, a path, an `''…''` string, interpolation, arithmetic) is skipped and kept
//! as [`FactValue::Expr`]: it is legal in the file, but ccsecrets cannot read a fact from it.
//! `inherit` lines are skipped. The file must be an attribute set, not a function
//! (`{ config, ... }: …`) or a `let … in` expression; `docs/architecture.md` ("The instance model") says why.

use std::fmt;

/// A value in `instance.nix`, as far as ccsecrets reads it.
#[derive(Clone, Debug, PartialEq)]
pub enum FactValue {
    /// `"text"` (escapes `\"`, `\\`, `\n`, `\r`, `\t`, `\$` resolved).
    Str(String),
    /// An integer.
    Int(i64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `[ … ]`.
    List(Vec<FactValue>),
    /// `{ … }`, attributes in file order (dotted paths merged).
    Attrs(Vec<(String, FactValue)>),
    /// An expression ccsecrets does not evaluate.
    Expr,
}

impl FactValue {
    /// A short name of the kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            FactValue::Str(_) => "string",
            FactValue::Int(_) => "integer",
            FactValue::Bool(_) => "boolean",
            FactValue::Null => "null",
            FactValue::List(_) => "list",
            FactValue::Attrs(_) => "attribute set",
            FactValue::Expr => "expression that is not a literal",
        }
    }
}

/// The facts of an instance: the attributes of `instance.nix`, and its domain.
#[derive(Clone, Debug, PartialEq)]
pub struct Facts {
    domain: String,
    attrs: Vec<(String, FactValue)>,
}

/// Why `instance.nix` could not be read as facts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FactsError {
    /// The text is not in the attribute-set form ccsecrets reads.
    #[error("line {line}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// What was expected.
        message: String,
    },
    /// An attribute is defined twice (directly or through a dotted path).
    #[error("attribute `{0}` is defined more than once")]
    Duplicate(String),
    /// There is no `domain` attribute.
    #[error("no `domain = \"…\";` attribute")]
    MissingDomain,
    /// `domain` is not a string literal.
    #[error("`domain` must be a string literal, found {0}")]
    DomainNotString(&'static str),
    /// `domain` is not a DNS name.
    #[error("`domain` {0:?} is not a DNS name (letters, digits, `-`, labels joined by `.`)")]
    InvalidDomain(String),
}

impl Facts {
    /// Reads the facts from the text of `instance.nix`.
    pub fn parse(text: &str) -> Result<Facts, FactsError> {
        let attrs = parse_attrset(text)?;
        let domain = match lookup(&attrs, "domain") {
            None => return Err(FactsError::MissingDomain),
            Some(FactValue::Str(s)) => s.clone(),
            Some(other) => return Err(FactsError::DomainNotString(other.kind())),
        };
        if !is_dns_name(&domain) {
            return Err(FactsError::InvalidDomain(domain));
        }
        Ok(Facts { domain, attrs })
    }

    /// Facts for a domain alone (no `instance.nix`).
    pub fn for_domain(domain: &str) -> Result<Facts, FactsError> {
        if !is_dns_name(domain) {
            return Err(FactsError::InvalidDomain(domain.to_owned()));
        }
        Ok(Facts {
            domain: domain.to_owned(),
            attrs: vec![("domain".into(), FactValue::Str(domain.to_owned()))],
        })
    }

    /// The instance's domain (`ci.example.test`); its certificate covers it and `*.` it.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// A fact by dotted path (`gateway.address`).
    pub fn get(&self, path: &str) -> Option<&FactValue> {
        lookup(&self.attrs, path)
    }

    /// Every top-level attribute, in file order.
    pub fn attrs(&self) -> &[(String, FactValue)] {
        &self.attrs
    }
}

fn lookup<'a>(attrs: &'a [(String, FactValue)], path: &str) -> Option<&'a FactValue> {
    let mut cur = attrs;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let v = cur.iter().find(|(k, _)| k == part).map(|(_, v)| v)?;
        if parts.peek().is_none() {
            return Some(v);
        }
        match v {
            FactValue::Attrs(inner) => cur = inner,
            _ => return None,
        }
    }
    None
}

/// True for a DNS name: labels of 1–63 letters, digits and inner `-`, joined by `.`, at
/// most 253 characters. No wildcard, no trailing dot, no port.
pub fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Open(char),
    Close(char),
    Eq,
    Semi,
    Dot,
    /// A string literal; `None` when it has `${…}` or is an `''…''` string.
    Str(Option<String>),
    Ident(String),
    Int(i64),
    /// Anything else (operators, paths, floats…): only ever part of an opaque expression.
    Other,
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

fn syntax(line: usize, message: impl Into<String>) -> FactsError {
    FactsError::Syntax {
        line,
        message: message.into(),
    }
}

impl Lexer<'_> {
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next();
        if c == Some('\n') {
            self.line += 1;
        }
        c
    }

    fn tokens(mut self) -> Result<Vec<(Tok, usize)>, FactsError> {
        let mut out = Vec::new();
        while let Some(&c) = self.chars.peek() {
            let line = self.line;
            match c {
                c if c.is_whitespace() => {
                    self.bump();
                }
                '#' => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                '/' => {
                    self.bump();
                    if self.chars.peek() == Some(&'*') {
                        self.bump();
                        let mut prev = ' ';
                        loop {
                            match self.bump() {
                                None => return Err(syntax(line, "unterminated `/*` comment")),
                                Some('/') if prev == '*' => break,
                                Some(c) => prev = c,
                            }
                        }
                    } else {
                        out.push((Tok::Other, line));
                    }
                }
                '{' | '[' | '(' => {
                    self.bump();
                    out.push((Tok::Open(c), line));
                }
                '}' | ']' | ')' => {
                    self.bump();
                    out.push((Tok::Close(c), line));
                }
                ';' => {
                    self.bump();
                    out.push((Tok::Semi, line));
                }
                '.' => {
                    self.bump();
                    out.push((Tok::Dot, line));
                }
                '=' => {
                    self.bump();
                    if self.chars.peek() == Some(&'=') {
                        self.bump();
                        out.push((Tok::Other, line));
                    } else {
                        out.push((Tok::Eq, line));
                    }
                }
                '"' => {
                    self.bump();
                    let s = self.string(line)?;
                    out.push((Tok::Str(s), line));
                }
                '\'' => {
                    self.bump();
                    if self.chars.peek() == Some(&'\'') {
                        self.bump();
                        self.indented_string(line)?;
                        out.push((Tok::Str(None), line));
                    } else {
                        out.push((Tok::Other, line));
                    }
                }
                c if c.is_ascii_digit() => {
                    let mut text = String::new();
                    let mut other = false;
                    while let Some(&d) = self.chars.peek() {
                        if d.is_ascii_digit() {
                            text.push(d);
                        } else if d == '.' || d.is_ascii_alphabetic() {
                            // 1.5, 1e3: floats and the like are opaque.
                            other = true;
                        } else {
                            break;
                        }
                        self.bump();
                    }
                    match text.parse() {
                        Ok(n) if !other => out.push((Tok::Int(n), line)),
                        _ => out.push((Tok::Other, line)),
                    }
                }
                c if c.is_ascii_alphabetic() || c == '_' => {
                    let mut text = String::new();
                    while let Some(&d) = self.chars.peek() {
                        if d.is_ascii_alphanumeric() || matches!(d, '_' | '-' | '\'') {
                            text.push(d);
                            self.bump();
                        } else {
                            break;
                        }
                    }
                    out.push((Tok::Ident(text), line));
                }
                '-' => {
                    self.bump();
                    // `-5` directly after `=` or inside a list is a negative integer.
                    let after_value_start =
                        matches!(out.last(), Some((Tok::Eq, _)) | Some((Tok::Open('['), _)));
                    if after_value_start && self.chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                        let mut text = String::from("-");
                        while let Some(&d) = self.chars.peek() {
                            if !d.is_ascii_digit() {
                                break;
                            }
                            text.push(d);
                            self.bump();
                        }
                        match text.parse() {
                            Ok(n) => out.push((Tok::Int(n), line)),
                            Err(_) => out.push((Tok::Other, line)),
                        }
                    } else {
                        out.push((Tok::Other, line));
                    }
                }
                _ => {
                    self.bump();
                    out.push((Tok::Other, line));
                }
            }
        }
        Ok(out)
    }

    /// After the opening `"`. `None` when the string interpolates.
    fn string(&mut self, line: usize) -> Result<Option<String>, FactsError> {
        let mut s = String::new();
        let mut literal = true;
        loop {
            match self.bump() {
                None => return Err(syntax(line, "unterminated string")),
                Some('"') => break,
                Some('\\') => match self.bump() {
                    None => return Err(syntax(line, "unterminated string")),
                    Some('n') => s.push('\n'),
                    Some('r') => s.push('\r'),
                    Some('t') => s.push('\t'),
                    Some(c) => s.push(c),
                },
                Some('$') if self.chars.peek() == Some(&'{') => {
                    self.bump();
                    literal = false;
                    self.interpolation(line)?;
                }
                Some(c) => s.push(c),
            }
        }
        Ok(literal.then_some(s))
    }

    /// After `''`: skipped to its closing `''` (`'''`, `''$` and `''\` escape).
    fn indented_string(&mut self, line: usize) -> Result<(), FactsError> {
        loop {
            match self.bump() {
                None => return Err(syntax(line, "unterminated '' string")),
                Some('\'') if self.chars.peek() == Some(&'\'') => {
                    self.bump();
                    match self.chars.peek() {
                        Some('\'') | Some('$') | Some('\\') => {
                            self.bump();
                        }
                        _ => return Ok(()),
                    }
                }
                Some('$') if self.chars.peek() == Some(&'{') => {
                    self.bump();
                    self.interpolation(line)?;
                }
                Some(_) => {}
            }
        }
    }

    /// After `${`: skipped to the matching `}`, nested strings included.
    fn interpolation(&mut self, line: usize) -> Result<(), FactsError> {
        let mut depth = 1usize;
        while depth > 0 {
            match self.bump() {
                None => return Err(syntax(line, "unterminated `${`")),
                Some('{') => depth += 1,
                Some('}') => depth -= 1,
                Some('"') => {
                    self.string(line)?;
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

fn parse_attrset(text: &str) -> Result<Vec<(String, FactValue)>, FactsError> {
    let toks = Lexer {
        chars: text.chars().peekable(),
        line: 1,
    }
    .tokens()?;
    let Some((first, line)) = toks.first() else {
        return Err(syntax(
            1,
            "the file is empty; expected `{ domain = \"…\"; }`",
        ));
    };
    if *first != Tok::Open('{') {
        return Err(syntax(
            *line,
            "expected the file to be one attribute set `{ … }` (not a function or `let`)",
        ));
    }
    let end = matching(&toks, 0)?;
    if let Some((_, line)) = toks.get(end + 1) {
        return Err(syntax(
            *line,
            "unexpected text after the closing `}` (the file must be one attribute set, \
             not a function or `let`)",
        ));
    }
    bindings(&toks[1..end], toks[end].1)
}

/// The index of the bracket closing the one opened at `start`.
fn matching(toks: &[(Tok, usize)], start: usize) -> Result<usize, FactsError> {
    let mut stack = Vec::new();
    for (i, (t, line)) in toks.iter().enumerate().skip(start) {
        match t {
            Tok::Open(c) => stack.push(*c),
            Tok::Close(c) => {
                let open = stack
                    .pop()
                    .ok_or_else(|| syntax(*line, format!("unmatched `{c}`")))?;
                let want = match open {
                    '{' => '}',
                    '[' => ']',
                    _ => ')',
                };
                if *c != want {
                    return Err(syntax(*line, format!("expected `{want}`, found `{c}`")));
                }
                if stack.is_empty() {
                    return Ok(i);
                }
            }
            _ => {}
        }
    }
    Err(syntax(
        toks[start].1,
        format!("`{}` is never closed", bracket(&toks[start].0)),
    ))
}

fn bracket(t: &Tok) -> char {
    match t {
        Tok::Open(c) | Tok::Close(c) => *c,
        _ => '?',
    }
}

/// The bindings between `{` and `}`.
fn bindings(
    toks: &[(Tok, usize)],
    end_line: usize,
) -> Result<Vec<(String, FactValue)>, FactsError> {
    let mut out: Vec<(String, FactValue)> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let line = toks[i].1;
        // `inherit a b;` / `inherit (x) a;`: nothing ccsecrets reads.
        if toks[i].0 == Tok::Ident("inherit".into()) {
            i = value_end(toks, i + 1, end_line)? + 1;
            continue;
        }
        let mut path = Vec::new();
        loop {
            match toks.get(i) {
                Some((Tok::Ident(name), _)) => path.push(name.clone()),
                Some((Tok::Str(Some(name)), _)) => path.push(name.clone()),
                _ => return Err(syntax(line, "expected an attribute name")),
            }
            i += 1;
            match toks.get(i) {
                Some((Tok::Dot, _)) => i += 1,
                Some((Tok::Eq, _)) => {
                    i += 1;
                    break;
                }
                _ => {
                    return Err(syntax(
                        line,
                        format!("expected `=` after `{}`", path.join(".")),
                    ))
                }
            }
        }
        let end = value_end(toks, i, line)?;
        if end == i {
            return Err(syntax(line, format!("`{}` has no value", path.join("."))));
        }
        let value = value(&toks[i..end])?;
        insert(&mut out, &path, value).map_err(|_| FactsError::Duplicate(path.join(".")))?;
        i = end + 1;
    }
    Ok(out)
}

/// The index of the `;` ending the value that starts at `start`.
fn value_end(toks: &[(Tok, usize)], start: usize, line: usize) -> Result<usize, FactsError> {
    let mut i = start;
    while i < toks.len() {
        match toks[i].0 {
            Tok::Semi => return Ok(i),
            Tok::Open(_) => i = matching(toks, i)? + 1,
            Tok::Close(_) => break,
            _ => i += 1,
        }
    }
    Err(syntax(line, "missing `;` at the end of the attribute"))
}

/// Interprets one value's tokens: a literal, else [`FactValue::Expr`].
fn value(toks: &[(Tok, usize)]) -> Result<FactValue, FactsError> {
    match toks {
        [(Tok::Str(Some(s)), _)] => Ok(FactValue::Str(s.clone())),
        [(Tok::Int(n), _)] => Ok(FactValue::Int(*n)),
        [(Tok::Ident(w), _)] if w == "true" => Ok(FactValue::Bool(true)),
        [(Tok::Ident(w), _)] if w == "false" => Ok(FactValue::Bool(false)),
        [(Tok::Ident(w), _)] if w == "null" => Ok(FactValue::Null),
        [(Tok::Open('{'), _), ..] if matching(toks, 0)? == toks.len() - 1 => Ok(FactValue::Attrs(
            bindings(&toks[1..toks.len() - 1], toks[toks.len() - 1].1)?,
        )),
        [(Tok::Open('['), _), ..] if matching(toks, 0)? == toks.len() - 1 => {
            let inner = &toks[1..toks.len() - 1];
            let mut items = Vec::new();
            let mut i = 0;
            while i < inner.len() {
                let end = match inner[i].0 {
                    Tok::Open(_) => matching(inner, i)? + 1,
                    _ => i + 1,
                };
                items.push(value(&inner[i..end])?);
                i = end;
            }
            Ok(FactValue::List(items))
        }
        _ => Ok(FactValue::Expr),
    }
}

fn insert(
    attrs: &mut Vec<(String, FactValue)>,
    path: &[String],
    value: FactValue,
) -> Result<(), FactsError> {
    let (first, rest) = path.split_first().expect("an attribute path has a name");
    let existing = attrs.iter_mut().find(|(k, _)| k == first);
    match (existing, rest.is_empty()) {
        (None, true) => attrs.push((first.clone(), value)),
        (None, false) => {
            let mut inner = Vec::new();
            insert(&mut inner, rest, value)?;
            attrs.push((first.clone(), FactValue::Attrs(inner)));
        }
        // `a.b = 1; a.c = 2;` and `a = { b = 1; }; a.c = 2;` merge, as Nix does.
        (Some((_, FactValue::Attrs(inner))), false) => insert(inner, rest, value)?,
        (Some((_, FactValue::Attrs(inner))), true) if matches!(value, FactValue::Attrs(_)) => {
            let FactValue::Attrs(new) = value else {
                unreachable!("matched an attribute set")
            };
            for (k, v) in new {
                insert(inner, &[k], v)?;
            }
        }
        _ => return Err(FactsError::Duplicate(path.join("."))),
    }
    Ok(())
}

impl fmt::Display for FactValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FactValue::Str(s) => write!(f, "{s:?}"),
            FactValue::Int(n) => write!(f, "{n}"),
            FactValue::Bool(b) => write!(f, "{b}"),
            FactValue::Null => f.write_str("null"),
            FactValue::List(items) => {
                f.write_str("[")?;
                for i in items {
                    write!(f, " {i}")?;
                }
                f.write_str(" ]")
            }
            FactValue::Attrs(attrs) => {
                f.write_str("{")?;
                for (k, v) in attrs {
                    write!(f, " {k} = {v};")?;
                }
                f.write_str(" }")
            }
            FactValue::Expr => f.write_str("<expression>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_example_instance() {
        let text = include_str!("../../../fixtures/example-instance/instance.nix");
        let facts = Facts::parse(text).unwrap();
        assert_eq!(facts.domain(), "ci.example.test");
    }

    #[test]
    fn reads_literals_nested_paths_and_skips_expressions() {
        let text = r#"
            /* block
               comment */
            {
              domain = "ci.example.test"; # trailing
              gateway.address = "203.0.113.7";
              gateway = { port = 443; };
              "quoted name" = -5;
              ports = [ 80 443 [ true ] { a = null; } ];
              notes = builtins.readFile ./notes.txt;
              motd = "hello ${name}";
              banner = ''
                multi ''${line} }
              '';
              inherit (x) y;
              flag = false;
            }
        "#;
        let f = Facts::parse(text).unwrap();
        assert_eq!(f.domain(), "ci.example.test");
        assert_eq!(
            f.get("gateway.address"),
            Some(&FactValue::Str("203.0.113.7".into()))
        );
        assert_eq!(f.get("gateway.port"), Some(&FactValue::Int(443)));
        assert_eq!(f.get("quoted name"), Some(&FactValue::Int(-5)));
        assert_eq!(
            f.get("ports").map(ToString::to_string).as_deref(),
            Some("[ 80 443 [ true ] { a = null; } ]")
        );
        assert_eq!(f.get("notes"), Some(&FactValue::Expr));
        assert_eq!(f.get("motd"), Some(&FactValue::Expr));
        assert_eq!(f.get("banner"), Some(&FactValue::Expr));
        assert_eq!(f.get("flag"), Some(&FactValue::Bool(false)));
        assert_eq!(f.get("y"), None);
    }

    #[test]
    fn clear_errors() {
        let cases = [
            ("", "empty"),
            (
                "{ config, ... }: { domain = \"a.b\"; }",
                "one attribute set",
            ),
            ("{ domain = \"a.b\" }", "missing `;`"),
            ("{ domain \"a.b\"; }", "expected `=`"),
            ("{ domain = \"a.b; }", "unterminated string"),
            ("{ domain = \"a.b\"; ", "never closed"),
            ("{ domain = \"a.b\"; } x", "after the closing"),
            ("{ x = 1; }", "no `domain"),
            ("{ domain = 1; }", "string literal, found integer"),
            ("{ domain = \"${d}\"; }", "string literal, found expression"),
            ("{ domain = \"*.a.b\"; }", "not a DNS name"),
            ("{ domain = \"a.b\"; domain = \"c.d\"; }", "more than once"),
            (
                "{ domain = \"a.b\"; g.x = 1; g.x = 2; }",
                "`g.x` is defined",
            ),
        ];
        for (text, want) in cases {
            let err = Facts::parse(text).expect_err(text).to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn line_numbers_point_at_the_problem() {
        let err = Facts::parse("{\n  domain = \"a.b\";\n  x = ;\n}").unwrap_err();
        assert_eq!(err.to_string(), "line 3: `x` has no value");
    }

    #[test]
    fn dns_names() {
        for ok in ["a", "ci.example.test", "x-1.example", "203.0.113.7"] {
            assert!(is_dns_name(ok), "{ok}");
        }
        for bad in [
            "", "*.a.b", "a..b", "-a.b", "a-.b", "a.b.", "a_b.c", "a:443",
        ] {
            assert!(!is_dns_name(bad), "{bad}");
        }
    }
}
