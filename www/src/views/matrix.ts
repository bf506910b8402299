// The reachability matrix: clients × service ports, each cell the outcome of the calls
// between them (click for the details). Filterable by text and by outcome.

import { el, replaceChildren } from '../dom';
import {
  type CallState,
  type MatrixCell,
  type MatrixFilter,
  type PartialPairs,
  buildMatrix,
  buildNamespaceMatrix,
  cellKey,
  sameFilter,
  shortHost,
  stateOfCounts,
} from '../model';
import type { NamespaceCell } from '../protocol';
import type { AnalyzeReport, Call, NamespacePair } from '../types';
import { lockImageClass } from '../icons';
import { STATE_TEXT, callList, fmt, stateLock, stateLockKind } from './common';

export const MAX_AXIS = 60;
/** Namespaces each way at the namespace level: 40 × 40 cells are drawn in about a frame's budget
 * on a 2-core machine; 60 × 60 took a third of a second to lay out and paint. */
export const MAX_NAMESPACE_AXIS = 40;

/**
 * What the matrix shows: workloads × services, or — above a size where workloads stop being
 * readable — namespaces × namespaces from the summary's counts, with one cell drilled into.
 */
export interface MatrixInput {
  report: AnalyzeReport;
  calls: readonly Call[];
  /** The summary's namespace pairs when the page starts at the namespace level. */
  namespaces?: readonly NamespacePair[];
  /** Set when `namespaces` is only part of the pairs: the engine filters, the page asks. */
  partial?: PartialPairs | null;
  /** The cell drilled into (its calls are `calls`). */
  drilled?: NamespaceCell | null;
}

export interface MatrixView {
  root: HTMLElement;
  render(input: MatrixInput): void;
}


/**
 * `onDrill(cell)` asks the page for the calls of a namespace cell; `onDrill(null)` goes back.
 * `onFilter(filter)` asks the page for the namespace pairs that `filter` keeps when it holds
 * only part of them (the page renders again with them); `onFilter(null)`: the pairs held are
 * the ones wanted, a request not yet sent is not needed.
 */
export function matrixView(
  onDrill: (cell: NamespaceCell | null) => void = () => {},
  onFilter: (filter: MatrixFilter | null) => void = () => {},
): MatrixView {
  const text = el('input', {
    class: 'filter',
    attrs: { type: 'search', placeholder: 'filter clients or services', 'aria-label': 'filter clients or services' },
  });
  const state = el(
    'select',
    { attrs: { 'aria-label': 'outcome' } },
    el('option', { attrs: { value: 'all' } }, 'any outcome'),
    el('option', { attrs: { value: 'fail' } }, 'fails'),
    el('option', { attrs: { value: 'plaintext' } }, 'plaintext'),
    el('option', { attrs: { value: 'mtls' } }, 'mTLS'),
  );
  const count = el('span', { class: 'muted count' });
  const table = el('div', { class: 'matrix-wrap' });
  const details = el('div', { class: 'details', attrs: { 'aria-live': 'polite' } }, 'Click a cell for the calls behind it.');
  const crumbs = el('nav', { class: 'breadcrumb', attrs: { 'aria-label': 'matrix level' } });
  const root = el('div', { class: 'matrix-view' }, el('div', { class: 'toolbar' }, text, state, count), crumbs, table, details);
  let last: MatrixInput | null = null;
  let selected: string | null = null;
  const hint = () => replaceChildren(details, 'Click a cell for the calls behind it.');

  const showCell = (cell: MatrixCell) => {
    selected = cellKey(cell.client, cell.destination);
    replaceChildren(
      details,
      el('h4', {}, `${cell.client} \u2192 ${shortHost(cell.destination)}: ${STATE_TEXT[cell.state]}`),
      callList(cell.calls),
    );
  };

  /** Bumped by every drawing: rows still being added for an older one stop. */
  let generation = 0;

  const drawNamespaces = (pairs: readonly NamespacePair[], partial: PartialPairs | null) => {
    generation += 1;
    const mine = generation;
    const filter: MatrixFilter = { text: text.value, state: state.value as 'all' | CallState };
    // Part of the pairs: the engine filters them all. Meanwhile the ones held are filtered here.
    const asked = partial !== null && !sameFilter(filter, partial.filter);
    if (partial) onFilter(asked ? filter : null);
    const m = buildNamespaceMatrix(pairs, filter);
    const clients = m.clients.slice(0, MAX_NAMESPACE_AXIS);
    const services = m.services.slice(0, MAX_NAMESPACE_AXIS);
    const head = el(
      'tr',
      {},
      el('th', { class: 'corner' }, 'client namespace \u2193 \u00b7 service namespace \u2192'),
      ...services.map((d) => el('th', { class: 'dest', attrs: { scope: 'col', 'data-namespace': d } }, d)),
    );
    const row = (c: string) =>
      el(
        'tr',
        { attrs: { 'data-client-namespace': c } },
        el('th', { attrs: { scope: 'row' } }, c),
        ...services.map((d) => {
          const pair = m.cells.get(cellKey(c, d));
          if (!pair) return el('td', { class: 'empty' }, '\u2014');
          const st = stateOfCounts(pair.counts);
          const k = pair.counts;
          const summary = `${fmt(k.total)} calls: ${fmt(k.mtls)} mTLS, ${fmt(k.plaintext)} plaintext, ${fmt(k.failing)} failing`;
          return el(
            'td',
            {
              class: `cell ns-cell state-${st} ${lockImageClass(stateLockKind(st))}`,
              title: `${summary}. Click for the workloads.`,
              attrs: { 'data-state': st, 'data-namespace': d, 'data-client-namespace': c, tabindex: 0, role: 'button' },
            },
            k.failing > 0 ? `${fmt(k.failing)} fail` : k.plaintext > 0 ? `${fmt(k.plaintext)} plain` : `${fmt(k.mtls)} mTLS`,
          );
        }),
      );
    const notes: HTMLElement[] = [
      el('p', { class: 'muted' }, 'Namespaces first: the mesh has too many workloads to read one by one. Click a cell for its workloads.'),
    ];
    if (partial) {
      notes.push(
        el(
          'p',
          { class: 'muted partial-note' },
          asked
            ? 'Asking the engine for the namespace pairs that match\u2026'
            : `Showing ${fmt(pairs.length)} of ${fmt(partial.matching)} namespace pairs` +
                (partial.matching < partial.pairs ? ` that match (${fmt(partial.pairs)} in all)` : '') +
                ', the most failing first: type a namespace to narrow.',
        ),
      );
    }
    if (m.clients.length > MAX_NAMESPACE_AXIS || m.services.length > MAX_NAMESPACE_AXIS) {
      notes.push(el('p', { class: 'muted' }, `Showing the first ${MAX_NAMESPACE_AXIS} namespaces each way: filter to narrow.`));
    }
    // Rows are built a few at a time, one task each, and the table goes in once complete: 60 × 60
    // cells built at once kept the page's main thread busy for most of a second, and a table
    // that grows row by row is laid out and painted again for every step. Cells hold text and
    // a lock image (`lockGlyph`), not inline SVG. The table says when it is complete.
    const body = el('tbody', {});
    const grid = el('table', { class: 'matrix matrix-namespaces' }, el('thead', {}, head), body);
    if (partial && !asked) grid.dataset.matching = String(partial.matching);
    // One listener for every cell.
    const open = (ev: Event) => {
      const cell = (ev.target as Element).closest<HTMLElement>('td.ns-cell');
      const { clientNamespace: client, namespace: service } = cell?.dataset ?? {};
      if (client !== undefined && service !== undefined) onDrill({ client, service });
    };
    body.addEventListener('click', open);
    body.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        open(ev);
      }
    });
    replaceChildren(table, ...notes, el('p', { class: 'muted building' }, `Drawing ${clients.length} rows…`));
    const ROWS_PER_TASK = 6;
    const addRows = (from: number) => {
      if (mine !== generation) return;
      body.append(...clients.slice(from, from + ROWS_PER_TASK).map(row));
      if (from + ROWS_PER_TASK < clients.length) {
        setTimeout(() => addRows(from + ROWS_PER_TASK), 0);
        return;
      }
      replaceChildren(table, ...notes, grid);
      grid.dataset.complete = 'true';
    };
    addRows(0);
    replaceChildren(crumbs, el('span', { class: 'crumb current' }, 'all namespaces'));
    hint();
    const failing = [...m.cells.values()].filter((p) => p.counts.failing > 0).length;
    count.textContent = `${m.clients.length} client \u00d7 ${m.services.length} service namespaces, ${failing} pairs failing`;
    if (partial && !asked) count.textContent += ` (of ${fmt(partial.matching)} pairs)`;
  };

  const draw = () => {
    if (!last) return;
    generation += 1;
    const { report, calls, namespaces, drilled } = last;
    if (namespaces && !drilled) {
      drawNamespaces(namespaces, last.partial ?? null);
      return;
    }
    if (drilled) {
      replaceChildren(
        crumbs,
        el('button', { class: 'crumb', attrs: { type: 'button' }, on: { click: () => onDrill(null) } }, 'all namespaces'),
        ' \u203a ',
        el('span', { class: 'crumb current' }, `${drilled.client} \u2192 ${drilled.service}`),
      );
    } else {
      replaceChildren(crumbs);
    }
    const m = buildMatrix(report, calls, { text: text.value, state: state.value as 'all' | CallState });
    const clients = m.clients.slice(0, MAX_AXIS);
    const dests = m.destinations.slice(0, MAX_AXIS);
    const sidecar = new Map(report.workloads.map((w) => [`${w.namespace}/${w.name}`, w.sidecar]));
    const head = el(
      'tr',
      {},
      el('th', { class: 'corner' }, 'client \u2193 \u00b7 service \u2192'),
      ...dests.map((d) => el('th', { class: 'dest', title: d, attrs: { scope: 'col', 'data-destination': d } }, shortHost(d))),
    );
    const rows = clients.map((c) =>
      el(
        'tr',
        { attrs: { 'data-client': c } },
        el(
          'th',
          { attrs: { scope: 'row' } },
          c,
          sidecar.get(c) === false ? el('span', { class: 'tag tag-nosidecar' }, 'no sidecar') : null,
        ),
        ...dests.map((d) => {
          const cell = m.cells.get(cellKey(c, d));
          if (!cell) return el('td', { class: 'empty' }, '\u2014');
          return el(
            'td',
            { class: `cell state-${cell.state}`, attrs: { 'data-state': cell.state, 'data-destination': d } },
            el(
              'button',
              {
                class: 'cell-btn',
                title: cell.calls.map((x) => x.symptom ?? x.explanation).join('\n'),
                attrs: { type: 'button' },
                on: { click: () => showCell(cell) },
              },
              stateLock(cell.state),
              STATE_TEXT[cell.state],
            ),
          );
        }),
      ),
    );
    const notes: HTMLElement[] = [];
    if (m.clients.length > MAX_AXIS || m.destinations.length > MAX_AXIS) {
      notes.push(el('p', { class: 'muted' }, `Showing the first ${MAX_AXIS} clients and services: filter to narrow.`));
    }
    if (clients.length === 0) {
      notes.push(el('p', { class: 'muted' }, calls.length ? 'No call matches the filter.' : 'No calls: the input needs workloads and Services.'));
      replaceChildren(table, ...notes);
    } else {
      replaceChildren(table, ...notes, el('table', { class: 'matrix' }, el('thead', {}, head), el('tbody', {}, ...rows)));
    }
    const still = selected === null ? undefined : m.cells.get(selected);
    if (still) showCell(still);
    else {
      selected = null;
      hint();
    }
    const failing = [...m.cells.values()].filter((x) => x.state === 'fail').length;
    count.textContent = `${m.clients.length} clients \u00d7 ${m.destinations.length} services, ${failing} failing`;
  };
  text.addEventListener('input', draw);
  state.addEventListener('change', draw);

  return {
    root,
    render(input) {
      last = input;
      draw();
    },
  };
}

