// The live flame graph, drawn on a canvas as an icicle (the root on top,
// callees below their callers, width = samples).
//
// Input is a merged call tree, {name, value, self?, file?, line?, function?,
// children: [...]}, the shape of the agent's `flame` message.  It is
// flattened into arrays in depth-first order with, for each node, the index
// just past its subtree, so drawing skips whole subtrees that are off screen
// or narrower than half a pixel: one frame costs the visible boxes, not the
// size of the profile.  Hover shows a tooltip (built from text nodes only),
// a click zooms into a box (its ancestors stay on top, full width), a click
// on the root or Reset zooms out, and a search highlights the matching boxes
// and says what share of the samples they cover.  The zoom survives updates:
// it is kept as the path of names from the root.

(function (Spy) {
  'use strict';
  const { h, fmtPct, fmtCount } = Spy.dom;

  const ROW_H = 18;
  const MAX_NODES = 300000;
  const MAX_DEPTH = 1024;
  const FONT = '11.5px ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace';

  /** Which part of the program a frame belongs to, from its file. */
  function category(file, name) {
    if (!file) return name === 'all' || !name ? 'root' : 'other';
    if (/\/(site|dist)-packages\//.test(file)) return 'library';
    if (/\/lib\/python3(\.\d+)?\//.test(file) || file.startsWith('<frozen')) return 'stdlib';
    if (file.startsWith('<')) return 'other';
    return 'app';
  }

  const CATEGORY_LABELS = { app: 'your code', library: 'libraries', stdlib: 'standard library', other: 'other' };

  const HUES = {
    app: [14, 40, 72, 58],       // hue from, hue to, saturation, lightness
    library: [165, 195, 42, 50],
    stdlib: [212, 236, 48, 64],
    other: [0, 0, 0, 62],
    root: [0, 0, 0, 50],
  };

  function hash(s) {
    let x = 2166136261;
    for (let i = 0; i < s.length; i++) { x ^= s.charCodeAt(i); x = Math.imul(x, 16777619); }
    return (x >>> 0) / 4294967296;
  }

  function splitName(node) {
    // "function (file:line)" as sent, or explicit members.
    let fn = typeof node.function === 'string' ? node.function : null;
    let file = typeof node.file === 'string' ? node.file : '';
    let line = Number.isFinite(node.line) ? node.line : 0;
    const name = typeof node.name === 'string' ? node.name : (fn || '?');
    if (fn === null) {
      const m = /^(.*) \((.*?)(?::(\d+))?\)$/.exec(name);
      if (m) { fn = m[1]; if (!file) file = m[2]; if (!line && m[3]) line = Number(m[3]); } else fn = name;
    }
    return { name, fn, file, line };
  }

  class FlameGraph {
    constructor(root, { onZoom } = {}) {
      this.unit = 'samples';   // what the widths count: 'samples', or 'ms' of task wall time
      this.root = root;
      this.onZoom = onZoom || (() => {});
      this.canvas = h('canvas', { class: 'fg-canvas', 'aria-label': 'flame graph' });
      this.tip = h('div', { class: 'fg-tip', hidden: true });
      this.scroller = h('div', { class: 'fg-scroll' }, this.canvas);
      root.append(this.scroller, this.tip);
      this.ctx = this.canvas.getContext('2d');
      this.n = 0;
      this.zoom = 0;
      this.zoomPath = [];
      this.search = null;
      this.searchShare = 0;
      this.width = root.clientWidth || 800;
      this.hover = -1;
      this.colors = null;
      this.charW = 7;
      this.stats = { nodes: 0, drawn: 0, ms: 0 };

      this.canvas.addEventListener('pointermove', (e) => this._onMove(e));
      this.canvas.addEventListener('pointerleave', () => { this.tip.hidden = true; this._setHover(-1); });
      this.canvas.addEventListener('click', (e) => {
        const i = this._hit(e);
        if (i < 0) return;
        this.zoomTo(i === this.zoom && i !== 0 ? this.parent[i] : i);
      });
      new ResizeObserver(() => {
        const w = this.scroller.clientWidth;
        if (w && w !== this.width) { this.width = w; this.draw(); }
      }).observe(this.scroller);
      window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => { this.colors = null; this.draw(); });
    }

    /** Replace the tree; keeps the zoom (by path) and the search. */
    setData(tree) {
      const names = [], fns = [], files = [], lines = [], values = [], selfs = [], parent = [], depth = [], end = [], x = [];
      let maxDepth = 0;
      // Iterative pre-order walk; x is the sample offset of a box in the tree.
      const stack = [[tree, -1, 0, 0]];
      const open = [];  // indices whose `end` is set when their subtree closes
      while (stack.length && names.length < MAX_NODES) {
        const [node, par, d, x0] = stack.pop();
        while (open.length && depth[open[open.length - 1]] >= d) end[open.pop()] = names.length;
        if (!node || typeof node !== 'object') continue;
        const v = Number(node.value);
        if (!Number.isFinite(v) || v <= 0) continue;
        const i = names.length;
        const s = splitName(node);
        names.push(s.name); fns.push(s.fn); files.push(s.file); lines.push(s.line);
        values.push(v);
        selfs.push(Number.isFinite(node.self) ? node.self : NaN);
        parent.push(par); depth.push(d); x.push(x0); end.push(0);
        open.push(i);
        if (d > maxDepth) maxDepth = d;
        const kids = Array.isArray(node.children) && d < MAX_DEPTH ? node.children : [];
        // Children left to right by offset; pushed in reverse so the first pops first.
        let off = x0, sum = 0;
        const placed = [];
        for (const c of kids) {
          const cv = c && Number(c.value);
          if (!Number.isFinite(cv) || cv <= 0) continue;
          placed.push([c, i, d + 1, off]);
          off += cv; sum += cv;
        }
        for (let k = placed.length - 1; k >= 0; k--) stack.push(placed[k]);
        if (Number.isNaN(selfs[i])) selfs[i] = Math.max(0, v - sum);
      }
      while (open.length) end[open.pop()] = names.length;
      Object.assign(this, { names, fns, files, lines, values, selfs, parent, depth, end, x, maxDepth, n: names.length });
      this.cats = files.map((f, i) => category(f, i === 0 ? 'all' : fns[i]));
      this.colorOf = null;
      this.total = this.n ? values[0] : 0;
      this.stats.nodes = this.n;
      // Restore the zoom by path.
      let z = 0;
      if (this.n && this.zoomPath.length > 1) {
        for (let p = 1; p < this.zoomPath.length; p++) {
          let found = -1;
          for (let c = z + 1; c < end[z]; c = end[c]) { if (names[c] === this.zoomPath[p]) { found = c; break; } }
          if (found < 0) break;
          z = found;
        }
      }
      this.zoom = this.n ? z : 0;
      this._applySearch();
      this.draw();
    }

    clear() {
      this.n = 0;
      this.draw();
    }

    zoomTo(i) {
      if (i < 0 || i >= this.n) i = 0;
      this.zoom = i;
      const path = [];
      for (let k = i; k >= 0; k = this.parent[k]) path.push(this.names[k]);
      this.zoomPath = path.reverse();
      this.draw();
      this.onZoom(i === 0 ? null : this.fns[i]);
    }

    /** Highlight boxes whose function or file contains `text` (case-insensitive). */
    setSearch(text) {
      const t = String(text || '').trim().toLowerCase();
      this.search = t || null;
      this._applySearch();
      this.draw();
    }

    _applySearch() {
      this.match = null;
      this.searchShare = 0;
      if (!this.search || !this.n) return;
      const t = this.search;
      const m = new Uint8Array(this.n);
      let covered = 0;
      // Pre-order: a match below a matched box is not counted twice.
      let skipUntil = 0;
      for (let i = 1; i < this.n; i++) {
        if (this.fns[i].toLowerCase().includes(t) || this.files[i].toLowerCase().includes(t)) {
          m[i] = 1;
          if (i >= skipUntil) { covered += this.values[i]; skipUntil = this.end[i]; }
        }
      }
      this.match = m;
      this.searchShare = this.total ? (100 * covered) / this.total : 0;
    }

    _palette() {
      const cs = getComputedStyle(this.root);
      const dark = window.matchMedia('(prefers-color-scheme: dark)').matches;
      this.colors = {
        text: '#1b1b1f',
        border: cs.getPropertyValue('--bg').trim() || (dark ? '#16181d' : '#ffffff'),
        hit: dark ? 'hsl(300 75% 68%)' : 'hsl(300 70% 58%)',
        empty: cs.getPropertyValue('--muted').trim() || '#888',
        dimAlpha: dark ? 0.28 : 0.35,
      };
    }

    _color(i) {
      const c = this.cats[i];
      const [h0, h1, s, l] = HUES[c];
      const r = hash(this.fns[i]);
      return `hsl(${(h0 + (h1 - h0) * r).toFixed(0)} ${s}% ${(l - 6 + 12 * hash(this.files[i] + 'x')).toFixed(0)}%)`;
    }

    /** Draw the current tree, zoom and search. */
    draw() {
      const t0 = performance.now();
      if (!this.colors) this._palette();
      const dpr = window.devicePixelRatio || 1;
      const W = Math.max(100, this.width);
      const rows = this.n ? this.maxDepth + 1 : 1;
      const H = rows * ROW_H;
      if (this.canvas.width !== Math.round(W * dpr) || this.canvas.height !== Math.round(H * dpr)) {
        this.canvas.width = Math.round(W * dpr);
        this.canvas.height = Math.round(H * dpr);
        this.canvas.style.width = W + 'px';
        this.canvas.style.height = H + 'px';
      }
      const ctx = this.ctx;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, W, H);
      this.hits = [];
      if (!this.n) { this.stats.drawn = 0; this.stats.ms = performance.now() - t0; return; }
      if (!this.colorOf) this.colorOf = new Array(this.n);
      ctx.font = FONT;
      ctx.textBaseline = 'middle';
      this.charW = ctx.measureText('MMMMMMMMMM').width / 10 || 7;

      const z = this.zoom;
      const zx = this.x[z], zv = this.values[z];
      const scale = W / zv;
      const hits = [];
      for (let d = 0; d <= this.maxDepth; d++) hits.push([]);
      const match = this.match;
      let drawn = 0;

      // Ancestors of the zoomed box: full width.
      for (let a = this.parent[z]; a >= 0; a = this.parent[a]) {
        this._box(ctx, a, 0, W, match, true);
        hits[this.depth[a]].push(a, 0, W);
        drawn++;
      }
      // The zoomed subtree, skipping what is narrower than half a pixel.
      const end = this.end[z];
      for (let i = z; i < end;) {
        const w = this.values[i] * scale;
        if (w < 0.5) { i = this.end[i]; continue; }
        const x0 = (this.x[i] - zx) * scale;
        this._box(ctx, i, x0, w, match, false);
        hits[this.depth[i]].push(i, x0, x0 + w);
        drawn++;
        i++;
      }
      this.hits = hits;
      this.stats.drawn = drawn;
      this.stats.ms = performance.now() - t0;
    }

    _box(ctx, i, x0, w, match, ancestor) {
      const y = this.depth[i] * ROW_H;
      let fill = this.colorOf[i];
      if (!fill) fill = this.colorOf[i] = this._color(i);
      const on = match ? match[i] === 1 : true;
      ctx.globalAlpha = on ? (ancestor ? 0.75 : 1) : this.colors.dimAlpha;
      ctx.fillStyle = match && on && i !== 0 ? this.colors.hit : fill;
      ctx.fillRect(x0, y, w > 1.5 ? w - 1 : w, ROW_H - 1);
      if (w > 28) {
        const label = i === 0 ? `all (${fmtCount(this.values[0])} ${this.unit})` : this.fns[i];
        const fit = Math.floor((w - 8) / this.charW);
        if (fit >= 3) {
          ctx.fillStyle = this.colors.text;
          ctx.fillText(label.length > fit ? label.slice(0, fit - 1) + '…' : label, x0 + 4, y + ROW_H / 2);
        }
      }
      if (i === this.hover) {
        ctx.globalAlpha = 1;
        ctx.strokeStyle = this.colors.text;
        ctx.lineWidth = 1.5;
        ctx.strokeRect(x0 + 0.75, y + 0.75, Math.max(0, w - 2.5), ROW_H - 2.5);
      }
      ctx.globalAlpha = 1;
    }

    _hit(e) {
      const r = this.canvas.getBoundingClientRect();
      const px = e.clientX - r.left, py = e.clientY - r.top;
      const d = Math.floor(py / ROW_H);
      const list = this.hits && this.hits[d];
      if (!list) return -1;
      for (let k = 0; k < list.length; k += 3) {
        if (px >= list[k + 1] && px < list[k + 2]) return list[k];
      }
      return -1;
    }

    _setHover(i) {
      if (i === this.hover) return;
      this.hover = i;
      this.canvas.style.cursor = i >= 0 ? 'pointer' : '';
      this.draw();
    }

    _onMove(e) {
      const i = this._hit(e);
      this._setHover(i);
      if (i < 0) { this.tip.hidden = true; return; }
      const tip = this.tip;
      while (tip.firstChild) tip.removeChild(tip.firstChild);
      const v = this.values[i];
      tip.append(
        h('div', { class: 'fg-tip-name' }, i === 0 ? `all ${this.unit}` : this.fns[i]),
        this.files[i] ? h('div', { class: 'fg-tip-file' }, `${this.files[i]}${this.lines[i] ? ':' + this.lines[i] : ''}`) : null,
        h('div', { class: 'fg-tip-nums' },
          `${fmtCount(v)} ${this.unit} · ${fmtPct((100 * v) / this.total)}% of all`,
          this.zoom !== 0 ? ` · ${fmtPct((100 * v) / this.values[this.zoom])}% of zoom` : '',
          i !== 0 ? ` · self ${fmtCount(this.selfs[i])}` : ''),
        i !== 0 ? h('div', { class: 'fg-tip-cat' }, CATEGORY_LABELS[this.cats[i]] || '') : null,
      );
      tip.hidden = false;
      const host = this.root.getBoundingClientRect();
      let left = e.clientX - host.left + 14, top = e.clientY - host.top + 16;
      const tw = tip.offsetWidth, th = tip.offsetHeight;
      if (left + tw > host.width - 4) left = Math.max(4, e.clientX - host.left - tw - 14);
      if (top + th > host.height - 4) top = Math.max(4, e.clientY - host.top - th - 12);
      tip.style.transform = `translate(${left}px, ${top}px)`;
    }
  }

  Spy.flamegraph = { category, CATEGORY_LABELS, FlameGraph };
})(window.Spy = window.Spy || {});
