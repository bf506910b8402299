//! meshlock-wire: the bytes a listener reads before any filter runs, as Envoy reads them.
//!
//! * [`sniff`]: TLS or not, as `tls_inspector` decides from the first bytes.
//! * [`http`]: just enough HTTP/1.1 for the HTTP filter path: request and response heads,
//!   local replies.
//!
//! std only, no dependencies: the `host_sniff_http` fuzz target depends on this crate, and a
//! sanitizer build of the test bed (wasmtime, rustls) would take many minutes on a small machine.

#![forbid(unsafe_code)]

pub mod http;
pub mod sniff;
