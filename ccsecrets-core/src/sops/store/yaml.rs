//! The YAML store: yaml.v3 semantics as sops 3.11 uses them.
//!
//! Parsing runs the event-level `granit-parser`, builds a node tree with source positions,
//! resolves scalars as yaml.v3 does ([`crate::sops::scalar::resolve_plain`]), expands aliases,
//! and places comments where sops's linearisation of yaml.v3's head/line/foot comments puts
//! them (an inline comment becomes a comment before its key; own-line comments go to the
//! innermost open block whose indentation does not exceed the comment's column).
//!
//! Emitting reproduces yaml.v3's emitter for the nodes sops builds: block style, indentation
//! `opts.yaml_indent`, yaml.v3's quoting choices, literal blocks, and comments as head comments
//! of the following key or foot comments of the last one.
//!
//! Error messages carry positions and reasons only, never document text.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use granit_parser::{Event, Options, Parser, Placement, ScalarStyle, Span, Tag};

use super::{StoreError, StoreOptions};
use crate::sops::scalar::{self, Resolved};
use crate::sops::tree::{Item, Map, Value};

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

fn perr(message: impl Into<String>) -> StoreError {
    StoreError::Parse {
        format: "yaml",
        message: message.into(),
    }
}

/// A position in the source: byte index, 1-based line, 0-based column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pos {
    idx: usize,
    line: usize,
    col: usize,
}

fn pos_of(span: &Span) -> Pos {
    Pos {
        idx: span.start.index(),
        line: span.start.line(),
        col: span.start.col(),
    }
}

/// A parsed node (aliases already expanded).
#[derive(Clone, Debug)]
enum Node {
    Scalar {
        text: String,
        style: ScalarStyle,
        tag: Option<Tag>,
        pos: Pos,
    },
    Seq(Coll),
    Map(Coll),
}

/// A collection: for mappings, entries are `(Some(key), value)`; for sequences `(None, item)`.
#[derive(Clone, Debug, Default)]
struct Coll {
    entries: Vec<Entry>,
    trailing: Vec<String>,
    pos: Option<Pos>,
}

#[derive(Clone, Debug)]
struct Entry {
    key: Option<Node>,
    value: Node,
    before: Vec<String>,
}

/// One comment-attachment point: an entry of a collection, in document order.
struct Slot {
    /// Entry indices from the document root to the collection holding the entry.
    coll_path: Vec<usize>,
    /// Index of the entry in that collection.
    entry: usize,
    pos: Pos,
}

struct RawComment {
    text: String,
    pos: Pos,
    right: bool,
}

/// A collection being built.
struct Frame {
    is_map: bool,
    coll: Coll,
    anchor: usize,
    /// Column of the collection's items (key column / dash column).
    col: usize,
    /// Pending key of a mapping.
    key: Option<Node>,
    /// False for collections copied from an anchor (no comment slots inside).
    path: Vec<usize>,
}

struct DocBuild {
    root: Option<Node>,
    slots: Vec<Slot>,
    /// Column of each collection, by its path.
    cols: HashMap<Vec<usize>, usize>,
    /// Paths of flow collections.
    flows: HashSet<Vec<usize>>,
    /// Alias uses of anchored collections: (path of the copy, path of the original), in
    /// document order; the copies are refreshed once comments are placed.
    alias_copies: Vec<(Vec<usize>, Vec<usize>)>,
    comments: Vec<RawComment>,
    start: Pos,
}

/// Parses a YAML stream into one [`Map`] per document, as sops's YAML store loads it.
pub fn parse(bytes: &[u8]) -> Result<Vec<Map>, StoreError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| perr(format!("invalid UTF-8 at byte offset {}", e.valid_up_to())))?;
    if text.trim().is_empty() {
        return Err(StoreError::Empty);
    }
    let options = granit_parser::options! {
        block_scalar_eof_without_line_feed: true,
        max_buffered_comment_events: usize::MAX / 2,
    };
    let docs = build_documents(text, options)?;
    if docs.is_empty() {
        // Comments only: yaml.v3's first decode reports EOF.
        return Err(perr("no YAML document (only comments)"));
    }
    let mut out = Vec::with_capacity(docs.len());
    for (i, doc) in docs.into_iter().enumerate() {
        out.push(finish_document(doc, i == 0)?);
    }
    Ok(out)
}

/// yaml.v3 (YAML 1.1) reads U+0085, U+2028 and U+2029 as line breaks inside quoted scalars:
/// the indentation after them is not content. granit-parser (YAML 1.2) keeps it.
fn fold_unicode_breaks(s: &str) -> String {
    if !s.contains(['\u{85}', '\u{2028}', '\u{2029}']) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut skip = false;
    for c in s.chars() {
        if skip && (c == ' ' || c == '\t') {
            continue;
        }
        skip = matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}');
        out.push(c);
    }
    out
}

fn scan_error(e: &granit_parser::ScanError) -> StoreError {
    let kind = format!("{:?}", e.kind());
    let name: String = kind
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let m = e.marker();
    perr(format!(
        "syntax error at line {} column {}: {}",
        m.line(),
        m.col() + 1,
        name
    ))
}

fn build_documents(text: &str, options: Options) -> Result<Vec<DocBuild>, StoreError> {
    let mut docs: Vec<DocBuild> = Vec::new();
    let mut orphan_comments: Vec<RawComment> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut anchor_paths: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut cur: Option<DocBuild> = None;
    let mut depth_limit_guard = 0usize;

    for ev in Parser::new_from_str_with_options(text, options) {
        let (event, span) = ev.map_err(|e| scan_error(&e))?;
        match event {
            Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentStart(_, _) => {
                anchors.clear();
                let mut d = DocBuild {
                    root: None,
                    slots: Vec::new(),
                    cols: HashMap::new(),
                    flows: HashSet::new(),
                    alias_copies: Vec::new(),
                    comments: Vec::new(),
                    start: pos_of(&span),
                };
                // Comments seen after the previous document ended and before this one's
                // start marker belong to the previous document (its foot).
                for c in orphan_comments.drain(..) {
                    if c.pos < d.start || docs.is_empty() {
                        match docs.last_mut() {
                            Some(prev) if c.pos < d.start => prev.comments.push(c),
                            _ => d.comments.push(c),
                        }
                    } else {
                        d.comments.push(c);
                    }
                }
                cur = Some(d);
            }
            Event::DocumentEnd => {
                if let Some(d) = cur.take() {
                    docs.push(d);
                }
            }
            Event::Comment(t, placement) => {
                let c = RawComment {
                    text: t.into_owned(),
                    pos: pos_of(&span),
                    right: placement == Placement::Right,
                };
                match cur.as_mut() {
                    Some(d) => d.comments.push(c),
                    None => orphan_comments.push(c),
                }
            }
            Event::Anchor(_, _) => {}
            Event::UnresolvedAlias(_) => {
                return Err(perr(format!(
                    "unknown anchor at line {}",
                    span.start.line()
                )))
            }
            Event::Alias(id) => {
                let node = anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| perr(format!("unknown anchor at line {}", span.start.line())))?;
                let d = cur
                    .as_mut()
                    .ok_or_else(|| perr("alias outside a document"))?;
                if let (Some(src), Some(top)) = (anchor_paths.get(&id), stack.last()) {
                    if !top.is_map || top.key.is_some() {
                        let mut dest = top.path.clone();
                        dest.push(top.coll.entries.len());
                        d.alias_copies.push((dest, src.clone()));
                    }
                }
                add_node(d, &mut stack, &mut anchors, node, 0, pos_of(&span), false);
            }
            Event::Scalar(value, style, anchor, tag) => {
                let d = cur
                    .as_mut()
                    .ok_or_else(|| perr("scalar outside a document"))?;
                let pos = pos_of(&span);
                let mut text = value.into_owned();
                if style == ScalarStyle::SingleQuoted {
                    text = fold_unicode_breaks(&text);
                }
                let node = Node::Scalar {
                    text,
                    style,
                    tag: tag.map(std::borrow::Cow::into_owned),
                    pos,
                };
                add_node(d, &mut stack, &mut anchors, node, anchor, pos, true);
            }
            Event::SequenceStart(style, anchor, _) | Event::MappingStart(style, anchor, _) => {
                let is_map = matches!(event, Event::MappingStart(..));
                let d = cur
                    .as_mut()
                    .ok_or_else(|| perr("collection outside a document"))?;
                depth_limit_guard += 1;
                let pos = pos_of(&span);
                // The entry slot for this collection in its parent is registered now, so that
                // slots stay in document order (parent entry before its children).
                let path = register_slot(d, &mut stack, pos);
                // A mapping that is a sequence item counts as starting at the dash column.
                let col = match stack.last() {
                    Some(top) if !top.is_map && is_map => top.col,
                    _ => pos.col,
                };
                let flow = style == granit_parser::StructureStyle::Flow;
                d.cols.insert(path.clone(), col);
                if flow {
                    d.flows.insert(path.clone());
                }
                stack.push(Frame {
                    is_map,
                    coll: Coll {
                        entries: Vec::new(),
                        trailing: Vec::new(),
                        pos: Some(pos),
                    },
                    anchor,
                    col,
                    key: None,
                    path,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let d = cur
                    .as_mut()
                    .ok_or_else(|| perr("collection end outside a document"))?;
                depth_limit_guard = depth_limit_guard.saturating_sub(1);
                let frame = stack
                    .pop()
                    .ok_or_else(|| perr("unbalanced collection end"))?;
                let node = if frame.is_map {
                    Node::Map(frame.coll)
                } else {
                    Node::Seq(frame.coll)
                };
                if frame.anchor != 0 {
                    anchors.insert(frame.anchor, node.clone());
                    anchor_paths.insert(frame.anchor, frame.path.clone());
                }
                attach_node(d, &mut stack, node);
            }
            _ => {}
        }
    }
    if let Some(d) = cur.take() {
        docs.push(d);
    }
    if let Some(last) = docs.last_mut() {
        last.comments.append(&mut orphan_comments);
    }
    // Documents without content and without comments cannot exist in a stream except for an
    // empty stream; a `---` document yields a root of None (null).
    Ok(docs)
}

/// Registers the comment slot of a node that is about to be added to the current collection;
/// returns the path the node will have if it is a collection.
fn register_slot(d: &mut DocBuild, stack: &mut [Frame], pos: Pos) -> Vec<usize> {
    let Some(top) = stack.last_mut() else {
        return Vec::new();
    };
    let idx = top.coll.entries.len();
    if top.is_map {
        if top.key.is_none() {
            // This collection is a key: no slot, and no valid path (keys must be scalars).
            return vec![usize::MAX];
        }
        // The value of the pending key: the key already registered its slot.
    } else {
        d.slots.push(Slot {
            coll_path: top.path.clone(),
            entry: idx,
            pos,
        });
    }
    let mut p = top.path.clone();
    p.push(idx);
    p
}

fn add_node(
    d: &mut DocBuild,
    stack: &mut [Frame],
    anchors: &mut HashMap<usize, Node>,
    node: Node,
    anchor: usize,
    pos: Pos,
    fresh: bool,
) {
    if anchor != 0 {
        anchors.insert(anchor, node.clone());
    }
    // A scalar or alias: register its slot (map key or sequence item) first.
    if let Some(top) = stack.last_mut() {
        let is_key = top.is_map && top.key.is_none();
        if is_key || !top.is_map {
            let _ = fresh;
            d.slots.push(Slot {
                coll_path: top.path.clone(),
                entry: top.coll.entries.len(),
                pos,
            });
        }
    }
    attach_node(d, stack, node);
}

fn attach_node(d: &mut DocBuild, stack: &mut [Frame], node: Node) {
    match stack.last_mut() {
        None => d.root = Some(node),
        Some(top) => {
            if top.is_map {
                match top.key.take() {
                    None => top.key = Some(node),
                    Some(k) => top.coll.entries.push(Entry {
                        key: Some(k),
                        value: node,
                        before: Vec::new(),
                    }),
                }
            } else {
                top.coll.entries.push(Entry {
                    key: None,
                    value: node,
                    before: Vec::new(),
                });
            }
        }
    }
}

/// Places the document's comments into its collections, then converts it to a [`Map`].
fn finish_document(mut d: DocBuild, check_duplicates: bool) -> Result<Map, StoreError> {
    let root = match d.root.take() {
        None => Node::Map(Coll::default()),
        Some(Node::Scalar {
            text,
            style: ScalarStyle::Plain,
            tag: None,
            pos,
        }) if matches!(scalar::resolve_plain(&text), Resolved::Null) => {
            let _ = pos;
            Node::Map(Coll::default())
        }
        Some(n @ Node::Map(_)) => n,
        Some(Node::Seq(_)) => {
            return Err(perr(
                "the document is a sequence; a top-level mapping is required",
            ))
        }
        Some(Node::Scalar { .. }) => {
            return Err(perr(
                "the document is a scalar; a top-level mapping is required",
            ))
        }
    };
    let mut root = root;
    let comments = std::mem::take(&mut d.comments);
    place_comments(&mut root, &d, comments);
    // yaml.v3 aliases share the anchored node, comments included: refresh the copies.
    for (dest, src) in &d.alias_copies {
        let Some(copy) = node_at(&mut root, src).cloned() else {
            continue;
        };
        if let Some(slot) = node_at(&mut root, dest) {
            *slot = copy;
        }
    }
    if check_duplicates {
        check_dups(&root)?;
    }
    match convert(&root)? {
        Value::Map(m) => Ok(m),
        _ => Err(perr("a top-level mapping is required")),
    }
}

fn node_at<'a>(root: &'a mut Node, path: &[usize]) -> Option<&'a mut Node> {
    let mut node = root;
    for &i in path {
        let c = match node {
            Node::Map(c) | Node::Seq(c) => c,
            Node::Scalar { .. } => return None,
        };
        node = &mut c.entries.get_mut(i)?.value;
    }
    Some(node)
}

fn coll_at<'a>(root: &'a mut Node, path: &[usize]) -> Option<&'a mut Coll> {
    let mut node = root;
    for &i in path {
        let c = match node {
            Node::Map(c) | Node::Seq(c) => c,
            Node::Scalar { .. } => return None,
        };
        node = &mut c.entries.get_mut(i)?.value;
    }
    match node {
        Node::Map(c) | Node::Seq(c) => Some(c),
        Node::Scalar { .. } => None,
    }
}

fn place_comments(root: &mut Node, d: &DocBuild, comments: Vec<RawComment>) {
    let slots = &d.slots;
    let cols = &d.cols;
    for c in comments {
        // Last slot strictly before the comment, first slot after it.
        let after = slots.partition_point(|s| s.pos.idx < c.pos.idx);
        let prev = after.checked_sub(1).map(|i| &slots[i]);
        let next = slots.get(after);
        let right = c.right && prev.is_some_and(|p| p.pos.line == c.pos.line);
        if right {
            if let Some(p) = prev {
                // After a flow collection: the comment of the outermost flow collection,
                // which sops puts before its first element.
                let mut flow_len = None;
                for len in (1..=p.coll_path.len()).rev() {
                    if d.flows.contains(&p.coll_path[..len]) {
                        flow_len = Some(len);
                    } else {
                        break;
                    }
                }
                if let Some(len) = flow_len {
                    if let Some(coll) = coll_at(root, &p.coll_path[..len]) {
                        if let Some(e) = coll.entries.first_mut() {
                            e.before.push(c.text);
                            continue;
                        }
                    }
                }
                if let Some(coll) = coll_at(root, &p.coll_path) {
                    if let Some(e) = coll.entries.get_mut(p.entry) {
                        e.before.push(c.text);
                        continue;
                    }
                }
            }
        }
        // A same-line comment after syntax only (`- # c`): it leads the next entry.
        if c.right {
            if let Some(n) = next {
                if let Some(coll) = coll_at(root, &n.coll_path) {
                    if let Some(e) = coll.entries.get_mut(n.entry) {
                        e.before.push(c.text);
                        continue;
                    }
                }
            }
        }
        // Own-line comment.
        let target: Vec<usize> = match (prev, next) {
            (None, Some(n)) => n.coll_path.clone(),
            (None, None) => Vec::new(),
            (Some(p), next) => {
                // Innermost open collection (ancestors of prev's collection) whose column is
                // at most the comment's column.
                let mut chosen: Vec<usize> = Vec::new();
                for len in (0..=p.coll_path.len()).rev() {
                    let path = &p.coll_path[..len];
                    let col = cols.get(path).copied().unwrap_or(0);
                    if col <= c.pos.col || len == 0 {
                        chosen = path.to_vec();
                        break;
                    }
                }
                match next {
                    Some(n) if !p.coll_path.starts_with(&n.coll_path) => n.coll_path.clone(),
                    Some(n) if cols.get(&n.coll_path) == Some(&c.pos.col) => n.coll_path.clone(),
                    Some(n) if n.coll_path.len() > chosen.len() => n.coll_path.clone(),
                    _ => chosen,
                }
            }
        };
        let Some(coll) = coll_at(root, &target) else {
            continue;
        };
        match next {
            Some(n) if n.coll_path == target => {
                if let Some(e) = coll.entries.get_mut(n.entry) {
                    e.before.push(c.text);
                } else {
                    coll.trailing.push(c.text);
                }
            }
            _ => coll.trailing.push(c.text),
        }
    }
}

fn check_dups(node: &Node) -> Result<(), StoreError> {
    match node {
        Node::Scalar { .. } => Ok(()),
        Node::Seq(c) => c.entries.iter().try_for_each(|e| check_dups(&e.value)),
        Node::Map(c) => {
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for e in &c.entries {
                if let Some(Node::Scalar { text, pos, .. }) = &e.key {
                    if let Some(first) = seen.get(text.as_str()) {
                        return Err(perr(format!(
                            "line {}: mapping key already defined at line {}",
                            pos.line, first
                        )));
                    }
                    seen.insert(text, pos.line);
                }
                check_dups(&e.value)?;
            }
            Ok(())
        }
    }
}

fn convert(node: &Node) -> Result<Value, StoreError> {
    match node {
        Node::Scalar {
            text,
            style,
            tag,
            pos,
        } => scalar_value(text, *style, tag.as_ref(), *pos),
        Node::Seq(c) => {
            let mut out = Vec::with_capacity(c.entries.len());
            for e in &c.entries {
                out.extend(e.before.iter().map(|t| Value::Comment(t.clone())));
                out.push(convert(&e.value)?);
            }
            out.extend(c.trailing.iter().map(|t| Value::Comment(t.clone())));
            Ok(Value::Seq(out))
        }
        Node::Map(c) => {
            let mut out = Vec::with_capacity(c.entries.len());
            for e in &c.entries {
                out.extend(e.before.iter().map(|t| Item::Comment(t.clone())));
                let key = match &e.key {
                    Some(k) => key_string(k)?,
                    None => return Err(perr("mapping entry without key")),
                };
                out.push(Item::Entry(key, convert(&e.value)?));
            }
            out.extend(c.trailing.iter().map(|t| Item::Comment(t.clone())));
            Ok(Value::Map(Map(out)))
        }
    }
}

fn key_string(k: &Node) -> Result<String, StoreError> {
    match k {
        Node::Scalar {
            text,
            style,
            tag,
            pos,
        } => match scalar_value(text, *style, tag.as_ref(), *pos)? {
            Value::Str(s) => Ok(s),
            other => Err(StoreError::NonStringKey(format!(
                "{} at line {}",
                other.kind(),
                pos.line
            ))),
        },
        Node::Map(c) | Node::Seq(c) => Err(StoreError::NonStringKey(format!(
            "{} at line {}",
            if matches!(k, Node::Map(_)) {
                "mapping"
            } else {
                "sequence"
            },
            c.pos.map_or(0, |p| p.line)
        ))),
    }
}

fn scalar_value(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    pos: Pos,
) -> Result<Value, StoreError> {
    if let Some(tag) = tag {
        let core = if tag.handle() == "tag:yaml.org,2002:" {
            Some(tag.suffix())
        } else {
            None
        };
        if let Some(core) = core {
            return match core {
                "str" => Ok(Value::Str(text.to_owned())),
                "binary" => {
                    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(clean.as_bytes())
                        .map_err(|_| perr(format!("line {}: invalid !!binary data", pos.line)))?;
                    Ok(match String::from_utf8(bytes) {
                        Ok(s) => Value::Str(s),
                        Err(e) => Value::Bytes(e.into_bytes()),
                    })
                }
                "int" | "float" | "bool" | "null" | "timestamp" => {
                    let v = resolved_value(scalar::resolve_plain(text), text, pos)?;
                    let ok = match (core, &v) {
                        ("int", Value::Int(_))
                        | ("float", Value::Float(_))
                        | ("bool", Value::Bool(_))
                        | ("null", Value::Null)
                        | ("timestamp", Value::Time(_)) => true,
                        ("float", Value::Int(i)) => {
                            return Ok(Value::Float(*i as f64));
                        }
                        _ => false,
                    };
                    if ok {
                        Ok(v)
                    } else {
                        Err(perr(format!(
                            "line {}: cannot decode the value as !!{core}",
                            pos.line
                        )))
                    }
                }
                // `!!merge`, `!!map`, `!!seq` on a scalar and other core tags: the text.
                _ => Ok(Value::Str(text.to_owned())),
            };
        }
        // Custom and non-specific tags: the text as a string.
        return Ok(Value::Str(text.to_owned()));
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::Str(text.to_owned()));
    }
    resolved_value(scalar::resolve_plain(text), text, pos)
}

fn resolved_value(r: Resolved, text: &str, pos: Pos) -> Result<Value, StoreError> {
    Ok(match r {
        Resolved::Str | Resolved::Merge => Value::Str(text.to_owned()),
        Resolved::Null => Value::Null,
        Resolved::Bool(b) => Value::Bool(b),
        Resolved::Int(i) => Value::Int(i),
        Resolved::Uint(_) => {
            return Err(perr(format!(
                "line {}: integer does not fit a signed 64-bit integer",
                pos.line
            )))
        }
        Resolved::Float(f) => Value::Float(f),
        Resolved::Time(t) => Value::Time(t),
    })
}

// ---------------------------------------------------------------------------------------------
// Emitting
// ---------------------------------------------------------------------------------------------

/// Emits documents as sops does: one block mapping per document, `---` between documents.
pub fn emit(branches: &[Map], opts: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    let mut e = Emitter::new(opts)?;
    for (i, b) in branches.iter().enumerate() {
        if i > 0 {
            e.write_indent(0);
            e.write_indicator("---", true, false, false);
        }
        e.document(b);
    }
    Ok(e.out.into_bytes())
}

/// Emits one value as yaml.v3's `Marshal` does (for `--extract`), with a trailing newline.
pub fn emit_value(value: &Value, opts: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    let mut e = Emitter::new(opts)?;
    match value {
        Value::Map(m) => e.document(m),
        Value::Comment(_) => {
            return Err(StoreError::Unrepresentable {
                format: "yaml",
                reason: "a comment is not a value".into(),
            })
        }
        v => {
            e.node(v, -1, Ctx::Root);
            e.write_indent(0);
        }
    }
    Ok(e.out.into_bytes())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// Document root.
    Root,
    /// Value of a mapping entry.
    MapValue,
    /// Item of a block sequence.
    SeqItem,
}

struct Emitter {
    out: String,
    best: isize,
    column: usize,
    whitespace: bool,
    indention: bool,
}

fn join_comments(c: &[&str]) -> String {
    let mut s = String::new();
    for (i, t) in c.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        s.push('#');
        s.push_str(t);
    }
    s
}

impl Emitter {
    fn new(opts: &StoreOptions) -> Result<Self, StoreError> {
        let best = opts.yaml_indent;
        // yaml.v3 accepts 2..=9 (anything else falls back to 2 in libyaml; sops rejects < 0).
        let best = if (2..=9).contains(&best) { best } else { 2 };
        Ok(Emitter {
            out: String::new(),
            best: best as isize,
            column: 0,
            whitespace: true,
            indention: true,
        })
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
        self.indention = true;
    }

    fn write_indent(&mut self, indent: isize) {
        let indent = indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(&mut self, ind: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        for c in ind.chars() {
            self.put(c);
        }
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    fn write_comment(&mut self, indent: isize, comment: &str) {
        // Each line of a comment starts at the current indentation.
        let mut first = true;
        for line in comment.split('\n') {
            if !first {
                self.write_indent(indent);
            }
            first = false;
            for c in line.chars() {
                self.put(c);
            }
            self.indention = false;
            self.put_break();
        }
        self.whitespace = true;
    }

    fn comments(&mut self, indent: isize, c: &[&str]) {
        if c.is_empty() {
            return;
        }
        self.write_indent(indent);
        self.write_comment(indent, &join_comments(c));
    }

    /// Indentation of a node whose parent has indentation `parent`.
    fn increase(&self, parent: isize, ctx: Ctx, flow: bool) -> isize {
        if parent < 0 {
            if flow {
                self.best
            } else {
                0
            }
        } else if ctx == Ctx::SeqItem {
            parent + 2
        } else {
            self.best * ((parent + self.best) / self.best)
        }
    }

    fn document(&mut self, m: &Map) {
        let has_entries = m.0.iter().any(|i| matches!(i, Item::Entry(..)));
        if !has_entries {
            let c: Vec<&str> =
                m.0.iter()
                    .filter_map(|i| match i {
                        Item::Comment(c) => Some(c.as_str()),
                        Item::Entry(..) => None,
                    })
                    .collect();
            self.comments(0, &c);
            self.write_indent(0);
            self.write_indicator("{", true, true, false);
            self.write_indicator("}", false, false, false);
        } else {
            self.block_map(m, -1, Ctx::Root);
        }
        self.write_indent(0);
    }

    fn node(&mut self, v: &Value, parent: isize, ctx: Ctx) {
        match v {
            Value::Map(m) if m.0.iter().any(|i| matches!(i, Item::Entry(..))) => {
                self.block_map(m, parent, ctx);
            }
            Value::Seq(s) if s.iter().any(|i| !matches!(i, Value::Comment(_))) => {
                self.block_seq(s, parent, ctx);
            }
            Value::Map(_) => {
                self.write_indicator("{", true, true, false);
                self.write_indicator("}", false, false, false);
            }
            Value::Seq(_) => {
                self.write_indicator("[", true, true, false);
                self.write_indicator("]", false, false, false);
            }
            Value::Str(s) => {
                let indent = self.increase(parent, ctx, true);
                self.string(s, indent, false);
            }
            Value::Bytes(b) => {
                let indent = self.increase(parent, ctx, true);
                self.binary(b, indent);
            }
            Value::Comment(_) => {}
            other => {
                let text = scalar::yaml_scalar_text(other).unwrap_or_default();
                self.plain(&text);
            }
        }
    }

    fn block_map(&mut self, m: &Map, parent: isize, ctx: Ctx) {
        let indent = self.increase(parent, ctx, false);
        let mut pending: Vec<&str> = Vec::new();
        let mut first = true;
        for item in &m.0 {
            match item {
                Item::Comment(c) => pending.push(c),
                Item::Entry(k, v) => {
                    if first && ctx == Ctx::SeqItem {
                        // The mapping's head comment was written before the `- ` indicator.
                        pending.clear();
                    }
                    self.comments(indent, &pending);
                    pending.clear();
                    first = false;
                    self.write_indent(indent);
                    let simple = k.chars().count() <= 128 && !k.contains(is_break_char);
                    if simple {
                        self.string(k, indent, true);
                        self.write_indicator(":", false, false, false);
                    } else {
                        self.write_indicator("?", true, false, true);
                        let ki = self.increase(indent, Ctx::MapValue, true);
                        self.string(k, ki, false);
                        self.write_indent(indent);
                        self.write_indicator(":", true, false, true);
                    }
                    self.node(v, indent, Ctx::MapValue);
                }
            }
        }
        self.comments(indent, &pending);
    }

    fn block_seq(&mut self, s: &[Value], parent: isize, ctx: Ctx) {
        let indent = self.increase(parent, ctx, false);
        let mut pending: Vec<&str> = Vec::new();
        for item in s {
            match item {
                Value::Comment(c) => pending.push(c),
                v => {
                    // A mapping item's own head comment (its first key's comments) comes
                    // before the dash too.
                    if let Value::Map(m) = v {
                        for i in &m.0 {
                            match i {
                                Item::Comment(c) => pending.push(c),
                                Item::Entry(..) => break,
                            }
                        }
                    }
                    self.comments(indent, &pending);
                    pending.clear();
                    self.write_indent(indent);
                    self.write_indicator("-", true, false, true);
                    self.node(v, indent, Ctx::SeqItem);
                }
            }
        }
        self.comments(indent, &pending);
    }

    fn plain(&mut self, text: &str) {
        if !text.is_empty() && !self.whitespace {
            self.put(' ');
        }
        for c in text.chars() {
            self.put(c);
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn binary(&mut self, b: &[u8], indent: isize) {
        let enc = base64::engine::general_purpose::STANDARD.encode(b);
        const LINE: usize = 70;
        let lines = enc.len() / LINE + 1;
        let mut text = String::new();
        let mut i = 0;
        while i < enc.len() {
            let j = (i + LINE).min(enc.len());
            text.push_str(&enc[i..j]);
            if lines > 1 {
                text.push('\n');
            }
            i = j;
        }
        self.write_indicator("!!binary", true, false, false);
        if text.contains('\n') {
            self.literal(&text, indent);
        } else {
            self.plain(&text);
        }
    }

    /// Writes a string with yaml.v3's style choice. `key` is the simple-key context.
    fn string(&mut self, s: &str, indent: isize, key: bool) {
        if s == "<<" {
            // yaml.v3 keeps the merge tag explicit for a `<<` string.
            self.write_indicator("!!merge", true, false, false);
            self.plain(s);
            return;
        }
        let a = analyze(s);
        let mut style = if s.contains('\n') {
            Style::Literal
        } else if scalar::plain_is_string(s) {
            Style::Plain
        } else {
            Style::Double
        };
        if style == Style::Plain && (!a.block_plain || (s.is_empty() && key)) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block || key) {
            style = Style::Double;
        }
        match style {
            Style::Plain => self.plain(s),
            Style::Single => self.single(s, indent),
            Style::Double => self.double(s),
            Style::Literal => self.literal(s, indent),
        }
    }

    fn single(&mut self, s: &str, indent: isize) {
        self.write_indicator("'", true, false, false);
        let mut breaks = false;
        for c in s.chars() {
            if is_break_char(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.out.push(c);
                self.column = 0;
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
    }

    fn double(&mut self, s: &str) {
        self.write_indicator("\"", true, false, false);
        for c in s.chars() {
            if !is_printable(c) || c == '\u{FEFF}' || is_break_char(c) || c == '"' || c == '\\' {
                self.put('\\');
                let esc = match c {
                    '\0' => "0".to_string(),
                    '\u{7}' => "a".into(),
                    '\u{8}' => "b".into(),
                    '\t' => "t".into(),
                    '\n' => "n".into(),
                    '\u{b}' => "v".into(),
                    '\u{c}' => "f".into(),
                    '\r' => "r".into(),
                    '\u{1b}' => "e".into(),
                    '"' => "\"".into(),
                    '\\' => "\\".into(),
                    '\u{85}' => "N".into(),
                    '\u{a0}' => "_".into(),
                    '\u{2028}' => "L".into(),
                    '\u{2029}' => "P".into(),
                    c if (c as u32) <= 0xFF => format!("x{:02X}", c as u32),
                    c if (c as u32) <= 0xFFFF => format!("u{:04X}", c as u32),
                    c => format!("U{:08X}", c as u32),
                };
                for e in esc.chars() {
                    self.put(e);
                }
            } else {
                self.put(c);
            }
        }
        self.write_indicator("\"", false, false, false);
    }

    fn literal(&mut self, s: &str, indent: isize) {
        self.write_indicator("|", true, false, false);
        let first = s.chars().next();
        if let Some(f) = first {
            if f == ' ' || is_break_char(f) {
                let hint = self.best.to_string();
                self.write_indicator(&hint, false, false, false);
            }
        }
        let chars: Vec<char> = s.chars().collect();
        let chomp = match chars.last() {
            Some(&l) if !is_break_char(l) => Some("-"),
            None => Some("-"),
            Some(_) if chars.len() == 1 => Some("+"),
            Some(_) if is_break_char(chars[chars.len() - 2]) => Some("+"),
            Some(_) => None,
        };
        if let Some(ch) = chomp {
            self.write_indicator(ch, false, false, false);
        }
        self.put_break();
        self.whitespace = true;
        let mut breaks = true;
        for c in chars {
            if is_break_char(c) {
                self.out.push(c);
                self.column = 0;
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

fn is_break_char(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank_or_end(c: Option<char>) -> bool {
    matches!(c, None | Some(' ' | '\t')) || c.is_some_and(is_break_char)
}

/// libyaml's printable set as yaml.v3 checks it.
fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
}

struct Analysis {
    block_plain: bool,
    single: bool,
    block: bool,
}

/// libyaml's `yaml_emitter_analyze_scalar` (with yaml.v3's tab handling), block context.
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            block_plain: true,
            single: true,
            block: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_ind = s.starts_with("---") || s.starts_with("...");
    let mut line_breaks = false;
    let mut special = false;
    let mut tabs = false;
    let mut leading_space = false;
    let mut leading_break = false;
    let mut trailing_space = false;
    let mut trailing_break = false;
    let mut break_space = false;
    let mut space_break = false;
    let mut prev_space = false;
    let mut prev_break = false;
    let mut preceded_ws = true;
    let n = chars.len();
    for i in 0..n {
        let c = chars[i];
        let followed_ws = is_blank_or_end(chars.get(i + 1).copied());
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_ind = true,
                '?' | ':' => {
                    if followed_ws {
                        block_ind = true;
                    }
                }
                '-' if followed_ws => block_ind = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_ws => block_ind = true,
                '#' if preceded_ws => block_ind = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if is_break_char(c) {
            line_breaks = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i == n - 1 {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break_char(c) {
            if i == 0 {
                leading_break = true;
            }
            if i == n - 1 {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_break = true;
            prev_space = false;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_ws = is_blank_or_end(Some(c));
    }
    let mut a = Analysis {
        block_plain: true,
        single: true,
        block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || tabs || special {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a.block = false;
    }
    if line_breaks {
        a.block_plain = false;
    }
    if block_ind {
        a.block_plain = false;
    }
    a
}
