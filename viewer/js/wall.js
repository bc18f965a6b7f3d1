// Where requests wait: the per-endpoint table of asyncio task wall time
// (the `endpoints` reply) and the list of recent event-loop blocks (the
// `blocks` reply and `blocked` pushes), each with its stack.
//
// Both render from the agent's JSON through h()/setText() only (text
// nodes), and drop malformed entries instead of failing: a row without an
// endpoint name is the "no endpoint" row, a block without frames shows
// "(no stack)".

(function (Spy) {
  'use strict';
  const { h, setText, clear, fmtPct, shortPath } = Spy.dom;

  const STATE_COLOURS = { running: 'var(--wall-cpu)', ready: 'var(--wall-ready)', waiting: 'var(--wall-wait)' };
  const BLOCKS_MAX = 50;

  const num = (v) => (Number.isFinite(v) ? v : 0);
  const str = (v) => (typeof v === 'string' ? v : '');

  function fnLabel(fn, file, line) {
    const where = file ? `${shortPath(file)}${Number.isFinite(line) && line > 0 ? ':' + line : ''}` : '';
    return { fn: fn || '?', where };
  }

  /** The most telling items of a row: "82% awaiting sleep", "11% on CPU in burn". */
  function whereText(list, verb) {
    if (!Array.isArray(list)) return [];
    return list.filter((x) => x && typeof x.function === 'string' && num(x.pct) >= 1).slice(0, 3)
      .map((x) => ({ text: `${fmtPct(num(x.pct))}% ${verb} ${x.function}`, title: `${x.function} (${str(x.file)}:${num(x.line)})` }));
  }

  class EndpointsPanel {
    constructor(body, meta) {
      this.body = body;
      this.meta = meta;
      this.rows = [];
      this.message('Waiting for the agent…');
    }

    message(text) {
      clear(this.body);
      this.body.append(h('div', { class: 'wall-empty' }, text));
      setText(this.meta, '');
    }

    /** An `endpoints` reply. */
    update(m) {
      const rows = Array.isArray(m.endpoints) ? m.endpoints.filter((r) => r && typeof r === 'object') : [];
      this.rows = rows;
      const ms = num(m.task_ms);
      const span = num(m.span);
      setText(this.meta, `${(ms / 1000).toFixed(1)} task-s` + (span > 0 ? ` over ${span.toFixed(0)} s · ${num(m.in_flight).toFixed(2)} in flight` : ''));
      if (!rows.length) {
        this.message('No asyncio task wall time in this window (no asyncio app, or SPY_TASK_RATE=0).');
        setText(this.meta, '');
        return;
      }
      clear(this.body);
      const table = h('table', { class: 'wall-table' },
        h('thead', null, h('tr', null,
          h('th', { title: 'the route function under each request task' }, 'endpoint'),
          h('th', { class: 'num', title: 'task seconds ÷ window: the mean number of its requests open at once' }, 'in flight'),
          h('th', { class: 'num', title: 'task wall time, seconds' }, 'task-s'),
          h('th', { title: 'on the CPU · ready to run (waiting for the loop) · waiting (awaiting something)' }, 'CPU · ready · waiting'),
          h('th', null, 'where the time goes'))));
      const tbody = h('tbody');
      for (const r of rows) {
        const named = typeof r.endpoint === 'string';
        const l = fnLabel(named ? r.endpoint : '', str(r.file), r.line);
        const split = h('div', { class: 'wall-split' });
        for (const [k, key] of [['running', 'running_pct'], ['ready', 'ready_pct'], ['waiting', 'waiting_pct']]) {
          const v = num(r[key]);
          if (v > 0) split.append(h('span', { style: `width:${Math.min(100, v).toFixed(1)}%;background:${STATE_COLOURS[k]}`, title: `${k === 'running' ? 'on CPU' : k} ${fmtPct(v)}%` }));
        }
        const where = whereText(r.awaiting, 'awaiting').concat(whereText(r.on_cpu, 'on CPU in'));
        tbody.append(h('tr', { class: named ? 'wall-row' : 'wall-row none', dataset: { endpoint: named ? r.endpoint : '' } },
          h('td', { class: 'wall-ep', title: named ? `${r.endpoint} (${str(r.file)}:${num(r.line)})` : 'task time under no route: server tasks, middleware parents, child tasks' },
            named ? h('span', { class: 'fn' }, l.fn) : h('em', null, 'no endpoint'), named && l.where ? h('span', { class: 'file' }, ' ' + l.where) : null),
          h('td', { class: 'num' }, num(r.in_flight).toFixed(2)),
          h('td', { class: 'num' }, (num(r.task_ms) / 1000).toFixed(1)),
          h('td', { class: 'wall-split-cell', title: `on CPU ${fmtPct(num(r.running_pct))}% · ready ${fmtPct(num(r.ready_pct))}% · waiting ${fmtPct(num(r.waiting_pct))}%` },
            split, h('span', { class: 'wall-split-text' }, `${num(r.running_pct).toFixed(0)} · ${num(r.ready_pct).toFixed(0)} · ${num(r.waiting_pct).toFixed(0)} %`)),
          h('td', { class: 'wall-where' }, where.map((w) => h('div', { title: w.title }, w.text)))));
      }
      table.append(tbody);
      this.body.append(table);
    }
  }

  function blockTime(at) {
    if (!Number.isFinite(at) || at <= 0) return '?';
    return new Date(at * 1000).toLocaleTimeString();
  }

  class BlocksPanel {
    constructor(list, meta) {
      this.list = list;
      this.meta = meta;
      this.items = [];
      this.total = null;
      this.message('Waiting for the agent…');
    }

    message(text) {
      clear(this.list);
      this.list.append(h('li', { class: 'wall-empty' }, text));
    }

    clean(b) {
      if (!b || typeof b !== 'object') return null;
      const frames = Array.isArray(b.frames) ? b.frames.filter((f) => f && typeof f === 'object') : [];
      return {
        at: num(b.at), duration_ms: num(b.duration_ms), thread: str(b.thread), tid: num(b.tid), pid: num(b.pid),
        endpoint: typeof b.endpoint === 'string' ? b.endpoint : null, endpoint_file: str(b.endpoint_file),
        task: typeof b.task === 'string' ? b.task : null, frames,
      };
    }

    /** A `blocks` reply: the recent ones, newest last. */
    set(m) {
      const blocks = Array.isArray(m.blocks) ? m.blocks.map((b) => this.clean(b)).filter(Boolean) : [];
      this.items = blocks.reverse().slice(0, BLOCKS_MAX);
      if (Number.isFinite(m.total)) this.total = m.total;
      this.render();
    }

    /** A `blocked` push. */
    add(b) {
      const c = this.clean(b);
      if (!c) return;
      this.items.unshift(c);
      if (this.items.length > BLOCKS_MAX) this.items.length = BLOCKS_MAX;
      if (this.total !== null) this.total++;
      this.render();
    }

    setTotal(n) {
      if (Number.isFinite(n)) { this.total = n; this.showMeta(); }
    }

    showMeta() {
      setText(this.meta, this.total !== null ? `${this.total} since start` : this.items.length ? `${this.items.length} seen` : '');
    }

    render() {
      this.showMeta();
      clear(this.list);
      if (!this.items.length) {
        this.message('No event-loop block yet: nothing held the loop past SPY_BLOCK_MS.');
        return;
      }
      for (const b of this.items) {
        const trace = b.frames.length
          ? b.frames.map((f) => `${typeof f.function === 'string' ? f.function : '?'} (${typeof f.file === 'string' ? f.file : '?'}:${Number.isFinite(f.line) ? f.line : '?'})`).join('\n')
          : '(no stack)';
        const li = h('li', { class: 'block', dataset: { endpoint: b.endpoint || '' } },
          h('details', null,
            h('summary', null,
              h('span', { class: 'block-ms' }, `${Math.round(b.duration_ms)} ms`),
              h('span', { class: 'block-ep' }, b.endpoint ? b.endpoint : 'no endpoint'),
              h('span', { class: 'meta' }, blockTime(b.at) + (b.task ? ` · ${b.task}` : ''))),
            h('pre', { class: 'trace' }, trace)));
        this.list.append(li);
      }
    }
  }

  Spy.wall = { EndpointsPanel, BlocksPanel };
})(window.Spy = window.Spy || {});
