//! Where input comes from: a named text, and a position inside it.

use serde::Serialize;

/// One input text with the name it is reported under (a file path, `<stdin>`, `policies` …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self { name: name.into(), text: text.into() }
    }
}

/// A 1-based line and column in a named source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

impl Location {
    pub fn new(file: impl Into<String>, line: u32, column: u32) -> Self {
        Self { file: file.into(), line, column }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Which Helm template each line of a rendered text came from. `helm template` writes
/// `# Source: CHART/templates/FILE.yaml` at the top of every document it renders; a document
/// without that comment (Kustomize output, a hand-written file) has no template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderedTemplates {
    /// `(first line, template)` in line order: from that line on, until the next entry, the
    /// document was rendered from the template (or from none).
    starts: Vec<(u32, Option<String>)>,
}

const HELM_SOURCE: &str = "# Source: ";

impl RenderedTemplates {
    /// One pass over the lines: linear in the text's size.
    pub fn of(text: &str) -> Self {
        let mut starts = Vec::new();
        if !mentions_helm_source(text) {
            return Self { starts };
        }
        for (line, number) in text.lines().zip(1u32..) {
            if let Some(path) = line.strip_prefix(HELM_SOURCE) {
                let path = path.trim();
                if !path.is_empty() {
                    starts.push((number, Some(path.to_owned())));
                }
            } else if line == "---" || line.starts_with("--- ") || line.starts_with("---\t") {
                starts.push((number, None));
            }
        }
        Self { starts }
    }

    /// The template line `line` (1-based) was rendered from.
    pub fn at(&self, line: u32) -> Option<&str> {
        let after = self.starts.partition_point(|(start, _)| *start <= line);
        after.checked_sub(1).and_then(|i| self.starts.get(i)).and_then(|(_, t)| t.as_deref())
    }
}

/// `text.contains(HELM_SOURCE)`, by skipping from `#` to `#`. Off x86-64 (the playground's
/// wasm) `str::contains` is a generic two-way search, a fifth of a cluster dump's load there;
/// `memchr` skips to the few `#`s of a manifest a word at a time there, and with vector
/// instructions natively (a tenth of `str::find(char)`'s instructions on a dump).
fn mentions_helm_source(text: &str) -> bool {
    let b = text.as_bytes();
    memchr::memchr_iter(b'#', b).any(|at| b.get(at..).is_some_and(|from| from.starts_with(HELM_SOURCE.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_source_is_found_where_contains_finds_it() {
        for text in ["", "#", "# Source", "a # Source: x", "##  Source: x\n# Source: y", "# Sourc\n#", "é# Source: ü"]
        {
            assert_eq!(mentions_helm_source(text), text.contains(HELM_SOURCE), "{text:?}");
        }
    }

    const RENDERED: &str = "---\n# Source: mesh/templates/namespace.yaml\napiVersion: v1\nkind: Namespace\n\
                            ---\n# Source: mesh/templates/peerauth.yaml\napiVersion: security.istio.io/v1\n\
                            ---\napiVersion: v1\n";

    #[test]
    fn each_document_has_the_template_above_it() {
        let t = RenderedTemplates::of(RENDERED);
        assert_eq!(t.at(1), None);
        assert_eq!(t.at(3), Some("mesh/templates/namespace.yaml"));
        assert_eq!(t.at(4), Some("mesh/templates/namespace.yaml"));
        assert_eq!(t.at(7), Some("mesh/templates/peerauth.yaml"));
        assert_eq!(t.at(9), None, "a document without the comment has no template");
        assert_eq!(RenderedTemplates::of("kind: Namespace\n").at(1), None);
    }
}
