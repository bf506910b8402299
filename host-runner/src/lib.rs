//! meshlock-host: runs the meshlock proxy-wasm filter outside Envoy.
//!
//! * [`ca`]: the test CA (mesh root, untrusted root, SPIFFE leaves) and certificate facts.
//! * [`wasm_host`]: a wasmtime proxy-wasm ABI 0.2.1 host (one Engine, one Linker, state in the
//!   Store, bounds-checked guest memory).
//! * [`datapath`]: the connection path Envoy gives the filter: tls_inspector-style sniffing,
//!   rustls termination with an optional client certificate, Envoy 1.40 properties, HTTP/1.1
//!   request heads. In memory (byte pumps) or over TCP ([`tcp`]).
//! * [`suite`]: `meshlock test` suites.

pub mod ca;
pub mod datapath;
pub mod suite;
pub mod wasm_host;
