//! Finds the line of a field inside a block-style YAML document, for diagnostics about values
//! that parsed fine (serde_yaml reports positions only for errors). Flow style and JSON fall
//! back to the nearest enclosing field found, at worst the document's first line.

use std::borrow::Cow;

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A key; the keys meshlock reads are static, so a path costs no copy of its keys.
    Key(Cow<'static, str>),
    Index(usize),
}

/// A 1-based line and column.
pub fn locate(text: &str, first_line: u32, path: &[Seg]) -> (u32, u32) {
    locate_counted(text, first_line, path, &mut 0)
}

/// [`locate`], adding the lines it looked at to `lines_seen`. Its cost is the size of `text`:
/// callers hand it one resource's text, never a whole List.
pub fn locate_counted(text: &str, first_line: u32, path: &[Seg], lines_seen: &mut u64) -> (u32, u32) {
    if path.is_empty() {
        // A resource's own position (asked once per resource): its first line with content,
        // found without listing every line of a dump item's managedFields and status.
        let mut seen = 0u64;
        let found =
            text.lines().inspect(|_| seen += 1).enumerate().find_map(|(i, l)| content_column(l).map(|c| (i, c)));
        *lines_seen += seen;
        return found.map_or((first_line, 1), |(i, col)| (first_line + i as u32, col));
    }
    let lines: Vec<&str> = text.lines().collect();
    *lines_seen += lines.len() as u64;
    locate_in_lines(&lines, first_line, path)
}

/// [`locate`] in a text already split into its lines (a resource with several positions to
/// place splits its text once).
pub fn locate_in_lines(lines: &[&str], first_line: u32, path: &[Seg]) -> (u32, u32) {
    let mut best = first_content_line(lines).map_or((first_line, 1), |(i, col)| (first_line + i as u32, col));
    let mut pos = 0usize;
    let mut indent: isize = -1;
    for seg in path {
        let found = match seg {
            Seg::Key(k) => find_key(lines, pos, indent, k),
            Seg::Index(n) => find_item(lines, pos, indent, *n),
        };
        match found {
            Some((line_idx, ind)) => {
                pos = line_idx;
                indent = ind;
                best = (first_line + line_idx as u32, (ind + 1).max(1) as u32);
            }
            None => break,
        }
    }
    best
}

fn first_content_line(lines: &[&str]) -> Option<(usize, u32)> {
    lines.iter().enumerate().find_map(|(i, l)| content_column(l).map(|c| (i, c)))
}

/// The 1-based column where a line's content starts, if it has content.
fn content_column(line: &str) -> Option<u32> {
    let t = line.trim_start();
    (!t.is_empty() && !t.starts_with('#') && !t.starts_with("---")).then(|| (line.len() - t.len() + 1) as u32)
}

/// The indentation of a line's first key, looking through leading `- ` markers.
fn key_start(line: &str) -> (isize, &str) {
    let mut rest = line;
    let mut ind = 0isize;
    loop {
        let t = rest.trim_start_matches(' ');
        ind += (rest.len() - t.len()) as isize;
        if let Some(after) = t.strip_prefix("- ") {
            ind += 2;
            rest = after;
        } else {
            return (ind, t);
        }
    }
}

fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Whether a line's content starts with `key` (plain, or in double or single quotes) and a `:`.
/// Called for every line a search passes, so it compares in place instead of building the
/// quoted forms.
fn key_matches(content: &str, key: &str) -> bool {
    let after_key = match content.as_bytes().first() {
        Some(&q @ (b'"' | b'\'')) => {
            content.get(1..).and_then(|c| c.strip_prefix(key)).and_then(|rest| rest.strip_prefix(char::from(q)))
        }
        _ => content.strip_prefix(key),
    };
    after_key.is_some_and(|rest| rest.trim_start().starts_with(':'))
}

fn find_key(lines: &[&str], from: usize, parent: isize, key: &str) -> Option<(usize, isize)> {
    for (i, line) in lines.iter().enumerate().skip(from) {
        if is_blank(line) {
            continue;
        }
        let (ind, content) = key_start(line);
        // The parent's own line (`- key: …` or `parent:`) may carry the first child after a dash.
        if i == from && parent >= 0 {
            if ind > parent && key_matches(content, key) {
                return Some((i, ind));
            }
            continue;
        }
        if ind <= parent {
            return None;
        }
        if key_matches(content, key) {
            return Some((i, ind));
        }
    }
    None
}

fn find_item(lines: &[&str], from: usize, parent: isize, n: usize) -> Option<(usize, isize)> {
    let mut seen = 0usize;
    let mut dash_indent: Option<isize> = None;
    for (i, line) in lines.iter().enumerate().skip(from + usize::from(parent >= 0)) {
        if is_blank(line) {
            continue;
        }
        let lead = line.len() - line.trim_start_matches(' ').len();
        let lead = lead as isize;
        let trimmed = line.trim_start_matches(' ');
        let is_dash = trimmed.starts_with("- ") || trimmed == "-";
        if lead < parent || (lead == parent && !is_dash) {
            return None;
        }
        if !is_dash {
            continue;
        }
        match dash_indent {
            None => dash_indent = Some(lead),
            Some(d) if lead > d => continue,
            Some(d) if lead < d => return None,
            Some(_) => {}
        }
        if seen == n {
            return Some((i, lead));
        }
        seen += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Seg {
        Seg::Key(Cow::Owned(s.to_owned()))
    }

    const DOC: &str = "\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: x
spec:
  selector:
    matchLabels:
      app: a
  portLevelMtls:
    8080:
      mode: DISABLE
    9090:
      mode: STRICT
";

    #[test]
    fn finds_nested_keys() {
        assert_eq!(locate(DOC, 10, &[k("spec"), k("portLevelMtls"), k("9090")]), (21, 5));
        assert_eq!(locate(DOC, 1, &[k("spec"), k("portLevelMtls"), k("8080"), k("mode")]), (11, 7));
        assert_eq!(locate(DOC, 1, &[k("metadata"), k("name")]), (4, 3));
        // Missing leaf: the nearest parent.
        assert_eq!(locate(DOC, 1, &[k("spec"), k("nothing")]), (5, 1));
    }

    #[test]
    fn matches_plain_and_quoted_keys() {
        for (content, key, want) in [
            ("mode: STRICT", "mode", true),
            ("mode : STRICT", "mode", true),
            ("\"mode\": STRICT", "mode", true),
            ("'mode': STRICT", "mode", true),
            ("\"mode': STRICT", "mode", false),
            ("modes: STRICT", "mode", false),
            ("\"mode\"x: STRICT", "mode", false),
            ("mode", "mode", false),
            ("\"\": 1", "", true),
            ("'", "", false),
        ] {
            assert_eq!(key_matches(content, key), want, "{content:?} against {key:?}");
        }
    }

    #[test]
    fn finds_sequence_items() {
        let doc = "spec:\n  ports:\n  - name: http\n    port: 80\n  - name: grpc\n    port: 90\n";
        assert_eq!(locate(doc, 1, &[k("spec"), k("ports"), Seg::Index(1), k("port")]), (6, 5));
        assert_eq!(locate(doc, 1, &[k("spec"), k("ports"), Seg::Index(0), k("name")]), (3, 5));
        let doc2 = "items:\n- kind: A\n  x: 1\n- kind: B\n";
        assert_eq!(locate(doc2, 1, &[k("items"), Seg::Index(1)]), (4, 1));
    }
}
