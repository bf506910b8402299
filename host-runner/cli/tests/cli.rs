//! The `meshlock` binary as users run it: outputs against golden files (bless with
//! `MESHLOCK_BLESS=1 cargo test -p meshlock-cli --test cli`) and the exit-code contract.

#![forbid(unsafe_code)]
#![expect(clippy::expect_used, clippy::panic, reason = "test code: a failed expectation is a test failure")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn meshlock(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshlock")).args(args).current_dir(root()).output().expect("run meshlock")
}

fn meshlock_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshlock"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(input).expect("write");
    child.wait_with_output().expect("wait")
}

fn golden(name: &str, actual: &str) {
    let path = root().join("tests/golden").join(name);
    if std::env::var_os("MESHLOCK_BLESS").is_some() {
        std::fs::write(&path, actual).expect("bless");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing: run with MESHLOCK_BLESS=1", path.display()));
    assert!(
        want == actual,
        "{name} differs from the golden file; if the change is intended, bless it.\n--- got ---\n{actual}"
    );
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn example_outputs_match_golden_files() {
    let a = meshlock(&["analyze", "examples/authn"]);
    assert_eq!(a.status.code(), Some(1), "the example has error diagnostics on purpose");
    golden("authn-analyze.txt", &stdout(&a));
    let j = meshlock(&["analyze", "examples/authn", "--format", "json"]);
    golden("authn-analyze.json", &stdout(&j));
    let r = meshlock(&["reach", "examples/authn"]);
    assert_eq!(r.status.code(), Some(0));
    golden("authn-reach.txt", &stdout(&r));
    let rj = meshlock(&["reach", "examples/authn", "--format", "json"]);
    golden("authn-reach.json", &stdout(&rj));
    let e = meshlock(&["explain", "examples/authn", "--workload", "bar/httpbin"]);
    assert_eq!(e.status.code(), Some(0));
    golden("authn-explain.txt", &stdout(&e));
}

#[test]
fn reach_to_exits_1_when_a_listed_call_fails() {
    let fail = meshlock(&["reach", "examples/authn", "--from", "legacy/sleep", "--to", "httpbin.foo:8000"]);
    assert_eq!(fail.status.code(), Some(1), "{}", stdout(&fail));
    assert!(stdout(&fail).contains("Connection reset by peer"));
    let ok = meshlock(&["reach", "examples/authn", "--from", "legacy/sleep", "--to", "httpbin.bar:8000"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    let unknown = meshlock(&["reach", "examples/authn", "--to", "nothing.here:80"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("nothing.here"));
}

#[test]
fn stdin_is_read_with_dash() {
    let text = std::fs::read(root().join("examples/authn/policies.yaml")).expect("read");
    let o = meshlock_stdin(&["analyze", "-", "--format", "json"], &text);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("\"file\": \"<stdin>\""));
}

fn alias_bomb() -> String {
    let mut s = String::from("a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
    for i in 1..14 {
        let p = i - 1;
        s.push_str(&format!("a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"));
    }
    s
}

#[test]
fn unusable_input_exits_2_with_a_position() {
    let dir = std::env::temp_dir().join(format!("meshlock-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("syntax.yaml", b"apiVersion: v1\nkind: Pod\nmetadata: {name: [x\n".to_vec(), "syntax.yaml:4:1"),
        ("binary.yaml", vec![b'a', b':', b' ', 0xff, 0xfe, 0x00, b'\n'], "binary.yaml:1:4"),
        ("deep.yaml", format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(), "deep.yaml:1:"),
        ("bomb.yaml", alias_bomb().into_bytes(), "bomb.yaml:"),
        ("tabs.yaml", b"a:\n\tb: c\n".to_vec(), "tabs.yaml:2:"),
    ];
    for (name, bytes, want) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        let o = meshlock(&["analyze", path.to_str().expect("utf-8 path")]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{name}: want `{want}` in: {}", stderr(&o));
    }
    let missing = meshlock(&["analyze", "no/such/file.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("no/such/file.yaml"));
    let flag = meshlock(&["analyze", "--frobnicate"]);
    assert_eq!(flag.status.code(), Some(2));
    let version = meshlock(&["analyze", "examples/authn", "--istio-version", "0.8"]);
    assert_eq!(version.status.code(), Some(2));
    assert!(stderr(&version).contains("0.8"));
    let none = meshlock(&["analyze"]);
    assert_eq!(none.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn semantic_problems_are_diagnostics_with_exit_1_not_2() {
    let o = meshlock_stdin(
        &["analyze", "-"],
        b"apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: x, namespace: foo}\nspec:\n  mtls:\n    mode: STRICTT\n",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("<stdin>:6:5: error ML0003"), "{}", stdout(&o));
}

#[test]
fn convert_prints_v1beta1() {
    let o = meshlock_stdin(
        &["convert", "-"],
        b"apiVersion: authentication.istio.io/v1alpha1\nkind: MeshPolicy\nmetadata: {name: default}\nspec:\n  peers:\n  - mtls: {}\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("kind: PeerAuthentication")
            && out.contains("namespace: \"istio-system\"")
            && out.contains("mode: STRICT"),
        "{out}"
    );
}

#[test]
fn diff_shows_breaking_calls() {
    let dir = std::env::temp_dir().join(format!("meshlock-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let after = dir.join("strict.yaml");
    let mut text = String::new();
    for f in ["namespaces.yaml", "workloads.yaml", "policies.yaml"] {
        text.push_str(&std::fs::read_to_string(root().join("examples/authn").join(f)).expect("read"));
        text.push_str("\n---\n");
    }
    text.push_str(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: httpbin, namespace: bar}\n\
         spec:\n  selector:\n    matchLabels: {app: httpbin}\n  mtls: {mode: STRICT}\n",
    );
    std::fs::write(&after, text).expect("write");
    let o = meshlock(&["diff", "--before", "examples/authn", "--after", after.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.lines().any(|l| l.starts_with("BREAKS") && l.contains("legacy/sleep")), "{out}");
    assert!(out.contains("2 break"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compile_prints_one_workload_and_writes_a_whole_mesh() {
    let out = meshlock(&["compile", "--workload", "foo/httpbin", "examples/authn"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    golden("compile-foo-httpbin.json", &stdout(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["schema"], 1);
    assert!(v["inbound"].is_object() && v["outbound"].is_array());

    let dir = std::env::temp_dir().join(format!("meshlock-compile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = meshlock(&["compile", "--all", "--out", dir.to_str().expect("utf-8"), "examples/authn"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let one = std::fs::read(dir.join("foo/httpbin.json")).expect("foo/httpbin.json written");
    let v: serde_json::Value = serde_json::from_slice(&one).expect("json");
    assert!(v.get("outbound").is_none(), "--all writes the inbound part");
    assert!(stderr(&out).contains("largest"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);

    // An unknown workload and unreadable input: exit 2 with a reason.
    let out = meshlock(&["compile", "--workload", "foo/nope", "examples/authn"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("foo/nope"), "{}", stderr(&out));
    let out = meshlock_stdin(&["compile", "--workload", "a/b", "-"], b"kind: [unclosed\n");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn envoy_config_writes_a_wasm_plugin_per_workload() {
    let dir = std::env::temp_dir().join(format!("meshlock-plugins-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out =
        meshlock(&["envoy-config", "--wasm-plugin", "--all", "--out", dir.to_str().expect("utf-8"), "examples/authn"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let yaml = std::fs::read_to_string(dir.join("foo/httpbin.yaml")).expect("foo/httpbin.yaml");
    let m: serde_json::Value = serde_yaml::from_str(&yaml).expect("yaml");
    assert_eq!(m["kind"], "WasmPlugin");
    assert_eq!(m["spec"]["pluginConfig"]["compiled"]["workload"], "foo/httpbin");
    assert!(m["spec"]["pluginConfig"]["compiled"].get("outbound").is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reach_summary_by_namespace_and_cause() {
    let out = meshlock(&["reach", "--summary", "examples/authn"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    golden("authn-reach-summary.txt", &stdout(&out));
    let out = meshlock(&["reach", "--summary", "--format", "json", "examples/authn"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["counts"]["total"], 18);
    assert_eq!(v["failures"][0]["calls"], 4, "{v}");

    // --namespace: calls from or to `legacy` only.
    let out = meshlock(&["reach", "--namespace", "legacy", "--format", "json", "examples/authn"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let calls = v["calls"].as_array().expect("calls");
    assert_eq!(v["total"], calls.len());
    assert!(!calls.is_empty());
    for c in calls {
        let (from, to) = (c["from"].as_str().expect("from"), c["toWorkload"].as_str().expect("to"));
        assert!(from.starts_with("legacy/") || to.starts_with("legacy/"), "{c}");
    }
    let out = meshlock(&["reach", "--namespace", "nowhere", "examples/authn"]);
    assert_eq!(out.status.code(), Some(2), "an unknown namespace is refused");
}

/// A mesh whose matrix is unreadable gets the summary without asking, and `diff` of two such
/// meshes answers with net changes by namespace pair and cause.
#[test]
fn reach_and_diff_answer_at_scale() {
    let dir = std::env::temp_dir().join(format!("meshlock-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let before = dir.join("before.yaml");
    let after = dir.join("after.yaml");
    let mesh = meshlock_core::synth::generate(&meshlock_core::synth::MeshShape::new(200));
    std::fs::write(&before, &mesh).expect("write");
    // ns1 (PERMISSIVE in the synthetic mesh) becomes STRICT: its sidecar-less callers break.
    let permissive = "  name: default\n  namespace: ns1\nspec:\n  mtls:\n    mode: PERMISSIVE\n";
    assert!(mesh.contains(permissive), "the synthetic mesh's ns1 policy");
    std::fs::write(&after, mesh.replace(permissive, &permissive.replace("PERMISSIVE", "STRICT"))).expect("write");
    let (b, a) = (before.to_str().expect("utf-8"), after.to_str().expect("utf-8"));

    let out = meshlock(&["reach", b]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("too many to list") && text.contains("Namespaces (client → service)"), "{text}");
    assert!(text.contains("Failing calls by cause"), "{text}");
    assert!(text.lines().count() < 200, "a summary, not a listing: {} lines", text.lines().count());

    let out = meshlock(&["diff", "--before", b, "--after", a]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Namespace pairs that change"), "{text}");
    assert!(text.contains("PeerAuthentication ns1/default"), "the cause names the new policy: {text}");
    let out = meshlock(&["diff", "--before", b, "--after", a, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let grown = v["after"]["failing"].as_u64().expect("after") > v["before"]["failing"].as_u64().expect("before");
    assert!(grown, "{}", v["after"]);
    assert!(v["namespaces"].as_array().is_some_and(|p| p.iter().all(|c| c["to"] == "ns1")), "{}", v["namespaces"]);
    let _ = std::fs::remove_dir_all(&dir);
}

fn sarif_schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("tests/sarif/sarif-schema-2.1.0.json")).expect("schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema json");
    jsonschema::options().should_validate_formats(true).build(&schema).expect("the SARIF schema compiles")
}

fn assert_valid_sarif(validator: &jsonschema::Validator, log: &serde_json::Value) {
    let errors: Vec<String> = validator.iter_errors(log).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "not valid SARIF 2.1.0:\n{}", errors.join("\n"));
}

/// The documentation's notes for a code: the fourth cell of its row in docs/diagnostics.md.
fn documented_notes(code: &str) -> String {
    let doc = std::fs::read_to_string(root().join("docs/diagnostics.md")).expect("docs");
    let row = doc.lines().find(|l| l.starts_with(&format!("| {code} |"))).expect("row");
    let cells: Vec<&str> = row.split(" | ").collect();
    cells.get(3).expect("notes cell").trim_end_matches(" |").replace("\\|", "|")
}

#[test]
fn analyze_writes_sarif_that_the_official_schema_accepts() {
    let validator = sarif_schema();
    let o = meshlock(&["analyze", "-o", "sarif", "examples/authn"]);
    assert_eq!(o.status.code(), Some(1), "errors still exit 1 in SARIF: {}", stderr(&o));
    let log: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_valid_sarif(&validator, &log);
    assert_eq!(log["version"], "2.1.0");
    // The validator does reject what SARIF does not allow.
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    assert!(!validator.is_valid(&broken), "a level outside the schema's enum is rejected");

    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), meshlock_core::Code::ALL.len(), "one rule per code");
    for (rule, code) in rules.iter().zip(meshlock_core::Code::ALL) {
        assert_eq!(rule["id"], code.as_str());
        assert_eq!(rule["shortDescription"]["text"], code.title());
        assert_eq!(rule["help"]["text"], documented_notes(code.as_str()), "{code}: help is the doc's notes");
    }

    // Every diagnostic of the JSON report is a result, at the same place, with its severity.
    let json = meshlock(&["analyze", "-o", "json", "examples/authn"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let diagnostics = report["diagnostics"].as_array().expect("diagnostics");
    let results = run["results"].as_array().expect("results");
    assert_eq!(results.len(), diagnostics.len());
    assert!(!results.is_empty());
    for (r, d) in results.iter().zip(diagnostics) {
        assert_eq!(r["ruleId"], d["code"]);
        assert_eq!(rules[r["ruleIndex"].as_u64().expect("ruleIndex") as usize]["id"], d["code"]);
        let level = match d["severity"].as_str().expect("severity") {
            "info" => "note",
            other => other,
        };
        assert_eq!(r["level"], level);
        let at = &r["locations"][0]["physicalLocation"];
        assert_eq!(at["artifactLocation"]["uri"], d["file"], "relative input paths stay relative");
        assert_eq!(at["region"]["startLine"], d["line"]);
        assert_eq!(at["region"]["startColumn"], d["column"]);
    }

    // `--format` is the same option.
    let alias = meshlock(&["analyze", "--format", "sarif", "examples/authn"]);
    assert_eq!(alias.stdout, o.stdout);
}

#[test]
fn sarif_uris_are_relative_to_the_working_directory() {
    let validator = sarif_schema();
    let abs = root().join("examples/authn/policies.yaml").canonicalize().expect("abs");
    let o = meshlock(&["analyze", "-o", "sarif", abs.to_str().expect("utf-8")]);
    let log: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_valid_sarif(&validator, &log);
    let uris: Vec<&str> = log["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str().expect("uri"))
        .collect();
    assert!(!uris.is_empty());
    assert!(uris.iter().all(|u| *u == "examples/authn/policies.yaml"), "{uris:?}");

    // stdin has no file: its name is still a valid URI reference.
    let o = meshlock_stdin(
        &["analyze", "-o", "sarif", "-"],
        b"apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: x, namespace: foo}\nspec:\n  mtls:\n    mode: STRICTT\n",
    );
    assert_eq!(o.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_valid_sarif(&validator, &log);
    let r = &log["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["ruleId"] == "ML0003")
        .expect("ML0003")
        .clone();
    assert_eq!(r["level"], "error");
    assert_eq!(r["locations"][0]["physicalLocation"]["region"]["startLine"], 6);
    assert_eq!(r["locations"][0]["physicalLocation"]["region"]["startColumn"], 5);
}

#[test]
fn output_is_spelled_as_kubectl_spells_it() {
    for args in [["reach", "-o", "json"], ["reach", "--output", "json"], ["reach", "--format", "json"]] {
        let o = meshlock(&[args[0], args[1], args[2], "examples/authn"]);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["total"], 18, "{args:?}");
    }
    // SARIF is for diagnostics: only `analyze` has it.
    let o = meshlock(&["reach", "-o", "sarif", "examples/authn"]);
    assert_eq!(o.status.code(), Some(2));
    // `--out DIR` of compile is untouched.
    let help = stdout(&meshlock(&["compile", "--help"]));
    assert!(help.contains("--out <DIR>"), "{help}");
}

#[test]
fn completions_and_man_pages_are_generated() {
    for (shell, marker) in [("bash", "_meshlock()"), ("zsh", "#compdef meshlock"), ("fish", "complete -c meshlock")] {
        let o = meshlock(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("analyze") && script.contains("sarif"), "{shell} completes commands and values");
    }
    let o = meshlock(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));

    let o = meshlock(&["man"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let page = stdout(&o);
    assert!(page.contains(".TH meshlock 1") && page.contains("analyze"), "{page}");

    let dir = std::env::temp_dir().join(format!("meshlock-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let o = meshlock(&["man", "--out", dir.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let analyze = std::fs::read_to_string(dir.join("meshlock-analyze.1")).expect("meshlock-analyze.1");
    assert!(analyze.contains(".TH meshlock-analyze 1") && analyze.contains("sarif"), "{analyze}");
    assert!(dir.join("meshlock.1").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

/// kubectl runs `kubectl-meshlock` from the PATH for `kubectl meshlock …`: the same binary under
/// that name behaves the same, and says `kubectl meshlock` in its help.
#[test]
fn kubectl_plugin_by_its_name() {
    let dir = std::env::temp_dir().join(format!("meshlock-kubectl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("tmp");
    let plugin = dir.join("kubectl-meshlock");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_meshlock"), &plugin).expect("symlink");
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
    let run = |args: &[&str]| {
        Command::new("kubectl-meshlock")
            .args(args)
            .env("PATH", &path)
            .current_dir(root())
            .output()
            .expect("kubectl-meshlock on the PATH")
    };
    let as_plugin = run(&["analyze", "-o", "json", "examples/authn"]);
    let direct = meshlock(&["analyze", "-o", "json", "examples/authn"]);
    assert_eq!(as_plugin.status.code(), direct.status.code());
    assert_eq!(as_plugin.stdout, direct.stdout);
    let help = stdout(&run(&["--help"]));
    assert!(help.contains("Usage: kubectl meshlock <COMMAND>"), "{help}");
    let usage = stderr(&run(&["analyze", "--frobnicate"]));
    assert!(usage.contains("kubectl meshlock analyze"), "{usage}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `kustomize build` output: no `# Source:` comments, documents sorted by kind, generated names
/// with hash suffixes, common labels and annotations.
const KUSTOMIZE_OUTPUT: &str = "\
apiVersion: v1
kind: Namespace
metadata:
  labels:
    app.kubernetes.io/part-of: shop
    istio-injection: enabled
  name: shop
---
apiVersion: v1
data:
  LOG_LEVEL: info
kind: ConfigMap
metadata:
  labels:
    app.kubernetes.io/part-of: shop
  name: cart-config-7g2b5k8f9h
  namespace: shop
---
apiVersion: v1
kind: Service
metadata:
  annotations:
    config.kubernetes.io/origin: |
      path: base/service.yaml
  labels:
    app.kubernetes.io/part-of: shop
  name: cart
  namespace: shop
spec:
  ports:
  - name: http
    port: 80
    targetPort: 8080
  selector:
    app: cart
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app.kubernetes.io/part-of: shop
  name: cart
  namespace: shop
spec:
  selector:
    matchLabels:
      app: cart
  template:
    metadata:
      labels:
        app: cart
        app.kubernetes.io/part-of: shop
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: cart-config-7g2b5k8f9h
        image: registry.example.com/cart:1.2.0
        name: cart
        ports:
        - containerPort: 8080
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  labels:
    app.kubernetes.io/part-of: shop
  name: default
  namespace: shop
spec:
  mtls:
    mode: STRICTT
";

/// What `helm template` prints and what `kustomize build` prints are read as they are; a
/// finding in a Helm-rendered document names its template in text, JSON and SARIF.
#[test]
fn rendered_helm_and_kustomize_output_point_back_at_their_templates() {
    let case: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("tests/corpus/helm-rendered-chart.yaml")).expect("case"),
    )
    .expect("yaml");
    let rendered = case["resources"].as_str().expect("resources");
    let dir = std::env::temp_dir().join(format!("meshlock-rendered-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("rendered")).expect("tmp");
    std::fs::write(dir.join("rendered/payments.yaml"), rendered).expect("write");
    std::fs::write(dir.join("rendered/shop.yaml"), KUSTOMIZE_OUTPUT).expect("write");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_meshlock")).args(args).current_dir(&dir).output().expect("run")
    };

    let text = run(&["analyze", "rendered"]);
    assert_eq!(text.status.code(), Some(1), "{}", stderr(&text));
    let out = stdout(&text);
    assert!(
        out.lines().any(|l| l.starts_with("rendered/payments.yaml:98:5: error ML0303:")
            && l.ends_with(" (from payments/templates/destinationrule.yaml)")),
        "{out}"
    );
    assert!(out.contains("(from payments/templates/peerauthentication.yaml)"), "{out}");
    // Kustomize output has no templates to name; its findings are as for any file.
    let shop: Vec<&str> = out.lines().filter(|l| l.starts_with("rendered/shop.yaml:")).collect();
    assert!(shop.iter().any(|l| l.contains("error ML0003")), "{out}");
    assert!(shop.iter().all(|l| !l.contains("(from ")), "{shop:?}");
    assert!(out.contains("shop/cart") && out.contains("payments/payments-api"), "both inputs' workloads: {out}");
    assert!(!out.contains("ML0001") && !out.contains("ML0004"), "nothing unreadable: {out}");

    let json: serde_json::Value =
        serde_json::from_slice(&run(&["analyze", "-o", "json", "rendered"]).stdout).expect("json");
    let diagnostics = json["diagnostics"].as_array().expect("diagnostics");
    let ml0107 = diagnostics.iter().find(|d| d["code"] == "ML0107").expect("ML0107");
    assert_eq!(ml0107["file"], "rendered/payments.yaml");
    assert_eq!(ml0107["line"], 116);
    assert_eq!(ml0107["template"], "payments/templates/peerauthentication.yaml");
    assert!(diagnostics.iter().filter(|d| d["file"] == "rendered/shop.yaml").all(|d| d.get("template").is_none()));

    let sarif: serde_json::Value =
        serde_json::from_slice(&run(&["analyze", "-o", "sarif", "rendered"]).stdout).expect("json");
    assert_valid_sarif(&sarif_schema(), &sarif);
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    let r = results.iter().find(|r| r["ruleId"] == "ML0107").expect("ML0107");
    assert_eq!(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "rendered/payments.yaml");
    assert_eq!(r["locations"][0]["physicalLocation"]["region"]["startLine"], 116);
    assert_eq!(
        r["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "payments/templates/peerauthentication.yaml"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plan_writes_step_files_that_read_back_as_the_planned_state() {
    let dir = std::env::temp_dir().join(format!("meshlock-plan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("tmp");
    // A step file of an earlier plan is removed; other files are left alone.
    std::fs::write(dir.join("03-stale.yaml"), "kind: PeerAuthentication\n").expect("write");
    std::fs::write(dir.join("notes.txt"), "mine\n").expect("write");
    let out = dir.to_str().expect("utf-8 path");
    let o = meshlock(&["plan", "examples/authn", "--out", out]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The output names the files under DIR; the golden holds it with DIR written as `OUT`.
    golden("authn-plan.txt", &stdout(&o).replace(out, "OUT"));
    let j = meshlock(&["plan", "examples/authn", "--format", "json"]);
    assert_eq!(j.status.code(), Some(0), "{}", stderr(&j));
    golden("authn-plan.json", &stdout(&j));
    assert!(stderr(&o).contains("03-stale.yaml"), "{}", stderr(&o));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("out dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let names: Vec<String> =
        files.iter().filter_map(|f| f.file_name().and_then(|n| n.to_str()).map(str::to_owned)).collect();
    assert_eq!(names, ["01-destination-rules.yaml", "02-mesh.yaml"]);
    assert!(dir.join("notes.txt").exists());
    golden("authn-plan-01-destination-rules.yaml", &std::fs::read_to_string(&files[0]).expect("read"));
    golden("authn-plan-02-mesh.yaml", &std::fs::read_to_string(&files[1]).expect("read"));
    // The input followed by the steps, read as one stream, is the planned state: the four calls
    // the DestinationRule without mode broke are fixed; legacy's two calls to foo's STRICT
    // httpbin fail as they do today (no sidecar).
    let mut args = vec!["reach", "examples/authn"];
    args.extend(files.iter().map(|f| f.to_str().expect("utf-8 path")));
    let r = meshlock(&args);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    assert!(stdout(&r).contains("18 calls: 16 succeed"), "{}", stdout(&r));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plan_refuses_what_it_cannot_plan_with_exit_2() {
    let bad = meshlock_stdin(&["plan", "-"], b"apiVersion: v1\nkind: Pod\nmetadata: {name: [x\n");
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    let invalid = meshlock_stdin(
        &["plan", "-"],
        b"apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: x, namespace: foo}\nspec:\n  mtls:\n    mode: STRICTT\n",
    );
    assert_eq!(invalid.status.code(), Some(2), "{}", stderr(&invalid));
    assert!(stderr(&invalid).contains("<stdin>:6:5"), "{}", stderr(&invalid));
    let old = meshlock(&["plan", "examples/authn", "--istio-version", "1.4"]);
    assert_eq!(old.status.code(), Some(2));
    assert!(stderr(&old).contains("1.5"), "{}", stderr(&old));
    let alpha = meshlock_stdin(
        &["plan", "-"],
        b"apiVersion: authentication.istio.io/v1alpha1\nkind: MeshPolicy\nmetadata: {name: default}\nspec: {peers: [{mtls: {}}]}\n",
    );
    assert_eq!(alpha.status.code(), Some(2));
    assert!(stderr(&alpha).contains("meshlock convert"), "{}", stderr(&alpha));
    let goal = meshlock(&["plan", "examples/authn", "--goal", "permissive"]);
    assert_eq!(goal.status.code(), Some(2));
}

#[test]
fn plan_of_a_large_mesh_groups_what_is_blocked() {
    let dir = std::env::temp_dir().join(format!("meshlock-plan-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let mesh = dir.join("mesh.yaml");
    std::fs::write(&mesh, meshlock_core::synth::generate(&meshlock_core::synth::MeshShape::new(200))).expect("write");
    let o = meshlock(&["plan", mesh.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    // ns9 has no injection: its clients call every service in plaintext, so every port that is
    // not STRICT today keeps its mode; the text says so per reason, not per workload.
    let blocked = text.lines().find(|l| l.starts_with("Cannot become STRICT yet")).expect("blocked section");
    let n: usize =
        blocked.trim_start_matches("Cannot become STRICT yet (").split(' ').next().unwrap_or("").parse().expect("n");
    assert!(text.contains(&format!("  {n} workload(s): callers without a sidecar")), "{text}");
    assert!(text.lines().count() < 100, "{} lines", text.lines().count());
    let _ = std::fs::remove_dir_all(&dir);
}
