// The live top table, like `py-spy top`: one row per function with %Own,
// %Total, OwnTime, TotalTime, function and file:line.
//
// Sortable by any column, filtered by a substring, and virtualised: only the
// rows in view exist in the DOM (a pool of row elements reused on every
// update), so an update of 20,000 functions costs a sort and ~40 rows of text.
// While the pointer is over the rows their order is held (values still
// update) so the row under the cursor does not jump; it is re-sorted when
// the pointer leaves.

(function (Spy) {
  'use strict';
  const { h, setText, fmtPct, fmtSeconds, shortPath } = Spy.dom;

  const ROW_H = 24;
  const OVERSCAN = 6;

  const COLUMNS = [
    { key: 'own_pct', label: '%Own', num: true, title: 'share of samples where the function was running (innermost frame)' },
    { key: 'total_pct', label: '%Total', num: true, title: 'share of samples where the function was on the stack' },
    { key: 'own', label: 'OwnTime', num: true, title: 'own samples ÷ sampling rate' },
    { key: 'total', label: 'TotalTime', num: true, title: 'total samples ÷ sampling rate' },
    { key: 'function', label: 'Function', num: false, title: 'qualified name' },
    { key: 'file', label: 'File:Line', num: false, title: 'where the function is defined' },
  ];

  const rowKey = (r) => r.function + '\u0000' + r.file + '\u0000' + r.line;

  function compare(key, dir) {
    const s = dir === 'asc' ? 1 : -1;
    if (key === 'function') {
      return (a, b) => s * (a.function < b.function ? -1 : a.function > b.function ? 1 : a.line - b.line);
    }
    if (key === 'file') {
      return (a, b) => s * (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line);
    }
    return (a, b) => s * (a[key] - b[key]) || (b.own - a.own) ||
      (a.function < b.function ? -1 : a.function > b.function ? 1 : 0);
  }

  const isRow = (r) => r !== null && typeof r === 'object' && typeof r.function === 'string' &&
    typeof r.file === 'string' && Number.isFinite(r.line) && Number.isFinite(r.own) && Number.isFinite(r.total) &&
    Number.isFinite(r.own_pct) && Number.isFinite(r.total_pct);

  /**
   * Keep only well-formed rows: a row missing its name is dropped, missing
   * numbers become 0.  Well-formed rows are used as they are (no copy), so a
   * normal push costs one pass of type checks.
   */
  function cleanRows(rows) {
    if (!Array.isArray(rows)) return [];
    let out = null;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      if (isRow(r)) { if (out) out.push(r); continue; }
      if (!out) out = rows.slice(0, i);
      if (!r || typeof r !== 'object' || typeof r.function !== 'string') continue;
      out.push({
        function: r.function,
        file: typeof r.file === 'string' ? r.file : '',
        line: Number.isFinite(r.line) ? r.line : 0,
        own: Number.isFinite(r.own) ? r.own : 0,
        total: Number.isFinite(r.total) ? r.total : 0,
        own_pct: Number.isFinite(r.own_pct) ? r.own_pct : 0,
        total_pct: Number.isFinite(r.total_pct) ? r.total_pct : 0,
      });
    }
    return out || rows;
  }

  /** Rows sorted by a numeric key through a typed index (ties keep the agent's order). */
  function sortNumeric(rows, key, desc) {
    const n = rows.length;
    const k = new Float64Array(n);
    for (let i = 0; i < n; i++) k[i] = rows[i][key];
    let sorted = true;
    for (let i = 1; i < n && sorted; i++) sorted = desc ? k[i] <= k[i - 1] : k[i] >= k[i - 1];
    if (sorted) return rows.slice();       // pushes come sorted by own already
    const idx = new Uint32Array(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    idx.sort(desc ? (a, b) => k[b] - k[a] || a - b : (a, b) => k[a] - k[b] || a - b);
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = rows[idx[i]];
    return out;
  }

  class TopTable {
    /**
     * @param {HTMLElement} root   an empty element; the table is built inside
     * @param {{onSelect?: (row) => void, onSort?: (key, dir) => void}} opts
     */
    constructor(root, opts = {}) {
      this.opts = opts;
      this.rows = [];          // all rows of the last update (cleaned)
      this.view = [];          // filtered + sorted, what is shown
      this.sortKey = 'own_pct';
      this.sortDir = 'desc';
      this.filter = '';
      this.rate = 100;
      this.held = null;        // Map key -> index while the pointer holds the order
      this.selectedKey = null;
      this.viewportH = 400;

      this.head = h('div', { class: 'tt-head', role: 'row' });
      this.headCells = COLUMNS.map((c) => {
        const cell = h('div', {
          class: 'tt-th' + (c.num ? ' num' : ''), role: 'columnheader', title: c.title,
          tabindex: 0, dataset: { key: c.key },
        }, c.label, h('span', { class: 'tt-arrow', 'aria-hidden': 'true' }));
        cell.addEventListener('click', () => this.sortBy(c.key));
        cell.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); this.sortBy(c.key); } });
        this.head.appendChild(cell);
        return cell;
      });
      this.spacer = h('div', { class: 'tt-spacer' });
      this.body = h('div', { class: 'tt-body', role: 'rowgroup' }, this.spacer);
      this.empty = h('div', { class: 'tt-empty' }, 'Waiting for samples…');
      root.append(h('div', { class: 'tt', role: 'table', 'aria-label': 'functions' }, this.head, this.body), this.empty);
      this.pool = [];

      this.body.addEventListener('scroll', () => this.render(), { passive: true });
      this.body.addEventListener('pointerenter', () => this.hold());
      this.body.addEventListener('pointerleave', () => this.release());
      this.body.addEventListener('click', (e) => {
        const rowEl = e.target.closest('.tt-row');
        if (!rowEl || rowEl.dataset.index === undefined) return;
        const r = this.view[Number(rowEl.dataset.index)];
        if (!r) return;
        const k = rowKey(r);
        this.selectedKey = this.selectedKey === k ? null : k;
        this.render();
        if (this.opts.onSelect) this.opts.onSelect(this.selectedKey ? r : null);
      });
      new ResizeObserver(() => { this.viewportH = this.body.clientHeight || 400; this.render(); }).observe(this.body);
      this._paintHead();
    }

    /** New data: rows as sent by the agent (cleaned by the caller or here). */
    /** 'cpu' (samples) or 'tasks' (ms of task wall time): the columns' tooltips say which. */
    setView(view) {
      const tasks = view === 'tasks';
      const titles = tasks
        ? ['share of task wall time with the function innermost (running, or what a waiting task awaits)',
          'share of task wall time with the function anywhere on the task\'s stack',
          'own task wall time (tasks of the window added up)', 'total task wall time (tasks of the window added up)']
        : COLUMNS.slice(0, 4).map((c) => c.title);
      const ths = this.head.children;
      for (let i = 0; i < 4 && i < ths.length; i++) ths[i].title = titles[i];
    }

    update(rows, { rate } = {}) {
      this.rows = rows;
      if (Number.isFinite(rate) && rate > 0) this.rate = rate;
      this._rebuild();
      this.render();
    }

    setFilter(text) {
      this.filter = String(text || '').trim();
      this.filterRe = this.filter ? new RegExp(this.filter.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i') : null;
      this.held = null;
      this._rebuild();
      this.body.scrollTop = 0;
      this.render();
    }

    sortBy(key) {
      if (this.sortKey === key) this.sortDir = this.sortDir === 'desc' ? 'asc' : 'desc';
      else { this.sortKey = key; this.sortDir = COLUMNS.find((c) => c.key === key).num ? 'desc' : 'asc'; }
      this.held = null;
      this._paintHead();
      this._rebuild();
      this.render();
      if (this.opts.onSort) this.opts.onSort(this.sortKey, this.sortDir);
    }

    hold() {
      if (this.held) return;
      this.held = new Map(this.view.map((r, i) => [rowKey(r), i]));
    }

    release() {
      if (!this.held) return;
      this.held = null;
      this._rebuild();
      this.render();
    }

    _paintHead() {
      for (const cell of this.headCells) {
        const on = cell.dataset.key === this.sortKey;
        cell.classList.toggle('sorted', on);
        cell.setAttribute('aria-sort', on ? (this.sortDir === 'asc' ? 'ascending' : 'descending') : 'none');
        setText(cell.lastChild, on ? (this.sortDir === 'asc' ? '▲' : '▼') : '');
      }
    }

    _rebuild() {
      const re = this.filterRe;
      let rows = this.rows;
      if (re) rows = rows.filter((r) => re.test(r.function) || re.test(r.file));
      if (this.held) {
        // Keep the held order: known rows where they were, new ones after them,
        // rows that vanished keep their place with their last values, dimmed.
        const placed = new Array(this.held.size);
        const extra = [];
        for (const r of rows) {
          const i = this.held.get(rowKey(r));
          if (i === undefined) extra.push(r); else placed[i] = r;
        }
        for (let i = 0; i < placed.length; i++) {
          if (!placed[i]) placed[i] = { ...this.view[i], stale: true };
        }
        this.view = placed.concat(this._sort(extra));
        this.held = new Map(this.view.map((r, i) => [rowKey(r), i]));
      } else {
        this.view = this._sort(rows);
      }
      this.spacer.style.height = this.view.length * ROW_H + 'px';
      this.empty.hidden = this.view.length > 0;
      setText(this.empty, this.rows.length ? 'No function matches the filter.' : 'Waiting for samples…');
    }

    _sort(rows) {
      const col = COLUMNS.find((c) => c.key === this.sortKey);
      if (col.num) return sortNumeric(rows, this.sortKey, this.sortDir === 'desc');
      return rows.slice().sort(compare(this.sortKey, this.sortDir));
    }

    /** Draw the rows in view into the pooled row elements. */
    render() {
      const top = this.body.scrollTop;
      const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
      const last = Math.min(this.view.length, Math.ceil((top + this.viewportH) / ROW_H) + OVERSCAN);
      const need = last - first;
      while (this.pool.length < need) {
        const cells = COLUMNS.map((c) => h('div', { class: 'tt-td' + (c.num ? ' num' : '') + ' c-' + c.key, role: 'cell' }));
        const el = h('div', { class: 'tt-row', role: 'row' }, cells);
        el._cells = cells;
        this.body.appendChild(el);
        this.pool.push(el);
      }
      const rate = this.rate;
      for (let i = 0; i < this.pool.length; i++) {
        const el = this.pool[i];
        if (i >= need) { if (!el.hidden) el.hidden = true; continue; }
        const idx = first + i;
        const r = this.view[idx];
        if (el.hidden) el.hidden = false;
        el.style.transform = `translateY(${idx * ROW_H}px)`;
        el.dataset.index = idx;
        const c = el._cells;
        setText(c[0], fmtPct(r.own_pct));
        c[0].style.setProperty('--p', Math.min(100, r.own_pct).toFixed(1) + '%');
        setText(c[1], fmtPct(r.total_pct));
        c[1].style.setProperty('--p', Math.min(100, r.total_pct).toFixed(1) + '%');
        setText(c[2], fmtSeconds(r.own / rate));
        setText(c[3], fmtSeconds(r.total / rate));
        setText(c[4], r.function);
        if (c[4].title !== r.function) c[4].title = r.function;
        const where = r.file ? `${r.file}:${r.line}` : '';
        setText(c[5], r.file ? `${shortPath(r.file)}:${r.line}` : '');
        if (c[5].title !== where) c[5].title = where;
        el.classList.toggle('stale', !!r.stale);
        el.classList.toggle('selected', this.selectedKey !== null && rowKey(r) === this.selectedKey);
      }
    }

    /** What is shown, for tests and the status line. */
    get shown() { return this.view.length; }
  }

  Spy.toptable = { COLUMNS, cleanRows, TopTable };
})(window.Spy = window.Spy || {});
