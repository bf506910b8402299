//! `meshlock simulate`: a mesh on loopback. For the workloads of the analysed input it starts,
//! in this process, a tiny upstream app per workload, a server-side sidecar (the filter inbound,
//! rustls termination) per workload port, and a client-side sidecar (the filter outbound, a
//! rustls client presenting the workload's certificate) per calling workload, all on
//! 127.0.0.1 with certificates per identity from the test CA. Then it drives every call the
//! core's reach listing holds over that real two-proxy path and sets what it observed beside
//! what reach predicted.
//!
//! What each sidecar does comes from the core: the compiled policy of each workload (both
//! directions), and per call the client TLS and SNI (`Call::client_tls`, `Call::verifies`) and
//! the server's mode for the target port (`Call::server_mode`). Nothing here decides a policy.

use crate::ca::{LeafSpec, TestCa};
use crate::datapath::{FilterKind, Listener, ServerTls, parse_request_head, parse_response_head};
use crate::outbound::{
    ClientTls, ENDPOINT_HEADER, FAILURE_HEADER, OutboundProxy, REASON_HEADER, Route, UPSTREAM_HEADER, UpstreamFailure,
    UpstreamTls,
};
use crate::tcp::Proxy;
use meshlock_core::compile::CompiledPolicy;
use meshlock_core::compile::plugin::{Direction, LogSetting, PluginConfig};
use meshlock_core::reach::{ReachFilter, SymptomClass, app_speaks_tls};
use meshlock_core::report::{Call, ClientTlsKind, ServerModeKind};
use meshlock_core::{Analysis, model::WorkloadKind};
use meshlock_proxy_host::{FilterModule, PluginSettings};
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most calls one run drives.
pub const MAX_CALLS: usize = 200_000;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimulateError {
    /// The input or the selection cannot be simulated (exit 2).
    #[error("{0}")]
    Input(String),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Setup(String),
}

/// Changes a workload's compiled policy before its sidecars load it (tests break a
/// configuration on purpose this way).
pub type Tamper = Arc<dyn Fn(&mut CompiledPolicy) + Send + Sync>;

/// How a run is bounded and laid out.
#[derive(Clone)]
pub struct SimulateOptions {
    pub filter: ReachFilter,
    /// Stop driving calls after this many (the rest are counted as not driven).
    pub max_calls: usize,
    /// Stop driving calls after this long.
    pub deadline: Duration,
    /// Calls in flight at once.
    pub parallel: usize,
    /// The first port of the listeners (consecutive ports); 0: any free ports.
    pub base_port: u16,
    pub tamper: Option<Tamper>,
}

impl std::fmt::Debug for SimulateOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulateOptions")
            .field("max_calls", &self.max_calls)
            .field("deadline", &self.deadline)
            .field("parallel", &self.parallel)
            .field("base_port", &self.base_port)
            .finish_non_exhaustive()
    }
}

impl Default for SimulateOptions {
    fn default() -> Self {
        Self {
            filter: ReachFilter::default(),
            max_calls: MAX_CALLS,
            deadline: Duration::from_secs(3600),
            parallel: 4,
            base_port: 0,
            tamper: None,
        }
    }
}

/// An outcome in the terms both sides share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    pub mtls: bool,
    pub class: SymptomClass,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.ok, self.mtls) {
            (true, true) => f.write_str("ok mTLS"),
            (true, false) => f.write_str("ok plaintext"),
            (false, _) => write!(f, "fails {}", self.class.as_str()),
        }
    }
}

/// One call: the prediction, and what the running mesh did (or why it was not run).
#[derive(Debug, Clone)]
pub struct Row {
    pub call: Call,
    pub predicted: Outcome,
    pub observed: Result<Observed, String>,
}

#[derive(Debug, Clone)]
pub struct Observed {
    pub outcome: Outcome,
    /// Status line and reason, for a failing call.
    pub detail: String,
}

impl Row {
    pub fn agrees(&self) -> Option<bool> {
        self.observed.as_ref().ok().map(|o| o.outcome == self.predicted)
    }
}

#[derive(Debug)]
pub struct SimulateReport {
    pub rows: Vec<Row>,
    /// Calls reach listed beyond `max_calls` or the deadline.
    pub not_driven: usize,
    pub listeners: usize,
    pub setup: Duration,
    pub drive: Duration,
}

impl SimulateReport {
    pub fn simulated(&self) -> usize {
        self.rows.iter().filter(|r| r.observed.is_ok()).count()
    }
    pub fn disagreements(&self) -> usize {
        self.rows.iter().filter(|r| r.agrees() == Some(false)).count()
    }
}

/// Why a call cannot run on loopback, if it cannot.
fn not_simulated(a: &Analysis, call: &Call) -> Option<String> {
    let endpoint = a.workload(&call.to_workload).ok().map(|(_, w)| w)?;
    let kind = endpoint.workload.kind;
    if call.to_workload == "default/kubernetes" || call.to.starts_with("kubernetes.default.svc") {
        return Some("the Kubernetes API server".to_owned());
    }
    if !kind.is_client() {
        let what = match kind {
            WorkloadKind::ServiceEntryHost => "an external host (a ServiceEntry host)",
            WorkloadKind::ServiceEntryEndpoint => "a ServiceEntry endpoint address",
            _ => "an endpoint address no workload of the input stands behind",
        };
        return Some(format!("the endpoint is {what}"));
    }
    if endpoint.workload.pod_labels.get("istio").is_some_and(|v| v.ends_with("gateway")) {
        return Some("the endpoint is a gateway".to_owned());
    }
    if matches!(call.client_tls, ClientTlsKind::Simple | ClientTlsKind::Mutual) {
        return Some("TLS origination with the app's own certificates (SIMPLE/MUTUAL)".to_owned());
    }
    let (host, port) = call.to.rsplit_once(':')?;
    let sp = a.find_service(host).and_then(|s| s.port(port.parse().ok()?))?;
    if app_speaks_tls(sp) {
        return Some("the app speaks its own TLS on this port".to_owned());
    }
    None
}

fn predicted(call: &Call) -> Outcome {
    Outcome { ok: call.outcome.ok(), mtls: call.outcome.mtls(), class: call.symptom_class() }
}

/// Hands out listener addresses: consecutive ports from a base, or any free port.
struct Ports {
    next: u16,
}

impl Ports {
    async fn bind(&mut self) -> Result<tokio::net::TcpListener, SimulateError> {
        let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.next));
        if self.next != 0 {
            self.next = self.next.checked_add(1).ok_or_else(|| {
                SimulateError::Input("the listeners need more ports than there are above --base-port".to_owned())
            })?;
        }
        tokio::net::TcpListener::bind(addr).await.map_err(|source| SimulateError::Bind { addr, source })
    }
}

/// Runs the simulation. Every listener and task is stopped when this returns.
pub fn simulate(
    analysis: &Analysis,
    module: &FilterModule,
    options: &SimulateOptions,
) -> Result<SimulateReport, SimulateError> {
    let started = Instant::now();
    for f in &options.filter.from {
        analysis.workload(f).map_err(|e| SimulateError::Input(e.to_string()))?;
    }
    let calls = analysis.reach(&options.filter).calls;
    if calls.is_empty() {
        let what = if options.filter.to.is_empty() {
            "no calls to simulate: the input has no service with an endpoint".to_owned()
        } else {
            format!("no calls to simulate: the mesh knows no destination `{}`", options.filter.to.join("`, `"))
        };
        return Err(SimulateError::Input(what));
    }
    let not_driven = calls.len().saturating_sub(options.max_calls);
    let mut pending: Vec<(Call, Option<String>)> = Vec::new();
    for call in calls.into_iter().take(options.max_calls) {
        let why = not_simulated(analysis, &call);
        pending.push((call, why));
    }
    let listed = pending.len();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(options.parallel.max(1).saturating_mul(2).max(4))
        .enable_all()
        .build()
        .map_err(|e| SimulateError::Setup(e.to_string()))?;
    let result = runtime.block_on(async {
        let mesh = Mesh::start(analysis, module, options, &pending).await?;
        let setup = started.elapsed();
        let t = Instant::now();
        let mesh = Arc::new(mesh);
        let rows = drive(Arc::clone(&mesh), pending, options).await;
        mesh.stop();
        Ok::<_, SimulateError>((rows, mesh.listeners(), setup, t.elapsed()))
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    let (rows, listeners, setup, drive) = result?;
    // Calls the deadline left in the queue count as not driven too.
    let not_driven = not_driven.saturating_add(listed.saturating_sub(rows.len()));
    Ok(SimulateReport { rows, not_driven, listeners, setup, drive })
}

/// The running mesh: where to send each call.
struct Mesh {
    /// Client workload → its client sidecar's address.
    clients: BTreeMap<String, SocketAddr>,
    /// (endpoint workload, target port) → where a connection to it lands (its server sidecar's
    /// listener for that port, or the app itself without a sidecar).
    endpoints: BTreeMap<(String, u16), SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Mesh {
    fn listeners(&self) -> usize {
        self.tasks.len()
    }

    fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }

    async fn start(
        analysis: &Analysis,
        module: &FilterModule,
        options: &SimulateOptions,
        calls: &[(Call, Option<String>)],
    ) -> Result<Self, SimulateError> {
        let mut mesh = Self { clients: BTreeMap::new(), endpoints: BTreeMap::new(), tasks: Vec::new() };
        let result = mesh.start_all(analysis, module, options, calls).await;
        if result.is_err() {
            mesh.stop();
        }
        result.map(|()| mesh)
    }

    async fn start_all(
        &mut self,
        analysis: &Analysis,
        module: &FilterModule,
        options: &SimulateOptions,
        calls: &[(Call, Option<String>)],
    ) -> Result<(), SimulateError> {
        let setup = |e: &dyn std::fmt::Display| SimulateError::Setup(e.to_string());
        let trust_domain = analysis.trust_domains().first().cloned().unwrap_or_else(|| "cluster.local".to_owned());
        let ca = TestCa::generate(&trust_domain).map_err(|e| setup(&e))?;
        let roots = vec![ca.root_der().to_vec()];
        let mut certs: BTreeMap<String, (Vec<Vec<u8>>, Vec<u8>)> = BTreeMap::new();
        let mut cert_for = |identity: &str| -> Result<(Vec<Vec<u8>>, Vec<u8>), SimulateError> {
            if let Some(c) = certs.get(identity) {
                return Ok(c.clone());
            }
            let leaf = ca.issue(&LeafSpec::spiffe(identity)).map_err(|e| setup(&e))?;
            let c = (leaf.chain_der(), leaf.key_der);
            certs.insert(identity.to_owned(), c.clone());
            Ok(c)
        };
        let runnable: Vec<&Call> = calls.iter().filter(|(_, why)| why.is_none()).map(|(c, _)| c).collect();
        // The server side: (endpoint, target port) → the mode reach resolved for it.
        let mut ports: BTreeMap<String, BTreeMap<u16, ServerModeKind>> = BTreeMap::new();
        for c in &runnable {
            ports.entry(c.to_workload.clone()).or_default().insert(c.target_port, c.server_mode);
        }
        let mut next = Ports { next: options.base_port };
        let compile = |key: &str| -> Result<CompiledPolicy, SimulateError> {
            let mut compiled = analysis.compile(key).map_err(|e| SimulateError::Input(e.to_string()))?;
            if let Some(t) = &options.tamper {
                t(&mut compiled);
            }
            Ok(compiled)
        };
        let start_vm = |compiled: &CompiledPolicy, direction: Direction| {
            let config = PluginConfig::compiled(compiled, direction, FilterKind::Http, LogSetting::Off);
            let json = serde_json::to_vec(&config).map_err(|e| setup(&e))?;
            let vm = module.start(PluginSettings::new(json, &FilterKind::Http.root_id())).map_err(|e| setup(&e))?;
            if !vm.configured() {
                let why = vm.logs().iter().map(|l| l.message.clone()).collect::<Vec<_>>().join("; ");
                return Err(SimulateError::Setup(format!(
                    "the filter refused the configuration of `{}`: {why}",
                    compiled.workload
                )));
            }
            Ok(vm)
        };
        for (key, modes) in &ports {
            let (_, w) = analysis.workload(key).map_err(|e| SimulateError::Input(e.to_string()))?;
            let app = next.bind().await?;
            let app_addr = app.local_addr().map_err(|e| setup(&e))?;
            self.tasks.push(tokio::spawn(serve_app(app, key.clone())));
            if !w.sidecar {
                for port in modes.keys() {
                    self.endpoints.insert((key.clone(), *port), app_addr);
                }
                continue;
            }
            let compiled = compile(key)?;
            let (chain, private) = cert_for(&w.identity)?;
            let server = ServerTls { chain, key: private, roots: roots.clone() };
            let listener = Listener::new(&server, FilterKind::Http).map_err(|e| setup(&e))?;
            let vm = start_vm(&compiled, Direction::Inbound)?;
            let proxy = Proxy::new(listener.clone(), vm, app_addr);
            for (port, mode) in modes {
                let socket = next.bind().await?;
                let addr = socket.local_addr().map_err(|e| setup(&e))?;
                // A DISABLE port has no TLS chain: a proxy of its own, so that the workload's
                // other ports keep theirs.
                let p = if *mode == ServerModeKind::Disable {
                    Proxy::new(listener.clone().plaintext_only(), start_vm(&compiled, Direction::Inbound)?, app_addr)
                } else {
                    proxy.clone()
                }
                .with_original_port(*port);
                self.tasks.push(tokio::spawn(async move {
                    let _ = p.serve(socket).await;
                }));
                self.endpoints.insert((key.clone(), *port), addr);
            }
        }
        // The client side: one sidecar per calling workload, its routes from reach's calls.
        let mut routes: BTreeMap<String, Vec<Route>> = BTreeMap::new();
        for c in runnable.iter().filter(|c| c.from_sidecar) {
            let Some(address) = self.endpoints.get(&(c.to_workload.clone(), c.target_port)).copied() else {
                continue;
            };
            let (host, port) = c.to.rsplit_once(':').unwrap_or((c.to.as_str(), "80"));
            let tls = match &c.verifies {
                Some(v) => UpstreamTls::IstioMutual { sni: v.sni.clone() },
                None => UpstreamTls::Plaintext,
            };
            routes.entry(c.from.clone()).or_default().push(Route {
                host: host.to_owned(),
                port: port.parse().unwrap_or(80),
                endpoint: c.to_workload.clone(),
                address,
                tls,
            });
        }
        for (client, routes) in routes {
            let (_, w) = analysis.workload(&client).map_err(|e| SimulateError::Input(e.to_string()))?;
            let compiled = compile(&client)?;
            let (chain, key) = cert_for(&w.identity)?;
            let vm = start_vm(&compiled, Direction::Outbound)?;
            let proxy = OutboundProxy::new(vm, routes, &ClientTls { chain, key, roots: roots.clone() })
                .map_err(|e| setup(&e))?;
            let socket = next.bind().await?;
            let addr = socket.local_addr().map_err(|e| setup(&e))?;
            self.tasks.push(tokio::spawn(async move {
                let _ = proxy.serve(socket).await;
            }));
            self.clients.insert(client, addr);
        }
        Ok(())
    }
}

/// The app behind each workload: answers any HTTP/1.1 request with 200 and its own name; what
/// is not HTTP gets a 400 (as a plaintext server answers TLS bytes).
async fn serve_app(socket: tokio::net::TcpListener, name: String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    loop {
        let Ok((mut stream, _)) = socket.accept().await else {
            return;
        };
        let name = name.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let reply = loop {
                let read = tokio::time::timeout(crate::outbound::CALL_TIMEOUT, stream.read(&mut chunk)).await;
                let Ok(Ok(n)) = read else {
                    return;
                };
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                match parse_request_head(&buf, 64 * 1024) {
                    Ok(Some(_)) => {
                        let body = format!("{name}\n");
                        break format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                    }
                    Ok(None) if n > 0 => {}
                    Ok(None) | Err(_) => {
                        break "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned();
                    }
                }
            };
            let _ = stream.write_all(reply.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// Drives the calls, `parallel` at a time, until done or the deadline.
async fn drive(mesh: Arc<Mesh>, calls: Vec<(Call, Option<String>)>, options: &SimulateOptions) -> Vec<Row> {
    let now = Instant::now();
    let deadline = now.checked_add(options.deadline).unwrap_or(now + Duration::from_secs(24 * 3600));
    let queue = Arc::new(std::sync::Mutex::new(calls.into_iter().enumerate().collect::<Vec<_>>()));
    let mut workers = Vec::new();
    for _ in 0..options.parallel.max(1) {
        let (queue, mesh) = (Arc::clone(&queue), Arc::clone(&mesh));
        workers.push(tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            while Instant::now() < deadline {
                let Some((i, (call, why))) = queue.lock().ok().and_then(|mut q| q.pop()) else {
                    break;
                };
                let observed = match why {
                    Some(why) => Err(why),
                    None => Ok(run_call(&mesh, &call)),
                };
                out.push((i, Row { predicted: predicted(&call), call, observed }));
            }
            out
        }));
    }
    let mut rows = Vec::new();
    for w in workers {
        if let Ok(r) = w.await {
            rows.extend(r);
        }
    }
    rows.sort_by_key(|(i, _)| *i);
    rows.into_iter().map(|(_, r)| r).collect()
}

/// One call, as the client app makes it: to its own sidecar, or straight to the endpoint when
/// it has none.
fn run_call(mesh: &Mesh, call: &Call) -> Observed {
    let target = if call.from_sidecar {
        mesh.clients.get(&call.from)
    } else {
        mesh.endpoints.get(&(call.to_workload.clone(), call.target_port))
    };
    let Some(addr) = target.copied() else {
        return observed(false, false, SymptomClass::Other, "no listener for this call".to_owned());
    };
    let request = format!(
        "GET / HTTP/1.1\r\nhost: {}\r\n{ENDPOINT_HEADER}: {}\r\nuser-agent: meshlock-simulate\r\nconnection: close\r\n\r\n",
        call.to, call.to_workload
    );
    let response = TcpStream::connect_timeout(&addr, crate::outbound::CALL_TIMEOUT).and_then(|mut s| {
        s.set_read_timeout(Some(crate::outbound::CALL_TIMEOUT))?;
        s.set_write_timeout(Some(crate::outbound::CALL_TIMEOUT))?;
        s.write_all(request.as_bytes())?;
        let mut out = Vec::new();
        match s.take(1024 * 1024).read_to_end(&mut out) {
            Ok(_) => Ok(out),
            Err(_) if !out.is_empty() => Ok(out),
            Err(e) => Err(e),
        }
    });
    let bytes = match response {
        Ok(b) if !b.is_empty() => b,
        Ok(_) => return observed(false, false, SymptomClass::Reset, "empty reply".to_owned()),
        Err(e) => return observed(false, false, SymptomClass::Reset, e.to_string()),
    };
    let Ok(Some((status, headers, len))) = parse_response_head(&bytes, 64 * 1024) else {
        return observed(false, false, SymptomClass::Other, "not an HTTP response".to_owned());
    };
    let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let body = String::from_utf8_lossy(bytes.get(len..).unwrap_or_default()).trim().to_owned();
    if status == 200 && body == call.to_workload {
        return observed(true, header(UPSTREAM_HEADER) == Some("mtls"), SymptomClass::Ok, String::new());
    }
    let deny = header("x-meshlock-deny");
    // A filter's denial names its reason; the client sidecar's own 503 names what failed.
    let class = match deny {
        Some("secure_naming") => SymptomClass::CertificateVerifyFailed,
        Some("plaintext") => SymptomClass::NoFilterChain,
        Some("authorization") => SymptomClass::Rbac,
        Some(_) => SymptomClass::Other,
        None => match header(FAILURE_HEADER).and_then(UpstreamFailure::from_header) {
            Some(UpstreamFailure::CertificateVerifyFailed) => SymptomClass::CertificateVerifyFailed,
            Some(UpstreamFailure::Upstream) => SymptomClass::Reset,
            // Relayed from the server's sidecar, which answers in Envoy's words only.
            None if status == 503 && body.starts_with("upstream connect error") => SymptomClass::Reset,
            None if status == 400 => SymptomClass::Reset,
            None => SymptomClass::Other,
        },
    };
    let why = header(REASON_HEADER).unwrap_or_default();
    observed(false, false, class, format!("{status} {body} {why}").trim().to_owned())
}

fn observed(ok: bool, mtls: bool, class: SymptomClass, detail: String) -> Observed {
    Observed { outcome: Outcome { ok, mtls, class }, detail }
}
