//! The runtime commands: `test` (suites through the filter in the host), `host` (the TCP
//! proxy), `ca` (the test CA).

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use meshlock_proxy_host::{FilterModule, PluginSettings};
use meshlock_testbed::ca::{self, IssuerKind, LeafSpec, ROOT_CERT, ROOT_KEY, TestCa, Validity, inspect_text};
use meshlock_testbed::datapath::{FilterKind, Listener, ServerTls};
use meshlock_testbed::suite::{Runner, SuiteError, load_suite, write_junit};
use meshlock_testbed::tcp::Proxy;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// The filter in meshlock's wasmtime host, over in-memory rustls connections.
    Host,
    /// The filter in real Envoy 1.40 (V8), over TCP on 127.0.0.1 (`scripts/setup-envoy.sh`).
    Envoy,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Suite files (the format: docs/contracts.md, "Test suites").
    #[arg(required = true)]
    pub suites: Vec<PathBuf>,
    /// Where the filter runs.
    #[arg(long, value_enum, default_value = "host")]
    pub target: Target,
    /// Also write the results as JUnit XML.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// The filter module (default: the wasm32-unknown-unknown release-wasm build).
    #[arg(long, value_name = "PATH.wasm")]
    pub filter: Option<PathBuf>,
}

pub fn test(args: &TestArgs) -> Result<ExitCode> {
    let mut suites = Vec::new();
    for path in &args.suites {
        match load_suite(path) {
            Ok(s) => suites.push(s),
            Err(e) => {
                eprintln!("meshlock test: {e}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    if args.target == Target::Envoy {
        return super::envoy::test_envoy(args, &suites);
    }
    let wasm = meshlock_testbed::locate_filter(args.filter.as_deref()).map_err(anyhow::Error::msg)?;
    let module = FilterModule::from_file(&wasm)?;
    println!(
        "filter {} ({} KiB, {}), compiled in {} ms",
        wasm.display(),
        module.size() / 1024,
        if module.is_wasi() { "wasm32-wasip1" } else { "wasm32-unknown-unknown" },
        module.compile_time().as_millis()
    );
    let runner = Runner::new(&module)?;
    let mut reports = Vec::new();
    for suite in &suites {
        println!(
            "suite {} ({} cases, workload {})",
            suite.file,
            suite.cases.len() + suite.outbound.len(),
            suite.workload
        );
        let report = match runner.run(suite) {
            Ok(r) => r,
            Err(e @ (SuiteError::Configuration { .. } | SuiteError::Setup { .. })) => {
                eprintln!("meshlock test: {e}");
                return Ok(ExitCode::from(2));
            }
            Err(e) => return Err(e.into()),
        };
        for c in &report.cases {
            println!("{}", c.line());
        }
        let per_case =
            report.duration.checked_div(u32::try_from(report.cases.len()).unwrap_or(1).max(1)).unwrap_or_default();
        println!(
            "  (VMs started in {} µs; {} cases in {} ms, {} µs per case over both filter kinds)",
            report.startup.as_micros(),
            report.cases.len(),
            report.duration.as_millis(),
            per_case.as_micros()
        );
        reports.push(report);
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, write_junit(&reports)).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let passed: usize = reports.iter().map(|r| r.passed()).sum();
    let failed: usize = reports.iter().map(|r| r.failed()).sum();
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Http,
    Network,
}

#[derive(Debug, Args)]
pub struct HostArgs {
    /// The plugin configuration JSON (docs/filter-and-host.md, "Plugin configuration").
    #[arg(long, value_name = "PLUGIN.json")]
    pub config: PathBuf,
    /// Address to listen on, e.g. 127.0.0.1:15006 (port 0: any free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Where admitted connections go.
    #[arg(long, value_name = "ADDR")]
    pub upstream: SocketAddr,
    /// Test CA directory (`meshlock ca init`); a server certificate is issued into it when
    /// missing. Default: a new CA in a temporary directory.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Load the module as an HTTP or a network filter (default: the configuration's `kind`,
    /// else http).
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
    /// The filter module (default: the wasm32-unknown-unknown release-wasm build).
    #[arg(long, value_name = "PATH.wasm")]
    pub filter: Option<PathBuf>,
}

const SERVER_CERT: &str = "server.crt";
const SERVER_KEY: &str = "server.key";

fn server_tls(dir: &Path, identity: Option<&str>) -> Result<ServerTls> {
    let ca = if dir.join(ROOT_CERT).is_file() && dir.join(ROOT_KEY).is_file() {
        TestCa::load(dir)?
    } else {
        let ca = TestCa::generate("cluster.local")?;
        ca.save(dir)?;
        ca
    };
    let (cert_path, key_path) = (dir.join(SERVER_CERT), dir.join(SERVER_KEY));
    if !cert_path.is_file() || !key_path.is_file() {
        let mut spec = LeafSpec {
            common_name: "meshlock-host".to_owned(),
            dns: vec!["localhost".to_owned()],
            ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            ..LeafSpec::default()
        };
        if let Some(id) = identity {
            spec.uris.push(id.to_owned());
        }
        let leaf = ca.issue(&spec)?;
        std::fs::write(&cert_path, &leaf.cert_pem)?;
        std::fs::write(&key_path, &leaf.key_pem)?;
    }
    let chain = ca::pem_certificates(&std::fs::read_to_string(&cert_path)?);
    let key_pem = std::fs::read_to_string(&key_path)?;
    let key = rcgen::KeyPair::from_pem(&key_pem)
        .with_context(|| format!("{}: not a PKCS#8 private key", key_path.display()))?
        .serialize_der();
    Ok(ServerTls { chain, key, roots: vec![ca.root_der().to_vec()] })
}

/// The workload's SPIFFE ID, for the server certificate: the compiled policy states it.
fn workload_identity(config: &serde_json::Value) -> Option<String> {
    config.get("compiled")?.get("identity")?.as_str().map(str::to_owned)
}

/// A configuration in the `policies` (YAML) form is compiled here, natively, before the VM
/// starts: the shipped filter reads only the compiled form (docs/compiled-policy.md).
fn compile_yaml_form(json: serde_json::Value, path: &std::path::Path) -> Result<serde_json::Value> {
    let Some(policies) = json.get("policies").and_then(|p| p.as_str()) else {
        return Ok(json);
    };
    let ns = json.pointer("/workload/namespace").and_then(|v| v.as_str()).unwrap_or_default();
    let name = json.pointer("/workload/name").and_then(|v| v.as_str()).unwrap_or_default();
    let version = json.get("istioVersion").and_then(|v| v.as_str());
    let compiled = meshlock_testbed::envoy::compile_policies(&format!("{ns}/{name}"), policies, version)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    use meshlock_core::compile::plugin::{Direction, LogSetting, PluginConfig};
    fn setting<T: serde::de::DeserializeOwned>(json: &serde_json::Value, key: &str) -> Option<T> {
        json.get(key).cloned().and_then(|v| serde_json::from_value(v).ok())
    }
    let mut out = PluginConfig::compiled(&compiled, Direction::Inbound, FilterKind::Http, LogSetting::Decisions);
    out.log = setting(&json, "log");
    out.kind = setting(&json, "kind");
    Ok(serde_json::to_value(out)?)
}

pub fn host(args: &HostArgs) -> Result<ExitCode> {
    let text = std::fs::read(&args.config).with_context(|| format!("cannot read {}", args.config.display()))?;
    let json: serde_json::Value =
        serde_json::from_slice(&text).with_context(|| format!("{}: not JSON", args.config.display()))?;
    if json.get("direction").and_then(|d| d.as_str()) == Some("outbound") {
        // The proxy terminates inbound TLS; it does not originate mTLS to the upstream, so an
        // outbound filter would see no upstream certificate and refuse every response.
        bail!(
            "{}: `meshlock host` serves the inbound side; the outbound side (secure naming) runs in `meshlock simulate` and in the suites' `outbound:` cases",
            args.config.display()
        );
    }
    let json = compile_yaml_form(json, &args.config)?;
    let text = serde_json::to_vec(&json)?;
    let kind = match (args.kind, json.get("kind").and_then(|k| k.as_str())) {
        (Some(Kind::Network), _) | (None, Some("network")) => FilterKind::Network,
        _ => FilterKind::Http,
    };
    let dir = match &args.cert_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("meshlock-host-{}", std::process::id())),
    };
    let identity = workload_identity(&json);
    let server = server_tls(&dir, identity.as_deref())?;
    let wasm = meshlock_testbed::locate_filter(args.filter.as_deref()).map_err(anyhow::Error::msg)?;
    let module = FilterModule::from_file(&wasm)?;
    let mut settings = PluginSettings::new(text, &kind.root_id());
    settings.echo_logs = true;
    let vm = module.start(settings)?;
    if !vm.configured() {
        // Envoy refuses to start on a refused configuration: so does the host.
        bail!("the filter refused the configuration (see its log line above)");
    }
    let listener = Listener::new(&server, kind)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let socket = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = socket.local_addr()?;
        // Installed before "listening" is printed: SIGHUP's default action would end the process.
        #[cfg(unix)]
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        println!(
            "meshlock host: {} filter, listening on {addr}, upstream {}, certificates in {} (ca.crt, server.crt); compiled in {} ms, started in {} µs",
            kind.as_str(),
            args.upstream,
            dir.display(),
            module.compile_time().as_millis(),
            vm.startup_time().as_micros()
        );
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        let proxy = Proxy::new(listener, vm, args.upstream);
        #[cfg(unix)]
        {
            let proxy = proxy.clone();
            let dir = dir.clone();
            tokio::spawn(async move {
                while hangup.recv().await.is_some() {
                    reload_certificate(&proxy, &dir, identity.as_deref(), kind);
                }
            });
        }
        tokio::select! {
            r = proxy.serve(socket) => r.context("accept failed"),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP: re-reads `server.crt` / `server.key` (and the CA) from `dir`; new connections
/// present the new leaf, established ones keep theirs. A bad pair keeps the current one.
fn reload_certificate(proxy: &Proxy, dir: &Path, identity: Option<&str>, kind: FilterKind) {
    let loaded = server_tls(dir, identity).and_then(|s| {
        let serial = s.chain.first().and_then(|c| ca::cert_facts(c).ok()).map(|f| f.serial).unwrap_or_default();
        Ok((Listener::new(&s, kind)?, serial))
    });
    match loaded {
        Ok((listener, serial)) => {
            proxy.set_listener(listener);
            println!("meshlock host: reloaded the server certificate (serial {serial}) from {}", dir.display());
        }
        Err(e) => eprintln!("meshlock host: certificate reload failed, keeping the current certificate: {e:#}"),
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
}

#[derive(Debug, Args)]
pub struct CaArgs {
    #[command(subcommand)]
    pub command: CaCommand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IssuerArg {
    Mesh,
    Untrusted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValidityArg {
    Valid,
    Expired,
    NotYetValid,
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create a mesh root and an untrusted root in DIR.
    Init {
        dir: PathBuf,
        /// Written into the mesh root's subject (`O=`), like istiod's self-signed root.
        #[arg(long, default_value = "cluster.local")]
        trust_domain: String,
    },
    /// Issue a leaf certificate (client and server usage) into DIR/NAME.crt and DIR/NAME.key.
    Issue {
        /// The CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// File name stem for the certificate and key.
        #[arg(long)]
        name: String,
        /// A URI SAN, e.g. spiffe://cluster.local/ns/bar/sa/sleep (repeatable; none: no URI SAN).
        #[arg(long)]
        uri: Vec<String>,
        /// A DNS SAN (repeatable).
        #[arg(long)]
        dns: Vec<String>,
        /// An IP SAN (repeatable).
        #[arg(long)]
        ip: Vec<IpAddr>,
        #[arg(long, value_enum, default_value = "mesh")]
        issuer: IssuerArg,
        #[arg(long, value_enum, default_value = "valid")]
        validity: ValidityArg,
    },
    /// Show subject, issuer, validity and SANs of PEM certificates.
    Inspect {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub fn ca(args: &CaArgs) -> Result<ExitCode> {
    match &args.command {
        CaCommand::Init { dir, trust_domain } => {
            let ca = TestCa::generate(trust_domain)?;
            ca.save(dir)?;
            println!(
                "wrote {} (mesh root), {} and untrusted-ca.crt/.key (a root the mesh does not trust)",
                dir.join(ROOT_CERT).display(),
                dir.join(ROOT_KEY).display()
            );
        }
        CaCommand::Issue { dir, name, uri, dns, ip, issuer, validity } => {
            let ca = TestCa::load(dir)?;
            let spec = LeafSpec {
                common_name: name.clone(),
                uris: uri.clone(),
                dns: dns.clone(),
                ips: ip.clone(),
                issuer: match issuer {
                    IssuerArg::Mesh => IssuerKind::Mesh,
                    IssuerArg::Untrusted => IssuerKind::Untrusted,
                },
                validity: match validity {
                    ValidityArg::Valid => Validity::Current,
                    ValidityArg::Expired => Validity::Expired,
                    ValidityArg::NotYetValid => Validity::NotYetValid,
                },
                ..LeafSpec::default()
            };
            let leaf = ca.issue(&spec)?;
            let (crt, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
            std::fs::write(&crt, &leaf.cert_pem)?;
            std::fs::write(&key, &leaf.key_pem)?;
            println!("wrote {} and {}", crt.display(), key.display());
        }
        CaCommand::Inspect { files } => {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            for f in files {
                let text = std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
                let certs = ca::pem_certificates(&text);
                if certs.is_empty() {
                    bail!("{}: no PEM certificate", f.display());
                }
                for (i, der) in certs.iter().enumerate() {
                    let label =
                        if certs.len() > 1 { format!("{} [{}]", f.display(), i) } else { f.display().to_string() };
                    print!("{}", inspect_text(&label, der, now)?);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
