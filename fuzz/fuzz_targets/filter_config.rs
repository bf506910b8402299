//! The filter's plugin configuration on arbitrary bytes, as `on_configure` gets them from Envoy:
//! `Guard::configure` must accept or refuse, never panic; an accepted guard must then decide
//! every peer on every port and every authority, and never admit plaintext on a STRICT port.

#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshlock_core::enforce::PeerFacts;
use meshlock_core::model::Mode;
use meshlock_filter::config::{Enforcement, Guard};

const SAN: &str = "spiffe://cluster.local/ns/bar/sa/sleep";

fuzz_target!(|data: &[u8]| {
    // The root id only matters when the configuration names no `kind`.
    let root_id = match data.first().map(|b| b % 3) {
        Some(0) => Some("meshlock_network"),
        Some(1) => Some("meshlock_http"),
        _ => None,
    };
    let Ok(guard) = Guard::configure(data, root_id) else {
        return;
    };
    let _ = guard.summary();
    let peers = [
        PeerFacts { tls: false, mtls: false, uri_san: None },
        PeerFacts { tls: true, mtls: false, uri_san: None },
        PeerFacts { tls: true, mtls: true, uri_san: None },
        PeerFacts { tls: true, mtls: true, uri_san: Some(SAN) },
        PeerFacts { tls: true, mtls: true, uri_san: Some("spiffe://evil.example/ns/bar/sa/sleep") },
    ];
    match &guard.enforcement {
        Enforcement::Inbound(policy) => {
            let ports = policy.port_modes.iter().map(|(p, _)| *p).chain([80, 8080, 9000, 0, u16::MAX]);
            for port in ports {
                for peer in &peers {
                    let verdict = guard.decide_inbound(Some(port), peer);
                    if policy.mode_for_port(port) == Mode::Strict && !peer.mtls {
                        assert!(!verdict.is_allow(), "STRICT port {port} admitted {peer:?}: {verdict:?}");
                    }
                    let _ = verdict.metric_name();
                }
                assert!(!guard.decide_inbound(None, &peers[3]).is_allow(), "no port must refuse");
            }
        }
        Enforcement::Outbound(policies) => {
            for p in policies {
                for authority in [p.host.clone(), format!("{}:80", p.host), format!("[{}]", p.host)] {
                    for san in [None, Some(SAN), p.identities.first().map(String::as_str)] {
                        let _ = guard.decide_outbound(Some(&authority), san).metric_name();
                    }
                }
            }
            assert!(!guard.decide_outbound(None, Some(SAN)).is_allow(), "no authority must refuse");
        }
    }
});
