//! Running a suite's cases through the filter in the wasmtime host.

use super::outbound;
use super::{Case, ClientForm, Decision, Observed, Stage, Suite, SuiteError, SuiteReport, judge, judge_outbound};
use crate::ca::{LeafSpec, TestCa};
use crate::datapath::memory::{Client, ClientIdentity, ClientSetup, Exchange, exchange};
use crate::datapath::{ConnMeta, FilterAction, FilterKind, Listener, ServerTls};
use meshlock_core::{Analysis, Options, Source};
use meshlock_proxy_host::{FilterModule, FilterVm, PluginSettings};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

/// Runs suites through one compiled filter module.
pub struct Runner<'a> {
    module: &'a FilterModule,
    ca: TestCa,
}

impl fmt::Debug for Runner<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner").finish_non_exhaustive()
    }
}

const TRUST_DOMAIN: &str = "cluster.local";
const SERVER_NAME: &str = "localhost";

impl<'a> Runner<'a> {
    pub fn new(module: &'a FilterModule) -> Result<Self, SuiteError> {
        let ca = TestCa::generate(TRUST_DOMAIN)
            .map_err(|e| SuiteError::Setup { file: String::new(), message: e.to_string() })?;
        Ok(Self { module, ca })
    }

    /// The plugin configuration the filter gets for a suite (the same for Envoy): the suite's
    /// policies compiled natively, as `meshlock compile` does, before any VM starts.
    pub fn plugin_config(suite: &Suite, kind: FilterKind) -> Result<String, SuiteError> {
        crate::envoy::plugin_configuration(&suite.workload, &suite.policies, suite.istio_version.as_deref(), kind)
            .map_err(|message| SuiteError::Configuration { file: suite.file.clone(), message })
    }

    fn start_vm(&self, suite: &Suite, kind: FilterKind) -> Result<FilterVm, SuiteError> {
        let settings = PluginSettings::new(Self::plugin_config(suite, kind)?, &kind.root_id());
        let vm = self
            .module
            .start(settings)
            .map_err(|e| SuiteError::Setup { file: suite.file.clone(), message: e.to_string() })?;
        if !vm.configured() {
            let why = vm
                .logs()
                .iter()
                .rev()
                .find(|l| l.level >= 3)
                .map_or_else(|| "on_configure returned false".to_owned(), |l| l.message.clone());
            return Err(SuiteError::Configuration { file: suite.file.clone(), message: why });
        }
        Ok(vm)
    }

    /// The server certificate: the workload's SPIFFE ID (from the core), `localhost`.
    fn server_tls(&self, suite: &Suite) -> Result<ServerTls, SuiteError> {
        let identity = workload_identity(suite)?;
        let leaf = self
            .ca
            .issue(&LeafSpec {
                dns: vec![SERVER_NAME.to_owned()],
                ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
                ..LeafSpec::spiffe(&identity)
            })
            .map_err(|e| SuiteError::Setup { file: suite.file.clone(), message: e.to_string() })?;
        Ok(ServerTls { chain: vec![leaf.cert_der], key: leaf.key_der, roots: vec![self.ca.root_der().to_vec()] })
    }

    fn client_for(&self, form: &ClientForm) -> Result<Client, String> {
        client_for(&self.ca, form)
    }

    /// Runs every case of a suite.
    pub fn run(&self, suite: &Suite) -> Result<SuiteReport, SuiteError> {
        let started = Instant::now();
        let mut net_vm = self.start_vm(suite, FilterKind::Network)?;
        let mut http_vm = self.start_vm(suite, FilterKind::Http)?;
        let startup = started.elapsed();
        let server = self.server_tls(suite)?;
        let setup_err =
            |e: crate::datapath::DataPathError| SuiteError::Setup { file: suite.file.clone(), message: e.to_string() };
        let net = Listener::new(&server, FilterKind::Network).map_err(setup_err)?;
        let http = Listener::new(&server, FilterKind::Http).map_err(setup_err)?;
        let mut cases = Vec::new();
        for (i, case) in suite.cases.iter().enumerate() {
            let case_started = Instant::now();
            let conn_id = u64::try_from(i).unwrap_or(u64::MAX);
            let network = self.run_once(&mut net_vm, &net, case, conn_id);
            let http_result = case.client.sends_http().then(|| self.run_once(&mut http_vm, &http, case, conn_id));
            cases.push(judge(case, network, http_result, case_started.elapsed()));
        }
        for (i, case) in suite.outbound.iter().enumerate() {
            let case_started = Instant::now();
            let workload = (suite.workload.as_str(), suite.policies.as_str(), suite.istio_version.as_deref());
            let observed = outbound::run_case(self.module, &self.ca, &suite.file, workload, (i, case))?;
            cases.push(judge_outbound(case, observed, case_started.elapsed()));
        }
        Ok(SuiteReport { file: suite.file.clone(), cases, startup, duration: started.elapsed() })
    }

    /// One case through one filter kind.
    pub fn run_once(
        &self,
        vm: &mut FilterVm,
        listener: &Listener,
        case: &Case,
        conn_id: u64,
    ) -> Result<Observed, String> {
        let mut client = self.client_for(&case.client)?;
        let setup = ClientSetup::http_get(
            vec![self.ca.root_der().to_vec()],
            SERVER_NAME,
            &format!("{SERVER_NAME}:{}", case.port),
        );
        if let Client::Raw(bytes) = &mut client
            && bytes.is_empty()
        {
            bytes.clone_from(&setup.request);
        }
        let meta = ConnMeta {
            id: conn_id,
            source: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000),
            destination: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), case.port),
        };
        let before = vm.metrics();
        let ex = exchange(listener, vm, &meta, &client, &setup).map_err(|e| e.to_string())?;
        let after = vm.metrics();
        observe(&ex, &decision_metrics(&before, &after))
    }
}

/// The SPIFFE ID of the suite's workload (the server certificate's URI SAN), from the core.
pub fn workload_identity(suite: &Suite) -> Result<String, SuiteError> {
    workload_identity_of(&suite.workload, &suite.policies, suite.istio_version.as_deref())
        .map_err(|message| SuiteError::Configuration { file: suite.file.clone(), message })
}

/// The SPIFFE ID of `workload` in `policies`, from the core.
pub(super) fn workload_identity_of(
    workload: &str,
    policies: &str,
    istio_version: Option<&str>,
) -> Result<String, String> {
    let options = Options { istio_version: istio_version.and_then(|v| v.parse().ok()), ..Options::default() };
    let analysis = Analysis::new(&[Source::new("policies", policies)], &options);
    analysis.workload(workload).map(|(_, w)| w.identity.clone()).map_err(|e| e.to_string())
}

/// The client a form stands for, its certificate minted by `ca`.
pub fn client_for(ca: &TestCa, form: &ClientForm) -> Result<Client, String> {
    Ok(match form {
        ClientForm::Plaintext => Client::Raw(Vec::new()),
        ClientForm::Garbage => Client::Raw(GARBAGE.to_vec()),
        ClientForm::TruncatedHello => Client::TruncatedHello,
        ClientForm::TlsNoCert => Client::Tls(None),
        ClientForm::Identity { uris, issuer, validity, chain, tls12_only } => {
            let spec = LeafSpec {
                common_name: "client".to_owned(),
                uris: uris.clone(),
                dns: if uris.is_empty() { vec!["client.local".to_owned()] } else { Vec::new() },
                issuer: *issuer,
                validity: *validity,
                chain: *chain,
                ..LeafSpec::default()
            };
            let leaf = ca.issue(&spec).map_err(|e| e.to_string())?;
            let identity = ClientIdentity { chain: leaf.chain_der(), key: leaf.key_der };
            if *tls12_only { Client::Tls12(Some(identity)) } else { Client::Tls(Some(identity)) }
        }
    })
}

/// Bytes that are neither a TLS record nor an HTTP request.
pub const GARBAGE: &[u8] = b"\x00\x01\x02\x03 this is neither TLS nor HTTP \xff\xfe\r\n\r\n";

/// The `meshlock.decisions.<verdict>.<reason>` counters that moved.
pub(super) fn decision_metrics(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> Vec<(String, String)> {
    after
        .iter()
        .filter(|(k, v)| before.get(*k).copied().unwrap_or(0) < **v)
        .filter_map(|(k, _)| k.strip_prefix(meshlock_core::compile::plugin::DECISIONS_METRIC_PREFIX))
        .filter_map(|rest| rest.strip_prefix('.')?.split_once('.'))
        .map(|(v, r)| (v.to_owned(), r.to_owned()))
        .collect()
}

fn observe(ex: &Exchange, counted: &[(String, String)]) -> Result<Observed, String> {
    let o = &ex.outcome;
    if let Some(e) = &o.vm_error {
        return Err(format!("filter VM failed: {e}"));
    }
    if let Some(e) = &o.handshake_error {
        if !counted.is_empty() {
            return Err(format!("the handshake failed ({e}) yet the filter counted a decision"));
        }
        let effect = match &ex.client_tls_error {
            Some(c) => format!("handshake failed, client saw: {c}"),
            None => "handshake failed".to_owned(),
        };
        // `invalid peer certificate: certificate expired: verification time …` → the first
        // two parts.
        let reason = e.splitn(3, ": ").take(2).collect::<Vec<_>>().join(": ");
        return Ok(Observed { decision: Decision::Deny, stage: Stage::Handshake, mtls: false, reason, effect });
    }
    if let Some(e) = &o.codec_error {
        return Err(format!("the HTTP codec rejected the request: {e}"));
    }
    let [(verdict, reason)] = counted else {
        return Err(format!("expected exactly one decision metric to move, saw {counted:?}"));
    };
    let (decision, effect) = match &o.filter {
        Some(FilterAction::Allowed) => {
            if ex.upstream_received.is_empty() {
                return Err("the filter continued but nothing reached the upstream".to_owned());
            }
            let effect = match ex.response_status() {
                Some(s) => format!("{s} from upstream"),
                None if !ex.response.is_empty() => "upstream answered".to_owned(),
                None => "forwarded".to_owned(),
            };
            (Decision::Allow, effect)
        }
        Some(FilterAction::Closed) => (Decision::Deny, "closed".to_owned()),
        Some(FilterAction::LocalReply(r)) => {
            if ex.response_status() != Some(u16::try_from(r.status).unwrap_or(0)) {
                return Err(format!(
                    "the filter replied {} but the client read {:?}",
                    r.status,
                    String::from_utf8_lossy(&ex.response)
                ));
            }
            (Decision::Deny, format!("{} local reply", r.status))
        }
        Some(FilterAction::Held) => return Err("the filter paused without deciding".to_owned()),
        None => return Err("the filter never ran".to_owned()),
    };
    if decision.as_str() != verdict {
        return Err(format!("the filter counted {verdict} ({reason}) but the connection was {}", decision.as_str()));
    }
    if decision == Decision::Deny && !ex.upstream_received.is_empty() {
        return Err("denied, yet bytes reached the upstream".to_owned());
    }
    Ok(Observed { decision, stage: Stage::Filter, mtls: o.mtls, reason: reason.clone(), effect })
}
