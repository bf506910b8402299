import { describe, expect, it } from 'vitest';
import {
  buildGraph,
  buildMatrix,
  buildNamespaceGraph,
  buildNamespaceMatrix,
  cellKey,
  edgeGeometry,
  lineRange,
  nodeMode,
  sameFilter,
  shortHost,
  stateOf,
  stateOfCounts,
} from '../src/model';
import type { AnalyzeReport, Call } from '../src/types';

function call(from: string, toWorkload: string, to: string, ok: boolean, mtls: boolean): Call {
  return {
    from,
    fromSidecar: true,
    to,
    toWorkload,
    subset: null,
    clientTls: mtls ? 'ISTIO_MUTUAL' : 'NONE',
    clientTlsSource: mtls ? 'auto mTLS' : 'no sidecar',
    serverMode: 'STRICT',
    ok,
    mtls,
    symptom: ok ? null : 'connection reset by peer',
    targetPort: 80,
    explanation: 'because',
  };
}

const report: AnalyzeReport = {
  istioVersion: '1.28',
  workloads: ['foo/httpbin', 'foo/sleep', 'legacy/sleep'].map((k) => {
    const [namespace = '', name = ''] = k.split('/');
    return {
      namespace,
      name,
      kind: 'Deployment',
      serviceAccount: name,
      identity: `spiffe://cluster.local/ns/${namespace}/sa/${name}`,
      sidecar: namespace !== 'legacy',
      sidecarReason: 'r',
      mode: namespace === 'legacy' ? 'NONE' : 'STRICT',
      ports: [],
      acceptedTrustDomains: [],
    };
  }),
  services: [],
  diagnostics: [],
};

const H8000 = 'httpbin.foo.svc.cluster.local:8000';
const H9000 = 'httpbin.foo.svc.cluster.local:9000';
const calls: Call[] = [
  call('foo/sleep', 'foo/httpbin', H8000, true, true),
  call('foo/sleep', 'foo/httpbin', H9000, true, false),
  call('legacy/sleep', 'foo/httpbin', H8000, false, false),
  call('legacy/sleep', 'nowhere/ghost', 'ghost:1', true, true),
];

describe('call grouping', () => {
  it('a group fails if one call fails, is mTLS only if all are', () => {
    expect(stateOf([calls[0]!])).toBe('mtls');
    expect(stateOf([calls[0]!, calls[1]!])).toBe('plaintext');
    expect(stateOf([calls[0]!, calls[2]!])).toBe('fail');
  });
});

describe('graph', () => {
  it('one node per workload, one edge per client→endpoint pair, unknown endpoints dropped', () => {
    const g = buildGraph(report, calls);
    expect(g.nodes.map((n) => n.id)).toEqual(['foo/httpbin', 'foo/sleep', 'legacy/sleep']);
    expect(g.edges.map((e) => [e.id, e.state, e.calls.length])).toEqual([
      ['foo/sleep\u2192foo/httpbin', 'plaintext', 2],
      ['legacy/sleep\u2192foo/httpbin', 'fail', 1],
    ]);
    const spots = new Set(g.nodes.map((n) => `${n.x},${n.y}`));
    expect(spots.size).toBe(3);
    for (const n of g.nodes) {
      expect(n.x).toBeGreaterThan(g.nodeRadius);
      expect(n.x).toBeLessThan(g.width - g.nodeRadius);
      expect(n.y).toBeGreaterThan(g.nodeRadius);
      expect(n.y).toBeLessThan(g.height - g.nodeRadius);
    }
    expect(buildGraph(report, calls)).toEqual(g);
  });

  it('filters edges by state', () => {
    expect(buildGraph(report, calls, (s) => s === 'fail').edges.map((e) => e.from)).toEqual(['legacy/sleep']);
  });

  it('edges stop at the node rims and bend; self-calls loop', () => {
    const { d, mid } = edgeGeometry({ x: 0, y: 0 }, { x: 100, y: 0 }, 10);
    const nums = d.match(/-?\d+(\.\d+)?/g)!.map(Number);
    expect(nums[0]).toBeGreaterThanOrEqual(10);
    expect(nums[4]).toBeLessThanOrEqual(90);
    expect(mid.y).not.toBe(0);
    const back = edgeGeometry({ x: 100, y: 0 }, { x: 0, y: 0 }, 10);
    expect(Math.sign(back.mid.y)).toBe(-Math.sign(mid.y));
    expect(edgeGeometry({ x: 50, y: 50 }, { x: 50, y: 50 }, 10).mid.y).toBeLessThan(40);
  });
});

describe('node mode', () => {
  const port = (p: number, mode: string) => ({ port: p, mode, chain: [] });
  it('follows the ports when they agree, says MIXED when they differ', () => {
    expect(nodeMode({ sidecar: true, mode: 'DISABLE', ports: [port(9080, 'STRICT'), port(9090, 'STRICT')] })).toBe('STRICT');
    expect(nodeMode({ sidecar: true, mode: 'STRICT', ports: [port(80, 'PERMISSIVE'), port(81, 'STRICT')] })).toBe('MIXED');
    expect(nodeMode({ sidecar: true, mode: 'STRICT', ports: [] })).toBe('STRICT');
    expect(nodeMode({ sidecar: false, mode: 'NONE', ports: [port(80, 'NONE')] })).toBe('NONE');
  });
});

describe('matrix', () => {
  it('clients × destinations with per-cell state', () => {
    const m = buildMatrix(report, calls, { text: '', state: 'all' });
    expect(m.clients).toEqual(['foo/sleep', 'legacy/sleep']);
    expect(m.destinations).toEqual(['ghost:1', H8000, H9000]);
    expect(m.cells.get(`legacy/sleep\u0000${H8000}`)?.state).toBe('fail');
  });

  it('filters by outcome and by text', () => {
    const fails = buildMatrix(report, calls, { text: '', state: 'fail' });
    expect(fails.clients).toEqual(['legacy/sleep']);
    expect(fails.destinations).toEqual([H8000]);
    const byText = buildMatrix(report, calls, { text: ':9000', state: 'all' });
    expect(byText.clients).toEqual(['foo/sleep']);
    expect(byText.destinations).toEqual([H9000]);
    expect(buildMatrix(report, calls, { text: 'nothing-like-this', state: 'all' }).clients).toEqual([]);
  });

  it('shortens cluster-local hosts only', () => {
    expect(shortHost(H8000)).toBe('httpbin.foo:8000');
    expect(shortHost('api.example.com:443')).toBe('api.example.com:443');
  });
});

describe('lineRange', () => {
  const text = 'a: 1\n  b: [x\n\nlast';
  it('maps 1-based line/column to offsets up to the end of the line', () => {
    expect(lineRange(text, 1, 1)).toEqual({ from: 0, to: 4 });
    expect(lineRange(text, 2, 6)).toEqual({ from: 10, to: 12 });
    expect(lineRange(text, 3, 1)).toEqual({ from: 13, to: 13 });
    expect(lineRange(text, 4, 1)).toEqual({ from: 14, to: 18 });
  });
  it('clamps past the end', () => {
    expect(lineRange(text, 2, 99)).toEqual({ from: 5, to: 12 });
    expect(lineRange(text, 40, 1)).toEqual({ from: 18, to: 18 });
  });
});

describe('the namespace matrix', () => {
  const counts = (failing: number, plaintext: number, mtls: number) => ({ total: failing + plaintext + mtls, failing, plaintext, mtls });
  const pairs = [
    { from: 'shop', to: 'pay', counts: counts(0, 0, 12) },
    { from: 'legacy', to: 'pay', counts: counts(3, 0, 0) },
    { from: 'legacy', to: 'shop', counts: counts(0, 4, 0) },
  ];

  it('a cell is failing, plaintext or mTLS by its counts', () => {
    expect(pairs.map((p) => stateOfCounts(p.counts))).toEqual(['mtls', 'fail', 'plaintext']);
  });

  it('sorts the namespaces and filters by text and outcome', () => {
    const all = buildNamespaceMatrix(pairs, { text: '', state: 'all' });
    expect(all.clients).toEqual(['legacy', 'shop']);
    expect(all.services).toEqual(['pay', 'shop']);
    expect(all.cells.get(cellKey('legacy', 'pay'))?.counts.failing).toBe(3);
    const failing = buildNamespaceMatrix(pairs, { text: '', state: 'fail' });
    expect([...failing.cells.keys()]).toEqual([cellKey('legacy', 'pay')]);
    const text = buildNamespaceMatrix(pairs, { text: 'SHOP', state: 'all' });
    expect(text.cells.size).toBe(2);
  });

  it('two filters are the same when they keep the same cells', () => {
    expect(sameFilter({ text: ' Shop ', state: 'fail' }, { text: 'shop', state: 'fail' })).toBe(true);
    expect(sameFilter({ text: 'shop', state: 'fail' }, { text: 'shop', state: 'all' })).toBe(false);
    expect(sameFilter({ text: 'shop', state: 'all' }, { text: 'sho', state: 'all' })).toBe(false);
  });
});

describe('the namespace graph', () => {
  const counts = (failing: number, plaintext: number, mtls: number) => ({ total: failing + plaintext + mtls, failing, plaintext, mtls });
  it('one box per namespace with its mode, one edge per pair of different namespaces', () => {
    const pairs = [
      { from: 'foo', to: 'foo', counts: counts(0, 0, 4) },
      { from: 'legacy', to: 'foo', counts: counts(2, 0, 0) },
      { from: 'foo', to: 'legacy', counts: counts(0, 3, 0) },
    ];
    const g = buildNamespaceGraph(report, pairs);
    expect(g.nodes.map((n) => [n.id, n.mode, n.workloads])).toEqual([
      ['foo', 'STRICT', 2],
      ['legacy', 'NONE', 1],
    ]);
    expect(g.nodes.find((n) => n.id === 'foo')?.internal?.mtls).toBe(4);
    expect(g.edges.map((e) => [e.from, e.to, e.state])).toEqual([
      ['legacy', 'foo', 'fail'],
      ['foo', 'legacy', 'plaintext'],
    ]);
    expect(buildNamespaceGraph(report, pairs, (s) => s === 'fail').edges).toHaveLength(1);
  });
});
