//! A synthetic mesh generator for benchmarks and property tests: namespaces with and without
//! injection, workloads, services, and policies at every level (mesh, namespace, workload,
//! port) plus DestinationRules. Deterministic for a given size and seed.

mod dump;

pub use dump::{DumpFormat, generate_dump};
use std::fmt::Write;

/// Parameters of a generated mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeshShape {
    pub services: usize,
    /// Services per namespace.
    pub per_namespace: usize,
    pub seed: u64,
}

impl MeshShape {
    pub fn new(services: usize) -> Self {
        Self { services, per_namespace: 20, seed: 1 }
    }
}

/// A small xorshift generator: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn pct(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }
}

/// The YAML text of a mesh of `shape.services` services.
pub fn generate(shape: &MeshShape) -> String {
    let mut rng = Rng(shape.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut s = String::with_capacity(shape.services * 1200);
    let per_ns = shape.per_namespace.max(1);
    let namespaces = shape.services.div_ceil(per_ns).max(1);
    s.push_str("apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: istio-system\n  creationTimestamp: \"2024-01-01T00:00:00Z\"\nspec:\n  mtls:\n    mode: PERMISSIVE\n---\n");
    s.push_str("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: default\n  namespace: istio-system\nspec:\n  host: \"*.local\"\n  trafficPolicy:\n    tls:\n      mode: ISTIO_MUTUAL\n---\n");
    for n in 0..namespaces {
        let ns = format!("ns{n}");
        let injected = n % 10 != 9;
        let _ = write!(
            s,
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels:\n    istio-injection: {}\n---\n",
            if injected { "enabled" } else { "disabled" }
        );
        let ns_mode = match n % 4 {
            1 => "PERMISSIVE",
            2 => "UNSET",
            _ => "STRICT",
        };
        let _ = write!(
            s,
            "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: {ns}\nspec:\n  mtls:\n    mode: {ns_mode}\n---\n"
        );
        let first = n * per_ns;
        let last = ((n + 1) * per_ns).min(shape.services);
        for i in first..last {
            let app = format!("svc{i}");
            let _ = write!(
                s,
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\n  namespace: {ns}\nspec:\n  template:\n    metadata:\n      labels:\n        app: {app}\n        version: v1\n    spec:\n      serviceAccountName: {app}\n      containers:\n      - name: app\n        ports:\n        - containerPort: 8080\n          name: http\n        - containerPort: 9090\n---\n"
            );
            let _ = write!(
                s,
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: {app}\n  namespace: {ns}\nspec:\n  selector:\n    app: {app}\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n  - name: tcp-metrics\n    port: 9090\n---\n"
            );
            if rng.pct(10) {
                let mode = if rng.pct(50) { "STRICT" } else { "PERMISSIVE" };
                let _ = write!(
                    s,
                    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: {app}\n  namespace: {ns}\nspec:\n  selector:\n    matchLabels:\n      app: {app}\n  mtls:\n    mode: {mode}\n  portLevelMtls:\n    9090:\n      mode: DISABLE\n---\n"
                );
            }
            if rng.pct(10) {
                let mode = if rng.pct(70) { "ISTIO_MUTUAL" } else { "DISABLE" };
                let _ = write!(
                    s,
                    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: {app}\n  namespace: {ns}\nspec:\n  host: {app}\n  trafficPolicy:\n    tls:\n      mode: {mode}\n    portLevelSettings:\n    - port:\n        number: 9090\n      tls:\n        mode: DISABLE\n---\n"
                );
            }
        }
    }
    s
}

/// AuthorizationPolicies for the mesh [`generate`] writes, one per namespace picked by the seed,
/// in the shapes users write: a namespace-wide deny-all (`spec: {}`), ALLOW from one source
/// namespace, ALLOW one principal on one port, DENY one principal, ALLOW with a path (a request
/// condition a connection does not show), and a root-namespace policy with a selector (it selects
/// in every namespace).
pub fn authorization_policies(shape: &MeshShape) -> String {
    let mut rng = Rng(shape.seed.wrapping_mul(0xA24B_AED4_963E_E407) | 1);
    let per_ns = shape.per_namespace.max(1);
    let namespaces = shape.services.div_ceil(per_ns).max(1);
    let mut s = String::new();
    let header = |s: &mut String, name: &str, ns: &str| {
        let _ = write!(
            s,
            "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
        );
    };
    for n in 0..namespaces {
        let ns = format!("ns{n}");
        let other = format!("ns{}", rng.next() % namespaces as u64);
        let svc = n * per_ns + (rng.next() as usize % per_ns);
        let caller = rng.next() as usize % shape.services.max(1);
        let caller_id = format!("cluster.local/ns/ns{}/sa/svc{caller}", caller / per_ns);
        match rng.next() % 8 {
            0 => {
                header(&mut s, "deny-all", &ns);
                s.push_str("spec: {}\n");
            }
            1 => {
                header(&mut s, "from-one-namespace", &ns);
                let _ = write!(s, "spec:\n  rules:\n  - from:\n    - source:\n        namespaces: [\"{other}\"]\n");
            }
            2 => {
                header(&mut s, "one-principal-one-port", &ns);
                let _ = write!(
                    s,
                    "spec:\n  selector:\n    matchLabels: {{app: svc{svc}}}\n  rules:\n  - from:\n    - source:\n        principals: [\"{caller_id}\"]\n    to:\n    - operation:\n        ports: [\"8080\"]\n"
                );
            }
            3 => {
                header(&mut s, "deny-one-principal", &ns);
                let _ = write!(
                    s,
                    "spec:\n  action: DENY\n  rules:\n  - from:\n    - source:\n        principals: [\"{caller_id}\"]\n"
                );
            }
            4 => {
                header(&mut s, "allow-a-path", &ns);
                let _ = write!(
                    s,
                    "spec:\n  selector:\n    matchLabels: {{app: svc{svc}}}\n  rules:\n  - from:\n    - source:\n        namespaces: [\"{other}\"]\n    to:\n    - operation:\n        paths: [\"/healthz\"]\n  - from:\n    - source:\n        notNamespaces: [\"{other}\"]\n"
                );
            }
            5 => {
                header(&mut s, &format!("mesh-wide-svc{svc}"), "istio-system");
                let _ = write!(
                    s,
                    "spec:\n  selector:\n    matchLabels: {{app: svc{svc}}}\n  action: DENY\n  rules:\n  - from:\n    - source:\n        notPrincipals: [\"*\"]\n"
                );
            }
            _ => {}
        }
    }
    s
}
