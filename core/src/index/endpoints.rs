//! Endpoints that are not Kubernetes workloads: the addresses behind a selector-less Service
//! (from its Endpoints or EndpointSlices — the API server behind `default/kubernetes`), a
//! ServiceEntry's inline `endpoints`, and the hosts of a ServiceEntry that lists neither endpoints
//! nor a workloadSelector. Each becomes a workload of an endpoint-only kind
//! ([`WorkloadKind::is_client`] is false), so `reach` evaluates calls to it like any other call
//! and never lists it as a caller.

use super::DNS_DOMAIN;
use crate::model::*;
use crate::report::list_some;
use std::collections::HashMap;

/// Whether a Service is the Kubernetes API server's (`default/kubernetes`, in every cluster).
fn is_api_server(namespace: &str, name: &str) -> bool {
    namespace == "default" && name == "kubernetes"
}

/// The host of the API server's Service (`kubernetes` in `default`, under [`DNS_DOMAIN`]).
pub const API_SERVER_HOST: &str = "kubernetes.default.svc.cluster.local";

pub(crate) fn endpoint_workloads(res: &Resources) -> Vec<Workload> {
    let mut lists: HashMap<(&str, &str), Vec<&ServiceEndpointList>> = HashMap::new();
    for l in &res.service_endpoints {
        lists.entry((l.meta.namespace(), l.service.as_str())).or_default().push(l);
    }
    let mut out = Vec::new();
    for s in res.services.iter().filter(|s| s.selector.is_none()) {
        let (ns, name) = (s.meta.namespace(), s.meta.name());
        let found = lists.get(&(ns, name)).map(Vec::as_slice).unwrap_or_default();
        let mut addresses: Vec<&str> = found.iter().flat_map(|l| l.addresses.iter().map(String::as_str)).collect();
        addresses.sort_unstable();
        addresses.dedup();
        let api = is_api_server(ns, name);
        if addresses.is_empty() && !api {
            // Nothing to call: lint reports the Service (ML0703).
            continue;
        }
        // Every slice repeats the Service's ports: one entry each, in first-seen order, with a
        // set so that a hostile list stays linear.
        let mut seen = std::collections::HashSet::new();
        let ports: Vec<ContainerPort> = found
            .iter()
            .flat_map(|l| l.ports.iter())
            .filter(|(pname, port)| seen.insert((pname.as_str(), *port)))
            .map(|(pname, port)| ContainerPort {
                port: *port,
                name: (!pname.is_empty()).then(|| pname.clone()),
                protocol: "TCP".to_owned(),
            })
            .collect();
        // Endpoints that no pod stands behind carry no `security.istio.io/tlsMode` label, and
        // `model/service.go :: GetTLSModeFromEndpointLabels` defaults to disabled.
        let reason = match (api, addresses.is_empty()) {
            (true, true) => {
                "the Kubernetes API server: the input lists no Endpoints for `default/kubernetes`, which in \
                             every cluster points at the API server, and the API server runs no sidecar"
                    .to_owned()
            }
            (true, false) => format!(
                "the Kubernetes API server ({}), which runs no sidecar: its endpoints carry no tlsMode label",
                list_some(&addresses, 5)
            ),
            (false, _) => format!(
                "addresses {} from the Service's Endpoints/EndpointSlices: no pod stands behind them, so they carry no \
                 tlsMode label (Istio takes tlsMode disabled)",
                list_some(&addresses, 5)
            ),
        };
        let at = found.first().map_or_else(|| s.meta.at.clone(), |l| l.meta.at.clone());
        out.push(endpoint_workload(
            ns,
            name,
            WorkloadKind::ServiceEndpoints,
            Labels::new(),
            "default",
            ports,
            (false, reason),
            vec![format!("{name}.{ns}.svc.{DNS_DOMAIN}")],
            at,
        ));
    }
    for se in res.service_entries.iter().filter(|se| se.workload_selector.is_none()) {
        let ns = se.meta.namespace();
        if se.endpoints.is_empty() {
            for host in &se.hosts {
                let reason = match se.location {
                    SeLocation::MeshExternal => {
                        format!("a MESH_EXTERNAL host of {}: outside the mesh, no sidecar", se.meta.id)
                    }
                    SeLocation::MeshInternal => format!(
                        "a host of {} with neither endpoints nor a workloadSelector: its own addresses carry no tlsMode \
                         label (Istio takes tlsMode disabled)",
                        se.meta.id
                    ),
                };
                out.push(endpoint_workload(
                    ns,
                    host,
                    WorkloadKind::ServiceEntryHost,
                    Labels::new(),
                    "default",
                    Vec::new(),
                    (false, reason),
                    vec![host.clone()],
                    se.meta.at.clone(),
                ));
            }
            continue;
        }
        for (i, e) in se.endpoints.iter().enumerate() {
            let name =
                if e.address.is_empty() { format!("{}-endpoint-{i}", se.meta.name()) } else { e.address.clone() };
            let sa = if e.service_account.is_empty() { "default" } else { e.service_account.as_str() };
            let ports = e
                .ports
                .iter()
                .map(|(n, p)| ContainerPort { port: *p, name: Some(n.clone()), protocol: "TCP".to_owned() })
                .collect();
            let (sidecar, why) = e.sidecar();
            let reason = format!("an endpoint of {}: {why}", se.meta.id);
            out.push(endpoint_workload(
                ns,
                &name,
                WorkloadKind::ServiceEntryEndpoint,
                e.labels.clone(),
                sa,
                ports,
                (sidecar, reason),
                se.hosts.clone(),
                e.at.clone(),
            ));
        }
    }
    out
}

#[expect(clippy::too_many_arguments, reason = "one constructor for the three endpoint-only kinds")]
fn endpoint_workload(
    namespace: &str,
    name: &str,
    kind: WorkloadKind,
    labels: Labels,
    service_account: &str,
    ports: Vec<ContainerPort>,
    sidecar: (bool, String),
    endpoint_of: Vec<String>,
    at: crate::source::Location,
) -> Workload {
    let meta = Meta {
        id: ResourceId { kind: kind.to_string(), namespace: namespace.to_owned(), name: name.to_owned() },
        created: None,
        labels: labels.clone(),
        annotations: Labels::new(),
        at,
    };
    Workload {
        meta,
        kind,
        pod_labels: labels,
        pod_annotations: Labels::new(),
        service_account: service_account.to_owned(),
        host_network: false,
        containers: Vec::new(),
        ports,
        probes: Vec::new(),
        controller: None,
        running_pods: RunningPods::default(),
        declared_sidecar: Some(sidecar),
        endpoint_of,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_api_server_host_is_its_service_host() {
        assert_eq!(super::API_SERVER_HOST, format!("kubernetes.default.svc.{}", super::DNS_DOMAIN));
    }
}
