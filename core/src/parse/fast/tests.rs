use super::*;
use crate::parse::outline;
use crate::parse::yaml::split_documents;
use crate::synth::{DumpFormat, MeshShape, generate, generate_dump};
use proptest::prelude::*;

fn agrees(text: &str) -> bool {
    match differential(text) {
        Ok(accepted) => accepted,
        Err(e) => panic!("{e}"),
    }
}

/// A marker line ends or starts a document for the parser, even where it reads as a key: the
/// fast reader, which reads one document, steps aside (the stream is split at markers before).
#[test]
fn steps_aside_at_document_markers() {
    for text in ["\n\n... .:\n", "a: 1\n---\nb: 2\n", "a: |\n  x\n...\n", "--- x:\n", "a:\n... # end\n"] {
        let _ = agrees(text);
        assert!(read(text, Role::Document, &mut Built::default()).is_none(), "{text:?}");
    }
    assert!(agrees("a: ...x\nb: y---\nc: ...\n"), "not markers");
}

#[test]
fn reads_what_kubectl_prints_as_serde_yaml_does() {
    for text in [
        "a: 1\nb: x\n",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    app: x\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: |\n      {\"a\": 1}\nspec:\n  containers:\n  - name: c\n    ports:\n    - containerPort: 8080\n      protocol: TCP\n    args: []\n    env: {}\nstatus:\n  phase: Running\n",
        "items:\n- a: 1\n  b:\n  - x\n  - - y\n    - z\n-\n  c: 2\n- 'q''s'\n- \"e\\u00e9\\x41\\n\\\\\"\n",
        "# c\na: 1 # trailing\n\n  # indented comment\nb:   'x' # c\nc: \"y\"   \n",
        "k:\n  \"quoted key\": 1\n  'single': 2\n  8080: x\n  true: y\n  ~: z\n  0x1F: w\n  1.50: v\n",
        "x: |-\n  one\n\n  two\n\ny: |\n    a\n     b\n  # not content? it is less indented\nz: end\n",
        "x: |\n\n  after empty\n",
        "ip: 10.96.0.1\nts: 2024-01-01T00:00:00Z\nneg: -5\nplus: +5\nzero: 007\nf: 1e3\ninf: .inf\nninf: -.Inf\nnan: .NaN\nbig: 18446744073709551615\nsmall: -9223372036854775808\nh: 0x1f\no: 0o17\nb: 0b11\nnh: -0x1f\nu: 1_000\n",
        "a:\n- 1\n- 2\nb: 3\n",
        "- a: 1\n  b: 2\n- c: 3\n",
        "url: http://x:80/y\nimage: nginx:1.25\nhash: a#b\n",
    ] {
        assert!(agrees(text), "{text:?} should be read by the fast path");
    }
}

#[test]
fn steps_aside_on_what_it_does_not_follow() {
    for text in [
        "a: &x 1\nb: *x\n",
        "a: !tag 1\n",
        "a: >\n  folded\n",
        "a: |+\n  kept\n",
        "a: |2\n   x\n",
        "a:\tb\n",
        "a: b\n  continued\n",
        "a: \"multi\n  line\"\n",
        "? complex\n: key\n",
        "a: 1\na: 2\n",
        "a: {b: 1}\n",
        "a: [1]\n",
        "a: b: c\n",
        "big: 18446744073709551616\n",
        "a: 1\r\nb: 2\r\n",
        "\u{feff}a: 1\n",
        "a: \"\\q\"\n",
        "a: \"\\ud800\"\n",
        "just a scalar\n",
        "a: |\n  no final newline",
        "n: [ ]\n",
        "v: [1, 2]\n",
    ] {
        assert!(!agrees(text), "{text:?} should step aside");
    }
}

#[test]
fn every_generated_mesh_and_dump_is_read_by_the_fast_path() {
    let shape = MeshShape::new(12);
    let mut texts = vec![generate(&shape)];
    for form in [DumpFormat::Documents, DumpFormat::ListYaml] {
        texts.push(generate_dump(&shape, true, form));
        texts.push(generate_dump(&shape, false, form));
    }
    for text in &texts {
        for doc in split_documents(text) {
            assert!(agrees(doc.text), "fell back on a generated document:\n{}", doc.text);
            let Ok(o) = outline::outline(doc.text, 256) else { continue };
            for item in o.items.unwrap_or_default() {
                let item_text = doc.text.get(item.start..item.end).expect("an item is a span of its document");
                let mut built = Built::default();
                let fast = read(item_text, Role::Resources, &mut built);
                assert!(fast.is_some(), "fell back on a List item:\n{item_text}");
            }
        }
    }
}

#[test]
fn stepping_over_unread_lines_reads_what_the_blanked_copy_reads() {
    let text = generate_dump(&MeshShape::new(12), true, DumpFormat::ListYaml);
    let mut stepped = 0;
    for doc in split_documents(&text) {
        let o = outline::outline(doc.text, 256).expect("a generated dump is not too deep");
        for item in o.items.unwrap_or_default() {
            let item_text = doc.text.get(item.start..item.end).expect("an item is a span of its document");
            let unread: Vec<(usize, usize)> =
                item.unread.iter().map(|&(from, to)| (from - item.start, to - item.start)).collect();
            let blanked = crate::parse::yaml::blank_lines(item_text, &unread);
            let (mut a, mut b) = (Built::default(), Built::default());
            let skipping = read_skipping(item_text, &unread, Role::Resources, &mut a);
            assert!(skipping.is_some(), "fell back on a List item:\n{item_text}");
            assert_eq!(skipping, read(&blanked, Role::Resources, &mut b));
            assert_eq!(a, b, "nodes built");
            stepped += usize::from(!unread.is_empty());
        }
    }
    assert!(stepped > 0, "the dump has status and managedFields to step over");
}

#[test]
fn nesting_past_its_depth_steps_aside() {
    let mut deep = String::new();
    for i in 0..(MAX_DEPTH + 5) {
        deep.push_str(&" ".repeat(i));
        deep.push_str("a:\n");
    }
    assert!(!agrees(&deep));
    let mut ok = String::new();
    for i in 0..50 {
        ok.push_str(&" ".repeat(i));
        ok.push_str("a:\n");
    }
    assert!(agrees(&ok));
}

/// Picks from `data`, then zeros: a shrinkable description of one document.
struct Choices<'d> {
    data: &'d [u8],
    at: usize,
}

impl Choices<'_> {
    fn pick(&mut self, n: usize) -> usize {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        usize::from(b) % n.max(1)
    }
}

const PLAIN: &[&str] = &[
    "a",
    "foo bar",
    "x:y",
    "http://h:80/p",
    "8080",
    "0",
    "-1",
    "+1",
    "007",
    "-007",
    "0x1F",
    "0o17",
    "0b101",
    "-0x1F",
    "+0x1F",
    "0x",
    "0x+5",
    "-0x-5",
    "1.5",
    "1.50",
    "1e3",
    "1E+3",
    "-1.5e-3",
    ".5",
    "5.",
    ".inf",
    "-.inf",
    "+.inf",
    ".nan",
    ".NaN",
    "inf",
    "nan",
    "-nan",
    "1_000",
    "99999999999999999999",
    "-99999999999999999999",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "true",
    "True",
    "TRUE",
    "tRue",
    "yes",
    "no",
    "on",
    "null",
    "Null",
    "NULL",
    "~",
    "10.96.0.1",
    "1.2.3",
    "2024-01-01T00:00:00Z",
    "a#b",
    "a #b",
    "a: b",
    "a:",
    "-x",
    "- x",
    "-",
    "?x",
    ":x",
    "a'b",
    "a\"b",
    "é",
    "日本",
    "a,b",
    "[x",
    "{x",
    "x]",
    "%x",
    "@x",
    "`x",
    "!x",
    "&x",
    "*x",
    "|",
    ">",
    "#x",
    "+",
    ".",
    "+-5",
    "--5",
    "-0",
    "+0",
    "-0.0",
    "1e400",
    "0o",
    "0b2",
    "00",
    "0e0",
    "0e",
    "1.0e+10",
    "k:{\"type\":\"Ready\"}",
    "f:metadata",
    ".",
    "a  b",
    "a ",
    "{}",
    "[]",
    "[ ]",
    "''",
];

const QUOTED: &[&str] = &[
    "",
    "a",
    "it''s",
    "a\\nb",
    "\\x41",
    "\\u00e9",
    "\\U0001F600",
    "\\ud800",
    "\\q",
    "\\\"",
    "\\\\",
    "\\/",
    "\\N",
    "\\_",
    "\\e",
    "\\0",
    "\\t",
    "\\ ",
    "\\x4",
    "\\L",
    "a: b",
    "# c",
    "8080",
    "true",
    "\\",
    "'",
    "\"",
];

const KEYS: &[&str] = &[
    "a",
    "b",
    "name",
    "status",
    "metadata",
    "items",
    "8080",
    "true",
    "~",
    "0x10",
    "1.0",
    "\"a\"",
    "'b'",
    "k y",
    "a b ",
    // The workload roles' keys (`Role::WorkloadResource`).
    "spec",
    "template",
    "containers",
    "ports",
    "env",
];

fn scalar(c: &mut Choices<'_>) -> String {
    match c.pick(4) {
        0 => format!("\"{}\"", QUOTED[c.pick(QUOTED.len())]),
        1 => format!("'{}'", QUOTED[c.pick(QUOTED.len())].replace('\\', "")),
        _ => PLAIN[c.pick(PLAIN.len())].to_owned(),
    }
}

fn trailer(c: &mut Choices<'_>) -> &'static str {
    ["", "", "", " # c", "  ", "#x"][c.pick(6)]
}

fn block(c: &mut Choices<'_>, out: &mut String, indent: usize, depth: usize) {
    let pad = " ".repeat(indent);
    let entries = 1 + c.pick(3);
    let is_seq = c.pick(3) == 0;
    for _ in 0..entries {
        match c.pick(8) {
            0 => out.push('\n'),
            1 => out.push_str(&format!("{}# comment\n", " ".repeat(c.pick(6)))),
            _ => {}
        }
        let head = if is_seq { format!("{pad}-") } else { format!("{pad}{}:", KEYS[c.pick(KEYS.len())]) };
        out.push_str(&head);
        entry(c, out, indent, depth, is_seq);
    }
}

fn entry(c: &mut Choices<'_>, out: &mut String, indent: usize, depth: usize, in_seq: bool) {
    let nested = depth < 4;
    match c.pick(if nested { 7 } else { 3 }) {
        0 | 1 => {
            out.push(' ');
            out.push_str(&scalar(c));
            out.push_str(trailer(c));
            out.push('\n');
        }
        2 => {
            out.push_str([" |", " |-", " |+", " >", " |2"][c.pick(5)]);
            out.push('\n');
            let width = indent + 1 + c.pick(3);
            for _ in 0..1 + c.pick(3) {
                match c.pick(5) {
                    0 => out.push('\n'),
                    1 => out.push_str(&format!("{}x\n", " ".repeat(width + 1))),
                    2 => out.push_str(&format!("{}# text\n", " ".repeat(width))),
                    _ => out.push_str(&format!("{}{}\n", " ".repeat(width), PLAIN[c.pick(PLAIN.len())])),
                }
            }
        }
        3 if in_seq => {
            // Compact: `- key: v` with the rest of the mapping at the key's column.
            out.push(' ');
            out.push_str(KEYS[c.pick(KEYS.len())]);
            out.push(':');
            entry(c, out, indent + 2, depth + 1, false);
            if c.pick(2) == 0 {
                block(c, out, indent + 2, depth + 1);
            }
        }
        3 => {
            // A sequence at its key's own column.
            out.push('\n');
            let pad = " ".repeat(indent);
            for _ in 0..1 + c.pick(2) {
                out.push_str(&format!("{pad}-"));
                entry(c, out, indent, depth + 1, true);
            }
        }
        _ => {
            out.push_str(trailer(c));
            out.push('\n');
            let deeper = indent + 1 + c.pick(3);
            block(c, out, deeper, depth + 1);
        }
    }
}

fn document(data: &[u8]) -> String {
    let mut c = Choices { data, at: 0 };
    let mut out = String::new();
    let indent = c.pick(2) * 2;
    block(&mut c, &mut out, indent, 0);
    out
}

/// Small edits that take a document to the edges of the subset.
fn mutate(text: &str, edits: &[(u16, u8)]) -> String {
    const INSERTS: &[&str] =
        &[" ", ":", "- ", "#", "'", "\"", "\n", "  ", "|", "{", "[", "&a ", "*a", "!t ", "\t", "\\", "0x", "é"];
    let mut s = text.to_owned();
    for &(at, what) in edits {
        let mut i = usize::from(at) % (s.len() + 1);
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        if what % 4 == 0 {
            let mut j = i + 1;
            while j < s.len() && !s.is_char_boundary(j) {
                j += 1;
            }
            if j <= s.len() {
                s.replace_range(i..j, "");
            }
        } else {
            s.insert_str(i, INSERTS[usize::from(what) % INSERTS.len()]);
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn generated_documents_read_as_serde_yaml_reads_them(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let text = document(&data);
        prop_assert!(differential(&text).is_ok(), "{:?}", differential(&text));
    }

    #[test]
    fn mutated_documents_read_as_serde_yaml_reads_them(
        data in proptest::collection::vec(any::<u8>(), 0..200),
        edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..4),
    ) {
        let text = mutate(&document(&data), &edits);
        prop_assert!(differential(&text).is_ok(), "{:?}", differential(&text));
    }
}

#[test]
fn the_generators_reach_the_fast_path() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let data = proptest::collection::vec(any::<u8>(), 0..200);
    let edits = proptest::collection::vec((any::<u16>(), any::<u8>()), 1..4);
    let (mut plain, mut mutated) = (0, 0);
    for _ in 0..1000 {
        let text = document(&data.new_tree(&mut runner).expect("tree").current());
        plain += usize::from(agrees(&text));
        mutated += usize::from(agrees(&mutate(&text, &edits.new_tree(&mut runner).expect("tree").current())));
    }
    // Measured: about 24% and 9%; the differential tests mean little if these collapse.
    assert!(plain > 150 && mutated > 40, "{plain} {mutated}");
}

#[test]
fn a_workload_is_built_with_only_the_fields_meshlock_reads() {
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  uid: x\n  labels:\n    app: a\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{}'\n    k: v\n  ownerReferences:\n  - kind: X\n    name: y\n    controller: true\n    uid: z\nspec:\n  replicas: 1\n  template:\n    metadata:\n      name: t\n      labels:\n        app: a\n      annotations:\n        k: v\n    spec:\n      nodeName: n\n      serviceAccountName: sa\n      containers:\n      - name: app\n        image: i\n        env:\n        - name: A\n          value: \"1\"\n        ports:\n        - containerPort: 8080\n          name: http\n        readinessProbe:\n          httpGet:\n            port: 8080\n            path: /x\n          periodSeconds: 3\n      initContainers:\n      - name: istio-proxy\n        image: p\n";
    assert!(agrees(text));
    let node = read(text, Role::WorkloadResource(false), &mut Built::default()).expect("read by the fast path");
    let md = node.get("metadata").expect("metadata");
    assert!(md.get("uid").is_none() && md.get("name").is_some() && md.get("labels").is_some());
    let Some(Node::Map(annotations)) = md.get("annotations") else { panic!("annotations") };
    assert_eq!(annotations.len(), 1, "last-applied is not kept");
    let Some(Node::Seq(owners)) = md.get("ownerReferences") else { panic!("ownerReferences") };
    assert!(owners[0].get("uid").is_none() && owners[0].get("kind").is_some());
    let spec = node.get("spec").expect("spec");
    assert!(spec.get("replicas").is_none());
    let template = spec.get("template").expect("template");
    assert!(template.get("metadata").and_then(|m| m.get("name")).is_none());
    assert!(template.get("metadata").and_then(|m| m.get("annotations")).is_some());
    let pod = template.get("spec").expect("pod spec");
    assert!(pod.get("nodeName").is_none() && pod.get("serviceAccountName").is_some());
    let Some(Node::Seq(containers)) = pod.get("containers") else { panic!("containers") };
    let c = &containers[0];
    assert!(c.get("image").is_none() && c.get("env").is_none() && c.get("name").is_some());
    assert_eq!(
        c.get("ports"),
        read("- containerPort: 8080\n  name: http\n", Role::Plain, &mut Built::default()).as_ref()
    );
    let probe = c.get("readinessProbe").expect("probe");
    assert!(probe.get("periodSeconds").is_none());
    assert!(probe.get("httpGet").and_then(|h| h.get("path")).is_none());
    assert!(probe.get("httpGet").and_then(|h| h.get("port")).is_some());
    let Some(Node::Seq(init)) = pod.get("initContainers") else { panic!("initContainers") };
    assert!(init[0].get("image").is_none() && init[0].get("name").is_some());

    // A Pod is its own template: its `spec` is the pod spec.
    let pod_text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  nodeName: n\n  hostNetwork: true\n";
    let node = read(pod_text, Role::WorkloadResource(true), &mut Built::default()).expect("read");
    let spec = node.get("spec").expect("spec");
    assert!(spec.get("nodeName").is_none() && spec.get("hostNetwork").is_some());

    // A key given twice is an error where its value was built before the workload roles, built
    // now or not; where it was not (a container's env), it still is not.
    let env_twice = text.replace("        env:\n", "        env: []\n        env:\n");
    let fast = read(&env_twice, Role::WorkloadResource(false), &mut Built::default());
    let doc = crate::parse::yaml::DocumentText { text: &env_twice, first_line: 1 };
    let serde = crate::parse::yaml::serde_document(&doc, Role::WorkloadResource(false), &mut Built::default());
    assert!(fast.is_some() && fast == serde.ok(), "a container's env was never built nor checked");
    for dup in [
        text.replace("  replicas: 1\n", "  replicas: 1\n  replicas: 2\n"),
        text.replace("        image: i\n", "        image: i\n        image: j\n"),
    ] {
        assert!(read(&dup, Role::WorkloadResource(false), &mut Built::default()).is_none());
        let doc = crate::parse::yaml::DocumentText { text: &dup, first_line: 1 };
        let serde = crate::parse::yaml::serde_document(&doc, Role::WorkloadResource(false), &mut Built::default());
        assert!(serde.is_err_and(|e| e.message.contains("duplicate")), "{dup}");
    }
}

/// The workload roles build a second list of the fields `kinds::workload` reads: a field the
/// reader starts to read and the roles do not build would silently read as absent. Every key the
/// reader asks of a map of the whole tree (present or not) must be one the role of that map
/// builds, and the reader must read the same workload from the slim tree as from the whole one.
#[test]
fn the_workload_roles_build_every_field_the_workload_reader_asks_for() {
    use crate::model::WorkloadKind;
    use crate::parse::{kinds, read::Ctx, yaml::asked};
    use std::collections::HashMap;
    fn roles_of(node: &Node<'_>, role: Role, out: &mut HashMap<usize, Role>) {
        out.insert(asked::address(node), role);
        match node {
            Node::Map(entries) => {
                for (key, value) in entries {
                    if let Some(child) = role.child(key) {
                        roles_of(value, child, out);
                    }
                }
            }
            Node::Seq(items) => items.iter().for_each(|item| roles_of(item, role.element(), out)),
            _ => {}
        }
    }
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  namespace: n\n  creationTimestamp: \"2024-01-01T00:00:00Z\"\n  labels:\n    app: a\n  annotations:\n    k: v\n  ownerReferences:\n  - kind: X\n    name: y\n    controller: true\nspec:\n  template:\n    metadata:\n      labels:\n        app: a\n      annotations:\n        sidecar.istio.io/inject: \"true\"\n    spec:\n      serviceAccountName: sa\n      hostNetwork: false\n      containers:\n      - name: app\n        ports:\n        - containerPort: 8080\n          name: http\n        livenessProbe:\n          httpGet:\n            port: 8080\n        readinessProbe:\n          tcpSocket:\n            port: 8081\n        startupProbe:\n          grpc:\n            port: 8082\n      initContainers:\n      - name: istio-proxy\n";
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    app: a\n  ownerReferences:\n  - kind: ReplicaSet\n    name: r\n    controller: true\nspec:\n  serviceAccount: sa\n  containers:\n  - name: app\n    ports:\n    - containerPort: 8080\n    readinessProbe:\n      httpGet:\n        port: http\n  initContainers:\n  - name: istio-init\n";
    for (text, kind_name, kind) in
        [(deployment, "Deployment", WorkloadKind::Deployment), (pod, "Pod", WorkloadKind::Pod)]
    {
        let read_workload = |node: &Node<'_>| {
            let mut diags = Vec::new();
            let mut ctx = Ctx::new("w.yaml", text, 1, &mut diags);
            let meta = kinds::read_meta(&mut ctx, node, kind_name, false).expect("meta");
            kinds::workload(&mut ctx, meta, kind, node)
        };
        let is_pod = kind == WorkloadKind::Pod;
        let whole = read(text, Role::Resource, &mut Built::default()).expect("whole tree");
        let mut roles = HashMap::new();
        roles_of(&whole, Role::WorkloadResource(is_pod), &mut roles);
        let mut from_whole = None;
        let asked = asked::during(|| from_whole = Some(read_workload(&whole)));
        assert!(asked.len() > 15, "{asked:?}");
        for (node, key) in &asked {
            let role = roles.get(node);
            assert!(
                role.is_some_and(|r| r.child(key).is_some()),
                "{kind_name}: kinds::workload reads `{key}` of a map whose workload role ({role:?}) does not build it \
                 (Role::child)"
            );
        }
        let slim = read(text, Role::WorkloadResource(is_pod), &mut Built::default()).expect("slim tree");
        assert_eq!(from_whole, Some(read_workload(&slim)), "{kind_name}");
    }
}
