//! Observed against expected: one case's judgement on one target, and the reports.

use super::{Case, Decision, Expect, OutboundCase, Stage};
use std::fmt;
use std::time::Duration;

/// What one run of a case through one filter kind showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub decision: Decision,
    pub stage: Stage,
    /// `connection.mtls` as the filter saw it.
    pub mtls: bool,
    /// The filter's metric reason (`plaintext`, `mtls_peer`, …) or the handshake error.
    pub reason: String,
    /// How it showed: `closed`, `403`, `200 from upstream`, `TLS alert …`.
    pub effect: String,
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {} ({}), mtls={}", self.decision.as_str(), self.stage.as_str(), self.reason, self.mtls)
    }
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseReport {
    pub name: String,
    pub client: String,
    pub port: u16,
    pub passed: bool,
    /// Through the network filter.
    pub network: Result<Observed, String>,
    /// Through the HTTP filter (clients that send HTTP only).
    pub http: Option<Result<Observed, String>>,
    pub problems: Vec<String>,
    pub duration: Duration,
}

impl CaseReport {
    /// The line `meshlock test` prints.
    pub fn line(&self) -> String {
        let status = if self.passed { "ok  " } else { "FAIL" };
        let what = match &self.network {
            Ok(o) => o.to_string(),
            Err(e) => format!("error: {e}"),
        };
        let mut effects = Vec::new();
        if let Ok(o) = &self.network {
            let label = if self.client.starts_with("upstream ") { "outbound" } else { "network" };
            effects.push(format!("{label}: {}", o.effect));
        }
        if let Some(Ok(o)) = &self.http {
            effects.push(format!("http: {}", o.effect));
        }
        let mut line =
            format!("{status} {} [port {}, {}]: {what}; {}", self.name, self.port, self.client, effects.join(", "));
        for p in &self.problems {
            line.push_str("\n       ");
            line.push_str(p);
        }
        line
    }
}

/// The result of one suite.
#[derive(Debug, Clone)]
pub struct SuiteReport {
    pub file: String,
    pub cases: Vec<CaseReport>,
    pub startup: Duration,
    pub duration: Duration,
}

impl SuiteReport {
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed).count()
    }
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
}

/// An outbound case's report: the decision, and the reason when the case names one.
pub fn judge_outbound(case: &OutboundCase, observed: Result<Observed, String>, duration: Duration) -> CaseReport {
    let mut problems = Vec::new();
    match &observed {
        Ok(o) => {
            if o.decision.as_str() != case.expect.decision {
                problems.push(format!("expected {}, got {o}", case.expect.decision));
            }
            if let Some(reason) = &case.expect.reason
                && reason != &o.reason
            {
                problems.push(format!("expected reason {reason}, got {}", o.reason));
            }
        }
        Err(e) => problems.push(format!("outbound: {e}")),
    }
    CaseReport {
        name: case.name.clone(),
        client: case.upstream.to_string(),
        port: case.destination().map_or(0, |(_, port)| port),
        passed: problems.is_empty(),
        network: observed,
        http: None,
        problems,
        duration,
    }
}

fn matches_expect(o: &Observed, e: &Expect) -> Option<String> {
    let mut wrong = Vec::new();
    if o.decision != e.decision {
        wrong.push(format!("decision {}", e.decision.as_str()));
    }
    if let Some(stage) = e.stage
        && stage != o.stage
    {
        wrong.push(format!("stage {}", stage.as_str()));
    }
    if let Some(mtls) = e.mtls
        && mtls != o.mtls
    {
        wrong.push(format!("mtls={mtls}"));
    }
    (!wrong.is_empty()).then(|| format!("expected {}, got {o}", wrong.join(", ")))
}

/// Checks both filter kinds' observations against the expectation and each other.
pub fn judge(
    case: &Case,
    network: Result<Observed, String>,
    http: Option<Result<Observed, String>>,
    duration: Duration,
) -> CaseReport {
    let mut problems = Vec::new();
    match &network {
        Ok(o) => {
            if let Some(p) = matches_expect(o, &case.expect) {
                problems.push(format!("network filter: {p}"));
            }
        }
        Err(e) => problems.push(format!("network filter: {e}")),
    }
    match &http {
        Some(Ok(o)) => {
            if let Some(p) = matches_expect(o, &case.expect) {
                problems.push(format!("http filter: {p}"));
            }
            // A handshake failure's text depends on when the client learned of it (an alert, or a
            // reset while it still wrote): only a filter's reason must match.
            let reason = |x: &Observed| (x.stage == Stage::Filter).then(|| x.reason.clone());
            if let Ok(n) = &network
                && (n.decision, n.stage, n.mtls, reason(n)) != (o.decision, o.stage, o.mtls, reason(o))
            {
                problems.push(format!("network and http filters disagree: {n} vs {o}"));
            }
        }
        Some(Err(e)) => problems.push(format!("http filter: {e}")),
        None => {}
    }
    CaseReport {
        name: case.name.clone(),
        client: case.client.to_string(),
        port: case.port,
        passed: problems.is_empty(),
        network,
        http,
        problems,
        duration,
    }
}
