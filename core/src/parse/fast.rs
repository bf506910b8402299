//! A reader for the block YAML that `kubectl` and `helm` print, straight into [`Node`]: block
//! mappings and sequences (compact `- key: v` and `- - x` included), plain and single-line
//! quoted scalars, empty `[]` / `{}`, comments and `|` / `|-` literal block scalars.
//!
//! It is a fast path, never a second opinion: on anything else (anchors, aliases, tags, flow
//! collections with content, multi-line plain or quoted scalars, `>` folding, tabs, a duplicate
//! key, a number serde_yaml would refuse …) it returns `None` and the document is read by
//! serde_yaml, whose tree, errors and positions stay the reference. Where it accepts, it builds
//! the tree serde_yaml builds, scalar typing and node counts included; the differential tests in
//! `parse::fast::tests` and the `parse_differential` fuzz target hold it to that.

use super::yaml::{Built, Node, Role, float_text};
use std::borrow::Cow;
use std::collections::HashSet;

/// Deeper than this the reader steps aside, well inside serde_yaml's own limit (128), so
/// anything it accepts serde_yaml accepts too.
const MAX_DEPTH: usize = 100;

/// libyaml looks for a simple key's `:` within 1024 characters; longer keys are its to judge.
const MAX_KEY_BYTES: usize = 1000;

/// Maps with more keys than this check duplicates through a set instead of a scan.
const LINEAR_KEYS: usize = 16;

/// Reads `text` (one document) as `role`, or `None` when it is outside the subset.
pub fn read<'t>(text: &'t str, role: Role, built: &mut Built) -> Option<Node<'t>> {
    read_skipping(text, &[], role, built)
}

/// [`read`], stepping over the byte ranges `skip` (whole lines, sorted) as if their lines were
/// empty: the subtrees the outline found meshlock never reads, read without a blanked copy.
pub fn read_skipping<'t>(text: &'t str, skip: &[(usize, usize)], role: Role, built: &mut Built) -> Option<Node<'t>> {
    // The unread lines read as empty: what they hold is never looked at.
    let mut from = 0;
    for &(start, end) in skip {
        if !plain_text(text.get(from..start.max(from))?) {
            return None;
        }
        from = from.max(end);
    }
    if !plain_text(text.get(from.min(text.len())..)?) {
        return None;
    }
    let mut r = Fast { text, pos: 0, next: None, nodes: 0, skip, marker: false };
    let first = r.peek()?;
    let node = r.node(first, role, true, 0)?;
    // A document marker ends the document for the parser: the text is not one document.
    if r.peek().is_some() || r.marker {
        return None;
    }
    built.nodes += r.nodes;
    Some(node)
}

/// Whether every character is one libyaml reads as printable and every line break is `\n`:
/// tabs, `\r`, control characters, the Unicode line breaks and a byte-order mark go to serde_yaml.
fn plain_text(text: &str) -> bool {
    let b = text.as_bytes();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while i < b.len() {
        let end = (i + 8).min(b.len());
        let chunk = b.get(i..end).unwrap_or_default();
        let fast = chunk.len() == 8 && printable_ascii(chunk);
        if !fast && !chunk_plain(chunk, i, &at) {
            return false;
        }
        i = end;
    }
    true
}

/// Whether 8 bytes are all `\n` or printable ASCII (0x20..=0x7e), compared a word at a time:
/// most of a dump is.
fn printable_ascii(chunk: &[u8]) -> bool {
    use super::lines::{HIGHS, ONES};
    let w = <[u8; 8]>::try_from(chunk).map_or(HIGHS, u64::from_le_bytes);
    if w & HIGHS != 0 {
        return false;
    }
    // With no high bit set no byte borrows from or carries into its neighbour, so each test is
    // exact per byte: below 0x20, equal to `\n`, equal to 0x7f.
    let below_space = !((w | HIGHS) - 0x20 * ONES) & HIGHS;
    let newline = !(((w ^ (b'\n' as u64 * ONES)) | HIGHS) - ONES) & HIGHS;
    let delete = (w + ONES) & HIGHS;
    below_space == newline && delete == 0
}

/// [`plain_text`] for the bytes of `chunk`, which start at `start` of the text `at` reads.
fn chunk_plain(chunk: &[u8], start: usize, at: &impl Fn(usize) -> u8) -> bool {
    for (i, &c) in (start..).zip(chunk) {
        let refused = match c {
            b'\n' | 0x20..=0x7e => false,
            0x00..=0x1f | 0x7f => true,
            // U+0080..U+009F, NEL among them.
            0xc2 => at(i + 1) < 0xa0,
            // U+2028, U+2029.
            0xe2 => at(i + 1) == 0x80 && matches!(at(i + 2), 0xa8 | 0xa9),
            // U+FEFF, U+FFFE, U+FFFF.
            0xef => (at(i + 1) == 0xbb && at(i + 2) == 0xbf) || (at(i + 1) == 0xbf && matches!(at(i + 2), 0xbe | 0xbf)),
            _ => false,
        };
        if refused {
            return false;
        }
    }
    true
}

/// One line with content: its indentation, its text from the first non-space to the end of
/// the line, and where the following line starts. After `- `, the rest of the line is a line
/// of its own whose indentation is its column (a compact entry).
#[derive(Debug, Clone, Copy)]
struct Line<'t> {
    indent: usize,
    content: &'t str,
    next: usize,
}

/// What the start of a line's content is.
enum Shape<'t> {
    /// `-` then a space or the end of the line.
    Dash,
    /// `key:` then a space or the end of the line; `rest` is what follows the `:`.
    Key { key: Key<'t>, rest: &'t str },
    /// Anything else: a scalar, a flow collection, a block scalar header, or something unread.
    Other,
}

enum Key<'t> {
    Plain(&'t str),
    Quoted(String),
}

struct Fast<'t, 's> {
    text: &'t str,
    /// Start of the first line not yet looked at.
    pos: usize,
    /// The next line with content, once found (or the rest of a `- ` line).
    next: Option<Line<'t>>,
    nodes: u64,
    /// Line ranges still ahead that read as empty lines.
    skip: &'s [(usize, usize)],
    /// A document marker line was met (and read as the end of the text).
    marker: bool,
}

impl<'t> Fast<'t, '_> {
    /// The next line with content (blank and comment-only lines are passed over), not consumed.
    fn peek(&mut self) -> Option<Line<'t>> {
        if self.next.is_some() {
            return self.next;
        }
        let bytes = self.text.as_bytes();
        while self.pos < bytes.len() {
            if let Some((&(from, to), later)) = self.skip.split_first()
                && self.pos >= from
            {
                self.skip = later;
                self.pos = self.pos.max(to);
                continue;
            }
            let rest = bytes.get(self.pos..).unwrap_or_default();
            let len = super::lines::line_end(bytes, self.pos) - self.pos;
            let line = rest.get(..len).unwrap_or_default();
            let indent = line.iter().take_while(|&&b| b == b' ').count();
            let next = (self.pos + len + 1).min(bytes.len());
            match line.get(indent) {
                None | Some(b'#') => self.pos = next,
                Some(b'-' | b'.')
                    if indent == 0 && super::yaml::marker_kind(self.text.get(self.pos..self.pos + len)?).is_some() =>
                {
                    self.marker = true;
                    self.pos = bytes.len();
                }
                Some(_) => {
                    let content = self.text.get(self.pos + indent..self.pos + len)?;
                    self.next = Some(Line { indent, content, next });
                    return self.next;
                }
            }
        }
        None
    }

    fn consume(&mut self, line: Line<'t>) {
        self.next = None;
        self.pos = line.next;
    }

    fn count(&mut self, keep: bool) {
        if keep {
            self.nodes += 1;
        }
    }

    /// A block node whose first line is `line` (already peeked, not consumed).
    fn node(&mut self, line: Line<'t>, role: Role, keep: bool, depth: usize) -> Option<Node<'t>> {
        if depth > MAX_DEPTH {
            return None;
        }
        match shape(line.content)? {
            Shape::Dash => self.seq(line.indent, role, keep, depth),
            Shape::Key { .. } => self.map(line.indent, role, keep, depth),
            Shape::Other => None,
        }
    }

    /// A block mapping whose keys are at column `indent`.
    fn map(&mut self, indent: usize, role: Role, keep: bool, depth: usize) -> Option<Node<'t>> {
        let mut entries: Vec<(Cow<'t, str>, Node<'t>)> = Vec::new();
        // Keys are borrowed from the line until one is built: most keys of a dump are not.
        let mut set: Option<HashSet<Cow<'t, str>>> = None;
        // Keys not built that still count for duplicates ([`Role::counts_unbuilt`]).
        let mut others: Vec<Cow<'t, str>> = Vec::new();
        while let Some(line) = self.peek() {
            if line.indent < indent {
                break;
            }
            if line.indent > indent {
                return None;
            }
            let Shape::Key { key, rest } = shape(line.content)? else {
                return None;
            };
            self.consume(line);
            if !keep {
                self.value(rest, indent, Role::Plain, false, depth + 1)?;
                continue;
            }
            let key: Cow<'t, str> = match key {
                Key::Plain(raw) => key_text(raw)?,
                Key::Quoted(s) => Cow::Owned(s),
            };
            // A duplicate key is an error; serde_yaml's path reports it with its position.
            let duplicate = match set.as_mut() {
                Some(set) => !set.insert(key.clone()),
                None => entries.iter().any(|(k, _)| *k == key) || others.contains(&key),
            };
            if duplicate {
                return None;
            }
            if set.is_none() && entries.len() + others.len() >= LINEAR_KEYS {
                let known = entries.iter().map(|(k, _)| k.clone()).chain(others.drain(..));
                set = Some(known.chain([key.clone()]).collect());
            }
            match role.child(&key) {
                Some(child) => {
                    let value = self.value(rest, indent, child, true, depth + 1)?;
                    entries.push((key, value));
                }
                None => {
                    if set.is_none() && role.counts_unbuilt(&key) {
                        others.push(key);
                    }
                    self.value(rest, indent, Role::Plain, false, depth + 1)?;
                }
            }
        }
        self.count(keep);
        Some(Node::Map(entries))
    }

    /// A block sequence whose `-` are at column `indent`.
    fn seq(&mut self, indent: usize, role: Role, keep: bool, depth: usize) -> Option<Node<'t>> {
        let role = role.element();
        let mut items = Vec::new();
        while let Some(line) = self.peek() {
            if line.indent < indent {
                break;
            }
            if line.indent > indent {
                return None;
            }
            if !matches!(shape(line.content)?, Shape::Dash) {
                // The next key of the mapping this (indentless) sequence is a value of.
                break;
            }
            self.consume(line);
            let after = line.content.get(1..).unwrap_or_default();
            let rest = after.trim_start_matches(' ');
            let item = if rest.is_empty() || rest.starts_with('#') {
                self.below(indent, false, role, keep, depth + 1)?
            } else {
                match shape(rest)? {
                    Shape::Dash | Shape::Key { .. } => {
                        let column = line.indent + 1 + (after.len() - rest.len());
                        let inner = Line { indent: column, content: rest, next: line.next };
                        self.next = Some(inner);
                        self.node(inner, role, keep, depth + 1)?
                    }
                    Shape::Other => self.scalar(rest, indent, keep)?,
                }
            };
            if keep {
                items.push(item);
            }
        }
        self.count(keep);
        Some(Node::Seq(items))
    }

    /// The value after `key:` (`rest`) of a mapping whose keys are at column `indent`.
    fn value(&mut self, rest: &'t str, indent: usize, role: Role, keep: bool, depth: usize) -> Option<Node<'t>> {
        let rest = rest.trim_start_matches(' ');
        if rest.is_empty() || rest.starts_with('#') {
            return self.below(indent, true, role, keep, depth);
        }
        self.scalar(rest, indent, keep)
    }

    /// A value on the lines below its key or `-` (at column `indent`): a more indented block
    /// node, a sequence at the key's own column, or nothing (null).
    fn below(&mut self, indent: usize, of_key: bool, role: Role, keep: bool, depth: usize) -> Option<Node<'t>> {
        match self.peek() {
            Some(l) if l.indent > indent => self.node(l, role, keep, depth),
            Some(l) if of_key && l.indent == indent && matches!(shape(l.content)?, Shape::Dash) => {
                if depth > MAX_DEPTH {
                    return None;
                }
                self.seq(indent, role, keep, depth)
            }
            _ => {
                self.count(keep);
                Some(Node::Null)
            }
        }
    }

    /// A value that starts on its key's or `-`'s line, in a collection at column `indent`.
    /// Its own line is consumed; a more indented line after it (a continuation) makes the
    /// enclosing collection step aside.
    fn scalar(&mut self, s: &'t str, indent: usize, keep: bool) -> Option<Node<'t>> {
        let first = s.as_bytes().first().copied()?;
        if !keep {
            // Checked as the kept path checks it, without building what is dropped.
            return match first {
                b'"' | b'\'' => {
                    let tail =
                        if first == b'"' { double_quoted_with(s, |_| {})? } else { single_quoted_with(s, |_| {})? };
                    ends_line(tail).then_some(Node::Null)
                }
                b'-' if matches!(s.as_bytes().get(1), None | Some(b' ')) => None,
                b'[' | b'{' | b'|' | b'?' | b':' | b',' | b']' | b'}' | b'#' | b'&' | b'*' | b'!' | b'>' | b'%'
                | b'@' | b'`' => self.scalar_kept(s, indent, false),
                _ => plain_accepted(plain_extent(s)?).then_some(Node::Null),
            };
        }
        self.scalar_kept(s, indent, keep)
    }

    fn scalar_kept(&mut self, s: &'t str, indent: usize, keep: bool) -> Option<Node<'t>> {
        let first = s.as_bytes().first().copied()?;
        let node = match first {
            b'"' | b'\'' => {
                let (value, tail) = if first == b'"' { double_quoted(s)? } else { single_quoted(s)? };
                if !ends_line(tail) {
                    return None;
                }
                Node::String(Cow::Owned(value))
            }
            b'[' | b'{' => {
                let tail = s.get(2..).unwrap_or_default();
                match s.get(..2)? {
                    "[]" if ends_line(tail) => Node::Seq(Vec::new()),
                    "{}" if ends_line(tail) => Node::Map(Vec::new()),
                    _ => return None,
                }
            }
            b'|' => return self.literal(s, indent, keep),
            b'-' if matches!(s.as_bytes().get(1), None | Some(b' ')) => return None,
            b'-' => plain_value(plain_extent(s)?)?,
            b'?' | b':' | b',' | b']' | b'}' | b'#' | b'&' | b'*' | b'!' | b'>' | b'%' | b'@' | b'`' => {
                return None;
            }
            _ => plain_value(plain_extent(s)?)?,
        };
        self.count(keep);
        Some(node)
    }

    /// A `|` / `|-` literal block scalar whose header is `s`, owned by a collection at column
    /// `indent`: its lines are those below, indented more than `indent`, up to the first
    /// less indented line with content.
    fn literal(&mut self, s: &str, indent: usize, keep: bool) -> Option<Node<'t>> {
        let header = s.get(1..).unwrap_or_default();
        let (strip, header) = match header.strip_prefix('-') {
            Some(h) => (true, h),
            None => (false, header),
        };
        // `|+`, an indentation indicator, or anything else on the header line: serde_yaml's.
        if !ends_line(header) {
            return None;
        }
        let bytes = self.text.as_bytes();
        let mut out = String::new();
        let mut column: Option<usize> = None;
        let mut empty = 0usize;
        let mut at = self.pos;
        while at < bytes.len() {
            let rest = bytes.get(at..).unwrap_or_default();
            let len = super::lines::line_end(bytes, at) - at;
            if at + len >= bytes.len() {
                return None;
            }
            let line = rest.get(..len).unwrap_or_default();
            let spaces = line.iter().take_while(|&&b| b == b' ').count();
            if line.is_empty() {
                empty += 1;
                at += len + 1;
                continue;
            }
            // A line of spaces only: its indentation rules are libyaml's to apply.
            if spaces == line.len() {
                return None;
            }
            let m = *column.get_or_insert(spaces);
            if m <= indent || spaces < m {
                break;
            }
            if keep {
                out.extend(std::iter::repeat_n('\n', empty));
                out.push_str(self.text.get(at + m..at + len)?);
                out.push('\n');
            }
            empty = 0;
            at += len + 1;
        }
        if strip {
            out.pop();
        }
        self.pos = at;
        self.next = None;
        self.count(keep);
        Some(Node::String(Cow::Owned(out)))
    }
}

/// What a line's content starts with; `None` when it is something the reader does not follow.
fn shape(content: &str) -> Option<Shape<'_>> {
    let bytes = content.as_bytes();
    match bytes.first() {
        Some(b'-') if matches!(bytes.get(1), None | Some(b' ')) => Some(Shape::Dash),
        Some(b'"' | b'\'') => {
            let (key, tail) =
                if bytes.first() == Some(&b'"') { double_quoted(content)? } else { single_quoted(content)? };
            let tail = tail.trim_start_matches(' ');
            match tail.strip_prefix(':') {
                Some(rest) if rest.is_empty() || rest.starts_with(' ') => {
                    Some(Shape::Key { key: Key::Quoted(key), rest })
                }
                _ => Some(Shape::Other),
            }
        }
        Some(
            b'-' | b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%'
            | b'@' | b'`',
        ) => Some(Shape::Other),
        Some(_) => {
            let Some(colon) = find_colon(bytes) else {
                return Some(Shape::Other);
            };
            let raw = content.get(..colon)?.trim_end_matches(' ');
            // A comment before the `:`, or a key libyaml would not take as a simple key.
            if raw.len() > MAX_KEY_BYTES || (raw.as_bytes().contains(&b'#') && raw.contains(" #")) {
                return None;
            }
            let rest = content.get(colon + 1..)?;
            Some(Shape::Key { key: Key::Plain(raw), rest })
        }
        None => Some(Shape::Other),
    }
}

/// The first `:` followed by a space or the end of the line.
fn find_colon(bytes: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let i = from + bytes.get(from..)?.iter().position(|&b| b == b':')?;
        if matches!(bytes.get(i + 1), None | Some(b' ')) {
            return Some(i);
        }
        from = i + 1;
    }
}

/// Whether what follows a value on its line is nothing, or spaces and a comment.
fn ends_line(tail: &str) -> bool {
    let trimmed = tail.trim_start_matches(' ');
    trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < tail.len())
}

/// A plain scalar's text: up to a ` #` comment, trailing spaces dropped. `None` when it holds
/// a `: ` (a mapping where a scalar was expected: serde_yaml's error to report).
fn plain_extent(s: &str) -> Option<&str> {
    let bytes = s.as_bytes();
    let mut end = bytes.len();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b':' if matches!(bytes.get(i + 1), None | Some(b' ')) => return None,
            b'#' if i > 0 && bytes.get(i - 1) == Some(&b' ') => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    Some(s.get(..end)?.trim_end_matches(' '))
}

/// A double-quoted scalar at the start of `s`, on one line: its value and what follows it.
fn double_quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let tail = double_quoted_with(s, |c| out.push(c))?;
    Some((out, tail))
}

/// [`double_quoted`], handing each character of the value to `push`: what follows it.
fn double_quoted_with(s: &str, mut push: impl FnMut(char)) -> Option<&str> {
    let body = s.get(1..)?;
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return body.get(i + 1..),
            '\\' => {
                let (_, e) = chars.next()?;
                let simple = match e {
                    '0' => Some('\0'),
                    'a' => Some('\u{7}'),
                    'b' => Some('\u{8}'),
                    't' => Some('\t'),
                    'n' => Some('\n'),
                    'v' => Some('\u{b}'),
                    'f' => Some('\u{c}'),
                    'r' => Some('\r'),
                    'e' => Some('\u{1b}'),
                    ' ' => Some(' '),
                    '"' => Some('"'),
                    '/' => Some('/'),
                    '\\' => Some('\\'),
                    'N' => Some('\u{85}'),
                    '_' => Some('\u{a0}'),
                    'L' => Some('\u{2028}'),
                    'P' => Some('\u{2029}'),
                    _ => None,
                };
                let decoded = match (simple, e) {
                    (Some(c), _) => c,
                    (None, 'x') => hex_char(&mut chars, 2)?,
                    (None, 'u') => hex_char(&mut chars, 4)?,
                    (None, 'U') => hex_char(&mut chars, 8)?,
                    _ => return None,
                };
                push(decoded);
            }
            c => push(c),
        }
    }
    None
}

fn hex_char(chars: &mut std::str::CharIndices<'_>, digits: usize) -> Option<char> {
    let mut value = 0u32;
    for _ in 0..digits {
        let (_, c) = chars.next()?;
        value = value * 16 + c.to_digit(16)?;
    }
    char::from_u32(value)
}

/// A single-quoted scalar at the start of `s`, on one line: its value and what follows it.
fn single_quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let tail = single_quoted_with(s, |part| out.push_str(part))?;
    Some((out, tail))
}

/// [`single_quoted`], handing the value to `push` in parts: what follows it.
fn single_quoted_with(s: &str, mut push: impl FnMut(&str)) -> Option<&str> {
    let body = s.get(1..)?;
    let mut from = 0;
    loop {
        let i = from + body.get(from..)?.find('\'')?;
        push(body.get(from..i)?);
        if body.as_bytes().get(i + 1) == Some(&b'\'') {
            push("'");
            from = i + 2;
        } else {
            return body.get(i + 1..);
        }
    }
}

/// A plain scalar typed as serde_yaml 0.9 types it for [`Node`]: null, boolean, number (as
/// the text serde_yaml's value renders to) or string. `None` for integers beyond 64 bits,
/// which the serde path refuses.
fn plain_value(s: &str) -> Option<Node<'_>> {
    Some(match s {
        "" | "~" | "null" | "Null" | "NULL" => Node::Null,
        "true" | "True" | "TRUE" => Node::Bool(true),
        "false" | "False" | "FALSE" => Node::Bool(false),
        _ => match number(s)? {
            // A number's text as serde_yaml renders it: the same as written, most often.
            Some(text) if text == s => Node::Number(Cow::Borrowed(s)),
            Some(text) => Node::Number(Cow::Owned(text)),
            None => Node::String(Cow::Borrowed(s)),
        },
    })
}

/// Whether [`plain_value`] takes `s`, without building its node: every plain scalar but an
/// integer beyond 64 bits.
fn plain_accepted(s: &str) -> bool {
    let first = s.as_bytes().first().copied().unwrap_or(0);
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return true;
    }
    if unsigned(s, u64::from_str_radix).is_some() || negative(s, i64::from_str_radix).is_some() {
        return true;
    }
    unsigned(s, u128::from_str_radix).is_none() && negative(s, i128::from_str_radix).is_none()
}

/// A mapping key as [`Node`]'s keys hold it: a plain scalar typed, then rendered as text.
fn key_text(raw: &str) -> Option<Cow<'_, str>> {
    Some(match raw {
        "" | "~" | "null" | "Null" | "NULL" => Cow::Borrowed("null"),
        "true" | "True" | "TRUE" => Cow::Borrowed("true"),
        "false" | "False" | "FALSE" => Cow::Borrowed("false"),
        _ => match number(raw)? {
            Some(text) => Cow::Owned(text),
            None => Cow::Borrowed(raw),
        },
    })
}

/// The text of a number, `Some(None)` for a string, `None` for an integer serde_yaml cannot
/// hand to [`Node`]. YAML 1.2 core schema as serde_yaml 0.9 reads it: decimal, `0x`, `0o`, `0b`
/// integers with an optional sign, then floats (`.inf`, `.nan` spelled YAML's way); digits
/// with a leading zero are a string.
fn number(s: &str) -> Option<Option<String>> {
    let first = s.as_bytes().first().copied().unwrap_or(0);
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return Some(None);
    }
    if let Some(v) = unsigned(s, u64::from_str_radix) {
        return Some(Some(v.to_string()));
    }
    if let Some(v) = negative(s, i64::from_str_radix) {
        return Some(Some(v.to_string()));
    }
    if unsigned(s, u128::from_str_radix).is_some() || negative(s, i128::from_str_radix).is_some() {
        return None;
    }
    if leading_zero_digits(s) {
        return Some(None);
    }
    Some(float(s).map(float_text))
}

type Radix<T> = fn(&str, u32) -> Result<T, std::num::ParseIntError>;

const PREFIXES: [(&str, u32); 3] = [("0x", 16), ("0o", 8), ("0b", 2)];

/// A non-negative integer: an optional `+`, then a radix prefix or decimal digits.
fn unsigned<T>(s: &str, parse: Radix<T>) -> Option<T> {
    let body = s.strip_prefix('+').unwrap_or(s);
    for (prefix, radix) in PREFIXES {
        if let Some(digits) = body.strip_prefix(prefix) {
            if digits.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(v) = parse(digits, radix) {
                return Some(v);
            }
        }
    }
    if body.starts_with(['+', '-']) || leading_zero_digits(s) {
        return None;
    }
    parse(body, 10).ok()
}

/// A negative integer: `-` then a radix prefix, or a signed decimal.
fn negative<T>(s: &str, parse: Radix<T>) -> Option<T> {
    for (prefix, radix) in PREFIXES {
        if let Some(digits) = s.strip_prefix('-').and_then(|r| r.strip_prefix(prefix))
            && let Ok(v) = parse(&format!("-{digits}"), radix)
        {
            return Some(v);
        }
    }
    if leading_zero_digits(s) {
        return None;
    }
    parse(s, 10).ok()
}

/// `0` followed by digits (after an optional sign): a string in YAML 1.2, not an octal.
fn leading_zero_digits(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    body.len() > 1 && body.starts_with('0') && body.bytes().all(|b| b.is_ascii_digit())
}

fn float(s: &str) -> Option<f64> {
    let body = match s.strip_prefix('+') {
        Some(b) if b.starts_with(['+', '-']) => return None,
        Some(b) => b,
        None => s,
    };
    match (body, s) {
        (".inf" | ".Inf" | ".INF", _) => return Some(f64::INFINITY),
        (_, "-.inf" | "-.Inf" | "-.INF") => return Some(f64::NEG_INFINITY),
        (_, ".nan" | ".NaN" | ".NAN") => return Some(f64::NAN),
        _ => {}
    }
    body.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// The fast reader against serde_yaml on one text, as a document and as a plain value:
/// `Ok(true)` when the fast reader accepted and built exactly serde_yaml's tree and count,
/// `Ok(false)` when it stepped aside, `Err` with both results when they differ.
pub fn differential(text: &str) -> Result<bool, String> {
    let mut accepted = false;
    // The workload roles build only some fields and check every key for duplicates.
    for role in [Role::Document, Role::Plain, Role::WorkloadResource(true), Role::WorkloadResources(false)] {
        let mut fast_built = Built::default();
        let Some(fast) = read(text, role, &mut fast_built) else {
            continue;
        };
        accepted = true;
        let mut serde_built = Built::default();
        let doc = super::yaml::DocumentText { text, first_line: 1 };
        let serde = super::yaml::serde_document(&doc, role, &mut serde_built);
        match serde {
            Ok(node) if node == fast && serde_built == fast_built => {}
            other => {
                return Err(format!(
                    "{role:?} on {text:?}: fast {fast:?} ({} nodes), serde_yaml {other:?} ({} nodes)",
                    fast_built.nodes, serde_built.nodes
                ));
            }
        }
    }
    Ok(accepted)
}

#[cfg(test)]
mod tests;
