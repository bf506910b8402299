//! `meshlock test --target envoy`: a suite against real Envoy loaded with the same `.wasm`.
//!
//! Per suite: a test CA and the workload's server certificate in a scratch directory, a tiny
//! HTTP upstream on 127.0.0.1, one Envoy with two inbound listeners (the module as an HTTP
//! filter and as a network filter, each its own VM), PROXY protocol carrying the case's
//! workload port. Each case is judged from what the rustls client saw, and cross-checked with
//! the filter's decision counters on Envoy's admin `/stats`.
//!
//! A suite with outbound cases also gets the outbound listener (the module loaded outbound, its
//! own VM), one cluster per case originating Istio mTLS with the workload's certificate (or
//! plaintext) toward the case's upstream server, the same server the host target calls; the
//! response and the counters are judged as the host's are.

use super::client::{Seen, drive};
use super::process::{EnvoyProcess, free_port};
use super::{
    BootstrapSpec, CertFiles, EnvoyError, InboundListener, OutboundListener, OutboundRoute, PluginDirection,
    bootstrap_yaml, compiled_configuration,
};
use crate::ca::{LeafSpec, TestCa};
use crate::datapath::FilterKind;
use crate::datapath::memory::Client;
use crate::suite::outbound::{
    UpstreamServer, call, client_leaf, endpoint_of, observe as observe_outbound, upstream_tls,
};
use crate::suite::{
    Case, ClientForm, Decision, Observed, OutboundCase, Runner, Stage, Suite, SuiteReport, client_for, judge,
    judge_outbound, workload_identity,
};
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long Envoy may take to report `/ready` LIVE.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

const SERVER_NAME: &str = "localhost";

/// A tiny HTTP/1.1 200 responder on 127.0.0.1, stopped on drop.
#[derive(Debug)]
pub struct Upstream {
    pub addr: SocketAddr,
    _server: UpstreamServer,
}

impl Upstream {
    pub fn start() -> std::io::Result<Self> {
        let server = UpstreamServer::serve(|mut s| {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                }
            }
            let body = "hello from upstream\n";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        })?;
        Ok(Self { addr: server.addr, _server: server })
    }
}

/// One suite's Envoy: the process, its listeners, the CA that minted its certificates.
#[derive(Debug)]
pub struct SuiteEnvoy {
    pub process: EnvoyProcess,
    pub listeners: BTreeMap<&'static str, SocketAddr>,
    pub ca: TestCa,
    pub dir: PathBuf,
    pub config: PathBuf,
    /// The outbound listener, when the suite has outbound cases.
    pub outbound: Option<SocketAddr>,
    _upstream: Upstream,
    _outbound_upstreams: Vec<UpstreamServer>,
}

fn setup(file: &str, e: impl std::fmt::Display) -> crate::suite::SuiteError {
    crate::suite::SuiteError::Setup { file: file.to_owned(), message: e.to_string() }
}

/// What [`prepare`] wrote: the CA, the bootstrap, the listeners per filter kind, the admin; the
/// outbound listener and its upstream servers, when the suite has outbound cases.
#[derive(Debug)]
pub struct Prepared {
    pub ca: TestCa,
    pub config: PathBuf,
    pub listeners: BTreeMap<&'static str, SocketAddr>,
    pub admin: SocketAddr,
    pub outbound: Option<SocketAddr>,
    pub outbound_upstreams: Vec<UpstreamServer>,
}

/// The outbound side of `suite`: the workload's client certificate written into `dir`, an
/// upstream server per case (started: the clusters name their addresses), the listener.
fn outbound_side(
    suite: &Suite,
    ca: &TestCa,
    dir: &Path,
) -> Result<(OutboundListener, Vec<UpstreamServer>), crate::suite::SuiteError> {
    let f = suite.file.as_str();
    let workload = (suite.workload.as_str(), suite.policies.as_str(), suite.istio_version.as_deref());
    let leaf = client_leaf(ca, workload).map_err(|e| setup(f, e))?;
    let (client_cert, client_key) = (dir.join("client.crt"), dir.join("client.key"));
    std::fs::write(&client_cert, &leaf.cert_pem).map_err(|e| setup(f, e))?;
    std::fs::write(&client_key, &leaf.key_pem).map_err(|e| setup(f, e))?;
    let plugin_config = compiled_configuration(
        &suite.workload,
        &suite.policies,
        suite.istio_version.as_deref(),
        PluginDirection::Outbound,
        FilterKind::Http,
    )
    .map_err(|message| crate::suite::SuiteError::Configuration { file: f.to_owned(), message })?;
    let mut servers = Vec::new();
    let mut routes = Vec::new();
    for (i, case) in suite.outbound.iter().enumerate() {
        let server = UpstreamServer::start(ca, &case.upstream).map_err(|e| setup(f, e))?;
        routes.push(OutboundRoute { endpoint: endpoint_of(i), address: server.addr, tls: upstream_tls(case) });
        servers.push(server);
    }
    let address = free_port().map_err(|e| setup(f, e))?;
    Ok((OutboundListener { address, plugin_config, client_cert, client_key, routes }, servers))
}

/// Writes the CA, the server certificate and the bootstrap for `suite` into `dir`; starts only
/// the outbound cases' upstream servers (Envoy is not started).
pub fn prepare(
    suite: &Suite,
    wasm: &Path,
    dir: &Path,
    upstream: SocketAddr,
) -> Result<Prepared, crate::suite::SuiteError> {
    let f = suite.file.as_str();
    std::fs::create_dir_all(dir).map_err(|e| setup(f, e))?;
    let ca = TestCa::generate("cluster.local").map_err(|e| setup(f, e))?;
    ca.save(dir).map_err(|e| setup(f, e))?;
    let identity = workload_identity(suite)?;
    let leaf = ca
        .issue(&LeafSpec {
            dns: vec![SERVER_NAME.to_owned()],
            ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            ..LeafSpec::spiffe(&identity)
        })
        .map_err(|e| setup(f, e))?;
    let certs = CertFiles::in_dir(dir);
    std::fs::write(&certs.cert, &leaf.cert_pem).map_err(|e| setup(f, e))?;
    let (outbound, outbound_upstreams) = if suite.outbound.is_empty() {
        (None, Vec::new())
    } else {
        let (listener, servers) = outbound_side(suite, &ca, dir)?;
        (Some(listener), servers)
    };
    std::fs::write(&certs.key, &leaf.key_pem).map_err(|e| setup(f, e))?;
    let admin = free_port().map_err(|e| setup(f, e))?;
    let mut listeners = BTreeMap::new();
    let mut plugin_config = BTreeMap::new();
    let mut inbound = Vec::new();
    // An outbound-only suite needs no inbound listener (nor their VMs).
    let inbound_kinds = if suite.cases.is_empty() { Vec::new() } else { vec![FilterKind::Network, FilterKind::Http] };
    for kind in inbound_kinds {
        let addr = free_port().map_err(|e| setup(f, e))?;
        listeners.insert(kind.as_str(), addr);
        plugin_config.insert(kind.as_str(), Runner::plugin_config(suite, kind)?);
        inbound.push(InboundListener { kind, address: addr });
    }
    let spec = BootstrapSpec {
        filter: wasm.to_owned(),
        plugin_config,
        listeners: inbound,
        upstream,
        admin,
        certs,
        proxy_protocol: true,
        outbound,
    };
    let config = dir.join("envoy.yaml");
    std::fs::write(&config, bootstrap_yaml(&spec).map_err(|e| setup(f, e))?).map_err(|e| setup(f, e))?;
    let outbound = spec.outbound.as_ref().map(|o| o.address);
    Ok(Prepared { ca, config, listeners, admin, outbound, outbound_upstreams })
}

impl SuiteEnvoy {
    /// Prepares `dir` and starts Envoy on it (bounded by [`READY_TIMEOUT`]).
    pub fn start(suite: &Suite, envoy: &Path, wasm: &Path, dir: &Path) -> Result<Self, crate::suite::SuiteError> {
        let f = suite.file.as_str();
        let upstream = Upstream::start().map_err(|e| setup(f, e))?;
        let Prepared { ca, config, listeners, admin, outbound, outbound_upstreams } =
            prepare(suite, wasm, dir, upstream.addr)?;
        let process =
            EnvoyProcess::start(envoy, &config, admin, &dir.join("envoy.log"), READY_TIMEOUT).map_err(|e| match e {
                EnvoyError::Start(m) if m.contains("configuration refused") => {
                    crate::suite::SuiteError::Configuration { file: f.to_owned(), message: m }
                }
                other => setup(f, other),
            })?;
        Ok(Self {
            process,
            listeners,
            ca,
            dir: dir.to_owned(),
            config,
            outbound,
            _upstream: upstream,
            _outbound_upstreams: outbound_upstreams,
        })
    }

    /// The filter's decision counters (`<verdict>.<reason>` → value).
    pub fn decisions(&self) -> Result<BTreeMap<String, u64>, EnvoyError> {
        Ok(self
            .process
            .counters(meshlock_core::compile::plugin::DECISIONS_METRIC_PREFIX)?
            .into_iter()
            // Envoy may prepend its own prefix (`wasmcustom.`).
            .filter_map(|(k, v)| {
                let (_, rest) = k.split_once(meshlock_core::compile::plugin::DECISIONS_METRIC_PREFIX)?;
                Some((rest.strip_prefix('.')?.to_owned(), v))
            })
            .collect())
    }

    /// One case through the listener of `kind`.
    pub fn run_once(&self, case: &Case, kind: FilterKind) -> Result<Observed, String> {
        let listener = *self.listeners.get(kind.as_str()).ok_or("no listener for this filter kind")?;
        let client = client_for(&self.ca, &case.client)?;
        let before = self.decisions().map_err(|e| e.to_string())?;
        let destination = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), case.port);
        let roots = vec![self.ca.root_der().to_vec()];
        let authority = format!("{SERVER_NAME}:{}", case.port);
        let seen = drive(listener, destination, &client, &roots, SERVER_NAME, &authority).map_err(|e| e.to_string())?;
        let after = self.decisions().map_err(|e| e.to_string())?;
        observe(&case.client, &client, &seen, &moved(&before, &after))
    }

    /// Outbound case `index` through the outbound listener: the app's call, Envoy's answer, the
    /// filter's counters, judged as the host's client side is.
    pub fn run_outbound(&self, index: usize, case: &OutboundCase) -> Result<Observed, String> {
        let listener = self.outbound.ok_or("no outbound listener")?;
        let before = self.decisions().map_err(|e| e.to_string())?;
        let response = call(listener, &case.to, &endpoint_of(index))?;
        let after = self.decisions().map_err(|e| e.to_string())?;
        Ok(observe_outbound(&response, &moved(&before, &after), case.originates_tls()))
    }

    /// Every case of a suite (network listener; HTTP listener for clients that send HTTP).
    pub fn run(&self, suite: &Suite) -> SuiteReport {
        let started = Instant::now();
        let mut cases: Vec<_> = suite
            .cases
            .iter()
            .map(|case| {
                let t = Instant::now();
                let network = self.run_once(case, FilterKind::Network);
                let http = case.client.sends_http().then(|| self.run_once(case, FilterKind::Http));
                judge(case, network, http, t.elapsed())
            })
            .collect();
        for (i, case) in suite.outbound.iter().enumerate() {
            let t = Instant::now();
            cases.push(judge_outbound(case, self.run_outbound(i, case), t.elapsed()));
        }
        SuiteReport { file: suite.file.clone(), cases, startup: self.process.startup, duration: started.elapsed() }
    }
}

/// The decision counters (`<verdict>.<reason>`) that moved between two reads.
fn moved(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> Vec<(String, String)> {
    after
        .iter()
        .filter(|(k, v)| before.get(*k).copied().unwrap_or(0) < **v)
        .filter_map(|(k, _)| k.split_once('.'))
        .map(|(v, r)| (v.to_owned(), r.to_owned()))
        .collect()
}

/// Turns what the client saw (and the counters that moved) into the suite's observation.
fn observe(form: &ClientForm, client: &Client, seen: &Seen, moved: &[(String, String)]) -> Result<Observed, String> {
    if let Seen::HandshakeFailed(e) = seen {
        if !moved.is_empty() {
            return Err(format!("the handshake failed ({e}) yet the filter counted {moved:?}"));
        }
        return Ok(Observed {
            decision: Decision::Deny,
            stage: Stage::Handshake,
            mtls: false,
            reason: e.clone(),
            effect: format!("client saw {seen}"),
        });
    }
    let decision = match seen {
        Seen::Status(200) | Seen::Data(_) => Decision::Allow,
        Seen::Status(403) | Seen::Closed(_) => Decision::Deny,
        Seen::Status(s) => return Err(format!("unexpected HTTP {s} from Envoy")),
        Seen::HandshakeFailed(_) => Decision::Deny,
    };
    let [(verdict, reason)] = moved else {
        return Err(format!("client saw {seen}, but expected exactly one decision counter to move, saw {moved:?}"));
    };
    if verdict != decision.as_str() {
        return Err(format!("the filter counted {verdict} ({reason}) but the client saw {seen}"));
    }
    // `connection.mtls`: a client certificate was presented and verified (the handshake passed).
    let mtls = matches!(form, ClientForm::Identity { .. }) && client.tls().is_some_and(|(id, _)| id.is_some());
    Ok(Observed { decision, stage: Stage::Filter, mtls, reason: reason.clone(), effect: seen.to_string() })
}

/// Decision, stage, mtls and (for filter decisions) the reason: what both targets must agree on.
pub fn agreement_key(o: &Observed) -> String {
    match o.stage {
        Stage::Handshake => format!("{} at handshake", o.decision.as_str()),
        Stage::Filter => format!("{} at filter ({}), mtls={}", o.decision.as_str(), o.reason, o.mtls),
    }
}
