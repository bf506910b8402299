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

/// What the derived serde readers make of a configuration: the reference `read` must agree with.
fn by_serde(json: &[u8]) -> Result<(PluginConfig, Option<CompiledPolicy>), Option<CompiledError>> {
    let cfg: PluginConfig = serde_json::from_slice(json).map_err(|_| None)?;
    let compiled = cfg.compiled.clone().map(CompiledPolicy::from_value).transpose().map_err(Some)?;
    Ok((cfg, compiled))
}

fn by_reader(json: &[u8]) -> Result<(PluginConfig, Option<CompiledPolicy>), Option<CompiledError>> {
    let root = read::parse(json).map_err(|_| None)?;
    let p = read::plugin(&root).map_err(|_| None)?;
    let compiled = p.compiled.map(read::compiled_policy).transpose().map_err(Some)?;
    // The JSON of `compiled` is the reader's own; its content is compared as `compiled`.
    let cfg = PluginConfig {
        direction: p.direction,
        compiled: by_serde(json).ok().and_then(|(c, _)| c.compiled),
        workload: p.workload,
        policies: p.policies,
        istio_version: p.istio_version,
        log: p.log,
        kind: p.kind,
    };
    Ok((cfg, compiled))
}

fn assert_same_reading(json: &[u8]) {
    let (ours, theirs) = (by_reader(json), by_serde(json));
    let schema_error = |r: &Result<_, Option<CompiledError>>| match r {
        Err(Some(e @ (CompiledError::NoSchema | CompiledError::Schema(_)))) => Some(e.clone()),
        _ => None,
    };
    assert_eq!(ours.is_ok(), theirs.is_ok(), "{}: reader {ours:?}, serde {theirs:?}", String::from_utf8_lossy(json));
    assert_eq!(schema_error(&ours), schema_error(&theirs), "{}", String::from_utf8_lossy(json));
    if let (Ok(a), Ok(b)) = (&ours, &theirs) {
        assert_eq!(a.1, b.1, "{}", String::from_utf8_lossy(json));
        assert_eq!(a.0.compiled.is_some(), b.0.compiled.is_some(), "{}", String::from_utf8_lossy(json));
        let strip = |c: &PluginConfig| PluginConfig { compiled: None, ..c.clone() };
        assert_eq!(strip(&a.0), strip(&b.0), "{}", String::from_utf8_lossy(json));
    }
}

/// Every field of both forms, a port-level mode, authorization rules with ports, per-port
/// outbound entries, an escaped string.
const FULL: &str = r#"{"direction":"inbound","compiled":{"schema":1,"workload":"foo/httpbin","identity":"spiffe://cluster.local/ns/foo/sa/httpbin","inbound":{"workload":"foo/httpbin","defaultMode":"STRICT","portModes":{"9000":"DISABLE","8080":"PERMISSIVE"},"trustDomains":["cluster.local","old.example"],"authz":{"allow":[{"policy":"foo/allow","rules":[{"from":[{"principals":["cluster.local/ns/bar/sa/sleep"],"notPrincipals":[],"namespaces":["bar"],"notNamespaces":[],"unevaluable":false}],"ports":[80,8080],"notPorts":[9000],"unevaluable":true}]}],"deny":[{"policy":"foo/deny","rules":[]}]}},"outbound":[{"host":"httpbin.foo.svc.cluster.local","identities":["spiffe://cluster.local/ns/foo/sa/httpbin"]},{"host":"db.data.svc.cluster.local","port":5432,"identities":[]}]},"log":"decisions","kind":"network","workload":null,"istioVersion":"1.2\u00e9\"x"}"#;

const YAML_FORM: &str = r#"{"direction":"outbound","workload":{"namespace":"foo","name":"httpbin"},"policies":"kind: x\n","istioVersion":"1.24","log":"off","kind":"http","compiled":null}"#;

#[test]
fn the_reader_accepts_exactly_what_serde_accepts() {
    let singles: &[&[u8]] = &[
        b"\"", b"\\", b"{", b"}", b"[", b"]", b",", b":", b"0", b"-", b"1", b"e", b".", b" ", b"n", b"\x01", b"\xff",
        b"\xc3",
    ];
    let inserts: &[&[u8]] = &[
        b",\"x\":1",
        b"null,",
        b"\"schema\":2,",
        b"\"schema\":1,",
        b"1,",
        b"\"\\ud83d\\ude00\",",
        b"\"\\udc00\",",
        b"{\"STRICT\":null},",
        b"1.5,",
        b"-1,",
        b"65535,",
        b"65536,",
        b"[],",
        b"\"policy\":\"p\",",
        b"\"port\":1,",
    ];
    for base in [FULL, YAML_FORM] {
        let base = base.as_bytes();
        assert!(by_serde(base).is_ok(), "{}", String::from_utf8_lossy(base));
        assert_same_reading(base);
        for i in 0..=base.len() {
            assert_same_reading(&base[..i]);
            let mut deleted = base.to_vec();
            if i < base.len() {
                deleted.remove(i);
                assert_same_reading(&deleted);
            }
            for s in singles.iter().chain(inserts) {
                let mut inserted = base.to_vec();
                inserted.splice(i..i, s.iter().copied());
                assert_same_reading(&inserted);
                if i < base.len() && s.len() == 1 {
                    let mut replaced = base.to_vec();
                    replaced[i] = s[0];
                    assert_same_reading(&replaced);
                }
            }
        }
    }
}

#[test]
fn the_reader_agrees_with_serde_on_the_odd_shapes() {
    let compiled = r#""schema":1,"workload":"w","identity":"i""#;
    let inbound =
        r#""workload":"w","defaultMode":"STRICT","portModes":{},"trustDomains":["td"],"authz":{"allow":[],"deny":[]}"#;
    let cases = [
        // A struct as an array of its fields in order, a unit variant as a map.
        format!(r#"["inbound",{{{compiled},"inbound":{{{inbound}}}}}]"#),
        format!(r#"[{{"inbound":null}},{{{compiled},"inbound":["w",{{"STRICT":null}},{{}},["td"],[[],[]]]}}]"#),
        format!(r#"["inbound",{{{compiled},"inbound":{{{inbound}}}}},null,null,null,null,null,null]"#),
        format!(r#"["inbound",{{{compiled},"inbound":{{{inbound}}}}},null,null,null,null,null,null,null]"#),
        format!(r#"[{{"inbound":1}},{{{compiled},"inbound":{{{inbound}}}}}]"#),
        // Duplicates: refused at the top level, the last wins inside `compiled`.
        format!(r#"{{"direction":"inbound","direction":"inbound","compiled":{{{compiled},"inbound":{{{inbound}}}}}}}"#),
        format!(r#"{{"direction":"inbound","compiled":{{"schema":2,{compiled},"inbound":{{{inbound}}}}}}}"#),
        format!(r#"{{"direction":"inbound","compiled":{{{compiled},"schema":2,"inbound":{{{inbound}}}}}}}"#),
        format!(r#"{{"direction":"inbound","compiled":{{{compiled},"inbound":{{{inbound}}},"inbound":null}}}}"#),
        format!(r#"{{"direction":"inbound","compiled":{{{compiled},"inbound":{{{inbound},"workload":"v"}}}}}}"#),
        r#"{"direction":"inbound","compiled":{},"workload":{"namespace":"a","name":"b","name":"c"}}"#.to_owned(),
        // Schema values.
        r#"{"direction":"inbound","compiled":{"schema":1.0}}"#.to_owned(),
        r#"{"direction":"inbound","compiled":{"schema":-0}}"#.to_owned(),
        r#"{"direction":"inbound","compiled":{"schema":18446744073709551616}}"#.to_owned(),
        r#"{"direction":"inbound","compiled":{"schema":"1"}}"#.to_owned(),
        r#"{"direction":"inbound","compiled":[1]}"#.to_owned(),
        r#"{"direction":"inbound","compiled":5}"#.to_owned(),
        // Port keys and values.
        format!(
            r#"{{"direction":"inbound","compiled":{{{compiled},"inbound":{{{}}}}}}}"#,
            inbound.replace("{}", r#"{"08":"STRICT"}"#)
        ),
        format!(
            r#"{{"direction":"inbound","compiled":{{{compiled},"inbound":{{{}}}}}}}"#,
            inbound.replace("{}", r#"{"-1":"STRICT"}"#)
        ),
        format!(
            r#"{{"direction":"inbound","compiled":{{{compiled},"inbound":{{{}}}}}}}"#,
            inbound.replace("{}", r#"{"65535":"STRICT","1":{"STRICT":null}}"#)
        ),
        format!(
            r#"{{"direction":"inbound","compiled":{{{compiled},"inbound":{{{}}}}}}}"#,
            inbound.replace("{}", r#"{"+1":"STRICT"}"#)
        ),
        format!(
            r#"{{"direction":"inbound","compiled":{{{compiled},"inbound":{{{}}}}}}}"#,
            inbound.replace("{}", r#"{" 1":"STRICT"}"#)
        ),
        format!(
            r#"{{"direction":"inbound","compiled":{{{compiled},"inbound":{{{}}}}}}}"#,
            inbound.replace("{}", r#"{"1e1":"STRICT"}"#)
        ),
        format!(
            r#"{{"direction":"outbound","compiled":{{{compiled},"outbound":[{{"host":"h","port":1e2,"identities":[]}}]}}}}"#
        ),
        format!(
            r#"{{"direction":"outbound","compiled":{{{compiled},"outbound":[{{"host":"h","port":65535,"identities":[]}}]}}}}"#
        ),
        format!(
            r#"{{"direction":"outbound","compiled":{{{compiled},"outbound":[{{"host":"h","port":null,"identities":[]}}]}}}}"#
        ),
        format!(r#"{{"direction":"outbound","compiled":{{{compiled},"outbound":[["h",8,[]]]}}}}"#),
        // Strings.
        format!(
            r#"{{"direction":"inbound","compiled":{{{compiled},"inbound":{{{inbound}}}}},"policies":"\ud83d\ude00"}}"#
        ),
        format!(
            r#"{{"direction":"inbound","compiled":{{{compiled},"inbound":{{{inbound}}}}},"istioVersion":"\ud83d"}}"#
        ),
        format!(
            r#"{{"direction":"inbound","compiled":{{{compiled},"inbound":{{{inbound}}}}},"istioVersion":"\ude00"}}"#
        ),
        format!(r#"{{"direction":"inbound","compiled":{{{compiled},"inbound":{{{inbound}}}}},"istioVersion":"\u00"}}"#),
        format!(r#"{{"direction":"inbound","compiled":{{{compiled},"inbound":{{{inbound}}}}},"istioVersion":"\q"}}"#),
        format!(" \n\t{{\"direction\" : \"inbound\" ,\r\"compiled\":{{{compiled},\"inbound\":{{{inbound}}}}}}} \n"),
        format!(r#"{{"direction":"inbound","compiled":{{{compiled},"inbound":{{{inbound}}}}}}}x"#),
        format!(r#"{{"direction":"inbound","compiled":{{{compiled},"inbound":{{{inbound}}}}},}}"#),
        format!(
            r#"{{"direction":"inbound","compiled":{{{compiled},"inbound":{{{inbound}}}}},"log":{{"off":null,"x":null}}}}"#
        ),
        format!(r#"{{"direction":"inbound","compiled":{{{compiled},"inbound":{{{inbound}}}}},"kind":{{"http":1}}}}"#),
        // Nesting, inside and beyond serde_json's limit.
        format!(r#"{{"direction":"inbound","compiled":{{{compiled},"x":{}1{}}}}}"#, "[".repeat(124), "]".repeat(124)),
        format!(r#"{{"direction":"inbound","x":{}1{}}}"#, "[".repeat(126), "]".repeat(126)),
        format!(r#"{{"direction":"inbound","compiled":{{{compiled},"x":{}1{}}}}}"#, "[".repeat(500), "]".repeat(500)),
    ];
    let accepted: Vec<bool> = cases.iter().map(|json| by_reader(json.as_bytes()).is_ok()).collect();
    for json in &cases {
        assert_same_reading(json.as_bytes());
    }
    // The shapes above that serde accepts, so that agreeing is not only refusing.
    let want = [0, 1, 6, 9, 19, 24, 25, 26, 27, 32];
    let got: Vec<usize> = (0..cases.len()).filter(|i| accepted[*i]).collect();
    assert_eq!(got, want);
}

// === messages built without core::fmt ===

#[test]
fn messages_read_as_the_formatted_ones_did() {
    let mut n = String::new();
    for v in [0, 7, 10, 65_535, u64::MAX] {
        n.clear();
        read::push_uint(&mut n, v);
        assert_eq!(n, v.to_string());
    }
    // The summary, against the format! it replaced.
    let guard = Guard::configure(&config("inbound", "foo/httpbin", ""), None).unwrap();
    let Enforcement::Inbound(p) = &guard.enforcement else { panic!("inbound") };
    let ports: Vec<String> = p.port_modes.iter().map(|(port, m)| format!("{port}={m}")).collect();
    assert!(!ports.is_empty());
    let expected = format!(
        "meshlock: inbound http filter for {}: mode {}{}{}, trust domains [{}], {} authorization polic(ies)",
        p.workload,
        p.default_mode,
        if ports.is_empty() { "" } else { ", ports " },
        ports.join(","),
        p.trust_domains.join(","),
        p.authz.allow.len() + p.authz.deny.len()
    );
    assert_eq!(guard.summary(), expected);
    let outbound = Guard::configure(&config("outbound", "foo/httpbin", r#","kind":"http""#), None).unwrap();
    let Enforcement::Outbound(ps) = &outbound.enforcement else { panic!("outbound") };
    assert_eq!(
        outbound.summary(),
        format!("meshlock: outbound http filter: secure naming for {} service(s)", ps.len())
    );
    // Every metric name is `meshlock.decisions.<verdict>.<reason>`, the prefix the suite runner reads.
    for verdict in [Verdict::Refused("no_authority"), guard.decide_inbound(Some(80), &peer(false, false, None))] {
        let expected = format!(
            "{}.{}.{}",
            meshlock_core::compile::plugin::DECISIONS_METRIC_PREFIX,
            verdict.verdict(),
            verdict.reason()
        );
        assert_eq!(verdict.metric_name(), expected);
    }
    // The core's compiled-policy errors, worded as the core words them.
    for e in [
        CompiledError::NoSchema,
        CompiledError::Schema(2),
        CompiledError::Json("x at line 1 column 2".into()),
        CompiledError::Invalid("inbound accepts no trust domain".into()),
    ] {
        assert_eq!(ConfigError::Compiled(e.clone()).to_string(), e.to_string());
    }
    let cases = [
        (ConfigError::Missing, "no plugin configuration"),
        (ConfigError::MissingPart("outbound"), "the compiled policy has no outbound part"),
        (ConfigError::Unreadable(3), "policies: 3 document(s) could not be parsed"),
        (ConfigError::Json("e".into()), "plugin configuration is not valid JSON for meshlock: e"),
        (ConfigError::Version("v".into()), "invalid istioVersion: v"),
        (ConfigError::Input("i".into()), "policies: i"),
        (ConfigError::Query("q".into()), "q"),
    ];
    for (e, text) in cases {
        assert_eq!(e.to_string(), text);
    }
    let reads = [
        (
            read::ReadError::Syntax { what: "expected value", line: 12, column: 301 },
            "expected value at line 12 column 301",
        ),
        (read::ReadError::Missing("direction"), "missing field `direction`"),
        (read::ReadError::Unknown("c".into(), "`a`, `b`".into()), "unknown field `c`, expected one of `a`, `b`"),
        (read::ReadError::Duplicate("d".into()), "duplicate field `d`"),
        (read::ReadError::Type { found: "string", expected: "u16" }, "invalid type: string, expected u16"),
        (read::ReadError::Port("70000".into()), "invalid value: `70000`, expected u16"),
        (read::ReadError::Variant("X".into(), "`a`".into()), "unknown variant `X`, expected one of `a`"),
        (read::ReadError::Length(9, 7), "invalid length 9, expected at most 7 fields"),
    ];
    for (e, text) in reads {
        assert_eq!(e.to_string(), text);
    }
}
