// Try a connection: pick a server workload and port and a peer, and see what the meshlock filter
// decides — computed in the worker by the filter's own configuration and decision code from the
// exact plugin configuration its WasmPlugin carries — next to what `reach` predicts.

import { el, replaceChildren } from '../dom';
import { workloadKey } from '../model';
import type { AnalyzeReport, TryResult } from '../types';
import { callList } from './common';

export interface TryRequest {
  workload: string;
  port: number;
  peerKind: 'workload' | 'spiffe' | 'plaintext' | 'tls';
  peer: string | null;
}

export interface TryView {
  root: HTMLElement;
  /** New input: the server and client choices follow the workloads of the report. */
  render(report: AnalyzeReport): void;
  show(result: TryResult, request: TryRequest): void;
  error(message: string): void;
}

/** Above this many workloads the server and client are typed (`ns/name`), not picked from a list:
 * ten thousand options cost the page's main thread more than they help. */
export const MAX_CHOICES = 1000;

export function tryView(run: (req: TryRequest) => void): TryView {
  const server = el('select', { attrs: { 'aria-label': 'server workload', id: 'try-server' } });
  const serverText = el('input', { attrs: { type: 'text', id: 'try-server-text', 'aria-label': 'server workload', placeholder: 'namespace/name' } });
  const clientText = el('input', { attrs: { type: 'text', id: 'try-client-text', 'aria-label': 'client workload', placeholder: 'namespace/name' } });
  const port = el('select', { attrs: { 'aria-label': 'server port', id: 'try-port' } });
  const peerKind = el(
    'select',
    { attrs: { 'aria-label': 'kind of peer', id: 'try-peer-kind' } },
    el('option', { attrs: { value: 'workload' } }, 'a workload of the mesh'),
    el('option', { attrs: { value: 'spiffe' } }, 'a SPIFFE identity'),
    el('option', { attrs: { value: 'plaintext' } }, 'plaintext'),
    el('option', { attrs: { value: 'tls' } }, 'TLS without a client certificate'),
  );
  const client = el('select', { attrs: { 'aria-label': 'client workload', id: 'try-client' } });
  const spiffe = el('input', {
    attrs: { type: 'text', id: 'try-spiffe', 'aria-label': 'SPIFFE ID', placeholder: 'spiffe://cluster.local/ns/NAMESPACE/sa/ACCOUNT' },
  });
  const go = el('button', { attrs: { type: 'button', id: 'try-go' } }, 'Try');
  const result = el('div', { class: 'try-result', attrs: { 'aria-live': 'polite' } });
  const config = el('pre', { class: 'try-config' });
  const download = el('button', { class: 'small', attrs: { type: 'button', id: 'try-download' } }, 'Download the plugin configuration');
  const configBox = el('details', { class: 'try-config-box' }, el('summary', {}, 'The filter configuration (the WasmPlugin\u2019s pluginConfig)'), download, config);
  configBox.hidden = true;
  const root = el(
    'div',
    { class: 'try-view' },
    el(
      'p',
      { class: 'muted' },
      'What the meshlock filter on a workload port decides for one connection, computed by the filter\u2019s own code from the configuration its WasmPlugin carries, next to what reach predicts for the call.',
    ),
    el('div', { class: 'toolbar' }, 'server', server, serverText, 'port', port),
    el('div', { class: 'toolbar' }, 'peer', peerKind, client, clientText, spiffe, go),
    result,
    configBox,
  );
  let report: AnalyzeReport | null = null;
  let byKey = new Map<string, AnalyzeReport['workloads'][number]>();
  let typed = false;
  let lastConfig = '';
  const serverValue = () => (typed ? serverText.value.trim() : server.value);
  const clientValue = () => (typed ? clientText.value.trim() : client.value);

  const ports = () => {
    const w = byKey.get(serverValue());
    replaceChildren(port, ...(w?.ports ?? []).map((p) => el('option', { attrs: { value: String(p.port) } }, `${p.port} (${p.mode})`)));
  };
  const peerInputs = () => {
    client.hidden = typed || peerKind.value !== 'workload';
    clientText.hidden = !typed || peerKind.value !== 'workload';
    spiffe.hidden = peerKind.value !== 'spiffe';
  };
  server.addEventListener('change', ports);
  serverText.addEventListener('change', ports);
  peerKind.addEventListener('change', peerInputs);
  go.addEventListener('click', () => {
    const kind = peerKind.value as TryRequest['peerKind'];
    const peer = kind === 'workload' ? clientValue() : kind === 'spiffe' ? spiffe.value : null;
    if (!serverValue() || !port.value) {
      replaceChildren(result, el('p', { class: 'muted' }, 'Choose a server workload with a port.'));
      return;
    }
    // The last answer goes at once: a decision on screen is always the one for these inputs.
    replaceChildren(result, el('p', { class: 'muted' }, 'Asking the filter\u2026'));
    run({ workload: serverValue(), port: Number(port.value), peerKind: kind, peer });
  });
  download.addEventListener('click', () => {
    const blob = new Blob([lastConfig], { type: 'application/json' });
    const a = el('a', { attrs: { href: URL.createObjectURL(blob), download: `meshlock-plugin-config-${serverValue().replace('/', '-')}.json` } });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  });
  peerInputs();

  return {
    root,
    render(r) {
      report = r;
      // A decision for the previous input no longer holds.
      replaceChildren(result);
      byKey = new Map(r.workloads.map((w) => [workloadKey(w), w]));
      typed = r.workloads.length > MAX_CHOICES;
      server.hidden = typed;
      serverText.hidden = !typed;
      if (typed) {
        replaceChildren(server);
        replaceChildren(client);
      } else {
        const [sv, cv] = [server.value, client.value];
        const servers = r.workloads.filter((w) => w.sidecar && w.ports.length > 0).map(workloadKey);
        // Every workload is offered; the engine says when one is an endpoint that calls nothing.
        const clients = r.workloads.map(workloadKey);
        replaceChildren(server, ...servers.map((k) => el('option', { attrs: { value: k } }, k)));
        replaceChildren(client, ...clients.map((k) => el('option', { attrs: { value: k } }, k)));
        if (servers.includes(sv)) server.value = sv;
        if (clients.includes(cv)) client.value = cv;
      }
      peerInputs();
      ports();
    },
    show(r, req) {
      lastConfig = r.configuration;
      config.textContent = JSON.stringify(JSON.parse(r.configuration), null, 2);
      configBox.hidden = false;
      replaceChildren(
        result,
        ...r.decisions.map((d) =>
          el(
            'div',
            { class: `try-decision verdict-${d.filter.verdict}`, attrs: { 'data-verdict': d.filter.verdict, 'data-reason': d.filter.reason } },
            el('h4', {}, `The filter on ${req.workload} port ${req.port}: `, el('code', {}, `${d.filter.verdict} (${d.filter.reason})`)),
            el('div', { class: 'muted' }, `peer: ${d.filter.peer} \u00b7 counter ${d.filter.metric}`),
            d.predicted ? el('div', { class: 'try-predicted' }, 'reach predicts:', callList([d.predicted])) : null,
          ),
        ),
      );
    },
    error(message) {
      configBox.hidden = true;
      replaceChildren(result, el('p', { class: 'error-text' }, message));
    },
  };
}
