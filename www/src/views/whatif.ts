// What-if: edit a copy of the input and see which calls change outcome or encryption
// (the core's `diff` query, before = the main editor, after = the copy).

import type { EditorView } from '@codemirror/view';
import { el, replaceChildren } from '../dom';
import { createEditor, setText } from '../editor';
import { shortHost } from '../model';
import type { CallOutcome, DiffReport } from '../types';

export interface WhatIfView {
  root: HTMLElement;
  editor: EditorView;
  /** Starts over from `text` (the current input). */
  reset(text: string): void;
  text(): string;
  render(diff: DiffReport): void;
  error(message: string): void;
}

/** A call's outcome on one side of a diff: ok over mTLS, ok in plaintext, or failing. */
export function outcome(o: CallOutcome | null): HTMLElement {
  if (!o) return el('span', { class: 'muted' }, 'no such call');
  return el(
    'span',
    { class: `outcome state-${o.ok ? (o.mtls ? 'mtls' : 'plaintext') : 'fail'}` },
    o.ok ? (o.mtls ? 'ok, mTLS' : 'ok, plaintext') : 'fails',
    el('span', { class: 'muted' }, ` (${o.clientTls} \u2192 ${o.serverMode})`),
    o.symptom ? el('div', { class: 'symptom' }, o.symptom) : null,
  );
}

export function whatIfView(onEdit: (text: string) => void, current: () => string): WhatIfView {
  const host = el('div', { class: 'editor-host whatif-editor' });
  const summary = el('div', { class: 'whatif-summary', attrs: { 'aria-live': 'polite' } });
  const result = el('div', { class: 'whatif-result' });
  const editor = createEditor(host, '', onEdit, 'what-if copy of the YAML');
  const resetBtn = el('button', { class: 'small', attrs: { type: 'button' } }, 'Start over from the current input');
  const root = el(
    'div',
    { class: 'whatif-view' },
    el(
      'p',
      { class: 'muted' },
      'Edit this copy of the input. Every call whose outcome or encryption changes from the input (left) to this copy is listed below.',
    ),
    el('div', { class: 'toolbar' }, resetBtn),
    host,
    summary,
    result,
  );
  const view: WhatIfView = {
    root,
    editor,
    reset(text) {
      setText(editor, text);
    },
    text() {
      return editor.state.doc.toString();
    },
    render(diff) {
      const by = new Map<string, number>();
      for (const c of diff.changes) by.set(c.change, (by.get(c.change) ?? 0) + 1);
      const parts = [...by.entries()].map(([k, n]) => `${n} ${k}`);
      summary.dataset.changes = String(diff.changes.length);
      summary.textContent =
        diff.changes.length === 0
          ? 'No call changes outcome or encryption.'
          : `${diff.changes.length} call${diff.changes.length === 1 ? '' : 's'} change: ${parts.join(', ')}.`;
      if (diff.changes.length === 0) {
        replaceChildren(result);
        return;
      }
      replaceChildren(
        result,
        el(
          'table',
          { class: 'diff' },
          el('thead', {}, el('tr', {}, el('th', {}, 'client'), el('th', {}, 'service'), el('th', {}, 'change'), el('th', {}, 'before'), el('th', {}, 'after'))),
          el(
            'tbody',
            {},
            ...diff.changes.map((c) =>
              el(
                'tr',
                { class: `change-${c.change}`, attrs: { 'data-change': c.change, 'data-from': c.from, 'data-to': c.to } },
                el('td', {}, c.from),
                el('td', { title: `${c.to} \u2192 ${c.toWorkload}` }, shortHost(c.to), c.subset ? ` (${c.subset})` : ''),
                el('td', {}, el('span', { class: `badge change-${c.change}` }, c.change)),
                el('td', {}, outcome(c.before)),
                el('td', {}, outcome(c.after)),
              ),
            ),
          ),
        ),
      );
    },
    error(message) {
      summary.textContent = message;
      replaceChildren(result);
    },
  };
  resetBtn.addEventListener('click', () => view.reset(current()));
  return view;
}
