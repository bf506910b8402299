//! One reader per kind. Each takes the resource's node and pushes a typed value into
//! [`Resources`]; problems become diagnostics, never panics.

use super::locate::Seg;
use super::read::{Ctx, p, parse_timestamp, pi};
use super::yaml::{Node, parse_embedded};
use crate::diagnostic::Code;
use crate::model::*;
use std::borrow::Cow;

/// What a document's `apiVersion` + `kind` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Namespace,
    Workload(WorkloadKind),
    Service,
    ServiceAccount,
    ConfigMap,
    IstioOperator,
    PeerAuthentication,
    AuthorizationPolicy,
    DestinationRule,
    VirtualService,
    ServiceEntry,
    Gateway,
    MeshPolicy,
    Policy,
    WorkloadEntry,
    /// `Endpoints` (v1) and `EndpointSlice` (discovery.k8s.io).
    Endpoints,
    EndpointSlice,
}

/// Resolves a kind, with whether its apiVersion group is one it was served in.
pub fn classify(api_version: &str, kind: &str) -> Option<(Kind, bool)> {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let (k, groups): (Kind, &[&str]) = match kind {
        "Namespace" => (Kind::Namespace, &[""]),
        "Pod" => (Kind::Workload(WorkloadKind::Pod), &[""]),
        "Deployment" => (Kind::Workload(WorkloadKind::Deployment), &["apps", "extensions"]),
        "StatefulSet" => (Kind::Workload(WorkloadKind::StatefulSet), &["apps"]),
        "DaemonSet" => (Kind::Workload(WorkloadKind::DaemonSet), &["apps", "extensions"]),
        "ReplicaSet" => (Kind::Workload(WorkloadKind::ReplicaSet), &["apps", "extensions"]),
        "Service" => (Kind::Service, &[""]),
        "ServiceAccount" => (Kind::ServiceAccount, &[""]),
        "ConfigMap" => (Kind::ConfigMap, &[""]),
        "IstioOperator" => (Kind::IstioOperator, &["install.istio.io"]),
        "PeerAuthentication" => (Kind::PeerAuthentication, &["security.istio.io"]),
        "AuthorizationPolicy" => (Kind::AuthorizationPolicy, &["security.istio.io"]),
        "DestinationRule" => (Kind::DestinationRule, &["networking.istio.io"]),
        "VirtualService" => (Kind::VirtualService, &["networking.istio.io"]),
        "ServiceEntry" => (Kind::ServiceEntry, &["networking.istio.io"]),
        "Gateway" => (Kind::Gateway, &["networking.istio.io"]),
        "MeshPolicy" => (Kind::MeshPolicy, &["authentication.istio.io"]),
        "Policy" => (Kind::Policy, &["authentication.istio.io"]),
        "WorkloadEntry" => (Kind::WorkloadEntry, &["networking.istio.io"]),
        "Endpoints" => (Kind::Endpoints, &[""]),
        "EndpointSlice" => (Kind::EndpointSlice, &["discovery.k8s.io"]),
        _ => return None,
    };
    Some((k, groups.contains(&group)))
}

pub fn read_meta(ctx: &mut Ctx<'_>, node: &Node<'_>, kind: &str, cluster_scoped: bool) -> Option<Meta> {
    let mpath = vec![Seg::Key(Cow::Borrowed("metadata"))];
    let md = node.get("metadata");
    ctx.map(md, &mpath);
    let name = ctx.scalar_string(md.and_then(|m| m.get("name")), &p(&mpath, "name")).filter(|n| !n.is_empty());
    let Some(name) = name else {
        ctx.report(Code::MissingField, format!("{kind} has no `metadata.name`; it is skipped"), &mpath);
        return None;
    };
    let namespace = if cluster_scoped {
        String::new()
    } else {
        ctx.scalar_string(md.and_then(|m| m.get("namespace")), &p(&mpath, "namespace"))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_owned())
    };
    let ts_path = p(&mpath, "creationTimestamp");
    let created = match ctx.scalar_string(md.and_then(|m| m.get("creationTimestamp")), &ts_path) {
        Some(ts) => {
            let parsed = parse_timestamp(&ts);
            if parsed.is_none() {
                let msg = format!("`metadata.creationTimestamp` `{ts}` is not an RFC 3339 time");
                ctx.report(Code::InvalidField, msg, &ts_path);
            }
            parsed
        }
        None => None,
    };
    let labels = ctx.labels(md.and_then(|m| m.get("labels")), &p(&mpath, "labels"));
    let annotations = ctx.annotations(md.and_then(|m| m.get("annotations")), &p(&mpath, "annotations"));
    let at = ctx.at(&[]);
    Some(Meta { id: ResourceId { kind: kind.to_owned(), namespace, name }, created, labels, annotations, at })
}

fn spec_path() -> Vec<Seg> {
    vec![Seg::Key(Cow::Borrowed("spec"))]
}

fn selector(ctx: &mut Ctx<'_>, node: Option<&Node<'_>>, path: &[Seg]) -> Option<Selector> {
    let map = ctx.map(node, path);
    // `selector: {}` or `selector: null` written explicitly: present but empty.
    let present = node.is_some();
    ctx.unknown_fields(node, path, &["matchLabels"]);
    let labels = ctx.labels(map.and(node.and_then(|n| n.get("matchLabels"))), &p(path, "matchLabels"));
    present.then_some(Selector { match_labels: labels })
}

const PA_MODES: &[(&str, DeclaredMode)] = &[
    ("UNSET", DeclaredMode::Unset),
    ("DISABLE", DeclaredMode::Disable),
    ("PERMISSIVE", DeclaredMode::Permissive),
    ("STRICT", DeclaredMode::Strict),
];

fn pa_mode(ctx: &mut Ctx<'_>, mtls: Option<&Node<'_>>, path: &[Seg]) -> DeclaredMode {
    ctx.map(mtls, path);
    ctx.unknown_fields(mtls, path, &["mode"]);
    ctx.enumerated(mtls.and_then(|m| m.get("mode")), &p(path, "mode"), PA_MODES).unwrap_or(DeclaredMode::Unset)
}

pub fn peer_authentication(ctx: &mut Ctx<'_>, meta: Meta, node: &Node<'_>) -> PeerAuthentication {
    let sp = spec_path();
    let spec = node.get("spec");
    ctx.map(spec, &sp);
    ctx.unknown_fields(spec, &sp, &["selector", "mtls", "portLevelMtls"]);
    let selector = selector(ctx, spec.and_then(|s| s.get("selector")), &p(&sp, "selector"));
    let mode = pa_mode(ctx, spec.and_then(|s| s.get("mtls")), &p(&sp, "mtls"));
    let plpath = p(&sp, "portLevelMtls");
    let pl_node = spec.and_then(|s| s.get("portLevelMtls"));
    let port_level_present = matches!(pl_node, Some(Node::Map(_)));
    let mut port_level = std::collections::BTreeMap::new();
    if let Some(entries) = ctx.map(pl_node, &plpath) {
        for (key, value) in entries {
            let epath = p(&plpath, key.clone().into_owned());
            let at = ctx.at(&epath);
            let port = key.trim().parse::<u32>().ok().filter(|n| (1..=65535).contains(n));
            let Some(port) = port else {
                let msg = format!("portLevelMtls key `{key}` is not a port in 1..65535; Istio's validation rejects it");
                ctx.report(Code::PortLevelInvalid, msg, &epath);
                continue;
            };
            let mode = pa_mode(ctx, Some(value), &epath);
            port_level.insert(port, PortMode { mode, at });
        }
    }
    PeerAuthentication { meta, selector, mode, port_level, port_level_present }
}

const TLS_MODES: &[(&str, TlsMode)] = &[
    ("DISABLE", TlsMode::Disable),
    ("SIMPLE", TlsMode::Simple),
    ("MUTUAL", TlsMode::Mutual),
    ("ISTIO_MUTUAL", TlsMode::IstioMutual),
];

fn client_tls(ctx: &mut Ctx<'_>, node: Option<&Node<'_>>, path: &[Seg]) -> Option<ClientTls> {
    let node = node?;
    if matches!(node, Node::Null) {
        return None;
    }
    ctx.map(Some(node), path);
    ctx.unknown_fields(
        Some(node),
        path,
        &[
            "mode",
            "clientCertificate",
            "privateKey",
            "caCertificates",
            "credentialName",
            "subjectAltNames",
            "sni",
            "insecureSkipVerify",
            "caCrl",
        ],
    );
    let mode_node = node.get("mode");
    let mode = ctx.enumerated(mode_node, &p(path, "mode"), TLS_MODES);
    let has = |k: &str| node.get(k).is_some_and(|v| !matches!(v, Node::Null));
    let sans = node.get("subjectAltNames").map(|n| ctx.strings(Some(n), &p(path, "subjectAltNames")));
    let insecure = ctx.bool(node.get("insecureSkipVerify"), &p(path, "insecureSkipVerify")).unwrap_or(false);
    Some(ClientTls {
        // An omitted mode is the enum's zero value: DISABLE (a classic 503).
        mode: mode.unwrap_or(TlsMode::Disable),
        mode_omitted: mode_node.is_none(),
        ca_certificates: has("caCertificates"),
        credential_name: has("credentialName"),
        credential_secret: node
            .get("credentialName")
            .and_then(|n| match n {
                Node::String(v) => Some(!v.is_empty() && !v.starts_with("configmap://") && v != "invalid://"),
                _ => None,
            })
            .unwrap_or(false),
        client_certificate: has("clientCertificate") && has("privateKey"),
        insecure_skip_verify: insecure,
        subject_alt_names: sans,
        sni: ctx.string(node.get("sni"), &p(path, "sni")).filter(|s| !s.is_empty()),
        at: ctx.at(path),
    })
}

fn traffic_policy(ctx: &mut Ctx<'_>, node: Option<&Node<'_>>, path: &[Seg]) -> Option<TrafficPolicy> {
    let node = node?;
    ctx.map(Some(node), path)?;
    let tls = client_tls(ctx, node.get("tls"), &p(path, "tls"));
    let lb = node.get("loadBalancer");
    let passthrough_lb =
        lb.and_then(|l| l.get("simple")).is_some_and(|s| matches!(s, Node::String(v) if v == "PASSTHROUGH"));
    let plpath = p(path, "portLevelSettings");
    let mut port_level = Vec::new();
    for (i, entry) in ctx.seq(node.get("portLevelSettings"), &plpath).iter().enumerate() {
        let epath = pi(&plpath, i);
        let port_node = entry.get("port");
        let number = ctx.port(port_node.and_then(|n| n.get("number")), &p(&p(&epath, "port"), "number"));
        let Some(number) = number else {
            ctx.report(Code::MissingField, "portLevelSettings entry without `port.number` is ignored", &epath);
            continue;
        };
        let tls = client_tls(ctx, entry.get("tls"), &p(&epath, "tls"));
        port_level.push(PortTrafficPolicy { port: u32::from(number), tls, at: ctx.at(&epath) });
    }
    Some(TrafficPolicy { tls, port_level, passthrough_lb })
}

pub fn destination_rule(ctx: &mut Ctx<'_>, meta: Meta, node: &Node<'_>) -> Option<DestinationRule> {
    let sp = spec_path();
    let spec = node.get("spec");
    ctx.map(spec, &sp);
    ctx.unknown_fields(spec, &sp, &["host", "trafficPolicy", "subsets", "exportTo", "workloadSelector"]);
    let hpath = p(&sp, "host");
    let Some(host) = ctx.scalar_string(spec.and_then(|s| s.get("host")), &hpath).filter(|h| !h.is_empty()) else {
        ctx.report(Code::MissingField, "DestinationRule has no `spec.host`; it is skipped", &sp);
        return None;
    };
    let host_at = ctx.at(&hpath);
    let export_to = ctx.strings(spec.and_then(|s| s.get("exportTo")), &p(&sp, "exportTo"));
    let ws = spec.and_then(|s| s.get("workloadSelector"));
    let workload_selector =
        ws.map(|w| ctx.labels(w.get("matchLabels"), &p(&p(&sp, "workloadSelector"), "matchLabels")));
    let top_policy = traffic_policy(ctx, spec.and_then(|s| s.get("trafficPolicy")), &p(&sp, "trafficPolicy"));
    let spath = p(&sp, "subsets");
    let mut subsets = Vec::new();
    for (i, s) in ctx.seq(spec.and_then(|s| s.get("subsets")), &spath).iter().enumerate() {
        let ipath = pi(&spath, i);
        let Some(name) = ctx.scalar_string(s.get("name"), &p(&ipath, "name")) else {
            ctx.report(Code::MissingField, "subset without `name` is ignored", &ipath);
            continue;
        };
        let labels = ctx.labels(s.get("labels"), &p(&ipath, "labels"));
        let tp = traffic_policy(ctx, s.get("trafficPolicy"), &p(&ipath, "trafficPolicy"));
        subsets.push(Subset { name, labels, traffic_policy: tp, at: ctx.at(&ipath) });
    }
    Some(DestinationRule { meta, host, host_at, export_to, workload_selector, traffic_policy: top_policy, subsets })
}

fn container_port_list(ctx: &mut Ctx<'_>, node: Option<&Node<'_>>, path: &[Seg]) -> Vec<ContainerPort> {
    let mut out = Vec::new();
    for (i, cp) in ctx.seq(node, path).iter().enumerate() {
        let ipath = pi(path, i);
        let Some(port) = ctx.port(cp.get("containerPort"), &p(&ipath, "containerPort")) else {
            continue;
        };
        let name = ctx.scalar_string(cp.get("name"), &p(&ipath, "name"));
        let protocol =
            ctx.scalar_string(cp.get("protocol"), &p(&ipath, "protocol")).unwrap_or_else(|| "TCP".to_owned());
        out.push(ContainerPort { port, name, protocol });
    }
    out
}

pub fn workload(ctx: &mut Ctx<'_>, meta: Meta, kind: WorkloadKind, node: &Node<'_>) -> Workload {
    let sp = spec_path();
    let spec = node.get("spec");
    ctx.map(spec, &sp);
    // A Pod is its own template; the controllers carry `spec.template`.
    let (tmeta, tspec, tpath) = if kind == WorkloadKind::Pod {
        (node.get("metadata"), spec, sp.clone())
    } else {
        let tp = p(&sp, "template");
        let t = spec.and_then(|s| s.get("template"));
        (t.and_then(|t| t.get("metadata")), t.and_then(|t| t.get("spec")), p(&tp, "spec"))
    };
    let (pod_labels, pod_annotations) = if kind == WorkloadKind::Pod {
        (meta.labels.clone(), meta.annotations.clone())
    } else {
        let mp = p(&p(&sp, "template"), "metadata");
        (
            ctx.labels(tmeta.and_then(|m| m.get("labels")), &p(&mp, "labels")),
            ctx.annotations(tmeta.and_then(|m| m.get("annotations")), &p(&mp, "annotations")),
        )
    };
    let sa = ctx
        .scalar_string(tspec.and_then(|s| s.get("serviceAccountName")), &p(&tpath, "serviceAccountName"))
        .or_else(|| ctx.scalar_string(tspec.and_then(|s| s.get("serviceAccount")), &p(&tpath, "serviceAccount")))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".to_owned());
    let host_network = ctx.bool(tspec.and_then(|s| s.get("hostNetwork")), &p(&tpath, "hostNetwork")).unwrap_or(false);
    let cpath = p(&tpath, "containers");
    let mut containers = Vec::new();
    let mut ports = Vec::new();
    let mut probes = Vec::new();
    for (i, c) in ctx.seq(tspec.and_then(|s| s.get("containers")), &cpath).iter().enumerate() {
        let ipath = pi(&cpath, i);
        let name = ctx.scalar_string(c.get("name"), &p(&ipath, "name")).unwrap_or_default();
        let is_proxy = name == "istio-proxy";
        containers.push(name);
        if is_proxy {
            // The sidecar's own ports (15090, 15021 …) are not application ports.
            continue;
        }
        ports.extend(container_port_list(ctx, c.get("ports"), &p(&ipath, "ports")));
        for (field, kind) in
            [("livenessProbe", "liveness"), ("readinessProbe", "readiness"), ("startupProbe", "startup")]
        {
            let Some(probe) = c.get(field) else { continue };
            let ppath = p(&ipath, field);
            for (handler, http) in [("httpGet", true), ("tcpSocket", false), ("grpc", false)] {
                if let Some(h) = probe.get(handler)
                    && let Some(port) = ctx.port_ref(h.get("port"), &p(&p(&ppath, handler), "port"))
                {
                    probes.push(Probe { kind, http, port });
                }
            }
        }
    }
    // initContainers with restartPolicy Always (native sidecars) may also be istio-proxy.
    for c in ctx.seq(tspec.and_then(|s| s.get("initContainers")), &p(&tpath, "initContainers")) {
        if let Some(Node::String(n)) = c.get("name")
            && n == "istio-proxy"
        {
            containers.push(n.clone().into_owned());
        }
    }
    let controller = controller_of(ctx, node);
    Workload {
        meta,
        kind,
        pod_labels,
        pod_annotations,
        service_account: sa,
        host_network,
        containers,
        ports,
        probes,
        controller,
        running_pods: RunningPods::default(),
        declared_sidecar: None,
        endpoint_of: Vec::new(),
    }
}

/// A WorkloadEntry's spec, or one of a ServiceEntry's `endpoints` (the same message).
fn entry_endpoint(ctx: &mut Ctx<'_>, node: &Node<'_>, path: &[Seg]) -> EntryEndpoint {
    ctx.map(Some(node), path);
    let address = ctx.scalar_string(node.get("address"), &p(path, "address")).unwrap_or_default();
    let labels = ctx.labels(node.get("labels"), &p(path, "labels"));
    let service_account = ctx.scalar_string(node.get("serviceAccount"), &p(path, "serviceAccount")).unwrap_or_default();
    let ppath = p(path, "ports");
    let mut ports = Vec::new();
    if let Some(entries) = ctx.map(node.get("ports"), &ppath) {
        for (name, value) in entries {
            if let Some(port) = ctx.port(Some(value), &p(&ppath, name.clone().into_owned())) {
                ports.push((name.clone().into_owned(), port));
            }
        }
    }
    EntryEndpoint { address, labels, service_account, ports, at: ctx.at(path) }
}

/// A WorkloadEntry, as a workload: its labels select it (Services and ServiceEntries in its
/// namespace), its serviceAccount is its identity, and whether it has a sidecar comes from the
/// entry itself.
pub fn workload_entry(ctx: &mut Ctx<'_>, meta: Meta, node: &Node<'_>) -> Workload {
    let sp = spec_path();
    let entry = match node.get("spec") {
        Some(spec) => entry_endpoint(ctx, spec, &sp),
        None => EntryEndpoint {
            address: String::new(),
            labels: Labels::new(),
            service_account: String::new(),
            ports: Vec::new(),
            at: ctx.at(&[]),
        },
    };
    let service_account =
        if entry.service_account.is_empty() { "default".to_owned() } else { entry.service_account.clone() };
    Workload {
        meta,
        kind: WorkloadKind::WorkloadEntry,
        pod_labels: entry.labels.clone(),
        pod_annotations: Labels::new(),
        service_account,
        host_network: false,
        containers: Vec::new(),
        ports: entry
            .ports
            .iter()
            .map(|(name, port)| ContainerPort { port: *port, name: Some(name.clone()), protocol: "TCP".to_owned() })
            .collect(),
        probes: Vec::new(),
        controller: None,
        running_pods: RunningPods::default(),
        declared_sidecar: Some(entry.sidecar()),
        endpoint_of: Vec::new(),
    }
}

/// What the EndpointSlice controller writes in [`super::outline::MANAGED_BY`] on the slices it
/// keeps for Services with selectors (`pkg/controller/endpointslice` in Kubernetes). Those list
/// the Service's pods, which meshlock reads as workloads; only the slices of a selector-less
/// Service (mirrored from its Endpoints, or written by hand) carry addresses nothing else gives.
const ENDPOINTSLICE_CONTROLLER: &str = "endpointslice-controller.k8s.io";

/// Why a slice of the EndpointSlice controller is not read.
pub const CONTROLLER_SLICE_SKIPPED: &str = "EndpointSlice of the EndpointSlice controller: it lists the pods of a \
     Service with a selector, which are read as workloads; skipped";

/// Whether an EndpointSlice with this `managed-by` label is the EndpointSlice controller's.
pub fn is_controller_slice(managed_by: Option<&str>) -> bool {
    managed_by == Some(ENDPOINTSLICE_CONTROLLER)
}

/// `Endpoints` (`subsets[].addresses[].ip`, `subsets[].ports`) or `EndpointSlice`
/// (`endpoints[].addresses`, `ports`, the Service named by the `kubernetes.io/service-name` label).
pub fn service_endpoint_list(
    ctx: &mut Ctx<'_>,
    meta: Meta,
    node: &Node<'_>,
    slice: bool,
) -> Option<ServiceEndpointList> {
    fn read_ports(ctx: &mut Ctx<'_>, list: Option<&Node<'_>>, path: &[Seg], ports: &mut Vec<(String, u16)>) {
        for (i, pn) in ctx.seq(list, path).iter().enumerate() {
            let ipath = pi(path, i);
            let name = ctx.scalar_string(pn.get("name"), &p(&ipath, "name")).unwrap_or_default();
            if let Some(port) = ctx.port(pn.get("port"), &p(&ipath, "port")) {
                ports.push((name, port));
            }
        }
    }
    let mut addresses = Vec::new();
    let mut ports = Vec::new();
    let service = if slice {
        let epath = vec![Seg::Key(Cow::Borrowed("endpoints"))];
        for (i, e) in ctx.seq(node.get("endpoints"), &epath).iter().enumerate() {
            addresses.extend(ctx.strings(e.get("addresses"), &p(&pi(&epath, i), "addresses")));
        }
        read_ports(ctx, node.get("ports"), &[Seg::Key(Cow::Borrowed("ports"))], &mut ports);
        let Some(service) = meta.labels.get("kubernetes.io/service-name").cloned() else {
            let msg = "EndpointSlice without the `kubernetes.io/service-name` label belongs to no Service; skipped";
            ctx.report(Code::MissingField, msg, &[Seg::Key(Cow::Borrowed("metadata"))]);
            return None;
        };
        service
    } else {
        let spath = vec![Seg::Key(Cow::Borrowed("subsets"))];
        for (i, sub) in ctx.seq(node.get("subsets"), &spath).iter().enumerate() {
            let ipath = pi(&spath, i);
            let apath = p(&ipath, "addresses");
            for (j, a) in ctx.seq(sub.get("addresses"), &apath).iter().enumerate() {
                if let Some(ip) = ctx.scalar_string(a.get("ip"), &p(&pi(&apath, j), "ip")) {
                    addresses.push(ip);
                }
            }
            read_ports(ctx, sub.get("ports"), &p(&ipath, "ports"), &mut ports);
        }
        meta.name().to_owned()
    };
    Some(ServiceEndpointList { meta, service, addresses, ports })
}

/// The owner reference marked `controller: true`, as (kind, name).
fn controller_of(ctx: &mut Ctx<'_>, node: &Node<'_>) -> Option<(String, String)> {
    let path = p(&[Seg::Key(Cow::Borrowed("metadata"))], "ownerReferences");
    let refs = ctx.seq(node.get("metadata").and_then(|m| m.get("ownerReferences")), &path);
    refs.iter().find_map(|r| {
        let is_controller = matches!(r.get("controller"), Some(Node::Bool(true)));
        match (is_controller, r.get("kind"), r.get("name")) {
            (true, Some(Node::String(k)), Some(Node::String(n))) => {
                Some((k.clone().into_owned(), n.clone().into_owned()))
            }
            _ => None,
        }
    })
}

/// A Service's `ports` (`port`, `targetPort`) or a ServiceEntry's (`number`, and `targetPort`:
/// the port on the endpoint, the host itself when there are no endpoints).
fn service_ports(ctx: &mut Ctx<'_>, node: Option<&Node<'_>>, path: &[Seg], entry: bool) -> Vec<ServicePort> {
    let mut out = Vec::new();
    let target_field = "targetPort";
    for (i, sp) in ctx.seq(node, path).iter().enumerate() {
        let ipath = pi(path, i);
        let port_field = if entry { "number" } else { "port" };
        let Some(port) = ctx.port(sp.get(port_field), &p(&ipath, port_field)) else {
            ctx.report(Code::MissingField, format!("port entry without `{port_field}` is ignored"), &ipath);
            continue;
        };
        let name = ctx.scalar_string(sp.get("name"), &p(&ipath, "name"));
        let target_port = ctx.port_ref(sp.get(target_field), &p(&ipath, target_field));
        let protocol =
            ctx.scalar_string(sp.get("protocol"), &p(&ipath, "protocol")).unwrap_or_else(|| "TCP".to_owned());
        out.push(ServicePort { name, port, target_port, protocol });
    }
    out
}

pub fn service(ctx: &mut Ctx<'_>, meta: Meta, node: &Node<'_>) -> Service {
    let sp = spec_path();
    let spec = node.get("spec");
    ctx.map(spec, &sp);
    let sel_node = spec.and_then(|s| s.get("selector"));
    let selector = sel_node.map(|n| ctx.labels(Some(n), &p(&sp, "selector"))).filter(|l| !l.is_empty());
    let ports = service_ports(ctx, spec.and_then(|s| s.get("ports")), &p(&sp, "ports"), false);
    let headless = matches!(spec.and_then(|s| s.get("clusterIP")), Some(Node::String(s)) if s == "None");
    Service { meta, selector, ports, headless }
}

pub fn service_entry(ctx: &mut Ctx<'_>, meta: Meta, node: &Node<'_>) -> ServiceEntry {
    let sp = spec_path();
    let spec = node.get("spec");
    ctx.map(spec, &sp);
    let hosts = ctx.strings(spec.and_then(|s| s.get("hosts")), &p(&sp, "hosts"));
    let ports = service_ports(ctx, spec.and_then(|s| s.get("ports")), &p(&sp, "ports"), true);
    let location = ctx
        .enumerated(
            spec.and_then(|s| s.get("location")),
            &p(&sp, "location"),
            &[("MESH_EXTERNAL", SeLocation::MeshExternal), ("MESH_INTERNAL", SeLocation::MeshInternal)],
        )
        .unwrap_or(SeLocation::MeshExternal);
    let subject_alt_names = ctx.strings(spec.and_then(|s| s.get("subjectAltNames")), &p(&sp, "subjectAltNames"));
    let ws = spec.and_then(|s| s.get("workloadSelector"));
    let workload_selector = ws.map(|w| ctx.labels(w.get("labels"), &p(&p(&sp, "workloadSelector"), "labels")));
    let export_to = ctx.strings(spec.and_then(|s| s.get("exportTo")), &p(&sp, "exportTo"));
    let epath = p(&sp, "endpoints");
    let endpoints = ctx
        .seq(spec.and_then(|s| s.get("endpoints")), &epath)
        .iter()
        .enumerate()
        .map(|(i, e)| entry_endpoint(ctx, e, &pi(&epath, i)))
        .collect();
    ServiceEntry { meta, hosts, ports, location, subject_alt_names, workload_selector, export_to, endpoints }
}

pub fn virtual_service(ctx: &mut Ctx<'_>, meta: Meta, node: &Node<'_>) -> VirtualService {
    let sp = spec_path();
    let spec = node.get("spec");
    ctx.map(spec, &sp);
    let hosts = ctx.strings(spec.and_then(|s| s.get("hosts")), &p(&sp, "hosts"));
    let gateways = ctx.strings(spec.and_then(|s| s.get("gateways")), &p(&sp, "gateways"));
    let mut destinations = Vec::new();
    for proto in ["http", "tcp", "tls"] {
        let rpath = p(&sp, proto);
        for (i, route) in ctx.seq(spec.and_then(|s| s.get(proto)), &rpath).iter().enumerate() {
            let ipath = pi(&rpath, i);
            let dpath = p(&ipath, "route");
            for (j, d) in ctx.seq(route.get("route"), &dpath).iter().enumerate() {
                let dest_path = p(&pi(&dpath, j), "destination");
                let dest = d.get("destination");
                let Some(host) = ctx.scalar_string(dest.and_then(|x| x.get("host")), &p(&dest_path, "host")) else {
                    continue;
                };
                let subset = ctx.scalar_string(dest.and_then(|x| x.get("subset")), &p(&dest_path, "subset"));
                let port = dest
                    .and_then(|x| x.get("port"))
                    .and_then(|pn| ctx.port(pn.get("number"), &p(&p(&dest_path, "port"), "number")));
                destinations.push(RouteDestination { host, subset, port });
            }
        }
    }
    VirtualService { meta, hosts, gateways, destinations }
}

const GW_MODES: &[(&str, GatewayTlsMode)] = &[
    ("PASSTHROUGH", GatewayTlsMode::Passthrough),
    ("SIMPLE", GatewayTlsMode::Simple),
    ("MUTUAL", GatewayTlsMode::Mutual),
    ("AUTO_PASSTHROUGH", GatewayTlsMode::AutoPassthrough),
    ("ISTIO_MUTUAL", GatewayTlsMode::IstioMutual),
    ("OPTIONAL_MUTUAL", GatewayTlsMode::OptionalMutual),
];

pub fn gateway(ctx: &mut Ctx<'_>, meta: Meta, node: &Node<'_>) -> Gateway {
    let sp = spec_path();
    let spec = node.get("spec");
    ctx.map(spec, &sp);
    let selector = ctx.labels(spec.and_then(|s| s.get("selector")), &p(&sp, "selector"));
    let spath = p(&sp, "servers");
    let mut servers = Vec::new();
    for (i, s) in ctx.seq(spec.and_then(|s| s.get("servers")), &spath).iter().enumerate() {
        let ipath = pi(&spath, i);
        let port_node = s.get("port");
        let ppath = p(&ipath, "port");
        let Some(port) = ctx.port(port_node.and_then(|n| n.get("number")), &p(&ppath, "number")) else {
            ctx.report(Code::MissingField, "Gateway server without `port.number` is ignored", &ipath);
            continue;
        };
        let port_name = ctx.scalar_string(port_node.and_then(|n| n.get("name")), &p(&ppath, "name"));
        let protocol = ctx
            .scalar_string(port_node.and_then(|n| n.get("protocol")), &p(&ppath, "protocol"))
            .unwrap_or_default()
            .to_ascii_uppercase();
        let hosts = ctx.strings(s.get("hosts"), &p(&ipath, "hosts"));
        let tls = s.get("tls").filter(|t| !matches!(t, Node::Null)).map(|t| {
            let tpath = p(&ipath, "tls");
            let mode =
                ctx.enumerated(t.get("mode"), &p(&tpath, "mode"), GW_MODES).unwrap_or(GatewayTlsMode::Passthrough);
            let has = |k: &str| t.get(k).is_some_and(|v| !matches!(v, Node::Null));
            let https_redirect = ctx.bool(t.get("httpsRedirect"), &p(&tpath, "httpsRedirect")).unwrap_or(false);
            GatewayTls {
                mode,
                https_redirect,
                has_credential: has("credentialName")
                    || has("credentialNames")
                    || (has("serverCertificate") && has("privateKey"))
                    || has("tlsCertificates"),
                has_ca: has("caCertificates") || has("credentialName") || has("credentialNames"),
                has_cert_fields: [
                    "serverCertificate",
                    "privateKey",
                    "caCertificates",
                    "tlsCertificates",
                    "credentialName",
                    "credentialNames",
                ]
                .iter()
                .any(|k| has(k)),
            }
        });
        servers.push(GatewayServer { port, port_name, protocol, hosts, tls, at: ctx.at(&ipath) });
    }
    Gateway { meta, selector, servers }
}

fn authz_source(ctx: &mut Ctx<'_>, node: &Node<'_>, path: &[Seg]) -> AuthzSource {
    let src = node.get("source");
    let spath = p(path, "source");
    let get = |k: &str| src.and_then(|s| s.get(k));
    let mut s = AuthzSource {
        principals: ctx.strings(get("principals"), &p(&spath, "principals")),
        not_principals: ctx.strings(get("notPrincipals"), &p(&spath, "notPrincipals")),
        namespaces: ctx.strings(get("namespaces"), &p(&spath, "namespaces")),
        not_namespaces: ctx.strings(get("notNamespaces"), &p(&spath, "notNamespaces")),
        other_fields: false,
    };
    if let Some(Node::Map(entries)) = src {
        s.other_fields = entries
            .iter()
            .any(|(k, _)| !["principals", "notPrincipals", "namespaces", "notNamespaces"].contains(&&**k));
    }
    s
}

pub fn authorization_policy(ctx: &mut Ctx<'_>, meta: Meta, node: &Node<'_>) -> AuthorizationPolicy {
    let sp = spec_path();
    let spec = node.get("spec");
    ctx.map(spec, &sp);
    let selector = selector(ctx, spec.and_then(|s| s.get("selector")), &p(&sp, "selector"));
    let action = ctx
        .enumerated(
            spec.and_then(|s| s.get("action")),
            &p(&sp, "action"),
            &[
                ("ALLOW", AuthzAction::Allow),
                ("DENY", AuthzAction::Deny),
                ("AUDIT", AuthzAction::Audit),
                ("CUSTOM", AuthzAction::Custom),
            ],
        )
        .unwrap_or(AuthzAction::Allow);
    let rpath = p(&sp, "rules");
    let rules_node = spec.and_then(|s| s.get("rules"));
    let rules = rules_node.map(|rn| {
        let mut rules = Vec::new();
        for (i, r) in ctx.seq(Some(rn), &rpath).iter().enumerate() {
            let ipath = pi(&rpath, i);
            let fpath = p(&ipath, "from");
            let from = ctx
                .seq(r.get("from"), &fpath)
                .iter()
                .enumerate()
                .map(|(j, f)| authz_source(ctx, f, &pi(&fpath, j)))
                .collect();
            let mut rule = AuthzRule { from, ..AuthzRule::default() };
            let tpath = p(&ipath, "to");
            for (j, t) in ctx.seq(r.get("to"), &tpath).iter().enumerate() {
                let op = t.get("operation");
                let opath = p(&pi(&tpath, j), "operation");
                for (field, into_not) in [("ports", false), ("notPorts", true)] {
                    for (k, port) in ctx.seq(op.and_then(|o| o.get(field)), &p(&opath, field)).iter().enumerate() {
                        if let Some(n) = ctx.port(Some(port), &pi(&p(&opath, field), k)) {
                            if into_not { rule.not_ports.push(n) } else { rule.ports.push(n) }
                        }
                    }
                }
                if let Some(Node::Map(entries)) = op {
                    rule.http_fields |= entries.iter().any(|(k, _)| k != "ports" && k != "notPorts");
                }
            }
            // `when` conditions are request attributes (or source.ip …) the check cannot see.
            if r.get("when").is_some_and(|w| !matches!(w, Node::Seq(v) if v.is_empty())) {
                rule.http_fields = true;
            }
            rules.push(rule);
        }
        rules
    });
    AuthorizationPolicy { meta, selector, action, rules }
}

pub fn alpha_policy(ctx: &mut Ctx<'_>, meta: Meta, node: &Node<'_>, mesh: bool) -> AlphaPolicy {
    let sp = spec_path();
    let spec = node.get("spec");
    ctx.map(spec, &sp);
    let tpath = p(&sp, "targets");
    let mut targets = Vec::new();
    for (i, t) in ctx.seq(spec.and_then(|s| s.get("targets")), &tpath).iter().enumerate() {
        let ipath = pi(&tpath, i);
        let Some(name) = ctx.scalar_string(t.get("name"), &p(&ipath, "name")) else {
            ctx.report(Code::MissingField, "Policy target without `name` is ignored", &ipath);
            continue;
        };
        let ppath = p(&ipath, "ports");
        let mut ports = Vec::new();
        for (j, port) in ctx.seq(t.get("ports"), &ppath).iter().enumerate() {
            let jp = pi(&ppath, j);
            if let Some(n) = port.get("number") {
                if let Some(n) = ctx.port(Some(n), &p(&jp, "number")) {
                    ports.push(PortRef::Number(n));
                }
            } else if let Some(name) = ctx.scalar_string(port.get("name"), &p(&jp, "name")) {
                ports.push(PortRef::Name(name));
            }
        }
        targets.push(AlphaTarget { name, ports, at: ctx.at(&ipath) });
    }
    // The first `peers[]` entry that is mtls decides (`v1alpha1/model.go :: GetMutualTLSMode`):
    // `mtls: {}`, `mtls: null` or mode STRICT is STRICT; PERMISSIVE is PERMISSIVE; no mtls peer
    // at all, `spec: {}` included, is DISABLE.
    let mut peer = AlphaPeerMode::Disable;
    let ppath = p(&sp, "peers");
    for (i, entry) in ctx.seq(spec.and_then(|s| s.get("peers")), &ppath).iter().enumerate() {
        let Node::Map(fields) = entry else { continue };
        let Some((_, mtls)) = fields.iter().find(|(k, _)| k == "mtls") else {
            continue;
        };
        let mpath = p(&pi(&ppath, i), "mtls");
        let mode = mtls.get("mode");
        peer = match ctx.enumerated(
            mode,
            &p(&mpath, "mode"),
            &[("STRICT", AlphaPeerMode::Strict), ("PERMISSIVE", AlphaPeerMode::Permissive)],
        ) {
            Some(m) => m,
            None => AlphaPeerMode::Strict,
        };
        break;
    }
    let has_jwt_origins =
        spec.and_then(|s| s.get("origins")).is_some_and(|o| matches!(o, Node::Seq(v) if !v.is_empty()));
    AlphaPolicy { meta, mesh, targets, peer, has_jwt_origins }
}

/// MeshConfig from ConfigMap `istio` (key `mesh`, a YAML string) or IstioOperator `spec.meshConfig`.
pub fn mesh_config(ctx: &mut Ctx<'_>, node: &Node<'_>, from_operator: bool) -> Option<MeshConfig> {
    let (mesh_node, path): (Node<'static>, Vec<Seg>) = if from_operator {
        let path = vec![Seg::Key(Cow::Borrowed("spec")), Seg::Key(Cow::Borrowed("meshConfig"))];
        (node.get("spec").and_then(|s| s.get("meshConfig"))?.clone().into_owned(), path)
    } else {
        let path = vec![Seg::Key(Cow::Borrowed("data")), Seg::Key(Cow::Borrowed("mesh"))];
        let text = ctx.string(node.get("data").and_then(|d| d.get("mesh")), &path)?;
        match parse_embedded(&text) {
            Ok(n) => (n.into_owned(), path),
            Err(e) => {
                let msg = format!(
                    "the `mesh` key does not parse as YAML (line {} of the embedded text): {}",
                    e.line, e.message
                );
                ctx.report(Code::YamlSyntax, msg, &path);
                return None;
            }
        }
    };
    let mut mc = MeshConfig { at: Some(ctx.at(&path)), ..MeshConfig::default() };
    // Positions inside the embedded string cannot be located; report at the `mesh` key.
    let here = path;
    if let Some(v) = ctx.scalar_string(mesh_node.get("rootNamespace"), &here) {
        mc.root_namespace = v;
    }
    if let Some(v) = ctx.scalar_string(mesh_node.get("trustDomain"), &here) {
        mc.trust_domain = v;
    }
    mc.trust_domain_aliases = ctx.strings(mesh_node.get("trustDomainAliases"), &here);
    mc.enable_auto_mtls = ctx.bool(mesh_node.get("enableAutoMtls"), &here);
    Some(mc)
}
