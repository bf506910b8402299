//! Every suite in tests/suites passes through the wasip1 filter, covers every client form, and
//! the wasm32-unknown-unknown build decides every case the same way.

use crate::support::{suite_files, unknown, wasip1};
use meshlock_testbed::ca::{ChainShape, IssuerKind, Validity};
use meshlock_testbed::suite::{ClientForm, Runner, load_suite};
use std::collections::BTreeSet;

#[test]
fn every_suite_passes_in_the_host() {
    let runner = Runner::new(wasip1()).unwrap();
    let mut forms = BTreeSet::new();
    let mut total = 0;
    let mut outbound_reasons = BTreeSet::new();
    for file in suite_files() {
        let suite = load_suite(&file).unwrap();
        let report = runner.run(&suite).unwrap();
        for c in &report.cases {
            assert!(c.passed, "{}: {}", suite.file, c.line());
            // Clients that send HTTP went through both filter kinds; an outbound case runs the
            // HTTP filter outbound only.
            match suite.cases.iter().find(|k| k.name == c.name) {
                Some(case) => assert_eq!(c.http.is_some(), case.client.sends_http(), "{}", c.name),
                None => {
                    assert!(suite.outbound.iter().any(|o| o.name == c.name), "{}", c.name);
                    outbound_reasons.insert(c.network.as_ref().unwrap().reason.clone());
                }
            }
        }
        total += report.cases.len();
        for case in &suite.cases {
            forms.insert(match &case.client {
                ClientForm::Plaintext => "plaintext",
                ClientForm::Garbage => "garbage",
                ClientForm::TruncatedHello => "truncated-hello",
                ClientForm::TlsNoCert => "tls: no-cert",
                ClientForm::Identity { uris, .. } if uris.is_empty() => "identity: none",
                ClientForm::Identity { uris, .. } if uris.len() > 1 => "identities: [A, B]",
                ClientForm::Identity { chain: ChainShape::Huge, .. } => "chain: huge",
                ClientForm::Identity { issuer: IssuerKind::Untrusted, .. } => "issuer: untrusted",
                ClientForm::Identity { issuer: IssuerKind::Intermediate, .. } => "issuer: intermediate",
                ClientForm::Identity { validity: Validity::Expired, .. } => "validity: expired",
                ClientForm::Identity { validity: Validity::NotYetValid, .. } => "validity: not-yet-valid",
                ClientForm::Identity { tls12_only: true, .. } => "tls: 1.2",
                ClientForm::Identity { .. } => "identity: URI",
            });
        }
    }
    assert!(total >= 60, "only {total} cases");
    assert_eq!(forms.len(), 13, "client forms covered: {forms:?}");
    // The client side: the right identity, a wrong one or none, another root, plaintext, an
    // unknown destination.
    let expected = ["certificate_verify_failed", "plaintext_upstream", "secure_naming", "unknown_service"];
    assert_eq!(outbound_reasons.iter().map(String::as_str).collect::<Vec<_>>(), expected);
}

#[test]
fn both_wasm_targets_decide_alike() {
    let a = Runner::new(wasip1()).unwrap();
    let b = Runner::new(unknown()).unwrap();
    // Every import of both builds is implemented by the host (none falls back to a trap).
    assert_eq!(wasip1().undefined_imports(), &[] as &[String]);
    assert_eq!(unknown().undefined_imports(), &[] as &[String]);
    assert!(wasip1().is_wasi());
    assert!(!unknown().is_wasi());
    assert_eq!(wasip1().allocator(), meshlock_proxy_host::Allocator::ProxyOnMemoryAllocate);
    assert_eq!(unknown().allocator(), meshlock_proxy_host::Allocator::Malloc);
    let mut compared = 0;
    for file in suite_files() {
        let suite = load_suite(&file).unwrap();
        let ra = a.run(&suite).unwrap();
        let rb = b.run(&suite).unwrap();
        assert_eq!(ra.cases.len(), rb.cases.len());
        for (x, y) in ra.cases.iter().zip(&rb.cases) {
            assert!(x.passed && y.passed, "{}\n{}", x.line(), y.line());
            let key = |c: &meshlock_testbed::suite::CaseReport| {
                let n = c.network.as_ref().unwrap();
                let h = c
                    .http
                    .as_ref()
                    .map(|h| h.as_ref().map(|o| (o.decision, o.stage, o.mtls, o.reason.clone())).unwrap());
                (n.decision, n.stage, n.mtls, n.reason.clone(), h)
            };
            assert_eq!(key(x), key(y), "{} differs between targets", x.name);
            compared += 1;
        }
    }
    assert!(compared >= 60);
}

#[test]
fn a_wrong_expectation_fails_with_the_reason() {
    let dir = crate::support::scratch("wrong-expect");
    let suite = dir.join("wrong.yaml");
    let policies = crate::support::root().join("tests/suites/policies");
    std::fs::write(
        &suite,
        format!(
            "policies: [{0}/workloads.yaml, {0}/strict.yaml]\nworkload: foo/httpbin\ncases:\n  - name: plaintext is not allowed under STRICT\n    port: 80\n    client: plaintext\n    expect: allow\n  - name: the untrusted CA fails earlier than the filter\n    port: 80\n    client: {{identity: spiffe://cluster.local/ns/bar/sa/sleep, issuer: untrusted}}\n    expect: {{decision: deny, stage: filter}}\n",
            policies.display()
        ),
    )
    .unwrap();
    let runner = Runner::new(wasip1()).unwrap();
    let report = runner.run(&load_suite(&suite).unwrap()).unwrap();
    assert_eq!((report.passed(), report.failed()), (0, 2));
    let first = report.cases[0].line();
    assert!(first.starts_with("FAIL"), "{first}");
    assert!(first.contains("expected decision allow, got deny at filter (plaintext)"), "{first}");
    let second = report.cases[1].line();
    assert!(second.contains("expected stage filter, got deny at handshake"), "{second}");
}

#[test]
fn suite_format_errors_name_the_file_and_line() {
    let dir = crate::support::scratch("bad-suite");
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "resources: []\nworkload: foo/httpbin\ncases:\n  - name: x\n    port: 80\n    client: plaintxt\n    expect: deny\n",
    )
    .unwrap();
    let err = load_suite(&bad).unwrap_err().to_string();
    assert!(err.contains("bad.yaml"), "{err}");
    assert!(err.contains("cases[0]") && err.contains("line 4"), "{err}");
    assert!(err.contains("unknown client `plaintxt`"), "{err}");
    let broken_policy = dir.join("broken-policy.yaml");
    std::fs::write(&broken_policy, "kind: Namespace\nmetadata: {name: [unclosed\n").unwrap();
    let suite = dir.join("suite.yaml");
    std::fs::write(
        &suite,
        "policies: broken-policy.yaml\nworkload: foo/httpbin\ncases:\n  - name: x\n    port: 80\n    client: plaintext\n    expect: deny\n",
    )
    .unwrap();
    let err = load_suite(&suite).unwrap_err().to_string();
    assert!(err.contains("broken-policy.yaml:3:1: did not find expected"), "{err}");
    let missing = load_suite(&dir.join("nope.yaml")).unwrap_err().to_string();
    assert!(missing.contains("nope.yaml"), "{missing}");
}
