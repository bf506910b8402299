// The engine at scale through the playground's wasm build (www/src/wasm, built by
// scripts/build-web.sh) in Node: the same steps and output as `core/examples/scale.rs run`.
// *analyze* is the report as `meshlock analyze --format json` writes it (`analyzeJson`, the
// page's report download: UTF-8 bytes handed to JavaScript), the work scale.rs times natively; *analyze_objects* is the same
// report handed to JavaScript as objects (`analyze`: written in wasm, then `JSON.parse`d by V8).
// With SUMMARY_LIMIT, also what the page's worker asks at that size, each with the time of the
// worker's copy into the page (`structuredClone`) and the bytes of its JSON:
// * the report as the page holds it (`analyzeSlim(100)`; a module without it: `analyze()`, then
//   services and the chains past the first 100 workloads dropped in JavaScript, as the worker
//   did);
// * the namespace summary (`reachSummary` with no filter, that limit of pairs and EXAMPLES calls
//   per failure cause, 0 unless given; a module from before the limit ignores it and hands
//   every pair over).
// Usage: node engine-wasm.mjs WASM_DIR MESH.yaml RUNS [FORM] [SUMMARY_LIMIT [EXAMPLES]]
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [dir, file, runsArg, form = 'docs', summaryLimit, examples = '0'] = process.argv.slice(2);
const runs = Math.max(1, Number(runsArg ?? 3));
const glue = await import(pathToFileURL(path.join(path.resolve(dir), 'meshlock_web.js')).href);
const exports = glue.initSync({ module: fs.readFileSync(path.join(path.resolve(dir), 'meshlock_web_bg.wasm')) });
const text = fs.readFileSync(file, 'utf8');
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const load = [], analyze = [], analyzeObjects = [], reach = [], summary = [];
const summaryClone = [], pageAnalyze = [], pageClone = [];
let pageBytes;
/** The worker's report for the page, from a module without `analyzeSlim`. */
function slimmed(report) {
  report.services = [];
  report.workloads.forEach((w, i) => {
    if (i < 100) return;
    for (const p of w.ports) p.chain = [];
    w.chainsOmitted = true;
  });
  return report;
}
let summaryBytes, summaryPairs, summaryError;
let facts = {};
for (let i = 0; i < runs; i++) {
  let t = performance.now();
  const model = new glue.Model(text, undefined, file);
  load.push(performance.now() - t);
  t = performance.now();
  if (model.analyzeJson) {
    model.analyzeJson();
    analyze.push(performance.now() - t);
    t = performance.now();
  }
  const report = model.analyze();
  analyzeObjects.push(performance.now() - t);
  // A module from before `analyzeJson`: only the objects can be timed.
  if (!model.analyzeJson) analyze.push(analyzeObjects.at(-1));
  t = performance.now();
  const counts = model.reachCounts([], []);
  reach.push(performance.now() - t);
  if (summaryLimit !== undefined) {
    t = performance.now();
    const page = model.analyzeSlim ? model.analyzeSlim(100) : slimmed(model.analyze());
    pageAnalyze.push(performance.now() - t);
    t = performance.now();
    structuredClone(page);
    pageClone.push(performance.now() - t);
    pageBytes = JSON.stringify(page).length;
    t = performance.now();
    try {
      const s = model.reachSummary(Number(examples), '', 'all', Number(summaryLimit));
      summary.push(performance.now() - t);
      t = performance.now();
      structuredClone(s); // the worker's postMessage to the page
      summaryClone.push(performance.now() - t);
      summaryBytes = JSON.stringify(s).length;
      summaryPairs = s.namespaces.length;
    } catch (e) {
      summaryError = `${e instanceof Error ? e.message : e} after ${Math.round(performance.now() - t)} ms`;
    }
  }
  facts = { workloads: report.workloads.length, services: report.services.length, calls: Number(counts.total) };
  model.free();
}
console.log(JSON.stringify({
  target: 'wasm (Node ' + process.versions.node + ', V8 ' + process.versions.v8 + ')',
  form,
  yaml_bytes: Buffer.byteLength(text),
  ...facts,
  runs,
  load_ms: median(load),
  analyze_ms: median(analyze),
  analyze_objects_ms: median(analyzeObjects),
  reach_ms: median(reach),
  ...(summaryLimit === undefined
    ? {}
    : { page_analyze_ms: median(pageAnalyze), page_analyze_clone_ms: median(pageClone), page_analyze_bytes: pageBytes }),
  ...(summaryLimit === undefined
    ? {}
    : summaryError !== undefined
      ? { summary_error: summaryError }
      : { summary_limit: Number(summaryLimit), summary_examples: Number(examples), summary_ms: median(summary), summary_clone_ms: median(summaryClone), summary_pairs: summaryPairs, summary_bytes: summaryBytes }),
  // Linear memory never shrinks: its size at the end is the module's peak.
  wasm_memory_kib: Math.round(exports.memory.buffer.byteLength / 1024),
  peak_rss_kib: process.resourceUsage().maxRSS,
}));
