//! meshlock-web: the browser playground's door into meshlock-core.
//!
//! A thin wasm-bindgen facade. It turns strings from JavaScript into [`Source`]s and
//! [`Options`], calls the core's queries (analyze, reach, explain, diff, convert), and hands the
//! reports back as plain JS objects with the JSON shapes of docs/contracts.md. No mTLS
//! rule lives here: the front end renders what the core returns, nothing else.
//!
//! Reports cross the boundary as JSON text parsed by `JSON.parse` (maps as plain objects,
//! playground.md P5; `None` as `null`), so the objects match `meshlock … --format json`.

// Unsafe code is denied by the workspace; only the heap (wasm32 only) lifts it, to forward an
// allocator's raw pointers.

pub mod connection;
#[cfg(target_arch = "wasm32")]
mod heap;

use js_sys::JsString;
use meshlock_core::convert::ConvertOutput;
use meshlock_core::diff::diff as core_diff;
use meshlock_core::reach::{
    FailureGroup, NamespacePair, ReachCounts, ReachFilter, summarize_streamed, try_for_each_call,
};
use meshlock_core::report::{Call, Outcome};
use meshlock_core::{Analysis, IstioVersion, Options, Source};
use serde::Serialize;
use std::ops::ControlFlow;
use wasm_bindgen::prelude::*;

/// The name the playground's single editor buffer is reported under (diagnostics' `file`).
pub const DEFAULT_FILE: &str = "playground.yaml";

/// Reads the version selector's value: empty or `auto` means "let the engine choose"
/// (the newest behaviour, or 1.5 when the input holds v1alpha1 policies: docs/versions.md).
pub fn parse_version(raw: Option<&str>) -> Result<Option<IstioVersion>, String> {
    match raw.map(str::trim) {
        None | Some("" | "auto") => Ok(None),
        Some(v) => v.parse::<IstioVersion>().map(Some).map_err(|e| e.to_string()),
    }
}

/// Builds the core's analysis of one YAML text. Pure Rust, so native tests can call it.
pub fn analysis_of(
    yaml: impl Into<String>,
    file: Option<&str>,
    istio_version: Option<&str>,
) -> Result<Analysis, String> {
    let options = Options { istio_version: parse_version(istio_version)?, ..Options::default() };
    let source = Source::new(file.unwrap_or(DEFAULT_FILE), yaml);
    Ok(Analysis::new(&[source], &options))
}

/// A reach filter from the playground's lists (empty lists: every call).
pub fn filter_of(from: Vec<String>, to: Vec<String>) -> ReachFilter {
    ReachFilter { from, to, ..ReachFilter::default() }
}

#[wasm_bindgen]
extern "C" {
    /// The platform's UTF-8 encoder (browsers, workers and Node have it).
    type TextEncoder;
    #[wasm_bindgen(constructor)]
    fn new() -> TextEncoder;
    /// Writes as much of `source` as fits into `destination`, which wasm-bindgen hands over as a
    /// view of this module's memory: the bytes land in place, without a copy.
    #[wasm_bindgen(method, js_name = encodeInto)]
    fn encode_into(this: &TextEncoder, source: &JsString, destination: &mut [u8]) -> EncodeIntoResult;
    type EncodeIntoResult;
    /// UTF-16 code units of `source` read.
    #[wasm_bindgen(method, getter)]
    fn read(this: &EncodeIntoResult) -> f64;
    /// Bytes written.
    #[wasm_bindgen(method, getter)]
    fn written(this: &EncodeIntoResult) -> f64;
}

/// A JavaScript string as UTF-8, owned. wasm-bindgen's glue for a `&str` argument copies a
/// string one UTF-16 unit at a time in a JavaScript loop while it is ASCII; for a cluster dump
/// of hundreds of megabytes that loop was a large part of *load*. `TextEncoder.encodeInto` copies
/// natively, and the `String` then moves into the analysis instead of being copied again.
pub fn text_of(value: &JsString) -> Result<String, JsError> {
    if !value.is_string() {
        return Err(JsError::new("expected a string"));
    }
    let encoder = TextEncoder::new();
    let mut rest = value.clone();
    // One byte per UTF-16 unit holds an ASCII text whole, the usual case, in one pass.
    let mut bytes = vec![0u8; rest.length() as usize];
    let mut filled = 0;
    loop {
        let done = encoder.encode_into(&rest, bytes.get_mut(filled..).unwrap_or_default());
        // Whole numbers within the lengths of the string and of the destination.
        filled += done.written() as usize;
        let (read, units) = (done.read() as u32, rest.length());
        if read >= units {
            break;
        }
        rest = rest.slice(read, units);
        // A UTF-16 unit takes at most 3 bytes (a surrogate pair: 4 for 2): the next pass ends it.
        bytes.resize(filled + rest.length() as usize * 3, 0);
    }
    bytes.truncate(filled);
    String::from_utf8(bytes).map_err(|_| JsError::new("TextEncoder wrote invalid UTF-8"))
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    // Maps become objects and `None` becomes null, as the page expects.
    let text = serde_json::to_string(value)
        .map_err(|e| JsError::new(&format!("cannot hand the report to JavaScript: {e}")))?;
    js_sys::JSON::parse(&text).map_err(|_| JsError::new("cannot hand the report to JavaScript: JSON.parse failed"))
}

// === impl Model ===

/// One analysed input. Build it once per edit and ask it every question; call `free()` when
/// done (wasm memory is not garbage-collected).
#[wasm_bindgen]
pub struct Model {
    analysis: Analysis,
}

#[wasm_bindgen]
impl Model {
    /// Parses and analyses `yaml` (multi-document YAML, JSON or `kind: List`).
    /// `istioVersion`: `1.4`, `1.5`, `1.28` …; empty or `auto` for the engine's default.
    #[wasm_bindgen(constructor)]
    pub fn new(yaml: &JsString, istio_version: Option<String>, file: Option<String>) -> Result<Model, JsError> {
        analysis_of(text_of(yaml)?, file.as_deref(), istio_version.as_deref())
            .map(|analysis| Model { analysis })
            .map_err(|e| JsError::new(&e))
    }

    /// Loaded files (a cluster dump, Helm output: their names and texts) read together with the
    /// editor's `yaml`, which is reported under the playground's own file name: the files are
    /// the cluster, the editor holds what the user adds or changes.
    #[wasm_bindgen(js_name = withFiles)]
    pub fn with_files(
        names: Vec<String>,
        texts: Vec<JsString>,
        yaml: &JsString,
        istio_version: Option<String>,
    ) -> Result<Model, JsError> {
        let options = Options {
            istio_version: parse_version(istio_version.as_deref()).map_err(|e| JsError::new(&e))?,
            ..Options::default()
        };
        let mut sources = Vec::with_capacity(names.len() + 1);
        for (name, text) in names.into_iter().zip(&texts) {
            sources.push(Source::new(name, text_of(text)?));
        }
        sources.push(Source::new(DEFAULT_FILE, text_of(yaml)?));
        Ok(Model { analysis: Analysis::new(&sources, &options) })
    }

    /// The full `analyze` entries (precedence chains included) of the named workloads.
    #[wasm_bindgen(js_name = workloadReports)]
    pub fn workload_reports(&self, keys: Vec<String>) -> Result<JsValue, JsError> {
        to_js(&self.analysis.workload_reports(&keys))
    }

    /// Documents by kind: the ones read and the ones skipped (kinds that do not bear on mTLS).
    pub fn inventory(&self) -> Result<JsValue, JsError> {
        to_js(&self.analysis.resources().inventory)
    }

    /// The Istio version whose behaviour was applied (e.g. `1.5` when chosen automatically).
    #[wasm_bindgen(js_name = istioVersion)]
    pub fn istio_version(&self) -> String {
        self.analysis.version().to_string()
    }

    /// `meshlock analyze --format json`: workloads, ports and precedence chains, services,
    /// diagnostics.
    pub fn analyze(&self) -> Result<JsValue, JsError> {
        // Serialised as it is built (the same JSON as `analyze()`): the whole report is never
        // held in memory beside its text.
        to_js(&self.analysis.analyze_streamed())
    }

    /// `meshlock analyze --format json` as the CLI prints it, byte for byte (the input read
    /// under the file name given to [`Model::new`]): the report the page offers for download.
    /// UTF-8 bytes, not a string or objects: nothing is rebuilt in JavaScript, and a report of
    /// 150 MB is neither decoded into a string twice its size nor encoded again for the file.
    #[wasm_bindgen(js_name = analyzeJson)]
    pub fn analyze_json(&self) -> Result<Vec<u8>, JsError> {
        let mut text = Vec::new();
        serde_json::to_writer_pretty(&mut text, &self.analysis.analyze_streamed())
            .map_err(|e| JsError::new(&format!("cannot write the report: {e}")))?;
        text.push(b'\n');
        Ok(text)
    }

    /// [`Model::analyze`] as the page holds it: no services (the page lists none) and the
    /// precedence chains of the first `chains` workloads only, the others marked
    /// `chainsOmitted` (their cards ask `workloadReports`). What is left out is never written,
    /// parsed or copied: at 10,000 services it was most of the report.
    #[wasm_bindgen(js_name = analyzeSlim)]
    pub fn analyze_slim(&self, chains: usize) -> Result<JsValue, JsError> {
        to_js(&self.analysis.analyze_streamed_slim(chains))
    }

    /// `meshlock reach --format json`, optionally narrowed to clients (`ns/name`) and
    /// destinations (`HOST[:PORT]`).
    pub fn reach(&self, from: Vec<String>, to: Vec<String>) -> Result<JsValue, JsError> {
        to_js(&self.analysis.reach(&filter_of(from, to)))
    }

    /// A bounded view of `reach` for the page: at most `limit` calls (failing ones first, then
    /// plaintext, then mTLS, each in the core's order) and the counts over all of them. A mesh of
    /// a thousand services has millions of calls; the page must not receive them all.
    #[wasm_bindgen(js_name = reachSample)]
    pub fn reach_sample(&self, from: Vec<String>, to: Vec<String>, limit: usize) -> Result<JsValue, JsError> {
        to_js(&sample_calls(&self.analysis, &filter_of(from, to), limit))
    }

    /// [`Model::reach_sample`] for one cell of the namespace × namespace view: the calls from
    /// clients of `clientNamespace` to services of `serviceNamespace`.
    #[wasm_bindgen(js_name = reachSampleBetween)]
    pub fn reach_sample_between(
        &self,
        client_namespace: String,
        service_namespace: String,
        limit: usize,
    ) -> Result<JsValue, JsError> {
        let filter = ReachFilter {
            client_namespace: Some(client_namespace),
            service_namespace: Some(service_namespace),
            ..ReachFilter::default()
        };
        to_js(&sample_calls(&self.analysis, &filter, limit))
    }

    /// The counts of `reach` (total, failing, plaintext, mtls) without the calls, in time linear
    /// in the mesh.
    #[wasm_bindgen(js_name = reachCounts)]
    pub fn reach_counts(&self, from: Vec<String>, to: Vec<String>) -> Result<JsValue, JsError> {
        to_js(&self.analysis.reach_counts(&filter_of(from, to)))
    }

    /// `meshlock reach --summary --format json`, bounded: the counts per client namespace ×
    /// service namespace that the matrix filter keeps (`text` in either namespace, `state`
    /// `all`, `fail`, `plaintext` or `mtls`), at most `limit` of them, the most failing first;
    /// the failing calls grouped by cause (`examples` calls each); how many pairs there are and
    /// every namespace. In time linear in the mesh plus its pairs, which are ranked as they are
    /// expanded, never all held — what the page shows first when workloads are too many to read.
    /// Without `text`, `state` and `limit`: every pair. At most [`FAILURE_CAUSES`] causes.
    #[wasm_bindgen(js_name = reachSummary)]
    pub fn reach_summary(
        &self,
        examples: usize,
        text: Option<String>,
        state: Option<String>,
        limit: Option<u32>,
    ) -> Result<JsValue, JsError> {
        let filter = PairFilter::new(text.as_deref().unwrap_or(""), state.as_deref()).map_err(|e| JsError::new(&e))?;
        let limit = limit.map_or(usize::MAX, |n| n as usize);
        to_js(&summary_page(&self.analysis, examples, &filter, limit))
    }

    /// The inbound plugin configuration of `workload` (`ns/name`) as its WasmPlugin's
    /// `pluginConfig` carries it, for the `network` (default) or `http` filter.
    #[wasm_bindgen(js_name = pluginConfiguration)]
    pub fn plugin_configuration(&self, workload: &str, kind: Option<String>) -> Result<String, JsError> {
        use meshlock_core::compile::plugin::FilterKind;
        let kind = if kind.as_deref() == Some("http") { FilterKind::Http } else { FilterKind::Network };
        connection::plugin_configuration(&self.analysis, workload, kind).map_err(|e| JsError::new(&e))
    }

    /// What the filter on `workload`'s `port` decides for a peer (`workload` + `ns/name`,
    /// `spiffe` + an ID, `plaintext`, `tls`), with `reach`'s prediction for a workload peer.
    #[wasm_bindgen(js_name = tryConnection)]
    pub fn try_connection(
        &self,
        workload: &str,
        port: u16,
        peer_kind: &str,
        peer: Option<String>,
    ) -> Result<JsValue, JsError> {
        let peer = connection::Peer::parse(peer_kind, peer.as_deref()).map_err(|e| JsError::new(&e))?;
        let tried = connection::try_connection(&self.analysis, workload, port, &peer).map_err(|e| JsError::new(&e))?;
        to_js(&tried)
    }

    /// `meshlock explain`: the precedence story of one workload (`ns/name`), optionally one port.
    pub fn explain(&self, workload: &str, port: Option<u16>) -> Result<JsValue, JsError> {
        match self.analysis.explain(workload, port) {
            Ok(explanation) => to_js(&explanation),
            Err(e) => Err(JsError::new(&e.to_string())),
        }
    }
}

/// What [`Model::reach_sample`] hands to JavaScript.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ReachSample {
    pub calls: Vec<Call>,
    /// Every call of the input (before the limit).
    pub total: usize,
    pub failing: usize,
    pub plaintext: usize,
    /// Whether `calls` holds fewer than `total`.
    pub truncated: bool,
}

/// Keeps at most `limit` calls, failing first, then plaintext, then mTLS, each in the core's
/// order. The counts come from `reach_counts` (linear time); the calls are streamed only until
/// every bucket holds what it can, so a large mesh is not listed in full.
pub fn sample_calls(analysis: &Analysis, filter: &ReachFilter, limit: usize) -> ReachSample {
    let counts = analysis.reach_counts(filter);
    let want = |n: u64| usize::try_from(n).unwrap_or(usize::MAX).min(limit);
    let (want_failing, want_plaintext, want_mtls) = (want(counts.failing), want(counts.plaintext), want(counts.mtls));
    let (mut failing, mut plaintext, mut mtls) = (Vec::new(), Vec::new(), Vec::new());
    if want_failing + want_plaintext + want_mtls > 0 {
        let _ = try_for_each_call(analysis, filter, |call| {
            let (bucket, room) = match call.outcome {
                Outcome::Fails => (&mut failing, want_failing),
                Outcome::Plaintext => (&mut plaintext, want_plaintext),
                Outcome::Mtls => (&mut mtls, want_mtls),
            };
            if bucket.len() < room {
                bucket.push(call);
            }
            if failing.len() == want_failing && plaintext.len() == want_plaintext && mtls.len() == want_mtls {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
    }
    let total = usize::try_from(counts.total).unwrap_or(usize::MAX);
    let mut calls = failing;
    for more in [plaintext, mtls] {
        let room = limit.saturating_sub(calls.len());
        calls.extend(more.into_iter().take(room));
    }
    ReachSample {
        truncated: calls.len() < total,
        calls,
        total,
        failing: usize::try_from(counts.failing).unwrap_or(usize::MAX),
        plaintext: usize::try_from(counts.plaintext).unwrap_or(usize::MAX),
    }
}

/// What [`Model::reach_summary`] hands to JavaScript: [`meshlock_core::reach::ReachSummary`]
/// with its namespace pairs filtered and bounded.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSummary {
    /// Every call of the input.
    pub counts: ReachCounts,
    /// At most the limit of the pairs the filter keeps: the most failing calls first, then
    /// plaintext, then calls, ties in the pairs' order (`meshlock reach`'s ranking), listed by
    /// client namespace then service namespace.
    pub namespaces: Vec<NamespacePair>,
    /// Pairs with at least one call, filter or not.
    pub pairs: usize,
    /// Pairs the filter keeps.
    pub matching: usize,
    /// Whether `namespaces` holds fewer than `matching`.
    pub truncated: bool,
    /// Every namespace a pair can name, sorted.
    pub names: Vec<String>,
    /// The [`FAILURE_CAUSES`] causes with the most failing calls, most first.
    pub failures: Vec<FailureGroup>,
    /// Failure causes in all (one per policy or rule that breaks calls: thousands in a large mesh).
    pub causes: usize,
}

/// Failure causes [`NamespaceSummary`] carries at most: as many as `meshlock reach` prints.
pub const FAILURE_CAUSES: usize = 25;

/// The namespace matrix's filter, as the page applies it to the pairs it holds: `text`
/// (trimmed, any case) within either namespace's name, and the pair's state by its counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairFilter {
    needle: String,
    state: Option<PairState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PairState {
    Fail,
    Plaintext,
    Mtls,
}

impl PairState {
    /// What the page draws a pair as: failing if a call fails, plaintext if one is, else mTLS.
    fn of(c: &ReachCounts) -> Self {
        if c.failing > 0 {
            Self::Fail
        } else if c.plaintext > 0 {
            Self::Plaintext
        } else {
            Self::Mtls
        }
    }
}

impl PairFilter {
    /// `state`: `all` (or none), `fail`, `plaintext`, `mtls`.
    pub fn new(text: &str, state: Option<&str>) -> Result<Self, String> {
        let state = match state.unwrap_or("all") {
            "all" | "" => None,
            "fail" => Some(PairState::Fail),
            "plaintext" => Some(PairState::Plaintext),
            "mtls" => Some(PairState::Mtls),
            other => return Err(format!("unknown outcome `{other}`: expected all, fail, plaintext or mtls")),
        };
        Ok(Self { needle: text.trim().to_lowercase(), state })
    }
}

/// [`NamespaceSummary`]: the pairs `filter` keeps ranked as they are expanded, at most `limit`
/// kept, so a mesh of 2,500 namespaces never hands its 6.25 million pairs over.
pub fn summary_page(analysis: &Analysis, examples: usize, filter: &PairFilter, limit: usize) -> NamespaceSummary {
    let s = summarize_streamed(analysis, &ReachFilter::default(), examples);
    let names = s.namespaces.names();
    // The names the text matches (sorted, as `names` is): looked up per pair by bisection.
    let matched: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| filter.needle.is_empty() || n.to_lowercase().contains(&filter.needle))
        .collect();
    let named = |ns: &str| matched.binary_search(&ns).is_ok();
    let ranked = s.namespaces.most_failing(limit, |from, to, counts| {
        filter.state.is_none_or(|want| PairState::of(counts) == want)
            && (filter.needle.is_empty() || named(from) || named(to))
    });
    let mut top = ranked.top;
    top.sort_unstable_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
    let namespaces: Vec<NamespacePair> = top
        .into_iter()
        .map(|(from, to, counts)| NamespacePair { from: from.to_owned(), to: to.to_owned(), counts })
        .collect();
    NamespaceSummary {
        counts: s.counts,
        truncated: namespaces.len() < ranked.kept,
        namespaces,
        pairs: ranked.all,
        matching: ranked.kept,
        names: names.iter().map(|n| (*n).to_owned()).collect(),
        causes: s.failures.len(),
        failures: s.failures.into_iter().take(FAILURE_CAUSES).collect(),
    }
}

/// `meshlock diff --format json`: the calls whose outcome or encryption changes from `before`
/// to `after`.
#[wasm_bindgen]
pub fn diff(before: &Model, after: &Model, from: Vec<String>, to: Vec<String>) -> Result<JsValue, JsError> {
    to_js(&core_diff(&before.analysis, &after.analysis, &filter_of(from, to)))
}

/// `meshlock convert`: v1alpha1 MeshPolicy/Policy → v1beta1 PeerAuthentication YAML.
pub fn convert_yaml(yaml: &str, file: Option<&str>) -> ConvertOutput {
    meshlock_core::convert::convert(&[Source::new(file.unwrap_or(DEFAULT_FILE), yaml)])
}

/// `meshlock convert`, for the playground's Convert button.
#[wasm_bindgen]
pub fn convert(yaml: &str, file: Option<String>) -> Result<JsValue, JsError> {
    to_js(&convert_yaml(yaml, file.as_deref()))
}

/// `meshlock plan --format json` of one YAML text: the steps to STRICT, each with its proof
/// (the comparison of the mesh before and after it) and its step file's YAML. Pure Rust, so
/// native tests can call it.
pub fn plan_of(
    yaml: &str,
    file: Option<&str>,
    istio_version: Option<&str>,
) -> Result<meshlock_core::plan::Plan, String> {
    let options = Options { istio_version: parse_version(istio_version)?, ..Options::default() };
    let sources = [Source::new(file.unwrap_or(DEFAULT_FILE), yaml)];
    let analysis = Analysis::new(&sources, &options);
    meshlock_core::plan::plan(&analysis, &sources, &meshlock_core::plan::PlanOptions::default())
        .map_err(|e| e.to_string())
}

/// `meshlock plan`, for the playground's Plan tab.
#[wasm_bindgen]
pub fn plan(yaml: &str, istio_version: Option<String>, file: Option<String>) -> Result<JsValue, JsError> {
    let p = plan_of(yaml, file.as_deref(), istio_version.as_deref()).map_err(|e| JsError::new(&e))?;
    to_js(&p)
}

/// The version of the engine, shown in the page footer and written into share links.
#[wasm_bindgen(js_name = engineVersion)]
pub fn engine_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT_MESH: &str = "\
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istio-system
spec:
  mtls:
    mode: STRICT
";

    #[test]
    fn version_selector_values() {
        assert_eq!(parse_version(None), Ok(None));
        assert_eq!(parse_version(Some("auto")), Ok(None));
        assert_eq!(parse_version(Some("")), Ok(None));
        assert_eq!(parse_version(Some("1.5")), Ok(Some(IstioVersion::V1_5)));
        let err = parse_version(Some("0.9")).unwrap_err();
        assert!(err.contains("`0.9`"), "{err}");
    }

    #[test]
    fn analysis_names_the_buffer_and_applies_the_version() {
        let a = analysis_of(STRICT_MESH, None, Some("1.12")).unwrap();
        assert_eq!(a.version(), IstioVersion::V1_12);
        let report = a.analyze();
        assert_eq!(report.istio_version, IstioVersion::V1_12);
        // No workloads: the core says so, and its diagnostic points into our buffer.
        assert!(report.diagnostics.iter().all(|d| d.file == DEFAULT_FILE && d.line >= 1), "{:?}", report.diagnostics);
    }

    #[test]
    fn plan_of_the_bundled_example_fixes_the_rule_then_turns_the_mesh_strict() {
        let mut yaml = String::new();
        for f in ["namespaces.yaml", "workloads.yaml", "policies.yaml"] {
            yaml.push_str(
                &std::fs::read_to_string(format!("{}/../examples/authn/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap(),
            );
            yaml.push_str("\n---\n");
        }
        let p = plan_of(&yaml, None, None).unwrap();
        let levels: Vec<&str> = p.steps.iter().map(|s| s.level.as_str()).collect();
        assert_eq!(levels, ["destination-rules", "mesh"]);
        assert!(p.steps.iter().all(|s| s.proof.holds() && !s.yaml.is_empty()));
        let err = plan_of(&yaml, None, Some("1.4")).unwrap_err();
        assert!(err.contains("1.5"), "{err}");
    }

    #[test]
    fn convert_hands_back_the_core_output() {
        let policy = "\
apiVersion: authentication.istio.io/v1alpha1
kind: MeshPolicy
metadata:
  name: default
spec:
  peers:
  - mtls: {}
";
        let r = convert_yaml(policy, None);
        assert!(r.yaml.contains("kind: PeerAuthentication"), "{}", r.yaml);
        assert!(r.yaml.contains("STRICT"), "{}", r.yaml);
        assert_eq!(r.unreadable, 0);
    }

    #[test]
    fn reach_sample_is_the_first_calls_of_each_outcome_of_the_full_listing() {
        use meshlock_core::synth::{MeshShape, generate};
        let a = analysis_of(generate(&MeshShape { services: 30, per_namespace: 4, seed: 3 }), None, None).unwrap();
        let all = a.reach(&ReachFilter::default()).calls;
        for limit in [0, 1, 7, 100, 100_000] {
            let s = sample_calls(&a, &ReachFilter::default(), limit);
            let mut want: Vec<&Call> = all.iter().filter(|c| c.outcome == Outcome::Fails).take(limit).collect();
            want.extend(all.iter().filter(|c| c.outcome == Outcome::Plaintext).take(limit));
            want.extend(all.iter().filter(|c| c.outcome == Outcome::Mtls).take(limit));
            want.truncate(limit);
            assert_eq!(s.calls.iter().collect::<Vec<_>>(), want, "limit {limit}");
            assert_eq!(s.total, all.len());
            assert_eq!(s.failing, all.iter().filter(|c| c.outcome == Outcome::Fails).count());
            assert_eq!(s.plaintext, all.iter().filter(|c| c.outcome == Outcome::Plaintext).count());
        }
    }

    #[test]
    fn reach_sample_keeps_failing_calls_first_and_counts_all() {
        let yaml = format!(
            "{STRICT_MESH}{}",
            "---
apiVersion: v1
kind: Namespace
metadata: {name: foo, labels: {istio-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: foo}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: foo}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: foo}
spec:
  template:
    metadata: {labels: {app: client}}
    spec:
      containers: [{name: c}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: legacy, namespace: bar}
spec:
  template:
    metadata: {labels: {app: legacy}}
    spec:
      containers: [{name: c}]
"
        );
        let a = analysis_of(&yaml, None, None).unwrap();
        let all = a.reach(&ReachFilter::default()).calls;
        assert!(all.len() >= 2, "{all:?}");
        let full = sample_calls(&a, &ReachFilter::default(), 100);
        assert_eq!(full.calls.len(), all.len());
        assert!(!full.truncated);
        let one = sample_calls(&a, &ReachFilter::default(), 1);
        assert_eq!(one.total, all.len());
        assert!(one.truncated);
        assert_eq!(one.failing, all.iter().filter(|c| c.outcome == Outcome::Fails).count());
        assert!(one.failing >= 1);
        assert_eq!(one.calls.len(), 1);
        assert!(one.calls.iter().all(|c| c.outcome == Outcome::Fails), "failing first: {:?}", one.calls);
    }

    /// The bounded summary against the full one, filtered the way the page filters it.
    #[test]
    fn summary_page_is_the_full_summary_filtered_ranked_and_cut() {
        use meshlock_core::synth::{MeshShape, generate};
        let a = analysis_of(generate(&MeshShape { services: 120, per_namespace: 6, seed: 5 }), None, None).unwrap();
        let full = a.reach_summary(&ReachFilter::default(), 2);
        let rank = |p: &NamespacePair| std::cmp::Reverse((p.counts.failing, p.counts.plaintext, p.counts.total));

        // Within the limit: the full summary, pair for pair.
        for limit in [full.namespaces.len(), usize::MAX] {
            let page = summary_page(&a, 2, &PairFilter::default(), limit);
            assert_eq!(page.namespaces, full.namespaces);
            assert_eq!(
                (page.pairs, page.matching, page.truncated),
                (full.namespaces.len(), full.namespaces.len(), false)
            );
            assert_eq!(page.counts, full.counts);
            assert_eq!(page.causes, full.failures.len());
            assert!(page.causes > FAILURE_CAUSES, "{}", page.causes);
            assert_eq!(page.failures, full.failures[..FAILURE_CAUSES]);
            assert_eq!(page.names.len(), 20);
            assert!(page.names.windows(2).all(|w| w[0] < w[1]));
        }

        // Above it: the most failing, listed in pair order.
        let mut ranked = full.namespaces.clone();
        ranked.sort_by_key(rank);
        let cut = |list: &[NamespacePair], n: usize| {
            let mut top: Vec<NamespacePair> = list.iter().take(n).cloned().collect();
            top.sort_by(|x, y| (&x.from, &x.to).cmp(&(&y.from, &y.to)));
            top
        };
        let page = summary_page(&a, 2, &PairFilter::default(), 10);
        assert_eq!(page.namespaces, cut(&ranked, 10));
        assert!(page.truncated && page.matching == full.namespaces.len());
        assert!(page.namespaces.iter().all(|p| p.counts.failing > 0), "failing first");

        // Filtered: what the page's matrix keeps, then cut.
        for (text, state) in [(" NS1 ", "all"), ("ns1", "fail"), ("", "plaintext"), ("", "mtls"), ("zz", "all")] {
            let filter = PairFilter::new(text, Some(state)).unwrap();
            let needle = text.trim().to_lowercase();
            let kept: Vec<NamespacePair> = ranked
                .iter()
                .filter(|p| {
                    let st = PairState::of(&p.counts);
                    let st = match st {
                        PairState::Fail => "fail",
                        PairState::Plaintext => "plaintext",
                        PairState::Mtls => "mtls",
                    };
                    (state == "all" || st == state) && (p.from.contains(&needle) || p.to.contains(&needle))
                })
                .cloned()
                .collect();
            for limit in [3, usize::MAX] {
                let page = summary_page(&a, 2, &filter, limit);
                assert_eq!(page.namespaces, cut(&kept, limit), "{text:?} {state}, limit {limit}");
                assert_eq!(page.matching, kept.len(), "{text:?} {state}");
                assert_eq!(page.pairs, full.namespaces.len());
                assert_eq!(page.truncated, kept.len() > limit);
            }
        }
        assert!(PairFilter::new("", Some("broken")).unwrap_err().contains("`broken`"));
    }

    #[test]
    fn syntax_error_is_a_diagnostic_not_a_failure() {
        let a = analysis_of("kind: [unclosed\n", Some("x.yaml"), None).unwrap();
        let report = a.analyze();
        let d = report.diagnostics.iter().find(|d| d.code.as_str() == "ML0001").unwrap();
        assert_eq!(d.file, "x.yaml");
        // libyaml reports an unclosed flow sequence where the stream ends: line 1 or 2.
        assert!((1..=2).contains(&d.line), "{d:?}");
    }
}
