//! Command-line parsing and dispatch. Exit codes (docs/contracts.md): 0 fine; 1 error-severity
//! diagnostics, a failing call in `--to`, or a failed test case; 2 the command could not run.
//!
//! Installed as `kubectl-meshlock` (a link or a copy on the PATH), the same binary is a kubectl
//! plugin: `kubectl meshlock analyze …` runs it with the arguments after the plugin name, so
//! only the name shown in help and usage changes.

mod analysis;
mod compile;
mod envoy;
mod input;
mod manual;
mod oci;
mod plan;
mod render;
mod runtime;
mod serve;
mod simulate;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

/// The executable name kubectl looks for on the PATH to run `kubectl meshlock`.
const KUBECTL_PLUGIN: &str = "kubectl-meshlock";

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
    /// Start the mesh's sidecars on 127.0.0.1 and drive every call reach lists through them.
    Simulate(simulate::SimulateArgs),
    /// An Envoy 1.40 bootstrap (or an Istio WasmPlugin) loading the filter for one workload.
    EnvoyConfig(envoy::EnvoyConfigArgs),
    /// The test CA: a mesh root, an untrusted root, SPIFFE certificates.
    Ca(runtime::CaArgs),
    /// The browser playground, its assets embedded in the binary.
    Serve(serve::ServeArgs),
    /// The filter module as an OCI image Istio's agent pulls: push it, or print its digests.
    #[command(subcommand)]
    Oci(oci::OciCommand),
    /// A shell completion script on stdout (`source <(meshlock completions bash)`).
    Completions(manual::CompletionsArgs),
    /// The manual page(s) in roff: meshlock(1) on stdout, or one page per command into a directory.
    Man(manual::ManArgs),
}

/// The command line as this executable was invoked: `meshlock`, or `kubectl meshlock` when
/// the file is named `kubectl-meshlock`.
fn command() -> clap::Command {
    let invoked_as = std::env::args_os()
        .next()
        .and_then(|a| std::path::Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()));
    let cmd = Cli::command();
    if invoked_as.as_deref() == Some(KUBECTL_PLUGIN) {
        cmd.bin_name("kubectl meshlock")
    } else {
        cmd.bin_name("meshlock")
    }
}

pub fn main() -> ExitCode {
    let cli = match command().try_get_matches().and_then(|m| Cli::from_arg_matches(&m)) {
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
        Command::Simulate(a) => simulate::simulate(&a),
        Command::EnvoyConfig(a) => envoy::envoy_config(&a),
        Command::Ca(a) => runtime::ca(&a),
        Command::Serve(a) => serve::serve(&a),
        Command::Oci(c) => oci::oci(&c),
        Command::Completions(a) => manual::completions(&a, command()),
        Command::Man(a) => manual::man(&a, Cli::command()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("meshlock: {e:#}");
            ExitCode::from(2)
        }
    }
}
