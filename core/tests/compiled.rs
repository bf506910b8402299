//! The compiled policy (what the filter enforces) agrees with `reach` (what meshlock predicts)
//! on synthetic meshes: for every call into a sidecar, the compiled inbound decision for that
//! client and the compiled outbound secure-naming check against the server's real identity
//! together give reach's outcome — DestinationRule `subjectAltNames` and AuthorizationPolicies
//! (deny-all, source namespaces, principals, ports, request-only conditions) included.

#![forbid(unsafe_code)]
#![expect(clippy::expect_used, reason = "test code: a failed expectation is a test failure")]
#![expect(clippy::indexing_slicing, reason = "test code: a failed index is a test failure")]

use meshlock_core::compile::{CompiledPolicy, SCHEMA, outbound_entry};
use meshlock_core::enforce::{PeerFacts, decide_inbound, decide_outbound};
use meshlock_core::reach::ReachFilter;
use meshlock_core::report::{ClientTlsKind, ServerModeKind};
use meshlock_core::synth::{MeshShape, authorization_policies, generate};
use meshlock_core::{Analysis, Options, Source};
use proptest::prelude::*;
use std::collections::HashMap;
use std::fmt::Write as _;

/// ISTIO_MUTUAL DestinationRules with `subjectAltNames` for some services: the right identity,
/// a wrong one, or the right one for one port only.
fn san_rules(services: usize, every: usize, seed: u64) -> String {
    let mut s = String::new();
    for i in (0..services).step_by(every.max(1)) {
        let ns = i / 20;
        let right = format!("spiffe://cluster.local/ns/ns{ns}/sa/svc{i}");
        let wrong = format!("spiffe://cluster.local/ns/ns{ns}/sa/impostor");
        let (sans, port_level) = match (i as u64 + seed) % 3 {
            0 => (right.clone(), None),
            1 => (wrong.clone(), None),
            _ => (right.clone(), Some(wrong.clone())),
        };
        let _ = write!(
            s,
            "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: sans-svc{i}\n  namespace: ns{ns}\n\
             spec:\n  host: svc{i}.ns{ns}.svc.cluster.local\n  trafficPolicy:\n    tls:\n      mode: ISTIO_MUTUAL\n      subjectAltNames: [\"{sans}\"]\n"
        );
        if let Some(other) = port_level {
            let _ = write!(
                s,
                "    portLevelSettings:\n    - port: {{number: 9090}}\n      tls:\n        mode: ISTIO_MUTUAL\n        subjectAltNames: [\"{other}\"]\n"
            );
        }
    }
    s
}

fn check(services: usize, seed: u64, every: usize, expect_naming_failures: bool) {
    let shape = MeshShape { services, per_namespace: 20, seed };
    let text = format!("{}{}{}", generate(&shape), san_rules(services, every, seed), authorization_policies(&shape));
    let a = Analysis::new(&[Source::new("mesh.yaml", text)], &Options::default());
    assert_eq!(a.unreadable(), 0);
    let mut compiled: HashMap<String, CompiledPolicy> = HashMap::new();
    let mut checked = (0usize, 0usize, 0usize, 0usize);
    for call in a.reach(&ReachFilter::default()).calls {
        let sends_mtls = match call.client_tls {
            ClientTlsKind::IstioMutual => true,
            ClientTlsKind::None | ClientTlsKind::Disable => false,
            // Non-Istio TLS: what breaks it is ALPN and filter chains, not the filter's decision.
            ClientTlsKind::Simple | ClientTlsKind::Mutual => continue,
        };
        match call.server_mode {
            ServerModeKind::Strict | ServerModeKind::Permissive => {}
            // DISABLE still authorizes, a peer without identity; Istio TLS into it breaks on the
            // bytes, not on a decision.
            ServerModeKind::Disable if !sends_mtls => {}
            _ => continue,
        }
        for key in [&call.from, &call.to_workload] {
            if !compiled.contains_key(key) {
                compiled.insert(key.clone(), a.compile(key).expect("compiles"));
            }
        }
        let client = &compiled[&call.from];
        let server = &compiled[&call.to_workload];
        let peer = PeerFacts { tls: sends_mtls, mtls: sends_mtls, uri_san: Some(client.identity.as_str()) };
        let inbound = decide_inbound(server.inbound.as_ref().expect("inbound"), call.target_port, &peer);
        let (host, port) = call.to.rsplit_once(':').expect("host:port");
        let port: u16 = port.parse().expect("port");
        let outbound_ok = if sends_mtls {
            checked.1 += 1;
            let entries = client.outbound.as_deref().expect("outbound");
            let entry = outbound_entry(entries, host, Some(port)).expect("an entry for every mesh service");
            let ok = decide_outbound(entry, Some(server.identity.as_str())).is_allow();
            checked.2 += usize::from(!ok);
            ok
        } else {
            true
        };
        checked.0 += 1;
        checked.3 += usize::from(call.symptom.as_deref().is_some_and(|s| s.contains("rbac_access_denied")));
        assert_eq!(
            inbound.is_allow() && outbound_ok,
            call.outcome.ok(),
            "{} -> {} ({}): filter inbound {inbound}, secure naming ok {outbound_ok}; reach: {}",
            call.from,
            call.to,
            call.to_workload,
            call.explanation
        );
    }
    assert!(checked.0 > 0 && checked.1 > 0, "the mesh exercised both sides: {checked:?}");
    if expect_naming_failures {
        assert!(checked.2 > 0, "some calls fail secure naming: {checked:?}");
        assert!(checked.3 > 0, "some calls are denied by authorization: {checked:?}");
    }
}

#[test]
fn compiled_decisions_agree_with_reach_on_a_mesh_with_san_rules() {
    check(80, 1, 3, true);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn compiled_decisions_agree_with_reach(services in 20usize..70, seed in 1u64..1000, every in 2usize..7) {
        check(services, seed, every, false);
    }
}

#[test]
fn compiled_policies_round_trip_and_check_their_schema() {
    let a = Analysis::new(&[Source::new("m.yaml", generate(&MeshShape::new(40)))], &Options::default());
    let c = a.compile("ns0/svc0").expect("compiles");
    assert_eq!(c.schema, SCHEMA);
    let json = serde_json::to_vec(&c).expect("json");
    assert_eq!(CompiledPolicy::from_json(&json).expect("reads back"), c);
    // The inbound part of every workload, without the O(services) outbound part.
    let all = a.compile_inbound_all();
    assert_eq!(all.len(), 40);
    assert!(all.iter().all(|c| c.outbound.is_none() && c.inbound.is_some()));
}
