#!/usr/bin/env node
// Browser tests of the playground: Debian's chromium, driven headless by playwright-core,
// against `meshlock serve` (started here on 127.0.0.1 with a port the OS picks, stopped by PID).
//
// Usage: node tests/browser/playground.mjs [path/to/meshlock]
//   MESHLOCK_BIN   the meshlock binary (default: target/debug/meshlock)
//   CHROMIUM       the browser (default: /usr/bin/chromium)
// Prints one line per check and a closing `N passed, M failed`; exits 1 when a check fails.
// Screenshots go to tests/artifacts/.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const artifacts = path.join(root, 'tests', 'artifacts');
const require = createRequire(path.join(root, 'www', 'package.json'));
const { chromium } = require('playwright-core');

const BIN = path.resolve(process.argv[2] ?? process.env.MESHLOCK_BIN ?? path.join(root, 'target', 'debug', 'meshlock'));
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const STEP_TIMEOUT = 15_000;
const TOTAL_TIMEOUT = 300_000;

let passed = 0;
let failed = 0;
let server = null;
let workers = 0;
let browser = null;

function stopServer() {
  if (server && server.exitCode === null && server.pid) {
    try {
      process.kill(server.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}
process.on('exit', stopServer);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    stopServer();
    process.exit(130);
  });
}
const watchdog = setTimeout(() => {
  console.error(`browser tests: over ${TOTAL_TIMEOUT / 1000}s, giving up`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  stopServer();
  process.exit(1);
}, TOTAL_TIMEOUT);
watchdog.unref();

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

const VERBOSE = Boolean(process.env.VERBOSE);
let stepAt = Date.now();
/** With VERBOSE=1, prints how long each step of a check took. */
function step(label) {
  if (VERBOSE) console.log(`      ${Date.now() - stepAt} ms  ${label}`);
  stepAt = Date.now();
}

/** With CHECK=REGEX, runs only the checks whose name matches (while working on one view; a
 * check may need an earlier one, e.g. CHECK='page loads|cluster dump'). */
const ONLY = new RegExp(process.env.CHECK ?? '');

async function check(name, fn) {
  if (!ONLY.test(name)) return;
  const started = Date.now();
  try {
    await fn();
    passed += 1;
    console.log(`ok    ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL  ${name}: ${e instanceof Error ? e.message.split('\n')[0] : e}`);
  }
}

/** Starts `meshlock serve --addr 127.0.0.1:0` and resolves with the URL it prints. */
function startServer() {
  return new Promise((resolve, reject) => {
    if (!fs.existsSync(BIN)) {
      reject(new Error(`no meshlock binary at ${BIN} (cargo build -p meshlock-cli)`));
      return;
    }
    server = spawn(BIN, ['serve', '--addr', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`meshlock serve printed no URL in 15 s: ${out}${err}`)), 15_000);
    server.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/http:\/\/127\.0\.0\.1:\d+\//);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    });
    server.stderr.on('data', (d) => (err += d));
    server.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`meshlock serve exited with ${code}: ${err.trim()}`));
    });
  });
}

/** URL paths of every file `meshlock serve` embeds (www/dist, as built before this run). */
function servedAssets() {
  const dist = path.join(root, 'www', 'dist');
  const out = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else out.push(`/${path.relative(dist, full).split(path.sep).join('/')}`);
    }
  };
  walk(dist);
  return out;
}

const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `${name}.png`) });

async function analyses(page) {
  return Number((await page.getAttribute('body', 'data-analyses')) ?? '0');
}

/** Runs `action`, then waits until the page has finished one more analysis. */
async function andAnalysed(page, action) {
  const before = await analyses(page);
  await action();
  await page.waitForFunction((n) => Number(document.body.dataset.analyses ?? '0') > n, before, { timeout: STEP_TIMEOUT });
  // Several edits can coalesce into one analysis; wait until the latest text is the analysed one.
  await page.waitForFunction(() => document.body.dataset.stale === 'false', null, { timeout: STEP_TIMEOUT });
}

async function editorText(page) {
  return page.evaluate(() => window.meshlockPlayground.text());
}

/** Replaces the whole main editor text by typing (select all + insertText). */
async function typeAll(page, text) {
  await page.click('#editor .cm-content');
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(text);
}

/** Puts the cursor at the end of the first editor line holding `needle` (scrolling to it). */
async function cursorAfter(page, editorSel, needle) {
  assert((await page.locator(`${editorSel} .cm-scroller`).count()) === 1, `no editor at ${editorSel}`);
  for (let i = 0; i < 40; i++) {
    const line = page.locator(`${editorSel} .cm-line`, { hasText: needle }).first();
    if ((await line.count()) > 0) {
      await line.click();
      await page.keyboard.press('End');
      return;
    }
    await page.locator(`${editorSel} .cm-scroller`).evaluate((s) => s.scrollBy(0, 300));
  }
  throw new Error(`no line with ${needle} in ${editorSel}`);
}

/**
 * Pastes `text` as a user would (a paste event with clipboard data). keyboard.insertText goes
 * through the DOM-mutation path of contenteditable, which takes minutes for 100 KB.
 */
async function paste(page, selector, text) {
  await page.locator(selector).evaluate((node, t) => {
    const data = new DataTransfer();
    data.setData('text/plain', t);
    node.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  }, text);
}

async function selectExample(page, id) {
  await andAnalysed(page, () => page.selectOption('#example', id));
}

// Every payload sets window.__xss (to its number) if the page ever runs it: as HTML (img/svg
// handlers, script), as an attribute breakout ("> then a tag), as a javascript: URL if one were
// used as a link, as a template expression if text were ever evaluated as a template.
const XSS = [
  '<img src=x onerror="window.__xss=1;alert(1)">',
  '<script>window.__xss=2</script>',
  '"><svg onload=window.__xss=3>',
  'javascript:window.__xss=4',
  "{{constructor.constructor('window.__xss=5')()}}",
  "'><iframe src=javascript:window.__xss=6>",
  '<a href="https://evil.example/leak" id=leak>click</a>',
];
const [IMG, SCRIPT, SVG, JSURL, TEMPLATE, IFRAME, LINK] = XSS;
const q = (s) => JSON.stringify(s);

/**
 * Untrusted YAML with a payload in every field the views print: names, namespaces, labels and
 * selectors, service accounts, port names, ports given as strings, DestinationRule hosts and
 * subsets, VirtualService subsets, alpha Policy targets (convert), and values the diagnostics
 * quote (a bad mode, a bad port key, a subset that does not exist). Istio 1.4 semantics, so
 * the alpha Policy applies and convert has something to print.
 */
const HOSTILE_YAML = `apiVersion: v1
kind: Namespace
metadata:
  name: ${q(IMG)}
  labels: {istio-injection: enabled}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${q(SCRIPT)}
  namespace: ${q(IMG)}
spec:
  template:
    metadata:
      labels: {app: ${q(SVG)}, ${q(JSURL)}: ${q(TEMPLATE)}}
    spec:
      serviceAccountName: ${q(JSURL)}
      containers:
      - name: ${q(LINK)}
        ports:
        - containerPort: 8080
          name: ${q(IFRAME)}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${q(LINK)}
  namespace: ${q(IMG)}
spec:
  template:
    metadata:
      labels: {app: ${q(TEMPLATE)}}
    spec:
      serviceAccountName: ${q(SVG)}
      containers:
      - name: c
        ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: ${q(SVG)}
  namespace: ${q(IMG)}
spec:
  selector: {app: ${q(SVG)}}
  ports:
  - name: ${q(SCRIPT)}
    port: 80
    targetPort: ${q(IFRAME)}
  - name: ${q(JSURL)}
    port: 90
    targetPort: "8080"
---
apiVersion: authentication.istio.io/v1alpha1
kind: Policy
metadata:
  name: ${q(TEMPLATE)}
  namespace: ${q(IMG)}
spec:
  targets:
  - name: ${q(SVG)}
    ports:
    - name: ${q(SCRIPT)}
  peers:
  - mtls: {}
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: ${q(IFRAME)}
  namespace: ${q(IMG)}
spec:
  selector:
    matchLabels: {app: ${q(SVG)}}
  mtls: {mode: ${q(SCRIPT)}}
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: ${q(LINK)}
  namespace: ${q(IMG)}
spec:
  portLevelMtls:
    ${q(SVG)}: {mode: STRICT}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata:
  name: ${q(JSURL)}
  namespace: ${q(IMG)}
spec:
  host: ${q(SVG + '.' + IMG + '.svc.cluster.local')}
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
  subsets:
  - name: ${q(SCRIPT)}
    labels: {app: ${q(TEMPLATE)}}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: ${q(IFRAME)}
  namespace: ${q(IMG)}
spec:
  hosts: [${q(SVG)}]
  http:
  - route:
    - destination: {host: ${q(SVG)}, subset: ${q(IFRAME)}}
`;

/** The payloads never ran, never became elements or attributes, and were not navigated to. */
async function assertInert(page, dialogs, where) {
  const found = await page.evaluate(() => {
    const all = [...document.querySelectorAll('*')];
    const handlers = all.flatMap((e) => [...e.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${e.tagName}[${a.name}]`));
    const jsUrls = all.flatMap((e) =>
      [...e.attributes].filter((a) => /^\s*javascript:/i.test(a.value) && a.name !== 'value').map((a) => `${e.tagName}[${a.name}]`),
    );
    return {
      xss: window.__xss,
      handlers,
      jsUrls,
      img: document.querySelectorAll('img[src="x"], img[src$="/x"]').length,
      scripts: [...document.querySelectorAll('script')].filter((s) => !s.src || s.textContent.includes('__xss')).length,
      iframes: document.querySelectorAll('iframe').length,
      leak: document.querySelectorAll('a#leak, a[href*="evil.example"]').length,
      svgOnload: document.querySelectorAll('svg[onload]').length,
    };
  });
  assert(found.xss === undefined, `${where}: window.__xss = ${found.xss}`);
  assert(dialogs.length === 0, `${where}: dialogs ${dialogs.join(' | ')}`);
  assert(found.handlers.length === 0, `${where}: event handler attributes ${found.handlers.join(', ')}`);
  assert(found.jsUrls.length === 0, `${where}: javascript: URLs in ${found.jsUrls.join(', ')}`);
  assert(found.img + found.scripts + found.iframes + found.leak + found.svgOnload === 0, `${where}: injected elements ${JSON.stringify(found)}`);
}

/** Visible text of `selector` holds `payload` verbatim (shown as text, not swallowed as markup). */
async function assertShownAsText(page, selector, payload, where) {
  const text = await page.locator(selector).first().evaluate((n) => n.textContent);
  assert(text.includes(payload), `${where}: ${payload} not shown as text in ${selector}: ${text.slice(0, 160)}`);
}

async function hostileChecks(page, context, dialogs, url) {
  await check('the inertness probe sees planted markup (so its silence below means something)', async () => {
    const blank = await context.newPage(); // about:blank: no request to the server
    try {
      const plants = [
        () => (window.__xss = 1),
        () => document.body.append(Object.assign(document.createElement('b'), { id: 'p' })) || document.getElementById('p').setAttribute('onclick', 'x'),
        () => document.body.append(Object.assign(document.createElement('a'), { href: 'javascript:void 0' })),
        () => document.body.append(Object.assign(document.createElement('iframe'), { srcdoc: 'x' })),
        () => document.body.append(Object.assign(document.createElement('script'), { type: 'text/plain', textContent: 'window.__xss=2' })),
      ];
      for (const plant of plants) {
        await blank.evaluate(() => {
          delete window.__xss;
          document.body.replaceChildren();
        });
        await blank.evaluate(plant);
        const caught = await assertInert(blank, [], 'probe').then(() => false, () => true);
        assert(caught, `not detected: ${plant}`);
      }
      await blank.evaluate(() => document.body.replaceChildren());
      await assertInert(blank, [], 'clean page');
      assert(await assertInert(blank, ['a dialog'], 'probe').then(() => false, () => true), 'a dialog not detected');
    } finally {
      await blank.close();
    }
  });

  await check('hostile YAML: payloads in every printed field stay text in the chains and diagnostics', async () => {
    await andAnalysed(page, () => page.selectOption('#istio-version', '1.4'));
    await andAnalysed(page, () => typeAll(page, HOSTILE_YAML));
    assert((await page.locator('section.workload').count()) === 2, `two workload cards: ${await page.locator('section.workload').count()}`);
    await assertShownAsText(page, '#panel-workloads', SCRIPT, 'cards');
    await assertShownAsText(page, '#panel-workloads', IMG, 'cards');
    await assertShownAsText(page, '#panel-workloads', LINK, 'cards');
    assert((await page.locator('#diagnostics li.diag').count()) >= 2, 'diagnostics listed');
    await assertShownAsText(page, '#diagnostics', SCRIPT, 'diagnostics (the bad mode is quoted)');
    await assertInert(page, dialogs, 'chains');
    // Every explain story (the engine's precedence text quotes names).
    for (const button of await page.locator('section.workload header button').all()) await button.click();
    await page.waitForFunction(
      () => [...document.querySelectorAll('section.workload .story')].every((s) => s.textContent !== '' && !s.textContent.includes('Asking the engine')),
      null,
      { timeout: STEP_TIMEOUT },
    );
    await assertShownAsText(page, 'section.workload .story', IMG, 'explain');
    await assertInert(page, dialogs, 'explain');
    await shot(page, 'hostile-chains');
  });

  await check('hostile YAML: graph, node and edge details, matrix and cell details stay inert', async () => {
    await page.click('#tab-graph');
    await assertShownAsText(page, 'svg.graph', SCRIPT, 'graph labels');
    for (const node of await page.locator('g.node circle.node-disc').all()) {
      await node.dispatchEvent('click');
      await assertInert(page, dialogs, 'node details');
    }
    await assertShownAsText(page, '.graph-view .details', IMG, 'node details');
    const edges = page.locator('g.edge path.edge-hit');
    assert((await edges.count()) > 0, 'the graph has calls');
    for (const edge of await edges.all()) {
      await edge.dispatchEvent('click');
      await assertInert(page, dialogs, 'edge details');
    }
    await shot(page, 'hostile-graph');
    await page.click('#tab-matrix');
    assert((await page.locator('table.matrix td.cell').count()) > 0, 'matrix cells');
    await assertShownAsText(page, '.matrix-view', SVG, 'matrix headers');
    await page.fill('.matrix-view input.filter', IMG);
    for (const cell of await page.locator('table.matrix td.cell button').all()) {
      await cell.click();
      await assertInert(page, dialogs, 'cell details');
    }
    await page.fill('.matrix-view input.filter', '');
    await assertInert(page, dialogs, 'matrix');
    await page.click('#tab-workloads');
  });

  await check('hostile YAML: what-if diff and convert stay inert', async () => {
    await page.click('#tab-whatif');
    await page.click('.whatif-view .toolbar button');
    await page.waitForFunction(() => window.meshlockPlayground.whatIfText() === window.meshlockPlayground.text(), null, { timeout: STEP_TIMEOUT });
    // The client side turns mTLS off in the copy: the call to the payload-named service changes.
    await cursorAfter(page, '.whatif-editor', 'mode: ISTIO_MUTUAL');
    for (let i = 0; i < 'ISTIO_MUTUAL}}'.length; i++) await page.keyboard.press('Backspace');
    await page.keyboard.insertText('DISABLE}}');
    await page.waitForFunction(() => Number(document.querySelector('.whatif-summary')?.dataset.changes ?? '0') > 0, null, { timeout: STEP_TIMEOUT });
    // Each keystroke is analysed; an intermediate text (half a mode) changes other calls first.
    // Wait for the diff of the final text: the call to the payload-named service (a timeout here
    // falls through to the assertion below, which says what the table holds).
    await page
      .waitForFunction((p) => document.querySelector('table.diff')?.textContent.includes(p), SVG, { timeout: STEP_TIMEOUT })
      .catch(() => {});
    await assertShownAsText(page, 'table.diff', SVG, 'diff rows');
    await assertInert(page, dialogs, 'what-if');
    await shot(page, 'hostile-whatif');
    await page.click('#tab-workloads');
    await page.click('#convert');
    await page.waitForSelector('.convert-yaml', { timeout: STEP_TIMEOUT });
    await assertShownAsText(page, '.convert-yaml', TEMPLATE, 'convert');
    await assertInert(page, dialogs, 'convert');
    await shot(page, 'hostile-convert');
  });

  await check('hostile YAML through a share link: restored as text, nothing runs', async () => {
    const text = await editorText(page);
    const before = await page.evaluate(() => location.hash);
    await page.click('#share');
    // The earlier share check left a link in the URL: wait for this text's link.
    await page.waitForFunction((h) => location.hash.startsWith('#v1.') && location.hash !== h, before, { timeout: STEP_TIMEOUT });
    const shared = page.url();
    const other = await context.newPage();
    try {
      const otherDialogs = [];
      other.on('dialog', (d) => {
        otherDialogs.push(d.message());
        d.dismiss().catch(() => {});
      });
      await other.goto(shared, { timeout: STEP_TIMEOUT });
      await other.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: STEP_TIMEOUT });
      assert((await other.evaluate(() => window.meshlockPlayground.text())) === text, 'the hostile text restored');
      assert(text.includes(SCRIPT) && text.includes(TEMPLATE), 'the shared text holds the payloads');
      await assertShownAsText(other, '#panel-workloads', SCRIPT, 'shared cards');
      await other.click('#tab-graph');
      await other.click('#tab-matrix');
      await assertInert(other, otherDialogs, 'shared page');
    } finally {
      await other.close();
      await page.selectOption('#istio-version', 'auto');
    }
    assert(new URL(url).origin === new URL(shared).origin, 'the share link stays on the origin');
  });
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  const url = await startServer();
  const origin = new URL(url).origin;
  console.log(`meshlock serve at ${url} (pid ${server.pid}), chromium ${CHROMIUM}`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1500, height: 950 } });
  context.setDefaultTimeout(STEP_TIMEOUT);
  const requests = [];
  const problems = [];
  context.on('request', (r) => requests.push(r.url()));
  const documentHeaders = new Map();
  context.on('response', (r) => {
    if (r.request().resourceType() === 'document') documentHeaders.set(r.url().split('#')[0], r.headers());
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  const dialogs = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.on('worker', (w) => {
    workers += 1;
    requests.push(w.url());
  });

  await check('the page loads, the engine answers, the first example is analysed', async () => {
    await page.goto(url, { timeout: STEP_TIMEOUT });
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: STEP_TIMEOUT });
    const status = await page.textContent('#status');
    assert(/Istio 1\.28 behaviour/.test(status), `status: ${status}`);
    assert((await page.locator('section.workload').count()) === 3, 'three workload cards');
    assert((await page.locator('#diagnostics li.diag').count()) >= 1, 'a diagnostic listed');
    await shot(page, 'workloads');
  });

  const examples = await page.$$eval('#example option', (os) => os.map((o) => o.value).filter(Boolean));
  await check(`the examples menu has the eight seed scenarios`, async () => {
    assert(examples.length === 8, `got ${examples.join(', ')}`);
  });
  for (const id of examples) {
    await check(`example ${id}: chains, graph and matrix render`, async () => {
      await selectExample(page, id);
      const text = await editorText(page);
      assert(text.length > 200, 'the editor holds the example');
      const cards = await page.locator('section.workload').count();
      assert(cards > 0, 'workload cards');
      const chains = await page.locator('li.chain-entry[data-effect="applied"]').count();
      assert(chains > 0, 'an applied chain entry');
      await page.click('#tab-graph');
      const nodes = Number(await page.getAttribute('svg.graph', 'data-nodes'));
      const edges = Number(await page.getAttribute('svg.graph', 'data-edges'));
      assert(nodes === cards, `graph nodes ${nodes} = workloads ${cards}`);
      assert(edges > 0, 'graph edges');
      await shot(page, `example-${id}`);
      await page.click('#tab-matrix');
      assert((await page.locator('table.matrix td.cell').count()) > 0, 'matrix cells');
      await page.click('#tab-workloads');
      const version = await page.inputValue('#istio-version');
      const applied = await page.getAttribute('body', 'data-istio');
      assert(version === applied, `the version selector (${version}) is what the engine applied (${applied})`);
    });
  }

  await check('Gateway PASSTHROUGH: listeners shown on the gateway, the certificate slip flagged', async () => {
    await selectExample(page, 'gateway-passthrough');
    const card = page.locator('section.workload[data-workload="istio-system/istio-ingressgateway"]');
    const modes = await card.locator('.gateway-servers li').evaluateAll((lis) => lis.map((l) => l.dataset.tlsMode));
    assert(modes.length === 2 && modes.every((m) => m === 'PASSTHROUGH'), `listeners: ${modes}`);
    assert((await page.locator('#diagnostics li.diag[data-code="ML0604"]').count()) === 1, 'ML0604 listed');
    await shot(page, 'gateway');
  });

  await check('graph: a failing call is dashed red with its symptom on hover and click', async () => {
    await selectExample(page, 'strict-mesh');
    await page.click('#tab-graph');
    const edge = page.locator('g.edge[data-from="legacy/curl"][data-to="default/server"]');
    assert((await edge.getAttribute('data-state')) === 'fail', 'legacy/curl → server fails');
    const title = await edge.locator('title').textContent();
    assert(/reset/.test(title), `hover title: ${title}`);
    const ok = page.locator('g.edge[data-from="default/client"][data-to="default/server"]');
    assert((await ok.getAttribute('data-state')) === 'mtls', 'client → server is mTLS');
    assert((await ok.locator('svg.lock').getAttribute('data-lock')) === 'closed', 'closed lock on the mTLS edge');
    assert((await edge.locator('svg.lock').getAttribute('data-lock')) === 'fail', 'red open lock on the failing edge');
    await edge.locator('path.edge-hit').dispatchEvent('click');
    const details = await page.textContent('.graph-view .details');
    assert(/symptom: connection reset by peer/.test(details), `details: ${details.slice(0, 200)}`);
    assert((await page.locator('.legend li').count()) >= 7, 'the legend is shown');
    await shot(page, 'graph-failing-call');
    await page.locator('g.node[data-workload="default/server"] circle.node-disc').dispatchEvent('click');
    assert(/port 8080: STRICT/.test(await page.textContent('.graph-view .details')), 'node details list its ports');
    assert((await page.locator('svg.graph.focused').count()) === 1, 'the graph focuses the workload');
    assert((await page.locator('g.edge.related').count()) === 2, 'its two incoming calls are highlighted');
    await page.click('.graph-view .details button');
    assert((await page.getAttribute('#tab-workloads', 'aria-selected')) === 'true', 'back to the chains');
    assert(!(await page.locator('#panel-workloads').isHidden()), 'chains visible');
  });

  await check('graph: clicking a workload highlights its calls in a dense mesh', async () => {
    await selectExample(page, 'sidecarless-1.4');
    await page.click('#tab-graph');
    await page.locator('g.node[data-workload="test3/sleep"] circle.node-disc').dispatchEvent('click');
    const related = await page.$$eval('g.edge.related', (gs) => gs.map((g) => `${g.dataset.from}>${g.dataset.to}:${g.dataset.state}`));
    assert(related.length === 3 && related.every((r) => r.startsWith('test3/sleep>')), `related: ${related}`);
    assert(related.includes('test3/sleep>test2/httpbin:fail'), 'the failing call is among them');
    await shot(page, 'graph-focused');
    await page.locator('svg.graph').dispatchEvent('click');
    assert((await page.locator('svg.graph.focused').count()) === 0, 'a click on the background shows all again');
    await page.click('#tab-workloads');
  });

  await check('graph: a node is drawn with its ports\' mode (service-level Policy makes them STRICT)', async () => {
    await selectExample(page, 'service-port-1.4');
    await page.click('#tab-graph');
    const node = page.locator('g.node[data-workload="bookinfo/productpage-v1"]');
    assert((await node.getAttribute('data-mode')) === 'STRICT', `mode ${await node.getAttribute('data-mode')}`);
    assert((await node.locator('svg.lock').getAttribute('data-lock')) === 'closed', 'closed lock');
    const edge = page.locator('g.edge[data-from="bookinfo/reviews-v1"][data-to="bookinfo/productpage-v1"]');
    assert((await edge.getAttribute('data-state')) === 'fail', 'reviews → productpage has a failing port (9090)');
    assert(/9090: FAILS/.test(await edge.locator('title').textContent()), 'the title names the failing port');
    await page.click('#tab-workloads');
  });

  await check('matrix: filter by text and by outcome', async () => {
    await selectExample(page, 'sidecarless-1.4');
    await page.click('#tab-matrix');
    const all = await page.locator('table.matrix tbody tr').count();
    await page.fill('.matrix-view input.filter', 'test3/');
    const some = await page.locator('table.matrix tbody tr').count();
    assert(some > 0 && some <= all, `text filter: ${some} of ${all} rows`);
    await page.fill('.matrix-view input.filter', '');
    await page.selectOption('.matrix-view select', 'fail');
    const states = await page.$$eval('table.matrix td.cell', (tds) => tds.map((t) => t.dataset.state));
    assert(states.length >= 2 && states.every((s) => s === 'fail'), `only failing cells: ${states}`);
    const rows = await page.$$eval('table.matrix tbody tr', (trs) => trs.map((t) => t.dataset.client));
    assert(rows.includes('test3/sleep') && !rows.includes('test1/sleep'), `failing clients: ${rows}`);
    await page.locator('table.matrix td.cell button').first().click();
    assert(/symptom:/.test(await page.textContent('.matrix-view .details')), 'cell details with the symptom');
    await shot(page, 'matrix-failing');
    await page.selectOption('.matrix-view select', 'all');
  });

  await check("try a connection: the filter's decision next to reach's, and the plugin configuration", async () => {
    await selectExample(page, 'strict-mesh');
    await page.click('#tab-try');
    await page.selectOption('#try-server', 'default/server');
    await page.selectOption('#try-peer-kind', 'workload');
    await page.selectOption('#try-client', 'legacy/curl');
    await page.click('#try-go');
    await page.waitForSelector('.try-decision', { timeout: 10_000 });
    const legacy = page.locator('.try-decision').first();
    assert((await legacy.getAttribute('data-verdict')) === 'deny', 'legacy/curl is denied');
    assert((await legacy.getAttribute('data-reason')) === 'plaintext', 'because it sends plaintext');
    assert(/reach predicts/.test(await legacy.textContent()) && /fails/.test(await legacy.textContent()), 'reach agrees');
    await page.selectOption('#try-peer-kind', 'spiffe');
    await page.fill('#try-spiffe', 'spiffe://other.example/ns/x/sa/<img src=x onerror=alert(1)>');
    await page.click('#try-go');
    await page.waitForSelector('.try-decision[data-reason="untrusted_trust_domain"]', { timeout: 10_000 });
    assert((await page.locator('.try-view img').count()) === 0, 'the identity renders as text');
    const config = JSON.parse(await page.textContent('.try-config'));
    assert(config.direction === 'inbound' && config.compiled.workload === 'default/server', 'the inbound plugin configuration');
    await page.click('.try-config-box summary');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#try-download')]);
    assert(/meshlock-plugin-config-default-server\.json/.test(download.suggestedFilename()), download.suggestedFilename());
    await shot(page, 'try-a-connection');
    await page.click('#tab-workloads');
  });

  await check('plan to STRICT: steps with their proof, the blocked workloads, step files to download', async () => {
    await selectExample(page, 'permissive-migration');
    await page.click('#tab-plan');
    await page.waitForSelector('.plan-summary[data-steps]', { timeout: STEP_TIMEOUT });
    const steps = Number(await page.getAttribute('.plan-summary', 'data-steps'));
    assert(steps >= 1, `steps: ${steps}`);
    assert((await page.locator('.plan-step .plan-proof.holds').count()) === steps, 'every step carries a proof that holds');
    assert((await page.locator('.plan-step .plan-proof.fails').count()) === 0, 'no step breaks a call');
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('.plan-step button[data-download]').first().click()]);
    assert(/^0?1-.*\.yaml$/.test(download.suggestedFilename()), `step file: ${download.suggestedFilename()}`);
    await shot(page, 'plan');
    await page.click('#tab-workloads');
  });

  await check('download report: the analysis as `meshlock analyze --format json` prints it, byte for byte', async () => {
    await selectExample(page, 'permissive-migration');
    const yaml = await editorText(page);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-report')]);
    assert(download.suggestedFilename() === 'meshlock-report.json', download.suggestedFilename());
    const got = fs.readFileSync(await download.path(), 'utf8');
    // The CLI on the same text under the page's file name, so that every location matches.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshlock-report-'));
    try {
      fs.writeFileSync(path.join(dir, 'playground.yaml'), yaml);
      const cli = spawnSync(BIN, ['analyze', '--format', 'json', 'playground.yaml'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      assert(cli.status === 0 || cli.status === 1, `meshlock analyze exited ${cli.status}: ${cli.stderr}`);
      assert(JSON.parse(got).workloads.length > 0, 'the report lists workloads');
      assert(got === cli.stdout, `the download (${got.length} bytes) differs from the CLI's report (${cli.stdout.length} bytes)`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  await check('typing a policy change updates the chain and the graph', async () => {
    await selectExample(page, 'permissive-migration');
    await page.click('#tab-graph');
    const edgeSel = 'g.edge[data-from="legacy/sleep"][data-to="foo/httpbin"]';
    assert((await page.getAttribute(edgeSel, 'data-state')) === 'plaintext', 'before: plaintext');
    await cursorAfter(page, '#editor', 'mode: PERMISSIVE');
    await andAnalysed(page, async () => {
      for (let i = 0; i < 'PERMISSIVE'.length; i++) await page.keyboard.press('Backspace');
      await page.keyboard.type('STRICT');
    });
    assert(/mode: STRICT/.test(await editorText(page)), 'the text changed');
    assert((await page.getAttribute(edgeSel, 'data-state')) === 'fail', 'after: the legacy call fails');
    await shot(page, 'graph-after-strict');
    await page.click('#tab-workloads');
    const entry = page.locator('section.workload[data-workload="foo/httpbin"] li.chain-entry[data-level="mesh"]');
    assert((await entry.getAttribute('data-effect')) === 'applied', 'mesh policy applied');
    assert((await entry.locator('.declared').textContent()) === 'STRICT', 'mesh policy declares STRICT');
    const port = page.locator('section.workload[data-workload="foo/httpbin"] .port').first();
    assert((await port.getAttribute('data-mode')) === 'STRICT', 'port 80 now STRICT');
  });

  await check('an ignored policy is shown with the reason, the overridden one too', async () => {
    await selectExample(page, 'permissive-migration');
    const extra = `---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: foo-strict
  namespace: foo
  creationTimestamp: "2024-03-01T10:00:00Z"
spec:
  mtls:
    mode: STRICT
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: foo-relaxed
  namespace: foo
  creationTimestamp: "2024-05-01T10:00:00Z"
spec:
  mtls:
    mode: PERMISSIVE
`;
    await page.click('#editor .cm-content');
    await page.keyboard.press('Control+End');
    await andAnalysed(page, () => paste(page, '#editor .cm-content', extra));
    const chain = page.locator('section.workload[data-workload="foo/httpbin"] .port').first();
    const effects = await chain.locator('li.chain-entry').evaluateAll((lis) => lis.map((l) => `${l.dataset.level}:${l.dataset.effect}`));
    assert(effects.includes('mesh:overridden'), `chain: ${effects}`);
    assert(effects.includes('namespace:applied'), `chain: ${effects}`);
    const ignored = chain.locator('li.chain-entry[data-effect="ignored"]');
    assert((await ignored.getAttribute('data-policy')) === 'PeerAuthentication foo/foo-relaxed', 'the newer one is ignored');
    const reason = await ignored.locator('.reason').textContent();
    assert(/oldest/.test(reason), `reason: ${reason}`);
    const line = Number(await ignored.getAttribute('data-line'));
    const text = (await editorText(page)).split('\n');
    assert(text.slice(line - 1, line + 4).some((l) => l.includes('foo-relaxed')), `line ${line} is foo-relaxed's document`);
    await ignored.locator('button.policy').click();
    const active = Number(await page.locator('#editor .cm-lineNumbers .cm-activeLineGutter').textContent());
    assert(active === line, `jumped to ${active}`);
    await shot(page, 'chain-ignored');
  });

  await check('a chain entry links to its line in the editor', async () => {
    const link = page.locator('section.workload[data-workload="foo/httpbin"] li.chain-entry[data-level="mesh"] button.policy');
    const line = Number(await link.locator('xpath=..').getAttribute('data-line'));
    await link.click();
    const active = await page.locator('#editor .cm-lineNumbers .cm-activeLineGutter').textContent();
    assert(Number(active) === line, `cursor on line ${active}, expected ${line}`);
    const text = (await editorText(page)).split('\n')[line - 1];
    assert(/apiVersion|kind|metadata/.test(text), `line ${line} starts the policy: ${text}`);
  });

  await check('a diagnostic appears at the right line, in the gutter and the panel', async () => {
    const doc = '\n---\napiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata:\n  name: typo\n  namespace: foo\nspec:\n  mtls:\n    mode: STRICTT\n';
    const text = await editorText(page);
    const expected = (text.trimEnd() + doc).split('\n').findIndex((l) => l.includes('STRICTT')) + 1;
    await page.click('#editor .cm-content');
    await page.keyboard.press('Control+End');
    await andAnalysed(page, async () => {
      // Trailing newlines of the example are kept; the document goes after them.
      for (let i = 0; i < text.length - text.trimEnd().length; i++) await page.keyboard.press('Backspace');
      await page.keyboard.insertText(doc); // insertText: closeBrackets must not interfere (P14)
    });
    const item = page.locator('#diagnostics li.diag[data-code="ML0003"]');
    assert((await item.count()) === 1, 'one ML0003 in the panel');
    const line = Number(await item.getAttribute('data-line'));
    assert(line === expected, `diagnostic at line ${line}, expected ${expected}`);
    assert((await item.getAttribute('data-severity')) === 'error', 'an error');
    assert(/STRICTT/.test(await item.textContent()), 'the message names the bad value');
    await page.locator('#editor .cm-scroller').evaluate((s) => s.scrollTo(0, 0));
    await item.locator('button.diag-pos').click();
    const active = Number(await page.locator('#editor .cm-lineNumbers .cm-activeLineGutter').textContent());
    assert(active === expected, `clicking jumps to line ${active}`);
    const marker = await page.evaluate((n) => {
      const gutters = [...document.querySelectorAll('#editor .cm-gutter-lint .cm-gutterElement')];
      const nums = [...document.querySelectorAll('#editor .cm-lineNumbers .cm-gutterElement')];
      const row = nums.find((e) => e.textContent === String(n));
      if (!row) return 'no line number element';
      const top = row.getBoundingClientRect().top;
      const mark = gutters.find((g) => Math.abs(g.getBoundingClientRect().top - top) < 2);
      return mark?.querySelector('.cm-lint-marker-error') ? 'error' : 'none';
    }, expected);
    assert(marker === 'error', `gutter marker at line ${expected}: ${marker}`);
    assert((await page.locator('#editor .cm-lintRange-error').count()) >= 1, 'inline mark');
    await shot(page, 'diagnostic-line');
  });

  await check('share link: the text and the version survive a round trip', async () => {
    await page.selectOption('#istio-version', '1.12');
    await page.waitForFunction(() => document.body.dataset.istio === '1.12', null, { timeout: STEP_TIMEOUT });
    const text = await editorText(page);
    await page.click('#share');
    await page.waitForFunction(() => location.hash.startsWith('#v1.'), null, { timeout: STEP_TIMEOUT });
    const shared = page.url();
    assert((await page.inputValue('#share-url')) === shared, 'the link is shown');
    const other = await context.newPage();
    other.on('pageerror', (e) => problems.push(`page error (2nd page): ${e.message}`));
    await other.goto(shared, { timeout: STEP_TIMEOUT });
    await other.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: STEP_TIMEOUT });
    const restored = await other.evaluate(() => window.meshlockPlayground.text());
    assert(restored === text, `restored ${restored.length} chars, expected ${text.length}`);
    assert((await other.inputValue('#istio-version')) === '1.12', 'version restored');
    assert((await other.getAttribute('body', 'data-istio')) === '1.12', 'analysed with 1.12');
    assert((await other.locator('#diagnostics li.diag[data-code="ML0003"]').count()) === 1, 'same diagnostics');
    await shot(other, 'share-restored');
    await other.close();
    await page.selectOption('#istio-version', 'auto');
  });

  await check('a damaged share link is refused with a message, the editor keeps working', async () => {
    const other = await context.newPage();
    await other.goto(`${url}#v1.AAAA-not-deflate`, { timeout: STEP_TIMEOUT });
    await other.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: STEP_TIMEOUT });
    const notice = await other.textContent('#notice');
    assert(/cannot be opened/.test(notice), `notice: ${notice}`);
    assert((await other.locator('section.workload').count()) > 0, 'fell back to the first example');
    await other.close();
  });

  await check('markup in resource names is shown as text, never run', async () => {
    const evil = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: "<script>window.__pwned = 1</script>"
  namespace: "<img src=x onerror=window.__pwned=2>"
spec:
  template:
    metadata:
      labels: {app: "<b>bold</b>"}
    spec:
      containers:
      - name: c
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: "<svg onload=window.__pwned=3>"
  namespace: "<img src=x onerror=window.__pwned=2>"
spec:
  selector: {app: "<b>bold</b>"}
  ports:
  - port: 80
`;
    step('start');
    await andAnalysed(page, () => typeAll(page, evil));
    step('typed');
    const card = page.locator('section.workload').first();
    const heading = await card.locator('h3').textContent();
    assert(heading.includes('<script>window.__pwned = 1</script>'), `heading as text: ${heading}`);
    assert((await page.locator('#panel-workloads script, #panel-workloads img, #diagnostics img, #diagnostics script').count()) === 0, 'no elements from names');
    await page.click('#tab-graph');
    const label = await page.locator('svg.graph text.node-name').first().textContent();
    assert(label.includes('<script>'), `graph label as text: ${label}`);
    assert((await page.locator('svg.graph img, svg.graph script, .graph-view svg svg[onload]').count()) === 0, 'no injected graph elements');
    step('graph');
    await page.click('#tab-matrix');
    await page.waitForTimeout(200);
    step('matrix');
    assert((await page.evaluate(() => window.__pwned)) === undefined, 'nothing ran');
    await page.click('#tab-workloads');
    await shot(page, 'markup-as-text');
  });

  await hostileChecks(page, context, dialogs, url);

  await check('what-if: editing the copy lists the calls that break', async () => {
    step('start');
    await selectExample(page, 'permissive-migration');
    step('example');
    await page.click('#tab-whatif');
    await page.click('.whatif-view .toolbar button');
    step('reset');
    await page.waitForFunction(() => window.meshlockPlayground.whatIfText() === window.meshlockPlayground.text(), null, { timeout: STEP_TIMEOUT });
    await page.waitForFunction(() => document.querySelector('.whatif-summary')?.dataset.changes === '0', null, { timeout: STEP_TIMEOUT });
    step('same');
    await cursorAfter(page, '.whatif-editor', 'mode: PERMISSIVE');
    step('cursor');
    for (let i = 0; i < 'PERMISSIVE'.length; i++) await page.keyboard.press('Backspace');
    await page.keyboard.type('STRICT');
    step('typed');
    await page.waitForFunction(() => document.querySelector('.whatif-summary')?.dataset.changes !== '0', null, { timeout: STEP_TIMEOUT });
    step('diff');
    const row = page.locator('table.diff tr[data-from="legacy/sleep"]');
    assert((await row.getAttribute('data-change')) === 'breaks', 'legacy/sleep breaks');
    assert(/reset/.test(await row.textContent()), 'the symptom after the change');
    assert(!/mode: STRICT/.test(await editorText(page)), 'the main input is untouched');
    await shot(page, 'whatif');
    await page.click('#tab-workloads');
  });

  await check('the version selector changes the semantics (1.4 ignores PeerAuthentication)', async () => {
    await selectExample(page, 'strict-mesh');
    await andAnalysed(page, () => page.selectOption('#istio-version', '1.4'));
    assert((await page.getAttribute('body', 'data-istio')) === '1.4', 'analysed with 1.4');
    assert((await page.locator('#diagnostics li.diag[data-code="ML0012"]').count()) >= 1, 'ML0012: no PeerAuthentication before 1.5');
  });

  await check('convert shows the v1beta1 PeerAuthentication of a MeshPolicy', async () => {
    await selectExample(page, 'mesh-policy-1.4');
    await page.click('#convert');
    await page.waitForSelector('.convert-yaml', { timeout: STEP_TIMEOUT });
    const yaml = await page.textContent('.convert-yaml');
    assert(/kind: PeerAuthentication/.test(yaml) && /STRICT/.test(yaml), `converted: ${yaml.slice(0, 200)}`);
    await shot(page, 'convert');
  });

  await check('explain asks the engine for the precedence story', async () => {
    await selectExample(page, 'strict-namespace');
    const card = page.locator('section.workload[data-workload="default/reviews-v1"]');
    await card.locator('header button').click();
    await page.waitForFunction(
      () => {
        const s = document.querySelector('section.workload[data-workload="default/reviews-v1"] .story');
        return s && s.textContent !== '' && !s.textContent.includes('Asking the engine');
      },
      null,
      { timeout: STEP_TIMEOUT },
    );
    const story = await card.locator('.story').textContent();
    assert(/foo-peer-policy/.test(story), `story: ${story.slice(0, 200)}`);
  });

  await check('a large mesh (1,500 services): analysed off the main thread, a stale pass is cancelled', async () => {
    const docs = ['apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec:\n  mtls: {mode: STRICT}'];
    for (let ns = 0; ns < 50; ns++) {
      const injected = ns < 40;
      docs.push(`apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns${ns}\n  labels: {istio-injection: ${injected ? 'enabled' : 'disabled'}}`);
      for (let i = 0; i < 30; i++) {
        docs.push(
          `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app${i}, namespace: ns${ns}}\nspec:\n  template:\n    metadata: {labels: {app: app${i}}}\n    spec:\n      serviceAccountName: app${i}\n      containers:\n      - name: app\n        ports: [{containerPort: 8080}]`,
          `apiVersion: v1\nkind: Service\nmetadata: {name: app${i}, namespace: ns${ns}}\nspec:\n  selector: {app: app${i}}\n  ports: [{port: 80, targetPort: 8080}]`,
        );
      }
    }
    const big = docs.join('\n---\n') + '\n';
    const before = await analyses(page);
    const workersBefore = workers;
    await page.click('#editor .cm-content');
    await page.keyboard.press('Control+A');
    await paste(page, '#editor .cm-content', big);
    // The chains come first; while the worker counts the 2,250,000 calls (1,500 x 1,500:
    // self-calls included), edit again: a pass still running after 400 ms is abandoned (a
    // fresh worker) and the new text is analysed. At this size the page needs only the
    // linear-time summary, which may finish first: then there is nothing to cancel. So wait for
    // either status; the 90 s are a guard against a hang, not a speed check.
    await page.waitForFunction(
      () => /computing who can reach whom|2,250,000 calls/.test(document.getElementById('status').textContent),
      null,
      { timeout: 90_000 },
    );
    assert(/1,500 workloads/.test(await page.textContent('#status')), 'the chains are there before the calls');
    await page.waitForTimeout(500);
    const stillRunning = /computing who can reach whom/.test(await page.textContent('#status'));
    await page.keyboard.press('Control+End');
    await page.keyboard.insertText('# edited\n');
    let worst = 0;
    const deadline = Date.now() + 90_000;
    while (Number(await page.getAttribute('body', 'data-analyses')) <= before || (await page.getAttribute('body', 'data-stale')) !== 'false') {
      assert(Date.now() < deadline, 'the analysis did not finish in 90 s');
      const t = Date.now();
      await page.evaluate(() => 1);
      worst = Math.max(worst, Date.now() - t);
      await page.waitForTimeout(25);
    }
    step(`worst main-thread answer ${worst} ms, workers started ${workers - workersBefore}; ${await page.textContent('#status')}`);
    assert((await editorText(page)) === `${big}# edited\n`, 'the editor holds the pasted text and the edit');
    if (stillRunning) assert(workers - workersBefore >= 1, 'the stale pass was cancelled with a fresh worker');
    else step('the summary finished before the edit: no pass to cancel');
    const status = await page.textContent('#status');
    assert(/1,500 workloads/.test(status) && /2,250,000 calls/.test(status), `status: ${status}`);
    const note = await page.textContent('#reach-note');
    assert(/2,250,000 calls/.test(note) && /namespace level/.test(note), `note: ${note}`);
    // The main thread's responsiveness is reported (the step above), not asserted: a timing
    // threshold fails on a loaded machine without the page being at fault.
    await page.click('#tab-matrix');
    // Namespaces first at this size: 50 × 50 namespace pairs from the summary's counts; a cell
    // drills into its workloads (the calls of that pair only), the breadcrumb comes back.
    await page.waitForSelector('table.matrix-namespaces[data-complete]', { timeout: STEP_TIMEOUT });
    assert((await page.locator('table.matrix td.cell[data-state="fail"]').count()) > 0, 'failing cells shown');
    assert((await page.locator('table.matrix-namespaces').count()) === 1, 'the matrix starts at the namespace level');
    const nsRows = await page.$$eval('table.matrix-namespaces tbody tr', (trs) => trs.map((t) => t.dataset.clientNamespace));
    assert(nsRows.length === 40 && /first 40 namespaces/.test(await page.textContent('.matrix-view')), `the first 40 of 50 client namespaces: ${nsRows.length}`);
    await shot(page, 'large-mesh');
    await page.locator('table.matrix-namespaces td.ns-cell[data-state="fail"]').first().click();
    await page.waitForSelector('.matrix-view nav.breadcrumb button.crumb', { timeout: 30_000 });
    const crumb = await page.textContent('.matrix-view nav.breadcrumb');
    const pair = /(ns\d+) \u2192 (ns\d+)/.exec(crumb);
    assert(pair, `breadcrumb names the pair: ${crumb}`);
    const drilledRows = await page.$$eval('table.matrix tbody tr', (trs) => trs.map((t) => t.dataset.client));
    assert(drilledRows.length === 30 && drilledRows.every((c) => c.startsWith(`${pair[1]}/`)), `the pair's clients: ${drilledRows.length}`);
    const dests = await page.$$eval('table.matrix thead th.dest', (ths) => ths.map((t) => t.dataset.destination));
    assert(dests.length === 30 && dests.every((d) => d.includes(`.${pair[2]}.`)), `the pair's services: ${dests.length}`);
    await shot(page, 'large-mesh-drilled');
    await page.click('.matrix-view nav.breadcrumb button.crumb');
    await page.waitForSelector('table.matrix-namespaces[data-complete]', { timeout: STEP_TIMEOUT });
    assert((await page.locator('table.matrix-namespaces').count()) === 1, 'the breadcrumb goes back to the namespaces');
    // The graph at this size: namespaces as boxes; a box drills into the calls inside it.
    await page.click('#tab-graph');
    const boxes = await page.locator('svg.graph-namespaces g.ns-box').count();
    assert(boxes === 50, `one box per namespace: ${boxes}`);
    assert((await page.getAttribute('svg.graph-namespaces g.ns-box[data-namespace="ns40"]', 'data-mode')) === 'NONE', 'ns40 has no sidecars');
    assert((await page.locator('svg.graph-namespaces g.ns-edge[data-state="fail"]').count()) > 0, 'failing namespace edges');
    await shot(page, 'large-mesh-namespace-graph');
    await page.click('svg.graph-namespaces g.ns-box[data-namespace="ns3"]');
    await page.waitForSelector('.graph-view nav.breadcrumb button.crumb', { timeout: 30_000 });
    assert(/inside ns3/.test(await page.textContent('.graph-view nav.breadcrumb')), 'the breadcrumb names the namespace');
    assert((await page.getAttribute('svg.graph', 'data-nodes')) === '30', 'the namespace\'s 30 workloads');
    await page.click('.graph-view nav.breadcrumb button.crumb');
    assert((await page.locator('svg.graph-namespaces').count()) === 1, 'back to the namespaces');
    await page.click('#tab-workloads');
  });

  await check('160 namespaces (25,600 pairs): the page holds the most failing pairs, the matrix filter asks the engine', async () => {
    const docs = ['apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec:\n  mtls: {mode: STRICT}'];
    for (let ns = 0; ns < 160; ns++) {
      docs.push(
        `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns${ns}\n  labels: {istio-injection: ${ns < 150 ? 'enabled' : 'disabled'}}`,
        `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app, namespace: ns${ns}}\nspec:\n  template:\n    metadata: {labels: {app: app}}\n    spec:\n      containers:\n      - name: app\n        ports: [{containerPort: 8080}]`,
        `apiVersion: v1\nkind: Service\nmetadata: {name: app, namespace: ns${ns}}\nspec:\n  selector: {app: app}\n  ports: [{port: 80, targetPort: 8080}]`,
      );
    }
    await andAnalysed(page, async () => {
      await page.click('#editor .cm-content');
      await page.keyboard.press('Control+A');
      await paste(page, '#editor .cm-content', docs.join('\n---\n') + '\n');
    });
    const note = await page.textContent('#reach-note');
    assert(/22,500 most failing of 25,600 namespace pairs/.test(note), `note: ${note}`);
    await page.click('#tab-matrix');
    await page.waitForSelector('table.matrix-namespaces[data-matching="25600"][data-complete]', { timeout: STEP_TIMEOUT });
    const partial = await page.textContent('.matrix-view .partial-note');
    assert(/Showing 22,500 of 25,600 namespace pairs, the most failing first/.test(partial), `partial: ${partial}`);
    // Every pair out of a namespace without sidecars fails (1,500 of them): all are held.
    await page.selectOption('.matrix-view select', 'fail');
    await page.waitForSelector('table.matrix-namespaces[data-matching="1500"][data-complete]', { timeout: STEP_TIMEOUT });
    const failingRows = await page.$$eval('table.matrix-namespaces tbody tr', (trs) => trs.map((t) => t.dataset.clientNamespace));
    assert(JSON.stringify(failingRows) === JSON.stringify(Array.from({ length: 10 }, (_, i) => `ns${150 + i}`)), `failing rows: ${failingRows}`);
    // A namespace typed: the engine filters all 25,600 pairs, 319 name ns0 (as client or service).
    await page.selectOption('.matrix-view select', 'all');
    await page.fill('.matrix-view input.filter', 'ns0');
    await page.waitForSelector('table.matrix-namespaces[data-matching="319"][data-complete]', { timeout: STEP_TIMEOUT });
    const narrowed = await page.textContent('.matrix-view .partial-note');
    assert(/Showing 319 of 319 namespace pairs that match \(25,600 in all\)/.test(narrowed), `narrowed: ${narrowed}`);
    const services = await page.$$eval('table.matrix-namespaces thead th.dest', (ths) => ths.map((t) => t.dataset.namespace));
    assert(services[0] === 'ns0' && services.length === 40, `service columns: ${services.length}`);
    await page.locator('table.matrix-namespaces tr[data-client-namespace="ns0"] td.ns-cell').first().click();
    await page.waitForSelector('.matrix-view nav.breadcrumb button.crumb', { timeout: 30_000 });
    assert(/ns0 \u2192 ns\d+/.test(await page.textContent('.matrix-view nav.breadcrumb')), 'drilled into a pair of ns0');
    await page.click('.matrix-view nav.breadcrumb button.crumb');
    await page.waitForSelector('table.matrix-namespaces[data-matching="319"][data-complete]', { timeout: STEP_TIMEOUT });
    await page.fill('.matrix-view input.filter', '');
    await page.waitForSelector('table.matrix-namespaces[data-matching="25600"][data-complete]', { timeout: STEP_TIMEOUT });
    await shot(page, 'namespace-pairs-partial');
    await page.click('#tab-graph');
    const graphText = await page.textContent('.graph-view .graph-canvas');
    assert(/160 namespaces are too many to draw/.test(graphText), `graph: ${graphText}`);
    await page.click('#tab-workloads');
  });

  await check('a cluster dump from a file (10,000 services): bytes and kinds shown, analysed off the main thread', async () => {
    // A `kubectl get … -o yaml`-shaped dump: one List of Namespaces, Deployments, Services, and
    // kinds that do not bear on mTLS (Secrets, Events), with a mesh-wide STRICT policy.
    const items = [
      'apiVersion: security.istio.io/v1\n  kind: PeerAuthentication\n  metadata: {name: default, namespace: istio-system}\n  spec: {mtls: {mode: STRICT}}',
    ];
    for (let ns = 0; ns < 100; ns++) {
      items.push(`apiVersion: v1\n  kind: Namespace\n  metadata: {name: team${ns}, labels: {istio-injection: ${ns < 90 ? 'enabled' : 'disabled'}}}`);
      items.push(`apiVersion: v1\n  kind: Secret\n  metadata: {name: token, namespace: team${ns}}\n  data: {token: c2VjcmV0}`);
      items.push(`apiVersion: v1\n  kind: Event\n  metadata: {name: started, namespace: team${ns}}\n  reason: Started`);
      for (let i = 0; i < 100; i++) {
        items.push(
          `apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: svc${i}, namespace: team${ns}}\n  spec:\n    template:\n      metadata: {labels: {app: svc${i}}}\n      spec:\n        serviceAccountName: svc${i}\n        containers:\n        - name: app\n          ports: [{containerPort: 8080}]`,
          `apiVersion: v1\n  kind: Service\n  metadata: {name: svc${i}, namespace: team${ns}}\n  spec:\n    selector: {app: svc${i}}\n    ports: [{name: http, port: 80, targetPort: 8080}]`,
        );
      }
    }
    const dump = `apiVersion: v1\nkind: List\nitems:\n${items.map((i) => `- ${i}`).join('\n')}\n`;
    // The dump alone: the editor's text is read on top of loaded files, so empty it first.
    await andAnalysed(page, async () => {
      await page.click('#editor .cm-content');
      await page.keyboard.press('Control+A');
      await page.keyboard.press('Delete');
    });
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'meshlock-dump-')), 'cluster.yaml');
    fs.writeFileSync(file, dump);
    await page.evaluate(() => {
      window.__longTasks = [];
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.__longTasks.push(e.duration);
      }).observe({ type: 'longtask' });
    });
    const before = await analyses(page);
    const started = Date.now();
    await page.setInputFiles('#file-input', file);
    await page.waitForFunction((n) => Number(document.body.dataset.analyses ?? '0') > n && document.body.dataset.stale === 'false' && /10,000 workloads/.test(document.getElementById('status').textContent), before, { timeout: 240_000 });
    await page.click('#tab-matrix');
    await page.waitForSelector('table.matrix-namespaces[data-complete]', { timeout: STEP_TIMEOUT });
    const firstMatrix = Date.now() - started;
    const longest = await page.evaluate(() => Math.max(0, ...window.__longTasks));
    // Reported, not asserted: timing thresholds fail on a loaded machine without the page being at fault.
    const drawing = await page.evaluate(() =>
      performance
        .getEntriesByType('measure')
        .filter((m) => m.name.startsWith('meshlock:'))
        .slice(-5)
        .map((m) => `${m.name.slice(9)} ${Math.round(m.duration)} ms`)
        .join(', '),
    );
    console.log(`      cluster dump ${fs.statSync(file).size} bytes: first matrix after ${firstMatrix} ms, longest main-thread task ${Math.round(longest)} ms (drawing: ${drawing})`);
    const bar = await page.textContent('#loaded');
    assert(/cluster\.yaml/.test(bar) && /Deployment 10,000/.test(bar) && /Service 10,000/.test(bar), `kinds read: ${bar}`);
    assert(/skipped[^]*Secret 100/.test(bar) && /Event 100/.test(bar), `kinds skipped: ${bar}`);
    assert(new RegExp(`${fs.statSync(file).size.toLocaleString('en-US')} bytes read`).test(bar), `bytes: ${bar}`);
    const rows = await page.locator('table.matrix-namespaces tbody tr').count();
    assert(rows === 40 && /first 40 namespaces/.test(await page.textContent('.matrix-view')), `the first 40 of 100 client namespaces: ${rows}`);
    await page.selectOption('.matrix-view select', 'fail');
    await page.waitForSelector('table.matrix-namespaces[data-complete]', { timeout: STEP_TIMEOUT });
    const failingRows = await page.$$eval('table.matrix-namespaces tbody tr', (trs) => trs.map((t) => t.dataset.clientNamespace));
    const sidecarless = Array.from({ length: 10 }, (_, i) => `team${90 + i}`);
    assert(JSON.stringify(failingRows) === JSON.stringify(sidecarless), `failing pairs come from the namespaces without sidecars: ${failingRows}`);
    await page.selectOption('.matrix-view select', 'all');
    assert((await page.locator('#diagnostics .diag-file[data-file="cluster.yaml"]').count()) > 0, 'findings name the file they are in');
    await shot(page, 'cluster-dump');
    // The report crossed into the page without most chains; a card asks for its own.
    await page.click('#tab-workloads');
    await page.fill('.workloads-view input.filter', 'team97/svc42');
    await page.waitForSelector('section.workload[data-workload="team97/svc42"] li.chain-entry', { timeout: STEP_TIMEOUT });
    await page.fill('.workloads-view input.filter', '');
    // Try a connection at this size: workloads are typed, not picked from ten thousand options.
    await page.click('#tab-try');
    assert(await page.locator('#try-server').isHidden(), 'no list of ten thousand servers');
    await page.fill('#try-server-text', 'team3/svc7');
    await page.dispatchEvent('#try-server-text', 'change');
    await page.selectOption('#try-peer-kind', 'workload');
    await page.fill('#try-client-text', 'team95/svc1');
    await page.click('#try-go');
    await page.waitForSelector('.try-decision', { timeout: STEP_TIMEOUT });
    const tried = page.locator('.try-decision').first();
    assert((await tried.getAttribute('data-reason')) === 'plaintext', 'a client without a sidecar is refused for plaintext');
    await andAnalysed(page, () => page.click('#unload'));
    assert(await page.locator('#loaded').isHidden(), 'unloaded');
    assert(!/10,000 workloads/.test(await page.textContent('#status')), 'the dump is no longer analysed');
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    await page.click('#tab-workloads');
  });

  await check('no request left the origin, no page or console errors', async () => {
    const foreign = requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:') && !u.startsWith('blob:'));
    assert(requests.length >= 4, `requests seen: ${requests.length}`);
    assert(foreign.length === 0, `foreign requests: ${foreign.join(', ')}`);
    assert(problems.length === 0, problems.join(' | '));
  });

  await check('every request of the whole run was one of the served assets (none taken from the YAML)', async () => {
    const assets = new Set(['/', ...servedAssets()]);
    const other = requests
      .filter((u) => !u.startsWith('data:') && !u.startsWith('blob:'))
      .filter((u) => {
        const r = new URL(u);
        return r.origin !== origin || !assets.has(r.pathname) || r.search !== '';
      });
    assert(assets.size >= 4, `served assets: ${[...assets].join(', ')}`);
    assert(other.length === 0, `requests outside the served assets: ${[...new Set(other)].join(', ')}`);
  });

  await check('the page is served with a Content-Security-Policy and nosniff', async () => {
    const headers = documentHeaders.get(`${origin}/`);
    assert(headers, 'the document response was seen');
    const csp = headers['content-security-policy'] ?? '';
    assert(/default-src 'self'/.test(csp) && /script-src 'self' 'wasm-unsafe-eval'(;|$)/.test(csp), `CSP: ${csp}`);
    assert(/connect-src 'self'/.test(csp) && /object-src 'none'/.test(csp), `CSP: ${csp}`);
    assert(headers['x-content-type-options'] === 'nosniff', `nosniff: ${headers['x-content-type-options']}`);
  });
}

try {
  await main();
} catch (e) {
  failed += 1;
  console.log(`FAIL  setup: ${e instanceof Error ? e.message : e}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  stopServer();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
