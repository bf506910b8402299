// Small pieces shared by the views.

import { el } from '../dom';
import { type LockKind, lockIcon } from '../icons';
import { type CallState, stateOf } from '../model';
import type { Call } from '../types';

/** Callback that moves the editor to a 1-based line. */
export type Jump = (line: number) => void;

export const STATE_TEXT: Record<CallState, string> = {
  mtls: 'mTLS',
  plaintext: 'plaintext',
  fail: 'fails',
};

/** The lock drawn for a call state: closed for mTLS, open for plaintext, broken for failing. */
export function stateLockKind(state: CallState): LockKind {
  return state === 'mtls' ? 'closed' : state === 'fail' ? 'fail' : 'open';
}

export function stateLock(state: CallState) {
  return lockIcon(stateLockKind(state));
}

/** A line reference the user can click: `policy (line N)`. */
export function lineLink(text: string, line: number | null | undefined, jump: Jump, cls = 'line-link') {
  if (!line) return el('span', { class: cls }, text);
  return el(
    'button',
    {
      class: `${cls} linklike`,
      title: `Show line ${line} in the editor`,
      attrs: { type: 'button', 'data-line': line },
      on: { click: () => jump(line) },
    },
    text,
  );
}

/** The calls of one graph edge or matrix cell, as a list a person can read. */
export function callList(calls: readonly Call[]): HTMLElement {
  return el(
    'ul',
    { class: 'call-list' },
    ...calls.map((c) => {
      const state = stateOf([c]);
      return el(
        'li',
        { class: `call state-${state}`, attrs: { 'data-state': state } },
        el(
          'div',
          { class: 'call-head' },
          stateLock(state),
          el('span', { class: 'call-route' }, `${c.from} \u2192 ${c.to}`, c.subset ? ` (subset ${c.subset})` : ''),
          el('span', { class: `badge state-${state}` }, c.ok ? (c.mtls ? 'ok, mTLS' : 'ok, plaintext') : 'fails'),
        ),
        el(
          'div',
          { class: 'call-facts' },
          'client sends ',
          el('code', {}, c.clientTls),
          ` (${c.clientTlsSource}) \u00b7 server ${c.toWorkload} port ${c.targetPort}: `,
          el('code', {}, c.serverMode),
        ),
        c.symptom ? el('div', { class: 'symptom' }, 'symptom: ', c.symptom) : null,
        el('div', { class: 'why' }, c.explanation),
      );
    }),
  );
}

/** One number formatter for the page: `toLocaleString` builds a new one per call, which costs
 * tens of microseconds — seconds over the cells of a large matrix. */
const NUMBER = new Intl.NumberFormat('en-US');

/** A count as the page prints it: `12,345`. */
export const fmt = (n: number): string => NUMBER.format(n);
