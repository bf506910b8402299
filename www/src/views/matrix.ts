// The reachability matrix: clients × service ports, each cell the outcome of the calls
// between them (click for the details). Filterable by text and by outcome.

import { el, replaceChildren } from '../dom';
import { type CallState, type MatrixCell, buildMatrix, cellKey, shortHost } from '../model';
import type { AnalyzeReport, Call } from '../types';
import { STATE_TEXT, callList, stateLock } from './common';

export const MAX_AXIS = 60;

export interface MatrixView {
  root: HTMLElement;
  render(report: AnalyzeReport, calls: readonly Call[]): void;
}

export function matrixView(): MatrixView {
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
  const root = el('div', { class: 'matrix-view' }, el('div', { class: 'toolbar' }, text, state, count), table, details);
  let last: { report: AnalyzeReport; calls: readonly Call[] } | null = null;
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

  const draw = () => {
    if (!last) return;
    const { report, calls } = last;
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
    render(report, calls) {
      last = { report, calls };
      draw();
    },
  };
}

