//! Properties that must hold for any input: precedence is monotone (a less specific policy never
//! changes what a more specific one decided) and results do not depend on document order.

#![forbid(unsafe_code)]
#![expect(clippy::expect_used, reason = "test code: a failed expectation is a test failure")]

use meshlock_core::reach::ReachFilter;
use meshlock_core::report::{Effect, Level, Outcome};
use meshlock_core::synth::{MeshShape, authorization_policies, generate};
use meshlock_core::{Analysis, Options, Source};
use proptest::prelude::*;

const MODES: [&str; 4] = ["UNSET", "DISABLE", "PERMISSIVE", "STRICT"];

fn pa(ns: &str, name: &str, ts: &str, selector: bool, mode: &str, port_mode: Option<&str>) -> String {
    let mut s = format!(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: {name}\n  namespace: {ns}\n  creationTimestamp: \"{ts}\"\nspec:\n"
    );
    if selector {
        s.push_str("  selector:\n    matchLabels:\n      app: web\n");
    }
    s.push_str(&format!("  mtls:\n    mode: {mode}\n"));
    if let (true, Some(pm)) = (selector, port_mode) {
        s.push_str(&format!("  portLevelMtls:\n    80:\n      mode: {pm}\n"));
    }
    s
}

const WORKLOAD: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: foo, labels: {istio-injection: enabled}}\n---\n\
apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: foo, labels: {app: web}}\n\
spec: {containers: [{name: app, ports: [{containerPort: 80}, {containerPort: 90}]}]}\n";

/// (port, mode, level that decided it).
fn decisions(docs: &[String]) -> Vec<(u16, String, Level)> {
    let a = Analysis::new(&[Source::new("in.yaml", docs.join("---\n"))], &Options::default());
    let r = a.analyze();
    let w = r.workloads.iter().find(|w| w.name == "web").expect("web");
    w.ports
        .iter()
        .map(|p| {
            let level = p.chain.iter().find(|e| e.effect == Effect::Applied).map_or(Level::Default, |e| e.level);
            (p.port, p.mode.clone(), level)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_less_specific_policy_never_changes_a_more_specific_decision(
        ns_mode in proptest::option::of(0usize..4),
        wl_mode in proptest::option::of(0usize..4),
        port_mode in proptest::option::of(0usize..4),
        added_mode in 0usize..4,
        added_is_mesh in any::<bool>(),
        added_is_older in any::<bool>(),
    ) {
        let mut docs = vec![WORKLOAD.to_owned()];
        if let Some(m) = ns_mode {
            docs.push(pa("foo", "ns", "2022-01-01T00:00:00Z", false, MODES[m], None));
        }
        if let Some(m) = wl_mode {
            docs.push(pa("foo", "wl", "2022-01-01T00:00:00Z", true, MODES[m], port_mode.map(|p| MODES[p])));
        }
        let before = decisions(&docs);
        let ts = if added_is_older { "2000-01-01T00:00:00Z" } else { "2030-01-01T00:00:00Z" };
        let (ns, level) = if added_is_mesh { ("istio-system", Level::Mesh) } else { ("foo", Level::Namespace) };
        docs.push(pa(ns, "added", ts, false, MODES[added_mode], None));
        let after = decisions(&docs);
        for ((port, mode, decided_by), (port2, mode2, _)) in before.iter().zip(&after) {
            prop_assert_eq!(port, port2);
            if *decided_by > level {
                prop_assert_eq!(mode, mode2, "port {} decided at {:?} changed when a {:?} policy was added", port, decided_by, level);
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_document_order(seed in any::<u64>()) {
        let text = generate(&MeshShape { services: 24, per_namespace: 6, seed: 7 });
        let mut docs: Vec<&str> = text.split("---\n").filter(|d| !d.trim().is_empty()).collect();
        let canonical = summary(&docs.join("---\n"));
        // Fisher-Yates with a small LCG driven by the proptest seed.
        let mut state = seed | 1;
        for i in (1..docs.len()).rev() {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let j = usize::try_from(state >> 33).unwrap_or(0) % (i + 1);
            docs.swap(i, j);
        }
        prop_assert_eq!(canonical, summary(&docs.join("---\n")));
    }
}

/// Everything a user sees, with input positions and input order taken out.
fn summary(text: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let a = Analysis::new(&[Source::new("mesh.yaml", text.to_owned())], &Options::default());
    let r = a.analyze();
    let mut modes: Vec<String> = r
        .workloads
        .iter()
        .flat_map(|w| w.ports.iter().map(move |p| format!("{}/{}:{}={}", w.namespace, w.name, p.port, p.mode)))
        .collect();
    modes.sort();
    let mut calls: Vec<String> = a
        .reach(&ReachFilter::default())
        .calls
        .iter()
        .map(|c| {
            format!(
                "{}>{}>{}:{}:{}:{}:{}",
                c.from,
                c.to,
                c.to_workload,
                c.outcome.ok(),
                c.outcome.mtls(),
                c.client_tls,
                c.server_mode
            )
        })
        .collect();
    calls.sort();
    let mut diags: Vec<String> = r.diagnostics.iter().map(|d| format!("{} {:?}", d.code, d.resource)).collect();
    diags.sort();
    (modes, calls, diags)
}

fn listed_counts(a: &Analysis, filter: &ReachFilter) -> meshlock_core::reach::ReachCounts {
    let mut want = meshlock_core::reach::ReachCounts::default();
    meshlock_core::reach::for_each_call(a, filter, |c| {
        want.total += 1;
        match c.outcome {
            Outcome::Fails => want.failing += 1,
            Outcome::Mtls => want.mtls += 1,
            Outcome::Plaintext => want.plaintext += 1,
        }
    });
    want
}

/// Rules that split clients into classes: a label-selecting rule, an exportTo naming a
/// namespace, a private rule, and subsets routed by a VirtualService.
fn class_splitting_rules(services: usize, per_namespace: usize, seed: u64) -> String {
    let n = services.max(1) as u64;
    let svc = |i: u64| format!("svc{}", i % n);
    let ns = |i: u64| format!("ns{}", (i % n) / per_namespace.max(1) as u64);
    let fqdn = |i: u64| format!("{}.{}.svc.cluster.local", svc(i), ns(i));
    format!(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: sel, namespace: {n0}}}\n\
spec:\n  host: {f0}\n  workloadSelector: {{matchLabels: {{app: {s2}}}}}\n  trafficPolicy: {{tls: {{mode: DISABLE}}}}\n---\n\
apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: exp, namespace: {n5}}}\n\
spec:\n  host: {f1}\n  exportTo: [\".\", {n3}]\n  trafficPolicy: {{tls: {{mode: DISABLE}}}}\n---\n\
apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: subsets, namespace: {n3}}}\n\
spec:\n  host: {s3}\n  subsets:\n  - {{name: v1, labels: {{version: v1}}}}\n  - {{name: v2, labels: {{version: v2}}}}\n---\n\
apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: vs, namespace: {n3}}}\n\
spec:\n  hosts: [{s3}]\n  http:\n  - route:\n    - destination: {{host: {s3}, subset: v1}}\n    - destination: {{host: {s3}, subset: v9}}\n",
        n0 = ns(seed),
        n3 = ns(seed / 7 + 2),
        n5 = ns(seed / 3 + 5),
        f0 = fqdn(seed / 3 + 1),
        f1 = fqdn(seed / 3 + 5),
        s2 = svc(seed),
        s3 = svc(seed / 7 + 9),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// `reach_counts` (client classes, linear time) equals counting every listed call, with and
    /// without filters.
    #[test]
    fn reach_counts_equal_the_listing(services in 8usize..40, per_namespace in 1usize..6, seed in 1u64..1000, pick in 0usize..8) {
        let shape = MeshShape { services, per_namespace, seed };
        let text = format!(
            "{}---\n{}{}",
            generate(&shape),
            class_splitting_rules(services, per_namespace, seed),
            authorization_policies(&shape)
        );
        let a = Analysis::new(&[Source::new("mesh.yaml", text)], &Options::default());
        let keys: Vec<String> = a.analyze().workloads.iter().map(|w| format!("{}/{}", w.namespace, w.name)).collect();
        let some = keys.get(pick % keys.len().max(1)).cloned();
        let filters = [
            ReachFilter::default(),
            ReachFilter { from: some.iter().cloned().collect(), ..ReachFilter::default() },
            ReachFilter { to: vec![format!("svc{}.ns{}:80", pick, pick / per_namespace.max(1))], ..ReachFilter::default() },
            ReachFilter { to_workload: some, ..ReachFilter::default() },
            ReachFilter { namespaces: vec![format!("ns{}", pick % 3)], ..ReachFilter::default() },
        ];
        for f in &filters {
            prop_assert_eq!(a.reach_counts(f), listed_counts(&a, f), "filter {:?}", f);
        }
    }
}
