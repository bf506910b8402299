//! `plan` through the public API, checked from the outside: the inputs followed by steps 1..k,
//! read as one stream by the core, are the state after step k; no step breaks a call or loses
//! encryption (by `diff`, call by call); the final STRICT coverage is what the plan claims; and
//! on synthetic meshes, no further STRICT policy could be added to the final state without
//! breaking a call.

#![forbid(unsafe_code)]
#![expect(clippy::expect_used, reason = "test code: a failed expectation is a test failure")]

use meshlock_core::diff::diff;
use meshlock_core::plan::{Plan, PlanError, PlanOptions, coverage, plan, strict_ports};
use meshlock_core::reach::ReachFilter;
use meshlock_core::synth::{MeshShape, authorization_policies, generate};
use meshlock_core::{Analysis, IstioVersion, Options, Source};
use proptest::prelude::*;
use serde::Deserialize;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Counts of `diff` by change.
fn changes(before: &Analysis, after: &Analysis) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for c in diff(before, after, &ReachFilter::default()).changes {
        *out.entry(c.change.to_string()).or_insert(0) += 1;
    }
    out
}

/// Applies the plan's steps one by one as the stream `inputs, 01-…, 02-…` and checks each with
/// `diff`; returns the final state.
fn apply_and_check(name: &str, inputs: &[Source], options: &Options, p: &Plan) -> Analysis {
    let mut stream: Vec<Source> = inputs.to_vec();
    let mut before = Analysis::new(&stream, options);
    for step in &p.steps {
        stream.push(Source::new(step.file.clone(), step.yaml.clone()));
        let after = Analysis::new(&stream, options);
        let got = changes(&before, &after);
        assert_eq!(got.get("breaks"), None, "{name}: step {} breaks calls: {got:?}\n{}", step.file, step.yaml);
        assert_eq!(got.get("decrypts"), None, "{name}: step {} loses encryption: {got:?}", step.file);
        assert!(step.proof.holds(), "{name}: step {} carries a failing proof", step.file);
        let count = |k: &str| got.get(k).copied().unwrap_or(0) as u64;
        assert_eq!(step.proof.encrypts, count("encrypts"), "{name}: step {} encrypts", step.file);
        assert_eq!(step.proof.fixes, count("fixes"), "{name}: step {} fixes", step.file);
        before = after;
    }
    assert_eq!(coverage(&before), p.coverage.after, "{name}: the final coverage differs from the plan's claim");
    assert!(
        p.coverage.after.strict_ports >= p.coverage.before.strict_ports,
        "{name}: coverage went down: {:?}",
        p.coverage
    );
    before
}

fn read_dir_sources(dir: &Path) -> Vec<Source> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files.iter().map(|f| Source::new(f.display().to_string(), std::fs::read_to_string(f).expect("read"))).collect()
}

#[test]
fn the_example_plans_safely_and_as_claimed() {
    let sources = read_dir_sources(&root().join("examples/authn"));
    let a = Analysis::new(&sources, &Options::default());
    let p = plan(&a, &sources, &PlanOptions::default()).expect("plan");
    // The DestinationRule with a tls block and no mode is fixed first, then the mesh goes STRICT.
    let levels: Vec<&str> = p.steps.iter().map(|s| s.level.as_str()).collect();
    assert_eq!(levels, ["destination-rules", "mesh"], "{:#?}", p.steps);
    let last = apply_and_check("examples/authn", &sources, &Options::default(), &p);
    let strict = strict_ports(&last);
    assert!(strict.contains("foo/httpbin:80") && strict.contains("bar/sleep:*"), "{strict:?}");
    // bar/httpbin port 80 keeps PERMISSIVE: legacy's clients have no sidecar.
    assert!(!strict.contains("bar/httpbin:80"));
    let blocked = p.blocked.iter().find(|b| b.workload == "bar/httpbin").expect("bar/httpbin is blocked");
    assert_eq!(blocked.ports, vec![80]);
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Case {
    resources: String,
    #[serde(default)]
    istio_version: Option<String>,
}

/// Every corpus case (the seed scenarios among them: `*-seed*.yaml`) that can be planned.
#[test]
fn every_corpus_case_plans_safely_and_as_claimed() {
    let dir = root().join("tests/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).expect("corpus").map(|e| e.expect("entry").path()).collect();
    files.sort();
    let (mut planned, mut refused, mut seeds) = (0, 0, 0);
    for f in files.iter().filter(|p| p.extension().is_some_and(|e| e == "yaml")) {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let case: Case = serde_yaml::from_str(&std::fs::read_to_string(f).expect("read")).expect("case");
        let version = case.istio_version.as_deref().map(|v| v.parse::<IstioVersion>().expect("version"));
        let options = Options { istio_version: version, ..Options::default() };
        let sources = vec![Source::new("case.yaml", case.resources)];
        let a = Analysis::new(&sources, &options);
        match plan(&a, &sources, &PlanOptions::default()) {
            Ok(p) => {
                apply_and_check(&name, &sources, &options, &p);
                planned += 1;
                seeds += usize::from(name.contains("seed"));
            }
            Err(PlanError::ConvertFirst { .. }) => {
                // The step that comes first: convert, then plan with an Istio that reads the
                // PeerAuthentications it writes and no longer the v1alpha1 policies.
                let converted = meshlock_core::convert::convert(&sources);
                let mut stream = sources.clone();
                stream.push(Source::new("converted.yaml", converted.yaml));
                let options = Options { istio_version: Some(IstioVersion::V1_6), ..Options::default() };
                let a = Analysis::new(&stream, &options);
                let p = plan(&a, &stream, &PlanOptions::default()).expect("a plan after convert");
                apply_and_check(&name, &stream, &options, &p);
                refused += 1;
                seeds += usize::from(name.contains("seed"));
            }
            Err(PlanError::BeforePeerAuthentication(_) | PlanError::Unusable(_)) => {
                refused += 1;
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
    assert!(planned >= 40, "{planned} cases planned, {refused} refused");
    assert!(seeds >= 5, "the seed scenarios are planned: {seeds}");
}

/// A workload-level STRICT PeerAuthentication older than any other, for one workload.
fn strict_workload_policy(ns: &str, app: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: zz-probe\n  namespace: {ns}\n  \
         creationTimestamp: \"2000-01-01T00:00:00Z\"\nspec:\n  selector:\n    matchLabels:\n      app: {app}\n  mtls:\n    mode: STRICT\n"
    )
}

/// The namespace-wide policy STRICT, older than any other.
fn strict_namespace_policy(ns: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: aa-probe\n  namespace: {ns}\n  \
         creationTimestamp: \"2000-01-01T00:00:00Z\"\nspec:\n  mtls:\n    mode: STRICT\n"
    )
}

fn breaks_or_decrypts(before: &Analysis, after: &Analysis) -> bool {
    let c = changes(before, after);
    c.contains_key("breaks") || c.contains_key("decrypts")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn plans_of_synthetic_meshes_are_safe_and_maximal(
        services in 4usize..24,
        per_namespace in 2usize..6,
        seed in 1u64..1000,
        with_authz in any::<bool>(),
        ns_disable in any::<bool>(),
        legacy_client in proptest::bool::weighted(0.2),
        wildcard_disable in any::<bool>(),
        before_1_12 in any::<bool>(),
    ) {
        let shape = MeshShape { services, per_namespace, seed };
        let mut text = generate(&shape);
        if with_authz {
            text.push_str(&authorization_policies(&shape));
        }
        if ns_disable {
            text.push_str("---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: ns1\nspec:\n  mtls:\n    mode: DISABLE\n");
        }
        if wildcard_disable {
            text.push_str("---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: plain\n  namespace: ns0\nspec:\n  host: \"*.local\"\n  trafficPolicy:\n    tls:\n      mode: DISABLE\n");
        }
        if legacy_client {
            text.push_str("---\napiVersion: v1\nkind: Namespace\nmetadata: {name: legacy}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: old, namespace: legacy, labels: {app: old}}\nspec: {containers: [{name: app}]}\n");
        }
        let sources = vec![Source::new("mesh.yaml", text)];
        // Before 1.12 auto mTLS ignores a workload's own DISABLE (`mtls_checker.go`).
        let options = Options { istio_version: before_1_12.then(|| IstioVersion::new(1, 11)), ..Options::default() };
        let a = Analysis::new(&sources, &options);
        let p = plan(&a, &sources, &PlanOptions::default()).expect("plan");
        let last = apply_and_check("synthetic", &sources, &options, &p);
        // Maximal: every workload still below STRICT breaks a call (or loses encryption) under a
        // workload-level STRICT policy, and so does every namespace under a namespace-wide one
        // unless that would make no port STRICT.
        let mut stream = sources;
        for s in &p.steps {
            stream.push(Source::new(s.file.clone(), s.yaml.clone()));
        }
        let strict_now = strict_ports(&last);
        let mut namespaces = std::collections::BTreeSet::new();
        for b in p.blocked.iter().take(6) {
            let (ns, name) = b.workload.split_once('/').expect("ns/name");
            namespaces.insert(ns.to_owned());
            let mut probe = stream.clone();
            probe.push(Source::new("probe.yaml", strict_workload_policy(ns, name)));
            let after = Analysis::new(&probe, &options);
            let gained = strict_ports(&after).difference(&strict_now).count();
            prop_assert!(
                gained == 0 || breaks_or_decrypts(&last, &after),
                "{} could be STRICT without breaking a call", b.workload
            );
        }
        for ns in namespaces {
            let mut probe = stream.clone();
            probe.push(Source::new("probe.yaml", strict_namespace_policy(&ns)));
            let after = Analysis::new(&probe, &options);
            let gained = strict_ports(&after).difference(&strict_now).count();
            prop_assert!(
                gained == 0 || breaks_or_decrypts(&last, &after),
                "namespace {ns} could be STRICT without breaking a call"
            );
        }
    }
}
