//! The filter in the host: suites, both wasm targets, the ABI edges, the `test`, `host` and
//! `ca` commands. The filter modules must be built first (`scripts/build-filter.sh`); a
//! missing module fails these tests with that instruction rather than skipping them.

#![forbid(unsafe_code)]
#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation is a test failure"
)]

mod abi;
mod cli;
mod envoy;
mod faults;
mod host_tcp;
mod hostile;
mod load;
mod properties;
mod registry;
mod simulate;
mod suites;
mod support;
