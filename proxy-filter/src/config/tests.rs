use super::*;

const POLICIES: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: foo
  labels:
    istio-injection: enabled
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: httpbin
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  template:
    metadata:
      labels:
        app: httpbin
    spec:
      serviceAccountName: httpbin
      containers:
        - name: httpbin
          image: docker.io/kennethreitz/httpbin
          ports:
            - containerPort: 80
            - containerPort: 9000
---
apiVersion: v1
kind: Service
metadata:
  name: httpbin
  namespace: foo
spec:
  selector:
    app: httpbin
  ports:
    - name: http
      port: 8000
      targetPort: 80
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: default
  namespace: foo
spec:
  mtls:
    mode: STRICT
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: httpbin
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  portLevelMtls:
    9000:
      mode: DISABLE
"#;

fn config(direction: &str, workload: &str, extra: &str) -> Vec<u8> {
    let (ns, name) = workload.split_once('/').unwrap();
    format!(
        r#"{{"direction":"{direction}","workload":{{"namespace":"{ns}","name":"{name}"}},"policies":{}{extra}}}"#,
        serde_json::to_string(POLICIES).unwrap()
    )
    .into_bytes()
}

fn peer(tls: bool, mtls: bool, san: Option<&str>) -> PeerFacts<'_> {
    PeerFacts { tls, mtls, uri_san: san }
}

#[test]
fn inbound_strict_namespace_with_port_exception() {
    let guard = Guard::configure(&config("inbound", "foo/httpbin", r#","log":"decisions""#), None).unwrap();
    assert_eq!(guard.kind, FilterKind::Http);
    assert!(guard.log_decisions);
    let plaintext = guard.decide_inbound(Some(80), &peer(false, false, None));
    assert_eq!(plaintext.verdict(), "deny");
    assert_eq!(plaintext.reason(), "plaintext");
    assert_eq!(plaintext.metric_name(), "meshlock.decisions.deny.plaintext");
    let sleep = guard.decide_inbound(Some(80), &peer(true, true, Some("spiffe://cluster.local/ns/bar/sa/sleep")));
    assert_eq!((sleep.verdict(), sleep.reason()), ("allow", "mtls_peer"));
    let other_td = guard.decide_inbound(Some(80), &peer(true, true, Some("spiffe://evil.example/ns/bar/sa/sleep")));
    assert_eq!((other_td.verdict(), other_td.reason()), ("deny", "untrusted_trust_domain"));
    let disabled = guard.decide_inbound(Some(9000), &peer(false, false, None));
    assert_eq!((disabled.verdict(), disabled.reason()), ("allow", "disabled"));
    assert_eq!(guard.decide_inbound(None, &peer(false, false, None)), Verdict::Refused("no_destination_port"));
    assert!(guard.summary().contains("foo/httpbin"), "{}", guard.summary());
}

#[test]
fn kind_from_config_or_root_id() {
    let net = Guard::configure(&config("inbound", "foo/httpbin", ""), Some("meshlock_network")).unwrap();
    assert_eq!(net.kind, FilterKind::Network);
    let http =
        Guard::configure(&config("inbound", "foo/httpbin", r#","kind":"http""#), Some("meshlock_network")).unwrap();
    assert_eq!(http.kind, FilterKind::Http);
    assert!(!http.log_decisions);
}

#[test]
fn unusable_configurations_are_refused() {
    assert_eq!(Guard::configure(b"", None).unwrap_err(), ConfigError::Missing);
    assert!(matches!(Guard::configure(b"{not json", None), Err(ConfigError::Json(_))));
    assert!(matches!(
        Guard::configure(&config("inbound", "foo/httpbin", r#","color":"red""#), None),
        Err(ConfigError::Json(_))
    ));
    let unknown = Guard::configure(&config("inbound", "foo/nope", ""), None).unwrap_err();
    assert!(unknown.to_string().contains("foo/nope"), "{unknown}");
    assert!(matches!(
        Guard::configure(&config("inbound", "foo/httpbin", r#","istioVersion":"0.8""#), None),
        Err(ConfigError::Version(_))
    ));
    let broken =
        br#"{"direction":"inbound","workload":{"namespace":"foo","name":"httpbin"},"policies":"kind: [unclosed"}"#;
    let err = Guard::configure(broken, None).unwrap_err();
    assert!(matches!(err, ConfigError::Unreadable(_) | ConfigError::Input(_)), "{err:?}");
    assert_eq!(
        Guard::configure(&config("outbound", "foo/httpbin", r#","kind":"network""#), None).unwrap_err(),
        ConfigError::OutboundNetwork
    );
}

#[test]
fn outbound_secure_naming_by_authority() {
    let guard = Guard::configure(&config("outbound", "foo/httpbin", ""), None).unwrap();
    let ok = guard
        .decide_outbound(Some("httpbin.foo.svc.cluster.local:8000"), Some("spiffe://cluster.local/ns/foo/sa/httpbin"));
    assert_eq!((ok.verdict(), ok.reason()), ("allow", "secure_naming"));
    let short = guard.decide_outbound(Some("httpbin.foo"), Some("spiffe://cluster.local/ns/foo/sa/httpbin"));
    assert!(short.is_allow());
    let wrong = guard.decide_outbound(Some("httpbin.foo:8000"), Some("spiffe://cluster.local/ns/foo/sa/impostor"));
    assert_eq!((wrong.verdict(), wrong.reason()), ("deny", "secure_naming"));
    assert_eq!(guard.decide_outbound(Some("elsewhere.example"), None), Verdict::Refused("unknown_service"));
    // A plaintext upstream (DestinationRule DISABLE, auto mTLS toward no sidecar) has no
    // certificate to check.
    let plain = guard.decide_outbound_upstream(Some("httpbin.foo:8000"), false, None);
    assert_eq!((plain.verdict(), plain.reason()), ("allow", "plaintext_upstream"));
    let tls_without_san = guard.decide_outbound_upstream(Some("httpbin.foo:8000"), true, None);
    assert_eq!((tls_without_san.verdict(), tls_without_san.reason()), ("deny", "secure_naming"));
    assert_eq!(split_port("[::1]:80"), ("[::1]", Some(80)));
    assert_eq!(split_port("[::1]"), ("[::1]", None));
    assert_eq!(split_port("a.b:x"), ("a.b:x", None));
}

/// The compiled form the shipped filter reads, as `meshlock compile` writes it.
fn compiled(direction: &str, workload: &str, policies: &str, extra: &str) -> Vec<u8> {
    let a = meshlock_core::Analysis::new(&[meshlock_core::Source::new("p", policies)], &Default::default());
    let c = a.compile(workload).unwrap();
    let c = if direction == "inbound" { c.for_inbound() } else { c.for_outbound() };
    format!(r#"{{"direction":"{direction}","compiled":{}{extra}}}"#, serde_json::to_string(&c).unwrap()).into_bytes()
}

#[test]
fn the_compiled_form_decides_as_the_yaml_form() {
    let from_yaml = Guard::configure(&config("inbound", "foo/httpbin", ""), None).unwrap();
    let from_compiled = Guard::configure(&compiled("inbound", "foo/httpbin", POLICIES, ""), None).unwrap();
    for port in [80, 9000, 1234] {
        for p in [
            peer(false, false, None),
            peer(true, false, None),
            peer(true, true, Some("spiffe://cluster.local/ns/bar/sa/sleep")),
            peer(true, true, Some("spiffe://evil.example/ns/bar/sa/sleep")),
        ] {
            assert_eq!(from_yaml.decide_inbound(Some(port), &p), from_compiled.decide_inbound(Some(port), &p));
        }
    }
    // An inbound configuration carries no outbound part.
    let wrong_part = String::from_utf8(compiled("inbound", "foo/httpbin", POLICIES, "")).unwrap().replacen(
        r#""direction":"inbound""#,
        r#""direction":"outbound""#,
        1,
    );
    assert_eq!(Guard::configure(wrong_part.as_bytes(), None).unwrap_err(), ConfigError::MissingPart("outbound"));
}

#[test]
fn outbound_secure_naming_honours_destination_rule_subject_alt_names() {
    let policies = format!(
        "{POLICIES}---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: httpbin\n  namespace: foo\nspec:\n  host: httpbin.foo.svc.cluster.local\n  trafficPolicy:\n    tls:\n      mode: ISTIO_MUTUAL\n      subjectAltNames: [\"spiffe://cluster.local/ns/foo/sa/canary\"]\n"
    );
    let guard = Guard::configure(&compiled("outbound", "foo/httpbin", &policies, ""), None).unwrap();
    let canary = guard.decide_outbound(Some("httpbin.foo:8000"), Some("spiffe://cluster.local/ns/foo/sa/canary"));
    assert!(canary.is_allow(), "the rule's SAN is what the client accepts");
    let service_sa = guard.decide_outbound(Some("httpbin.foo:8000"), Some("spiffe://cluster.local/ns/foo/sa/httpbin"));
    assert_eq!(service_sa.reason(), "secure_naming", "the rule's list replaces the service's identities");
}

#[test]
fn unusable_compiled_policies_are_refused_with_a_reason() {
    let good = String::from_utf8(compiled("inbound", "foo/httpbin", POLICIES, "")).unwrap();
    let cases = [
        (good.replacen(r#""schema":1"#, r#""schema":2"#, 1), "schema 2 is not supported"),
        (good.replacen(r#""schema":1,"#, "", 1), "no `schema`"),
        (good.replacen(r#""defaultMode""#, r#""colour":1,"defaultMode""#, 1), "unknown field"),
        (good.replacen(r#""portModes":{"#, r#""portModes":{"0":"STRICT","#, 1), "port 0"),
        (good.replacen(r#""portModes":{"#, r#""portModes":{"70000":"STRICT","#, 1), "not valid"),
        (good.chars().take(good.len() / 2).collect::<String>(), "not valid JSON"),
        (good.replacen(r#""compiled":"#, r#""policies":"x","compiled":"#, 1), "both"),
    ];
    for (json, want) in cases {
        let err = Guard::configure(json.as_bytes(), None).unwrap_err().to_string();
        assert!(err.contains(want), "{want}: {err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }
}
