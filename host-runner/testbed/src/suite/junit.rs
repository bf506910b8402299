//! JUnit XML for CI systems (`meshlock test --junit FILE`).

use super::SuiteReport;
use std::fmt::Write as _;

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// One `<testsuite>` per suite file, one `<testcase>` per case.
pub fn write_junit(reports: &[SuiteReport]) -> String {
    let tests: usize = reports.iter().map(|r| r.cases.len()).sum();
    let failures: usize = reports.iter().map(SuiteReport::failed).sum();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(s, "<testsuites name=\"meshlock\" tests=\"{tests}\" failures=\"{failures}\">");
    for r in reports {
        let _ = writeln!(
            s,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" time=\"{:.3}\">",
            escape(&r.file),
            r.cases.len(),
            r.failed(),
            r.duration.as_secs_f64()
        );
        for c in &r.cases {
            let _ = write!(
                s,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.6}\"",
                escape(&r.file),
                escape(&c.name),
                c.duration.as_secs_f64()
            );
            if c.passed {
                s.push_str("/>\n");
            } else {
                let _ = writeln!(
                    s,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    escape(c.problems.first().map_or("failed", String::as_str)),
                    escape(&c.line())
                );
            }
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}
