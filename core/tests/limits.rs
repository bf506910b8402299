//! docs/limits.md, enforced: every limit on untrusted input refuses with `ML0002` (or the
//! parser's error) at a position, reads what came before it, and never panics or hangs.

#![forbid(unsafe_code)]

use meshlock_core::parse::{Limits, parse_with_limits};
use meshlock_core::{Code, Source};

fn namespace(i: usize) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns{i}\n")
}

#[test]
fn the_documented_defaults_are_the_enforced_ones() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/limits.md")).unwrap();
    assert_eq!(Limits::DEFAULT.max_source_bytes, 256 * 1024 * 1024);
    assert!(doc.contains("| 256 MiB |"), "docs/limits.md states the byte limit");
    assert_eq!(Limits::DEFAULT.max_documents, 1_000_000);
    assert!(doc.contains("| 1,000,000 |"), "docs/limits.md states the document limit");
    assert!(doc.contains("| 128 levels |"), "docs/limits.md states the nesting limit");
}

#[test]
fn a_source_over_the_byte_limit_is_not_read_at_all() {
    let text = (0..50).map(namespace).collect::<Vec<_>>().join("---\n");
    let limits = Limits { max_source_bytes: 100, ..Limits::DEFAULT };
    let small = Source::new("small.yaml", namespace(99));
    let parsed = parse_with_limits(&[Source::new("big.yaml", text.clone()), small], &limits);
    let d = parsed.diagnostics.iter().find(|d| d.code == Code::InputLimit).expect("ML0002");
    assert_eq!((d.file.as_str(), d.line, d.column), ("big.yaml", 1, 1));
    assert!(
        d.message.contains(&format!("input is {} bytes, over the limit of 100 bytes", text.len())),
        "{}",
        d.message
    );
    assert_eq!(parsed.unreadable, 1);
    // The other source (under the limit) is still read.
    assert_eq!(parsed.resources.namespaces.len(), 1);
}

#[test]
fn documents_over_the_limit_stop_the_stream_where_the_limit_was_crossed() {
    let text = (0..10).map(namespace).collect::<Vec<_>>().join("---\n");
    let limits = Limits { max_documents: 4, ..Limits::DEFAULT };
    let parsed = parse_with_limits(&[Source::new("many.yaml", text)], &limits);
    let d = parsed.diagnostics.iter().find(|d| d.code == Code::InputLimit).expect("ML0002");
    assert!(d.message.contains("more than 4 documents"), "{}", d.message);
    // The fifth document starts on line 4 * 5 (four lines and a `---` each) + 1.
    assert_eq!((d.file.as_str(), d.line), ("many.yaml", 21));
    assert_eq!(parsed.resources.namespaces.len(), 4, "the documents before the limit are read");
    assert_eq!(parsed.unreadable, 1);
}

#[test]
fn list_items_count_as_documents() {
    let items: String =
        (0..6).map(|i| format!("- {{apiVersion: v1, kind: Namespace, metadata: {{name: n{i}}}}}\n")).collect();
    let text = format!("apiVersion: v1\nkind: List\nitems:\n{items}");
    let limits = Limits { max_documents: 3, ..Limits::DEFAULT };
    let parsed = parse_with_limits(&[Source::new("list.yaml", text)], &limits);
    let d = parsed.diagnostics.iter().find(|d| d.code == Code::InputLimit).expect("ML0002");
    assert!(d.message.contains("more than 3 documents; the rest of the list is not read"), "{}", d.message);
    assert!(parsed.resources.namespaces.len() < 6, "the list is cut at the limit");
}

#[test]
fn nesting_deeper_than_the_parser_limit_is_refused_at_its_position() {
    let depth = 200;
    let text = format!("{}{}\n", "[".repeat(depth), "]".repeat(depth));
    let parsed =
        parse_with_limits(&[Source::new("deep.yaml", format!("{}---\n{text}", namespace(1)))], &Limits::DEFAULT);
    let d =
        parsed.diagnostics.iter().find(|d| d.code == Code::InputLimit || d.code == Code::YamlSyntax).expect("refused");
    assert!(d.message.contains("recursion limit"), "{}", d.message);
    assert_eq!((d.file.as_str(), d.line), ("deep.yaml", 6), "the nested document's line");
    assert_eq!(parsed.resources.namespaces.len(), 1, "the document before it is read");
}

#[test]
fn an_alias_bomb_is_refused_not_expanded() {
    let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    let mut prev = 'a';
    for name in 'b'..='j' {
        text.push_str(&format!("{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        prev = name;
    }
    let parsed = parse_with_limits(&[Source::new("bomb.yaml", text)], &Limits::DEFAULT);
    let d =
        parsed.diagnostics.iter().find(|d| d.code == Code::InputLimit || d.code == Code::YamlSyntax).expect("refused");
    assert!(d.message.contains("repetition limit"), "{}", d.message);
    assert_eq!(d.file, "bomb.yaml");
    assert!(parsed.resources.namespaces.is_empty());
}
