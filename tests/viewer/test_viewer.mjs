// The viewer (viewer/index.html) as a person uses it, in headless Chromium,
// against real apps under the real agent (no mock of the agent anywhere):
//
//   1. it connects from file:// with ?host=&port= and shows the app's pid;
//   2. the top table fills with the example app's endpoint functions while
//      load runs; 3. sorting by a column and 4. filtering work;
//   5. the live flame graph draws (pixels on the canvas), shows a tooltip on
//      hover, zooms on click, resets, highlights a search;
//   6. Record 3 s shows progress, then file:// links to files that exist,
//      and opens the SVG inline; 7. Dump shows the main thread's traceback;
//   8. a malformed message is a warning, not a broken page;
//   9. a function, file and thread named like HTML are shown as text and run
//      nothing (tests/targets/html_names.py);
//  10. a wrong token shows the refusal, no token asks for one, the right
//      token connects; 11. killing the agent shows "disconnected" and the page
//      reconnects when it comes back on the same port;
//  12. dark theme, no request leaves file://, no page error.
// Screenshots of every state go into OUTDIR.
//
//   node tests/viewer/test_viewer.mjs OUTDIR [AGENT_BUILD_DIR]
//     AGENT_BUILD_DIR holds libspyagent.so and spyagent.so (default:
//     build/agent next to this repository's sources).
//
// Needs: npm ci --prefix tests/viewer (playwright-core), Debian's chromium
// (/usr/bin/chromium) and /usr/bin/python3.11 with fastapi and uvicorn.
// Exit status 0 when every check passed.  Every process it starts is killed
// (process groups) on the way out; the whole run is bounded.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const [outArg, buildArg] = process.argv.slice(2);
if (!outArg) {
  console.error('usage: test_viewer.mjs OUTDIR [AGENT_BUILD_DIR]');
  process.exit(2);
}
const outDir = path.resolve(outArg);
const agentDir = path.resolve(buildArg || path.join(repo, 'build', 'agent'));
const APP_PYTHON = '/usr/bin/python3.11';
const VIEWER = pathToFileURL(path.join(repo, 'viewer', 'index.html')).href;
const TOTAL_BUDGET_MS = 300000;
fs.rmSync(outDir, { recursive: true, force: true });
fs.mkdirSync(outDir, { recursive: true });

// Functions of examples/main.py that its endpoints run.
const ENDPOINT_FUNCS = ['expensive_score', 'is_prime', 'count_primes', 'fib', 'mandelbrot_rows', 'hash_endpoint',
  'revenue_by_country', 'customer_name', 'recent_orders', 'build_document', 'make_order', 'json_endpoint',
  'score_dict', 'score_lru', 'cache', 'cpu', 'db'];
const HOSTILE_FUNC = '<img src=x onerror=window.__pwned=1>';
const HOSTILE_FILE = '<script>window.__pwned=2</script>.py';
const HOSTILE_THREAD = '<b onmouseover=window.__pwned=3>worker</b>';
const TOKEN = 'viewer-test-token-1234';

let passed = 0, failed = 0;
function check(cond, what, detail) {
  if (cond) {
    passed++;
    console.log(`ok    ${what}`);
  } else {
    failed++;
    console.error(`FAIL  ${what}${detail !== undefined ? ': ' + (typeof detail === 'string' ? detail : JSON.stringify(detail)) : ''}`);
  }
  return cond;
}

// ------------------------------------------------------------------ processes

const children = new Set();

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** Start a Python process under the agent, in its own process group. */
function startProc(name, args, env) {
  const log = fs.openSync(path.join(outDir, `${name}.log`), 'a');
  const proc = spawn(args[0], args.slice(1), {
    cwd: repo,
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, ...env },
  });
  fs.closeSync(log);
  const p = { name, proc, pid: proc.pid, exited: false };
  proc.on('exit', () => { p.exited = true; children.delete(p); });
  children.add(p);
  return p;
}

function agentEnv(wsPort, extra = {}) {
  return {
    SPY_WS_PORT: String(wsPort),
    SPY_DATA_DIR: path.join(outDir, 'data'),
    SPY_INTERVAL: '500',
    PYTHONPATH: agentDir,
    LD_PRELOAD: path.join(agentDir, 'libspyagent.so'),
    ...extra,
  };
}

function startApp(name, httpPort, wsPort, extra) {
  return startProc(name, [APP_PYTHON, '-m', 'uvicorn', 'main:app', '--app-dir', path.join(repo, 'examples'),
    '--host', '127.0.0.1', '--port', String(httpPort)], agentEnv(wsPort, extra));
}

function startHostile(name, wsPort, extra) {
  return startProc(name, [APP_PYTHON, path.join(repo, 'tests', 'targets', 'html_names.py'), '240'], agentEnv(wsPort, extra));
}

async function killProc(p, sig = 'SIGTERM') {
  if (!p || p.exited) return;
  try { process.kill(-p.pid, sig); } catch (_) { /* gone */ }
  for (let i = 0; i < 50 && !p.exited; i++) await sleep(100);
  if (!p.exited) {
    try { process.kill(-p.pid, 'SIGKILL'); } catch (_) { /* gone */ }
    for (let i = 0; i < 30 && !p.exited; i++) await sleep(100);
  }
}

function killAllNow() {
  for (const p of children) { try { process.kill(-p.pid, 'SIGKILL'); } catch (_) { /* gone */ } }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitHttp(url, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return true;
    } catch (_) { /* not yet */ }
    await sleep(200);
  }
  return false;
}

async function waitPort(port, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return true;
    await sleep(200);
  }
  return false;
}

process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAllNow(); process.exit(130); });
const watchdog = setTimeout(() => {
  console.error(`FAIL  the whole test took longer than ${TOTAL_BUDGET_MS / 1000} s`);
  killAllNow();
  process.exit(1);
}, TOTAL_BUDGET_MS);

// ------------------------------------------------------------------ page helpers

const errors = [];
const offsite = [];

async function openViewer(context, query, tag) {
  const page = await context.newPage();
  page.on('console', (m) => {
    // A refused or dropped WebSocket is logged by Chromium itself; that is the
    // situation under test, not a page error.
    if (m.type() === 'error' && !/WebSocket connection to/.test(m.text())) errors.push(`${tag}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`${tag}: ${e}`));
  page.on('request', (r) => { if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) offsite.push(r.url()); });
  await page.goto(`${VIEWER}?${new URLSearchParams(query)}`);
  return page;
}

async function shot(page, name) {
  const file = path.join(outDir, `${name}.png`);
  await page.screenshot({ path: file });
  console.log(`      screenshot ${file}`);
}

async function waitState(page, state, ms) {
  try {
    await page.waitForFunction((s) => document.getElementById('conn').dataset.state === s, state, { timeout: ms });
    return true;
  } catch (_) {
    return false;
  }
}

const connText = (page) => page.textContent('#conn-text');

/** The rows in the table's DOM, top to bottom: [{fn, file, own, total}]. */
function domRows(page) {
  return page.evaluate(() => Array.from(document.querySelectorAll('.tt-row'))
    .filter((r) => !r.hidden)
    .map((r) => ({ i: Number(r.dataset.index), c: r._cells || r.children }))
    .sort((a, b) => a.i - b.i)
    .map(({ c }) => ({
      fn: c[4].textContent, file: c[5].title, own: c[0].textContent, total: c[1].textContent,
    })));
}

const num = (s) => (s.startsWith('<') ? 0 : Number(s));

// ------------------------------------------------------------------ the story

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});

let appA = null, load = null;
try {
  const httpA = await freePort(), wsA = await freePort();
  appA = startApp('app', httpA, wsA);
  check(await waitHttp(`http://127.0.0.1:${httpA}/`, 60000), 'the example app answers HTTP under the agent');
  check(await waitPort(wsA, 20000), 'the agent listens on its WebSocket port');
  load = startProc('load', ['/usr/bin/python3', path.join(repo, 'examples', 'load.py'), '--url', `http://127.0.0.1:${httpA}`,
    '--seconds', '200', '--concurrency', '3'], {});

  // 1. connect ------------------------------------------------------------
  const ctx = await browser.newContext({ viewport: { width: 1360, height: 900 }, colorScheme: 'light' });
  const page = await openViewer(ctx, { host: '127.0.0.1', port: wsA }, 'main');
  check(await waitState(page, 'connected', 15000), 'the viewer connects from file://', await connText(page));
  check((await page.textContent('#f-pid')) === String(appA.pid), 'the header shows the app\'s pid',
    { shown: await page.textContent('#f-pid'), pid: appA.pid });
  check(/python3\.11/.test(await page.textContent('#f-cmd')) && /^3\.11/.test(await page.textContent('#f-python')),
    'the header shows the command line and the Python version');
  try {
    await page.waitForFunction(() => /\/s$/.test(document.getElementById('f-achieved').textContent), null, { timeout: 8000 });
    check(true, 'the header shows the samples per second achieved');
  } catch (_) {
    check(false, 'the header shows the samples per second achieved', await page.textContent('#f-achieved'));
  }

  // 2. the table fills with the endpoints' functions --------------------------
  let seen = [];
  for (let i = 0; i < 40; i++) {
    const fns = await page.evaluate(() => window.spyViewer.table.view.map((r) => r.function));
    seen = ENDPOINT_FUNCS.filter((f) => fns.includes(f));
    if (seen.length >= 5) break;
    await sleep(500);
  }
  check(seen.length >= 5, 'the top table fills with the app\'s endpoint functions', seen);
  const first = await domRows(page);
  check(first.length >= 10 && first.slice(0, 10).some((r) => ENDPOINT_FUNCS.includes(r.fn)),
    'endpoint functions are among the first rows on screen', first.slice(0, 10).map((r) => r.fn));
  check(first.every((r, k) => k === 0 || num(r.own) <= num(first[k - 1].own) + 0.051),
    'rows start sorted by %Own, largest first', first.slice(0, 8).map((r) => r.own));
  await shot(page, '01-connected-top');

  // 3. sorting --------------------------------------------------------------------
  await page.mouse.move(5, 890);   // off the rows: their order is not held
  await page.click('.tt-th[data-key=function]');
  await page.mouse.move(5, 890);
  let rows = await domRows(page);
  check(rows.length > 5 && rows.every((r, k) => k === 0 || rows[k - 1].fn <= r.fn),
    'clicking Function sorts by name, A to Z', rows.slice(0, 6).map((r) => r.fn));
  check((await page.getAttribute('.tt-th[data-key=function]', 'aria-sort')) === 'ascending', 'the Function header says ascending');
  await page.click('.tt-th[data-key=function]');
  await page.mouse.move(5, 890);
  rows = await domRows(page);
  check(rows.every((r, k) => k === 0 || rows[k - 1].fn >= r.fn), 'clicking it again sorts Z to A', rows.slice(0, 6).map((r) => r.fn));
  await page.click('.tt-th[data-key=total_pct]');
  await page.mouse.move(5, 890);
  await sleep(700);   // a live update in between keeps the order
  rows = await domRows(page);
  check(rows.every((r, k) => k === 0 || num(r.total) <= num(rows[k - 1].total) + 0.051),
    'clicking %Total sorts by total share, largest first, across live updates', rows.slice(0, 8).map((r) => r.total));
  await shot(page, '02-sorted-total');

  // 4. filtering -------------------------------------------------------------------
  await page.fill('#filter', 'prime');
  await sleep(200);
  rows = await domRows(page);
  check(rows.length >= 1 && rows.every((r) => /prime/i.test(r.fn) || /prime/i.test(r.file)),
    'the filter keeps only matching functions', rows.map((r) => r.fn));
  check(rows.some((r) => r.fn === 'is_prime'), 'the filter finds is_prime', rows.map((r) => r.fn));
  await shot(page, '03-filtered');
  await page.fill('#filter', 'no-such-function-zzz');
  await sleep(200);
  check((await domRows(page)).length === 0 && await page.isVisible('.tt-empty'),
    'a filter that matches nothing says so');
  await page.fill('#filter', '');
  await page.click('.tt-th[data-key=own_pct]');
  await page.mouse.move(5, 890);

  // 5. the flame graph ---------------------------------------------------------------
  try {
    await page.waitForFunction(() => window.spyViewer.flame.n > 10, null, { timeout: 10000 });
  } catch (_) { /* checked below */ }
  const pixels = await page.evaluate(() => {
    const c = document.querySelector('.fg-canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let on = 0, colours = new Set();
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 0) { on++; if (colours.size < 50) colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]); }
    }
    return { on, all: d.length / 4, colours: colours.size, nodes: window.spyViewer.flame.n };
  });
  check(pixels.nodes > 10 && pixels.on > pixels.all * 0.05 && pixels.colours > 5,
    'the flame graph draws boxes on the canvas (pixels present)', pixels);
  const box = await page.locator('.fg-canvas').boundingBox();
  await page.mouse.move(box.x + box.width * 0.3, box.y + 9);
  await sleep(150);
  check(await page.isVisible('.fg-tip') && /samples/.test(await page.textContent('.fg-tip')),
    'hovering a box shows a tooltip with its samples', await page.textContent('.fg-tip'));
  // Zoom into the widest box at depth 2.
  const target = await page.evaluate(() => {
    const f = window.spyViewer.flame;
    const list = f.hits[2] || [];
    let best = null;
    for (let k = 0; k < list.length; k += 3) if (!best || list[k + 2] - list[k + 1] > best[2] - best[1]) best = [list[k], list[k + 1], list[k + 2]];
    return best;
  });
  if (check(!!target, 'the flame graph has boxes three levels deep')) {
    await page.mouse.click(box.x + (target[1] + target[2]) / 2, box.y + 2 * 18 + 9);
    await sleep(150);
    const z = await page.evaluate(() => ({ zoom: window.spyViewer.flame.zoom, path: window.spyViewer.flame.zoomPath.length }));
    check(z.zoom > 0 && z.path === 3 && await page.isVisible('#flame-reset'), 'clicking a box zooms into it', z);
    await shot(page, '04-flame-zoomed');
    await page.click('#flame-reset');
    check(await page.evaluate(() => window.spyViewer.flame.zoom) === 0, 'Reset zoom shows the whole graph again');
  }
  await page.fill('#flame-search', 'expensive_score');
  await sleep(200);
  const match = await page.textContent('#flame-match');
  check(/^\d+(\.\d)?% of samples match$/.test(match) && parseFloat(match) > 0, 'a search highlights and reports its share', match);
  await page.mouse.move(box.x + box.width * 0.1, box.y + 9 + 18 * 3);
  await sleep(150);
  await shot(page, '05-flame-search-tooltip');
  await page.fill('#flame-search', '');
  await page.mouse.move(5, 890);

  // 6. record 3 s ---------------------------------------------------------------------
  await page.fill('#rec-seconds', '3');
  await page.click('#record');
  let progressed = false;
  try {
    await page.waitForFunction(() => document.getElementById('recbar').dataset.phase === 'progress' &&
      !document.getElementById('recbar').hidden, null, { timeout: 4000 });
    progressed = true;
  } catch (_) { /* below */ }
  check(progressed && /Recording · \d s left of 3 s · \d+ samples/.test(await page.textContent('#rec-text')),
    'Record 3 s shows a progress bar counting down', await page.textContent('#rec-text'));
  check((await page.textContent('#record')) === 'Stop', 'the Record button turns into Stop while recording');
  await shot(page, '06-recording');
  let links = [];
  try {
    await page.waitForSelector('.rec-file a', { timeout: 10000 });
    links = await page.$$eval('.rec-file a', (as) => as.map((a) => ({ href: a.href, title: a.title })));
  } catch (_) { /* below */ }
  // an async app's recording also has the task view's files (NAME.tasks.*), labelled "wall"
  const cpuLinks = links.filter((l) => !/\.tasks\.[a-z.]+$/.test(l.href));
  check(cpuLinks.length === 2, 'when done it lists the svg and collapsed files', links);
  const wallLabels = await page.$$eval('.rec-file', (rows) => rows.filter((r) => /\.tasks\./.test(r.querySelector('a').href))
    .map((r) => r.querySelector('.fmt').textContent));
  check(wallLabels.every((t) => /^wall /.test(t)), 'the task view\'s files are labelled wall', wallLabels);
  for (const l of links) {
    const p = l.href.startsWith('file://') ? decodeURIComponent(new URL(l.href).pathname) : '';
    check(p === l.title && fs.existsSync(p) && fs.statSync(p).size > 100, `the link ${path.basename(p)} is a file:// URL of a written file`, l);
  }
  let svgShown = false;
  try {
    await page.waitForFunction(() => document.getElementById('view-dialog').open, null, { timeout: 3000 });
    await sleep(700);
    const frame = page.frames().find((f) => f.url().endsWith('.svg'));
    svgShown = !!frame && (await frame.evaluate(() => document.querySelectorAll('rect, g').length)) > 10;
  } catch (_) { /* below */ }
  check(svgShown, 'the recorded SVG flame graph opens inline');
  await shot(page, '07-record-done-inline-svg');
  await page.click('#view-close');
  check((await page.textContent('#record')) === 'Record', 'the button says Record again');
  await shot(page, '08-record-links');

  // 7. dump ---------------------------------------------------------------------------
  await page.click('#dump');
  let dump = null;
  try {
    await page.waitForSelector('.dump-thread.main', { timeout: 5000 });
    dump = await page.$eval('.dump-thread.main', (s) => ({
      name: s.querySelector('.dump-name').textContent, trace: s.querySelector('pre').textContent,
      first: s === s.parentNode.firstElementChild,
    }));
  } catch (_) { /* below */ }
  check(!!dump && dump.name === 'MainThread' && dump.first, 'Dump shows the main thread first', dump);
  check(!!dump && /^Traceback \(most recent call last\):\n {2}File "/.test(dump.trace) &&
    /File ".*uvicorn\/server\.py", line \d+, in Server\.run/.test(dump.trace),
    'the main thread\'s stack reads as a Python traceback through uvicorn', dump && dump.trace.slice(0, 400));
  await shot(page, '09-dump');
  await page.click('#dump-close');

  // 8. a malformed message -----------------------------------------------------------
  await page.evaluate(() => {
    window.spyViewer.handleRaw('this is not json {');
    window.spyViewer.handleRaw('{"type":"top","rows":{"not":"a list"}}');
    window.spyViewer.handleRaw('{"type":"flame","root":{"value":"NaN","children":7}}');
    window.spyViewer.handleRaw('{"type":"surprise"}');
  });
  const toasts = await page.$$eval('.toast', (ts) => ts.map((t) => t.textContent));
  check(await page.evaluate(() => window.spyViewer.flame.n) > 10, 'a malformed flame message leaves the flame graph as it was');
  check(toasts.some((t) => /not a JSON object/.test(t)) && toasts.some((t) => /"top" message/.test(t)) &&
    toasts.some((t) => /"flame" message/.test(t)) &&
    toasts.some((t) => /"surprise"/.test(t)), 'malformed messages are shown as warnings', toasts);
  const before = await page.evaluate(() => window.spyViewer.state.counts.top);
  await sleep(1500);
  check(await page.evaluate(() => window.spyViewer.state.counts.top) > before && (await domRows(page)).length > 5,
    'the page keeps updating after malformed messages');
  await shot(page, '10-malformed-warnings');

  // 12a. dark theme (while the app still runs) -------------------------------------
  const dark = await browser.newContext({ viewport: { width: 1360, height: 900 }, colorScheme: 'dark' });
  const dpage = await openViewer(dark, { host: '127.0.0.1', port: wsA }, 'dark');
  check(await waitState(dpage, 'connected', 15000), 'a second viewer connects (dark theme)');
  await dpage.waitForFunction(() => window.spyViewer.flame.n > 10, null, { timeout: 10000 }).catch(() => {});
  const bg = await dpage.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(bg !== 'rgb(246, 247, 249)' && /rgb\((\d+), (\d+), (\d+)\)/.test(bg) && Number(/\d+/.exec(bg)[0]) < 60,
    'the dark theme follows prefers-color-scheme', bg);
  await shot(dpage, '11-dark');
  await dark.close();

  // 9. hostile names ----------------------------------------------------------------
  const wsH = await freePort();
  const hostile = startHostile('html_names', wsH);
  check(await waitPort(wsH, 20000), 'the HTML-names target runs under the agent');
  const hctx = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const hpage = await openViewer(hctx, { host: '127.0.0.1', port: wsH }, 'hostile');
  check(await waitState(hpage, 'connected', 15000), 'the viewer connects to the HTML-names target');
  let hrow = null;
  for (let i = 0; i < 30 && !hrow; i++) {
    hrow = (await domRows(hpage)).find((r) => r.fn === HOSTILE_FUNC) || null;
    if (!hrow) await sleep(500);
  }
  check(!!hrow && hrow.file.startsWith(HOSTILE_FILE), 'a function named like an <img> tag is shown as text in the table', hrow);
  await hpage.waitForFunction(() => window.spyViewer.flame.n > 2, null, { timeout: 8000 }).catch(() => {});
  const threadNames = await hpage.$$eval('.th-name', (ns) => ns.map((n) => n.textContent));
  check(threadNames.includes(HOSTILE_THREAD), 'a thread named like a <b> tag is shown as text', threadNames);
  await hpage.click('#dump');
  await hpage.waitForSelector('.dump-thread', { timeout: 5000 }).catch(() => {});
  const dumpText = await hpage.textContent('#dump-body');
  check(dumpText.includes(HOSTILE_FUNC) && dumpText.includes(HOSTILE_FILE) && dumpText.includes(HOSTILE_THREAD),
    'the dump shows the HTML names as text');
  await shot(hpage, '12-html-names-dump');
  await hpage.click('#dump-close');
  // Hover the hostile box in the flame graph so its tooltip is built too.
  const hb = await hpage.evaluate((fn) => {
    const f = window.spyViewer.flame;
    for (let d = 0; d < f.hits.length; d++) {
      const l = f.hits[d];
      for (let k = 0; k < l.length; k += 3) if (f.fns[l[k]] === fn) return { d, x: (l[k + 1] + l[k + 2]) / 2 };
    }
    return null;
  }, HOSTILE_FUNC);
  if (hb) {
    const cb = await hpage.locator('.fg-canvas').boundingBox();
    await hpage.mouse.move(cb.x + hb.x, cb.y + hb.d * 18 + 9);
    await sleep(150);
  }
  check(!!hb && (await hpage.textContent('.fg-tip')).includes(HOSTILE_FUNC), 'the flame graph tooltip shows the HTML name as text');
  const injected = await hpage.evaluate(() => ({
    pwned: window.__pwned,
    elements: document.querySelectorAll('img, b, script:not([src])').length,
  }));
  check(injected.pwned === undefined && injected.elements === 0, 'nothing the agent sent ran or became an element', injected);
  await shot(hpage, '13-html-names');
  await hctx.close();
  await killProc(hostile);

  // 10. tokens ------------------------------------------------------------------------
  const wsT = await freePort();
  const guarded = startHostile('token_app', wsT, { SPY_TOKEN: TOKEN });
  check(await waitPort(wsT, 20000), 'an app with SPY_TOKEN runs');
  const tctx = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const tpage = await openViewer(tctx, { host: '127.0.0.1', port: wsT, token: 'wrong-token-5678' }, 'token');
  check(await waitState(tpage, 'refused', 10000) && /refused: bad token/.test(await connText(tpage)),
    'a wrong token shows the refusal', await connText(tpage));
  await sleep(1500);
  check(await tpage.evaluate(() => document.getElementById('conn').dataset.state) === 'refused',
    'after a refusal the viewer does not hammer the agent with retries');
  await shot(tpage, '14-bad-token');
  await tpage.fill('#token', '');
  await tpage.click('#connect-btn');
  check(await waitState(tpage, 'auth', 10000) && /needs a token/.test(await connText(tpage)),
    'no token: the viewer says the agent needs one', await connText(tpage));
  await shot(tpage, '15-token-needed');
  await tpage.fill('#token', TOKEN);
  await tpage.click('#connect-btn');
  check(await waitState(tpage, 'connected', 10000), 'the right token connects');
  check(await tpage.evaluate((t) => JSON.parse(localStorage.getItem('spyagent.viewer')).token === t, TOKEN),
    'the token is remembered in localStorage');
  await tctx.close();
  await killProc(guarded);

  // 11. the agent goes away and comes back ---------------------------------------------
  const oldPid = appA.pid;
  await killProc(appA, 'SIGKILL');
  // state and text read together: the viewer retries after a second, and
  // a loaded machine can let that second pass between two separate reads
  const gone = await page.waitForFunction(() => {
    const text = document.getElementById('conn-text').textContent;
    return document.getElementById('conn').dataset.state === 'disconnected' && /disconnected/.test(text) ? text : false;
  }, null, { timeout: 10000, polling: 50 }).then((h) => h.jsonValue()).catch(() => null);
  check(gone !== null, 'killing the agent shows "disconnected"', gone ?? await connText(page));
  await shot(page, '16-disconnected');
  await sleep(1500);
  const st = await page.evaluate(() => document.getElementById('conn').dataset.state);
  check(st === 'unreachable' || st === 'connecting' || st === 'disconnected', 'while it is gone the viewer keeps retrying', st);
  await shot(page, '17-retrying');
  appA = startApp('app-again', httpA, wsA);
  check(await waitHttp(`http://127.0.0.1:${httpA}/`, 60000), 'the app starts again on the same ports');
  check(await waitState(page, 'connected', 20000), 'the viewer reconnects when the agent comes back', await connText(page));
  await page.waitForFunction((p) => document.getElementById('f-pid').textContent === p, String(appA.pid), { timeout: 5000 }).catch(() => {});
  check((await page.textContent('#f-pid')) === String(appA.pid) && appA.pid !== oldPid, 'the header shows the new pid');
  await page.waitForFunction(() => window.spyViewer.table.view.length > 5, null, { timeout: 10000 }).catch(() => {});
  check(await page.evaluate(() => window.spyViewer.table.view.length) > 5, 'the table fills again after reconnecting');
  await shot(page, '18-reconnected');

  // 12b. nothing left file://, no page error ------------------------------------------------
  check(offsite.length === 0, 'the viewer requested nothing but file:// (no CDN, no fonts)', offsite);
  check(errors.length === 0, 'no page errors', errors);
} catch (e) {
  failed++;
  console.error('FAIL  the test stopped:', e);
} finally {
  await browser.close().catch(() => {});
  await killProc(load);
  await killProc(appA);
  for (const p of [...children]) await killProc(p);
  clearTimeout(watchdog);
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
