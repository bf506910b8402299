// The analysis worker: owns the wasm engine so that parsing a large mesh never blocks the page.
// It only forwards to meshlock-web and reports back; no rule lives here.

import init, { Model, convert, diff, engineVersion, plan } from './wasm/meshlock_web.js';
import type { NamespaceCell, Request, Response } from './protocol';
import type { AnalyzeReport } from './types';

const ready = init();

/** The models of the last few inputs (the main text and the what-if copy), newest last. */
const cache: { key: string; model: Model }[] = [];
const CACHE_SIZE = 3;

/** Files opened in the page (a cluster dump): read with every text the page sends. */
let loaded: { generation: number; names: string[]; texts: string[] } = { generation: 0, names: [], texts: [] };

function modelFor(yaml: string, version: string): Model {
  const key = `${loaded.generation}\u0000${version}\u0000${yaml}`;
  const hit = cache.findIndex((c) => c.key === key);
  if (hit >= 0) {
    const [entry] = cache.splice(hit, 1);
    if (entry) {
      cache.push(entry);
      return entry.model;
    }
  }
  const model = loaded.names.length > 0 ? Model.withFiles(loaded.names, loaded.texts, yaml, version) : new Model(yaml, version, undefined);
  cache.push({ key, model });
  while (cache.length > CACHE_SIZE) {
    cache.shift()?.model.free();
  }
  return model;
}

/** Workloads whose precedence chains travel to the page with the report (as many as the page
 * draws cards unfiltered); the cards of the others ask for theirs (`workloads`). Copying a
 * 10,000-workload report with every chain into the page (8 MB of JSON) blocks its main thread
 * for a third of a second. The engine leaves the other chains and the services (the page draws
 * no service list: the services are in the calls) out of the report it writes
 * (`analyzeSlim`): receiving a message is one task of the page's main thread, as long as the
 * copy takes to rebuild, and the worker no longer parses what it would throw away. */
const FULL_WORKLOADS = 100;


function sampleOf(yaml: string, version: string, limit: number, between?: NamespaceCell): object {
  const model = modelFor(yaml, version);
  if (between) return model.reachSampleBetween(between.client, between.service, limit) as object;
  return model.reachSample([], [], limit) as object;
}

function handle(req: Request): unknown {
  switch (req.op) {
    case 'analyze': {
      const started = performance.now();
      const model = modelFor(req.yaml, req.version);
      const report = model.analyzeSlim(FULL_WORKLOADS) as AnalyzeReport;
      return {
        engineVersion: engineVersion(),
        istioVersion: model.istioVersion(),
        report,
        millis: performance.now() - started,
      };
    }
    case 'report':
      return modelFor(req.yaml, req.version).analyzeJson();
    case 'reach': {
      const started = performance.now();
      const sample = sampleOf(req.yaml, req.version, req.limit, req.between);
      return { ...sample, millis: performance.now() - started };
    }
    case 'try':
      return modelFor(req.yaml, req.version).tryConnection(req.workload, req.port, req.peerKind, req.peer ?? undefined);
    case 'workloads':
      return modelFor(req.yaml, req.version).workloadReports(req.keys);
    case 'load': {
      const started = performance.now();
      loaded = { generation: loaded.generation + 1, names: req.files.map((f) => f.name), texts: req.files.map((f) => f.text) };
      while (cache.length > 0) cache.shift()?.model.free();
      if (loaded.names.length === 0) return { inventory: null, millis: 0 };
      const model = Model.withFiles(loaded.names, loaded.texts, '', 'auto');
      try {
        return { inventory: model.inventory(), millis: performance.now() - started };
      } finally {
        model.free();
      }
    }
    case 'summary': {
      const started = performance.now();
      const summary = modelFor(req.yaml, req.version).reachSummary(req.examples, req.text, req.state, req.limit) as object;
      return { ...summary, millis: performance.now() - started };
    }
    case 'explain':
      return modelFor(req.yaml, req.version).explain(req.workload, req.port ?? undefined);
    case 'diff': {
      const before = modelFor(req.before, req.version);
      const after = modelFor(req.after, req.version);
      return diff(before, after, [], []);
    }
    case 'convert':
      return convert(req.yaml, undefined);
    case 'plan':
      return plan(req.yaml, req.version, undefined);
  }
}

self.onmessage = async (event: MessageEvent<Request>) => {
  const req = event.data;
  let res: Response;
  try {
    await ready;
    res = { id: req.id, ok: true, value: handle(req) };
  } catch (e) {
    res = { id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) };
  }
  // Bytes (the report download) are handed over, not copied.
  const bytes = res.ok && res.value instanceof Uint8Array ? [res.value.buffer] : [];
  (self as unknown as Worker).postMessage(res, bytes);
};
