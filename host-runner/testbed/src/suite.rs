//! `meshlock test`: policy test suites (the format: docs/contracts.md, "Test suites") run through the filter in the
//! host, every case over a real in-memory rustls connection with certificates the test CA mints.
//!
//! Each case runs twice, through the module loaded as a network filter and as an HTTP filter
//! (when the client sends an HTTP request), and both must agree with the expectation. Outbound
//! cases run through the filter loaded outbound in a client-side sidecar, the host's
//! ([`outbound`]) or Envoy's ([`crate::envoy::runner`]), toward the same upstream servers.

mod format;
mod judge;
mod junit;
pub mod outbound;
mod run;

pub use format::{
    Case, ClientForm, Decision, Expect, OutboundCase, OutboundExpect, Stage, Suite, SuiteError, UpstreamForm,
    load_suite,
};
pub use judge::{CaseReport, Observed, SuiteReport, judge, judge_outbound};
pub use junit::write_junit;
pub use run::{GARBAGE, Runner, client_for, workload_identity};
use run::{decision_metrics, workload_identity_of};
