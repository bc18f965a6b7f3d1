// The HTML report as a person uses it, in headless Chromium: it opens with
// no console errors and no network requests, its tables sort when a header
// is clicked (both ways), the category chart has its bars, and the
// embedded flame graph renders its boxes.  Screenshots go into OUTDIR.
//
//   node tests/browser/test_report.mjs SPYCTL MAKE_PROFILES OUTDIR
//     (makes a profile with MAKE_PROFILES, reports on it with
//      `SPYCTL report ... --format html`, then opens the report)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const [spyctl, makeProfiles, outArg] = process.argv.slice(2);
if (!spyctl || !makeProfiles || !outArg) {
  console.error('usage: test_report.mjs SPYCTL MAKE_PROFILES OUTDIR');
  process.exit(2);
}
const out = path.resolve(outArg);
fs.mkdirSync(out, { recursive: true });
execFileSync(path.resolve(makeProfiles), [out, '3000', '20000', '3'], { stdio: 'ignore' });
const html = path.join(out, 'report.html');
execFileSync(path.resolve(spyctl), ['report', path.join(out, 'profile.collapsed.txt'), '--format', 'html',
  '--output', html], { stdio: 'inherit' });

let passed = 0, failed = 0;
function check(ok, what, detail) {
  if (ok) { passed++; console.log('ok    ' + what); }
  else { failed++; console.log('FAIL  ' + what + (detail ? '\n      ' + detail : '')); }
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors = [], requests = [];
  page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', e => errors.push(String(e)));
  page.on('request', r => { if (!/^(file|data|blob):/.test(r.url())) requests.push(r.url()); });
  await page.goto(pathToFileURL(html).href);
  await page.waitForTimeout(500);
  await page.screenshot({ path: path.join(out, 'report-1-top.png') });

  const firstCells = async (id, col) => page.$$eval(`#${id} tbody tr`, (rows, c) =>
    rows.map(r => r.children[c] ? r.children[c].textContent.trim() : ''), col);
  const num = s => parseFloat(s.replace(/[,%\s]/g, '')) || 0;
  const sorted = (xs, dir) => xs.every((x, i) => i === 0 || (dir > 0 ? xs[i - 1] <= x : xs[i - 1] >= x));

  const rows = await firstCells('functions-table', 1);
  check(rows.length > 5, `the functions table has rows (${rows.length})`);
  const head = await page.$('#functions-table thead th:nth-child(2)');
  await head.click();
  const a = (await firstCells('functions-table', 1)).map(num);
  await head.click();
  const b = (await firstCells('functions-table', 1)).map(num);
  check((sorted(a, 1) && sorted(b, -1)) || (sorted(a, -1) && sorted(b, 1)),
    'clicking "own" sorts the functions table, and again the other way', `${a.slice(0, 5)} / ${b.slice(0, 5)}`);
  const nameHead = await page.$('#functions-table thead th:nth-child(1)');
  await nameHead.click();
  const names = await firstCells('functions-table', 0);
  await nameHead.click();
  const names2 = await firstCells('functions-table', 0);
  check(names.join('|') !== names2.join('|') && names[0] === names2[names2.length - 1],
    'clicking "function" sorts by name, then reverses');
  const tidHead = await page.$('#threads-table thead th:nth-child(3)');
  if (tidHead) {
    await tidHead.click();
    const t = (await firstCells('threads-table', 2)).map(num);
    check(sorted(t, 1) || sorted(t, -1), 'the threads table sorts by samples');
  }

  const bars = await page.$$eval('#chart .bar, #categories .bar', els => els.length);
  check(bars >= 1, `the category chart has bars (${bars})`);

  const handle = await page.$('#flame');
  const frame = handle ? await handle.contentFrame() : null;
  check(!!frame, 'the flame graph is embedded');
  if (frame) {
    await frame.waitForSelector('#frames > g', { timeout: 10000 }).catch(() => {});
    const boxes = await frame.$$eval('#frames > g', gs => gs.length).catch(e => { console.log('      ' + e); return 0; });
    check(boxes > 50, `the flame graph renders its boxes (${boxes})`);
  }
  await page.$eval('#flamegraph', el => el.scrollIntoView());
  await page.screenshot({ path: path.join(out, 'report-2-flame.png') });

  check(errors.length === 0, 'no console errors', errors.join('\n      '));
  check(requests.length === 0, 'nothing requested from the network', requests.join(' '));
} finally {
  await browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
