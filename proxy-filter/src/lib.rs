//! meshlock-filter: the proxy-wasm module that enforces what meshlock-core resolved.
//!
//! One module serves as an HTTP filter (403 local reply on deny) and as a network filter
//! (close the downstream on deny), for the inbound side (mTLS mode per port, accepted SPIFFE
//! trust domains, AuthorizationPolicy principals) and the outbound side (secure naming on the
//! upstream's certificate).
//!
//! * [`config`] is pure Rust: it reads the plugin configuration JSON, runs the core once and
//!   keeps the resolved policy in a [`config::Guard`]. Every decision is the core's
//!   ([`meshlock_core::enforce`]); nothing here re-derives a rule.
//! * [`properties`] is pure Rust too: Envoy's property bytes decoded into the facts a decision
//!   needs, natively compiled so tests and the fuzzer see exactly what the filter runs.
//! * `proxy` (wasm32 with the `proxy-abi` feature) is what the filter does with each callback:
//!   properties in, local replies and close/continue out, metrics and decision logging.
//! * `abi` (the same builds) is the proxy-wasm ABI 0.2.1 itself, written here instead of taken
//!   from the proxy-wasm SDK: the host imports the filter calls and the exports, nothing more.
//!   Envoy compiles the whole module before the first call, so its size is start-up time. It is
//!   the crate's only unsafe code.

pub mod config;
pub mod properties;

#[cfg(all(target_arch = "wasm32", feature = "proxy-abi"))]
mod abi;
#[cfg(all(target_arch = "wasm32", feature = "proxy-abi"))]
mod proxy;
