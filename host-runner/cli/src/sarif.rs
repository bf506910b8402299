//! Diagnostics as SARIF 2.1.0, the format code-scanning services read to annotate a pull
//! request (docs/sarif.md has the mapping).
//!
//! One rule per diagnostic code. The rule's title is the core's [`Code::title`]; its help is the
//! "notes" cell of the code's row in docs/diagnostics.md, embedded at build time, so the
//! documentation stays the one place a code is explained. A test fails when a code has no row,
//! a row names no code, or a row's title or severity differs from the core's.

use meshlock_core::{Code, Diagnostic, Severity};
use serde_sarif::sarif::{
    ArtifactLocation, Location, Message, MultiformatMessageString, PhysicalLocation, Region, ReportingConfiguration,
    ReportingDescriptor, Result as SarifResult, ResultLevel, Run, Sarif, Tool, ToolComponent,
};
use std::path::Path;

/// The schema a SARIF 2.1.0 log names (the OASIS standard's, errata 01).
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// docs/diagnostics.md, as built into this binary.
const DIAGNOSTICS_DOC: &str = include_str!("../../../docs/diagnostics.md");

/// One row of the code table in docs/diagnostics.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentedCode {
    pub code: String,
    pub severity: String,
    pub title: String,
    pub notes: String,
}

/// The code table's rows, in the document's order. Cells are split on `|` except where the
/// Markdown escapes it as `\|`.
pub fn documented_codes() -> Vec<DocumentedCode> {
    DIAGNOSTICS_DOC
        .lines()
        .filter(|l| l.starts_with("| ML"))
        .filter_map(|line| {
            let cells = table_cells(line);
            match cells.as_slice() {
                [code, severity, title, notes] => Some(DocumentedCode {
                    code: code.clone(),
                    severity: severity.clone(),
                    title: title.clone(),
                    notes: notes.clone(),
                }),
                _ => None,
            }
        })
        .collect()
}

fn table_cells(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = line.trim().trim_start_matches('|').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut cell).trim().to_owned()),
            _ => cell.push(c),
        }
    }
    if !cell.trim().is_empty() {
        cells.push(cell.trim().to_owned());
    }
    cells
}

fn level(severity: Severity) -> ResultLevel {
    match severity {
        Severity::Error => ResultLevel::Error,
        Severity::Warning => ResultLevel::Warning,
        Severity::Info => ResultLevel::Note,
    }
}

fn text(s: impl Into<String>) -> MultiformatMessageString {
    MultiformatMessageString::builder().text(s.into()).build()
}

/// The rules: every code the core knows, in order (a result's `ruleIndex` points here).
pub fn rules() -> Vec<ReportingDescriptor> {
    let documented = documented_codes();
    Code::ALL
        .iter()
        .map(|&code| {
            let notes = documented.iter().find(|d| d.code == code.as_str()).map(|d| d.notes.clone());
            let rule = ReportingDescriptor::builder()
                .id(code.as_str())
                // The variant name is the identifier-shaped name SARIF asks for (`InvalidField`).
                .name(format!("{code:?}"))
                .short_description(text(code.title()))
                .default_configuration(
                    ReportingConfiguration::builder().level(serde_json::json!(level(code.severity()))).build(),
                );
            match notes {
                Some(n) => rule
                    .full_description(text(n.clone()))
                    .help(MultiformatMessageString::builder().text(n.clone()).markdown(n).build())
                    .build(),
                None => rule.build(),
            }
        })
        .collect()
}

/// A file name as a SARIF artifact URI: relative to `base` (the working directory) when the
/// file is under it or already relative, an absolute `file://` URI otherwise. Characters a URI
/// reference may not hold are percent-encoded.
pub fn artifact_uri(file: &str, base: &Path) -> String {
    let path = Path::new(file);
    let relative = if path.is_absolute() { path.strip_prefix(base).ok() } else { Some(path) };
    match relative {
        Some(rel) => {
            let rel = rel.to_string_lossy();
            percent_encode(rel.strip_prefix("./").unwrap_or(&rel))
        }
        None => format!("file://{}", percent_encode(file)),
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn physical(uri: String, line: u32, column: u32) -> PhysicalLocation {
    PhysicalLocation::builder()
        .artifact_location(ArtifactLocation::builder().uri(uri).build())
        .region(Region::builder().start_line(i64::from(line.max(1))).start_column(i64::from(column.max(1))).build())
        .build()
}

fn result(d: &Diagnostic, base: &Path) -> SarifResult {
    let rule_index = Code::ALL.iter().position(|&c| c == d.code).and_then(|i| i64::try_from(i).ok());
    let message = match &d.resource {
        Some(r) => format!("{} [{r}]", d.message),
        None => d.message.clone(),
    };
    let location = Location::builder().physical_location(physical(artifact_uri(&d.file, base), d.line, d.column));
    let mut result = SarifResult::builder()
        .rule_id(d.code.as_str())
        .level(level(d.severity))
        .message(Message::builder().text(message).build())
        .locations(vec![location.build()])
        .build();
    result.rule_index = rule_index;
    // A Helm-rendered document names the template it came from: the line in the rendered file
    // is where the finding is, the template is what the reviewer edits.
    result.related_locations = d.template.as_ref().map(|t| {
        vec![
            Location::builder()
                .id(1)
                .physical_location(
                    PhysicalLocation::builder()
                        .artifact_location(ArtifactLocation::builder().uri(percent_encode(t)).build())
                        .build(),
                )
                .message(Message::builder().text(format!("rendered from the Helm template {t}")).build())
                .build(),
        ]
    });
    result
}

/// A SARIF log of one run of meshlock over the diagnostics; `base` is the directory artifact
/// URIs are made relative to.
pub fn log(diagnostics: &[Diagnostic], base: &Path) -> Sarif {
    let driver = ToolComponent::builder()
        .name("meshlock")
        .version(env!("CARGO_PKG_VERSION"))
        .semantic_version(env!("CARGO_PKG_VERSION"))
        .rules(rules())
        .build();
    let run = Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .results(diagnostics.iter().map(|d| result(d, base)).collect::<Vec<_>>())
        .column_kind(serde_json::Value::from("unicodeCodePoints"))
        .build();
    Sarif::builder().schema(SCHEMA_URI).version(serde_json::Value::from("2.1.0")).runs(vec![run]).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_and_the_documentation_agree() {
        let documented = documented_codes();
        for code in Code::ALL {
            let row = documented.iter().find(|d| d.code == code.as_str());
            let row = row.unwrap_or_else(|| panic!("docs/diagnostics.md has no row for {code}"));
            assert_eq!(row.title, code.title(), "{code}: the documented title differs from the rule's");
            assert_eq!(row.severity, code.severity().to_string(), "{code}: the documented severity differs");
            assert!(!row.notes.is_empty(), "{code}: the documentation gives no help");
        }
        for row in &documented {
            assert!(
                Code::ALL.iter().any(|c| c.as_str() == row.code),
                "docs/diagnostics.md documents {}, which is no rule",
                row.code
            );
        }
        assert_eq!(rules().len(), Code::ALL.len());
    }

    #[test]
    fn escaped_pipes_stay_in_their_cell() {
        assert_eq!(table_cells(r"| ML0312 | error | t | cluster `a\|b` |"), ["ML0312", "error", "t", "cluster `a|b`"]);
    }

    #[test]
    fn artifact_uris_are_relative_to_the_working_directory() {
        let base = Path::new("/repo");
        assert_eq!(artifact_uri("/repo/deploy/pa.yaml", base), "deploy/pa.yaml");
        assert_eq!(artifact_uri("./deploy/my pa.yaml", base), "deploy/my%20pa.yaml");
        assert_eq!(artifact_uri("/elsewhere/pa.yaml", base), "file:///elsewhere/pa.yaml");
        assert_eq!(artifact_uri("<stdin>", base), "%3Cstdin%3E");
    }
}
