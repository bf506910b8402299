//! Gateways: servers whose selector or TLS settings cannot work.

use super::d;
use crate::diagnostic::{Code, Diagnostic};
use crate::index::Analysis;
use crate::model::*;

pub(super) fn check(a: &Analysis, out: &mut Vec<Diagnostic>) {
    for gw in &a.resources.gateways {
        if !a.workloads.is_empty()
            && !gw.selector.is_empty()
            && !a.workloads.iter().any(|w| crate::model::selects(&gw.selector, w.labels()))
        {
            let sel: Vec<String> = gw.selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let msg =
                format!("{}: the selector {} matches no gateway workload in the input", gw.meta.id, sel.join(","));
            out.push(d(Code::SelectorMatchesNothing, msg, &gw.meta.at, &gw.meta.id));
        }
        for s in &gw.servers {
            let tls_protocol = matches!(s.protocol.as_str(), "HTTPS" | "TLS");
            let Some(tls) = &s.tls else {
                if tls_protocol {
                    let msg = format!(
                        "{}: server on port {} has protocol {} but no `tls` settings",
                        gw.meta.id, s.port, s.protocol
                    );
                    out.push(d(Code::GatewayTlsMissing, msg, &s.at, &gw.meta.id));
                }
                continue;
            };
            if !tls_protocol {
                if !(s.protocol == "HTTP" && tls.https_redirect && !tls.has_cert_fields) {
                    let msg = format!(
                        "{}: server on port {} ({}) has TLS settings; only HTTPS and TLS servers take them (an HTTP server may only set httpsRedirect)",
                        gw.meta.id, s.port, s.protocol
                    );
                    out.push(d(Code::GatewayTlsOnHttp, msg, &s.at, &gw.meta.id));
                }
                continue;
            }
            match tls.mode {
                GatewayTlsMode::IstioMutual if tls.has_cert_fields => {
                    let msg = format!(
                        "{}: ISTIO_MUTUAL on port {} uses the gateway's Istio certificate; certificate fields must be empty",
                        gw.meta.id, s.port
                    );
                    out.push(d(Code::GatewayIstioMutualFields, msg, &s.at, &gw.meta.id));
                }
                GatewayTlsMode::Simple | GatewayTlsMode::Mutual | GatewayTlsMode::OptionalMutual
                    if !tls.has_credential =>
                {
                    let msg = format!(
                        "{}: {} on port {} needs credentialName or serverCertificate and privateKey",
                        gw.meta.id, tls.mode, s.port
                    );
                    out.push(d(Code::GatewayCredentialMissing, msg, &s.at, &gw.meta.id));
                }
                GatewayTlsMode::Mutual | GatewayTlsMode::OptionalMutual if !tls.has_ca => {
                    let msg = format!(
                        "{}: {} on port {} has no caCertificates to verify client certificates",
                        gw.meta.id, tls.mode, s.port
                    );
                    out.push(d(Code::GatewayMutualWithoutCa, msg, &s.at, &gw.meta.id));
                }
                GatewayTlsMode::Passthrough | GatewayTlsMode::AutoPassthrough if tls.has_cert_fields => {
                    let msg = format!(
                        "{}: {} on port {} does not terminate TLS; its certificates are ignored",
                        gw.meta.id, tls.mode, s.port
                    );
                    out.push(d(Code::GatewayPassthroughCerts, msg, &s.at, &gw.meta.id));
                }
                _ => {}
            }
        }
    }
}
