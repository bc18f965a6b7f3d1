// The viewer's rendering cost on a large profile: 20,000 functions and
// 50,000 distinct stacks (synthetic, seeded, so every run sees the same
// profile).  Each measurement is performance.now() around one update
// followed by a forced layout (offsetHeight), so style and layout work the
// update caused is included; paint happens after and is not.
//
//   table      cleanRows + TopTable.update of all 20,000 rows (sort + the
//              rows in view), values changing every round like a live push,
//              shuffled (the worst case) and as the agent sends them (by own);
//              then with a filter, and sorted by name
//   flame      JSON.parse of the agent's `flame` message + FlameGraph.setData
//              (flatten + layout + draw) of the tree the agent sends: the
//              50,000 stacks merged, nodes under 0.1 % of samples left out
//              (docs/PROTOCOL.md)
//   flame-full the same for the tree before pruning (what the agent never
//              sends; shows the margin)
// Results go to window.benchResults and into the page.

(function () {
  'use strict';
  const FUNCS = 20000, STACKS = 50000, ROUNDS = 25;

  let seed = 12345;
  const rnd = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 4294967296; };
  const pick = (n) => Math.floor(rnd() * n);

  // Functions: app code, libraries and the standard library.
  const funcs = [];
  for (let i = 0; i < FUNCS; i++) {
    const kind = i % 10 < 6 ? 'app' : i % 10 < 9 ? 'lib' : 'std';
    const file = kind === 'app' ? `/srv/shop/pkg${i % 40}/module${i % 700}.py`
      : kind === 'lib' ? `/usr/lib/python3/dist-packages/lib${i % 30}/mod${i % 300}.py`
        : `/usr/lib/python3.11/std${i % 60}.py`;
    funcs.push({ function: `Class${i % 97}.method_${i}`, file, line: 1 + (i * 7) % 900 });
  }
  // A call graph: each function calls a few others; entry points are few.
  const callees = funcs.map(() => Array.from({ length: 1 + pick(6) }, () => pick(FUNCS)));
  const entries = Array.from({ length: 12 }, () => pick(FUNCS));

  // 50,000 distinct stacks (outermost first) with skewed counts.
  const stacks = [];
  const seenStacks = new Set();
  while (stacks.length < STACKS) {
    const depth = 6 + pick(30);
    const s = [entries[pick(entries.length)]];
    while (s.length < depth) {
      const c = callees[s[s.length - 1]];
      s.push(rnd() < 0.85 ? c[pick(c.length)] : pick(FUNCS));
    }
    const key = s.join(',');
    if (seenStacks.has(key)) continue;
    seenStacks.add(key);
    stacks.push({ s, n: 1 + Math.floor(400 / (1 + pick(400))) });
  }
  const totalSamples = stacks.reduce((a, b) => a + b.n, 0);

  // Top rows, as the agent computes them.
  const own = new Float64Array(FUNCS), total = new Float64Array(FUNCS);
  for (const { s, n } of stacks) {
    own[s[s.length - 1]] += n;
    const uniq = new Set(s);
    for (const f of uniq) total[f] += n;
  }
  const baseRows = [];
  for (let i = 0; i < FUNCS; i++) {
    if (!total[i]) continue;
    baseRows.push({ ...funcs[i], own: own[i], total: total[i],
      own_pct: (100 * own[i]) / totalSamples, total_pct: (100 * total[i]) / totalSamples });
  }

  // The merged call tree, pruned like the agent's at `minShare` of samples.
  function tree(minShare) {
    const root = { name: 'all', value: 0, self: 0, kids: new Map() };
    for (const { s, n } of stacks) {
      root.value += n;
      let node = root;
      for (let d = 0; d < s.length; d++) {
        const f = s[d];
        let c = node.kids.get(f);
        if (!c) { c = { f, value: 0, self: 0, kids: new Map() }; node.kids.set(f, c); }
        c.value += n;
        node = c;
      }
      node.self += n;
    }
    const min = minShare * root.value;
    let nodes = 0;
    function out(node) {
      nodes++;
      const fn = node.f === undefined ? null : funcs[node.f];
      const o = fn ? { name: `${fn.function} (${fn.file}:${fn.line})`, function: fn.function, file: fn.file, line: fn.line,
        value: node.value, self: node.self, children: [] } : { name: 'all', value: node.value, self: node.self, children: [] };
      const kids = Array.from(node.kids.values()).filter((k) => k.value >= min).sort((a, b) => b.value - a.value);
      for (const k of kids) o.children.push(out(k));
      return o;
    }
    const r = out(root);
    return { json: JSON.stringify({ type: 'flame', window: 5, idle: false, samples: root.value, nodes, root: r }), nodes };
  }

  function stats(xs) {
    const s = xs.slice().sort((a, b) => a - b);
    const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
    return { median: +q(0.5).toFixed(2), p95: +q(0.95).toFixed(2), max: +s[s.length - 1].toFixed(2) };
  }

  function run() {
    const out = document.getElementById('out');
    const results = { functions: baseRows.length, stacks: STACKS, samples: totalSamples, rounds: ROUNDS };

    // ---- table
    const table = new Spy.toptable.TopTable(document.getElementById('table'));
    const times = [], timesFiltered = [], timesByName = [];
    const push = (k) => baseRows.map((r) => {
      const j = 0.6 + ((r.line * 31 + k * 17) % 100) / 125;   // values move every round
      return { ...r, own: Math.round(r.own * j), own_pct: r.own_pct * j };
    });
    for (let k = 0; k < ROUNDS + 3; k++) {
      const msgRows = push(k);
      const t0 = performance.now();
      table.update(Spy.toptable.cleanRows(msgRows), { rate: 100 });
      void document.body.offsetHeight;
      if (k >= 3) times.push(performance.now() - t0);
    }
    // As the agent sends them: sorted by own, largest first.
    const timesAsSent = [];
    for (let k = 0; k < ROUNDS; k++) {
      const msgRows = push(k).sort((a, b) => b.own - a.own);
      const t0 = performance.now();
      table.update(Spy.toptable.cleanRows(msgRows), { rate: 100 });
      void document.body.offsetHeight;
      timesAsSent.push(performance.now() - t0);
    }
    results.table_as_sent = stats(timesAsSent);
    table.setFilter('method_1');
    for (let k = 0; k < ROUNDS; k++) {
      const msgRows = push(k);
      const t0 = performance.now();
      table.update(Spy.toptable.cleanRows(msgRows), { rate: 100 });
      void document.body.offsetHeight;
      timesFiltered.push(performance.now() - t0);
    }
    table.setFilter('');
    table.sortBy('function');
    for (let k = 0; k < ROUNDS; k++) {
      const msgRows = push(k);
      const t0 = performance.now();
      table.update(Spy.toptable.cleanRows(msgRows), { rate: 100 });
      void document.body.offsetHeight;
      timesByName.push(performance.now() - t0);
    }
    table.sortBy('own_pct');
    results.table = stats(times);
    results.table_filtered = stats(timesFiltered);
    results.table_by_name = stats(timesByName);

    // ---- flame graph
    const flame = new Spy.flamegraph.FlameGraph(document.getElementById('flame'));
    for (const [label, share] of [['flame', 0.001], ['flame_full', 0]]) {
      const t = tree(share);
      const parse = [], set = [], all = [], redraw = [];
      for (let k = 0; k < (share ? ROUNDS : 3); k++) {
        const t0 = performance.now();
        const msg = JSON.parse(t.json);
        const t1 = performance.now();
        flame.setData(msg.root);
        void document.body.offsetHeight;
        const t2 = performance.now();
        flame.draw();
        const t3 = performance.now();
        parse.push(t1 - t0); set.push(t2 - t1); all.push(t2 - t0); redraw.push(t3 - t2);
      }
      results[label] = { nodes: t.nodes, message_bytes: t.json.length, drawn_boxes: flame.stats.drawn,
        parse: stats(parse), set_data_and_draw: stats(set), total: stats(all), redraw: stats(redraw) };
    }
    // Leave the pruned one on screen for the screenshot.
    flame.setData(JSON.parse(tree(0.001).json).root);

    window.benchResults = results;
    out.textContent = JSON.stringify(results, null, 2);
  }

  window.addEventListener('load', () => setTimeout(() => {
    try { run(); } catch (e) { window.benchResults = { error: String(e && e.stack || e) }; document.getElementById('out').textContent = String(e && e.stack || e); }
  }, 50));
})();
