//! The same meshes as `kubectl get … -A -o yaml|json` prints them: one `kind: List`, and, with
//! `realistic`, every object as the API server returns it — `managedFields`, `status`,
//! `kubectl apply`'s last-applied annotation, owner references, the ReplicaSet and the injected
//! Pod behind each Deployment, EndpointSlices, Events, ConfigMaps and Secrets. Most of those
//! bytes do not bear on mTLS; they are what users pipe into `meshlock analyze -`.

// serde_json's `Value` indexing: a read of a missing key gives `Null`, and every write goes
// into an object this generator built itself, so none of them can panic.
#![expect(clippy::indexing_slicing, reason = "serde_json Value indexing on objects built here")]

use super::{MeshShape, Rng, generate};
use serde_json::{Map, Value, json};

/// How a generated mesh is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// `---`-separated documents, as people keep manifests.
    Documents,
    /// One `kind: List` in YAML (`kubectl get -o yaml`).
    ListYaml,
    /// One `kind: List` in JSON, indented as kubectl does (`kubectl get -o json`).
    ListJson,
}

/// The mesh of `shape` in `format`; `realistic` adds what a cluster dump carries besides.
pub fn generate_dump(shape: &MeshShape, realistic: bool, format: DumpFormat) -> String {
    let objects = if realistic { realistic_objects(shape) } else { clean_objects(shape) };
    write(objects, format)
}

fn write(objects: Vec<Value>, format: DumpFormat) -> String {
    match format {
        DumpFormat::Documents => {
            let mut s = String::new();
            for o in &objects {
                s.push_str(&serde_yaml::to_string(o).unwrap_or_default());
                s.push_str("---\n");
            }
            s
        }
        DumpFormat::ListYaml => serde_yaml::to_string(&list(objects)).unwrap_or_default(),
        DumpFormat::ListJson => {
            let mut out = Vec::new();
            let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
            let _ = serde::Serialize::serialize(&list(objects), &mut ser);
            out.push(b'\n');
            String::from_utf8(out).unwrap_or_default()
        }
    }
}

fn list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
}

/// The clean synthetic mesh's documents as objects.
fn clean_objects(shape: &MeshShape) -> Vec<Value> {
    generate(shape)
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .filter_map(|d| serde_yaml::from_str::<Value>(d).ok())
        .collect()
}

/// A UID-shaped string that is stable for a seed.
fn uid(rng: &mut Rng) -> String {
    let a = rng.next();
    let b = rng.next();
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

fn hash(rng: &mut Rng, n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..n)
        .map(|_| {
            let i = usize::try_from(rng.next() % ALPHABET.len() as u64).unwrap_or(0);
            char::from(ALPHABET.get(i).copied().unwrap_or(b'x'))
        })
        .collect()
}

const TS: &str = "2024-05-14T09:31:07Z";

/// `metadata.managedFields` as the API server records server-side apply and controllers.
fn managed_fields(manager: &str, fields: Value) -> Value {
    json!([
        {"apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": fields, "manager": manager,
         "operation": "Update", "time": TS},
        {"apiVersion": "v1", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:status": {"f:conditions": {".": {}, "k:{\"type\":\"Available\"}": {".": {}, "f:lastTransitionTime": {}, "f:lastUpdateTime": {}, "f:message": {}, "f:reason": {}, "f:status": {}, "f:type": {}}}, "f:observedGeneration": {}, "f:readyReplicas": {}, "f:replicas": {}}},
         "manager": "kube-controller-manager", "operation": "Update", "subresource": "status", "time": TS}
    ])
}

fn meta(
    rng: &mut Rng,
    name: &str,
    ns: Option<&str>,
    labels: Value,
    last_applied: Option<&Value>,
) -> Map<String, Value> {
    let mut m = Map::new();
    let mut annotations = Map::new();
    if let Some(obj) = last_applied {
        annotations.insert(
            "kubectl.kubernetes.io/last-applied-configuration".into(),
            Value::String(format!("{}\n", serde_json::to_string(obj).unwrap_or_default())),
        );
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    m.insert("creationTimestamp".into(), json!(TS));
    m.insert("generation".into(), json!(1));
    if labels.as_object().is_some_and(|l| !l.is_empty()) {
        m.insert("labels".into(), labels);
    }
    m.insert(
        "managedFields".into(),
        managed_fields("kubectl-client-side-apply", json!({"f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}, "f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:selector": {}, "f:template": {"f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:version": {}}}, "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {}, "f:ports": {}}}}}}})),
    );
    m.insert("name".into(), json!(name));
    if let Some(ns) = ns {
        m.insert("namespace".into(), json!(ns));
    }
    m.insert("resourceVersion".into(), json!(format!("{}", rng.next() % 90_000_000 + 1_000_000)));
    m.insert("uid".into(), json!(uid(rng)));
    m
}

fn with_meta(mut obj: Value, meta: Map<String, Value>) -> Value {
    if let Some(o) = obj.as_object_mut() {
        o.insert("metadata".into(), Value::Object(meta));
    }
    obj
}

fn owner(kind: &str, name: &str, uid: &str) -> Value {
    let api = if kind == "ReplicaSet" || kind == "Deployment" { "apps/v1" } else { "v1" };
    json!([{"apiVersion": api, "blockOwnerDeletion": true, "controller": true, "kind": kind, "name": name, "uid": uid}])
}

const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\ncm5ldGVzMB4XDTI0MDUxNDA5MjYwNloXDTM0MDUxMjA5MjYwNlowFTETMBEGA1UE\nAxMKa3ViZXJuZXRlczCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAMjq\n3vO0o5Y5m3nJc0C6n2GZ8K1y5o0y4zQ8u2q1B1d2r1m8Ck3m8u0YQx2m1B8xP2y0\nv7l1aG9z9q8bC1o6W1m2b3e4U6w5l0p2A7j3k0t5Q3r6W8h2T9c6e1Y3N5n8m2Q4\nAgMBAAGjWTBXMA4GA1UdDwEB/wQEAwICpDAPBgNVHRMBAf8EBTADAQH/MB0GA1Ud\nDgQWBBSu0Gq6d9m1w6o4A1r0z3b9n2i5xjAVBgNVHREEDjAMggprdWJlcm5ldGVz\nMA0GCSqGSIb3DQEBCwUAA4IBAQBq8Z7m1s3T5n9v0r2Q4h7k8U1w3e6Y9t2b5m8o\n-----END CERTIFICATE-----\n";

/// The istio-proxy container the injector adds, abridged but of its real shape and size.
fn istio_proxy(app: &str, ns: &str) -> Value {
    let env: Vec<Value> = [
        ("PILOT_CERT_PROVIDER", "istiod"),
        ("CA_ADDR", "istiod.istio-system.svc:15012"),
        ("ISTIO_CPU_LIMIT", "0"),
        ("PROXY_CONFIG", "{}\n"),
        ("ISTIO_META_POD_PORTS", "[\n    {\"name\":\"http\",\"containerPort\":8080,\"protocol\":\"TCP\"}\n    ,{\"containerPort\":9090,\"protocol\":\"TCP\"}\n]"),
        ("ISTIO_META_APP_CONTAINERS", "app"),
        ("GOMEMLIMIT", "1073741824"),
        ("GOMAXPROCS", "2"),
        ("ISTIO_META_CLUSTER_ID", "Kubernetes"),
        ("ISTIO_META_NODE_NAME", "worker-3"),
        ("ISTIO_META_INTERCEPTION_MODE", "REDIRECT"),
        ("ISTIO_META_WORKLOAD_NAME", app),
        ("ISTIO_META_OWNER", &format!("kubernetes://apis/apps/v1/namespaces/{ns}/deployments/{app}")),
        ("ISTIO_META_MESH_ID", "cluster.local"),
        ("TRUST_DOMAIN", "cluster.local"),
    ]
    .iter()
    .map(|(k, v)| json!({"name": k, "value": v}))
    .collect();
    json!({
        "args": ["proxy", "sidecar", "--domain", format!("{ns}.svc.cluster.local"), "--proxyLogLevel=warning",
                 "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"],
        "env": env,
        "image": "docker.io/istio/proxyv2:1.24.2",
        "imagePullPolicy": "IfNotPresent",
        "name": "istio-proxy",
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "readinessProbe": {"failureThreshold": 4, "httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
                           "periodSeconds": 15, "successThreshold": 1, "timeoutSeconds": 3},
        "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "privileged": false,
                            "readOnlyRootFilesystem": true, "runAsGroup": 1337, "runAsNonRoot": true, "runAsUser": 1337},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "volumeMounts": [
            {"mountPath": "/var/run/secrets/workload-spiffe-uds", "name": "workload-socket"},
            {"mountPath": "/var/run/secrets/credential-uds", "name": "credential-socket"},
            {"mountPath": "/var/run/secrets/workload-spiffe-credentials", "name": "workload-certs"},
            {"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"},
            {"mountPath": "/var/lib/istio/data", "name": "istio-data"},
            {"mountPath": "/etc/istio/proxy", "name": "istio-envoy"},
            {"mountPath": "/var/run/secrets/tokens", "name": "istio-token"},
            {"mountPath": "/etc/istio/pod", "name": "istio-podinfo"}
        ]
    })
}

fn app_container() -> Value {
    json!({
        "image": "registry.example/app:1.4.2", "imagePullPolicy": "IfNotPresent", "name": "app",
        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}, {"containerPort": 9090, "protocol": "TCP"}],
        "resources": {}, "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
    })
}

/// Every object of the clean mesh, as the API server returns it, with what stands behind it.
fn realistic_objects(shape: &MeshShape) -> Vec<Value> {
    let mut rng = Rng(shape.seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
    let mut out = Vec::new();
    let clean = clean_objects(shape);
    let injected_ns: std::collections::HashSet<String> = clean
        .iter()
        .filter(|o| o["kind"] == "Namespace" && o["metadata"]["labels"]["istio-injection"] == "enabled")
        .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    for obj in clean {
        let kind = obj["kind"].as_str().unwrap_or_default().to_owned();
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        let ns = obj["metadata"]["namespace"].as_str().map(str::to_owned);
        let labels = obj["metadata"]["labels"].clone();
        let labels = if labels.is_null() { json!({}) } else { labels };
        match kind.as_str() {
            "Namespace" => {
                let mut l = labels.as_object().cloned().unwrap_or_default();
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
                let mut m = meta(&mut rng, &name, None, Value::Object(l), Some(&obj));
                m.remove("generation");
                out.push(with_meta(
                    json!({"apiVersion": "v1", "kind": "Namespace", "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
                    m,
                ));
                for cm in ["kube-root-ca.crt", "istio-ca-root-cert"] {
                    let mut m = meta(&mut rng, cm, Some(&name), json!({}), None);
                    m.remove("generation");
                    let key = if cm == "kube-root-ca.crt" { "ca.crt" } else { "root-cert.pem" };
                    out.push(with_meta(json!({"apiVersion": "v1", "data": {key: CA_PEM}, "kind": "ConfigMap"}), m));
                }
                let m = meta(&mut rng, "registry-pull", Some(&name), json!({}), None);
                out.push(with_meta(
                    json!({"apiVersion": "v1", "data": {".dockerconfigjson": "eyJhdXRocyI6eyJyZWdpc3RyeS5leGFtcGxlIjp7InVzZXJuYW1lIjoiY2kiLCJwYXNzd29yZCI6InNlY3JldCIsImF1dGgiOiJZMms2YzJWamNtVjAifX19"}, "kind": "Secret", "type": "kubernetes.io/dockerconfigjson"}),
                    m,
                ));
            }
            "Deployment" => {
                let ns = ns.unwrap_or_default();
                let app = name.clone();
                let tmpl = obj["spec"]["template"].clone();
                let dep_meta = meta(&mut rng, &app, Some(&ns), json!({"app": app}), Some(&obj));
                let dep_uid = dep_meta.get("uid").and_then(Value::as_str).unwrap_or_default().to_owned();
                let mut spec = json!({
                    "progressDeadlineSeconds": 600, "replicas": 1, "revisionHistoryLimit": 10,
                    "selector": {"matchLabels": {"app": app}},
                    "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
                    "template": tmpl
                });
                spec["template"]["spec"]["containers"] = json!([app_container()]);
                for (k, v) in [
                    ("dnsPolicy", json!("ClusterFirst")),
                    ("restartPolicy", json!("Always")),
                    ("schedulerName", json!("default-scheduler")),
                    ("securityContext", json!({})),
                    ("terminationGracePeriodSeconds", json!(30)),
                ] {
                    spec["template"]["spec"][k] = v;
                }
                let status = json!({"availableReplicas": 1, "conditions": [
                    {"lastTransitionTime": TS, "lastUpdateTime": TS, "message": "Deployment has minimum availability.", "reason": "MinimumReplicasAvailable", "status": "True", "type": "Available"},
                    {"lastTransitionTime": TS, "lastUpdateTime": TS, "message": format!("ReplicaSet \"{app}-7c9d8f\" has successfully progressed."), "reason": "NewReplicaSetAvailable", "status": "True", "type": "Progressing"}],
                    "observedGeneration": 1, "readyReplicas": 1, "replicas": 1, "updatedReplicas": 1});
                let mut dep_meta = dep_meta;
                if let Some(Value::Object(a)) = dep_meta.get_mut("annotations") {
                    a.insert("deployment.kubernetes.io/revision".into(), json!("1"));
                }
                out.push(with_meta(
                    json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": spec.clone(), "status": status}),
                    dep_meta,
                ));

                let pth = hash(&mut rng, 10);
                let rs_name = format!("{app}-{pth}");
                let mut rs_meta =
                    meta(&mut rng, &rs_name, Some(&ns), json!({"app": app, "pod-template-hash": pth}), None);
                rs_meta.insert("ownerReferences".into(), owner("Deployment", &app, &dep_uid));
                let rs_uid = rs_meta.get("uid").and_then(Value::as_str).unwrap_or_default().to_owned();
                let mut rs_spec = spec.clone();
                if let Some(o) = rs_spec.as_object_mut() {
                    o.remove("strategy");
                    o.remove("progressDeadlineSeconds");
                    o.remove("revisionHistoryLimit");
                }
                rs_spec["template"]["metadata"]["labels"]["pod-template-hash"] = json!(pth);
                out.push(with_meta(
                    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": rs_spec,
                           "status": {"availableReplicas": 1, "fullyLabeledReplicas": 1, "observedGeneration": 1, "readyReplicas": 1, "replicas": 1}}),
                    rs_meta,
                ));

                let pod_name = format!("{rs_name}-{}", hash(&mut rng, 5));
                let injected = injected_ns.contains(&ns);
                let mut pod_labels = json!({"app": app, "version": "v1", "pod-template-hash": pth});
                let mut containers = vec![app_container()];
                let mut pod_spec = spec["template"]["spec"].clone();
                if injected {
                    pod_labels["security.istio.io/tlsMode"] = json!("istio");
                    pod_labels["service.istio.io/canonical-name"] = json!(app);
                    pod_labels["service.istio.io/canonical-revision"] = json!("v1");
                    containers.push(istio_proxy(&app, &ns));
                    pod_spec["initContainers"] = json!([{"args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"],
                        "image": "docker.io/istio/proxyv2:1.24.2", "name": "istio-init"}]);
                }
                pod_spec["containers"] = Value::Array(containers);
                pod_spec["nodeName"] = json!("worker-3");
                let mut pod_meta = meta(&mut rng, &pod_name, Some(&ns), pod_labels, None);
                pod_meta.remove("generation");
                pod_meta.insert("generateName".into(), json!(format!("{rs_name}-")));
                pod_meta.insert("ownerReferences".into(), owner("ReplicaSet", &rs_name, &rs_uid));
                if injected {
                    pod_meta.insert("annotations".into(), json!({
                        "istio.io/rev": "default", "kubectl.kubernetes.io/default-container": "app",
                        "prometheus.io/path": "/stats/prometheus", "prometheus.io/port": "15020", "prometheus.io/scrape": "true",
                        "sidecar.istio.io/status": "{\"initContainers\":[\"istio-init\"],\"containers\":[\"istio-proxy\"],\"volumes\":[\"workload-socket\",\"credential-socket\",\"workload-certs\",\"istio-envoy\",\"istio-data\",\"istio-podinfo\",\"istio-token\",\"istiod-ca-cert\"],\"imagePullSecrets\":null,\"revision\":\"default\"}"
                    }));
                }
                let statuses: Vec<Value> = ["app", "istio-proxy"].iter().take(if injected { 2 } else { 1 }).map(|c| json!({
                    "containerID": format!("containerd://{}", hash(&mut rng, 40)), "image": "registry.example/app:1.4.2",
                    "imageID": format!("registry.example/app@sha256:{}", hash(&mut rng, 40)), "lastState": {}, "name": c,
                    "ready": true, "restartCount": 0, "started": true, "state": {"running": {"startedAt": TS}}})).collect();
                out.push(with_meta(
                    json!({"apiVersion": "v1", "kind": "Pod", "spec": pod_spec, "status": {
                        "conditions": [{"lastProbeTime": null, "lastTransitionTime": TS, "status": "True", "type": "Initialized"},
                                       {"lastProbeTime": null, "lastTransitionTime": TS, "status": "True", "type": "Ready"},
                                       {"lastProbeTime": null, "lastTransitionTime": TS, "status": "True", "type": "ContainersReady"},
                                       {"lastProbeTime": null, "lastTransitionTime": TS, "status": "True", "type": "PodScheduled"}],
                        "containerStatuses": statuses, "hostIP": "10.0.3.17", "phase": "Running", "podIP": "10.244.3.41",
                        "podIPs": [{"ip": "10.244.3.41"}], "qosClass": "Burstable", "startTime": TS}}),
                    pod_meta,
                ));
                let sa_meta = meta(&mut rng, &app, Some(&ns), json!({}), None);
                out.push(with_meta(json!({"apiVersion": "v1", "kind": "ServiceAccount"}), sa_meta));
                let ev_meta = meta(&mut rng, &format!("{pod_name}.17c2a9"), Some(&ns), json!({}), None);
                out.push(with_meta(
                    json!({"apiVersion": "v1", "count": 1, "eventTime": null, "firstTimestamp": TS, "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": pod_name, "namespace": ns},
                           "kind": "Event", "lastTimestamp": TS, "message": "Started container app", "reason": "Started", "reportingComponent": "kubelet", "source": {"component": "kubelet", "host": "worker-3"}, "type": "Normal"}),
                    ev_meta,
                ));
            }
            "Service" => {
                let ns = ns.unwrap_or_default();
                let mut spec = obj["spec"].clone();
                spec["clusterIP"] = json!(format!("10.96.{}.{}", rng.next() % 250, rng.next() % 250));
                spec["clusterIPs"] = json!([spec["clusterIP"].clone()]);
                spec["internalTrafficPolicy"] = json!("Cluster");
                spec["ipFamilies"] = json!(["IPv4"]);
                spec["ipFamilyPolicy"] = json!("SingleStack");
                spec["sessionAffinity"] = json!("None");
                spec["type"] = json!("ClusterIP");
                let m = meta(&mut rng, &name, Some(&ns), json!({"app": name}), Some(&obj));
                out.push(with_meta(
                    json!({"apiVersion": "v1", "kind": "Service", "spec": spec, "status": {"loadBalancer": {}}}),
                    m,
                ));
                let es_name = format!("{name}-{}", hash(&mut rng, 5));
                let es_meta = meta(
                    &mut rng,
                    &es_name,
                    Some(&ns),
                    json!({"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io", "kubernetes.io/service-name": name}),
                    None,
                );
                out.push(with_meta(
                    json!({"addressType": "IPv4", "apiVersion": "discovery.k8s.io/v1", "endpoints": [{"addresses": ["10.244.3.41"], "conditions": {"ready": true, "serving": true, "terminating": false}, "nodeName": "worker-3"}],
                           "kind": "EndpointSlice", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "tcp-metrics", "port": 9090, "protocol": "TCP"}]}),
                    es_meta,
                ));
            }
            _ => {
                // Istio resources: as applied with kubectl, plus what the API server adds.
                let m = meta(&mut rng, &name, ns.as_deref(), labels, Some(&obj));
                let mut o = obj.clone();
                if let Some(map) = o.as_object_mut() {
                    map.insert("status".into(), json!({}));
                }
                out.push(with_meta(o, m));
            }
        }
    }
    out
}
