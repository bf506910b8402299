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
