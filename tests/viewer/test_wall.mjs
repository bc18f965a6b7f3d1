// The viewer's wall-time parts in headless Chromium, against a real Uvicorn
// app under the real agent (tests/targets/wall_app.py, async routes that
// await, burn CPU and gather):
//
//   1. the endpoints table (the `endpoints` command, polled) lists
//      slow_route "awaiting sleep" and cpu_route "on CPU in burn", with
//      requests in flight and the CPU / ready / waiting split;
//   2. the CPU / wall switch: "wall" makes the agent's top and flame replies
//      the task view (view "tasks", ms): the table ranks asyncio.sleep and
//      the helpers slow_route awaits through, which the CPU view hardly
//      sees; the flame graph counts ms and holds the await chain; "CPU"
//      switches back; the choice survives a reload;
//   3. the loop-blocks list: a request to /block (time.sleep(0.3) in async
//      def) reaches the list as a real `blocked` push naming block_route,
//      with its stack; a message whose names hold markup is shown as text;
//   4. no page error, nothing fetched outside file://.
// Screenshots go into OUTDIR.
//
//   node tests/viewer/test_wall.mjs OUTDIR [AGENT_BUILD_DIR]
//
// Needs: npm ci --prefix tests/viewer (playwright-core), Debian's chromium
// and /usr/bin/python3.11 with fastapi and uvicorn.  Exit status 0 when
// every check passed.  Every process it starts is killed on the way out.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const [outArg, buildArg] = process.argv.slice(2);
if (!outArg) {
  console.error('usage: test_wall.mjs OUTDIR [AGENT_BUILD_DIR]');
  process.exit(2);
}
const outDir = path.resolve(outArg);
const agentDir = path.resolve(buildArg || path.join(repo, 'build', 'agent'));
const VIEWER = pathToFileURL(path.join(repo, 'viewer', 'index.html')).href;
const TOTAL_BUDGET_MS = 200000;
fs.rmSync(outDir, { recursive: true, force: true });
fs.mkdirSync(outDir, { recursive: true });

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
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ processes

let app = null;
function killApp(sig) {
  if (app && !app.exited) { try { process.kill(-app.pid, sig); } catch (_) { /* gone */ } }
}
process.on('exit', () => killApp('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killApp('SIGKILL'); process.exit(130); });
const watchdog = setTimeout(() => {
  console.error(`FAIL  the whole test took longer than ${TOTAL_BUDGET_MS / 1000} s`);
  killApp('SIGKILL');
  process.exit(1);
}, TOTAL_BUDGET_MS);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

function get(port, p) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, timeout: 10000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.on('timeout', () => { req.destroy(); resolve({ status: 0, body: '' }); });
  });
}

async function waitHttp(port, ms) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(200)) {
    if ((await get(port, '/_stats')).status === 200) return true;
  }
  return false;
}

/** Clients each looping on one path until stopped. */
function startLoad(port, paths) {
  const run = { stop: false, done: [] };
  for (const p of paths) {
    run.done.push((async () => { while (!run.stop) await get(port, p); })());
  }
  return run;
}

// ------------------------------------------------------------------ the story

const errors = [], offsite = [];
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
let load = null;
try {
  const httpPort = await freePort(), wsPort = await freePort();
  const log = fs.openSync(path.join(outDir, 'app.log'), 'a');
  const proc = spawn('/usr/bin/python3.11', ['-m', 'uvicorn', 'wall_app:app', '--app-dir', path.join(repo, 'tests', 'targets'),
    '--host', '127.0.0.1', '--port', String(httpPort), '--loop', 'asyncio'], {
    cwd: outDir, detached: true, stdio: ['ignore', log, log],
    env: { ...process.env, SPY_WS_PORT: String(wsPort), SPY_DATA_DIR: path.join(outDir, 'data'), SPY_INTERVAL: '500',
      PYTHONPATH: agentDir, LD_PRELOAD: path.join(agentDir, 'libspyagent.so') },
  });
  fs.closeSync(log);
  app = { pid: proc.pid, exited: false };
  proc.on('exit', () => { app.exited = true; });
  check(await waitHttp(httpPort, 60000), 'the wall app answers HTTP under the agent');
  load = startLoad(httpPort, ['/slow', '/slow', '/cpu', '/gather']);

  const ctx = await browser.newContext({ viewport: { width: 1360, height: 1000 }, colorScheme: 'light' });
  const page = await ctx.newPage();
  page.on('console', (m) => { if (m.type() === 'error' && !/WebSocket connection to/.test(m.text())) errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => { if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) offsite.push(r.url()); });
  await page.goto(`${VIEWER}?${new URLSearchParams({ host: '127.0.0.1', port: wsPort })}`);
  await page.evaluate(() => localStorage.clear());
  await page.reload();
  await page.waitForFunction(() => document.getElementById('conn').dataset.state === 'connected', null, { timeout: 20000 })
    .catch(() => {});
  check(await page.evaluate(() => document.getElementById('conn').dataset.state) === 'connected', 'the viewer connects');
  const commands = await page.evaluate(() => window.spyViewer.state.hello.commands);
  check(commands.includes('endpoints'), 'the agent offers the endpoints command', commands);

  // 1. the endpoints table ---------------------------------------------------
  const rowOf = (name) => page.evaluate((n) => {
    const tr = document.querySelector(`#endpoints tr.wall-row[data-endpoint="${n}"]`);
    if (!tr) return null;
    const td = tr.children;
    return { inFlight: Number(td[1].textContent), taskS: Number(td[2].textContent), split: td[3].title,
      bars: td[3].querySelectorAll('.wall-split span').length, where: td[4].textContent };
  }, name);
  let slow = null, cpu = null;
  for (let i = 0; i < 40 && !(slow && cpu && /awaiting sleep/.test(slow.where) && /on CPU in burn/.test(cpu.where)); i++) {
    await sleep(500);
    slow = await rowOf('slow_route');
    cpu = await rowOf('cpu_route');
  }
  check(slow !== null, 'the endpoints table lists slow_route');
  check(slow && /awaiting sleep/.test(slow.where), 'slow_route: its wall time goes to awaiting sleep', slow);
  check(slow && slow.inFlight > 0 && slow.taskS > 0, 'slow_route has requests in flight and task seconds', slow);
  check(slow && /waiting [0-9.]+%/.test(slow.split) && slow.bars >= 1, 'slow_route shows its CPU / ready / waiting split', slow);
  check(cpu !== null && /on CPU in burn/.test(cpu.where), 'cpu_route: its wall time goes to burn on the CPU', cpu);
  const gather = await rowOf('gather_route');
  check(gather !== null, 'the endpoints table lists gather_route', gather);
  check(await page.evaluate(() => !!document.querySelector('#endpoints tr.wall-row.none')),
    'task time under no route has a row of its own');
  check(/task-s over \d+ s/.test(await page.textContent('#ep-meta')), 'the panel says the task seconds and the window',
    await page.textContent('#ep-meta'));
  await page.screenshot({ path: path.join(outDir, 'endpoints.png') });

  // 2. the CPU / wall switch ----------------------------------------------
  const tableFns = () => page.evaluate(() => window.spyViewer.table.view.map((r) => [r.function, r.own_pct]));
  check(await page.evaluate(() => window.spyViewer.state.view) === 'cpu', 'the viewer starts on the CPU view');
  await page.click('button[data-view="tasks"]');
  check(await page.getAttribute('button[data-view="tasks"]', 'aria-pressed') === 'true', 'the wall button is pressed');
  let fns = [];
  for (let i = 0; i < 30; i++) {
    await sleep(500);
    fns = await tableFns();
    if (fns.some(([f]) => f === 'inner_helper') && fns.some(([f]) => f === 'sleep')
        && /task wall time/.test(await page.textContent('#top-meta'))) break;
  }
  const sleepRow = fns.find(([f]) => f === 'sleep');
  check(sleepRow && sleepRow[1] > 5, 'wall view: asyncio.sleep has a large own share of task wall time', fns.slice(0, 8));
  check(fns.some(([f]) => f === 'inner_helper') && fns.some(([f]) => f === 'outer_helper'),
    'wall view: the helpers slow_route awaits through are ranked', fns.slice(0, 12));
  check(/task wall time/.test(await page.textContent('#top-meta')), 'the table says it counts task wall time',
    await page.textContent('#top-meta'));
  check(await page.evaluate(() => document.getElementById('idle').disabled), 'the idle box is off in the wall view');
  let fl = null;
  for (let i = 0; i < 20; i++) {
    fl = await page.evaluate(() => ({ unit: window.spyViewer.flame.unit, total: window.spyViewer.flame.total,
      fns: (window.spyViewer.flame.fns || []).filter((f) => /helper|slow_route/.test(f)).slice(0, 5),
      meta: document.getElementById('flame-meta').textContent }));
    if (fl.unit === 'ms' && fl.total > 0 && fl.fns.length >= 2 && / ms · /.test(fl.meta)) break;
    await sleep(500);
  }
  check(fl.unit === 'ms' && / ms · /.test(fl.meta), 'the flame graph counts ms in the wall view', fl);
  check(fl.total > 0 && fl.fns.some((f) => /inner_helper/.test(f)) && fl.fns.some((f) => /slow_route/.test(f)),
    'the wall flame graph holds the await chain', fl);
  await page.screenshot({ path: path.join(outDir, 'wall-view.png') });
  await page.reload();
  await page.waitForFunction(() => document.getElementById('conn').dataset.state === 'connected', null, { timeout: 20000 })
    .catch(() => {});
  check(await page.evaluate(() => window.spyViewer.state.view) === 'tasks', 'the wall view is kept across a reload');
  await page.click('button[data-view="cpu"]');
  let meta = '';
  for (let i = 0; i < 20; i++) {
    await sleep(500);
    meta = await page.textContent('#top-meta');
    if (/ samples/.test(meta) && /samples/.test(await page.textContent('#flame-meta'))) break;
  }
  check(/ samples/.test(meta) && !/task wall time/.test(meta), 'back on CPU: the table counts samples again', meta);
  check(await page.evaluate(() => window.spyViewer.flame.unit) === 'samples', 'back on CPU: the flame graph counts samples');
  const cpuFns = await tableFns();
  check(cpuFns.some(([f]) => f === 'burn'), 'back on CPU: burn is in the CPU table', cpuFns.slice(0, 8));

  // 3. the loop-blocks list ------------------------------------------------
  check(commands.includes('blocks'), 'the agent has the blocks command', commands);
  const before = await page.evaluate(() => window.spyViewer.state.counts.blocked || 0);
  await get(httpPort, '/block');
  let item = null;
  for (let i = 0; i < 20 && !item; i++) {
    await sleep(500);
    item = await page.evaluate(() => {
      const li = document.querySelector('#blocks li.block[data-endpoint="block_route"]');
      return li ? { ms: li.querySelector('.block-ms').textContent, trace: li.querySelector('pre').textContent } : null;
    });
  }
  check(item !== null, 'a time.sleep(0.3) in async def appears in the loop-blocks list naming block_route', item);
  check(item && /block_route/.test(item.trace), 'its stack names block_route', item);
  check(await page.evaluate(() => window.spyViewer.state.counts.blocked || 0) > before, 'it came as a blocked push');
  // a message with markup in its names is listed as text, never run
  await page.evaluate(() => window.spyViewer.handleRaw(JSON.stringify({
    type: 'blocked', at: Date.now() / 1000 - 1, duration_ms: 312, thread: 'MainThread', tid: 1, pid: 1,
    endpoint: 'fed_route', endpoint_file: '/srv/wall_app.py', task: 'Task-7',
    frames: [{ function: 'sleep', file: '<built-in>', line: 0 },
      { function: 'block_route', file: '/srv/wall_app.py', line: 72 },
      { function: '<img src=x onerror=window.__pwned=1>', file: 'x.py', line: 1 }] })));
  const fedItem = await page.evaluate(() => {
    const li = document.querySelector('#blocks li.block[data-endpoint="fed_route"]');
    if (!li) return null;
    li.querySelector('summary').click();
    return { ms: li.querySelector('.block-ms').textContent, ep: li.querySelector('.block-ep').textContent,
      open: li.querySelector('details').open, trace: li.querySelector('pre').textContent };
  });
  check(fedItem && fedItem.ms === '312 ms' && fedItem.ep === 'fed_route', 'a blocked message is listed with its duration and endpoint', fedItem);
  check(fedItem && fedItem.open && /block_route \(\/srv\/wall_app\.py:72\)/.test(fedItem.trace) && /onerror/.test(fedItem.trace),
    'clicking it shows its stack, names as text', fedItem);
  check(await page.evaluate(() => window.__pwned === undefined), 'nothing in a blocked message runs');
  await page.screenshot({ path: path.join(outDir, 'blocks.png') });

  // 4. nothing else went wrong --------------------------------------------------
  check(errors.length === 0, 'no page errors', errors);
  check(offsite.length === 0, 'nothing fetched outside file://', offsite);
} catch (e) {
  check(false, 'the test ran to the end', String(e && e.stack ? e.stack : e));
} finally {
  if (load) { load.stop = true; }
  await browser.close().catch(() => {});
  killApp('SIGTERM');
  for (let i = 0; i < 50 && app && !app.exited; i++) await sleep(100);
  killApp('SIGKILL');
  clearTimeout(watchdog);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
