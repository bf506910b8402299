// The plan to STRICT: the core's `plan` (docs/plan.md) as a list of steps, each with what it
// changes, what becomes STRICT, its proof (the calls it changes, in `diff`'s terms) and a
// download of its step file; then what cannot become STRICT yet and why.

import { el, replaceChildren } from '../dom';
import { shortHost } from '../model';
import { coverageLine, planStream, proofLine, stepFile } from '../plan';
import type { Plan, PlanStep } from '../types';
import { outcome } from './whatif';

export interface PlanView {
  root: HTMLElement;
  render(plan: Plan): void;
  error(message: string): void;
}

/** A button that downloads `text` as `name`. */
function download(label: string, name: string, text: string): HTMLElement {
  const button = el('button', { class: 'small', attrs: { type: 'button', 'data-download': name } }, label);
  button.addEventListener('click', () => {
    const url = URL.createObjectURL(new Blob([text], { type: 'application/yaml' }));
    const a = el('a', { attrs: { href: url, download: name } });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
  return button;
}

function stepCard(step: PlanStep): HTMLElement {
  const gains = step.becomesStrict.map((g) => (g.ports.length ? `${g.workload}:${g.ports.join(',')}` : g.workload));
  const examples = step.proof.examples;
  return el(
    'section',
    { class: 'plan-step', attrs: { 'data-step': String(step.number), 'data-level': step.level } },
    el('h4', {}, `Step ${step.number}: ${step.title}`),
    el('div', { class: 'toolbar' }, download(`Download ${step.file}`, step.file, stepFile(step))),
    el(
      'ul',
      { class: 'plan-resources' },
      ...step.resources.map((r) => el('li', {}, el('strong', {}, `${r.action} ${r.resource}`), `: ${r.change}`)),
      ...step.deletes.map((d) => el('li', {}, el('code', {}, d))),
    ),
    gains.length ? el('p', {}, `Becomes STRICT: ${gains.slice(0, 20).join(' ')}${gains.length > 20 ? ` (and ${gains.length - 20} more)` : ''}`) : null,
    el('p', { class: `plan-proof ${step.proof.breaks + step.proof.decrypts === 0 ? 'holds' : 'fails'}` }, proofLine(step)),
    examples.length
      ? el(
          'table',
          { class: 'diff' },
          el('thead', {}, el('tr', {}, el('th', {}, 'client'), el('th', {}, 'service'), el('th', {}, 'change'), el('th', {}, 'before'), el('th', {}, 'after'))),
          el(
            'tbody',
            {},
            ...examples.map((c) =>
              el(
                'tr',
                { class: `change-${c.change}`, attrs: { 'data-change': c.change } },
                el('td', {}, c.from),
                el('td', { title: `${c.to} \u2192 ${c.toWorkload}` }, shortHost(c.to), c.subset ? ` (${c.subset})` : ''),
                el('td', {}, el('span', { class: `badge change-${c.change}` }, c.change)),
                el('td', {}, outcome(c.before)),
                el('td', {}, outcome(c.after)),
              ),
            ),
          ),
        )
      : null,
    el('details', {}, el('summary', {}, step.file), el('pre', { class: 'convert-yaml' }, stepFile(step))),
  );
}

export function planView(): PlanView {
  const summary = el('div', { class: 'plan-summary', attrs: { 'aria-live': 'polite' } });
  const body = el('div', { class: 'plan-body' });
  const root = el(
    'div',
    { class: 'plan-view' },
    el(
      'p',
      { class: 'muted' },
      'An ordered migration to STRICT that breaks no call working today. Apply the steps in order; each was checked against the mesh as the steps before it leave it.',
    ),
    summary,
    body,
  );
  return {
    root,
    render(plan) {
      summary.dataset.steps = String(plan.steps.length);
      summary.textContent = coverageLine(plan);
      const blocked = plan.blocked.slice(0, 50);
      replaceChildren(
        body,
        plan.steps.length ? el('div', { class: 'toolbar' }, download('Download every step (one stream)', 'plan.yaml', planStream(plan))) : null,
        ...plan.steps.map(stepCard),
        blocked.length
          ? el(
              'section',
              { class: 'plan-blocked' },
              el('h4', {}, `Cannot become STRICT yet (${plan.blocked.length} workloads)`),
              el(
                'ul',
                {},
                ...blocked.map((b) =>
                  el(
                    'li',
                    { attrs: { 'data-workload': b.workload } },
                    el('strong', {}, b.workload + (b.ports.length ? ` port ${b.ports.join(',')}` : '')),
                    ...b.reasons.map((r) =>
                      el(
                        'div',
                        {},
                        `${r.detail}${r.examples.length ? ` (${r.callers} caller(s), e.g. ${r.examples.join(', ')})` : ''}`,
                        el('div', { class: 'muted' }, `To unblock: ${r.unblock}`),
                      ),
                    ),
                  ),
                ),
              ),
            )
          : null,
        ...plan.notes.map((n) => el('p', { class: 'muted' }, n)),
      );
    },
    error(message) {
      summary.textContent = message;
      replaceChildren(body);
    },
  };
}
