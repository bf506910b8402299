//! Real Envoy 1.40 with the same filter `.wasm`: the bootstrap `meshlock envoy-config` prints
//! (and `meshlock test --target envoy` starts), the Istio `WasmPlugin` manifest, the Envoy child
//! process, and the suite runner that drives Envoy over real sockets.
//!
//! Configuration generation is pure (strings in, YAML out); [`process`] owns the child process;
//! [`client`] speaks the suite's client forms over TCP; [`runner`] ties them together.

pub mod client;
pub mod process;
pub mod runner;

use crate::datapath::FilterKind;
use crate::outbound::{ENDPOINT_HEADER, ISTIO_ALPN, UpstreamTls};
use meshlock_core::compile::plugin::{LogSetting, PluginConfig, WorkloadRef};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvoyError {
    #[error("cannot render YAML: {0}")]
    Yaml(String),
    #[error("Envoy not found: {0}")]
    NotFound(String),
    #[error("Envoy did not start: {0}")]
    Start(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    DataPath(#[from] crate::datapath::DataPathError),
    #[error("TLS client: {0}")]
    Tls(#[from] rustls::Error),
}

/// Certificate files the TLS filter chain reads (absolute paths are best: Envoy resolves
/// relative ones against its working directory).
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The mesh root the client certificate is validated against.
    pub ca: PathBuf,
    /// The workload's server certificate (its SPIFFE ID) and key.
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertFiles {
    /// `ca.crt`, `server.crt`, `server.key` in `dir`.
    pub fn in_dir(dir: &std::path::Path) -> Self {
        Self { ca: dir.join("ca.crt"), cert: dir.join("server.crt"), key: dir.join("server.key") }
    }
}

/// One inbound listener guarded by the filter loaded as `kind`.
#[derive(Debug, Clone, Copy)]
pub struct InboundListener {
    pub kind: FilterKind,
    pub address: SocketAddr,
}

/// The client side of the workload's sidecar, as Istio's outbound listener handles a call: the
/// app's plaintext HTTP comes in, a route per endpoint leads to a cluster that originates Istio
/// mTLS with the workload's certificate (or plaintext), and the filter loaded outbound checks
/// secure naming on the certificate the upstream really presented.
#[derive(Debug, Clone)]
pub struct OutboundListener {
    pub address: SocketAddr,
    /// The outbound plugin configuration (`direction: outbound`, HTTP filter).
    pub plugin_config: String,
    /// The workload's certificate and key, presented to every upstream reached over mTLS.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub routes: Vec<OutboundRoute>,
}

/// One endpoint behind the outbound listener.
#[derive(Debug, Clone)]
pub struct OutboundRoute {
    /// The `x-meshlock-endpoint` value that picks this route (several routes may serve the same
    /// authority); its cluster is `outbound_<endpoint>`.
    pub endpoint: String,
    pub address: SocketAddr,
    pub tls: UpstreamTls,
}

/// The root id (and vm id) of the filter loaded outbound: a VM of its own (P5).
pub const OUTBOUND_ROOT_ID: &str = "meshlock_outbound";

/// Everything a bootstrap is made of.
#[derive(Debug, Clone)]
pub struct BootstrapSpec {
    /// The filter module Envoy loads (V8).
    pub filter: PathBuf,
    /// The plugin configuration per filter kind (docs/filter-and-host.md; see [`plugin_configuration`]).
    pub plugin_config: BTreeMap<&'static str, String>,
    pub listeners: Vec<InboundListener>,
    pub upstream: SocketAddr,
    pub admin: SocketAddr,
    pub certs: CertFiles,
    /// Put a PROXY-protocol listener filter first: the test runner states the workload port a
    /// case targets in a PROXY header, so `destination.port` is the case's port (Istio gets it
    /// from the original destination of the iptables redirect instead).
    pub proxy_protocol: bool,
    /// The client side, when the bootstrap has one.
    pub outbound: Option<OutboundListener>,
}

/// The plugin configuration the shipped filter reads (docs/filter-and-host.md): the inbound
/// part of `workload`'s compiled policy (docs/compiled-policy.md), compiled here from
/// `policies`, so the proxy neither parses YAML nor analyses the mesh. The error is the core's
/// reason on one line (input that cannot be read, an unknown workload).
pub fn plugin_configuration(
    workload: &str,
    policies: &str,
    istio_version: Option<&str>,
    kind: FilterKind,
) -> Result<String, String> {
    compiled_configuration(workload, policies, istio_version, PluginDirection::Inbound, kind)
}

/// Which side of the proxy a filter instance guards (the plugin configuration's `direction`).
pub use meshlock_core::compile::plugin::Direction as PluginDirection;

/// [`plugin_configuration`] for either direction.
pub fn compiled_configuration(
    workload: &str,
    policies: &str,
    istio_version: Option<&str>,
    direction: PluginDirection,
    kind: FilterKind,
) -> Result<String, String> {
    Ok(plugin_configuration_of(&compile_policies(workload, policies, istio_version)?, direction, kind))
}

/// `workload`'s compiled policy from the mesh's YAML, as `meshlock compile` makes it; the error
/// is the core's reason on one line.
pub fn compile_policies(
    workload: &str,
    policies: &str,
    istio_version: Option<&str>,
) -> Result<meshlock_core::compile::CompiledPolicy, String> {
    use meshlock_core::{Analysis, IstioVersion, Options, Source};
    let istio_version =
        istio_version.map(str::parse::<IstioVersion>).transpose().map_err(|e| format!("istioVersion: {e}"))?;
    let analysis =
        Analysis::new(&[Source::new("policies", policies)], &Options { istio_version, ..Options::default() });
    analysis.usable().map_err(|e| format!("policies: {e}"))?;
    analysis.compile(workload).map_err(|e| e.to_string())
}

/// The plugin configuration around a compiled policy: the part for `direction`, the filter
/// kind, and per-decision logging.
pub fn plugin_configuration_of(
    compiled: &meshlock_core::compile::CompiledPolicy,
    direction: PluginDirection,
    kind: FilterKind,
) -> String {
    PluginConfig::compiled(compiled, direction, kind, LogSetting::Decisions).to_json()
}

/// The `policies` form, which only filters built with the `yaml-config` feature read: the
/// filter compiles the YAML itself in `on_configure` (seconds per VM for a large mesh).
pub fn yaml_plugin_configuration(
    workload: &str,
    policies: &str,
    istio_version: Option<&str>,
    kind: FilterKind,
) -> String {
    let (namespace, name) = workload.split_once('/').unwrap_or((workload, ""));
    let workload = WorkloadRef { namespace: namespace.to_owned(), name: name.to_owned() };
    PluginConfig::yaml(workload, policies.to_owned(), istio_version.map(str::to_owned), kind).to_json()
}

fn socket_address(a: SocketAddr) -> Value {
    json!({"socket_address": {"address": a.ip().to_string(), "port_value": a.port()}})
}

fn path_str(p: &std::path::Path) -> String {
    p.display().to_string()
}

/// The proxy-wasm filter's `config` (PluginConfig) for the filter loaded as `kind` (inbound).
fn wasm_plugin_config(spec: &BootstrapSpec, kind: FilterKind) -> Value {
    let configuration = spec.plugin_config.get(kind.as_str()).cloned().unwrap_or_default();
    wasm_plugin(&kind.root_id(), configuration, &spec.filter)
}

/// A proxy-wasm `config` (PluginConfig): V8, FAIL_CLOSED, its own `vm_id`.
fn wasm_plugin(id: &str, configuration: String, filter: &std::path::Path) -> Value {
    json!({
        "name": id,
        "root_id": id,
        // FAIL_CLOSED: a crashed VM answers 503 / closes connections until Envoy restarts.
        // FAIL_OPEN would pass all later traffic unfiltered: never use it (docs/envoy.md).
        "failure_policy": "FAIL_CLOSED",
        "configuration": {
            "@type": "type.googleapis.com/google.protobuf.StringValue",
            "value": configuration,
        },
        "vm_config": {
            // One VM per filter kind: a trap in one does not take the other down (P5).
            "vm_id": id,
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": path_str(filter)}},
        },
    })
}

/// An HTTP connection manager: every host, `routes`, the filter (`plugin`), then the router.
fn http_connection_manager(direction: &str, routes: Vec<Value>, plugin: Value) -> Value {
    json!({
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": format!("{direction}_http"),
            "route_config": {
                "name": direction,
                "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}],
            },
            "http_filters": [
                {
                    "name": "envoy.filters.http.wasm",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                        "config": plugin,
                    },
                },
                {
                    "name": "envoy.filters.http.router",
                    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
                },
            ],
        },
    })
}

fn network_filters(spec: &BootstrapSpec, kind: FilterKind) -> Value {
    match kind {
        FilterKind::Http => json!([http_connection_manager(
            "inbound",
            vec![json!({"match": {"prefix": "/"}, "route": {"cluster": "upstream"}})],
            wasm_plugin_config(spec, kind),
        )]),
        FilterKind::Network => json!([
            {
                "name": "envoy.filters.network.wasm",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm",
                    "config": wasm_plugin_config(spec, kind),
                },
            },
            {
                "name": "envoy.filters.network.tcp_proxy",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                    "stat_prefix": "inbound_tcp",
                    "cluster": "upstream",
                },
            },
        ]),
    }
}

fn listener(spec: &BootstrapSpec, l: &InboundListener) -> Value {
    let mut listener_filters = Vec::new();
    if spec.proxy_protocol {
        listener_filters.push(json!({
            "name": "envoy.filters.listener.proxy_protocol",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol"},
        }));
    }
    listener_filters.push(json!({
        "name": "envoy.filters.listener.tls_inspector",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"},
    }));
    let filters = network_filters(spec, l.kind);
    json!({
        "name": format!("inbound_{}", l.kind.as_str()),
        "address": socket_address(l.address),
        "listener_filters": listener_filters,
        "filter_chains": [
            {
                "name": "tls",
                "filter_chain_match": {"transport_protocol": "tls"},
                "transport_socket": {
                    "name": "envoy.transport_sockets.tls",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                        // Requested and validated against the mesh root, not required: the
                        // filter decides STRICT / PERMISSIVE.
                        "require_client_certificate": false,
                        "common_tls_context": {
                            "tls_certificates": [{
                                "certificate_chain": {"filename": path_str(&spec.certs.cert)},
                                "private_key": {"filename": path_str(&spec.certs.key)},
                            }],
                            "validation_context": {"trusted_ca": {"filename": path_str(&spec.certs.ca)}},
                        },
                    },
                },
                "filters": &filters,
            },
            {"name": "plaintext", "filter_chain_match": {}, "filters": filters},
        ],
    })
}

/// The outbound listener: plaintext from the app on its address, one route per endpoint.
fn outbound_listener(spec: &BootstrapSpec, o: &OutboundListener) -> Value {
    let routes = o
        .routes
        .iter()
        .map(|r| {
            json!({
                "match": {"prefix": "/", "headers": [{"name": ENDPOINT_HEADER, "string_match": {"exact": r.endpoint}}]},
                "route": {"cluster": outbound_cluster_name(r)},
            })
        })
        .collect();
    let plugin = wasm_plugin(OUTBOUND_ROOT_ID, o.plugin_config.clone(), &spec.filter);
    let mut hcm = http_connection_manager("outbound", routes, plugin);
    // Envoy 1.40 keeps the transport failure reason (a chain that failed verification:
    // `CERTIFICATE_VERIFY_FAILED`) out of its 503's body; for an upstream connection failure
    // (`UF`) the body gets it back, in the wording Istio's sidecars show the app.
    if let Some(c) = hcm.pointer_mut("/typed_config").and_then(Value::as_object_mut) {
        c.insert(
            "local_reply_config".to_owned(),
            json!({"mappers": [{
                "filter": {"response_flag_filter": {"flags": ["UF"]}},
                "body_format_override": {"text_format_source": {
                    "inline_string": "%LOCAL_REPLY_BODY%, transport failure reason: %UPSTREAM_TRANSPORT_FAILURE_REASON%\n",
                }},
            }]}),
        );
    }
    json!({
        "name": "outbound_http",
        "address": socket_address(o.address),
        "filter_chains": [{"name": "plaintext", "filters": [hcm]}],
    })
}

fn outbound_cluster_name(r: &OutboundRoute) -> String {
    format!("outbound_{}", r.endpoint)
}

fn static_cluster(name: &str, address: SocketAddr) -> Value {
    json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket_address(address)}}]}],
        },
    })
}

/// A route's cluster. ISTIO_MUTUAL as Istio's client sidecar originates it: the workload's
/// certificate, the SNI and ALPN Istio sends, the chain verified against the mesh root and no
/// SAN matcher, because secure naming is the filter's, on the response.
fn outbound_cluster(spec: &BootstrapSpec, o: &OutboundListener, r: &OutboundRoute) -> Value {
    let mut cluster = static_cluster(&outbound_cluster_name(r), r.address);
    if let (UpstreamTls::IstioMutual { sni }, Some(c)) = (&r.tls, cluster.as_object_mut()) {
        let alpn: Vec<String> = ISTIO_ALPN.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect();
        c.insert(
            "transport_socket".to_owned(),
            json!({
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                    "sni": sni,
                    "common_tls_context": {
                        "alpn_protocols": alpn,
                        // Envoy's client default stops at TLS 1.2; Istio allows 1.3.
                        "tls_params": {
                            "tls_minimum_protocol_version": "TLSv1_2",
                            "tls_maximum_protocol_version": "TLSv1_3",
                        },
                        "tls_certificates": [{
                            "certificate_chain": {"filename": path_str(&o.client_cert)},
                            "private_key": {"filename": path_str(&o.client_key)},
                        }],
                        "validation_context": {"trusted_ca": {"filename": path_str(&spec.certs.ca)}},
                    },
                },
            }),
        );
    }
    cluster
}

/// Every listener of the bootstrap: the inbound ones, then the outbound one.
fn listeners(spec: &BootstrapSpec) -> Vec<Value> {
    let inbound = spec.listeners.iter().map(|l| listener(spec, l));
    inbound.chain(spec.outbound.iter().map(|o| outbound_listener(spec, o))).collect()
}

/// The bootstrap as a JSON value (what [`bootstrap_yaml`] prints).
pub fn bootstrap(spec: &BootstrapSpec) -> Value {
    let mut clusters = vec![static_cluster("upstream", spec.upstream)];
    if let Some(o) = &spec.outbound {
        clusters.extend(o.routes.iter().map(|r| outbound_cluster(spec, o, r)));
    }
    json!({
        "admin": {"address": socket_address(spec.admin)},
        "static_resources": {"listeners": listeners(spec), "clusters": clusters},
    })
}

/// The listeners as an LDS file (`version_info` + `resources`): what a file-based listener
/// update writes, for a bootstrap from [`bootstrap_with_lds_file`].
pub fn lds_file(spec: &BootstrapSpec, version: &str) -> Value {
    let resources: Vec<Value> = listeners(spec)
        .into_iter()
        .map(|mut v| {
            if let Some(o) = v.as_object_mut() {
                o.insert("@type".to_owned(), Value::from("type.googleapis.com/envoy.config.listener.v3.Listener"));
            }
            v
        })
        .collect();
    json!({"version_info": version, "resources": resources})
}

/// The bootstrap with its listeners read from `lds_path` instead of static ones. Envoy watches
/// the file's directory: renaming a new file over `lds_path` is an atomic listener update.
pub fn bootstrap_with_lds_file(spec: &BootstrapSpec, lds_path: &std::path::Path) -> Value {
    let mut b = bootstrap(spec);
    if let Some(o) = b.as_object_mut() {
        if let Some(s) = o.get_mut("static_resources").and_then(Value::as_object_mut) {
            s.remove("listeners");
        }
        let dir = lds_path.parent().map(path_str).unwrap_or_else(|| ".".to_owned());
        // Envoy refuses dynamic resources without a node identity.
        o.insert("node".to_owned(), json!({"id": "meshlock", "cluster": "meshlock"}));
        o.insert(
            "dynamic_resources".to_owned(),
            json!({"lds_config": {
                "resource_api_version": "V3",
                "path_config_source": {"path": path_str(lds_path), "watched_directory": {"path": dir}},
            }}),
        );
    }
    b
}

/// Where the ECDS file of the filter loaded as `kind` lives in `dir`.
pub fn ecds_path(dir: &std::path::Path, kind: FilterKind) -> PathBuf {
    dir.join(format!("{}.yaml", kind.root_id()))
}

/// The ECDS resource file for the filter loaded as `kind`: its whole Wasm filter
/// configuration (the plugin configuration included) as a `TypedExtensionConfig` named after
/// the filter. Renaming a new file over the watched one is an update.
pub fn ecds_file(spec: &BootstrapSpec, kind: FilterKind, version: &str) -> Value {
    let type_url = match kind {
        FilterKind::Http => "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
        FilterKind::Network => "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm",
    };
    json!({"version_info": version, "resources": [{
        "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
        "name": kind.root_id(),
        "typed_config": {"@type": type_url, "config": wasm_plugin_config(spec, kind)},
    }]})
}

/// The bootstrap with the meshlock filters' configuration delivered by ECDS from files in
/// `dir` ([`ecds_file`]), the way Istio delivers WasmPlugins. An update reaches the next
/// instantiation of the filter: for the HTTP filter the next request, on connections already
/// open too; for the network filter, the next connection (a connection keeps the filter it
/// was accepted with). Until its file is read, the listener is warming and accepts nothing.
pub fn bootstrap_with_ecds(spec: &BootstrapSpec, dir: &std::path::Path) -> Value {
    let mut b = bootstrap(spec);
    let source = |kind: FilterKind, type_url: &str| {
        json!({
            "name": kind.root_id(),
            "config_discovery": {
                "config_source": {
                    "resource_api_version": "V3",
                    "path_config_source": {
                        "path": path_str(&ecds_path(dir, kind)),
                        "watched_directory": {"path": path_str(dir)},
                    },
                },
                "type_urls": [type_url],
            },
        })
    };
    let listeners = b.pointer_mut("/static_resources/listeners").and_then(Value::as_array_mut);
    for chain in listeners
        .into_iter()
        .flatten()
        .filter_map(|l| l.get_mut("filter_chains"))
        .filter_map(Value::as_array_mut)
        .flatten()
    {
        for filter in chain.get_mut("filters").and_then(Value::as_array_mut).into_iter().flatten() {
            if filter.get("name").and_then(Value::as_str) == Some("envoy.filters.network.wasm") {
                *filter =
                    source(FilterKind::Network, "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm");
            }
            let http = filter.pointer_mut("/typed_config/http_filters").and_then(Value::as_array_mut);
            for hf in http.into_iter().flatten() {
                // The inbound HTTP filter only: the outbound one keeps its own configuration.
                let root_id = hf.pointer("/typed_config/config/root_id").and_then(Value::as_str);
                if hf.get("name").and_then(Value::as_str) == Some("envoy.filters.http.wasm")
                    && root_id == Some(FilterKind::Http.root_id().as_str())
                {
                    *hf = source(FilterKind::Http, "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm");
                }
            }
        }
    }
    if let Some(o) = b.as_object_mut() {
        // Envoy refuses dynamic resources without a node identity.
        o.insert("node".to_owned(), json!({"id": "meshlock", "cluster": "meshlock"}));
    }
    b
}

/// The bootstrap YAML.
pub fn bootstrap_yaml(spec: &BootstrapSpec) -> Result<String, EnvoyError> {
    let header = "# Envoy 1.40 bootstrap generated by `meshlock envoy-config`: the meshlock proxy-wasm filter\n\
                  # (V8, FAIL_CLOSED) guards the inbound listener(s) and, loaded outbound, the outbound one when\n\
                  # there is one. Check: envoy --mode validate -c FILE\n";
    let body = serde_yaml::to_string(&bootstrap(spec)).map_err(|e| EnvoyError::Yaml(e.to_string()))?;
    Ok(format!("{header}{body}"))
}

/// Where the WasmPlugin's `url` points: a placeholder the operator replaces with the OCI image
/// (or `https://…/meshlock_filter.wasm` with `sha256`) holding `meshlock_filter.wasm`.
pub const WASM_PLUGIN_URL_PLACEHOLDER: &str = "oci://REGISTRY/meshlock-filter:VERSION";

/// The Istio `WasmPlugin` (extensions.istio.io/v1alpha1) delivering the filter to the
/// workload's sidecars: `pluginConfig` is the same plugin configuration, the selector the
/// workload's pod labels.
/// A published filter image: the WasmPlugin's `url` and `sha256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginImage {
    /// `oci://HOST/REPO:TAG`.
    pub url: String,
    /// The image's manifest digest, hex: for an `oci://` URL Istio's agent compares `sha256`
    /// with the manifest digest, not with the module's.
    pub sha256: String,
}

pub fn wasm_plugin_yaml(
    workload: &str,
    labels: &BTreeMap<String, String>,
    plugin_config: &str,
    kind: FilterKind,
    image: Option<&PluginImage>,
) -> Result<String, EnvoyError> {
    let (namespace, name) = workload.split_once('/').unwrap_or((workload, ""));
    let config: Value = serde_json::from_str(plugin_config).map_err(|e| EnvoyError::Yaml(e.to_string()))?;
    let mut manifest = json!({
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": "WasmPlugin",
        "metadata": {"name": format!("meshlock-{name}"), "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": labels},
            "url": WASM_PLUGIN_URL_PLACEHOLDER,
            "imagePullPolicy": "IfNotPresent",
            "phase": "AUTHN",
            "type": match kind { FilterKind::Http => "HTTP", FilterKind::Network => "NETWORK" },
            "match": [{"mode": "SERVER"}],
            "failStrategy": "FAIL_CLOSE",
            "pluginName": kind.root_id(),
            "pluginConfig": config,
        },
    });
    let header = match image {
        Some(image) => {
            if let Some(spec) = manifest.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("url".to_owned(), Value::from(image.url.as_str()));
                spec.insert("sha256".to_owned(), Value::from(image.sha256.as_str()));
            }
            "# Istio WasmPlugin generated by `meshlock envoy-config --wasm-plugin --image`: `sha256` is the image's\n\
             # manifest digest (`meshlock oci digest`), which Istio's agent checks before loading the filter.\n\
             # failStrategy FAIL_CLOSE: never FAIL_OPEN (a crashed filter would let everything through).\n"
                .to_owned()
        }
        None => format!(
            "# Istio WasmPlugin generated by `meshlock envoy-config --wasm-plugin`. Replace `url` ({WASM_PLUGIN_URL_PLACEHOLDER})\n\
             # with where meshlock_filter.wasm is published (`meshlock oci push`, then --image), or https://… plus `sha256`.\n\
             # failStrategy FAIL_CLOSE: never FAIL_OPEN (a crashed filter would let everything through).\n"
        ),
    };
    let body = serde_yaml::to_string(&manifest).map_err(|e| EnvoyError::Yaml(e.to_string()))?;
    Ok(format!("{header}{body}"))
}

#[cfg(test)]
mod tests;
