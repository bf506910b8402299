//! `meshlock envoy-config` (an Envoy bootstrap or an Istio WasmPlugin for one workload) and
//! `meshlock test --target envoy`.

use super::compile::{ensure_usable, write_per_workload};
use super::input;
use super::runtime::{Kind, TestArgs};
use anyhow::{Context as _, Result};
use clap::Args;
use meshlock_core::{Analysis, IstioVersion};
use meshlock_testbed::ca::{LeafSpec, ROOT_CERT, ROOT_KEY, TestCa};
use meshlock_testbed::datapath::FilterKind;
use meshlock_testbed::envoy::process::locate_envoy;
use meshlock_testbed::envoy::runner::SuiteEnvoy;
use meshlock_testbed::envoy::{
    BootstrapSpec, CertFiles, InboundListener, PluginDirection, PluginImage, bootstrap_with_ecds, bootstrap_yaml,
    ecds_file, ecds_path, plugin_configuration_of, wasm_plugin_yaml,
};
use meshlock_testbed::suite::Suite;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct EnvoyConfigArgs {
    /// Files or directories of YAML/JSON: the policies plus the workload's Deployment/Service.
    pub paths: Vec<PathBuf>,
    /// The workload the filter guards (NAMESPACE/NAME).
    #[arg(long, value_name = "NS/NAME", required_unless_present = "all")]
    pub workload: Option<String>,
    /// The Istio version whose behaviour the filter reproduces.
    #[arg(long, value_name = "V")]
    pub istio_version: Option<IstioVersion>,
    /// The filter module Envoy loads (default: the wasm32-unknown-unknown release-wasm build).
    #[arg(long, value_name = "PATH.wasm")]
    pub filter: Option<PathBuf>,
    /// The inbound listener.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:15006")]
    pub listen: SocketAddr,
    /// The application behind the proxy.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub upstream: SocketAddr,
    /// Envoy's admin listener (keep it on loopback).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:15000")]
    pub admin: SocketAddr,
    /// Certificates: ca.crt (mesh root), server.crt/server.key (the workload's SPIFFE ID). A test
    /// CA and the server certificate are created there when missing.
    #[arg(long, value_name = "DIR", default_value = "certs")]
    pub cert_dir: PathBuf,
    /// Load the module as a network filter (decides once per connection, closes on deny: the
    /// default, since mTLS and identity are connection facts) or an HTTP filter (decides every
    /// request, 403 page with the reason; costs a VM call per request, BENCHMARKS.md §4).
    #[arg(long, value_enum, default_value = "network")]
    pub kind: Kind,
    /// Print the Istio WasmPlugin manifest instead of an Envoy bootstrap.
    #[arg(long)]
    pub wasm_plugin: bool,
    /// With --wasm-plugin: a manifest for every workload, written to --out DIR as
    /// NAMESPACE/NAME.yaml (each carries only that workload's compiled inbound policy).
    #[arg(long, requires = "wasm_plugin", requires = "out", conflicts_with = "workload")]
    pub all: bool,
    /// With --wasm-plugin: the published filter image, oci://HOST/REPO:TAG (`meshlock oci push`);
    /// its `sha256` is the manifest digest of the image of --filter, computed here.
    #[arg(long, value_name = "oci://REF", requires = "wasm_plugin")]
    pub image: Option<String>,
    /// Where --all writes.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Deliver the filter's configuration by ECDS from DIR/meshlock_<kind>.yaml (written here,
    /// atomically): run again with new policies and Envoy applies them to the next request,
    /// on open connections too (network filter: to the next connection).
    #[arg(long, value_name = "DIR", conflicts_with = "wasm_plugin")]
    pub ecds: Option<PathBuf>,
}

fn ensure_certs(dir: &std::path::Path, identity: &str) -> Result<CertFiles> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = std::fs::canonicalize(dir)?;
    let ca = if dir.join(ROOT_CERT).is_file() && dir.join(ROOT_KEY).is_file() {
        TestCa::load(&dir)?
    } else {
        let ca = TestCa::generate("cluster.local")?;
        ca.save(&dir)?;
        ca
    };
    let files = CertFiles::in_dir(&dir);
    if !files.cert.is_file() || !files.key.is_file() {
        let leaf = ca.issue(&LeafSpec {
            dns: vec!["localhost".to_owned()],
            ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            ..LeafSpec::spiffe(identity)
        })?;
        std::fs::write(&files.cert, &leaf.cert_pem)?;
        std::fs::write(&files.key, &leaf.key_pem)?;
    }
    Ok(files)
}

pub fn envoy_config(args: &EnvoyConfigArgs) -> Result<ExitCode> {
    let sources = input::load(&args.paths)?;
    let options = super::analysis::read_options(args.istio_version);
    let analysis = super::analysis::analyse_once(&sources, &options);
    ensure_usable(analysis)?;
    let kind = match args.kind {
        Kind::Http => FilterKind::Http,
        Kind::Network => FilterKind::Network,
    };
    let image = match &args.image {
        Some(url) => {
            let reference = meshlock_cli::oci::Reference::parse(url)?;
            let (_, image) = super::oci::image_of(args.filter.as_deref())?;
            let digest = image.manifest_digest();
            if reference.reference.starts_with("sha256:") && reference.reference != digest {
                anyhow::bail!("--image {url}: the image of the filter module has digest {digest}");
            }
            let sha256 = digest.trim_start_matches("sha256:").to_owned();
            Some(PluginImage { url: reference.url(), sha256 })
        }
        None => None,
    };
    if args.all {
        let out = args.out.as_deref().unwrap_or(std::path::Path::new("."));
        return all_wasm_plugins(analysis, out, kind, image.as_ref());
    }
    let Some(workload) = args.workload.as_deref() else {
        anyhow::bail!("--workload NS/NAME (or --wasm-plugin --all --out DIR)");
    };
    let (_, view) = analysis.workload(workload)?;
    let config = plugin_configuration_of(&analysis.compile(workload)?, PluginDirection::Inbound, kind);
    if args.wasm_plugin {
        print!("{}", wasm_plugin_yaml(workload, view.labels(), &config, kind, image.as_ref())?);
        return Ok(ExitCode::SUCCESS);
    }
    let filter = meshlock_testbed::locate_filter(args.filter.as_deref()).map_err(anyhow::Error::msg)?;
    let filter = std::fs::canonicalize(&filter)?;
    let certs = ensure_certs(&args.cert_dir, &view.identity)?;
    let spec = BootstrapSpec {
        filter,
        plugin_config: BTreeMap::from([(kind.as_str(), config)]),
        listeners: vec![InboundListener { kind, address: args.listen }],
        upstream: args.upstream,
        admin: args.admin,
        certs,
        proxy_protocol: false,
        outbound: None,
    };
    if let Some(dir) = &args.ecds {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let dir = std::fs::canonicalize(dir)?;
        let path = ecds_path(&dir, kind);
        let version = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis().to_string())
            .unwrap_or_default();
        let tmp = path.with_extension("new");
        let text = serde_yaml::to_string(&ecds_file(&spec, kind, &version))?;
        std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
        // A rename is what Envoy's directory watch sees as one complete update.
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("meshlock envoy-config: filter configuration (version {version}) in {}", path.display());
        let header = "# Envoy 1.40 bootstrap generated by `meshlock envoy-config --ecds`: the meshlock filter's\n\
                      # configuration comes by ECDS from the directory below; rerun to update it in place.\n";
        print!("{header}{}", serde_yaml::to_string(&bootstrap_with_ecds(&spec, &dir))?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", bootstrap_yaml(&spec)?);
    Ok(ExitCode::SUCCESS)
}

/// One WasmPlugin per workload, each with only that workload's compiled inbound policy: a
/// manifest's size is its own policy's, whatever the mesh's (docs/compiled-policy.md).
fn all_wasm_plugins(
    analysis: &Analysis,
    out: &std::path::Path,
    kind: FilterKind,
    image: Option<&PluginImage>,
) -> Result<ExitCode> {
    let files = analysis.workload_views().iter().zip(analysis.compile_inbound_all()).map(|(view, compiled)| {
        let config = plugin_configuration_of(&compiled, PluginDirection::Inbound, kind);
        let yaml = wasm_plugin_yaml(&compiled.workload, view.labels(), &config, kind, image)?;
        Ok((compiled.workload, yaml.into_bytes()))
    });
    write_per_workload(out, "yaml", "meshlock envoy-config", files)?;
    Ok(ExitCode::SUCCESS)
}

/// `meshlock test --target envoy`: each suite against its own Envoy.
pub fn test_envoy(args: &TestArgs, suites: &[Suite]) -> Result<ExitCode> {
    let wasm = meshlock_testbed::locate_filter(args.filter.as_deref()).map_err(anyhow::Error::msg)?;
    let wasm = std::fs::canonicalize(&wasm)?;
    let envoy = locate_envoy(None)?;
    println!("filter {} in Envoy {}", wasm.display(), envoy.display());
    let scratch = std::env::temp_dir().join(format!("meshlock-envoy-{}", std::process::id()));
    let mut reports = Vec::new();
    let mut result = Ok(());
    for (i, suite) in suites.iter().enumerate() {
        println!(
            "suite {} ({} cases, workload {})",
            suite.file,
            suite.cases.len() + suite.outbound.len(),
            suite.workload
        );
        let dir = scratch.join(format!("suite-{i}"));
        let envoy = match SuiteEnvoy::start(suite, &envoy, &wasm, &dir) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("meshlock test: {e}");
                result = Err(());
                break;
            }
        };
        let report = envoy.run(suite);
        for c in &report.cases {
            println!("{}", c.line());
        }
        let per_case =
            report.duration.checked_div(u32::try_from(report.cases.len()).unwrap_or(1).max(1)).unwrap_or_default();
        println!(
            "  (Envoy pid {} ready in {} ms; {} cases in {} ms, {} ms per case over both filter kinds)",
            envoy.process.pid(),
            report.startup.as_millis(),
            report.cases.len(),
            report.duration.as_millis(),
            per_case.as_millis()
        );
        reports.push(report);
        drop(envoy);
    }
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&scratch);
    } else {
        eprintln!("meshlock test: Envoy's files kept in {}", scratch.display());
        return Ok(ExitCode::from(2));
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, meshlock_testbed::suite::write_junit(&reports))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let passed: usize = reports.iter().map(|r| r.passed()).sum();
    let failed: usize = reports.iter().map(|r| r.failed()).sum();
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
