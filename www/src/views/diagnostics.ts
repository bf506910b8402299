// The diagnostics panel: every finding of the core, each linking to its line.

import { el, replaceChildren } from '../dom';
import type { Diagnostic } from '../types';
import type { Jump } from './common';

/** The editor's own file name: only its diagnostics jump to a line of the editor. */
export const EDITOR_FILE = 'playground.yaml';

export function renderDiagnostics(root: HTMLElement, diagnostics: readonly Diagnostic[], jump: Jump): void {
  const count = (s: string) => diagnostics.filter((d) => d.severity === s).length;
  const errors = count('error');
  const warnings = count('warning');
  const infos = count('info');
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  const summary = el(
    'div',
    { class: 'diag-summary' },
    diagnostics.length === 0
      ? 'No diagnostics.'
      : `${plural(errors, 'error')}, ${plural(warnings, 'warning')}, ${infos} info`,
  );
  const list = el(
    'ol',
    { class: 'diag-list' },
    ...diagnostics.map((d) =>
      el(
        'li',
        { class: `diag diag-${d.severity}`, attrs: { 'data-code': d.code, 'data-line': d.line, 'data-severity': d.severity } },
        d.file === EDITOR_FILE
          ? el(
              'button',
              {
                class: 'linklike diag-pos',
                title: `Show line ${d.line} in the editor`,
                attrs: { type: 'button' },
                on: { click: () => jump(d.line) },
              },
              `line ${d.line}:${d.column}`,
            )
          : el('span', { class: 'diag-pos diag-file', attrs: { 'data-file': d.file } }, `${d.file}:${d.line}:${d.column}`),
        el('span', { class: `sev sev-${d.severity}` }, d.severity),
        el('code', { class: 'diag-code' }, d.code),
        el('span', { class: 'diag-msg' }, d.message),
        d.resource ? el('span', { class: 'diag-res' }, d.resource) : null,
      ),
    ),
  );
  root.dataset.errors = String(errors);
  root.dataset.count = String(diagnostics.length);
  replaceChildren(root, summary, list);
}
