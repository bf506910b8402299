//! The only module that touches `serde_yaml` (archived upstream; a maintained fork is a package
//! rename away). It splits a stream into documents, parses each on its own so one broken
//! document does not hide the next, and converts the result into our own [`Node`] tree.

use serde::Deserialize;

/// A parsed YAML/JSON value. Map keys are kept as written (scalars rendered to strings).
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    /// A number, kept as its text so `8080` and `8080.0` stay distinguishable.
    Number(String),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Number(_) => "a number",
            Node::String(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }
}

/// One document of a stream: its text and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentText<'a> {
    pub text: &'a str,
    pub first_line: u32,
}

/// A syntax error at a 1-based line and column of the whole source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub line: u32,
    pub column: u32,
}

/// Splits a stream at `---` / `...` marker lines. YAML forbids a document marker at the start
/// of a line inside any scalar (`c-forbidden`), so a line scan finds exactly the boundaries
/// the parser would.
pub fn split_documents(text: &str) -> Vec<DocumentText<'_>> {
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1u32;
    let mut offset = 0usize;
    for (line_no, line) in (1u32..).zip(text.split_inclusive('\n')) {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_marker = |m: &str| bare == m || bare.strip_prefix(m).is_some_and(|r| r.starts_with([' ', '\t']));
        if is_marker("---") || is_marker("...") {
            push_doc(&mut docs, text, start, offset, start_line);
            // Content after `--- ` on the same line belongs to the next document; keep the line.
            if is_marker("---") && bare.len() > 3 {
                start = offset;
                start_line = line_no;
            } else {
                start = offset + line.len();
                start_line = line_no + 1;
            }
        }
        offset += line.len();
    }
    push_doc(&mut docs, text, start, text.len(), start_line);
    docs
}

fn push_doc<'a>(docs: &mut Vec<DocumentText<'a>>, text: &'a str, from: usize, to: usize, first_line: u32) {
    let Some(chunk) = text.get(from..to) else {
        return;
    };
    let meaningful = chunk.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && !t.starts_with('%')
    });
    if meaningful {
        docs.push(DocumentText { text: chunk, first_line });
    }
}

/// Parses one document. `first_line` shifts error positions back into the whole source.
pub fn parse_document(doc: &DocumentText<'_>) -> Result<Node, SyntaxError> {
    // A document that starts with `--- ` content: drop the marker so serde_yaml sees one document.
    let text = doc.text.strip_prefix("---").unwrap_or(doc.text);
    let de = serde_yaml::Deserializer::from_str(text);
    match serde_yaml::Value::deserialize(de) {
        Ok(v) => Ok(convert(v)),
        Err(e) => {
            let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            let line = u32::try_from(line).unwrap_or(u32::MAX);
            let column = u32::try_from(column).unwrap_or(u32::MAX);
            Err(SyntaxError {
                message: absolute_positions(&e.to_string(), doc.first_line),
                line: doc.first_line.saturating_add(line.saturating_sub(1)),
                column,
            })
        }
    }
}

/// Parses a YAML string embedded in a field (MeshConfig's `mesh` key).
pub fn parse_embedded(text: &str) -> Result<Node, SyntaxError> {
    parse_document(&DocumentText { text, first_line: 1 })
}

/// serde_yaml writes positions relative to the document ("… at line L column C, while parsing
/// a flow sequence at line L2 column C2"). The first one is the primary position, reported
/// separately, so it is dropped; the positions of the context are shifted to the whole source.
fn absolute_positions(msg: &str, first_line: u32) -> String {
    const MARK: &str = " at line ";
    let mut out = String::new();
    let mut rest = msg;
    let mut first = true;
    while let Some(i) = rest.find(MARK) {
        out.push_str(rest.get(..i).unwrap_or_default());
        let after = rest.get(i + MARK.len()..).unwrap_or_default();
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let line: u32 = after.get(..digits).and_then(|d| d.parse().ok()).unwrap_or(1);
        rest = after.get(digits..).unwrap_or_default();
        let mut column = "";
        if let Some(t) = rest.strip_prefix(" column ") {
            let n = t.bytes().take_while(u8::is_ascii_digit).count();
            column = t.get(..n).unwrap_or_default();
            rest = t.get(n..).unwrap_or_default();
        }
        if !first {
            out.push_str(&format!("{MARK}{}", first_line.saturating_add(line.saturating_sub(1))));
            if !column.is_empty() {
                out.push_str(&format!(" column {column}"));
            }
        }
        first = false;
    }
    out.push_str(rest);
    out
}

fn convert(v: serde_yaml::Value) -> Node {
    match v {
        serde_yaml::Value::Null => Node::Null,
        serde_yaml::Value::Bool(b) => Node::Bool(b),
        serde_yaml::Value::Number(n) => Node::Number(n.to_string()),
        serde_yaml::Value::String(s) => Node::String(s),
        serde_yaml::Value::Sequence(seq) => Node::Seq(seq.into_iter().map(convert).collect()),
        serde_yaml::Value::Mapping(map) => {
            Node::Map(map.into_iter().map(|(k, v)| (key_string(k), convert(v))).collect())
        }
        serde_yaml::Value::Tagged(t) => convert(t.value),
    }
}

fn key_string(k: serde_yaml::Value) -> String {
    match k {
        serde_yaml::Value::String(s) => s,
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Null => "null".to_owned(),
        serde_yaml::Value::Tagged(t) => key_string(t.value),
        other => serde_yaml::to_string(&other).map(|s| s.trim().to_owned()).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_markers_only() {
        let text = "a: 1\n---\nb: |\n  ---x\n---\n# only a comment\n---\nc: 3\n";
        let docs = split_documents(text);
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].first_line, 1);
        assert_eq!(docs[1].first_line, 3);
        assert_eq!(docs[2].first_line, 8);
    }

    #[test]
    fn error_lines_are_absolute() {
        let text = "a: 1\n---\nb: [1,\n";
        let docs = split_documents(text);
        let err = parse_document(&docs[1]).unwrap_err();
        assert!(err.line >= 3, "{err:?}");
    }

    #[test]
    fn numeric_keys_and_json() {
        let docs = split_documents("{\"spec\": {\"portLevelMtls\": {\"8080\": {\"mode\": \"DISABLE\"}}}}");
        let node = parse_document(&docs[0]).unwrap();
        assert!(node.get("spec").and_then(|s| s.get("portLevelMtls")).and_then(|p| p.get("8080")).is_some());
        let docs = split_documents("m:\n  8080: x\n");
        assert!(parse_document(&docs[0]).unwrap().get("m").unwrap().get("8080").is_some());
    }

    #[test]
    fn alias_bomb_is_an_error() {
        let mut s = String::from("a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
        for i in 1..12 {
            let p = i - 1;
            s.push_str(&format!("a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"));
        }
        let docs = split_documents(&s);
        assert!(parse_document(&docs[0]).is_err());
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let s = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let docs = split_documents(&s);
        assert!(parse_document(&docs[0]).is_err());
    }
}
