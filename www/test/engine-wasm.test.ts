// The real meshlock-web module (built by scripts/build-web.sh) answering for every example of
// the menu, in Node: the same wasm the page runs in its worker.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLES } from '../src/examples';
import { stepFile } from '../src/plan';
import { buildNamespaceGraph, buildNamespaceMatrix } from '../src/model';
import type {
  AnalyzeReport,
  Call,
  ConvertResult,
  DiffReport,
  Explanation,
  NamespacePair,
  NamespaceSummary,
  Plan,
  ReachReport,
  ReachSummary,
  TryResult,
} from '../src/types';
import * as glue from '../src/wasm/meshlock_web.js';

beforeAll(() => {
  glue.initSync({ module: fs.readFileSync(new URL('../src/wasm/meshlock_web_bg.wasm', import.meta.url)) });
});

function run(yaml: string, version: string): { report: AnalyzeReport; calls: Call[] } {
  const model = new glue.Model(yaml, version, undefined);
  try {
    return { report: model.analyze() as AnalyzeReport, calls: (model.reach([], []) as ReachReport).calls };
  } finally {
    model.free();
  }
}

function example(id: string) {
  const ex = EXAMPLES.find((e) => e.id === id);
  if (!ex) throw new Error(`no example ${id}`);
  return { ex, ...run(ex.yaml, ex.istio) };
}

const find = (calls: Call[], from: string, toWorkload: string) =>
  calls.filter((c) => c.from === from && c.toWorkload === toWorkload);

describe('every example', () => {
  for (const ex of EXAMPLES) {
    it(`${ex.id}: parses cleanly and has workloads and calls`, () => {
      const { report, calls } = run(ex.yaml, ex.istio);
      expect(report.istioVersion).toBe(ex.istio);
      const broken = report.diagnostics.filter((d) => ['ML0001', 'ML0003', 'ML0004', 'ML0005', 'ML0006'].includes(d.code));
      expect(broken).toEqual([]);
      expect(report.workloads.length).toBeGreaterThan(0);
      expect(calls.length).toBeGreaterThan(0);
      const lines = ex.yaml.split('\n').length;
      for (const d of report.diagnostics) {
        expect(d.file).toBe('playground.yaml');
        expect(d.line).toBeGreaterThanOrEqual(1);
        expect(d.line).toBeLessThanOrEqual(lines);
      }
    });
  }
});

describe('the seed scenarios say what the articles say', () => {
  it('STRICT mesh-wide: sidecar client gets mTLS, a caller without sidecar is reset', () => {
    const { calls, report } = example('strict-mesh');
    expect(find(calls, 'default/client', 'default/server').every((c) => c.ok && c.mtls)).toBe(true);
    const [legacy] = find(calls, 'legacy/curl', 'default/server');
    expect(legacy?.ok).toBe(false);
    expect(legacy?.symptom).toMatch(/reset/);
    const server = report.workloads.find((w) => w.name === 'server');
    expect(server?.ports[0]?.chain.find((e) => e.effect === 'applied')?.policy).toBe('PeerAuthentication istio-system/default');
  });

  it('PERMISSIVE migration: every call works, legacy in plaintext; STRICT would break it', () => {
    const { ex, calls } = example('permissive-migration');
    expect(calls.every((c) => c.ok)).toBe(true);
    expect(find(calls, 'legacy/sleep', 'foo/httpbin')[0]?.mtls).toBe(false);
    const before = new glue.Model(ex.yaml, ex.istio, undefined);
    const after = new glue.Model(ex.yaml.replace('mode: PERMISSIVE', 'mode: STRICT'), ex.istio, undefined);
    const d = glue.diff(before, after, [], []) as DiffReport;
    before.free();
    after.free();
    // The sidecar clients keep working (only the server mode changes): foo/sleep, and
    // foo/httpbin calling its own Service through its sidecar; legacy breaks.
    expect(d.changes.map((c) => [c.from, c.change])).toEqual([
      ['legacy/sleep', 'breaks'],
      ['foo/httpbin', 'changes'],
      ['foo/sleep', 'changes'],
    ]);
    expect(d.changes[0]?.after?.symptom).toMatch(/reset/);
  });

  it('MeshPolicy + *.local ISTIO_MUTUAL under 1.4: the DestinationRule makes the client send mTLS', () => {
    const { calls } = example('mesh-policy-1.4');
    const [c] = find(calls, 'default/client', 'default/server');
    expect(c?.clientTlsSource).toBe('DestinationRule istio-system/default');
    expect(c?.mtls).toBe(true);
  });

  it('port-level DestinationRule: 9080 in mTLS, 9090 in plaintext to a STRICT port fails', () => {
    const { calls, report } = example('service-port-1.4');
    const toPage = find(calls, 'bookinfo/reviews-v1', 'bookinfo/productpage-v1');
    expect(toPage.find((c) => c.to.endsWith(':9080'))?.mtls).toBe(true);
    expect(toPage.find((c) => c.to.endsWith(':9090'))?.ok).toBe(false);
    expect(report.diagnostics.some((d) => d.code === 'ML0303')).toBe(true);
  });

  it('DISABLE toward a service without sidecar works; the unfixed STRICT service refuses test3', () => {
    const { calls } = example('sidecarless-1.4');
    const toTest3 = find(calls, 'test1/sleep', 'test3/httpbin')[0];
    expect(toTest3?.ok).toBe(true);
    expect(toTest3?.clientTls).toBe('DISABLE');
    expect(find(calls, 'test3/sleep', 'test1/httpbin')[0]?.ok).toBe(true);
    expect(find(calls, 'test3/sleep', 'test2/httpbin')[0]?.ok).toBe(false);
  });

  it('Gateway PASSTHROUGH: certificates on a passthrough server are flagged at their line', () => {
    const { ex, report } = example('gateway-passthrough');
    const d = report.diagnostics.find((x) => x.code === 'ML0604');
    expect(d).toBeDefined();
    const line = ex.yaml.split('\n')[(d?.line ?? 1) - 1] ?? '';
    expect(line).toMatch(/port:|number: 8443|- port/);
  });
});

describe('destinations outside Kubernetes workloads (seed 002)', () => {
  it('the API server fails under *.local ISTIO_MUTUAL, the external API and the TLS app work', () => {
    const { calls, report } = example('api-server-and-external');
    const [api] = find(calls, 'ops/operator', 'default/kubernetes');
    expect(api?.ok).toBe(false);
    expect(report.diagnostics.some((d) => d.code === 'ML0314')).toBe(true);
    expect(report.workloads.find((w) => w.name === 'kubernetes')?.kind).toBe('ServiceEndpoints');
    const [external] = find(calls, 'ops/operator', 'shop/api.payments.example');
    expect(external?.ok).toBe(true);
    expect(external?.mtls).toBe(false);
    expect(external?.explanation).toMatch(/encrypted end to end/);
    const [tls] = find(calls, 'ops/operator', 'shop/checkout');
    expect(tls?.ok && tls?.mtls).toBe(true);
    expect(tls?.explanation).toMatch(/TLS in mTLS/);
    expect(calls.some((c) => c.from === 'default/kubernetes')).toBe(false);
  });
});

describe('the namespace level', () => {
  it('the summary counts every call by namespace pair, and a cell lists exactly its calls', () => {
    const ex = EXAMPLES.find((e) => e.id === 'sidecarless-1.4')!;
    const model = new glue.Model(ex.yaml, ex.istio, undefined);
    try {
      const all = (model.reach([], []) as ReachReport).calls;
      const summary = model.reachSummary(2) as ReachSummary;
      expect(summary.counts.total).toBe(all.length);
      expect(summary.namespaces.reduce((n, p) => n + p.counts.total, 0)).toBe(all.length);
      const pair = summary.namespaces.find((p) => p.counts.failing > 0)!;
      const inPair = all.filter((c) => c.from.startsWith(`${pair.from}/`) && c.toWorkload.startsWith(`${pair.to}/`));
      expect(pair.counts.total).toBe(inPair.length);
      const cell = model.reachSampleBetween(pair.from, pair.to, 1000) as { calls: Call[]; total: number };
      expect(cell.total).toBe(inPair.length);
      expect(cell.calls.length).toBe(inPair.length);
    } finally {
      model.free();
    }
  });
});

describe('the bounded namespace summary', () => {
  // 12 namespaces of 2 services, mesh-wide STRICT, the last 3 without sidecars: 144 pairs, the
  // ones from the sidecarless namespaces failing.
  const docs = ['apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec:\n  mtls: {mode: STRICT}'];
  for (let ns = 0; ns < 12; ns++) {
    docs.push(`apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns${ns}\n  labels: {istio-injection: ${ns < 9 ? 'enabled' : 'disabled'}}`);
    for (let i = 0; i < 2; i++) {
      docs.push(
        `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app${i}, namespace: ns${ns}}\nspec:\n  template:\n    metadata: {labels: {app: app${i}}}\n    spec:\n      containers:\n      - name: app\n        ports: [{containerPort: 8080}]`,
        `apiVersion: v1\nkind: Service\nmetadata: {name: app${i}, namespace: ns${ns}}\nspec:\n  selector: {app: app${i}}\n  ports: [{port: 80, targetPort: 8080}]`,
      );
    }
  }
  const yaml = docs.join('\n---\n');
  let model: glue.Model;
  let report: AnalyzeReport;
  /** Every pair, grouped from the full listing of calls: what the page received before. */
  let every: NamespacePair[];
  beforeAll(() => {
    model = new glue.Model(yaml, 'auto', undefined);
    report = model.analyze() as AnalyzeReport;
    const cells = new Map<string, NamespacePair>();
    for (const c of (model.reach([], []) as ReachReport).calls) {
      const [from = '', to = ''] = [c.from.split('/')[0], c.toWorkload.split('/')[0]];
      const p = cells.get(`${from} ${to}`) ?? { from, to, counts: { total: 0, failing: 0, plaintext: 0, mtls: 0 } };
      p.counts.total += 1;
      if (!c.ok) p.counts.failing += 1;
      else if (c.mtls) p.counts.mtls += 1;
      else p.counts.plaintext += 1;
      cells.set(`${from} ${to}`, p);
    }
    every = [...cells.values()].sort((x, y) => (x.from < y.from ? -1 : x.from > y.from ? 1 : x.to < y.to ? -1 : x.to > y.to ? 1 : 0));
  });
  afterAll(() => model.free());
  const summary = (text: string, state: string, limit: number) => model.reachSummary(3, text, state, limit) as NamespaceSummary;
  /** The CLI's ranking: most failing, then plaintext, then calls; ties in pair order. */
  const ranked = (pairs: NamespacePair[]) =>
    pairs
      .map((p, i) => ({ p, i }))
      .sort((x, y) => y.p.counts.failing - x.p.counts.failing || y.p.counts.plaintext - x.p.counts.plaintext || y.p.counts.total - x.p.counts.total || x.i - y.i)
      .map((x) => x.p);
  const inPairOrder = (pairs: NamespacePair[]) => every.filter((p) => pairs.includes(p));

  it('below the limit: every pair, so the matrix and the graph are what they were', () => {
    expect(every).toHaveLength(144);
    const s = summary('', 'all', 22_500);
    expect(s.namespaces).toEqual(every);
    expect([s.pairs, s.matching, s.truncated]).toEqual([144, 144, false]);
    expect(s.names).toEqual([...new Set(every.map((p) => p.from))].sort());
    const old = model.reachSummary(3) as ReachSummary;
    expect(s.namespaces).toEqual(old.namespaces);
    expect(s.counts).toEqual(old.counts);
    expect(s.failures).toEqual(old.failures);
    for (const filter of [{ text: '', state: 'all' as const }, { text: 'ns1', state: 'fail' as const }]) {
      expect(buildNamespaceMatrix(s.namespaces, filter)).toEqual(buildNamespaceMatrix(every, filter));
    }
    expect(buildNamespaceGraph(report, s.namespaces)).toEqual(buildNamespaceGraph(report, every));
  });

  it('above the limit: the most failing pairs in pair order, and how many there are', () => {
    const s = summary('', 'all', 20);
    expect([s.pairs, s.matching, s.truncated]).toEqual([144, 144, true]);
    const want = ranked(every).slice(0, 20);
    expect(s.namespaces).toEqual(inPairOrder(want));
    expect(s.namespaces.every((p) => p.counts.failing > 0 && ['ns10', 'ns11', 'ns9'].includes(p.from))).toBe(true);
    expect(s.names).toHaveLength(12);
    expect(s.counts.total).toBe(every.reduce((n, p) => n + p.counts.total, 0));
  });

  it('filtered: the pairs the matrix filter keeps, bounded the same way', () => {
    for (const [text, state] of [[' NS1', 'all'], ['ns3', 'fail'], ['', 'mtls'], ['', 'plaintext'], ['nowhere', 'all']] as const) {
      const kept = [...buildNamespaceMatrix(every, { text, state }).cells.values()];
      const all = summary(text, state, 22_500);
      expect(all.namespaces, `${text} ${state}`).toEqual(inPairOrder(kept));
      expect([all.pairs, all.matching, all.truncated]).toEqual([144, kept.length, false]);
      const cut = summary(text, state, 5);
      expect(cut.namespaces, `${text} ${state}`).toEqual(inPairOrder(ranked(inPairOrder(kept)).slice(0, 5)));
      expect([cut.matching, cut.truncated]).toEqual([kept.length, kept.length > 5]);
    }
    expect(() => model.reachSummary(3, '', 'sometimes', 10)).toThrow(/`sometimes`/);
  });
});

describe('the report the page holds', () => {
  it('analyzeSlim is analyze without the services and with the chains of the first workloads only', () => {
    const ex = EXAMPLES.find((e) => e.id === 'strict-namespace')!;
    const model = new glue.Model(ex.yaml, ex.istio, undefined);
    try {
      const full = model.analyze() as AnalyzeReport;
      expect(full.workloads.length).toBeGreaterThan(2);
      expect(full.services.length).toBeGreaterThan(0);
      for (const chains of [0, 2, 100]) {
        const want = structuredClone(full);
        want.services = [];
        want.workloads.forEach((w, i) => {
          if (i < chains) return;
          for (const p of w.ports) p.chain = [];
          w.chainsOmitted = true;
        });
        expect(model.analyzeSlim(chains), `chains ${chains}`).toEqual(want);
      }
    } finally {
      model.free();
    }
  });

  it('analyzeJson is analyze as pretty JSON text in UTF-8 (the CLI\'s output; the browser test compares the bytes)', () => {
    for (const ex of EXAMPLES) {
      const model = new glue.Model(ex.yaml, ex.istio, undefined);
      try {
        const bytes = model.analyzeJson();
        expect(bytes, ex.id).toBeInstanceOf(Uint8Array);
        const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
        expect(text.endsWith('}\n'), ex.id).toBe(true);
        expect(text.startsWith('{\n  "'), ex.id).toBe(true);
        expect(JSON.parse(text), ex.id).toEqual(model.analyze());
      } finally {
        model.free();
      }
    }
  });
});

describe('try a connection', () => {
  it("runs the filter's decision on the WasmPlugin's configuration, next to reach", () => {
    const ex = EXAMPLES.find((e) => e.id === 'strict-mesh')!;
    const model = new glue.Model(ex.yaml, ex.istio, undefined);
    try {
      const cfg = JSON.parse(model.pluginConfiguration('default/server', undefined));
      expect(cfg.direction).toBe('inbound');
      expect(cfg.compiled.workload).toBe('default/server');
      const port = (model.analyze() as AnalyzeReport).workloads.find((w) => w.name === 'server')!.ports[0]!.port;
      const mesh = model.tryConnection('default/server', port, 'workload', 'default/client') as TryResult;
      expect(mesh.decisions[0]?.filter.verdict).toBe('allow');
      expect(mesh.decisions[0]?.predicted?.ok).toBe(true);
      const legacy = model.tryConnection('default/server', port, 'workload', 'legacy/curl') as TryResult;
      expect(legacy.decisions[0]?.filter.reason).toBe('plaintext');
      expect(legacy.decisions[0]?.predicted?.ok).toBe(false);
      const foreign = model.tryConnection('default/server', port, 'spiffe', 'spiffe://evil.example/ns/a/sa/b') as TryResult;
      expect(foreign.decisions[0]?.filter.reason).toBe('untrusted_trust_domain');
      expect(() => model.tryConnection('default/server', port, 'spiffe', 'nope')).toThrow(/SPIFFE ID/);
    } finally {
      model.free();
    }
  });
});

describe('the other queries', () => {
  it('explain tells the story of a workload', () => {
    const ex = EXAMPLES.find((e) => e.id === 'strict-namespace')!;
    const model = new glue.Model(ex.yaml, ex.istio, undefined);
    const x = model.explain('default/reviews-v1', undefined) as Explanation;
    expect(x.workload.mode).toBe('STRICT');
    expect(x.story.join(' ')).toMatch(/foo-peer-policy/);
    expect(() => model.explain('nope/nothing', undefined)).toThrow(/no workload `nope\/nothing`/);
    model.free();
  });

  it('convert turns the v1alpha1 MeshPolicy into a PeerAuthentication', () => {
    const ex = EXAMPLES.find((e) => e.id === 'mesh-policy-1.4')!;
    const r = glue.convert(ex.yaml, undefined) as ConvertResult;
    expect(r.yaml).toMatch(/kind: PeerAuthentication/);
    expect(r.yaml).toMatch(/namespace: "?istio-system"?/);
  });

  it('reachSample bounds what reaches the page and counts everything', () => {
    const ex = EXAMPLES.find((e) => e.id === 'sidecarless-1.4')!;
    const model = new glue.Model(ex.yaml, ex.istio, undefined);
    const all = (model.reach([], []) as ReachReport).calls;
    const s = model.reachSample([], [], 3) as { calls: Call[]; total: number; failing: number; plaintext: number; truncated: boolean };
    model.free();
    expect(s.total).toBe(all.length);
    expect(s.failing).toBe(all.filter((c) => !c.ok).length);
    expect(s.plaintext).toBe(all.filter((c) => c.ok && !c.mtls).length);
    expect(s.truncated).toBe(true);
    expect(s.calls).toHaveLength(3);
    expect(s.calls.slice(0, 2).every((c) => !c.ok)).toBe(true);
    expect(s.calls[2]?.ok && !s.calls[2]?.mtls).toBe(true);
  });

  it('a bad version is refused with the core message', () => {
    expect(() => new glue.Model('a: 1', '2.0', undefined)).toThrow(/not an Istio version/);
  });
});

describe('texts cross into the engine whole', () => {
  // The text is copied into wasm memory in passes (one byte per UTF-16 unit first): characters
  // of two, three and four bytes, and a lone surrogate, before and after the resources.
  const noted = (yaml: string) => `# é 中文 😀 \uD800\n${yaml}\n# 末尾 ü 😀\n`;
  const keys = (report: AnalyzeReport) => report.workloads.map((w) => `${w.namespace}/${w.name} ${w.ports.map((p) => p.mode).join(',')}`);

  it('a non-ASCII text reads as the same mesh as its ASCII twin, lines counted the same', () => {
    const { ex, report, calls } = example('permissive-migration');
    const other = run(noted(ex.yaml), ex.istio);
    expect(keys(other.report)).toEqual(keys(report));
    expect(other.calls).toEqual(calls);
    expect(other.report.diagnostics.map((d) => [d.code, d.line - 1])).toEqual(report.diagnostics.map((d) => [d.code, d.line]));
  });

  it('loaded files and the editor text are read the same way', () => {
    const { ex, report } = example('permissive-migration');
    const model = glue.Model.withFiles(['cluster.yaml'], [noted(ex.yaml)], '# ✓\n', ex.istio);
    try {
      expect(keys(model.analyze() as AnalyzeReport)).toEqual(keys(report));
    } finally {
      model.free();
    }
  });

  it('a text that is not a string is refused', () => {
    expect(() => new glue.Model(42 as unknown as string, undefined, undefined)).toThrow(/expected a string/);
  });
});

describe('the plan to STRICT', () => {
  it('PERMISSIVE migration: STRICT where no caller lacks a sidecar, every step proven, files to download', () => {
    const { ex } = example('permissive-migration');
    const p = glue.plan(ex.yaml, ex.istio, undefined) as Plan;
    expect(p.steps.length).toBeGreaterThan(0);
    for (const s of p.steps) {
      expect(s.proof.breaks).toBe(0);
      expect(s.proof.decrypts).toBe(0);
      expect(stepFile(s)).toContain(s.yaml);
    }
    // legacy/sleep has no sidecar and calls foo/httpbin: that port stays below STRICT, and says why.
    const httpbin = p.blocked.find((b) => b.workload === 'foo/httpbin');
    expect(httpbin?.reasons[0]?.kind).toBe('clients-without-sidecar');
    expect(httpbin?.reasons[0]?.examples).toContain('legacy/sleep');
  });

  it('Istio 1.4 is refused with what comes first', () => {
    const { ex } = example('mesh-policy-1.4');
    expect(() => glue.plan(ex.yaml, ex.istio, undefined)).toThrow(/1\.5/);
  });
});
