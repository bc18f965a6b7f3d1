// The SVG flame graph as a person uses it, in headless Chromium: it opens
// without errors, hovering a frame shows its tooltip, clicking zooms into
// it, reset restores the view, and a search highlights frames and reports
// the matched share — checked against the collapsed file of the same
// profile.  Screenshots go into OUTDIR.
//
//   node tests/browser/test_svg.mjs MAKE_PROFILES OUTDIR
//     (runs MAKE_PROFILES OUTDIR first: build/tests/unit/make_profiles)
//   node tests/browser/test_svg.mjs FILE.svg OUTDIR
//     (an existing SVG; the search is then not checked against collapsed)
//
// Needs: npm install --prefix tests/browser (playwright-core) and Debian's
// chromium (/usr/bin/chromium).  Exit status 0 when every check passed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const [arg, outArg] = process.argv.slice(2);
if (!arg || !outArg) {
  console.error('usage: test_svg.mjs MAKE_PROFILES|FILE.svg OUTDIR');
  process.exit(2);
}
const outDir = path.resolve(outArg);
fs.mkdirSync(outDir, { recursive: true });

let svgFiles, collapsedFile = null;
if (arg.endsWith('.svg')) {
  svgFiles = [path.resolve(arg)];
} else {
  const t0 = Date.now();
  const log = execFileSync(path.resolve(arg), [outDir], { encoding: 'utf8' });
  process.stdout.write(log);
  console.log(`make_profiles: ${Date.now() - t0} ms`);
  svgFiles = [path.join(outDir, 'profile.svg'), path.join(outDir, 'profile-threads.svg')];
  collapsedFile = path.join(outDir, 'profile.collapsed.txt');
}

let passed = 0, failed = 0;
function check(cond, what) {
  if (cond) {
    passed++;
  } else {
    failed++;
    console.error(`CHECK failed: ${what}`);
  }
}

// The share of samples whose stack has a frame matching re, from the
// collapsed lines (each sample counted once).
function collapsedShare(file, re) {
  let total = 0, hit = 0;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const sp = line.lastIndexOf(' ');
    const n = Number(line.slice(sp + 1));
    total += n;
    if (line.slice(0, sp).split(';').some((f) => re.test(f))) hit += n;
  }
  return total ? (100 * hit) / total : 0;
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});

try {
  for (const [n, svg] of svgFiles.entries()) {
    const tag = path.basename(svg, '.svg');
    const page = await browser.newPage({ viewport: { width: 1240, height: 900 } });
    const errors = [];
    const requests = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });

    const t0 = Date.now();
    await page.goto(pathToFileURL(svg).href, { waitUntil: 'load' });
    await page.waitForFunction(() => window.spyFlame !== undefined);
    const loadMs = Date.now() - t0;
    const size = fs.statSync(svg).size;
    // how long it took is reported, never judged: a loaded machine is slow
    console.log(`${tag}: ${(size / 1e6).toFixed(2)} MB, loaded and scripted in ${loadMs} ms`);

    // Show the whole image (a full-page screenshot of an SVG document hangs).
    const height = await page.evaluate(() => +document.documentElement.getAttribute('height'));
    await page.setViewportSize({ width: 1200, height: Math.min(Math.max(height, 300), 4000) });

    const nboxes = await page.locator('#frames > g').count();
    console.log(`${tag}: ${nboxes} boxes`);
    check(nboxes > 100, `${tag} has boxes (${nboxes})`);
    await page.screenshot({ path: path.join(outDir, `${tag}-1-full.png`), });

    // A wide frame a few levels up: hover it.
    const pick = await page.evaluate(() => {
      const gs = [...document.querySelectorAll('#frames > g')];
      let best = -1, bestScore = -1;
      gs.forEach((g, i) => {
        const [, w, d] = g.getAttribute('data-v').split(' ').map(Number);
        const width = +g.firstElementChild.getAttribute('width');
        if (d >= 7 && width > 150 && width < 900 && d * 1000 + width > bestScore) {
          best = i; bestScore = d * 1000 + width;
        }
      });
      if (best < 0) return null;
      const g = gs[best];
      const [x, w, d, l] = g.getAttribute('data-v').split(' ').map(Number);
      return { i: best, x, w, d, label: window.SPY.labels[l], width: +g.firstElementChild.getAttribute('width') };
    });
    check(pick !== null, `${tag}: a wide frame to hover`);
    if (!pick) continue;
    const box = page.locator('#frames > g').nth(pick.i).locator('rect');
    await box.hover();
    const tipText = await page.locator('#tip').textContent();
    const tipVisible = await page.locator('#tip').isVisible();
    console.log(`${tag}: tooltip: ${tipText}`);
    check(tipVisible, `${tag}: tooltip visible on hover`);
    check(tipText.includes(pick.label[0]), `${tag}: tooltip names the function ${pick.label[0]}`);
    check(tipText.includes(`${pick.label[1]}:${pick.label[2]}`), `${tag}: tooltip has file:line`);
    const pct = ((100 * pick.w) / (await page.evaluate(() => window.SPY.total))).toFixed(2);
    check(tipText.includes(`samples, ${pct}% of all`), `${tag}: tooltip has samples and ${pct}%`);
    await page.screenshot({ path: path.join(outDir, `${tag}-2-hover.png`) });

    // Click to zoom: the frame fills the width, its ancestors stay, others go.
    const visibleBefore = await page.locator('#frames > g:visible').count();
    await box.click();
    const after = await page.evaluate((i) => {
      const gs = document.querySelectorAll('#frames > g');
      let visible = 0, wider = 0;
      for (const g of gs) if (g.style.display !== 'none') visible++;
      return {
        width: +gs[i].firstElementChild.getAttribute('width'),
        x: +gs[i].firstElementChild.getAttribute('x'),
        visible,
        resetShown: !document.getElementById('reset').classList.contains('hidden'),
        ancestors: document.querySelectorAll('#frames > g.anc').length,
      };
    }, pick.i);
    console.log(`${tag}: zoom: width ${pick.width} -> ${after.width}, visible ${visibleBefore} -> ${after.visible}, ancestors ${after.ancestors}`);
    check(Math.abs(after.width - 1180) < 0.2 && Math.abs(after.x - 10) < 0.2, `${tag}: zoomed frame spans the chart`);
    check(after.visible < visibleBefore, `${tag}: zoom hides frames outside`);
    check(after.ancestors === pick.d, `${tag}: the ${pick.d} ancestors stay (${after.ancestors})`);
    check(after.resetShown, `${tag}: reset control shown when zoomed`);
    await page.mouse.move(5, 5);
    await page.screenshot({ path: path.join(outDir, `${tag}-3-zoomed.png`), });

    // Reset.
    await page.locator('#reset').click();
    const reset = await page.evaluate((i) => ({
      width: +document.querySelectorAll('#frames > g')[i].firstElementChild.getAttribute('width'),
      visible: [...document.querySelectorAll('#frames > g')].filter((g) => g.style.display !== 'none').length,
      resetHidden: document.getElementById('reset').classList.contains('hidden'),
    }), pick.i);
    check(Math.abs(reset.width - pick.width) < 0.2, `${tag}: reset restores widths (${reset.width} vs ${pick.width})`);
    check(reset.visible === nboxes && reset.resetHidden, `${tag}: reset shows every frame again`);

    // Search through the button (a prompt), then through Ctrl+F.
    const terms = ['Cart\\.total', 'json/'];
    page.once('dialog', (d) => d.accept(terms[0]));
    await page.locator('#search').click();
    await page.waitForFunction(() => document.getElementById('matched').textContent !== '');
    let matched = await page.locator('#matched').textContent();
    const highlighted = await page.evaluate(() =>
      [...document.querySelectorAll('#frames rect')].filter((r) => r.getAttribute('fill') === window.SPY.matchColour).length);
    console.log(`${tag}: search ${terms[0]}: ${matched}, ${highlighted} boxes highlighted`);
    check(/^Matched: \d+\.\d\d% \([\d,]+ samples\)$/.test(matched), `${tag}: matched percentage shown (${matched})`);
    check(highlighted > 0, `${tag}: matching boxes highlighted`);
    if (collapsedFile && n === 0) {
      const want = collapsedShare(collapsedFile, new RegExp(terms[0]));
      const got = parseFloat(matched.slice('Matched: '.length));
      console.log(`${tag}: collapsed says ${want.toFixed(2)}%`);
      // Exact: frames too narrow to draw still count (the SVG lists them).
      check(Math.abs(got - want) < 0.006, `${tag}: matched share ${got}% agrees with collapsed ${want.toFixed(2)}%`);
    }
    await page.screenshot({ path: path.join(outDir, `${tag}-4-search.png`), });

    page.once('dialog', (d) => d.accept(terms[1]));
    await page.keyboard.press('Control+F');
    await page.waitForFunction((m) => document.getElementById('matched').textContent !== m, matched);
    matched = await page.locator('#matched').textContent();
    console.log(`${tag}: Ctrl+F ${terms[1]}: ${matched}`);
    check(/^Matched: \d+\.\d\d%/.test(matched), `${tag}: Ctrl+F searches too`);
    if (collapsedFile && n === 0) {
      const want = collapsedShare(collapsedFile, new RegExp(terms[1]));
      const got = parseFloat(matched.slice('Matched: '.length));
      check(Math.abs(got - want) < 0.006, `${tag}: matched share ${got}% agrees with collapsed ${want.toFixed(2)}%`);
    }
    await page.keyboard.press('Escape');
    check((await page.locator('#matched').textContent()) === '', `${tag}: Escape clears the search`);

    // Zoom through a frame's descendant then zoom out by clicking the root.
    await box.click();
    await page.locator('#frames > g').first().locator('rect').click();
    check(await page.evaluate(() => document.getElementById('reset').classList.contains('hidden')),
          `${tag}: clicking the root zooms out`);

    if (tag.includes('threads')) {
      const threads = await page.evaluate(() =>
        window.SPY.labels.filter((l) => l[3] === 1).map((l) => l[0]));
      console.log(`${tag}: thread frames: ${threads.join(', ')}`);
      check(threads.length === 4 && threads.includes('thread MainThread (4000)'), `${tag}: one frame per thread`);
    }
    check(errors.length === 0, `${tag}: no console errors (${errors.join(' | ')})`);
    check(requests.length === 0, `${tag}: no network requests (${requests.join(' ')})`);
    await page.close();
  }
} finally {
  await browser.close();
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
