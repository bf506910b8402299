//! meshlock-cli: what only the `meshlock` command needs besides its commands (`src/cli/`).
//!
//! * [`sarif`]: diagnostics as SARIF 2.1.0 for code scanning.
//! * [`oci`]: the filter as an OCI image for Istio's WasmPlugin, and a registry client to push it.
//!
//! The test bed the commands drive is [`meshlock_testbed`]; the filter runs in
//! [`meshlock_proxy_host`].

#![forbid(unsafe_code)]

pub mod oci;
pub mod sarif;
