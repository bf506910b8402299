use super::realise::{majority, resulting, workload_winner};
use super::*;
use crate::model::DeclaredMode;
use crate::{IstioVersion, Options};
use serde::Deserialize;

const NAMESPACES: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: foo, labels: {istio-injection: enabled}}\n---\n\
apiVersion: v1\nkind: Namespace\nmetadata: {name: bar, labels: {istio-injection: enabled}}\n---\n\
apiVersion: v1\nkind: Namespace\nmetadata: {name: legacy}\n";

fn app(ns: &str, name: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{app: {name}}}}}\n\
         spec: {{serviceAccountName: {name}, containers: [{{name: app, ports: [{{containerPort: 80}}]}}]}}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\n\
         spec: {{selector: {{app: {name}}}, ports: [{{name: http, port: 8000, targetPort: 80}}]}}\n"
    )
}

fn analysis(text: &str, version: Option<IstioVersion>) -> (Analysis, Vec<Source>) {
    let sources = vec![Source::new("in.yaml", text)];
    (Analysis::new(&sources, &Options { istio_version: version, ..Options::default() }), sources)
}

fn plan_of(text: &str) -> Plan {
    let (a, sources) = analysis(text, None);
    plan(&a, &sources, &PlanOptions::default()).expect("a plan")
}

#[test]
fn majority_prefers_strict_on_a_tie() {
    let ports: BTreeMap<u16, Mode> = [(80, Mode::Strict), (90, Mode::Permissive)].into();
    assert_eq!(majority(&ports, Mode::Permissive), Mode::Strict);
    let ports: BTreeMap<u16, Mode> = [(80, Mode::Disable), (90, Mode::Disable), (91, Mode::Strict)].into();
    assert_eq!(majority(&ports, Mode::Permissive), Mode::Disable);
    assert_eq!(majority(&BTreeMap::new(), Mode::Permissive), Mode::Permissive);
}

#[test]
fn resulting_composes_like_compose_peer_authentication() {
    // `policy_applier_test.go` "port level": workload UNSET over STRICT, ports DISABLE / UNSET.
    let text = format!(
        "{NAMESPACES}{}---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{name: w, namespace: foo}}\n\
         spec:\n  selector: {{matchLabels: {{app: web}}}}\n  portLevelMtls:\n    80: {{mode: DISABLE}}\n    90: {{mode: UNSET}}\n",
        app("foo", "web")
    );
    let (a, _) = analysis(&text, None);
    let (wi, _) = a.workload("foo/web").expect("web");
    let winner = workload_winner(&a, wi);
    assert!(winner.is_some());
    let (ports, default) = resulting(&[80, 90, 100], winner, Mode::Strict);
    assert_eq!(default, Mode::Strict);
    assert_eq!(ports, [(80, Mode::Disable), (90, Mode::Strict), (100, Mode::Strict)].into());
}

#[test]
fn unset_tls_removes_each_kind_of_block() {
    let dr = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r, namespace: foo, resourceVersion: '7'}\n\
              spec:\n  host: web\n  trafficPolicy:\n    tls: {mode: DISABLE}\n    connectionPool: {tcp: {maxConnections: 5}}\n    \
              portLevelSettings:\n    - port: {number: 8000}\n      tls: {mode: DISABLE}\n  subsets:\n  - name: v1\n    labels: {version: v1}\n    \
              trafficPolicy:\n      tls: {}\n      portLevelSettings:\n      - port: {number: 9000}\n        tls: {mode: DISABLE}\nstatus: {}\n";
    let mut v: Value = serde_yaml::from_str(dr).expect("yaml");
    restate::clean(&mut v, "foo");
    for block in [
        TlsBlock::Top,
        TlsBlock::Port(8000),
        TlsBlock::Subset("v1".to_owned()),
        TlsBlock::SubsetPort("v1".to_owned(), 9000),
    ] {
        assert!(restate::unset_tls(&mut v, &block), "{block}");
        assert!(!restate::unset_tls(&mut v, &block), "{block} twice");
    }
    assert!(!restate::unset_tls(&mut v, &TlsBlock::Port(1)));
    let text = restate::stream(&[v]);
    assert!(!text.contains("tls"), "{text}");
    assert!(text.contains("maxConnections: 5"), "the rest of the rule stays: {text}");
    assert!(!text.contains("resourceVersion") && !text.contains("status"), "{text}");
    let parsed = crate::parse::parse_sources(&[Source::new("dr.yaml", text)]);
    let rule = parsed.resources.destination_rules.first().expect("the rule reads back");
    assert_eq!(rule.traffic_policy.as_ref().and_then(|tp| tp.tls.as_ref()), None);
}

#[test]
fn a_new_peer_authentication_reads_back_as_written() {
    let labels: Labels = [("app".to_owned(), "web".to_owned())].into();
    let ports: BTreeMap<u16, Mode> = [(9090, Mode::Permissive)].into();
    let v = restate::new_pa("foo", "web-mtls", Some(&labels), Mode::Strict, &ports);
    let parsed = crate::parse::parse_sources(&[Source::new("pa.yaml", restate::stream(&[v]))]);
    assert!(parsed.diagnostics.iter().all(|d| d.severity != crate::Severity::Error), "{:?}", parsed.diagnostics);
    let pa = parsed.resources.peer_authentications.first().expect("pa");
    assert_eq!(pa.mode, DeclaredMode::Strict);
    assert_eq!(pa.selector.as_ref().map(|s| s.match_labels.clone()), Some(labels));
    assert_eq!(pa.port_level.get(&9090).map(|p| p.mode), Some(DeclaredMode::Permissive));
}

#[test]
fn replaying_policies_equals_reading_the_stream() {
    let input = format!(
        "{NAMESPACES}{}{}---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{name: default, namespace: foo}}\n\
         spec: {{mtls: {{mode: DISABLE}}}}\n",
        app("foo", "web"),
        app("bar", "api")
    );
    let step = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: foo}\n\
                spec: {mtls: {mode: STRICT}}\n---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
                metadata: {name: api, namespace: bar}\nspec:\n  selector: {matchLabels: {app: api}}\n  mtls: {mode: STRICT}\n";
    let (a, _) = analysis(&input, None);
    let replayed = replay(&a, "step.yaml", step).expect("replay");
    let whole =
        Analysis::new(&[Source::new("in.yaml", input.as_str()), Source::new("step.yaml", step)], &Options::default());
    type Modes = Vec<(String, Mode, Vec<(u16, Mode)>)>;
    let modes = |x: &Analysis| -> Modes {
        x.workloads
            .iter()
            .map(|w| (w.key(), w.server.mode, w.server.ports.iter().map(|&p| (p, w.server.mode_for_port(p))).collect()))
            .collect()
    };
    assert_eq!(modes(&replayed), modes(&whole));
    assert_eq!(replayed.namespace_mode("foo"), Some(Mode::Strict));
    assert_eq!(replayed.namespace_modes, whole.namespace_modes);
    assert_eq!(replayed.destination_rules, whole.destination_rules);
    assert_eq!(replayed.resources.peer_authentications.len(), 2);
}

#[test]
fn an_injected_mesh_becomes_strict_in_one_mesh_wide_step() {
    let p = plan_of(&format!("{NAMESPACES}{}{}", app("foo", "web"), app("bar", "api")));
    assert_eq!(p.steps.len(), 1, "{:#?}", p.steps);
    let step = p.steps.first().expect("step");
    assert_eq!(step.level, "mesh");
    assert_eq!(step.resources.len(), 1);
    assert!(step.yaml.contains("namespace: istio-system") && step.yaml.contains("mode: STRICT"), "{}", step.yaml);
    assert!(step.proof.holds());
    assert_eq!(p.coverage.after.strict_ports, p.coverage.after.sidecar_ports);
    assert!(p.blocked.is_empty());
}

#[test]
fn a_server_with_plaintext_callers_keeps_its_mode_and_says_who_they_are() {
    let p = plan_of(&format!("{NAMESPACES}{}{}{}", app("foo", "web"), app("bar", "api"), app("legacy", "old")));
    // Every server is called by legacy/old, which has no sidecar: no port can become STRICT.
    assert_eq!(p.coverage.after.strict_ports, 0);
    let blocked = p.blocked.iter().find(|b| b.workload == "foo/web").expect("foo/web blocked");
    assert_eq!(blocked.ports, vec![80]);
    let r = blocked.reasons.first().expect("a reason");
    assert_eq!(r.kind, BlockKind::ClientsWithoutSidecar);
    assert_eq!(r.examples, vec!["legacy/old".to_owned()]);
    assert!(r.unblock.contains("inject"), "{}", r.unblock);
    assert!(p.steps.iter().all(|s| s.proof.holds()));
}

#[test]
fn a_destination_rule_without_mode_is_fixed_before_its_server_turns_strict() {
    let dr = "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web, namespace: bar}\n\
              spec:\n  host: web.foo.svc.cluster.local\n  trafficPolicy:\n    tls: {sni: web.foo}\n";
    let p = plan_of(&format!("{NAMESPACES}{}{}{dr}", app("foo", "web"), app("bar", "api")));
    let first = p.steps.first().expect("steps");
    assert_eq!(first.level, "destination-rules");
    assert_eq!(first.resources.first().map(|r| r.resource.as_str()), Some("DestinationRule bar/web"));
    assert!(!first.yaml.contains("tls"), "{}", first.yaml);
    assert_eq!(p.coverage.after.strict_ports, 2);
    assert!(p.steps.iter().all(|s| s.proof.holds()));
}

#[test]
fn v1alpha1_and_1_4_are_refused_with_what_comes_first() {
    let alpha = format!(
        "{NAMESPACES}{}---\napiVersion: authentication.istio.io/v1alpha1\nkind: MeshPolicy\nmetadata: {{name: default}}\nspec: {{peers: [{{mtls: {{}}}}]}}\n",
        app("foo", "web")
    );
    let (a, sources) = analysis(&alpha, None);
    let err = plan(&a, &sources, &PlanOptions::default()).expect_err("alpha");
    assert!(matches!(err, PlanError::ConvertFirst { .. }), "{err}");
    assert!(err.to_string().contains("meshlock convert"));
    let (a, sources) = analysis(&format!("{NAMESPACES}{}", app("foo", "web")), Some(IstioVersion::V1_4));
    let err = plan(&a, &sources, &PlanOptions::default()).expect_err("1.4");
    assert!(matches!(err, PlanError::BeforePeerAuthentication(_)), "{err}");
}

#[test]
fn a_gateway_is_reported_not_planned() {
    let gw = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: ingress, namespace: bar, labels: {istio: ingressgateway}}\n\
              spec: {containers: [{name: istio-proxy, ports: [{containerPort: 8080}]}]}\n---\n\
              apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: bar}\n\
              spec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 8080, name: http, protocol: HTTP}\n    hosts: ['*']\n";
    let p = plan_of(&format!("{NAMESPACES}{}{gw}", app("foo", "web")));
    let g = p.blocked.iter().find(|b| b.workload == "bar/ingress").expect("gateway listed");
    assert_eq!(g.reasons.first().map(|r| r.kind.clone()), Some(BlockKind::Gateway));
    assert_eq!(p.coverage.after.sidecar_workloads, 1, "gateways are not counted");
}

#[test]
fn a_list_is_restated_item_by_item_and_plans_as_its_documents() {
    use crate::synth::{DumpFormat, MeshShape, generate, generate_dump};
    let shape = MeshShape { services: 60, per_namespace: 6, seed: 5 };
    // Each step's documents, as values (a List's items may order their keys differently).
    let steps = |text: String| -> Vec<Vec<Value>> {
        let sources = vec![Source::new("mesh.yaml", text)];
        let a = Analysis::new(&sources, &Options::default());
        let p = plan(&a, &sources, &PlanOptions::default()).expect("plan");
        p.steps
            .iter()
            .map(|s| {
                serde_yaml::Deserializer::from_str(&s.yaml).map(|d| Value::deserialize(d).expect("yaml")).collect()
            })
            .collect()
    };
    let docs = steps(generate(&shape));
    assert!(!docs.is_empty(), "the synthetic mesh has DestinationRules to fix");
    for form in [DumpFormat::ListYaml, DumpFormat::ListJson] {
        assert_eq!(steps(generate_dump(&shape, false, form)), docs, "{form:?}");
    }
    // A dump's Lists carry what the cluster owns; the steps do not.
    let dumped = format!("{:?}", steps(generate_dump(&shape, true, DumpFormat::ListYaml)));
    assert!(!dumped.contains("managedFields") && !dumped.contains("resourceVersion"), "{dumped}");
}

#[test]
fn a_gateway_in_the_root_namespace_does_not_hold_the_mesh_back() {
    let gw = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: ingress, namespace: istio-system, labels: {istio: ingressgateway}}\n\
              spec: {containers: [{name: istio-proxy, ports: [{containerPort: 8080}]}]}\n---\n\
              apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: istio-system}\n\
              spec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 8080, name: http, protocol: HTTP}\n    hosts: ['*']\n";
    let p = plan_of(&format!("{NAMESPACES}{}{}{gw}", app("foo", "web"), app("bar", "api")));
    assert_eq!(p.steps.iter().map(|s| s.level.as_str()).collect::<Vec<_>>(), ["mesh"]);
    assert_eq!(p.coverage.after.strict_ports, 2);
    assert!(p.blocked.iter().any(|b| b.workload == "istio-system/ingress"));
}
