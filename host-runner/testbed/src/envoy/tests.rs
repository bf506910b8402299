use super::*;
use std::path::Path;

fn spec(proxy_protocol: bool) -> BootstrapSpec {
    let cfg_http = yaml_plugin_configuration("foo/httpbin", "kind: Namespace\n", Some("1.28"), FilterKind::Http);
    let cfg_net = yaml_plugin_configuration("foo/httpbin", "kind: Namespace\n", None, FilterKind::Network);
    BootstrapSpec {
        filter: PathBuf::from("/x/meshlock_filter.wasm"),
        plugin_config: BTreeMap::from([("http", cfg_http), ("network", cfg_net)]),
        listeners: vec![
            InboundListener { kind: FilterKind::Http, address: SocketAddr::from(([127, 0, 0, 1], 15006)) },
            InboundListener { kind: FilterKind::Network, address: SocketAddr::from(([127, 0, 0, 1], 15007)) },
        ],
        upstream: SocketAddr::from(([127, 0, 0, 1], 8080)),
        admin: SocketAddr::from(([127, 0, 0, 1], 15000)),
        certs: CertFiles::in_dir(Path::new("/c")),
        proxy_protocol,
        outbound: None,
    }
}

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    v.pointer(path).unwrap_or_else(|| panic!("no {path} in {v:#}"))
}

#[test]
fn yaml_plugin_configuration_is_the_documented_json() {
    let c: Value =
        serde_json::from_str(&yaml_plugin_configuration("foo/httpbin", "p", Some("1.5"), FilterKind::Network)).unwrap();
    assert_eq!(
        c,
        json!({"direction": "inbound", "workload": {"namespace": "foo", "name": "httpbin"}, "policies": "p",
               "log": "decisions", "kind": "network", "istioVersion": "1.5"})
    );
    let c: Value = serde_json::from_str(&yaml_plugin_configuration("a/b", "p", None, FilterKind::Http)).unwrap();
    assert!(c.get("istioVersion").is_none());
}

const MESH: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: httpbin, namespace: foo}\nspec:\n  template:\n    metadata: {labels: {app: httpbin}}\n    spec: {containers: [{name: app, ports: [{containerPort: 80}]}]}\n";

#[test]
fn plugin_configuration_carries_the_compiled_inbound_part_only() {
    let c: Value =
        serde_json::from_str(&plugin_configuration("foo/httpbin", MESH, None, FilterKind::Network).unwrap()).unwrap();
    assert_eq!(c["direction"], "inbound");
    assert_eq!(c["kind"], "network");
    assert_eq!(c["compiled"]["schema"], 1);
    assert_eq!(c["compiled"]["workload"], "foo/httpbin");
    assert!(c["compiled"].get("inbound").is_some());
    assert!(c["compiled"].get("outbound").is_none());
    assert!(c.get("policies").is_none());
    let out: Value = serde_json::from_str(
        &compiled_configuration("foo/httpbin", MESH, None, PluginDirection::Outbound, FilterKind::Http).unwrap(),
    )
    .unwrap();
    assert!(out["compiled"].get("inbound").is_none());
    let err = plugin_configuration("foo/nope", MESH, None, FilterKind::Http).unwrap_err();
    assert!(err.contains("foo/nope"), "{err}");
    let err = plugin_configuration("foo/httpbin", "kind: [unclosed", None, FilterKind::Http).unwrap_err();
    assert!(err.contains("could not be parsed"), "{err}");
}

#[test]
fn bootstrap_has_admin_on_loopback_tls_and_plaintext_chains() {
    let b = bootstrap(&spec(false));
    assert_eq!(at(&b, "/admin/address/socket_address/address"), "127.0.0.1");
    let l = at(&b, "/static_resources/listeners/0");
    assert_eq!(at(l, "/name"), "inbound_http");
    assert_eq!(at(l, "/address/socket_address/port_value"), 15006);
    assert_eq!(at(l, "/listener_filters").as_array().unwrap().len(), 1);
    assert_eq!(at(l, "/listener_filters/0/name"), "envoy.filters.listener.tls_inspector");
    assert_eq!(at(l, "/filter_chains/0/filter_chain_match/transport_protocol"), "tls");
    let tls = at(l, "/filter_chains/0/transport_socket/typed_config");
    assert_eq!(at(tls, "/require_client_certificate"), false);
    assert_eq!(at(tls, "/common_tls_context/validation_context/trusted_ca/filename"), "/c/ca.crt");
    assert_eq!(at(tls, "/common_tls_context/tls_certificates/0/certificate_chain/filename"), "/c/server.crt");
    assert_eq!(at(l, "/filter_chains/1/name"), "plaintext");
    assert!(at(l, "/filter_chains/1").get("transport_socket").is_none());
    assert_eq!(at(&b, "/static_resources/clusters/0/name"), "upstream");
    assert_eq!(
        at(
            &b,
            "/static_resources/clusters/0/load_assignment/endpoints/0/lb_endpoints/0/endpoint/address/socket_address/port_value"
        ),
        8080
    );
}

#[test]
fn wasm_filters_fail_closed_on_v8_with_their_own_vm() {
    let b = bootstrap(&spec(false));
    let http = at(&b, "/static_resources/listeners/0/filter_chains/0/filters/0/typed_config/http_filters/0");
    assert_eq!(at(http, "/name"), "envoy.filters.http.wasm");
    let cfg = at(http, "/typed_config/config");
    assert_eq!(at(cfg, "/failure_policy"), "FAIL_CLOSED");
    assert_eq!(at(cfg, "/root_id"), "meshlock_http");
    assert_eq!(at(cfg, "/vm_config/vm_id"), "meshlock_http");
    assert_eq!(at(cfg, "/vm_config/runtime"), "envoy.wasm.runtime.v8");
    assert_eq!(at(cfg, "/vm_config/code/local/filename"), "/x/meshlock_filter.wasm");
    let value: Value = serde_json::from_str(at(cfg, "/configuration/value").as_str().unwrap()).unwrap();
    assert_eq!(value["kind"], "http");
    let net = at(&b, "/static_resources/listeners/1/filter_chains/1/filters");
    assert_eq!(at(net, "/0/name"), "envoy.filters.network.wasm");
    assert_eq!(at(net, "/0/typed_config/config/vm_config/vm_id"), "meshlock_network");
    assert_eq!(at(net, "/0/typed_config/config/failure_policy"), "FAIL_CLOSED");
    assert_eq!(at(net, "/1/name"), "envoy.filters.network.tcp_proxy");
    let yaml = bootstrap_yaml(&spec(false)).unwrap();
    assert!(!yaml.contains("FAIL_OPEN") && !yaml.contains("fail_open"));
}

#[test]
fn proxy_protocol_comes_before_tls_inspector() {
    let b = bootstrap(&spec(true));
    let lf = at(&b, "/static_resources/listeners/1/listener_filters");
    assert_eq!(at(lf, "/0/name"), "envoy.filters.listener.proxy_protocol");
    assert_eq!(at(lf, "/1/name"), "envoy.filters.listener.tls_inspector");
}

#[test]
fn bootstrap_yaml_round_trips() {
    let yaml = bootstrap_yaml(&spec(true)).unwrap();
    let back: Value = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(back, bootstrap(&spec(true)));
}

#[test]
fn wasm_plugin_manifest() {
    let labels = BTreeMap::from([("app".to_owned(), "httpbin".to_owned())]);
    let cfg = yaml_plugin_configuration("foo/httpbin", "pol", None, FilterKind::Http);
    let yaml = wasm_plugin_yaml("foo/httpbin", &labels, &cfg, FilterKind::Http, None).unwrap();
    let m: Value = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(m["apiVersion"], "extensions.istio.io/v1alpha1");
    assert_eq!(m["kind"], "WasmPlugin");
    assert_eq!(m["metadata"], json!({"name": "meshlock-httpbin", "namespace": "foo"}));
    assert_eq!(m["spec"]["selector"]["matchLabels"], json!({"app": "httpbin"}));
    assert_eq!(m["spec"]["url"], WASM_PLUGIN_URL_PLACEHOLDER);
    assert_eq!(m["spec"]["failStrategy"], "FAIL_CLOSE");
    assert_eq!(m["spec"]["type"], "HTTP");
    assert_eq!(m["spec"]["pluginConfig"], serde_json::from_str::<Value>(&cfg).unwrap());
    let net = wasm_plugin_yaml("foo/httpbin", &labels, &cfg, FilterKind::Network, None).unwrap();
    assert!(net.contains("type: NETWORK"));
}

#[test]
fn wasm_plugin_refuses_a_non_json_configuration() {
    assert!(wasm_plugin_yaml("a/b", &BTreeMap::new(), "not json", FilterKind::Http, None).is_err());
}

#[test]
fn the_outbound_listener_originates_istio_mtls_per_route_and_loads_the_filter_outbound() {
    let mut s = spec(false);
    let route = |endpoint: &str, port: u16, tls: UpstreamTls| OutboundRoute {
        endpoint: endpoint.to_owned(),
        address: SocketAddr::from(([127, 0, 0, 1], port)),
        tls,
    };
    s.outbound = Some(OutboundListener {
        address: SocketAddr::from(([127, 0, 0, 1], 15001)),
        plugin_config: "{\"direction\":\"outbound\"}".to_owned(),
        client_cert: PathBuf::from("/c/client.crt"),
        client_key: PathBuf::from("/c/client.key"),
        routes: vec![
            route(
                "case-0",
                9000,
                UpstreamTls::IstioMutual { sni: "outbound_.8000_._.httpbin.bar.svc.cluster.local".into() },
            ),
            route("case-1", 9001, UpstreamTls::Plaintext),
        ],
    });
    let b = bootstrap(&s);
    let listener = at(&b, "/static_resources/listeners/2");
    assert_eq!(at(listener, "/name"), "outbound_http");
    assert!(listener.get("listener_filters").is_none(), "plaintext from the app: no TLS inspector");
    let hcm = at(listener, "/filter_chains/0/filters/0/typed_config");
    let route0 = at(hcm, "/route_config/virtual_hosts/0/routes/0");
    assert_eq!(at(route0, "/match/headers/0/name"), ENDPOINT_HEADER);
    assert_eq!(at(route0, "/match/headers/0/string_match/exact"), "case-0");
    assert_eq!(at(route0, "/route/cluster"), "outbound_case-0");
    let plugin = at(hcm, "/http_filters/0/typed_config/config");
    assert_eq!(at(plugin, "/root_id"), OUTBOUND_ROOT_ID);
    assert_eq!(at(plugin, "/vm_config/vm_id"), OUTBOUND_ROOT_ID);
    assert_eq!(at(plugin, "/configuration/value"), "{\"direction\":\"outbound\"}");
    assert_eq!(at(hcm, "/local_reply_config/mappers/0/filter/response_flag_filter/flags/0"), "UF");
    let clusters = at(&b, "/static_resources/clusters").as_array().unwrap();
    let mtls = clusters.iter().find(|c| c["name"] == "outbound_case-0").unwrap();
    let tls = at(mtls, "/transport_socket/typed_config");
    assert_eq!(at(tls, "/sni"), "outbound_.8000_._.httpbin.bar.svc.cluster.local");
    assert_eq!(at(tls, "/common_tls_context/alpn_protocols"), &json!(["istio-peer-exchange", "istio"]));
    assert_eq!(at(tls, "/common_tls_context/tls_certificates/0/certificate_chain/filename"), "/c/client.crt");
    assert_eq!(at(tls, "/common_tls_context/validation_context/trusted_ca/filename"), "/c/ca.crt");
    assert!(tls.pointer("/common_tls_context/validation_context/match_typed_subject_alt_names").is_none());
    let plain = clusters.iter().find(|c| c["name"] == "outbound_case-1").unwrap();
    assert!(plain.get("transport_socket").is_none());
    // ECDS delivers the inbound filters' configuration; the outbound filter keeps its own.
    let ecds = bootstrap_with_ecds(&s, Path::new("/e"));
    let outbound_plugin =
        ecds.pointer("/static_resources/listeners/2/filter_chains/0/filters/0/typed_config/http_filters/0");
    assert_eq!(at(outbound_plugin.unwrap(), "/typed_config/config/root_id"), OUTBOUND_ROOT_ID);
}
