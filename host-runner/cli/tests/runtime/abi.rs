//! The proxy-wasm host against the real filter and against a hostile module.

use crate::support::{plugin_config, strict_policies, unknown, wasip1};
use meshlock_proxy_host::{Action, FilterModule, FilterVm, GuestLimits, HostError, PluginSettings, Properties};
use std::time::Duration;

fn props(port: i64) -> Properties {
    let mut p = Properties::new();
    p.set_int("destination.port", port).set_bool("connection.mtls", false);
    p
}

#[test]
fn a_refused_configuration_fails_closed_with_one_log_line() {
    for config in [
        "{not json".to_owned(),
        r#"{"direction":"inbound","workload":{"namespace":"foo","name":"nope"},"policies":""}"#.to_owned(),
        plugin_config("inbound", "http", "kind: [unclosed"),
    ] {
        let mut vm = wasip1().start(PluginSettings::new(config.clone(), "meshlock")).unwrap();
        assert!(!vm.configured(), "{config}");
        let errors: Vec<_> = vm.logs().iter().filter(|l| l.level >= 3).collect();
        assert_eq!(errors.len(), 1, "{:?}", vm.logs());
        assert!(
            errors[0].message.starts_with("meshlock: configuration refused: ") && !errors[0].message.contains('\n'),
            "{}",
            errors[0].message
        );
        // Envoy never creates streams after a refused configuration; neither does the host.
        assert!(matches!(vm.create_stream(props(80)), Err(HostError::NotConfigured)));
    }
}

#[test]
fn decisions_are_counted_by_verdict_and_reason() {
    let mut vm = wasip1()
        .start(PluginSettings::new(plugin_config("inbound", "network", &strict_policies()), "meshlock"))
        .unwrap();
    assert!(vm.configured());
    for (port, mtls, san) in
        [(80, false, None), (80, false, None), (80, true, Some("spiffe://cluster.local/ns/bar/sa/sleep"))]
    {
        let mut p = props(port);
        p.set_str("connection.tls_version", "TLSv1.3");
        p.set_bool("connection.mtls", mtls);
        if let Some(s) = san {
            p.set_str("connection.uri_san_peer_certificate", s);
        }
        let id = vm.create_stream(p).unwrap();
        vm.on_new_connection(id).unwrap();
        let action = vm.on_downstream_data(id, b"hello", false).unwrap();
        let state = vm.finish_stream(id, true).unwrap();
        assert_eq!(state.closed_downstream, !mtls);
        assert_eq!(action, if mtls { Action::Continue } else { Action::Pause });
    }
    let m = vm.metrics();
    assert_eq!(m.get("meshlock.decisions.deny.no_client_certificate"), Some(&2));
    assert_eq!(m.get("meshlock.decisions.allow.mtls_peer"), Some(&1));
    assert_eq!(vm.metric_kinds().get("meshlock.decisions.allow.mtls_peer"), Some(&"counter"));
    let decision_logs = vm.logs().iter().filter(|l| l.message.starts_with("meshlock: connection: ")).count();
    assert_eq!(decision_logs, 3);
}

/// The HTTP filter decides a connection's first request and reuses that verdict for the rest of
/// the connection (Envoy's `connection_id`, which the host answers with `connection.id`): the
/// peer cannot change on a connection. Another connection, or a request with no id, is decided
/// on its own properties.
#[test]
fn the_http_filter_keeps_one_verdict_per_connection() {
    for module in [wasip1(), unknown()] {
        let mut vm = module
            .start(PluginSettings::new(plugin_config("inbound", "http", &strict_policies()), "meshlock"))
            .unwrap();
        let mut peer = props(80);
        peer.set_bool("connection.mtls", true)
            .set_str("connection.tls_version", "TLSv1.3")
            .set_str("connection.uri_san_peer_certificate", "spiffe://cluster.local/ns/bar/sa/sleep");
        // Connection 7 with a peer, then connection 7 again with properties that alone would be
        // denied, connection 8 with those, and a request with no connection id.
        let cases = [
            (Some(7), true, Action::Continue),
            (Some(7), false, Action::Continue),
            (Some(8), false, Action::Pause),
            (None, false, Action::Pause),
        ];
        for (connection, with_peer, expected) in cases {
            let mut p = if with_peer { peer.clone() } else { props(80) };
            if let Some(c) = connection {
                p.set_int("connection.id", c);
            }
            let id = vm.create_stream(p).unwrap();
            let action = vm.on_request_headers(id, vec![(":path".into(), b"/".to_vec())], true).unwrap();
            vm.finish_stream(id, false).unwrap();
            assert_eq!(action, expected, "connection {connection:?}");
        }
        let m = vm.metrics();
        assert_eq!(m.get("meshlock.decisions.allow.mtls_peer"), Some(&2), "{m:?}");
        assert_eq!(m.get("meshlock.decisions.deny.plaintext"), Some(&2), "{m:?}");
    }
}

#[test]
fn absent_or_malformed_properties_deny_without_trapping() {
    let mut vm =
        wasip1().start(PluginSettings::new(plugin_config("inbound", "http", &strict_policies()), "meshlock")).unwrap();
    // No property at all, a 3-byte port, a port beyond u16, a non-UTF-8 SAN.
    let mut bad_port = Properties::new();
    bad_port.set("destination.port", vec![80u8, 0, 0]);
    let mut huge_port = Properties::new();
    huge_port.set_int("destination.port", 1 << 40);
    let mut bad_san = props(80);
    bad_san
        .set_bool("connection.mtls", true)
        .set_str("connection.tls_version", "TLSv1.3")
        .set("connection.uri_san_peer_certificate", vec![0xff, 0xfe]);
    for (p, reason) in [
        (Properties::new(), "no_destination_port"),
        (bad_port, "no_destination_port"),
        (huge_port, "no_destination_port"),
        (bad_san, "no_spiffe_id"),
    ] {
        let id = vm.create_stream(p).unwrap();
        let action = vm.on_request_headers(id, vec![(":path".into(), b"/".to_vec())], true).unwrap();
        let state = vm.finish_stream(id, false).unwrap();
        assert_eq!(action, Action::Pause);
        let reply = state.local_response.expect("a local reply");
        assert_eq!(reply.status, 403);
        assert!(reply.headers.contains(&("x-meshlock-deny".to_owned(), reason.to_owned())), "{reply:?}");
    }
    assert!(!vm.is_dead());
}

#[test]
fn outbound_checks_the_upstream_san_on_response_headers() {
    let mut vm =
        wasip1().start(PluginSettings::new(plugin_config("outbound", "http", &strict_policies()), "meshlock")).unwrap();
    assert!(vm.configured());
    // (the upstream's first URI SAN, whether the upstream spoke TLS, admitted)
    for (san, tls, allowed) in [
        (Some("spiffe://cluster.local/ns/foo/sa/httpbin"), true, true),
        (Some("spiffe://cluster.local/ns/foo/sa/impostor"), true, false),
        (None, true, false),
        // No TLS toward the upstream (DISABLE, or an endpoint without a sidecar): Istio does no
        // secure naming, and neither does the filter.
        (None, false, true),
    ] {
        let id = vm.create_stream(Properties::new()).unwrap();
        let a = vm
            .on_request_headers(
                id,
                vec![(":authority".into(), b"httpbin.foo:8000".to_vec()), (":path".into(), b"/".to_vec())],
                true,
            )
            .unwrap();
        assert_eq!(a, Action::Continue, "upstream properties exist only later (P6)");
        let upstream = &mut vm.stream_mut(id).unwrap().properties;
        if tls {
            upstream.set_str("upstream.tls_version", "TLSv1.3");
        }
        if let Some(s) = san {
            upstream.set_str("upstream.uri_san_peer_certificate", s);
        }
        let a = vm.on_response_headers(id, vec![(":status".into(), b"200".to_vec())], false).unwrap();
        let state = vm.finish_stream(id, false).unwrap();
        if allowed {
            assert_eq!(a, Action::Continue);
            assert!(state.local_response.is_none());
        } else {
            assert_eq!(a, Action::Pause);
            let r = state.local_response.unwrap();
            assert_eq!(r.status, 503);
            let body = String::from_utf8(r.body).unwrap();
            assert!(body.contains("httpbin.foo:8000"), "{body}");
        }
    }
    // Envoy's own 503 for an upstream whose chain failed verification also runs the response
    // path: no upstream answered (no `via_upstream`), so the filter neither judges nor counts it.
    let id = vm.create_stream(Properties::new()).unwrap();
    vm.on_request_headers(id, vec![(":authority".into(), b"httpbin.foo:8000".to_vec())], true).unwrap();
    vm.stream_mut(id).unwrap().properties.set_str(
        "response.code_details",
        "upstream_reset_before_response_started{remote_connection_failure|TLS_error:CERTIFICATE_VERIFY_FAILED}",
    );
    let a = vm.on_response_headers(id, vec![(":status".into(), b"503".to_vec())], false).unwrap();
    assert_eq!(a, Action::Continue);
    assert!(vm.finish_stream(id, false).unwrap().local_response.is_none());
    let m = vm.metrics();
    assert_eq!(m.get("meshlock.decisions.allow.secure_naming"), Some(&1));
    assert_eq!(m.get("meshlock.decisions.deny.secure_naming"), Some(&2));
    assert_eq!(m.get("meshlock.decisions.allow.plaintext_upstream"), Some(&1));
    assert_eq!(m.keys().filter(|k| k.starts_with("meshlock.decisions.")).count(), 3, "{m:?}");
}

/// A module that lies about its memory: the host must trap it, not read out of bounds.
const HOSTILE: &str = r#"
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $prop (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "destination\00port")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "malloc") (param i32) (result i32) (i32.const 0x7ffffff0))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    ;; a log message pointer far past the 64 KiB memory
    (drop (call $log (i32.const 2) (i32.const 0x100000) (i32.const 8)))
    (i32.const 1))
  (func (export "proxy_on_new_connection") (param i32) (result i32)
    ;; a property whose value the host must write through the bogus allocator
    (call $prop (i32.const 16) (i32.const 16) (i32.const 0) (i32.const 4)))
  (func (export "proxy_on_downstream_data") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_downstream_connection_close") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32))
)
"#;

#[test]
fn out_of_bounds_guest_pointers_trap_and_kill_the_vm() {
    let module = FilterModule::from_bytes(HOSTILE.as_bytes()).unwrap();
    let err = module.start(PluginSettings::new("{}", "meshlock")).unwrap_err();
    match err {
        HostError::Trap { call, message } => {
            assert_eq!(call, "proxy_on_configure");
            assert!(message.contains("out of bounds"), "{message}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    // Configures fine, then hands the host an allocator result past the end of memory.
    let wat = HOSTILE.replace("(drop (call $log (i32.const 2) (i32.const 0x100000) (i32.const 8)))", "");
    let (mut vm, id, err) = first_connection_fails(&FilterModule::from_bytes(wat.as_bytes()).unwrap());
    assert!(
        matches!(&err, HostError::Trap { call, message } if call == "proxy_on_new_connection" && message.contains("out of bounds")),
        "{err:?}"
    );
    assert!(vm.is_dead());
    assert!(matches!(vm.on_downstream_data(id, b"x", false), Err(HostError::Dead(_))));
    assert!(matches!(FilterModule::from_bytes(b"(module)"), Err(HostError::NotProxyWasm(_))));
}

/// Callbacks a module does not export are answered as a proxy-wasm host answers them (continue,
/// done) without a call into the VM; one exported with another signature is refused when the
/// module is instantiated.
#[test]
fn optional_callbacks_may_be_missing_but_not_mistyped() {
    let minimal = HOSTILE
        .replace("(drop (call $log (i32.const 2) (i32.const 0x100000) (i32.const 8)))", "")
        .replace(r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))"#, "")
        .replace(
            r#"(func (export "proxy_on_new_connection") (param i32) (result i32)
    ;; a property whose value the host must write through the bogus allocator
    (call $prop (i32.const 16) (i32.const 16) (i32.const 0) (i32.const 4)))"#,
            "",
        )
        .replace(r#"(func (export "proxy_on_downstream_connection_close") (param i32 i32))"#, "")
        .replace(r#"(func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))"#, "")
        .replace(r#"(func (export "proxy_on_log") (param i32))"#, "");
    for name in ["vm_start", "new_connection", "downstream_connection_close", "on_done", "on_log"] {
        assert!(!minimal.contains(name), "{name} is still exported");
    }
    let mut vm =
        FilterModule::from_bytes(minimal.as_bytes()).unwrap().start(PluginSettings::new("{}", "meshlock")).unwrap();
    assert!(vm.configured());
    let id = vm.create_stream(props(80)).unwrap();
    assert_eq!(vm.on_new_connection(id).unwrap(), Action::Continue);
    assert_eq!(vm.on_downstream_data(id, b"x", false).unwrap(), Action::Continue);
    vm.finish_stream(id, true).unwrap();
    assert!(!vm.is_dead());
    let mistyped = minimal.replace(
        r#"(func (export "proxy_on_delete") (param i32))"#,
        r#"(func (export "proxy_on_delete") (param i32)) (func (export "proxy_on_log") (param i32 i32))"#,
    );
    let refused = FilterModule::from_bytes(mistyped.as_bytes()).unwrap().start(PluginSettings::new("{}", "meshlock"));
    assert!(matches!(&refused, Err(HostError::NotProxyWasm(m)) if m.contains("proxy_on_log")), "{refused:?}");
}

/// A well-formed module whose connection callback never returns, or allocates until stopped.
fn runaway(body: &str) -> String {
    HOSTILE.replace("(drop (call $log (i32.const 2) (i32.const 0x100000) (i32.const 8)))", "").replace(
        "(call $prop (i32.const 16) (i32.const 16) (i32.const 0) (i32.const 4)))",
        &format!("{body} (i32.const 0))"),
    )
}

/// Starts `module` (it must configure), opens one connection and returns the error its first
/// callback ends with, beside the VM and the stream for what the test checks next.
fn first_connection_fails(module: &FilterModule) -> (FilterVm, u32, HostError) {
    let mut vm = module.start(PluginSettings::new("{}", "meshlock")).unwrap();
    assert!(vm.configured());
    let id = vm.create_stream(props(80)).unwrap();
    let err = vm.on_new_connection(id).unwrap_err();
    (vm, id, err)
}

const SMALL: GuestLimits =
    GuestLimits { callback: Duration::from_millis(50), start: Duration::from_secs(5), memory: 16 << 20 };

#[test]
fn a_guest_that_loops_is_interrupted_at_its_deadline_and_fails_closed() {
    let module = FilterModule::with_limits(runaway("(loop $spin (br $spin))").as_bytes(), SMALL).unwrap();
    let (mut vm, id, err) = first_connection_fails(&module);
    assert!(
        matches!(&err, HostError::Deadline { call, limit } if call == "proxy_on_new_connection" && *limit == SMALL.callback),
        "{err:?}"
    );
    assert!(vm.is_dead(), "a VM interrupted mid-callback is not trusted again");
    assert!(matches!(vm.on_downstream_data(id, b"x", false), Err(HostError::Dead(_))));
    // The thread is free: another instance, of this module and of the real filter, still serves.
    let again = module.start(PluginSettings::new("{}", "meshlock")).unwrap();
    assert!(again.configured());
    let mut filter = wasip1()
        .start(PluginSettings::new(plugin_config("inbound", "network", &strict_policies()), "meshlock"))
        .unwrap();
    let id = filter.create_stream(props(80)).unwrap();
    assert_eq!(filter.on_new_connection(id).unwrap(), Action::Continue);
}

#[test]
fn a_guest_that_allocates_without_end_traps_at_its_memory_limit() {
    let grow = "(loop $more (drop (memory.grow (i32.const 16))) (br $more))";
    let (vm, _, err) = first_connection_fails(&FilterModule::with_limits(runaway(grow).as_bytes(), SMALL).unwrap());
    assert!(
        matches!(&err, HostError::Trap { call, message } if call == "proxy_on_new_connection" && message.contains("memory")),
        "{err:?}"
    );
    assert!(vm.is_dead());
    // A start sequence that never ends is cut by the start deadline.
    let stuck = HOSTILE
        .replace("(drop (call $log (i32.const 2) (i32.const 0x100000) (i32.const 8)))", "(loop $spin (br $spin))");
    let limits = GuestLimits { start: Duration::from_millis(100), ..SMALL };
    let module = FilterModule::with_limits(stuck.as_bytes(), limits).unwrap();
    let err = module.start(PluginSettings::new("{}", "meshlock")).unwrap_err();
    assert!(matches!(&err, HostError::Deadline { call, .. } if call == "proxy_on_configure"), "{err:?}");
}
