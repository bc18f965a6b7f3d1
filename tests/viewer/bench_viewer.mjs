// Runs tests/viewer/bench.html in headless Chromium and prints how long one
// update of the viewer's top table and of its flame graph takes with 20,000
// functions and 50,000 stacks (performance.now() in the page; see bench.js).
//
//   node tests/viewer/bench_viewer.mjs [OUTDIR]
//
// Goals (issue 5): table ≤ 16 ms, flame graph ≤ 50 ms per update.  Exit
// status 0 when the medians meet them, 1 when not.  OUTDIR, if given, gets a
// screenshot of the page and results.json.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = process.argv[2] ? path.resolve(process.argv[2]) : null;
if (outDir) fs.mkdirSync(outDir, { recursive: true });

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
let r;
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1300 } });
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(pathToFileURL(path.join(here, 'bench.html')).href);
  await page.waitForFunction(() => window.benchResults, null, { timeout: 120000 });
  r = await page.evaluate(() => window.benchResults);
  if (outDir) {
    await page.screenshot({ path: path.join(outDir, 'bench.png'), fullPage: true });
    fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(r, null, 2));
  }
} finally {
  await browser.close();
}
if (r.error) { console.error(r.error); process.exit(1); }

const ms = (s) => `median ${s.median} ms, p95 ${s.p95}, max ${s.max}`;
console.log(`profile: ${r.functions} functions, ${r.stacks} stacks, ${r.samples} samples; ${r.rounds} rounds each`);
console.log(`table update, all ${r.functions} rows, shuffled: ${ms(r.table)}`);
console.log(`table update, rows as sent (by own):     ${ms(r.table_as_sent)}`);
console.log(`table update, filtered:                  ${ms(r.table_filtered)}`);
console.log(`table update, sorted by name:            ${ms(r.table_by_name)}`);
for (const k of ['flame', 'flame_full']) {
  const f = r[k];
  console.log(`${k === 'flame' ? 'flame graph as sent (≥ 0.1 %)' : 'flame graph unpruned        '}: ${f.nodes} nodes, ${(f.message_bytes / 1024).toFixed(0)} KiB, ${f.drawn_boxes} boxes drawn`);
  console.log(`    parse + setData + draw: ${ms(f.total)}  (parse ${f.parse.median}, setData+draw ${f.set_data_and_draw.median}, redraw alone ${f.redraw.median})`);
}
const ok = r.table.median <= 16 && r.table_filtered.median <= 16 && r.table_by_name.median <= 16 && r.flame.total.median <= 50;
console.log(ok ? 'goals met: table ≤ 16 ms, flame graph ≤ 50 ms' : 'GOAL MISSED (table ≤ 16 ms, flame graph ≤ 50 ms)');
process.exit(ok ? 0 : 1);
