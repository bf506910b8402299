//! meshlock-core: what Istio does with the mutual-TLS policies a team really has, and why.
//!
//! One pipeline, used by every front end (CLI, playground, proxy-wasm filter):
//!
//! ```text
//! YAML/JSON text ─parse─▶ Resources + Diagnostics ─index─▶ Analysis ─query─▶ reports / decisions
//! ```
//!
//! * [`parse`] reads multi-document YAML, JSON and `kind: List` into [`model::Resources`],
//!   keeping file, line and column for every resource.
//! * [`Analysis`] indexes them for one Istio version ([`index`]) and answers the queries: the
//!   server mode of every workload port with its precedence chain ([`server`]), the client TLS
//!   of every call ([`client`]), reachability ([`reach`]), secure naming ([`identity`]), the
//!   diagnostics ([`lint`]) and the precedence story in words ([`explain`]). Where a result came
//!   from is typed ([`provenance`]); the reports print it as sentences.
//! * [`compile`] resolves once what one workload's proxy enforces ([`compile::CompiledPolicy`],
//!   the filter's plugin configuration); [`enforce`] is the run-time decision the proxy-wasm
//!   filter makes per connection from it.
//! * [`plan`] computes an ordered migration to STRICT whose every step is proven, call by call,
//!   to break nothing (docs/plan.md).
//!
//! The modules depend one way, in the layers docs/architecture.md lists.
//!
//! Each rule cites, where it is implemented, the Istio function it follows (`docs/architecture.md`
//! says which module holds which rule). The crate does no I/O and never panics.

#![forbid(unsafe_code)]

pub mod analysis;
pub mod authz;
pub mod client;
pub mod compile;
pub mod convert;
pub mod diagnostic;
pub mod diff;
pub mod enforce;
pub mod explain;
pub mod identity;
pub mod index;
pub mod lint;
pub mod model;
pub mod parse;
pub mod plan;
pub mod provenance;
pub mod reach;
pub mod report;
pub mod server;
pub mod source;
pub mod synth;
pub mod version;

pub use analysis::{Analysis, Options, QueryError, UnusableInput};
pub use diagnostic::{Code, Diagnostic, Severity};
pub use source::{Location, Source};
pub use version::IstioVersion;
