//! The YAML case corpus (tests/corpus/*.yaml): each case holds resources and what Istio does with
//! them — modes, precedence chains, call outcomes, diagnostics — with the Istio source of the
//! expectation. One test runs them all and reports every failing case, not just the first.

#![forbid(unsafe_code)]
#![expect(clippy::expect_used, reason = "test harness: a malformed case file is a test failure")]

use meshlock_core::reach::ReachFilter;
use meshlock_core::report::{Call, Effect, Outcome};
use meshlock_core::{Analysis, IstioVersion, Options, Source};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Case {
    name: String,
    /// Where Istio's behaviour comes from (file :: function, test name, doc URL).
    source: String,
    #[serde(default)]
    istio_version: Option<String>,
    resources: String,
    expect: Expect,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Expect {
    /// `ns/name` → port (or `*` for the workload level, `sidecar` for true/false) → mode.
    #[serde(default)]
    modes: BTreeMap<String, BTreeMap<String, String>>,
    /// `ns/name:port` → `level:effect` entries in order (`ignored` entries included).
    #[serde(default)]
    chains: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    calls: Vec<CallExpect>,
    /// Codes (optionally `CODE@line`, then optionally ` (from TEMPLATE)`, the Helm template the
    /// finding is attributed to) that must be reported.
    #[serde(default)]
    diagnostics: Vec<String>,
    /// Codes that must not be reported.
    #[serde(default)]
    no_diagnostics: Vec<String>,
    /// Trust domains sidecars accept.
    #[serde(default)]
    trust_domains: Option<Vec<String>>,
    /// Service host → identities it may present.
    #[serde(default)]
    identities: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CallExpect {
    from: String,
    /// `HOST:PORT`, HOST as `name.namespace`.
    to: String,
    #[serde(default)]
    to_workload: Option<String>,
    #[serde(default)]
    subset: Option<String>,
    ok: bool,
    #[serde(default)]
    mtls: Option<bool>,
    #[serde(default)]
    client_tls: Option<String>,
    #[serde(default)]
    server_mode: Option<String>,
    /// A substring of the symptom.
    #[serde(default)]
    symptom: Option<String>,
    /// A substring of the client TLS source.
    #[serde(default)]
    source: Option<String>,
    /// A substring of the one-sentence explanation.
    #[serde(default)]
    explanation: Option<String>,
    /// The SNI an Istio mTLS client sends.
    #[serde(default)]
    sni: Option<String>,
    /// The URI SANs an Istio mTLS client accepts.
    #[serde(default)]
    accepted_sans: Option<Vec<String>>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus")
}

fn short(to: &str) -> String {
    to.replace(".svc.cluster.local", "")
}

fn check(case: &Case, file: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let version = case.istio_version.as_ref().map(|v| v.parse::<IstioVersion>().expect("istioVersion"));
    let a = Analysis::new(
        &[Source::new(file, case.resources.clone())],
        &Options { istio_version: version, ..Options::default() },
    );
    let report = a.analyze();
    if let Some(v) = &case.expect.version
        && &a.version().to_string() != v
    {
        errs.push(format!("version: want {v}, got {}", a.version()));
    }
    for (wl, ports) in &case.expect.modes {
        let Some(w) = report.workloads.iter().find(|w| format!("{}/{}", w.namespace, w.name) == *wl) else {
            errs.push(format!("modes: no workload {wl}"));
            continue;
        };
        for (port, want) in ports {
            let got = match port.as_str() {
                "*" => w.mode.clone(),
                "sidecar" => w.sidecar.to_string(),
                p => match w.ports.iter().find(|x| x.port.to_string() == p) {
                    Some(x) => x.mode.clone(),
                    None => format!("<no port {p}; ports {:?}>", w.ports.iter().map(|x| x.port).collect::<Vec<_>>()),
                },
            };
            if &got != want {
                errs.push(format!("mode {wl}:{port}: want {want}, got {got}"));
            }
        }
    }
    for (key, want) in &case.expect.chains {
        let (wl, port) = key.rsplit_once(':').expect("chain key ns/name:port");
        let Some(w) = report.workloads.iter().find(|w| format!("{}/{}", w.namespace, w.name) == wl) else {
            errs.push(format!("chains: no workload {wl}"));
            continue;
        };
        let Some(p) = w.ports.iter().find(|x| x.port.to_string() == port) else {
            errs.push(format!("chains: {wl} has no port {port}"));
            continue;
        };
        let got: Vec<String> = p
            .chain
            .iter()
            .map(|e| {
                let effect = match e.effect {
                    Effect::Applied => "applied",
                    Effect::Overridden => "overridden",
                    Effect::Inherited => "inherited",
                    Effect::Ignored => "ignored",
                };
                format!("{}:{effect}", e.level)
            })
            .collect();
        if &got != want {
            errs.push(format!("chain {key}: want {want:?}, got {got:?}"));
        }
    }
    // The linear-time counts must equal counting the full listing, on every case of the corpus
    // (selector rules, exportTo, subsets, gateways, v1alpha1 included).
    let listed = a.reach(&ReachFilter::default()).calls;
    let mut want = meshlock_core::reach::ReachCounts::default();
    for c in &listed {
        want.total += 1;
        match c.outcome {
            Outcome::Fails => want.failing += 1,
            Outcome::Mtls => want.mtls += 1,
            Outcome::Plaintext => want.plaintext += 1,
        }
    }
    let counted = a.reach_counts(&ReachFilter::default());
    if counted != want {
        errs.push(format!("reach counts: listed {want:?}, counted {counted:?}"));
    }
    if !case.expect.calls.is_empty() {
        let calls = listed;
        for ce in &case.expect.calls {
            let matching: Vec<&Call> = calls
                .iter()
                .filter(|c| {
                    c.from == ce.from
                        && short(&c.to) == short(&ce.to)
                        && ce.to_workload.as_ref().is_none_or(|w| &c.to_workload == w)
                        && ce.subset == c.subset
                })
                .collect();
            if matching.is_empty() {
                errs.push(format!("call {} -> {} (subset {:?}): not found", ce.from, ce.to, ce.subset));
                continue;
            }
            for c in matching {
                let mut bad = Vec::new();
                if c.outcome.ok() != ce.ok {
                    bad.push(format!("ok want {} got {} ({})", ce.ok, c.outcome.ok(), c.explanation));
                }
                if ce.mtls.is_some_and(|m| m != c.outcome.mtls()) {
                    bad.push(format!("mtls got {}", c.outcome.mtls()));
                }
                if ce.client_tls.as_ref().is_some_and(|t| t != &c.client_tls.to_string()) {
                    bad.push(format!("clientTls got {} ({})", c.client_tls, c.client_tls_source));
                }
                if ce.server_mode.as_ref().is_some_and(|t| t != &c.server_mode.to_string()) {
                    bad.push(format!("serverMode got {}", c.server_mode));
                }
                if ce.symptom.as_ref().is_some_and(|s| !c.symptom.as_deref().unwrap_or("").contains(s.as_str())) {
                    bad.push(format!("symptom got {:?}", c.symptom));
                }
                if ce.source.as_ref().is_some_and(|s| !c.client_tls_source.to_string().contains(s.as_str())) {
                    bad.push(format!("source got {:?}", c.client_tls_source));
                }
                if ce.explanation.as_ref().is_some_and(|s| !c.explanation.contains(s.as_str())) {
                    bad.push(format!("explanation got {:?}", c.explanation));
                }
                let verifies = c.verifies.as_ref();
                if ce.sni.as_ref().is_some_and(|s| verifies.is_none_or(|v| &v.sni != s)) {
                    bad.push(format!("sni got {:?}", verifies.map(|v| &v.sni)));
                }
                if ce.accepted_sans.as_ref().is_some_and(|s| verifies.is_none_or(|v| &v.accepted_sans != s)) {
                    bad.push(format!("acceptedSans got {:?}", verifies.map(|v| &v.accepted_sans)));
                }
                if !bad.is_empty() {
                    errs.push(format!("call {} -> {} ({}): {}", ce.from, ce.to, c.to_workload, bad.join("; ")));
                }
            }
        }
    }
    let diags = a.diagnostics();
    for want in &case.expect.diagnostics {
        let (at, template) = match want.split_once(" (from ") {
            Some((at, t)) => (at, Some(t.trim_end_matches(')'))),
            None => (want.as_str(), None),
        };
        let (code, line) = match at.split_once('@') {
            Some((c, l)) => (c, Some(l.parse::<u32>().expect("CODE@line"))),
            None => (at, None),
        };
        if !diags.iter().any(|d| {
            d.code.as_str() == code
                && line.is_none_or(|l| d.line == l)
                && template.is_none_or(|t| d.template.as_deref() == Some(t))
        }) {
            let got: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
            errs.push(format!("diagnostic {want} missing; got {got:?}"));
        }
    }
    for code in &case.expect.no_diagnostics {
        if let Some(d) = diags.iter().find(|d| d.code.as_str() == code) {
            errs.push(format!("unexpected diagnostic {d}"));
        }
    }
    if let Some(tds) = &case.expect.trust_domains
        && a.trust_domains() != tds.as_slice()
    {
        errs.push(format!("trust domains: want {tds:?}, got {:?}", a.trust_domains()));
    }
    for (host, ids) in &case.expect.identities {
        match report.services.iter().find(|s| &s.host == host) {
            Some(s) if &s.identities == ids => {}
            Some(s) => errs.push(format!("identities of {host}: want {ids:?}, got {:?}", s.identities)),
            None => errs.push(format!("identities: no service {host}")),
        }
    }
    errs
}

#[test]
fn corpus() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let only = std::env::var("MESHLOCK_CASE").ok();
    let mut failures = Vec::new();
    let mut ran = 0usize;
    for f in &files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_owned();
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        ran += 1;
        let text = std::fs::read_to_string(f).expect("read case");
        let case: Case = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(!case.source.trim().is_empty(), "{}: every case cites its Istio source", f.display());
        let errs = check(&case, &name);
        if errs.is_empty() {
            println!("ok   {name}: {}", case.name);
        } else {
            println!("FAIL {name}: {}", case.name);
            for e in &errs {
                println!("     {e}");
            }
            failures.push(name);
        }
    }
    println!("corpus: {} passed, {} failed", ran - failures.len(), failures.len());
    if only.is_none() {
        assert!(files.len() >= 30, "the corpus should cover every rule; found {} cases", files.len());
    }
    assert!(failures.is_empty(), "failing corpus cases: {failures:?}");
}
