// The analysis worker: owns the wasm engine so that parsing a large mesh never blocks the page.
// It only forwards to meshlock-web and reports back; no rule lives here.

import init, { Model, convert, diff, engineVersion, plan } from './wasm/meshlock_web.js';
import type { Request, Response } from './protocol';

const ready = init();

/** The models of the last few inputs (the main text and the what-if copy), newest last. */
const cache: { key: string; model: Model }[] = [];
const CACHE_SIZE = 3;

function modelFor(yaml: string, version: string): Model {
  const key = `${version}\u0000${yaml}`;
  const hit = cache.findIndex((c) => c.key === key);
  if (hit >= 0) {
    const [entry] = cache.splice(hit, 1);
    if (entry) {
      cache.push(entry);
      return entry.model;
    }
  }
  const model = new Model(yaml, version, undefined);
  cache.push({ key, model });
  while (cache.length > CACHE_SIZE) {
    cache.shift()?.model.free();
  }
  return model;
}

function sampleOf(yaml: string, version: string, limit: number): object {
  return modelFor(yaml, version).reachSample([], [], limit) as object;
}

function handle(req: Request): unknown {
  switch (req.op) {
    case 'analyze': {
      const started = performance.now();
      const model = modelFor(req.yaml, req.version);
      const report = model.analyze();
      return {
        engineVersion: engineVersion(),
        istioVersion: model.istioVersion(),
        report,
        millis: performance.now() - started,
      };
    }
    case 'reach': {
      const started = performance.now();
      const sample = sampleOf(req.yaml, req.version, req.limit);
      return { ...sample, millis: performance.now() - started };
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
  (self as unknown as Worker).postMessage(res);
};
