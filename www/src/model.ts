// Pure view models: how the core's reports are grouped for the graph and the matrix.
// Grouping and layout only; every outcome (ok, mtls, symptom, mode) comes from the core.

import type { AnalyzeReport, Call, NamespacePair, ReachCounts, WorkloadReport } from './types';

/** How a group of calls is drawn: all encrypted, some in plaintext, or some failing. */
export type CallState = 'mtls' | 'plaintext' | 'fail';

export function stateOf(calls: readonly Call[]): CallState {
  if (calls.some((c) => !c.ok)) return 'fail';
  if (calls.every((c) => c.mtls)) return 'mtls';
  return 'plaintext';
}

export function workloadKey(w: Pick<WorkloadReport, 'namespace' | 'name'>): string {
  return `${w.namespace}/${w.name}`;
}

export interface GraphNode {
  id: string;
  namespace: string;
  name: string;
  sidecar: boolean;
  /** What a caller meets: the ports' mode when they agree, `MIXED` when they differ. */
  mode: string;
  /** `port 80: STRICT` per port, as the core reports them. */
  portModes: string[];
  x: number;
  y: number;
}

/**
 * The mode a graph node is drawn with. Callers reach a workload through its ports, and the
 * core reports a mode per port (a port-level or a v1alpha1 service-targeted policy can differ
 * from the workload-level `mode`), so the ports decide when there are any.
 */
export function nodeMode(w: Pick<WorkloadReport, 'mode' | 'ports' | 'sidecar'>): string {
  if (!w.sidecar || w.ports.length === 0) return w.mode;
  const modes = new Set(w.ports.map((p) => p.mode));
  return modes.size === 1 ? (w.ports[0]?.mode ?? w.mode) : 'MIXED';
}

export interface GraphEdge {
  id: string;
  from: string;
  to: string;
  state: CallState;
  calls: Call[];
}

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  width: number;
  height: number;
  nodeRadius: number;
}

export const NODE_RADIUS = 22;

/**
 * Workloads on a circle, grouped by namespace; one edge per client → endpoint workload pair,
 * carrying every call between them (service ports, subsets).
 */
export function buildGraph(report: AnalyzeReport, calls: readonly Call[], keep: (s: CallState) => boolean = () => true): Graph {
  const workloads = [...report.workloads].sort(
    (a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name),
  );
  const n = workloads.length;
  const margin = 90;
  const radius = n <= 1 ? 0 : Math.max(150, (n * (NODE_RADIUS * 2 + 80)) / (2 * Math.PI));
  const size = 2 * (radius + margin);
  const nodes: GraphNode[] = workloads.map((w, i) => {
    // Start at the top, go clockwise; two nodes sit left and right.
    const angle = n === 2 ? Math.PI * i + Math.PI : -Math.PI / 2 + (2 * Math.PI * i) / Math.max(n, 1);
    return {
      id: workloadKey(w),
      namespace: w.namespace,
      name: w.name,
      sidecar: w.sidecar,
      mode: nodeMode(w),
      portModes: w.ports.map((p) => `port ${p.port}: ${p.mode}`),
      x: Math.round(size / 2 + radius * Math.cos(angle)),
      y: Math.round(size / 2 + radius * Math.sin(angle)),
    };
  });
  const known = new Set(nodes.map((nd) => nd.id));
  const groups = new Map<string, Call[]>();
  for (const c of calls) {
    if (!known.has(c.from) || !known.has(c.toWorkload)) continue;
    // A self-call (a workload through its own sidecar to its own Service) has no edge to draw;
    // the matrix shows it.
    if (c.from === c.toWorkload) continue;
    const id = `${c.from}\u2192${c.toWorkload}`;
    const list = groups.get(id);
    if (list) list.push(c);
    else groups.set(id, [c]);
  }
  const edges: GraphEdge[] = [];
  for (const [id, list] of groups) {
    const first = list[0];
    if (!first) continue;
    const state = stateOf(list);
    if (!keep(state)) continue;
    edges.push({ id, from: first.from, to: first.toWorkload, state, calls: list });
  }
  return { nodes, edges, width: size, height: size, nodeRadius: NODE_RADIUS };
}

export interface Point {
  x: number;
  y: number;
}

/**
 * The curve of an edge: a quadratic Bézier bent to the right of its direction, so that a→b and
 * b→a stay apart, trimmed to the node circles. `mid` is where the lock goes.
 */
export function edgeGeometry(a: Point, b: Point, r: number): { d: string; mid: Point } {
  if (a.x === b.x && a.y === b.y) {
    // A workload calling its own service: a loop above the node.
    const top = { x: a.x, y: a.y - r };
    return {
      d: `M${top.x - 8} ${top.y + 2} C${a.x - 40} ${a.y - r - 55} ${a.x + 40} ${a.y - r - 55} ${top.x + 8} ${top.y + 2}`,
      mid: { x: a.x, y: a.y - r - 40 },
    };
  }
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const len = Math.hypot(dx, dy);
  const ux = dx / len;
  const uy = dy / len;
  const bend = Math.min(40, len * 0.12);
  const c = { x: (a.x + b.x) / 2 - uy * bend, y: (a.y + b.y) / 2 + ux * bend };
  const trim = (p: Point, toward: Point, by: number): Point => {
    const l = Math.hypot(toward.x - p.x, toward.y - p.y) || 1;
    return { x: p.x + ((toward.x - p.x) / l) * by, y: p.y + ((toward.y - p.y) / l) * by };
  };
  const s = trim(a, c, r + 2);
  const e = trim(b, c, r + 6);
  const mid = { x: 0.25 * s.x + 0.5 * c.x + 0.25 * e.x, y: 0.25 * s.y + 0.5 * c.y + 0.25 * e.y };
  const f = (v: number) => Math.round(v * 10) / 10;
  return { d: `M${f(s.x)} ${f(s.y)} Q${f(c.x)} ${f(c.y)} ${f(e.x)} ${f(e.y)}`, mid: { x: f(mid.x), y: f(mid.y) } };
}

export interface MatrixCell {
  client: string;
  destination: string;
  state: CallState;
  calls: Call[];
}

export interface Matrix {
  clients: string[];
  destinations: string[];
  cells: Map<string, MatrixCell>;
}

export function cellKey(client: string, destination: string): string {
  return `${client}\u0000${destination}`;
}

/** `httpbin.foo.svc.cluster.local:8000` → `httpbin.foo:8000` for column headers. */
export function shortHost(to: string): string {
  return to.replace(/\.svc\.cluster\.local(?=:|$)/, '');
}

export interface MatrixFilter {
  text: string;
  state: 'all' | CallState;
}

/**
 * Clients × destinations (service host:port). Rows and columns that have no cell passing the
 * filter are dropped; `text` matches a client or a destination, case-insensitively.
 */
export function buildMatrix(report: AnalyzeReport, calls: readonly Call[], filter: MatrixFilter): Matrix {
  const needle = filter.text.trim().toLowerCase();
  const cells = new Map<string, MatrixCell>();
  const group = new Map<string, Call[]>();
  for (const c of calls) {
    const k = cellKey(c.from, c.to);
    const list = group.get(k);
    if (list) list.push(c);
    else group.set(k, [c]);
  }
  const clientsSeen = new Set<string>();
  const destSeen = new Set<string>();
  for (const [k, list] of group) {
    const first = list[0];
    if (!first) continue;
    const state = stateOf(list);
    if (filter.state !== 'all' && state !== filter.state) continue;
    if (
      needle &&
      !first.from.toLowerCase().includes(needle) &&
      !first.to.toLowerCase().includes(needle) &&
      !list.some((c) => c.toWorkload.toLowerCase().includes(needle))
    )
      continue;
    cells.set(k, { client: first.from, destination: first.to, state, calls: list });
    clientsSeen.add(first.from);
    destSeen.add(first.to);
  }
  const order = report.workloads.map(workloadKey);
  const clients = order.filter((w) => clientsSeen.has(w));
  for (const c of clientsSeen) if (!clients.includes(c)) clients.push(c);
  const destinations = [...destSeen].sort((a, b) => shortHost(a).localeCompare(shortHost(b)));
  return { clients, destinations, cells };
}

/** Whether two matrix filters keep the same cells (the text is trimmed and compared in any case). */
export function sameFilter(a: MatrixFilter, b: MatrixFilter): boolean {
  return a.state === b.state && a.text.trim().toLowerCase() === b.text.trim().toLowerCase();
}

/**
 * The namespace level when the engine handed over only part of the pairs (a mesh of N
 * namespaces may have N² of them): the most failing of those `filter` keeps, and the counts.
 */
export interface PartialPairs {
  /** Pairs with at least one call. */
  pairs: number;
  /** Pairs the filter keeps; the page holds the most failing of them. */
  matching: number;
  /** Every namespace, sorted. */
  names: readonly string[];
  /** The matrix filter the engine applied. */
  filter: MatrixFilter;
}

/** The state of a group of calls known only by its counts (a namespace × namespace cell). */
export function stateOfCounts(c: ReachCounts): CallState {
  if (c.failing > 0) return 'fail';
  if (c.plaintext > 0) return 'plaintext';
  return 'mtls';
}

export interface NamespaceMatrix {
  /** Client namespaces, then service namespaces, each sorted. */
  clients: string[];
  services: string[];
  cells: Map<string, NamespacePair>;
}

/**
 * The namespace × namespace matrix of the summary's counts, with the matrix filter applied: the
 * text matches either namespace, the outcome matches the cell's state.
 */
export function buildNamespaceMatrix(pairs: readonly NamespacePair[], filter: MatrixFilter): NamespaceMatrix {
  const needle = filter.text.trim().toLowerCase();
  const cells = new Map<string, NamespacePair>();
  const clients = new Set<string>();
  const services = new Set<string>();
  for (const p of pairs) {
    if (filter.state !== 'all' && stateOfCounts(p.counts) !== filter.state) continue;
    if (needle && !p.from.toLowerCase().includes(needle) && !p.to.toLowerCase().includes(needle)) continue;
    cells.set(cellKey(p.from, p.to), p);
    clients.add(p.from);
    services.add(p.to);
  }
  const sorted = (s: Set<string>) => [...s].sort((a, b) => a.localeCompare(b));
  return { clients: sorted(clients), services: sorted(services), cells };
}

export interface NamespaceNode {
  id: string;
  /** Its sidecar workloads' server mode when they agree, `MIXED` when not, `NONE` without sidecars. */
  mode: string;
  workloads: number;
  /** The calls between its own workloads, when there are any. */
  internal: ReachCounts | null;
  x: number;
  y: number;
}

export interface NamespaceEdge {
  id: string;
  from: string;
  to: string;
  state: CallState;
  counts: ReachCounts;
}

export interface NamespaceGraph {
  nodes: NamespaceNode[];
  edges: NamespaceEdge[];
  width: number;
  height: number;
  box: { width: number; height: number };
}

export const NAMESPACE_BOX = { width: 120, height: 54 };

/**
 * Namespaces as boxes on a circle (Kiali draws namespaces as boxes), one edge per pair of
 * different namespaces with calls between them, from the summary's counts; calls inside a
 * namespace are counted on its box.
 */
export function buildNamespaceGraph(
  report: AnalyzeReport,
  pairs: readonly NamespacePair[],
  keep: (s: CallState) => boolean = () => true,
): NamespaceGraph {
  const modes = new Map<string, Set<string>>();
  const count = new Map<string, number>();
  for (const w of report.workloads) {
    count.set(w.namespace, (count.get(w.namespace) ?? 0) + 1);
    const set = modes.get(w.namespace) ?? new Set<string>();
    if (w.sidecar) set.add(nodeMode(w));
    modes.set(w.namespace, set);
  }
  const names = new Set<string>([...count.keys()]);
  for (const p of pairs) {
    names.add(p.from);
    names.add(p.to);
  }
  const sorted = [...names].sort((a, b) => a.localeCompare(b));
  const n = sorted.length;
  const margin = 100;
  const radius = n <= 1 ? 0 : Math.max(160, (n * (NAMESPACE_BOX.width + 40)) / (2 * Math.PI));
  const size = 2 * (radius + margin);
  const internal = new Map(pairs.filter((p) => p.from === p.to).map((p) => [p.from, p.counts]));
  const nodes: NamespaceNode[] = sorted.map((ns, i) => {
    const angle = n === 2 ? Math.PI * i + Math.PI : -Math.PI / 2 + (2 * Math.PI * i) / Math.max(n, 1);
    const m = modes.get(ns) ?? new Set<string>();
    return {
      id: ns,
      mode: m.size === 0 ? 'NONE' : m.size === 1 ? ([...m][0] ?? 'NONE') : 'MIXED',
      workloads: count.get(ns) ?? 0,
      internal: internal.get(ns) ?? null,
      x: Math.round(size / 2 + radius * Math.cos(angle)),
      y: Math.round(size / 2 + radius * Math.sin(angle)),
    };
  });
  const edges: NamespaceEdge[] = [];
  for (const p of pairs) {
    if (p.from === p.to) continue;
    const state = stateOfCounts(p.counts);
    if (!keep(state)) continue;
    edges.push({ id: `${p.from}\u2192${p.to}`, from: p.from, to: p.to, state, counts: p.counts });
  }
  return { nodes, edges, width: size, height: size, box: NAMESPACE_BOX };
}

/** Offsets for a 1-based line and column in a text, clamped; `to` is the end of that line. */
export function lineRange(text: string, line: number, column: number): { from: number; to: number } {
  let start = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) {
      start = text.length;
      break;
    }
    start = nl + 1;
  }
  let end = text.indexOf('\n', start);
  if (end < 0) end = text.length;
  const from = Math.min(start + Math.max(column - 1, 0), end);
  return { from: from === end && end > start ? start : from, to: end };
}
