//! Command-line parsing and dispatch. Exit codes (DESIGN.md): 0 fine; 1 error-severity
//! diagnostics, a failing call in `--to`, or a failed test case; 2 the command could not run.

mod analysis;
mod compile;
mod envoy;
mod input;
mod plan;
mod render;
mod runtime;
mod serve;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "meshlock", version, about = "What Istio does with your mutual-TLS policies, and why")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every workload and port: the mTLS mode, the policy that decided it, and the diagnostics.
    Analyze(analysis::AnalyzeArgs),
    /// Who can reach whom: client TLS, server mode, outcome and symptom of every call.
    Reach(analysis::ReachArgs),
    /// The precedence story of one workload, in words.
    Explain(analysis::ExplainArgs),
    /// The calls whose outcome or encryption changes between two inputs.
    Diff(analysis::DiffArgs),
    /// An ordered migration to STRICT that breaks no call working today, each step proven.
    Plan(plan::PlanArgs),
    /// v1alpha1 MeshPolicy/Policy to v1beta1 PeerAuthentication YAML on stdout.
    Convert(analysis::ConvertArgs),
    /// What a workload's proxy enforces, resolved once: the filter's compiled policy (JSON).
    Compile(compile::CompileArgs),
    /// Run policy test suites through the filter (wasm) behind a real mTLS data path.
    Test(runtime::TestArgs),
    /// Serve the filter as a TCP proxy: sniffing, rustls termination, the filter, the upstream.
    Host(runtime::HostArgs),
    /// An Envoy 1.40 bootstrap (or an Istio WasmPlugin) loading the filter for one workload.
    EnvoyConfig(envoy::EnvoyConfigArgs),
    /// The test CA: a mesh root, an untrusted root, SPIFFE certificates.
    Ca(runtime::CaArgs),
    /// The browser playground, its assets embedded in the binary.
    Serve(serve::ServeArgs),
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Analyze(a) => analysis::analyze(&a),
        Command::Reach(a) => analysis::reach(&a),
        Command::Explain(a) => analysis::explain(&a),
        Command::Diff(a) => analysis::diff(&a),
        Command::Plan(a) => plan::plan(&a),
        Command::Convert(a) => analysis::convert(&a),
        Command::Compile(a) => compile::compile(&a),
        Command::Test(a) => runtime::test(&a),
        Command::Host(a) => runtime::host(&a),
        Command::EnvoyConfig(a) => envoy::envoy_config(&a),
        Command::Ca(a) => runtime::ca(&a),
        Command::Serve(a) => serve::serve(&a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("meshlock: {e:#}");
            ExitCode::from(2)
        }
    }
}
