// The service graph (SVG): workloads as nodes, calls as edges, in Kiali's lock vocabulary.
// Hover an edge for its symptom; click an edge or a node for the details.

import { el, replaceChildren, svg } from '../dom';
import { type LockKind, lockIcon, modeLock } from '../icons';
import { type CallState, type Graph, type GraphEdge, type GraphNode, buildGraph, edgeGeometry } from '../model';
import type { AnalyzeReport, Call } from '../types';
import { STATE_TEXT, callList } from './common';

export const MAX_NODES = 150;

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

export interface GraphView {
  root: HTMLElement;
  render(report: AnalyzeReport, calls: readonly Call[]): void;
}

export function graphView(onWorkload: (workload: string) => void): GraphView {
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
  const details = el('div', { class: 'details', attrs: { 'aria-live': 'polite' } }, 'Click a call or a workload for details.');
  const root = el(
    'div',
    { class: 'graph-view' },
    el('div', { class: 'toolbar' }, el('label', {}, 'Show ', show), count),
    el('div', { class: 'graph-row' }, canvas, legend()),
    details,
  );
  let last: { report: AnalyzeReport; calls: readonly Call[] } | null = null;
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

  const draw = () => {
    if (!last) return;
    const { report, calls } = last;
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
    const root = svg('svg', {
      class: 'graph',
      viewBox: `0 0 ${g.width} ${g.height}`,
      width: g.width,
      height: g.height,
      role: 'img',
      'aria-label': 'service graph',
      'data-edges': g.edges.length,
      'data-nodes': g.nodes.length,
    });
    root.append(
      svg(
        'defs',
        {},
        ...(['mtls', 'plaintext', 'fail'] as const).map((s) =>
          svg(
            'marker',
            { id: `arrow-${s}`, viewBox: '0 0 10 10', refX: 8, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
            svg('path', { d: 'M0 0 L10 5 L0 10 z', class: `arrowhead state-${s}` }),
          ),
        ),
      ),
    );
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
        lockIcon(e.state === 'mtls' ? 'closed' : e.state === 'fail' ? 'fail' : 'open', 16, geo.mid),
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
    render(report, calls) {
      last = { report, calls };
      draw();
    },
  };
}
