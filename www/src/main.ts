// The playground page: wires the editor, the analysis worker and the views together.
// Everything shown comes from meshlock-core through the worker; this file only routes it.

import type { EditorView } from '@codemirror/view';
import { el, replaceChildren } from './dom';
import { createEditor, jumpToLine, setText, showDiagnostics } from './editor';
import { Engine, Superseded } from './engine';
import { EXAMPLES, ISTIO_VERSIONS } from './examples';
import { LONG_URL, ShareError, decodeShare, encodeShare, isShareFragment } from './share';
import { type MatrixFilter, type PartialPairs, sameFilter } from './model';
import type { NamespaceCell } from './protocol';
import type {
  AnalysisResult,
  AnalyzeReport,
  Call,
  ConvertResult,
  DiffReport,
  Explanation,
  Inventory,
  LoadResult,
  NamespacePair,
  NamespaceSummary,
  Plan,
  ReachSample,
  TryResult,
  WorkloadReport,
} from './types';
import { fmt } from './views/common';
import { EDITOR_FILE, renderDiagnostics } from './views/diagnostics';
import { MAX_NODES, graphView } from './views/graph';
import { matrixView } from './views/matrix';
import { planView } from './views/plan';
import { tryView } from './views/tryconn';
import { whatIfView } from './views/whatif';
import { workloadsView } from './views/workloads';
import './style.css';

const byId = <T extends HTMLElement>(id: string): T => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return node as T;
};

const engine = new Engine(() => new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }));

const exampleSelect = byId<HTMLSelectElement>('example');
const versionSelect = byId<HTMLSelectElement>('istio-version');
const status = byId<HTMLElement>('status');
const notice = byId<HTMLElement>('notice');
const diagPanel = byId<HTMLElement>('diagnostics');
const shareOut = byId<HTMLInputElement>('share-url');

for (const ex of EXAMPLES) exampleSelect.append(el('option', { attrs: { value: ex.id } }, ex.title));
for (const v of ISTIO_VERSIONS) versionSelect.append(el('option', { attrs: { value: v.value } }, v.label));

let editor: EditorView;
const jump = (line: number) => jumpToLine(editor, line);
let analyses = 0;

function say(message: string, kind: 'info' | 'error' = 'info'): void {
  notice.textContent = message;
  notice.dataset.kind = kind;
  notice.hidden = message === '';
}

// --- views ---
const workloads = workloadsView(
  jump,
  (workload) =>
    engine.run<Explanation>('explain', {
      op: 'explain',
      yaml: editor.state.doc.toString(),
      version: versionSelect.value,
      workload,
      port: null,
    }),
  (keys) =>
    engine.run<WorkloadReport[]>('cards', {
      op: 'workloads',
      yaml: editor.state.doc.toString(),
      version: versionSelect.value,
      keys,
    }),
);
const graph = graphView(
  (workload) => {
    selectTab('workloads');
    workloads.reveal(workload);
  },
  (cell) => void drill(cell),
);
const matrix = matrixView(
  (cell) => void drill(cell),
  (filter) => filterNamespaces(filter),
);
type CallsInput = Parameters<typeof graph.render>[0];
/** What the graph and the matrix are to show next. Each is drawn when its tab is shown: drawing
 * a hidden view of a large mesh would only keep the main thread busy. */
const undrawn: { graph: CallsInput | null; matrix: CallsInput | null } = { graph: null, matrix: null };
const whatIf = whatIfView(
  () => scheduleDiff(),
  () => editor.state.doc.toString(),
);
byId('panel-workloads').append(workloads.root);
byId('panel-graph').append(graph.root);
byId('panel-matrix').append(matrix.root);
byId('panel-whatif').append(whatIf.root);
const tryConn = tryView(async (req) => {
  try {
    const r = await engine.run<TryResult>('try', {
      op: 'try',
      yaml: editor.state.doc.toString(),
      version: versionSelect.value,
      ...req,
    });
    tryConn.show(r, req);
  } catch (e) {
    if (!(e instanceof Superseded)) tryConn.error((e as Error).message);
  }
});
byId('panel-try').append(tryConn.root);
const planPanel = planView();
byId('panel-plan').append(planPanel.root);

// --- tabs ---
const tabs = [...document.querySelectorAll<HTMLButtonElement>('[role=tab]')];
function selectTab(name: string): void {
  for (const t of tabs) {
    const on = t.dataset.tab === name;
    t.setAttribute('aria-selected', String(on));
    const panel = document.getElementById(`panel-${t.dataset.tab}`);
    if (panel) panel.hidden = !on;
  }
  drawShownViews();
  if (name === 'whatif') {
    if (whatIf.text() === '') whatIf.reset(editor.state.doc.toString());
    scheduleDiff();
  }
  if (name === 'plan') schedulePlan();
}
for (const t of tabs) t.addEventListener('click', () => selectTab(t.dataset.tab ?? 'workloads'));

// --- analysis, as you type ---
let timer: ReturnType<typeof setTimeout> | undefined;
let delay = 150;
/** The graph and the matrix get at most this many calls (failing first); the counts cover all. */
const CALL_LIMIT = 5000;
/** Above this many workloads the graph and the matrix start at the namespace level. */
const NAMESPACE_FIRST = MAX_NODES;
/** Namespace pairs the engine hands over at most, the most failing first (2,500 namespaces have
 * 6.25 million pairs). The square of the graph's most boxes: a mesh whose namespaces the graph
 * can draw has all its pairs here, and below the limit the page filters them itself. */
const NAMESPACE_PAIR_LIMIT = MAX_NODES * MAX_NODES;

/** Runs one step of drawing the page under a `performance` measure (`meshlock:NAME`), so that
 * what keeps the main thread busy on a large input can be read from the browser's timeline. */
function timed<T>(name: string, f: () => T): T {
  const start = performance.now();
  try {
    return f();
  } finally {
    performance.measure(`meshlock:${name}`, { start, end: performance.now() });
  }
}

/** The graph and the matrix show the same level: workloads, namespaces, or one pair drilled into. */
function showCalls(input: {
  report: AnalyzeReport;
  calls: readonly Call[];
  namespaces?: NamespacePair[];
  partial?: PartialPairs | null;
  drilled?: NamespaceCell | null;
}): void {
  undrawn.graph = input;
  undrawn.matrix = input;
  drawShownViews();
}

function drawShownViews(): void {
  const g = undrawn.graph;
  if (g && !byId('panel-graph').hidden) {
    undrawn.graph = null;
    timed('graph', () => graph.render(g));
  }
  const m = undrawn.matrix;
  if (m && !byId('panel-matrix').hidden) {
    undrawn.matrix = null;
    timed('matrix', () => matrix.render(m));
  }
}

/** Ends the current task; what follows runs in a new one, so that the page can paint and take
 * input between the steps of drawing a large report. */
const nextTask = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** The namespace level of the views: the summary of the last analysis and the pair drilled into.
 * `partial` when the summary holds only the most failing pairs. */
let level: {
  yaml: string;
  version: string;
  report: AnalyzeReport;
  namespaces: NamespacePair[];
  partial: PartialPairs | null;
} | null = null;
let drilled: NamespaceCell | null = null;

const ALL_PAIRS: MatrixFilter = { text: '', state: 'all' };

/** The summary's namespace pairs that `filter` keeps, the most failing at most `NAMESPACE_PAIR_LIMIT`.
 * No example calls: the page shows no failure causes (3 calls for each of the 2,066 causes of
 * a 10,000-service mesh were 2.9 MB when every cause crossed). */
function summaryOf(yaml: string, version: string, filter: MatrixFilter, lane: string): Promise<NamespaceSummary & { millis: number }> {
  return engine.run(lane, { op: 'summary', yaml, version, examples: 0, text: filter.text, state: filter.state, limit: NAMESPACE_PAIR_LIMIT });
}

function partialOf(s: NamespaceSummary, filter: MatrixFilter): PartialPairs {
  return { pairs: s.pairs, matching: s.matching, names: s.names, filter };
}

/** The matrix's filter when the page holds only part of the pairs: the engine filters them all
 * (a while after the last keystroke: each answer expands every pair), and the matrix is drawn
 * again with what it keeps. The graph keeps the unfiltered pairs. */
let filterTimer: ReturnType<typeof setTimeout> | undefined;
/** The filter the matrix waits for (`null`: none). */
let wantedFilter: MatrixFilter | null = null;
function filterNamespaces(filter: MatrixFilter | null): void {
  clearTimeout(filterTimer);
  wantedFilter = filter;
  if (!filter) return;
  filterTimer = setTimeout(async () => {
    const at = level;
    if (!at) return;
    try {
      const s = await summaryOf(at.yaml, at.version, filter, 'pairs');
      // A newer analysis, another filter typed since, or a pair drilled into.
      if (level !== at || !wantedFilter || !sameFilter(wantedFilter, filter) || drilled) return;
      // Still part of the pairs, even when all that the filter keeps are here: another filter
      // needs the engine again.
      undrawn.matrix = { report: at.report, calls: [], namespaces: s.namespaces, partial: partialOf(s, filter), drilled: null };
      drawShownViews();
    } catch (e) {
      if (!(e instanceof Superseded)) say(`The engine could not filter the namespace pairs: ${(e as Error).message}`, 'error');
    }
  }, 300);
}

async function drill(cell: NamespaceCell | null): Promise<void> {
  drilled = cell;
  const at = level;
  if (!at) return;
  if (!cell) {
    // The namespace level lists no calls: the summary's counts are all it shows.
    showCalls({ report: at.report, calls: [], namespaces: at.namespaces, partial: at.partial, drilled: null });
    return;
  }
  try {
    const d = await engine.run<ReachSample>('drill', {
      op: 'reach',
      yaml: at.yaml,
      version: at.version,
      limit: CALL_LIMIT,
      between: cell,
    });
    if (level !== at || drilled !== cell) return; // a newer analysis or click
    showCalls({ report: at.report, calls: d.calls, namespaces: at.namespaces, partial: at.partial, drilled: cell });
  } catch (e) {
    if (!(e instanceof Superseded)) say(`The engine could not list the calls: ${(e as Error).message}`, 'error');
  }
}
/** A reachability pass older than this is abandoned when the text changes again. */
const CANCEL_AFTER_MS = 400;

function schedule(): void {
  document.body.dataset.stale = 'true';
  engine.cancelIfSlow('reach', CANCEL_AFTER_MS);
  clearTimeout(timer);
  timer = setTimeout(analyze, delay);
}


async function analyze(): Promise<void> {
  const yaml = editor.state.doc.toString();
  const version = versionSelect.value;
  document.body.dataset.busy = 'true';
  try {
    const r = await engine.run<AnalysisResult>('analyze', { op: 'analyze', yaml, version });
    const current = () => editor.state.doc.toString() === yaml && versionSelect.value === version;
    if (!current()) return; // stale
    // One task per step: the one that received the report has already rebuilt it.
    await nextTask();
    if (!current()) return;
    showDiagnostics(
      editor,
      r.report.diagnostics.filter((d) => d.file === EDITOR_FILE),
    );
    timed('diagnostics', () => renderDiagnostics(diagPanel, r.report.diagnostics, jump));
    await nextTask();
    if (!current()) return;
    timed('workloads', () => workloads.render(r.report));
    await nextTask();
    if (!current()) return;
    timed('try', () => tryConn.render(r.report));
    const chosen = version === 'auto' ? ` (auto)` : '';
    const head = `Istio ${r.istioVersion} behaviour${chosen} \u00b7 ${fmt(r.report.workloads.length)} workloads`;
    status.textContent = `${head} \u00b7 computing who can reach whom\u2026`;
    const reachNote = byId('reach-note');
    let total: number;
    let failing: number;
    let millis: number;
    if (r.report.workloads.length > NAMESPACE_FIRST) {
      // Namespaces first: the linear-time summary is all the views need until a pair is
      // drilled into (listing calls of a large mesh, even a sample of them, means evaluating
      // them one by one).
      // The pairs the engine hands over are bounded (the most failing first); the matrix asks
      // for the ones its filter keeps.
      const summary = await summaryOf(yaml, version, ALL_PAIRS, 'reach');
      if (!current()) return;
      ({ total, failing } = summary.counts);
      millis = summary.millis;
      // Below the limit the page holds every pair and filters them itself, as it always did.
      const partial = summary.truncated ? partialOf(summary, ALL_PAIRS) : null;
      level = { yaml, version, report: r.report, namespaces: summary.namespaces, partial };
      const still =
        drilled &&
        (partial
          ? partial.names.includes(drilled.client) && partial.names.includes(drilled.service)
          : summary.namespaces.some((p) => p.from === drilled?.client && p.to === drilled?.service));
      if (still) void drill(drilled);
      else {
        drilled = null;
        showCalls({ report: r.report, calls: [], namespaces: summary.namespaces, partial, drilled: null });
      }
      reachNote.hidden = false;
      reachNote.textContent =
        `A large input: ${fmt(total)} calls (${fmt(failing)} fail, ${fmt(summary.counts.plaintext)} succeed in plaintext). ` +
        'The graph and the matrix start at the namespace level: click a box, an edge or a cell for its calls. ' +
        (partial
          ? `The page holds the ${fmt(summary.namespaces.length)} most failing of ${fmt(summary.pairs)} namespace pairs: ` +
            'type a namespace in the matrix filter to narrow. '
          : '') +
        '`meshlock reach` on the command line lists every call.';
    } else {
      const s = await engine.run<ReachSample>('reach', { op: 'reach', yaml, version, limit: CALL_LIMIT });
      if (!current()) return;
      ({ total, failing, millis } = s);
      level = null;
      drilled = null;
      showCalls({ report: r.report, calls: s.calls });
      reachNote.hidden = !s.truncated;
      reachNote.textContent = s.truncated
        ? `A large input: ${fmt(s.total)} calls. The graph and the matrix show ${fmt(s.calls.length)} of them, ` +
          `failing ones first (${fmt(s.failing)} fail, ${fmt(s.plaintext)} succeed in plaintext). ` +
          '`meshlock reach` on the command line lists every call.'
        : '';
    }
    // Keep typing smooth on large inputs: wait longer between analyses that take long.
    delay = Math.min(1000, Math.max(150, (r.millis + millis) * 2));
    status.textContent =
      `${head} \u00b7 ${fmt(total)} calls, ${fmt(failing)} failing \u00b7 ` +
      `analysed in ${Math.round(r.millis + millis)} ms \u00b7 meshlock ${r.engineVersion}`;
    analyses += 1;
    document.body.dataset.analyses = String(analyses);
    document.body.dataset.stale = 'false';
    document.body.dataset.ready = 'true';
    document.body.dataset.istio = r.istioVersion;
    if (notice.dataset.kind === 'error' && notice.dataset.source === 'engine') say('');
    if (!byId('panel-whatif').hidden) scheduleDiff();
    if (!byId('panel-plan').hidden) schedulePlan();
  } catch (e) {
    if (e instanceof Superseded) return;
    say(`The engine could not analyse the input: ${(e as Error).message}`, 'error');
    notice.dataset.source = 'engine';
  } finally {
    document.body.dataset.busy = 'false';
  }
}

/** The plan of the current input (the Plan tab), recomputed when the tab is open and the text changes. */
let planTimer: ReturnType<typeof setTimeout> | undefined;
function schedulePlan(): void {
  clearTimeout(planTimer);
  engine.cancelIfSlow('plan', CANCEL_AFTER_MS);
  planTimer = setTimeout(async () => {
    const yaml = editor.state.doc.toString();
    try {
      const p = await engine.run<Plan>('plan', { op: 'plan', yaml, version: versionSelect.value });
      if (editor.state.doc.toString() !== yaml) return;
      planPanel.render(p);
    } catch (e) {
      if (e instanceof Superseded) return;
      planPanel.error(`No plan: ${(e as Error).message}`);
    }
  }, 150);
}

let diffTimer: ReturnType<typeof setTimeout> | undefined;
function scheduleDiff(): void {
  clearTimeout(diffTimer);
  engine.cancelIfSlow('diff', CANCEL_AFTER_MS);
  diffTimer = setTimeout(async () => {
    try {
      const d = await engine.run<DiffReport>('diff', {
        op: 'diff',
        before: editor.state.doc.toString(),
        after: whatIf.text(),
        version: versionSelect.value,
      });
      whatIf.render(d);
    } catch (e) {
      if (!(e instanceof Superseded)) whatIf.error(`The engine could not compare: ${(e as Error).message}`);
    }
  }, delay);
}

// --- inputs: examples, version, share links ---
function load(yaml: string, istio: string): void {
  byId('convert-out').hidden = true;
  versionSelect.value = ISTIO_VERSIONS.some((v) => v.value === istio) ? istio : 'auto';
  setText(editor, yaml);
  whatIf.reset(yaml);
  clearTimeout(timer);
  void analyze();
}

function loadExample(id: string, keepNotice = false): void {
  const ex = EXAMPLES.find((x) => x.id === id) ?? EXAMPLES[0];
  if (!ex) return;
  exampleSelect.value = ex.id;
  // A share fragment would restore old text on reload: the URL now names no state.
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  shareOut.value = '';
  shareOut.hidden = true;
  if (!keepNotice) say('');
  // An example stands alone: files opened before are put away.
  if (document.body.dataset.loaded) void loadFiles([]);
  load(ex.yaml, ex.istio);
}

async function loadFragment(): Promise<boolean> {
  if (!isShareFragment(location.hash)) return false;
  try {
    const state = await decodeShare(location.hash);
    exampleSelect.value = '';
    load(state.yaml, state.istio);
    say('Loaded from the link. Nothing was sent anywhere: the text travels inside the URL fragment.');
    return true;
  } catch (e) {
    say(e instanceof ShareError ? `This link cannot be opened: ${e.message}` : String(e), 'error');
    return false;
  }
}

exampleSelect.addEventListener('change', () => exampleSelect.value && loadExample(exampleSelect.value));
versionSelect.addEventListener('change', () => {
  clearTimeout(timer);
  void analyze();
});
window.addEventListener('hashchange', () => void loadFragment());

byId('share').addEventListener('click', async () => {
  const fragment = await encodeShare({ yaml: editor.state.doc.toString(), istio: versionSelect.value });
  history.replaceState(null, '', `${location.pathname}${location.search}#${fragment}`);
  shareOut.value = location.href;
  shareOut.hidden = false;
  shareOut.select();
  let copied = false;
  try {
    await navigator.clipboard.writeText(location.href);
    copied = true;
  } catch {
    // No clipboard permission (or a headless browser): the link is selected in the box.
  }
  const long = location.href.length > LONG_URL;
  say(
    `${copied ? 'Link copied' : 'Link ready'} (${location.href.length} characters).` +
      (long ? ' Some chat tools and servers cut links this long: download the YAML instead if it breaks.' : ''),
  );
});

// --- a cluster from files: read in the page, analysed with the editor's text on top ---
const loadedBar = byId<HTMLElement>('loaded');
const fileInput = byId<HTMLInputElement>('file-input');

function kindList(counts: Record<string, number>): string {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, n]) => `${k} ${fmt(n)}`)
    .join(', ');
}

function showLoaded(files: { name: string; bytes: number }[], inventory: Inventory | null): void {
  if (files.length === 0 || !inventory) {
    loadedBar.hidden = true;
    replaceChildren(loadedBar);
    delete document.body.dataset.loaded;
    return;
  }
  const bytes = files.reduce((n, f) => n + f.bytes, 0);
  const documents = Object.values(inventory.read).reduce((n, x) => n + x, 0);
  const skipped = Object.values(inventory.skipped).reduce((n, x) => n + x, 0);
  const unload = el('button', { class: 'small', attrs: { type: 'button', id: 'unload' } }, 'Unload');
  unload.addEventListener('click', () => void loadFiles([]));
  replaceChildren(
    loadedBar,
    el('strong', {}, `Cluster files: ${files.map((f) => f.name).join(', ')}`),
    ` \u00b7 ${fmt(bytes)} bytes read \u00b7 ${fmt(documents)} documents read: `,
    el('span', { class: 'kinds-read' }, kindList(inventory.read) || 'none'),
    skipped > 0 ? el('span', { class: 'kinds-skipped' }, ` \u00b7 skipped (no bearing on mTLS): ${kindList(inventory.skipped)}`) : '',
    ' \u00b7 the editor\u2019s text is read on top of them. ',
    unload,
  );
  loadedBar.hidden = false;
  document.body.dataset.loaded = String(files.length);
}

async function loadFiles(list: readonly File[]): Promise<void> {
  try {
    const files = await Promise.all(list.map(async (f) => ({ name: f.name, text: await f.text(), bytes: f.size })));
    say(files.length ? `Reading ${files.length} file(s), ${fmt(files.reduce((n, f) => n + f.bytes, 0))} bytes\u2026` : '');
    const r = await engine.run<LoadResult>('load', { op: 'load', files: files.map(({ name, text }) => ({ name, text })) });
    say('');
    showLoaded(files, r.inventory);
    if (files.length > 0) {
      exampleSelect.value = '';
      if (EXAMPLES.some((e) => e.yaml === editor.state.doc.toString())) setText(editor, '');
    }
    clearTimeout(timer);
    void analyze();
  } catch (e) {
    if (!(e instanceof Superseded)) say(`Could not read the files: ${(e as Error).message}`, 'error');
  }
}

byId('open-files').addEventListener('click', () => fileInput.click());
fileInput.addEventListener('change', () => {
  void loadFiles([...(fileInput.files ?? [])]);
  fileInput.value = '';
});
document.addEventListener('dragover', (ev) => {
  if (ev.dataTransfer?.types.includes('Files')) ev.preventDefault();
});
document.addEventListener('drop', (ev) => {
  const files = [...(ev.dataTransfer?.files ?? [])];
  if (files.length === 0) return;
  ev.preventDefault();
  void loadFiles(files);
});

byId('download').addEventListener('click', () => {
  const blob = new Blob([editor.state.doc.toString()], { type: 'application/yaml' });
  const a = el('a', { attrs: { href: URL.createObjectURL(blob), download: 'meshlock-playground.yaml' } });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
});

byId('download-report').addEventListener('click', async () => {
  try {
    const yaml = editor.state.doc.toString();
    const bytes = await engine.run<Uint8Array<ArrayBuffer>>('report', { op: 'report', yaml, version: versionSelect.value });
    const blob = new Blob([bytes], { type: 'application/json' });
    const a = el('a', { attrs: { href: URL.createObjectURL(blob), download: 'meshlock-report.json' } });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  } catch (e) {
    say((e as Error).message, 'error');
  }
});

byId('convert').addEventListener('click', async () => {
  const out = byId<HTMLElement>('convert-out');
  out.hidden = false;
  try {
    const r = await engine.run<ConvertResult>('convert', { op: 'convert', yaml: editor.state.doc.toString() });
    const yaml = r.yaml;
    replaceChildren(
      out,
      el('h4', {}, 'v1beta1 PeerAuthentication (from meshlock convert)'),
      r.unreadable ? el('p', { class: 'sev-error' }, `${r.unreadable} document(s) could not be parsed.`) : null,
      ...r.diagnostics.map((d) => el('p', { class: `sev-${d.severity}` }, `line ${d.line}: ${d.message}`)),
      el('pre', { class: 'convert-yaml' }, yaml || '# nothing to convert: the input holds no MeshPolicy or Policy'),
      el('button', { class: 'small', attrs: { type: 'button' }, on: { click: () => (out.hidden = true) } }, 'Close'),
    );
  } catch (e) {
    replaceChildren(out, el('p', { class: 'error-text' }, (e as Error).message));
  }
});

// --- start ---
editor = createEditor(byId('editor'), '', schedule, 'policy YAML');
selectTab('workloads');
void (async () => {
  // A link that cannot be opened leaves its message up over the first example.
  if (!(await loadFragment())) loadExample(EXAMPLES[0]?.id ?? '', true);
})();

// A read-only hook for the browser tests: CodeMirror renders only the visible lines, so the
// DOM alone cannot tell the whole text.
declare global {
  interface Window {
    meshlockPlayground?: { text(): string; whatIfText(): string };
  }
}
window.meshlockPlayground = {
  text: () => editor.state.doc.toString(),
  whatIfText: () => whatIf.text(),
};
