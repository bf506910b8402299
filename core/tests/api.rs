//! The public API as the front ends use it: JSON shapes, queries, run-time decisions.

#![forbid(unsafe_code)]
#![expect(clippy::expect_used, reason = "test code: a failed expectation is a test failure")]

use meshlock_core::enforce::{Decision, DenyReason, PeerFacts, decide_inbound, decide_outbound};
use meshlock_core::model::Mode;
use meshlock_core::reach::ReachFilter;
use meshlock_core::{Analysis, Code, IstioVersion, Options, Source};
use std::path::Path;

fn example() -> Vec<Source> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/authn");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("examples/authn").map(|e| e.expect("entry").path()).collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            Source::new(
                f.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
                std::fs::read_to_string(f).expect("read"),
            )
        })
        .collect()
}

#[test]
fn analyze_json_has_the_contract_fields() {
    let a = Analysis::new(&example(), &Options::default());
    let v = serde_json::to_value(a.analyze()).expect("json");
    assert_eq!(v["istioVersion"], "1.28");
    let w = v["workloads"]
        .as_array()
        .expect("workloads")
        .iter()
        .find(|w| w["namespace"] == "foo" && w["name"] == "httpbin")
        .expect("foo/httpbin");
    for key in ["kind", "serviceAccount", "identity", "sidecar", "mode", "ports"] {
        assert!(w.get(key).is_some(), "missing {key}");
    }
    assert_eq!(w["identity"], "spiffe://cluster.local/ns/foo/sa/httpbin");
    let port = &w["ports"][0];
    assert_eq!(port["port"], 80);
    assert_eq!(port["mode"], "STRICT");
    let applied =
        port["chain"].as_array().expect("chain").iter().find(|e| e["effect"] == "applied").expect("applied entry");
    assert_eq!(applied["level"], "namespace");
    assert_eq!(applied["policy"], "PeerAuthentication foo/default");
    assert_eq!(applied["file"], "policies.yaml");
    let d = &v["diagnostics"][0];
    for key in ["code", "severity", "message", "file", "line", "column"] {
        assert!(d.get(key).is_some(), "diagnostic missing {key}");
    }
    let legacy = v["workloads"].as_array().expect("w").iter().find(|w| w["namespace"] == "legacy").expect("legacy");
    assert_eq!(legacy["sidecar"], false);
    assert_eq!(legacy["mode"], "NONE");
}

#[test]
fn the_streamed_report_is_the_report_byte_for_byte() {
    let synthetic = meshlock_core::synth::generate(&meshlock_core::synth::MeshShape::new(40));
    for sources in [example(), vec![Source::new("mesh.yaml", synthetic)]] {
        let a = Analysis::new(&sources, &Options::default());
        let whole = serde_json::to_string_pretty(&a.analyze()).expect("json");
        let streamed = serde_json::to_string_pretty(&a.analyze_streamed()).expect("json");
        assert_eq!(whole, streamed);
    }
}

/// The slimmed report is the report without its services and with the chains of the workloads
/// past the first `chains` emptied and marked.
#[test]
fn the_slim_report_is_the_report_without_services_and_later_chains() {
    let synthetic = meshlock_core::synth::generate(&meshlock_core::synth::MeshShape::new(40));
    let a = Analysis::new(&[Source::new("mesh.yaml", synthetic)], &Options::default());
    let whole = serde_json::to_value(a.analyze()).expect("json");
    let workloads = whole["workloads"].as_array().expect("workloads").len();
    assert!(workloads > 10);
    for chains in [0, 10, workloads, workloads + 1] {
        let mut want = whole.clone();
        want["services"] = serde_json::json!([]);
        for (i, w) in want["workloads"].as_array_mut().expect("workloads").iter_mut().enumerate() {
            if i >= chains {
                for p in w["ports"].as_array_mut().expect("ports") {
                    p["chain"] = serde_json::json!([]);
                }
                w["chainsOmitted"] = serde_json::json!(true);
            }
        }
        let slim = serde_json::to_value(a.analyze_streamed_slim(chains)).expect("json");
        assert_eq!(slim, want, "chains {chains}");
    }
}

#[test]
fn reach_json_has_the_contract_fields() {
    let a = Analysis::new(&example(), &Options::default());
    let filter = ReachFilter {
        from: vec!["legacy/sleep".into()],
        to: vec!["httpbin.foo:8000".into()],
        ..ReachFilter::default()
    };
    let v = serde_json::to_value(a.reach(&filter)).expect("json");
    let calls = v["calls"].as_array().expect("calls");
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(c["from"], "legacy/sleep");
    assert_eq!(c["fromSidecar"], false);
    assert_eq!(c["to"], "httpbin.foo.svc.cluster.local:8000");
    assert_eq!(c["toWorkload"], "foo/httpbin");
    assert!(c["subset"].is_null());
    assert_eq!(c["clientTls"], "NONE");
    assert_eq!(c["clientTlsSource"], "no sidecar");
    assert_eq!(c["serverMode"], "STRICT");
    assert_eq!(c["ok"], false);
    assert_eq!(c["mtls"], false);
    assert!(c["symptom"].as_str().expect("symptom").contains("filter_chain_not_found"));
}

#[test]
fn explain_tells_the_story_and_rejects_unknowns() {
    let a = Analysis::new(&example(), &Options::default());
    let e = a.explain("bar/httpbin", Some(80)).expect("explain");
    let text = e.story.join("\n");
    assert!(text.contains("portLevelMtls[80]"), "{text}");
    assert!(text.contains("PERMISSIVE"), "{text}");
    assert!(a.explain("bar/nope", None).is_err());
    assert!(a.explain("bar/httpbin", Some(9999)).is_err());
}

#[test]
fn inbound_policy_feeds_the_filter() {
    let a = Analysis::new(&example(), &Options::default());
    let p = a.inbound_policy("bar/httpbin").expect("policy");
    assert_eq!(p.default_mode, Mode::Strict);
    assert_eq!(p.mode_for_port(80), Mode::Permissive);
    assert_eq!(p.mode_for_port(81), Mode::Strict);
    let plain = PeerFacts::default();
    assert_eq!(decide_inbound(&p, 81, &plain), Decision::Deny(DenyReason::Plaintext));
    assert!(decide_inbound(&p, 80, &plain).is_allow());
    let no_cert = PeerFacts { tls: true, ..PeerFacts::default() };
    assert_eq!(decide_inbound(&p, 81, &no_cert), Decision::Deny(DenyReason::NoClientCertificate));
    let good = PeerFacts { tls: true, mtls: true, uri_san: Some("spiffe://cluster.local/ns/foo/sa/sleep") };
    assert!(decide_inbound(&p, 81, &good).is_allow());
    let foreign = PeerFacts { tls: true, mtls: true, uri_san: Some("spiffe://evil.example/ns/foo/sa/sleep") };
    assert_eq!(decide_inbound(&p, 81, &foreign), Decision::Deny(DenyReason::UntrustedTrustDomain));
    let no_uri = PeerFacts { tls: true, mtls: true, uri_san: None };
    assert_eq!(decide_inbound(&p, 80, &no_uri), Decision::Deny(DenyReason::NoSpiffeId));
    let json = serde_json::to_string(&p).expect("serialize");
    let back: meshlock_core::enforce::InboundPolicy = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, p);
}

#[test]
fn outbound_policy_is_secure_naming() {
    let a = Analysis::new(&example(), &Options::default());
    // What bar/sleep's outbound filter is given toward httpbin.foo.
    let compiled = a.compile("bar/sleep").expect("compiles");
    let entries = compiled.outbound.expect("outbound part");
    let p = meshlock_core::compile::outbound_entry(&entries, "httpbin.foo", Some(8000)).expect("service");
    assert_eq!(p.identities, vec!["spiffe://cluster.local/ns/foo/sa/httpbin".to_owned()]);
    assert!(decide_outbound(p, Some("spiffe://cluster.local/ns/foo/sa/httpbin")).is_allow());
    assert!(!decide_outbound(p, Some("spiffe://cluster.local/ns/bar/sa/httpbin")).is_allow());
    assert!(!decide_outbound(p, None).is_allow());
}

#[test]
fn diff_lists_what_a_strict_switch_breaks() {
    let before = example();
    let mut after = example();
    // Redefine bar/httpbin's policy without its PERMISSIVE port-level exception (the later
    // definition of a resource wins, as `kubectl apply` would leave it).
    after.push(Source::new(
        "strict-bar.yaml",
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: httpbin, namespace: bar}\n\
         spec:\n  selector:\n    matchLabels: {app: httpbin}\n  mtls: {mode: STRICT}\n",
    ));
    let a = Analysis::new(&before, &Options::default());
    let b = Analysis::new(&after, &Options::default());
    assert!(b.diagnostics().iter().any(|d| d.code == Code::DuplicateResource));
    let d = meshlock_core::diff::diff(&a, &b, &ReachFilter::default());
    let breaks: Vec<(&str, &str)> = d
        .changes
        .iter()
        .filter(|c| c.change == meshlock_core::report::ChangeKind::Breaks)
        .map(|c| (c.from.as_str(), c.to_workload.as_str()))
        .collect();
    assert_eq!(breaks, vec![("legacy/httpbin", "bar/httpbin"), ("legacy/sleep", "bar/httpbin")]);
    assert!(d.changes.iter().all(|c| c.to_workload == "bar/httpbin"), "{:?}", d.changes);
    let encrypts = d.changes.iter().filter(|c| c.change == meshlock_core::report::ChangeKind::Encrypts).count();
    assert_eq!(encrypts, 0, "sidecar callers already used mTLS: {:?}", d.changes);
}

/// The summary diff of two meshes is the pair-by-pair comparison of their summaries: pairs
/// on one side only included, unchanged pairs left out, the most newly failing first.
#[test]
fn summary_diff_compares_every_namespace_pair() {
    use meshlock_core::reach::{ReachCounts, summarize};
    use std::collections::BTreeMap;
    let shape = meshlock_core::synth::MeshShape::new(60);
    let before = vec![Source::new("mesh.yaml", meshlock_core::synth::generate(&shape))];
    let mut after = before.clone();
    after.push(Source::new(
        "change.yaml",
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: ns1}\n\
         spec:\n  mtls: {mode: STRICT}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: extra, namespace: extra, labels: {app: extra}}\n\
         spec:\n  containers: [{name: app, image: app}]\n",
    ));
    let (a, b) = (Analysis::new(&before, &Options::default()), Analysis::new(&after, &Options::default()));
    let filter = ReachFilter::default();
    let mut want: BTreeMap<(String, String), (ReachCounts, ReachCounts)> = BTreeMap::new();
    for p in summarize(&a, &filter, 1).namespaces {
        want.entry((p.from, p.to)).or_default().0 = p.counts;
    }
    for p in summarize(&b, &filter, 1).namespaces {
        want.entry((p.from, p.to)).or_default().1 = p.counts;
    }
    want.retain(|_, (x, y)| x != y);
    let d = meshlock_core::diff::diff_summary(&a, &b, &filter, 1);
    let got: BTreeMap<(String, String), (ReachCounts, ReachCounts)> =
        d.namespaces.iter().map(|c| ((c.from.clone(), c.to.clone()), (c.before, c.after))).collect();
    assert!(got.keys().any(|(from, _)| from == "extra"), "a pair only after the change: {got:?}");
    assert!(got.keys().any(|(_, to)| to == "ns1"), "pairs into the STRICT namespace: {got:?}");
    assert_eq!(got, want);
    let newly_failing =
        |c: &meshlock_core::diff::NamespacePairChange| c.after.failing as i128 - c.before.failing as i128;
    assert!(d.namespaces.windows(2).all(|w| newly_failing(&w[0]) >= newly_failing(&w[1])));
}

#[test]
fn version_knob_and_alpha_defaults() {
    let alpha = Source::new(
        "mp.yaml",
        "apiVersion: authentication.istio.io/v1alpha1\nkind: MeshPolicy\nmetadata: {name: default}\nspec:\n  peers:\n  - mtls: {}\n",
    );
    let a = Analysis::new(std::slice::from_ref(&alpha), &Options::default());
    assert_eq!(a.version(), IstioVersion::V1_5);
    assert!(a.diagnostics().iter().any(|d| d.code == Code::AlphaReadAs15));
    let b = Analysis::new(&[alpha], &Options { istio_version: Some(IstioVersion::new(1, 9)), ..Options::default() });
    assert!(b.diagnostics().iter().any(|d| d.code == Code::AlphaIgnored));
}

#[test]
fn convert_writes_peer_authentications() {
    let src = Source::new(
        "alpha.yaml",
        "apiVersion: authentication.istio.io/v1alpha1\nkind: MeshPolicy\nmetadata: {name: default}\nspec:\n  peers:\n  - mtls: {}\n---\n\
         apiVersion: authentication.istio.io/v1alpha1\nkind: Policy\nmetadata: {name: httpbin, namespace: foo}\nspec:\n  targets:\n  - name: httpbin\n    ports:\n    - number: 8000\n  peers:\n  - mtls: {mode: PERMISSIVE}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {name: httpbin, namespace: foo}\nspec:\n  selector: {app: httpbin}\n  ports:\n  - {name: http, port: 8000, targetPort: 80}\n",
    );
    let out = meshlock_core::convert::convert(&[src]);
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    // The blog's example: service httpbin 8000->80 becomes portLevelMtls {80: PERMISSIVE}.
    let back = Analysis::new(&[Source::new("converted.yaml", out.yaml.clone())], &Options::default());
    let pas = &back.resources().peer_authentications;
    assert_eq!(pas.len(), 2, "{}", out.yaml);
    let mesh = pas.iter().find(|p| p.meta.namespace() == "istio-system").expect("mesh PA");
    assert_eq!(mesh.mode.to_string(), "STRICT");
    let wl = pas.iter().find(|p| p.meta.name() == "httpbin-httpbin").expect("target PA");
    assert_eq!(wl.selector.as_ref().map(|s| s.match_labels.get("app").cloned()), Some(Some("httpbin".to_owned())));
    assert_eq!(wl.port_level.get(&80).map(|p| p.mode.to_string()), Some("PERMISSIVE".to_owned()));
    assert_eq!(wl.mode.to_string(), "UNSET");
}

#[test]
fn every_code_is_documented() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/diagnostics.md")).expect("docs");
    for code in Code::ALL {
        let row = format!("| {} | {} | {} |", code.as_str(), code.severity(), code.title());
        assert!(doc.contains(&row), "docs/diagnostics.md lacks the row for {code}: {row}");
    }
}
