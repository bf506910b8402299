//! meshlock-testbed: the meshlock filter behind real mTLS, outside Envoy and in it. The filter
//! runs in the proxy-wasm host ([`meshlock_proxy_host`]); the first bytes and HTTP heads are
//! read by [`meshlock_wire`].
//!
//! * [`ca`]: the test CA (mesh root, untrusted root, SPIFFE leaves) and certificate facts.
//! * [`datapath`]: the connection path Envoy gives the filter: tls_inspector-style sniffing,
//!   rustls termination with an optional client certificate, Envoy 1.40 properties, HTTP/1.1
//!   request heads. In memory (byte pumps) or over TCP ([`tcp`]).
//! * [`suite`]: `meshlock test` suites.
//! * [`envoy`]: the same filter in real Envoy: bootstrap and WasmPlugin generation, the Envoy
//!   child process, `meshlock test --target envoy`.
//! * [`outbound`]: the client side of a sidecar over TCP: Istio mTLS origination with the
//!   workload's certificate, the filter's outbound direction on the upstream's certificate.
//! * [`simulate`]: a mesh on loopback, every call reach lists driven through both sidecars.
//! * [`load`]: a bounded HTTP/1.1 load generator over mTLS (benchmarks and load tests).

#![forbid(unsafe_code)]

pub mod ca;
pub mod datapath;
pub mod envoy;
pub mod load;
pub mod outbound;
pub mod simulate;
pub mod suite;
pub mod tcp;

use std::path::{Path, PathBuf};

/// Where `scripts/build-filter.sh` puts the filter built for wasm32-wasip1, relative to the
/// target directory.
pub const FILTER_WASIP1: &str = "wasm32-wasip1/release-wasm/meshlock_filter.wasm";
/// The same filter built for wasm32-unknown-unknown: the shipped module. Without WASI, std
/// brings no C library (its malloc, environment and stdio) into the module, which is a quarter
/// less code for V8 to compile before Envoy is ready (docs/envoy.md, "Numbers").
pub const FILTER_UNKNOWN: &str = "wasm32-unknown-unknown/release-wasm/meshlock_filter.wasm";

/// Finds the filter module: `explicit`, else `$MESHLOCK_FILTER`, else the shipped
/// (wasm32-unknown-unknown) build next to this executable's target directory, else under
/// `./target`.
pub fn locate_filter(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_owned())
        } else {
            Err(format!("filter module `{}` does not exist", p.display()))
        };
    }
    if let Some(p) = std::env::var_os("MESHLOCK_FILTER") {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(format!("MESHLOCK_FILTER=`{}` does not exist", p.display())) };
    }
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        // target/<profile>/meshlock → target/
        if let Some(target) = exe.parent().and_then(Path::parent) {
            candidates.push(target.join(FILTER_UNKNOWN));
        }
    }
    candidates.push(Path::new("target").join(FILTER_UNKNOWN));
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        format!(
            "the filter module is not built (looked for {}): run scripts/build-filter.sh, or pass --filter PATH",
            candidates.iter().map(|p| format!("`{}`", p.display())).collect::<Vec<_>>().join(", ")
        )
    })
}
