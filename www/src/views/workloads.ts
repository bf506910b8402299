// Per workload and port: the precedence chain (default, mesh, namespace, workload, port), each
// layer with what it declared, whether it applied, was overridden, inherited or ignored, why,
// and a link to its line.

import { el, replaceChildren } from '../dom';
import { lockIcon, modeLock } from '../icons';
import { workloadKey } from '../model';
import type { AnalyzeReport, ChainEntry, Explanation, GatewayServerReport, WorkloadReport } from '../types';
import type { Jump } from './common';

/** Cards drawn at once; a filter narrows the rest. Each card is a chain per port: a few hundred
 * of them take the page's main thread for longer than a frame. */
export const MAX_CARDS = 100;

export interface WorkloadsView {
  root: HTMLElement;
  render(report: AnalyzeReport): void;
  reveal(workload: string): void;
}

const EFFECT_TEXT: Record<string, string> = {
  applied: 'applied: decides the mode',
  overridden: 'overridden by a more specific layer',
  inherited: 'inherited: passes the mode above through',
  ignored: 'ignored: never considered',
};

function entry(e: ChainEntry, jump: Jump): HTMLElement {
  const where = e.line ? `line ${e.line}` : null;
  return el(
    'li',
    {
      class: `chain-entry effect-${e.effect}`,
      attrs: { 'data-level': e.level, 'data-effect': e.effect, 'data-policy': e.policy, 'data-line': e.line ?? null },
    },
    el('span', { class: 'level' }, e.level),
    e.line
      ? el(
          'button',
          {
            class: 'linklike policy',
            title: `Show ${where} in the editor`,
            attrs: { type: 'button' },
            on: { click: () => e.line && jump(e.line) },
          },
          e.policy,
        )
      : el('span', { class: 'policy' }, e.policy),
    el('span', { class: `declared mode-${e.declared}` }, e.declared),
    el('span', { class: `effect effect-${e.effect}`, title: EFFECT_TEXT[e.effect] ?? e.effect }, e.effect),
    e.reason ? el('span', { class: 'reason' }, e.reason) : null,
    where ? el('span', { class: 'where' }, where) : null,
  );
}

function gatewayServers(servers: readonly GatewayServerReport[], jump: Jump): HTMLElement {
  return el(
    'div',
    { class: 'gateway-servers' },
    el('div', { class: 'port-head' }, 'Gateway listeners (their TLS comes from the Gateway, not from PeerAuthentication)'),
    el(
      'ul',
      {},
      ...servers.map((g) =>
        el(
          'li',
          { attrs: { 'data-gateway-port': g.port, 'data-tls-mode': g.tlsMode } },
          el('span', {}, `port ${g.port} ${g.protocol} `),
          el('strong', { class: `mode tls-${g.tlsMode}` }, g.tlsMode),
          ` ${g.hosts.join(', ')} · `,
          el(
            'button',
            { class: 'linklike', title: `Show line ${g.line} in the editor`, attrs: { type: 'button' }, on: { click: () => jump(g.line) } },
            g.gateway,
          ),
        ),
      ),
    ),
  );
}

function card(
  w: WorkloadReport,
  jump: Jump,
  explain: (workload: string) => Promise<Explanation>,
): HTMLElement {
  const key = workloadKey(w);
  const story = el('div', { class: 'story', attrs: { 'aria-live': 'polite' } });
  const explainBtn = el(
    'button',
    {
      class: 'small',
      attrs: { type: 'button' },
      on: {
        click: () => {
          replaceChildren(story, el('p', { class: 'muted' }, 'Asking the engine\u2026'));
          explain(key).then(
            (x) => replaceChildren(story, ...x.story.map((p) => el('p', {}, p))),
            (err: Error) => replaceChildren(story, el('p', { class: 'error-text' }, err.message)),
          );
        },
      },
    },
    'Explain',
  );
  const ports = w.ports.map((p) =>
    el(
      'div',
      { class: 'port', attrs: { 'data-port': p.port, 'data-mode': p.mode } },
      el(
        'div',
        { class: 'port-head' },
        lockIcon(modeLock(p.mode)),
        el('span', {}, `port ${p.port}`),
        el('span', { class: 'arrow' }, '\u2192'),
        el('strong', { class: `mode mode-${p.mode}` }, p.mode),
      ),
      p.chain.length ? el('ol', { class: 'chain' }, ...p.chain.map((e) => entry(e, jump))) : null,
    ),
  );
  return el(
    'section',
    { class: 'workload', attrs: { 'data-workload': key, 'data-mode': w.mode, 'data-sidecar': w.sidecar } },
    el(
      'header',
      { class: 'workload-head' },
      lockIcon(modeLock(w.mode), 18),
      el('h3', {}, key),
      el('span', { class: 'kind' }, w.kind),
      el('span', { class: `mode mode-${w.mode}` }, w.mode),
      el('span', { class: `tag ${w.sidecar ? 'tag-sidecar' : 'tag-nosidecar'}` }, w.sidecar ? 'sidecar' : 'no sidecar'),
      explainBtn,
    ),
    el(
      'p',
      { class: 'meta' },
      w.sidecar ? `identity ${w.identity}` : `no identity (no sidecar)`,
      ' \u00b7 ',
      `service account ${w.serviceAccount}`,
      ' \u00b7 ',
      w.sidecarReason,
    ),
    ...(ports.length ? ports : [el('p', { class: 'muted' }, 'The engine reports no inbound ports for it.')]),
    w.gatewayServers?.length ? gatewayServers(w.gatewayServers, jump) : null,
    story,
  );
}

export function workloadsView(
  jump: Jump,
  explain: (workload: string) => Promise<Explanation>,
  full: (keys: string[]) => Promise<WorkloadReport[]> = async () => [],
): WorkloadsView {
  const filter = el('input', {
    class: 'filter',
    attrs: { type: 'search', placeholder: 'filter workloads', 'aria-label': 'filter workloads' },
  });
  const list = el('div', { class: 'workload-list' });
  const root = el('div', { class: 'workloads-view' }, el('div', { class: 'toolbar' }, filter), list);
  let last: AnalyzeReport | null = null;

  const draw = () => {
    if (!last) return;
    const needle = filter.value.trim().toLowerCase();
    const shown = last.workloads.filter((w) => !needle || workloadKey(w).toLowerCase().includes(needle));
    const visible = shown.slice(0, MAX_CARDS);
    const cards = visible.map((w) => card(w, jump, explain));
    // A large input's report leaves most chains out: ask for the shown cards' and redraw them.
    const missing = visible.filter((w) => w.chainsOmitted).map(workloadKey);
    if (missing.length > 0) {
      const report = last;
      void full(missing).then(
        (reports) => {
          if (last !== report) return;
          const byKey = new Map(reports.map((r) => [workloadKey(r), r]));
          for (const section of list.querySelectorAll<HTMLElement>('section.workload')) {
            const r = byKey.get(section.dataset.workload ?? '');
            if (r) section.replaceWith(card(r, jump, explain));
          }
        },
        () => {},
      );
    }
    const notes: HTMLElement[] = [];
    if (last.workloads.length === 0) {
      notes.push(
        el('p', { class: 'muted' }, 'No workloads in the input: add Deployments (and Namespaces, Services) to see the modes they get.'),
      );
    }
    if (shown.length > MAX_CARDS) {
      notes.push(el('p', { class: 'muted' }, `Showing ${MAX_CARDS} of ${shown.length} workloads: filter to narrow.`));
    }
    replaceChildren(list, ...notes, ...cards);
  };
  filter.addEventListener('input', draw);

  return {
    root,
    render(report) {
      last = report;
      draw();
    },
    reveal(workload) {
      const target = [...list.querySelectorAll<HTMLElement>('section.workload')].find((s) => s.dataset.workload === workload);
      if (target) {
        target.scrollIntoView({ block: 'start' });
        target.classList.add('flash');
        setTimeout(() => target.classList.remove('flash'), 1200);
      }
    },
  };
}
