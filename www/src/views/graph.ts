// The service graph (SVG): workloads as nodes, calls as edges, in Kiali's lock vocabulary.
// Hover an edge for its symptom; click an edge or a node for the details.

import { el, replaceChildren, svg } from '../dom';
import { type LockKind, lockIcon, modeLock } from '../icons';
import {
  type CallState,
  type Graph,
  type GraphEdge,
  type GraphNode,
  type NamespaceEdge,
  type NamespaceNode,
  type PartialPairs,
  buildGraph,
  buildNamespaceGraph,
  edgeGeometry,
  stateOfCounts,
} from '../model';
import type { NamespaceCell } from '../protocol';
import type { AnalyzeReport, Call, NamespacePair, ReachCounts } from '../types';
import { STATE_TEXT, callList, fmt, stateLockKind } from './common';

export const MAX_NODES = 150;
/** Namespace pairs drawn at most (failing first): a hundred namespaces can have ten thousand. */
export const MAX_NAMESPACE_EDGES = 300;

const PALETTE = ['#3f51b5', '#00897b', '#8e24aa', '#6d4c41', '#1e88e5', '#c0ca33', '#f4511e', '#546e7a'];

function nsColor(ns: string, order: string[]): string {
  const i = order.indexOf(ns);
  return PALETTE[(i < 0 ? 0 : i) % PALETTE.length] ?? '#3f51b5';
}

function edgeTitle(e: GraphEdge): string {
  const lines = e.calls.map((c) => {
    const head = `${c.to}${c.subset ? ` (subset ${c.subset})` : ''}: ${c.ok ? (c.mtls ? 'ok, mTLS' : 'ok, plaintext') : 'FAILS'}`;
    return c.symptom ? `${head}\n  ${c.symptom}` : head;
  });
  return `${e.from} \u2192 ${e.to}\n${lines.join('\n')}`;
}

function legendItem(kind: LockKind, text: string, cls = ''): HTMLElement {
  return el('li', { class: cls }, lockIcon(kind), el('span', {}, text));
}

export function legend(): HTMLElement {
  return el(
    'div',
    { class: 'legend', attrs: { 'aria-label': 'legend' } },
    el('strong', {}, 'Calls'),
    el(
      'ul',
      {},
      legendItem('closed', 'mTLS: encrypted and authenticated', 'state-mtls'),
      legendItem('open', 'plaintext: succeeds unencrypted', 'state-plaintext'),
      legendItem('fail', 'fails (dashed): hover or click for the symptom', 'state-fail'),
    ),
    el('strong', {}, 'Workloads (server mode)'),
    el(
      'ul',
      {},
      legendItem('closed', 'STRICT', 'mode-STRICT'),
      legendItem('hollow', 'PERMISSIVE (or ports differ: hover)', 'mode-PERMISSIVE'),
      legendItem('open', 'DISABLE', 'mode-DISABLE'),
      legendItem('none', 'no sidecar (dashed ring)', 'mode-NONE'),
    ),
  );
}

/** What the graph shows: workloads, or — above a size — namespaces, with one pair drilled into. */
export interface GraphInput {
  report: AnalyzeReport;
  calls: readonly Call[];
  namespaces?: readonly NamespacePair[];
  /** Set when `namespaces` is only part of the pairs (the most failing). */
  partial?: PartialPairs | null;
  drilled?: NamespaceCell | null;
}

/** The graph's `<svg>` with an arrowhead marker per call state (`${markers}-mtls`, …). */
function graphRoot(
  cls: string,
  label: string,
  g: { width: number; height: number; nodes: readonly unknown[]; edges: readonly unknown[] },
  markers: string,
): SVGSVGElement {
  const root = svg('svg', {
    class: cls,
    viewBox: `0 0 ${g.width} ${g.height}`,
    width: g.width,
    height: g.height,
    role: 'img',
    'aria-label': label,
    'data-edges': g.edges.length,
    'data-nodes': g.nodes.length,
  });
  root.append(
    svg(
      'defs',
      {},
      ...(['mtls', 'plaintext', 'fail'] as const).map((st) =>
        svg(
          'marker',
          { id: `${markers}-${st}`, viewBox: '0 0 10 10', refX: 8, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
          svg('path', { d: 'M0 0 L10 5 L0 10 z', class: `arrowhead state-${st}` }),
        ),
      ),
    ),
  );
  return root;
}

export interface GraphView {
  root: HTMLElement;
  render(input: GraphInput): void;
}

const countsText = (k: ReachCounts) =>
  `${fmt(k.total)} calls: ${fmt(k.mtls)} mTLS, ${fmt(k.plaintext)} plaintext, ${fmt(k.failing)} failing`;

export function graphView(
  onWorkload: (workload: string) => void,
  onDrill: (cell: NamespaceCell | null) => void = () => {},
): GraphView {
  const show = el(
    'select',
    { attrs: { 'aria-label': 'calls to show' } },
    el('option', { attrs: { value: 'all' } }, 'all calls'),
    el('option', { attrs: { value: 'fail' } }, 'failing calls'),
    el('option', { attrs: { value: 'plaintext' } }, 'plaintext calls'),
    el('option', { attrs: { value: 'mtls' } }, 'mTLS calls'),
  );
  const count = el('span', { class: 'muted count' });
  const canvas = el('div', { class: 'graph-canvas' });
  const crumbs = el('nav', { class: 'breadcrumb', attrs: { 'aria-label': 'graph level' } });
  const details = el('div', { class: 'details', attrs: { 'aria-live': 'polite' } }, 'Click a call or a workload for details.');
  const root = el(
    'div',
    { class: 'graph-view' },
    el('div', { class: 'toolbar' }, el('label', {}, 'Show ', show), count),
    crumbs,
    el('div', { class: 'graph-row' }, canvas, legend()),
    details,
  );
  let last: GraphInput | null = null;
  let selected: string | null = null;

  const showEdge = (e: GraphEdge) => {
    selected = e.id;
    replaceChildren(
      details,
      el('h4', {}, `${e.from} \u2192 ${e.to}: ${STATE_TEXT[e.state]}`),
      callList(e.calls),
    );
    for (const g of canvas.querySelectorAll<SVGGElement>('g.edge')) {
      g.classList.toggle('selected', g.dataset.id === e.id);
    }
  };

  let focused: string | null = null;
  /** Highlights one workload's calls (in and out) and dims the rest; `null` shows all. */
  const focus = (id: string | null) => {
    focused = id;
    const root = canvas.querySelector('svg.graph');
    root?.classList.toggle('focused', id !== null);
    for (const g of canvas.querySelectorAll<SVGGElement>('g.edge')) {
      g.classList.toggle('related', id !== null && (g.dataset.from === id || g.dataset.to === id));
    }
    for (const g of canvas.querySelectorAll<SVGGElement>('g.node')) {
      g.classList.toggle('related', g.dataset.workload === id);
    }
  };

  const showNode = (n: GraphNode) => {
    focus(focused === n.id ? null : n.id);
    const w = last?.report.workloads.find((x) => `${x.namespace}/${x.name}` === n.id);
    replaceChildren(
      details,
      el('h4', {}, `${n.id}: ${n.sidecar ? n.mode : 'no sidecar'}`),
      w ? el('p', {}, w.sidecarReason) : null,
      n.portModes.length ? el('p', {}, n.portModes.join(' \u00b7 ')) : null,
      el(
        'button',
        { class: 'small', attrs: { type: 'button' }, on: { click: () => onWorkload(n.id) } },
        'Show its precedence chain',
      ),
    );
  };

  const drawNamespaces = (report: AnalyzeReport, pairs: readonly NamespacePair[], partial: PartialPairs | null) => {
    replaceChildren(crumbs, el('span', { class: 'crumb current' }, 'all namespaces'));
    if (partial && partial.names.length > MAX_NODES) {
      const text =
        `${fmt(partial.names.length)} namespaces are too many to draw; the matrix shows the most failing of their ` +
        `${fmt(partial.pairs)} pairs: type a namespace there to narrow.`;
      replaceChildren(canvas, el('p', { class: 'muted' }, text));
      count.textContent = '';
      return;
    }
    const want = show.value as 'all' | CallState;
    const g = buildNamespaceGraph(report, pairs, (s) => want === 'all' || s === want);
    if (g.nodes.length > MAX_NODES) {
      replaceChildren(canvas, el('p', { class: 'muted' }, `${g.nodes.length} namespaces are too many to draw; the matrix has every pair.`));
      count.textContent = '';
      return;
    }
    const { width: bw, height: bh } = g.box;
    const byId = new Map(g.nodes.map((n) => [n.id, n]));
    const root = graphRoot('graph graph-namespaces', 'namespace graph', g, 'arrow-ns');
    const edgeLayer = svg('g', { class: 'edges' });
    const r = Math.max(bw, bh) / 2;
    const rank = { fail: 0, plaintext: 1, mtls: 2 } as const;
    const drawn = [...(g.edges as NamespaceEdge[])]
      .sort((x, y) => rank[x.state] - rank[y.state] || y.counts.total - x.counts.total)
      .slice(0, MAX_NAMESPACE_EDGES);
    for (const e of drawn) {
      const a = byId.get(e.from);
      const b = byId.get(e.to);
      if (!a || !b) continue;
      const geo = edgeGeometry(a, b, r);
      const group = svg(
        'g',
        {
          class: `edge ns-edge state-${e.state}`,
          'data-from': e.from,
          'data-to': e.to,
          'data-state': e.state,
          tabindex: 0,
          role: 'button',
          'aria-label': `namespace ${e.from} to ${e.to}: ${STATE_TEXT[e.state]}`,
        },
        svg('title', {}, `${e.from} \u2192 ${e.to}\n${countsText(e.counts)}\nClick for the workloads.`),
        svg('path', { d: geo.d, class: 'edge-hit' }),
        svg('path', { d: geo.d, class: 'edge-line', 'marker-end': `url(#arrow-ns-${e.state})` }),
        lockIcon(stateLockKind(e.state), 16, geo.mid),
      );
      const open = () => onDrill({ client: e.from, service: e.to });
      group.addEventListener('click', open);
      group.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === ' ') {
          ev.preventDefault();
          open();
        }
      });
      edgeLayer.append(group);
    }
    const nodeLayer = svg('g', { class: 'nodes' });
    for (const n of g.nodes as NamespaceNode[]) {
      const inside = n.internal;
      const insideState = inside ? stateOfCounts(inside) : null;
      const group = svg(
        'g',
        {
          class: `node ns-box${n.mode === 'NONE' ? ' no-sidecar' : ''}`,
          'data-namespace': n.id,
          'data-mode': n.mode,
          'data-inside': insideState ?? 'none',
          tabindex: 0,
          role: 'button',
          'aria-label': `namespace ${n.id}: ${n.mode}`,
        },
        svg(
          'title',
          {},
          [`namespace ${n.id}`, `${n.workloads} workloads, server mode ${n.mode}`, inside ? `inside: ${countsText(inside)}` : 'no calls inside']
            .join('\n'),
        ),
        svg('rect', { x: n.x - bw / 2, y: n.y - bh / 2, width: bw, height: bh, rx: 8, class: 'ns-rect' }),
        svg('text', { x: n.x, y: n.y - 4, class: 'node-name' }, n.id),
        svg('text', { x: n.x, y: n.y + 14, class: 'node-ns' }, `${n.workloads} workloads`),
        lockIcon(n.mode === 'NONE' ? 'none' : modeLock(n.mode), 18, { x: n.x + bw / 2 - 4, y: n.y - bh / 2 }),
        insideState ? lockIcon(stateLockKind(insideState), 14, { x: n.x - bw / 2 + 4, y: n.y - bh / 2 }) : svg('g', {}),
      );
      const open = () => onDrill({ client: n.id, service: n.id });
      group.addEventListener('click', open);
      group.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter') open();
      });
      nodeLayer.append(group);
    }
    root.append(edgeLayer, nodeLayer);
    replaceChildren(canvas, root);
    replaceChildren(details, 'Namespaces first: the mesh has too many workloads to draw. Click a box (calls inside it) or an edge for the workloads.');
    const failing = g.edges.filter((e) => e.state === 'fail').length;
    const shown = drawn.length < g.edges.length ? ` (showing ${drawn.length}, failing first: choose an outcome to narrow)` : '';
    const held = partial ? ` (from the ${fmt(pairs.length)} most failing of ${fmt(partial.pairs)} pairs)` : '';
    count.textContent = `${g.nodes.length} namespaces, ${g.edges.length} edges, ${failing} failing${shown}${held}`;
  };

  const draw = () => {
    if (!last) return;
    const { calls, drilled } = last;
    let { report } = last;
    if (last.namespaces && !drilled) {
      drawNamespaces(report, last.namespaces, last.partial ?? null);
      return;
    }
    if (drilled) {
      const keepNs = new Set([drilled.client, drilled.service]);
      report = { ...report, workloads: report.workloads.filter((w) => keepNs.has(w.namespace)) };
      const label = drilled.client === drilled.service ? `inside ${drilled.client}` : `${drilled.client} \u2192 ${drilled.service}`;
      replaceChildren(
        crumbs,
        el('button', { class: 'crumb', attrs: { type: 'button' }, on: { click: () => onDrill(null) } }, 'all namespaces'),
        ' \u203a ',
        el('span', { class: 'crumb current' }, label),
      );
    } else {
      replaceChildren(crumbs);
    }
    if (report.workloads.length > MAX_NODES) {
      replaceChildren(
        canvas,
        el('p', { class: 'muted' }, `${report.workloads.length} workloads are too many to draw; the matrix has every call.`),
      );
      count.textContent = '';
      return;
    }
    const want = show.value as 'all' | CallState;
    const g: Graph = buildGraph(report, calls, (s) => want === 'all' || s === want);
    const namespaces = [...new Set(g.nodes.map((n) => n.namespace))];
    const byId = new Map(g.nodes.map((n) => [n.id, n]));
    const root = graphRoot('graph', 'service graph', g, 'arrow');
    const edgeLayer = svg('g', { class: 'edges' });
    for (const e of g.edges) {
      const a = byId.get(e.from);
      const b = byId.get(e.to);
      if (!a || !b) continue;
      const geo = edgeGeometry(a, b, g.nodeRadius);
      const group = svg(
        'g',
        {
          class: `edge state-${e.state}`,
          'data-id': e.id,
          'data-from': e.from,
          'data-to': e.to,
          'data-state': e.state,
          'data-mtls': e.calls.every((c) => c.mtls),
          'data-ok': e.calls.every((c) => c.ok),
          tabindex: 0,
          role: 'button',
          'aria-label': `${e.from} to ${e.to}: ${STATE_TEXT[e.state]}`,
        },
        svg('title', {}, edgeTitle(e)),
        svg('path', { d: geo.d, class: 'edge-hit' }),
        svg('path', { d: geo.d, class: 'edge-line', 'marker-end': `url(#arrow-${e.state})` }),
        lockIcon(stateLockKind(e.state), 16, geo.mid),
      );
      group.addEventListener('click', () => showEdge(e));
      group.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === ' ') {
          ev.preventDefault();
          showEdge(e);
        }
      });
      if (selected === e.id) group.classList.add('selected');
      edgeLayer.append(group);
    }
    const nodeLayer = svg('g', { class: 'nodes' });
    for (const n of g.nodes) {
      const color = nsColor(n.namespace, namespaces);
      const group = svg(
        'g',
        {
          class: `node ${n.sidecar ? 'sidecar' : 'no-sidecar'}`,
          'data-workload': n.id,
          'data-mode': n.mode,
          tabindex: 0,
          role: 'button',
          'aria-label': `${n.id}: ${n.sidecar ? n.mode : 'no sidecar'}`,
        },
        svg('title', {}, [`${n.id}`, n.sidecar ? `server mode: ${n.mode}` : 'no sidecar', ...n.portModes].join('\n')),
        svg('circle', { cx: n.x, cy: n.y, r: g.nodeRadius, stroke: color, class: 'node-disc' }),
        svg('text', { x: n.x, y: n.y + 4, class: 'node-initial', fill: color }, n.name.slice(0, 2)),
        svg('text', { x: n.x, y: n.y + g.nodeRadius + 15, class: 'node-name' }, n.name),
        svg('text', { x: n.x, y: n.y + g.nodeRadius + 28, class: 'node-ns', fill: color }, n.namespace),
        lockIcon(n.sidecar ? modeLock(n.mode) : 'none', 18, { x: n.x + g.nodeRadius * 0.8, y: n.y - g.nodeRadius * 0.8 }),
      );
      group.addEventListener('click', () => showNode(n));
      group.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter') showNode(n);
      });
      nodeLayer.append(group);
    }
    root.append(edgeLayer, nodeLayer);
    const still = g.edges.find((e) => e.id === selected);
    if (still) showEdge(still);
    else if (selected !== null || !details.querySelector('button')) {
      selected = null;
      replaceChildren(details, 'Click a call or a workload for details.');
    }
    replaceChildren(canvas, root);
    root.addEventListener('click', (ev) => {
      if (ev.target === root) focus(null);
    });
    focus(focused !== null && byId.has(focused) ? focused : null);
    const failing = g.edges.filter((e) => e.state === 'fail').length;
    count.textContent = `${g.nodes.length} workloads, ${g.edges.length} edges, ${failing} failing`;
    if (g.nodes.length === 0) {
      replaceChildren(canvas, el('p', { class: 'muted' }, 'No workloads to draw.'));
    }
  };
  show.addEventListener('change', draw);

  return {
    root,
    render(input) {
      last = input;
      draw();
    },
  };
}
