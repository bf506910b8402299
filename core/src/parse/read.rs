//! Typed reads from a [`Node`] that report every problem as a located diagnostic instead of
//! failing: a wrong type or an unknown enum value becomes ML0003 and the field is skipped.

use super::locate::{Seg, locate_counted, locate_in_lines};
use super::yaml::Node;
use crate::diagnostic::{Code, Diagnostic};
use crate::model::{Labels, PortRef, READ_ANNOTATIONS};
use crate::source::Location;
use std::borrow::Cow;

/// Where a document came from, and the sink for its diagnostics.
pub struct Ctx<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub first_line: u32,
    /// Path prefix of the resource inside the document (`items[i]` in a List).
    pub base: Vec<Seg>,
    pub resource: Option<String>,
    pub diags: &'a mut Vec<Diagnostic>,
    /// Lines looked at to locate diagnostics (the work counted in `Parsed::work`).
    pub located: u64,
    /// `text`'s lines, split once for all the positions placed in it.
    lines: Option<Vec<&'a str>>,
}

/// Builds a path from keys and indexes: `p(&base, "spec")`.
pub fn p(base: &[Seg], key: impl Into<Cow<'static, str>>) -> Vec<Seg> {
    let mut v = Vec::with_capacity(base.len() + 1);
    v.extend_from_slice(base);
    v.push(Seg::Key(key.into()));
    v
}

pub fn pi(base: &[Seg], index: usize) -> Vec<Seg> {
    let mut v = Vec::with_capacity(base.len() + 1);
    v.extend_from_slice(base);
    v.push(Seg::Index(index));
    v
}

pub fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a str, text: &'a str, first_line: u32, diags: &'a mut Vec<Diagnostic>) -> Self {
        Self { file, text, first_line, base: Vec::new(), resource: None, diags, located: 0, lines: None }
    }

    pub fn at(&mut self, path: &[Seg]) -> Location {
        let mut full = self.base.clone();
        full.extend_from_slice(path);
        let (line, column) = if full.is_empty() {
            locate_counted(self.text, self.first_line, &full, &mut self.located)
        } else {
            if self.lines.is_none() {
                let lines: Vec<&str> = self.text.lines().collect();
                self.located += lines.len() as u64;
                self.lines = Some(lines);
            }
            locate_in_lines(self.lines.as_deref().unwrap_or_default(), self.first_line, &full)
        };
        Location::new(self.file, line, column)
    }

    pub fn report(&mut self, code: Code, message: impl Into<String>, path: &[Seg]) {
        let at = self.at(path);
        let mut d = Diagnostic::new(code, message, &at);
        if let Some(r) = &self.resource {
            d = d.with_resource(r.clone());
        }
        self.diags.push(d);
    }

    fn wrong_type(&mut self, node: &Node<'_>, want: &str, path: &[Seg]) {
        let msg = format!("`{}` must be {want}, found {}", path_string(path), node.type_name());
        self.report(Code::InvalidField, msg, path);
    }

    pub fn map<'n, 't>(&mut self, node: Option<&'n Node<'t>>, path: &[Seg]) -> Option<&'n [(Cow<'t, str>, Node<'t>)]> {
        match node? {
            Node::Map(m) => Some(m),
            Node::Null => None,
            other => {
                self.wrong_type(other, "a mapping", path);
                None
            }
        }
    }

    pub fn seq<'n, 't>(&mut self, node: Option<&'n Node<'t>>, path: &[Seg]) -> &'n [Node<'t>] {
        match node {
            Some(Node::Seq(s)) => s,
            None | Some(Node::Null) => &[],
            Some(other) => {
                self.wrong_type(other, "a list", path);
                &[]
            }
        }
    }

    pub fn string(&mut self, node: Option<&Node<'_>>, path: &[Seg]) -> Option<String> {
        match node? {
            Node::String(s) => Some(s.clone().into_owned()),
            Node::Null => None,
            other => {
                self.wrong_type(other, "a string", path);
                None
            }
        }
    }

    /// A string where YAML may have typed the scalar (a label value like `true` or `1`):
    /// Kubernetes would reject it, so it is an error, but the text is kept.
    pub fn scalar_string(&mut self, node: Option<&Node<'_>>, path: &[Seg]) -> Option<String> {
        match node? {
            Node::String(s) => Some(s.clone().into_owned()),
            Node::Null => None,
            Node::Number(n) => {
                self.report(Code::InvalidField, format!("`{}` must be a string; quote `{n}`", path_string(path)), path);
                Some(n.clone().into_owned())
            }
            Node::Bool(b) => {
                self.report(Code::InvalidField, format!("`{}` must be a string; quote `{b}`", path_string(path)), path);
                Some(b.to_string())
            }
            other => {
                self.wrong_type(other, "a string", path);
                None
            }
        }
    }

    pub fn strings(&mut self, node: Option<&Node<'_>>, path: &[Seg]) -> Vec<String> {
        let items = self.seq(node, path);
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Some(s) = self.scalar_string(Some(item), &pi(path, i)) {
                out.push(s);
            }
        }
        out
    }

    pub fn bool(&mut self, node: Option<&Node<'_>>, path: &[Seg]) -> Option<bool> {
        match node? {
            Node::Bool(b) => Some(*b),
            Node::Null => None,
            Node::String(s) if s == "true" || s == "false" => Some(s == "true"),
            other => {
                self.wrong_type(other, "a boolean", path);
                None
            }
        }
    }

    /// A port number in 1..=65535, from a number or a string of digits.
    pub fn port(&mut self, node: Option<&Node<'_>>, path: &[Seg]) -> Option<u16> {
        let node = node?;
        let text = match node {
            Node::Number(n) => &**n,
            Node::String(s) => &**s,
            Node::Null => return None,
            other => {
                self.wrong_type(other, "a port number", path);
                return None;
            }
        };
        match parse_port(text) {
            Some(p) => Some(p),
            None => {
                let msg = format!("`{}` must be a port number in 1..65535, found `{text}`", path_string(path));
                self.report(Code::InvalidField, msg, path);
                None
            }
        }
    }

    /// A port given by number or by name (`targetPort`, probe ports, Policy target ports).
    pub fn port_ref(&mut self, node: Option<&Node<'_>>, path: &[Seg]) -> Option<PortRef> {
        match node? {
            Node::Number(_) => self.port(node, path).map(PortRef::Number),
            Node::String(s) => match parse_port(s) {
                Some(n) => Some(PortRef::Number(n)),
                None if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
                    Some(PortRef::Name(s.clone().into_owned()))
                }
                None => {
                    let msg =
                        format!("`{}` must be a port number or an IANA port name, found `{s}`", path_string(path));
                    self.report(Code::InvalidField, msg, path);
                    None
                }
            },
            Node::Null => None,
            other => {
                self.wrong_type(other, "a port number or name", path);
                None
            }
        }
    }

    pub fn labels(&mut self, node: Option<&Node<'_>>, path: &[Seg]) -> Labels {
        self.labels_kept(node, path, |_| true)
    }

    /// [`Ctx::labels`] of annotations: every value checked, only [`READ_ANNOTATIONS`] kept.
    pub fn annotations(&mut self, node: Option<&Node<'_>>, path: &[Seg]) -> Labels {
        self.labels_kept(node, path, |key| READ_ANNOTATIONS.contains(&key))
    }

    fn labels_kept(&mut self, node: Option<&Node<'_>>, path: &[Seg], keep: impl Fn(&str) -> bool) -> Labels {
        let mut out = Labels::new();
        if let Some(entries) = self.map(node, path) {
            for (k, v) in entries {
                if !keep(k) {
                    // Checked as a kept one is (a value that is not a string is reported).
                    if !matches!(v, Node::String(_)) {
                        self.scalar_string(Some(v), &p(path, k.clone().into_owned()));
                    }
                    continue;
                }
                // The path is built only for a diagnostic: most values are strings.
                let value = match v {
                    Node::String(s) => Some(s.clone().into_owned()),
                    _ => self.scalar_string(Some(v), &p(path, k.clone().into_owned())),
                };
                if let Some(s) = value {
                    out.insert(k.clone().into_owned(), s);
                }
            }
        }
        out
    }

    /// An enum value from a fixed list; anything else is reported with the allowed values.
    pub fn enumerated<T: Copy>(&mut self, node: Option<&Node<'_>>, path: &[Seg], allowed: &[(&str, T)]) -> Option<T> {
        let s = self.scalar_string(node, path)?;
        if let Some((_, v)) = allowed.iter().find(|(name, _)| *name == s) {
            return Some(*v);
        }
        let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
        let msg = format!("`{}` has unknown value `{s}`; expected one of {}", path_string(path), names.join(", "));
        self.report(Code::InvalidField, msg, path);
        None
    }

    /// Reports fields of a mapping this version of meshlock does not know (forward
    /// compatibility: they are tolerated).
    pub fn unknown_fields(&mut self, node: Option<&Node<'_>>, path: &[Seg], known: &[&str]) {
        let Some(Node::Map(entries)) = node else {
            return;
        };
        for (k, _) in entries {
            if !known.contains(&&**k) {
                let field = p(path, k.clone().into_owned());
                let msg = format!("unknown field `{}` is ignored", path_string(&field));
                self.report(Code::UnknownField, msg, &field);
            }
        }
    }
}

pub fn parse_port(text: &str) -> Option<u16> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse::<u16>().ok().filter(|p| *p != 0)
}

/// `creationTimestamp` (RFC 3339, as Kubernetes writes it) in seconds since the epoch.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (h, mi, sec) = if b.len() > 10 {
        if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
            return None;
        }
        (num(11..13)?, num(14..16)?, num(17..19)?)
    } else {
        (0, 0, 0)
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Offset: `Z`, or `±HH:MM` after optional fractional seconds.
    let mut offset = 0i64;
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    match b.get(i) {
        None | Some(b'Z' | b'z') => {}
        Some(sign @ (b'+' | b'-')) => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            offset = (oh * 60 + om) * 60 * if *sign == b'+' { 1 } else { -1 };
        }
        Some(_) => return None,
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("2020-01-01T00:00:01Z"), Some(1_577_836_801));
        assert_eq!(parse_timestamp("2020-01-01T01:00:00+01:00"), Some(1_577_836_800));
        assert_eq!(parse_timestamp("2020-01-01T00:00:00.123Z"), Some(1_577_836_800));
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("2020-13-01T00:00:00Z"), None);
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("8080"), Some(8080));
        assert_eq!(parse_port("0"), None);
        assert_eq!(parse_port("65536"), None);
        assert_eq!(parse_port("-1"), None);
        assert_eq!(parse_port("80.5"), None);
    }
}
