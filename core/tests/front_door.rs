//! The front door on the inputs users really have: `kubectl get -o yaml|json` dumps (one
//! `kind: List`, with managedFields, status, Pods, ReplicaSets and kinds that do not bear on
//! mTLS) and hostile documents. Work is counted (`Parsed::work`), never timed: these tests
//! say the cost is linear in the input, whatever the machine is doing.

#![forbid(unsafe_code)]
#![expect(clippy::expect_used, reason = "test code: a failed expectation is a test failure")]
#![expect(clippy::indexing_slicing, reason = "test code: a failed index is a test failure")]

use meshlock_core::parse::{Limits, Parsed, parse_sources, parse_with};
use meshlock_core::reach::ReachFilter;
use meshlock_core::synth::{DumpFormat, MeshShape, generate, generate_dump};
use meshlock_core::{Analysis, Code, Options, Source};

fn parse(text: &str) -> Parsed {
    parse_sources(&[Source::new("in.yaml", text.to_owned())])
}

fn analysis(text: &str) -> Analysis {
    Analysis::new(&[Source::new("in.yaml", text.to_owned())], &Options::default())
}

/// The mesh's facts that do not depend on where in the text a resource stood.
fn facts(a: &Analysis) -> (Vec<String>, String) {
    let report = serde_json::to_value(a.analyze()).expect("json");
    let mut workloads: Vec<String> = report["workloads"]
        .as_array()
        .expect("workloads")
        .iter()
        .map(|w| format!("{}/{} {} {} {}", w["namespace"], w["name"], w["sidecar"], w["mode"], w["identity"]))
        .collect();
    workloads.sort();
    (workloads, format!("{:?}", a.reach_counts(&ReachFilter::default())))
}

#[test]
fn every_form_of_a_mesh_reads_the_same() {
    let shape = MeshShape::new(60);
    let docs = facts(&analysis(&generate(&shape)));
    assert_eq!(docs.0.len(), 60);
    for form in [DumpFormat::Documents, DumpFormat::ListYaml, DumpFormat::ListJson] {
        for realistic in [false, true] {
            let text = generate_dump(&shape, realistic, form);
            let a = analysis(&text);
            assert_eq!(a.unreadable(), 0, "{form:?} realistic={realistic}");
            assert_eq!(facts(&a), docs, "{form:?} realistic={realistic}");
        }
    }
}

/// Reading on two threads (a large List outlined beside the parsing of its items, a large
/// stream split and outlined beside the reading of its documents) reads what one thread reads:
/// the same resources, the same diagnostics in the same order, the same work.
#[test]
fn two_threads_read_what_one_thread_reads() {
    for format in [DumpFormat::ListYaml, DumpFormat::ListJson, DumpFormat::Documents] {
        let mut text = generate_dump(&MeshShape::new(60), true, format);
        // A List's items are indented under `items:`; a stream's documents are not.
        let indent = if format == DumpFormat::Documents { "" } else { "  " };
        if format != DumpFormat::ListJson {
            // A duplicate key in one resource: an error whose place in the order must not move.
            let at = text.find(&format!("\n{indent}kind: Service\n")).expect("a Service");
            text.insert_str(at, &format!("\n{indent}kind: Service"));
        }
        assert!(text.len() >= 1 << 20, "large enough to be read with a second thread");
        // Read twice: every resource of the second copy is defined again, which is reported
        // at its place in the order, though the first copy was read by the other reader.
        let sources = [Source::new("dump", text.clone()), Source::new("again", text)];
        let one = parse_with(&sources, &Limits::DEFAULT, 1);
        let two = parse_with(&sources, &Limits::DEFAULT, 2);
        assert_eq!(one.work, one.work.on_any_threads());
        let on_second = if format == DumpFormat::Documents { two.work.outlined_ahead } else { two.work.read_alongside };
        assert!(on_second > 400, "{format:?}: {:?}", two.work);
        assert_eq!(format!("{one:?}"), format!("{:?}", without_thread_counts(two)), "{format:?}");
        assert!(one.resources.workloads.len() >= 60);
        assert!(one.diagnostics.iter().filter(|d| d.code == Code::DuplicateResource).count() >= 60);
        assert_eq!(one.unreadable, 2 * usize::from(format != DumpFormat::ListJson));
        // Lists the outline gives up splitting only at their end, or whose items cannot be read
        // apart, or that are refused; streams whose last document is one of those: read as one
        // thread reads them.
        let quoted = format!("{}{indent}note: \"never closed\n", sources[0].text);
        let deep = format!("{}{indent}deep: {}\n", sources[0].text, "[".repeat(300));
        let alias = sources[0]
            .text
            .replacen(
                &format!("{indent}kind: Service\n"),
                &format!("{indent}kind: Service\n{indent}x-a: &shared 1\n"),
                1,
            )
            .replacen(
                &format!("{indent}kind: ServiceAccount\n"),
                &format!("{indent}kind: ServiceAccount\n{indent}x-b: *shared\n"),
                1,
            );
        for odd in [quoted, deep, alias] {
            let odd = [Source::new("odd", odd)];
            let one = parse_with(&odd, &Limits::DEFAULT, 1);
            let two = parse_with(&odd, &Limits::DEFAULT, 2);
            assert_eq!(format!("{one:?}"), format!("{:?}", without_thread_counts(two)), "{format:?}, odd");
            assert!(one.unreadable > 0 || one.resources.workloads.len() >= 60, "{format:?}: {:?}", one.work);
        }
        // A document limit met inside the List or the stream stops both where one thread stops.
        let limits = Limits { max_documents: 300, ..Limits::DEFAULT };
        let one = parse_with(&sources, &limits, 1);
        let two = parse_with(&sources, &limits, 2);
        assert_eq!(format!("{one:?}"), format!("{:?}", without_thread_counts(two)), "{format:?}, limited");
    }
}

/// A large List inside a large stream: its items are read with a third thread while the
/// splitting one parses the documents after it ahead, until the bound between them holds it.
#[test]
fn a_large_list_inside_a_large_stream_reads_the_same_on_two_threads() {
    let list = generate_dump(&MeshShape::new(60), true, DumpFormat::ListYaml);
    let documents = generate_dump(&MeshShape::new(60), true, DumpFormat::Documents);
    let stream = format!("{list}---\n{documents}---\n{list}");
    let sources = [Source::new("stream", stream)];
    let one = parse_with(&sources, &Limits::DEFAULT, 1);
    let two = parse_with(&sources, &Limits::DEFAULT, 2);
    assert!(two.work.read_alongside > 800 && two.work.outlined_ahead > 400, "{:?}", two.work);
    assert_eq!(format!("{one:?}"), format!("{:?}", without_thread_counts(two)));
    assert!(one.resources.workloads.len() >= 60);
}

/// Every file under `dirs`, however deep.
fn files_under(mut dirs: Vec<std::path::PathBuf>) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("a directory").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

fn without_thread_counts(mut parsed: Parsed) -> Parsed {
    parsed.work = parsed.work.on_any_threads();
    parsed
}

/// Every YAML file of the repository, read on one thread and with every source and document
/// (however small) split and outlined on a second one: the same `Parsed`.
#[test]
fn every_repository_yaml_reads_the_same_on_two_threads() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = 0;
    for path in files_under(vec![root.join("examples"), root.join("tests")]) {
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json") {
            let text = std::fs::read_to_string(&path).expect("utf-8");
            for placement in 0..meshlock_core::parse::THREAD_PLACEMENTS {
                if let Err(difference) = meshlock_core::parse::threads_differential(&text, placement) {
                    panic!("{}:\n{difference}", path.display());
                }
            }
            files += 1;
        }
    }
    assert!(files > 50, "{files} files");
}

#[test]
fn a_dump_folds_pods_and_replicasets_into_their_deployment() {
    let text = generate_dump(&MeshShape::new(20), true, DumpFormat::ListYaml);
    let parsed = parse(&text);
    assert_eq!(parsed.resources.workloads.len(), 20, "one workload per Deployment");
    for w in &parsed.resources.workloads {
        let pods = w.running_pods;
        assert_eq!(pods.with_sidecar + pods.without_sidecar, 1, "{}", w.meta.id);
    }
    // Secrets, Events, the CA ConfigMaps and the EndpointSlice controller's slices (of Services
    // with selectors, whose pods are read) are skipped without a parse.
    assert!(parsed.work.skipped_unparsed >= 40, "{:?}", parsed.work);
    assert_eq!(parsed.resources.service_endpoints.len(), 0, "the controller's slices are not read");
    // Documents by kind: what was read and what was skipped, whether skipped with or without
    // a parse.
    let inventory = &parsed.resources.inventory;
    assert_eq!(inventory.read.get("Deployment"), Some(&20), "{inventory:?}");
    assert_eq!(inventory.read.get("Pod"), Some(&20), "{inventory:?}");
    assert_eq!(inventory.skipped.get("EndpointSlice"), Some(&20), "{inventory:?}");
    assert!(inventory.skipped.get("Secret").is_some_and(|n| *n > 0), "{inventory:?}");
    let skipped: u64 = inventory.skipped.values().sum();
    let unknown = parsed.diagnostics.iter().filter(|d| d.code == meshlock_core::Code::UnknownKind).count() as u64;
    assert_eq!(skipped, unknown, "one skipped document per ML0005");
}

#[test]
fn a_pod_started_before_injection_has_no_sidecar_whatever_the_template_says() {
    let text = "\
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  template:
    metadata: {labels: {app: cart}}
    spec: {containers: [{name: app}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: cart-1
  namespace: shop
  labels: {app: cart}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: cart, controller: true, uid: x}]
spec: {containers: [{name: app}]}
";
    let report = serde_json::to_value(analysis(text).analyze()).expect("json");
    let w = &report["workloads"][0];
    assert_eq!(w["name"], "cart");
    assert_eq!(w["sidecar"], false, "{w}");
    assert!(w["sidecarReason"].as_str().expect("reason").contains("restart"), "{w}");
}

/// Work for an input of size 2n over work for size n.
fn ratio(small: &Parsed, big: &Parsed) -> f64 {
    big.work.total() as f64 / small.work.total() as f64
}

#[test]
fn a_list_costs_what_its_items_cost_linear_in_their_number() {
    for form in [DumpFormat::ListYaml, DumpFormat::ListJson] {
        let small = parse(&generate_dump(&MeshShape::new(100), true, form));
        let big = parse(&generate_dump(&MeshShape::new(200), true, form));
        let r = ratio(&small, &big);
        assert!((1.8..=2.2).contains(&r), "{form:?}: work ratio {r} ({:?} -> {:?})", small.work, big.work);
        // Locating diagnostics looks at one item's lines, never the whole List's.
        let per_item = big.work.lines_located as f64 / small.work.lines_located.max(1) as f64;
        assert!(per_item <= 2.2, "{form:?}: located lines grew {per_item}x");
    }
}

#[test]
fn hostile_nesting_is_refused_by_a_linear_scan_before_any_parse() {
    type Make = fn(usize) -> String;
    let shapes: [(&str, Make); 4] = [
        ("flow sequences", |d| format!("{}{}", "[".repeat(d), "]".repeat(d))),
        ("flow mappings", |d| format!("{}x{}", "{a: ".repeat(d), "}".repeat(d))),
        ("unclosed brackets", |d| "[".repeat(d)),
        ("compact block sequences", |d| format!("{}x\n", "- ".repeat(d))),
    ];
    for (name, make) in shapes {
        let small = parse(&make(20_000));
        let big = parse(&make(40_000));
        for p in [&small, &big] {
            assert_eq!(p.unreadable, 1, "{name}");
            assert_eq!(p.work.parsed_bytes, 0, "{name}: the parser never saw it");
            assert!(p.diagnostics.iter().any(|d| d.code == Code::InputLimit), "{name}: {:?}", p.diagnostics);
        }
        // Refused at the limit: the scan stops where the depth is exceeded.
        assert!(big.work.scanned_bytes <= small.work.scanned_bytes * 2 + 1, "{name}");
    }
    // A document nested as deep as the YAML parser allows is still the parser's to judge.
    let ok = parse(&format!("a: {}1{}\n", "[".repeat(100), "]".repeat(100)));
    assert_eq!(ok.unreadable, 0, "{:?}", ok.diagnostics);
}

#[test]
fn a_huge_configmap_that_is_not_the_mesh_config_is_never_parsed() {
    let mut text = String::from("apiVersion: v1\ndata:\n");
    for i in 0..100_000 {
        text.push_str(&format!("  key{i}: value {i}\n"));
    }
    text.push_str("kind: ConfigMap\nmetadata:\n  name: big\n  namespace: apps\n");
    let p = parse(&text);
    assert_eq!(p.work.parsed_bytes, 0);
    assert_eq!(p.work.nodes_built, 0);
    assert_eq!(p.work.skipped_unparsed, 1);
    let d = p.diagnostics.iter().find(|d| d.code == Code::UnknownKind).expect("skipped diagnostic");
    assert_eq!(d.resource.as_deref(), Some("ConfigMap apps/big"));
    assert_eq!(d.line, 1);
}

/// The EndpointSlice controller's slices list a selector Service's pods, which are read as
/// workloads: they are skipped unparsed. A selector-less Service's slices (mirrored from its
/// Endpoints, or written by hand) are read, and the full read (an item the outline is unsure of)
/// skips the same slices with the same message.
#[test]
fn only_the_endpointslice_controllers_slices_are_skipped() {
    let slice = |name: &str, service: &str, managed_by: &str, extra: &str| {
        format!(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  labels:\n    endpointslice.kubernetes.io/managed-by: {managed_by}\n    kubernetes.io/service-name: {service}\n  name: {name}\n  namespace: apps\n{extra}endpoints:\n- addresses: [10.0.0.9]\nports:\n- {{name: https, port: 443}}\n"
        )
    };
    let text = [
        "apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: apps}\nspec:\n  ports: [{name: tcp, port: 5432}]\n".to_owned(),
        slice("web-abc", "web", "endpointslice-controller.k8s.io", ""),
        slice("db-abc", "db", "endpointslicemirroring-controller.k8s.io", ""),
        // A complex key at the top level: the outline steps aside and the full read decides.
        slice("web-def", "web", "endpointslice-controller.k8s.io", "? x\n: 1\n"),
    ]
    .join("---\n");
    let p = parse(&text);
    assert_eq!(p.work.skipped_unparsed, 1, "{:?}", p.work);
    let services: Vec<&str> = p.resources.service_endpoints.iter().map(|l| l.service.as_str()).collect();
    assert_eq!(services, ["db"]);
    let skipped: Vec<(Option<&str>, u32)> =
        p.diagnostics.iter().filter(|d| d.code == Code::UnknownKind).map(|d| (d.resource.as_deref(), d.line)).collect();
    assert_eq!(
        skipped,
        [(Some("EndpointSlice apps/web-abc"), 7), (Some("EndpointSlice apps/web-def"), 33)],
        "{:?}",
        p.diagnostics
    );
    assert_eq!(p.resources.inventory.skipped.get("EndpointSlice"), Some(&2));
    assert_eq!(p.resources.inventory.read.get("EndpointSlice"), Some(&1));
}

#[test]
fn positions_inside_list_items_are_exact() {
    let yaml = "\
apiVersion: v1
items:
- apiVersion: v1
  kind: Secret
  metadata:
    name: s
- apiVersion: security.istio.io/v1
  kind: PeerAuthentication
  metadata:
    name: pa
    namespace: shop
  spec:
    mtls:
      mode: BOGUS
kind: List
";
    let p = parse(yaml);
    let d = p.diagnostics.iter().find(|d| d.message.contains("BOGUS")).expect("bad mode reported");
    assert_eq!((d.line, d.column), (14, 7), "{d:?}");
    let skipped = p.diagnostics.iter().find(|d| d.code == Code::UnknownKind).expect("Secret skipped");
    assert_eq!(skipped.line, 3);

    let json = r#"{
    "apiVersion": "v1",
    "items": [
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": {"name": "pa", "namespace": "shop"},
            "spec": {
                "mtls": {
                    "mode": "BOGUS"
                }
            }
        }
    ],
    "kind": "List"
}
"#;
    let p = parse(json);
    let d = p.diagnostics.iter().find(|d| d.message.contains("BOGUS")).expect("bad mode reported");
    assert_eq!(d.line, 10, "{d:?}");
    // A syntax error in one item is reported at its line; the other items are still read.
    let broken = yaml
        .replace("  kind: Secret\n  metadata:\n    name: s\n", "  kind: ServiceAccount\n  metadata:\n    name: s: t\n");
    let p = parse(&broken);
    assert_eq!(p.unreadable, 1, "{:?}", p.diagnostics);
    let d = p.diagnostics.iter().find(|d| d.code == Code::YamlSyntax).expect("syntax error");
    assert_eq!(d.line, 6, "{d:?}");
    assert!(p.diagnostics.iter().any(|d| d.message.contains("BOGUS")), "the next item is read");
}

/// Only the annotations a rule reads are kept; every other one is still checked where it stands.
#[test]
fn annotations_no_rule_reads_are_checked_and_not_kept() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: ns\n  annotations:\n    \
                sidecar.istio.io/inject: \"false\"\n    sidecar.istio.io/status: '{\"containers\":[\"istio-proxy\"]}'\n    \
                prometheus.io/port: 15020\nspec:\n  containers:\n  - name: app\n";
    let parsed = parse(text);
    let pod = parsed.resources.workloads.first().expect("the pod");
    let kept: Vec<_> = pod.pod_annotations.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(kept, [("sidecar.istio.io/inject", "false")]);
    assert_eq!(pod.meta.annotations, pod.pod_annotations);
    let port = parsed.diagnostics.iter().find(|d| d.message.contains("prometheus.io/port")).expect("reported");
    assert_eq!((port.code, port.line), (Code::InvalidField, 9), "{port:?}");
}

/// Every annotation the core's rules look up is one the reader keeps: a rule reading another would
/// find nothing.
#[test]
fn every_annotation_a_rule_reads_is_kept() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut looked_up = 0;
    for path in files_under(vec![src]) {
        let text = std::fs::read_to_string(&path).expect("utf-8");
        for rest in text.split("annotations.get(\"").skip(1) {
            let key = rest.split('"').next().unwrap_or_default();
            assert!(
                meshlock_core::model::READ_ANNOTATIONS.contains(&key),
                "{} looks up the annotation `{key}`, which the reader does not keep",
                path.display()
            );
            looked_up += 1;
        }
    }
    assert!(looked_up >= 4, "{looked_up} look-ups found");
}

/// The calls are checked on a second thread in a large mesh when the caller allows one: the same
/// diagnostics, in the same order, as on one thread.
#[test]
fn the_checks_report_the_same_on_two_threads() {
    let mut text = generate(&MeshShape::new(1_200));
    // A mesh-wide rule that turns mTLS off for every host, so the call checks report on every
    // namespace's STRICT servers.
    text.push_str(
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: off\n  namespace: istio-system\nspec:\n  host: \"*.svc.cluster.local\"\n  trafficPolicy:\n    tls:\n      mode: DISABLE\n",
    );
    let sources = [Source::new("mesh.yaml", text)];
    let one = Analysis::new(&sources, &Options { threads: 1, ..Options::default() });
    let two = Analysis::new(&sources, &Options { threads: 2, ..Options::default() });
    assert!(one.workload_views().len() >= 1_000, "large enough for the second thread");
    let from_calls = |a: &Analysis| {
        a.diagnostics()
            .iter()
            .filter(|d| matches!(d.code, Code::DestinationRuleDisablesMtls | Code::IstioMutualToDisable))
            .count()
    };
    assert!(from_calls(&one) > 0, "the call checks report: {:?}", one.diagnostics().first());
    assert_eq!(format!("{:?}", one.diagnostics()), format!("{:?}", two.diagnostics()));
}
